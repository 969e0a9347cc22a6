//! Helpers shared by the safe crate's integration tests.
#![allow(dead_code)]

#[cfg(feature = "openssl")]
pub mod pki;

use libevent::{EventBase, LoopFlags};
use std::io::Read;
use std::net::TcpStream;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A bufferevent over one end of a connected TCP pair; the other end stays blocking.
pub fn tcp_pair(base: &EventBase) -> (libevent::BufferEvent, TcpStream) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (ours, _) = l.accept().unwrap();
    let options = libevent::bufferevent::Options::empty();
    (
        libevent::BufferEvent::from_tcp(base, ours, options).unwrap(),
        peer,
    )
}

/// Runs the loop without blocking until `until()` holds; fails after 5 s.
pub fn spin(base: &EventBase, until: impl Fn() -> bool) {
    let start = Instant::now();
    while !until() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "condition not reached"
        );
        base.run(LoopFlags::ONCE | LoopFlags::NONBLOCK).unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Runs the loop without blocking for `d`.
pub fn run_for(base: &EventBase, d: Duration) {
    let until = Instant::now() + d;
    while Instant::now() < until {
        base.run(LoopFlags::NONBLOCK).unwrap();
    }
}

/// Reads exactly `n` bytes from a blocking stream on another thread.
pub fn read_in_thread(mut s: TcpStream, n: usize) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; n];
        s.read_exact(&mut buf).unwrap();
        buf
    })
}

/// Runs test `name` of this binary again in a child process with `var` set, and asserts it
/// passed: for tests that change process-wide state (descriptor limits, debug mode). The
/// test itself checks `std::env::var_os(var)` first and, in the child, does the work.
pub fn rerun_in_child(name: &str, var: &str) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--test-threads=1"])
        .env(var, "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// The number of cases for a property test: `PROPTEST_CASES` if set (scripts/valgrind.sh
/// sets it low), else `default`.
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The resolution of CLOCK_MONOTONIC_COARSE, the clock a default base reads.
pub fn coarse_tick() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid out pointer.
    let rc = unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    assert_eq!(rc, 0);
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Every input of a fuzz target's seed corpus and of its regressions (fuzz/, see
/// scripts/fuzz.sh), for the test suite to replay without the fuzzer; at least `min` of
/// them, or the corpus is missing.
pub fn fuzz_inputs(target: &str, min: usize) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut out = Vec::new();
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            out.push((path, data));
        }
    }
    assert!(
        out.len() >= min,
        "the seed corpus of {target} is missing ({} inputs)",
        out.len()
    );
    out
}
