//! Archives and images made by real programs from files the build just created: two builds
//! under detbuild give identical bytes, with no normalizing step unless the test says so.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Runs `script` with `sh -c` in a fresh directory (after `prepare` filled it), natively or
/// under `detbuild FLAGS`, and returns the directory.
fn build(name: &str, flags: Option<&[&str]>, prepare: &dyn Fn(&Path), script: &str) -> PathBuf {
    let dir = tempdir(name);
    prepare(&dir);
    let argv = ["sh", "-c", script];
    let mut cmd = match flags {
        Some(flags) => det(flags, &argv),
        None => native(&argv),
    };
    cmd.current_dir(&dir);
    run_within(&mut cmd, Duration::from_secs(180)).ok();
    dir
}

/// The directories of two native builds and two under `detbuild FLAGS`, each build starting
/// in a new second (archives keep whole seconds).
fn twice_each(name: &str, flags: &[&str], prepare: &dyn Fn(&Path), script: &str) -> Vec<PathBuf> {
    [None, None, Some(flags), Some(flags)]
        .into_iter()
        .map(|f| {
            std::thread::sleep(Duration::from_millis(1100));
            build(name, f, prepare, script)
        })
        .collect()
}

/// Asserts that `file` differs between the two native builds of [`twice_each`] and is
/// identical in the two under detbuild.
#[track_caller]
fn assert_fixed(what: &str, dirs: &[PathBuf], file: &str) {
    let builds: Vec<Vec<u8>> = dirs
        .iter()
        .map(|d| std::fs::read(d.join(file)).unwrap_or_else(|e| panic!("{file}: {e}")))
        .collect();
    assert!(
        builds[0] != builds[1],
        "{what}: two native builds were identical, so this proves nothing"
    );
    assert!(
        builds[2] == builds[3],
        "{what}: differs between two builds under detbuild"
    );
}

const FLAGS: &[&str] = &["--epoch", EPOCH];

/// Writes a small tree, always in the same order (the order a directory lists its entries in
/// is the host file system's, and mke2fs -d copies it).
fn small_tree(dir: &Path) {
    std::fs::create_dir_all(dir.join("tree/sub")).unwrap();
    std::fs::write(dir.join("tree/a"), "one\n").unwrap();
    std::fs::write(dir.join("tree/sub/b"), "two\n".repeat(3000)).unwrap();
    std::os::unix::fs::symlink("a", dir.join("tree/link")).unwrap();
}

// Promise: an ext4 image made with `mke2fs -d` from a tree the build just wrote is identical
// in two builds: inode times are clamped, the superblock times come from the faked clock, and
// the filesystem UUID and directory hash seed come from the stream (libuuid's own mix
// includes the pid). Natively all of these differ.
#[test]
fn mke2fs_image_of_a_fresh_tree_is_identical() {
    if !have_tools(&["mke2fs"], "e2fsprogs") {
        return;
    }
    let script = "mke2fs -q -F -t ext4 -d tree fs.img 4M";
    let prepare = |d: &Path| small_tree(d);
    let dirs = twice_each("mke2fs", FLAGS, &prepare, script);
    assert_fixed("mke2fs -d", &dirs, "fs.img");
}

// Promise: libuuid's random UUIDs (what uuidgen, mke2fs and sfdisk use) are deterministic
// under detbuild and follow the seed; natively they differ every run.
#[test]
fn libuuid_uuids_come_from_the_stream() {
    if !have_tools(&["uuidgen"], "uuid-runtime") {
        return;
    }
    let out = assert_promise(&["uuidgen", "-r"], OTHER_SEED);
    assert_eq!(&out[14..15], "4", "a version-4 UUID: {out}");
    let default = run(&mut det(FLAGS, &["uuidgen"])).ok();
    assert_eq!(run(&mut det(FLAGS, &["uuidgen"])).ok(), default);
}

