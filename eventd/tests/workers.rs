//! `--workers N`: several loops on one port with one shared connection limit, and the
//! listener's back-off when accept() fails.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Threads of process `pid`, from /proc/PID/status.
fn threads(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("Threads:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Listening IPv4 sockets on `addr`'s port, from /proc/net/tcp (state 0A is LISTEN).
fn listeners(addr: SocketAddr) -> usize {
    let port = format!(":{:04X}", addr.port());
    std::fs::read_to_string("/proc/net/tcp")
        .unwrap()
        .lines()
        .skip(1)
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 3 && f[1].ends_with(&port) && f[3] == "0A"
        })
        .count()
}

/// Connects and sends `msg`; the reply is not read yet.
fn client(addr: SocketAddr, msg: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(msg.as_bytes()).unwrap();
    s
}

/// Whether `s` has its reply within `wait` (reads it if so).
fn answered(s: &mut TcpStream, wait: Duration, want: &[u8]) -> bool {
    s.set_read_timeout(Some(wait)).unwrap();
    let mut buf = vec![0u8; want.len()];
    match s.read_exact(&mut buf) {
        Ok(()) => {
            assert_eq!(buf, want);
            true
        }
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
        Err(e) => panic!("client: {e}"),
    }
}

/// Indexes of the clients answered within `wait` (each polled in turn).
fn answered_now(clients: &mut [(TcpStream, bool)], wait: Duration) -> Vec<usize> {
    let mut got = Vec::new();
    for (i, (s, done)) in clients.iter_mut().enumerate() {
        if !*done && answered(s, wait, format!("CLIENT{i}\r\n").as_bytes()) {
            *done = true;
            got.push(i);
        }
    }
    got
}

/// `n` clients, client i having sent "client{i}\r\n", each with a flag for "answered".
fn clients(addr: SocketAddr, n: usize) -> Vec<(TcpStream, bool)> {
    (0..n)
        .map(|i| (client(addr, &format!("client{i}\r\n")), false))
        .collect()
}

/// Polls the clients until `want` have been answered or 10 s have passed; returns
/// the indexes of those answered.
fn served(clients: &mut [(TcpStream, bool)], want: usize) -> Vec<usize> {
    let mut served = Vec::new();
    let start = Instant::now();
    while served.len() < want && start.elapsed() < Duration::from_secs(10) {
        served.extend(answered_now(clients, Duration::from_millis(20)));
    }
    served
}

/// The log of a daemon stopped by a signal: `closed` connections closed, and the
/// shutdown line once, last.
fn assert_clean_end(log: &[String], closed: usize) {
    let count = |prefix: &str| log.iter().filter(|l| l.starts_with(prefix)).count();
    assert_eq!(count("Closing connection"), closed, "{log:?}");
    assert_eq!(count("Daemon is shutting down..."), 1, "{log:?}");
    assert_eq!(
        log.last().map(String::as_str),
        Some("Daemon is shutting down...")
    );
}

#[test]
fn workers_share_one_limit_on_one_port_and_do_not_spin_at_it() {
    let d = common::start(&["--workers", "2", "--max-connections", "4"]);
    let pid = d.child.id();
    if !common::wrapped() {
        assert_eq!(threads(pid), 2, "one thread per worker");
    }
    assert_eq!(listeners(d.addr), 2, "one listening socket per worker");

    // Twelve clients, each with its message sent: the kernel spreads them over both
    // listeners, and exactly four are served, whichever worker took them.
    let mut clients = clients(d.addr, 12);
    let served = served(&mut clients, 4);
    assert_eq!(served.len(), 4, "served at the limit of 4: {served:?}");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        answered_now(&mut clients, Duration::from_millis(20)).is_empty(),
        "a fifth client was served while four were connected"
    );
    if !common::wrapped() {
        let used = common::cpu_used_over(pid, Duration::from_secs(2));
        assert!(used < 0.10, "{used:.3} s of CPU in 2 s at the limit");
    }

    // Two served clients quit: exactly two waiting ones are served, wherever they wait.
    for &i in &served[..2] {
        clients[i].0.write_all(b"QUIT\r\n").unwrap();
    }
    let mut next = Vec::new();
    let start = Instant::now();
    while next.len() < 2 && start.elapsed() < Duration::from_secs(10) {
        next.extend(answered_now(&mut clients, Duration::from_millis(20)));
    }
    assert_eq!(next.len(), 2, "two slots freed: {next:?}");
    std::thread::sleep(Duration::from_millis(300));
    assert!(answered_now(&mut clients, Duration::from_millis(20)).is_empty());

    // Every client leaves: everyone left is served in the end.
    for (s, _) in &mut clients {
        let _ = s.write_all(b"QUIT\r\n");
    }
    let start = Instant::now();
    while clients.iter().any(|c| !c.1) && start.elapsed() < Duration::from_secs(15) {
        answered_now(&mut clients, Duration::from_millis(20));
    }
    let missing: Vec<usize> = (0..12).filter(|&i| !clients[i].1).collect();
    assert!(missing.is_empty(), "never served: {missing:?}");

    // Ids are unique over both workers: 1 to 12, each opened and closed once.
    let log_path = d.log.clone();
    let (code, stderr) = d.signal_and_wait(libc::SIGTERM);
    assert_eq!(code, 0, "{stderr}");
    let log = common::read_log(&log_path);
    let mut ids: Vec<u64> = log
        .iter()
        .filter_map(|l| l.strip_prefix("New connection (id = "))
        .map(|r| r.trim_end_matches(")...").parse().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, (1..=12).collect::<Vec<u64>>());
    assert_clean_end(&log, 12);
}

