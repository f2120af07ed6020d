//! The builder's identity: `getpwuid`, `getpwuid_r`, `getpwnam`, `getpwnam_r`, `getpwent`,
//! `getgrgid`, `getgrgid_r`, `getgrnam`, `getgrnam_r`, `getgrent`, `getlogin`, `getlogin_r`.
//!
//! Faked (switch `identity`): the password entry of the invoking user's uid (recorded by the
//! launcher) is returned with the configured user name (`builder` by default), and the group
//! entry of its gid with the configured group name; looking those names up returns those
//! entries. `getlogin` returns the user name. So `whoami`, `id -un`, `id -gn`, `ls -l`, tar's
//! owner names and Python's `pwd`/`getpass` agree on every machine (the launcher also sets
//! `USER` and `LOGNAME`). Only the name changes: uid, gid, home directory and shell stay the
//! real ones. The name points into the shim's own memory (never into the caller's buffer).
//!
//! Real: every other user and group, looking up the real name, programs whose `identity`
//! switch is off, and processes under fakeroot (`FAKEROOTKEY` set): there fakeroot's view
//! (root) wins.

use crate::clock::set_errno;
use crate::hooks::{count, Id};
use crate::{real, state};
use core::ffi::{c_char, c_int, CStr};
use libc::{group, passwd};

/// The configured user name, for programs that fake the identity.
fn user() -> Option<(u32, *mut c_char)> {
    let id = state::identity()?;
    Some((id.uid, id.user.as_cstr()?.as_ptr().cast_mut()))
}

/// The configured group name.
fn group_name() -> Option<(u32, *mut c_char)> {
    let id = state::identity()?;
    Some((id.gid, id.group.as_cstr()?.as_ptr().cast_mut()))
}

/// Whether `name` is the configured name `ours`.
///
/// # Safety
/// `name` is null or a NUL-terminated string.
unsafe fn is(name: *const c_char, ours: *mut c_char) -> bool {
    // SAFETY: caller's contract; `ours` is a C string in the process state.
    !name.is_null() && unsafe { CStr::from_ptr(name) == CStr::from_ptr(ours) }
}

/// Renames `pw` when it is the invoking user's entry.
///
/// # Safety
/// `pw` is null or a valid entry.
unsafe fn rename_user(pw: *mut passwd) -> *mut passwd {
    if let (Some((uid, name)), false) = (user(), pw.is_null()) {
        // SAFETY: pw is a valid entry (caller's contract).
        unsafe {
            if (*pw).pw_uid == uid {
                (*pw).pw_name = name;
            }
        }
    }
    pw
}

/// Renames `gr` when it is the invoking user's group.
///
/// # Safety
/// `gr` is null or a valid entry.
unsafe fn rename_group(gr: *mut group) -> *mut group {
    if let (Some((gid, name)), false) = (group_name(), gr.is_null()) {
        // SAFETY: gr is a valid entry (caller's contract).
        unsafe {
            if (*gr).gr_gid == gid {
                (*gr).gr_name = name;
            }
        }
    }
    gr
}

/// Faked: the invoking user's entry carries the configured name.
///
/// # Safety
/// As `getpwuid`.
#[no_mangle]
pub unsafe extern "C" fn getpwuid(uid: libc::uid_t) -> *mut passwd {
    count(Id::getpwuid);
    let Some(f) = real::getpwuid() else {
        return core::ptr::null_mut();
    };
    // SAFETY: forwarding the caller's arguments; the result is libc's entry.
    unsafe { rename_user(f(uid)) }
}

/// Faked: the configured name finds the invoking user's entry.
///
/// # Safety
/// As `getpwnam`.
#[no_mangle]
pub unsafe extern "C" fn getpwnam(name: *const c_char) -> *mut passwd {
    count(Id::getpwnam);
    if let Some((uid, ours)) = user() {
        // SAFETY: caller's contract.
        if unsafe { is(name, ours) } {
            // SAFETY: a plain lookup by uid.
            return unsafe { getpwuid(uid) };
        }
    }
    match real::getpwnam() {
        // SAFETY: forwarding the caller's arguments.
        Some(f) => unsafe { f(name) },
        None => core::ptr::null_mut(),
    }
}

