//! Chroots: programs started inside a new root (`chroot`, `unshare --root`, `chroot()` and
//! `SYS_chroot` called by a program, `pivot_root`, nested roots) keep the shim and its
//! settings, with or without `/proc` there, and the root is left exactly as it was: no file,
//! no changed time, no mount. A root the shim cannot be put into runs natively after one
//! warning line. Every test builds its root from this machine's Debian binaries (`date`,
//! `head`, `od`, `ls`, `hostname`, `sh`, `chroot` and the libraries `ldd` lists).

use crate::common::*;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What the probe prints inside the root: the clock, 16 bytes of /dev/urandom, a listing in
/// directory order, the host name.
const PROBE: &str = "date +%s.%N; head -c 16 /dev/urandom | od -An -tx1; ls -U /somedir; hostname";
/// Files of /somedir, created in this (unsorted) order.
const NAMES: [&str; 12] = [
    "kiwi", "apple", "mango", "fig", "banana", "lime", "cherry", "date", "plum", "grape", "pear",
    "elder",
];

/// Whether this machine can run the chroot tests (root, mount namespaces, the tools).
fn capable_here() -> bool {
    require_root("chroot(2) needs CAP_SYS_CHROOT")
        && can_unshare()
        && have_tools(&["chroot", "ldd", "od"], "coreutils libc-bin")
        && have_tools(&["unshare", "mount"], "util-linux mount")
}

/// The path of `program` on PATH.
fn which(program: &str) -> PathBuf {
    let out = run(&mut native(&["sh", "-c", &format!("command -v {program}")])).ok();
    std::fs::canonicalize(out.trim()).unwrap()
}

/// Copies `file` (following links) to the same path under `root`.
fn copy_in(root: &Path, file: &Path, as_path: &Path) {
    let to = root.join(as_path.strip_prefix("/").unwrap());
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    if !to.exists() {
        std::fs::copy(file, &to).unwrap();
    }
}

/// Fills `root` with the programs the tests run, their libraries, the loader, /dev/urandom
/// (a device node, so the native control can read it), an empty /proc mount point and
/// /somedir.
fn populate(root: &Path) {
    for program in [
        "date", "head", "od", "ls", "hostname", "sh", "chroot", "sleep",
    ] {
        let path = which(program);
        copy_in(root, &path, &Path::new("/bin").join(program));
        let ldd = run(&mut native(&["ldd", path.to_str().unwrap()])).ok();
        for lib in ldd.split_whitespace().filter(|w| w.starts_with('/')) {
            copy_in(root, Path::new(lib), Path::new(lib));
        }
    }
    for dir in ["dev", "proc", "somedir"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    let urandom = root.join("dev/urandom");
    run(&mut native(&[
        "mknod",
        "-m",
        "666",
        urandom.to_str().unwrap(),
        "c",
        "1",
        "9",
    ]))
    .ok();
    for name in NAMES {
        std::fs::write(root.join("somedir").join(name), name).unwrap();
    }
}

/// A fresh root for one test.
fn new_root(name: &str) -> PathBuf {
    let root = tempdir(name).join("root");
    populate(&root);
    root
}

/// Every path under `root` (not into mount points) with its type, mode, size, content hash
/// and modification time, and the same for `root` itself.
fn listing(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let dev = std::fs::symlink_metadata(root).unwrap().dev();
    let mut todo = vec![root.to_path_buf()];
    while let Some(path) = todo.pop() {
        let m = std::fs::symlink_metadata(&path).unwrap();
        let mut hash = std::collections::hash_map::DefaultHasher::new();
        if m.is_file() {
            std::fs::read(&path).unwrap().hash(&mut hash);
        }
        out.insert(
            path.clone(),
            format!(
                "{:o} {} {:x} {}.{:09}",
                m.mode(),
                m.len(),
                hash.finish(),
                m.mtime(),
                m.mtime_nsec()
            ),
        );
        if m.is_dir() && m.dev() == dev {
            for entry in std::fs::read_dir(&path).unwrap() {
                todo.push(entry.unwrap().path());
            }
        }
    }
    out
}

/// The mounts this process sees (mount ids, points and sources).
fn mounts() -> String {
    std::fs::read_to_string("/proc/self/mountinfo").unwrap()
}

/// Runs `make()` under detbuild three times and checks what a root left untouched promises:
/// the same bytes each time, the same tree and mounts afterwards. Returns the output.
#[track_caller]
fn assert_untouched(root: &Path, what: &str, make: impl Fn() -> std::process::Command) -> String {
    let (tree, mounted) = (listing(root), mounts());
    let out = assert_stable(what, &make);
    assert_eq!(listing(root), tree, "{what}: the root changed");
    assert_eq!(mounts(), mounted, "{what}: mounts were left behind");
    out
}

/// Checks the probe's output: the clock at the epoch, a listing in byte-wise order, the
/// configured host name; returns the random bytes.
#[track_caller]
fn assert_detbuild_values(out: &str) -> String {
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3 + NAMES.len(), "{out}");
    assert!(lines[0].starts_with("1700000000."), "clock: {out}");
    let mut sorted = NAMES.to_vec();
    sorted.sort();
    assert_eq!(&lines[2..2 + NAMES.len()], &sorted[..], "ls -U: {out}");
    assert_eq!(lines[2 + NAMES.len()], "detbuild", "hostname: {out}");
    lines[1].to_string()
}

