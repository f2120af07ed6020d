//! Programs the shim cannot reach: statically linked executables (no loader, so no preload)
//! and Go programs (vDSO clock, raw `getrandom`).
//!
//! Before each exec the target's first [`HEAD`] bytes are read (`open` + `pread` by raw
//! syscall, no heap) and classified by [`detbuild_core::exec::classify`]; a `#!` script is
//! judged by its interpreter (followed once). For a program the shim cannot reach, one line
//! goes to stderr, once per path per process, and [`STATIC_EXECS`] counts every such exec.
//!
//! Cheap by construction: a lock-free table of path hashes remembers each path's verdict, so
//! a path costs one `open` + `pread` the first time and nothing after. The table is shared
//! with `vfork` children (same memory), so their execs count for the parent. Targets given by
//! a descriptor (`fexecve`, `execveat` with `AT_EMPTY_PATH`) are remembered under the name
//! `/proc/self/fd/N` links to; paths relative to another directory descriptor are read each
//! time. A path whose file is replaced by another kind of program keeps its first verdict for
//! the rest of the process. A target that cannot be opened or read (missing, execute-only) is
//! not judged and not remembered.

use crate::sys;
use core::ffi::{c_char, c_int, CStr};
use core::sync::atomic::{AtomicU64, Ordering};
use detbuild_core::exec::{classify, is_loader, path_hash, warning_line, Kind, HEAD};

/// Execs of programs the shim cannot reach, in this process (for the per-process report).
pub static STATIC_EXECS: AtomicU64 = AtomicU64::new(0);

const SLOTS: usize = 256;
const PROBES: usize = 8;
const UNREACHABLE: u64 = 1;
static SEEN: [AtomicU64; SLOTS] = [const { AtomicU64::new(0) }; SLOTS];

/// The program an exec is about to run.
#[derive(Clone, Copy)]
pub enum Target {
    /// A path, relative to the working directory if not absolute.
    Path(*const c_char),
    /// A path relative to a directory descriptor, with `execveat` flags.
    At(c_int, *const c_char, c_int),
    /// An open descriptor (`fexecve`).
    Fd(c_int),
}

/// Judges `target` and warns if the shim cannot reach it (see the module docs).
#[inline(never)]
pub fn program(target: Target) {
    match target {
        Target::Path(path) if !path.is_null() => {
            // SAFETY: a non-null exec path is a NUL-terminated string.
            let name = unsafe { CStr::from_ptr(path) }.to_bytes();
            remembered(name, || {
                // SAFETY: as above.
                let fd = unsafe { sys::open(path.cast(), FLAGS, 0) };
                judge(fd, name)
            });
        }
        Target::At(dir, path, flags) if !path.is_null() => {
            // SAFETY: as above.
            let name = unsafe { CStr::from_ptr(path) }.to_bytes();
            if name.is_empty() && flags & libc::AT_EMPTY_PATH != 0 {
                return program(Target::Fd(dir));
            }
            if dir == libc::AT_FDCWD || name.starts_with(b"/") {
                return program(Target::Path(path));
            }
            let nofollow = if flags & libc::AT_SYMLINK_NOFOLLOW != 0 {
                libc::O_NOFOLLOW
            } else {
                0
            };
            // SAFETY: as above.
            let fd = unsafe { sys::openat(dir, path.cast(), FLAGS | nofollow) };
            count(judge(fd, name));
        }
        Target::Fd(fd) if fd >= 0 => {
            let mut link = [0u8; 36];
            let link = fd_link(fd, &mut link);
            let mut name = [0u8; 512];
            // SAFETY: `link` is NUL-terminated.
            let n = unsafe { sys::readlink(link.as_ptr(), &mut name) };
            let name = match usize::try_from(n) {
                Ok(n) if n < name.len() => &name[..n],
                _ => &link[..link.len() - 1],
            };
            remembered(name, || {
                let mut head = [0u8; HEAD];
                match sys::pread(fd, &mut head, 0) {
                    n if n >= 0 => judge_head(&mut head, n as usize, name),
                    // SAFETY: `link` is NUL-terminated; reopening serves O_PATH descriptors.
                    _ => judge(unsafe { sys::open(link.as_ptr(), FLAGS, 0) }, name),
                }
            });
        }
        _ => {}
    }
}

/// Whether the program at `path` is one the shim cannot reach, judged afresh: nothing is
/// recorded, counted or printed (the exec's own check does that).
///
/// # Safety
/// `path` must be null or a NUL-terminated string.
pub unsafe fn unreachable(path: *const c_char) -> bool {
    if path.is_null() {
        return false;
    }
    // SAFETY: caller's contract.
    let (name, fd) = unsafe {
        (
            CStr::from_ptr(path).to_bytes(),
            sys::open(path.cast(), FLAGS, 0),
        )
    };
    judge(fd, name).is_some_and(|v| v.unreachable)
}

