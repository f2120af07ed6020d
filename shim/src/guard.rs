//! The stack-protector guard. glibc's loader fills the canary that `-fstack-protector` code
//! checks on return from the kernel's `AT_RANDOM` bytes, new on every exec, and programs that
//! write uninitialized stack bytes into their output leak it (Icon's translator `icont` puts
//! one into the header of every icode file it writes). When the shim is active and fakes
//! randomness, its constructor replaces the guard with `key::stack_guard(root key)`: one value
//! for the whole build, so such output is the same on every run, whatever the program's
//! arguments or ancestry (a `make PATH=$(PATH):...` above it, with `PATH` varied), and
//! changes with the seed. (Until 2026-12-03 it was derived from the process key.)
//!
//! Contract: only from the `.init_array` constructor, before the program's own code runs: the
//! frames below it are the loader's (`_dl_init`), which hold no canary check, and every
//! function entered later saves the new value. Threads copy it from their creator, forks keep
//! it. x86-64 only (glibc keeps the guard at `%fs:0x28`); elsewhere the real guard stays.

use detbuild_core::key::stack_guard;

/// Replaces this process's stack guard (see the module docs). Call only from the constructor.
pub fn settle() {
    let Some(p) = crate::state::random() else {
        return;
    };
    set(stack_guard(&p.root));
}

#[cfg(target_arch = "x86_64")]
fn set(value: u64) {
    // SAFETY: %fs:0x28 is the stack guard slot of glibc's x86-64 thread control block (an ABI
    // fixed by GCC's canary code); called from the constructor, where no live frame checks it.
    unsafe {
        core::arch::asm!("mov qword ptr fs:[0x28], {}", in(reg) value, options(nostack, preserves_flags));
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn set(_value: u64) {}
