//! Replays the recorded transcripts of the PHP original (tests/data/visible.json) against
//! eventd: bytes on the wire, which connections the server closed, and the log messages,
//! over plain TCP or, with feature `tls`, over TLS. The same rules as the harness that
//! recorded them: after each step, wait for the expected bytes (up to 2 s) or, when
//! nothing is expected, watch a 0.3 s window.
#![allow(dead_code)]

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

/// How the test clients reach the daemon.
#[derive(Clone)]
pub enum Transport {
    Plain,
    /// TLS, verifying the daemon's certificate for `localhost` with this connector.
    #[cfg(feature = "tls")]
    Tls(openssl::ssl::SslConnector),
}

/// One client connection. Over TLS the handshake runs without blocking (a connection
/// waiting in the backlog at the connection limit cannot finish it), and what is sent
/// before it completes is held until then.
enum Stream {
    Plain(TcpStream),
    #[cfg(feature = "tls")]
    Handshaking(
        Option<openssl::ssl::MidHandshakeSslStream<TcpStream>>,
        Vec<u8>,
        RawFd,
    ),
    #[cfg(feature = "tls")]
    Tls(openssl::ssl::SslStream<TcpStream>),
    /// The handshake failed: counts as closed by the server.
    #[cfg(feature = "tls")]
    Failed(RawFd),
}

impl Stream {
    fn connect(addr: SocketAddr, t: &Transport) -> Stream {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
        s.set_nonblocking(true).unwrap();
        match t {
            Transport::Plain => Stream::Plain(s),
            #[cfg(feature = "tls")]
            Transport::Tls(c) => {
                let fd = s.as_raw_fd();
                match c.connect("localhost", s) {
                    Ok(tls) => Stream::Tls(tls),
                    Err(openssl::ssl::HandshakeError::WouldBlock(mid)) => {
                        Stream::Handshaking(Some(mid), Vec::new(), fd)
                    }
                    Err(_) => Stream::Failed(fd),
                }
            }
        }
    }

    fn fd(&self) -> RawFd {
        match self {
            Stream::Plain(s) => s.as_raw_fd(),
            #[cfg(feature = "tls")]
            Stream::Handshaking(_, _, fd) | Stream::Failed(fd) => *fd,
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.get_ref().as_raw_fd(),
        }
    }

    fn send(&mut self, data: &[u8]) {
        match self {
            Stream::Plain(s) => s.write_all(data).unwrap(),
            #[cfg(feature = "tls")]
            Stream::Handshaking(_, held, _) => held.extend_from_slice(data),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => write_all_tls(s, data),
            #[cfg(feature = "tls")]
            Stream::Failed(_) => {}
        }
    }

    /// Moves a handshake on; true while data may be waiting inside the TLS session.
    fn progress(&mut self) -> bool {
        #[cfg(feature = "tls")]
        {
            if let Stream::Handshaking(mid, held, fd) = self {
                let fd = *fd;
                let held = std::mem::take(held);
                match mid.take().expect("present").handshake() {
                    Ok(mut tls) => {
                        write_all_tls(&mut tls, &held);
                        *self = Stream::Tls(tls);
                    }
                    Err(openssl::ssl::HandshakeError::WouldBlock(m)) => {
                        *self = Stream::Handshaking(Some(m), held, fd)
                    }
                    Err(_) => *self = Stream::Failed(fd),
                }
            }
            if let Stream::Tls(s) = self {
                return s.ssl().pending() > 0;
            }
        }
        false
    }

    /// What arrived: `Some(empty)` when the server closed (or reset) the connection.
    fn recv(&mut self) -> Option<Vec<u8>> {
        let mut buf = [0u8; 65536];
        let r = match self {
            Stream::Plain(s) => s.read(&mut buf),
            #[cfg(feature = "tls")]
            Stream::Handshaking(..) => return None,
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.read(&mut buf),
            #[cfg(feature = "tls")]
            Stream::Failed(_) => return Some(Vec::new()),
        };
        match r {
            Ok(0) => Some(Vec::new()),
            Ok(n) => Some(buf[..n].to_vec()),
            Err(e) if e.kind() == ErrorKind::WouldBlock => None,
            Err(_) => Some(Vec::new()), // reset: counts as closed
        }
    }
}

