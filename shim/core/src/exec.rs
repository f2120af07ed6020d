//! Pure logic behind the exec hooks: what an environment handed to `exec` lacks, the repaired
//! `LD_PRELOAD` entry, and whether an executable can be shimmed at all.
//!
//! Environment. A build may hand `execve` an environment without detbuild's variables (`env
//! -i`, an empty `envp`, a rewritten `LD_PRELOAD`). [`EnvScan`] reads the entries once and
//! says which of `DETBUILD`, `DETBUILD_ROOT`, `DETBUILD_KEY`, `DETBUILD_REPORT` are missing and whether the
//! `LD_PRELOAD` the loader will use (the *last* entry; ld.so keeps the last one it sees) lists
//! the shim. [`preload_entry`] writes the repaired `LD_PRELOAD=...` entry: the existing
//! entries first, then the shim.
//!
//! Executables. [`classify`] reads the first bytes of a file: an ELF with a Go note is
//! [`Kind::Go`], one without `PT_INTERP` is [`Kind::Static`] (unless it is the dynamic loader
//! itself, see [`is_loader`]), `#!` gives the interpreter to look at instead. Anything it cannot
//! see within the bytes given (program headers past the end, a truncated file) is
//! [`Kind::Other`]: when unsure, no warning.

use crate::settings::{KEY_VAR, REPORT_VAR, ROOT_VAR, VAR};

/// The shim's file name; an `LD_PRELOAD` entry with this base name is the shim.
pub const SHIM_FILE: &[u8] = b"libdetbuild_shim.so";
/// How many leading bytes of an executable [`classify`] looks at.
pub const HEAD: usize = 4096;
const PRELOAD: &[u8] = b"LD_PRELOAD=";

/// What one pass over an environment found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EnvScan {
    /// Number of entries.
    pub len: usize,
    /// Whether `DETBUILD`, `DETBUILD_ROOT`, `DETBUILD_KEY`, `DETBUILD_REPORT` (in this order)
    /// are present.
    pub has: [bool; 4],
    /// Index of the last `LD_PRELOAD` entry, and whether it lists the shim.
    pub preload: Option<(usize, bool)>,
    /// Whether `ASAN_OPTIONS` is present.
    pub asan: bool,
}

impl EnvScan {
    /// Scans `entries` (each `NAME=value`).
    pub fn new<'a>(entries: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let mut scan = EnvScan::default();
        for (i, entry) in entries.into_iter().enumerate() {
            for (slot, name) in [VAR, ROOT_VAR, KEY_VAR, REPORT_VAR].iter().enumerate() {
                if is_var(entry, name.as_bytes()) {
                    scan.has[slot] = true;
                }
            }
            scan.asan |= is_var(entry, b"ASAN_OPTIONS");
            if let Some(value) = entry.strip_prefix(PRELOAD) {
                scan.preload = Some((i, lists_shim(value)));
            }
            scan.len = i + 1;
        }
        scan
    }

    /// Whether the loader will find the shim in this environment.
    pub fn preload_ok(&self) -> bool {
        matches!(self.preload, Some((_, true)))
    }
}

fn is_var(entry: &[u8], name: &[u8]) -> bool {
    entry.len() > name.len() && entry.starts_with(name) && entry[name.len()] == b'='
}

/// The entries of an `LD_PRELOAD` value (ld.so splits on spaces and colons).
fn entries(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b' ' || b == b':')
        .filter(|e| !e.is_empty())
}

/// Whether an `LD_PRELOAD` value lists the shim.
pub fn lists_shim(value: &[u8]) -> bool {
    shim_in(value).is_some()
}

/// The shim's entry in an `LD_PRELOAD` value.
pub fn shim_in(value: &[u8]) -> Option<&[u8]> {
    entries(value).find(|e| crate::settings::basename(e) == SHIM_FILE)
}

/// Writes `LD_PRELOAD=<value>:<shim>` and a NUL into `out` (just `LD_PRELOAD=<shim>` when
/// `value` is empty); the length without the NUL, or `None` if `out` is too small.
pub fn preload_entry(value: &[u8], shim: &[u8], out: &mut [u8]) -> Option<usize> {
    let value = value.strip_suffix(b":").unwrap_or(value);
    let sep: &[u8] = if value.is_empty() { b"" } else { b":" };
    let mut len = 0;
    for part in [PRELOAD, value, sep, shim, b"\0"] {
        out.get_mut(len..len + part.len())?.copy_from_slice(part);
        len += part.len();
    }
    Some(len - 1)
}

