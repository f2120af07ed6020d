//! Pure logic behind following a build into a chroot: the `LD_PRELOAD` entries that name the
//! shim from inside a new root, and the warning when it cannot be named.
//!
//! A process that calls `chroot()` or `pivot_root` first opens the root it started in (the
//! *host root*, where the launcher's paths are valid) as a directory descriptor `R`, and every
//! program it starts inherits a copy. From inside the new root the shim is then named either
//! - through `/proc` ([`proc_entry`]): `/proc/self/fd/R/<host path of the shim>`, whose base
//!   name is still the shim's file name, so every rule about "the shim's entry" holds; or,
//! - without `/proc`, by a short-lived copy or hard link in the new root's `/` ([`plant_name`]):
//!   `/.detbuild-shim.R.SEC.NSEC.PID.SEQ.so`, which carries `R` and the modification time
//!   `/` had before the plant (the new program unlinks the plant and puts that time back);
//!   `PID.SEQ` only makes names unique.
//!
//! [`parse_entry`] reads either form back; [`replace_shim`] writes an `LD_PRELOAD` value with
//! every shim entry (host path, `/proc` form, plant) replaced by one new entry.

use crate::dirs;
use crate::exec::SHIM_FILE;
use crate::settings::basename;

const PROC_FD: &[u8] = b"/proc/self/fd/";
/// The first bytes of a plant's file name (directory listings hide such names).
pub const PLANT_PREFIX: &[u8] = b".detbuild-shim.";
const PLANT_SUFFIX: &[u8] = b".so";
const PRELOAD: &[u8] = b"LD_PRELOAD=";

/// What a shim entry of `LD_PRELOAD` says about the descriptor it was started with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Carried<'a> {
    /// `/proc/self/fd/R<host>`: the host root's descriptor and the shim's host path.
    Proc {
        /// The host root's descriptor.
        fd: i32,
        /// The shim's path in the host root (starts with `/`).
        host: &'a [u8],
    },
    /// A plant in `/`: the host root's descriptor and `/`'s modification time before it.
    Plant {
        /// The host root's descriptor.
        fd: i32,
        /// Seconds of `/`'s modification time.
        sec: i64,
        /// Nanoseconds of it.
        nsec: u32,
    },
}

fn number(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > 19 {
        return None;
    }
    text.iter().try_fold(0u64, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + u64::from(b - b'0'))
    })
}

fn fd_number(text: &[u8]) -> Option<i32> {
    i32::try_from(number(text)?).ok()
}

/// Reads a shim entry written by [`proc_entry`] or [`plant_name`].
pub fn parse_entry(entry: &[u8]) -> Option<Carried<'_>> {
    if let Some(rest) = entry.strip_prefix(PROC_FD) {
        let slash = rest.iter().position(|&b| b == b'/')?;
        let host = &rest[slash..];
        return (basename(host) == SHIM_FILE).then_some(Carried::Proc {
            fd: fd_number(&rest[..slash])?,
            host,
        });
    }
    parse_plant(entry.strip_prefix(b"/")?)
}

/// Reads a plant's file name (without the `/`).
fn parse_plant(name: &[u8]) -> Option<Carried<'_>> {
    let fields = name
        .strip_prefix(PLANT_PREFIX)?
        .strip_suffix(PLANT_SUFFIX)?;
    let mut it = fields.split(|&b| b == b'.');
    let fd = fd_number(it.next()?)?;
    let sec = it.next()?;
    let sec = match sec.strip_prefix(b"-") {
        Some(s) => -i64::try_from(number(s)?).ok()?,
        None => i64::try_from(number(sec)?).ok()?,
    };
    let nsec = u32::try_from(number(it.next()?)?)
        .ok()
        .filter(|&n| n < 1_000_000_000)?;
    number(it.next()?)?;
    number(it.next()?)?;
    it.next()
        .is_none()
        .then_some(Carried::Plant { fd, sec, nsec })
}

/// Whether a directory entry's name is a plant's.
pub fn is_plant(name: &[u8]) -> bool {
    name.starts_with(PLANT_PREFIX) && name.ends_with(PLANT_SUFFIX)
}

/// The time `/` had before the first plant named in `records` (what `getdents64` returns for
/// `/`) other than `except`: while several programs start from plants at once, each records
/// and puts back the time `/` had before the first of them.
pub fn plant_time(records: &[u8], except: &[u8]) -> Option<(i64, u32)> {
    let mut at = 0;
    while at + dirs::HEADER < records.len() {
        let len = records.get(at + 16..at + 18)?;
        let len = usize::from(u16::from_ne_bytes([len[0], len[1]]));
        if len < dirs::HEADER + 2 || at + len > records.len() {
            return None;
        }
        let name = dirs::name(records, at as u32);
        if name != except {
            if let Some(Carried::Plant { sec, nsec, .. }) = parse_plant(name) {
                return Some((sec, nsec));
            }
        }
        at += len;
    }
    None
}

