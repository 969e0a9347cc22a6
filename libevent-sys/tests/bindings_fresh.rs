//! With feature `bindgen`, the committed bindings must equal what bindgen produces now.
//! CI runs this after installing libclang. `LIBEVENT_SYS_BLESS=1` rewrites the committed
//! files from the fresh output instead of failing.
#![cfg(all(feature = "bindgen", not(feature = "system")))]

use std::path::Path;

fn check(name: &str) {
    let fresh_path = Path::new(env!("LIBEVENT_SYS_OUT_DIR")).join(name);
    let committed_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(name);
    let fresh = std::fs::read_to_string(&fresh_path).expect("bindgen output in OUT_DIR");
    let committed = std::fs::read_to_string(&committed_path).unwrap_or_default();
    if fresh == committed {
        return;
    }
    if std::env::var_os("LIBEVENT_SYS_BLESS").is_some() {
        std::fs::write(&committed_path, &fresh).expect("rewrite committed bindings");
        return;
    }
    let first_diff = fresh
        .lines()
        .zip(committed.lines())
        .position(|(a, b)| a != b)
        .unwrap_or(fresh.lines().count().min(committed.lines().count()));
    panic!(
        "{} is stale (first difference at line {}); regenerate with\n  \
         LIBEVENT_SYS_BLESS=1 cargo test -p libevent-sys --features bindgen{} --test bindings_fresh",
        committed_path.display(),
        first_diff + 1,
        if name.contains("openssl") { ",openssl" } else { "" }
    );
}

#[test]
fn committed_bindings_match_bindgen() {
    check("bindings.rs");
}

#[cfg(feature = "openssl")]
#[test]
fn committed_openssl_bindings_match_bindgen() {
    check("bindings_openssl.rs");
}