/// Faked: the invoking user's entry carries the configured name.
///
/// # Safety
/// As `getpwent`.
#[no_mangle]
pub unsafe extern "C" fn getpwent() -> *mut passwd {
    count(Id::getpwent);
    let Some(f) = real::getpwent() else {
        return core::ptr::null_mut();
    };
    // SAFETY: the result is libc's entry.
    unsafe { rename_user(f()) }
}

/// Runs a reentrant lookup, then renames the entry it found.
///
/// # Safety
/// The arguments are `getpw*_r`'s.
unsafe fn pw_r(
    call: impl FnOnce(*mut passwd, *mut c_char, usize, *mut *mut passwd) -> c_int,
    pwd: *mut passwd,
    buf: *mut c_char,
    len: usize,
    result: *mut *mut passwd,
) -> c_int {
    let r = call(pwd, buf, len, result);
    if r == 0 && !result.is_null() {
        // SAFETY: on success *result is null or `pwd`, filled.
        unsafe { rename_user(*result) };
    }
    r
}

/// Faked: like `getpwuid`.
///
/// # Safety
/// As `getpwuid_r`.
#[no_mangle]
pub unsafe extern "C" fn getpwuid_r(
    uid: libc::uid_t,
    pwd: *mut passwd,
    buf: *mut c_char,
    len: usize,
    result: *mut *mut passwd,
) -> c_int {
    count(Id::getpwuid_r);
    let Some(f) = real::getpwuid_r() else {
        return libc::ENOSYS;
    };
    // SAFETY: forwarding the caller's arguments.
    unsafe { pw_r(|p, b, l, r| f(uid, p, b, l, r), pwd, buf, len, result) }
}

/// Faked: like `getpwnam`.
///
/// # Safety
/// As `getpwnam_r`.
#[no_mangle]
pub unsafe extern "C" fn getpwnam_r(
    name: *const c_char,
    pwd: *mut passwd,
    buf: *mut c_char,
    len: usize,
    result: *mut *mut passwd,
) -> c_int {
    count(Id::getpwnam_r);
    if let (Some((uid, ours)), Some(f)) = (user(), real::getpwuid_r()) {
        // SAFETY: caller's contract.
        if unsafe { is(name, ours) } {
            // SAFETY: forwarding the caller's buffers to a lookup by uid.
            return unsafe { pw_r(|p, b, l, r| f(uid, p, b, l, r), pwd, buf, len, result) };
        }
    }
    let Some(f) = real::getpwnam_r() else {
        return libc::ENOSYS;
    };
    // SAFETY: forwarding the caller's arguments.
    unsafe { f(name, pwd, buf, len, result) }
}

/// Faked: the invoking user's group carries the configured name.
///
/// # Safety
/// As `getgrgid`.
#[no_mangle]
pub unsafe extern "C" fn getgrgid(gid: libc::gid_t) -> *mut group {
    count(Id::getgrgid);
    let Some(f) = real::getgrgid() else {
        return core::ptr::null_mut();
    };
    // SAFETY: forwarding the caller's arguments; the result is libc's entry.
    unsafe { rename_group(f(gid)) }
}

/// Faked: the configured group name finds the invoking user's group.
///
/// # Safety
/// As `getgrnam`.
#[no_mangle]
pub unsafe extern "C" fn getgrnam(name: *const c_char) -> *mut group {
    count(Id::getgrnam);
    if let Some((gid, ours)) = group_name() {
        // SAFETY: caller's contract.
        if unsafe { is(name, ours) } {
            // SAFETY: a plain lookup by gid.
            return unsafe { getgrgid(gid) };
        }
    }
    match real::getgrnam() {
        // SAFETY: forwarding the caller's arguments.
        Some(f) => unsafe { f(name) },
        None => core::ptr::null_mut(),
    }
}

