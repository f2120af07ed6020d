//! Stable inode and device numbers: a process-local first-sight table.
//!
//! Programs that record `st_ino`/`st_dev` in what they write (cpio's headers, tar's
//! `--listed-incremental` snapshot, xorriso's Rock Ridge serial numbers with `--hardlinks`)
//! see numbers that depend on the file system the tree sits on. For the programs whose
//! `inodes` switch is on ([`crate::policy::Source::Inodes`]), the `stat` family reports
//! instead:
//! - as device, the order in which the process first saw the real device: `1` for the first,
//!   `2` for the next... (major 0, minor that index);
//! - as inode, the order in which the process first saw the real `(device, inode)` pair: `1`,
//!   `2`, ... across all devices.
//!
//! Contract:
//! - **Consistent**: within a process (and its forked children, which inherit the table), the
//!   same real pair always maps to the same fake pair and different real pairs to different
//!   fake pairs, so hard links are still recognised (cpio, tar, `find -samefile`, `cp -a`).
//! - **Deterministic** for a deterministic walk: the shim sorts directory listings, so a
//!   program that stats a tree in listing order numbers it the same way on every run, in any
//!   directory, on any file system.
//! - **Lock-free and allocation-free**: the table is a fixed array of atomics the caller
//!   provides (the shim maps it lazily); two threads inserting the same pair at once agree on
//!   one number (the numbering may then skip one, and the order between threads is whatever
//!   the schedule was, as natively).
//! - **Full or out of range**: a pair is *not* renumbered (the caller reports the real one)
//!   when its device is past the first [`DEVICES`] seen, when its inode does not fit in 56 bits
//!   (overlayfs's `xino` sets high bits), or when the table already holds [`Table::LIMIT`]
//!   pairs. The same pair is then never renumbered later either, so consistency holds; a real
//!   pair cannot collide with a fake one unless its inode is below the limit *and* its device
//!   number is one of the small fake indices (`0:1`...), which needs both a full table and a
//!   real device with such a number.

use core::sync::atomic::{AtomicU64, Ordering};

/// How many distinct devices a process renumbers.
pub const DEVICES: usize = 64;

/// Inodes at or above this are left real (they cannot share a key word with a device index).
const INO_LIMIT: u64 = 1 << 56;

/// One slot: a key (`device index << 56 | inode`, 0 when empty) and its number (0 until set).
#[repr(C)]
pub struct Slot {
    key: AtomicU64,
    number: AtomicU64,
}

/// The table: `CAP` slots (a power of two), the device list and the next number. All-zero
/// bytes are a valid empty table, so a fresh anonymous mapping can be used as one.
#[repr(C)]
pub struct Table<const CAP: usize> {
    next: AtomicU64,
    /// Real device + 1 per index (0: free), in first-sight order.
    devices: [AtomicU64; DEVICES],
    slots: [Slot; CAP],
}

/// The fake device number for device index `index` (1-based, at most [`DEVICES`]): major 0,
/// minor `index` (glibc's `makedev(0, index)` for minors below 256).
fn fake_device(index: u64) -> u64 {
    index
}

