//! examples/hello: a real Makefile project that embeds dates and randomness in its artifacts.

use crate::common::*;
use std::path::{Path, PathBuf};

fn copy_example(to: &Path) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/hello");
    std::fs::create_dir_all(to).unwrap();
    for name in ["Makefile", "hello.c", "stamp.py"] {
        std::fs::copy(src.join(name), to.join(name)).unwrap();
    }
}

fn artifacts(dir: &Path) -> Vec<u8> {
    let mut all = std::fs::read(dir.join("out/hello")).unwrap();
    all.extend(std::fs::read(dir.join("out/manifest.txt")).unwrap());
    all
}

fn build(label: &str, prefix: Option<&[&str]>) -> (PathBuf, Vec<u8>) {
    let dir = tempdir(label).join("hello");
    copy_example(&dir);
    let mut cmd = match prefix {
        Some(flags) => det(flags, &["make", "-s", "-j4"]),
        None => native(&["make", "-s", "-j4"]),
    };
    cmd.current_dir(&dir);
    run(&mut cmd).ok();
    let a = artifacts(&dir);
    (dir, a)
}

// Promise: `detbuild -- make -j4` of examples/hello gives byte-identical artifacts every time,
// in different directories, while native builds differ.
#[test]
fn hello_builds_identically_under_detbuild() {
    if !require_tool("make", "make") {
        return;
    }
    if !require_tool("python3", "python3") {
        return;
    }
    let (_, n1) = build("hello-native1", None);
    let (_, n2) = build("hello-native2", None);
    assert_ne!(
        n1, n2,
        "native builds matched: the example embeds nothing variable"
    );
    let flags: &[&str] = &["--epoch", EPOCH];
    let (_, d1) = build("hello-det1", Some(flags));
    let (dir, d2) = build("hello-det2", Some(flags));
    assert_eq!(d1, d2, "two detbuild builds differ");
    let manifest = std::fs::read_to_string(dir.join("out/manifest.txt")).unwrap();
    assert!(manifest.contains("2023-11-14 22:13:20"), "{manifest}");
}
