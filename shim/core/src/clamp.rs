//! File-time clamping, the `SOURCE_DATE_EPOCH` specification's rule for times a build did not
//! choose: a time newer than the epoch is recorded as the epoch; an older one stays.
//!
//! Contract:
//! - [`clamp`] is `min(real, epoch)` on a `timespec`-like pair: idempotent
//!   (`clamp(clamp(t)) == clamp(t)`), monotonic (`a <= b` implies `clamp(a) <= clamp(b)`) and the
//!   same in every process, so an archiver that compares two stats of one file (tar's "file
//!   changed as we read it") still sees equal times for an unchanged file.
//! - A clamped time has no fraction (`nsec == 0`); an unclamped one keeps its own.
//! - Which programs are clamped is the per-program switch `mtime` (`crate::policy::Source::Mtime`);
//!   the built-in list of archivers and image makers is `crate::policy::DEFAULTS`. Build
//!   drivers that decide work by comparing times (`make`, `ninja`) are never on it: two clamped
//!   sources would look equally old and a changed one would not be rebuilt.
//!
//! The shim's `stat` hooks and `detbuild normalize` both call these functions, so a time is
//! clamped the same way in flight and after the build.

/// A file time split like `struct timespec`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FileTime {
    /// Whole seconds since 1970-01-01T00:00:00Z (negative before).
    pub sec: i64,
    /// Nanoseconds within the second; compared as given (the kernel keeps it in `0..1e9`).
    pub nsec: i64,
}

/// `min(time, epoch)`: a time after `epoch` seconds becomes exactly `epoch.000000000`.
#[inline]
pub fn clamp(time: FileTime, epoch: i64) -> FileTime {
    if time.sec > epoch || (time.sec == epoch && time.nsec > 0) {
        FileTime {
            sec: epoch,
            nsec: 0,
        }
    } else {
        time
    }
}

/// [`clamp`] for formats that store whole seconds.
#[inline]
pub fn clamp_secs(sec: i64, epoch: i64) -> i64 {
    sec.min(epoch)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EPOCH: i64 = 1_700_000_000;

    fn t(sec: i64, nsec: i64) -> FileTime {
        FileTime { sec, nsec }
    }

    #[test]
    fn newer_times_become_the_epoch_older_ones_stay() {
        assert_eq!(clamp(t(EPOCH + 3600, 5), EPOCH), t(EPOCH, 0));
        assert_eq!(clamp(t(EPOCH, 1), EPOCH), t(EPOCH, 0));
        assert_eq!(clamp(t(EPOCH, 0), EPOCH), t(EPOCH, 0));
        assert_eq!(
            clamp(t(EPOCH - 1, 999_999_999), EPOCH),
            t(EPOCH - 1, 999_999_999)
        );
        assert_eq!(clamp(t(-5, 0), EPOCH), t(-5, 0));
        assert_eq!(clamp(t(i64::MAX, 0), 0), t(0, 0));
        assert_eq!(clamp_secs(EPOCH + 1, EPOCH), EPOCH);
        assert_eq!(clamp_secs(7, EPOCH), 7);
    }

    #[test]
    fn clamping_is_idempotent_and_monotonic() {
        let times = [
            t(0, 0),
            t(EPOCH - 1, 10),
            t(EPOCH, 0),
            t(EPOCH, 10),
            t(EPOCH + 1, 0),
            t(i64::MAX, 999_999_999),
        ];
        for a in times {
            assert_eq!(clamp(clamp(a, EPOCH), EPOCH), clamp(a, EPOCH));
            assert!(clamp(a, EPOCH) <= a);
            for b in times.iter().filter(|b| a <= **b) {
                assert!(clamp(a, EPOCH) <= clamp(*b, EPOCH));
            }
        }
    }
}
