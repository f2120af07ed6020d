//! zip (and jar, whl, apk): times and owners are patched in place, in both the local and the
//! central header of every entry; no byte moves, so sizes, offsets, compressed data, member
//! order, names and comments stay exactly as they were.
//!
//! - The DOS date and time are clamped to the epoch. DOS times carry no time zone; they are
//!   read as UTC, and the epoch is written in UTC, rounded down to even seconds (their
//!   resolution) and no earlier than 1980-01-01 (their start).
//! - Times in extra fields are clamped: extended timestamp (`UT`, 0x5455), old Info-ZIP Unix
//!   (`UX`, 0x5855), PKWARE Unix (0x000d) and NTFS (0x000a). strip-nondeterminism rewrites
//!   the same fields; dropping them would shift every later byte and lose the UTC times that
//!   `unzip` restores.
//! - With `--owner root`, uid and gid in the Unix fields (0x7875 `ux`, 0x5855, 0x000d) are 0.
//! - With `--mode canonical`, the Unix permissions in the external attributes of entries
//!   made on Unix (symbolic links excepted).
//!
//! The zip crate finds and checks the central directory (zip64 and archive comments
//! included); every entry is read through it, which checks its CRC, before a byte is patched.
//! Entries it cannot decompress (encrypted, or rare methods) are bounds-checked only. The
//! crate keeps one entry per name, so the central directory is then walked entry by entry:
//! entries sharing a name (fat jars have them) are patched too.

use super::{Owner, Rules, Stats};
use std::io::Cursor;
use zip::result::ZipError;
use zip::ZipArchive;

/// Seconds from 1601-01-01 (NTFS) to 1970-01-01.
const NTFS_TO_UNIX: i64 = 11_644_473_600;
/// 1980-01-01T00:00:00Z, the first DOS time.
const DOS_START: i64 = 315_532_800;

/// Whether `data` starts like a zip archive (a local header, or the end record of an empty
/// archive).
pub fn detect(data: &[u8]) -> bool {
    data.starts_with(b"PK\x03\x04") || data.starts_with(b"PK\x05\x06")
}

/// The canonical form of a zip archive and what changed.
pub fn normalize(data: &[u8], rules: &Rules) -> Result<(Vec<u8>, Stats), String> {
    let damaged = |e: ZipError| format!("damaged zip ({e})");
    let mut archive = ZipArchive::new(Cursor::new(data)).map_err(damaged)?;
    let mut out = data.to_vec();
    let mut stats = Stats::default();
    let mut locals = std::collections::HashMap::new();
    for i in 0..archive.len() {
        // Reading an entry through checks its CRC; entries the crate cannot decompress
        // (encrypted, rare methods) are read raw, which checks that their data is present.
        let read = archive.by_index(i).map(read_through);
        let (local, central) = match read {
            Err(ZipError::UnsupportedArchive(_)) => {
                read_through(archive.by_index_raw(i).map_err(damaged)?)?
            }
            other => other.map_err(damaged)??,
        };
        locals.insert(central, local);
    }
    // The crate keeps one entry per name; walking the central directory finds them all.
    let mut at = archive.central_directory_start() as usize;
    let mut seen = 0;
    while out.get(at..at + 4) == Some(b"PK\x01\x02") {
        let local = match locals.get(&at) {
            Some(&local) => {
                seen += 1;
                local
            }
            None => local_offset(&out, at).ok_or_else(|| bad_header(at))?,
        };
        patch(&mut out, local, false, rules, &mut stats)?;
        let next = patch(&mut out, at, true, rules, &mut stats)?;
        stats.entries += 1;
        at = next;
    }
    if seen != locals.len() {
        return Err("damaged zip (central directory entries out of place)".into());
    }
    Ok((out, stats))
}

