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
    // The whole library as one shared object, for programs that load it at run time
    // (see compile.rs's `link_shared`).
    if let Some(shared) = libs[0]
        .link_paths
        .iter()
        .map(|dir| dir.join("libevent.so"))
        .find(|p| p.exists())
    {
        println!("cargo:shared={}", shared.display());
    }
    println!("cargo:openssl={}", u8::from(cfg!(feature = "openssl")));
    println!("cargo:version={}", libs[0].version);
    warn_if_older_than_fixes(&libs[0].version);
    generate_bindings(&[include]);
}

/// A libevent older than 2.1.13 builds, with a warning: upstream's security fixes came in
/// 2.1.13, though distributions backport them (Debian 12's 2.1.12-stable-8+deb12u1 has
/// them), which pkg-config's version cannot show.
fn warn_if_older_than_fixes(version: &str) {
    let numbers: Vec<u32> = version
        .split(|c: char| !c.is_ascii_digit())
        .take(3)
        .filter_map(|p| p.parse().ok())
        .collect();
    if numbers.len() == 3 && (numbers[0], numbers[1], numbers[2]) < (2, 1, 13) {
        println!(
            "cargo:warning=libevent-sys: the system's libevent is {version}, older than \
             2.1.13-stable, which fixes CVE-2026-63379 to CVE-2026-63388 (HTTP request \
             smuggling, evbuffer_add_reference, evdns dnsname_to_labels, evtag, the AF_UNIX \
             accept path); make sure your distribution backported them (Debian 12's \
             2.1.12-stable-8+deb12u1 has), or build the bundled 2.1.13"
        );
    }
}
