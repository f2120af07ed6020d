//! The new program's initial stack pointer, made independent of the size of its environment.
//!
//! With address-space randomization off (the launcher's default), Linux starts a program's stack
//! at a fixed top and lays out, downwards: the exec'd file name, the environment and argument
//! strings, the platform string (`x86_64`) and 16 random bytes, then the auxiliary vector and
//! the argument and environment pointer arrays, each step rounded to 16 bytes
//! (`fs/exec.c`, `create_elf_tables` in `fs/binfmt_elf.c`). Every stack address the program
//! ever has therefore moves with the byte count of its environment, and programs that write
//! uninitialized stack bytes into their output (Icon's `icont` writes stack pointers into each
//! icode header) give different files when a variable is one byte longer, a path one
//! directory deeper, or one more variable is set.
//!
//! The exec hooks add entries so that the stack pointer, and where the strings start, are the
//! same for every environment up to the next multiple of [`BUCKET`] bytes and [`SLOTS`]
//! entries: `DETBUILD_FILL=` (a run of [`UNIT`]-byte units, taken from one static string),
//! `DETBUILD_PAD=` plus `0..UNIT` dots, and up to `SLOTS - 1` empty `DETBUILD_PAD_x=` entries
//! that bring the number of pointers to a multiple of [`SLOTS`] (each pointer moves the
//! vectors below the strings by 8 bytes, so with the stack pointer fixed the strings would
//! move instead). [`plan`] solves for their sizes with the model below; any entries of those
//! names already in the environment are dropped first, so the pads never accumulate.
//!
//! Model (with `S` the bytes of all strings, each with its NUL, including the file name, and
//! `N` the number of argument and environment pointers):
//! `depth = R8(S) + roundup16(platform + 16 + 8 * (N + 3)) + 16 * auxv entries`, where `R8(S)`
//! is the least value `>= S` that is 8 modulo 16 (the top is 8 bytes below a page boundary).
//! The auxiliary vector's part is the same for every ELF program under one kernel and is left
//! out. [`plan`] makes the padded `S` itself 8 modulo 16, so a `#!` script, whose interpreter
//! the kernel starts with a few strings swapped, gets a depth that follows from the script
//! alone.
//!
//! The strings' own addresses: the kernel lays the environment's strings out in `envp` order
//! upwards from the argument strings, so a value's address moves with the length of every entry
//! before it (programs leave pointers into `PATH` on the stack after searching it; `icont`
//! writes one into noweb's programs, and reprotest's `HOME` variation moved it). The hooks
//! therefore hand on the environment in one order ([`canonical_order`]): `PATH` first, where
//! its address follows from the arguments alone, then every other entry by name, so no
//! program's own order (Perl's hash order, a shell's) decides what comes before what.
//!
//! Invariants: the pads are at most `BUCKET + UNIT` bytes; an environment too large for the
//! pads to fit under the kernel's limit ([`fits`]) is left as it is.

/// Environments whose depth falls in one bucket of this many bytes give one stack pointer.
pub const BUCKET: usize = 16384;
/// The coarse pad's granularity.
pub const UNIT: usize = 32;
/// The coarse pad's name, with its `=`.
pub const FILL_NAME: &[u8] = b"DETBUILD_FILL=";
/// The fine pad's name, with its `=`.
pub const PAD_NAME: &[u8] = b"DETBUILD_PAD=";
/// Environments whose argument and environment pointers fall in one bucket of this many get
/// one layout.
pub const SLOTS: usize = 16;
/// The empty entries that round the pointer count up to a multiple of [`SLOTS`], with their
/// NULs, all of one length ([`FILLER_BYTES`]).
pub static FILLERS: [&[u8]; SLOTS - 1] = [
    b"DETBUILD_PAD_1=\0",
    b"DETBUILD_PAD_2=\0",
    b"DETBUILD_PAD_3=\0",
    b"DETBUILD_PAD_4=\0",
    b"DETBUILD_PAD_5=\0",
    b"DETBUILD_PAD_6=\0",
    b"DETBUILD_PAD_7=\0",
    b"DETBUILD_PAD_8=\0",
    b"DETBUILD_PAD_9=\0",
    b"DETBUILD_PAD_A=\0",
    b"DETBUILD_PAD_B=\0",
    b"DETBUILD_PAD_C=\0",
    b"DETBUILD_PAD_D=\0",
    b"DETBUILD_PAD_E=\0",
    b"DETBUILD_PAD_F=\0",
];
/// Bytes of each of [`FILLERS`], NUL included.
pub const FILLER_BYTES: usize = 16;
/// Units in [`FILL`]: the most [`plan`] asks for.
pub const FILL_UNITS: usize = (BUCKET + UNIT) / UNIT + 1;
/// The kernel's floor for the strings and pointers of one exec (32 pages), whatever the stack
/// limit.
pub const ARG_FLOOR: usize = 32 * 4096;

