//! detbuild's integration tests: one module per area, one test per user-visible promise.
//! Each promise is checked three ways where it applies: the probe varies natively, it is
//! byte-identical across runs under detbuild, and it changes with the epoch or seed.

mod common;

/// The wall clock.
mod clock;
/// examples/hello built with make -j4.
mod example;
/// Epoch sources, config, env output, exit codes, signals.
mod launcher;
/// getrandom & co, random devices, per-command streams.
mod random;
