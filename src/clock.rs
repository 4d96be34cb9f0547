//! The one place the daemon reads the wall clock. The core never calls it: time is passed in.

use jiff::Timestamp;

/// Now, truncated to whole seconds (stored times have one fixed width). Truncated, never
/// rounded up: a time driftwatch reports must not lie in the receiver's future (Alertmanager
/// ignores a resolve whose `endsAt` has not passed yet).
pub fn now() -> Timestamp {
    let t = Timestamp::now();
    Timestamp::from_second(t.as_second()).unwrap_or(t)
}
