//! Command-line flags: the clap definitions, and usage errors turned into one line that
//! names the fix (`detbuild make` suggests `detbuild -- make`).

use crate::error::Error;
use crate::fail;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::ffi::OsString;
use std::path::PathBuf;

const AFTER_HELP: &str = "\
Examples:
  detbuild -- make                      build with a deterministic clock and randomness
  detbuild --epoch 1700000000 -- make   pin the clock's start explicitly
  eval \"$(detbuild env)\"                put the shim into this shell's future children
  detbuild env --format make > det.mk   a Makefile can `include det.mk`
  detbuild hook dpkg > debian/detbuild.mk   per-package opt-in (also: hook rpm)
  detbuild --normalize 'dist/*' -- make dist   then rewrite the archives it made

What the command tree sees:
  time(), gettimeofday(), clock_gettime(CLOCK_REALTIME) start at the epoch and advance by
  --step per read (1us) and by every sleep; each program starts where the process that
  started it stood, and a parent moves on to the time its reaped children spent (make, ninja
  and xargs excepted, so -j never changes a byte). Monotonic and CPU clocks stay real.
  getrandom(), getentropy(), arc4random(), /dev/urandom and /dev/random return a stream
  derived from the seed, the command line (without job counts like -j8) and its directory
  relative to where detbuild started; a repeat of the same command gets a stream of its own.

  Directory listings come in byte-wise name order; the host is `detbuild`, the CPU count 4
  (--cpus), the invoking user and group `builder`; the command starts with TZ=UTC,
  LANG=LC_ALL=C.UTF-8, umask 022 and ASLR off (--aslr keeps it), and, as root, in its own
  PID namespace (--namespaces). Archivers and image makers (tar, cpio, zip, gzip, mke2fs,
  mksquashfs, xorriso, ...) see file times after the epoch as the epoch; those that record
  inode numbers (cpio, tar, xorriso) see them in first-sight order. detbuild.toml
  changes each; see the README.

  THIS RANDOMNESS IS PREDICTABLE BY DESIGN. Do not generate long-lived keys under detbuild.
  Known key generators (ssh-keygen, gpg, keytool, openssl genrsa, wg genkey, ...) get real
  randomness, and verifiers (gpgv, gpg --verify) the real clock; add yours under [programs]
  in detbuild.toml.

Epoch, first found: --epoch, $SOURCE_DATE_EPOCH, `epoch` in detbuild.toml, the newest
debian/changelog entry, the last git commit, else 315532800 (1980-01-01) with a notice.

Exit status: the command's own; 127 command not found; 126 not executable or a directory;
128+N killed by signal N (signals sent to detbuild are forwarded; if detbuild dies, the
build is killed); 2 detbuild's own error.";

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

    /// Clock advance per read, with a unit: h, min, s, ms, us or ns, e.g. 10ms (1us to 1h;
    /// default 1us).
    #[arg(long, value_name = "DURATION", global = true)]
    pub step: Option<String>,

    /// CPU count every program sees (nproc, sysconf, sched_getaffinity, /proc/cpuinfo):
    /// 1 to 1024, or `real` (default 4, or `cpus` in the config).
    #[arg(long, value_name = "N|real", global = true)]
    pub cpus: Option<String>,

    /// Keep address-space randomization (by default the command runs with it off, so
    /// programs that print pointers agree across runs).
    #[arg(long, global = true)]
    pub aslr: bool,

    /// Private namespaces where the machine allows them: a list of `pid` (fixed pids, on by
    /// default) and `uts` (the host name for static programs too), or `none`.
    #[arg(long, value_name = "LIST", global = true)]
    pub namespaces: Option<String>,

    /// Run the build with the working directory mounted at this absolute path too (a private
    /// mount namespace; needs root), so builds from different directories record the same
    /// paths.
    #[arg(long, value_name = "DIR", global = true)]
    pub build_path: Option<PathBuf>,

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

    /// Set by modes whose output is reused later (`env`): no epoch source is an error, not
    /// the 1980 default with a notice.
    #[arg(skip)]
    pub require_epoch: bool,
}

