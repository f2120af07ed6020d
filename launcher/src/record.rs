//! `detbuild record FILE -- CMD` and `detbuild check --against FILE -- CMD`: the independent
//! rebuilder's case.
//!
//! `record` builds once, like one run of `check` (a fresh copy of the tree, the same excludes
//! and artifact rule), and writes a JSON manifest (format `detbuild-record/1`):
//! - `detbuild`: version, the shim's path and SHA-256;
//! - `settings`: `epoch` and `epoch_source`, `seed`, `step_ns`, `clock` (`logical`/`real`),
//!   `programs` (the per-program switch list: built-in defaults then the config's), and
//!   `environment` (every variable detbuild sets for the build, `LD_PRELOAD` included);
//! - `host`: architecture, CPU count, host name, kernel release (for the reader: they do not
//!   change the bytes under detbuild, which fakes none of them yet);
//! - `command`, `src` (the tree's path), `exclude`, `artifact_globs`;
//! - `programs`: every program the audit saw run, with the Debian package and version that
//!   own it where `dpkg` can tell (one `dpkg -S` and one `dpkg-query` call in all);
//! - `artifacts`: relative path → `size`, `sha256`.
//!
//! The file is written to a temporary file beside FILE and renamed, so it is complete or
//! absent. `check --against FILE` rebuilds with the recorded epoch, seed and step (the
//! tree's own `detbuild.toml` gives the switches), compares the artifacts with the recorded
//! hashes, and exits 0 (identical), 1 (naming the differing files) or 2 (trouble).

use crate::check::{self, CheckArgs, Seen, Settled};
use crate::error::Error;
use crate::fail;
use crate::tree::{self, Excludes};
use clap::Args;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The manifest's format tag.
pub const FORMAT: &str = "detbuild-record/1";

/// `detbuild record` flags.
#[derive(Args, Debug)]
pub struct RecordArgs {
    /// Where to write the manifest (JSON).
    pub file: PathBuf,
    /// Source tree and artifacts.
    #[command(flatten)]
    pub tree: check::TreeArgs,
    /// The build command, after `--`.
    #[arg(last = true, value_name = "COMMAND", num_args = 1..)]
    pub command: Vec<OsString>,
}

pub fn base_dir(prefix: &str) -> Result<PathBuf, Error> {
    Ok(tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .map_err(|e| fail!("cannot create a temporary directory: {e}"))?
        .keep())
}

/// Runs the one build, or reports its failure (exit 2) with the log's tail.
fn one_build(
    base: &Path,
    src: &Path,
    excludes: &Excludes,
    command: &[OsString],
    flags: Vec<OsString>,
    globs: &[glob::Pattern],
) -> Result<Result<check::Built, u8>, Error> {
    let entries = tree::walk(src, Some(excludes))?;
    let settled = Settled::Shim(flags);
    match check::build(0, 1, base, src, &entries, command, &settled, globs)? {
        Ok(built) => Ok(Ok(built)),
        Err((log, why)) => {
            eprintln!("detbuild: {why}; last lines of {}:", log.display());
            eprintln!("{}", check::tail(&log, 15));
            Ok(Err(2))
        }
    }
}

