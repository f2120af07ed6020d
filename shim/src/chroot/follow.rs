//! The shim's `LD_PRELOAD` entry for a program started by a process that holds the host
//! root's descriptor (see the parent module): none when the shim's host path works here, else
//! `/proc/self/fd/N/<host path>`, else a plant in `/`, else the shim left out with a warning.
//!
//! Invariants: raw syscalls and stack buffers only, so it is safe in a `vfork` child (where
//! the descriptor copy and the plant belong to the child); the only lock is a `flock` of the
//! new root's `/` held for a plant's creation or removal (released by `close`, or by the
//! kernel if the process dies); nothing here runs for a process without the host root's
//! descriptor.

use super::{dup_high, host, unshimmed};
use crate::{env, sys};
use core::ffi::c_int;
use core::sync::atomic::{AtomicU64, Ordering};
use detbuild_core::chroot::{parse_entry, plant_name, plant_time, proc_entry, Carried};
use detbuild_core::exec::shim_in;

/// Room for an entry: `/proc/self/fd/N` and the shim's host path, or a plant's name.
const ENTRY: usize = 1024;
/// Plants made by this process so far (names must be unique).
static SEQ: AtomicU64 = AtomicU64::new(0);

/// What one exec or spawn hands its program (see the module docs).
pub struct Follow {
    /// The entry, NUL-terminated; empty: leave the shim out.
    entry: [u8; ENTRY],
    len: usize,
    /// The non-close-on-exec copy of the descriptor the new program inherits, or -1.
    dup: c_int,
    /// `/`'s modification time before a plant, when one was made.
    plant: Option<(i64, u32)>,
}

/// `stat` (`dir` -1: `AT_FDCWD`) by raw syscall: device and inode, or `None`.
fn identity(dir: c_int, path: &[u8]) -> Option<(u64, u64)> {
    let dir = if dir < 0 { libc::AT_FDCWD } else { dir };
    // SAFETY: an all-zero stat is a valid value to be overwritten.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: `path` is NUL-terminated (callers' buffers), `st` is writable.
    let r = unsafe { sys::fstatat(dir, path.as_ptr(), &mut st, 0) };
    (r >= 0).then_some((st.st_dev, st.st_ino))
}

/// The shim's path in the host root, NUL-terminated in `buf`: the payload's `shim=` field,
/// else the shim's entry in the saved `LD_PRELOAD` (a host path or the `/proc` form).
fn host_shim(buf: &mut [u8; ENTRY]) -> Option<&[u8]> {
    let saved = env::saved();
    let payload = saved[env::PAYLOAD];
    let from_payload = payload
        .split(|&b| b == b';')
        .find_map(|f| f.strip_prefix(b"shim="));
    let preload = saved[env::PRELOAD]
        .get(b"LD_PRELOAD=".len()..)
        .unwrap_or(b"");
    let path = from_payload.or_else(|| {
        let entry = shim_in(preload)?;
        match parse_entry(entry) {
            Some(Carried::Proc { host, .. }) => Some(host),
            _ => Some(entry),
        }
    })?;
    if !path.starts_with(b"/") || path.len() >= ENTRY {
        return None;
    }
    buf[..path.len()].copy_from_slice(path);
    buf[path.len()] = 0;
    Some(&buf[..=path.len()])
}

