//! pbuilder, Debian's chroot package builder (what Jenkins-driven rebuild farms run), building
//! examples/debian-pkg's source package (`dpkg-source -b`) as root: `pbuilder build X.dsc`
//! natively and as `detbuild -- pbuilder build X.dsc`. pbuilder unpacks its base tarball into
//! a fresh chroot, mounts `/proc` (and `/sys`, `/dev/pts`, `/dev/shm`) there, installs the
//! build dependencies and runs `dpkg-buildpackage` through `chroot`; the shim follows it in
//! through `/proc/self/fd/N` (README, Chroots), so nothing of detbuild's is needed inside.
//! cowbuilder, pbuilder on a hard-linked copy of a base directory with cowdancer's preload
//! breaking the links before writes, likewise, and its base must stay as it was.
//!
//! Every pbuilder run reads only a private `pbuilderrc`: passed with `--configfile`, and also
//! the file pbuilder reads in place of `/etc/pbuilderrc` (`PBUILDER_SYSCONFDIR`), with `HOME`
//! a directory without `.pbuilderrc`; the build place, the results and the files pbuilder
//! copies into the chroot's `/etc` (`CONFDIR`) are in the test's own directory.
//!
//! SLOW on the first run: the base tarball (bookworm, pbuilder's `buildd` variant plus
//! debhelper, the example's one build dependency, and cowdancer) is made once with
//! `pbuilder create` (downloads about 130 MB, 1.5 to 3 min) into `target/cache/pbuilder/`,
//! with the downloaded packages kept in `target/cache/pbuilder/aptcache/`; later runs are
//! offline (builds run without network, as pbuilder's default `USENETWORK=no` says). Each
//! build then takes 15-30 s on two cores (pbuilder, most of it unpacking the base), 10-20 s
//! (cowbuilder, after the test unpacks the tarball once into its `base.cow`).

use super::*;
use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Instant;

const SUITE: &str = "bookworm";
/// Packages the base holds beyond pbuilder's `buildd` variant: the example's build dependency
/// and cowbuilder's `cow-shell`, which must be inside the chroot.
const EXTRA: &str = "debhelper cowdancer";
/// The cached base tarball's name (a new name when [`EXTRA`] changes).
const BASE_TGZ: &str = "bookworm-debhelper-cowdancer.tgz";
const MIRROR: &str = "http://deb.debian.org/debian";
/// Limit for `pbuilder create` (a download).
const CREATE_LIMIT: Duration = Duration::from_secs(900);
/// The source package dpkg-source makes of the example.
const DSC: &str = "detbuild-example_1.0.dsc";
const TARBALL: &str = "detbuild-example_1.0.tar.xz";

fn progress(line: &str) {
    crate::common::progress("pbuilder", line);
}

/// The private configuration of a pbuilder run in `dir` (its build place and results there
/// too), with `settings` after the common ones; returns the config directory.
fn configure(dir: &Path, settings: &str) -> PathBuf {
    let conf = dir.join("conf");
    let etc = conf.join("etc");
    std::fs::create_dir_all(&etc).unwrap();
    // What pbuilder copies into the chroot's /etc (the host's /etc/resolv.conf still, which
    // `pbuilder create` needs to download; builds empty it).
    std::fs::write(etc.join("hosts"), "127.0.0.1 localhost\n").unwrap();
    std::fs::write(etc.join("hostname"), "pbuilder\n").unwrap();
    std::fs::write(etc.join("mailname"), "pbuilder\n").unwrap();
    let rc = format!(
        "DISTRIBUTION={SUITE}\nMIRRORSITE={MIRROR}\nBUILDPLACE={build}\nBUILDRESULT={result}\n\
         CONFDIR={etc}\nHOOKDIR=\nUSECGROUP=no\nEXTRAPACKAGES=\"{EXTRA}\"\n{settings}",
        build = dir.join("build").display(),
        result = dir.join("result").display(),
        etc = etc.display(),
    );
    std::fs::write(conf.join("pbuilderrc"), rc).unwrap();
    conf
}

