//! tar (ustar, GNU and pax): headers are rewritten field by field, block by block, in order.
//!
//! In every header (extension headers included): `mtime` clamped to the epoch; with
//! `--owner root` uid and gid 0 and non-empty user and group names `root`; with
//! `--mode canonical` the permissions of everything but symbolic links. In pax records (`x`
//! and `g`): `mtime` clamped, `atime`, `ctime` and `LIBARCHIVE.creationtime` dropped, owner
//! records as in headers. Member data, names, link targets, GNU sparse maps and other records
//! are copied as they are; the checksum of a changed header is recomputed (GNU style).
//!
//! The walk checks each header's checksum, that every member's data is present, and that the
//! archive ends with its two zero blocks; anything else is damage. What follows the end (zero
//! padding to the record size) is kept; when dropping pax records shortened the archive, the
//! padding is recomputed so the length stays a multiple of the same record size.

use super::{Owner, Rules, Stats};
use tar::{EntryType, Header};

const BLOCK: usize = 512;
/// GNU tar's default record: 20 blocks.
const RECORD: usize = 20 * BLOCK;
/// Offsets of the user and group name fields (ustar and GNU alike).
const UNAME: std::ops::Range<usize> = 265..297;
const GNAME: std::ops::Range<usize> = 297..329;

/// Whether `data` starts with a ustar or GNU tar header.
pub fn detect(data: &[u8]) -> bool {
    data.len() >= BLOCK && &data[257..262] == b"ustar"
}

/// The canonical form of a tar archive and what changed.
pub fn normalize(data: &[u8], rules: &Rules) -> Result<(Vec<u8>, Stats), String> {
    let mut out = Vec::with_capacity(data.len());
    let mut stats = Stats::default();
    let mut pos = 0;
    let mut pax_size: Option<u64> = None;
    loop {
        let block = data
            .get(pos..pos + BLOCK)
            .ok_or("truncated tar (no end-of-archive blocks)")?;
        if block.iter().all(|&b| b == 0) {
            let end = data
                .get(pos..pos + 2 * BLOCK)
                .ok_or("truncated tar (one end-of-archive block of two)")?;
            if end.iter().any(|&b| b != 0) {
                return Err(format!(
                    "damaged tar (garbage in the end blocks at byte {pos})"
                ));
            }
            out.extend_from_slice(&padding(data, pos, out.len()));
            return Ok((out, stats));
        }
        let mut header = Header::from_byte_slice(block).clone();
        check_sum(&header, pos)?;
        let kind = header.entry_type();
        let extension = matches!(
            kind,
            EntryType::XHeader | EntryType::XGlobalHeader | EntryType::GNULongName
        ) || kind.is_gnu_longlink();
        let mut size = header
            .entry_size()
            .map_err(|e| format!("damaged tar header at byte {pos} ({e})"))?;
        if !extension {
            size = pax_size.take().unwrap_or(size);
        }
        // GNU sparse members continue their map in extension blocks before the data.
        let mut ext_end = pos + BLOCK;
        if kind.is_gnu_sparse() {
            let mut more = block[482] != 0;
            while more {
                let ext = data.get(ext_end..ext_end + BLOCK).ok_or("truncated tar")?;
                more = ext[504] != 0;
                ext_end += BLOCK;
            }
        }
        let padded = usize::try_from(size)
            .ok()
            .and_then(|s| s.checked_add(BLOCK - 1))
            .map(|s| s & !(BLOCK - 1))
            .ok_or("damaged tar (impossible member size)")?;
        let body = data
            .get(ext_end..ext_end + padded)
            .ok_or_else(|| format!("truncated tar (member at byte {pos} is cut short)"))?;
        let content = &body[..size as usize];
        stats.entries += usize::from(!extension);
        let mut new_body = None;
        if matches!(kind, EntryType::XHeader | EntryType::XGlobalHeader) {
            let (records, size_record) = pax(content, rules, &mut stats, pos)?;
            if kind == EntryType::XHeader {
                pax_size = size_record;
            }
            if records != content {
                header.set_size(records.len() as u64);
                new_body = Some(records);
            }
        }
        edit_header(&mut header, kind, rules, &mut stats);
        if header.as_bytes() != block {
            set_sum(&mut header);
        }
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(&data[pos + BLOCK..ext_end]);
        match new_body {
            Some(records) => {
                let len = records.len().div_ceil(BLOCK) * BLOCK;
                out.extend_from_slice(&records);
                out.resize(out.len() + len - records.len(), 0);
            }
            None => out.extend_from_slice(body),
        }
        pos = ext_end + padded;
    }
}

