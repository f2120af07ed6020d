//! Logical clock arithmetic.
//!
//! A faked wall clock reads `epoch + offset`, where `epoch` is whole seconds since 1970 (the
//! `SOURCE_DATE_EPOCH`) and `offset` is nanoseconds accumulated by this thread: one `step` per
//! read, plus the duration of every sleep it performed. The offset is a `u64` of nanoseconds
//! (584 years), so the arithmetic never overflows for any epoch the launcher accepts.

/// Nanoseconds per second.
pub const NANOS: u64 = 1_000_000_000;

/// The largest epoch accepted: 9999-12-31T23:59:59Z. Larger values are typos, and keeping
/// `epoch + offset` inside `i64` seconds means no hook can overflow.
pub const MAX_EPOCH: i64 = 253_402_300_799;

/// The smallest step accepted: 1 µs, so `gettimeofday` (µs resolution) always sees time move.
pub const MIN_STEP_NS: u64 = 1_000;
/// The largest step accepted: one hour per read.
pub const MAX_STEP_NS: u64 = 3_600 * NANOS;
/// The default step: one microsecond per read, the smallest that `gettimeofday` still sees
/// move. It keeps every process within a second of where it started (a program needs a
/// million reads to drift one second; `openssl req` makes about 600), so dates one process
/// records are not in the future for the next, while a `while (time(NULL) == t0)` loop still
/// ends after a million reads. The measurements are in the README.
pub const DEFAULT_STEP_NS: u64 = MIN_STEP_NS;

/// A point on the faked wall clock, split like `struct timespec`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WallTime {
    /// Whole seconds since 1970-01-01T00:00:00Z.
    pub sec: i64,
    /// Nanoseconds within the second, `0..1_000_000_000`.
    pub nsec: u32,
}

/// The wall time `offset_ns` after `epoch`.
///
/// `epoch` is validated by the launcher (`0..=MAX_EPOCH`); the addition saturates rather than
/// wrapping so that a corrupted payload can never make the clock run backwards.
#[inline]
pub fn wall_time(epoch: i64, offset_ns: u64) -> WallTime {
    WallTime {
        sec: epoch.saturating_add((offset_ns / NANOS) as i64),
        nsec: (offset_ns % NANOS) as u32,
    }
}

/// Nanoseconds from the epoch to the wall time `sec.nsec`, or `None` when that time lies before
/// the epoch. Used to turn an absolute deadline on the faked clock into a relative wait.
pub fn offset_of(epoch: i64, sec: i64, nsec: i64) -> Option<u64> {
    let secs = sec.checked_sub(epoch)?;
    if secs < 0 {
        return None;
    }
    (secs as u64)
        .checked_mul(NANOS)?
        .checked_add(nsec.clamp(0, NANOS as i64 - 1) as u64)
}

/// Rounds a measured wait up to whole milliseconds.
///
/// A wait given as an absolute deadline on a real clock (Python's `time.sleep` uses
/// `clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)`) reaches the shim a few microseconds after
/// the program computed it, so the remaining time is `requested - ε`. Rounding up to the
/// millisecond recovers `requested` whenever ε < 1 ms, which keeps the logical clock
/// deterministic.
pub fn round_wait_ns(ns: u64) -> u64 {
    const MS: u64 = 1_000_000;
    ns.div_ceil(MS).saturating_mul(MS)
}

/// Errors from [`parse_duration`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DurationError {
    /// Empty, non-numeric, or an unknown unit.
    Syntax,
    /// A number without a unit: `10` could mean seconds or milliseconds, so it is refused.
    NoUnit,
    /// Does not fit in a `u64` of nanoseconds.
    Overflow,
}

/// The units [`parse_duration`] accepts, for messages.
pub const DURATION_UNITS: &str = "h, min, s, ms, us or ns";

