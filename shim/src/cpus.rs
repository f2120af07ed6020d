//! The CPU count: `sysconf(_SC_NPROCESSORS_ONLN / _SC_NPROCESSORS_CONF)`, `get_nprocs`,
//! `get_nprocs_conf`, `sched_getaffinity` (also through `syscall()`), and, through `vfs.rs`,
//! `/proc/cpuinfo` and `/sys/devices/system/cpu/{online,possible,present}`.
//!
//! Faked (switch `cpus`, on unless `--cpus real`): every one reports the configured count
//! (`detbuild_core::cpus`, default 4). `sched_getaffinity`'s mask keeps the lowest real CPUs
//! of the real mask and, when it has fewer, adds the lowest ids not in it, for any pid; the
//! kernel intersects such a mask with the allowed CPUs when it is set again, so pinning
//! still works. `/proc/cpuinfo` repeats the first CPU's block (its model, flags and momentary
//! `cpu MHz` as the kernel reports them) with the CPU numbers rewritten. glibc's `sysconf`
//! and `get_nprocs` read `/sys` internally and `sched_getaffinity` is a separate syscall,
//! which is why each has its own hook.
//!
//! Real: other `sysconf` names, programs whose `cpus` switch is off, statically linked and Go
//! programs (Go's `runtime.NumCPU` issues the syscall inline), cgroup CPU quotas (Rust's
//! `available_parallelism` and the JVM take the smaller of the quota and the mask), and
//! `OMP_NUM_THREADS` / `OMP_THREAD_LIMIT`, which `nproc` honours.

use crate::clock::set_errno;
use crate::hooks::{count, Id};
use crate::{real, state, sys, vfs};
use core::ffi::{c_int, c_long, c_uint};
use detbuild_core::cpus;

/// Faked: the configured count for `_SC_NPROCESSORS_ONLN` and `_SC_NPROCESSORS_CONF`.
///
/// # Safety
/// None beyond `sysconf`'s.
#[no_mangle]
pub unsafe extern "C" fn sysconf(name: c_int) -> c_long {
    count(Id::sysconf);
    if name == libc::_SC_NPROCESSORS_ONLN || name == libc::_SC_NPROCESSORS_CONF {
        if let Some(n) = state::cpus() {
            return n as c_long;
        }
    }
    match real::sysconf() {
        // SAFETY: forwarding the caller's arguments.
        Some(f) => unsafe { f(name) },
        None => set_errno(libc::ENOSYS) as c_long,
    }
}

macro_rules! nprocs_hook {
    ($name:ident) => {
        /// Faked: the configured count.
        #[no_mangle]
        pub extern "C" fn $name() -> c_int {
            count(Id::$name);
            if let Some(n) = state::cpus() {
                return n as c_int;
            }
            match real::$name() {
                // SAFETY: no arguments.
                Some(f) => unsafe { f() },
                None => 1,
            }
        }
    };
}

nprocs_hook!(get_nprocs);
nprocs_hook!(get_nprocs_conf);

/// Faked: the real mask cut or extended to the configured count (see the module docs).
///
/// # Safety
/// `mask` must point to `size` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn sched_getaffinity(
    pid: libc::pid_t,
    size: usize,
    mask: *mut libc::cpu_set_t,
) -> c_int {
    count(Id::sched_getaffinity);
    let r = match real::sched_getaffinity() {
        // SAFETY: forwarding the caller's arguments.
        Some(f) => unsafe { f(pid, size, mask) },
        None => return set_errno(libc::ENOSYS),
    };
    if r == 0 && !mask.is_null() {
        if let Some(n) = state::cpus() {
            // SAFETY: caller's contract: `size` writable bytes.
            cpus::mask(
                unsafe { core::slice::from_raw_parts_mut(mask.cast(), size) },
                n,
            );
        }
    }
    r
}

/// `syscall(SYS_sched_getaffinity, pid, size, mask)`: the kernel's answer (the bytes it
/// wrote), with those bytes rewritten like [`sched_getaffinity`].
///
/// # Safety
/// The arguments must be valid for the syscall.
pub unsafe fn raw_getaffinity(pid: c_long, size: c_long, mask: c_long) -> c_long {
    // SAFETY: forwarding the caller's arguments.
    let r =
        unsafe { crate::syscall::forward(libc::SYS_sched_getaffinity, pid, size, mask, 0, 0, 0) };
    if r > 0 && mask != 0 {
        if let Some(n) = state::cpus() {
            // SAFETY: the kernel wrote `r` bytes at `mask`.
            let bytes = unsafe { core::slice::from_raw_parts_mut(mask as *mut u8, r as usize) };
            cpus::mask(bytes, n);
        }
    }
    r
}

/// The text of a provided CPU file, as a memfd (`vfs.rs`); `None` when not faked here.
pub fn open_file(file: detbuild_core::vfs::File, cloexec: c_uint) -> Option<c_int> {
    let n = state::cpus()?;
    if file == detbuild_core::vfs::File::CpuRange {
        let mut text = [0u8; 16];
        let len = cpus::range_text(n, &mut text);
        return Some(vfs::open_text(&text[..len], cloexec));
    }
    let mut real = [0u8; 8192];
    let len = read_first_block(&mut real);
    let block = cpus::first_block(&real[..len]);
    // SAFETY: a NUL-terminated literal.
    let fd = unsafe { sys::memfd_create(b"detbuild-file\0", cloexec) };
    if fd < 0 {
        return Some(set_errno(-fd as c_int));
    }
    let fd = fd as c_int;
    let mut out = Buffer {
        fd,
        buf: [0; 4096],
        len: 0,
        ok: true,
    };
    for i in 0..n {
        cpus::render_block(block, i, n, &mut |piece| out.push(piece));
    }
    out.flush();
    if !out.ok || sys::lseek(fd, 0, libc::SEEK_SET) < 0 {
        sys::close(fd);
        return Some(set_errno(libc::EIO));
    }
    Some(fd)
}

/// Reads `/proc/cpuinfo` until its first blank line (or `buf` is full); the bytes read.
fn read_first_block(buf: &mut [u8]) -> usize {
    // SAFETY: a NUL-terminated literal path.
    let fd = unsafe {
        sys::open(
            c"/proc/cpuinfo".as_ptr().cast(),
            libc::O_RDONLY | libc::O_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return 0;
    }
    let mut len = 0;
    while len < buf.len() && !buf[..len].windows(2).any(|w| w == b"\n\n") {
        let n = sys::read(fd as i32, &mut buf[len..]);
        if n <= 0 {
            break;
        }
        len += n as usize;
    }
    sys::close(fd as i32);
    len
}

/// Batches small writes to a memfd.
struct Buffer {
    fd: c_int,
    buf: [u8; 4096],
    len: usize,
    ok: bool,
}

impl Buffer {
    fn push(&mut self, mut piece: &[u8]) {
        while !piece.is_empty() {
            if self.len == self.buf.len() {
                self.flush();
            }
            let n = piece.len().min(self.buf.len() - self.len);
            self.buf[self.len..self.len + n].copy_from_slice(&piece[..n]);
            self.len += n;
            piece = &piece[n..];
        }
    }

    fn flush(&mut self) {
        self.ok &= vfs::write_all(self.fd, &self.buf[..self.len]);
        self.len = 0;
    }
}
