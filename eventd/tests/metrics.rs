//! `--metrics`: Prometheus counters served by evhttp from the daemon's own loop.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Starts eventd with `--metrics 127.0.0.1:0` (and `args`); the daemon and the metrics
/// address it printed on standard error.
fn start(args: &[&str]) -> (common::Daemon, SocketAddr) {
    let mut all = vec!["--metrics", "127.0.0.1:0"];
    all.extend_from_slice(args);
    let mut d = common::start(&all);
    let mut err = BufReader::new(d.child.stderr.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(err.read_line(&mut line).unwrap() > 0, "no metrics line");
        if let Some(rest) = line.trim().strip_prefix("eventd: metrics on http://") {
            let addr = rest.trim_end_matches("/metrics").parse().unwrap();
            // Keep draining stderr so the daemon never blocks on it.
            std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
            return (d, addr);
        }
    }
}

/// GET `path`; the status line and the body.
fn get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_owned(), body.to_owned())
}

/// The samples of /metrics, by name (with labels), checked to be well-formed.
fn scrape(addr: SocketAddr) -> HashMap<String, u64> {
    let (status, body) = get(addr, "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK");
    let mut samples = HashMap::new();
    for line in body.lines() {
        if line.starts_with("# HELP ") || line.starts_with("# TYPE ") {
            continue;
        }
        let (name, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad line {line:?}"));
        samples.insert(
            name.to_owned(),
            value
                .parse()
                .unwrap_or_else(|_| panic!("bad value {line:?}")),
        );
    }
    samples
}

fn talk(addr: SocketAddr, send: &[u8], want: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(send).unwrap();
    let mut got = vec![0; want.len()];
    s.read_exact(&mut got).unwrap();
    assert_eq!(got, want);
    s
}

fn counts_what_happened(args: &[&str]) {
    let (d, m) = start(args);
    let base = scrape(m);
    assert_eq!(base["eventd_connections_total"], 0);
    assert_eq!(base["eventd_listener_paused"], 0);
    assert!(base["eventd_rss_bytes"] > 1 << 20);
    let mut a = talk(d.addr, b"hello\r\n", b"HELLO\r\n");
    let _b = talk(d.addr, b"one\r\ntwo\r\n", b"ONE\r\nTWO\r\n");
    // Silent messages count as messages, not replies. (The next line waits until the
    // daemon has read it: two lines in one read would be one message.)
    a.write_all(b"   0  \r\n").unwrap();
    common::eventually(
        Duration::from_secs(10),
        || scrape(m)["eventd_messages_total"] == 3,
        || format!("{:?}", scrape(m)),
    );
    a.write_all(b"world\r\n").unwrap();
    let mut got = [0; 7];
    a.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"WORLD\r\n");
    a.write_all(b"quit\r\n").unwrap();
    assert_eq!(a.read(&mut got).unwrap(), 0);
    // From here `a` lingers (its FIN is not sent yet) for LINGER, 2 s.
    let quit_at = std::time::Instant::now();
    let c = talk(d.addr, b"bye\r\n", b"BYE\r\n");
    drop(c); // end of stream
             // `c` is counted as closed at its EOF, and stops being active once its own linger
             // has seen the peer's end too: wait for both.
    common::eventually(
        Duration::from_secs(10),
        || {
            let s = scrape(m);
            s["eventd_closes_total{reason=\"quit\"}"] == 1
                && s["eventd_closes_total{reason=\"eof\"}"] == 1
                && s["eventd_connections_active"] <= 2
        },
        || format!("{:?}", scrape(m)),
    );
    let s = scrape(m);
    assert_eq!(s["eventd_connections_total"], 3);
    assert_eq!(s["eventd_messages_total"], 6, "{s:?}"); // two lines in one read are one message
    assert_eq!(s["eventd_replies_total"], 4);
    assert_eq!(
        s["eventd_bytes_received_total"],
        (7 + 10 + 8 + 7 + 6 + 5) as u64
    );
    assert_eq!(s["eventd_bytes_sent_total"], (7 + 10 + 7 + 5) as u64);
    assert_eq!(s["eventd_closes_total{reason=\"error\"}"], 0);
    assert_eq!(s["eventd_closes_total{reason=\"timeout\"}"], 0);
    // `_b` is open, and `a` lingers unless its 2 s are up (a slow run, under valgrind).
    let active = s["eventd_connections_active"];
    if quit_at.elapsed() < Duration::from_millis(1500) {
        assert_eq!(active, 2, "{s:?}");
    } else {
        assert!((1..=2).contains(&active), "{s:?}");
    }
    assert_eq!(get(m, "/healthz"), ("HTTP/1.1 200 OK".into(), "ok".into()));
    assert!(get(m, "/other").0.starts_with("HTTP/1.1 404"));
    // The shutdown closes the last one with reason "shutdown" (its counter is not
    // scraped after the end, but the shutdown must be clean with the endpoint up).
    let (code, _) = d.signal_and_wait(libc::SIGTERM);
    assert_eq!(code, 0);
}

#[test]
fn counts_connections_messages_bytes_and_closes() {
    counts_what_happened(&[]);
}

#[test]
fn sums_over_workers() {
    counts_what_happened(&["--workers", "2"]);
}

#[test]
fn shows_the_listener_paused_at_the_limit_and_timeouts() {
    let (d, m) = start(&["--max-connections", "1", "--timeout", "1"]);
    let _a = talk(d.addr, b"abc\r\n", b"ABC\r\n");
    let mut waiting = TcpStream::connect(d.addr).unwrap();
    waiting.write_all(b"def\r\n").unwrap();
    assert_eq!(scrape(m)["eventd_listener_paused"], 1);
    // The first times out; the second is then served.
    waiting
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut got = [0; 5];
    waiting.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"DEF\r\n");
    let s = scrape(m);
    assert_eq!(s["eventd_closes_total{reason=\"timeout\"}"], 1);
    assert_eq!(s["eventd_listener_paused"], 1);
}

#[test]
fn a_taken_metrics_port_fails_the_start() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = common::command()
        .args(["--listen", "127.0.0.1:0", "--metrics", &addr])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("cannot serve metrics on {addr}")),
        "{err}"
    );
}
