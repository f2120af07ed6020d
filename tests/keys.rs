//! Process keys: the same bytes whatever the job count and wherever the tree sits, however
//! the build is started; repeated identical commands draw distinct streams; key generators
//! keep real randomness.

use crate::common::*;
use std::path::Path;
use std::process::Command;

/// Targets of the test Makefile and CMake project.
const TARGETS: usize = 6;

/// A Makefile whose targets each save 16 random bytes, plus a sub-make in `sub/` (so that
/// directories below the tree count too).
fn write_makefile(dir: &Path) {
    let mut text = String::from("all:");
    for i in 0..TARGETS {
        text.push_str(&format!(" t{i}"));
    }
    text.push_str("\n\t$(MAKE) -C sub\n");
    for i in 0..TARGETS {
        text.push_str(&format!(
            "t{i}:\n\tsleep 0.0{i}; head -c 16 /dev/urandom | od -An -tx1 > $@\n"
        ));
    }
    std::fs::write(dir.join("Makefile"), text).unwrap();
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(
        dir.join("sub/Makefile"),
        "all:\n\thead -c 16 /dev/urandom | od -An -tx1 > out\n",
    )
    .unwrap();
}

/// What the build in `dir` saved.
fn outputs(dir: &Path) -> Vec<String> {
    let mut files: Vec<_> = (0..TARGETS).map(|i| format!("t{i}")).collect();
    files.push("sub/out".into());
    files
        .iter()
        .map(|f| std::fs::read_to_string(dir.join(f)).unwrap())
        .collect()
}

/// The promise for one way of passing a job count: `build(flags, j, dir)` under detbuild
/// saves the same bytes with j = 1 and j = 8, another seed changes them, and the build
/// varies natively.
#[track_caller]
fn job_count_promise(name: &str, build: impl Fn(Option<&[&str]>, u32, &Path) -> Command) {
    let once = |flags: Option<&[&str]>, j: u32| {
        let dir = tempdir(name);
        write_makefile(&dir);
        let mut cmd = build(flags, j, &dir);
        cmd.current_dir(&dir);
        run(&mut cmd).ok();
        outputs(&dir)
    };
    assert_ne!(
        once(None, 8),
        once(None, 8),
        "{name}: native builds matched"
    );
    let fixed: &[&str] = &["--epoch", EPOCH];
    let one = once(Some(fixed), 1);
    assert_eq!(one, once(Some(fixed), 8), "{name}: -j1 and -j8 differ");
    assert_ne!(
        one,
        once(Some(OTHER_SEED), 8),
        "{name}: the seed changed nothing"
    );
}

/// `argv` natively, or under detbuild with `flags`.
fn maybe_det(flags: Option<&[&str]>, argv: &[&str]) -> Command {
    match flags {
        Some(f) => det(f, argv),
        None => native(argv),
    }
}

// Promise: a job count inside a shell command line (`sh -c "make -j$j"`) does not change
// what the build draws.
#[test]
fn job_counts_inside_sh_c_do_not_change_the_bytes() {
    job_count_promise("sh-c-jobs", |flags, j, _| {
        maybe_det(flags, &["sh", "-c", &format!("make -s -j{j}")])
    });
}

// Promise: `env MAKEFLAGS=-j$j make` draws the same bytes for every job count.
#[test]
fn makeflags_job_counts_do_not_change_the_bytes() {
    job_count_promise("makeflags-jobs", |flags, j, _| {
        maybe_det(flags, &["env", &format!("MAKEFLAGS=-j{j}"), "make", "-s"])
    });
}

// Promise: `xargs -P$j` draws the same bytes for every parallelism.
#[test]
fn xargs_parallelism_does_not_change_the_bytes() {
    job_count_promise("xargs-jobs", |flags, j, dir| {
        let items: String = (0..TARGETS).map(|i| format!("t{i}\n")).collect();
        std::fs::write(dir.join("items"), items + "sub/out\n").unwrap();
        let each = "head -c 16 /dev/urandom | od -An -tx1 > $0";
        let p = format!("-P{j}");
        maybe_det(
            flags,
            &["xargs", &p, "-n1", "-a", "items", "sh", "-c", each],
        )
    });
}

