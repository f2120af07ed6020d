//! `detbuild normalize` and `--normalize`: archives made by real tools at two different times
//! (and umasks, and owners) differ natively, and are byte-identical once normalized, with the
//! same contents when extracted. Damaged archives and other files are left as they were.

use crate::common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The two "builds": a file time after the epoch and a umask each.
const BUILDS: [(i64, &str); 2] = [(1_700_001_000, "022"), (1_702_600_000, "002")];

/// Runs `script` with `sh` in two fresh directories, as two builds at different times, and
/// returns the path of `artifact` in each.
fn build_twice(name: &str, script: &str, artifact: &str) -> [PathBuf; 2] {
    BUILDS.map(|(time, umask)| {
        let dir = tempdir(name);
        let mut cmd = native(&["sh", "-c", &format!("umask {umask}; set -e; {script}")]);
        cmd.current_dir(&dir).env("T", time.to_string());
        run(&mut cmd).ok();
        dir.join(artifact)
    })
}

/// A small tree whose files all carry the time `$T`.
const TREE: &str = "mkdir -p tree/sub; echo hello > tree/a.txt; seq 1 3000 > tree/sub/nums; \
    printf '#!/bin/sh\\necho hi\\n' > tree/sub/run.sh; chmod +x tree/sub/run.sh; \
    touch -d @$T tree tree/sub tree/a.txt tree/sub/nums tree/sub/run.sh";

fn normalize_cmd(flags: &[&str], paths: &[&Path]) -> Command {
    let mut cmd = command(detbuild_bin());
    cmd.args(["normalize", "--epoch", EPOCH])
        .args(flags)
        .args(paths);
    cmd
}

