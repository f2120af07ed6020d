//! A real third-party package: Debian bookworm's `lsof` 4.95.0-1, built from the archive's
//! source with `dpkg-buildpackage -b -us -uc` (fakeroot, its own test suite included), twice
//! natively and twice under `detbuild --build-path`, each time in a directory of another name
//! and at another real time.
//!
//! Natively the `.deb` files differ: lsof records its compiler flags (`lsof -v` prints them),
//! and Debian's flags name the build directory (`-ffile-prefix-map=DIR=.`), so the binary,
//! its build id and with it the dbgsym package change with the directory. Under detbuild both
//! builds see the tree at the same path and every `.deb` is byte-identical.
//!
//! The source is fetched once (`apt-get source --download-only` through a private apt
//! configuration with a `deb-src` line, so the system's sources stay untouched) into
//! `target/cache/thirdparty/`, and checked against the `.dsc`'s known SHA-256 (dpkg-source
//! checks the rest); reruns are offline. The build dependencies are in `.ci/run`.

use crate::common::*;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const PACKAGE: &str = "lsof";
const VERSION: &str = "4.95.0-1";
const TREE: &str = "lsof-4.95.0";
/// SHA-256 of `lsof_4.95.0-1.dsc` in bookworm, which lists the other files' checksums.
const DSC_SHA256: &str = "875e3f9c52870c8f04f8fa8ce526822cc8a6c279a28a216184f9b1496b92abf7";
/// Where both detbuild builds see the tree's parent directory.
const BUILD_PATH: &str = "/build/detbuild-thirdparty";
/// One build's limit (about 50 s on a loaded 2-core machine).
const BUILD_LIMIT: Duration = Duration::from_secs(600);

/// One progress line, shown even while the test harness captures output.
fn progress(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "thirdparty: {line}");
}

/// `target/cache/thirdparty`.
fn cache() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target/tmp has a parent")
        .join("cache/thirdparty")
}

fn sha256(path: &Path) -> String {
    let out = run(native(&["sha256sum"]).arg(path)).ok();
    out.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// `apt-get` with a private configuration under `dir`: only bookworm's `deb-src` line, its own
/// lists and archive cache.
fn apt(dir: &Path, args: &[&str]) -> Command {
    let list = dir.join("sources.list");
    let mut cmd = native(&["apt-get"]);
    for (key, value) in [
        ("Dir::Etc::SourceList", list.clone()),
        ("Dir::Etc::SourceParts", PathBuf::from("-")),
        ("Dir::State::Lists", dir.join("lists")),
        ("Dir::Cache", dir.join("cache")),
    ] {
        cmd.arg("-o").arg(format!("{key}={}", value.display()));
    }
    cmd.args(args);
    cmd
}

/// The cached `.dsc` of the package, fetched from the archive on the first run.
fn source() -> PathBuf {
    let dir = cache();
    let dsc = dir.join(format!("{PACKAGE}_{VERSION}.dsc"));
    if dsc.is_file() && sha256(&dsc) == DSC_SHA256 {
        progress(&format!("source cached in {}", dir.display()));
        return dsc;
    }
    progress(&format!(
        "fetching the source of {PACKAGE} {VERSION} into {}",
        dir.display()
    ));
    let apt_dir = dir.join("apt");
    std::fs::create_dir_all(apt_dir.join("lists/partial")).unwrap();
    std::fs::create_dir_all(apt_dir.join("cache/archives/partial")).unwrap();
    std::fs::write(
        apt_dir.join("sources.list"),
        "deb-src http://deb.debian.org/debian bookworm main\n",
    )
    .unwrap();
    run_within(&mut apt(&apt_dir, &["-q", "update"]), BUILD_LIMIT).ok();
    let wanted = format!("{PACKAGE}={VERSION}");
    let mut get = apt(&apt_dir, &["-q", "source", "--download-only", &wanted]);
    get.current_dir(&dir);
    run_within(&mut get, BUILD_LIMIT).ok();
    assert_eq!(
        sha256(&dsc),
        DSC_SHA256,
        "{} is not bookworm's",
        dsc.display()
    );
    dsc
}

/// Unpacks the source into `parent` (a fresh directory).
fn unpack(dsc: &Path, parent: &Path) {
    std::fs::create_dir_all(parent).unwrap();
    let mut x = native(&["dpkg-source", "-x"]);
    x.arg(dsc).arg(parent.join(TREE));
    run(&mut x).ok();
}

/// Builds the unpacked tree in `parent` (natively, or under detbuild with `--build-path`) and
/// returns each `.deb`'s SHA-256 by file name.
fn build(
    label: &str,
    dsc: &Path,
    parent: &Path,
    under_detbuild: Option<&str>,
) -> BTreeMap<String, String> {
    unpack(dsc, parent);
    let script = format!("cd {TREE} && exec dpkg-buildpackage -b -us -uc");
    let mut cmd = match under_detbuild {
        Some(epoch) => det(
            &["--epoch", epoch, "--build-path", BUILD_PATH],
            &["sh", "-c", &script],
        ),
        None => native(&["sh", "-c", &script]),
    };
    cmd.current_dir(parent);
    progress(&format!("{label}: building in {}", parent.display()));
    let start = Instant::now();
    let out = run_within(&mut cmd, BUILD_LIMIT);
    assert!(out.status.success(), "{label} failed\n{}", tail(&out));
    progress(&format!(
        "{label}: built in {:.1} s",
        start.elapsed().as_secs_f64()
    ));
    let mut debs = BTreeMap::new();
    for entry in std::fs::read_dir(parent).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".deb") {
            debs.insert(name, sha256(&path));
        }
    }
    assert!(
        debs.keys()
            .any(|n| n.starts_with(&format!("{PACKAGE}_{VERSION}_"))),
        "{label}: no {PACKAGE} .deb in {}: {debs:?}",
        parent.display()
    );
    debs
}

