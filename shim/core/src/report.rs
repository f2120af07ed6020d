//! The audit line: one JSON object per process (`detbuild --report FILE`), built in a fixed
//! buffer without allocation, so the shim can write it with one `write` from `_exit`, an exec
//! hook or a destructor.
//!
//! Contract: [`Line::finish`] always returns one complete, valid JSON object followed by a
//! newline, at most [`MAX`] bytes (an `O_APPEND` write of that size is one atomic append on
//! local file systems). A field that does not fit is left out whole and the object then ends
//! with `"truncated":true`. Strings longer than [`MAX_STR`] bytes are cut (at a character
//! boundary). Byte strings that are not UTF-8 (paths may be anything) are written with every
//! byte of 0x80 and above as `\u00XX`, so the line is always valid UTF-8 JSON; valid UTF-8 is
//! kept as is, with `"`, `\` and control characters escaped.

use crate::key::{to_hex, Key};

/// The longest line, newline included.
pub const MAX: usize = 4096;
/// The longest string value, in input bytes.
pub const MAX_STR: usize = 1024;
/// Room kept for `,"truncated":true}` and the newline.
const RESERVE: usize = 24;

/// A JSON object being written into a caller's buffer.
pub struct Line<'a> {
    buf: &'a mut [u8],
    len: usize,
    /// Closing braces owed by open nested objects (kept free at the end).
    open: usize,
    comma: bool,
    truncated: bool,
}

impl<'a> Line<'a> {
    /// Starts an object in `buf` (at most [`MAX`] bytes of it are used).
    pub fn new(buf: &'a mut [u8]) -> Self {
        let cap = buf.len().min(MAX);
        let mut line = Line {
            buf: &mut buf[..cap],
            len: 0,
            open: 0,
            comma: false,
            truncated: false,
        };
        line.raw(b"{");
        line
    }

    fn raw(&mut self, bytes: &[u8]) -> bool {
        let end = self.len + bytes.len();
        if end + RESERVE + self.open > self.buf.len() {
            return false;
        }
        self.buf[self.len..end].copy_from_slice(bytes);
        self.len = end;
        true
    }

    /// Writes one member with `value`, whole or not at all.
    fn member(&mut self, name: &str, value: impl FnOnce(&mut Self) -> bool) -> bool {
        let mark = (self.len, self.comma);
        let ok = (!self.comma || self.raw(b","))
            && self.raw(b"\"")
            && self.raw(name.as_bytes())
            && self.raw(b"\":")
            && value(self);
        if ok {
            self.comma = true;
        } else {
            (self.len, self.comma) = mark;
            self.truncated = true;
        }
        ok
    }

    /// `"name":"value"`, `value` escaped (see the module docs).
    pub fn str(&mut self, name: &str, value: &[u8]) -> bool {
        self.member(name, |l| l.string(value))
    }

    /// `"name":n`.
    pub fn num(&mut self, name: &str, n: i64) -> bool {
        self.member(name, |l| l.number(n))
    }

    /// `"name":"<64 hex digits>"`.
    pub fn key(&mut self, name: &str, key: &Key) -> bool {
        self.member(name, |l| {
            l.raw(b"\"") && l.raw(&to_hex(key)) && l.raw(b"\"")
        })
    }

    /// `"name":null`.
    pub fn null(&mut self, name: &str) -> bool {
        self.member(name, |l| l.raw(b"null"))
    }

    /// `"name":true` or `false`.
    pub fn bool(&mut self, name: &str, b: bool) -> bool {
        self.member(name, |l| l.raw(if b { b"true" } else { b"false" }))
    }

