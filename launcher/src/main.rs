//! `detbuild`: run a command so that every process of its tree sees a deterministic clock and
//! deterministic randomness, and nothing outside the tree changes.
//!
//! The launcher is a straight pipeline: parse flags → load `detbuild.toml`, check the shim,
//! settle the epoch → plan the child's environment (a pure function) → start the command
//! under a guardian that forwards signals and kills the build if detbuild dies → mirror the
//! exit. Nothing detbuild prints can stop the build: a closed or broken stderr is ignored.
//!
//! Exit status: the command's own; 127 command not found; 126 not executable; 128+N when the
//! command dies of signal N; 2 for detbuild's own errors (bad flags, config, epoch, missing or
//! unloadable shim). 126 also covers a directory given as the command.

mod blame;
mod check;
mod cli;
mod compare;
mod config;
mod epoch;
mod error;
mod guard;
mod handoff;
mod hook;
mod isolate;
mod layout;
mod normalize;
mod plan;
mod record;
mod report;
mod run;
mod sections;
mod spawn;
mod tree;

use std::process::ExitCode;

fn main() -> ExitCode {
    match cli::parse().and_then(run::main) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            say!("{err}");
            ExitCode::from(error::EXIT_TROUBLE)
        }
    }
}
