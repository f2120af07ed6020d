//! `detbuild check [OPTIONS] -- CMD`: builds the source tree twice (or `--runs N` times) in
//! fresh copies under varied outer conditions and compares the artifacts.
//!
//! Each run copies the source (the current directory or `--src DIR`, minus `--exclude` and
//! `.gitignore` patterns; see [`crate::tree`]) to its own directory, at a path of a different
//! length, then runs `detbuild --epoch E --seed S --report AUDIT -- CMD` there (`--no-shim`:
//! plain `CMD`, no detbuild at all). What varies between runs, as in reprotest: the build path,
//! `TZ`, `LANG`/`LC_ALL`, the umask, `HOME`, an extra environment variable, the CPU affinity
//! (one CPU in odd runs when there are several), the order in which the copy created its files,
//! and the real time. Epoch and seed are settled once, so every run gets the same.
//!
//! Artifacts: `--artifact GLOB` (repeatable, relative to the tree), else every file the build
//! created or changed. Output: one verdict line, then each differing file with its size and
//! SHA-256 per run, then the programs that the first run's audit shows reading the clock or
//! randomness; with `diffoscope` installed, its report for the first differing file
//! (`--diffoscope`: for all). `--json` prints one JSON object instead. Progress goes to
//! stderr. The copies are removed when the builds match, kept (and named) otherwise or with
//! `--keep`.
//!
//! Exit status: 0 identical, 1 different, 2 trouble (a build failed: the tail of each run's
//! log is shown; bad arguments; no artifacts).

use crate::cli::Opts;
use crate::error::Error;
use crate::fail;
use crate::report::Proc;
use crate::tree::{self, Excludes};
use clap::Args;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// What to copy and what to compare (shared by `check` and `record`).
#[derive(Args, Debug)]
pub struct TreeArgs {
    /// The source tree to copy (default: the current directory).
    #[arg(long, value_name = "DIR")]
    pub src: Option<PathBuf>,
    /// Leave matching paths out of the copies (repeatable; `.gitignore` is honoured too).
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// The artifacts: files matching GLOB (repeatable; default: every file the build made).
    #[arg(long, value_name = "GLOB")]
    pub artifact: Vec<String>,
}

/// `detbuild check` flags.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Source tree and artifacts.
    #[command(flatten)]
    pub tree: TreeArgs,
    /// How many builds to compare (at least 2).
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub runs: usize,
    /// Build without detbuild, to see what it fixes.
    #[arg(long)]
    pub no_shim: bool,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Run diffoscope on every differing file (default: the first, when installed).
    #[arg(long)]
    pub diffoscope: bool,
    /// Rebuild once with the settings recorded by `detbuild record FILE` and compare with the
    /// recorded hashes.
    #[arg(long, value_name = "FILE")]
    pub against: Option<PathBuf>,
    /// Keep the copies even when the builds match.
    #[arg(long)]
    pub keep: bool,
    /// The build command, after `--`.
    #[arg(last = true, value_name = "COMMAND", num_args = 1..)]
    pub command: Vec<OsString>,
}

/// One artifact's size and hash in one run (`None`: absent there).
pub type Seen = Option<(u64, String)>;

/// How every run starts the command.
pub enum Settled {
    /// Under `detbuild` with these flags (`--epoch`, `--seed`, `--step`, `--config`).
    Shim(Vec<OsString>),
    /// `--no-shim`: the command itself, with the shim preloaded only to observe (every
    /// program transparent: real clock and randomness, no `SOURCE_DATE_EPOCH`) so the audit
    /// still names the programs that read the clock or randomness.
    Observe(PathBuf),
}

/// The environment that preloads the shim as a pure observer (see [`Settled::Observe`]).
fn observer_env(shim: &Path, root: &Path) -> Vec<(&'static str, OsString)> {
    let plan = crate::plan::Plan {
        epoch: 0, // unused: the clock is real
        seed: "observe".into(),
        step_ns: detbuild_core::clock::DEFAULT_STEP_NS,
        fake_clock: false,
        fake_random: false,
        programs: Vec::new(),
        root: root.to_path_buf(),
        shim: shim.to_path_buf(),
        host: Default::default(),
        cpus: None,
        identity: detbuild_core::identity::Identity::UNSET,
        namespaces: crate::isolate::parse("none").expect("a valid list"),
        shell: crate::plan::Shell::default(),
    };
    let mut env = crate::plan::child_env(&plan, std::env::var_os("LD_PRELOAD").as_ref());
    env.retain(|(name, _)| *name != "SOURCE_DATE_EPOCH");
    env.push((
        "ASAN_OPTIONS",
        crate::plan::asan_options(std::env::var_os("ASAN_OPTIONS").as_ref()),
    ));
    env
}