/// Whether an `LD_PRELOAD` entry names the shim in any of its forms.
pub fn is_shim_entry(entry: &[u8]) -> bool {
    basename(entry) == SHIM_FILE || parse_entry(entry).is_some()
}

/// Appends `parts` to `out` at `*len`; `None` if they do not fit.
fn put(out: &mut [u8], len: &mut usize, parts: &[&[u8]]) -> Option<()> {
    for part in parts {
        out.get_mut(*len..*len + part.len())?.copy_from_slice(part);
        *len += part.len();
    }
    Some(())
}

/// Writes `/proc/self/fd/<fd><host>` and a NUL into `out`; its length without the NUL.
pub fn proc_entry(fd: i32, host: &[u8], out: &mut [u8]) -> Option<usize> {
    let mut digits = [0u8; 20];
    let digits = crate::text::decimal(u64::from(fd.unsigned_abs()), &mut digits);
    let mut len = 0;
    put(out, &mut len, &[PROC_FD, digits, host, b"\0"])?;
    Some(len - 1)
}

/// Writes `/.detbuild-shim.<fd>.<sec>.<nsec>.<pid>.<seq>.so` and a NUL into `out`; its
/// length without the NUL.
pub fn plant_name(
    fd: i32,
    sec: i64,
    nsec: u32,
    pid: u32,
    seq: u64,
    out: &mut [u8],
) -> Option<usize> {
    let mut len = 0;
    put(out, &mut len, &[b"/", PLANT_PREFIX])?;
    let sign: &[u8] = if sec < 0 { b"-" } else { b"" };
    let values = [
        (b"" as &[u8], u64::from(fd.unsigned_abs())),
        (sign, sec.unsigned_abs()),
        (b"", u64::from(nsec)),
        (b"", u64::from(pid)),
        (b"", seq),
    ];
    for (i, (sign, v)) in values.into_iter().enumerate() {
        let mut digits = [0u8; 20];
        let dot: &[u8] = if i == 0 { b"" } else { b"." };
        put(
            out,
            &mut len,
            &[dot, sign, crate::text::decimal(v, &mut digits)],
        )?;
    }
    put(out, &mut len, &[PLANT_SUFFIX, b"\0"])?;
    Some(len - 1)
}

/// Writes `LD_PRELOAD=<value's entries that are not the shim>:<shim>` and a NUL into `out`
/// (without `shim` when it is empty: the shim is then dropped, so the loader does not
/// complain about an entry it cannot open); its length without the NUL.
pub fn replace_shim(value: &[u8], shim: &[u8], out: &mut [u8]) -> Option<usize> {
    let mut len = 0;
    put(out, &mut len, &[PRELOAD])?;
    let kept = value
        .split(|&b| b == b' ' || b == b':')
        .filter(|e| !e.is_empty() && !is_shim_entry(e));
    for entry in kept.chain((!shim.is_empty()).then_some(shim)) {
        let sep: &[u8] = if len > PRELOAD.len() { b":" } else { b"" };
        put(out, &mut len, &[sep, entry])?;
    }
    put(out, &mut len, &[b"\0"])?;
    Some(len - 1)
}

