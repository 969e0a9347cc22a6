//! Plays a session against one server and records what it showed: the bytes each
//! connection received, whether and when the server closed it, and the log lines.

use crate::server::Server;
use crate::session::{Op, Session};
use anyhow::{Context, Result};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    pub conns: Vec<ConnSeen>,
    /// The log lines written during the session (timestamps and ids as printed).
    pub log: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ConnSeen {
    pub received: Vec<u8>,
    /// The step after which the server's close (end of stream or reset) was seen;
    /// `steps.len()` stands for the end, after the client closed what was left.
    pub server_closed: Option<usize>,
    pub reset: bool,
}

struct Client {
    stream: Option<TcpStream>,
    seen: ConnSeen,
}

/// How long nothing must arrive before a step counts as answered, and the most a step
/// may take.
#[derive(Clone, Copy)]
pub struct Timing {
    pub quiet: Duration,
    pub cap: Duration,
}

pub fn run(server: &Server, session: &Session, t: Timing) -> Result<Observed> {
    let log_start = server.log_len();
    let mut clients: Vec<Client> = Vec::new();
    for c in 0..session.conns {
        let stream = TcpStream::connect(("127.0.0.1", server.port))
            .with_context(|| format!("connecting to the {} (connection {c})", server.name))?;
        stream.set_nodelay(true)?;
        stream.set_nonblocking(true)?;
        clients.push(Client {
            stream: Some(stream),
            seen: ConnSeen::default(),
        });
        // Accepted, and logged, in this order.
        settle(server, &mut clients, usize::MAX, t);
    }
    for (i, step) in session.steps.iter().enumerate() {
        let client = &mut clients[step.conn];
        match &step.op {
            Op::Send(bytes) => {
                if let Some(s) = client.stream.as_mut() {
                    write_all(s, bytes, &mut client.seen, i, t.cap);
                }
            }
            Op::HalfClose => {
                if let Some(s) = &client.stream {
                    let _ = s.shutdown(Shutdown::Write);
                }
            }
            Op::Close => client.stream = None,
        }
        settle(server, &mut clients, i, t);
    }
    for c in &mut clients {
        c.stream = None;
    }
    // The closes are logged after the client's; wait until the log is quiet too.
    let end = Instant::now();
    while end.elapsed() < t.cap {
        let last = server.last_log().unwrap_or(end);
        if end.elapsed() >= t.quiet && last.elapsed() >= t.quiet {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let n = session.steps.len();
    let mut conns: Vec<ConnSeen> = clients.into_iter().map(|c| c.seen).collect();
    for c in &mut conns {
        c.server_closed = c.server_closed.map(|s| s.min(n));
    }
    Ok(Observed {
        conns,
        log: server.log_from(log_start),
    })
}

/// Writes without blocking for long: a server that answers while it reads must be read
/// meanwhile, or both could wait on full buffers.
fn write_all(s: &mut TcpStream, mut bytes: &[u8], seen: &mut ConnSeen, step: usize, cap: Duration) {
    let start = Instant::now();
    while !bytes.is_empty() && start.elapsed() < cap {
        match s.write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                read_some(s, seen, step);
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(_) => {
                seen.server_closed.get_or_insert(step);
                return;
            }
        }
    }
}

/// Reads what is there; false once the server has closed.
fn read_some(s: &mut TcpStream, seen: &mut ConnSeen, step: usize) -> bool {
    let mut buf = [0u8; 65536];
    let mut got = false;
    loop {
        match s.read(&mut buf) {
            Ok(0) => {
                seen.server_closed.get_or_insert(step);
                return got;
            }
            Ok(n) => {
                seen.received.extend_from_slice(&buf[..n]);
                got = true;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return got,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => {
                seen.server_closed.get_or_insert(step);
                seen.reset = true;
                return got;
            }
        }
    }
}

/// Reads every connection until nothing has arrived, and the log has not moved, for
/// `quiet`.
fn settle(server: &Server, clients: &mut [Client], step: usize, t: Timing) {
    let start = Instant::now();
    let mut last = start;
    let log_at = server.log_len();
    let mut log_seen = log_at;
    while start.elapsed() < t.cap {
        for c in clients.iter_mut() {
            if c.seen.server_closed.is_some() {
                continue;
            }
            if let Some(s) = c.stream.as_mut() {
                let before = c.seen.received.len();
                read_some(s, &mut c.seen, step);
                if c.seen.received.len() != before || c.seen.server_closed.is_some() {
                    last = Instant::now();
                }
            }
        }
        let now_log = server.log_len();
        if now_log != log_seen {
            log_seen = now_log;
            last = Instant::now();
        }
        if last.elapsed() >= t.quiet {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}
