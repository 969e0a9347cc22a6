//! Reads what libevent-sys built (its `DEP_EVENT_*` exports, as rusqlite reads
//! `DEP_SQLITE3_*`) and sets cfgs from it, so that this crate compiles a module only where
//! the C side has it, with the bundled build and with feature `system` alike.
//!
//! - `libevent_openssl`: libevent_openssl is linked (`DEP_EVENT_OPENSSL=1`): the TLS
//!   bufferevents (`src/bufferevent/ssl.rs`) are compiled.
//! - `libevent_system`: the system's libevent is linked (`DEP_EVENT_SYSTEM=1`).
//! - `openssl3`: the OpenSSL linked is 3.0 or newer (`DEP_OPENSSL_VERSION_NUMBER`, from
//!   openssl-sys), whose unexpected-EOF report libevent 2.1 predates.
//!
//! And `LIBEVENT_INCLUDE_DIR` (rustc-env) names the headers libevent-sys built against
//! (`DEP_EVENT_INCLUDE`), for the test that keeps API.md true (tests/api_table.rs).

fn main() {
    println!("cargo::rustc-check-cfg=cfg(libevent_openssl)");
    println!("cargo::rustc-check-cfg=cfg(libevent_system)");
    println!("cargo::rustc-check-cfg=cfg(openssl3)");
    println!("cargo:rerun-if-env-changed=DEP_OPENSSL_VERSION_NUMBER");
    println!("cargo:rerun-if-env-changed=DEP_EVENT_OPENSSL");
    println!("cargo:rerun-if-env-changed=DEP_EVENT_SYSTEM");
    let on = |var: &str| std::env::var(var).is_ok_and(|v| v == "1");
    if on("DEP_EVENT_OPENSSL") {
        println!("cargo:rustc-cfg=libevent_openssl");
    }
    let openssl = std::env::var("DEP_OPENSSL_VERSION_NUMBER")
        .ok()
        .and_then(|v| u64::from_str_radix(&v, 16).ok());
    if openssl.is_some_and(|v| v >= 0x3000_0000) {
        println!("cargo:rustc-cfg=openssl3");
    }
    println!("cargo:rerun-if-env-changed=DEP_EVENT_INCLUDE");
    if let Ok(dir) = std::env::var("DEP_EVENT_INCLUDE") {
        println!("cargo:rustc-env=LIBEVENT_INCLUDE_DIR={dir}");
    }
    if on("DEP_EVENT_SYSTEM") {
        println!("cargo:rustc-cfg=libevent_system");
    }
}