/// The one warning line for a new root the shim cannot follow into: `errno` says why (from
/// the attempt to put a copy of the shim there, `EBADF` for a lost descriptor, `ENOENT` for a
/// shim not found from there). Written into `out`; its length.
pub fn warning_line(errno: i32, out: &mut [u8; 200]) -> usize {
    let why: &[u8] = match errno {
        30 => b"no /proc there, and its / is read-only",
        13 | 1 => b"no /proc there, and its / is not writable",
        28 | 122 => b"no /proc there, and its / is full",
        9 => b"the descriptor of the build's root was closed",
        2 => b"the shim cannot be found from there",
        _ => b"no /proc there, and no copy of the shim can be put in its /",
    };
    let mut len = 0;
    let _ = put(
        out,
        &mut len,
        &[
            b"detbuild: warning: programs started in this new root run without detbuild: ",
            why,
            b"\n",
        ],
    );
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(f: impl FnOnce(&mut [u8]) -> Option<usize>) -> Option<std::string::String> {
        let mut buf = [0u8; 256];
        let n = f(&mut buf)?;
        assert_eq!(buf[n], 0, "NUL-terminated");
        Some(std::string::String::from_utf8(buf[..n].to_vec()).unwrap())
    }

    #[test]
    fn proc_entries_round_trip_and_keep_the_shim_name() {
        let host = b"/opt/det/libdetbuild_shim.so";
        let e = text(|b| proc_entry(1000, host, b)).unwrap();
        assert_eq!(e, "/proc/self/fd/1000/opt/det/libdetbuild_shim.so");
        assert_eq!(
            parse_entry(e.as_bytes()),
            Some(Carried::Proc { fd: 1000, host })
        );
        assert!(crate::exec::lists_shim(e.as_bytes()));
        assert_eq!(parse_entry(b"/proc/self/fd/7/usr/lib/libfoo.so"), None);
        assert_eq!(parse_entry(b"/proc/self/fd/x/libdetbuild_shim.so"), None);
    }

    #[test]
    fn plant_names_round_trip() {
        let e = text(|b| plant_name(1001, 1_700_000_000, 123_456_789, 42, 3, b)).unwrap();
        assert_eq!(e, "/.detbuild-shim.1001.1700000000.123456789.42.3.so");
        assert_eq!(
            parse_entry(e.as_bytes()),
            Some(Carried::Plant {
                fd: 1001,
                sec: 1_700_000_000,
                nsec: 123_456_789
            })
        );
        let old = text(|b| plant_name(5, -86400, 0, 1, 0, b)).unwrap();
        assert_eq!(
            parse_entry(old.as_bytes()),
            Some(Carried::Plant {
                fd: 5,
                sec: -86400,
                nsec: 0
            })
        );
        assert!(is_plant(&e.as_bytes()[1..]));
        assert!(is_shim_entry(e.as_bytes()));
        for bad in [
            &b"/.detbuild-shim.1.2.3.4.so"[..],
            b"/.detbuild-shim.1.2.3000000000.4.5.so",
            b"/x/.detbuild-shim.1.2.3.4.5.so",
            b"/.detbuild-shim.1.2.3.4.5.6.so",
        ] {
            assert_eq!(parse_entry(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn the_first_plant_of_a_listing_gives_the_time() {
        let mut records = [0u8; 512];
        let mut len = 0;
        for name in [
            &b"bin"[..],
            b".detbuild-shim.9.100.5.7.0.so",
            b".detbuild-shim.9.200.6.8.0.so",
        ] {
            len += dirs::put(&mut records[len..], 1, 4, name).unwrap();
        }
        let records = &records[..len];
        assert_eq!(plant_time(records, b""), Some((100, 5)));
        assert_eq!(
            plant_time(records, b".detbuild-shim.9.100.5.7.0.so"),
            Some((200, 6))
        );
        assert_eq!(plant_time(&records[..32], b""), None);
    }

    #[test]
    fn replace_shim_keeps_other_preloads_and_drops_every_shim_form() {
        let value = b"/usr/lib/libfakeroot.so /opt/libdetbuild_shim.so:/proc/self/fd/9/a/libdetbuild_shim.so:/.detbuild-shim.9.1.2.3.4.so";
        let new = b"/proc/self/fd/1000/opt/libdetbuild_shim.so";
        assert_eq!(
            text(|b| replace_shim(value, new, b)).unwrap(),
            "LD_PRELOAD=/usr/lib/libfakeroot.so:/proc/self/fd/1000/opt/libdetbuild_shim.so"
        );
        assert_eq!(
            text(|b| replace_shim(b"", new, b)).unwrap(),
            "LD_PRELOAD=/proc/self/fd/1000/opt/libdetbuild_shim.so"
        );
        assert_eq!(
            text(|b| replace_shim(b"/opt/libdetbuild_shim.so", b"", b)).unwrap(),
            "LD_PRELOAD="
        );
        let mut small = [0u8; 12];
        assert_eq!(replace_shim(b"", new, &mut small), None);
    }

    #[test]
    fn the_warning_is_one_line_naming_the_cause() {
        for errno in [30, 13, 1, 28, 122, 9, 2, 5] {
            let mut out = [0u8; 200];
            let n = warning_line(errno, &mut out);
            let line = core::str::from_utf8(&out[..n]).unwrap();
            assert!(line.starts_with("detbuild: warning: "), "{line}");
            assert_eq!(line.matches('\n').count(), 1);
            assert!(line.ends_with('\n'));
        }
        let mut out = [0u8; 200];
        let n = warning_line(30, &mut out);
        assert!(core::str::from_utf8(&out[..n])
            .unwrap()
            .contains("read-only"));
    }
}
