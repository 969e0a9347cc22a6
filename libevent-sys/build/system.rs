//! Feature `system`: link the system's libevent, found by pkg-config.

use crate::bindings::generate_bindings;
use crate::fail;
use std::path::PathBuf;

pub(crate) fn build_linked() {
    let mut libs = Vec::new();
    for name in ["libevent_core", "libevent_extra"]
        .into_iter()
        .chain(cfg!(feature = "threads").then_some("libevent_pthreads"))
        .chain(cfg!(feature = "openssl").then_some("libevent_openssl"))
    {
        match pkg_config::Config::new().atleast_version("2.1").probe(name) {
            Ok(lib) => libs.push(lib),
            Err(e) => fail(&format!(
                "feature `system` is on, but pkg-config cannot find {name} >= 2.1: {e}\n\
                 Install libevent's development package (Debian: libevent-dev), or build the \
                 bundled copy by turning the feature off."
            )),
        }
    }
    let include = libs[0]
        .include_paths
        .first()
        .cloned()
        .unwrap_or_else(|| PathBuf::from("/usr/include"));
    println!("cargo:include={}", include.display());
    println!("cargo:system=1");
    println!("cargo:openssl={}", u8::from(cfg!(feature = "openssl")));
    println!("cargo:version={}", libs[0].version);
    generate_bindings(&[include]);
}
