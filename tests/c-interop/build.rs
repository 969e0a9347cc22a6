// Compiles the C side against the headers libevent-sys exports (DEP_EVENT_INCLUDE), the
// way any crate that mixes C and Rust on one libevent would.
fn main() {
    println!("cargo:rerun-if-changed=c/interop.c");
    println!("cargo:rerun-if-changed=c/bench.c");
    let include = std::env::var("DEP_EVENT_INCLUDE").expect("libevent-sys exports cargo:include");
    cc::Build::new()
        .file("c/interop.c")
        .file("c/bench.c")
        .opt_level(2)
        .include(include)
        .warnings(true)
        .compile("interop");
}
