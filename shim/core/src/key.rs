//! Frozen key derivation. Changing anything here changes every byte detbuild produces, so the
//! construction is part of the on-disk contract of a detbuild version:
//!
//! ```text
//! root    = SHA-256("detbuild-v1-root" 00 seed)
//! process = SHA-256("detbuild-v2-proc" 00 parent
//!                   norm(arg)*                 -- each argument, normalized (or left out)
//!                   00 02 norm(cwd))
//! child   = SHA-256(tag 00 parent u64le(n))
//!           tag = "detbuild-v1-thread" | "detbuild-v1-fork" | "detbuild-v1-file" | "detbuild-v2-exec"
//! unseen  = 2^63 | u64le(SHA-256("detbuild-v1-unseen" 00 u64le(c))[0..8])   c = the counters
//! guard   = u64le(SHA-256("detbuild-v1-guard" 00 process)[0..8]) & !0xff
//! ```
//!
//! Each tag names the version in which its construction last changed. v2 (this version)
//! changed `process` (the normalization in [`crate::normalize`]: job counts anywhere in the
//! command line, absolute paths outside the root, directories outside the root) and added
//! the `exec` child; v1 keys of the other kinds are unchanged.
//!
//! A fork the parent's hooks did not see (glibc's `clone()`, an inline `syscall`) is keyed by
//! the child alone as `child(thread, fork, unseen)`: `unseen` hashes the forking thread's
//! counters (forks, clock, stream blocks, files, threads) as the child finds them, so such
//! forks made at different points of the parent's history differ, and never collide with the
//! counted forks (top bit clear). Two of them with no shim call in between share a key.
//!
//! `parent` is the key of the nearest shimmed ancestor that exec'd us (the root key for the
//! launcher's direct child), or `child(that, exec, n)` when we are the n-th repeat (n >= 1)
//! of an identical exec by that ancestor's image (same program, argv, directory; counted by
//! [`crate::occur`]): each shimmed process writes its own key into its environment, so keys
//! chain down the tree by *content*, never by spawn order. `norm` is
//! [`crate::normalize::Normalizer`]: each kept argument ends with `00 00`; the build root
//! reads as `00 01`, a path or directory outside it as `00 03` and its last component;
//! arguments cannot contain NUL, so the encoding is unambiguous.
//!
//! So a process key depends only on *what* runs, *where* (relative to the root) and under
//! which chain of commands, never on when it ran, its pid, the job count, or the absolute
//! build path. Two different commands get different keys (unless they differ only in job
//! counts, whitespace, or the directories of absolute paths outside the root); the same
//! command run n times by one program gets n keys, assigned in exec order (identical
//! commands are interchangeable, so which of two concurrent ones gets which does not
//! matter). The environment is deliberately not hashed (`MAKEFLAGS` carries per-run
//! jobserver names).

use crate::normalize::Normalizer;
use sha2::{Digest, Sha256};

/// A 256-bit key.
pub type Key = [u8; 32];

/// Kinds of child keys. The tags are frozen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Child {
    /// The n-th thread created by a thread (`pthread_create`).
    Thread,
    /// The n-th `fork` made by a thread; the key of the child's surviving thread.
    Fork,
    /// The n-th random device opened by a thread; keys the file's byte stream.
    File,
    /// The n-th repeat (n >= 1) of an identical exec by one program image: the parent key the
    /// new program sees (see [`crate::occur`]).
    Exec,
}

impl Child {
    fn tag(self) -> &'static [u8] {
        match self {
            Child::Thread => b"detbuild-v1-thread",
            Child::Fork => b"detbuild-v1-fork",
            Child::File => b"detbuild-v1-file",
            Child::Exec => b"detbuild-v2-exec",
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
    h.update(kind.tag());
    h.update([0u8]);
    h.update(parent);
    h.update(n.to_le_bytes());
    h.finalize().into()
}

/// The index of a fork only the child saw, from the forking thread's counters at the fork
/// (see the module docs).
pub fn unseen_fork_index(counters: &[u64]) -> u64 {
    let mut h = Sha256::new();
    h.update(b"detbuild-v1-unseen\0");
    for c in counters {
        h.update(c.to_le_bytes());
    }
    let [a, b, c, d, e, f, g, i, ..]: [u8; 32] = h.finalize().into();
    u64::from_le_bytes([a, b, c, d, e, f, g, i]) | 1 << 63
}

/// The stack-protector guard derived from `key` (the shim passes the run's root key, so every
/// process of a build has the same guard): its low byte is zero, as in glibc's own guard, so
/// that a string overrun stops at it.
pub fn stack_guard(key: &Key) -> u64 {
    let mut h = Sha256::new();
    h.update(b"detbuild-v1-guard\0");
    h.update(key);
    let [a, b, c, d, e, f, g, i, ..]: [u8; 32] = h.finalize().into();
    u64::from_le_bytes([a, b, c, d, e, f, g, i]) & !0xff
}

/// Incremental builder for a process key: feed the argv elements, then finish with the cwd.
pub struct ProcessKey<'r> {
    hasher: Sha256,
    norm: Normalizer<'r>,
}

