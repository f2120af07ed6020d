//! File times and owners seen by archivers: clamped to the epoch in flight.

use crate::common::*;
use std::path::{Path, PathBuf};

/// Every entry point of the stat family the shim hooks, as the stat probe names them.
pub(crate) const ENTRY_POINTS: &[&str] = &[
    "stat",
    "lstat",
    "fstat",
    "fstatat",
    "fstatat_empty",
    "stat64",
    "lstat64",
    "fstat64",
    "fstatat64",
    "statx",
    "__xstat",
    "__lxstat",
    "__fxstat",
    "__fxstatat",
    "__xstat64",
    "__lxstat64",
    "__fxstat64",
    "__fxstatat64",
];

/// A directory holding the stat probe under the name `as_name` and a file `f` written now.
fn setup(as_name: &str) -> (PathBuf, String) {
    let dir = tempdir(&format!("filetimes-{as_name}"));
    let copy = dir.join(as_name);
    std::fs::copy(probe("stat"), &copy).unwrap();
    std::fs::write(dir.join("f"), "made during the build\n").unwrap();
    (dir, copy.to_str().unwrap().to_string())
}

/// `det` (or native) run of `argv` in `dir`.
fn in_dir(mut cmd: std::process::Command, dir: &Path) -> std::process::Command {
    cmd.current_dir(dir);
    cmd
}

