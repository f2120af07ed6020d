//! The CPU count the build sees: the same number on every machine.
//!
//! Tools record the count (`nproc` in build logs, `lscpu`), and some change their output with
//! it (`xz -T0`, rpm's payload threads). [`DEFAULT`] is 4: enough that builds which ask for
//! `-j$(nproc)` stay parallel on common machines (a fixed 1 would serialize them; the keys
//! already make `-jN` safe), few enough not to oversubscribe small ones badly.
//!
//! Pure parts here: the `/sys/devices/system/cpu/{online,possible,present}` text, the
//! affinity mask (over real CPU ids, so `sched_setaffinity` with it still works), and the
//! `/proc/cpuinfo` rewrite (the first CPU's block repeated with renumbered ids).

/// The count when none is configured.
pub const DEFAULT: u32 = 4;
/// The largest count (`CPU_SETSIZE`).
pub const MAX: u32 = 1024;

/// A value that is neither a count in `1..=MAX` nor `real`.
#[derive(Debug, PartialEq, Eq)]
pub struct BadCount;

impl core::fmt::Display for BadCount {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "is not a count from 1 to {MAX} or \"real\"")
    }
}

/// A `--cpus` / `cpus =` value: a count in `1..=MAX`, or `real` (`None`: leave it alone).
pub fn parse(text: &str) -> Result<Option<u32>, BadCount> {
    if text == "real" {
        return Ok(None);
    }
    match text.parse::<u32>() {
        Ok(n) if (1..=MAX).contains(&n) => Ok(Some(n)),
        _ => Err(BadCount),
    }
}

/// The kernel's list text for CPUs `0..n` (`0-3\n`, or `0\n` for one); its length.
pub fn range_text(n: u32, out: &mut [u8; 16]) -> usize {
    let mut digits = [0u8; 20];
    let last = crate::text::decimal(u64::from(n.saturating_sub(1)), &mut digits);
    let mut len = 1;
    out[0] = b'0';
    if n > 1 {
        out[1] = b'-';
        out[2..2 + last.len()].copy_from_slice(last);
        len = 2 + last.len();
    }
    out[len] = b'\n';
    len + 1
}

/// Rewrites an affinity mask (bit `i` = CPU `i`, little-endian bytes as the kernel writes
/// it) to hold exactly `n` CPUs: the lowest `n` of the real ones, then, when there are fewer,
/// the lowest ids not in it. Returns how many are set (less than `n` only if `mask` is too
/// small).
pub fn mask(mask: &mut [u8], n: u32) -> u32 {
    let bits = mask.len() * 8;
    let mut kept = 0;
    for i in 0..bits {
        let (byte, bit) = (i / 8, 1u8 << (i % 8));
        if mask[byte] & bit != 0 {
            if kept < n {
                kept += 1;
            } else {
                mask[byte] &= !bit;
            }
        }
    }
    for i in 0..bits {
        if kept >= n {
            break;
        }
        let (byte, bit) = (i / 8, 1u8 << (i % 8));
        if mask[byte] & bit == 0 {
            mask[byte] |= bit;
            kept += 1;
        }
    }
    kept
}

/// The first CPU's block of a `/proc/cpuinfo` text (up to and including its blank line).
pub fn first_block(cpuinfo: &[u8]) -> &[u8] {
    let end = cpuinfo
        .windows(2)
        .position(|w| w == b"\n\n")
        .map_or(cpuinfo.len(), |i| i + 2);
    &cpuinfo[..end]
}

/// Writes `block` (one CPU's lines) as CPU `i` of `n`: `processor`, `core id`, `apicid` and
/// `initial apicid` become `i`, `siblings` and `cpu cores` become `n`; every other line is
/// kept. `emit` receives the text in pieces.
pub fn render_block(block: &[u8], i: u32, n: u32, emit: &mut impl FnMut(&[u8])) {
    for line in block.split_inclusive(|&b| b == b'\n') {
        let key = line
            .iter()
            .position(|&b| b == b':')
            .map(|c| trim(&line[..c]));
        let value = match key {
            Some(b"processor" | b"core id" | b"apicid" | b"initial apicid") => Some(i),
            Some(b"siblings" | b"cpu cores") => Some(n),
            _ => None,
        };
        let (Some(v), Some(colon)) = (value, line.iter().position(|&b| b == b':')) else {
            emit(line);
            continue;
        };
        emit(&line[..=colon]);
        emit(b" ");
        let mut digits = [0u8; 20];
        emit(crate::text::decimal(u64::from(v), &mut digits));
        emit(b"\n");
    }
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &s[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_parse() {
        assert_eq!(parse("4"), Ok(Some(4)));
        assert_eq!(parse("real"), Ok(None));
        assert_eq!(parse("1024"), Ok(Some(1024)));
        for bad in ["0", "1025", "-1", "four", ""] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn range_text_is_the_kernels() {
        let mut out = [0u8; 16];
        let n = range_text(4, &mut out);
        assert_eq!(&out[..n], b"0-3\n");
        let n = range_text(1, &mut out);
        assert_eq!(&out[..n], b"0\n");
        let n = range_text(1024, &mut out);
        assert_eq!(&out[..n], b"0-1023\n");
    }

    #[test]
    fn masks_keep_real_cpus_first() {
        let mut m = [0b0000_0101u8, 0];
        assert_eq!(mask(&mut m, 4), 4);
        assert_eq!(m, [0b0000_1111, 0]);
        let mut m = [0b1111_1111u8, 0b1];
        assert_eq!(mask(&mut m, 3), 3);
        assert_eq!(m, [0b0000_0111, 0]);
        let mut m = [0b1000_0000u8];
        assert_eq!(mask(&mut m, 2), 2);
        assert_eq!(m, [0b1000_0001]);
        let mut m = [0u8];
        assert_eq!(mask(&mut m, 9), 8);
    }

    #[test]
    fn cpuinfo_blocks_are_renumbered() {
        let info = b"processor\t: 0\nvendor_id\t: X\nsiblings\t: 2\ncore id\t\t: 0\n\
                     cpu cores\t: 2\napicid\t\t: 0\nflags\t\t: fpu sse\n\nprocessor\t: 1\n";
        let block = first_block(info);
        assert!(block.ends_with(b"sse\n\n"));
        let mut out = Vec::new();
        render_block(block, 3, 4, &mut |p| out.extend_from_slice(p));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "processor\t: 3\nvendor_id\t: X\nsiblings\t: 4\ncore id\t\t: 3\n\
             cpu cores\t: 4\napicid\t\t: 3\nflags\t\t: fpu sse\n\n"
        );
        assert_eq!(first_block(b"no blank line"), b"no blank line");
    }
}
