//! The host: `uname`, `gethostname`, `getdomainname` (and, through `vfs.rs`, reads of
//! `/proc/sys/kernel/hostname`, `/proc/sys/kernel/domainname` and `/etc/hostname`).
//!
//! Faked (switch `host`): the node name and NIS domain name are the configured ones
//! (`detbuild_core::host`; defaults `detbuild` and `(none)`); `uname`'s release, version and
//! machine too when configured, else real. `gethostname` and `getdomainname` copy as glibc
//! does: as much of the name and its NUL as fits, `gethostname` then failing with
//! `ENAMETOOLONG`. glibc's `gethostname` calls the kernel's `uname` internally, which is why
//! it has a hook of its own.
//!
//! Real: programs whose `host` switch is off (`ssh` by default), inert processes, statically
//! linked and Go programs, `sethostname`. Name lookups of the fake name (`hostname -f`):
//! `lookup.rs`.

use crate::clock::set_errno;
use crate::hooks::{count, Id};
use crate::{real, state};
use core::ffi::{c_char, c_int};
use detbuild_core::host::Text;

/// # Safety
/// `field` is a `utsname` field.
unsafe fn set_field(field: &mut [c_char; 65], value: &Text) {
    // SAFETY: c_char and u8 have the same size and alignment.
    let out = unsafe { &mut *(field as *mut [c_char; 65]).cast::<[u8; 65]>() };
    value.copy_to(out);
}

/// Real, then the configured node name, domain name, and release, version and machine where
/// configured.
///
/// # Safety
/// `buf` must point to a writable `struct utsname`.
#[no_mangle]
pub unsafe extern "C" fn uname(buf: *mut libc::utsname) -> c_int {
    count(Id::uname);
    let r = match real::uname() {
        // SAFETY: forwarding the caller's arguments.
        Some(f) => unsafe { f(buf) },
        None => return set_errno(libc::ENOSYS),
    };
    if r != 0 || buf.is_null() {
        return r;
    }
    if let Some(h) = state::host() {
        // SAFETY: buf is a valid utsname (the real call filled it).
        let u = unsafe { &mut *buf };
        // SAFETY: each is a utsname field.
        unsafe {
            set_field(&mut u.nodename, &h.name);
            set_field(&mut u.domainname, &h.domain);
            for (field, value) in [
                (&mut u.release, &h.release),
                (&mut u.version, &h.version),
                (&mut u.machine, &h.machine),
            ] {
                if let Some(v) = value {
                    set_field(field, v);
                }
            }
        }
    }
    r
}

/// # Safety
/// `name` points to `len` writable bytes.
unsafe fn copy_out(value: &Text, name: *mut c_char, len: usize) -> bool {
    if name.is_null() {
        return len == 0 && value.as_bytes().is_empty();
    }
    // SAFETY: caller's contract.
    let out = unsafe { core::slice::from_raw_parts_mut(name.cast::<u8>(), len) };
    value.copy_to(out)
}

/// Faked: the configured node name.
///
/// # Safety
/// `name` must point to `len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn gethostname(name: *mut c_char, len: usize) -> c_int {
    count(Id::gethostname);
    if let Some(h) = state::host() {
        // SAFETY: caller's contract.
        if unsafe { copy_out(&h.name, name, len) } {
            return 0;
        }
        return set_errno(libc::ENAMETOOLONG);
    }
    match real::gethostname() {
        // SAFETY: forwarding the caller's arguments.
        Some(f) => unsafe { f(name, len) },
        None => set_errno(libc::ENOSYS),
    }
}

/// Faked: the configured domain name (truncated to `len` bytes, as glibc does).
///
/// # Safety
/// `name` must point to `len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn getdomainname(name: *mut c_char, len: usize) -> c_int {
    count(Id::getdomainname);
    if let Some(h) = state::host() {
        // SAFETY: caller's contract.
        unsafe { copy_out(&h.domain, name, len) };
        return 0;
    }
    match real::getdomainname() {
        // SAFETY: forwarding the caller's arguments.
        Some(f) => unsafe { f(name, len) },
        None => set_errno(libc::ENOSYS),
    }
}
