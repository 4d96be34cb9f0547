//! The `[records]` section: the directory of change records, the settings every record is
//! validated and matched with, and the ticket sources (`record_sources.rs`). Its methods give
//! the core's settings with typed durations.

use std::path::PathBuf;

use driftwatch_core::matcher::MatchSettings;
use driftwatch_core::records::ValidationSettings;
use serde::Deserialize;

use super::bounds::{self, Unit, WEEK, YEAR};
use super::{FieldError, GithubRecordsConfig, JiraRecordsConfig, LinearRecordsConfig};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordsConfig {
    /// Directory of change-record YAML files.
    #[serde(default = "default_records_dir")]
    pub dir: PathBuf,
    /// Allowance for poll delay after a window closes.
    #[serde(default = "default_grace")]
    pub grace_secs: u64,
    /// Accounts that can never approve (globs). Defaults to common bot names.
    #[serde(default)]
    pub bot_patterns: Option<Vec<String>>,
    /// How far after a window's end a `revert_by` may lie.
    #[serde(default = "default_revert_hours")]
    pub max_revert_after_window_hours: u64,
    /// Records kept as GitHub issues or pull requests (`[[records.github]]`).
    #[serde(default)]
    pub github: Vec<GithubRecordsConfig>,
    /// Records kept as Jira issues (`[[records.jira]]`).
    #[serde(default)]
    pub jira: Vec<JiraRecordsConfig>,
    /// Records kept as Linear issues (`[[records.linear]]`).
    #[serde(default)]
    pub linear: Vec<LinearRecordsConfig>,
}

fn default_records_dir() -> PathBuf {
    PathBuf::from("changes")
}
fn default_grace() -> u64 {
    600
}
fn default_revert_hours() -> u64 {
    720
}

/// A year, in hours: the furthest a `revert_by` may be allowed after its window.
const MAX_REVERT_HOURS: u64 = YEAR / bounds::HOUR;

impl Default for RecordsConfig {
    fn default() -> Self {
        RecordsConfig {
            dir: default_records_dir(),
            grace_secs: default_grace(),
            bot_patterns: None,
            max_revert_after_window_hours: default_revert_hours(),
            github: Vec::new(),
            jira: Vec::new(),
            linear: Vec::new(),
        }
    }
}

impl RecordsConfig {
    /// What every record file and imported ticket is validated with.
    pub fn validation(&self) -> ValidationSettings {
        let max = bounds::signed_hours(self.max_revert_after_window_hours);
        match &self.bot_patterns {
            // The patterns were validated with the config (`validate`), so `new` cannot fail
            // here; the default patterns are the safe side if it ever did.
            Some(p) => ValidationSettings::new(p.clone(), max).unwrap_or_default(),
            None => {
                let mut v = ValidationSettings::default();
                v.max_revert_after_window = max;
                v
            }
        }
    }

    /// What changes are matched to records with.
    pub fn match_settings(&self) -> MatchSettings {
        MatchSettings {
            grace: bounds::signed_secs(self.grace_secs),
        }
    }

    /// Names of the configured ticket sources, in config order.
    pub fn source_names(&self) -> Vec<String> {
        self.github
            .iter()
            .map(|c| c.name.clone())
            .chain(self.jira.iter().map(|c| c.name.clone()))
            .chain(self.linear.iter().map(|c| c.name.clone()))
            .collect()
    }

    pub(super) fn validate(&self, errs: &mut Vec<FieldError>) {
        bounds::check(
            errs,
            "records.grace_secs",
            self.grace_secs,
            0,
            WEEK,
            Unit::Seconds,
        );
        bounds::check(
            errs,
            "records.max_revert_after_window_hours",
            self.max_revert_after_window_hours,
            0,
            MAX_REVERT_HOURS,
            Unit::Hours,
        );
        if let Some(p) = &self.bot_patterns {
            for (i, g) in p.iter().enumerate() {
                if let Err(e) = globset::Glob::new(g) {
                    errs.push(FieldError {
                        field: format!("records.bot_patterns[{i}]"),
                        message: format!("invalid glob: {e}"),
                    });
                }
            }
        }
    }
}
