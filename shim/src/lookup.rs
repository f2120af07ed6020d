//! Name lookups of the fake host name: `getaddrinfo`, `gethostbyname`, `gethostbyname2`,
//! `gethostbyname_r`, `gethostbyname2_r`.
//!
//! A program that looks up its own name (`gethostbyname(gethostname())`, `hostname -f`,
//! Java's `InetAddress.getLocalHost`, lsof's test suite) would otherwise ask the resolver for
//! the fake name, which it does not know, and fail. When the name asked for is the faked node
//! name ([`Host::is_own_name`]: case ignored, one trailing dot allowed), the lookup asks for the
//! machine's real node name instead: the answer holds this machine's addresses, as natively,
//! and the name it reports is the fake one (`h_name`, and `ai_canonname` when `AI_CANONNAME`
//! asked for it). Where the real name does not resolve either (a builder whose host name is
//! not in `/etc/hosts`, reprotest's host variation), the lookup asks for `localhost`: the fake
//! name then resolves to the loopback addresses, as Debian's `/etc/hosts` makes a machine's own
//! name resolve, so a build's self-lookup works wherever it runs.
//!
//! `h_name` then points into the shim's memory (as the identity hooks' `pw_name` does); the
//! new `ai_canonname` is allocated with libc's `malloc`, since `freeaddrinfo` frees it. Aliases
//! stay as the resolver gave them.
//!
//! Real: every other name, programs whose `host` switch is off, inert processes, reverse
//! lookups (`gethostbyaddr`, `getnameinfo`: they name the machine).

use crate::clock::set_errno;
use crate::hooks::{count, Id};
use crate::{real, state};
use core::ffi::{c_char, c_int, CStr};
use detbuild_core::host::Host;
use libc::{addrinfo, hostent};

/// Calls `ask` with the name to give the resolver: the machine's real node name when `name`
/// is the fake one (then the host is returned too, to rename the answer), and `localhost` if
/// that answer is not `found`; else `name` itself. A name that cannot be read as the real one
/// (`uname` failing) goes through as is.
///
/// # Safety
/// `name` is null or a NUL-terminated string.
unsafe fn resolve<T>(
    name: *const c_char,
    mut ask: impl FnMut(*const c_char) -> T,
    found: impl Fn(&T) -> bool,
) -> (T, Option<&'static Host>) {
    let host = state::host().filter(|h| {
        // SAFETY: caller's contract.
        !name.is_null() && h.is_own_name(unsafe { CStr::from_ptr(name) }.to_bytes())
    });
    // SAFETY: utsname is plain bytes; all zero is a valid value.
    let mut uts: libc::utsname = unsafe { core::mem::zeroed() };
    let read = host.is_some()
        && real::uname().is_some_and(|f| {
            // SAFETY: `uts` is a writable utsname.
            unsafe { f(&mut uts) == 0 }
        });
    match host {
        // uname NUL-terminates the node name.
        Some(host) if read => {
            let answer = ask(uts.nodename.as_ptr());
            if found(&answer) {
                return (answer, Some(host));
            }
            (ask(c"localhost".as_ptr()), Some(host))
        }
        _ => (ask(name), None),
    }
}

/// Faked for the fake host name (see the module docs).
///
/// # Safety
/// As `getaddrinfo(3)`.
#[no_mangle]
pub unsafe extern "C" fn getaddrinfo(
    node: *const c_char,
    service: *const c_char,
    hints: *const addrinfo,
    res: *mut *mut addrinfo,
) -> c_int {
    count(Id::getaddrinfo);
    let Some(f) = real::getaddrinfo() else {
        set_errno(libc::ENOSYS);
        return libc::EAI_SYSTEM;
    };
    // SAFETY: the caller's arguments, the name perhaps replaced by a C string.
    let (r, host) = unsafe { resolve(node, |n| f(n, service, hints, res), |&r| r == 0) };
    if let (0, Some(host), false) = (r, host, res.is_null()) {
        // SAFETY: on success `*res` is the list getaddrinfo made.
        unsafe { rename_canonical(*res, host) };
    }
    r
}

/// Replaces the canonical name glibc put in the first entry of `list` with the fake name;
/// leaves it when `malloc` fails.
///
/// # Safety
/// `list` is null or a list `getaddrinfo` returned.
unsafe fn rename_canonical(list: *mut addrinfo, host: &Host) {
    // SAFETY: caller's contract.
    let Some(entry) = (unsafe { list.as_mut() }) else {
        return;
    };
    if entry.ai_canonname.is_null() {
        return;
    }
    let (Some(malloc), Some(free)) = (real::malloc(), real::free()) else {
        return;
    };
    let name = host.name.as_bytes();
    // SAFETY: plain allocation of the name and its NUL.
    let copy = unsafe { malloc(name.len() + 1) }.cast::<u8>();
    if copy.is_null() {
        return;
    }
    // SAFETY: `copy` holds name.len() + 1 bytes.
    unsafe {
        core::ptr::copy_nonoverlapping(name.as_ptr(), copy, name.len());
        *copy.add(name.len()) = 0;
        free(entry.ai_canonname.cast());
    }
    entry.ai_canonname = copy.cast();
}

