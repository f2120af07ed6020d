//! Builds `c/shim.c`: the parts stable Rust cannot express in a no_std cdylib.
fn main() {
    println!("cargo:rerun-if-changed=c/shim.c");
    cc::Build::new()
        .file("c/shim.c")
        .flag("-fvisibility=hidden")
        .flag("-ftls-model=initial-exec")
        .warnings(true)
        .extra_warnings(true)
        .warnings_into_errors(true)
        .compile("detbuild_c");
}