const FLAGS: c_int = libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_NOCTTY;

/// Looks `name` up in the table, or judges it with `judge` and records the verdict; counts
/// and warns as needed.
fn remembered(name: &[u8], judge: impl FnOnce() -> Option<Verdict>) {
    let key = (path_hash(name) | 2) & !UNREACHABLE;
    let start = key as usize % SLOTS;
    let mut free = None;
    for i in 0..PROBES {
        let slot = &SEEN[(start + i) % SLOTS];
        let v = slot.load(Ordering::Relaxed);
        if v == 0 {
            free = Some(slot);
            break;
        }
        if v & !UNREACHABLE == key {
            if v & UNREACHABLE != 0 {
                STATIC_EXECS.fetch_add(1, Ordering::Relaxed);
            }
            return;
        }
    }
    let Some(verdict) = judge() else {
        return;
    };
    let value = key | u64::from(verdict.unreachable);
    // Another thread may record the same path meanwhile: only the one that stores warns.
    let stored = match free {
        Some(slot) => slot
            .compare_exchange(0, value, Ordering::Relaxed, Ordering::Relaxed)
            .map_or_else(|v| v & !UNREACHABLE != key, |_| true),
        None => true,
    };
    if stored {
        count(Some(verdict));
    } else if verdict.unreachable {
        STATIC_EXECS.fetch_add(1, Ordering::Relaxed);
    }
}

/// A judged program: whether the shim cannot reach it, and the warning line to print if so.
#[derive(Clone, Copy)]
struct Verdict {
    unreachable: bool,
    line: [u8; 640],
    len: usize,
}

/// Counts and prints a fresh verdict.
fn count(verdict: Option<Verdict>) {
    let Some(v) = verdict.filter(|v| v.unreachable) else {
        return;
    };
    STATIC_EXECS.fetch_add(1, Ordering::Relaxed);
    sys::write(2, &v.line[..v.len]);
}

/// Reads and judges the file open at `fd` (a raw `open` result), then closes it.
fn judge(fd: isize, name: &[u8]) -> Option<Verdict> {
    let fd = i32::try_from(fd).ok().filter(|&fd| fd >= 0)?;
    let mut head = [0u8; HEAD];
    let n = sys::pread(fd, &mut head, 0);
    sys::close(fd);
    judge_head(&mut head, usize::try_from(n).ok()?, name)
}

/// Judges the `n` bytes read into `head` from the program `name`, following `#!` once (the
/// interpreter is read into `head` in turn).
fn judge_head(head: &mut [u8; HEAD], n: usize, name: &[u8]) -> Option<Verdict> {
    let mut interp = [0u8; 256];
    let mut shown = name;
    let mut kind = classify(&head[..n]);
    if let Kind::Script(path) = kind {
        let len = path.len().min(interp.len() - 1);
        interp[..len].copy_from_slice(&path[..len]);
        // SAFETY: `interp` is NUL-terminated (len < its size, zero-filled).
        let fd = unsafe { sys::open(interp.as_ptr(), FLAGS, 0) };
        let fd = i32::try_from(fd).ok().filter(|&fd| fd >= 0)?;
        let m = usize::try_from(sys::pread(fd, head, 0)).unwrap_or(0);
        sys::close(fd);
        kind = match classify(&head[..m]) {
            Kind::Script(_) => Kind::Other,
            k => k,
        };
        shown = &interp[..len];
    }
    if kind == Kind::Static && is_loader(shown) {
        kind = Kind::Dynamic;
    }
    let mut verdict = Verdict {
        unreachable: false,
        line: [0; 640],
        len: 0,
    };
    if let Some(len) = warning_line(shown, kind, &mut verdict.line) {
        verdict.unreachable = true;
        verdict.len = len;
    }
    Some(verdict)
}

/// Writes `/proc/self/fd/N` and a NUL into `buf`; the string with its NUL.
pub fn fd_link(fd: c_int, buf: &mut [u8; 36]) -> &[u8] {
    const PREFIX: &[u8] = b"/proc/self/fd/";
    buf[..PREFIX.len()].copy_from_slice(PREFIX);
    let mut digits = [0u8; 20];
    let digits = detbuild_core::text::decimal(u64::from(fd.unsigned_abs()), &mut digits);
    let end = PREFIX.len() + digits.len();
    buf[PREFIX.len()..end].copy_from_slice(digits);
    buf[end] = 0;
    &buf[..=end]
}
