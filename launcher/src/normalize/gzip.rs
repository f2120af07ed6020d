//! gzip (RFC 1952): every member's header is rewritten, its compressed data copied as is.
//!
//! A member's header becomes: the same flags minus `FNAME` (the original file name, which
//! names the build's files) and `FHCRC` (a header checksum few readers check), MTIME clamped
//! to the epoch (0, "no time", stays 0), the same XFL, OS 3 (Unix), then the extra field and
//! comment unchanged. This is what strip-nondeterminism does, with the clamping rule and a
//! fixed OS byte added.
//!
//! Every member is inflated and its CRC-32 and length checked before anything is written, so
//! damage is found first. Zero bytes after the last member (tape padding) are kept; anything
//! else there is damage.
//!
//! When the decompressed content is a tar, the file is a `.tar.gz`: the tar is normalized
//! ([`super::tar`]) and always recompressed, as one member, by flate2's pure-Rust backend at
//! the level the first header's XFL records (2: best, 9; 4: fastest, 1; otherwise the default,
//! 6; gzip records nothing finer). Recompressing even an unchanged tar makes the result depend
//! only on the normalized tar, not on which gzip (or pigz, or zlib version) made the input.

use super::{Rules, Stats};
use flate2::{Crc, Decompress, FlushDecompress, Status};
use std::io::Write;

const FHCRC: u8 = 1 << 1;
const FEXTRA: u8 = 1 << 2;
const FNAME: u8 = 1 << 3;
const FCOMMENT: u8 = 1 << 4;
/// The OS byte written: 3, Unix (what gzip writes on Linux).
const OS_UNIX: u8 = 3;

/// Whether `data` starts like a deflate-compressed gzip member.
pub fn detect(data: &[u8]) -> bool {
    data.len() >= 10 && data[..3] == [0x1f, 0x8b, 8]
}

/// A parsed member header; byte slices borrow the input.
struct Header<'a> {
    flags: u8,
    mtime: u32,
    xfl: u8,
    /// The extra field without its length.
    extra: Option<&'a [u8]>,
    /// The comment without its terminating NUL.
    comment: Option<&'a [u8]>,
    /// Where the compressed data starts.
    end: usize,
}

/// Parses the member header at `pos`.
fn header(data: &[u8], pos: usize) -> Result<Header<'_>, String> {
    const CUT: &str = "truncated gzip header";
    let fixed = data.get(pos..pos + 10).ok_or(CUT)?;
    let flags = fixed[3];
    if flags & 0xe0 != 0 {
        return Err("damaged gzip header (reserved flags set)".into());
    }
    let mut at = pos + 10;
    let mut take = |n: usize| -> Result<&[u8], String> {
        let s = data.get(at..at + n).ok_or(CUT)?;
        at += n;
        Ok(s)
    };
    let extra = if flags & FEXTRA != 0 {
        let len = take(2)?;
        Some(take(u16::from_le_bytes([len[0], len[1]]) as usize)?)
    } else {
        None
    };
    let mut zstring = |set: bool| -> Result<Option<&[u8]>, String> {
        if !set {
            return Ok(None);
        }
        let rest = data.get(at..).unwrap_or_default();
        let n = rest.iter().position(|&b| b == 0).ok_or(CUT)?;
        at += n + 1;
        Ok(Some(&rest[..n]))
    };
    zstring(flags & FNAME != 0)?;
    let comment = zstring(flags & FCOMMENT != 0)?;
    if flags & FHCRC != 0 {
        at += 2;
    }
    if at > data.len() {
        return Err(CUT.into());
    }
    Ok(Header {
        flags,
        mtime: u32::from_le_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]),
        xfl: fixed[8],
        extra,
        comment,
        end: at,
    })
}