/// The end of the archive: the original tail when the length did not change; otherwise two
/// zero blocks padded to the record size the original used.
fn padding(data: &[u8], pos: usize, out_len: usize) -> Vec<u8> {
    if out_len == pos {
        return data[pos..].to_vec();
    }
    let record = match data.len() % RECORD {
        0 => RECORD,
        _ => BLOCK,
    };
    let total = (out_len + 2 * BLOCK).div_ceil(record) * record;
    let mut tail = data[pos..].to_vec();
    tail.resize(total - out_len, 0);
    tail
}

fn check_sum(header: &Header, pos: usize) -> Result<(), String> {
    let want = header
        .cksum()
        .map_err(|_| format!("damaged tar header at byte {pos} (unreadable checksum)"))?;
    if sum(header.as_bytes()) != want {
        return Err(format!(
            "damaged tar header at byte {pos} (checksum mismatch)"
        ));
    }
    Ok(())
}

/// The header checksum: its bytes summed, with the checksum field counted as spaces.
fn sum(bytes: &[u8; BLOCK]) -> u32 {
    let field: u32 = bytes[148..156].iter().map(|&b| b as u32).sum();
    bytes.iter().map(|&b| b as u32).sum::<u32>() - field + 8 * b' ' as u32
}

/// Writes the checksum as GNU tar does: six octal digits, NUL, space.
fn set_sum(header: &mut Header) {
    let value = sum(header.as_bytes());
    header.as_mut_bytes()[148..156].copy_from_slice(format!("{value:06o}\0 ").as_bytes());
}

/// Rewrites the fields the rules name. A blank or unreadable numeric field (some writers leave
/// them empty in extension headers) is left as it is.
fn edit_header(h: &mut Header, kind: EntryType, rules: &Rules, stats: &mut Stats) {
    if let Ok(mtime) = h.mtime() {
        let clamped = super::clamp_u64(mtime, rules.epoch);
        if clamped != mtime {
            h.set_mtime(clamped);
            stats.times += 1;
        }
    }
    if rules.owner == Owner::Root {
        if h.uid().is_ok_and(|id| id != 0) {
            h.set_uid(0);
            stats.owners += 1;
        }
        if h.gid().is_ok_and(|id| id != 0) {
            h.set_gid(0);
            stats.owners += 1;
        }
        let mut root = [0u8; 32];
        root[..4].copy_from_slice(b"root");
        for field in [UNAME, GNAME] {
            let name = &mut h.as_mut_bytes()[field];
            if name[0] != 0 && *name != root {
                name.copy_from_slice(&root);
                stats.owners += 1;
            }
        }
    }
    let skip_mode = matches!(
        kind,
        EntryType::Symlink | EntryType::XHeader | EntryType::XGlobalHeader
    ) || kind.is_gnu_longname()
        || kind.is_gnu_longlink();
    if let (false, Ok(mode)) = (skip_mode, h.mode()) {
        let new = rules.mode(mode, kind == EntryType::Directory);
        if new != mode {
            h.set_mode(new);
            stats.modes += 1;
        }
    }
}

