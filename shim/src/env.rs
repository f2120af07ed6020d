//! Reading the launcher's variables from the initial environment, without `getenv`.
//!
//! `getenv` is unsafe here: bash and other programs export their own `getenv`, and the shim may
//! run before libc finished its own setup. The shim walks `environ` once, at init, and copies
//! the variables it needs into static buffers, so that later exec hooks can put them back into
//! an environment a build cleared (`env -i`), without allocating.
//!
//! `DETBUILD_KEY` is the one variable the shim writes: an active process overwrites the 64 hex
//! digits of the inherited (parent's) key in place with its own key, so its children chain
//! from it. The string keeps its length, so nothing is allocated and every copy of the
//! environment made later (`execve(environ)`, bash's or Python's environment tables, which
//! are built after our constructor) carries the new key.

use core::cell::UnsafeCell;
use core::ffi::c_char;
use core::sync::atomic::{AtomicPtr, Ordering};
use detbuild_core::key::{from_hex, to_hex, Key};

extern "C" {
    static environ: *const *const c_char;
}

/// Bytes for all saved entries together (each with its NUL); entries that do not fit are
/// treated as absent. One packed arena keeps the pages an exec touches few.
const ARENA: usize = 16 * 1024;
/// Bytes reserved at the arena's start for `DETBUILD_KEY=<64 hex>` and its NUL, so the key
/// can be published whether or not the variable was inherited.
const KEY_ENTRY: usize = b"DETBUILD_KEY=".len() + 64 + 1;

/// The saved variables, in this order.
pub const NAMES: [&[u8]; 5] = [
    b"DETBUILD=",
    b"DETBUILD_ROOT=",
    b"DETBUILD_KEY=",
    b"LD_PRELOAD=",
    b"DETBUILD_REPORT=",
];
/// Index of `DETBUILD=` in [`NAMES`] and [`saved`].
pub const PAYLOAD: usize = 0;
/// Index of `DETBUILD_ROOT=`.
pub const ROOT: usize = 1;
/// Index of `DETBUILD_KEY=`.
pub const KEY: usize = 2;
/// Index of `LD_PRELOAD=`.
pub const PRELOAD: usize = 3;
/// Index of `DETBUILD_REPORT=` (the audit file, see `report`).
pub const REPORT: usize = 4;
/// The entries exec hooks put back when a build removed them, in `EnvScan::has` order.
pub const RESTORED: [usize; 4] = [PAYLOAD, ROOT, KEY, REPORT];

/// The launcher's variables, as found at init.
pub struct Vars {
    /// Value of `DETBUILD`.
    pub payload: &'static [u8],
    /// Value of `DETBUILD_ROOT` (empty if unset).
    pub root: &'static [u8],
    /// The parent's key from `DETBUILD_KEY`, if present and well-formed.
    pub parent: Option<Key>,
}

struct Saved {
    arena: UnsafeCell<[u8; ARENA]>,
    /// Start and length of each entry of [`NAMES`] in the arena (length 0: absent).
    spans: UnsafeCell<[(usize, usize); NAMES.len()]>,
}
// SAFETY: written only during init by the thread holding the init state (see state.rs), read
// only after init has been published.
unsafe impl Sync for Saved {}
static SAVED: Saved = Saved {
    arena: UnsafeCell::new([0; ARENA]),
    spans: UnsafeCell::new([(0, 0); NAMES.len()]),
};
/// The live `DETBUILD_KEY=` entry in `environ`, for the in-place rewrite.
static LIVE_KEY: AtomicPtr<u8> = AtomicPtr::new(core::ptr::null_mut());

