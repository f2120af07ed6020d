//! Temporary names come from the stream: the same in every run, never an existing file.

use crate::common::*;

/// `tempname ENTRY DIR` as argv.
fn argv(entry: &str, dir: &std::path::Path) -> Vec<String> {
    vec![
        probe("tempname").to_str().unwrap().to_string(),
        entry.to_string(),
        dir.to_str().unwrap().to_string(),
    ]
}

macro_rules! entry_point {
    ($($test:ident: $entry:literal;)*) => {$(
        // Promise: this entry point picks the same name in every run under detbuild, another
        // with another seed; natively it varies.
        #[test]
        fn $test() {
            let dir = tempdir($entry);
            let argv = argv($entry, &dir);
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            let out = assert_promise(&argv, OTHER_SEED);
            assert!(out.starts_with(concat!($entry, "=")), "{out}");
        }
    )*};
}

entry_point! {
    mkstemp_names_are_fixed: "mkstemp";
    mkostemp_names_are_fixed: "mkostemp";
    mkstemps_names_are_fixed: "mkstemps";
    mkostemps_names_are_fixed: "mkostemps";
    mkdtemp_names_are_fixed: "mkdtemp";
    mktemp_names_are_fixed: "mktemp";
    tempnam_names_are_fixed: "tempnam";
    tmpnam_names_are_fixed: "tmpnam";
}

// Promise: a name that exists already is skipped, never overwritten.
#[test]
fn an_existing_name_is_retried_not_overwritten() {
    let dir = tempdir("taken");
    let argv = argv("mkstemp", &dir);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let first = run(&mut det(&["--epoch", EPOCH], &argv)).ok();
    let taken = field(&first, "mkstemp").to_string();
    std::fs::write(&taken, "keep me").unwrap();
    let second = run(&mut det(&["--epoch", EPOCH], &argv)).ok();
    assert_ne!(
        field(&second, "mkstemp"),
        taken,
        "the taken name was reused"
    );
    assert_eq!(std::fs::read_to_string(&taken).unwrap(), "keep me");
}

/// The `as` command line from `gcc -v -c` (stderr), which names gcc's temporary `.s` file.
fn as_line(out: &Output) -> String {
    out.stderr
        .lines()
        .find(|l| l.contains("as ") && l.contains("/tmp/cc"))
        .unwrap_or_else(|| panic!("no `as` line naming /tmp/cc...:\n{}", out.describe()))
        .to_string()
}

// Promise: two runs of `gcc -v -c x.c` under detbuild hand `as` the same temporary name (so
// `as` gets the same argv, hence the same key and stream); natively the names differ.
#[test]
fn gcc_hands_as_the_same_temporary_name_every_run() {
    let dir = tempdir("gcc-temp");
    std::fs::write(dir.join("x.c"), "int x(void) { return 1; }\n").unwrap();
    let argv = ["gcc", "-v", "-c", "x.c", "-o", "x.o"];
    let line = |mut cmd: std::process::Command| {
        let out = run(cmd.current_dir(&dir));
        assert!(out.status.success(), "{}", out.describe());
        as_line(&out)
    };
    assert_ne!(
        line(native(&argv)),
        line(native(&argv)),
        "natively the names should differ"
    );
    let a = line(det(&["--epoch", EPOCH], &argv));
    assert_eq!(a, line(det(&["--epoch", EPOCH], &argv)));
    assert_ne!(
        a,
        line(det(OTHER_SEED, &argv)),
        "the seed should change the name"
    );
}