/// The native control: the probe in `root` prints other times and bytes on every run, a
/// listing not in byte-wise order, and this machine's name.
#[track_caller]
fn assert_native_varies(argv: &[&str]) {
    let out = assert_varies("native chroot", || native(argv));
    let lines: Vec<&str> = out.lines().collect();
    let mut sorted = NAMES.to_vec();
    sorted.sort();
    assert_ne!(
        &lines[2..2 + NAMES.len()],
        &sorted[..],
        "native ls -U: {out}"
    );
    assert_ne!(lines[2 + NAMES.len()], "detbuild", "native hostname: {out}");
}

/// The random bytes of the probe under another seed.
fn other_seed_bytes(argv: &[&str]) -> String {
    let out = run(&mut det(OTHER_SEED, argv)).ok();
    out.lines().nth(1).unwrap_or_default().to_string()
}

/// The full promise for `argv`, which runs PROBE inside `root`.
#[track_caller]
fn assert_followed(root: &Path, argv: &[&str]) {
    assert_native_varies(argv);
    let out = assert_untouched(root, &format!("{argv:?}"), || {
        det(&["--epoch", EPOCH], argv)
    });
    let bytes = assert_detbuild_values(&out);
    assert_ne!(
        other_seed_bytes(argv),
        bytes,
        "urandom did not follow the seed"
    );
}

// Promise: `chroot DIR sh -c ...` into a root without /proc: the clock, randomness, directory
// order and host name are detbuild's, and DIR is byte-identical afterwards (the shim's copy
// in DIR is gone, DIR's time is back).
#[test]
fn chroot_without_proc_keeps_the_shim() {
    if !capable_here() {
        return;
    }
    let root = new_root("chroot-noproc");
    let r = root.to_str().unwrap();
    assert_followed(&root, &["chroot", r, "sh", "-c", PROBE]);
}

// Promise: the same through `unshare --root DIR` into a root with /proc mounted (bound in a
// private mount namespace): the shim is reached through /proc, nothing is written to DIR.
#[test]
fn unshare_root_with_proc_keeps_the_shim() {
    if !capable_here() {
        return;
    }
    let root = new_root("unshare-proc");
    let r = root.to_str().unwrap();
    let script = format!("mount --bind /proc {r}/proc && exec unshare --root {r} sh -c '{PROBE}'");
    assert_followed(&root, &["unshare", "-m", "sh", "-c", &script]);
}