#[cfg(feature = "tls")]
fn write_all_tls(s: &mut openssl::ssl::SslStream<TcpStream>, mut data: &[u8]) {
    while !data.is_empty() {
        match s.write(data) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(1))
            }
            Err(_) => return, // the server closed: the next read says so
        }
    }
}

const WINDOW: Duration = Duration::from_millis(300);
const SLACK: Duration = Duration::from_secs(2);

fn latin1(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| u8::try_from(u32::from(c)).expect("latin-1 text"))
        .collect()
}

struct Clients {
    addr: SocketAddr,
    transport: Transport,
    socks: BTreeMap<u64, Stream>,
    closed: BTreeSet<u64>,
}

type Got = (BTreeMap<u64, Vec<u8>>, BTreeSet<u64>);

impl Clients {
    fn sock(&mut self, i: u64) -> &mut Stream {
        let (addr, t) = (self.addr, &self.transport);
        self.socks
            .entry(i)
            .or_insert_with(|| Stream::connect(addr, t))
    }

    fn recv(sock: &mut Stream) -> Option<Vec<u8>> {
        sock.recv()
    }

    fn drain(&mut self, expect: Option<&Got>) -> Got {
        let mut got: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
        let mut closed = BTreeSet::new();
        let deadline = Instant::now() + if expect.is_some() { SLACK } else { WINDOW };
        let mut quiet_since = Instant::now();
        loop {
            let live: Vec<u64> = self
                .socks
                .keys()
                .copied()
                .filter(|i| !self.closed.contains(i) && !closed.contains(i))
                .collect();
            let buffered: Vec<bool> = live
                .iter()
                .map(|i| self.socks.get_mut(i).unwrap().progress())
                .collect();
            let mut fds: Vec<libc::pollfd> = live
                .iter()
                .map(|i| libc::pollfd {
                    fd: self.socks[i].fd(),
                    events: libc::POLLIN,
                    revents: 0,
                })
                .collect();
            let wait = if buffered.contains(&true) { 0 } else { 50 };
            // SAFETY: fds is a valid array of pollfd for the call.
            unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, wait) };
            for (k, b) in buffered.iter().enumerate() {
                if *b {
                    fds[k].revents |= libc::POLLIN;
                }
            }
            for (k, i) in live.iter().enumerate() {
                if fds[k].revents == 0 {
                    continue;
                }
                match Self::recv(self.socks.get_mut(i).unwrap()) {
                    Some(d) if d.is_empty() => {
                        closed.insert(*i);
                    }
                    Some(d) => {
                        got.entry(*i).or_default().extend(d);
                        quiet_since = Instant::now();
                    }
                    None => {}
                }
            }
            if let Some((want, want_closed)) = expect {
                let done = want
                    .iter()
                    .all(|(k, v)| got.get(k).map_or(v.is_empty(), |g| g == v))
                    && want_closed.is_subset(&closed);
                let overshoot = want
                    .iter()
                    .any(|(k, v)| got.get(k).is_some_and(|g| g.len() > v.len()));
                if (done && quiet_since.elapsed() >= Duration::from_millis(50)) || overshoot {
                    std::thread::sleep(Duration::from_millis(100));
                    return self.finish(got, closed);
                }
            }
            if Instant::now() >= deadline {
                return self.finish(got, closed);
            }
        }
    }

    fn finish(&mut self, mut got: BTreeMap<u64, Vec<u8>>, mut closed: BTreeSet<u64>) -> Got {
        for (i, s) in self.socks.iter_mut() {
            if self.closed.contains(i) || closed.contains(i) {
                continue;
            }
            match Self::recv(s) {
                Some(d) if d.is_empty() => {
                    closed.insert(*i);
                }
                Some(d) => got.entry(*i).or_default().extend(d),
                None => {}
            }
        }
        self.closed.extend(closed.iter().copied());
        got.retain(|_, v| !v.is_empty());
        (got, closed)
    }
}

fn expected(step: &Value) -> Got {
    let recv = step["recv"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.parse().unwrap(), latin1(v.as_str().unwrap())))
                .collect()
        })
        .unwrap_or_default();
    let closed = step["server_closed"]
        .as_array()
        .map(|a| a.iter().map(|v| v.as_u64().unwrap()).collect())
        .unwrap_or_default();
    (recv, closed)
}