/// What one build produced.
pub struct Built {
    /// The copy's directory.
    pub dir: PathBuf,
    /// Artifacts found, hashed.
    pub artifacts: BTreeMap<PathBuf, Seen>,
    /// The audit, if the run had one.
    pub audit: Vec<Proc>,
}

fn progress(text: &str) {
    eprintln!("detbuild check: {text}");
}

/// Checks the arguments shared with `record`: a command, an existing source directory, valid
/// artifact patterns.
pub fn validate(
    command: &[OsString],
    src: Option<&Path>,
    artifact: &[String],
    usage: &str,
) -> Result<(PathBuf, Vec<glob::Pattern>), Error> {
    if command.is_empty() {
        return Err(fail!("no command given; usage: {usage}"));
    }
    let src = match src {
        Some(dir) => dir.to_path_buf(),
        None => {
            std::env::current_dir().map_err(|e| fail!("cannot read the working directory: {e}"))?
        }
    };
    if !src.is_dir() {
        return Err(fail!(
            "--src {}: not a directory; give the source tree to copy",
            src.display()
        ));
    }
    let src = std::fs::canonicalize(&src).map_err(|e| fail!("{}: {e}", src.display()))?;
    let globs = artifact
        .iter()
        .map(|g| glob::Pattern::new(g).map_err(|e| fail!("--artifact {g:?}: {e}")))
        .collect::<Result<_, _>>()?;
    Ok((src, globs))
}

/// The flags that pin the inner detbuild to `plan`'s epoch and seed (and the given step,
/// config and `--no-new-privs`).
pub fn pinned(opts: &Opts, epoch: i64, seed: &str) -> Result<Vec<OsString>, Error> {
    let mut flags: Vec<OsString> = vec![
        "--epoch".into(),
        epoch.to_string().into(),
        "--seed".into(),
        seed.into(),
    ];
    if let Some(step) = &opts.step {
        flags.extend(["--step".into(), step.into()]);
    }
    if opts.no_new_privs {
        flags.push("--no-new-privs".into());
    }
    if let Some(config) = &opts.config {
        let abs = std::fs::canonicalize(config)
            .map_err(|e| fail!("--config {}: {e}", config.display()))?;
        flags.extend(["--config".into(), abs.into()]);
    }
    Ok(flags)
}

/// Run `i`'s directory: paths of different lengths, so path-length effects show.
pub fn run_dir(base: &Path, i: usize) -> PathBuf {
    base.join(format!("run{}{}", i + 1, "_".repeat(i * 3)))
}

/// Copies, builds and hashes run `i` of `runs` under `base`. `Err` with the log path when the
/// build fails (the caller shows the logs).
#[allow(clippy::too_many_arguments)]
pub fn build(
    i: usize,
    runs: usize,
    base: &Path,
    src: &Path,
    entries: &[PathBuf],
    command: &[OsString],
    how: &Settled,
    globs: &[glob::Pattern],
) -> Result<Result<Built, (PathBuf, String)>, Error> {
    let run_dir = run_dir(base, i);
    let name = src.file_name().unwrap_or("src".as_ref());
    let dir = run_dir.join(name);
    let started = Instant::now();
    progress(&format!(
        "run {}/{runs}: copying {} entries to {}",
        i + 1,
        entries.len(),
        dir.display()
    ));
    let copy = tree::copy(src, &dir, entries, i % 2 == 1)?;
    if copy.skipped > 0 {
        progress(&format!("skipped {} special files", copy.skipped));
    }
    let home = run_dir.join("home");
    std::fs::create_dir_all(&home).map_err(|e| fail!("{}: {e}", home.display()))?;
    let log = run_dir.join("build.log");
    let audit = run_dir.join("audit.jsonl");
    let out = std::fs::File::create(&log).map_err(|e| fail!("{}: {e}", log.display()))?;
    let err = out
        .try_clone()
        .map_err(|e| fail!("{}: {e}", log.display()))?;
    let mut cmd = match how {
        Settled::Shim(flags) => {
            let exe = std::env::current_exe()
                .map_err(|e| fail!("cannot find detbuild's own executable: {e}"))?;
            let mut cmd = Command::new(exe);
            cmd.args(flags)
                .arg("--report")
                .arg(&audit)
                .arg("--")
                .args(command);
            cmd
        }
        Settled::Observe(shim) => {
            let mut cmd = Command::new(&command[0]);
            cmd.args(&command[1..]);
            std::fs::File::create(&audit).map_err(|e| fail!("{}: {e}", audit.display()))?;
            for (name, value) in observer_env(shim, &dir) {
                cmd.env(name, value);
            }
            cmd.env(detbuild_core::settings::REPORT_VAR, &audit);
            cmd
        }
    };
    let odd = i % 2 == 1;
    cmd.current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .env("HOME", &home)
        .env("TZ", if odd { "America/St_Johns" } else { "UTC" })
        .env("LANG", if odd { "fr_CH.UTF-8" } else { "C.UTF-8" })
        .env("LC_ALL", if odd { "fr_CH.UTF-8" } else { "C.UTF-8" });
    if odd {
        cmd.env("CAPTURE_ENVIRONMENT", "i_capture_the_environment");
    }
    let umask = if odd { 0o002 } else { 0o022 };
    // SAFETY: umask and sched_setaffinity are plain system calls, async-signal-safe as the
    // pre_exec contract requires; the CPU set lives on this closure's stack.
    unsafe {
        cmd.pre_exec(move || {
            libc::umask(umask);
            if odd {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                if libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) == 0
                    && libc::CPU_COUNT(&set) > 1
                {
                    let mut one: libc::cpu_set_t = std::mem::zeroed();
                    libc::CPU_SET(0, &mut one);
                    libc::sched_setaffinity(0, std::mem::size_of_val(&one), &one);
                }
            }
            Ok(())
        });
    }
    progress(&format!("run {}/{runs}: building", i + 1));
    let status = match cmd.status() {
        Ok(status) => status,
        Err(e) => return Ok(Err((log, format!("cannot run the command: {e}")))),
    };
    if !status.success() {
        return Ok(Err((log, format!("the build failed ({status})"))));
    }
    let found = if globs.is_empty() {
        tree::changed(&dir, &copy.stamps)?
    } else {
        tree::matching(&dir, globs)?
    };
    if found.len() >= 1000 {
        progress(&format!(
            "run {}/{runs}: hashing {} artifacts",
            i + 1,
            found.len()
        ));
    }
    let mut artifacts = BTreeMap::new();
    for rel in found {
        artifacts.insert(rel.clone(), tree::hash(&dir.join(&rel))?);
    }
    progress(&format!(
        "run {}/{runs}: built in {:.1} s, {} artifacts",
        i + 1,
        started.elapsed().as_secs_f64(),
        artifacts.len()
    ));
    let audit = crate::report::read(&audit).unwrap_or_default();
    Ok(Ok(Built {
        dir,
        artifacts,
        audit,
    }))
}

