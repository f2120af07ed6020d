//! detbuild's integration tests: one module per area, one test per user-visible promise.
//! Each promise is checked three ways where it applies: the probe varies natively, it is
//! byte-identical across runs under detbuild, and it changes with the epoch or seed.

mod common;

/// bench/run.sh builds and runs.
mod bench;
/// The wall clock.
mod clock;
/// The audit, `detbuild check`, `detbuild record`.
mod evidence;
/// examples/hello built with make -j4.
mod example;
/// Every way a process starts keeps the shim: exec*, spawn, system, popen, cleared envs.
mod exec;
/// Virtual files (random devices however spelled) and duplicated descriptors.
mod files;
/// Epoch sources, config, env output, exit codes, signals.
mod launcher;
/// The shim library's exports; programs that look up runtime symbols.
mod library;
/// `detbuild normalize` and `--normalize`: canonical archives, damaged ones left alone.
mod normalize;
/// Per-program switches.
mod policy;
/// getrandom & co, random devices, per-command streams.
mod random;
/// Temporary names from the stream.
mod tempnames;
/// Threads, forks, signals, early hooks, other preloads, secure programs.
mod threads;
/// Sleeps and timed waits take their real time and move the clock consistently.
mod waits;
