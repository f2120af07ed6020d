//! Directory order: every listing a program gets comes in byte-wise name order, whatever
//! order the names were created in and whatever the filesystem.
//!
//! Each promise builds the same tree twice, `a/tree` with the names created in one order and
//! `b/tree` in the reverse order, on two filesystems: tmpfs (`/dev/shm`), which lists in
//! creation order, so natively `a` and `b` list differently (the control); and the default
//! disk filesystem (the temporary directory: ext4 here), which lists in its own hash order,
//! the same for `a` and `b` but not sorted, so there the control is that the native listing
//! differs from the one under detbuild. Under detbuild `a` and `b` list identically.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Names created in this order in `a/tree`, reversed in `b/tree`; neither order is sorted.
const NAMES: &[&str] = &[
    "zeta", "alpha", "Mid", "beta", "_x", "10", "9", "UPPER", "lower", "x.c", "x.h", "x-1", "x_1",
    "0", "00", "-dash", "~tilde", "sub", "q", "K",
];
/// Names inside `tree/sub`, same scheme.
const SUB: &[&str] = &["m", "b", "Z", "a1", "a0", "é"];

fn make_tree(root: &Path, reverse: bool) {
    let tree = root.join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    let mut names: Vec<&str> = NAMES.to_vec();
    let mut sub: Vec<&str> = SUB.to_vec();
    if reverse {
        names.reverse();
        sub.reverse();
    }
    for n in names {
        if n == "sub" {
            std::fs::create_dir(tree.join(n)).unwrap();
            for s in &sub {
                std::fs::write(tree.join(n).join(s), s).unwrap();
            }
        } else {
            std::fs::write(tree.join(n), n).unwrap();
        }
    }
}

/// A fresh directory on tmpfs (`/dev/shm`, which every Linux container has).
fn tmpfs_dir(name: &str) -> PathBuf {
    let shm = Path::new("/dev/shm");
    assert!(
        shm.is_dir(),
        "/dev/shm is missing: these tests need a tmpfs there"
    );
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = shm.join(format!(
        "detbuild-tests-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `a` and `b` (each holding `tree`) on tmpfs and on the disk filesystem.
struct Fixture {
    tmpfs: (PathBuf, PathBuf),
    disk: (PathBuf, PathBuf),
    cleanup: PathBuf,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.cleanup);
    }
}

fn fixture(name: &str) -> Fixture {
    let shm = tmpfs_dir(name);
    let disk = tempdir(name);
    let pair = |base: &Path| {
        let (a, b) = (base.join("a"), base.join("b"));
        make_tree(&a, false);
        make_tree(&b, true);
        (a, b)
    };
    Fixture {
        tmpfs: pair(&shm),
        disk: pair(&disk),
        cleanup: shm,
    }
}

fn in_dir(mut cmd: std::process::Command, dir: &Path) -> String {
    cmd.current_dir(dir);
    run(&mut cmd).ok()
}

/// The promise for `argv` (run in `a` and in `b`, naming `tree`): the native control on each
/// filesystem, then the same stable output for `a` and `b` under detbuild. Returns it.
#[track_caller]
fn assert_ordered(argv: &[&str]) -> String {
    let f = fixture(argv[0].rsplit('/').next().unwrap());
    let (a, b) = &f.tmpfs;
    let (na, nb) = (in_dir(native(argv), a), in_dir(native(argv), b));
    assert_ne!(
        na, nb,
        "tmpfs control: {argv:?} listed a and b alike natively, so this proves nothing:\n{na}"
    );
    let det_run = |dir: &Path| in_dir(det(&["--epoch", EPOCH], argv), dir);
    let da = det_run(a);
    assert_eq!(
        da,
        det_run(a),
        "{argv:?}: changed between runs under detbuild"
    );
    assert_eq!(
        da,
        det_run(b),
        "{argv:?}: a and b (tmpfs) differ under detbuild"
    );
    let (a, b) = &f.disk;
    let (da2, db2) = (det_run(a), det_run(b));
    assert_eq!(da2, db2, "{argv:?}: a and b (disk) differ under detbuild");
    assert_eq!(da, da2, "{argv:?}: tmpfs and disk differ under detbuild");
    let na2 = in_dir(native(argv), a);
    assert_ne!(
        na2, da2,
        "disk control: {argv:?} natively already listed as under detbuild:\n{na2}"
    );
    da
}

/// The lines of `out` that are entries of `tree` itself (no `/` after `tree/`), stripped.
fn top_entries(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| l.trim().trim_start_matches("./").strip_prefix("tree/"))
        .map(|l| l.trim_end_matches('/'))
        .filter(|l| !l.is_empty() && !l.contains('/'))
        .map(String::from)
        .collect()
}

#[track_caller]
fn assert_bytewise(names: &[String]) {
    let mut sorted = names.to_vec();
    sorted.sort();
    assert_eq!(names, sorted, "not in byte-wise order");
    assert_eq!(names.len(), NAMES.len(), "{names:?}");
}

