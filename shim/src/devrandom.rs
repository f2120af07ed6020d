//! Random files: `/dev/urandom`, `/dev/random`, `/proc/sys/kernel/random/uuid` and `boot_id`,
//! opened read-only through `open`, `open64`, `openat`, `openat64`, the fortified `__open*_2`
//! variants, `fopen` or `fopen64`.
//!
//! Faked: such an open returns a memfd instead of the device.
//! - A random device becomes an endless file whose byte at offset `o` is byte `o` of a fresh
//!   stream keyed `child(thread, file, n)` for the thread's n-th open. Our `read` hook serves
//!   any offset, so `head -c 10M /dev/urandom` works. The memfd also holds the first bytes
//!   ([`OPEN_PREFILL`] after `open`, [`STDIO_PREFILL`] after `fopen`, whose reads go through
//!   libc's internal `read`) for readers that bypass the hook (`dup`s, `pread`); past those
//!   they see end of file. The memfd's name carries the key, so a program that inherits it
//!   as its standard input (`tr < /dev/urandom`) adopts it at start-up and reads it endlessly
//!   too. Prefilling is the cost of an open (about 2 µs per KiB), which is why an `open`
//!   (perl opens `/dev/urandom` twice at every start) prefills little.
//! - `uuid` reads as a fresh random UUID per open; `boot_id` as one UUID fixed for the whole run.
//!
//! Real: write or read-write opens, every other path, relative paths through a directory fd
//! (`openat(dev_fd, "urandom")`) and spellings like `/dev/./urandom`. `fstat` on the memfd says
//! "regular file", not "character device".
//!
//! Invariant: a read served from the stream is checked against the memfd's inode first, so a
//! slot left stale by `dup2`/`close_range` never turns a real file into random bytes.

use crate::clock::set_errno;
use crate::{real, state, sys, thread};
use core::ffi::{c_char, c_int, c_void};
use core::sync::atomic::{AtomicU64, Ordering};
use detbuild_core::key::{child_key, Child, Key};
use detbuild_core::stream;

/// Bytes written into a random device's memfd by `open` and friends.
pub const OPEN_PREFILL: usize = 4 * 1024;
/// Bytes written into a random device's memfd by `fopen` (stdio reads bypass our hook).
pub const STDIO_PREFILL: usize = 64 * 1024;
/// The memfd name's prefix; 64 hex digits of the file key follow.
const NAME: &[u8] = b"detbuild-random-";
/// Descriptors below this number get the endless-read treatment.
const SLOTS: usize = 1024;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Device,
    Uuid,
    BootId,
}

fn classify(path: *const c_char) -> Option<Kind> {
    const PATHS: [(&[u8], Kind); 4] = [
        (b"/dev/urandom\0", Kind::Device),
        (b"/dev/random\0", Kind::Device),
        (b"/proc/sys/kernel/random/uuid\0", Kind::Uuid),
        (b"/proc/sys/kernel/random/boot_id\0", Kind::BootId),
    ];
    if path.is_null() {
        return None;
    }
    // SAFETY: path is a NUL-terminated string; we stop at its NUL or the first mismatch.
    let byte = |i: usize| unsafe { *path.add(i) as u8 };
    if byte(0) != b'/' {
        return None;
    }
    PATHS
        .iter()
        .find(|(p, _)| p.iter().enumerate().all(|(i, &c)| byte(i) == c))
        .map(|&(_, k)| k)
}

struct Slot {
    ino: AtomicU64,
    key: [AtomicU64; 4],
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Slot = Slot {
    ino: AtomicU64::new(0),
    key: [const { AtomicU64::new(0) }; 4],
};
static FILES: [Slot; SLOTS] = [EMPTY; SLOTS];

fn slot(fd: c_int) -> Option<&'static Slot> {
    FILES
        .get(usize::try_from(fd).ok()?)
        .filter(|s| s.ino.load(Ordering::Acquire) != 0)
}

impl Slot {
    fn set(&self, key: &Key, ino: u64) {
        for (i, part) in key.chunks_exact(8).enumerate() {
            let mut w = [0u8; 8];
            w.copy_from_slice(part);
            self.key[i].store(u64::from_le_bytes(w), Ordering::Relaxed);
        }
        self.ino.store(ino, Ordering::Release);
    }

    fn key(&self) -> Key {
        let mut k = [0u8; 32];
        for (i, part) in k.chunks_exact_mut(8).enumerate() {
            part.copy_from_slice(&self.key[i].load(Ordering::Relaxed).to_le_bytes());
        }
        k
    }
}

