//! Inode and device numbers seen by the programs that record them (cpio, tar, xorriso):
//! renumbered in first-sight order, consistently within a process, so hard links stay links.

use crate::common::*;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A tree with a hard link (`t/f1` and `t/sub/hl`), in a fresh directory whose inode numbers
/// are the host's; every time is set before the epoch, so clamping plays no part and only the
/// inode numbers can differ between two copies.
fn tree(name: &str) -> PathBuf {
    let dir = tempdir(name);
    let t = dir.join("t");
    std::fs::create_dir_all(t.join("sub")).unwrap();
    std::fs::write(t.join("f1"), "one\n").unwrap();
    std::fs::write(t.join("sub/f2"), "two\n").unwrap();
    std::fs::hard_link(t.join("f1"), t.join("sub/hl")).unwrap();
    let old = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_000);
    for p in ["f1", "sub/f2", "sub", "."] {
        let f = std::fs::File::open(t.join(p)).unwrap();
        f.set_times(
            std::fs::FileTimes::new()
                .set_modified(old)
                .set_accessed(old),
        )
        .unwrap();
    }
    dir
}

/// `sh -c script` in `dir/t`, natively or under `detbuild --epoch EPOCH`, its stdout as bytes.
fn archive(dir: &Path, under_detbuild: bool, script: &str) -> Vec<u8> {
    let argv = ["sh", "-c", script];
    let mut cmd = if under_detbuild {
        det(&["--epoch", EPOCH], &argv)
    } else {
        native(&argv)
    };
    cmd.current_dir(dir.join("t"));
    run(&mut cmd).ok();
    std::fs::read(dir.join("out")).unwrap()
}

/// The inode number of `path`.
fn ino(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().ino()
}

/// The promise for `script` (run in `t/`, writing a newc archive to `../out`) named `name`:
/// the archives of one tree in two directories differ natively and are identical under
/// detbuild, and GNU `cpio -i` of it makes one inode of the hard link's two names.
#[track_caller]
fn assert_same_archive_in_two_places(name: &str, script: &str) {
    let (a, b) = (tree(&format!("{name}-a")), tree(&format!("{name}-b")));
    assert_ne!(ino(&a.join("t/f1")), ino(&b.join("t/f1")));
    assert_ne!(
        archive(&a, false, script),
        archive(&b, false, script),
        "{name}: natively the two archives were identical, so this proves nothing"
    );
    let det_a = archive(&a, true, script);
    assert_eq!(
        det_a,
        archive(&b, true, script),
        "{name}: differs between two directories under detbuild"
    );
    let x = tempdir(&format!("{name}-extract"));
    std::fs::create_dir(x.join("t")).unwrap();
    std::fs::write(x.join("out"), &det_a).unwrap();
    let mut cmd = native(&["sh", "-c", "cpio -i -d --quiet < ../out"]);
    run(cmd.current_dir(x.join("t"))).ok();
    assert_eq!(
        ino(&x.join("t/f1")),
        ino(&x.join("t/sub/hl")),
        "{name}: hard link lost"
    );
    assert_ne!(ino(&x.join("t/f1")), ino(&x.join("t/sub/f2")));
    assert_eq!(std::fs::read(x.join("t/sub/hl")).unwrap(), b"one\n");
}

// Promise: `find . | cpio -o -H newc` of the same tree in two directories (different inode
// numbers) is identical under detbuild; natively the headers carry the host's inode numbers
// and differ. The hard link survives: `cpio -i` of the archive makes one inode of the two
// names.
#[test]
fn cpio_archives_of_one_tree_in_two_places_are_identical() {
    if have("cpio", "cpio") {
        assert_same_archive_in_two_places("cpio", "find . | cpio -o -H newc --quiet > ../out");
    }
}

