//! Small lock-free sets for remembering which descriptors or timer ids run on a faked clock.
//!
//! Both are fixed-size arrays of atomics: no allocation, no lock, safe in signal handlers and
//! after fork. They are best effort by design: a set that is full, or a descriptor number past
//! its range, simply does not remember, and the caller then treats the object as real-clocked
//! (which is what libc would do anyway).

use core::sync::atomic::{AtomicU64, Ordering};

/// A bitmap of descriptor numbers `0..64 * WORDS`.
pub struct FdSet<const WORDS: usize> {
    bits: [AtomicU64; WORDS],
}

impl<const WORDS: usize> FdSet<WORDS> {
    /// An empty set.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        FdSet {
            bits: [const { AtomicU64::new(0) }; WORDS],
        }
    }

    fn at(&self, fd: i32) -> Option<(&AtomicU64, u64)> {
        let fd = usize::try_from(fd).ok()?;
        Some((self.bits.get(fd / 64)?, 1 << (fd % 64)))
    }

    /// Marks `fd` as in the set (`true`) or not (`false`); out-of-range numbers are ignored.
    pub fn set(&self, fd: i32, member: bool) {
        if let Some((word, bit)) = self.at(fd) {
            if member {
                word.fetch_or(bit, Ordering::AcqRel);
            } else {
                word.fetch_and(!bit, Ordering::AcqRel);
            }
        }
    }

    /// Whether `fd` is in the set.
    pub fn contains(&self, fd: i32) -> bool {
        self.at(fd)
            .is_some_and(|(word, bit)| word.load(Ordering::Acquire) & bit != 0)
    }
}

/// A set of up to `N` opaque 64-bit ids (timer ids), any value allowed.
pub struct IdSet<const N: usize> {
    slots: [AtomicU64; N],
}

/// Slot encoding: `id + 1`, so that 0 means empty (an id of `u64::MAX` is never stored).
fn code(id: u64) -> Option<u64> {
    id.checked_add(1)
}

impl<const N: usize> IdSet<N> {
    /// An empty set.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        IdSet {
            slots: [const { AtomicU64::new(0) }; N],
        }
    }

    /// Adds `id`; returns false when the set is full.
    pub fn insert(&self, id: u64) -> bool {
        let Some(c) = code(id) else { return false };
        if self.contains(id) {
            return true;
        }
        self.slots.iter().any(|s| {
            s.compare_exchange(0, c, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        })
    }

    /// Removes `id` if present.
    pub fn remove(&self, id: u64) {
        if let Some(c) = code(id) {
            for s in &self.slots {
                let _ = s.compare_exchange(c, 0, Ordering::AcqRel, Ordering::Acquire);
            }
        }
    }

    /// Whether `id` is in the set.
    pub fn contains(&self, id: u64) -> bool {
        code(id).is_some_and(|c| self.slots.iter().any(|s| s.load(Ordering::Acquire) == c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fd_set_marks_and_clears() {
        let s = FdSet::<2>::new();
        assert!(!s.contains(5));
        s.set(5, true);
        s.set(127, true);
        s.set(128, true); // out of range: ignored
        s.set(-1, true);
        assert!(s.contains(5) && s.contains(127));
        assert!(!s.contains(128) && !s.contains(-1) && !s.contains(6));
        s.set(5, false);
        assert!(!s.contains(5) && s.contains(127));
    }

    #[test]
    fn id_set_holds_any_id_until_full() {
        let s = IdSet::<3>::new();
        assert!(s.insert(0) && s.insert(0) && s.insert(7) && s.insert(1 << 63));
        assert!(s.contains(0) && s.contains(7) && s.contains(1 << 63));
        assert!(!s.insert(9), "full");
        s.remove(7);
        assert!(!s.contains(7));
        assert!(s.insert(9) && s.contains(9));
        assert!(!s.insert(u64::MAX));
        assert!(!s.contains(u64::MAX));
    }
}
