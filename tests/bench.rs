//! The benchmark suite builds and runs (tiny counts; the numbers are not checked: speed is
//! measured by `bench/run.sh`, not asserted by tests).

use crate::common::*;
use std::path::Path;

/// Whether bench/run.sh finds libfaketime where it looks by default, under the skip policy:
/// without it, its column is n/a and is not checked.
fn require_libfaketime() -> bool {
    libfaketime().is_some()
}

// Promise: `bench/run.sh --quick` builds every benchmark program and prints the full table
// for native, detbuild and libfaketime.
#[test]
fn benchmarks_build_and_run_with_tiny_counts() {
    let with_libfaketime = require_libfaketime();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/run.sh");
    let mut cmd = command("bash");
    cmd.arg(&script)
        .arg("--quick")
        .arg("--detbuild")
        .arg(detbuild_bin());
    let out = run_within(&mut cmd, std::time::Duration::from_secs(300));
    let table = out.stdout.clone();
    assert!(out.status.success(), "{}", out.describe());
    for row in [
        "clock_gettime(REALTIME), 1 thread",
        "getrandom 32 B",
        "/dev/urandom read 4 KiB",
        "readdir 10,000 entries",
        "posix_spawn /bin/true",
    ] {
        let line = table
            .lines()
            .find(|l| l.starts_with(&format!("| {row}")))
            .unwrap_or_else(|| panic!("no {row:?} row:\n{}", out.describe()));
        assert!(
            !with_libfaketime || !line.contains("n/a"),
            "libfaketime is installed but not measured in {line:?}:\n{}",
            out.describe()
        );
    }
}
