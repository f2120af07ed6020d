//! Virtual files: opens of the paths in the registry (`detbuild_core::vfs`) through `open`,
//! `open64`, `openat`, `openat64`, the fortified `__open*_2` variants, `fopen` or `fopen64`
//! are answered by a provider here instead of the kernel. Paths match after lexical
//! normalization, relative ones joined to the working directory or to the directory an
//! `openat` descriptor names; an open whose last component names no provider costs one short
//! compare.
//!
//! Providers (each behind its policy switch; real when the switch is off):
//! - random devices (`/dev/urandom`, `/dev/random`, read-only): an endless file whose byte at
//!   offset `o` is byte `o` of a fresh stream keyed `child(thread, file, n)` for the thread's
//!   n-th open. The descriptor is a memfd entered in the descriptor table (`fd.rs`), whose
//!   `read` serves any offset, so `head -c 10M /dev/urandom` works, and so do its duplicates.
//!   The memfd also holds the first bytes ([`OPEN_PREFILL`] after `open`, [`STDIO_PREFILL`]
//!   after `fopen`, whose reads go through libc's internal `read`) for readers that bypass
//!   the hook (`pread`, an inherited descriptor); past those they see end of file. The memfd's
//!   name carries the key, so a program that inherits it as its standard input
//!   (`tr < /dev/urandom`) adopts it at start-up and reads it endlessly too. Prefilling is the
//!   cost of an open (about 2 µs per KiB), which is why an `open` (perl opens `/dev/urandom`
//!   twice at every start) prefills little.
//! - `/proc/sys/kernel/random/uuid` reads as a fresh random UUID per open; `boot_id` as one
//!   UUID fixed for the whole run.
//!
//! - `/proc/sys/kernel/hostname` and `/etc/hostname` read as the configured host name and a
//!   newline, `/proc/sys/kernel/domainname` as the domain name (switch `host`; `host.rs`).
//! - `/proc/cpuinfo` and `/sys/devices/system/cpu/{online,possible,present}` list the
//!   configured CPU count (switch `cpus`; `cpus.rs`).
//!
//! Real: write or read-write opens, every other path, symbolic links to a provider's path.
//! `fstat` on a provided file says "regular file", not "character device"; on a provided text
//! file (host names, CPU files) it reports the real file's device and inode, as a `stat` of
//! the path does (`cp` checks that they agree).

use crate::clock::set_errno;
use crate::hooks::{count, Id};
use crate::{fd, real, state, sys, thread};
use core::ffi::{c_char, c_int, c_void};
use core::sync::atomic::Ordering;
use detbuild_core::key::{child_key, Child, Key};
use detbuild_core::stream;
use detbuild_core::vfs::{self as table, File};

/// Bytes written into a random device's memfd by `open` and friends.
pub const OPEN_PREFILL: usize = 4 * 1024;
/// Bytes written into a random device's memfd by `fopen` (stdio reads bypass our hook).
pub const STDIO_PREFILL: usize = 64 * 1024;
/// The memfd name's prefix; 64 hex digits of the file key follow.
const NAME: &[u8] = b"detbuild-random-";
/// The provider for `path` opened relative to `dir` (a descriptor or `AT_FDCWD`), if any.
fn resolve(dir: c_int, path: *const c_char) -> Option<File> {
    if path.is_null() {
        return None;
    }
    // SAFETY: path is a NUL-terminated string by the caller's contract.
    let path = unsafe { core::ffi::CStr::from_ptr(path) }.to_bytes();
    if !table::may_be_virtual(path) {
        return None;
    }
    let mut base = [0u8; table::PATH_MAX];
    let base: &[u8] = if path.first() == Some(&b'/') {
        b"/"
    } else if dir == libc::AT_FDCWD {
        let n = sys::getcwd(&mut base);
        base.get(..usize::try_from(n).ok()?.checked_sub(1)?)?
    } else {
        if dir < 0 {
            return None;
        }
        let mut link = [0u8; 36];
        let link = crate::exec::check::fd_link(dir, &mut link);
        // SAFETY: `fd_link` ends the path with a NUL.
        let n = unsafe { sys::readlink(link.as_ptr().cast(), &mut base) };
        base.get(..usize::try_from(n).ok()?)?
    };
    let mut out = [0u8; table::PATH_MAX];
    table::lookup(table::normalize(base, path, &mut out)?)
}

