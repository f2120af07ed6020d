//! Real third-party packages: Debian bookworm source packages from the archive, built with
//! `dpkg-buildpackage -b -us -uc` (fakeroot, their own test suites included), natively and
//! under `detbuild --build-path`, and their `.deb` files compared.
//!
//! `noweb` 2.12-4 is not reproducible natively even in one directory: it typesets its guide
//! with `latex` and `dvips` (without `FORCE_SOURCE_DATE`, so TeX ignores `SOURCE_DATE_EPOCH`
//! and writes the real date and minute into `guide.dvi` and `guide.ps`), and its Icon
//! programs are translated by `icont`, which writes uninitialized stack bytes into every
//! icode header (pointers, which address-space randomization moves, and the stack-protector
//! guard, new at every exec). Two detbuild builds, in two directories at two times, are
//! byte-identical.
//!
//! The second detbuild build of each package is started the way reprotest varies a build
//! ([`vary`]): another `PATH` (an extra directory, as Debian's rebuilders add), `HOME`, time
//! zone and locale, one more variable, and libfaketime 400 days ahead. Each of these once moved
//! a pointer that `icont` writes into noweb's programs (the stack's start moved with the
//! environment's size, libfaketime's mapping moved the libraries, `make PATH=...` changed the
//! stack guard).
//!
//! `lsof` 4.95.0-1 differs natively only with the build directory: it records its compiler
//! flags (`lsof -v` prints them), and Debian's flags name the directory
//! (`-ffile-prefix-map=DIR=.`); `--build-path` makes both builds see one path.
//!
//! Each source is fetched once (`apt-get source --download-only` through a private apt
//! configuration with a `deb-src` line, so the system's sources stay untouched) into
//! `target/cache/thirdparty/`, and checked against its `.dsc`'s known SHA-256 (dpkg-source
//! checks the rest); reruns are offline. The build dependencies are in `.ci/run`.

use crate::common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A source package of bookworm.
struct Package {
    name: &'static str,
    version: &'static str,
    /// The unpacked tree's directory name.
    tree: &'static str,
    /// SHA-256 of the `.dsc`, which lists the other files' checksums.
    dsc_sha256: &'static str,
}

const LSOF: Package = Package {
    name: "lsof",
    version: "4.95.0-1",
    tree: "lsof-4.95.0",
    dsc_sha256: "875e3f9c52870c8f04f8fa8ce526822cc8a6c279a28a216184f9b1496b92abf7",
};

const NOWEB: Package = Package {
    name: "noweb",
    version: "2.12-4",
    tree: "noweb-2.12",
    dsc_sha256: "66d4836d0e91c68b8efd67247b2ae888caa2faadde6f8ba9b35c14aabf34b0dc",
};

/// Where both detbuild builds see the tree's parent directory.
const BUILD_PATH: &str = "/build/detbuild-thirdparty";
/// One build's limit (lsof takes about 50 s on a loaded 2-core machine, noweb 15 s).
const BUILD_LIMIT: Duration = Duration::from_secs(600);

fn progress(line: &str) {
    crate::common::progress("thirdparty", line);
}