/// A one-module setuptools project.
fn python_project(dir: &Path) {
    std::fs::create_dir_all(dir.join("demo")).unwrap();
    std::fs::write(
        dir.join("setup.py"),
        "from setuptools import setup\nsetup(name='demo', version='1.0', packages=['demo'])\n",
    )
    .unwrap();
    std::fs::write(dir.join("demo/__init__.py"), "VALUE = 1\n").unwrap();
}

/// Debian's python3 with setuptools and wheel (a pyenv or venv python on PATH may lack them),
/// or `None` (skipped locally, a failure under CI).
fn packaging_python() -> Option<&'static str> {
    let python = "/usr/bin/python3";
    let ok = Path::new(python).is_file()
        && run(&mut native(&[
            python,
            "-c",
            "import setuptools, wheel, build",
        ]))
        .status
        .success();
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{python} lacks setuptools, wheel or build; .ci/run must install them"
        );
        eprintln!("skipped: {python} lacks setuptools, wheel or build");
        return None;
    }
    Some(python)
}

// Promise: `python3 -m build` (offline, --no-isolation) of a fresh tree gives an identical
// wheel under detbuild as it is (bdist_wheel stamps entries with SOURCE_DATE_EPOCH) and an
// identical sdist with `--normalize 'dist/*.tar.gz'` (python3 itself is never clamped).
#[test]
fn python_sdist_and_wheel_are_identical() {
    let Some(python) = packaging_python() else {
        return;
    };
    let flags = ["--epoch", EPOCH, "--normalize", "dist/*.tar.gz"];
    let script = format!("{python} -m build --no-isolation >/dev/null");
    let prepare = |d: &Path| python_project(d);
    let dirs = twice_each("py-build", &flags, &prepare, &script);
    assert_fixed("wheel", &dirs, "dist/demo-1.0-py3-none-any.whl");
    assert_fixed("sdist", &dirs, "dist/demo-1.0.tar.gz");
}

// Promise: the documented opt-in `[programs."python3:setup.py"] mtime = "fake"` makes
// `python3 setup.py sdist` of a clean tree identical with no normalizing step.
#[test]
fn python_setup_py_sdist_is_identical_when_opted_in() {
    let Some(python) = packaging_python() else {
        return;
    };
    let prepare = |d: &Path| {
        python_project(d);
        std::fs::write(
            d.join("detbuild.toml"),
            "[programs.\"python3:setup.py\"]\nmtime = \"fake\"\n",
        )
        .unwrap();
    };
    let script = format!("{python} setup.py -q sdist >/dev/null 2>&1");
    let dirs = twice_each("py-sdist", FLAGS, &prepare, &script);
    assert_fixed("setup.py sdist", &dirs, "dist/demo-1.0.tar.gz");
}

// Promise: python3 is not clamped by default, so a wheel rebuilt after a source edit (same
// size, existing build/ directory) carries the new source.
#[test]
fn python_rebuilds_an_edited_source() {
    let Some(python) = packaging_python() else {
        return;
    };
    if !have_tools(&["unzip"], "unzip") {
        return;
    }
    let dir = tempdir("py-rebuild");
    python_project(&dir);
    // distutils compares whole seconds: date the first source well before the edit, so the
    // edit is newer however fast the build runs.
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(10);
    std::fs::File::options()
        .write(true)
        .open(dir.join("demo/__init__.py"))
        .unwrap()
        .set_modified(old)
        .unwrap();
    let wheel = || {
        let mut cmd = det(FLAGS, &[python, "setup.py", "-q", "bdist_wheel"]);
        cmd.current_dir(&dir);
        run(&mut cmd).ok();
        let mut unzip = native(&[
            "unzip",
            "-p",
            "dist/demo-1.0-py3-none-any.whl",
            "demo/__init__.py",
        ]);
        unzip.current_dir(&dir);
        run(&mut unzip).ok()
    };
    assert_eq!(wheel(), "VALUE = 1\n");
    std::fs::write(dir.join("demo/__init__.py"), "VALUE = 2\n").unwrap();
    assert_eq!(wheel(), "VALUE = 2\n", "the wheel kept the stale source");
}

