//! Raw system calls, for the few places where the shim must not go through libc: the libc
//! wrapper may be one of our own hooks (calls from inside the shim bind to the shim), or the
//! call happens before real symbols are resolved.
//!
//! Every function returns the kernel's raw result: a value `>= 0`, or `-errno`.

use core::arch::asm;

/// A raw syscall with up to six arguments.
///
/// # Safety
/// The arguments must be valid for syscall `n` (pointers to memory of the right size).
#[cfg(target_arch = "x86_64")]
#[inline]
pub unsafe fn syscall6(
    n: i64,
    a: usize,
    b: usize,
    c: usize,
    d: usize,
    e: usize,
    f: usize,
) -> isize {
    let ret: isize;
    // SAFETY: the x86_64 Linux syscall ABI; rcx and r11 are clobbered by `syscall`.
    unsafe {
        asm!("syscall", inlateout("rax") n as isize => ret, in("rdi") a, in("rsi") b, in("rdx") c,
             in("r10") d, in("r8") e, in("r9") f, lateout("rcx") _, lateout("r11") _,
             options(nostack));
    }
    ret
}

/// A raw syscall with up to six arguments.
///
/// # Safety
/// The arguments must be valid for syscall `n` (pointers to memory of the right size).
#[cfg(target_arch = "aarch64")]
#[inline]
pub unsafe fn syscall6(
    n: i64,
    a: usize,
    b: usize,
    c: usize,
    d: usize,
    e: usize,
    f: usize,
) -> isize {
    let ret: isize;
    // SAFETY: the aarch64 Linux syscall ABI: number in x8, arguments in x0-x5, result in x0.
    unsafe {
        asm!("svc 0", in("x8") n, inlateout("x0") a as isize => ret, in("x1") b, in("x2") c,
             in("x3") d, in("x4") e, in("x5") f, options(nostack));
    }
    ret
}

/// `openat(AT_FDCWD, path, flags, mode)`.
///
/// # Safety
/// `path` must be a NUL-terminated string.
pub unsafe fn open(path: *const u8, flags: i32, mode: u32) -> isize {
    // SAFETY: forwarded contract.
    unsafe {
        syscall6(
            libc::SYS_openat,
            libc::AT_FDCWD as usize,
            path as usize,
            flags as usize,
            mode as usize,
            0,
            0,
        )
    }
}

/// `read(fd, buf)`.
pub fn read(fd: i32, buf: &mut [u8]) -> isize {
    // SAFETY: buf is valid writable memory of the given length.
    unsafe {
        syscall6(
            libc::SYS_read,
            fd as usize,
            buf.as_mut_ptr() as usize,
            buf.len(),
            0,
            0,
            0,
        )
    }
}

/// `write(fd, buf)`.
pub fn write(fd: i32, buf: &[u8]) -> isize {
    // SAFETY: buf is valid readable memory of the given length.
    unsafe {
        syscall6(
            libc::SYS_write,
            fd as usize,
            buf.as_ptr() as usize,
            buf.len(),
            0,
            0,
            0,
        )
    }
}

/// `close(fd)`.
pub fn close(fd: i32) -> isize {
    // SAFETY: no memory is passed.
    unsafe { syscall6(libc::SYS_close, fd as usize, 0, 0, 0, 0, 0) }
}

/// `lseek(fd, off, whence)`.
pub fn lseek(fd: i32, off: i64, whence: i32) -> isize {
    // SAFETY: no memory is passed.
    unsafe {
        syscall6(
            libc::SYS_lseek,
            fd as usize,
            off as usize,
            whence as usize,
            0,
            0,
            0,
        )
    }
}

/// `getcwd(buf)`: the length including the NUL, or `-errno`.
pub fn getcwd(buf: &mut [u8]) -> isize {
    // SAFETY: buf is valid writable memory of the given length.
    unsafe {
        syscall6(
            libc::SYS_getcwd,
            buf.as_mut_ptr() as usize,
            buf.len(),
            0,
            0,
            0,
            0,
        )
    }
}

/// `clock_gettime(clock, ts)`, bypassing the vDSO and every hook.
pub fn clock_gettime(clock: i32, ts: &mut libc::timespec) -> isize {
    // SAFETY: ts is a valid timespec.
    unsafe {
        syscall6(
            libc::SYS_clock_gettime,
            clock as usize,
            ts as *mut _ as usize,
            0,
            0,
            0,
            0,
        )
    }
}

/// `getrandom(buf, flags)`.
pub fn getrandom(buf: &mut [u8], flags: u32) -> isize {
    // SAFETY: buf is valid writable memory of the given length.
    unsafe {
        syscall6(
            libc::SYS_getrandom,
            buf.as_mut_ptr() as usize,
            buf.len(),
            flags as usize,
            0,
            0,
            0,
        )
    }
}