/// `target/cache/thirdparty`.
fn cache() -> PathBuf {
    cache_dir("thirdparty")
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

/// One fetch at a time: the packages share one private apt directory, and apt-get locks its
/// lists, so a second `apt-get update` running beside the first fails.
static FETCH: Mutex<()> = Mutex::new(());

/// The cached `.dsc` of `pkg`, fetched from the archive on the first run.
fn source(pkg: &Package) -> PathBuf {
    let _one_at_a_time = FETCH
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let dir = cache();
    let dsc = dir.join(format!("{}_{}.dsc", pkg.name, pkg.version));
    if dsc.is_file() && sha256(&dsc) == pkg.dsc_sha256 {
        progress(&format!("{} source cached in {}", pkg.name, dir.display()));
        return dsc;
    }
    progress(&format!(
        "fetching the source of {} {} into {}",
        pkg.name,
        pkg.version,
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
    let wanted = format!("{}={}", pkg.name, pkg.version);
    let mut get = apt(&apt_dir, &["-q", "source", "--download-only", &wanted]);
    get.current_dir(&dir);
    run_within(&mut get, BUILD_LIMIT).ok();
    assert_eq!(
        sha256(&dsc),
        pkg.dsc_sha256,
        "{} is not bookworm's",
        dsc.display()
    );
    dsc
}

/// Unpacks the source into `parent` (made afresh).
fn unpack(pkg: &Package, dsc: &Path, parent: &Path) {
    let _ = std::fs::remove_dir_all(parent);
    std::fs::create_dir_all(parent).unwrap();
    let mut x = native(&["dpkg-source", "-x"]);
    x.arg(dsc).arg(parent.join(pkg.tree));
    run(&mut x).ok();
}

/// Starts `cmd` the way reprotest varies a build's environment (see the module docs); `None`
/// when libfaketime is missing (a failure under CI).
fn vary(cmd: &mut Command) -> Option<()> {
    let path = std::env::var("PATH").unwrap_or_default();
    cmd.env("PATH", format!("{path}:/i_capture_the_path"))
        .env("HOME", "/nonexistent/second-build")
        .env("TZ", "GMT-14")
        .env("LANG", "fr_CH.UTF-8")
        .env("REPROTEST_CAPTURE_ENVIRONMENT", "i_capture_the_environment")
        .env("LD_PRELOAD", libfaketime()?)
        .env("FAKETIME", "+400d");
    Some(())
}

/// How a build is started.
#[derive(Clone, Copy)]
enum How<'a> {
    Native,
    /// Under detbuild with `--build-path` and this `--epoch`.
    Detbuild(&'a str),
    /// As `Detbuild`, from an environment varied as reprotest does ([`vary`]).
    Varied(&'a str),
}

/// Builds the source afresh in `parent` as `how` says and returns each `.deb`'s SHA-256 by
/// file name.
fn build(
    pkg: &Package,
    label: &str,
    dsc: &Path,
    parent: &Path,
    how: How,
) -> BTreeMap<String, String> {
    unpack(pkg, dsc, parent);
    let script = format!("cd {} && exec dpkg-buildpackage -b -us -uc", pkg.tree);
    let mut cmd = match how {
        How::Detbuild(epoch) | How::Varied(epoch) => det(
            &["--epoch", epoch, "--build-path", BUILD_PATH],
            &["sh", "-c", &script],
        ),
        How::Native => native(&["sh", "-c", &script]),
    };
    if matches!(how, How::Varied(_)) {
        vary(&mut cmd).expect("libfaketime for the varied build");
    }
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
    let main = format!("{}_{}_", pkg.name, pkg.version);
    assert!(
        debs.keys().any(|n| n.starts_with(&main)),
        "{label}: no {} .deb in {}: {debs:?}",
        pkg.name,
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

/// Whether `bytes` contain `needle`.
fn holds(bytes: &[u8], needle: &str) -> bool {
    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// The file `member` (`./usr/...`) of the package `pkg` built in `parent`, gunzipped when its
/// name ends in `.gz`.
fn member(pkg: &Package, parent: &Path, member: &str) -> Vec<u8> {
    let deb = parent.join(format!("{}_{}_amd64.deb", pkg.name, pkg.version));
    let gunzip = if member.ends_with(".gz") {
        " | gzip -dc"
    } else {
        ""
    };
    let script = format!(
        "dpkg-deb --fsys-tarfile {} | tar -xOf - {member}{gunzip}",
        deb.display()
    );
    let out = native(&["sh", "-c", &script]).output().unwrap();
    assert!(
        out.status.success() && !out.stdout.is_empty(),
        "no {member} in {}: {}",
        deb.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The source of `pkg` (fetched once), a fresh directory for its builds, and its changelog's
/// epoch; `None` (skipped, or failed under CI) when its build dependencies are missing.
fn prepare(pkg: &Package) -> Option<(PathBuf, PathBuf, String)> {
    let dsc = source(pkg);
    let dir = tempdir(&format!("thirdparty-{}", pkg.name));
    let probe = dir.join("deps");
    unpack(pkg, &dsc, &probe);
    let mut deps = native(&["dpkg-checkbuilddeps"]);
    deps.current_dir(probe.join(pkg.tree));
    let deps = run(&mut deps);
    if !require(
        deps.status.success(),
        &format!("{}'s build dependencies ({})", pkg.name, deps.stderr.trim()),
        "install the packages .ci/run lists",
    ) {
        return None;
    }
    let mut epoch = native(&["dpkg-parsechangelog", "-STimestamp", "-l"]);
    epoch.arg(probe.join(pkg.tree).join("debian/changelog"));
    let epoch = run(&mut epoch).ok().trim().to_string();
    Some((dsc, dir, epoch))
}

/// The tools every package build needs, root and namespaces for `--build-path`, libfaketime
/// for the varied build.
fn can_build() -> bool {
    let tools = [
        "dpkg-buildpackage",
        "dpkg-source",
        "dpkg-deb",
        "fakeroot",
        "apt-get",
    ];
    have_tools(&tools, "dpkg-dev fakeroot apt")
        && require_root("--build-path makes a private mount namespace")
        && can_unshare()
        && libfaketime().is_some()
}

/// Two detbuild builds of `pkg` in two directories under `dir`, at two times, the second
/// from a varied environment ([`vary`]): their `.deb` files must be byte-identical. Returns
/// the directory of the first.
fn assert_identical_under_detbuild(pkg: &Package, dsc: &Path, dir: &Path, epoch: &str) -> PathBuf {
    let (c, d) = (dir.join("det-a"), dir.join("det-second"));
    let det_c = build(pkg, "detbuild build 1", dsc, &c, How::Detbuild(epoch));
    let det_d = build(
        pkg,
        "detbuild build 2 (varied)",
        dsc,
        &d,
        How::Varied(epoch),
    );
    assert_eq!(
        det_c,
        det_d,
        "the .debs of two detbuild builds differ (diffoscope {0}/X.deb {1}/X.deb shows how)",
        c.display(),
        d.display()
    );
    for (name, hash) in &det_c {
        progress(&format!("{name} sha256:{hash}"));
    }
    c
}

// Promise: a real Debian package that is not reproducible natively even when built twice in
// the same directory (noweb: TeX writes the real date and minute into its guide, icont leaks
// stack bytes into its programs) comes out byte-identical from two `detbuild --build-path`
// builds of `dpkg-buildpackage -b -us -uc` in two directories at two times.
#[test]
fn debian_noweb_builds_identically_under_detbuild() {
    let pkg = &NOWEB;
    if !can_build() {
        return;
    }
    let started = Instant::now();
    let Some((dsc, dir, epoch)) = prepare(pkg) else {
        return;
    };

    // Native control: one directory, two runs.
    let native_dir = dir.join("native");
    let today = run(&mut native(&["date", "-u", "+TeX output %Y.%m.%d:"]))
        .ok()
        .trim()
        .to_string();
    let native_a = build(pkg, "native build 1", &dsc, &native_dir, How::Native);
    let dvi = member(pkg, &native_dir, "./usr/share/doc/noweb/guide.dvi.gz");
    let icode = member(pkg, &native_dir, "./usr/bin/htmltoc");
    let native_b = build(pkg, "native build 2", &dsc, &native_dir, How::Native);
    assert_ne!(
        native_a, native_b,
        "native control: two native builds gave identical .debs, so this test proves nothing"
    );
    // Why: the guide carries the real date, and the icode the stack bytes of its run.
    assert!(
        holds(&dvi, &today),
        "native guide.dvi does not carry today's date ({today})"
    );
    assert_ne!(
        icode,
        member(pkg, &native_dir, "./usr/bin/htmltoc"),
        "native icont wrote the same htmltoc twice"
    );

    let c = assert_identical_under_detbuild(pkg, &dsc, &dir, &epoch);
    let mut date = native(&["date", "-u", "+TeX output %Y.%m.%d:"]);
    date.arg(format!("--date=@{epoch}"));
    let then = run(&mut date).ok().trim().to_string();
    let dvi = member(pkg, &c, "./usr/share/doc/noweb/guide.dvi.gz");
    assert!(
        holds(&dvi, &then),
        "guide.dvi built under detbuild does not carry the changelog's date ({then})"
    );
    progress(&format!("done in {:.0} s", started.elapsed().as_secs_f64()));
    let _ = std::fs::remove_dir_all(&dir);
}

// Promise: a real Debian package whose `.deb` files differ between two native builds in two
// directories (lsof records its build directory) comes out byte-identical from two `detbuild
// --build-path` builds of `dpkg-buildpackage -b -us -uc`, its own test suite and fakeroot
// included.
#[test]
fn debian_lsof_builds_identically_under_detbuild() {
    let pkg = &LSOF;
    if !can_build() {
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
    let Some((dsc, dir, epoch)) = prepare(pkg) else {
        return;
    };

    // Native control: two directories whose names differ, two times.
    let (a, b) = (dir.join("native-a"), dir.join("native-second"));
    let native_a = build(pkg, "native build 1", &dsc, &a, How::Native);
    let native_b = build(pkg, "native build 2", &dsc, &b, How::Native);
    assert_eq!(
        native_a.keys().collect::<Vec<_>>(),
        native_b.keys().collect::<Vec<_>>()
    );
    assert_ne!(
        native_a, native_b,
        "native control: two native builds gave identical .debs, so this test proves nothing"
    );
    // Why they differ: the binary records the directory it was built in.
    let flag = |parent: &Path| format!("-ffile-prefix-map={}/{}=.", parent.display(), pkg.tree);
    assert!(
        holds(&member(pkg, &a, "./usr/bin/lsof"), &flag(&a)),
        "native lsof does not record its build directory"
    );

    let c = assert_identical_under_detbuild(pkg, &dsc, &dir, &epoch);
    assert!(holds(
        &member(pkg, &c, "./usr/bin/lsof"),
        &flag(Path::new(BUILD_PATH))
    ));
    progress(&format!("done in {:.0} s", started.elapsed().as_secs_f64()));
    let _ = std::fs::remove_dir_all(&dir);
}
