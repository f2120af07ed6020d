//! Exec and spawn hooks (issue 4): placeholder, filled in on its own branch.

crate::real::reals! {}