/// `FILL_UNITS` units of `DETBUILD_FILL=` and dots, NUL-terminated: the entry for `u` units is
/// the tail that starts `u` units before the NUL ([`fill_entry`]).
pub static FILL: [u8; FILL_UNITS * UNIT + 1] = fill();

const fn fill() -> [u8; FILL_UNITS * UNIT + 1] {
    let mut buf = [b'.'; FILL_UNITS * UNIT + 1];
    let mut unit = 0;
    while unit < FILL_UNITS {
        let mut i = 0;
        while i < FILL_NAME.len() {
            buf[unit * UNIT + i] = FILL_NAME[i];
            i += 1;
        }
        unit += 1;
    }
    buf[FILL_UNITS * UNIT] = 0;
    buf
}

/// The `DETBUILD_FILL=` entry of `units` units (with its NUL), or `None` past [`FILL_UNITS`].
pub fn fill_entry(units: usize) -> Option<&'static [u8]> {
    let start = FILL_UNITS.checked_sub(units)?.checked_mul(UNIT)?;
    FILL.get(start..).filter(|_| units > 0)
}

/// Writes the `DETBUILD_PAD=` entry with `dots` dots and its NUL into `buf`; its length.
pub fn pad_entry(dots: usize, buf: &mut [u8]) -> Option<usize> {
    let len = PAD_NAME.len() + dots + 1;
    let out = buf.get_mut(..len)?;
    out[..PAD_NAME.len()].copy_from_slice(PAD_NAME);
    out[PAD_NAME.len()..len - 1].fill(b'.');
    out[len - 1] = 0;
    Some(len)
}

/// Whether `entry` (`NAME=value`) is one of the pads, which the hooks drop and replace.
pub fn is_pad(entry: &[u8]) -> bool {
    entry.starts_with(FILL_NAME)
        || entry.starts_with(PAD_NAME)
        || entry.starts_with(b"DETBUILD_PAD_")
}

/// The pads' sizes: `units` of [`UNIT`] bytes in `DETBUILD_FILL=`, `dots` in
/// `DETBUILD_PAD=`, and how many of [`FILLERS`] follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pads {
    pub units: usize,
    pub dots: usize,
    pub fillers: usize,
}

impl Pads {
    /// Bytes the entries add to the strings, NULs included.
    pub fn bytes(self) -> usize {
        self.units * UNIT + 1 + PAD_NAME.len() + self.dots + 1 + self.fillers * FILLER_BYTES
    }

    /// Entries added.
    pub fn entries(self) -> usize {
        2 + self.fillers
    }
}

/// The name part of an environment entry (before the first `=`).
fn name(entry: &[u8]) -> &[u8] {
    entry.split(|&b| b == b'=').next().unwrap_or(entry)
}

/// Where `entry` goes in the canonical order: `PATH` first, then the others by name.
fn rank(entry: &[u8]) -> (bool, &[u8]) {
    let n = name(entry);
    (n != b"PATH", n)
}

/// Sorts `items` (environment entries, read through `entry`) into the order the hooks hand on:
/// `PATH` first, then by name, entries of one name in their order (stable; no allocation, so
/// an insertion sort: environments hold tens of entries).
pub fn canonical_order<T>(items: &mut [T], entry: impl Fn(&T) -> &[u8]) {
    for i in 1..items.len() {
        let mut j = i;
        while j > 0 && rank(entry(&items[j - 1])) > rank(entry(&items[j])) {
            items.swap(j - 1, j);
            j -= 1;
        }
    }
}

/// The least value `>= s` that is 8 modulo 16.
fn r8(s: usize) -> usize {
    (s + 8).div_ceil(16) * 16 - 8
}

