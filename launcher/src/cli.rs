//! Command-line flags (clap definitions only; no I/O).

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::ffi::OsString;
use std::path::PathBuf;

const AFTER_HELP: &str = "\
Examples:
  detbuild -- make                      build with a deterministic clock and randomness
  detbuild --epoch 1700000000 -- make   pin the clock's start explicitly
  eval \"$(detbuild env)\"                put the shim into this shell's future children
  detbuild env --format make > det.mk   a Makefile can `include det.mk`
  detbuild --normalize 'dist/*' -- make dist   then rewrite the archives it made

What the command tree sees:
  time(), gettimeofday(), clock_gettime(CLOCK_REALTIME) start at the epoch in every new
  program and advance by --step per read (and by the length of each sleep). Monotonic and
  CPU clocks stay real, so timeouts work. getrandom(), getentropy(), arc4random(),
  /dev/urandom and /dev/random return a stream derived from the seed, the command line and
  its directory relative to where detbuild started.

  THIS RANDOMNESS IS PREDICTABLE BY DESIGN. Do not generate long-lived keys under detbuild.
  Known key generators (ssh-keygen, gpg, openssl genrsa, ...) get real randomness; see
  [programs] in detbuild.toml.

Epoch, first found: --epoch, $SOURCE_DATE_EPOCH, `epoch` in detbuild.toml, the last git
commit, the newest debian/changelog entry, else 315532800 (1980-01-01) with a notice.

Exit status: the command's own; 127 command not found; 126 not executable; 128+N killed by
signal N; 2 detbuild's own error.";

/// Run a build with a deterministic clock and randomness.
#[derive(Parser, Debug)]
#[command(name = "detbuild", version, about, after_help = AFTER_HELP)]
#[command(args_conflicts_with_subcommands = true, arg_required_else_help = true)]
pub struct Cli {
    /// Options shared by every mode.
    #[command(flatten)]
    pub opts: Opts,

    /// Other modes.
    #[command(subcommand)]
    pub mode: Option<Mode>,

    /// After the command succeeds, normalize the archives matching GLOB (relative to the
    /// starting directory; repeatable), as `detbuild normalize` does with its defaults.
    #[arg(long, value_name = "GLOB")]
    pub normalize: Vec<String>,

    /// Audit: every process of the tree appends one JSON line to FILE (emptied first) saying
    /// what it read (clock, randomness) and under which policy; `detbuild report FILE`
    /// summarizes it.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,

    /// The command to run, after `--`.
    #[arg(last = true, value_name = "COMMAND", num_args = 1..)]
    pub command: Vec<OsString>,
}

/// Flags that choose the clock, the seed and the config.
#[derive(Args, Debug, Default, Clone)]
pub struct Opts {
    /// Clock start, seconds since 1970 (overrides $SOURCE_DATE_EPOCH and the config).
    #[arg(long, value_name = "SECONDS", global = true)]
    pub epoch: Option<String>,

    /// Seed of all randomness (default: the epoch). Any non-empty text.
    #[arg(long, value_name = "TEXT", global = true)]
    pub seed: Option<String>,

    /// Clock advance per read, e.g. 1s, 10ms, 1us (default 1s; at least 1us).
    #[arg(long, value_name = "DURATION", global = true)]
    pub step: Option<String>,

    /// Config file (default: ./detbuild.toml if present).
    #[arg(long, value_name = "PATH", global = true)]
    pub config: Option<PathBuf>,

    /// Run the command with no_new_privs: setuid programs in the tree then keep the shim
    /// (the loader would drop it) but cannot gain privileges, so `sudo` inside fails.
    #[arg(long, global = true)]
    pub no_new_privs: bool,

    /// Say where the epoch came from and what is injected.
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

/// Modes other than running a command.
#[derive(Subcommand, Debug)]
pub enum Mode {
    /// Print the environment that puts the shim into a shell's or Makefile's children.
    Env {
        /// Output syntax: `sh` for `eval "$(detbuild env)"`, `make` for `include`.
        #[arg(long, value_enum, default_value_t = Format::Sh)]
        format: Format,
    },
    /// Rewrite archives canonically: times clamped to the epoch, owners root (see --help).
    Normalize(crate::normalize::NormalizeArgs),
    /// Summarize an audit written by `detbuild --report FILE -- CMD`: which programs read the
    /// clock, consumed randomness, ran transparent, exec'd unshimmed programs.
    Report {
        /// The audit file.
        file: PathBuf,
    },
    /// Build twice in fresh copies under varied conditions and compare the artifacts: exit 0
    /// identical, 1 different (naming the files), 2 trouble.
    Check(crate::check::CheckArgs),
    /// Build once in a fresh copy and write a manifest (settings, programs, artifact hashes)
    /// that `detbuild check --against FILE` rebuilds and compares with.
    Record(crate::record::RecordArgs),
}

/// Syntax of `detbuild env`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// POSIX shell `export NAME='value'` lines.
    Sh,
    /// GNU make `export NAME := value` lines.
    Make,
}