/// `detbuild record`: the exit status.
pub fn main(args: &RecordArgs, opts: &crate::cli::Opts) -> Result<u8, Error> {
    let usage = "detbuild record FILE [OPTIONS] -- COMMAND [ARGS...]";
    let (src, globs) = check::validate(
        &args.command,
        args.tree.src.as_deref(),
        &args.tree.artifact,
        usage,
    )?;
    let (plan, source) = crate::run::settle_full(opts)?;
    let excludes = Excludes::new(&src, &args.tree.exclude)?;
    let flags = check::pinned(opts, plan.epoch, &plan.seed)?;
    let base = base_dir("detbuild-record-")?;
    let built = match one_build(&base, &src, &excludes, &args.command, flags, &globs)? {
        Ok(built) => built,
        Err(code) => return Ok(code),
    };
    let env = crate::plan::child_env(&plan, std::env::var_os("LD_PRELOAD").as_ref());
    let shim_hash = tree::hash(&plan.shim)?.map(|(_, h)| h);
    let artifacts: serde_json::Map<String, Value> = built
        .artifacts
        .iter()
        .filter_map(|(p, seen)| {
            let (size, hash) = seen.as_ref()?;
            Some((
                p.to_string_lossy().into_owned(),
                json!({"size": size, "sha256": hash}),
            ))
        })
        .collect();
    // Programs built inside the copy are named relative to the tree (`./out/tool`).
    let copy = format!("{}/", built.dir.display());
    let exes: BTreeSet<String> = built
        .audit
        .iter()
        .map(|p| match p.exe.strip_prefix(&copy) {
            Some(rel) => format!("./{rel}"),
            None => p.exe.clone(),
        })
        .collect();
    let doc = json!({
        "format": FORMAT,
        "detbuild": {
            "version": env!("CARGO_PKG_VERSION"),
            "shim": plan.shim.to_string_lossy(),
            "shim_sha256": shim_hash,
        },
        "settings": {
            "epoch": plan.epoch,
            "epoch_source": source.to_string(),
            "seed": plan.seed,
            "step_ns": plan.step_ns,
            "clock": if plan.fake_clock { "logical" } else { "real" },
            "programs": plan.programs,
            "environment": env.iter().map(|(n, v)| (n.to_string(), json!(v.to_string_lossy()))).collect::<serde_json::Map<_, _>>(),
        },
        "host": host(),
        "command": args.command.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>(),
        "src": src.to_string_lossy(),
        "exclude": args.tree.exclude,
        "artifact_globs": args.tree.artifact,
        "programs": packages(&exes),
        "artifacts": artifacts,
    });
    write_atomically(
        &args.file,
        &serde_json::to_string_pretty(&doc).unwrap_or_default(),
    )?;
    let _ = std::fs::remove_dir_all(&base);
    eprintln!(
        "detbuild: recorded {} artifacts and {} programs of `{}` in {}",
        artifacts.len(),
        exes.len(),
        args.command
            .iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" "),
        args.file.display()
    );
    Ok(0)
}

fn write_atomically(file: &Path, text: &str) -> Result<(), Error> {
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .map_err(|e| fail!("cannot write {}: {e}; give a writable path", file.display()))?;
    tmp.write_all(text.as_bytes())
        .and_then(|_| tmp.write_all(b"\n"))
        .map_err(|e| fail!("cannot write {}: {e}", file.display()))?;
    tmp.persist(file)
        .map_err(|e| fail!("cannot write {}: {e}", file.display()))?;
    Ok(())
}

fn host() -> Value {
    let text = |p: &str| {
        std::fs::read_to_string(p)
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    json!({
        "arch": std::env::consts::ARCH,
        "cpus": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "hostname": text("/proc/sys/kernel/hostname"),
        "kernel": text("/proc/sys/kernel/osrelease"),
    })
}

/// Each program with its Debian package and version, where dpkg knows them (merged-/usr
/// systems register `/bin/x` for `/usr/bin/x`, so both spellings are asked).
fn packages(exes: &BTreeSet<String>) -> Vec<Value> {
    let alias = |e: &str| e.strip_prefix("/usr").map(String::from);
    let mut ask: Vec<String> = exes.iter().cloned().collect();
    ask.extend(exes.iter().filter_map(|e| alias(e)));
    let mut owner: BTreeMap<String, String> = BTreeMap::new();
    if let Ok(out) = Command::new("dpkg").arg("-S").args(&ask).output() {
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some((pkg, path)) = line.split_once(": ") {
                let pkg = pkg.split(',').next().unwrap_or(pkg).trim().to_string();
                owner.insert(path.trim().to_string(), pkg);
            }
        }
    }
    let pkgs: BTreeSet<&String> = owner.values().collect();
    let mut version: BTreeMap<String, String> = BTreeMap::new();
    if !pkgs.is_empty() {
        if let Ok(out) = Command::new("dpkg-query")
            .args(["-W", "-f=${binary:Package} ${Version}\\n"])
            .args(pkgs.iter().map(|p| p.as_str()))
            .output()
        {
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                if let Some((p, v)) = line.split_once(' ') {
                    version.insert(p.to_string(), v.to_string());
                }
            }
        }
    }
    exes.iter()
        .map(|e| {
            let pkg = owner
                .get(e)
                .or_else(|| alias(e).and_then(|a| owner.get(&a)));
            let ver = pkg.and_then(|p| version.get(p));
            json!({"path": e, "package": pkg, "version": ver})
        })
        .collect()
}