/// What kind of executable a file is, for the shim's purposes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind<'a> {
    /// A dynamically linked ELF (has `PT_INTERP`): the loader will load the shim.
    Dynamic,
    /// An ELF without `PT_INTERP`: no loader, so no preload.
    Static,
    /// A Go program (a `Go` ELF note): it reads the clock from the vDSO and randomness by raw
    /// syscall, so the shim cannot reach it even when it is dynamically linked.
    Go,
    /// A `#!` script; the interpreter's path.
    Script(&'a [u8]),
    /// Anything else, or not enough bytes to tell.
    Other,
}

impl Kind<'_> {
    /// The warning's wording after the path, for the kinds the shim cannot control.
    pub fn warning(self) -> Option<&'static str> {
        match self {
            Kind::Static => Some("is statically linked"),
            Kind::Go => Some("is a Go program"),
            _ => None,
        }
    }
}

/// The one-line warning for `kind`: `detbuild: warning: PATH is statically linked; ...`,
/// written into `out` (the path cut short if needed); its length, or `None` if no warning.
pub fn warning_line(path: &[u8], kind: Kind<'_>, out: &mut [u8]) -> Option<usize> {
    let what = kind.warning()?;
    let parts: [&[u8]; 5] = [
        b"detbuild: warning: ",
        path,
        b" ",
        what.as_bytes(),
        b"; its clock and randomness are not controlled\n",
    ];
    let fixed: usize = parts.iter().map(|p| p.len()).sum::<usize>() - path.len();
    let keep = path.len().min(out.len().checked_sub(fixed)?);
    let mut len = 0;
    for (i, part) in parts.iter().enumerate() {
        let part = if i == 1 { &path[..keep] } else { part };
        out[len..len + part.len()].copy_from_slice(part);
        len += part.len();
    }
    Some(len)
}

/// Whether `path` names the dynamic loader (`ld-linux-x86-64.so.2`, `ld.so`, ...), which has
/// no `PT_INTERP` but loads preloads for the program it runs.
pub fn is_loader(path: &[u8]) -> bool {
    let name = crate::settings::basename(path);
    (name.starts_with(b"ld-") || name.starts_with(b"ld.so") || name.starts_with(b"ld64.so"))
        && name.windows(3).any(|w| w == b".so")
}

const PT_INTERP: u32 = 3;
const PT_NOTE: u32 = 4;

/// Classifies an executable from its first bytes (see the module docs).
pub fn classify(head: &[u8]) -> Kind<'_> {
    if let Some(rest) = head.strip_prefix(b"#!") {
        let start = rest
            .iter()
            .position(|&b| b != b' ' && b != b'\t')
            .unwrap_or(rest.len());
        let rest = &rest[start..];
        let end = rest
            .iter()
            .position(|&b| matches!(b, b' ' | b'\t' | b'\n' | b'\0'))
            .unwrap_or(rest.len());
        return match &rest[..end] {
            b"" => Kind::Other,
            interp => Kind::Script(interp),
        };
    }
    elf(head).unwrap_or(Kind::Other)
}

/// Reads fields of one endianness and class.
#[derive(Clone, Copy)]
struct Reader<'a> {
    bytes: &'a [u8],
    big: bool,
}

impl Reader<'_> {
    fn uint(&self, at: usize, size: usize) -> Option<u64> {
        let b = self.bytes.get(at..at.checked_add(size)?)?;
        let fold = |acc: u64, &x: &u8| acc << 8 | u64::from(x);
        Some(if self.big {
            b.iter().fold(0, fold)
        } else {
            b.iter().rev().fold(0, fold)
        })
    }
}