/// Faked: the invoking user's group carries the configured name.
///
/// # Safety
/// As `getgrent`.
#[no_mangle]
pub unsafe extern "C" fn getgrent() -> *mut group {
    count(Id::getgrent);
    let Some(f) = real::getgrent() else {
        return core::ptr::null_mut();
    };
    // SAFETY: the result is libc's entry.
    unsafe { rename_group(f()) }
}

/// Runs a reentrant group lookup, then renames the entry it found.
///
/// # Safety
/// The arguments are `getgr*_r`'s.
unsafe fn gr_r(call: impl FnOnce() -> c_int, result: *mut *mut group) -> c_int {
    let r = call();
    if r == 0 && !result.is_null() {
        // SAFETY: on success *result is null or the caller's filled entry.
        unsafe { rename_group(*result) };
    }
    r
}

/// Faked: like `getgrgid`.
///
/// # Safety
/// As `getgrgid_r`.
#[no_mangle]
pub unsafe extern "C" fn getgrgid_r(
    gid: libc::gid_t,
    grp: *mut group,
    buf: *mut c_char,
    len: usize,
    result: *mut *mut group,
) -> c_int {
    count(Id::getgrgid_r);
    let Some(f) = real::getgrgid_r() else {
        return libc::ENOSYS;
    };
    // SAFETY: forwarding the caller's arguments.
    unsafe { gr_r(|| f(gid, grp, buf, len, result), result) }
}

/// Faked: like `getgrnam`.
///
/// # Safety
/// As `getgrnam_r`.
#[no_mangle]
pub unsafe extern "C" fn getgrnam_r(
    name: *const c_char,
    grp: *mut group,
    buf: *mut c_char,
    len: usize,
    result: *mut *mut group,
) -> c_int {
    count(Id::getgrnam_r);
    if let (Some((gid, ours)), Some(f)) = (group_name(), real::getgrgid_r()) {
        // SAFETY: caller's contract.
        if unsafe { is(name, ours) } {
            // SAFETY: forwarding the caller's buffers to a lookup by gid.
            return unsafe { gr_r(|| f(gid, grp, buf, len, result), result) };
        }
    }
    match real::getgrnam_r() {
        // SAFETY: forwarding the caller's arguments.
        Some(f) => unsafe { f(name, grp, buf, len, result) },
        None => libc::ENOSYS,
    }
}

/// Faked: the configured user name (whether or not the process has a login terminal).
#[no_mangle]
pub extern "C" fn getlogin() -> *mut c_char {
    count(Id::getlogin);
    if let Some((_, name)) = user() {
        return name;
    }
    match real::getlogin() {
        // SAFETY: no arguments.
        Some(f) => unsafe { f() },
        None => core::ptr::null_mut(),
    }
}

/// Faked: copies the configured user name; `ERANGE` when `buf` is too small.
///
/// # Safety
/// `buf` must point to `len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn getlogin_r(buf: *mut c_char, len: usize) -> c_int {
    count(Id::getlogin_r);
    if let Some(id) = state::identity() {
        let name = id.user.as_bytes();
        if buf.is_null() || len <= name.len() {
            return libc::ERANGE;
        }
        // SAFETY: caller's contract; name and its NUL fit in `len` bytes.
        unsafe {
            core::ptr::copy_nonoverlapping(name.as_ptr(), buf.cast::<u8>(), name.len());
            *buf.add(name.len()) = 0;
        }
        return 0;
    }
    match real::getlogin_r() {
        // SAFETY: forwarding the caller's arguments.
        Some(f) => unsafe { f(buf, len) },
        None => {
            set_errno(libc::ENOSYS);
            libc::ENOSYS
        }
    }
}