/// The fake name as the `char *` a `hostent` holds (it lives in the process state).
fn fake_name(host: &'static Host) -> Option<*mut c_char> {
    Some(host.name.as_cstr()?.as_ptr().cast_mut())
}

/// Points the official name of a successful lookup of the fake name at it; returns `h`.
///
/// # Safety
/// `h` is null or a `hostent` the resolver filled.
unsafe fn rename_official(h: *mut hostent, host: Option<&'static Host>) -> *mut hostent {
    // SAFETY: caller's contract.
    if let (Some(entry), Some(name)) = (unsafe { h.as_mut() }, host.and_then(fake_name)) {
        entry.h_name = name;
    }
    h
}

/// Faked for the fake host name (see the module docs).
///
/// # Safety
/// As `gethostbyname(3)`.
#[no_mangle]
pub unsafe extern "C" fn gethostbyname(name: *const c_char) -> *mut hostent {
    count(Id::gethostbyname);
    let Some(f) = real::gethostbyname() else {
        set_errno(libc::ENOSYS);
        return core::ptr::null_mut();
    };
    // SAFETY: the caller's argument, perhaps replaced by a C string.
    let (h, host) = unsafe { resolve(name, |n| f(n), |h| !h.is_null()) };
    // SAFETY: h is null or the resolver's answer.
    unsafe { rename_official(h, host) }
}

/// Faked for the fake host name (see the module docs).
///
/// # Safety
/// As `gethostbyname2(3)`.
#[no_mangle]
pub unsafe extern "C" fn gethostbyname2(name: *const c_char, af: c_int) -> *mut hostent {
    count(Id::gethostbyname2);
    let Some(f) = real::gethostbyname2() else {
        set_errno(libc::ENOSYS);
        return core::ptr::null_mut();
    };
    // SAFETY: the caller's arguments, the name perhaps replaced by a C string.
    let (h, host) = unsafe { resolve(name, |n| f(n, af), |h| !h.is_null()) };
    // SAFETY: h is null or the resolver's answer.
    unsafe { rename_official(h, host) }
}

/// The `_r` forms: [`resolve`] with `ask`, then on success the entry `*result` points to
/// (null, or the caller's `hostent`, filled) renamed.
///
/// # Safety
/// `name` as for [`resolve`]; `result` is null or where `ask` stores its answer.
unsafe fn resolve_r(
    name: *const c_char,
    result: *mut *mut hostent,
    ask: impl FnMut(*const c_char) -> c_int,
) -> c_int {
    // SAFETY: `result` is null or where `ask` stored its answer (caller's contract).
    let found = |&r: &c_int| r == 0 && !result.is_null() && !unsafe { *result }.is_null();
    // SAFETY: caller's contract.
    let (r, host) = unsafe { resolve(name, ask, found) };
    if r == 0 && !result.is_null() {
        // SAFETY: caller's contract.
        unsafe { rename_official(*result, host) };
    }
    r
}

/// Faked for the fake host name (see the module docs).
///
/// # Safety
/// As `gethostbyname_r(3)`.
#[no_mangle]
pub unsafe extern "C" fn gethostbyname_r(
    name: *const c_char,
    ret: *mut hostent,
    buf: *mut c_char,
    buflen: usize,
    result: *mut *mut hostent,
    h_errnop: *mut c_int,
) -> c_int {
    count(Id::gethostbyname_r);
    let Some(f) = real::gethostbyname_r() else {
        return libc::ENOSYS;
    };
    // SAFETY: the caller's arguments, the name perhaps replaced by a C string.
    unsafe { resolve_r(name, result, |n| f(n, ret, buf, buflen, result, h_errnop)) }
}

/// Faked for the fake host name (see the module docs).
///
/// # Safety
/// As `gethostbyname2_r(3)`.
#[no_mangle]
pub unsafe extern "C" fn gethostbyname2_r(
    name: *const c_char,
    af: c_int,
    ret: *mut hostent,
    buf: *mut c_char,
    buflen: usize,
    result: *mut *mut hostent,
    h_errnop: *mut c_int,
) -> c_int {
    count(Id::gethostbyname2_r);
    let Some(f) = real::gethostbyname2_r() else {
        return libc::ENOSYS;
    };
    // SAFETY: the caller's arguments, the name perhaps replaced by a C string.
    unsafe {
        resolve_r(name, result, |n| {
            f(n, af, ret, buf, buflen, result, h_errnop)
        })
    }
}
