//! Operating the daemon: SIGHUP reopens the log file (for logrotate) without losing or
//! splitting a line; `--read-high-watermark` cuts reads as libevent's watermark does.

mod common;
use common::{eventually, read_log, start};
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// One client's whole session: a message, its reply, QUIT, the server's close.
fn session(addr: std::net::SocketAddr) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"rotate me\r\n").unwrap();
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line).unwrap();
    assert_eq!(line, "ROTATE ME\r\n");
    s.write_all(b"quit\r\n").unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(rest.is_empty());
}

#[test]
fn sighup_reopens_the_log_file_and_loses_no_line() {
    let d = start(&[]);
    let addr = d.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let load = std::thread::spawn(move || {
        let mut n = 0u64;
        while !s.load(Ordering::SeqCst) {
            session(addr);
            n += 1;
        }
        n
    });
    std::thread::sleep(Duration::from_millis(300));
    // What logrotate does: rename the file, then tell the daemon.
    let rotated = d.log.with_extension("log.1");
    std::fs::rename(&d.log, &rotated).unwrap();
    // SAFETY: the pid is our child's, alive (Daemon reaps it on drop).
    assert_eq!(unsafe { libc::kill(d.child.id() as i32, libc::SIGHUP) }, 0);
    eventually(
        Duration::from_secs(10),
        || read_log(&d.log).iter().any(|l| l == "Reopened log file..."),
        || "no reopen logged".into(),
    );
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    let sessions = load.join().unwrap();
    let log = d.log.clone();
    let (code, stderr) = d.signal_and_wait(libc::SIGTERM);
    assert_eq!(code, 0, "{stderr}");

    let old = read_log(&rotated);
    let new = read_log(&log);
    assert!(old[0].starts_with("Listening on "), "{old:?}");
    // The first line of the new file is the reopen itself: every earlier line went to
    // the old file, whole.
    assert_eq!(new[0], "Reopened log file...");
    assert_eq!(new.last().unwrap(), "Daemon is shutting down...");
    let all: Vec<&String> = old.iter().chain(&new).collect();
    assert!(sessions >= 2, "only {sessions} sessions ran");
    for id in 1..=sessions {
        for what in ["New connection", "Closing connection"] {
            let line = format!("{what} (id = {id})...");
            let n = all.iter().filter(|l| ***l == line).count();
            assert_eq!(n, 1, "{line} appears {n} times");
        }
    }
    let expected = 2 + 2 * sessions as usize + 1; // listening, reopen, the sessions, shutdown
    assert_eq!(all.len(), expected, "{all:?}");
}

/// The rules decide after each read, so the watermark shows in the replies: with
/// `--read-high-watermark 7`, "hello\r\nabc" sent at once is read 7 bytes first, which
/// end in CRLF and are answered at once. With the default (16 MiB, above what one read
/// takes, so eventd leaves it unset), the ten bytes are one read, which does not end in
/// CRLF and waits for the rest.
#[test]
fn a_read_high_watermark_below_one_read_cuts_the_reads() {
    for watermark in [Some("7"), None] {
        let d = match watermark {
            Some(w) => start(&["--read-high-watermark", w]),
            None => start(&[]),
        };
        let mut s = TcpStream::connect(d.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"hello\r\nabc").unwrap();
        let mut first = [0u8; 7];
        if watermark.is_some() {
            s.read_exact(&mut first).unwrap();
            assert_eq!(&first, b"HELLO\r\n");
        } else {
            std::thread::sleep(Duration::from_millis(300));
            s.set_nonblocking(true).unwrap();
            let early = s.read(&mut first);
            assert!(
                matches!(&early, Err(e) if e.kind() == ErrorKind::WouldBlock),
                "a reply before the CRLF: {early:?}"
            );
            s.set_nonblocking(false).unwrap();
        }
        s.write_all(b"\r\n").unwrap();
        let want: &[u8] = match watermark {
            Some(_) => b"ABC\r\n",
            None => b"HELLO\r\nABC\r\n",
        };
        let mut rest = vec![0u8; want.len()];
        s.read_exact(&mut rest).unwrap();
        assert_eq!(rest, want, "watermark {watermark:?}");
    }
}
