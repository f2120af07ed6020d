//! Stack addresses that do not move with the size of the environment: every exec hands on
//! `PATH` first, the rest by name, then the `DETBUILD_FILL`/`DETBUILD_PAD`/`DETBUILD_PAD_x`
//! pads (shim/core/src/stack.rs), so with randomization off a program's stack and its strings
//! start at the same addresses whatever its environment's length (up to the next 16 KiB and
//! 16-entry step). The native controls run with randomization off too (`setarch -R`), so only
//! the environment differs.

use crate::common::*;
use std::process::Command;

/// `argv` with `FOO=value` added to the caller's environment: natively under `setarch -R`, or
/// under detbuild.
fn with_foo(under: bool, value: &str, argv: &[&str]) -> Command {
    let mut cmd = if under {
        det(&["--epoch", EPOCH], argv)
    } else {
        native(&[&["setarch", "-R"], argv].concat())
    };
    cmd.env("FOO", value);
    cmd
}

/// The `stack=` field of the pointers probe's output.
fn stack(out: &str) -> &str {
    out.split_whitespace()
        .find(|w| w.starts_with("stack="))
        .unwrap_or_else(|| panic!("no stack= in {out}"))
}

// Promise: a program's stack addresses are the same whatever the length of a variable in its
// environment or the number of variables, whether detbuild starts it, a shell does, or Python's
// subprocess does; natively (randomization off) one more byte moves them.
#[test]
fn stack_addresses_do_not_move_with_the_environment() {
    if !have("setarch", "util-linux") {
        return;
    }
    let probe = probe("pointers");
    let p = probe.to_str().unwrap();
    let (short, long) = ("a", "a".repeat(40));
    let native_short = run(&mut with_foo(false, short, &[p])).ok();
    let native_long = run(&mut with_foo(false, &long, &[p])).ok();
    assert_ne!(
        stack(&native_short),
        stack(&native_long),
        "native control: the stack did not move with FOO's length"
    );
    let spawn = format!("import subprocess; subprocess.run([{p:?}], check=True)");
    let starts: [&[&str]; 3] = [&[p], &["sh", "-c", p], &["python3", "-c", &spawn]];
    for argv in starts {
        let fixed = run(&mut with_foo(true, short, argv)).ok();
        assert_eq!(
            stack(&fixed),
            stack(&run(&mut with_foo(true, &long, argv)).ok()),
            "{argv:?}: the stack moved with FOO's length under detbuild"
        );
        let mut more = with_foo(true, short, argv);
        more.env("BAR", "1").env("BAZ", "22");
        assert_eq!(
            stack(&fixed),
            stack(&run(&mut more).ok()),
            "{argv:?}: the stack moved with two more variables under detbuild"
        );
    }
}

// Promise: the address of PATH's value (which programs that search PATH leave on the stack)
// does not move when other variables change length or order: every exec hands on PATH first,
// then the rest by name. Started by a shell and by Perl (which rebuilds its environment in its
// own order), with HOME of two lengths and one more variable; natively (randomization off) it
// moves with HOME.
#[test]
fn path_does_not_move_with_other_variables() {
    if !have("setarch", "util-linux") || !have("perl", "perl") {
        return;
    }
    let probe = probe("envaddr");
    let p = probe.to_str().unwrap();
    let perl = format!("$ENV{{ADDED}} = 1; exec {p:?}");
    let home = |under: bool, home: &str, argv: &[&str]| {
        let mut cmd = with_foo(under, "a", argv);
        cmd.env("HOME", home);
        cmd
    };
    let (short, long) = ("/root", "/nonexistent/second-build");
    // Natively the strings are laid out down from the top of the stack: PATH moves with the
    // entries after it.
    let native = |h: &str| {
        let home = format!("HOME={h}");
        let argv = ["env", "-i", "PATH=/usr/bin:/bin", &home, "setarch", "-R", p];
        run(&mut native(&argv)).ok()
    };
    assert_ne!(
        native(short),
        native(long),
        "native control: PATH did not move"
    );
    let starts: [&[&str]; 2] = [&["sh", "-c", p], &["perl", "-e", &perl]];
    for argv in starts {
        let fixed = run(&mut home(true, short, argv)).ok();
        assert!(fixed.ends_with(" first=PATH\n"), "{argv:?}: {fixed}");
        let mut more = home(true, long, argv);
        more.env("AAA_EXTRA", "1");
        assert_eq!(run(&mut more).ok(), fixed, "{argv:?}: PATH moved");
    }
}

// Promise: Icon's translator, which writes uninitialized stack bytes into the icode it makes
// (what made Debian's noweb unreproducible), makes the same file whatever the environment's
// size; natively two runs differ.
#[test]
fn icont_output_does_not_depend_on_the_environment_size() {
    if !have("icont", "icont") {
        return;
    }
    let dir = tempdir("icont");
    std::fs::write(
        dir.join("hello.icn"),
        "procedure main()\n  write(\"hello\")\nend\n",
    )
    .unwrap();
    let build = |under: bool, foo: &str| -> Vec<u8> {
        let argv = ["icont", "-s", "-o", "hello", "hello.icn"];
        let mut cmd = with_foo(under, foo, &argv);
        run(cmd.current_dir(&dir)).ok();
        std::fs::read(dir.join("hello")).unwrap()
    };
    assert_ne!(
        build(false, "a"),
        build(false, "a"),
        "native control: two icont runs made the same icode"
    );
    let fixed = build(true, "a");
    for foo in ["ab", &"a".repeat(300)] {
        assert!(
            fixed == build(true, foo),
            "icode differs under detbuild with FOO={foo}"
        );
    }
}