// Promise: libarchive's archivers (`bsdcpio -o`, `bsdtar --format newc`) of the same tree in two
// directories are identical under detbuild; natively their newc headers carry the host's inode
// numbers and differ. The hard link survives extraction by GNU cpio.
#[test]
fn libarchive_archives_of_one_tree_in_two_places_are_identical() {
    if !have("bsdcpio", "libarchive-tools") || !have("cpio", "cpio") {
        return;
    }
    let bsdcpio = "find . | bsdcpio -o --format newc --quiet > ../out";
    assert_same_archive_in_two_places("bsdcpio", bsdcpio);
    assert_same_archive_in_two_places("bsdtar", "bsdtar -cf ../out --format newc .");
}

/// The `dev=` and `ino=` fields of each line of the stat probe's output.
fn numbers(out: &str) -> Vec<(u64, u64)> {
    out.lines()
        .map(|l| {
            let get = |k: &str| -> u64 {
                l.split_whitespace()
                    .find_map(|w| w.strip_prefix(k))
                    .unwrap_or_else(|| panic!("no {k} in {l}"))
                    .parse()
                    .unwrap()
            };
            (get("dev="), get("ino="))
        })
        .collect()
}

// Promise: in a program that records inode numbers (the stat probe named `cpio`), every entry
// point of the stat family reports device and inode in first-sight order (device 1; inodes 1,
// 2, ...), the same numbers for two names of one file and different ones for different files;
// natively the host's numbers show.
#[test]
fn every_stat_entry_point_renumbers_in_first_sight_order() {
    let dir = tree("probe");
    let cpio = dir.join("cpio");
    std::fs::copy(probe("stat"), &cpio).unwrap();
    let cpio = cpio.to_str().unwrap();
    let names = ["t/f1", "t/sub/f2", "t/sub/hl", "t/sub"];
    for f in crate::filetimes::ENTRY_POINTS {
        let argv: Vec<&str> = [cpio, f].into_iter().chain(names).collect();
        let mut cmd = native(&argv);
        let natively = numbers(&run(cmd.current_dir(&dir)).ok());
        assert_eq!(natively[0].1, ino(&dir.join("t/f1")), "{f}");
        let mut cmd = det(&["--epoch", EPOCH], &argv);
        let got = numbers(&run(cmd.current_dir(&dir)).ok());
        assert_eq!(got, [(1, 1), (1, 2), (1, 1), (1, 3)], "{f}");
    }
}

// Promise: programs that do not record inode numbers (here `ls -i`, `stat`) see the host's
// numbers under detbuild.
#[test]
fn other_programs_see_real_inode_numbers() {
    let dir = tree("real");
    let argv = ["stat", "-c", "%d %i", "t/f1", "t/sub/f2"];
    let mut cmd = native(&argv);
    let natively = run(cmd.current_dir(&dir)).ok();
    let mut cmd = det(&["--epoch", EPOCH], &argv);
    assert_eq!(run(cmd.current_dir(&dir)).ok(), natively);
    assert!(natively.contains(&ino(&dir.join("t/f1")).to_string()));
}

// Promise: `[programs.NAME] inodes = "fake"` renumbers for any program, and tools that compare
// inode numbers keep working: `find -samefile` finds the hard link, `cp -a` copies it as a
// hard link; `inodes = "real"` turns a default off.
#[test]
fn the_inodes_switch_keeps_hard_links_working() {
    let dir = tree("switch");
    std::fs::write(
        dir.join("detbuild.toml"),
        "[programs.find]\ninodes = \"fake\"\n[programs.cp]\ninodes = \"fake\"\n\
         [programs.stat]\ninodes = \"fake\"\n[programs.cpio]\ninodes = \"real\"\n",
    )
    .unwrap();
    let script = "find t -samefile t/f1 | sort; cp -a t copy; stat -c '%i %h' copy/f1 copy/sub/hl";
    let mut cmd = det(&["--epoch", EPOCH], &["sh", "-c", script]);
    let out = run(cmd.current_dir(&dir)).ok();
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("t/f1"), "{out}");
    assert_eq!(lines.next(), Some("t/sub/hl"), "{out}");
    assert_eq!(
        lines.next(),
        Some("1 2"),
        "stat renumbers, first sight: {out}"
    );
    assert_eq!(lines.next(), Some("1 2"), "{out}");
    assert_eq!(ino(&dir.join("copy/f1")), ino(&dir.join("copy/sub/hl")));
    if !have("cpio", "cpio") {
        return;
    }
    let mut cmd = det(
        &["--epoch", EPOCH],
        &["sh", "-c", "echo t/f1 | cpio -o -H newc"],
    );
    let out = run(cmd.current_dir(&dir)).ok();
    let real = format!("{:08X}", ino(&dir.join("t/f1")));
    assert_eq!(
        &out[6..14],
        real,
        "inodes = \"real\": the host's number in the header"
    );
}