/// Modes other than running a command.
#[derive(Subcommand, Debug)]
pub enum Mode {
    /// Print the environment that puts the shim into a shell's or Makefile's children (an
    /// error, not the 1980 default, when no epoch source is found).
    Env {
        /// Output syntax: `sh` for `eval "$(detbuild env)"`, `make` for `include`.
        #[arg(long, value_enum, default_value_t = Format::Sh)]
        format: Format,
    },
    /// Print the text that runs a package's own build under the shim, for builders that are
    /// not started as `detbuild -- CMD`: `dpkg` a make fragment for debian/rules, `rpm`
    /// macros for rpmbuild (see docs/build-farms.md).
    #[command(after_help = HOOK_HELP)]
    Hook {
        /// Which build system.
        #[arg(value_enum)]
        kind: HookKind,
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

/// Build systems `detbuild hook` knows.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum HookKind {
    /// A make fragment for debian/rules (dpkg-buildpackage, sbuild, pbuilder).
    Dpkg,
    /// Macros for rpmbuild (~/.rpmmacros, `rpmbuild --load`, mock, OBS, Koji).
    Rpm,
}

const HOOK_HELP: &str = "\
Use:
  detbuild hook dpkg > debian/detbuild.mk     then add `include debian/detbuild.mk` at the
                                              top of debian/rules
  detbuild hook rpm >> ~/.rpmmacros           or: rpmbuild --load FILE -bb pkg.spec

The recipes of debian/rules, and rpm's %conf, %build, %install and %check, then run under
the shim with the package's own epoch (debian/changelog, the spec's %changelog); the build
stops if detbuild is missing. To wrap a whole builder instead:
  detbuild -- dpkg-buildpackage -b -us -uc
  dpkg-buildpackage -b -us -uc --rules-file='detbuild -- make -f debian/rules'";

/// Syntax of `detbuild env`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// POSIX shell `export NAME='value'` lines.
    Sh,
    /// GNU make `export NAME := value` lines.
    Make,
}

/// Parses the process's arguments; help and version print and exit, usage errors become one
/// line naming the fix.
pub fn parse() -> Result<Cli, Error> {
    let args: Vec<OsString> = std::env::args_os().collect();
    Cli::try_parse_from(&args).map_err(|e| match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => e.exit(),
        _ => usage_error(&e, &args),
    })
}

/// One line for a clap error: a bare word where a command was meant suggests `--`.
fn usage_error(e: &clap::Error, args: &[OsString]) -> Error {
    let word = [ContextKind::InvalidArg, ContextKind::InvalidSubcommand]
        .into_iter()
        .find_map(|k| match e.get(k) {
            Some(ContextValue::String(s)) => Some(s.clone()),
            _ => None,
        });
    if let Some(word) = word.filter(|w| !w.starts_with('-')) {
        if let Some(at) = args.iter().skip(1).position(|a| *a == *word) {
            let mut fixed: Vec<String> = vec!["detbuild".into()];
            for (i, a) in args.iter().enumerate().skip(1) {
                if i == at + 1 {
                    fixed.push("--".into());
                }
                fixed.push(quote(&a.to_string_lossy()));
            }
            return fail!(
                "`{word}` is not a detbuild option or mode; to run a command, put it after `--`: {}",
                fixed.join(" ")
            );
        }
    }
    let text = e.render().to_string();
    let first = text.lines().next().unwrap_or("bad usage");
    let valid = match e.get(ContextKind::ValidValue) {
        Some(ContextValue::Strings(values)) => format!(" (one of: {})", values.join(", ")),
        _ => String::new(),
    };
    fail!(
        "{}{valid}; see `detbuild --help`",
        first.trim().trim_start_matches("error: ")
    )
}

/// `arg` as a shell word.
fn quote(arg: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_./=:,+-@%".contains(c);
    if !arg.is_empty() && arg.chars().all(plain) {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(args: &[&str]) -> String {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        let e = Cli::try_parse_from(&args).unwrap_err();
        usage_error(&e, &args).0
    }

    #[test]
    fn a_command_without_dashes_suggests_them() {
        let msg = error(&["detbuild", "make", "-j8"]);
        assert!(msg.ends_with("detbuild -- make -j8"), "{msg}");
        let msg = error(&["detbuild", "--epoch", "1", "make", "a b"]);
        assert!(msg.ends_with("detbuild --epoch 1 -- make 'a b'"), "{msg}");
    }

    #[test]
    fn other_usage_errors_are_one_line() {
        let msg = error(&["detbuild", "--bogus", "--", "true"]);
        assert!(!msg.contains('\n') && msg.contains("--bogus"), "{msg}");
        assert!(msg.ends_with("see `detbuild --help`"), "{msg}");
        let msg = error(&["detbuild", "hook", "deb"]);
        assert!(
            msg.contains("'deb' for '<KIND>' (one of: dpkg, rpm)"),
            "{msg}"
        );
    }
}
