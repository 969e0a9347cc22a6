//! tls-loadgen: loadgen's ping-pong over TLS (bench feature `tls`).
//!
//! ```text
//! tls-loadgen --addr 127.0.0.1:1234 [--connections N] [--duration SECS]
//! ```
//! N connections, each a TLS session (the server's certificate is not checked: the
//! benchmark measures the servers, not the PKI), looping "hello world\r\n" ->
//! "HELLO WORLD\r\n". Prints `# connected N in S s` once every handshake is done, then
//! the line of `key=value` pairs loadgen prints (mode=pingpong ... per_second, p50_us,
//! p99_us, errors, connected), so the matrix reads both alike.
//!
//! One thread, edge-triggered epoll, non-blocking sockets, OpenSSL driven directly: a
//! request is one `SSL_write`, a reply one or two `SSL_read`s.

use openssl::ssl::{
    ErrorCode, HandshakeError, MidHandshakeSslStream, SslConnector, SslMethod, SslStream,
    SslVerifyMode,
};
use socket2::{Domain, Socket, Type};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

const REQUEST: &[u8] = b"hello world\r\n";
const REPLY_LEN: usize = 13;
const CONNECTING_AT_ONCE: usize = 128;

/// A non-blocking socket as `Read`/`Write` for OpenSSL.
struct Fd(OwnedFd);

