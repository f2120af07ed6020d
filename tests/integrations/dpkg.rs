//! examples/debian-pkg, a 3.0 (native) debhelper package whose build records the time (`date`,
//! which ignores SOURCE_DATE_EPOCH), random bytes, a temporary name and a directory's order in
//! a file it ships, built by `dpkg-buildpackage -b -us -uc` natively and with detbuild: as the
//! whole-builder wrapper, through `--rules-file` (what sbuild and pbuilder configs pass), and
//! through the `detbuild hook dpkg` fragment included from debian/rules (with fakeroot).

use super::*;

/// The .deb the build leaves next to the source, and the record it ships.
fn outputs(src: &Path) -> (Vec<u8>, String) {
    let deb = src.parent().unwrap().join(EXAMPLE_DEB);
    let bytes = std::fs::read(&deb).unwrap_or_else(|e| panic!("{}: {e}", deb.display()));
    (bytes, shipped_record(&deb))
}

/// Builds a fresh copy of the example with `cmd` (given the copy's path) and returns its
/// outputs and what dpkg-buildpackage said on stderr (the commands it runs).
fn build_logged(label: &str, cmd: impl Fn(&Path) -> Command) -> (Vec<u8>, String, String) {
    let src = copy_example("debian-pkg", label);
    let mut cmd = cmd(&src);
    let out = run_within(cmd.current_dir(&src), BUILD_LIMIT);
    let log = out.stderr.clone();
    out.ok();
    let (deb, info) = outputs(&src);
    (deb, info, log)
}

/// [`build_logged`] without the log.
fn build(label: &str, cmd: impl Fn(&Path) -> Command) -> (Vec<u8>, String) {
    let (deb, info, _) = build_logged(label, cmd);
    (deb, info)
}

/// `dpkg-buildpackage -b -us -uc EXTRA` run natively (hooks find detbuild on PATH).
fn dpkg(extra: &[&str]) -> Command {
    let mut argv = vec!["dpkg-buildpackage", "-b", "-us", "-uc"];
    argv.extend(extra);
    with_detbuild_on_path(native(&argv))
}

/// Adds the hook printed by `detbuild hook dpkg` to the copy's debian/rules.
fn add_hook(src: &Path) {
    let mut cmd = command(detbuild_bin());
    cmd.args(["hook", "dpkg"]);
    std::fs::write(src.join("debian/detbuild.mk"), run(&mut cmd).ok()).unwrap();
    let rules = std::fs::read_to_string(src.join("debian/rules")).unwrap();
    let rules = rules.replacen('\n', "\ninclude debian/detbuild.mk\n", 1);
    std::fs::write(src.join("debian/rules"), rules).unwrap();
}

fn tools() -> bool {
    have_tools(
        &["dpkg-buildpackage", "dh", "fakeroot", "shuf"],
        "dpkg-dev, debhelper, fakeroot",
    )
}

// Promise: natively two builds give different .debs (time and randomness in the shipped file,
// despite dpkg's SOURCE_DATE_EPOCH and dh_strip_nondeterminism); `detbuild -- dpkg-buildpackage
// -b -us -uc` gives byte-identical .debs (epoch from debian/changelog), and another epoch
// another .deb.
#[test]
fn dpkg_buildpackage_under_detbuild_gives_identical_debs() {
    if !tools() {
        return;
    }
    let (n1, i1) = build("deb-native1", |_| dpkg(&[]));
    let (n2, i2) = build("deb-native2", |_| dpkg(&[]));
    assert_ne!(n1, n2, "native .debs are identical");
    assert_records_vary(&i1, &i2, VARYING);
    let wrapped = |_: &Path| det(&[], &["dpkg-buildpackage", "-b", "-us", "-uc"]);
    let (d1, info) = build("deb-det1", wrapped);
    let (d2, _) = build("deb-det2", wrapped);
    assert!(d1 == d2, "two detbuild .debs differ:\n{info}");
    assert_fixed(&info);
    let (other, _) = build("deb-det3", |_| {
        det(OTHER_EPOCH, &["dpkg-buildpackage", "-b", "-us", "-uc"])
    });
    assert!(d1 != other, "another epoch gave the same .deb");
}

