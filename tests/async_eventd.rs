//! The project's conformance replay (tests/data/visible.json: transcripts of the PHP
//! original) against examples/async_eventd.rs, eventd's protocol in async style: the
//! same bytes on the wire, the same closes, the same log lines.
#![allow(unexpected_cfgs)] // the shared replay code has a `tls` feature this crate lacks

#[path = "../eventd/tests/common/mod.rs"]
mod common;

use std::path::PathBuf;

/// The example's binary, which `cargo test` builds beside this test (target/PROFILE/
/// examples); built here if it is missing (a single test run by path).
fn example() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap(); // target/PROFILE/deps/..
    let bin = dir.join("examples/async_eventd");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut c = std::process::Command::new(cargo);
        c.args(["build", "--example", "async_eventd"]);
        if dir.ends_with("release") {
            c.arg("--release");
        }
        assert!(c.status().unwrap().success(), "building the example");
    }
    bin
}

#[test]
fn transcripts_of_the_php_original_replay_exactly_against_the_async_example() {
    common::use_program(example());
    common::replay::replay(common::replay::Transport::Plain, &[]);
}

#[test]
fn bad_flags_are_refused_with_a_message() {
    common::use_program(example());
    for args in [
        &["--timeout", "x"][..],
        &["--max-connections", "0"],
        &["--bogus", "1"],
        &["--listen"],
    ] {
        let out = common::command().args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?}: no message");
    }
}
