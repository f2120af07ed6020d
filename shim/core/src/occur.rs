//! Repeated identical execs draw distinct streams: the n-th exec (counting from 0) of the same
//! program with the same argv in the same directory by one program image is its n-th
//! *occurrence*, and for n >= 1 the new program's parent key is `child(parent, exec, n)` (see
//! [`crate::key`]). So `a=$(mktemp -u); b=$(mktemp -u)` gives two names and two `uuid4()`
//! processes in one script two UUIDs, while the whole run stays reproducible.
//!
//! Why this is independent of scheduling: only *identical* execs share a counter, and they
//! are interchangeable: a parallel spawner (make -j, xargs -P) that starts two identical
//! commands may hand index 0 to either, but the set of keys is the same in every run. Execs
//! that differ in anything (even only in a job count, which the key leaves out) have counters
//! of their own, so their order never matters.
//!
//! Where the counts live: one [`Slot`] table per exec'd program image, shared with the
//! processes it forks (the shim maps it `MAP_SHARED` before the first fork, so a forked
//! child's exec counts in its parent's table; `vfork` and `posix_spawn` children share memory
//! anyway), so the count follows the same chain as the keys: forks of an image are part of
//! it, an exec starts a new one. The table is open addressing with linear probing over a
//! 64-bit [`identity`]; an identity that finds no free slot within [`MAX_PROBES`] gets index
//! 0 (every repeat then shares the first one's stream, as without counting).
//!
//! The identity is not part of the frozen key construction: only whether two execs have the
//! same one matters.

use crate::key::Key;
use core::sync::atomic::{AtomicU64, Ordering};
use sha2::{Digest, Sha256};

/// Slots of a table (a power of two): 1 MiB of address space, of which only the pages
/// holding used slots are ever touched.
pub const SLOTS: usize = 1 << 16;
/// Slots probed for an identity before giving up.
pub const MAX_PROBES: usize = 64;

/// One counter; all-zero bytes are an empty slot, so a fresh anonymous mapping is an empty
/// table.
#[repr(C)]
#[derive(Default)]
pub struct Slot {
    id: AtomicU64,
    count: AtomicU64,
}

/// The identity of an exec: the parent key the new program would see, the program as named
/// to exec, its argv and the working directory. Never 0.
pub fn identity<'a>(
    parent: &Key,
    program: &[u8],
    argv: impl IntoIterator<Item = &'a [u8]>,
    cwd: &[u8],
) -> u64 {
    let mut h = Sha256::new();
    h.update(b"detbuild-occurrence\0");
    h.update(parent);
    let mut field = |b: &[u8]| {
        h.update((b.len() as u64).to_le_bytes());
        h.update(b);
    };
    field(program);
    field(cwd);
    for arg in argv {
        field(arg);
    }
    let [a, b, c, d, e, f, g, i, ..]: [u8; 32] = h.finalize().into();
    u64::from_le_bytes([a, b, c, d, e, f, g, i]).max(1)
}

/// Counts one exec of `id` in `table` (its length a power of two): how many were counted
/// before it, or `None` if no slot is free for it.
pub fn next(table: &[Slot], id: u64) -> Option<u64> {
    let mask = table.len().checked_sub(1)?;
    let mut at = id as usize & mask;
    for _ in 0..MAX_PROBES.min(table.len()) {
        let slot = &table[at];
        let mut seen = slot.id.load(Ordering::Acquire);
        if seen == 0 {
            seen = match slot
                .id
                .compare_exchange(0, id, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => id,
                Err(other) => other,
            };
        }
        if seen == id {
            return Some(slot.count.fetch_add(1, Ordering::Relaxed));
        }
        at = (at + 1) & mask;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::root_key;

    fn table(n: usize) -> Vec<Slot> {
        (0..n).map(|_| Slot::default()).collect()
    }

    fn id(argv: &[&str], cwd: &str) -> u64 {
        identity(
            &root_key(b"s"),
            argv[0].as_bytes(),
            argv.iter().map(|a| a.as_bytes()),
            cwd.as_bytes(),
        )
    }

    #[test]
    fn identities_separate_program_argv_dir_and_parent() {
        let base = id(&["mktemp", "-u"], "/r");
        assert_eq!(base, id(&["mktemp", "-u"], "/r"));
        assert_ne!(base, id(&["mktemp", "-u", ""], "/r"));
        assert_ne!(base, id(&["mktemp", "-u"], "/r/x"));
        assert_ne!(base, id(&["mktemp-u"], "/r"));
        let other_parent = identity(&root_key(b"t"), b"mktemp", [&b"mktemp"[..], b"-u"], b"/r");
        assert_ne!(base, other_parent);
        let other_program = identity(&root_key(b"s"), b"/bin/x", [&b"mktemp"[..], b"-u"], b"/r");
        assert_ne!(base, other_program);
    }

    #[test]
    fn repeats_count_up_per_identity() {
        let t = table(8);
        assert_eq!(next(&t, 5), Some(0));
        assert_eq!(next(&t, 13), Some(0)); // same home slot, probes on
        assert_eq!(next(&t, 5), Some(1));
        assert_eq!(next(&t, 13), Some(1));
        assert_eq!(next(&t, 5), Some(2));
    }

    #[test]
    fn a_full_table_gives_up() {
        let t = table(4);
        for i in 1..=4 {
            assert_eq!(next(&t, i), Some(0));
        }
        assert_eq!(next(&t, 9), None);
        assert_eq!(next(&t, 2), Some(1));
        assert_eq!(next(&[], 1), None);
    }

    #[test]
    fn concurrent_counts_hand_out_each_index_once() {
        let t = table(SLOTS);
        let mut seen: Vec<u64> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..250).map(|_| next(&t, 42).unwrap()).collect::<Vec<_>>()))
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().unwrap())
                .collect()
        });
        seen.sort_unstable();
        assert_eq!(seen, (0..1000).collect::<Vec<_>>());
    }
}