/// Appends the canonical form of `h` (with `mtime` as given) to `out`.
fn write_header(out: &mut Vec<u8>, h: &Header<'_>, mtime: u32) {
    out.extend_from_slice(&[0x1f, 0x8b, 8, h.flags & !(FNAME | FHCRC)]);
    out.extend_from_slice(&mtime.to_le_bytes());
    out.extend_from_slice(&[h.xfl, OS_UNIX]);
    if let Some(extra) = h.extra {
        out.extend_from_slice(&(extra.len() as u16).to_le_bytes());
        out.extend_from_slice(extra);
    }
    if let Some(comment) = h.comment {
        out.extend_from_slice(comment);
        out.push(0);
    }
}

/// Inflates the raw deflate stream at the start of `input` onto `out`; returns the number of
/// input bytes it took.
fn inflate(input: &[u8], out: &mut Vec<u8>) -> Result<usize, String> {
    let mut d = Decompress::new(false);
    loop {
        if out.capacity() - out.len() < 64 * 1024 {
            out.reserve(out.len().max(256 * 1024));
        }
        let (was_in, was_out) = (d.total_in(), d.total_out());
        let status = d
            .decompress_vec(&input[was_in as usize..], out, FlushDecompress::None)
            .map_err(|e| format!("damaged gzip data ({e})"))?;
        if status == Status::StreamEnd {
            return Ok(d.total_in() as usize);
        }
        let stuck = d.total_in() == was_in && d.total_out() == was_out;
        if stuck && d.total_in() as usize == input.len() {
            return Err("truncated gzip data".into());
        }
    }
}

/// One member: its header and where it ends (after the trailer).
struct Member<'a> {
    header: Header<'a>,
    data: std::ops::Range<usize>,
}

/// Parses and checks every member; returns them, the decompressed content and the tail.
fn members(data: &[u8]) -> Result<(Vec<Member<'_>>, Vec<u8>, usize), String> {
    let (mut members, mut content, mut pos) = (Vec::new(), Vec::new(), 0);
    while pos < data.len() {
        if pos > 0 && data[pos..].iter().all(|&b| b == 0) {
            break;
        }
        if !detect(&data[pos..]) {
            return Err(format!("damaged gzip file (unknown data at byte {pos})"));
        }
        let header = header(data, pos)?;
        let start = content.len();
        let used = inflate(&data[header.end..], &mut content)?;
        let end = header.end + used;
        let trailer = data.get(end..end + 8).ok_or("truncated gzip trailer")?;
        let mut crc = Crc::new();
        crc.update(&content[start..]);
        let want_crc = u32::from_le_bytes(trailer[..4].try_into().unwrap());
        let want_len = u32::from_le_bytes(trailer[4..].try_into().unwrap());
        if crc.sum() != want_crc || (content.len() - start) as u32 != want_len {
            return Err("damaged gzip data (CRC or length mismatch)".into());
        }
        members.push(Member {
            data: header.end..end + 8,
            header,
        });
        pos = end + 8;
    }
    Ok((members, content, pos))
}