/// Reads an entry to its end; returns where its local and central headers start.
fn read_through<R: std::io::Read>(
    mut file: zip::read::ZipFile<'_, R>,
) -> Result<(usize, usize), String> {
    std::io::copy(&mut file, &mut std::io::sink())
        .map_err(|e| format!("damaged zip (entry {}: {e})", file.name()))?;
    Ok((
        file.header_start() as usize,
        file.central_header_start() as usize,
    ))
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

/// Writes `new` over `buf[at..]` and counts it when it differs.
fn put(buf: &mut [u8], at: usize, new: &[u8], count: &mut usize) {
    let slot = &mut buf[at..at + new.len()];
    if slot != new {
        slot.copy_from_slice(new);
        *count += 1;
    }
}

fn bad_header(at: usize) -> String {
    format!("damaged zip (bad header at byte {at})")
}

/// Where the local header of the central entry at `at` starts (from its zip64 field when the
/// 32-bit offset is saturated).
fn local_offset(out: &[u8], at: usize) -> Option<usize> {
    let head = out.get(at..at + 46)?;
    let offset = u32::from_le_bytes(head[42..46].try_into().unwrap());
    if offset != u32::MAX {
        return Some(offset as usize);
    }
    let (name_len, extra_len) = (u16_at(head, 28) as usize, u16_at(head, 30) as usize);
    let extra = out.get(at + 46 + name_len..at + 46 + name_len + extra_len)?;
    let mut p = 0;
    while p + 4 <= extra.len() {
        let (id, len) = (u16_at(extra, p), u16_at(extra, p + 2) as usize);
        if id == 0x0001 {
            // Present in order, each only when its 32-bit field is saturated.
            let skip = [24, 20]
                .iter()
                .filter(|&&f| u32::from_le_bytes(head[f..f + 4].try_into().unwrap()) == u32::MAX)
                .count()
                * 8;
            let field = extra.get(p + 4 + skip..p + 4 + skip + 8)?;
            return usize::try_from(u64::from_le_bytes(field.try_into().unwrap())).ok();
        }
        p += 4 + len;
    }
    None
}

/// Patches the local (`central == false`) or central header at `at`; returns where the
/// header (with its name, extra field and comment) ends.
fn patch(
    out: &mut [u8],
    at: usize,
    central: bool,
    rules: &Rules,
    stats: &mut Stats,
) -> Result<usize, String> {
    let (sig, fixed, time_at, names_at): (&[u8], usize, usize, usize) = if central {
        (b"PK\x01\x02", 46, 12, 28)
    } else {
        (b"PK\x03\x04", 30, 10, 26)
    };
    let bad = || bad_header(at);
    let head = out.get(at..at + fixed).ok_or_else(bad)?;
    if &head[..4] != sig {
        return Err(bad());
    }
    let (name_len, extra_len) = (
        u16_at(head, names_at) as usize,
        u16_at(head, names_at + 2) as usize,
    );
    let comment_len = if central {
        u16_at(head, 32) as usize
    } else {
        0
    };
    let (time, date) = (u16_at(head, time_at), u16_at(head, time_at + 2));
    if let Some(t) = dos_to_unix(date, time) {
        if t > rules.epoch {
            let (d, t) = unix_to_dos(rules.epoch);
            let mut new = [0u8; 4];
            new[..2].copy_from_slice(&t.to_le_bytes());
            new[2..].copy_from_slice(&d.to_le_bytes());
            put(out, at + time_at, &new, &mut stats.times);
        }
    }
    if central && out[at + 5] == 3 {
        let attr_at = at + 38;
        let attr = u32::from_le_bytes(out[attr_at..attr_at + 4].try_into().unwrap());
        let mode = attr >> 16;
        if mode != 0 && mode & 0o170000 != 0o120000 {
            let new = rules.mode(mode, mode & 0o170000 == 0o040000);
            let attr = (new << 16) | (attr & 0xffff);
            put(out, attr_at, &attr.to_le_bytes(), &mut stats.modes);
        }
    }
    let start = at + fixed + name_len;
    let extra = out.get_mut(start..start + extra_len).ok_or_else(bad)?;
    patch_extra(extra, rules, stats);
    Ok(start + extra_len + comment_len)
}

/// Clamps the times and (with `--owner root`) zeroes the owners in known extra fields.
/// Unknown fields, and whatever follows a malformed field (alignment padding), stay as they are.
fn patch_extra(buf: &mut [u8], rules: &Rules, stats: &mut Stats) {
    let root = rules.owner == Owner::Root;
    let epoch32 = rules.epoch.min(i32::MAX as i64) as u32;
    let mut p = 0;
    while p + 4 <= buf.len() {
        let (id, len) = (u16_at(buf, p), u16_at(buf, p + 2) as usize);
        let Some(d) = buf.get_mut(p + 4..p + 4 + len) else {
            return;
        };
        let mut time32 = |d: &mut [u8], at: usize, signed: bool| {
            if let Some(b) = d.get(at..at + 4) {
                let raw = u32::from_le_bytes(b.try_into().unwrap());
                let t = if signed {
                    raw as i32 as i64
                } else {
                    raw as i64
                };
                if t > rules.epoch {
                    put(d, at, &epoch32.to_le_bytes(), &mut stats.times);
                }
            }
        };
        match id {
            // Extended timestamp: flags, then up to three signed times (central: mtime only).
            0x5455 => (1..len).step_by(4).for_each(|at| time32(d, at, true)),
            // Old Info-ZIP Unix and PKWARE Unix: atime, mtime, then 16-bit uid and gid.
            0x5855 | 0x000d => {
                time32(d, 0, id == 0x5855);
                time32(d, 4, id == 0x5855);
                if root && len >= 12 {
                    put(d, 8, &[0; 4], &mut stats.owners);
                }
            }
            // New Info-ZIP Unix: version 1, uid size, uid, gid size, gid.
            0x7875 if root && len >= 2 && d[0] == 1 => {
                let uid = d[1] as usize;
                if let Some(&gid) = d.get(2 + uid) {
                    if 3 + uid + gid as usize <= len {
                        put(d, 2, &vec![0; uid], &mut stats.owners);
                        put(d, 3 + uid, &vec![0; gid as usize], &mut stats.owners);
                    }
                }
            }
            // NTFS: 4 reserved bytes, then tagged attributes; tag 1 holds three FILETIMEs.
            0x000a => {
                let max = (rules.epoch + NTFS_TO_UNIX) as u64 * 10_000_000;
                let mut q = 4;
                while q + 4 <= len {
                    let (tag, size) = (u16_at(d, q), u16_at(d, q + 2) as usize);
                    if tag == 1 && size == 24 && q + 28 <= len {
                        for at in (q + 4..q + 28).step_by(8) {
                            let ft = u64::from_le_bytes(d[at..at + 8].try_into().unwrap());
                            if ft > max {
                                put(d, at, &max.to_le_bytes(), &mut stats.times);
                            }
                        }
                    }
                    q += 4 + size;
                }
            }
            _ => {}
        }
        p += 4 + len;
    }
}

/// A DOS date and time read as UTC, or `None` when they are not a valid date.
fn dos_to_unix(date: u16, time: u16) -> Option<i64> {
    let (y, m, d) = (1980 + (date >> 9) as i64, (date >> 5) & 15, date & 31);
    let (h, mi, s) = (time >> 11, (time >> 5) & 63, (time & 31) * 2);
    if !(1..=12).contains(&m) || d == 0 || h > 23 || mi > 59 || s > 59 {
        return None;
    }
    Some(
        days_from_civil(y, m as i64, d as i64) * 86_400
            + (h as i64 * 60 + mi as i64) * 60
            + s as i64,
    )
}

/// `t` as a DOS (date, time) in UTC: even seconds, within 1980..=2107.
fn unix_to_dos(t: i64) -> (u16, u16) {
    let t = t.clamp(DOS_START, days_from_civil(2107, 12, 31) * 86_400 + 86_398);
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    let date = (((y - 1980) << 9) | (m << 5) | d) as u16;
    let time = (((secs / 3600) << 11) | ((secs / 60 % 60) << 5) | ((secs % 60) / 2)) as u16;
    (date, time)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::ModeRule;
    use std::io::Write;
    use zip::write::{ExtendedFileOptions, FileOptions};

    const EPOCH: i64 = 1_700_000_000; // 2023-11-14T22:13:20Z
    const RULES: Rules = Rules {
        epoch: EPOCH,
        owner: Owner::Root,
        mode: ModeRule::Canonical,
    };

    #[test]
    fn dos_times_round_trip_in_utc() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
        let (d, t) = unix_to_dos(EPOCH);
        assert_eq!(dos_to_unix(d, t), Some(EPOCH));
        let (d, t) = unix_to_dos(EPOCH + 1);
        assert_eq!(dos_to_unix(d, t), Some(EPOCH), "odd seconds round down");
        let (d, t) = unix_to_dos(0);
        assert_eq!(dos_to_unix(d, t), Some(DOS_START));
        assert_eq!(dos_to_unix(0, 0), None);
    }

    fn sample() -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let when = zip::DateTime::from_date_and_time(2030, 5, 6, 7, 8, 10).unwrap();
        let mut ut = vec![3u8];
        ut.extend_from_slice(&((EPOCH + 999) as u32).to_le_bytes());
        ut.extend_from_slice(&((EPOCH + 998) as u32).to_le_bytes());
        let mut opts: FileOptions<ExtendedFileOptions> = FileOptions::default()
            .last_modified_time(when)
            .unix_permissions(0o664);
        opts.add_extra_data(0x5455, ut.into_boxed_slice(), false)
            .unwrap();
        opts.add_extra_data(
            0x7875,
            vec![1, 4, 0xe8, 3, 0, 0, 4, 0xe8, 3, 0, 0].into(),
            false,
        )
        .unwrap();
        w.start_file(
            "a.txt",
            opts.compression_method(zip::CompressionMethod::Stored),
        )
        .unwrap();
        w.write_all(b"alpha alpha alpha").unwrap();
        let opts: FileOptions<()> = FileOptions::default()
            .last_modified_time(when)
            .compression_method(zip::CompressionMethod::Stored);
        w.start_file("b.txt", opts).unwrap();
        w.write_all(b"bravo").unwrap();
        let old = zip::DateTime::from_date_and_time(1999, 1, 2, 3, 4, 6).unwrap();
        let opts: FileOptions<()> = FileOptions::default().last_modified_time(old);
        w.start_file("old.txt", opts).unwrap();
        w.write_all(b"beta").unwrap();
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn times_owners_and_modes_are_patched_in_place() {
        let input = sample();
        let (out, stats) = normalize(&input, &RULES).unwrap();
        assert_eq!(out.len(), input.len());
        assert!(
            stats.times >= 4 && stats.owners == 4 && stats.modes == 1,
            "{stats:?}"
        );
        let mut z = ZipArchive::new(Cursor::new(&out)).unwrap();
        let a = z.by_index(0).unwrap();
        let t = a.last_modified().unwrap();
        assert_eq!((t.year(), t.month(), t.day(), t.hour()), (2023, 11, 14, 22));
        assert_eq!(a.unix_mode().unwrap() & 0o777, 0o644);
        let ut = a.extra_data().unwrap();
        let at = ut.windows(2).position(|w| w == [0x55, 0x54]).unwrap() + 5;
        assert_eq!(ut[at..at + 4], (EPOCH as u32).to_le_bytes());
        drop(a);
        let t = z.by_index(2).unwrap().last_modified().unwrap();
        assert_eq!((t.year(), t.second()), (1999, 6), "older times stay");
        assert_eq!(normalize(&out, &RULES).unwrap().0, out, "idempotent");
    }

    /// The DOS time and date of the sample's 2030 entries, as stored.
    const WHEN_2030: [u8; 4] = [0x05, 0x39, 0xa6, 0x64];

    #[test]
    fn entries_sharing_a_name_are_all_patched() {
        let input = sample();
        let mut dup = input.clone();
        for i in 0..dup.len() - 5 {
            if &dup[i..i + 5] == b"b.txt" {
                dup[i] = b'a';
            }
        }
        assert!(dup.windows(4).any(|w| w == WHEN_2030));
        assert_eq!(
            ZipArchive::new(Cursor::new(&dup)).unwrap().len(),
            2,
            "crate dedupes"
        );
        let (out, stats) = normalize(&dup, &RULES).unwrap();
        assert_eq!(stats.entries, 3);
        assert!(
            !out.windows(4).any(|w| w == WHEN_2030),
            "an entry kept its 2030 time"
        );
    }

    #[test]
    fn damage_is_reported() {
        let input = sample();
        for cut in [10, input.len() / 2, input.len() - 5] {
            assert!(normalize(&input[..cut], &RULES).is_err(), "cut at {cut}");
        }
        let mut flipped = input.clone();
        let at = flipped.windows(5).position(|w| w == b"alpha").unwrap_or(40);
        flipped[at] ^= 0x20;
        assert!(normalize(&flipped, &RULES).is_err(), "CRC");
    }
}
