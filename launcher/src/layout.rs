//! Where the shim library lives, and whether the loader can preload it.
//!
//! The shim sits next to the `detbuild` executable (a cargo build or an unpacked tarball), or
//! in `../lib/detbuild/` relative to it (an installed tree); symlinks to the executable are
//! followed first:
//!
//! ```text
//! target/release/detbuild                  /usr/local/bin/detbuild
//! target/release/libdetbuild_shim.so       /usr/local/lib/detbuild/libdetbuild_shim.so
//! ```
//!
//! A shim the loader cannot preload makes it print "cannot be preloaded: ignored" and run the
//! whole build with the real clock and randomness, so [`find_shim`] refuses one before
//! anything runs: the file must be readable, an ELF shared library of the launcher's own
//! class, byte order and machine, with a dynamic section and every loadable segment inside
//! the file (an empty, truncated or foreign file fails). It reads one page and costs a few
//! microseconds; it does not load the library.

use crate::error::Error;
use crate::fail;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The shim's file name.
pub const SHIM: &str = "libdetbuild_shim.so";

/// Finds the shim for the running executable and checks it (see the module docs).
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
    check(&found)?;
    Ok(found)
}

/// Refuses a shim the loader would not preload.
fn check(path: &Path) -> Result<(), Error> {
    let fix = "rebuild it with `cargo build --workspace` (or reinstall detbuild), or the build would run unshimmed";
    let mut head = Vec::with_capacity(4096);
    let len = std::fs::File::open(path)
        .and_then(|f| {
            let len = f.metadata()?.len();
            f.take(4096).read_to_end(&mut head)?;
            Ok(len)
        })
        .map_err(|e| {
            fail!(
                "cannot read the shim library {}: {e}; {fix}",
                path.display()
            )
        })?;
    match elf_problem(&head, len, Native::get()) {
        None => Ok(()),
        Some(problem) => Err(fail!("shim library {} {problem}; {fix}", path.display())),
    }
}

/// The ELF identity of the running launcher.
#[derive(Clone, Copy)]
struct Native {
    wide: bool,
    big: bool,
    /// `e_machine`, when known for this architecture.
    machine: Option<u16>,
}

impl Native {
    fn get() -> Self {
        let machine = match std::env::consts::ARCH {
            "x86_64" => Some(62),
            "x86" => Some(3),
            "aarch64" => Some(183),
            "arm" => Some(40),
            "riscv64" => Some(243),
            "powerpc64" => Some(21),
            "s390x" => Some(22),
            "loongarch64" => Some(258),
            _ => None,
        };
        Native {
            wide: cfg!(target_pointer_width = "64"),
            big: cfg!(target_endian = "big"),
            machine,
        }
    }
}