/// Opens a faked random file; `None` when this open is not ours to fake.
fn open_fake(path: *const c_char, flags: c_int, prefill_len: usize) -> Option<c_int> {
    let kind = classify(path)?;
    if flags & libc::O_ACCMODE != libc::O_RDONLY {
        return None;
    }
    let p = state::active()?;
    let t = thread::ready(&p.key);
    let key = match kind {
        Kind::BootId => child_key(&p.root, Child::File, u64::MAX),
        _ => child_key(
            t.key(),
            Child::File,
            t.files.fetch_add(1, Ordering::Relaxed),
        ),
    };
    let cloexec = if flags & libc::O_CLOEXEC != 0 {
        libc::MFD_CLOEXEC
    } else {
        0
    };
    let mut name = [0u8; NAME.len() + 65];
    name[..NAME.len()].copy_from_slice(NAME);
    name[NAME.len()..NAME.len() + 64].copy_from_slice(&detbuild_core::key::to_hex(&key));
    // SAFETY: `name` is NUL-terminated (its last byte stays 0).
    let fd = unsafe { sys::memfd_create(&name, cloexec) };
    if fd < 0 {
        return Some(set_errno(-fd as c_int));
    }
    let fd = fd as c_int;
    let ok = match kind {
        Kind::Device => prefill(fd, &key, prefill_len),
        Kind::Uuid | Kind::BootId => write_all(fd, &uuid(&key)),
    };
    if !ok || sys::lseek(fd, 0, libc::SEEK_SET) < 0 {
        sys::close(fd);
        return Some(set_errno(libc::EIO));
    }
    if kind == Kind::Device {
        if let (Some(s), Some(ino)) = (FILES.get(fd as usize), inode(fd)) {
            s.set(&key, ino);
        }
    }
    Some(fd)
}

fn prefill(fd: c_int, key: &Key, len: usize) -> bool {
    let mut buf = [0u8; 4096];
    (0..len / buf.len()).all(|i| {
        stream::fill_at(key, (i * buf.len()) as u64, &mut buf);
        write_all(fd, &buf)
    })
}

fn write_all(fd: c_int, mut data: &[u8]) -> bool {
    while !data.is_empty() {
        let n = sys::write(fd, data);
        if n <= 0 {
            return false;
        }
        data = &data[n as usize..];
    }
    true
}

/// Adopts a random device inherited as standard input (`prog < /dev/urandom` in a shimmed
/// shell), so this process reads it endlessly too, and extends its prefill to
/// [`STDIO_PREFILL`] for the program's stdio reads. One `fstat` per process start; the name
/// is read only for an unlinked regular file of a prefill size.
pub fn adopt_stdin() {
    // SAFETY: an all-zero stat is a valid value to be overwritten.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    if sys::fstat(0, &mut st) != 0
        || st.st_mode & libc::S_IFMT != libc::S_IFREG
        || st.st_nlink != 0
        || ![OPEN_PREFILL, STDIO_PREFILL].contains(&(st.st_size as usize))
    {
        return;
    }
    let mut link = [0u8; 128];
    // SAFETY: a NUL-terminated literal path.
    let n = unsafe { sys::readlink(c"/proc/self/fd/0".as_ptr().cast(), &mut link) };
    let Some(link) = usize::try_from(n).ok().and_then(|n| link.get(..n)) else {
        return;
    };
    let hex = link
        .strip_prefix(b"/memfd:")
        .and_then(|l| l.strip_prefix(NAME))
        .and_then(|l| l.get(..64));
    let (Some(key), Some(s)) = (hex.and_then(detbuild_core::key::from_hex), FILES.first()) else {
        return;
    };
    s.set(&key, st.st_ino);
    let mut buf = [0u8; 4096];
    for at in (st.st_size as usize..STDIO_PREFILL).step_by(buf.len()) {
        stream::fill_at(&key, at as u64, &mut buf);
        if sys::pwrite(0, &buf, at as u64) != buf.len() as isize {
            return;
        }
    }
}

fn inode(fd: c_int) -> Option<u64> {
    // SAFETY: an all-zero stat is a valid value to be overwritten.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    (sys::fstat(fd, &mut st) == 0).then_some(st.st_ino)
}

/// A version-4 UUID in its text form, with a newline, as the kernel prints it.
fn uuid(key: &Key) -> [u8; 37] {
    let mut b = stream::block(key, 0);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut out = [b'-'; 37];
    let hex = detbuild_core::key::to_hex(&b);
    let mut o = 0;
    for (i, pair) in hex[..32].chunks(2).enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            o += 1;
        }
        out[o..o + 2].copy_from_slice(pair);
        o += 2;
    }
    out[36] = b'\n';
    out
}

