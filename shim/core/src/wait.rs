//! Arithmetic for sleeps and timed waits: how long a wait on the faked clock really waits, and
//! where it leaves the logical clock.
//!
//! The model. A read of the faked clock returns the thread's offset and then advances it by one
//! step, so a thread whose offset stands at `clock` last *saw* `clock - step`: that is "now" for
//! a deadline it computed (`clock_gettime(REALTIME) + 200 ms`). Measuring from `clock` instead
//! would swallow one step of every wait, and under the default 1 s step every sub-second timed
//! wait would return at once. A wait that reaches its deadline `t` leaves the thread as if it had
//! just read `t` (offset `t + step`), so a periodic `t += period; clock_nanosleep(ABSTIME, t)`
//! loop waits exactly one period per turn, and `while (now() < t) timedwait(t)` ends after one
//! wait. The error of the model is bounded by one step (when the last event was a sleep, not a
//! read), in the direction of waiting longer, never of returning early or hanging.
//!
//! Times are `(seconds, nanoseconds)` pairs as in `struct timespec`; durations are `u64`
//! nanoseconds. Everything saturates instead of overflowing: a deadline of `i64::MAX` seconds
//! ("forever") stays forever.

use crate::clock::{offset_of, NANOS};

/// A deadline on the faked clock, translated for a real wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadline {
    /// How long to wait for real, nanoseconds (0: the deadline has passed).
    pub wait_ns: u64,
    /// The offset the thread's clock moves to (at least) when the wait times out.
    pub done_ns: u64,
}

/// Translates the absolute faked-clock deadline `sec.nsec` for a thread whose clock offset is
/// `clock_ns` (see the module docs). A deadline before the epoch has passed.
pub fn deadline(epoch: i64, step_ns: u64, clock_ns: u64, sec: i64, nsec: i64) -> Deadline {
    let target = match offset_of(epoch, sec, nsec) {
        Some(t) => t,
        // Too far in the future for u64 nanoseconds: "forever".
        None if sec > epoch => u64::MAX,
        None => {
            return Deadline {
                wait_ns: 0,
                done_ns: 0,
            }
        }
    };
    Deadline {
        wait_ns: target.saturating_sub(clock_ns.saturating_sub(step_ns)),
        done_ns: target.saturating_add(step_ns),
    }
}

/// Whether `nsec` is a valid `tv_nsec`. Invalid deadlines are passed through untouched so that
/// libc reports `EINVAL` as it would natively.
pub fn valid_nsec(nsec: i64) -> bool {
    (0..NANOS as i64).contains(&nsec)
}

/// A non-negative duration `sec.nsec` in nanoseconds, saturating; `None` when invalid.
pub fn duration_ns(sec: i64, nsec: i64) -> Option<u64> {
    if sec < 0 || !valid_nsec(nsec) {
        return None;
    }
    Some(
        (sec as u64)
            .saturating_mul(NANOS)
            .saturating_add(nsec as u64),
    )
}

/// `sec.nsec + ns`, saturating at `i64::MAX` seconds.
pub fn add(sec: i64, nsec: i64, ns: u64) -> (i64, i64) {
    let total = (nsec.clamp(0, NANOS as i64 - 1) as u64).saturating_add(ns);
    let secs = i64::try_from(total / NANOS).unwrap_or(i64::MAX);
    match sec.checked_add(secs) {
        Some(s) => (s, (total % NANOS) as i64),
        None => (i64::MAX, NANOS as i64 - 1),
    }
}

/// The real absolute deadline `wait_ns` after `now` on a real clock. Never zero, so a timer given
/// it is armed, not disarmed; a passed deadline (`wait_ns == 0`) becomes one second *before* `now`
/// rather than `now` itself, because the kernel adds its timer slack (50 µs by default) to a
/// deadline that is not yet past when it arms the timer, while one already past returns at once.
pub fn real_deadline(now: (i64, i64), wait_ns: u64) -> (i64, i64) {
    if wait_ns == 0 {
        return if now.0 >= 2 {
            (now.0 - 1, now.1)
        } else {
            (0, 1)
        };
    }
    let (sec, nsec) = add(now.0, now.1, wait_ns);
    (sec, nsec.max(i64::from(sec == 0)))
}