impl Follow {
    /// The entry for a program this process starts now; `None` when the usual repair applies
    /// (no host root's descriptor, or the shim's host path works here). `unreachable` says
    /// whether the program is one the shim cannot reach (static, Go): it gets no plant, which
    /// it could not remove (the exec's own check warns about it).
    pub fn prepare(unreachable: impl FnOnce() -> bool) -> Option<Follow> {
        let root = host()?;
        let mut path = [0u8; ENTRY];
        let path = host_shim(&mut path)?;
        let here = identity(-1, path);
        let there = identity(root, &path[1..]);
        match (here, there) {
            (Some(h), Some(t)) if h == t => return None,
            (Some(_), None) => return None,
            (None, None) => return Some(Follow::without(libc::ENOENT)),
            _ => {}
        }
        let mut out = Follow {
            entry: [0; ENTRY],
            len: 0,
            dup: -1,
            plant: None,
        };
        let Some(dup) = dup_high(root, libc::F_DUPFD) else {
            return Some(Follow::without(libc::EBADF));
        };
        out.dup = dup;
        let host_path = &path[..path.len() - 1];
        if let Some(len) = proc_entry(dup, host_path, &mut out.entry) {
            if identity(-1, &out.entry[..=len]) == there {
                out.len = len;
                return Some(out);
            }
        }
        if unreachable() {
            sys::close(dup);
            return Some(Follow { dup: -1, ..out });
        }
        match out.plant(root, path) {
            Ok(()) => Some(out),
            Err(errno) => {
                sys::close(dup);
                Some(Follow::without(errno))
            }
        }
    }

    /// The shim left out: warns and counts.
    fn without(errno: c_int) -> Follow {
        unshimmed(errno);
        Follow {
            entry: [0; ENTRY],
            len: 0,
            dup: -1,
            plant: None,
        }
    }

    /// Puts a hard link or copy of the shim (`path` in the host root `root`) into `/`, named
    /// after the descriptor copy and `/`'s modification time; the errno on failure.
    fn plant(&mut self, root: c_int, path: &[u8]) -> Result<(), c_int> {
        let lock = RootLock::new().ok_or(libc::ENOENT)?;
        // SAFETY: an all-zero stat is a valid value to be overwritten.
        let mut st: libc::stat = unsafe { core::mem::zeroed() };
        if sys::fstat(lock.0, &mut st) < 0 {
            return Err(libc::ENOENT);
        }
        let (sec, nsec) = other_plant(&lock, b"").unwrap_or((st.st_mtime, st.st_mtime_nsec as u32));
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let pid = sys::getpid() as u32;
        let len = plant_name(self.dup, sec, nsec, pid, seq, &mut self.entry).ok_or(libc::EINVAL)?;
        let name = self.entry.as_ptr();
        let flags = libc::O_RDONLY | libc::O_CLOEXEC;
        // SAFETY: `path[1..]` is NUL-terminated, relative to the host root.
        let src = unsafe { sys::openat(root, path[1..].as_ptr(), flags) };
        let src = c_int::try_from(src).map_err(|_| libc::EIO)?;
        if src < 0 {
            return Err(-src);
        }
        // SAFETY: the raw syscalls get NUL-terminated names and valid descriptors.
        let r = unsafe {
            let linked = sys::syscall6(
                libc::SYS_linkat,
                src as usize,
                c"".as_ptr() as usize,
                libc::AT_FDCWD as usize,
                name as usize,
                libc::AT_EMPTY_PATH as usize,
                0,
            );
            if linked >= 0 {
                0
            } else {
                copy(src, name)
            }
        };
        sys::close(src);
        if r != 0 {
            drop(lock);
            remove_plant(&self.entry[..=len], sec, nsec);
            return Err(r);
        }
        self.len = len;
        self.plant = Some((sec, nsec));
        Ok(())
    }

    /// The entry (empty: leave the shim out).
    pub fn entry(&self) -> &[u8] {
        &self.entry[..self.len]
    }

    /// After the exec or spawn returned (`started`: the program runs): closes the descriptor
    /// copy here, and removes a plant no program will remove.
    pub fn finish(self, started: bool) {
        if self.dup >= 0 {
            sys::close(self.dup);
        }
        if let (Some((sec, nsec)), false) = (self.plant, started) {
            remove_plant(&self.entry[..=self.len], sec, nsec);
        }
    }
}