/// Finds and saves the variables in [`NAMES`]; `None` without a payload.
/// Must only be called by the initialising thread.
pub fn capture() -> Option<Vars> {
    // SAFETY: init-only (see Saved).
    let (arena, spans) = unsafe { (&mut *SAVED.arena.get(), &mut *SAVED.spans.get()) };
    let mut used = KEY_ENTRY;
    for (ptr, entry) in Environ::current() {
        // Every name starts with `D` or `L`: most entries are skipped after one byte.
        if !matches!(entry.first(), Some(b'D' | b'L')) {
            continue;
        }
        for (i, name) in NAMES.iter().enumerate() {
            if spans[i].1 != 0 || !entry.starts_with(name) {
                continue;
            }
            let start = if i == KEY && entry.len() < KEY_ENTRY {
                0
            } else if used + entry.len() < ARENA {
                used += entry.len() + 1;
                used - entry.len() - 1
            } else {
                continue;
            };
            arena[start..start + entry.len()].copy_from_slice(entry);
            arena[start + entry.len()] = 0;
            spans[i] = (start, entry.len());
            if i == KEY {
                LIVE_KEY.store(ptr as *mut u8, Ordering::Relaxed);
            }
        }
    }
    if spans[PAYLOAD].1 == 0 {
        return None;
    }
    let value = |i: usize| -> &'static [u8] { saved()[i].get(NAMES[i].len()..).unwrap_or(b"") };
    Some(Vars {
        payload: value(PAYLOAD),
        root: value(ROOT),
        parent: from_hex(value(KEY)),
    })
}

/// Writes `key` over `DETBUILD_KEY` in the live environment and in the saved copy (adding it
/// to the saved copy if the variable was missing). Must only be called by the initialising
/// thread, after [`capture`].
pub fn publish_key(key: &Key) {
    let hex = to_hex(key);
    let name = NAMES[KEY];
    // SAFETY: init-only (see Saved); the entry fits the reserved KEY_ENTRY bytes.
    unsafe {
        let arena = &mut *SAVED.arena.get();
        arena[..name.len()].copy_from_slice(name);
        arena[name.len()..name.len() + hex.len()].copy_from_slice(&hex);
        arena[name.len() + hex.len()] = 0;
        (*SAVED.spans.get())[KEY] = (0, name.len() + hex.len());
    }
    let live = LIVE_KEY.load(Ordering::Relaxed);
    if live.is_null() {
        return;
    }
    // SAFETY: `live` is a NUL-terminated environ entry that starts with `DETBUILD_KEY=`; we
    // overwrite its value only when it is exactly 64 characters long, so we stay inside it.
    unsafe {
        let value = live.add(NAMES[KEY].len());
        if core::ffi::CStr::from_ptr(value.cast()).to_bytes().len() == hex.len() {
            core::ptr::copy_nonoverlapping(hex.as_ptr(), value, hex.len());
        }
    }
}

/// The saved `NAME=value` entries in the order of [`NAMES`], each empty if it was absent.
pub fn saved() -> [&'static [u8]; NAMES.len()] {
    // SAFETY: the arena is static; after init it is no longer written.
    unsafe {
        let (arena, spans) = (&*SAVED.arena.get(), &*SAVED.spans.get());
        core::array::from_fn(|i| &arena[spans[i].0..spans[i].0 + spans[i].1])
    }
}

/// Saved entry `i` as a NUL-terminated C string, if it was present (the arena keeps a NUL
/// after each entry), for exec hooks to put back into a cleared environment.
pub fn saved_cstr(i: usize) -> Option<*const c_char> {
    let entry = saved().get(i).copied().filter(|e| !e.is_empty())?;
    Some(entry.as_ptr().cast())
}

/// The current value of libc's `environ`.
pub fn environ_ptr() -> *const *const c_char {
    // SAFETY: reading the pointer value of libc's `environ`.
    unsafe { environ }
}

/// Iterates over the entries of `environ`: each entry's address and bytes.
pub struct Environ(*const *const c_char);

impl Environ {
    /// Starts at the first entry of the current `environ`.
    pub fn current() -> Self {
        Environ(environ_ptr())
    }

    /// Starts at the first entry of `envp`, a NULL-terminated array of C strings that stays
    /// valid while iterating (null counts as empty).
    pub fn of(envp: *const *const c_char) -> Self {
        Environ(envp)
    }
}

impl Iterator for Environ {
    type Item = (*const c_char, &'static [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_null() {
            return None;
        }
        // SAFETY: environ is a NULL-terminated array of C strings.
        let p = unsafe { *self.0 };
        if p.is_null() {
            return None;
        }
        // SAFETY: still within the array (p was not the terminator).
        self.0 = unsafe { self.0.add(1) };
        // SAFETY: each entry is a NUL-terminated string living for the process.
        Some((p, unsafe { core::ffi::CStr::from_ptr(p) }.to_bytes()))
    }
}
