//! Builds `c/shim.c`: the parts stable Rust cannot express in a no_std cdylib.
//!
//! rustc hides every symbol of a cdylib that its own version script does not list, and it
//! lists only Rust items; `c/exports.map` is a second version script that exports the C hooks
//! (`execl`, `execle`, `execlp`). GNU ld merges the two (checked with binutils 2.40: `nm -D` lists them).
fn main() {
    println!("cargo:rerun-if-changed=c/shim.c");
    println!("cargo:rerun-if-changed=c/exports.map");
    cc::Build::new()
        .file("c/shim.c")
        .flag("-fvisibility=hidden")
        .flag("-ftls-model=initial-exec")
        .warnings(true)
        .extra_warnings(true)
        .warnings_into_errors(true)
        .compile("detbuild_c");
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rustc-cdylib-link-arg=-Wl,--version-script={dir}/c/exports.map");
}
