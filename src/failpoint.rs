//! Failpoints for the chaos suite (`scripts/chaos.sh`): named points where a debug build can
//! be made to die as if `kill -9` hit it exactly there, which random kill timing rarely does.
//!
//! `DRIFTWATCH_FAILPOINT=NAME:N` makes the N-th time the process reaches point `NAME` (N ≥ 1)
//! send SIGKILL to the process itself: no destructor runs, nothing is flushed, an open SQLite
//! transaction is left to the journal, exactly as with `kill -9` from outside. Unset, malformed,
//! or naming another point: nothing happens. In a release build (`debug_assertions` off)
//! `hit` is an empty function and the variable is never read.
//!
//! The points (ARCHITECTURE.md, "Failpoints"):
//! - `store.commit_cycle`: inside `Db::commit_cycle`'s transaction, every row written, before
//!   `COMMIT`.
//! - `sinks.delivered`: in the dispatcher, after a sink answered 2xx and before the outbox row
//!   is marked delivered.

/// Reach the point `name`; dies here if `DRIFTWATCH_FAILPOINT` says so.
#[cfg(debug_assertions)]
pub fn hit(name: &str) {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};

    static ARMED: OnceLock<Option<(String, u64)>> = OnceLock::new();
    static HITS: AtomicU64 = AtomicU64::new(0);
    let armed = ARMED.get_or_init(|| {
        std::env::var("DRIFTWATCH_FAILPOINT")
            .ok()
            .as_deref()
            .and_then(parse)
    });
    let Some((point, n)) = armed else { return };
    if point != name {
        return;
    }
    if HITS.fetch_add(1, Ordering::SeqCst) + 1 == *n {
        eprintln!("failpoint {name}: hit {n}, killing the process (SIGKILL)");
        // SAFETY: kill(2) on our own pid with a constant signal; no memory is involved.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
        // SIGKILL cannot be caught; should delivery ever lag, do not run a single step more.
        std::process::abort();
    }
}

/// Release builds carry no failpoints.
#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn hit(_name: &str) {}

/// `NAME:N` with N ≥ 1.
#[cfg_attr(not(debug_assertions), allow(dead_code))]
fn parse(spec: &str) -> Option<(String, u64)> {
    let (name, n) = spec.rsplit_once(':')?;
    let n: u64 = n.trim().parse().ok()?;
    (n >= 1 && !name.is_empty()).then(|| (name.trim().to_string(), n))
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn parses_name_and_count() {
        assert_eq!(
            parse("store.commit_cycle:3"),
            Some(("store.commit_cycle".to_string(), 3))
        );
        assert_eq!(parse("sinks.delivered:0"), None);
        assert_eq!(parse("sinks.delivered"), None);
        assert_eq!(parse(":2"), None);
        assert_eq!(parse("x:two"), None);
    }

    #[test]
    fn an_unarmed_point_returns() {
        // The test process has no DRIFTWATCH_FAILPOINT naming this point.
        super::hit("tests.never_armed");
    }
}