/// `memfd_create(name, flags)`.
///
/// # Safety
/// `name` must be NUL-terminated.
pub unsafe fn memfd_create(name: &[u8], flags: u32) -> isize {
    // SAFETY: forwarded contract.
    unsafe {
        syscall6(
            libc::SYS_memfd_create,
            name.as_ptr() as usize,
            flags as usize,
            0,
            0,
            0,
            0,
        )
    }
}

/// `fstat(fd)` into `st`.
pub fn fstat(fd: i32, st: &mut libc::stat) -> isize {
    // SAFETY: st is a valid stat buffer.
    unsafe {
        syscall6(
            libc::SYS_fstat,
            fd as usize,
            st as *mut _ as usize,
            0,
            0,
            0,
            0,
        )
    }
}

/// `fstatat(dirfd, path, st, flags)` (the kernel's `newfstatat`).
///
/// # Safety
/// `path` must be a NUL-terminated string (or null, which the kernel rejects) and `st`
/// null or writable for a `struct stat`.
pub unsafe fn fstatat(dirfd: i32, path: *const u8, st: *mut libc::stat, flags: i32) -> isize {
    // SAFETY: forwarded contract.
    unsafe {
        syscall6(
            libc::SYS_newfstatat,
            dirfd as usize,
            path as usize,
            st as usize,
            flags as usize,
            0,
            0,
        )
    }
}

/// `statx(dirfd, path, flags, mask, st)`.
///
/// # Safety
/// As [`fstatat`], with `st` writable for a `struct statx`.
pub unsafe fn statx(
    dirfd: i32,
    path: *const u8,
    flags: i32,
    mask: u32,
    st: *mut libc::statx,
) -> isize {
    // SAFETY: forwarded contract.
    unsafe {
        syscall6(
            libc::SYS_statx,
            dirfd as usize,
            path as usize,
            flags as usize,
            mask as usize,
            st as usize,
            0,
        )
    }
}

/// `mmap` of `len` bytes of anonymous private memory, or `None`.
pub fn mmap_anon(len: usize) -> Option<*mut u8> {
    mmap_anonymous(len, libc::MAP_PRIVATE)
}

/// `mmap` of `len` bytes of anonymous memory shared with the processes this one forks later
/// (zero-filled), or `None`.
pub fn mmap_shared(len: usize) -> Option<*mut u8> {
    mmap_anonymous(len, libc::MAP_SHARED)
}

fn mmap_anonymous(len: usize, sharing: i32) -> Option<*mut u8> {
    // SAFETY: an anonymous mapping touches no existing memory.
    let p = unsafe {
        syscall6(
            libc::SYS_mmap,
            0,
            len,
            (libc::PROT_READ | libc::PROT_WRITE) as usize,
            (sharing | libc::MAP_ANONYMOUS) as usize,
            usize::MAX,
            0,
        )
    };
    if p < 0 {
        None
    } else {
        Some(p as *mut u8)
    }
}

/// `madvise(addr, len, advice)`.
///
/// # Safety
/// `addr..addr+len` must be a mapping owned by the caller.
pub unsafe fn madvise(addr: *mut u8, len: usize, advice: i32) -> isize {
    // SAFETY: forwarded contract.
    unsafe {
        syscall6(
            libc::SYS_madvise,
            addr as usize,
            len,
            advice as usize,
            0,
            0,
            0,
        )
    }
}

/// `openat(dirfd, path, flags)`.
///
/// # Safety
/// `path` must be a NUL-terminated string.
pub unsafe fn openat(dirfd: i32, path: *const u8, flags: i32) -> isize {
    // SAFETY: forwarded contract.
    unsafe {
        syscall6(
            libc::SYS_openat,
            dirfd as usize,
            path as usize,
            flags as usize,
            0,
            0,
            0,
        )
    }
}

/// `pread64(fd, buf, offset)`.
pub fn pread(fd: i32, buf: &mut [u8], offset: u64) -> isize {
    // SAFETY: buf is valid writable memory of the given length.
    unsafe {
        syscall6(
            libc::SYS_pread64,
            fd as usize,
            buf.as_mut_ptr() as usize,
            buf.len(),
            offset as usize,
            0,
            0,
        )
    }
}

/// `munmap(addr, len)`.
///
/// # Safety
/// `addr..addr+len` must be a mapping owned by the caller and no longer used.
pub unsafe fn munmap(addr: *mut u8, len: usize) -> isize {
    // SAFETY: forwarded contract.
    unsafe { syscall6(libc::SYS_munmap, addr as usize, len, 0, 0, 0, 0) }
}

/// `mremap(addr, old, new, MREMAP_MAYMOVE)`: the mapping's new address, or `None` (the old
/// mapping then stays as it was).
///
/// # Safety
/// `addr..addr+old` must be a mapping owned by the caller; pointers into it are stale after
/// a move.
pub unsafe fn mremap(addr: *mut u8, old: usize, new: usize) -> Option<*mut u8> {
    // SAFETY: forwarded contract.
    let p = unsafe {
        syscall6(
            libc::SYS_mremap,
            addr as usize,
            old,
            new,
            libc::MREMAP_MAYMOVE as usize,
            0,
            0,
        )
    };
    (p >= 0).then_some(p as *mut u8)
}