// Promise: `ls -U` (no sorting of its own) lists in byte-wise order.
#[test]
fn ls_unsorted_lists_in_byte_order() {
    let out = assert_ordered(&["ls", "-U", "tree"]);
    let names: Vec<String> = out.lines().map(String::from).collect();
    assert_bytewise(&names);
}

// Promise: `find` walks in byte-wise order at every level.
#[test]
fn find_walks_in_byte_order() {
    let out = assert_ordered(&["find", "tree"]);
    assert_bytewise(&top_entries(&out));
}

// Promise: `tar -c` records members in byte-wise order (listed with `tar -t`).
#[test]
fn tar_records_members_in_byte_order() {
    let out = assert_ordered(&["sh", "-c", "tar -cf - tree | tar -tf -"]);
    assert_bytewise(&top_entries(&out));
}

// Promise: a `cpio` archive fed by `find` holds its members in byte-wise order.
#[test]
fn cpio_fed_by_find_is_in_byte_order() {
    if !have("cpio", "cpio") {
        return;
    }
    let out = assert_ordered(&[
        "sh",
        "-c",
        "find tree | cpio -o -H newc 2>/dev/null | cpio -it 2>/dev/null",
    ]);
    assert_bytewise(&top_entries(&out));
}

// Promise: Python's os.listdir, os.scandir and os.walk list in byte-wise order.
#[test]
fn python_listings_are_in_byte_order() {
    let script = "import os\n\
                  print(os.listdir('tree'))\n\
                  print([e.name for e in os.scandir('tree')])\n\
                  for d, subdirs, files in os.walk('tree'): print(d, subdirs, files)";
    let out = assert_ordered(&["python3", "-c", script]);
    let first: Vec<String> = out.lines().next().unwrap()[1..]
        .trim_end_matches(']')
        .split(", ")
        .map(|n| n.trim_matches('\'').to_string())
        .collect();
    assert_bytewise(&first);
}

// Promise: Rust's std::fs::read_dir lists in byte-wise order.
#[test]
fn rust_read_dir_is_in_byte_order() {
    let probe = rust_probe("read_dir");
    let out = assert_ordered(&[probe.to_str().unwrap(), "tree"]);
    assert_bytewise(&top_entries(&out));
}

// Promise: `du -a` reports in byte-wise order.
#[test]
fn du_reports_in_byte_order() {
    let out = assert_ordered(&["sh", "-c", "du -a tree | cut -f2"]);
    assert_bytewise(&top_entries(&out));
}

// Promise: a tree copied with `cp -r` archives identically. (cp itself copies in inode
// order, gnulib's `savedir` sorts by `d_ino` for speed, which the shim leaves real: see
// README; so what is checked is the copy as later steps see it.)
#[test]
fn cp_recursive_copies_archive_identically() {
    let out = assert_ordered(&[
        "sh",
        "-c",
        "rm -rf copy; cp -r tree copy; tar -cf - copy | tar -tf -",
    ]);
    let names = out.replace("copy/", "tree/");
    assert_bytewise(&top_entries(&names));
}

// Promise: every C entry point that lists a directory gives byte-wise order: readdir,
// readdir64_r, telldir/seekdir/rewinddir on a snapshot, scandir with no comparison and with
// one that ties everything, glob with GLOB_NOSORT, fts without a comparison, and nftw.
#[test]
fn c_directory_functions_list_in_byte_order() {
    let probe = probe("dirs");
    let out = assert_ordered(&[probe.to_str().unwrap(), "all", "tree"]);
    let mut sorted: Vec<&str> = NAMES.to_vec();
    sorted.sort();
    let want = sorted.join(" ");
    for line in out.lines() {
        let (name, list) = line.split_once(": ").unwrap();
        match name {
            "seek" => {
                let mut all = sorted.clone();
                all.extend([".", ".."]);
                all.sort();
                let rest = all[3..].join(" ");
                assert_eq!(list, format!("{rest} | {} | {}", all[3], all[0]), "{line}");
            }
            "fts" | "nftw" => {
                let top: Vec<&str> = list.split(' ').filter(|n| NAMES.contains(n)).collect();
                assert_eq!(top.join(" "), want, "{line}");
            }
            _ => assert_eq!(list, want, "{name}"),
        }
    }
    assert_eq!(out.lines().count(), 8, "{out}");
}

