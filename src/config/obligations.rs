//! The `[obligations]` section: the clocks after a change (retrospective deadline and
//! reminders), as the core's `Schedule`.

use serde::Deserialize;

use super::FieldError;
use super::bounds::{self, Unit, YEAR};

/// The clocks after a change (`[obligations]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObligationsConfig {
    /// A retrospective record is owed within this long of an unplanned change or of a
    /// break-glass session's start.
    #[serde(default = "default_deadline")]
    pub retrospective_deadline_secs: u64,
    /// Reminders before the deadline; also the repeats after a missed `revert_by` or session end.
    #[serde(default = "default_reminders")]
    pub reminder_offsets_secs: Vec<u64>,
}

fn default_deadline() -> u64 {
    86_400
}
fn default_reminders() -> Vec<u64> {
    vec![4 * 3600, 12 * 3600, 20 * 3600]
}

/// More reminders than this is a typo, not a schedule.
const MAX_REMINDERS: usize = 100;

impl Default for ObligationsConfig {
    fn default() -> Self {
        ObligationsConfig {
            retrospective_deadline_secs: default_deadline(),
            reminder_offsets_secs: default_reminders(),
        }
    }
}

impl ObligationsConfig {
    pub fn schedule(&self) -> crate::obligations::Schedule {
        crate::obligations::Schedule {
            deadline: bounds::signed_secs(self.retrospective_deadline_secs),
            reminders: self
                .reminder_offsets_secs
                .iter()
                .map(|s| bounds::signed_secs(*s))
                .collect(),
        }
    }

    pub(super) fn validate(&self, errs: &mut Vec<FieldError>) {
        bounds::check(
            errs,
            "obligations.retrospective_deadline_secs",
            self.retrospective_deadline_secs,
            1,
            YEAR,
            Unit::Seconds,
        );
        let offsets = &self.reminder_offsets_secs;
        if offsets.contains(&0) {
            errs.push(FieldError {
                field: "obligations.reminder_offsets_secs".into(),
                message: "offsets must be at least 1".into(),
            });
        }
        for (i, s) in offsets.iter().enumerate() {
            if *s > YEAR {
                bounds::check(
                    errs,
                    format!("obligations.reminder_offsets_secs[{i}]"),
                    *s,
                    1,
                    YEAR,
                    Unit::Seconds,
                );
            }
        }
        if offsets.len() > MAX_REMINDERS {
            errs.push(FieldError {
                field: "obligations.reminder_offsets_secs".into(),
                message: format!("at most {MAX_REMINDERS} offsets"),
            });
        }
    }
}