fn elf(head: &[u8]) -> Option<Kind<'_>> {
    if !head.starts_with(b"\x7fELF") {
        return None;
    }
    let wide = match head.get(4)? {
        1 => false,
        2 => true,
        _ => return None,
    };
    let r = Reader {
        bytes: head,
        big: *head.get(5)? == 2,
    };
    // ET_EXEC or ET_DYN only.
    if !matches!(r.uint(16, 2)?, 2 | 3) {
        return None;
    }
    let (phoff, phentsize, phnum) = if wide {
        (r.uint(32, 8)?, r.uint(54, 2)?, r.uint(56, 2)?)
    } else {
        (r.uint(28, 4)?, r.uint(42, 2)?, r.uint(44, 2)?)
    };
    let mut interp = false;
    for i in 0..phnum {
        let at = usize::try_from(phoff.checked_add(i.checked_mul(phentsize)?)?).ok()?;
        let (kind, offset, size) = if wide {
            (r.uint(at, 4)?, r.uint(at + 8, 8)?, r.uint(at + 32, 8)?)
        } else {
            (r.uint(at, 4)?, r.uint(at + 4, 4)?, r.uint(at + 16, 4)?)
        };
        match kind as u32 {
            PT_INTERP => interp = true,
            PT_NOTE if go_note(r, offset, size) => return Some(Kind::Go),
            _ => {}
        }
    }
    Some(if interp { Kind::Dynamic } else { Kind::Static })
}

/// Whether the notes at `offset..offset+size` (as far as they lie in the bytes read) include
/// one named `Go` (the Go toolchain's build-id note, `.note.go.buildid`).
fn go_note(r: Reader<'_>, offset: u64, size: u64) -> bool {
    let (Ok(mut at), Ok(size)) = (usize::try_from(offset), usize::try_from(size)) else {
        return false;
    };
    let end = at.saturating_add(size).min(r.bytes.len());
    let pad = |n: u64| usize::try_from(n.checked_add(3)? & !3).ok();
    while at.saturating_add(12) <= end {
        let (Some(namesz), Some(descsz)) = (r.uint(at, 4), r.uint(at + 4, 4)) else {
            return false;
        };
        let name = &r.bytes[at + 12..end];
        if namesz == 4 && name.starts_with(b"Go\0\0") {
            return true;
        }
        let (Some(n), Some(d)) = (pad(namesz), pad(descsz)) else {
            return false;
        };
        at = at.saturating_add(12).saturating_add(n).saturating_add(d);
    }
    false
}