// Promise: an ISO image made by `xorriso -as mkisofs --hardlinks` (Rock Ridge serial numbers
// are inode numbers) of the same tree in two directories is identical under detbuild and
// differs natively.
#[test]
fn xorriso_hardlinks_image_is_identical_in_two_places() {
    if !have("xorriso", "xorriso") {
        return;
    }
    let script = "xorriso -as mkisofs --hardlinks -quiet -R -o ../out . 2>/dev/null";
    let sde = |mut c: std::process::Command| {
        c.env("SOURCE_DATE_EPOCH", EPOCH);
        c
    };
    let build = |dir: &Path, under: bool| {
        let argv = ["sh", "-c", script];
        let cmd = if under {
            det(&["--epoch", EPOCH], &argv)
        } else {
            native(&argv)
        };
        let mut cmd = sde(cmd);
        run(cmd.current_dir(dir.join("t"))).ok();
        std::fs::read(dir.join("out")).unwrap()
    };
    let (a, b) = (tree("iso-a"), tree("iso-b"));
    assert_ne!(
        build(&a, false),
        build(&b, false),
        "natively (SOURCE_DATE_EPOCH set) the two images were identical, so this proves nothing"
    );
    assert!(
        build(&a, true) == build(&b, true),
        "differs between two directories under detbuild"
    );
}

/// The directory records of a `tar -g` snapshot file: what follows its header line and the
/// time of the dump.
fn snapshot_records(snar: &[u8]) -> Vec<u8> {
    let header = snar.iter().position(|&b| b == b'\n').unwrap() + 1;
    let mut nuls = snar[header..]
        .iter()
        .enumerate()
        .filter(|(_, &b)| b == 0)
        .map(|(i, _)| header + i + 1);
    let start = nuls.nth(1).unwrap();
    snar[start..].to_vec()
}

// Promise: the snapshot file of `tar -g` (GNU tar's listed incremental), which records each
// directory's device and inode numbers, is identical under detbuild when the tree is made
// again in the same place (new inode numbers); natively its directory records differ.
#[test]
fn tar_incremental_snapshot_of_a_remade_tree_is_identical() {
    let script = "tar -g ../snar -cf ../out.tar . && cat ../snar";
    // One place (tar orders the records by a hash of their absolute names); each tree is
    // made before the last is removed, so its inode numbers are new.
    let dir = tempdir("snar");
    let make = |under: bool| {
        let made = tree("snar-src");
        let _ = std::fs::remove_dir_all(dir.join("t"));
        let _ = std::fs::remove_file(dir.join("snar"));
        std::fs::rename(made.join("t"), dir.join("t")).unwrap();
        let argv = ["sh", "-c", script];
        let mut cmd = if under {
            det(&["--epoch", EPOCH], &argv)
        } else {
            native(&argv)
        };
        run(cmd.current_dir(dir.join("t"))).ok();
        std::fs::read(dir.join("snar")).unwrap()
    };
    assert_ne!(
        snapshot_records(&make(false)),
        snapshot_records(&make(false)),
        "natively the directory records were identical, so this proves nothing"
    );
    assert!(make(true) == make(true), "differs under detbuild");
}