// Promise: `unshare --root DIR` into a root without /proc keeps the shim too.
#[test]
fn unshare_root_without_proc_keeps_the_shim() {
    if !capable_here() {
        return;
    }
    let root = new_root("unshare-noproc");
    let r = root.to_str().unwrap();
    assert_followed(&root, &["unshare", "--root", r, "sh", "-c", PROBE]);
}

// Promise: a chroot inside the chroot (`chroot DIR chroot /inner ...`), with /proc in neither.
#[test]
fn nested_chroots_keep_the_shim() {
    if !capable_here() {
        return;
    }
    let root = new_root("nested");
    populate(&root.join("inner"));
    let r = root.to_str().unwrap();
    let argv = ["chroot", r, "chroot", "/inner", "sh", "-c", PROBE];
    assert_native_varies(&argv);
    let out = assert_untouched(&root, "nested chroot", || det(&["--epoch", EPOCH], &argv));
    assert_detbuild_values(&out);
}

// Promise: a program that calls chroot() twice, then chdir("/"), then posix_spawn (vfork and
// exec inside); one that uses syscall(SYS_chroot), fork and execvp; one that uses
// syscall(SYS_pivot_root) in a private mount namespace; system() and popen() inside; one that
// closes every descriptor it did not open (close, dup2 onto the numbers the shim uses,
// closefrom) before it starts its program.
fn program_entering(method: &str) {
    if !capable_here() {
        return;
    }
    let root = new_root(&format!("method-{method}"));
    let probe = probe("chroot");
    let (p, r) = (probe.to_str().unwrap(), root.to_str().unwrap());
    let script;
    let argv: Vec<&str> = match method {
        "twice" => {
            populate(&root.join("inner"));
            vec![p, "chroot", r, "/inner", "--", "sh", "-c", PROBE]
        }
        "syscall" => vec![p, "syscall", r, "--", "sh", "-c", PROBE],
        "system" | "popen" => vec![p, method, r, "--", PROBE],
        "clobber" => vec![p, method, r, "--", "sh", "-c", PROBE],
        _ => {
            std::fs::create_dir_all(root.join("old")).unwrap();
            script = format!("mount --bind {r} {r} && exec {p} pivot {r} -- sh -c '{PROBE}'");
            vec!["unshare", "-m", "sh", "-c", &script]
        }
    };
    assert_followed(&root, &argv);
}
one_test_per_case!(
    a_program_entering_a_root_keeps_the_shim, program_entering;
    twice, syscall, pivot, system, popen, clobber
);

// Promise: a root on another file system (a tmpfs here, so the shim is copied, not linked)
// keeps the shim, and no copy is left there.
#[test]
fn a_root_on_another_file_system_keeps_the_shim() {
    if !capable_here() {
        return;
    }
    let root = new_root("tmpfs");
    let r = root.to_str().unwrap();
    let script = format!(
        "mkdir -p {r}.tmpfs && mount -t tmpfs none {r}.tmpfs && cp -a {r}/. {r}.tmpfs && \
         chroot {r}.tmpfs sh -c '{PROBE}' && ls -a {r}.tmpfs >&2"
    );
    let argv = ["unshare", "-m", "sh", "-c", &script];
    let out = run(&mut det(&["--epoch", EPOCH], &argv));
    assert!(!out.stderr.contains(".detbuild"), "{}", out.describe());
    let stdout = out.ok();
    assert_detbuild_values(&stdout);
}