/// The canonical pax records of one extended header, and its `size` record if any.
fn pax(
    data: &[u8],
    rules: &Rules,
    stats: &mut Stats,
    pos: usize,
) -> Result<(Vec<u8>, Option<u64>), String> {
    let bad = || format!("damaged tar (bad pax record in the header at byte {pos})");
    let (mut out, mut size, mut rest) = (Vec::with_capacity(data.len()), None, data);
    while !rest.is_empty() {
        let space = rest.iter().position(|&b| b == b' ').ok_or_else(bad)?;
        let len: usize = std::str::from_utf8(&rest[..space])
            .ok()
            .and_then(|s| s.parse().ok())
            .filter(|&n| n > space + 1 && n <= rest.len())
            .ok_or_else(bad)?;
        let record = &rest[..len];
        rest = &rest[len..];
        let body = record[space + 1..].strip_suffix(b"\n").ok_or_else(bad)?;
        let eq = body.iter().position(|&b| b == b'=').ok_or_else(bad)?;
        let (key, value) = (&body[..eq], &body[eq + 1..]);
        let replace: Option<&[u8]> = match key {
            b"atime" | b"ctime" | b"LIBARCHIVE.creationtime" => {
                stats.dropped += 1;
                continue;
            }
            b"size" => {
                size = Some(
                    std::str::from_utf8(value)
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .ok_or_else(bad)?,
                );
                None
            }
            b"mtime" if after_epoch(value, rules.epoch) => Some(b""),
            b"uid" | b"gid" if rules.owner == Owner::Root && value != b"0" => Some(b"0"),
            b"uname" | b"gname" if rules.owner == Owner::Root && value != b"root" => Some(b"root"),
            _ => None,
        };
        match replace {
            None => out.extend_from_slice(record),
            Some(new) => {
                let epoch = rules.epoch.to_string();
                let new = if key == b"mtime" {
                    epoch.as_bytes()
                } else {
                    new
                };
                if key == b"mtime" {
                    stats.times += 1;
                } else {
                    stats.owners += 1;
                }
                out.extend_from_slice(&record_bytes(key, new));
            }
        }
    }
    Ok((out, size))
}

/// Whether the pax time `value` (decimal seconds, optional fraction) lies after `epoch`.
fn after_epoch(value: &[u8], epoch: i64) -> bool {
    let text = std::str::from_utf8(value).unwrap_or("");
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    match int.parse::<i64>() {
        Ok(sec) => sec > epoch || (sec == epoch && frac.bytes().any(|b| b != b'0')),
        Err(_) => false,
    }
}