/// Nanoseconds from `now` to `then`, or 0 when `then` is not after `now`.
pub fn until(now: (i64, i64), then: (i64, i64)) -> u64 {
    let secs = then.0.saturating_sub(now.0);
    let total = i128::from(secs) * NANOS as i128 + i128::from(then.1) - i128::from(now.1);
    u64::try_from(total.max(0)).unwrap_or(u64::MAX)
}

/// The part of a `requested` sleep that elapsed when it was interrupted with `remaining` left.
pub fn slept(requested_ns: u64, remaining_ns: u64) -> u64 {
    requested_ns.saturating_sub(remaining_ns)
}

/// `sec.nsec` split from nanoseconds, for a relative `timespec`.
pub fn split(ns: u64) -> (i64, i64) {
    ((ns / NANOS) as i64, (ns % NANOS) as i64)
}

/// glibc's `__wrefs` flag for a condition variable created with `CLOCK_MONOTONIC`.
///
/// `struct __pthread_cond_s` (glibc ≥ 2.25, `sysdeps/nptl/bits/thread-shared-types.h`) keeps the
/// clock in bit 1 of `__wrefs` (bit 0 is process-shared, bits 3.. count waiters); x86_64 and
/// aarch64 glibc 2.36 place `__wrefs` at byte 36 of `pthread_cond_t`. Verified on glibc 2.36: a
/// condvar initialised with `pthread_condattr_setclock(CLOCK_MONOTONIC)` reads 2 there (3 when
/// also process-shared), a default or `PTHREAD_COND_INITIALIZER` one reads 0.
pub const COND_WREFS_OFFSET: usize = 36;
/// See [`COND_WREFS_OFFSET`].
pub const COND_CLOCK_MONOTONIC_MASK: u32 = 2;

/// Whether a condition variable whose `__wrefs` word is `wrefs` takes monotonic deadlines.
pub fn cond_is_monotonic(wrefs: u32) -> bool {
    wrefs & COND_CLOCK_MONOTONIC_MASK != 0
}

/// How a `futex` operation's timeout relates to the faked clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FutexTimeout {
    /// Relative (`FUTEX_WAIT`, even with `FUTEX_CLOCK_REALTIME`) or no timeout: pass through.
    Untouched,
    /// An absolute REALTIME deadline selected by `FUTEX_CLOCK_REALTIME` (`FUTEX_WAIT_BITSET`,
    /// `FUTEX_WAIT_REQUEUE_PI`, `FUTEX_LOCK_PI2`): re-issue as the given operation, without the
    /// flag, with a `CLOCK_MONOTONIC` deadline.
    Monotonic(i32),
    /// `FUTEX_LOCK_PI`: always an absolute `CLOCK_REALTIME` deadline; translate to a real one.
    Realtime,
}

