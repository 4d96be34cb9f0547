//! The mass-delete guard: a complete poll that would delete most of a scope is more often a
//! lie than a teardown (credentials of another account, a region with nothing in it, an API
//! answering an empty list), and believing it pages on-call for every resource and drops the
//! scope's state. Such a poll is held as suspect and believed only when the next poll would
//! delete exactly the same resources. Pure: the caller keeps the held digest between polls.

use sha2::{Digest as _, Sha256};

use crate::model::Action;

use super::Evaluated;

/// When a poll's deletes are suspect.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DeleteGuard {
    /// A poll deleting more than this fraction of the stored resources is held (1.0: never).
    pub max_fraction: f64,
    /// Scopes holding fewer resources are not guarded.
    pub min_resources: usize,
}

impl Default for DeleteGuard {
    fn default() -> Self {
        DeleteGuard {
            max_fraction: 0.5,
            min_resources: 10,
        }
    }
}

/// What the guard makes of one complete poll's changes.
#[derive(Clone, Debug, PartialEq)]
pub enum GuardVerdict {
    /// Nothing suspect and nothing held: decide as usual.
    Pass,
    /// Suspect and not what the previous poll held: hold everything, remember `digest`.
    Hold { deletes: usize, digest: String },
    /// Suspect, and the same deletes the previous poll held: they are real.
    Confirmed { deletes: usize },
    /// A poll was held, and this one does not repeat it: the held poll was wrong.
    Dismissed,
}

impl DeleteGuard {
    /// The verdict on `changes` of a scope that stored `stored` resources, given the digest
    /// of the deletes the previous poll held, if it held any.
    pub fn check(&self, stored: usize, changes: &[Evaluated], held: Option<&str>) -> GuardVerdict {
        let mut deleted: Vec<String> = changes
            .iter()
            .filter(|e| e.change.action == Action::Delete)
            .map(|e| format!("{}\t{}", e.change.key.kind, e.change.key.id))
            .collect();
        // Counts far below 2^52 convert exactly.
        let suspect = stored >= self.min_resources
            && self.max_fraction < 1.0
            && deleted.len() as f64 > self.max_fraction * stored as f64;
        if !suspect {
            return match held {
                Some(_) => GuardVerdict::Dismissed,
                None => GuardVerdict::Pass,
            };
        }
        deleted.sort_unstable();
        let mut h = Sha256::new();
        for k in &deleted {
            h.update(k.as_bytes());
            h.update(b"\n");
        }
        let digest = hex::encode(h.finalize());
        if held == Some(digest.as_str()) {
            GuardVerdict::Confirmed {
                deletes: deleted.len(),
            }
        } else {
            GuardVerdict::Hold {
                deletes: deleted.len(),
                digest,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Decision;
    use crate::model::aws::fixtures::{res, rule};
    use crate::model::{Change, Severity};

    fn delete(port: i32) -> Evaluated {
        let r = res(rule("sg-1", "tcp", port, port, "10.0.0.0/8"));
        Evaluated {
            change: Change::new(
                r.key.clone(),
                Action::Delete,
                Some(r),
                None,
                Vec::new(),
                "2026-12-03T10:00:00Z".parse().expect("ts"),
            ),
            findings: Vec::new(),
            severity: Severity::Info,
            decision: Decision::Unmatched {
                reason: String::new(),
            },
            reverts: Vec::new(),
        }
    }

    fn deletes(ports: std::ops::Range<i32>) -> Vec<Evaluated> {
        ports.map(delete).collect()
    }

    #[test]
    fn verdicts() {
        let g = DeleteGuard::default();
        // (stored, deletes, held digest of, expected)
        assert_eq!(
            g.check(20, &deletes(0..10), None),
            GuardVerdict::Pass,
            "half is not more than half"
        );
        assert_eq!(
            g.check(9, &deletes(0..9), None),
            GuardVerdict::Pass,
            "below min_resources"
        );
        let GuardVerdict::Hold {
            deletes: 11,
            digest,
        } = g.check(20, &deletes(0..11), None)
        else {
            panic!("11 of 20 is held");
        };
        assert_eq!(
            g.check(20, &deletes(0..11), Some(&digest)),
            GuardVerdict::Confirmed { deletes: 11 },
            "the same deletes again"
        );
        let same_order_independent: Vec<Evaluated> = deletes(0..11).into_iter().rev().collect();
        assert_eq!(
            g.check(20, &same_order_independent, Some(&digest)),
            GuardVerdict::Confirmed { deletes: 11 }
        );
        assert!(
            matches!(
                g.check(20, &deletes(0..12), Some(&digest)),
                GuardVerdict::Hold { deletes: 12, .. }
            ),
            "other deletes are held anew"
        );
        assert_eq!(
            g.check(20, &deletes(0..2), Some(&digest)),
            GuardVerdict::Dismissed
        );
        assert_eq!(g.check(20, &[], Some(&digest)), GuardVerdict::Dismissed);
        let off = DeleteGuard {
            max_fraction: 1.0,
            ..g
        };
        assert_eq!(
            off.check(20, &deletes(0..20), None),
            GuardVerdict::Pass,
            "1.0 turns it off"
        );
    }
}