/// The canonical form of a gzip file: `("gzip" | "tar.gz", (bytes, stats))`.
pub fn normalize(data: &[u8], rules: &Rules) -> Result<(&'static str, (Vec<u8>, Stats)), String> {
    let (members, content, tail) = members(data)?;
    let clamp = |t: u32| super::clamp_u64(t as u64, rules.epoch) as u32;
    let mut stats = Stats {
        entries: members.len(),
        ..Stats::default()
    };
    let note = |h: &Header<'_>, stats: &mut Stats| {
        stats.times += usize::from(clamp(h.mtime) != h.mtime);
        stats.names += usize::from(h.flags & FNAME != 0);
    };
    let mut out = Vec::with_capacity(data.len());
    if super::tar::detect(&content) {
        let (tar, tar_stats) = super::tar::normalize(&content, rules)?;
        let first = &members[0].header;
        note(first, &mut stats);
        let level = match first.xfl {
            2 => 9,
            4 => 1,
            _ => 6,
        };
        write_header(&mut out, first, clamp(first.mtime));
        let mut enc = flate2::write::DeflateEncoder::new(out, flate2::Compression::new(level));
        enc.write_all(&tar).map_err(|e| e.to_string())?;
        out = enc.finish().map_err(|e| e.to_string())?;
        let mut crc = Crc::new();
        crc.update(&tar);
        out.extend_from_slice(&crc.sum().to_le_bytes());
        out.extend_from_slice(&(tar.len() as u32).to_le_bytes());
        out.extend_from_slice(&data[tail..]);
        let stats = Stats {
            names: stats.names,
            times: stats.times + tar_stats.times,
            recompressed: Some(format!("recompressed at level {level}")),
            ..tar_stats
        };
        return Ok(("tar.gz", (out, stats)));
    }
    for m in &members {
        note(&m.header, &mut stats);
        write_header(&mut out, &m.header, clamp(m.header.mtime));
        out.extend_from_slice(&data[m.data.clone()]);
    }
    out.extend_from_slice(&data[tail..]);
    Ok(("gzip", (out, stats)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::{ModeRule, Owner};
    use flate2::{Compression, GzBuilder};

    const EPOCH: i64 = 1_700_000_000;
    const RULES: Rules = Rules {
        epoch: EPOCH,
        owner: Owner::Root,
        mode: ModeRule::Keep,
    };

    fn gz(name: Option<&str>, mtime: u32, body: &[u8]) -> Vec<u8> {
        let mut b = GzBuilder::new().mtime(mtime).comment("kept");
        if let Some(n) = name {
            b = b.filename(n);
        }
        let mut w = b.write(Vec::new(), Compression::best());
        w.write_all(body).unwrap();
        w.finish().unwrap()
    }

    #[test]
    fn header_is_canonical_and_data_is_copied() {
        let input = gz(Some("hello.txt"), EPOCH as u32 + 999, b"hello\n");
        let (format, (out, stats)) = normalize(&input, &RULES).unwrap();
        assert_eq!(format, "gzip");
        assert_eq!((stats.times, stats.names), (1, 1));
        let h = header(&out, 0).unwrap();
        assert_eq!(h.flags & (FNAME | FHCRC), 0);
        assert_eq!(h.mtime, EPOCH as u32);
        assert_eq!(h.comment, Some(&b"kept"[..]));
        assert_eq!(out[9], OS_UNIX);
        assert_eq!(out[8], 2, "XFL kept");
        let old = header(&input, 0).unwrap();
        assert_eq!(out[h.end..], input[old.end..], "compressed data copied");
        assert_eq!(normalize(&out, &RULES).unwrap().1 .0, out, "idempotent");
    }

    #[test]
    fn older_and_zero_times_stay_and_members_are_all_rewritten() {
        let mut input = gz(None, 0, b"a");
        input.extend(gz(Some("b"), 12345, b"b"));
        input.extend([0u8; 4]);
        let (_, (out, stats)) = normalize(&input, &RULES).unwrap();
        assert_eq!((stats.entries, stats.times, stats.names), (2, 0, 1));
        assert_eq!(out.len(), input.len() - 2, "one name (b\\0) dropped");
        assert!(out.ends_with(&[0, 0, 0, 0]), "tail padding kept");
        let second = header(&out, members(&out).unwrap().0[0].data.end).unwrap();
        assert_eq!(second.mtime, 12345);
    }

    #[test]
    fn damage_is_reported() {
        let input = gz(Some("x"), 5, &[7u8; 5000]);
        for cut in [5, 20, input.len() / 2, input.len() - 3] {
            assert!(normalize(&input[..cut], &RULES).is_err(), "cut at {cut}");
        }
        let mut flipped = input.clone();
        let n = flipped.len();
        flipped[n - 6] ^= 1;
        assert!(normalize(&flipped, &RULES).is_err(), "CRC");
        let mut garbage = input;
        garbage.extend(b"junk");
        assert!(normalize(&garbage, &RULES).is_err(), "trailing garbage");
    }
}
