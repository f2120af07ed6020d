//! Frozen key derivation. Changing anything here changes every byte detbuild produces, so the
//! construction is part of the on-disk contract of a detbuild version:
//!
//! ```text
//! root    = SHA-256("detbuild-v1-root" 00 seed)
//! process = SHA-256("detbuild-v1-proc" 00 root
//!                   (enc(arg) 00 00)*          -- each argv element, in order
//!                   00 02 rel_cwd)
//! child   = SHA-256("detbuild-v1-" tag 00 parent u64le(n))   tag = thread | fork | file
//! ```
//!
//! `enc(arg)` is the argument with every occurrence of the build root path replaced by the
//! two bytes `00 01`; arguments cannot contain NUL, so the encoding is unambiguous. `rel_cwd`
//! is the working directory relative to the build root (`.` for the root itself), or the
//! absolute path when the directory lies outside it.
//!
//! The process key depends only on *what* runs and *where* (relative to the root), never on
//! when it ran, its parent, its pid, or the absolute build path: so the same command gets the
//! same key whatever the `make -j` level or scheduling, and two different commands get
//! different keys. The environment is deliberately not hashed (`MAKEFLAGS` carries jobserver
//! names that vary per run).

use sha2::{Digest, Sha256};

/// A 256-bit key.
pub type Key = [u8; 32];

/// Kinds of child keys. The tag bytes are frozen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Child {
    /// The n-th thread created by a thread (`pthread_create`).
    Thread,
    /// The n-th `fork` made by a thread; the key of the child's surviving thread.
    Fork,
    /// The n-th random device opened by a thread; keys the file's byte stream.
    File,
}

impl Child {
    fn tag(self) -> &'static [u8] {
        match self {
            Child::Thread => b"thread",
            Child::Fork => b"fork",
            Child::File => b"file",
        }
    }
}

/// The root key of a run, from the user's seed.
pub fn root_key(seed: &[u8]) -> Key {
    let mut h = Sha256::new();
    h.update(b"detbuild-v1-root\0");
    h.update(seed);
    h.finalize().into()
}

/// The key of the `n`-th child of kind `kind` of `parent`.
pub fn child_key(parent: &Key, kind: Child, n: u64) -> Key {
    let mut h = Sha256::new();
    h.update(b"detbuild-v1-");
    h.update(kind.tag());
    h.update([0u8]);
    h.update(parent);
    h.update(n.to_le_bytes());
    h.finalize().into()
}

/// Incremental builder for a process key: feed the argv elements, then finish with the cwd.
pub struct ProcessKey<'r> {
    hasher: Sha256,
    root_dir: &'r [u8],
}

impl<'r> ProcessKey<'r> {
    /// Starts a process key under `root` for a build rooted at the directory `root_dir`
    /// (an absolute path without a trailing slash; `/` disables normalization).
    pub fn new(root: &Key, root_dir: &'r [u8]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"detbuild-v1-proc\0");
        hasher.update(root);
        let root_dir = if root_dir.len() <= 1 {
            &[][..]
        } else {
            root_dir
        };
        ProcessKey { hasher, root_dir }
    }

    /// Adds the next argv element.
    pub fn arg(&mut self, arg: &[u8]) {
        let mut rest = arg;
        while let Some(at) = find(rest, self.root_dir) {
            self.hasher.update(&rest[..at]);
            self.hasher.update([0u8, 1]);
            rest = &rest[at + self.root_dir.len()..];
        }
        self.hasher.update(rest);
        self.hasher.update([0u8, 0]);
    }

    /// Finishes with the absolute working directory `cwd`.
    pub fn finish(mut self, cwd: &[u8]) -> Key {
        self.hasher.update([0u8, 2]);
        self.hasher.update(relative_dir(self.root_dir, cwd));
        self.hasher.finalize().into()
    }
}