/// Opens a provided file; `None` when this open is not ours to answer.
fn open_fake(dir: c_int, path: *const c_char, flags: c_int, prefill_len: usize) -> Option<c_int> {
    if flags & libc::O_ACCMODE != libc::O_RDONLY {
        return None;
    }
    let file = resolve(dir, path)?;
    if !state::fakes(file.source()) {
        if file.source() == detbuild_core::policy::Source::Random {
            crate::report::real_open();
        }
        return None;
    }
    let cloexec = if flags & libc::O_CLOEXEC != 0 {
        libc::MFD_CLOEXEC
    } else {
        0
    };
    let mut line = [0u8; detbuild_core::host::MAX + 1];
    let fd = match file {
        File::HostName => {
            let n = state::host()?.name.line(&mut line);
            open_text(&line[..n], cloexec)
        }
        File::DomainName => {
            let n = state::host()?.domain.line(&mut line);
            open_text(&line[..n], cloexec)
        }
        File::CpuInfo | File::CpuRange => crate::cpus::open_file(file, cloexec)?,
        _ => return open_random(file, cloexec, prefill_len),
    };
    stands_for(fd, dir, path);
    Some(fd)
}

/// Records that the provided text file `fd` stands for the real file `path` (relative to
/// `dir`), so that its `fstat` reports that file's device and inode: `cp` compares them with
/// the `stat` it made of the path before opening it ("replaced while being copied").
fn stands_for(fd: c_int, dir: c_int, path: *const c_char) {
    if fd < 0 {
        return;
    }
    // SAFETY: all-zero bytes are a valid `struct stat`.
    let mut real: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: the caller's NUL-terminated path, a local buffer.
    if unsafe { sys::fstatat(dir, path.cast(), &mut real, 0) } < 0 {
        return;
    }
    // SAFETY: as above.
    let mut mem: libc::stat = unsafe { core::mem::zeroed() };
    if sys::fstat(fd, &mut mem) == 0 {
        fd::set_text(fd, mem.st_ino, real.st_dev, real.st_ino);
    }
}

/// A memfd holding `content`, positioned at its start; the descriptor or -1 with errno.
pub fn open_text(content: &[u8], cloexec: libc::c_uint) -> c_int {
    // SAFETY: a NUL-terminated literal.
    let fd = unsafe { sys::memfd_create(b"detbuild-file\0", cloexec) };
    if fd < 0 {
        return set_errno(-fd as c_int);
    }
    let fd = fd as c_int;
    if !write_all(fd, content) || sys::lseek(fd, 0, libc::SEEK_SET) < 0 {
        sys::close(fd);
        return set_errno(libc::EIO);
    }
    fd
}