/// Classifies the futex operation word `op` (see [`FutexTimeout`]).
pub fn futex_timeout(op: i32) -> FutexTimeout {
    const PRIVATE: i32 = 128;
    const CLOCK_REALTIME: i32 = 256;
    const LOCK_PI: i32 = 6;
    const WAIT_BITSET: i32 = 9;
    const WAIT_REQUEUE_PI: i32 = 11;
    const LOCK_PI2: i32 = 13;
    match op & !(PRIVATE | CLOCK_REALTIME) {
        WAIT_BITSET | WAIT_REQUEUE_PI | LOCK_PI2 if op & CLOCK_REALTIME != 0 => {
            FutexTimeout::Monotonic(op & !CLOCK_REALTIME)
        }
        LOCK_PI => FutexTimeout::Realtime,
        _ => FutexTimeout::Untouched,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const E: i64 = 1_700_000_000;
    const S: u64 = NANOS;

    #[test]
    fn a_deadline_counts_from_the_last_value_read() {
        // Read once (offset 0 handed out, clock now at one step), deadline = read + 200 ms.
        let d = deadline(E, S, S, E, 200_000_000);
        assert_eq!(d.wait_ns, 200_000_000);
        assert_eq!(d.done_ns, 200_000_000 + S);
        // With a 1 µs step the same holds.
        let d = deadline(E, 1_000, 1_000, E, 200_000_000);
        assert_eq!(d.wait_ns, 200_000_000);
    }

    #[test]
    fn periodic_absolute_sleeps_wait_one_period_each() {
        let mut clock = S; // one read returned E
        for k in 1..5i64 {
            let d = deadline(E, S, clock, E + k, 0);
            assert_eq!(d.wait_ns, S, "turn {k}");
            clock = clock.max(d.done_ns);
        }
    }

    #[test]
    fn a_wait_that_timed_out_ends_the_deadline_loop() {
        let clock = S;
        let d = deadline(E, S, clock, E, 200_000_000);
        let clock = clock.max(d.done_ns);
        // The next read returns clock's value: past the deadline.
        assert!(clock >= 200_000_000);
        assert_eq!(deadline(E, S, clock, E, 200_000_000).wait_ns, 0);
    }

    #[test]
    fn past_deadlines_and_fresh_threads() {
        assert_eq!(deadline(E, S, 5 * S, E + 1, 0).wait_ns, 0);
        assert_eq!(
            deadline(E, S, 0, E - 10, 0),
            Deadline {
                wait_ns: 0,
                done_ns: 0
            }
        );
        // A thread that never read its clock waits from the epoch.
        assert_eq!(deadline(E, S, 0, E + 2, 0).wait_ns, 2 * S);
        // "Forever" stays huge.
        assert!(deadline(E, S, 0, i64::MAX, 0).wait_ns > 1 << 62);
    }

    #[test]
    fn timespec_arithmetic_saturates() {
        assert_eq!(add(10, 900_000_000, 200_000_000), (11, 100_000_000));
        assert_eq!(add(i64::MAX - 1, 0, u64::MAX), (i64::MAX, NANOS as i64 - 1));
        assert_eq!(until((10, 500), (12, 400)), 2 * NANOS - 100);
        assert_eq!(until((12, 0), (10, 0)), 0);
        assert_eq!(until((i64::MIN, 0), (i64::MAX, 0)), u64::MAX);
        assert_eq!(split(2_500_000_000), (2, 500_000_000));
    }

    #[test]
    fn real_deadlines_are_never_zero_and_passed_ones_lie_in_the_past() {
        assert_eq!(real_deadline((100, 5), 0), (99, 5));
        assert_eq!(real_deadline((1, 5), 0), (0, 1));
        assert_eq!(real_deadline((100, 5), 10), (100, 15));
        assert_eq!(real_deadline((0, 0), 0), (0, 1));
        assert_eq!(real_deadline((0, 0), 1_000_000_000), (1, 0));
    }

    #[test]
    fn durations_and_validity() {
        assert_eq!(duration_ns(1, 5), Some(NANOS + 5));
        assert_eq!(duration_ns(-1, 0), None);
        assert_eq!(duration_ns(0, NANOS as i64), None);
        assert_eq!(duration_ns(i64::MAX, 0), Some(u64::MAX));
        assert!(valid_nsec(0) && valid_nsec(999_999_999) && !valid_nsec(-1));
        assert_eq!(slept(1000, 300), 700);
        assert_eq!(slept(1000, 3000), 0);
    }

    #[test]
    fn futex_operations_with_realtime_deadlines() {
        use FutexTimeout::*;
        assert_eq!(futex_timeout(0), Untouched); // FUTEX_WAIT
        assert_eq!(futex_timeout(256 | 128), Untouched); // FUTEX_WAIT, relative even so
        assert_eq!(futex_timeout(9 | 128), Untouched); // WAIT_BITSET, monotonic
        assert_eq!(futex_timeout(9 | 128 | 256), Monotonic(9 | 128));
        assert_eq!(futex_timeout(11 | 256), Monotonic(11));
        assert_eq!(futex_timeout(13 | 128 | 256), Monotonic(13 | 128));
        assert_eq!(futex_timeout(6 | 128), Realtime);
        assert_eq!(futex_timeout(1), Untouched); // FUTEX_WAKE
    }

    #[test]
    fn condvar_clock_bit() {
        assert!(!cond_is_monotonic(0));
        assert!(cond_is_monotonic(2));
        assert!(cond_is_monotonic(3));
        assert!(!cond_is_monotonic(1 | 8 << 3));
        assert!(cond_is_monotonic(2 | 8 << 3));
    }
}
