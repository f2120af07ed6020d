//! File-time clamping, the `SOURCE_DATE_EPOCH` specification's rule for times a build did not
//! choose: a time newer than the epoch is recorded as the epoch; an older one stays.
//!
//! Contract:
//! - [`clamp`] is `min(real, epoch)` on a `timespec`-like pair: idempotent
//!   (`clamp(clamp(t)) == clamp(t)`), monotonic (`a <= b` implies `clamp(a) <= clamp(b)`) and the
//!   same in every process, so an archiver that compares two stats of one file (tar's "file
//!   changed as we read it") still sees equal times for an unchanged file.
//! - A clamped time has no fraction (`nsec == 0`); an unclamped one keeps its own.
//! - [`DEFAULT_CLAMPED`] names the programs that record file times into their output (archivers
//!   and image makers). Build drivers that decide work by comparing times (`make`, `ninja`) are
//!   never on it: two clamped sources would look equally old and a changed one would not be
//!   rebuilt. [`clamps_by_default`] matches a program's basename against it.
//!
//! The shim's `stat` hooks and `detbuild normalize` both call these functions, so a time is
//! clamped the same way in flight and after the build.

use crate::settings::basename;

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

/// A program whose file-time reads are clamped by default, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clamped {
    /// The program's basename, as exec'd.
    pub name: &'static str,
    /// What it records from the times it reads.
    pub why: &'static str,
}

const fn c(name: &'static str, why: &'static str) -> Clamped {
    Clamped { name, why }
}

/// Archivers and image makers that copy the times of the files they read into their output.
pub const DEFAULT_CLAMPED: &[Clamped] = &[
    c("tar", "each member's mtime (and atime/ctime in pax format)"),
    c(
        "bsdtar",
        "libarchive's tar/zip/cpio writer: member mtimes, pax atime/ctime/birthtime",
    ),
    c(
        "cpio",
        "newc/odc headers carry each member's mtime (initramfs images)",
    ),
    c("bsdcpio", "libarchive's cpio: member mtimes"),
    c("pax", "ustar headers carry each member's mtime"),
    c(
        "zip",
        "DOS time and the extended-timestamp extra field of each entry",
    ),
    c("jar", "the DOS time of each entry"),
    c(
        "gzip",
        "the header's MTIME is the mtime of the compressed file",
    ),
    c(
        "pigz",
        "the header's MTIME is the mtime of the compressed file",
    ),
    c("7z", "entry mtimes (and ctime/atime with -mtc/-mta)"),
    c("7za", "entry mtimes (and ctime/atime with -mtc/-mta)"),
    c("7zr", "entry mtimes"),
    c(
        "ar",
        "each member header's date (when not in deterministic mode)",
    ),
    c("mksquashfs", "inode mtimes of the squashfs image"),
    c(
        "mke2fs",
        "-d copies atime/mtime/ctime of the source tree into the inodes",
    ),
    c("mkfs.ext2", "mke2fs under another name"),
    c("mkfs.ext3", "mke2fs under another name"),
    c("mkfs.ext4", "mke2fs under another name"),
    c("mkfs.erofs", "inode times copied from the source tree"),
    c(
        "xorriso",
        "ISO 9660 directory records and Rock Ridge TF entries",
    ),
    c("xorrisofs", "xorriso's mkisofs emulation"),
    c(
        "genisoimage",
        "ISO 9660 directory records and Rock Ridge TF entries",
    ),
    c("mkisofs", "genisoimage under its old name"),
    c(
        "mcopy",
        "with -m, the source file's mtime in the FAT directory entry",
    ),
];

/// Whether the program exec'd as `argv0` is on [`DEFAULT_CLAMPED`].
pub fn clamps_by_default(argv0: &[u8]) -> bool {
    let name = basename(argv0);
    DEFAULT_CLAMPED.iter().any(|p| p.name.as_bytes() == name)
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

    #[test]
    fn archivers_are_clamped_build_drivers_are_not() {
        for name in [
            "tar",
            "/usr/bin/tar",
            "gzip",
            "zip",
            "jar",
            "ar",
            "mkfs.ext4",
            "cpio",
        ] {
            assert!(clamps_by_default(name.as_bytes()), "{name}");
        }
        for name in [
            "make", "ninja", "gmake", "cmake", "python3", "tart", "", "/",
        ] {
            assert!(!clamps_by_default(name.as_bytes()), "{name}");
        }
    }

    #[test]
    fn every_entry_is_a_plain_name_with_a_reason() {
        for p in DEFAULT_CLAMPED {
            assert!(crate::settings::valid_entry(p.name), "{}", p.name);
            assert!(!p.why.is_empty() && !p.why.contains('\n'), "{}", p.name);
        }
        let mut names: Vec<_> = DEFAULT_CLAMPED.iter().map(|p| p.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), DEFAULT_CLAMPED.len(), "duplicate entries");
    }
}