/// examples/autotools copied into `dir`.
fn autotools_example(dir: &Path) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/autotools");
    for entry in std::fs::read_dir(&src).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
}

// Promise: `make dist` of an autotools project (autoreconf, configure, make dist: the
// generated files and the copied sources all get the build's times) gives an identical
// tarball in two builds under detbuild, with no normalizing step.
#[test]
fn make_dist_of_an_autotools_project_is_identical() {
    if !have_tools(
        &["autoreconf", "automake", "make", "tar", "gzip"],
        "autoconf automake",
    ) {
        return;
    }
    let script = "autoreconf -i >/dev/null 2>&1 && ./configure -q && make -s dist >/dev/null";
    let prepare = |d: &Path| autotools_example(d);
    let dirs = twice_each("make-dist", FLAGS, &prepare, script);
    assert_fixed("make dist", &dirs, "hello-dist-1.0.tar.gz");
}

/// Builds [`small_tree`] into an image with `script` twice natively and twice under
/// detbuild, then asserts [`assert_fixed`] on `file`; skips (fails under CI) without `tools`.
#[track_caller]
fn image_is_identical(tools: &[&str], package: &str, script: &str, file: &str) {
    if !have_tools(tools, package) {
        return;
    }
    let prepare = |d: &Path| small_tree(d);
    let dirs = twice_each(&format!("image-{}", tools[0]), FLAGS, &prepare, script);
    assert_fixed(script, &dirs, file);
}

// Promise: a squashfs image of a fresh tree is identical in two builds (inode times clamped,
// the image's creation time from the faked clock).
#[test]
fn squashfs_image_is_identical() {
    let script = "mksquashfs tree sq.img -quiet -no-progress >/dev/null";
    image_is_identical(&["mksquashfs"], "squashfs-tools", script, "sq.img");
}

// Promise: an ISO 9660 image with Rock Ridge and Joliet made by xorriso's mkisofs emulation
// is identical in two builds (directory records and Rock Ridge times clamped, volume dates
// from the faked clock).
#[test]
fn xorriso_iso_is_identical() {
    let script = "xorriso -as mkisofs -quiet -R -J -o x.iso tree 2>/dev/null";
    image_is_identical(&["xorriso"], "xorriso", script, "x.iso");
}

// Promise: the same with genisoimage.
#[test]
fn genisoimage_iso_is_identical() {
    let script = "genisoimage -quiet -R -J -o g.iso tree 2>/dev/null";
    image_is_identical(&["genisoimage"], "genisoimage", script, "g.iso");
}

// Promise: a FAT image made by mkfs.vfat (volume id from the faked clock) and filled by
// `mcopy -s -m` (entry times clamped) is identical in two builds.
#[test]
fn fat_image_filled_with_mcopy_is_identical() {
    let script = "mkfs.vfat -C fat.img 2048 >/dev/null && mcopy -s -m -i fat.img tree ::/";
    image_is_identical(
        &["mkfs.vfat", "mcopy"],
        "dosfstools mtools",
        script,
        "fat.img",
    );
}

// Promise: a GPT disk partitioned by sfdisk is identical in two builds: the disk and
// partition GUIDs come from libuuid, whose random UUIDs come from the stream.
#[test]
fn gpt_disk_partitioned_with_sfdisk_is_identical() {
    let script = "truncate -s 8M disk.img && printf 'label: gpt\\n,2M\\n,\\n' | sfdisk -q disk.img";
    image_is_identical(
        &["sfdisk", "truncate"],
        "fdisk coreutils",
        script,
        "disk.img",
    );
}

// Promise: a newc cpio archive (an initramfs) of a fresh tree is identical in two builds when
// cpio is told to renumber inodes (`--reproducible`; the numbers are the file system's, not
// something a preload can choose); member times are clamped.
#[test]
fn cpio_initramfs_is_identical() {
    let script = "find tree | LC_ALL=C sort | cpio -o -H newc --reproducible --quiet > i.cpio";
    image_is_identical(&["cpio", "find"], "cpio findutils", script, "i.cpio");
}
