//! The one place the daemon reads the wall clock. The core never calls it: time is passed in.

use jiff::{Timestamp, Unit};

/// Now, in whole seconds (stored times have one fixed width).
pub fn now() -> Timestamp {
    let t = Timestamp::now();
    t.round(Unit::Second).unwrap_or(t)
}
