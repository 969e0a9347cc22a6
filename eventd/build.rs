//! Passes on where libevent-sys linked its shared library (DEP_EVENT_SHARED), for
//! eventd-compare, which runs compat/php/run-pecl on it.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_EVENT_SHARED");
    if let Some(lib) = std::env::var_os("DEP_EVENT_SHARED") {
        println!(
            "cargo:rustc-env=EVENTD_LIBEVENT_SHARED={}",
            lib.to_string_lossy()
        );
    }
}
