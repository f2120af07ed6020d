//! Randomness hooks: `getrandom`, `getentropy`, `arc4random`, `arc4random_buf`,
//! `arc4random_uniform`.
//!
//! Faked: every byte comes from the calling thread's stream (`detbuild_core::stream`): a
//! request reserves `ceil(len / 32)` blocks with one atomic add on the thread's own counter,
//! then hashes them. No lock, no buffer, no allocation: safe in signal handlers and forked
//! children. Flags (`GRND_NONBLOCK`, `GRND_RANDOM`, `GRND_INSECURE`) change nothing: the
//! stream never blocks. glibc's own `arc4random` and `getentropy` call the kernel directly,
//! which is why they have hooks of their own.
//!
//! Real: everything, for programs whose `random` switch is real (key generators) and when
//! inactive.

use crate::hooks::{count, Id};
use crate::report::{self, Entry};
use crate::{clock::set_errno, real, state, sys, thread};
use core::ffi::{c_int, c_uint, c_void};
use core::sync::atomic::Ordering;
use detbuild_core::stream;

/// The kernel's cap on one `getrandom` call (`MAX_RW_COUNT` rounds to this for urandom).
const GETRANDOM_MAX: usize = 0x01ff_ffff;

/// Fills `buf` from the calling thread's stream.
pub fn fill(p: &state::Process, buf: &mut [u8]) {
    let t = thread::ready(&p.key);
    let first = t
        .blocks
        .fetch_add(stream::blocks_for(buf.len()), Ordering::Relaxed);
    stream::fill(t.key(), first, buf);
}

/// # Safety
/// `buf` must be null with `len == 0`, or point to `len` writable bytes.
unsafe fn as_buf<'a>(buf: *mut c_void, len: usize) -> &'a mut [u8] {
    if buf.is_null() || len == 0 {
        return &mut [];
    }
    // SAFETY: caller's contract.
    unsafe { core::slice::from_raw_parts_mut(buf.cast(), len) }
}

/// Faked: `min(len, 32 MiB - 1)` bytes of the stream.
///
/// # Safety
/// `buf` must point to `len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn getrandom(buf: *mut c_void, len: usize, flags: c_uint) -> isize {
    count(Id::getrandom);
    if let Some(p) = state::random() {
        let n = len.min(GETRANDOM_MAX);
        report::bytes(Entry::Getrandom, n);
        // SAFETY: caller's contract.
        fill(p, unsafe { as_buf(buf, n) });
        return n as isize;
    }
    match real::getrandom() {
        // SAFETY: forwarding the caller's arguments.
        Some(f) => unsafe { f(buf, len, flags) },
        None => {
            // SAFETY: caller's contract.
            let r = sys::getrandom(unsafe { as_buf(buf, len) }, flags);
            if r < 0 {
                set_errno(-r as c_int) as isize
            } else {
                r
            }
        }
    }
}

/// Faked; more than 256 bytes fails with `EIO`, as in glibc.
///
/// # Safety
/// `buf` must point to `len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn getentropy(buf: *mut c_void, len: usize) -> c_int {
    count(Id::getentropy);
    if let Some(p) = state::random() {
        if len > 256 {
            return set_errno(libc::EIO);
        }
        report::bytes(Entry::Getentropy, len);
        // SAFETY: caller's contract.
        fill(p, unsafe { as_buf(buf, len) });
        return 0;
    }
    match real::getentropy() {
        // SAFETY: forwarding the caller's arguments.
        Some(f) => unsafe { f(buf, len) },
        None => set_errno(libc::ENOSYS),
    }
}

/// Faked: 4 bytes of the stream, little-endian.
#[no_mangle]
pub extern "C" fn arc4random() -> u32 {
    count(Id::arc4random);
    if let Some(p) = state::random() {
        let mut b = [0u8; 4];
        report::bytes(Entry::Arc4random, 4);
        fill(p, &mut b);
        return u32::from_le_bytes(b);
    }
    match real::arc4random() {
        // SAFETY: a function without arguments.
        Some(f) => unsafe { f() },
        None => {
            let mut b = [0u8; 4];
            sys::getrandom(&mut b, 0);
            u32::from_le_bytes(b)
        }
    }
}

/// Faked.
///
/// # Safety
/// `buf` must point to `len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn arc4random_buf(buf: *mut c_void, len: usize) {
    count(Id::arc4random_buf);
    if let Some(p) = state::random() {
        report::bytes(Entry::Arc4random, len);
        // SAFETY: caller's contract.
        return fill(p, unsafe { as_buf(buf, len) });
    }
    match real::arc4random_buf() {
        // SAFETY: forwarding the caller's arguments.
        Some(f) => unsafe { f(buf, len) },
        None => {
            // SAFETY: caller's contract.
            sys::getrandom(unsafe { as_buf(buf, len) }, 0);
        }
    }
}

/// Faked: rejection sampling over `arc4random` (frozen in `detbuild_core::stream::uniform`).
#[no_mangle]
pub extern "C" fn arc4random_uniform(bound: u32) -> u32 {
    count(Id::arc4random_uniform);
    if state::random().is_some() {
        return stream::uniform(bound, || arc4random());
    }
    match real::arc4random_uniform() {
        // SAFETY: forwarding the caller's argument.
        Some(f) => unsafe { f(bound) },
        None => stream::uniform(bound, || arc4random()),
    }
}