/// The modelled distance from the stack's top to the initial stack pointer (see the module
/// docs), for `strings` bytes of strings, `pointers` argument and environment pointers, and a
/// platform string of `platform` bytes with its NUL.
pub fn depth(strings: usize, pointers: usize, platform: usize) -> usize {
    r8(strings) + (platform + 16 + 8 * (pointers + 3)).div_ceil(16) * 16
}

/// The pads that bring an exec of `strings` bytes and `pointers` pointers (the pads already in
/// the environment not counted) to the bucket's depth; `None` when the sizes overflow.
pub fn plan(strings: usize, pointers: usize, platform: usize) -> Option<Pads> {
    let fillers = (SLOTS - pointers.checked_add(2)? % SLOTS) % SLOTS;
    let fixed = 1 + PAD_NAME.len() + 1 + fillers * FILLER_BYTES;
    let vectors = depth(0, pointers + 2 + fillers, platform) - r8(0);
    let least = strings.checked_add(fixed + UNIT)?.checked_add(vectors)?;
    let target = least.checked_sub(8)?.div_ceil(BUCKET).max(1) * BUCKET + 8;
    let need = target - vectors - strings - fixed;
    Some(Pads {
        units: need / UNIT,
        dots: need % UNIT,
        fillers,
    })
}

/// The pads for an exec of a file name of `file` bytes with arguments and environment entries
/// of the given lengths (without their NULs; the pads already in the environment left out):
/// [`plan`], then `None` when they would not fit under the kernel's limit ([`fits`]).
/// `stack_limit` is asked only when the exec comes near the kernel's floor.
pub fn pads_for(
    file: usize,
    args: impl Iterator<Item = usize>,
    env: impl Iterator<Item = usize>,
    platform: usize,
    stack_limit: impl FnOnce() -> usize,
) -> Option<Pads> {
    let (mut strings, mut pointers) = (file + 1, 0);
    for len in args.chain(env) {
        strings += len + 1;
        pointers += 1;
    }
    let pads = plan(strings, pointers, platform)?;
    let total = strings + pads.bytes() + 8 * (pointers + pads.entries() + 2);
    (fits(total, 0) || fits(total, stack_limit())).then_some(pads)
}

/// Whether strings and pointers of `total` bytes stay under the kernel's limit for a stack
/// limit of `stack_limit` bytes (a quarter of it, at least [`ARG_FLOOR`]), with a page to
/// spare.
pub fn fits(total: usize, stack_limit: usize) -> bool {
    total + 4096 <= (stack_limit / 4).max(ARG_FLOOR)
}

#[cfg(test)]
mod tests {
    use super::*;

    const X86: usize = b"x86_64\0".len();

    /// The padded strings' bytes and the depth.
    fn padded(strings: usize, pointers: usize) -> (usize, usize) {
        let p = plan(strings, pointers, X86).unwrap();
        let s = strings + p.bytes();
        assert_eq!(s % 16, 8, "padded strings not 8 mod 16");
        assert_eq!((pointers + p.entries()) % SLOTS, 0, "{p:?}");
        (s, depth(s, pointers + p.entries(), X86))
    }

    fn padded_depth(strings: usize, pointers: usize) -> usize {
        padded(strings, pointers).1
    }

    #[test]
    fn depth_follows_the_kernel_layout() {
        // Measured on Linux 6.1 x86-64 under `setarch -R` (a probe comparing `argv - 8` with
        // the top 0x7ffffffff000 - 8, less its 23 auxv entries' 368 bytes): strings, pointers,
        // depth.
        for (strings, pointers, measured) in [
            (23, 4, 104),
            (25, 4, 120),
            (79, 4, 168),
            (28, 2, 104),
            (1300, 37, 1656),
            (1356, 37, 1720),
        ] {
            assert_eq!(
                depth(strings, pointers, X86),
                measured,
                "{strings} {pointers}"
            );
        }
    }

    #[test]
    fn every_environment_in_a_bucket_gets_one_depth() {
        let first = padded_depth(100, 10);
        assert_eq!(first, BUCKET + 8);
        for strings in 100..(BUCKET - 2000) {
            for pointers in [1, 10, 11, 60, 61] {
                assert_eq!(
                    padded_depth(strings, pointers),
                    first,
                    "{strings} {pointers}"
                );
            }
        }
    }

