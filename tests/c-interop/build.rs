// Compiles the C side against the headers libevent-sys exports (DEP_EVENT_INCLUDE), the
// way any crate that mixes C and Rust on one libevent would.
fn main() {
    println!("cargo:rerun-if-changed=c/interop.c");
    let include = std::env::var("DEP_EVENT_INCLUDE").expect("libevent-sys exports cargo:include");
    cc::Build::new()
        .file("c/interop.c")
        .include(include)
        .warnings(true)
        .compile("interop");
}
