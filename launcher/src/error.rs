//! detbuild's own errors: one line each, naming the problem and the fix.

use std::fmt;

/// Exit status for detbuild's own errors.
pub const EXIT_TROUBLE: u8 = 2;

/// An error detbuild reports before (or instead of) running the command.
#[derive(Debug, PartialEq, Eq)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// Builds an [`Error`] from a format string.
#[macro_export]
macro_rules! fail {
    ($($arg:tt)*) => { $crate::error::Error(format!($($arg)*)) };
}

/// Writes one `detbuild: ...` line to stderr. A closed or broken stderr is ignored: detbuild
/// must never stop a build (or abort) because it could not print a notice.
pub fn say(line: fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "detbuild: {line}");
}

/// Prints a `detbuild: ...` line to stderr (see [`say`]).
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => { $crate::error::say(format_args!($($arg)*)) };
}
