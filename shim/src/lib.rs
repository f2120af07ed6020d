//! `libdetbuild_shim.so`: preloaded into every process of a build by `detbuild`, it answers the
//! wall clock and randomness from deterministic sources.
//!
//! Contract (details in each module):
//! - [`clock`]: the REALTIME family reads `epoch + step × reads + sleeps`, per thread; other
//!   clocks are real.
//! - [`random`], [`vfs`], [`syscall`]: `getrandom`, `getentropy`, `arc4random*`,
//!   `syscall(SYS_getrandom)` and reads of `/dev/urandom` & co. come from a SHA-256
//!   counter-mode stream keyed by the seed, the command line and the working directory.
//! - [`wait`], [`timedwait`], [`timer`]: sleeps sleep for real and move the thread's clock by
//!   what they slept; absolute deadlines on the faked clock become real deadlines the same
//!   distance away, so no wait returns at once or blocks forever.
//! - [`thread`], [`fork`]: clocks and streams are per thread, keyed by creation order: a
//!   thread by its creator's `pthread_create`/`thrd_create` count, a forked child by its
//!   parent's `fork`/`_Fork` count, so values never depend on scheduling.
//! - [`dir`], [`dirwalk`], [`ftw`], [`getdents`]: directory listings (`readdir` & co,
//!   `scandir`, `glob`, `fts`, `nftw`, `getdents64`) come in byte-wise name order.
//! - [`host`]: `uname`, `gethostname`, `getdomainname` and the kernel's host-name files report
//!   the configured host.
//! - [`cpus`]: `sysconf`, `get_nprocs*`, `sched_getaffinity` and the kernel's CPU files report
//!   the configured count.
//! - [`identity`]: password and group lookups of the invoking user, and `getlogin`, report
//!   the configured names.
//! - Per-program switches choose, program by program, which sources are faked ([`state`],
//!   `detbuild_core::policy`); setuid programs and processes without a valid `DETBUILD`
//!   payload see everything real.
//! - [`uuid`]: libuuid's `uuid_generate` and `uuid_generate_random` draw from the stream
//!   (libuuid mixes the pid into what `getrandom` gave it).
//! - [`stat`]: the `stat` family reports file times clamped to the epoch for archivers and
//!   image makers, inode and device numbers in first-sight order for those that record them
//!   ([`inodes`]), and owners root where configured (switches `mtime`, `inodes`, `owner`).
//! - [`chroot`]: `chroot` and `pivot_root` keep the shim in the programs started inside the
//!   new root.
//! - [`hooks`]: the one table of every hooked and looked-up symbol; [`fd`]: the descriptor
//!   table; [`vfs`]: virtual files; [`tempname`]: temporary names from the stream.
//!
//! Rules every hook follows: no allocation, no lock, no panic, no call to another hooked libc
//! function (raw syscalls or `real::` pointers instead), nothing printed to stdout. The crate
//! is `no_std` so loading it costs no Rust runtime (no `libgcc_s`), and panics abort.
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_op_in_unsafe_fn)]
#![allow(clippy::missing_safety_doc)]

pub mod chroot;
pub mod clock;
pub mod cpus;
pub mod dir;
pub mod dirsnap;
pub mod dirwalk;
pub mod env;
pub mod exec;
pub mod fd;
pub mod fork;
pub mod ftw;
pub mod getdents;
pub mod guard;
pub mod handoff;
pub mod hooks;
pub mod host;
pub mod identity;
pub mod inodes;
pub mod lookup;
pub mod poll;
pub mod random;
pub mod reap;
pub mod report;
pub mod stat;
pub mod state;
pub mod sys;
pub mod syscall;
pub mod tempname;
pub mod thread;
pub mod timedwait;
pub mod timer;
pub mod uuid;
pub mod vfs;
pub mod wait;

pub use hooks::real;

use core::ffi::{c_char, c_int};

/// The shim's constructor, run by the dynamic loader with `(argc, argv, envp)`: settles the
/// mode and keys from the real argv, then resolves the real symbols.
extern "C" fn init(argc: c_int, argv: *const *const c_char, _envp: *const *const c_char) {
    if !thread::block_fits() {
        return;
    }
    state::init(state::Args::Vector(argc.max(0) as usize, argv));
    if let Some(p) = state::active() {
        // Constructors run on the main thread: claim the process key for it now, before the
        // program can start a thread that would otherwise be the first to ask.
        thread::ready(&p.key);
        vfs::adopt_stdin();
        guard::settle();
    }
    if state::mode() != state::Mode::Inert {
        hooks::resolve_eager();
    }
}

#[used]
#[link_section = ".init_array"]
static INIT: extern "C" fn(c_int, *const *const c_char, *const *const c_char) = init;

#[cfg(not(test))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // SAFETY: abort never returns; unreachable in practice (no code path panics by design).
    unsafe { libc::abort() }
}