/// The whole seconds of `name=S.N` in the probe's output.
fn secs(out: &str, name: &str) -> i64 {
    let v = out
        .split_whitespace()
        .find_map(|w| w.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no {name}= in {out}"));
    v.split('.').next().unwrap().parse().unwrap()
}

// Promise: for an archiver (here the probe named `tar`), every entry point of the stat family
// reports atime, mtime and ctime (and statx's birth time) of a file made after the epoch as
// exactly the epoch; natively they are the real, later times, and another epoch gives
// another value.
#[test]
fn archivers_see_new_file_times_clamped_to_the_epoch() {
    let (dir, tar) = setup("tar");
    for f in ENTRY_POINTS {
        let natively = run(&mut in_dir(native(&[&tar, f, "f"]), &dir)).ok();
        assert!(
            secs(&natively, "mtime") > EPOCH.parse().unwrap(),
            "{f}: natively the file is newer than the epoch: {natively}"
        );
        let out = run(&mut in_dir(det(&["--epoch", EPOCH], &[&tar, f, "f"]), &dir)).ok();
        let mut want =
            format!("atime={EPOCH}.000000000 mtime={EPOCH}.000000000 ctime={EPOCH}.000000000");
        assert!(out.starts_with(&want), "{f}: {out}");
        if *f == "statx" && out.contains("btime=") {
            assert!(
                out.contains(&format!("btime={EPOCH}.000000000")),
                "{f}: {out}"
            );
        }
        let other = run(&mut in_dir(det(OTHER_EPOCH, &[&tar, f, "f"]), &dir)).ok();
        want = format!("mtime={}.000000000", OTHER_EPOCH[1]);
        assert!(other.contains(&want), "{f} with {OTHER_EPOCH:?}: {other}");
    }
}

// Promise: clamping only lowers times: a file older than the epoch keeps its exact time.
#[test]
fn older_file_times_are_kept() {
    let (dir, tar) = setup("tar");
    let old = dir.join("f");
    let t = std::time::UNIX_EPOCH + std::time::Duration::new(1_600_000_000, 123_456_789);
    let f = std::fs::File::options().write(true).open(&old).unwrap();
    f.set_times(std::fs::FileTimes::new().set_modified(t).set_accessed(t))
        .unwrap();
    let out = run(&mut in_dir(
        det(&["--epoch", EPOCH], &[&tar, "stat", "f"]),
        &dir,
    ))
    .ok();
    assert!(
        out.contains("atime=1600000000.123456789 mtime=1600000000.123456789"),
        "{out}"
    );
    assert_eq!(secs(&out, "ctime"), EPOCH.parse::<i64>().unwrap(), "{out}");
}

// Promise: programs that are not archivers (compilers, make, the probe under its own name)
// see real file times under detbuild, so nothing that compares times is misled.
#[test]
fn other_programs_see_real_file_times() {
    let (dir, other) = setup("cc1");
    for f in ["stat", "fstat", "statx", "__xstat"] {
        let natively = run(&mut in_dir(native(&[&other, f, "f"]), &dir)).ok();
        let out = run(&mut in_dir(
            det(&["--epoch", EPOCH], &[&other, f, "f"]),
            &dir,
        ))
        .ok();
        assert_eq!(out, natively, "{f}");
        assert!(secs(&out, "mtime") > EPOCH.parse().unwrap(), "{f}: {out}");
    }
}

// Promise: nftw and ftw, which the shim walks itself, hand their callback the times the
// program's stat hooks report: clamped for an archiver (the walk probe named `tar`), real
// natively.
#[test]
fn nftw_callbacks_see_clamped_times() {
    let (dir, _) = setup("stat");
    let tar = dir.join("tar");
    std::fs::copy(probe("ftw"), &tar).unwrap();
    std::fs::create_dir(dir.join("tree")).unwrap();
    std::fs::write(dir.join("tree/f"), "made during the build\n").unwrap();
    let times = |mut cmd: std::process::Command| -> Vec<i64> {
        cmd.current_dir(&dir).env("FTW_MTIME", "1");
        let out = run(&mut cmd).ok();
        out.split_whitespace()
            .filter_map(|w| w.strip_prefix("mtime="))
            .map(|v| v.parse().unwrap())
            .collect()
    };
    let tar = tar.to_str().unwrap();
    let epoch: i64 = EPOCH.parse().unwrap();
    let natively = times(native(&[tar, "tree"]));
    assert!(
        !natively.is_empty() && natively.iter().all(|&t| t > epoch),
        "natively the walk reports the real, later times: {natively:?}"
    );
    let fixed = times(det(&["--epoch", EPOCH], &[tar, "tree"]));
    assert_eq!(fixed.len(), natively.len());
    assert!(fixed.iter().all(|&t| t == epoch), "{fixed:?}");
}

// Promise: `[programs.NAME] mtime = "real"` turns clamping off for a default archiver and
// `mtime = "fake"` turns it on for any program.
#[test]
fn the_mtime_switch_chooses_per_program() {
    let (dir, tar) = setup("tar");
    std::fs::copy(&tar, dir.join("mytool")).unwrap();
    std::fs::write(
        dir.join("detbuild.toml"),
        "[programs.tar]\nmtime = \"real\"\n[programs.mytool]\nmtime = \"fake\"\n",
    )
    .unwrap();
    let out = run(&mut in_dir(
        det(&["--epoch", EPOCH], &[&tar, "stat", "f"]),
        &dir,
    ))
    .ok();
    assert!(secs(&out, "mtime") > EPOCH.parse().unwrap(), "{out}");
    let out = run(&mut in_dir(
        det(&["--epoch", EPOCH], &["./mytool", "stat", "f"]),
        &dir,
    ))
    .ok();
    assert_eq!(secs(&out, "mtime"), EPOCH.parse::<i64>().unwrap(), "{out}");
}

// Promise: `[programs.NAME] owner = "fake"` makes the stat family report uid and gid 0 for
// that program (archivers then write root/root); without it owners are real.
#[test]
fn the_owner_switch_reports_root() {
    let (dir, tar) = setup("tar");
    let f = dir.join("f");
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        std::os::unix::fs::chown(&f, Some(4321), Some(4321)).unwrap();
    }
    let natively = run(&mut in_dir(native(&[&tar, "statx", "f"]), &dir)).ok();
    assert!(!natively.contains("uid=0 gid=0"), "{natively}");
    let out = run(&mut in_dir(
        det(&["--epoch", EPOCH], &[&tar, "statx", "f"]),
        &dir,
    ))
    .ok();
    assert!(
        !out.contains("uid=0 gid=0"),
        "owners are real by default: {out}"
    );
    std::fs::write(
        dir.join("detbuild.toml"),
        "[programs.tar]\nowner = \"fake\"\n",
    )
    .unwrap();
    for f in ENTRY_POINTS {
        let out = run(&mut in_dir(det(&["--epoch", EPOCH], &[&tar, f, "f"]), &dir)).ok();
        assert!(out.contains("uid=0 gid=0"), "{f}: {out}");
        assert_eq!(
            secs(&out, "mtime"),
            EPOCH.parse::<i64>().unwrap(),
            "{f}: {out}"
        );
    }
}

