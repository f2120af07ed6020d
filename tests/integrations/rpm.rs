//! examples/rpm-spec, a spec whose %build records the time (`date`), random bytes, a temporary
//! name and a directory's order, built by `rpmbuild -bb` natively, with only rpm's own
//! reproducibility macros, and with the macros `detbuild hook rpm` prints.

use super::*;

/// The macros file printed by `detbuild hook rpm`, written once per test.
fn hook_file(label: &str) -> PathBuf {
    let mut cmd = command(detbuild_bin());
    cmd.args(["hook", "rpm"]);
    let file = tempdir(label).join("detbuild.macros");
    std::fs::write(&file, run(&mut cmd).ok()).unwrap();
    file
}

/// `rpmbuild -bb` of the example in a private `_topdir` under a fresh directory, with `extra`
/// options; returns the .rpm's bytes, its one file, and its header's build time and host.
fn build(label: &str, extra: &[&str], env: &[(&str, &str)]) -> (Vec<u8>, String, String) {
    let top = tempdir(label);
    let mut cmd = with_detbuild_on_path(native(&["rpmbuild", "-bb", "--nodeps", "--define"]));
    cmd.arg(format!("_topdir {}", top.display()))
        .args(extra)
        .arg(example("rpm-spec").join("detbuild-example.spec"))
        .envs(env.iter().copied());
    build_in(cmd, &top);
    let rpm = top.join("RPMS/noarch/detbuild-example-1.0-1.noarch.rpm");
    let bytes = std::fs::read(&rpm).unwrap_or_else(|e| panic!("{}: {e}", rpm.display()));
    let script = format!("rpm2cpio '{}' | cpio -i --quiet --to-stdout", rpm.display());
    let info = run(&mut native(&["sh", "-c", &script])).ok();
    let mut query = native(&["rpm", "-qp", "--qf", "%{BUILDTIME} %{BUILDHOST}"]);
    let header = run(query.arg(&rpm)).ok();
    (bytes, info, header)
}

fn tools() -> bool {
    have_tools(
        &["rpmbuild", "rpm2cpio", "cpio", "shuf"],
        "rpm, cpio, coreutils",
    )
}

/// rpm's own reproducibility macros, without detbuild.
const RPM_ONLY: &[&str] = &[
    "--define=source_date_epoch_from_changelog 1",
    "--define=use_source_date_epoch_as_buildtime 1",
    "--define=clamp_mtime_to_source_date_epoch 1",
    "--define=_buildhost detbuild",
];

/// The spec's %changelog date (Tue Nov 14 2023), the epoch rpm exports.
const SPEC_EPOCH: &str = "1699920000";

// Promise: natively two rpmbuilds differ, and rpm's own reproducibility macros alone do not
// fix the contents; with `detbuild hook rpm`'s macros two builds in different directories
// give byte-identical .rpm files (build time = the %changelog epoch, build host `detbuild`),
// and another epoch another .rpm.
#[test]
fn rpmbuild_with_hook_macros_gives_identical_rpms() {
    if !tools() {
        return;
    }
    let (n1, i1, h1) = build("rpm-native1", &[], &[]);
    std::thread::sleep(Duration::from_millis(1100));
    let (n2, i2, h2) = build("rpm-native2", &[], &[]);
    assert!(
        n1 != n2 && h1 != h2,
        "native .rpms are identical:\n{h1}\n{i1}"
    );
    assert_records_vary(&i1, &i2, &["built at:", "salt:", "scratch:"]);
    let (r1, i1, _) = build("rpm-own1", RPM_ONLY, &[]);
    let (r2, i2, _) = build("rpm-own2", RPM_ONLY, &[]);
    assert!(r1 != r2, "rpm's own macros already made the .rpm identical");
    assert_records_vary(&i1, &i2, &["built at:", "salt:", "scratch:"]);

    let hook = hook_file("rpm-hook");
    let load = ["--load", hook.to_str().unwrap()];
    let (d1, info, header) = build("rpm-det1", &load, &[]);
    let (d2, _, _) = build("rpm-det2", &load, &[]);
    assert!(d1 == d2, "two hooked .rpms differ:\n{info}");
    assert_eq!(header, format!("{SPEC_EPOCH} detbuild"));
    assert!(
        line(&info, "built at:").starts_with(&format!("built at: {SPEC_EPOCH}.")),
        "{info}"
    );
    assert_eq!(
        line(&info, "parts:"),
        "parts: alpha beta delta epsilon gamma "
    );
    let mut other = load.to_vec();
    other.push("--define=source_date_epoch_from_changelog 0");
    let (d3, _, header) = build("rpm-det3", &other, &[("SOURCE_DATE_EPOCH", "1700000777")]);
    assert!(d1 != d3 && header.starts_with("1700000777 "), "{header}");
}

// Promise: `detbuild -- rpmbuild -bb` (the whole builder wrapped) with the hook's macros gives
// byte-identical .rpm files from different directories; without them rpm stamps the files'
// real times into the header, so the wrapper alone differs from one second to the next.
#[test]
fn rpmbuild_wrapped_in_detbuild_gives_identical_rpms_with_the_macros() {
    if !tools() {
        return;
    }
    let hook = hook_file("rpm-wrapped-hook");
    let wrapped = |label: &str, macros: bool| {
        let dir = tempdir(label);
        let mut argv = vec!["rpmbuild", "-bb", "--nodeps"];
        if macros {
            argv.extend(["--load", hook.to_str().unwrap()]);
        }
        let top = format!("_topdir {}", dir.join("top").display());
        let spec = example("rpm-spec").join("detbuild-example.spec");
        argv.extend(["--define", &top, spec.to_str().unwrap()]);
        build_in(det(&["--epoch", EPOCH], &argv), &dir);
        std::fs::read(dir.join("top/RPMS/noarch/detbuild-example-1.0-1.noarch.rpm")).unwrap()
    };
    let bare = wrapped("rpm-wrapped-bare1", false);
    std::thread::sleep(Duration::from_millis(1100));
    assert!(
        bare != wrapped("rpm-wrapped-bare2", false),
        "file times did not show"
    );
    let d1 = wrapped("rpm-wrapped1", true);
    std::thread::sleep(Duration::from_millis(1100));
    assert!(
        d1 == wrapped("rpm-wrapped2", true),
        "two wrapped builds with the macros differ"
    );
}

// Promise: with the hook macros and no detbuild on PATH, rpmbuild stops in %build with a
// message naming the fix instead of building unshimmed.
#[test]
fn rpm_hook_fails_loudly_without_detbuild() {
    if !tools() {
        return;
    }
    let hook = hook_file("rpm-hook-missing");
    let top = tempdir("rpm-missing");
    let mut cmd = native(&["rpmbuild", "-bb", "--nodeps", "--load"]);
    cmd.arg(&hook)
        .arg("--define")
        .arg(format!("_topdir {}", top.display()))
        .arg(example("rpm-spec").join("detbuild-example.spec"))
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
    let out = run_within(&mut cmd, BUILD_LIMIT);
    assert!(
        !out.status.success() && out.stderr.contains("detbuild hook: `detbuild env` failed"),
        "{}",
        out.describe()
    );
    assert!(!top
        .join("RPMS/noarch/detbuild-example-1.0-1.noarch.rpm")
        .exists());
}