/// The names of the pad entries in `env`'s output (an `env` run with no arguments), after
/// checking they are `DETBUILD_FILL`, `DETBUILD_PAD`, then `DETBUILD_PAD_1`... once each, as
/// many as make the argument and environment pointers a multiple of 16.
#[track_caller]
fn pads(out: &str) -> Vec<&str> {
    let names: Vec<&str> = out
        .lines()
        .filter_map(|l| l.split_once('=').map(|(name, _)| name))
        .collect();
    let pads: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| n.starts_with("DETBUILD_FILL") || n.starts_with("DETBUILD_PAD"))
        .collect();
    if pads.is_empty() {
        return pads;
    }
    assert_eq!(pads[..2], ["DETBUILD_FILL", "DETBUILD_PAD"], "{out}");
    let fillers: Vec<String> = (1..pads.len() - 1)
        .map(|i| format!("DETBUILD_PAD_{i:X}"))
        .collect();
    assert_eq!(pads[2..], fillers, "{out}");
    assert_eq!(
        (names.len() + 1) % 16,
        0,
        "pointers not a multiple of 16:\n{out}"
    );
    pads
}

// Promise: the pads are replaced at every exec, never added to: three nested shells see one
// set, and so does a program started with an environment cleared by `env -i`.
#[test]
fn pads_are_replaced_not_accumulated() {
    let nested = run(&mut det(
        &["--epoch", EPOCH],
        &["sh", "-c", "sh -c 'sh -c env'"],
    ))
    .ok();
    assert!(!pads(&nested).is_empty(), "{nested}");
    let cleared = run(&mut det(&["--epoch", EPOCH], &["env", "-i", "env"])).ok();
    assert!(!pads(&cleared).is_empty(), "{cleared}");
    let kept = run(&mut det(
        &["--epoch", EPOCH, "--aslr"],
        &["sh", "-c", "env"],
    ))
    .ok();
    assert_eq!(pads(&kept), Vec::<&str>::new(), "--aslr, yet padded");
}

// Promise: an exec whose arguments and environment nearly fill the kernel's limit still
// starts under detbuild, as it does natively: its pads are left out (the program sees none)
// rather than turning it into "Argument list too long".
#[test]
fn an_exec_near_the_kernel_limit_still_starts_unpadded() {
    // Fills the strings and pointers of one exec of sh to 4136 bytes short of the limit, the
    // way the shim counts them (pads not counted): less than the page the shim keeps free
    // plus the smallest pads.
    let script = r#"
import os, resource
limit = max(resource.getrlimit(resource.RLIMIT_STACK)[0] // 4, 32 * 4096)
env = [k + b"=" + v for k, v in os.environb.items()
       if not k.startswith((b"DETBUILD_FILL", b"DETBUILD_PAD"))]
argv = [b"/bin/sh", b"-c", b"echo ${#DETBUILD_FILL}", b"sh"]
def total(args):
    strings = len(b"/bin/sh") + 1 + sum(len(a) + 1 for a in args) + sum(len(e) + 1 for e in env)
    return strings + 8 * (len(args) + len(env) + 4)
room = limit - 4096 - 40 - total(argv)
while room > 0:
    arg = b"x" * (room - 9 if room - 9 <= 100000 else 90000)
    argv.append(arg)
    room = limit - 4096 - 40 - total(argv)
assert room == 0, room
os.execve(b"/bin/sh", argv, dict(e.split(b"=", 1) for e in env))
"#;
    let argv = ["python3", "-c", script];
    let native = run(&mut native(&argv));
    assert_eq!(native.code(), 0, "native control: {}", native.describe());
    let under = run(&mut det(&["--epoch", EPOCH], &argv));
    assert_eq!(under.code(), 0, "{}", under.describe());
    assert_eq!(
        under.stdout,
        "0\n",
        "padded past the limit: {}",
        under.describe()
    );
}

// Promise: a build started under libfaketime (reprotest's time variation) has the memory
// layout of one started without it: library, heap and stack addresses agree, because the
// launcher leaves the faker and its settings out of the build's environment (saying so once).
// Natively, with randomization off, the faker's mapping moves them.
#[test]
fn an_outer_libfaketime_does_not_move_the_layout() {
    let Some(faker) = libfaketime() else {
        return;
    };
    let probe = probe("pointers");
    let p = probe.to_str().unwrap();
    let faked = |mut cmd: Command| {
        cmd.env("LD_PRELOAD", &faker).env("FAKETIME", "+400d");
        run(&mut cmd)
    };
    let plain = run(&mut native(&["setarch", "-R", p])).ok();
    assert_ne!(
        plain,
        faked(native(&["setarch", "-R", p])).ok(),
        "native control: libfaketime did not move the layout"
    );
    let fixed = run(&mut det(&["--epoch", EPOCH], &["sh", "-c", p])).ok();
    let under = faked(det(&["--epoch", EPOCH], &["sh", "-c", p]));
    assert_eq!(
        under.stderr.matches("libfaketime").count(),
        1,
        "{}",
        under.describe()
    );
    assert_eq!(
        under.ok(),
        fixed,
        "libfaketime moved the layout under detbuild"
    );
    let env = faked(det(&["--epoch", EPOCH], &["env"])).ok();
    assert!(
        !env.lines().any(|l| l.starts_with("FAKETIME")),
        "libfaketime's settings reached the build:\n{env}"
    );
}
