//! Where the shim library lives: next to the `detbuild` executable (a cargo build or an
//! unpacked tarball), or in `../lib/detbuild/` relative to it (an installed tree).
//!
//! ```text
//! target/release/detbuild                  /usr/local/bin/detbuild
//! target/release/libdetbuild_shim.so       /usr/local/lib/detbuild/libdetbuild_shim.so
//! ```

use crate::error::Error;
use crate::fail;
use std::path::{Path, PathBuf};

/// The shim's file name.
pub const SHIM: &str = "libdetbuild_shim.so";

/// Finds the shim for the running executable.
pub fn find_shim() -> Result<PathBuf, Error> {
    let exe =
        std::env::current_exe().map_err(|e| fail!("cannot locate the detbuild executable: {e}"))?;
    let exe = exe.canonicalize().unwrap_or(exe);
    let dir = exe.parent().unwrap_or(Path::new("/"));
    let candidates = [dir.join(SHIM), dir.join("../lib/detbuild").join(SHIM)];
    let found = candidates.iter().find(|p| p.is_file()).ok_or_else(|| {
        fail!(
            "shim library not found at {} (build it with `cargo build --workspace`, or install it next to the detbuild binary)",
            candidates[0].display()
        )
    })?;
    let found = found.canonicalize().unwrap_or_else(|_| found.clone());
    let text = found.to_string_lossy();
    if text.contains([' ', ':']) || found.to_str().is_none() {
        return Err(fail!(
            "shim path {} contains a space, a colon or non-UTF-8 bytes, which LD_PRELOAD cannot carry; move detbuild to a plain path",
            found.display()
        ));
    }
    Ok(found)
}