/// Parses a duration such as `1h`, `2min`, `1s`, `250ms`, `10us` or `1000ns` (a unit is
/// required). Decimal fractions are accepted (`0.5s`, `1.5ms`) and must resolve to whole
/// nanoseconds. The decimal separator is always `.`, whatever the locale.
pub fn parse_duration(text: &str) -> Result<u64, DurationError> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale: u64 = match unit.trim() {
        "" if !number.is_empty() => return Err(DurationError::NoUnit),
        "h" => 3_600 * NANOS,
        "min" => 60 * NANOS,
        "s" => NANOS,
        "ms" => 1_000_000,
        "us" | "µs" => 1_000,
        "ns" => 1,
        _ => return Err(DurationError::Syntax),
    };
    let (whole, frac) = match number.split_once('.') {
        Some((w, f)) => (w, f),
        None => (number, ""),
    };
    if whole.is_empty() && frac.is_empty() {
        return Err(DurationError::Syntax);
    }
    let digits_ok = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !digits_ok(whole) || !digits_ok(frac) {
        return Err(DurationError::Syntax);
    }
    let mut total: u64 = 0;
    if !whole.is_empty() {
        let w: u64 = whole.parse().map_err(|_| DurationError::Overflow)?;
        total = w.checked_mul(scale).ok_or(DurationError::Overflow)?;
    }
    let mut place = scale;
    for b in frac.bytes() {
        if !place.is_multiple_of(10) {
            // A digit below one nanosecond must be zero.
            if b != b'0' {
                return Err(DurationError::Syntax);
            }
            continue;
        }
        place /= 10;
        total = total
            .checked_add(u64::from(b - b'0') * place)
            .ok_or(DurationError::Overflow)?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wall_time_splits_offset() {
        assert_eq!(wall_time(1000, 0), WallTime { sec: 1000, nsec: 0 });
        assert_eq!(
            wall_time(1000, 2_500_000_001),
            WallTime {
                sec: 1002,
                nsec: 500_000_001
            }
        );
        assert_eq!(
            wall_time(MAX_EPOCH, u64::MAX).sec,
            MAX_EPOCH + 18_446_744_073
        );
    }

    #[test]
    fn offset_of_inverts_wall_time() {
        let t = wall_time(500, 7_000_000_123);
        assert_eq!(offset_of(500, t.sec, t.nsec as i64), Some(7_000_000_123));
        assert_eq!(offset_of(500, 499, 0), None);
        assert_eq!(offset_of(500, 500, -5), Some(0));
    }

    #[test]
    fn waits_round_up_to_milliseconds() {
        assert_eq!(round_wait_ns(1_999_987_000), 2_000_000_000);
        assert_eq!(round_wait_ns(2_000_000_000), 2_000_000_000);
        assert_eq!(round_wait_ns(1), 1_000_000);
        assert_eq!(round_wait_ns(0), 0);
    }

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("1s"), Ok(NANOS));
        assert_eq!(parse_duration("1h"), Ok(3_600 * NANOS));
        assert_eq!(parse_duration("1.5min"), Ok(90 * NANOS));
        assert_eq!(parse_duration("250ms"), Ok(250_000_000));
        assert_eq!(parse_duration("1us"), Ok(1_000));
        assert_eq!(parse_duration("0.5s"), Ok(500_000_000));
        assert_eq!(parse_duration("1.5ms"), Ok(1_500_000));
        assert_eq!(parse_duration("7ns"), Ok(7));
        assert_eq!(parse_duration(" 3 s "), Ok(3 * NANOS));
    }

    #[test]
    fn durations_reject_garbage() {
        assert_eq!(parse_duration(""), Err(DurationError::Syntax));
        assert_eq!(parse_duration("s"), Err(DurationError::Syntax));
        assert_eq!(parse_duration("2"), Err(DurationError::NoUnit));
        assert_eq!(parse_duration("1000"), Err(DurationError::NoUnit));
        assert_eq!(parse_duration("1m"), Err(DurationError::Syntax));
        assert_eq!(parse_duration("1d"), Err(DurationError::Syntax));
        assert_eq!(parse_duration("1,5s"), Err(DurationError::Syntax));
        assert_eq!(parse_duration("-1s"), Err(DurationError::Syntax));
        assert_eq!(parse_duration("0.0000000001s"), Err(DurationError::Syntax));
        assert_eq!(
            parse_duration("99999999999999999999s"),
            Err(DurationError::Overflow)
        );
    }
}
