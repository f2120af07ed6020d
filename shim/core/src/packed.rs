//! The built-in program list ([`crate::policy::DEFAULTS`]) as the shim reads it: packed at
//! compile time into one byte array, so that no process parses or relocates it at start.
//!
//! Each entry is one length byte followed by `MATCH=LETTERS` (the payload's spelling), in
//! [`crate::policy::DEFAULTS`] order. A byte array needs no relocation when the shim is
//! loaded (an array of `&str` would cost one per field in every exec), and skipping an entry
//! is one add instead of a scan for the next comma. The payload's `prog=` list carries only
//! the user's entries, which apply after these.

use crate::policy::DEFAULTS;

const fn packed_len() -> usize {
    let mut total = 0;
    let mut i = 0;
    while i < DEFAULTS.len() {
        total += 1 + DEFAULTS[i].matcher.len() + 1 + DEFAULTS[i].letters.len();
        i += 1;
    }
    total
}

const LEN: usize = packed_len();

const fn copy(out: &mut [u8; LEN], mut at: usize, bytes: &[u8]) -> usize {
    let mut i = 0;
    while i < bytes.len() {
        out[at] = bytes[i];
        at += 1;
        i += 1;
    }
    at
}

const fn pack() -> [u8; LEN] {
    let mut out = [0u8; LEN];
    let mut at = 0;
    let mut i = 0;
    while i < DEFAULTS.len() {
        let matcher = DEFAULTS[i].matcher.as_bytes();
        let letters = DEFAULTS[i].letters.as_bytes();
        let len = matcher.len() + 1 + letters.len();
        assert!(
            len <= u8::MAX as usize,
            "a default entry is too long to pack"
        );
        out[at] = len as u8;
        at = copy(&mut out, at + 1, matcher);
        out[at] = b'=';
        at = copy(&mut out, at + 1, letters);
        i += 1;
    }
    out
}

/// The packed defaults.
pub static DEFAULT_LIST: [u8; LEN] = pack();

/// Calls `f` with what follows `name` in each default entry that starts with `name`.
pub fn for_entries(name: &[u8], mut f: impl FnMut(&[u8])) {
    let mut at = 0;
    while let Some(&len) = DEFAULT_LIST.get(at) {
        let entry = &DEFAULT_LIST[at + 1..at + 1 + len as usize];
        if let Some(rest) = entry.strip_prefix(name) {
            f(rest);
        }
        at += 1 + len as usize;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_is_packed_in_order() {
        let mut packed = Vec::new();
        let mut at = 0;
        while at < DEFAULT_LIST.len() {
            let len = DEFAULT_LIST[at] as usize;
            packed.push(&DEFAULT_LIST[at + 1..at + 1 + len]);
            at += 1 + len;
        }
        let expected: Vec<String> = DEFAULTS
            .iter()
            .map(|d| format!("{}={}", d.matcher, d.letters))
            .collect();
        assert_eq!(packed.len(), expected.len());
        for (p, e) in packed.iter().zip(&expected) {
            assert_eq!(*p, e.as_bytes());
        }
    }

    #[test]
    fn entries_are_found_by_name_prefix() {
        let mut seen = Vec::new();
        for_entries(b"openssl", |rest| seen.push(rest.to_vec()));
        assert!(seen.iter().any(|r| r == b":req=r"));
        assert!(seen.iter().all(|r| r.starts_with(b":")));
        let mut make = Vec::new();
        for_entries(b"make", |rest| make.push(rest.to_vec()));
        assert_eq!(make, [b"=cr".to_vec()]);
    }
}