/// A 64-bit mixer (SplitMix64's finalizer), to spread keys over the slots.
fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl<const CAP: usize> Table<CAP> {
    /// How many pairs the table renumbers at most (7/8 of its slots, so probes stay short and
    /// a missing key always finds an empty slot).
    pub const LIMIT: u64 = (CAP as u64 / 8) * 7;

    /// An empty table (for tests and static use; the shim maps a zeroed one instead).
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        assert!(CAP.is_power_of_two() && CAP >= 8);
        Table {
            next: AtomicU64::new(0),
            devices: [const { AtomicU64::new(0) }; DEVICES],
            slots: [const {
                Slot {
                    key: AtomicU64::new(0),
                    number: AtomicU64::new(0),
                }
            }; CAP],
        }
    }

    /// The device's 1-based first-sight index, or `None` when the list is full.
    fn device(&self, dev: u64) -> Option<u64> {
        let code = dev.checked_add(1)?;
        for (i, slot) in self.devices.iter().enumerate() {
            let seen = match slot.compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => code,
                Err(seen) => seen,
            };
            if seen == code {
                return Some(i as u64 + 1);
            }
        }
        None
    }

    /// The fake `(device, inode)` for the real pair, or `None` to report the real one (see
    /// the module docs).
    pub fn map(&self, dev: u64, ino: u64) -> Option<(u64, u64)> {
        if ino >= INO_LIMIT {
            return None;
        }
        let index = self.device(dev)?;
        let key = (index << 56) | ino;
        let mask = CAP - 1;
        let mut at = mix(key) as usize & mask;
        for _ in 0..CAP {
            let slot = &self.slots[at];
            let seen = slot.key.load(Ordering::Acquire);
            if seen == key {
                return Some((fake_device(index), self.number(slot)));
            }
            if seen == 0 {
                if self.next.load(Ordering::Acquire) >= Self::LIMIT {
                    return None;
                }
                match slot
                    .key
                    .compare_exchange(0, key, Ordering::AcqRel, Ordering::Acquire)
                {
                    Ok(_) => return Some((fake_device(index), self.number(slot))),
                    Err(other) if other == key => {
                        return Some((fake_device(index), self.number(slot)))
                    }
                    Err(_) => {}
                }
            }
            at = (at + 1) & mask;
        }
        None
    }

    /// The number of a claimed slot, assigning the next one if nobody has yet (whoever
    /// assigns first wins; a loser's draw is skipped).
    fn number(&self, slot: &Slot) -> u64 {
        let n = slot.number.load(Ordering::Acquire);
        if n != 0 {
            return n;
        }
        let mine = self.next.fetch_add(1, Ordering::AcqRel) + 1;
        match slot
            .number
            .compare_exchange(0, mine, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => mine,
            Err(theirs) => theirs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table<const CAP: usize>() -> Box<Table<CAP>> {
        Box::new(Table::new())
    }

    #[test]
    fn numbers_follow_first_sight_and_repeat_for_the_same_pair() {
        let t = table::<64>();
        assert_eq!(t.map(65024, 10011325), Some((1, 1)));
        assert_eq!(t.map(65024, 10011324), Some((1, 2)));
        assert_eq!(t.map(65024, 10011325), Some((1, 1)), "a hard link");
        assert_eq!(
            t.map(23, 10011325),
            Some((2, 3)),
            "same inode, other device"
        );
        assert_eq!(t.map(65024, 7), Some((1, 4)));
        assert_eq!(t.map(23, 10011325), Some((2, 3)));
    }

    #[test]
    fn the_same_walk_gets_the_same_numbers_whatever_the_real_ones() {
        let walk = |dev: u64, base: u64| {
            let t = table::<256>();
            // a tree of 20 files where the 5th and 12th are hard links to the 2nd
            (0..20u64)
                .map(|i| {
                    let ino = if i == 4 || i == 11 {
                        base + 3
                    } else {
                        base + i * 3
                    };
                    t.map(dev, ino).unwrap()
                })
                .collect::<Vec<_>>()
        };
        let a = walk(65024, 10_000_000);
        assert_eq!(a, walk(2049, 77));
        assert_eq!(a[4], a[1]);
        assert_eq!(a[11], a[1]);
        let mut inos: Vec<_> = a.iter().map(|p| p.1).collect();
        inos.sort_unstable();
        inos.dedup();
        assert_eq!(inos, (1..=18).collect::<Vec<_>>());
    }

    #[test]
    fn out_of_range_and_overflow_stay_real_for_good() {
        let t = table::<8>();
        assert_eq!(Table::<8>::LIMIT, 7);
        assert_eq!(t.map(1, INO_LIMIT), None, "overlayfs xino bits");
        for i in 0..7 {
            assert_eq!(t.map(1, 100 + i), Some((1, i + 1)));
        }
        assert_eq!(t.map(1, 200), None, "table full");
        assert_eq!(t.map(1, 200), None);
        assert_eq!(t.map(1, 103), Some((1, 4)), "old pairs keep their numbers");
        assert_eq!(t.map(u64::MAX, 1), None);
    }

    #[test]
    fn devices_past_the_list_stay_real() {
        let t = table::<1024>();
        for d in 0..DEVICES as u64 {
            assert_eq!(t.map(1000 + d, 5).unwrap().0, fake_device(d + 1));
        }
        assert_eq!(t.map(5000, 5), None);
        assert_eq!(t.map(1000, 5), Some((1, 1)));
    }

    #[test]
    fn concurrent_inserts_agree() {
        let t = std::sync::Arc::new(table::<4096>());
        let runs: Vec<_> = (0..4)
            .map(|_| {
                let t = t.clone();
                std::thread::spawn(move || {
                    (0..1000).map(|i| t.map(9, i).unwrap()).collect::<Vec<_>>()
                })
            })
            .collect();
        let got: Vec<_> = runs.into_iter().map(|h| h.join().unwrap()).collect();
        assert!(got.iter().all(|g| *g == got[0]));
        let mut inos: Vec<_> = got[0].iter().map(|p| p.1).collect();
        inos.sort_unstable();
        inos.dedup();
        assert_eq!(inos.len(), 1000, "distinct pairs, distinct numbers");
    }
}
