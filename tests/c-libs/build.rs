// hiredis (headers and library from pkg-config, Debian's libhiredis-dev) with its
// libevent adapter compiled here against this build's libevent headers
// (DEP_EVENT_INCLUDE), so that hiredis's events go to the same libevent as Rust's; libcurl
// (libcurl4-openssl-dev) is linked by src/curl.rs itself.
fn main() {
    println!("cargo:rerun-if-changed=c/redis.c");
    let include = std::env::var("DEP_EVENT_INCLUDE").expect("libevent-sys exports cargo:include");
    let hiredis = pkg_config::Config::new()
        .probe("hiredis")
        .expect("hiredis (Debian: libhiredis-dev) for the hiredis bridge");
    let mut b = cc::Build::new();
    b.file("c/redis.c")
        .opt_level(2)
        .include(&include)
        .warnings(true);
    for p in &hiredis.include_paths {
        b.include(p);
    }
    b.compile("redis_glue");
    pkg_config::Config::new()
        .probe("libcurl")
        .expect("libcurl (Debian: libcurl4-openssl-dev) for the curl bridge");
}
