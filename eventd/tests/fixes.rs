//! One test per flaw of the PHP original that eventd fixes (PROTOCOL.md, "Flaws"), and
//! the command line's error handling.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    kb * 1024
}

/// Bytes received but not yet read by the socket from `local` to `remote` (IPv4), from
/// /proc/net/tcp; None if there is no such socket.
fn rx_queue(local: std::net::SocketAddr, remote: std::net::SocketAddr) -> Option<u64> {
    let key = |a: std::net::SocketAddr| format!(":{:04X}", a.port());
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    table.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() > 4 && f[1].ends_with(&key(local)) && f[2].ends_with(&key(remote)))
            .then(|| u64::from_str_radix(f[4].split(':').nth(1).unwrap_or("0"), 16).unwrap_or(0))
    })
}

fn letters(bytes: &[u8]) -> Vec<u8> {
    bytes
        .iter()
        .copied()
        .filter(|b| b.is_ascii_alphabetic())
        .collect()
}

#[test]
fn fix1_no_busy_loop_with_clients_waiting_at_the_limit() {
    if common::wrapped() {
        eprintln!("CPU time is not measured under a wrapper (valgrind); skipped");
        return;
    }
    let d = common::start(&["--max-connections", "2"]);
    let mut served: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(d.addr).unwrap())
        .collect();
    for s in &mut served {
        s.write_all(b"hello\r\n").unwrap();
        let mut buf = [0u8; 7];
        s.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"HELLO\r\n");
    }
    // Three more wait in the backlog, one of them with a message queued.
    let mut waiting: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(d.addr).unwrap())
        .collect();
    waiting[0].write_all(b"queued\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let used = common::cpu_used_over(d.child.id(), Duration::from_secs(2));
    assert!(
        used < 0.10,
        "eventd used {used:.3} s of CPU in 2 s at the connection limit (over 5%)"
    );

    // A slot frees: the first waiting client is accepted and its queued bytes answered.
    served[0].write_all(b"QUIT\r\n").unwrap();
    waiting[0]
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 8];
    waiting[0].read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"QUEUED\r\n");
}

#[test]
fn fix2_a_client_that_never_reads_cannot_grow_memory() {
    if common::wrapped() {
        eprintln!("RSS is not measured under a wrapper (valgrind); skipped");
        return;
    }
    const LIMIT: u64 = 1 << 20;
    let d = common::start(&["--output-limit", &LIMIT.to_string(), "--timeout", "30"]);
    let pid = d.child.id();
    let baseline = rss_bytes(pid);
    let fds = || {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .count()
    };
    let fds_before = fds();

    let line = b"helloworld\r\n";
    let total = 50 * 1024 * 1024 / line.len() * line.len();
    let mut writer = TcpStream::connect(d.addr).unwrap();
    let mut reader = writer.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let chunk = line.repeat(4096);
        let mut sent = 0;
        while sent < total {
            let n = chunk.len().min(total - sent);
            writer.write_all(&chunk[..n]).unwrap();
            sent += n;
        }
        writer.shutdown(Shutdown::Write).unwrap();
    });

    // The client reads nothing for 3 s: eventd must stop reading from it.
    let mut peak = 0;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        peak = peak.max(rss_bytes(pid));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !sender.is_finished(),
        "all 50 MB were taken while the client read nothing"
    );
    // Another client is served meanwhile.
    let mut other = TcpStream::connect(d.addr).unwrap();
    other
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    other.write_all(b"another client\r\n").unwrap();
    let mut reply = [0u8; 16];
    other.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"ANOTHER CLIENT\r\n");
    drop(other);
    let bound = baseline + 6 * LIMIT;
    assert!(
        peak < bound,
        "RSS grew to {peak} bytes (baseline {baseline}, bound {bound})"
    );

    // Now it reads: every reply arrives, none lost, and then the close.
    reader
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut got = Vec::new();
    reader.read_to_end(&mut got).unwrap();
    sender.join().unwrap();
    let want = letters(&line.repeat(total / line.len())).to_ascii_uppercase();
    let have = letters(&got);
    assert_eq!(have.len(), want.len(), "replies lost or duplicated");
    assert!(
        have == want,
        "reply bytes differ from the upper-cased input"
    );
    peak = peak.max(rss_bytes(pid));
    assert!(
        peak < bound,
        "RSS grew to {peak} bytes while draining (bound {bound})"
    );
    // The log says what happened to both, and the daemon is back where it started: its
    // descriptors exactly, its memory within twice the output limit. What the 50 MB
    // would leave if any of it were kept is fifty times that; what the allocator may keep
    // of the freed output buffer (up to one limit, more under a loaded machine's timing:
    // a 10% bound on RSS failed once at +1 MB in a full CI run) is not a leak.
    let log = common::read_log(&d.log);
    for id in [1, 2] {
        let closing = format!("Closing connection (id = {id})...");
        assert!(log.contains(&closing), "{log:?}");
    }
    common::eventually(
        Duration::from_secs(5),
        || fds() <= fds_before && rss_bytes(pid) <= baseline + 2 * LIMIT,
        || {
            format!(
                "descriptors {} (before {fds_before}), RSS {} (before {baseline})",
                fds(),
                rss_bytes(pid)
            )
        },
    );
}