    #[test]
    fn strings_start_at_one_place_for_every_pointer_count_in_a_bucket() {
        // Pointers 15..=30 plus the two pads make 17..=32: one bucket of SLOTS.
        let first = padded(500, 15);
        for strings in (500..3000).step_by(37) {
            for pointers in 15..=30 {
                assert_eq!(padded(strings, pointers), first, "{strings} {pointers}");
            }
        }
        assert_ne!(padded(500, 31).0, first.0, "the next bucket of pointers");
    }

    #[test]
    fn a_larger_environment_moves_to_the_next_bucket() {
        assert_eq!(padded_depth(BUCKET, 10), 2 * BUCKET + 8);
        assert_eq!(padded_depth(5 * BUCKET + 77, 50), 6 * BUCKET + 8);
    }

    #[test]
    fn pads_stay_within_the_static_fill() {
        for strings in (0..3 * BUCKET).step_by(7) {
            let p = plan(strings, 33, X86).unwrap();
            assert!(p.units >= 1 && p.units <= FILL_UNITS, "{p:?}");
            assert!(p.dots < UNIT);
            assert!(fill_entry(p.units).is_some());
        }
    }

    #[test]
    fn fill_entries_are_name_then_units() {
        let e = fill_entry(2).unwrap();
        assert_eq!(e.len(), 2 * UNIT + 1);
        assert!(e.starts_with(FILL_NAME));
        assert_eq!(&e[UNIT..UNIT + FILL_NAME.len()], FILL_NAME);
        assert_eq!(e[e.len() - 1], 0);
        assert!(e[..e.len() - 1].iter().all(|&b| b != 0));
        assert_eq!(fill_entry(0), None);
        assert_eq!(fill_entry(FILL_UNITS + 1), None);
        assert_eq!(fill_entry(FILL_UNITS).unwrap().len(), FILL.len());
    }

    #[test]
    fn pad_entries_are_name_dots_nul() {
        let mut buf = [0xffu8; 64];
        assert_eq!(pad_entry(3, &mut buf), Some(17));
        assert_eq!(&buf[..17], b"DETBUILD_PAD=...\0");
        assert_eq!(pad_entry(0, &mut buf[..14]), Some(14));
        assert_eq!(pad_entry(1, &mut buf[..14]), None);
        assert!(is_pad(b"DETBUILD_PAD=..") && is_pad(b"DETBUILD_FILL="));
        assert!(is_pad(b"DETBUILD_PAD_7="));
        for f in FILLERS {
            assert_eq!(f.len(), FILLER_BYTES);
            assert!(is_pad(f) && f.ends_with(b"=\0"));
        }
        assert!(!is_pad(b"DETBUILD_PADX") && !is_pad(b"DETBUILD=v2"));
    }

    #[test]
    fn pads_for_counts_strings_and_asks_the_limit_only_near_it() {
        let small = pads_for(
            9,
            [2, 3].into_iter(),
            [10].into_iter(),
            X86,
            || unreachable!(),
        );
        assert_eq!(small, plan(10 + 3 + 4 + 11, 3, X86));
        let near = |limit: usize| {
            let args = core::iter::repeat_n(100_000, 20);
            pads_for(9, args, [10].into_iter(), X86, || limit)
        };
        assert_eq!(near(8 << 20).map(|p| p.units > 0), Some(true));
        assert_eq!(
            near(0),
            None,
            "over the floor with no stack limit to allow it"
        );
    }

    #[test]
    fn canonical_order_puts_path_first_then_names() {
        let mut env: [&[u8]; 7] = [
            b"ZZ=1",
            b"HOME=/root",
            b"PATHX=a",
            b"B=2",
            b"PATH=/bin",
            b"B=1",
            b"A",
        ];
        canonical_order(&mut env, |e| e);
        let want: [&[u8]; 7] = [
            b"PATH=/bin",
            b"A",
            b"B=2",
            b"B=1",
            b"HOME=/root",
            b"PATHX=a",
            b"ZZ=1",
        ];
        assert_eq!(env, want);
    }

    #[test]
    fn limits_leave_room_for_the_kernel() {
        assert!(fits(100_000, 8 << 20));
        assert!(fits(ARG_FLOOR - 4096, 0));
        assert!(!fits(ARG_FLOOR - 4095, 0));
        assert!(!fits((2 << 20) - 100, 8 << 20));
    }
}