/// FNV-1a of a path: the key of the shim's table of paths already classified.
pub fn path_hash(path: &[u8]) -> u64 {
    path.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(entries: &[&str]) -> EnvScan {
        EnvScan::new(entries.iter().map(|e| e.as_bytes()))
    }

    #[test]
    fn scan_finds_the_variables_and_the_last_preload() {
        assert_eq!(scan(&[]), EnvScan::default());
        let s = scan(&[
            "PATH=/bin",
            "DETBUILD=v1",
            "DETBUILD_KEYS=x",
            "DETBUILD_ROOT",
            "LD_PRELOAD=/x/libdetbuild_shim.so",
            "LD_PRELOAD=libm.so.6",
        ]);
        assert_eq!(s.len, 6);
        assert_eq!(s.has, [true, false, false, false]);
        assert_eq!(s.preload, Some((5, false)));
        assert!(!s.preload_ok());
        assert!(!s.asan);
        assert!(scan(&["ASAN_OPTIONS=detect_leaks=0"]).asan);
        assert!(!scan(&["ASAN_OPTIONS_X=1"]).asan);
        let s = scan(&[
            "DETBUILD_ROOT=/r",
            "DETBUILD_KEY=00",
            "DETBUILD_REPORT=/tmp/r",
            "LD_PRELOAD=a.so /l/libdetbuild_shim.so",
        ]);
        assert_eq!(s.has, [false, true, true, true]);
        assert!(s.preload_ok());
        // An empty value still counts as present: the program set it on purpose.
        assert_eq!(scan(&["DETBUILD="]).has, [true, false, false, false]);
    }

    #[test]
    fn preload_lists_are_split_like_ld_so() {
        assert!(lists_shim(b"libdetbuild_shim.so"));
        assert!(lists_shim(b"a.so:  /p/libdetbuild_shim.so"));
        assert!(!lists_shim(b"/p/libdetbuild_shim.so.bak"));
        assert!(!lists_shim(b""));
        assert_eq!(
            shim_in(b"x.so /p/libdetbuild_shim.so:y"),
            Some(&b"/p/libdetbuild_shim.so"[..])
        );
    }

    #[test]
    fn preload_entry_appends_the_shim() {
        let mut out = [0u8; 64];
        let n = preload_entry(b"libm.so.6", b"/s/x.so", &mut out).unwrap();
        assert_eq!(&out[..n + 1], b"LD_PRELOAD=libm.so.6:/s/x.so\0");
        let n = preload_entry(b"", b"/s/x.so", &mut out).unwrap();
        assert_eq!(&out[..n + 1], b"LD_PRELOAD=/s/x.so\0");
        let n = preload_entry(b"a.so:", b"/s/x.so", &mut out).unwrap();
        assert_eq!(&out[..n + 1], b"LD_PRELOAD=a.so:/s/x.so\0");
        assert_eq!(preload_entry(b"a", b"/s/x.so", &mut [0u8; 20]), None);
        assert!(preload_entry(b"a", b"/s/x.so", &mut [0u8; 21]).is_some());
    }

    /// A minimal ELF header with the given program headers (type, offset, size), and `tail`
    /// placed right after them.
    fn elf_image(wide: bool, big: bool, phdrs: &[(u32, u64, u64)], tail: &[u8]) -> Vec<u8> {
        let put = |v: &mut Vec<u8>, at: usize, x: u64, size: usize| {
            for i in 0..size {
                let shift = if big { 8 * (size - 1 - i) } else { 8 * i };
                v[at + i] = (x >> shift) as u8;
            }
        };
        let (ehsize, phentsize) = if wide { (64, 56) } else { (52, 32) };
        let mut v = vec![0u8; ehsize + phentsize * phdrs.len()];
        v[..4].copy_from_slice(b"\x7fELF");
        v[4] = if wide { 2 } else { 1 };
        v[5] = if big { 2 } else { 1 };
        put(&mut v, 16, 2, 2);
        if wide {
            put(&mut v, 32, ehsize as u64, 8);
            put(&mut v, 54, phentsize as u64, 2);
            put(&mut v, 56, phdrs.len() as u64, 2);
        } else {
            put(&mut v, 28, ehsize as u64, 4);
            put(&mut v, 42, phentsize as u64, 2);
            put(&mut v, 44, phdrs.len() as u64, 2);
        }
        for (i, &(kind, off, size)) in phdrs.iter().enumerate() {
            let at = ehsize + i * phentsize;
            put(&mut v, at, u64::from(kind), 4);
            if wide {
                put(&mut v, at + 8, off, 8);
                put(&mut v, at + 32, size, 8);
            } else {
                put(&mut v, at + 4, off, 4);
                put(&mut v, at + 16, size, 4);
            }
        }
        v.extend_from_slice(tail);
        v
    }

    fn go_note_bytes(big: bool) -> Vec<u8> {
        let mut n = Vec::new();
        for x in [4u32, 8, 4] {
            n.extend_from_slice(&if big {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            });
        }
        n.extend_from_slice(b"Go\0\0buildid!");
        n
    }

    #[test]
    fn elf_files_are_classified_in_both_classes_and_byte_orders() {
        for wide in [true, false] {
            for big in [false, true] {
                let dynamic = elf_image(wide, big, &[(6, 0, 0), (PT_INTERP, 0, 0)], b"");
                assert_eq!(classify(&dynamic), Kind::Dynamic, "{wide} {big}");
                let fixed = elf_image(wide, big, &[(1, 0, 0)], b"");
                assert_eq!(classify(&fixed), Kind::Static, "{wide} {big}");
                let at = elf_image(wide, big, &[(PT_NOTE, 0, 0)], b"").len() as u64;
                let note = go_note_bytes(big);
                let go = elf_image(wide, big, &[(PT_NOTE, at, note.len() as u64)], &note);
                assert_eq!(classify(&go), Kind::Go, "{wide} {big}");
                let two = elf_image(wide, big, &[(0, 0, 0), (0, 0, 0)], b"").len() as u64;
                let go_dyn = elf_image(
                    wide,
                    big,
                    &[(PT_INTERP, 0, 0), (PT_NOTE, two, note.len() as u64)],
                    &note,
                );
                assert_eq!(classify(&go_dyn), Kind::Go, "{wide} {big}");
            }
        }
    }

    #[test]
    fn other_notes_and_cut_headers_are_handled() {
        // A GNU build-id note then a Go note, both inside the bytes read.
        let mut notes = Vec::new();
        for x in [4u32, 20, 3] {
            notes.extend_from_slice(&x.to_le_bytes());
        }
        notes.extend_from_slice(b"GNU\0");
        notes.extend_from_slice(&[7; 20]);
        let plain = notes.clone();
        notes.extend_from_slice(&go_note_bytes(false));
        let at = elf_image(true, false, &[(PT_NOTE, 0, 0)], b"").len() as u64;
        let img = elf_image(true, false, &[(PT_NOTE, at, notes.len() as u64)], &notes);
        assert_eq!(classify(&img), Kind::Go);
        let img = elf_image(true, false, &[(PT_NOTE, at, plain.len() as u64)], &plain);
        assert_eq!(classify(&img), Kind::Static);
        // Program headers cut off by the read: unknown, so no warning.
        let img = elf_image(true, false, &[(1, 0, 0), (PT_INTERP, 0, 0)], b"");
        assert_eq!(classify(&img[..img.len() - 30]), Kind::Other);
        // A note whose sizes run past the end does not loop or panic.
        let mut bad = Vec::new();
        for x in [u32::MAX, u32::MAX, 4] {
            bad.extend_from_slice(&x.to_le_bytes());
        }
        let img = elf_image(true, false, &[(PT_NOTE, at, 1 << 40)], &bad);
        assert_eq!(classify(&img), Kind::Static);
        // Relocatable objects, unknown classes and non-ELF data are not executables we judge.
        let mut rel = elf_image(true, false, &[], b"");
        rel[16] = 1;
        assert_eq!(classify(&rel), Kind::Other);
        assert_eq!(classify(b"\x7fELF\x03"), Kind::Other);
        assert_eq!(classify(b"MZ"), Kind::Other);
        assert_eq!(classify(b""), Kind::Other);
    }

    #[test]
    fn scripts_name_their_interpreter() {
        assert_eq!(classify(b"#!/bin/sh\necho"), Kind::Script(b"/bin/sh"));
        assert_eq!(
            classify(b"#! \t/usr/bin/env python3\n"),
            Kind::Script(b"/usr/bin/env")
        );
        assert_eq!(classify(b"#!/bin/static"), Kind::Script(b"/bin/static"));
        assert_eq!(classify(b"#!\n"), Kind::Other);
    }

    #[test]
    fn the_loader_is_not_a_static_program() {
        assert!(is_loader(b"/lib64/ld-linux-x86-64.so.2"));
        assert!(is_loader(b"ld.so"));
        assert!(is_loader(b"/lib/ld64.so.2"));
        assert!(!is_loader(b"/usr/bin/ld"));
        assert!(!is_loader(b"/usr/bin/ld-static"));
    }

    #[test]
    fn warnings_are_one_line_and_fit_their_buffer() {
        let mut out = [0u8; 256];
        let n = warning_line(b"/bin/busybox", Kind::Static, &mut out).unwrap();
        assert_eq!(
            &out[..n],
            b"detbuild: warning: /bin/busybox is statically linked; its clock and randomness are not controlled\n"
        );
        let n = warning_line(b"./hugo", Kind::Go, &mut out).unwrap();
        assert!(out[..n].starts_with(b"detbuild: warning: ./hugo is a Go program; "));
        assert_eq!(warning_line(b"/bin/sh", Kind::Dynamic, &mut out), None);
        let mut small = [0u8; 120];
        let n = warning_line(&[b'x'; 500], Kind::Static, &mut small).unwrap();
        assert_eq!(n, 120);
        assert!(small.ends_with(b"controlled\n"));
        assert_eq!(warning_line(b"/x", Kind::Static, &mut [0u8; 10]), None);
    }

    #[test]
    fn path_hash_is_fnv1a() {
        assert_eq!(path_hash(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(path_hash(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_ne!(path_hash(b"/bin/ls"), path_hash(b"/bin/sl"));
    }
}
