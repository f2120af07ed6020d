//! Environment pads: a new program's stack addresses do not move with its environment's size.
//!
//! When this process pads (`stack=fixed`, the default: [`enabled`]), every environment an exec
//! or spawn hook hands on is in the canonical order ([`order`]: `PATH` first, then by name,
//! so a value's address does not move with other entries' order) and ends with
//! `DETBUILD_FILL=`, `DETBUILD_PAD=` and empty `DETBUILD_PAD_x=` entries sized by
//! [`detbuild_core::stack::plan`] from the file name, argument and environment strings, so
//! that, with randomization off, the program's initial stack pointer and where its strings
//! start are the same for every environment up to the next 16 KiB and 16-entry step. Pads already in the environment (inherited from a
//! parent) are dropped by the caller first ([`is_pad`]), so they are never counted twice.
//!
//! Exact for `execve`, `execveat` and `posix_spawn` with a path; `execvp` and `posix_spawnp`
//! with a bare name count the name, and the kernel gets `dir/name`: the stack then sits lower by
//! an amount that follows from `PATH`, the same in every run with the same `PATH`. Not padded:
//! `system` and `popen` (glibc starts their `/bin/sh` itself; the shell pads what it starts).
//!
//! Invariants: no heap, no lock (the caller's stack buffer holds the short pad; the long one is
//! a static string); an environment whose pads would not fit under the kernel's limit is
//! handed on unpadded, so padding never turns a working exec into `E2BIG`.

use crate::env::Environ;
use crate::{state, sys};
use core::ffi::{c_char, CStr};
use detbuild_core::stack::{self, PAD_NAME, UNIT};

pub use detbuild_core::stack::is_pad;

/// Bytes for the `DETBUILD_PAD=` entry.
pub const PAD_TEXT: usize = PAD_NAME.len() + UNIT + 1;
/// The most entries the pads add.
pub const ENTRIES: usize = 2 + stack::SLOTS - 1;

/// Whether this process pads the environments it hands on.
pub fn enabled() -> bool {
    state::process().is_some_and(|p| p.pads)
}

/// Bytes of the C string at `p` with its NUL (0 for null).
fn size(p: *const c_char) -> usize {
    if p.is_null() {
        return 0;
    }
    // SAFETY: a non-null exec argument is a NUL-terminated string (the exec contract).
    unsafe { CStr::from_ptr(p) }.to_bytes().len() + 1
}

/// The platform string's bytes with its NUL, as the kernel copies it onto the new stack.
fn platform() -> usize {
    // SAFETY: getauxval only reads the auxiliary vector.
    let p = unsafe { libc::getauxval(libc::AT_PLATFORM) } as *const c_char;
    size(p)
}

/// The stack limit (`RLIMIT_STACK`), or 0 when unknown.
fn stack_limit() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: prlimit64 on this process writes one rlimit into `limit`; no new limit is set.
    let r = unsafe {
        sys::syscall6(
            libc::SYS_prlimit64,
            0,
            libc::RLIMIT_STACK as usize,
            0,
            &mut limit as *mut libc::rlimit as usize,
            0,
            0,
        )
    };
    if r < 0 {
        0
    } else {
        usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX)
    }
}

/// Puts the environment `entries` in the order the pads assume for string addresses:
/// `PATH` first, then by name ([`stack::canonical_order`]).
pub fn order(entries: &mut [*const c_char]) {
    stack::canonical_order(entries, |&p| name(p));
}

/// The name part of the entry at `p` (up to its `=` or NUL), read without measuring the whole
/// entry: the sort compares names many times.
fn name(p: *const c_char) -> &'static [u8] {
    let mut len = 0;
    // SAFETY: `p` is a NUL-terminated entry that outlives the exec call; the walk stops at its
    // `=` or NUL.
    unsafe {
        while !matches!(*p.add(len) as u8, 0 | b'=') {
            len += 1;
        }
        core::slice::from_raw_parts(p.cast::<u8>(), len)
    }
}

/// Appends the pads after the `n` entries of `array` for an exec of `path` with `argv`, the
/// short one written into `buf`; the new count. Leaves `n` when the pads do not fit (in
/// `array` or under the kernel's limit).
pub fn append(
    path: *const c_char,
    argv: *const *const c_char,
    array: &mut [*const c_char],
    n: usize,
    buf: &mut [u8; PAD_TEXT],
) -> usize {
    if array.len() < n + ENTRIES {
        return n;
    }
    let args = Environ::of(argv).map(|(_, a)| a.len());
    let env = array[..n].iter().map(|&p| size(p).saturating_sub(1));
    let file = size(path).saturating_sub(1);
    let Some(pads) = stack::pads_for(file, args, env, platform(), stack_limit) else {
        return n;
    };
    let (Some(fill), Some(_)) = (
        stack::fill_entry(pads.units),
        stack::pad_entry(pads.dots, buf),
    ) else {
        return n;
    };
    array[n] = fill.as_ptr().cast();
    array[n + 1] = buf.as_ptr().cast();
    for (slot, filler) in array[n + 2..]
        .iter_mut()
        .zip(&stack::FILLERS[..pads.fillers])
    {
        *slot = filler.as_ptr().cast();
    }
    n + pads.entries()
}