impl<'r> ProcessKey<'r> {
    /// Starts a process key under the `parent` key for a build rooted at the directory
    /// `root_dir` (an absolute path without a trailing slash; `/` disables rule 4 of
    /// [`crate::normalize`]).
    pub fn new(parent: &Key, root_dir: &'r [u8]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"detbuild-v2-proc\0");
        hasher.update(parent);
        ProcessKey {
            hasher,
            norm: Normalizer::new(root_dir),
        }
    }

    /// Adds the next argv element.
    pub fn arg(&mut self, arg: &[u8]) {
        let hasher = &mut self.hasher;
        self.norm.arg(arg, &mut |b: &[u8]| hasher.update(b));
    }

    /// Finishes with the absolute working directory `cwd`.
    pub fn finish(mut self, cwd: &[u8]) -> Key {
        let hasher = &mut self.hasher;
        let mut out = |b: &[u8]| hasher.update(b);
        self.norm.end_args(&mut out);
        out(&[0u8, 2]);
        self.norm.dir(cwd, &mut out);
        self.hasher.finalize().into()
    }
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
    fn stack_guard_is_frozen() {
        // Pinned to Python's hashlib over the documented construction.
        let key: Key = core::array::from_fn(|i| i as u8);
        assert_eq!(stack_guard(&key), 0xe07d_f68e_3206_0d00);
        assert_eq!(stack_guard(&key) & 0xff, 0);
        assert_ne!(stack_guard(&key), stack_guard(&root_key(b"seed")));
    }

    #[test]
    fn root_key_is_frozen() {
        // Pinned to an independent computation (Python hashlib) of the documented construction;
        // a change here changes every stream of every user's build.
        assert_eq!(&to_hex(&root_key(b"1700000000"))[..16], b"d4eee297480a78c4");
    }

    #[test]
    fn v2_keys_are_frozen() {
        // Pinned to Python's hashlib over the documented encoding, written out by hand:
        // "sh" 00 00 "-c" 00 00 "cd " 00 03 "src && make all" 00 00 00 03 "x" 00 00 00 02 "sub"
        // (the job counts "-j8" and "-l 4" left out, outside paths cut to their last part).
        let k = proc_key(
            "/r",
            &[
                "sh",
                "-c",
                "cd /srv/b/src && make -j8 all",
                "-l",
                "4",
                "/usr/bin/x",
            ],
            "/r/sub",
        );
        assert_eq!(&to_hex(&k)[..16], b"8136cfc577a90dbf");
        let root = root_key(b"seed");
        assert_eq!(
            &to_hex(&child_key(&root, Child::Exec, 1))[..16],
            b"ba5d5058e4bee92c"
        );
        // The v1 child kinds are unchanged by v2.
        assert_eq!(
            &to_hex(&child_key(&root, Child::Fork, 2))[..16],
            b"be3760098a9d6e43"
        );
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
    fn process_key_ignores_job_counts() {
        let base = proc_key("/r", &["cargo", "build"], "/r");
        for argv in [
            &["cargo", "build", "-j4"][..],
            &["cargo", "-j", "16", "build"],
            &["cargo", "build", "--jobs=2"],
            &["cargo", "--jobs", "3", "build"],
            &["cargo", "-j", "build"],
        ] {
            assert_eq!(proc_key("/r", argv, "/r"), base, "{argv:?}");
        }
        assert_ne!(proc_key("/r", &["cargo", "-jx", "build"], "/r"), base);
        assert_ne!(proc_key("/r", &["cargo", "build", "4"], "/r"), base);
    }

    #[test]
    fn process_key_ignores_job_counts_inside_scripts_and_outside_paths() {
        let key = |s: &str, cwd: &str| proc_key("/r", &["sh", "-c", s], cwd);
        assert_eq!(key("make -j1 all", "/r"), key("make -j8 all", "/r"));
        assert_eq!(
            key("cd /tmp/a/src && make", "/r"),
            key("cd /tmp/bb/longer/src && make", "/r")
        );
        assert_eq!(key("x", "/tmp/a/src"), key("x", "/tmp/bb/longer/src"));
        assert_ne!(key("x", "/tmp/a/src"), key("x", "/tmp/a/lib"));
        assert_ne!(key("x", "/r/src"), key("x", "/tmp/a/src"));
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
    fn unseen_fork_indexes_depend_on_every_counter() {
        let base = unseen_fork_index(&[0, 0, 0, 0, 0]);
        assert_ne!(base & 1 << 63, 0, "must not collide with counted forks");
        for i in 0..5 {
            let mut c = [0u64; 5];
            c[i] = 1;
            assert_ne!(unseen_fork_index(&c), base, "counter {i}");
        }
        assert_eq!(
            unseen_fork_index(&[1, 2, 3, 4, 5]),
            unseen_fork_index(&[1, 2, 3, 4, 5])
        );
    }

    #[test]
    fn hex_round_trips() {
        let k = root_key(b"x");
        assert_eq!(from_hex(&to_hex(&k)), Some(k));
        assert_eq!(from_hex(b"zz"), None);
        assert_eq!(from_hex(&[b'g'; 64]), None);
    }
}