/// Copies the file open at `src` to a new file `name` (mode 0644); 0 or the errno (a partial
/// copy is left for the caller to remove).
///
/// # Safety
/// `name` must be a NUL-terminated string.
unsafe fn copy(src: c_int, name: *const u8) -> c_int {
    let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC;
    // SAFETY: caller's contract.
    let dst = unsafe { sys::open(name, flags, 0o644) };
    let Ok(dst) = c_int::try_from(dst) else {
        return libc::EIO;
    };
    if dst < 0 {
        return -dst;
    }
    let mut offset: i64 = 0;
    let result = loop {
        // SAFETY: two open descriptors and a writable offset.
        let n = unsafe {
            sys::syscall6(
                libc::SYS_sendfile,
                dst as usize,
                src as usize,
                &mut offset as *mut i64 as usize,
                1 << 30,
                0,
                0,
            )
        };
        match n {
            0 => break 0,
            n if n < 0 => break -n as c_int,
            _ => {}
        }
    };
    sys::close(dst);
    result
}

/// `/` open and locked (`flock`) while a plant is made or removed together with the time
/// it records or puts back, so programs starting at once agree on the time `/` had before
/// any plant. Unlocked when dropped.
struct RootLock(c_int);

impl RootLock {
    fn new() -> Option<RootLock> {
        let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC;
        // SAFETY: a literal NUL-terminated path.
        let fd = c_int::try_from(unsafe { sys::open(c"/".as_ptr().cast(), flags, 0) }).ok()?;
        if fd < 0 {
            return None;
        }
        // SAFETY: flock on our own descriptor.
        unsafe {
            sys::syscall6(
                libc::SYS_flock,
                fd as usize,
                libc::LOCK_EX as usize,
                0,
                0,
                0,
                0,
            )
        };
        Some(RootLock(fd))
    }
}

impl Drop for RootLock {
    fn drop(&mut self) {
        sys::close(self.0);
    }
}

/// The time recorded by a plant in `/` other than `own` (a name without its `/`), if any.
fn other_plant(root: &RootLock, own: &[u8]) -> Option<(i64, u32)> {
    let fd = root.0;
    sys::lseek(fd, 0, libc::SEEK_SET);
    let mut buf = [0u64; 512];
    let mut found = None;
    while found.is_none() {
        // SAFETY: a directory descriptor and a writable, 8-aligned buffer of its size.
        let n = unsafe {
            sys::syscall6(
                libc::SYS_getdents64,
                fd as usize,
                buf.as_mut_ptr() as usize,
                core::mem::size_of_val(&buf),
                0,
                0,
                0,
            )
        };
        let Ok(n @ 1..) = usize::try_from(n) else {
            break;
        };
        // SAFETY: the kernel wrote `n` bytes of the buffer.
        let records = unsafe { core::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n) };
        found = plant_time(records, own);
    }
    found
}

/// Unlinks the plant `path` (NUL-terminated) and, unless another plant is still there, gives
/// `/` back the modification time it had before (`sec`, `nsec`).
pub fn remove_plant(path: &[u8], sec: i64, nsec: u32) {
    let times = [
        libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_OMIT,
        },
        libc::timespec {
            tv_sec: sec,
            tv_nsec: nsec.into(),
        },
    ];
    let lock = RootLock::new();
    // SAFETY: a NUL-terminated path.
    unsafe {
        sys::syscall6(
            libc::SYS_unlinkat,
            libc::AT_FDCWD as usize,
            path.as_ptr() as usize,
            0,
            0,
            0,
            0,
        )
    };
    let own = path.strip_prefix(b"/").unwrap_or(path);
    let own = &own[..own.iter().position(|&b| b == 0).unwrap_or(own.len())];
    if lock.as_ref().and_then(|l| other_plant(l, own)).is_some() {
        return;
    }
    // SAFETY: a literal NUL-terminated path and a two-element times array.
    unsafe {
        sys::syscall6(
            libc::SYS_utimensat,
            libc::AT_FDCWD as usize,
            c"/".as_ptr() as usize,
            times.as_ptr() as usize,
            0,
            0,
            0,
        );
    }
}
