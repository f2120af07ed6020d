//! Temporary names drawn from a stream: the rules of glibc's name generator, as pure
//! functions (the shim's `tempname.rs` does the I/O).
//!
//! A template is valid when, before a suffix of `suffix_len` bytes, it ends in at least six
//! `X`; the last six of those are replaced, as glibc does, by letters and digits
//! ([`LETTERS`]), six base-62 digits of one 64-bit draw from the calling thread's stream.
//! A name that exists already is retried with the next draw, at most [`ATTEMPTS`] times, as
//! glibc's `TMP_MAX`.

/// The alphabet of generated characters (glibc's).
pub const LETTERS: &[u8; 62] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
/// Tries before giving up with `EEXIST` (glibc's `TMP_MAX`, 62³).
pub const ATTEMPTS: u32 = 62 * 62 * 62;
/// The number of characters replaced.
pub const WIDTH: usize = 6;

/// The range of `template` (its bytes without the NUL) to replace, or `None` when the
/// template is invalid (`EINVAL`).
pub fn placeholder(template: &[u8], suffix_len: usize) -> Option<core::ops::Range<usize>> {
    let end = template.len().checked_sub(suffix_len)?;
    let start = end.checked_sub(WIDTH)?;
    template[start..end]
        .iter()
        .all(|&b| b == b'X')
        .then_some(start..end)
}

/// Writes six characters of `draw` into `out` (exactly [`WIDTH`] bytes).
pub fn fill(out: &mut [u8], mut draw: u64) {
    for b in out.iter_mut().take(WIDTH) {
        *b = LETTERS[(draw % 62) as usize];
        draw /= 62;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_need_six_x_before_the_suffix() {
        assert_eq!(placeholder(b"/tmp/ccXXXXXX", 0), Some(7..13));
        assert_eq!(placeholder(b"/tmp/ccXXXXXX.s", 2), Some(7..13));
        assert_eq!(placeholder(b"aXXXXXXXX", 0), Some(3..9));
        assert_eq!(placeholder(b"/tmp/ccXXXXX", 0), None);
        assert_eq!(placeholder(b"/tmp/ccXXXXXX.s", 0), None);
        assert_eq!(placeholder(b"XX", 5), None);
    }

    #[test]
    fn fill_is_frozen_base62() {
        let mut out = *b"XXXXXX";
        fill(&mut out, 0);
        assert_eq!(&out, b"aaaaaa");
        fill(&mut out, 61 + 62);
        assert_eq!(&out, b"9baaaa");
        let mut a = *b"XXXXXX";
        fill(&mut a, u64::MAX);
        assert!(a.iter().all(|b| LETTERS.contains(b)));
    }
}
