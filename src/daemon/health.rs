//! Readiness: the store is open, the records directory was read, and every scope has
//! completed a poll or is reported blind. Updated by the daemon loop, read by `/readyz`.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScopeHealth {
    /// Not polled to completion yet.
    Pending,
    Polled,
    Blind,
}

#[derive(Debug, Default)]
pub struct Health {
    store_open: AtomicBool,
    records_loaded: AtomicBool,
    /// The last cycle's store error, while the store keeps failing.
    store_error: Mutex<Option<String>>,
    scopes: Mutex<BTreeMap<String, ScopeHealth>>,
    /// With `[ha]`, while this replica waits: who leads, as far as it knows. A standby is
    /// ready (it can take over); only the leader polls.
    standby: Mutex<Option<String>>,
}

impl Health {
    pub fn set_store_open(&self, v: bool) {
        self.store_open.store(v, Ordering::SeqCst);
    }

    pub fn set_records_loaded(&self) {
        self.records_loaded.store(true, Ordering::SeqCst);
    }

    /// Record whether the last cycle could commit. Returns true when the store just started
    /// failing (a new outage).
    pub fn set_store_error(&self, error: Option<String>) -> bool {
        match self.store_error.lock() {
            Ok(mut e) => {
                let new_outage = e.is_none() && error.is_some();
                *e = error;
                new_outage
            }
            Err(_) => false,
        }
    }

    /// Replace the set of scopes (start-up and config reload); known states are kept.
    pub fn set_scopes(&self, names: impl IntoIterator<Item = String>) {
        if let Ok(mut s) = self.scopes.lock() {
            let old = std::mem::take(&mut *s);
            for n in names {
                let h = old.get(&n).copied().unwrap_or(ScopeHealth::Pending);
                s.insert(n, h);
            }
        }
    }

    pub fn set_scope(&self, name: &str, h: ScopeHealth) {
        if let Ok(mut s) = self.scopes.lock() {
            s.insert(name.to_string(), h);
        }
    }

    /// This replica waits for leadership (`Some`, naming the leader when known) or leads.
    pub fn set_standby(&self, leader: Option<String>) {
        if let Ok(mut s) = self.standby.lock() {
            *s = leader;
        }
    }

    /// `Some` (the leader's name, maybe empty) while this replica is a standby.
    pub fn standby(&self) -> Option<String> {
        self.standby.lock().ok().and_then(|s| s.clone())
    }

    /// `Ok` when ready, else every reason it is not. A standby is ready once its store is
    /// open: it polls nothing until it leads.
    pub fn ready(&self) -> Result<(), Vec<String>> {
        let mut why = Vec::new();
        if self.standby().is_some() {
            if !self.store_open.load(Ordering::SeqCst) {
                why.push("store not open".to_string());
            }
            return if why.is_empty() { Ok(()) } else { Err(why) };
        }
        if !self.store_open.load(Ordering::SeqCst) {
            why.push("store not open".to_string());
        }
        if !self.records_loaded.load(Ordering::SeqCst) {
            why.push("change records not loaded yet".to_string());
        }
        match self.store_error.lock() {
            Ok(e) => {
                if let Some(e) = e.as_ref() {
                    why.push(format!("the store failed the last cycle: {e}"));
                }
            }
            Err(_) => why.push("health state unavailable".to_string()),
        }
        match self.scopes.lock() {
            Ok(s) => {
                for (name, h) in s.iter() {
                    if *h == ScopeHealth::Pending {
                        why.push(format!("scope {name} has not completed a poll"));
                    }
                }
            }
            Err(_) => why.push("health state unavailable".to_string()),
        }
        if why.is_empty() { Ok(()) } else { Err(why) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_when_store_records_and_every_scope_done() {
        let h = Health::default();
        h.set_scopes(["aws:1:a".to_string(), "aws:1:b".to_string()]);
        assert_eq!(h.ready().map_err(|e| e.len()), Err(4));
        h.set_store_open(true);
        h.set_records_loaded();
        h.set_scope("aws:1:a", ScopeHealth::Polled);
        assert_eq!(
            h.ready(),
            Err(vec!["scope aws:1:b has not completed a poll".to_string()])
        );
        h.set_scope("aws:1:b", ScopeHealth::Blind);
        assert_eq!(
            h.ready(),
            Ok(()),
            "a blind scope is reported, not waited for"
        );
        assert!(
            h.set_store_error(Some("database: disk I/O error".into())),
            "new outage"
        );
        assert!(
            !h.set_store_error(Some("database: disk I/O error".into())),
            "same outage"
        );
        assert_eq!(
            h.ready(),
            Err(vec![
                "the store failed the last cycle: database: disk I/O error".to_string()
            ])
        );
        assert!(!h.set_store_error(None));
        assert_eq!(h.ready(), Ok(()));
        h.set_scopes(["aws:1:a".to_string(), "aws:2:a".to_string()]);
        assert!(h.ready().is_err(), "a new scope after reload is pending");
    }
}
