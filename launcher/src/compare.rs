//! Comparing artifacts across builds (for `check` and `check --against`) and printing the
//! result: a verdict line, the differing files with size and SHA-256 per build, the commands
//! that name each file and what they and their children read (`crate::blame`), the programs
//! the audit shows reading the clock or randomness, and diffoscope's report when installed.
//! Returns 0 when every artifact matches, 1 otherwise; no artifact at all is an error.

use crate::blame::{self, Suspect};
use crate::check::{CheckArgs, Seen};
use crate::error::Error;
use crate::fail;
use crate::report::Proc;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

fn suspect_json(s: &Suspect) -> serde_json::Value {
    json!({"exe": s.exe, "wall_reads": s.wall, "random_bytes": s.bytes, "kernel_random": s.real})
}

fn seen_text(seen: &Seen) -> String {
    match seen {
        Some((size, hash)) => format!("{size} bytes  sha256:{hash}"),
        None => "absent".into(),
    }
}

fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

fn diffoscope(a: &Path, b: &Path) {
    match Command::new("diffoscope")
        .arg("--text")
        .arg("-")
        .arg(a)
        .arg(b)
        .output()
    {
        Ok(out) => print!("{}", String::from_utf8_lossy(&out.stdout)),
        Err(e) => eprintln!("detbuild check: diffoscope failed: {e}"),
    }
}

/// Compares `columns` (a label and the artifacts of each build; the first is the reference)
/// and prints the result; `dirs` are the builds' trees, for diffoscope.
pub fn report(
    columns: &[(String, BTreeMap<PathBuf, Seen>)],
    dirs: &[PathBuf],
    (audit_of, audit): (&str, &[Proc]),
    args: &CheckArgs,
    command: &[OsString],
) -> Result<u8, Error> {
    let paths: BTreeSet<&PathBuf> = columns.iter().flat_map(|(_, c)| c.keys()).collect();
    let cmd: Vec<String> = command
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if paths.is_empty() {
        return Err(fail!(
            "`{}` created or changed no files (or none matched --artifact); nothing to compare",
            cmd.join(" ")
        ));
    }
    let differing: Vec<(&PathBuf, Vec<&Seen>)> = paths
        .iter()
        .map(|p| {
            let seen: Vec<&Seen> = columns
                .iter()
                .map(|(_, c)| c.get(*p).unwrap_or(&None))
                .collect();
            (*p, seen)
        })
        .filter(|(_, seen)| seen.iter().any(|s| s != &seen[0]))
        .collect();
    let suspects = blame::suspects(audit);
    let labels: Vec<&str> = columns.iter().map(|(l, _)| l.as_str()).collect();
    if args.json {
        let doc = json!({
            "verdict": if differing.is_empty() { "identical" } else { "different" },
            "command": cmd,
            "builds": labels,
            "artifacts": paths.len(),
            "shim": !args.no_shim,
            "differing": differing.iter().map(|(p, seen)| {
                let (made_by, readers) = blame::behind(audit, &p.to_string_lossy());
                json!({
                    "path": p.to_string_lossy(),
                    "builds": seen.iter().map(|s| s.as_ref().map(|(size, h)| json!({"size": size, "sha256": h}))).collect::<Vec<_>>(),
                    "named_by": made_by,
                    "readers": readers.iter().map(suspect_json).collect::<Vec<_>>(),
                })
            }).collect::<Vec<_>>(),
            "programs": suspects.iter().map(suspect_json).collect::<Vec<_>>(),
        });
        println!("{doc}");
    } else {
        print_text(
            &paths,
            &differing,
            &labels,
            (audit_of, audit, &suspects),
            args,
            &cmd,
        );
    }
    if !args.json && !differing.is_empty() && dirs.len() >= 2 {
        if which("diffoscope").is_some() {
            let take = if args.diffoscope { differing.len() } else { 1 };
            for (p, _) in differing.iter().take(take) {
                println!("--- diffoscope {}:", p.display());
                diffoscope(&dirs[0].join(p), &dirs[1].join(p));
            }
        } else {
            println!("(install diffoscope to see what differs inside the files)");
        }
    }
    Ok(if differing.is_empty() { 0 } else { 1 })
}

fn print_text(
    paths: &BTreeSet<&PathBuf>,
    differing: &[(&PathBuf, Vec<&Seen>)],
    labels: &[&str],
    (audit_of, audit, suspects): (&str, &[Proc], &[Suspect]),
    args: &CheckArgs,
    cmd: &[String],
) {
    let how = if args.no_shim {
        "without detbuild"
    } else {
        "under detbuild"
    };
    if differing.is_empty() {
        println!(
            "reproducible: {} artifacts identical in {} ({how}) of `{}`",
            paths.len(),
            labels.join(", "),
            cmd.join(" ")
        );
        return;
    }
    println!(
        "NOT reproducible: {} of {} artifacts differ between {} ({how}) of `{}`",
        differing.len(),
        paths.len(),
        labels.join(", "),
        cmd.join(" ")
    );
    for (path, seen) in differing {
        println!("  {}", path.display());
        for (label, s) in labels.iter().zip(seen) {
            println!("    {label:<8} {}", seen_text(s));
        }
        let (made_by, readers) = blame::behind(audit, &path.to_string_lossy());
        for line in made_by {
            println!("    named by {line}");
        }
        for r in readers {
            println!("    reading  {}: {}", r.exe, r.what());
        }
    }
    if suspects.is_empty() {
        println!("no program of the build read the wall clock or randomness (audit)");
    } else {
        println!("programs that read the wall clock or randomness (audit of {audit_of}):");
        for s in suspects {
            println!("  {}: {}", s.exe, s.what());
        }
    }
}