// Promise: a root the shim cannot be put into (read-only, no /proc) gives one warning line
// on stderr, counted in the audit, and the command still succeeds, natively.
#[test]
fn a_read_only_root_warns_once_and_runs() {
    if !capable_here() {
        return;
    }
    let root = new_root("readonly");
    let r = root.to_str().unwrap();
    let report = root.parent().unwrap().join("audit.jsonl");
    let script = format!(
        "mount --bind {r} {r} && mount -o remount,ro,bind {r} && \
         chroot {r} sh -c 'date +%s; date +%s; hostname'"
    );
    let argv = ["unshare", "-m", "sh", "-c", &script];
    let tree = listing(&root);
    let out = run(&mut det(
        &["--epoch", EPOCH, "--report", report.to_str().unwrap()],
        &argv,
    ));
    let stdout = out.stdout.clone();
    assert!(out.status.success(), "{}", out.describe());
    let warnings: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(warnings.len(), 1, "{}", out.describe());
    assert!(
        warnings[0].starts_with("detbuild: warning: ") && warnings[0].contains("read-only"),
        "{}",
        out.describe()
    );
    assert!(!stdout.starts_with("1700000000"), "runs natively: {stdout}");
    assert_eq!(listing(&root), tree, "the root changed");
    let audit = std::fs::read_to_string(&report).unwrap();
    assert!(audit.contains("\"chroot_unshimmed\":1"), "{audit}");
}

// Promise: the clock carries into and out of a chroot (the handoff table is reached from
// inside), and programs inside write their audit lines to the --report file outside.
#[test]
fn the_clock_and_the_audit_follow_into_the_chroot() {
    if !capable_here() {
        return;
    }
    let root = new_root("handoff");
    let r = root.to_str().unwrap();
    let report = root.parent().unwrap().join("audit.jsonl");
    let script = format!("date +%s; sleep 2; chroot {r} sh -c 'date +%s; sleep 1'; date +%s");
    let out = run(&mut det(
        &["--epoch", EPOCH, "--report", report.to_str().unwrap()],
        &["sh", "-c", &script],
    ))
    .ok();
    let times: Vec<i64> = out.lines().map(|l| l.parse().unwrap()).collect();
    assert_eq!(times.len(), 3, "{out}");
    assert_eq!(times[0], 1_700_000_000, "{out}");
    assert!(
        times[1] >= times[0] + 2,
        "the chroot started at the epoch again: {out}"
    );
    assert!(times[2] > times[1], "the time spent inside was lost: {out}");
    let audit = std::fs::read_to_string(&report).unwrap();
    let inside = audit
        .lines()
        .filter(|l| l.contains("\"argv\":[\"date\",\"+%s\"]"))
        .count();
    assert_eq!(
        inside, 3,
        "one audit line per date, inside or not:\n{audit}"
    );
}

// Promise: a statically linked program started in a root without /proc (which the shim cannot
// reach, so it could never remove a copy of the shim) gets the usual static-program warning
// and leaves the root as it was.
#[test]
fn a_static_program_in_a_chroot_leaves_nothing_behind() {
    if !capable_here() {
        return;
    }
    let root = new_root("static");
    let probe = probe_with("host", &["-static"]);
    std::fs::copy(&probe, root.join("bin/static-host")).unwrap();
    let r = root.to_str().unwrap();
    let tree = listing(&root);
    let out = run(&mut det(
        &["--epoch", EPOCH],
        &["chroot", r, "sh", "-c", "/bin/static-host"],
    ));
    assert!(out.status.success(), "{}", out.describe());
    assert!(
        out.stderr.contains("statically linked") && out.stderr.lines().count() == 1,
        "{}",
        out.describe()
    );
    assert_eq!(listing(&root), tree, "the root changed");
}

// Promise: a Python builder that chroots and runs its commands with `subprocess` (which
// closes every inherited descriptor in the child, `close_fds=True`) keeps the shim in them.
#[test]
fn python_subprocess_in_a_chroot_keeps_the_shim() {
    if !capable_here() || !have("python3", "python3") {
        return;
    }
    let root = new_root("python");
    let script = format!(
        "import os, subprocess, sys\n\
         os.chroot({root:?}); os.chdir('/')\n\
         r = subprocess.run(['sh', '-c', {PROBE:?}], capture_output=True, close_fds=True)\n\
         sys.stdout.write(r.stdout.decode())\n"
    );
    assert_followed(&root, &["python3", "-c", &script]);
}