/// Every file under `dir` (relative path → contents; directories map to nothing).
fn tree(dir: &Path) -> BTreeMap<String, Option<Vec<u8>>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Option<Vec<u8>>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            if path.is_dir() {
                out.insert(rel, None);
                walk(root, &path, out);
            } else {
                out.insert(rel, Some(std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Extracts `archive` with `argv` (the archive path appended) into a fresh directory.
fn extract(argv: &[&str], archive: &Path) -> BTreeMap<String, Option<Vec<u8>>> {
    let dir = tempdir("extract");
    let mut cmd = native(argv);
    cmd.arg(archive).current_dir(&dir);
    run(&mut cmd).ok();
    tree(&dir)
}

/// The round trip: the two raw archives differ; normalized they are identical, their
/// extracted contents equal the raw ones', and a second normalize changes nothing.
#[track_caller]
fn assert_round_trip(format: &str, flags: &[&str], [a, b]: &[PathBuf; 2], unpack: &[&str]) {
    let raw = [std::fs::read(a).unwrap(), std::fs::read(b).unwrap()];
    assert_ne!(
        raw[0], raw[1],
        "native {format} archives are identical: nothing to prove"
    );
    let saved = a.with_extension("raw");
    std::fs::write(&saved, &raw[0]).unwrap();
    let report = run(&mut normalize_cmd(flags, &[a, b])).ok();
    for path in [a, b] {
        let line = format!("normalized {} ({format} by detbuild", path.display());
        assert!(report.contains(&line), "no {line:?} in:\n{report}");
    }
    let done = std::fs::read(a).unwrap();
    assert!(
        done == std::fs::read(b).unwrap(),
        "{format}: normalized archives differ"
    );
    assert_eq!(
        extract(unpack, a),
        extract(unpack, &saved),
        "{format}: contents changed"
    );
    let again = run(&mut normalize_cmd(flags, &[a])).ok();
    assert!(again.contains("unchanged"), "{again}");
    assert!(
        std::fs::read(a).unwrap() == done,
        "{format}: a second normalize changed it"
    );
}

// Promise: gzip files of one input compressed at two times normalize to identical bytes
// (mtime clamped, name dropped) and decompress to the same data.
#[test]
fn normalize_makes_gzip_files_identical() {
    if !have_tools(&["gzip"], "gzip") {
        return;
    }
    let paths = build_twice(
        "norm-gz",
        &format!("{TREE}; gzip -9 tree/sub/nums"),
        "tree/sub/nums.gz",
    );
    assert_round_trip("gzip", &[], &paths, &["sh", "-c", "gzip -dc \"$0\" > out"]);
}

// Promise: `tar czf` archives of one tree made at two times, umasks and owners normalize to
// identical bytes (`--mode canonical`) and extract to the same tree.
#[test]
fn normalize_makes_tar_gz_identical() {
    if !have_tools(&["tar", "gzip"], "tar gzip") {
        return;
    }
    let script = format!(
        "{TREE}; if [ $T -gt 1702000000 ]; then o='--owner=builder:1234 --group=staff:999'; fi; \
         tar $o --format=posix -czf out.tar.gz tree"
    );
    let paths = build_twice("norm-tgz", &script, "out.tar.gz");
    assert_round_trip("tar.gz", &["--mode", "canonical"], &paths, &["tar", "xzf"]);
}

// Promise: zip archives of one tree made at two times and umasks normalize to identical bytes
// (`--mode canonical`) and extract to the same tree.
#[test]
fn normalize_makes_zip_identical() {
    if !have_tools(&["zip", "unzip"], "zip unzip") {
        return;
    }
    let paths = build_twice(
        "norm-zip",
        &format!("{TREE}; zip -qr out.zip tree"),
        "out.zip",
    );
    assert_round_trip("zip", &["--mode", "canonical"], &paths, &["unzip", "-q"]);
}

// Promise: jars made by the JDK's `jar` at two times normalize to identical bytes and extract
// to the same tree.
#[test]
fn normalize_makes_jar_identical() {
    if !have_tools(&["jar", "unzip"], "default-jdk-headless unzip") {
        return;
    }
    let paths = build_twice(
        "norm-jar",
        &format!("{TREE}; jar cf out.jar tree"),
        "out.jar",
    );
    assert_round_trip("zip", &[], &paths, &["unzip", "-q"]);
}

// Promise: static libraries made by `ar` in its non-deterministic mode at two times normalize
// to identical bytes (as `ar D` with clamped dates) and extract to the same members.
#[test]
fn normalize_makes_ar_identical() {
    if !have_tools(&["ar"], "binutils") {
        return;
    }
    let script = format!("{TREE}; ar rcU out.a tree/a.txt tree/sub/nums tree/sub/run.sh");
    let paths = build_twice("norm-ar", &script, "out.a");
    assert_round_trip("ar", &[], &paths, &["ar", "x"]);
}

// Promise: a truncated archive of any format is an error (exit 2, one line naming the file)
// and the file stays byte-for-byte and time-for-time as it was, with no temporary left.
#[test]
fn a_truncated_archive_is_rejected_and_left_untouched() {
    if !have_tools(&["tar", "gzip", "zip", "ar"], "tar gzip zip binutils") {
        return;
    }
    let script = format!(
        "{TREE}; tar cf t.tar tree; tar czf t.tar.gz tree; gzip -k tree/sub/nums; \
         mv tree/sub/nums.gz n.gz; zip -qr z.zip tree; ar rcU l.a tree/a.txt tree/sub/nums"
    );
    let [dir, _] = build_twice("norm-cut", &script, "");
    for name in ["t.tar", "t.tar.gz", "n.gz", "z.zip", "l.a"] {
        let path = dir.join(name);
        let whole = std::fs::read(&path).unwrap();
        std::fs::write(&path, &whole[..whole.len() * 2 / 3]).unwrap();
        let before = (
            std::fs::read(&path).unwrap(),
            path.metadata().unwrap().modified().unwrap(),
        );
        let out = run(&mut normalize_cmd(&[], &[&path]));
        assert_eq!(out.code(), 2, "{name}\n{}", out.describe());
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.describe());
        assert!(
            out.stderr.contains(&path.display().to_string()),
            "{}",
            out.describe()
        );
        assert!(
            out.stderr.contains("truncated") || out.stderr.contains("damaged"),
            "{}",
            out.describe()
        );
        let after = (
            std::fs::read(&path).unwrap(),
            path.metadata().unwrap().modified().unwrap(),
        );
        assert!(before == after, "{name} was modified");
    }
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".detbuild"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

// Promise: files that are not archives (text, an ELF program) are reported as skipped and not
// touched, and the exit status is 0.
#[test]
fn a_file_that_is_not_an_archive_is_left_untouched() {
    let dir = tempdir("norm-plain");
    let text = dir.join("notes.tar.gz");
    std::fs::write(&text, "not really an archive\n").unwrap();
    let elf = dir.join("true");
    std::fs::copy("/bin/true", &elf).unwrap();
    let before: Vec<_> = [&text, &elf]
        .iter()
        .map(|p| {
            (
                std::fs::read(p).unwrap(),
                p.metadata().unwrap().modified().unwrap(),
            )
        })
        .collect();
    let out = run(&mut normalize_cmd(&[], &[&text, &elf])).ok();
    for p in [&text, &elf] {
        let line = format!("skipped {} (not an archive)", p.display());
        assert!(out.contains(&line), "no {line:?} in:\n{out}");
    }
    let after: Vec<_> = [&text, &elf]
        .iter()
        .map(|p| {
            (
                std::fs::read(p).unwrap(),
                p.metadata().unwrap().modified().unwrap(),
            )
        })
        .collect();
    assert!(before == after, "a non-archive was modified");
}

/// A build that creates a tree and tars it: the files get the kernel's real times.
const TAR_BUILD: &str = "rm -rf tree out; mkdir -p tree/sub out; echo hello > tree/a; \
    date > tree/sub/when; seq 1 500 > tree/sub/nums; tar czf out/t.tar.gz tree";

fn tarball_under_detbuild(dir: &Path, normalize: bool) -> Vec<u8> {
    // File times have whole seconds in tar: make sure each build starts in a new second.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let flags: &[&str] = if normalize {
        &["--epoch", EPOCH, "--normalize", "out/*.tar.gz"]
    } else {
        &["--epoch", EPOCH]
    };
    let mut cmd = det(flags, &["sh", "-c", TAR_BUILD]);
    cmd.current_dir(dir);
    let out = run(&mut cmd);
    let stderr = out.stderr.clone();
    out.ok();
    if normalize {
        let line = "normalized out/t.tar.gz (tar.gz by detbuild";
        assert!(stderr.contains(line), "no {line:?} in:\n{stderr}");
    }
    std::fs::read(dir.join("out/t.tar.gz")).unwrap()
}

// Promise: `detbuild --normalize GLOB -- CMD` with a real `tar czf` of a tree the build creates
// gives identical tarballs in two runs; without it the kernel's file times make them differ.
// tar's in-flight clamping is turned off here (it stands for an archiver detbuild does not
// clamp), so the normalizing step is what makes them equal.
#[test]
fn normalize_after_the_build_makes_tar_czf_identical() {
    if !have_tools(&["tar", "gzip"], "tar gzip") {
        return;
    }
    let dir = tempdir("norm-after");
    std::fs::write(
        dir.join("detbuild.toml"),
        "[programs.tar]\nmtime = \"real\"\n",
    )
    .unwrap();
    let plain = [false, false].map(|n| tarball_under_detbuild(&dir, n));
    assert_ne!(
        plain[0], plain[1],
        "file times did not differ: nothing to prove"
    );
    let fixed = [true, true].map(|n| tarball_under_detbuild(&dir, n));
    assert!(
        fixed[0] == fixed[1],
        "--normalize left the tarballs different"
    );
}

// Promise: `--normalize` with a pattern that matches nothing is an error (exit 2, one line);
// a failing command keeps its own status and nothing is normalized.
#[test]
fn normalize_after_the_build_reports_empty_patterns_and_skips_failed_builds() {
    let dir = tempdir("norm-glob");
    let mut cmd = det(&["--epoch", EPOCH, "--normalize", "dist/*.zip"], &["true"]);
    cmd.current_dir(&dir);
    let out = run(&mut cmd);
    assert_eq!(out.code(), 2, "{}", out.describe());
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.describe());
    assert!(out.stderr.contains("dist/*.zip"), "{}", out.describe());
    let mut cmd = det(
        &["--epoch", EPOCH, "--normalize", "dist/*.zip"],
        &["sh", "-c", "exit 3"],
    );
    cmd.current_dir(&dir);
    let out = run(&mut cmd);
    assert_eq!(out.code(), 3, "{}", out.describe());
    assert!(out.stderr.is_empty(), "{}", out.describe());
}
