//! Private namespaces: where the machine allows them (root here), the build runs in its own
//! PID namespace, so pids start at a fixed value and what is seeded from them (`$$`, bash's
//! `$RANDOM`, util-linux's UUIDs) agrees across runs; with `--namespaces pid,uts` the kernel
//! itself reports the configured host name, so static programs see it too. Where the kernel
//! refuses, one notice line says so and the build runs all the same.

use crate::common::*;

// Promise: a shell and its child get the same pids on every run (2 and 3: detbuild's init is 1).
#[test]
fn pids_are_the_same_on_every_run() {
    if !can_unshare() {
        return;
    }
    let argv = ["sh", "-c", "echo $$; sh -c 'echo $$'"];
    assert_varies("native pids", || native(&argv));
    let out = assert_stable("pids", || det(&["--epoch", EPOCH], &argv));
    assert_eq!(out, "2\n3\n");
    assert_varies("pids with --namespaces none", || {
        det(&["--epoch", EPOCH, "--namespaces", "none"], &argv)
    });
}

// Promise: randomness seeded from pids is fixed by the seed: util-linux's random UUIDs (which
// mix pid and ppid into getrandom's bytes) and bash's $RANDOM.
#[test]
fn pid_seeded_randomness_is_fixed() {
    if !can_unshare() || !have("uuidgen", "uuid-runtime") {
        return;
    }
    let out = assert_promise(
        &["sh", "-c", "uuidgen -r; bash -c 'echo $RANDOM'"],
        OTHER_SEED,
    );
    assert_eq!(out.lines().count(), 2, "{out}");
}

// Promise: with `--namespaces pid,uts`, a statically linked program (which the shim cannot
// reach) reads the configured host name from the kernel; without `uts` it sees the machine's.
#[test]
fn static_programs_see_the_host_name_in_a_uts_namespace() {
    if !can_unshare() {
        return;
    }
    let probe = probe_with("host", &["-static"]);
    let p = probe.to_str().unwrap();
    let name = |out: &str| field(out, "nodename").to_string();
    let machine = name(&run(&mut native(&[p])).ok());
    assert_ne!(
        machine, "detbuild",
        "native control: this machine is called detbuild"
    );
    let plain = run(&mut det(&["--epoch", EPOCH], &[p])).ok();
    assert_eq!(
        name(&plain),
        machine,
        "static programs are out of the shim's reach"
    );
    let uts = run(&mut det(
        &["--epoch", EPOCH, "--namespaces", "pid,uts"],
        &[p],
    ))
    .ok();
    assert_eq!(name(&uts), "detbuild");
    assert_eq!(field(&uts, "domainname"), "(none)");
}

// Promise: where namespaces are refused (here: as `nobody`), detbuild says so in one line and
// runs the build with the shim's answers; `--namespaces none` asks for none and says nothing.
#[test]
fn refused_namespaces_fall_back_with_one_notice() {
    if !can_run_as_nobody() {
        return;
    }
    let bin = detbuild_bin();
    let bin = bin.to_str().unwrap();
    let as_nobody = |extra: &[&str]| {
        let mut argv = vec![
            "setpriv",
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            bin,
            "--epoch",
            EPOCH,
        ];
        argv.extend(extra);
        argv.extend(["--", "hostname"]);
        let mut cmd = native(&argv);
        cmd.current_dir("/");
        run(&mut cmd)
    };
    let out = as_nobody(&[]);
    assert_eq!(out.stdout, "detbuild\n", "{}", out.describe());
    let notices: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("namespaces"))
        .collect();
    assert_eq!(notices.len(), 1, "{}", out.describe());
    let out = as_nobody(&["--namespaces", "none"]);
    assert_eq!(out.stdout, "detbuild\n", "{}", out.describe());
    assert!(!out.stderr.contains("namespaces"), "{}", out.describe());
}

// Promise: an unknown namespace is refused before anything runs, with exit 2.
#[test]
fn unknown_namespaces_are_refused() {
    let out = run(&mut det(
        &["--epoch", EPOCH, "--namespaces", "pid,net"],
        &["true"],
    ));
    assert_eq!(out.code(), 2, "{}", out.describe());
    assert!(out.stderr.contains("\"net\""), "{}", out.describe());
}

// Promise: with `--build-path DIR`, a C program built with -g from two different directories
// is byte-identical (its debug info records DIR, not where the tree really is); natively the
// two binaries differ.
#[test]
fn build_path_makes_trees_in_different_directories_agree() {
    if !can_unshare() {
        return;
    }
    let base = tempdir("build-path");
    let trees = [base.join("a/src"), base.join("elsewhere/deeper/src")];
    for t in &trees {
        std::fs::create_dir_all(t).unwrap();
        std::fs::write(
            t.join("hello.c"),
            "#include <stdio.h>\nint main(void) { puts(\"hello\"); return 0; }\n",
        )
        .unwrap();
    }
    let script = "gcc -g -O1 -o hello hello.c && ./hello && sha256sum < hello";
    let build = |dir: &std::path::Path, under: bool| {
        let fixed = base.join("fixed-build-path");
        let mut cmd = if under {
            det(
                &["--epoch", EPOCH, "--build-path", fixed.to_str().unwrap()],
                &["sh", "-c", script],
            )
        } else {
            native(&["sh", "-c", script])
        };
        cmd.current_dir(dir);
        run(&mut cmd).ok()
    };
    assert_ne!(
        build(&trees[0], false),
        build(&trees[1], false),
        "native control: the two trees built alike"
    );
    let a = build(&trees[0], true);
    assert!(a.starts_with("hello\n"), "{a}");
    assert_eq!(
        a,
        build(&trees[1], true),
        "the two trees differ under --build-path"
    );
    let out = run(&mut det(
        &["--epoch", EPOCH, "--build-path", "relative"],
        &["true"],
    ));
    assert_eq!(out.code(), 2, "{}", out.describe());
}
