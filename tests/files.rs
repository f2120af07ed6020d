//! Virtual files: the random devices however they are spelled or opened, and descriptors
//! duplicated from them.

use crate::common::*;

macro_rules! spelling {
    ($($test:ident: $how:literal;)*) => {$(
        // Promise: this way of reaching /dev/urandom reads the deterministic stream (the
        // same every run, another with another seed; natively random), and never ends early.
        #[test]
        fn $test() {
            let probe = probe("devpaths");
            let out = assert_promise(&[probe.to_str().unwrap(), $how], OTHER_SEED);
            assert!(!out.contains("short read"), "{out}");
        }
    )*};
}

spelling! {
    dot_in_the_device_path_is_faked: "dot";
    doubled_slashes_in_the_device_path_are_faked: "slashes";
    openat_on_a_dev_descriptor_is_faked: "dirfd";
    a_path_relative_to_dev_is_faked: "relative";
    a_dup_of_a_random_device_streams_endlessly: "dup";
    a_dup2_of_a_random_device_streams_endlessly: "dup2";
    an_fcntl_dupfd_of_a_random_device_streams_endlessly: "fcntl";
}