// Promise: with fakeroot as the gain-root command (what dpkg-buildpackage uses when not
// root), the wrapper still gives byte-identical .debs: fakeroot's preload and the shim's
// both stay in the tree; a package that also includes the hook builds the same.
#[test]
fn dpkg_buildpackage_with_fakeroot_under_detbuild_gives_identical_debs() {
    if !tools() {
        return;
    }
    let argv = ["dpkg-buildpackage", "-b", "-us", "-uc", "-rfakeroot"];
    let (d1, info, log) = build_logged("deb-fakeroot1", |_| det(&[], &argv));
    assert!(log.contains(" fakeroot debian/rules binary"), "{log}");
    let (d2, _) = build("deb-fakeroot2", |_| det(&[], &argv));
    assert!(
        d1 == d2,
        "two detbuild .debs built with fakeroot differ:\n{info}"
    );
    // The hook in debian/rules steps aside under the wrapper: the same .deb.
    let both = |src: &Path| {
        add_hook(src);
        det(&[], &argv)
    };
    let (d3, _) = build("deb-fakeroot3", both);
    assert!(d1 == d3, "the hook changed a wrapped build");
    assert_fixed(&info);
}

// Promise: `dpkg-buildpackage --rules-file='detbuild -- make -f debian/rules'`, the one
// option a build farm passes (sbuild's `$dpkg_buildpackage_user_options` as one argument,
// pbuilder's DEBBUILDOPTS quoted inside the command line it hands a shell), gives
// byte-identical .debs either way.
#[test]
fn dpkg_rules_file_form_gives_identical_debs() {
    if !tools() {
        return;
    }
    let sbuild = |_: &Path| dpkg(&["--rules-file=detbuild -- make -f debian/rules"]);
    let (d1, info) = build("deb-rules1", sbuild);
    // pbuilder: DPKG_COMMANDLINE="... dpkg-buildpackage -us -uc $DEBBUILDOPTS" run by sh.
    let debbuildopts = "'--rules-file=detbuild -- make -f debian/rules'";
    let pbuilder = |_: &Path| {
        let line = format!("dpkg-buildpackage -us -uc -b {debbuildopts}");
        with_detbuild_on_path(native(&["sh", "-c", &line]))
    };
    let (d2, _) = build("deb-rules2", pbuilder);
    assert!(d1 == d2, "two --rules-file .debs differ:\n{info}");
    assert_fixed(&info);
}

// Promise: a package whose debian/rules includes `detbuild hook dpkg` builds byte-identical
// .debs under plain `dpkg-buildpackage -rfakeroot` (fakeroot and the shim both active).
#[test]
fn dpkg_hook_in_debian_rules_gives_identical_debs() {
    if !tools() {
        return;
    }
    let hooked = |src: &Path| {
        add_hook(src);
        dpkg(&["-rfakeroot"])
    };
    let (d1, info) = build("deb-hook1", hooked);
    let (d2, _) = build("deb-hook2", hooked);
    assert!(d1 == d2, "two hooked .debs differ:\n{info}");
    assert_fixed(&info);
}

// Promise: the hook never builds unshimmed by accident: without detbuild on PATH the build
// stops with a message naming the fix; DEB_BUILD_OPTIONS=nodetbuild builds, saying so.
#[test]
fn dpkg_hook_fails_loudly_without_detbuild() {
    if !tools() {
        return;
    }
    let src = copy_example("debian-pkg", "deb-hook-missing");
    add_hook(&src);
    let mut cmd = native(&["dpkg-buildpackage", "-b", "-us", "-uc"]);
    cmd.env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .current_dir(&src);
    let out = run_within(&mut cmd, BUILD_LIMIT);
    assert!(
        !out.status.success() && out.stderr.contains("detbuild hook: `detbuild env` failed"),
        "{}",
        out.describe()
    );
    cmd.env("DEB_BUILD_OPTIONS", "nodetbuild");
    let out = run_within(&mut cmd, BUILD_LIMIT);
    assert!(out.status.success(), "{}", out.describe());
    assert!(out.stderr.contains("not shimmed"), "{}", out.describe());
}
