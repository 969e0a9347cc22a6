// Compiles the C reference servers (the protocol one and the HTTP one) against the headers and libraries libevent-sys built
// (DEP_EVENT_INCLUDE; the static libraries come in through the libevent-sys dependency).
fn main() {
    println!("cargo:rerun-if-changed=c/c_reference.c");
    println!("cargo:rerun-if-changed=c/http_reference.c");
    let include = std::env::var("DEP_EVENT_INCLUDE").expect("libevent-sys exports cargo:include");
    let mut build = cc::Build::new();
    // Feature `tls`: the C reference gets --tls-cert/--tls-key (libevent-sys then links
    // libevent_openssl, and openssl-sys says where OpenSSL's headers are).
    if std::env::var_os("CARGO_FEATURE_TLS").is_some() {
        build.define("BENCH_TLS", None);
        if let Some(inc) = std::env::var_os("DEP_OPENSSL_INCLUDE") {
            build.include(inc);
        }
    }
    build
        .file("c/c_reference.c")
        .file("c/http_reference.c")
        .include(include)
        .opt_level(2)
        .warnings(true)
        .compile("c_reference");
}