// Promise: nftw and ftw under detbuild call back with exactly what glibc's walker reports
// (paths, type flags, base, level, working directory under FTW_CHDIR, FTW_SKIP_SUBTREE,
// EINVAL for unknown flags), only in byte-wise order.
#[test]
fn nftw_keeps_glibcs_semantics() {
    let dir = tmpfs_dir("nftw");
    let tree = dir.join("tree");
    for d in ["b", "skip", "e", "stop/deep"] {
        std::fs::create_dir_all(tree.join(d)).unwrap();
    }
    for f in ["zz", "a", "b/y", "b/x", "skip/z", "stop/deep/q"] {
        std::fs::write(tree.join(f), f).unwrap();
    }
    std::os::unix::fs::symlink("a", tree.join("c")).unwrap();
    std::os::unix::fs::symlink("nowhere", tree.join("dangling")).unwrap();
    let probe = probe("ftw");
    let p = probe.to_str().unwrap();
    for start in [
        "tree",
        "tree/",
        "./tree",
        dir.join("tree").to_str().unwrap(),
    ] {
        let nat = in_dir(native(&[p, start]), &dir);
        let fixed = in_dir(det(&["--epoch", EPOCH], &[p, start]), &dir);
        // FTW_STOP (flag set 17) ends the walk at `stop`: what comes before it depends on the
        // order, so only the other flag sets must report the same set of callbacks.
        let set = |out: &str| {
            let mut v: Vec<String> = out
                .lines()
                .filter(|l| !l.starts_with("17 "))
                .map(String::from)
                .collect();
            v.sort();
            v
        };
        assert_eq!(
            set(&nat),
            set(&fixed),
            "start {start}\nnative:\n{nat}\ndetbuild:\n{fixed}"
        );
        assert!(fixed.contains("17 returned 1\n"), "{fixed}");
        let walked: Vec<&str> = fixed
            .lines()
            .filter(|l| l.starts_with("1 ") && l.contains("level=1"))
            .map(|l| l.split(' ').nth(1).unwrap().rsplit('/').next().unwrap())
            .collect();
        assert_eq!(
            walked,
            ["a", "b", "c", "dangling", "e", "skip", "stop", "zz"],
            "{fixed}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

// Promise: with `[programs.ls] dirs = "real"` in detbuild.toml, ls sees the filesystem's
// order again (and other programs still see byte-wise order).
#[test]
fn dirs_switch_real_keeps_the_filesystem_order() {
    let f = fixture("dirs-real");
    let config = f.cleanup.join("detbuild.toml");
    std::fs::write(&config, "[programs.ls]\ndirs = \"real\"\n").unwrap();
    let cfg = config.to_str().unwrap();
    let (a, b) = &f.tmpfs;
    let run_in =
        |argv: &[&str], dir: &Path| in_dir(det(&["--epoch", EPOCH, "--config", cfg], argv), dir);
    assert_ne!(
        run_in(&["ls", "-U", "tree"], a),
        run_in(&["ls", "-U", "tree"], b)
    );
    assert_eq!(run_in(&["find", "tree"], a), run_in(&["find", "tree"], b));
}

// Promise: a directory of 100,000 entries lists in bounded time (the snapshot is sorted in
// O(n log n) and read once), sorted, with every entry.
#[test]
fn huge_directories_stay_fast() {
    let dir = tmpfs_dir("huge");
    let big = dir.join("big");
    std::fs::create_dir(&big).unwrap();
    for i in (0..100_000u32).rev() {
        std::fs::File::create(big.join(format!("f{:x}", i.wrapping_mul(2_654_435_761)))).unwrap();
    }
    let mut cmd = det(
        &["--epoch", EPOCH],
        &["python3", "-c", "import os\nn = os.listdir('big')\nprint(len(n), n == sorted(n))\nprint(sum(1 for _ in os.scandir('big')))"],
    );
    cmd.current_dir(&dir);
    let out = run_within(&mut cmd, Duration::from_secs(30)).ok();
    assert_eq!(out, "100000 True\n100000\n");
    let mut cmd = det(
        &["--epoch", EPOCH],
        &["sh", "-c", "ls -U big | wc -l; find big | wc -l"],
    );
    cmd.current_dir(&dir);
    let out = run_within(&mut cmd, Duration::from_secs(30)).ok();
    assert_eq!(out, "100000\n100001\n");
    let _ = std::fs::remove_dir_all(&dir);
}

// Promise: directory streams read from four threads at once, while the main thread forks
// children that read them too, never deadlock and always list in byte-wise order (the side
// table is lock-free); natively the tmpfs listing is not sorted.
#[test]
fn threads_and_forks_list_in_order_without_deadlock() {
    let f = fixture("dirthreads");
    let probe = probe("dirthreads");
    let tree = f.tmpfs.1.join("tree");
    let argv = [probe.to_str().unwrap(), tree.to_str().unwrap()];
    let native_out = run(&mut native(&argv)).ok();
    assert!(
        native_out.contains("sorted=0/"),
        "native control:\n{native_out}"
    );
    let out = run_within(
        &mut det(&["--epoch", EPOCH], &argv),
        Duration::from_secs(60),
    )
    .ok();
    assert_eq!(
        out,
        "thread0 sorted=300/300\nthread1 sorted=300/300\nthread2 sorted=300/300\n\
         thread3 sorted=300/300\nchildren sorted=50/50\n"
    );
}

// Promise: raw directory reads (glibc's getdents64 and syscall(SYS_getdents64), a few records
// per call, and again after seeking back to the start) give byte-wise order.
#[test]
fn getdents64_reads_in_byte_order() {
    let probe = probe("getdents");
    let out = assert_ordered(&[probe.to_str().unwrap(), "tree"]);
    let mut sorted: Vec<&str> = NAMES.to_vec();
    sorted.sort();
    let want = sorted.join(" ");
    for label in ["getdents64", "rewound", "syscall"] {
        assert!(
            out.lines().any(|l| l == format!("{label}: {want}")),
            "{label}:\n{out}"
        );
    }
}
