//! `ar` archives (static libraries, `.deb`; GNU, SysV, BSD and thin): member headers are
//! patched in place, their fixed-width ASCII fields rewritten as `ar D` (deterministic mode)
//! writes them, except that the date is clamped to the epoch rather than set to 0.
//!
//! Per member: date clamped; with `--owner root` uid and gid 0; mode `644` (what `ar D`
//! writes for every member; `ar x` restores it). The symbol table (`/`, `/SYM64/`,
//! `__.SYMDEF`) gets the date and owners but keeps its mode; the long-name table (`//`) is
//! left alone. Fields are only rewritten when their value changes, so an archive made with
//! `ar D` is already canonical. No byte moves.
//!
//! This format is patched without a crate: the `ar` crate reads headers but not their
//! offsets, and rewriting through its builder would re-encode the symbol table.

use super::{Owner, Rules, Stats};

const MAGIC: &[u8] = b"!<arch>\n";
const THIN: &[u8] = b"!<thin>\n";
const HEADER: usize = 60;

/// Whether `data` starts with an `ar` or thin-archive magic.
pub fn detect(data: &[u8]) -> bool {
    data.starts_with(MAGIC) || data.starts_with(THIN)
}

/// The decimal or octal number in a space-padded field; `None` when blank or malformed.
fn number(field: &[u8], radix: u32) -> Option<u64> {
    let text = std::str::from_utf8(field).ok()?.trim_end_matches(' ');
    u64::from_str_radix(text, radix).ok()
}

/// Rewrites `field` as `value`, left-aligned and space-padded, when its number differs.
fn set(field: &mut [u8], value: u64, radix: u32, count: &mut usize) {
    if number(field, radix) == Some(value) {
        return;
    }
    let text = if radix == 8 {
        format!("{value:o}")
    } else {
        value.to_string()
    };
    if text.len() <= field.len() {
        field.fill(b' ');
        field[..text.len()].copy_from_slice(text.as_bytes());
        *count += 1;
    }
}

/// The canonical form of an `ar` archive and what changed.
pub fn normalize(data: &[u8], rules: &Rules) -> Result<(Vec<u8>, Stats), String> {
    let thin = data.starts_with(THIN);
    let mut out = data.to_vec();
    let mut stats = Stats::default();
    let mut pos = MAGIC.len();
    while pos < out.len() {
        let h = out
            .get_mut(pos..pos + HEADER)
            .ok_or_else(|| format!("truncated ar archive (member header at byte {pos})"))?;
        if &h[58..] != b"`\n" {
            return Err(format!(
                "damaged ar archive (bad member header at byte {pos})"
            ));
        }
        let size = number(&h[48..58], 10)
            .ok_or_else(|| format!("damaged ar archive (bad member size at byte {pos})"))?;
        let name = &h[..16];
        let long_names = name.starts_with(b"// ");
        let symbols = name.starts_with(b"/ ")
            || name.starts_with(b"/SYM64/")
            || name.starts_with(b"__.SYMDEF");
        if !long_names {
            stats.entries += usize::from(!symbols);
            if let Some(date) = number(&h[16..28], 10) {
                set(
                    &mut h[16..28],
                    super::clamp_u64(date, rules.epoch),
                    10,
                    &mut stats.times,
                );
            }
            if rules.owner == Owner::Root {
                set(&mut h[28..34], 0, 10, &mut stats.owners);
                set(&mut h[34..40], 0, 10, &mut stats.owners);
            }
            if !symbols {
                set(&mut h[40..48], 0o644, 8, &mut stats.modes);
            }
        }
        // A thin archive stores only its symbol and name tables; members live outside.
        let stored = if thin && !long_names && !symbols {
            0
        } else {
            size
        };
        let end = (pos + HEADER) as u64 + stored;
        if end > data.len() as u64 {
            return Err(format!(
                "truncated ar archive (member at byte {pos} is cut short)"
            ));
        }
        // Members are padded to even offsets; a missing final pad byte is tolerated.
        pos = (end + end % 2) as usize;
    }
    Ok((out, stats))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::ModeRule;

    const EPOCH: i64 = 1_700_000_000;

    fn member(name: &str, date: &str, uid: &str, mode: &str, body: &[u8]) -> Vec<u8> {
        let mut h = format!(
            "{name:<16}{date:<12}{uid:<6}{uid:<6}{mode:<8}{:<10}`\n",
            body.len()
        )
        .into_bytes();
        h.extend_from_slice(body);
        if body.len() % 2 == 1 {
            h.push(b'\n');
        }
        h
    }

    fn rules(owner: Owner) -> Rules {
        Rules {
            epoch: EPOCH,
            owner,
            mode: ModeRule::Keep,
        }
    }

    #[test]
    fn headers_become_what_ar_d_writes_with_clamped_dates() {
        let mut input = MAGIC.to_vec();
        input.extend(member("/", "1796290864", "0", "0", b"\0\0\0\0"));
        input.extend(member("a.o/", "1796290864", "1000", "100755", b"abc"));
        input.extend(member("b.o/", "12345", "0", "644", b"de"));
        let (out, stats) = normalize(&input, &rules(Owner::Root)).unwrap();
        let mut want = MAGIC.to_vec();
        want.extend(member("/", "1700000000", "0", "0", b"\0\0\0\0"));
        want.extend(member("a.o/", "1700000000", "0", "644", b"abc"));
        want.extend(member("b.o/", "12345", "0", "644", b"de"));
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&want)
        );
        assert_eq!(
            (stats.entries, stats.times, stats.owners, stats.modes),
            (2, 2, 2, 1)
        );
        assert_eq!(normalize(&out, &rules(Owner::Root)).unwrap().0, out);
        let (kept, _) = normalize(&input, &rules(Owner::Keep)).unwrap();
        assert_eq!(&kept[8 + 64 + 28..8 + 64 + 34], b"1000  ");
    }

    #[test]
    fn truncation_and_damage_are_reported() {
        let mut input = MAGIC.to_vec();
        input.extend(member("a.o/", "5", "0", "644", b"abcdef"));
        for cut in [20, 8 + 59, input.len() - 1] {
            assert!(
                normalize(&input[..cut], &rules(Owner::Root)).is_err(),
                "cut at {cut}"
            );
        }
        input[8 + 58] = b'x';
        assert!(normalize(&input, &rules(Owner::Root)).is_err());
    }
}