#[test]
fn sigterm_stops_every_worker_and_delivers_replies() {
    let d = common::start(&["--workers", "3"]);
    // Enough connections that every worker very likely holds some; each has a reply
    // in flight when the signal comes.
    let mut clients: Vec<TcpStream> = (0..24)
        .map(|i| client(d.addr, &format!("worker{i}\r\n")))
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let log_path = d.log.clone();
    let (code, stderr) = d.signal_and_wait(libc::SIGTERM);
    assert_eq!(code, 0, "{stderr}");
    for (i, s) in clients.iter_mut().enumerate() {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        assert_eq!(got, format!("WORKER{i}\r\n").into_bytes(), "client {i}");
    }
    let log = common::read_log(&log_path);
    assert_clean_end(&log, 24);
}

#[test]
fn accept_failing_with_emfile_backs_off_instead_of_spinning() {
    if common::wrapped() {
        eprintln!("valgrind keeps descriptors of its own under a low RLIMIT_NOFILE; skipped");
        return;
    }
    use std::os::unix::process::CommandExt;
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let log = dir.join(format!("eventd-emfile-{}.log", std::process::id()));
    let _ = std::fs::remove_file(&log);
    let mut cmd = common::command();
    cmd.args([
        "--listen",
        "127.0.0.1:0",
        "--max-connections",
        "100",
        "--log-file",
    ])
    .arg(&log)
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null());
    // SAFETY: between fork and exec only setrlimit runs, which is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 24,
                rlim_max: 24,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn().unwrap();
    let d = common::Daemon::wait_for(child, log);

    // More clients than descriptors: accept() fails with EMFILE for the rest.
    let mut clients: Vec<(TcpStream, bool)> = (0..30)
        .map(|i| (client(d.addr, &format!("client{i}\r\n")), false))
        .collect();
    let mut served = Vec::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        served.extend(answered_now(&mut clients, Duration::from_millis(10)));
    }
    assert!(
        !served.is_empty() && served.len() < 30,
        "with 24 descriptors some, not all, are served: {}",
        served.len()
    );
    let logged = common::read_log(&d.log);
    assert!(
        logged
            .iter()
            .any(|l| l == "Error: cannot accept: Too many open files (os error 24)"),
        "{logged:?}"
    );
    let used = common::cpu_used_over(d.child.id(), Duration::from_secs(2));
    assert!(
        used < 0.10,
        "{used:.3} s of CPU in 2 s with accept() failing"
    );

    // Served clients leave: the rest are accepted once descriptors are free again.
    for &i in &served {
        clients[i].0.write_all(b"QUIT\r\n").unwrap();
    }
    let start = Instant::now();
    while clients.iter().any(|c| !c.1) && start.elapsed() < Duration::from_secs(15) {
        for i in answered_now(&mut clients, Duration::from_millis(10)) {
            clients[i].0.write_all(b"QUIT\r\n").unwrap();
        }
    }
    let missing: Vec<usize> = (0..30).filter(|&i| !clients[i].1).collect();
    assert!(missing.is_empty(), "never served: {missing:?}");
}

#[test]
fn reuse_port_lets_several_processes_share_one_port() {
    let first = common::start(&["--reuse-port"]);
    let port = first.addr.to_string();
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let start_on_port = |extra: &[&str]| {
        let log = dir.join(format!(
            "eventd-reuse-{}-{}.log",
            std::process::id(),
            common::unique()
        ));
        let mut cmd = common::command();
        cmd.args(["--listen", &port, "--log-file"])
            .arg(&log)
            .args(extra)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        (cmd.spawn().expect("start eventd"), log)
    };

    // Without the flag, the port is taken: a clear error and a failed exit.
    let (mut refused, _) = start_on_port(&[]);
    let code = common::wait_timeout(&mut refused, Duration::from_secs(15));
    let mut err = String::new();
    refused
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_ne!(code, Some(0), "{err}");
    assert!(err.contains("cannot listen on"), "{err}");

    let (child, log) = start_on_port(&["--reuse-port"]);
    let second = common::Daemon::wait_for(child, log);
    assert_eq!(
        listeners(first.addr),
        2,
        "two processes listening on one port"
    );

    // The kernel spreads new connections over both processes; every one is answered.
    let mut clients = clients(first.addr, 40);
    let served = served(&mut clients, 40);
    assert_eq!(served.len(), 40, "answered: {served:?}");
    let opened = |d: &common::Daemon| {
        common::read_log(&d.log)
            .iter()
            .filter(|l| l.starts_with("New connection"))
            .count()
    };
    let (a, b) = (opened(&first), opened(&second));
    assert_eq!(a + b, 40, "each connection opened in one process");
    assert!(
        a > 0 && b > 0,
        "both processes took connections: {a} and {b}"
    );
}