// Promise: `cmake --build --parallel $j` (with Ninja) draws the same bytes for every job
// count.
#[test]
fn cmake_parallel_builds_do_not_change_the_bytes() {
    if !have("cmake", "cmake") || !have("ninja", "ninja-build") {
        return;
    }
    job_count_promise("cmake-jobs", |flags, j, dir| {
        let mut text = String::from("cmake_minimum_required(VERSION 3.13)\nproject(p NONE)\n");
        let mut outs = Vec::new();
        for i in 0..TARGETS {
            text.push_str(&format!(
                "add_custom_command(OUTPUT ${{CMAKE_SOURCE_DIR}}/t{i} COMMAND sh -c \"head -c 16 /dev/urandom | od -An -tx1 > t{i}\" WORKING_DIRECTORY ${{CMAKE_SOURCE_DIR}} VERBATIM)\n"
            ));
            outs.push(format!("${{CMAKE_SOURCE_DIR}}/t{i}"));
        }
        text.push_str(&format!(
            "add_custom_command(OUTPUT ${{CMAKE_SOURCE_DIR}}/sub/out COMMAND sh -c \"head -c 16 /dev/urandom | od -An -tx1 > out\" WORKING_DIRECTORY ${{CMAKE_SOURCE_DIR}}/sub VERBATIM)\n\
             add_custom_target(rand ALL DEPENDS {} ${{CMAKE_SOURCE_DIR}}/sub/out)\n",
            outs.join(" ")
        ));
        std::fs::write(dir.join("CMakeLists.txt"), text).unwrap();
        let mut configure = native(&["cmake", "-S", ".", "-B", "build", "-G", "Ninja"]);
        configure.current_dir(dir);
        run(&mut configure).ok();
        let j = j.to_string();
        maybe_det(flags, &["cmake", "--build", "build", "--parallel", &j])
    });
}

// Promise: the same tree built through `make -C DIR` or `sh -c "cd DIR && make"` from a
// directory outside it draws the same bytes wherever DIR sits.
#[test]
fn trees_at_different_paths_draw_the_same_bytes() {
    let base = tempdir("tree-paths");
    let launch = base.join("launch");
    std::fs::create_dir_all(&launch).unwrap();
    let build = |flags: Option<&[&str]>, tree: &str, via_cd: bool| {
        let tree = base.join(tree);
        let _ = std::fs::remove_dir_all(&tree);
        std::fs::create_dir_all(&tree).unwrap();
        write_makefile(&tree);
        let t = tree.to_str().unwrap();
        let script = format!("cd {t} && make -s");
        let argv: &[&str] = if via_cd {
            &["sh", "-c", &script]
        } else {
            &["make", "-s", "-C", t]
        };
        let mut cmd = maybe_det(flags, argv);
        cmd.current_dir(&launch);
        run(&mut cmd).ok();
        outputs(&tree)
    };
    assert_ne!(
        build(None, "a/src", false),
        build(None, "a/src", false),
        "native builds matched"
    );
    let fixed: &[&str] = &["--epoch", EPOCH];
    for via_cd in [false, true] {
        let a = build(Some(fixed), "a/src", via_cd);
        let b = build(Some(fixed), "bb/longer/src", via_cd);
        assert_eq!(a, b, "the tree's path changed the bytes (via cd: {via_cd})");
        let other = build(Some(OTHER_SEED), "bb/longer/src", via_cd);
        assert_ne!(a, other, "another seed saved the same bytes");
    }
}

