//! Pure, allocation-free logic shared by the detbuild shim (a `no_std` cdylib) and the launcher.
//!
//! Nothing here touches the OS: no syscalls, no environment, no FFI. Every function is a plain
//! computation on its arguments, so all of it is unit-tested without any preload.
//!
//! - [`chroot`]: the `LD_PRELOAD` entries that name the shim from inside a new root.
//! - [`clamp`]: file times clamped to the epoch, and the archivers that clamp by default.
//! - [`clock`]: the logical clock (epoch + offset) and duration parsing.
//! - [`exec`]: environment repair and executable classification for the exec hooks.
//! - [`key`]: the frozen derivation of root, process, thread, fork, file and exec keys.
//! - [`normalize`]: what of a command line and directory goes into a process key.
//! - [`occur`]: counting repeats of identical execs, so each gets a stream of its own.
//! - [`stream`]: the frozen counter-mode byte stream and the `arc4random_uniform` reduction.
//! - [`policy`]: per-program switches (which sources are faked for which program).
//! - [`packed`]: the built-in program list, packed at compile time for the shim.
//! - [`settings`]: the compact payload the launcher hands to every shimmed process.
//! - [`wait`]: how sleeps and timed waits on the faked clock translate to real waits.
//! - [`text`]: decimal formatting without allocation.
//! - [`tempname`]: templates and characters of temporary names.
//! - [`vfs`]: the virtual-file registry and path normalization.
//! - [`inodes`]: stable inode and device numbers (a first-sight table).
//! - [`ids`]: lock-free sets of descriptors and timer ids that run on the faked clock.
//! - [`dirs`]: directory snapshots and their byte-wise order.
//! - [`cpus`]: the CPU count, affinity mask and CPU files the build sees.
//! - [`identity`]: the user and group names the build sees.
//! - [`host`]: the host name, domain and `uname` fields the build sees.
//! - [`stack`]: pads that keep a new program's stack pointer independent of its environment.
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]

pub mod chroot;
pub mod clamp;
pub mod clock;
pub mod cpus;
pub mod dirs;
pub mod exec;
pub mod handoff;
pub mod host;
pub mod identity;
pub mod ids;
pub mod inodes;
pub mod key;
pub mod normalize;
pub mod occur;
pub mod packed;
pub mod policy;
pub mod report;
pub mod settings;
pub mod stack;
pub mod stream;
pub mod tempname;
pub mod text;
pub mod vfs;
pub mod wait;