/// `ENGINE OPERATION ARGS` (`argv`; pbuilder or cowbuilder) with the configuration in `conf`
/// (`--configfile` after the operation), natively or under `detbuild FLAGS --` (`flags` given).
fn engine(conf: &Path, flags: Option<&[&str]>, argv: &[&str]) -> Command {
    let rc = conf.join("pbuilderrc");
    let mut full = vec![argv[0], argv[1], "--configfile", rc.to_str().unwrap()];
    full.extend(&argv[2..]);
    let mut cmd = match flags {
        Some(flags) => det(flags, &full),
        None => native(&full),
    };
    cmd.env("PBUILDER_SYSCONFDIR", conf).env("HOME", conf);
    cmd
}

/// The base tarball, made by `pbuilder create` into `target/cache/pbuilder/` on first use
/// (one test at a time).
fn base() -> PathBuf {
    static LOCK: Mutex<()> = Mutex::new(());
    let _held = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let cache = cache_dir("pbuilder");
    let tgz = cache.join(BASE_TGZ);
    if tgz.is_file() {
        return tgz;
    }
    let part = cache.join(format!("{BASE_TGZ}.part"));
    let _ = std::fs::remove_file(&part);
    let work = tempdir("pbuilder-create");
    let aptcache = cache.join("aptcache");
    std::fs::create_dir_all(&aptcache).unwrap();
    let conf = configure(&work, &format!("APTCACHE={}\n", aptcache.display()));
    progress(&format!(
        "pbuilder create: {SUITE} (buildd variant, {EXTRA}) into {}, packages cached in {}",
        tgz.display(),
        aptcache.display()
    ));
    let start = Instant::now();
    let part_arg = part.to_str().unwrap();
    let mut cmd = engine(&conf, None, &["pbuilder", "create", "--basetgz", part_arg]);
    run_within(&mut cmd, CREATE_LIMIT).ok();
    progress(&format!(
        "pbuilder create: {:.0} s",
        start.elapsed().as_secs_f64()
    ));
    std::fs::rename(&part, &tgz).unwrap();
    let _ = std::fs::remove_dir_all(&work);
    tgz
}

/// examples/debian-pkg's source package, made once per test in a directory of its own.
fn source_package(label: &str) -> PathBuf {
    let src = copy_example("debian-pkg", label);
    let dir = src.parent().unwrap().to_path_buf();
    run(native(&["dpkg-source", "-b", "src"]).current_dir(&dir)).ok();
    dir
}

/// What one build left in its `result/` directory: each file's name and bytes.
type Results = Vec<(String, Vec<u8>)>;

/// Lines of the mount table naming `dir`.
fn mounts_under(dir: &Path) -> Vec<String> {
    let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let dir = dir.to_str().unwrap();
    table
        .lines()
        .filter(|l| l.contains(dir))
        .map(String::from)
        .collect()
}

/// `argv` (`pbuilder build ...` or `cowbuilder --build ...`, without the .dsc) building the
/// source package in `sources`, in a fresh directory named `label` (the .dsc copied there,
/// given by a relative name), natively or under detbuild with `flags`; asserts that it left
/// nothing mounted, nothing in its build place (pbuilder removes the chroot by listing it, so
/// a file the shim hid from listings would stay) and no plant of the shim anywhere in its
/// directory. Returns the results and the record the .deb ships.
fn build(label: &str, sources: &Path, argv: &[&str], flags: Option<&[&str]>) -> (Results, String) {
    let (results, record, _) = build_logged(label, sources, argv, flags, "");
    (results, record)
}