/// Opens a random device or a uuid file (switch `random`).
fn open_random(file: File, cloexec: libc::c_uint, prefill_len: usize) -> Option<c_int> {
    let Some(p) = state::random() else {
        crate::report::real_open();
        return None;
    };
    let t = thread::ready(&p.key);
    let key = match file {
        File::BootId => child_key(&p.root, Child::File, u64::MAX),
        _ => child_key(
            t.key(),
            Child::File,
            t.files.fetch_add(1, Ordering::Relaxed),
        ),
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
    let ok = match file {
        File::RandomDevice => prefill(fd, &key, prefill_len),
        _ => {
            crate::report::bytes(crate::report::Entry::Uuid, 16);
            write_all(fd, &table::uuid_text(&stream::block(&key, 0)))
        }
    };
    if !ok || sys::lseek(fd, 0, libc::SEEK_SET) < 0 {
        sys::close(fd);
        return Some(set_errno(libc::EIO));
    }
    if file == File::RandomDevice {
        if let Some(ino) = inode(fd) {
            fd::set_random(fd, &key, ino);
        }
    }
    Some(fd)
}

fn prefill(fd: c_int, key: &Key, len: usize) -> bool {
    crate::report::bytes(crate::report::Entry::Device, len);
    let mut buf = [0u8; 4096];
    (0..len / buf.len()).all(|i| {
        stream::fill_at(key, (i * buf.len()) as u64, &mut buf);
        write_all(fd, &buf)
    })
}

/// Writes all of `data` to `fd`; false on a failed or empty write.
pub fn write_all(fd: c_int, mut data: &[u8]) -> bool {
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
    let Some(key) = hex.and_then(detbuild_core::key::from_hex) else {
        return;
    };
    fd::set_random(0, &key, st.st_ino);
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

macro_rules! open_hook {
    ($(#[$doc:meta])* $name:ident ($($arg:ident : $ty:ty),*) => $dir:expr, $path:ident, $flags:ident) => {
        $(#[$doc])*
        ///
        /// # Safety
        /// The arguments must satisfy the C function's contract.
        #[no_mangle]
        pub unsafe extern "C" fn $name($($arg: $ty),*) -> c_int {
            count(Id::$name);
            if let Some(fd) = open_fake($dir, $path, $flags, OPEN_PREFILL) {
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

open_hook!(/// `open`: virtual files answered.
    open(path: *const c_char, flags: c_int, mode: libc::mode_t) => libc::AT_FDCWD, path, flags);
open_hook!(/// `open64`: virtual files answered.
    open64(path: *const c_char, flags: c_int, mode: libc::mode_t) => libc::AT_FDCWD, path, flags);
open_hook!(/// `openat`: virtual files answered.
    openat(dir: c_int, path: *const c_char, flags: c_int, mode: libc::mode_t) => dir, path, flags);
open_hook!(/// `openat64`: virtual files answered.
    openat64(dir: c_int, path: *const c_char, flags: c_int, mode: libc::mode_t) => dir, path, flags);
open_hook!(/// Fortified `open` (`-D_FORTIFY_SOURCE`): virtual files answered.
    __open_2(path: *const c_char, flags: c_int) => libc::AT_FDCWD, path, flags);
open_hook!(/// Fortified `open64`: virtual files answered.
    __open64_2(path: *const c_char, flags: c_int) => libc::AT_FDCWD, path, flags);
open_hook!(/// Fortified `openat`: virtual files answered.
    __openat_2(dir: c_int, path: *const c_char, flags: c_int) => dir, path, flags);
open_hook!(/// Fortified `openat64`: virtual files answered.
    __openat64_2(dir: c_int, path: *const c_char, flags: c_int) => dir, path, flags);

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
            count(Id::$name);
            if let Some(fd) = fopen_flags(mode).and_then(|flags| open_fake(libc::AT_FDCWD, path, flags, STDIO_PREFILL)) {
                if fd < 0 {
                    return core::ptr::null_mut();
                }
                if let Some(fdopen) = real::fdopen() {
                    // SAFETY: fd is our open memfd and mode a valid read mode.
                    let f = unsafe { fdopen(fd, mode) };
                    if f.is_null() {
                        fd::forget(fd);
                        sys::close(fd);
                    }
                    return f;
                }
                fd::forget(fd);
                sys::close(fd);
            }
            match real::$name() {
                // SAFETY: forwarding the caller's arguments.
                Some(f) => unsafe { f(path, mode) },
                None => core::ptr::null_mut(),
            }
        }
    };
}

fopen_hook!(/// `fopen`: virtual files answered (stdio reads see the prefilled bytes).
    fopen);
fopen_hook!(/// `fopen64`: virtual files answered.
    fopen64);

/// Serves a `read` of random device `fd` from its stream at the descriptor's offset; `None`
/// (and the entry forgotten) when `fd` is no longer the memfd the entry was made for.
pub fn read_random(fd: c_int, buf: *mut c_void, len: usize) -> Option<isize> {
    let (key, ino) = fd::random(fd)?;
    if inode(fd) != Some(ino) {
        fd::forget(fd);
        return None;
    }
    let pos = sys::lseek(fd, 0, libc::SEEK_CUR);
    if pos < 0 || buf.is_null() {
        return None;
    }
    let n = len.min(0x01ff_ffff);
    // SAFETY: buf points to len writable bytes by the caller's contract.
    let out = unsafe { core::slice::from_raw_parts_mut(buf.cast::<u8>(), n) };
    stream::fill_at(&key, pos as u64, out);
    crate::report::bytes(crate::report::Entry::Device, n);
    sys::lseek(fd, pos as i64 + n as i64, libc::SEEK_SET);
    Some(n as isize)
}