    /// `"name":{"k":n,...}` for the pairs with a non-zero count (all or nothing).
    pub fn counts<'n>(&mut self, name: &str, pairs: impl Iterator<Item = (&'n [u8], u64)>) -> bool {
        self.member(name, |l| {
            let mut first = true;
            l.raw(b"{")
                && pairs.filter(|(_, n)| *n != 0).all(|(k, n)| {
                    let sep = core::mem::replace(&mut first, false);
                    (sep || l.raw(b",")) && l.string(k) && l.raw(b":") && l.number(n as i64)
                })
                && l.raw(b"}")
        })
    }

    /// `"name":["a","b",...]` from NUL-separated strings (a `/proc/self/cmdline` image); the
    /// array keeps the leading strings that fit and is then marked truncated.
    pub fn strings(&mut self, name: &str, nul_separated: &[u8]) -> bool {
        self.member(name, |l| {
            l.open += 1;
            let mut ok = l.raw(b"[");
            let mut first = true;
            let items = nul_separated
                .strip_suffix(b"\0")
                .unwrap_or(nul_separated)
                .split(|&b| b == 0);
            for item in items.filter(|_| !nul_separated.is_empty()) {
                if !ok {
                    break;
                }
                let mark = l.len;
                let sep = core::mem::replace(&mut first, false);
                if !((sep || l.raw(b",")) && l.string(item)) {
                    l.len = mark;
                    l.truncated = true;
                    break;
                }
            }
            l.open -= 1;
            ok &= l.raw(b"]");
            ok
        })
    }

    fn number(&mut self, n: i64) -> bool {
        let mut digits = [0u8; 20];
        let digits = crate::text::decimal(n.unsigned_abs(), &mut digits);
        (n >= 0 || self.raw(b"-")) && self.raw(digits)
    }

    fn string(&mut self, value: &[u8]) -> bool {
        let utf8 = core::str::from_utf8(value).is_ok();
        let mut cut = value.len().min(MAX_STR);
        while utf8 && cut < value.len() && cut > 0 && value[cut] & 0xc0 == 0x80 {
            cut -= 1;
        }
        if !self.raw(b"\"") {
            return false;
        }
        for &b in &value[..cut] {
            let ok = match b {
                b'"' => self.raw(b"\\\""),
                b'\\' => self.raw(b"\\\\"),
                0x80.. if utf8 => self.raw(&[b]),
                0..=0x1f | 0x7f.. => {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    self.raw(&[
                        b'\\',
                        b'u',
                        b'0',
                        b'0',
                        HEX[(b >> 4) as usize],
                        HEX[(b & 15) as usize],
                    ])
                }
                _ => self.raw(&[b]),
            };
            if !ok {
                return false;
            }
        }
        self.raw(b"\"")
    }

    /// Ends the object (marking it truncated if a member was left out) and returns the line,
    /// newline included.
    pub fn finish(self) -> &'a [u8] {
        let mut end = self.len;
        let mut put = |bytes: &[u8]| {
            self.buf[end..end + bytes.len()].copy_from_slice(bytes);
            end += bytes.len();
        };
        if self.truncated {
            put(if self.comma { b"," } else { b"" });
            put(b"\"truncated\":true");
        }
        put(b"}\n");
        &self.buf[..end]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(f: impl FnOnce(&mut Line)) -> String {
        let mut buf = [0u8; MAX];
        let mut line = Line::new(&mut buf);
        f(&mut line);
        String::from_utf8(line.finish().to_vec()).unwrap()
    }

    #[test]
    fn members_are_separated_and_escaped() {
        let t = text(|l| {
            l.str("a", b"x\"y\\z\n");
            l.num("n", -42);
            l.null("k");
            l.bool("b", true);
            l.key("key", &[0xab; 32]);
        });
        assert_eq!(
            t,
            format!(
                "{{\"a\":\"x\\\"y\\\\z\\u000a\",\"n\":-42,\"k\":null,\"b\":true,\"key\":\"{}\"}}\n",
                "ab".repeat(32)
            )
        );
    }

    #[test]
    fn non_utf8_bytes_become_escapes_and_utf8_stays() {
        assert_eq!(
            text(|l| _ = l.str("p", b"a\xffb")),
            "{\"p\":\"a\\u00ffb\"}\n"
        );
        assert_eq!(text(|l| _ = l.str("p", "é".as_bytes())), "{\"p\":\"é\"}\n");
    }

    #[test]
    fn counts_skip_zeros_and_strings_split_on_nul() {
        let t = text(|l| {
            l.counts("c", [(&b"x"[..], 0u64), (b"y", 3), (b"z", 10)].into_iter());
            l.strings("argv", b"cc\0-c\0a b.c\0");
            l.strings("none", b"");
        });
        assert_eq!(
            t,
            "{\"c\":{\"y\":3,\"z\":10},\"argv\":[\"cc\",\"-c\",\"a b.c\"],\"none\":[]}\n"
        );
    }

    #[test]
    fn an_overlong_line_stays_valid_and_says_truncated() {
        let long = [b'x'; 5000];
        let t = text(|l| {
            l.num("pid", 1);
            for _ in 0..6 {
                l.str("s", &long);
            }
            l.strings("argv", &[b'a'; 3000]);
        });
        assert!(t.len() <= MAX);
        assert!(t.ends_with(",\"truncated\":true}\n"), "{t}");
        assert!(t.starts_with("{\"pid\":1,\"s\":\""));
        // Strings are cut at MAX_STR input bytes, never mid-character.
        let t = text(|l| _ = l.str("s", "é".repeat(600).as_bytes()));
        assert_eq!(t.len(), "{\"s\":\"\"}\n".len() + MAX_STR);
    }
}