// Promise: identical commands run one after the other by one script draw distinct streams
// (two `mktemp -u` names, two Python `uuid4()`, two `uuidgen`), and the script's whole
// output is the same in every run.
#[test]
fn repeated_commands_draw_distinct_streams() {
    let dir = tempdir("repeats");
    let mut script = String::from(
        "export TMPDIR=$PWD\n\
         a=$(mktemp -u); b=$(mktemp -u); echo \"$a\"; echo \"$b\"\n\
         mkfifo \"$a\" \"$b\" && echo fifos; rm -f \"$a\" \"$b\"\n\
         python3 -c 'import uuid; print(uuid.uuid4())'\n\
         python3 -c 'import uuid; print(uuid.uuid4())'\n",
    );
    // libuuid mixes the pid into its UUIDs: uuidgen is reproducible only where the pids
    // are, in a pid namespace.
    let pid_ns = run(&mut native(&["unshare", "--pid", "--fork", "true"]))
        .status
        .success();
    let uuidgen = have("uuidgen", "uuid-runtime");
    if uuidgen && pid_ns {
        script.push_str("uuidgen; uuidgen\n");
    } else if uuidgen {
        eprintln!("note: no pid namespace here (unshare --pid fails), so uuidgen is left out");
    }
    let lines = 5 + 2 * usize::from(uuidgen && pid_ns);
    let under = |flags: &[&str]| {
        let det = det(flags, &["sh", "-c", &script]);
        let mut cmd = if pid_ns {
            let mut c = native(&["unshare", "--pid", "--fork"]);
            c.arg(det.get_program()).args(det.get_args());
            c
        } else {
            det
        };
        cmd.current_dir(&dir);
        cmd
    };
    let native_first = assert_varies("native script", || {
        let mut cmd = native(&["sh", "-c", &script]);
        cmd.current_dir(&dir);
        cmd
    });
    assert_eq!(native_first.lines().count(), lines, "{native_first}");
    let out = assert_stable("repeated commands", || under(&["--epoch", EPOCH]));
    let l: Vec<_> = out.lines().collect();
    assert_eq!(l.len(), lines, "{out}");
    assert_ne!(l[0], l[1], "two mktemp -u gave one name:\n{out}");
    assert_eq!(l[2], "fifos", "{out}");
    assert_ne!(l[3], l[4], "two uuid4() processes gave one UUID:\n{out}");
    if lines == 7 {
        assert_ne!(l[5], l[6], "two uuidgen gave one UUID:\n{out}");
    }
    let other = run(&mut under(OTHER_SEED)).ok();
    assert_ne!(out, other, "another seed gave the same output");
}

// Promise: keytool (a key generator by default) gets real randomness and the build's clock:
// two runs make two different keys, and its certificate starts at the epoch (natively: now).
#[test]
fn keytool_makes_real_keys_dated_by_the_build() {
    if !have("keytool", "default-jdk-headless") || !have("openssl", "openssl") {
        return;
    }
    let dir = tempdir("keytool");
    // Makes a key pair in `store` with the command `make(argv)` builds, then shows its public
    // key and start date.
    let genkey = |store: &str, make: &dyn Fn(&[&str]) -> std::process::Command| {
        let argv = [
            "keytool",
            "-genkeypair",
            "-keystore",
            store,
            "-storepass",
            "secret12",
            "-alias",
            "a",
            "-dname",
            "CN=x",
            "-keyalg",
            "EC",
            "-validity",
            "10",
        ];
        let mut cmd = make(&argv);
        cmd.current_dir(&dir);
        run(&mut cmd).ok();
        let export = format!(
            "keytool -exportcert -rfc -keystore {store} -storepass secret12 -alias a | openssl x509 -noout -pubkey -startdate"
        );
        let mut show = native(&["sh", "-c", &export]);
        show.current_dir(&dir);
        run(&mut show).ok()
    };
    let under = |argv: &[&str]| det(&["--epoch", EPOCH], argv);
    let start = |shown: &str| field(shown, "notBefore").to_string();
    let epoch_year = "2023"; // --epoch 1700000000 is 2023-11-14
    let (a, b) = (genkey("a.p12", &under), genkey("b.p12", &under));
    assert_ne!(a, b, "two keytool runs made the same key");
    assert!(
        start(&a).contains(epoch_year),
        "keytool's certificate is not dated by the build:\n{a}"
    );
    // Control: keytool run natively dates its certificate now.
    let natively = genkey("n.p12", &|argv: &[&str]| native(argv));
    assert!(!start(&natively).contains(epoch_year), "{natively}");
}