/// The command and the last lines of its output (a package build prints thousands).
fn tail(out: &Output) -> String {
    let last = |text: &str| {
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    };
    format!(
        "command: {}\nstatus: {}\n--- stdout (end) ---\n{}\n--- stderr (end) ---\n{}",
        out.shown,
        out.status,
        last(&out.stdout),
        last(&out.stderr)
    )
}

/// Whether `path` contains `needle`.
fn holds(path: &Path, needle: &str) -> bool {
    let bytes = std::fs::read(path).unwrap();
    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// `usr/bin/lsof` out of the package built in `parent`, into `parent/lsof.bin`.
fn lsof_binary(parent: &Path, debs: &BTreeMap<String, String>) -> PathBuf {
    let deb = debs
        .keys()
        .find(|n| n.starts_with(&format!("{PACKAGE}_")))
        .unwrap();
    let out = parent.join("lsof.bin");
    let script = format!(
        "dpkg-deb --fsys-tarfile {} | tar -xOf - ./usr/bin/lsof > {}",
        parent.join(deb).display(),
        out.display()
    );
    run(&mut native(&["sh", "-c", &script])).ok();
    out
}

// Promise: a real Debian package whose `.deb` files differ between two native builds (in two
// directories, at two times) comes out byte-identical from two `detbuild --build-path` builds
// of `dpkg-buildpackage -b -us -uc`, its own test suite and fakeroot included.
#[test]
fn debian_lsof_builds_identically_under_detbuild() {
    let tools = [
        "dpkg-buildpackage",
        "dpkg-source",
        "dpkg-deb",
        "fakeroot",
        "apt-get",
    ];
    if !have_tools(&tools, "dpkg-dev fakeroot apt")
        || !require_root("--build-path makes a private mount namespace")
        || !can_unshare()
    {
        return;
    }
    // lsof's test suite looks its own host name up (natively the real one).
    let host = run(&mut native(&["hostname"])).ok().trim().to_string();
    if !capable(
        run(&mut native(&["getent", "hosts", &host]))
            .status
            .success(),
        &format!("a resolvable host name for lsof's test suite (add `{host}` to /etc/hosts)"),
    ) {
        return;
    }
    let started = Instant::now();
    let dsc = source();
    let dir = tempdir("thirdparty");
    let probe = dir.join("deps");
    unpack(&dsc, &probe);
    let mut deps = native(&["dpkg-checkbuilddeps"]);
    deps.current_dir(probe.join(TREE));
    let deps = run(&mut deps);
    if !require(
        deps.status.success(),
        &format!("{PACKAGE}'s build dependencies ({})", deps.stderr.trim()),
        "install the packages .ci/run lists",
    ) {
        return;
    }
    let mut epoch = native(&["dpkg-parsechangelog", "-STimestamp", "-l"]);
    epoch.arg(probe.join(TREE).join("debian/changelog"));
    let epoch = run(&mut epoch).ok().trim().to_string();

    // Native control: two directories whose names differ, two times.
    let (a, b) = (dir.join("native-a"), dir.join("native-second"));
    let native_a = build("native build 1", &dsc, &a, None);
    let native_b = build("native build 2", &dsc, &b, None);
    assert_eq!(
        native_a.keys().collect::<Vec<_>>(),
        native_b.keys().collect::<Vec<_>>()
    );
    assert_ne!(
        native_a, native_b,
        "native control: two native builds gave identical .debs, so this test proves nothing"
    );
    // Why they differ: the binary records the directory it was built in.
    let bin_a = lsof_binary(&a, &native_a);
    assert!(
        holds(
            &bin_a,
            &format!("-ffile-prefix-map={}/{TREE}=.", a.display())
        ),
        "native lsof does not record its build directory"
    );

    // Under detbuild: two other directories, two other times, one build path.
    let (c, d) = (dir.join("det-a"), dir.join("det-second"));
    let det_c = build("detbuild build 1", &dsc, &c, Some(&epoch));
    let det_d = build("detbuild build 2", &dsc, &d, Some(&epoch));
    assert_eq!(
        det_c,
        det_d,
        "the .debs of two detbuild builds differ (diffoscope {0}/X.deb {1}/X.deb shows how)",
        c.display(),
        d.display()
    );
    let bin_c = lsof_binary(&c, &det_c);
    assert!(holds(
        &bin_c,
        &format!("-ffile-prefix-map={BUILD_PATH}/{TREE}=.")
    ));
    for (name, hash) in &det_c {
        progress(&format!("{name} sha256:{hash}"));
    }
    progress(&format!("done in {:.0} s", started.elapsed().as_secs_f64()));
    let _ = std::fs::remove_dir_all(&dir);
}
