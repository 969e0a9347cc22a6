//! Getting the upstream tree: `LIBEVENT_SRC_DIR`, or cargo fetches it; either way it
//! must be the release this crate binds.

use crate::{fail, CARRIER_PACKAGE, CARRIER_VERSION, LIBEVENT_VERSION};
use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the upstream tree comes from: `LIBEVENT_SRC_DIR`, or cargo itself.
pub(crate) fn source_tree(out: &Path) -> PathBuf {
    if let Some(dir) = env::var_os("LIBEVENT_SRC_DIR") {
        let dir = PathBuf::from(dir);
        if !dir.join("event.c").is_file() {
            fail(&format!(
                "LIBEVENT_SRC_DIR={} is not a libevent source tree (no event.c in it)",
                dir.display()
            ));
        }
        return dir;
    }
    fetch_with_cargo(out)
}

/// Fetches the carrier package with `cargo vendor` on a throwaway manifest inside OUT_DIR.
/// Cargo checks the package against the registry index's checksum, and honours the
/// user's offline mode and source replacement (a local mirror works unchanged).
fn fetch_with_cargo(out: &Path) -> PathBuf {
    let fetch = out.join("fetch");
    let tree = fetch
        .join("vendor")
        .join(format!("{CARRIER_PACKAGE}-{CARRIER_VERSION}"))
        .join("libevent");
    if tree.join("event.c").is_file() {
        return tree;
    }
    fs::create_dir_all(fetch.join("src")).expect("create fetch dir");
    fs::write(
        fetch.join("Cargo.toml"),
        format!(
            "[package]\nname = \"libevent-sys-fetch\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\
             publish = false\n\n[workspace]\n\n[dependencies]\n\
             {CARRIER_PACKAGE} = {{ version = \"={CARRIER_VERSION}\", default-features = false }}\n"
        ),
    )
    .expect("write fetch manifest");
    fs::write(fetch.join("src/lib.rs"), "").expect("write fetch lib.rs");

    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&fetch)
        .args(["vendor", "--versioned-dirs", "--quiet", "vendor"])
        // The outer build's target dir and flags must not leak into the throwaway one.
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    if env::var_os("CARGO_NET_OFFLINE").is_some_and(|v| v == "true") {
        cmd.arg("--offline");
    }
    let output = cmd
        .output()
        .unwrap_or_else(|e| fail(&format!("running cargo vendor: {e}")));
    if !output.status.success() || !tree.join("event.c").is_file() {
        fail(&format!(
            "could not fetch the libevent {LIBEVENT_VERSION} tree through cargo \
             (package {CARRIER_PACKAGE} {CARRIER_VERSION}):\n{}\n\
             For an offline build, set LIBEVENT_SRC_DIR to an unpacked libevent-{LIBEVENT_VERSION} tree.",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    tree
}

/// The tree must be 2.1.12-stable: the bindings and the configuration assume it.
pub(crate) fn check_version(src: &Path) {
    let configure = src.join("configure.ac");
    let text = fs::read_to_string(&configure).unwrap_or_else(|e| {
        fail(&format!(
            "{} is unreadable ({e}); is this a libevent tree?",
            configure.display()
        ))
    });
    let found = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("AC_INIT(libevent,"))
        .map(|rest| rest.trim_end_matches(')').trim().to_string());
    match found {
        Some(v) if v == LIBEVENT_VERSION => {}
        Some(v) => fail(&format!(
            "{} is libevent {v}, but this crate builds exactly {LIBEVENT_VERSION}",
            src.display()
        )),
        None => fail(&format!(
            "{} names no libevent version",
            configure.display()
        )),
    }
    for needed in ["event.c", "include/event2/event.h", "event-config.h.cmake"] {
        if !src.join(needed).exists() {
            fail(&format!(
                "{} lacks {needed}; the tree is incomplete",
                src.display()
            ));
        }
    }
}