#[test]
fn fix3_replies_are_written_before_the_close_on_end_of_stream() {
    let d = common::start(&[]);
    for _ in 0..20 {
        let mut s = TcpStream::connect(d.addr).unwrap();
        s.write_all(b"hello world\r\n").unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"HELLO WORLD\r\n");
    }
    std::thread::sleep(Duration::from_millis(200));
    let log = common::read_log(&d.log);
    assert_eq!(
        log.iter()
            .filter(|l| l.starts_with("Error: EVBUFFER_EOF"))
            .count(),
        20
    );
}

#[test]
fn fix4_sigterm_delivers_pending_replies_logs_and_exits_0() {
    let d = common::start(&["--output-limit", "67108864"]);
    let mut client = TcpStream::connect(d.addr).unwrap();
    let line = b"pending\r\n";
    let n = 2 * 1024 * 1024 / line.len();
    let data = line.repeat(n);
    let mut w = client.try_clone().unwrap();
    let sender = std::thread::spawn(move || w.write_all(&data).unwrap());
    // Wait until eventd has read every request and produced its reply (its socket's
    // receive queue is empty once the client has sent everything); the client reads none.
    let me = client.local_addr().unwrap();
    let start = Instant::now();
    while !(sender.is_finished() && rx_queue(d.addr, me) == Some(0)) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "eventd did not read the requests"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let idle = TcpStream::connect(d.addr).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    // SAFETY: the pid is our live child.
    unsafe { libc::kill(d.child.id() as i32, libc::SIGTERM) };

    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut got = Vec::new();
    client.read_to_end(&mut got).unwrap();
    sender.join().unwrap();
    let (have, want) = (letters(&got), letters(&line.repeat(n)).to_ascii_uppercase());
    assert!(
        have == want,
        "replies lost at shutdown: {} of {} letters",
        have.len(),
        want.len()
    );
    drop(idle);

    let log_path = d.log.clone();
    let (code, stderr) = d.signal_and_wait(0);
    assert_eq!(code, 0, "exit code after SIGTERM; stderr: {stderr}");
    let log = common::read_log(&log_path);
    assert_eq!(
        log.last().map(String::as_str),
        Some("Daemon is shutting down..."),
        "{log:?}"
    );
    assert_eq!(
        log.iter()
            .filter(|l| l.starts_with("Closing connection"))
            .count(),
        2
    );
}

#[test]
fn sigint_with_no_clients_exits_0() {
    let d = common::start(&[]);
    let log = d.log.clone();
    let (code, _) = d.signal_and_wait(libc::SIGINT);
    assert_eq!(code, 0);
    assert_eq!(
        common::read_log(&log).last().map(String::as_str),
        Some("Daemon is shutting down...")
    );
}

#[test]
fn daemonize_writes_and_removes_the_pid_file() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let pid_file = dir.join(format!("eventd-test-{}.pid", std::process::id()));
    let log = dir.join(format!("eventd-test-{}-daemon.log", std::process::id()));
    let _ = std::fs::remove_file(&log);
    let status = common::command()
        .args(["--daemonize", "--listen", "127.0.0.1:0", "--pid-file"])
        .arg(&pid_file)
        .arg("--log-file")
        .arg(&log)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "the parent exits 0 once the daemon listens"
    );
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .expect("pid file written")
        .trim()
        .parse()
        .unwrap();
    // SAFETY: signal 0 only checks that the process exists.
    assert_eq!(unsafe { libc::kill(pid, 0) }, 0, "the daemon runs");
    // Detached: its own session.
    // SAFETY: getsid has no preconditions.
    assert_eq!(unsafe { libc::getsid(pid) }, pid);
    let addr: std::net::SocketAddr = common::read_log(&log)[0]
        .split("Listening on ")
        .nth(1)
        .unwrap()
        .trim_end_matches("...")
        .parse()
        .unwrap();
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"daemon\r\n").unwrap();
    let mut buf = [0u8; 8];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"DAEMON\r\n");
    drop(s);
    // SAFETY: pid is the daemon we started.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let start = Instant::now();
    while pid_file.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "pid file not removed on exit"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        common::read_log(&log).last().map(String::as_str),
        Some("Daemon is shutting down...")
    );
}

#[test]
fn bad_flag_values_give_one_line_and_exit_2() {
    for args in [
        &["--timeout", "soon"][..],
        &["--max-connections", "0"],
        &["--listen", "localhost"],
        &["--bogus"],
    ] {
        let out = common::command().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "one line for {args:?}: {err}"
        );
        assert!(err.contains(args[0]), "names the flag {}: {err}", args[0]);
    }
}

#[test]
fn a_port_in_use_is_a_clear_error_and_exit_1() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = common::command()
        .args(["--listen", &addr])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot listen on") && err.contains("in use"),
        "{err}"
    );
}

#[test]
fn help_and_version_exit_0() {
    for flag in ["--help", "--version"] {
        let out = common::command().arg(flag).output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        assert!(!out.stdout.is_empty());
    }
}
