//! Integrations: detbuild switched on by a builder Makefile (`detbuild env`), by
//! dpkg-buildpackage (the whole-builder wrapper, the `--rules-file` form build farms pass, and
//! the `detbuild hook dpkg` fragment), by pbuilder and cowbuilder (the wrapper around the
//! whole chroot build) and by rpmbuild (`detbuild hook rpm`). Each builds an example of
//! `examples/` twice natively (different) and twice under detbuild (identical).

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A builder Makefile with two sub-projects; `detbuild env` in both formats, and its refusal.
mod builder;
/// examples/debian-pkg built by dpkg-buildpackage in each of the three ways.
mod dpkg;
/// examples/debian-pkg's source package built by pbuilder and cowbuilder in their chroots
/// (slow on the first run).
mod pbuilder;
/// examples/rpm-spec built by rpmbuild with and without `detbuild hook rpm`.
mod rpm;

/// Limit for one package build.
const BUILD_LIMIT: Duration = Duration::from_secs(300);

/// `examples/NAME` in the source tree.
fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name)
}

/// A fresh copy of `examples/NAME` at `<tempdir>/src`, outside any git repository.
fn copy_example(name: &str, label: &str) -> PathBuf {
    let dir = tempdir(label).join("src");
    run(native(&["cp", "-r"]).arg(example(name)).arg(&dir)).ok();
    dir
}

/// `cmd` with the directory of the `detbuild` under test first on PATH, as an installed
/// detbuild would be for hooks that call it by name.
fn with_detbuild_on_path(mut cmd: Command) -> Command {
    let bin = detbuild_bin();
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![bin.parent().unwrap().to_path_buf()];
    dirs.extend(std::env::split_paths(&path));
    cmd.env("PATH", std::env::join_paths(dirs).unwrap());
    cmd
}

/// `cmd` run in `dir` within [`BUILD_LIMIT`], which must succeed; returns stdout.
#[track_caller]
fn build_in(mut cmd: Command, dir: &Path) -> String {
    cmd.current_dir(dir);
    run_within(&mut cmd, BUILD_LIMIT).ok()
}

/// The line of `text` starting with `prefix`.
#[track_caller]
fn line<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} line in:\n{text}"))
}

/// Asserts that two native builds' records differ in each of `fields` (time and randomness,
/// not only paths), so that the identical detbuild builds prove something.
#[track_caller]
fn assert_records_vary(a: &str, b: &str, fields: &[&str]) {
    for field in fields {
        assert_ne!(
            line(a, field),
            line(b, field),
            "native builds recorded the same {field:?}, so this proves nothing:\n{a}\n{b}"
        );
    }
}

/// The binary package examples/debian-pkg builds.
const EXAMPLE_DEB: &str = "detbuild-example_1.0_all.deb";

/// The record examples/debian-pkg's `deb` ships (unpacked next to it, in `unpacked/`).
#[track_caller]
fn shipped_record(deb: &Path) -> String {
    let root = deb.with_file_name("unpacked");
    run(native(&["dpkg-deb", "-x"]).arg(deb).arg(&root)).ok();
    let path = root.join("usr/share/detbuild-example/build-info.txt");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Fields of examples/debian-pkg's record that time and randomness change.
const VARYING: &[&str] = &["built at:", "salt:", "scratch:"];

/// The record of a detbuild build of examples/debian-pkg: the changelog's epoch, parts in
/// byte order.
#[track_caller]
fn assert_fixed(info: &str) {
    assert!(
        line(info, "built at:").starts_with(&format!("built at: {EPOCH}.")),
        "{info}"
    );
    assert_eq!(
        line(info, "parts:"),
        "parts: alpha beta delta epsilon gamma ",
        "{info}"
    );
}

// Promise: `detbuild hook` with an unknown kind, or with an option its fixed text cannot
// carry, is one line naming the problem, exit 2, nothing on stdout.
#[test]
fn hook_rejects_unknown_kinds_and_options() {
    let out = run(command(detbuild_bin()).args(["hook", "deb"]));
    assert_one_line_error(&out, 2, "'deb' for '<KIND>' (one of: dpkg, rpm)");
    assert_eq!(out.stdout, "");
    let out = run(command(detbuild_bin()).args(["hook", "rpm", "--epoch", EPOCH]));
    assert_one_line_error(&out, 2, "--epoch would have no effect");
    assert_eq!(out.stdout, "");
}