/// What makes `head` (the first bytes of a file of `len` bytes) unloadable as a shared library
/// for `native`, if anything.
fn elf_problem(head: &[u8], len: u64, native: Native) -> Option<String> {
    if len == 0 {
        return Some("is empty".into());
    }
    if head.len() < 64 || !head.starts_with(b"\x7fELF") {
        return Some("is not an ELF file".into());
    }
    let (wide, big) = (head[4] == 2, head[5] == 2);
    if wide != native.wide || big != native.big || !matches!(head[4], 1 | 2) {
        return Some(format!(
            "is a {}-bit {} library; this detbuild is {}-bit {}",
            if wide { 64 } else { 32 },
            if big { "big-endian" } else { "little-endian" },
            if native.wide { 64 } else { 32 },
            if native.big {
                "big-endian"
            } else {
                "little-endian"
            },
        ));
    }
    let uint = |at: usize, size: usize| -> Option<u64> {
        let b = head.get(at..at + size)?;
        let fold = |acc: u64, &x: &u8| acc << 8 | u64::from(x);
        Some(if big {
            b.iter().fold(0, fold)
        } else {
            b.iter().rev().fold(0, fold)
        })
    };
    if uint(16, 2) != Some(3) {
        return Some("is not a shared library (ELF type is not ET_DYN)".into());
    }
    let machine = uint(18, 2)? as u16;
    if native.machine.is_some_and(|m| m != machine) {
        return Some(format!(
            "is built for another machine (ELF machine {machine}, this detbuild runs on {})",
            std::env::consts::ARCH
        ));
    }
    let (phoff, phentsize, phnum) = if wide {
        (uint(32, 8)?, uint(54, 2)?, uint(56, 2)?)
    } else {
        (uint(28, 4)?, uint(42, 2)?, uint(44, 2)?)
    };
    let (mut dynamic, mut loads) = (false, 0);
    for i in 0..phnum {
        let at = i
            .checked_mul(phentsize)
            .and_then(|o| o.checked_add(phoff))
            .and_then(|o| usize::try_from(o).ok())
            .filter(|&at| at < head.len())
            .unwrap_or(usize::MAX - 64);
        let (kind, offset, size) = match wide {
            true => (uint(at, 4), uint(at + 8, 8), uint(at + 32, 8)),
            false => (uint(at, 4), uint(at + 4, 4), uint(at + 16, 4)),
        };
        let (Some(kind), Some(offset), Some(size)) = (kind, offset, size) else {
            return Some("is truncated or corrupt (program headers missing)".into());
        };
        match kind {
            1 if offset.saturating_add(size) > len => {
                return Some("is truncated (a loadable segment lies past its end)".into())
            }
            1 => loads += 1,
            2 => dynamic = true,
            _ => {}
        }
    }
    if loads == 0 || !dynamic {
        return Some("is corrupt (no loadable segment or no dynamic section)".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const X86_64: Native = Native {
        wide: true,
        big: false,
        machine: Some(62),
    };

    /// A 64-bit little-endian ELF header with program headers (type, offset, size).
    fn image(kind: u16, machine: u16, phdrs: &[(u32, u64, u64)]) -> Vec<u8> {
        let mut v = vec![0u8; 64];
        v[..4].copy_from_slice(b"\x7fELF");
        v[4] = 2;
        v[5] = 1;
        v[16..18].copy_from_slice(&kind.to_le_bytes());
        v[18..20].copy_from_slice(&machine.to_le_bytes());
        v[32..40].copy_from_slice(&64u64.to_le_bytes());
        v[54..56].copy_from_slice(&56u16.to_le_bytes());
        v[56..58].copy_from_slice(&(phdrs.len() as u16).to_le_bytes());
        for &(t, off, size) in phdrs {
            let mut ph = [0u8; 56];
            ph[..4].copy_from_slice(&t.to_le_bytes());
            ph[8..16].copy_from_slice(&off.to_le_bytes());
            ph[32..40].copy_from_slice(&size.to_le_bytes());
            v.extend_from_slice(&ph);
        }
        v
    }

    #[test]
    fn a_sound_library_passes() {
        let lib = image(3, 62, &[(1, 0, 4000), (2, 3000, 200)]);
        assert_eq!(elf_problem(&lib, 4000, X86_64), None);
    }

    #[test]
    fn broken_libraries_are_named() {
        let problem = |head: &[u8], len| elf_problem(head, len, X86_64).unwrap();
        assert_eq!(problem(b"", 0), "is empty");
        assert!(problem(b"garbage", 7).contains("not an ELF"));
        assert!(problem(&image(2, 62, &[(1, 0, 10), (2, 0, 1)]), 100).contains("not a shared"));
        assert!(problem(&image(3, 183, &[(1, 0, 10), (2, 0, 1)]), 100).contains("another machine"));
        assert!(problem(&image(3, 62, &[(1, 0, 5000), (2, 0, 1)]), 4000).contains("truncated"));
        assert!(problem(&image(3, 62, &[(1, 0, 10)]), 100).contains("corrupt"));
        let mut narrow = image(3, 62, &[]);
        narrow[4] = 1;
        assert!(problem(&narrow, 100).contains("32-bit"));
        let cut = image(3, 62, &[(1, 0, 10), (2, 0, 1)]);
        assert!(problem(&cut[..100], 1000).contains("program headers missing"));
    }

    #[test]
    fn the_built_shim_passes() {
        let exe = std::env::current_exe().unwrap();
        // target/debug/deps/<test> -> target/debug/libdetbuild_shim.so
        let shim = exe.parent().unwrap().parent().unwrap().join(SHIM);
        if shim.is_file() {
            check(&shim).unwrap();
        }
    }
}
