//! libuuid hooks: `uuid_generate` and `uuid_generate_random`.
//!
//! libuuid (util-linux) reads `getrandom`, which the shim answers, but then XORs every byte
//! with `random()` seeded from `getpid()` and the time of day, so its UUIDs change from run to
//! run even under the shim. mke2fs (filesystem UUID and directory hash seed), sfdisk (GPT disk
//! and partition GUIDs), mkfs.* and uuidgen take theirs from these two functions.
//!
//! Faked: for programs whose `random` switch is on, a version-4 UUID from the calling thread's
//! stream (`detbuild_core::vfs::uuid_v4`), so a program's UUIDs depend only on its key and
//! how much randomness it drew before, never on its pid.
//!
//! Real: libuuid's own functions for other programs (key generators) and when inactive.
//! `uuid_generate_time*` (version 1: time and MAC address) are left to libuuid; its clock
//! reads are faked, its MAC address and clock sequence are not.
//!
//! Invariants: as `getrandom`: no allocation, no lock, signal-safe.

use crate::hooks::{count, Id};
use crate::{random, real, state};
use detbuild_core::vfs::uuid_v4;

/// libuuid's function of the same name, looked up when first needed.
type Real = fn() -> Option<unsafe extern "C" fn(*mut u8)>;

/// A version-4 UUID from this thread's stream into `out`, or, when randomness is real,
/// libuuid's own answer.
///
/// # Safety
/// `out` must point to 16 writable bytes.
unsafe fn generate(out: *mut u8, real: Real) {
    if let Some(p) = state::random() {
        let mut b = [0u8; 16];
        random::fill(p, &mut b);
        // SAFETY: caller's contract: `out` points to a `uuid_t` (16 bytes).
        unsafe { core::ptr::copy_nonoverlapping(uuid_v4(b).as_ptr(), out, 16) };
    } else if let Some(f) = real() {
        // SAFETY: forwarding the caller's argument.
        unsafe { f(out) }
    }
}

/// `uuid_generate(uuid_t out)`: faked as described in the module docs.
///
/// # Safety
/// `out` must point to 16 writable bytes.
#[no_mangle]
pub unsafe extern "C" fn uuid_generate(out: *mut u8) {
    count(Id::uuid_generate);
    // SAFETY: caller's contract.
    unsafe { generate(out, real::uuid_generate) }
}

/// `uuid_generate_random(uuid_t out)`: faked as described in the module docs.
///
/// # Safety
/// `out` must point to 16 writable bytes.
#[no_mangle]
pub unsafe extern "C" fn uuid_generate_random(out: *mut u8) {
    count(Id::uuid_generate_random);
    // SAFETY: caller's contract.
    unsafe { generate(out, real::uuid_generate_random) }
}