/// `cwd` relative to `root_dir`: `.` for the root itself, the remainder for a directory below
/// it, and `cwd` unchanged for anything else (or when `root_dir` is empty).
pub fn relative_dir<'a>(root_dir: &[u8], cwd: &'a [u8]) -> &'a [u8] {
    if root_dir.is_empty() {
        return cwd;
    }
    match cwd.strip_prefix(root_dir) {
        Some([]) => b".",
        Some([b'/', rest @ ..]) if !rest.is_empty() => rest,
        _ => cwd,
    }
}

/// Position of the first occurrence of `needle` in `hay` (`None` for an empty needle).
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > hay.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Writes `key` as 64 lowercase hex digits.
pub fn to_hex(key: &Key) -> [u8; 64] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 64];
    for (i, b) in key.iter().enumerate() {
        out[2 * i] = DIGITS[usize::from(b >> 4)];
        out[2 * i + 1] = DIGITS[usize::from(b & 15)];
    }
    out
}

/// Parses exactly 64 hex digits (either case).
pub fn from_hex(text: &[u8]) -> Option<Key> {
    if text.len() != 64 {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut key = [0u8; 32];
    for (i, pair) in text.chunks_exact(2).enumerate() {
        key[i] = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc_key(root_dir: &str, argv: &[&str], cwd: &str) -> Key {
        let mut k = ProcessKey::new(&root_key(b"seed"), root_dir.as_bytes());
        for a in argv {
            k.arg(a.as_bytes());
        }
        k.finish(cwd.as_bytes())
    }

    #[test]
    fn root_key_is_frozen() {
        // Pinned to an independent computation (Python hashlib) of the documented construction;
        // a change here changes every stream of every user's build.
        assert_eq!(&to_hex(&root_key(b"1700000000"))[..16], b"d4eee297480a78c4");
    }

    #[test]
    fn process_key_ignores_absolute_build_path() {
        let a = proc_key(
            "/home/a/src",
            &["cc", "-I/home/a/src/inc", "x.c"],
            "/home/a/src/sub",
        );
        let b = proc_key("/tmp/b", &["cc", "-I/tmp/b/inc", "x.c"], "/tmp/b/sub");
        assert_eq!(a, b);
    }

    #[test]
    fn process_key_separates_commands_and_dirs() {
        let base = proc_key("/r", &["cc", "a.c"], "/r");
        assert_ne!(base, proc_key("/r", &["cc", "b.c"], "/r"));
        assert_ne!(base, proc_key("/r", &["cc", "a.c"], "/r/sub"));
        assert_ne!(base, proc_key("/r", &["cca.c"], "/r"));
        assert_ne!(base, proc_key("/r", &["cc", "a.c", ""], "/r"));
        let mut other_seed = ProcessKey::new(&root_key(b"other"), b"/r");
        other_seed.arg(b"cc");
        other_seed.arg(b"a.c");
        assert_ne!(base, other_seed.finish(b"/r"));
    }

    #[test]
    fn relative_dir_cases() {
        assert_eq!(relative_dir(b"/r", b"/r"), b".");
        assert_eq!(relative_dir(b"/r", b"/r/a/b"), b"a/b");
        assert_eq!(relative_dir(b"/r", b"/rx"), b"/rx");
        assert_eq!(relative_dir(b"/r", b"/other"), b"/other");
        assert_eq!(relative_dir(b"", b"/x"), b"/x");
    }

    #[test]
    fn child_keys_differ_by_kind_and_index() {
        let p = root_key(b"s");
        assert_ne!(
            child_key(&p, Child::Thread, 0),
            child_key(&p, Child::Fork, 0)
        );
        assert_ne!(
            child_key(&p, Child::Thread, 0),
            child_key(&p, Child::Thread, 1)
        );
        assert_eq!(child_key(&p, Child::File, 3), child_key(&p, Child::File, 3));
    }

    #[test]
    fn hex_round_trips() {
        let k = root_key(b"x");
        assert_eq!(from_hex(&to_hex(&k)), Some(k));
        assert_eq!(from_hex(b"zz"), None);
        assert_eq!(from_hex(&[b'g'; 64]), None);
    }
}