macro_rules! open_hook {
    ($(#[$doc:meta])* $name:ident ($($arg:ident : $ty:ty),*) => $path:ident, $flags:ident) => {
        $(#[$doc])*
        ///
        /// # Safety
        /// The arguments must satisfy the C function's contract.
        #[no_mangle]
        pub unsafe extern "C" fn $name($($arg: $ty),*) -> c_int {
            if let Some(fd) = open_fake($path, $flags, OPEN_PREFILL) {
                return fd;
            }
            match real::$name() {
                // SAFETY: forwarding the caller's arguments.
                Some(f) => unsafe { f($($arg),*) },
                None => set_errno(libc::ENOSYS),
            }
        }
    };
}

open_hook!(/// `open`: random paths faked.
    open(path: *const c_char, flags: c_int, mode: libc::mode_t) => path, flags);
open_hook!(/// `open64`: random paths faked.
    open64(path: *const c_char, flags: c_int, mode: libc::mode_t) => path, flags);
open_hook!(/// `openat`: absolute random paths faked.
    openat(dir: c_int, path: *const c_char, flags: c_int, mode: libc::mode_t) => path, flags);
open_hook!(/// `openat64`: absolute random paths faked.
    openat64(dir: c_int, path: *const c_char, flags: c_int, mode: libc::mode_t) => path, flags);
open_hook!(/// Fortified `open` (`-D_FORTIFY_SOURCE`): random paths faked.
    __open_2(path: *const c_char, flags: c_int) => path, flags);
open_hook!(/// Fortified `open64`: random paths faked.
    __open64_2(path: *const c_char, flags: c_int) => path, flags);
open_hook!(/// Fortified `openat`: absolute random paths faked.
    __openat_2(dir: c_int, path: *const c_char, flags: c_int) => path, flags);
open_hook!(/// Fortified `openat64`: absolute random paths faked.
    __openat64_2(dir: c_int, path: *const c_char, flags: c_int) => path, flags);

/// Flags for a read-only `fopen` mode (`r`, `rb`, `re`), or `None` for any other mode.
fn fopen_flags(mode: *const c_char) -> Option<c_int> {
    if mode.is_null() {
        return None;
    }
    // SAFETY: mode is a NUL-terminated string.
    let mode = unsafe { core::ffi::CStr::from_ptr(mode) }.to_bytes();
    if mode.first() != Some(&b'r') || mode.contains(&b'+') {
        return None;
    }
    Some(
        libc::O_RDONLY
            | if mode.contains(&b'e') {
                libc::O_CLOEXEC
            } else {
                0
            },
    )
}

macro_rules! fopen_hook {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// # Safety
        /// `path` and `mode` must be NUL-terminated strings.
        #[no_mangle]
        pub unsafe extern "C" fn $name(path: *const c_char, mode: *const c_char) -> *mut libc::FILE {
            if let Some(fd) = fopen_flags(mode).and_then(|flags| open_fake(path, flags, STDIO_PREFILL)) {
                if fd < 0 {
                    return core::ptr::null_mut();
                }
                if let Some(fdopen) = real::fdopen() {
                    // SAFETY: fd is our open memfd and mode a valid read mode.
                    let f = unsafe { fdopen(fd, mode) };
                    if f.is_null() {
                        sys::close(fd);
                        forget(fd);
                    }
                    return f;
                }
                sys::close(fd);
                forget(fd);
            }
            match real::$name() {
                // SAFETY: forwarding the caller's arguments.
                Some(f) => unsafe { f(path, mode) },
                None => core::ptr::null_mut(),
            }
        }
    };
}

fopen_hook!(/// `fopen`: random paths faked (stdio reads see the prefilled bytes).
    fopen);
fopen_hook!(/// `fopen64`: random paths faked.
    fopen64);

fn forget(fd: c_int) {
    if let Some(s) = FILES.get(fd as usize) {
        s.ino.store(0, Ordering::Release);
    }
}

/// `read`: a random device opened here reads its stream at the current offset, any length;
/// every other descriptor costs one bounds check and one load before the real `read`.
///
/// # Safety
/// `buf` must point to `len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn read(fd: c_int, buf: *mut c_void, len: usize) -> isize {
    if let Some(s) = slot(fd) {
        if let Some(n) = read_stream(fd, s, buf, len) {
            return n;
        }
    }
    match real::read() {
        // SAFETY: forwarding the caller's arguments.
        Some(f) => unsafe { f(fd, buf, len) },
        None => {
            // SAFETY: caller's contract.
            let r =
                unsafe { sys::syscall6(libc::SYS_read, fd as usize, buf as usize, len, 0, 0, 0) };
            if r < 0 {
                set_errno(-r as c_int) as isize
            } else {
                r
            }
        }
    }
}

fn read_stream(fd: c_int, s: &Slot, buf: *mut c_void, len: usize) -> Option<isize> {
    if inode(fd) != Some(s.ino.load(Ordering::Acquire)) {
        s.ino.store(0, Ordering::Release);
        return None;
    }
    let pos = sys::lseek(fd, 0, libc::SEEK_CUR);
    if pos < 0 || buf.is_null() {
        return None;
    }
    let n = len.min(0x01ff_ffff);
    // SAFETY: buf points to len writable bytes by the caller's contract.
    let out = unsafe { core::slice::from_raw_parts_mut(buf.cast::<u8>(), n) };
    stream::fill_at(&s.key(), pos as u64, out);
    sys::lseek(fd, pos as i64 + n as i64, libc::SEEK_SET);
    Some(n as isize)
}

/// `close`: forgets a random device's slot, and a timer descriptor's clock ([`crate::timer`]),
/// before the real close (so a racing open that reuses the number is never forgotten by
/// mistake).
#[no_mangle]
pub extern "C" fn close(fd: c_int) -> c_int {
    if slot(fd).is_some() {
        forget(fd);
    }
    crate::timer::forget_fd(fd);
    match real::close() {
        // SAFETY: forwarding the caller's argument.
        Some(f) => unsafe { f(fd) },
        None => {
            let r = sys::close(fd);
            if r < 0 {
                set_errno(-r as c_int)
            } else {
                0
            }
        }
    }
}