/// One pax record, `"%d %s=%s\n"`, whose length counts its own digits.
fn record_bytes(key: &[u8], value: &[u8]) -> Vec<u8> {
    let body = key.len() + value.len() + 3;
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    let mut rec = format!("{len} ").into_bytes();
    rec.extend_from_slice(key);
    rec.push(b'=');
    rec.extend_from_slice(value);
    rec.push(b'\n');
    rec
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::ModeRule;

    const EPOCH: i64 = 1_700_000_000;

    fn rules(owner: Owner, mode: ModeRule) -> Rules {
        Rules {
            epoch: EPOCH,
            owner,
            mode,
        }
    }

    fn member(name: &str, mtime: u64, mode: u32, body: &[u8]) -> Vec<u8> {
        let mut h = Header::new_gnu();
        h.set_path(name).unwrap();
        h.set_size(body.len() as u64);
        h.set_mtime(mtime);
        h.set_mode(mode);
        h.set_uid(1000);
        h.set_gid(1000);
        h.set_username("builder").unwrap();
        h.set_groupname("staff").unwrap();
        h.set_cksum();
        let mut out = h.as_bytes().to_vec();
        out.extend_from_slice(body);
        out.resize(out.len().div_ceil(BLOCK) * BLOCK, 0);
        out
    }

    fn pax_member(records: &[(&str, &str)]) -> Vec<u8> {
        let data: Vec<u8> = records
            .iter()
            .flat_map(|(k, v)| record_bytes(k.as_bytes(), v.as_bytes()))
            .collect();
        let mut h = Header::new_ustar();
        h.set_path("PaxHeaders/f").unwrap();
        h.set_entry_type(EntryType::XHeader);
        h.set_size(data.len() as u64);
        h.set_mtime(EPOCH as u64 + 50);
        h.set_cksum();
        let mut out = h.as_bytes().to_vec();
        out.extend_from_slice(&data);
        out.resize(out.len().div_ceil(BLOCK) * BLOCK, 0);
        out
    }

    fn archive(members: &[Vec<u8>]) -> Vec<u8> {
        let mut out: Vec<u8> = members.concat();
        out.resize((out.len() + 2 * BLOCK).div_ceil(RECORD) * RECORD, 0);
        out
    }

    fn headers(data: &[u8]) -> Vec<Header> {
        let mut ar = tar::Archive::new(data);
        let entries = ar.entries().unwrap().raw(true);
        entries.map(|e| e.unwrap().header().clone()).collect()
    }

    #[test]
    fn times_owners_and_modes_are_rewritten_contents_kept() {
        let input = archive(&[
            member("a.txt", EPOCH as u64 + 3600, 0o664, b"alpha"),
            member("old.txt", 1000, 0o600, b"beta"),
        ]);
        let (out, stats) = normalize(&input, &rules(Owner::Root, ModeRule::Canonical)).unwrap();
        assert_eq!(out.len(), input.len());
        assert_eq!(
            (stats.entries, stats.times, stats.owners, stats.modes),
            (2, 1, 8, 2)
        );
        let hs = headers(&out);
        assert_eq!(hs[0].mtime().unwrap(), EPOCH as u64);
        assert_eq!(hs[1].mtime().unwrap(), 1000);
        assert_eq!(hs[0].username().unwrap(), Some("root"));
        assert_eq!((hs[1].uid().unwrap(), hs[1].mode().unwrap()), (0, 0o644));
        assert_eq!(&out[BLOCK..BLOCK + 5], b"alpha");
        assert_eq!(
            normalize(&out, &rules(Owner::Root, ModeRule::Canonical))
                .unwrap()
                .0,
            out
        );
        let (kept, _) = normalize(&input, &rules(Owner::Keep, ModeRule::Keep)).unwrap();
        assert_eq!(headers(&kept)[0].uid().unwrap(), 1000);
        assert_eq!(headers(&kept)[0].mode().unwrap(), 0o664);
    }

    #[test]
    fn pax_times_are_clamped_or_dropped() {
        let input = archive(&[
            pax_member(&[
                ("mtime", "1700000100.5"),
                ("atime", "1700000200.1"),
                ("ctime", "1700000300.2"),
                ("path", "a-long-name"),
            ]),
            member("a", EPOCH as u64 + 100, 0o644, b"x"),
        ]);
        let (out, stats) = normalize(&input, &rules(Owner::Root, ModeRule::Keep)).unwrap();
        assert_eq!(stats.dropped, 2);
        let mut ar = tar::Archive::new(&out[..]);
        let mut entries = ar.entries().unwrap();
        let mut e = entries.next().unwrap().unwrap();
        let pax: Vec<String> = e
            .pax_extensions()
            .unwrap()
            .unwrap()
            .map(|r| {
                let r = r.unwrap();
                format!("{}={}", r.key().unwrap(), r.value().unwrap())
            })
            .collect();
        assert_eq!(pax, ["mtime=1700000000", "path=a-long-name"]);
        assert_eq!(e.path().unwrap().to_str(), Some("a-long-name"));
        assert_eq!(out.len() % RECORD, 0);
        assert_eq!(
            normalize(&out, &rules(Owner::Root, ModeRule::Keep))
                .unwrap()
                .0,
            out
        );
    }

    #[test]
    fn record_lengths_count_their_own_digits() {
        assert_eq!(
            record_bytes(b"mtime", b"1700000000"),
            b"20 mtime=1700000000\n"
        );
        let rec = record_bytes(b"path", &[b'a'; 90]);
        assert!(
            rec.starts_with(b"99 path="),
            "{}",
            String::from_utf8_lossy(&rec)
        );
        assert_eq!(rec.len(), 99);
        let rec = record_bytes(b"path", &[b'a'; 91]);
        assert!(
            rec.starts_with(b"101 path="),
            "{}",
            String::from_utf8_lossy(&rec)
        );
        assert_eq!(rec.len(), 101);
        assert!(after_epoch(b"1700000000.001", EPOCH) && !after_epoch(b"1700000000.000", EPOCH));
        assert!(!after_epoch(b"-5.5", EPOCH) && after_epoch(b"1700000001", EPOCH));
    }

    #[test]
    fn damage_is_reported() {
        let input = archive(&[member("a", 5, 0o644, &[1u8; 700])]);
        for cut in [100, BLOCK + 10, 2 * BLOCK, 3 * BLOCK + 100] {
            assert!(
                normalize(&input[..cut], &rules(Owner::Root, ModeRule::Keep)).is_err(),
                "{cut}"
            );
        }
        let mut bad = input.clone();
        bad[10] ^= 1;
        let err = normalize(&bad, &rules(Owner::Root, ModeRule::Keep)).unwrap_err();
        assert!(err.contains("checksum"), "{err}");
    }
}
