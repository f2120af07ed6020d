//! The shim library itself: what it exports, and that loading it changes nothing a program
//! relies on beyond the hooks.

use crate::common::*;
use std::collections::BTreeSet;
use std::path::Path;

/// The `hook` and `c` names of the hook table (`shim/src/hooks.rs`).
fn table() -> BTreeSet<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shim/src/hooks.rs");
    let text = std::fs::read_to_string(src).unwrap();
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let kind = w.next()?;
            let when = w.next()?;
            let name = w.next()?.split('(').next()?;
            (matches!(kind, "hook" | "c") && matches!(when, "eager" | "lazy"))
                .then(|| name.to_string())
        })
        .collect()
}

// Promise: the library exports exactly the hooks of its table: no Rust runtime symbol
// (`rust_eh_personality` made rustc abort) and no hook missing from the table.
#[test]
fn the_library_exports_exactly_the_hook_table() {
    if !require_tool("nm", "binutils") {
        return;
    }
    let out = run(&mut native(&[
        "nm",
        "-D",
        "--defined-only",
        shim().to_str().unwrap(),
    ]))
    .ok();
    let exported: BTreeSet<String> = out
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .filter(|n| !n.starts_with("GLIBC_"))
        .map(str::to_string)
        .collect();
    let table = table();
    assert!(table.len() > 60, "the table parser found only {table:?}");
    let extra: Vec<_> = exported.difference(&table).collect();
    let missing: Vec<_> = table.difference(&exported).collect();
    assert!(
        extra.is_empty() && missing.is_empty(),
        "exported but not in the table: {extra:?}\nin the table but not exported: {missing:?}"
    );
}

// Promise: rustc reports a compile error under detbuild exactly as natively (exit 1 and its
// own message), instead of aborting in the shim's unwinder stub.
#[test]
fn rustc_reports_compile_errors_as_natively() {
    if !require_tool("rustc", "rustc (or rustup)") {
        return;
    }
    let dir = tempdir("rustc-error");
    std::fs::write(dir.join("bad.rs"), "fn main() { let x: u32 = \"no\"; }\n").unwrap();
    let argv = ["rustc", "--edition", "2021", "-o", "bad", "bad.rs"];
    let mut natively = native(&argv);
    let natively = run(natively.current_dir(&dir));
    assert_eq!(natively.code(), 1, "{}", natively.describe());
    assert!(
        natively.stderr.contains("error[E0308]"),
        "{}",
        natively.describe()
    );
    let mut under = det(&["--epoch", EPOCH], &argv);
    let under = run(under.current_dir(&dir));
    assert_eq!(under.code(), 1, "{}", under.describe());
    assert!(
        under.stderr.contains("error[E0308]"),
        "{}",
        under.describe()
    );
}