/// `chdir(path)`.
///
/// # Safety
/// `path` must be a NUL-terminated string.
pub unsafe fn chdir(path: *const u8) -> isize {
    // SAFETY: forwarded contract.
    unsafe { syscall6(libc::SYS_chdir, path as usize, 0, 0, 0, 0, 0) }
}

/// `fchdir(fd)`.
pub fn fchdir(fd: i32) -> isize {
    // SAFETY: no memory is passed.
    unsafe { syscall6(libc::SYS_fchdir, fd as usize, 0, 0, 0, 0, 0) }
}

/// `faccessat(AT_FDCWD, path, mode)`.
///
/// # Safety
/// `path` must be a NUL-terminated string.
pub unsafe fn access(path: *const u8, mode: i32) -> isize {
    // SAFETY: forwarded contract.
    unsafe {
        syscall6(
            libc::SYS_faccessat,
            libc::AT_FDCWD as usize,
            path as usize,
            mode as usize,
            0,
            0,
            0,
        )
    }
}

/// `readlinkat(AT_FDCWD, path, buf)`: the length read (no NUL is added), or `-errno`.
///
/// # Safety
/// `path` must be a NUL-terminated string.
pub unsafe fn readlink(path: *const u8, buf: &mut [u8]) -> isize {
    // SAFETY: forwarded contract; buf is valid writable memory of the given length.
    unsafe {
        syscall6(
            libc::SYS_readlinkat,
            libc::AT_FDCWD as usize,
            path as usize,
            buf.as_mut_ptr() as usize,
            buf.len(),
            0,
            0,
        )
    }
}

/// `execveat(dirfd, path, argv, envp, flags)`; returns only on failure, with `-errno`.
///
/// # Safety
/// `path` must be a NUL-terminated string; `argv` and `envp` NULL-terminated arrays of them
/// (or null).
pub unsafe fn execveat(
    dirfd: i32,
    path: *const u8,
    argv: *const *const u8,
    envp: *const *const u8,
    flags: i32,
) -> isize {
    // SAFETY: forwarded contract.
    unsafe {
        syscall6(
            libc::SYS_execveat,
            dirfd as usize,
            path as usize,
            argv as usize,
            envp as usize,
            flags as usize,
            0,
        )
    }
}

/// `execve(path, argv, envp)`; returns only on failure, with `-errno`.
///
/// # Safety
/// As for [`execveat`].
pub unsafe fn execve(path: *const u8, argv: *const *const u8, envp: *const *const u8) -> isize {
    // SAFETY: forwarded contract.
    unsafe {
        syscall6(
            libc::SYS_execve,
            path as usize,
            argv as usize,
            envp as usize,
            0,
            0,
            0,
        )
    }
}

/// `pwrite64(fd, buf, offset)`.
pub fn pwrite(fd: i32, buf: &[u8], offset: u64) -> isize {
    // SAFETY: buf is valid readable memory of the given length.
    unsafe {
        syscall6(
            libc::SYS_pwrite64,
            fd as usize,
            buf.as_ptr() as usize,
            buf.len(),
            offset as usize,
            0,
            0,
        )
    }
}

/// `getpid()`.
pub fn getpid() -> i32 {
    // SAFETY: no memory is passed.
    unsafe { syscall6(libc::SYS_getpid, 0, 0, 0, 0, 0, 0) as i32 }
}

/// `getppid()`.
pub fn getppid() -> i32 {
    // SAFETY: no memory is passed.
    unsafe { syscall6(libc::SYS_getppid, 0, 0, 0, 0, 0, 0) as i32 }
}

/// `exit_group(status)`: ends the process.
pub fn exit_group(status: i32) -> ! {
    // SAFETY: no memory is passed; the call does not return.
    unsafe { syscall6(libc::SYS_exit_group, status as usize, 0, 0, 0, 0, 0) };
    loop {
        core::hint::spin_loop();
    }
}

/// The start of file `path` read into `buf` (up to its size); empty if it cannot be opened.
pub fn read_file<'b>(path: &core::ffi::CStr, buf: &'b mut [u8]) -> &'b [u8] {
    // SAFETY: `path` is NUL-terminated.
    let fd = unsafe { open(path.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC, 0) };
    read_all(fd, buf)
}

/// The start of the file open at `fd` (a raw `open` result: negative reads nothing) read into
/// `buf`; closes `fd`.
pub fn read_all(fd: isize, buf: &mut [u8]) -> &[u8] {
    if fd < 0 {
        return &[];
    }
    let mut len = 0;
    while len < buf.len() {
        let n = read(fd as i32, &mut buf[len..]);
        if n <= 0 {
            break;
        }
        len += n as usize;
    }
    close(fd as i32);
    &buf[..len]
}
