//! The benchmark tools work: loadgen drives the C reference server in every mode with no
//! errors (a smoke test: no figures are judged here).

use std::process::{Command, Stdio};
use std::time::Duration;

fn field(line: &str, key: &str) -> u64 {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key} in {line}"))
        .parse()
        .unwrap()
}

#[test]
fn loadgen_drives_the_c_reference_in_every_mode() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let addr = format!("127.0.0.1:{port}");
    let mut server = Command::new(env!("CARGO_BIN_EXE_c-reference"))
        .args(["--listen", &addr, "--max-connections", "1000"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    for (mode, conns) in [("pingpong", "20"), ("churn", "4"), ("idle", "50")] {
        let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
            .args([
                "--addr",
                &addr,
                "--mode",
                mode,
                "--connections",
                conns,
                "--duration",
                "0.5",
                "--threads",
                "2",
            ])
            .output()
            .unwrap();
        let line = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "{mode}: {line} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(field(&line, "errors"), 0, "{line}");
        assert!(
            field(&line, "connected") as usize >= conns.parse::<usize>().unwrap(),
            "{line}"
        );
        if mode != "idle" {
            assert!(field(&line, "done") > 0, "{line}");
        }
    }
    // SAFETY: the pid is our live child.
    unsafe { libc::kill(server.id() as i32, libc::SIGTERM) };
    assert!(server.wait().unwrap().success());
}

#[test]
fn loadgen_refuses_bad_arguments() {
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["--mode", "sideways"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--mode"));
}

#[test]
fn loadgen_drives_the_tokio_references() {
    for runtime in ["current", "multi"] {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let addr = format!("127.0.0.1:{port}");
        let mut server = Command::new(env!("CARGO_BIN_EXE_tokio-reference"))
            .args([
                "--runtime",
                runtime,
                "--listen",
                &addr,
                "--max-connections",
                "100",
            ])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
            .args([
                "--addr",
                &addr,
                "--mode",
                "pingpong",
                "--connections",
                "10",
                "--duration",
                "0.5",
            ])
            .output()
            .unwrap();
        let line = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(out.status.success(), "{runtime}: {line}");
        assert_eq!(field(&line, "errors"), 0, "{runtime}: {line}");
        assert!(field(&line, "done") > 0, "{runtime}: {line}");
        // SAFETY: the pid is our live child.
        unsafe { libc::kill(server.id() as i32, libc::SIGTERM) };
        assert!(
            server.wait().unwrap().success(),
            "{runtime} exits 0 on SIGTERM"
        );
    }
}

#[test]
fn loadgen_spreads_connections_over_source_addresses() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let accept = std::thread::spawn(move || {
        let mut peers = std::collections::BTreeMap::<String, usize>::new();
        let mut held = Vec::new();
        for _ in 0..9 {
            let (s, peer) = l.accept().unwrap();
            *peers.entry(peer.ip().to_string()).or_default() += 1;
            held.push(s);
        }
        peers
    });
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args([
            "--addr",
            &addr.to_string(),
            "--mode",
            "idle",
            "--connections",
            "9",
        ])
        .args(["--duration", "0.3", "--sources", "3"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let peers = accept.join().unwrap();
    let want: std::collections::BTreeMap<String, usize> = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
        .iter()
        .map(|ip| (ip.to_string(), 3))
        .collect();
    assert_eq!(peers, want);
    // Only an IPv4 loopback target can take loopback sources.
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["--addr", "[::1]:9", "--sources", "2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
