//! examples/makefile-builder: a builder Makefile that includes `detbuild env --format make`
//! and builds two sub-projects (a C program and a Python generator); `eval "$(detbuild env)"`;
//! and `detbuild env` refusing to export settings without an epoch.

use super::*;

/// The builder's artifacts: the program, its output, the generated notes.
fn artifacts(dir: &Path) -> String {
    ["greeting.txt", "notes.txt"]
        .iter()
        .map(|f| std::fs::read_to_string(dir.join("out").join(f)).unwrap())
        .collect::<String>()
        + &format!("{:?}", std::fs::read(dir.join("out/greeter")).unwrap())
}

/// `make VARS` of a fresh copy of the builder; returns the copy.
fn build(label: &str, vars: &[&str]) -> PathBuf {
    let dir = copy_example("makefile-builder", label);
    let mut make = with_detbuild_on_path(native(&["make", "-s"]));
    make.args(vars);
    build_in(make, &dir);
    dir
}

fn tools() -> bool {
    have_tools(
        &["make", "gcc", "python3", "shuf"],
        "make, gcc, python3, coreutils",
    )
}

// Promise: a builder Makefile that includes `detbuild env --format make` builds its
// sub-projects identically every time, and another epoch changes them; natively they differ.
#[test]
fn builder_makefile_builds_sub_projects_identically() {
    if !tools() {
        return;
    }
    let n1 = artifacts(&build("builder-native1", &["NATIVE=1"]));
    let n2 = artifacts(&build("builder-native2", &["NATIVE=1"]));
    assert_records_vary(&n1, &n2, &["built", "generated:", "id:"]);
    let epoch = format!("EPOCH={EPOCH}");
    let d1 = artifacts(&build("builder-det1", &[&epoch]));
    let d2 = artifacts(&build("builder-det2", &[&epoch]));
    assert_eq!(d1, d2, "two detbuild builds differ");
    assert!(
        d1.starts_with(&format!("built {EPOCH}.000000000, salt ",))
            && d1.contains("plugins audio net video zlib \n"),
        "{d1}"
    );
    assert!(d1.contains("topics: changes release security\n"), "{d1}");
    let other = artifacts(&build("builder-det3", &["EPOCH=1700000777"]));
    assert_ne!(d1, other, "another epoch changed nothing");
}

// Promise: with the included environment, make itself runs without the shim (real clock, no
// shim mapped), and its recipes run with it (the build's clock).
#[test]
fn builder_make_is_not_shimmed_but_its_recipes_are() {
    if !tools() {
        return;
    }
    let dir = copy_example("makefile-builder", "builder-where");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let where_ = |vars: &[&str]| {
        let mut make = with_detbuild_on_path(native(&["make", "-s", "where"]));
        make.args(vars);
        build_in(make, &dir)
    };
    let real_clock = |text: &str| {
        let clock: u64 = text.rsplit(' ').next().unwrap().trim().parse().unwrap();
        clock.abs_diff(now) < 600
    };
    // Control: natively neither carries the shim and both read the real clock.
    let out = where_(&["NATIVE=1"]);
    let recipe = line(&out, "recipe:");
    assert!(
        recipe.starts_with("recipe: shim no") && real_clock(recipe),
        "{out}"
    );
    let out = where_(&[&format!("EPOCH={EPOCH}")]);
    let make = line(&out, "make:");
    assert!(
        make.starts_with("make: shim no") && real_clock(make),
        "{out}"
    );
    assert_eq!(
        line(&out, "recipe:"),
        format!("recipe: shim yes, clock {EPOCH}")
    );
}

// Promise: `eval "$(detbuild env)"` puts a shell's later commands under the shim: a
// sub-project built from that shell is identical every time; natively it differs.
#[test]
fn env_sh_format_shims_a_shells_build() {
    if !tools() {
        return;
    }
    let script = |det: bool| {
        let env = format!(
            "eval \"$('{}' env --epoch {EPOCH})\"; ",
            detbuild_bin().display()
        );
        format!(
            "{}make -s -C greeter && ./greeter/greeter && cd notes && python3 gen.py",
            if det { env.as_str() } else { "" }
        )
    };
    let build = |label: &str, det: bool| {
        let dir = copy_example("makefile-builder", label);
        build_in(native(&["sh", "-c", &script(det)]), &dir)
    };
    let (n1, n2) = (build("eval-native1", false), build("eval-native2", false));
    assert_records_vary(&n1, &n2, &["built", "generated:", "id:"]);
    let (d1, d2) = (build("eval-det1", true), build("eval-det2", true));
    assert_eq!(d1, d2, "two builds after eval differ");
    assert!(d1.starts_with(&format!("built {EPOCH}.")), "{d1}");
}

// Promise: `detbuild env` with no epoch source (no --epoch, SOURCE_DATE_EPOCH, detbuild.toml
// epoch, git commit or debian/changelog) refuses: one line naming the fixes, exit 2, nothing
// on stdout; the builder Makefile then stops before building anything. `detbuild -- CMD`
// still runs, with its notice.
#[test]
fn env_refuses_without_an_epoch() {
    let dir = tempdir("env-refuses");
    for format in ["sh", "make"] {
        let mut cmd = command(detbuild_bin());
        cmd.args(["env", "--format", format]).current_dir(&dir);
        let out = run(&mut cmd);
        assert_one_line_error(&out, 2, "no epoch to export");
        for fix in [
            "--epoch",
            "SOURCE_DATE_EPOCH",
            "detbuild.toml",
            "git",
            "debian/changelog",
        ] {
            assert!(out.stderr.contains(fix), "{}", out.describe());
        }
        assert_eq!(out.stdout, "", "{}", out.describe());
    }
    // Control: any one source is enough.
    let mut cmd = command(detbuild_bin());
    cmd.args(["env"])
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .current_dir(&dir);
    assert!(run(&mut cmd)
        .ok()
        .contains(&format!("SOURCE_DATE_EPOCH='{EPOCH}'")));
    let mut cmd = det(&[], &["true"]);
    cmd.current_dir(&dir);
    let out = run(&mut cmd);
    assert!(
        out.status.success() && out.stderr.contains("notice"),
        "{}",
        out.describe()
    );

    if !tools() {
        return;
    }
    let copy = copy_example("makefile-builder", "builder-refuses");
    let mut make = with_detbuild_on_path(native(&["make", "-s"]));
    make.current_dir(&copy);
    let out = run_within(&mut make, BUILD_LIMIT);
    assert!(
        !out.status.success() && out.stderr.contains("no epoch to export"),
        "{}",
        out.describe()
    );
    assert!(!copy.join("out").exists() && !copy.join("greeter/greeter").exists());
}
