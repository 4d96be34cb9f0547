//! Bounds of the numeric settings and the checked conversions to typed durations. Every
//! numeric setting is checked against its range by `Config::validate`, each violation named
//! by its field path; the conversions saturate instead of wrapping, so even a value that
//! skipped validation cannot panic or wrap (jiff's constructors panic past their range).

use std::time::Duration;

use jiff::SignedDuration;

use super::FieldError;

pub const MINUTE: u64 = 60;
pub const HOUR: u64 = 3_600;
pub const DAY: u64 = 86_400;
pub const WEEK: u64 = 7 * DAY;
/// 366 days.
pub const YEAR: u64 = 366 * DAY;

/// `value` in `min..=max`, else the message. Below: "must be at least MIN" (the message of
/// the existing lower bounds); above: "must be at most MAX (what that is)".
pub fn range(value: impl Into<u64>, min: u64, max: u64, unit: Unit) -> Result<(), String> {
    let value = value.into();
    if value < min {
        Err(format!("must be at least {min}"))
    } else if value > max {
        Err(format!("must be at most {max}{}", unit.describe(max)))
    } else {
        Ok(())
    }
}

/// `range`, with a violation added to `errs` under `field`.
pub fn check(
    errs: &mut Vec<FieldError>,
    field: impl Into<String>,
    value: impl Into<u64>,
    min: u64,
    max: u64,
    unit: Unit,
) {
    if let Err(message) = range(value, min, max, unit) {
        errs.push(FieldError {
            field: field.into(),
            message,
        });
    }
}

/// What a bounded number counts, to say the bound in words.
#[derive(Clone, Copy, Debug)]
pub enum Unit {
    Seconds,
    Milliseconds,
    Hours,
    Count,
}

impl Unit {
    /// The bound in days, hours or minutes when it is a whole number of them.
    fn describe(self, n: u64) -> String {
        let secs = match self {
            Unit::Seconds => n,
            Unit::Milliseconds if n.is_multiple_of(1000) => n / 1000,
            Unit::Hours => n.saturating_mul(HOUR),
            Unit::Milliseconds | Unit::Count => return String::new(),
        };
        for (unit, name) in [(DAY, "day"), (HOUR, "hour"), (MINUTE, "minute")] {
            if secs >= unit && secs.is_multiple_of(unit) {
                let k = secs / unit;
                return format!(" ({k} {name}{})", if k == 1 { "" } else { "s" });
            }
        }
        String::new()
    }
}

/// Seconds as a signed duration, saturating at jiff's largest.
pub fn signed_secs(secs: u64) -> SignedDuration {
    SignedDuration::from_secs(i64::try_from(secs).unwrap_or(i64::MAX))
}

/// Hours as a signed duration, saturating at jiff's largest.
pub fn signed_hours(hours: u64) -> SignedDuration {
    signed_secs(hours.saturating_mul(HOUR))
}

/// Seconds as a std duration (std's range covers every `u64`).
pub fn secs(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_saturate_and_messages_say_the_bound() {
        assert_eq!(signed_hours(u64::MAX), SignedDuration::from_secs(i64::MAX));
        assert_eq!(signed_secs(u64::MAX), SignedDuration::from_secs(i64::MAX));
        assert_eq!(signed_hours(720), SignedDuration::from_hours(720));
        let mut errs = Vec::new();
        check(&mut errs, "a", 0u64, 1, WEEK, Unit::Seconds);
        check(&mut errs, "b", u64::MAX, 0, WEEK, Unit::Seconds);
        check(&mut errs, "c", 9_000u64, 0, 8_784, Unit::Hours);
        check(&mut errs, "d", 70_000u64, 0, 60_000, Unit::Milliseconds);
        check(&mut errs, "e", 5u32, 0, 4, Unit::Count);
        check(&mut errs, "f", 4u32, 0, 4, Unit::Count);
        let got: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(
            got,
            [
                "a: must be at least 1",
                "b: must be at most 604800 (7 days)",
                "c: must be at most 8784 (366 days)",
                "d: must be at most 60000 (1 minute)",
                "e: must be at most 4",
            ]
        );
    }
}