impl Read for Fd {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: buf is valid for its length; the descriptor is ours.
        let n = unsafe { libc::read(self.0.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }
}

impl Write for Fd {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // SAFETY: buf is valid for its length; the descriptor is ours.
        let n = unsafe { libc::write(self.0.as_raw_fd(), buf.as_ptr().cast(), buf.len()) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

enum State {
    Connecting(Fd),
    Handshaking(MidHandshakeSslStream<Fd>),
    Ready {
        s: SslStream<Fd>,
        sent: Instant,
        got: usize,
    },
    Gone,
}

struct Args {
    addr: SocketAddr,
    connections: usize,
    duration: Duration,
    latency_out: Option<std::path::PathBuf>,
}

/// The command line: loadgen's flags, of which TLS takes ping-pong on one thread.
#[derive(clap::Parser)]
#[command(about = "Ping-pong over TLS (the matrix's --tls load generator)")]
struct Cli {
    #[arg(long, default_value = "127.0.0.1:1234")]
    addr: SocketAddr,
    #[arg(long, default_value_t = 100)]
    connections: usize,
    /// Seconds.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Only `pingpong`.
    #[arg(long, default_value = "pingpong", value_parser = ["pingpong"])]
    mode: String,
    /// Only 1.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1))]
    threads: u32,
    /// Also write the latency distribution here (bench::latency's format).
    #[arg(long)]
    latency_out: Option<std::path::PathBuf>,
}

fn parse() -> Result<Args, String> {
    let c = <Cli as clap::Parser>::parse();
    if !(c.duration.is_finite() && c.duration >= 0.0) {
        return Err("--duration: seconds, at least 0".into());
    }
    let a = Args {
        addr: c.addr,
        connections: c.connections,
        duration: Duration::from_secs_f64(c.duration),
        latency_out: c.latency_out,
    };
    if a.connections == 0 {
        return Err("--connections must be positive".into());
    }
    Ok(a)
}

struct Run {
    epoll: OwnedFd,
    conns: Vec<State>,
    to_open: Vec<usize>,
    connecting: usize,
    connected: usize,
    measuring: bool,
    done: u64,
    errors: u64,
    latencies: Vec<u32>,
    connector: SslConnector,
    addr: SocketAddr,
}

impl Run {
    fn open(&mut self, slot: usize) {
        let sock = Socket::new(
            Domain::for_address(self.addr),
            Type::STREAM.nonblocking(),
            None,
        );
        let Ok(sock) = sock else {
            self.errors += 1;
            return;
        };
        match sock.connect(&self.addr.into()) {
            Err(e) if e.raw_os_error() != Some(libc::EINPROGRESS) => {
                self.errors += 1;
                return;
            }
            _ => {}
        }
        let fd = OwnedFd::from(sock);
        let mut ev = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32,
            u64: slot as u64,
        };
        // SAFETY: both descriptors are open; ev is valid.
        if unsafe {
            libc::epoll_ctl(
                self.epoll.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                fd.as_raw_fd(),
                &mut ev,
            )
        } < 0
        {
            self.errors += 1;
            return;
        }
        self.connecting += 1;
        self.conns[slot] = State::Connecting(Fd(fd));
    }

    fn fail(&mut self, slot: usize) {
        if matches!(
            self.conns[slot],
            State::Connecting(_) | State::Handshaking(_)
        ) {
            self.connecting -= 1;
        }
        self.conns[slot] = State::Gone;
        self.errors += 1;
    }

    fn send(&mut self, slot: usize) {
        if let State::Ready { s, sent, got } = &mut self.conns[slot] {
            *sent = Instant::now();
            *got = 0;
            if s.ssl_write(REQUEST).map_or(true, |n| n != REQUEST.len()) {
                self.fail(slot);
            }
        }
    }

    fn handshake(&mut self, slot: usize, r: Result<SslStream<Fd>, HandshakeError<Fd>>) {
        match r {
            Ok(s) => {
                self.connecting -= 1;
                self.connected += 1;
                self.conns[slot] = State::Ready {
                    s,
                    sent: Instant::now(),
                    got: 0,
                };
                self.send(slot);
                self.on_readable(slot);
            }
            Err(HandshakeError::WouldBlock(m)) => self.conns[slot] = State::Handshaking(m),
            Err(_) => self.fail(slot),
        }
    }

    fn on_event(&mut self, slot: usize, events: u32) {
        match std::mem::replace(&mut self.conns[slot], State::Gone) {
            State::Connecting(fd) => {
                if events & (libc::EPOLLERR | libc::EPOLLHUP) as u32 != 0 {
                    self.conns[slot] = State::Connecting(fd);
                    return self.fail(slot);
                }
                if events & libc::EPOLLOUT as u32 == 0 {
                    self.conns[slot] = State::Connecting(fd);
                    return;
                }
                let ssl = self
                    .connector
                    .configure()
                    .and_then(|c| c.verify_hostname(false).into_ssl("localhost"));
                match ssl {
                    Ok(ssl) => {
                        let r = ssl.connect(fd);
                        self.handshake(slot, r);
                    }
                    Err(_) => {
                        self.conns[slot] = State::Gone;
                        self.connecting -= 1;
                        self.errors += 1;
                    }
                }
            }
            State::Handshaking(m) => {
                let r = m.handshake();
                self.handshake(slot, r);
            }
            other => {
                self.conns[slot] = other;
                if events & libc::EPOLLIN as u32 != 0 {
                    self.on_readable(slot);
                } else if events & (libc::EPOLLERR | libc::EPOLLHUP) as u32 != 0 {
                    self.fail(slot);
                }
            }
        }
    }

    fn on_readable(&mut self, slot: usize) {
        let mut buf = [0u8; 4096];
        loop {
            let State::Ready { s, sent, got } = &mut self.conns[slot] else {
                return;
            };
            match s.ssl_read(&mut buf) {
                Ok(0) => return self.fail(slot),
                Ok(n) => {
                    *got += n;
                    if *got >= REPLY_LEN {
                        if self.measuring {
                            self.done += 1;
                            self.latencies
                                .push(sent.elapsed().as_micros().min(u32::MAX as u128) as u32);
                        }
                        self.send(slot);
                    }
                }
                Err(e) if e.code() == ErrorCode::WANT_READ => return,
                Err(_) => return self.fail(slot),
            }
        }
    }

    fn poll(&mut self, events: &mut [libc::epoll_event], timeout_ms: i32) {
        // SAFETY: events is a valid buffer of events.len() entries.
        let n = unsafe {
            libc::epoll_wait(
                self.epoll.as_raw_fd(),
                events.as_mut_ptr(),
                events.len() as i32,
                timeout_ms,
            )
        };
        for ev in &events[..n.max(0) as usize] {
            let (slot, bits) = (ev.u64 as usize, ev.events);
            self.on_event(slot, bits);
        }
        while self.connecting < CONNECTING_AT_ONCE {
            match self.to_open.pop() {
                Some(slot) => self.open(slot),
                None => break,
            }
        }
    }
}

fn main() {
    let a = parse().unwrap_or_else(|e| {
        eprintln!("tls-loadgen: {e}");
        std::process::exit(2);
    });
    let mut c = SslConnector::builder(SslMethod::tls()).expect("OpenSSL");
    c.set_verify(SslVerifyMode::NONE);
    // SAFETY: plain syscall; the descriptor is owned from here on.
    let epfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    assert!(epfd >= 0, "epoll_create1");
    let mut run = Run {
        // SAFETY: epfd was just returned and is owned by nobody else.
        epoll: unsafe { std::os::fd::FromRawFd::from_raw_fd(epfd) },
        conns: (0..a.connections).map(|_| State::Gone).collect(),
        to_open: (0..a.connections).rev().collect(),
        connecting: 0,
        connected: 0,
        measuring: false,
        done: 0,
        errors: 0,
        latencies: Vec::new(),
        connector: c.build(),
        addr: a.addr,
    };
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    let start = Instant::now();
    while run.connected + (run.errors as usize) < a.connections
        && start.elapsed() < Duration::from_secs(60)
    {
        run.poll(&mut events, 10);
    }
    println!(
        "# connected {} in {:.2} s",
        run.connected,
        start.elapsed().as_secs_f64()
    );
    let _ = io::stdout().flush();
    run.measuring = true;
    let t0 = Instant::now();
    while t0.elapsed() < a.duration {
        run.poll(&mut events, 10);
    }
    let secs = t0.elapsed().as_secs_f64();
    let mut l = std::mem::take(&mut run.latencies);
    l.sort_unstable();
    let pct = |p: f64| bench::latency::at(&l, p);
    if let Some(path) = &a.latency_out {
        if let Err(e) = bench::latency::write(path, &l) {
            eprintln!("tls-loadgen: --latency-out {}: {e}", path.display());
            std::process::exit(1);
        }
    }
    println!(
        "mode=pingpong connections={} per_second={:.0} p50_us={} p90_us={} p99_us={} p999_us={} errors={} connected={}",
        a.connections,
        run.done as f64 / secs,
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(0.999),
        run.errors,
        run.connected
    );
}