/// The last `n` lines of a log.
pub fn tail(log: &Path, n: usize) -> String {
    let text = std::fs::read(log).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// `detbuild check`: the exit status.
pub fn main(args: &CheckArgs, opts: &Opts) -> Result<u8, Error> {
    let usage = "detbuild check [OPTIONS] -- COMMAND [ARGS...]";
    let (src, globs) = validate(
        &args.command,
        args.tree.src.as_deref(),
        &args.tree.artifact,
        usage,
    )?;
    if let Some(file) = &args.against {
        return crate::record::check_against(file, args, &src, &globs);
    }
    if args.runs < 2 {
        return Err(fail!(
            "--runs {}: at least 2 builds are needed to compare",
            args.runs
        ));
    }
    let settled = if args.no_shim {
        Settled::Observe(crate::layout::find_shim()?)
    } else {
        let plan = crate::run::settle(opts)?;
        Settled::Shim(pinned(opts, plan.epoch, &plan.seed)?)
    };
    let excludes = Excludes::new(&src, &args.tree.exclude)?;
    let entries = tree::walk(&src, Some(&excludes))?;
    let base = crate::record::base_dir("detbuild-check-")?;
    let mut builds = Vec::new();
    let mut failed = Vec::new();
    for i in 0..args.runs {
        match build(
            i,
            args.runs,
            &base,
            &src,
            &entries,
            &args.command,
            &settled,
            &globs,
        )? {
            Ok(b) => builds.push(b),
            Err((log, why)) => failed.push((i, log, why)),
        }
    }
    if !failed.is_empty() {
        for (i, _, why) in &failed {
            eprintln!("detbuild check: run {}: {why}", i + 1);
        }
        for i in 0..args.runs {
            let log = run_dir(&base, i).join("build.log");
            eprintln!("--- run {} log ({}), last lines:", i + 1, log.display());
            eprintln!("{}", tail(&log, 15));
        }
        eprintln!("detbuild check: the copies are kept in {}", base.display());
        return Ok(2);
    }
    let columns: Vec<(String, BTreeMap<PathBuf, Seen>)> = builds
        .iter()
        .enumerate()
        .map(|(i, b)| (format!("run {}", i + 1), b.artifacts.clone()))
        .collect();
    let dirs: Vec<PathBuf> = builds.iter().map(|b| b.dir.clone()).collect();
    let audit = builds.first().map(|b| b.audit.clone()).unwrap_or_default();
    let code = crate::compare::report(&columns, &dirs, ("run 1", &audit), args, &args.command)?;
    if code == 0 && !args.keep {
        let _ = std::fs::remove_dir_all(&base);
    } else {
        eprintln!("detbuild check: the copies are kept in {}", base.display());
    }
    Ok(code)
}