/// A shell script that makes a small tree (the files get the kernel's current time) and
/// archives it with `tar czf`.
const TAR_BUILD: &str = "mkdir -p tree/sub && echo one > tree/a && echo two > tree/sub/b \
                         && ln -s a tree/link && tar czf out.tar.gz tree";

/// Runs [`TAR_BUILD`] in a fresh directory (`det` or native) and returns the archive.
fn tar_build(under_detbuild: bool) -> Vec<u8> {
    let dir = tempdir("tar-build");
    let argv = ["sh", "-c", TAR_BUILD];
    let cmd = if under_detbuild {
        det(&["--epoch", EPOCH], &argv)
    } else {
        native(&argv)
    };
    run(&mut in_dir(cmd, &dir)).ok();
    std::fs::read(dir.join("out.tar.gz")).unwrap()
}

// Promise: `tar czf` of a tree the build just made is byte-identical across builds under
// detbuild, with no normalizing step (tar's member times are clamped, gzip's header time
// comes from the faked clock); natively two builds a second apart differ.
#[test]
fn tar_czf_of_a_fresh_tree_is_identical() {
    if !have_tools(&["tar", "gzip"], "tar gzip") {
        return;
    }
    let a = tar_build(false);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let b = tar_build(false);
    assert_ne!(a, b, "natively the archives should differ (member times)");
    let a = tar_build(true);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let b = tar_build(true);
    assert!(a == b, "under detbuild the archives differ");
}

// Promise: make is never clamped: under detbuild it still rebuilds a target whose source
// changed (here an archive made by the clamped tar), and finds it up to date otherwise.
#[test]
fn make_rebuilds_when_a_source_changes() {
    if !have_tools(&["make", "tar"], "make tar") {
        return;
    }
    let dir = tempdir("make-rebuild");
    std::fs::write(
        dir.join("Makefile"),
        "out.tar: src.txt\n\ttar cf $@ src.txt\n\necho.txt: out.tar\n\ttar xOf out.tar > $@\n",
    )
    .unwrap();
    std::fs::write(dir.join("src.txt"), "first\n").unwrap();
    let make = |args: &[&str]| {
        let mut argv = vec!["make", "--no-print-directory"];
        argv.extend_from_slice(args);
        run(&mut in_dir(det(&["--epoch", EPOCH], &argv), &dir))
    };
    make(&["echo.txt"]).ok();
    assert_eq!(
        std::fs::read_to_string(dir.join("echo.txt")).unwrap(),
        "first\n"
    );
    let again = make(&["-q", "echo.txt"]);
    assert_eq!(
        again.code(),
        0,
        "up to date after a build\n{}",
        again.describe()
    );
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(dir.join("src.txt"), "second\n").unwrap();
    let stale = make(&["-q", "echo.txt"]);
    assert_eq!(
        stale.code(),
        1,
        "a changed source is seen\n{}",
        stale.describe()
    );
    make(&["echo.txt"]).ok();
    assert_eq!(
        std::fs::read_to_string(dir.join("echo.txt")).unwrap(),
        "second\n"
    );
}

// Promise: with `[programs.tar] owner = "fake"`, a real tar records root/root for files that
// belong to someone else (it looks the names up with getpwuid(0)); by default it records the
// real owner.
#[test]
fn tar_records_root_when_owner_is_faked() {
    if !have_tools(&["tar"], "tar") {
        return;
    }
    let dir = tempdir("tar-owner");
    std::fs::write(dir.join("f"), "x\n").unwrap();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        std::os::unix::fs::chown(dir.join("f"), Some(4321), Some(4321)).unwrap();
    }
    let owners = |cmd: std::process::Command| {
        run(&mut in_dir(cmd, &dir)).ok();
        let listing = run(&mut in_dir(native(&["tar", "tvf", "f.tar"]), &dir)).ok();
        listing.split_whitespace().nth(1).unwrap().to_string()
    };
    let create = ["tar", "cf", "f.tar", "f"];
    assert_ne!(owners(native(&create)), "root/root");
    assert_ne!(owners(det(&["--epoch", EPOCH], &create)), "root/root");
    std::fs::write(
        dir.join("detbuild.toml"),
        "[programs.tar]\nowner = \"fake\"\n",
    )
    .unwrap();
    assert_eq!(owners(det(&["--epoch", EPOCH], &create)), "root/root");
}
