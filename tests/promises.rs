//! detbuild's integration tests: one module per area, one test per user-visible promise.
//! Each promise is checked three ways where it applies: the probe varies natively, it is
//! byte-identical across runs under detbuild, and it changes with the epoch or seed.

mod common;

/// bench/run.sh builds and runs.
mod bench;
/// Chroots: programs inside a new root keep the shim; the root is left as it was.
mod chroot;
/// The wall clock.
mod clock;
/// Certificates, signatures, key generators and time across processes.
mod coherence;
/// The CPU count.
mod cpus;
/// Directory listings in byte-wise order: readdir & co, scandir, glob, fts, nftw, tools.
mod dirs;
/// The audit, `detbuild check`, `detbuild record`.
mod evidence;
/// examples/hello built with make -j4.
mod example;
/// Every way a process starts keeps the shim: exec*, spawn, system, popen, cleared envs.
mod exec;
/// Virtual files (random devices however spelled) and duplicated descriptors.
mod files;
/// File times and owners seen by archivers (clamped in flight), archives and images built twice.
mod filetimes;
/// The host name and uname fields.
mod host;
/// The builder's identity: user and group names.
mod identity;
/// A minimal Debian image (debootstrap) built twice (slow).
mod image;
/// Archives and images made twice by real programs (mke2fs, make dist, python sdist/wheel).
mod images;
/// Inode and device numbers renumbered for the programs that record them (cpio, tar, xorriso).
mod inodes;
/// Builder Makefiles, dpkg-buildpackage and rpmbuild switching detbuild on (examples/).
mod integrations;
/// Keys independent of job counts and build paths; repeated commands; key generators.
mod keys;
/// Epoch sources, config, env output, exit codes, signals.
mod launcher;
/// The shim library's exports; programs that look up runtime symbols.
mod library;
/// Exit codes, signals, nothing outlives detbuild, one-line start failures.
mod lifecycle;
/// Private PID and UTS namespaces.
mod namespaces;
/// `detbuild normalize` and `--normalize`: canonical archives, damaged ones left alone.
mod normalize;
/// Per-program switches.
mod policy;
/// getrandom & co, random devices, per-command streams.
mod random;
/// The builder's shell: time zone, locale, umask, ASLR.
mod shell;
/// Stack addresses that do not move with the size of the environment.
mod stack;
/// Temporary names from the stream.
mod tempnames;
/// A real Debian source package built twice by dpkg-buildpackage, natively and under detbuild.
mod thirdparty;
/// Threads, forks, signals, early hooks, other preloads, secure programs.
mod threads;
/// Sleeps and timed waits take their real time and move the clock consistently.
mod waits;
