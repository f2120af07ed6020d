//! `detbuild`: run a command so that every process of its tree sees a deterministic clock and
//! deterministic randomness, and nothing outside the tree changes.
//!
//! The launcher is a straight pipeline: parse flags → load `detbuild.toml` → settle the epoch →
//! plan the child's environment (a pure function) → spawn, forward signals, mirror the exit.
//!
//! Exit status: the command's own; 127 command not found; 126 not executable; 128+N when the
//! command dies of signal N; 2 for detbuild's own errors (bad flags, config, epoch, missing shim).

mod blame;
mod check;
mod cli;
mod compare;
mod config;
mod epoch;
mod error;
mod layout;
mod normalize;
mod plan;
mod record;
mod report;
mod run;
mod tree;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match run::main(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("detbuild: {err}");
            ExitCode::from(error::EXIT_TROUBLE)
        }
    }
}