/// [`build`] with `settings` added to the pbuilderrc; also returns what the engine printed.
fn build_logged(
    label: &str,
    sources: &Path,
    argv: &[&str],
    flags: Option<&[&str]>,
    settings: &str,
) -> (Results, String, String) {
    let dir = tempdir(label);
    for file in [DSC, TARBALL] {
        std::fs::copy(sources.join(file), dir.join(file)).unwrap();
    }
    let conf = configure(&dir, &format!("APTCACHE=\n{settings}"));
    let what = format!("{label}: {} {}", argv[0], argv[1]);
    progress(&format!("{what} in {} ...", dir.display()));
    let start = Instant::now();
    let mut argv = argv.to_vec();
    argv.push(DSC);
    let log = run_within(engine(&conf, flags, &argv).current_dir(&dir), BUILD_LIMIT).ok();
    progress(&format!("{what}: {:.0} s", start.elapsed().as_secs_f64()));
    assert_eq!(mounts_under(&dir), Vec::<String>::new(), "left mounted");
    let left: Vec<_> = std::fs::read_dir(dir.join("build"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(left.is_empty(), "left in the build place: {left:?}");
    assert_eq!(plants_below(&dir), "", "plants of the shim left behind");
    let mut results: Results = std::fs::read_dir(dir.join("result"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            (
                p.file_name().unwrap().to_str().unwrap().into(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    results.sort();
    let record = shipped_record(&dir.join("result").join(EXAMPLE_DEB));
    (results, record, log)
}

/// The names of the files that differ between two builds' results.
fn differing(a: &Results, b: &Results) -> Vec<String> {
    let names: Vec<_> = a.iter().map(|(n, _)| n).collect();
    assert_eq!(names, b.iter().map(|(n, _)| n).collect::<Vec<_>>());
    a.iter()
        .zip(b)
        .filter(|(x, y)| x.1 != y.1)
        .map(|(x, _)| x.0.clone())
        .collect()
}

/// Whether pbuilder (and `extra` tools) can run here.
fn tools(extra: &[&str], package: &str) -> bool {
    require_root("pbuilder chroots as root")
        && have_tools(&["pbuilder", "debootstrap"], "pbuilder, debootstrap")
        && have_tools(&["dpkg-source"], "dpkg-dev")
        && have_tools(extra, package)
}

/// The changelog's date (`detbuild -- pbuilder build X.dsc` cannot read it from a .dsc).
const FROM_CHANGELOG: &[&str] = &["--epoch", EPOCH];

/// The engine promise for `argv` (the build command without the .dsc): two native builds
/// give different .debs and .buildinfo files (naming what differs), two detbuild builds at the
/// changelog's epoch in two directories identical results, another epoch another .deb.
fn assert_engine_promise(label: &str, argv: &[&str]) {
    let sources = source_package(&format!("{label}-src"));
    let build = |name: &str, flags| build(&format!("{label}-{name}"), &sources, argv, flags);
    let (n1, i1) = build("native-a", None);
    let (n2, i2) = build("native-bbbbbb", None);
    let native_diff = differing(&n1, &n2);
    progress(&format!("natively different: {native_diff:?}"));
    for file in [EXAMPLE_DEB, "detbuild-example_1.0_amd64.buildinfo"] {
        assert!(
            native_diff.iter().any(|n| n == file),
            "native builds gave the same {file}, so this proves nothing"
        );
    }
    assert_records_vary(&i1, &i2, VARYING);
    let (d1, info) = build("det-a", Some(FROM_CHANGELOG));
    let (d2, _) = build("det-bbbbbb", Some(FROM_CHANGELOG));
    assert_eq!(
        differing(&d1, &d2),
        Vec::<String>::new(),
        "two detbuild {} builds differ:\n{info}",
        argv[0]
    );
    assert_fixed(&info);
    let (other, _) = build("det-other", Some(OTHER_EPOCH));
    assert!(
        differing(&d1, &other).iter().any(|n| n == EXAMPLE_DEB),
        "another epoch gave the same .deb"
    );
}

// Promise (slow): `detbuild --epoch E -- pbuilder build X.dsc` (run as root; the chroot
// build follows the shim) gives byte-identical results (.deb, .buildinfo, .changes) in two
// directories at two times, and another epoch another .deb; natively the .debs differ (the
// shipped record's time and randomness) and so do the .buildinfo files (Build-Date).
#[test]
fn pbuilder_under_detbuild_gives_identical_debs() {
    if !tools(&[], "") {
        return;
    }
    let base = base();
    assert_engine_promise(
        "pbuilder",
        &["pbuilder", "build", "--basetgz", base.to_str().unwrap()],
    );
}

/// Paths below `dir` whose name starts with `.detbuild` (the shim's plants are
/// `.detbuild-shim.*`), found natively.
fn plants_below(dir: &Path) -> String {
    let mut cmd = native(&["find"]);
    cmd.arg(dir).args(["-name", ".detbuild*"]);
    run(&mut cmd).ok()
}

/// A pbuilder `B` hook (run in the chroot after the build): the `LD_PRELOAD` a program there
/// was started with, and the files of the shim it mapped (the shim, or a plant
/// `/.detbuild-shim.*.so`).
const HOOK: &str = "#!/bin/sh
cat /proc/self/environ | tr '\\0' '\\n' | grep '^LD_PRELOAD=' | sed 's/^/hook: /'
grep 'detbuild.*[.]so$' /proc/self/maps | sed 's/^.* /hook: mapped /'
";

// Promise (slow): `detbuild -- pbuilder build` changes nothing outside its results: the base
// tarball keeps its bytes, nothing stays mounted, pbuilder's cleanup removes the whole chroot
// (nothing in it was hidden from its listing), and no plant of the shim is anywhere in the
// build's directory or pbuilder's cache (the first three [`build`] checks after every build);
// programs in the chroot load the shim through `/proc/self/fd/N` (pbuilder mounts `/proc`
// there), so nothing was planted in the chroot while it lived either.
#[test]
fn pbuilder_under_detbuild_leaves_base_and_host_unchanged() {
    if !tools(&[], "") {
        return;
    }
    let base = base();
    let before = std::fs::read(&base).unwrap();
    let sources = source_package("pbuilder-trace-src");
    let hooks = sources.join("hooks");
    std::fs::create_dir(&hooks).unwrap();
    let hook = hooks.join("B10-detbuild-preload");
    std::fs::write(&hook, HOOK).unwrap();
    run(native(&["chmod", "+x"]).arg(&hook)).ok();
    let argv = ["pbuilder", "build", "--basetgz", base.to_str().unwrap()];
    let hookdir = format!("HOOKDIR={}\n", hooks.display());
    let flags = Some(FROM_CHANGELOG);
    let (results, _, log) = build_logged("pbuilder-trace", &sources, &argv, flags, &hookdir);
    assert!(results.iter().any(|(n, _)| n == EXAMPLE_DEB));
    let shim = shim().canonicalize().unwrap();
    let preload = log
        .lines()
        .find_map(|l| l.strip_prefix("hook: LD_PRELOAD="))
        .unwrap_or_else(|| panic!("the hook printed no LD_PRELOAD:\n{log}"));
    // `/proc/self/fd/N/<the shim's host path>`.
    let through_proc = preload
        .strip_prefix("/proc/self/fd/")
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(fd, path)| {
            fd.parse::<u32>().is_ok()
                && Path::new("/").join(path).canonicalize().ok().as_ref() == Some(&shim)
        });
    assert!(through_proc, "LD_PRELOAD in the chroot: {preload}");
    let mapped: Vec<_> = log
        .lines()
        .filter_map(|l| l.strip_prefix("hook: mapped "))
        .collect();
    assert!(
        !mapped.is_empty() && mapped.iter().all(|m| Path::new(m) == shim),
        "the hook mapped {mapped:?}, not {}",
        shim.display()
    );
    assert!(
        std::fs::read(&base).unwrap() == before,
        "the base tarball changed"
    );
    let cache = base.parent().unwrap();
    assert_eq!(
        plants_below(cache),
        "",
        "plants of the shim in pbuilder's cache"
    );
}

/// cowbuilder's base: the cached base tarball unpacked into a directory of the test's own
/// (`base.cow`, which cowbuilder hard-links into each build place, so it must be on the build
/// places' file system).
fn cow_base(label: &str) -> PathBuf {
    let tgz = base();
    let cow = tempdir(label).join("base.cow");
    std::fs::create_dir(&cow).unwrap();
    let mut tar = native(&["tar", "-xzpf", tgz.to_str().unwrap()]);
    run(tar.arg("-C").arg(&cow)).ok();
    cow
}

/// `cowbuilder --build --basepath COW`.
fn cowbuilder(cow: &Path) -> [&str; 4] {
    ["cowbuilder", "--build", "--basepath", cow.to_str().unwrap()]
}

/// Every entry of the tree at `dir`: path, inode, links, size, modification time, mode,
/// owner, link target (not the change time, which hard links move).
fn manifest(dir: &Path) -> BTreeSet<String> {
    let mut cmd = native(&["find"]);
    cmd.arg(dir)
        .args(["-printf", "%p %i %n %s %T@ %m %U %G %l\\n"]);
    run(&mut cmd).ok().lines().map(String::from).collect()
}

// Promise (slow): cowbuilder (pbuilder on a hard-linked copy of a base directory, with
// cowdancer's preload breaking links before writes) under detbuild gives byte-identical
// results in two directories at two times, another epoch another .deb; natively the .debs
// and .buildinfo files differ.
#[test]
fn cowbuilder_under_detbuild_gives_identical_debs() {
    if !tools(&["cowbuilder", "cow-shell"], "cowbuilder") {
        return;
    }
    let cow = cow_base("cowbuilder-base");
    assert_engine_promise("cowbuilder", &cowbuilder(&cow));
    let _ = std::fs::remove_dir_all(cow.parent().unwrap());
}

// Promise (slow): with the shim loaded next to cowdancer's preload, copy-on-write still
// holds: after a `detbuild -- cowbuilder --build` (which installs packages and builds in the
// hard-linked copy), every file of the base directory has its inode, link count, size, time
// and mode as before, and nothing of detbuild's is in it.
#[test]
fn cowbuilder_under_detbuild_keeps_its_base() {
    if !tools(&["cowbuilder", "cow-shell"], "cowbuilder") {
        return;
    }
    let cow = cow_base("cowbuilder-keep");
    let before = manifest(&cow);
    let sources = source_package("cowbuilder-keep-src");
    build(
        "cowbuilder-keep",
        &sources,
        &cowbuilder(&cow),
        Some(FROM_CHANGELOG),
    );
    let after = manifest(&cow);
    let changed: Vec<_> = before.symmetric_difference(&after).take(20).collect();
    assert!(changed.is_empty(), "the base changed: {changed:#?}");
    assert_eq!(plants_below(&cow), "", "plants of the shim in the base");
    let _ = std::fs::remove_dir_all(cow.parent().unwrap());
}

// Promise (slow): the pbuilderrc lines of docs/build-farms.md, for a farm that does not wrap
// pbuilder (`DEBBUILDOPTS` passing `--rules-file='DETBUILD -- make -f debian/rules'`,
// `BINDMOUNTS` bringing detbuild's directory into the chroot at the same path), give
// byte-identical .debs from plain `pbuilder build` in two directories at two times, with the
// package's epoch (the launcher inside reads debian/changelog); without them the .debs differ.
// The .buildinfo (and the .changes listing it) keep dpkg's real Build-Date in this form.
#[test]
fn pbuilder_rules_file_form_gives_identical_debs() {
    if !tools(&[], "") {
        return;
    }
    let base = base();
    let sources = source_package("pbuilder-rules-src");
    let argv = ["pbuilder", "build", "--basetgz", base.to_str().unwrap()];
    let bin = detbuild_bin();
    let settings = format!(
        "BINDMOUNTS={dir}\nDEBBUILDOPTS=\"'--rules-file={bin} -- make -f debian/rules'\"\n",
        dir = bin.parent().unwrap().display(),
        bin = bin.display()
    );
    let build = |name: &str, settings: &str| {
        let label = format!("pbuilder-rules-{name}");
        build_logged(&label, &sources, &argv, None, settings)
    };
    let (n1, i1, _) = build("native-a", "");
    let (n2, i2, _) = build("native-bbbbbb", "");
    assert!(
        differing(&n1, &n2).iter().any(|n| n == EXAMPLE_DEB),
        "native .debs are identical, so this proves nothing"
    );
    assert_records_vary(&i1, &i2, VARYING);
    let (d1, info, log) = build("det-a", &settings);
    assert!(log.contains("--rules-file="), "{log}");
    let (d2, _, _) = build("det-bbbbbb", &settings);
    // Only `debian/rules` runs under the shim: dpkg-genbuildinfo writes the real Build-Date
    // into the .buildinfo, which the .changes files list with their checksums.
    let unshimmed = [
        "detbuild-example_1.0_amd64.buildinfo",
        "detbuild-example_1.0_amd64.changes",
        "detbuild-example_1.0_source.changes",
    ];
    let differ = differing(&d1, &d2);
    assert!(
        differ.iter().all(|n| unshimmed.contains(&n.as_str())),
        "two --rules-file pbuilder builds differ in {differ:?}:\n{info}"
    );
    assert_fixed(&info);
}
