//! Reading the launcher's variables from the initial environment, without `getenv`.
//!
//! `getenv` is unsafe here: bash and other programs export their own `getenv`, and the shim may
//! run before libc finished its own setup. The shim walks `environ` once, at init, and copies
//! the three variables it needs into static buffers, so that later exec hooks can put them back
//! into an environment a build cleared (`env -i`), without allocating.

use core::cell::UnsafeCell;
use core::ffi::c_char;

extern "C" {
    static environ: *const *const c_char;
}

/// Longest variable (name and value) the shim keeps; longer ones are treated as absent.
const MAX: usize = 8192;

/// The launcher's variables, as found at init.
pub struct Vars {
    /// Value of `DETBUILD`.
    pub payload: &'static [u8],
    /// Value of `DETBUILD_ROOT` (empty if unset).
    pub root: &'static [u8],
}

struct Saved {
    payload: UnsafeCell<[u8; MAX]>,
    root: UnsafeCell<[u8; MAX]>,
    preload: UnsafeCell<[u8; MAX]>,
    lens: UnsafeCell<[usize; 3]>,
}
// SAFETY: written only during init by the thread holding the init state (see state.rs), read
// only after init has been published.
unsafe impl Sync for Saved {}
static SAVED: Saved = Saved {
    payload: UnsafeCell::new([0; MAX]),
    root: UnsafeCell::new([0; MAX]),
    preload: UnsafeCell::new([0; MAX]),
    lens: UnsafeCell::new([0; 3]),
};

/// Finds and saves `DETBUILD=`, `DETBUILD_ROOT=` and `LD_PRELOAD=`; `None` without a payload.
/// Must only be called by the initialising thread.
pub fn capture() -> Option<Vars> {
    let names: [&[u8]; 3] = [b"DETBUILD=", b"DETBUILD_ROOT=", b"LD_PRELOAD="];
    // SAFETY: init-only (see Saved).
    let (bufs, lens) = unsafe {
        (
            [
                &mut *SAVED.payload.get(),
                &mut *SAVED.root.get(),
                &mut *SAVED.preload.get(),
            ],
            &mut *SAVED.lens.get(),
        )
    };
    for entry in Environ::current() {
        for (i, name) in names.iter().enumerate() {
            if lens[i] == 0 && entry.starts_with(name) && entry.len() <= MAX {
                bufs[i][..entry.len()].copy_from_slice(entry);
                lens[i] = entry.len();
            }
        }
    }
    if lens[0] == 0 {
        return None;
    }
    let value = |i: usize| -> &'static [u8] {
        // SAFETY: the buffers are static and no longer written after init.
        let buf: &'static [u8; MAX] = unsafe { &*[SAVED.payload.get(), SAVED.root.get()][i] };
        buf.get(names[i].len()..lens[i]).unwrap_or(b"")
    };
    Some(Vars {
        payload: value(0),
        root: value(1),
    })
}

/// The saved `NAME=value` entries (payload, root, preload), each empty if it was absent.
pub fn saved() -> [&'static [u8]; 3] {
    // SAFETY: read after init; the buffers are static and no longer written.
    unsafe {
        let lens = &*SAVED.lens.get();
        [
            &(&*SAVED.payload.get())[..lens[0]],
            &(&*SAVED.root.get())[..lens[1]],
            &(&*SAVED.preload.get())[..lens[2]],
        ]
    }
}

/// Iterates over the entries of `environ` as byte strings.
pub struct Environ(*const *const c_char);

impl Environ {
    /// Starts at the first entry of the current `environ`.
    pub fn current() -> Self {
        // SAFETY: reading the pointer value of libc's `environ`.
        Environ(unsafe { environ })
    }
}

impl Iterator for Environ {
    type Item = &'static [u8];
    fn next(&mut self) -> Option<&'static [u8]> {
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
        Some(unsafe { core::ffi::CStr::from_ptr(p) }.to_bytes())
    }
}