/// The recorded artifacts and rebuild flags of a manifest.
fn load(file: &Path) -> Result<(Value, BTreeMap<PathBuf, Seen>), Error> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        fail!(
            "--against {}: {e}; give a manifest written by detbuild record",
            file.display()
        )
    })?;
    let doc: Value = serde_json::from_str(&text)
        .map_err(|e| fail!("--against {}: not JSON: {e}", file.display()))?;
    if doc["format"] != FORMAT {
        return Err(fail!(
            "--against {}: not a {FORMAT} manifest (written by detbuild record)",
            file.display()
        ));
    }
    let mut artifacts = BTreeMap::new();
    for (path, a) in doc["artifacts"].as_object().into_iter().flatten() {
        let (Some(size), Some(hash)) = (a["size"].as_u64(), a["sha256"].as_str()) else {
            return Err(fail!(
                "--against {}: artifact {path} lacks size or sha256",
                file.display()
            ));
        };
        artifacts.insert(PathBuf::from(path), Some((size, hash.to_string())));
    }
    Ok((doc, artifacts))
}

/// `detbuild check --against FILE`: the exit status.
pub fn check_against(
    file: &Path,
    args: &CheckArgs,
    src: &Path,
    globs: &[glob::Pattern],
) -> Result<u8, Error> {
    let (doc, recorded) = load(file)?;
    let s = &doc["settings"];
    let (Some(epoch), Some(seed), Some(step)) = (
        s["epoch"].as_i64(),
        s["seed"].as_str(),
        s["step_ns"].as_u64(),
    ) else {
        return Err(fail!(
            "--against {}: settings lack epoch, seed or step_ns",
            file.display()
        ));
    };
    let globs: Vec<glob::Pattern> = if globs.is_empty() {
        doc["artifact_globs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|g| glob::Pattern::new(g.as_str()?).ok())
            .collect()
    } else {
        globs.to_vec()
    };
    let mut exclude = args.tree.exclude.clone();
    exclude.extend(
        doc["exclude"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|g| g.as_str().map(String::from)),
    );
    let excludes = Excludes::new(src, &exclude)?;
    let flags: Vec<OsString> = vec![
        "--epoch".into(),
        epoch.to_string().into(),
        "--seed".into(),
        seed.into(),
        "--step".into(),
        format!("{step}ns").into(),
    ];
    let base = base_dir("detbuild-check-")?;
    let built = match one_build(&base, src, &excludes, &args.command, flags, &globs)? {
        Ok(built) => built,
        Err(code) => return Ok(code),
    };
    let columns = vec![
        ("recorded".to_string(), recorded),
        ("rebuilt".to_string(), built.artifacts.clone()),
    ];
    let code = crate::compare::report(
        &columns,
        &[],
        ("the rebuild", &built.audit),
        args,
        &args.command,
    )?;
    if code == 0 && !args.keep {
        let _ = std::fs::remove_dir_all(&base);
    } else {
        eprintln!("detbuild check: the rebuild is kept in {}", base.display());
    }
    Ok(code)
}