fn show(g: &Got) -> String {
    let recv: Vec<String> =
        g.0.iter()
            .map(|(k, v)| format!("{k}: {:?}", String::from_utf8_lossy(&v[..v.len().min(80)])))
            .collect();
    format!("recv {{{}}} closed {:?}", recv.join(", "), g.1)
}

/// Replays one case; the differences from the recording, if any.
pub fn run_case(addr: SocketAddr, transport: &Transport, case: &Value) -> Vec<String> {
    let mut c = Clients {
        addr,
        transport: transport.clone(),
        socks: BTreeMap::new(),
        closed: BTreeSet::new(),
    };
    let mut diffs = Vec::new();
    for (n, step) in case["steps"].as_array().unwrap().iter().enumerate() {
        let conn = step["conn"].as_u64().unwrap_or(0);
        if let Some(secs) = step["sleep"].as_f64() {
            std::thread::sleep(Duration::from_secs_f64(secs));
        } else if step["close"].as_bool() == Some(true) {
            c.socks.remove(&conn);
            c.closed.insert(conn);
            continue;
        } else if step["open"].as_bool() == Some(true) {
            c.sock(conn);
        } else {
            c.sock(conn).send(&latin1(step["send"].as_str().unwrap()));
        }
        let want = expected(step);
        let expect = (!want.0.is_empty() || !want.1.is_empty()).then_some(&want);
        let got = c.drain(expect);
        if got != want {
            diffs.push(format!(
                "step {n}: expected {} got {}",
                show(&want),
                show(&got)
            ));
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    diffs
}

/// The recorded transcripts, and their settings: the timeout and the connection limit.
pub fn transcript() -> (Value, String, String) {
    // From eventd's tests or from the workspace root's.
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = [
        here.join("tests/data/visible.json"),
        here.join("../tests/data/visible.json"),
    ]
    .into_iter()
    .find(|p| p.exists())
    .expect("tests/data/visible.json");
    let tr: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let timeout = tr["config"]["timeout"].as_u64().unwrap().to_string();
    let max = tr["config"]["max_connections"]
        .as_u64()
        .unwrap()
        .to_string();
    (tr, timeout, max)
}

/// Starts eventd with the transcript's settings (and `args`), replays every case over
/// `transport`, and compares the log; panics with every difference.
pub fn replay(transport: Transport, args: &[&str]) {
    let (tr, timeout, max) = transcript();
    let mut all = vec!["--timeout", &timeout, "--max-connections", &max];
    all.extend_from_slice(args);
    let d = super::start(&all);
    check(&tr, d.addr, &transport, || super::read_log(&d.log));
}

/// Replays every case of `tr` against the server at `addr`, set up with the
/// transcript's settings, and compares the log (`log` reads it, timestamps removed);
/// panics with every difference.
pub fn check(tr: &Value, addr: SocketAddr, transport: &Transport, log: impl Fn() -> Vec<String>) {
    // The recorder checked the port with one connect-and-close before the first case; the
    // PHP original gave it id 1, and the recorded log counts on it.
    drop(TcpStream::connect(addr).unwrap());
    std::thread::sleep(Duration::from_millis(300));

    let mut failures = Vec::new();
    let cases = tr["cases"].as_array().unwrap();
    for case in cases {
        let diffs = run_case(addr, transport, case);
        let name = case["name"].as_str().unwrap();
        println!("{} {name}", if diffs.is_empty() { "ok  " } else { "FAIL" });
        if !diffs.is_empty() {
            failures.push(format!("{name}:\n    {}", diffs.join("\n    ")));
        }
    }

    std::thread::sleep(Duration::from_millis(300));
    let keep = |l: &&str| {
        l.starts_with("New connection")
            || l.starts_with("Closing connection")
            || l.starts_with("Error: ")
    };
    let logs = log();
    let got: Vec<&str> = logs.iter().map(String::as_str).filter(keep).collect();
    let want: Vec<&str> = tr["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .filter(keep)
        .collect();
    assert!(
        want.len() > 20,
        "the transcript's log is too short to mean anything"
    );
    if got != want {
        let i = got
            .iter()
            .zip(&want)
            .position(|(a, b)| a != b)
            .unwrap_or(got.len().min(want.len()));
        failures.push(format!(
            "log differs at line {i}: expected {:?} got {:?}",
            want.get(i),
            got.get(i)
        ));
    }
    println!(
        "{} passed, {} failed",
        cases.len() + 1 - failures.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
