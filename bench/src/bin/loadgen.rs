//! loadgen: drives a PROTOCOL.md server over loopback.
//!
//! ```text
//! loadgen --addr 127.0.0.1:1234 [--mode pingpong|churn|idle|ramp|soak] [--connections N]
//!         [--duration SECS] [--threads T] [--sources K] [--replace FRACTION]
//!         [--active FRACTION]
//! ```
//! - pingpong: N connections, each looping "hello world\r\n" -> "HELLO WORLD\r\n";
//!   reports requests per second and p50/p99/p999 latency.
//! - churn: N slots, each looping connect, one request, QUIT, wait for the close;
//!   reports connections per second.
//! - idle: opens N connections and holds them for the duration (for the server's RSS).
//! - ramp: as idle, but every connection sends one request as soon as it is connected,
//!   and counts as up only when its reply is back: `# connected in S s` is then the time
//!   from the first connect to the last answer (the server's accept rate, not the
//!   kernel's handshakes).
//! - soak: N connections in ping-pong, of which `--replace` (a fraction, 0.1 by default)
//!   are replaced every second, spread over ten steps a second: each one finishes its
//!   request, sends QUIT, waits for the server's close, and a new connection takes its
//!   slot. Reports requests and replacements per second; any other close is an error.
//! - `--active F` (pingpong): only that fraction of the connections (spread evenly over
//!   the slots) loops requests; the others are opened and held idle, as on a server where
//!   1% of the clients talk at any moment (`--active 0.01`).
//! - `--sources K` (K > 1, IPv4 loopback targets): connection i comes from 127.0.0.(2 + i
//!   mod K), so that no one source address's ephemeral ports (about 28,000) limit how
//!   many connections one machine can hold.
//!
//! Once every connection is up it prints `# connected N in S s` (the matrix runner reads
//! the server's RSS then, in idle mode), and at the end one line of `key=value` pairs.
//! Raises its own RLIMIT_NOFILE.
//!
//! It is written on raw non-blocking sockets and edge-triggered epoll, not on libevent:
//! one `write` and one `read` per request, where a bufferevent on upstream libevent also
//! pays an `ioctl(FIONREAD)`, and a deferred write two `epoll_ctl`, per request. The load generator must cost less
//! per request than the servers it measures, or it, not they, sets the pace (docs/benchmarks.md,
//! "Does the load generator saturate the servers?").

use socket2::{Domain, Socket, Type};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

const REQUEST: &[u8] = b"hello world\r\n";
const REPLY_LEN: usize = 13; // "HELLO WORLD\r\n"

#[derive(Clone, Copy, PartialEq, clap::ValueEnum)]
enum Mode {
    #[value(name = "pingpong")]
    PingPong,
    Churn,
    Idle,
    Ramp,
    Soak,
}

/// The command line.
#[derive(clap::Parser)]
#[command(about = "Load generator for the eventd protocol: ping-pong, churn, idle, ramp, soak")]
struct Cli {
    /// The server.
    #[arg(long, default_value = "127.0.0.1:1234")]
    addr: SocketAddr,
    #[arg(long, value_enum, default_value = "pingpong")]
    mode: Mode,
    #[arg(long, default_value_t = 100)]
    connections: usize,
    /// Seconds.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Source addresses to spread connections over (127.0.0.2 and up).
    #[arg(long, default_value_t = 1)]
    sources: usize,
    /// Soak: the fraction of the connections replaced each second.
    #[arg(long, default_value_t = 0.1)]
    replace: f64,
    /// Pingpong: the fraction of the connections that loop requests.
    #[arg(long, default_value_t = 1.0)]
    active: f64,
    /// Pingpong: also write the latency distribution here (bench::latency's format).
    #[arg(long)]
    latency_out: Option<std::path::PathBuf>,
}

struct Args {
    addr: SocketAddr,
    mode: Mode,
    connections: usize,
    duration: Duration,
    threads: usize,
    /// Source addresses to spread connections over (empty: the kernel's choice).
    sources: Vec<SocketAddr>,
    /// Soak: the fraction of the connections replaced each second.
    replace: f64,
    /// Pingpong: the fraction of the connections that loop requests.
    active: f64,
    latency_out: Option<std::path::PathBuf>,
}

/// 127.0.0.2 .. 127.0.0.(k + 1), for an IPv4 loopback target; none for k = 1.
fn sources(target: SocketAddr, k: usize) -> Result<Vec<SocketAddr>, String> {
    if k == 1 {
        return Ok(Vec::new());
    }
    if !(2..=250).contains(&k) {
        return Err("--sources: between 1 and 250".into());
    }
    if !matches!(target, SocketAddr::V4(a) if a.ip().is_loopback()) {
        return Err("--sources needs an IPv4 loopback --addr".into());
    }
    Ok((0..k)
        .map(|i| SocketAddr::from(([127, 0, 0, 2 + i as u8], 0)))
        .collect())
}

fn parse() -> Result<Args, String> {
    let c = <Cli as clap::Parser>::parse();
    if !(c.duration.is_finite() && c.duration >= 0.0) {
        return Err("--duration: seconds, at least 0".into());
    }
    let mut a = Args {
        addr: c.addr,
        mode: c.mode,
        connections: c.connections,
        duration: Duration::from_secs_f64(c.duration),
        threads: c.threads,
        sources: Vec::new(),
        replace: c.replace,
        active: c.active,
        latency_out: c.latency_out,
    };
    let k = c.sources;
    if !(a.active > 0.0 && a.active <= 1.0) {
        return Err("--active: a fraction above 0, at most 1".into());
    }
    if a.active < 1.0 && a.mode != Mode::PingPong {
        return Err("--active is for --mode pingpong".into());
    }
    if !(0.0..=1.0).contains(&a.replace) {
        return Err("--replace: a fraction between 0 and 1".into());
    }
    if a.connections == 0 || a.threads == 0 || a.threads > a.connections {
        return Err("need 1 <= threads <= connections".into());
    }
    a.sources = sources(a.addr, k)?;
    Ok(a)
}

fn raise_nofile() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: reading and raising our own limit to its hard maximum.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
}

#[derive(Default)]
struct Stats {
    done: u64,
    /// Soak: connections closed after QUIT and opened again.
    replaced: u64,
    errors: u64,
    connected: usize,
    latencies_us: Vec<u32>,
}

/// Connections being set up at once: more would overflow the servers' accept queues
/// (backlog 128) and leave SYNs to the kernel's one-second retransmission.
const CONNECTING_AT_ONCE: usize = 128;

#[derive(Clone, Copy, PartialEq)]
enum Phase {
    Connecting,
    /// Request sent; `got` bytes of the reply so far.
    Waiting,
    /// Churn: QUIT sent, waiting for the server's close.
    Quitting,
    /// Idle mode, or a pingpong connection after the end.
    Parked,
}

struct Conn {
    fd: OwnedFd,
    phase: Phase,
    sent: Instant,
    got: usize,
    /// Soak: send QUIT instead of the next request.
    quit_next: bool,
}

fn errno() -> io::Error {
    io::Error::last_os_error()
}

fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(errno())
    } else {
        Ok(r)
    }
}

struct Epoll(OwnedFd);

impl Epoll {
    fn new() -> io::Result<Epoll> {
        // SAFETY: plain syscall; a valid descriptor is owned from here on.
        let fd = check(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: fd was just returned by epoll_create1 and is owned by nobody else.
        Ok(Epoll(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    fn add(&self, fd: RawFd, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32,
            u64: token,
        };
        // SAFETY: both descriptors are open; ev is a valid epoll_event.
        check(unsafe { libc::epoll_ctl(self.0.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) })
            .map(|_| ())
    }

    fn wait(&self, events: &mut [libc::epoll_event], timeout_ms: i32) -> usize {
        // SAFETY: events is a valid buffer of events.len() entries.
        let n = unsafe {
            libc::epoll_wait(
                self.0.as_raw_fd(),
                events.as_mut_ptr(),
                events.len() as i32,
                timeout_ms,
            )
        };
        n.max(0) as usize
    }
}

/// Starts a non-blocking connect to `addr` (IPv4 or IPv6): one socket(2) (non-blocking
/// and close-on-exec from the start) and one connect(2); from `source` if given (then
/// also a setsockopt and a bind).
fn start_connect(addr: SocketAddr, source: Option<SocketAddr>) -> io::Result<OwnedFd> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM.nonblocking(), None)?;
    if let Some(src) = source {
        // The port is chosen at connect, per destination, not reserved at bind.
        let on: libc::c_int = 1;
        // SAFETY: a valid socket and an int option of the size given.
        let rc = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_BIND_ADDRESS_NO_PORT,
                &on as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        socket.bind(&src.into())?;
    }
    // No TCP_NODELAY: a request goes out only once the previous reply (which acknowledges
    // it) is in, so Nagle never holds one back; and churn pays per syscall.
    match socket.connect(&addr.into()) {
        Err(e) if e.raw_os_error() != Some(libc::EINPROGRESS) => Err(e),
        _ => Ok(OwnedFd::from(socket)),
    }
}

/// write(2) of the whole of `buf` (tiny: it always fits an empty socket buffer).
fn send(fd: RawFd, buf: &[u8]) -> bool {
    // SAFETY: buf is valid for buf.len() bytes.
    let n = unsafe { libc::write(fd, buf.as_ptr() as *const libc::c_void, buf.len()) };
    n == buf.len() as isize
}

struct Worker {
    /// Pingpong with `--active`: slot i loops requests when i % every == 0.
    every: usize,
    /// Soak: the next slot to replace, and replacements owed (fractional).
    cursor: usize,
    owed: f64,
    addr: SocketAddr,
    sources: Vec<SocketAddr>,
    mode: Mode,
    epoll: Epoll,
    conns: Vec<Option<Conn>>,
    /// Slots still to connect (pingpong and idle connect each slot once).
    to_open: Vec<usize>,
    connecting: usize,
    measuring: bool,
    stats: Stats,
}

impl Worker {
    fn open(&mut self, slot: usize) {
        let source = (!self.sources.is_empty()).then(|| self.sources[slot % self.sources.len()]);
        match start_connect(self.addr, source).and_then(|fd| {
            self.epoll.add(fd.as_raw_fd(), slot as u64)?;
            Ok(fd)
        }) {
            Ok(fd) => {
                self.connecting += 1;
                self.conns[slot] = Some(Conn {
                    fd,
                    phase: Phase::Connecting,
                    sent: Instant::now(),
                    got: 0,
                    quit_next: false,
                });
            }
            Err(_) => self.stats.errors += 1,
        }
    }

    fn open_more(&mut self) {
        while self.connecting < CONNECTING_AT_ONCE {
            match self.to_open.pop() {
                Some(slot) => self.open(slot),
                None => break,
            }
        }
    }

    /// Drops the connection in `slot`; churn opens the next one in its place.
    fn close(&mut self, slot: usize, error: bool) {
        if let Some(c) = self.conns[slot].take() {
            if c.phase == Phase::Connecting {
                self.connecting -= 1;
            }
        }
        if error {
            self.stats.errors += 1;
        }
        if matches!(self.mode, Mode::Churn | Mode::Soak) {
            self.to_open.push(slot);
        }
    }

    fn request(&mut self, slot: usize) {
        let Some(c) = self.conns[slot].as_mut() else {
            return;
        };
        c.sent = Instant::now();
        c.got = 0;
        c.phase = Phase::Waiting;
        if !send(c.fd.as_raw_fd(), REQUEST) {
            self.close(slot, true);
        }
    }

    fn on_event(&mut self, slot: usize, events: u32) {
        let Some(c) = self.conns[slot].as_mut() else {
            return;
        };
        let fd = c.fd.as_raw_fd();
        if c.phase == Phase::Connecting {
            if events & (libc::EPOLLOUT | libc::EPOLLERR | libc::EPOLLHUP) as u32 == 0 {
                return;
            }
            self.connecting -= 1;
            // A failed connect reports EPOLLERR (with EPOLLOUT): no getsockopt needed.
            if events & (libc::EPOLLERR | libc::EPOLLHUP) as u32 != 0 {
                c.phase = Phase::Parked;
                self.close(slot, true);
                return;
            }
            c.phase = Phase::Parked;
            match self.mode {
                // Up once the reply is back.
                Mode::Ramp => self.request(slot),
                Mode::Idle => {}
                _ if slot.is_multiple_of(self.every) => self.request(slot),
                _ => {}
            }
            if self.mode != Mode::Ramp {
                self.stats.connected += 1;
            }
            return;
        }
        if events & libc::EPOLLIN as u32 == 0
            && events & (libc::EPOLLERR | libc::EPOLLHUP) as u32 != 0
        {
            self.close(slot, true);
            return;
        }
        if events & libc::EPOLLIN as u32 == 0 {
            return;
        }
        let mut buf = [0u8; 4096];
        loop {
            // SAFETY: buf is valid for its length.
            let n = unsafe { libc::read(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
            let Some(c) = self.conns[slot].as_mut() else {
                return;
            };
            if n < 0 {
                let e = errno().raw_os_error();
                if e != Some(libc::EAGAIN) && e != Some(libc::EINTR) {
                    self.close(slot, true);
                }
                return;
            }
            if n == 0 {
                // The server closed: expected only after QUIT.
                let expected = c.phase == Phase::Quitting;
                if expected && self.measuring {
                    match self.mode {
                        Mode::Soak => self.stats.replaced += 1,
                        _ => self.stats.done += 1,
                    }
                }
                self.close(slot, !expected);
                return;
            }
            let n = n as usize;
            if c.phase == Phase::Waiting {
                c.got += n;
                if c.got >= REPLY_LEN {
                    if self.measuring {
                        // Churn counts a connection once it is closed, below.
                        if self.mode != Mode::Churn {
                            self.stats.done += 1;
                        }
                        let us = c.sent.elapsed().as_micros().min(u32::MAX as u128) as u32;
                        self.stats.latencies_us.push(us);
                    }
                    match self.mode {
                        Mode::PingPong => self.request(slot),
                        Mode::Soak if !c.quit_next => self.request(slot),
                        Mode::Churn | Mode::Soak => {
                            c.phase = Phase::Quitting;
                            if !send(fd, b"QUIT\r\n") {
                                self.close(slot, true);
                                return;
                            }
                        }
                        Mode::Idle => c.phase = Phase::Parked,
                        Mode::Ramp => {
                            c.phase = Phase::Parked;
                            self.stats.connected += 1;
                        }
                    }
                }
            }
            // A short read drained the socket: the next byte brings a new edge.
            if n < buf.len() {
                return;
            }
        }
    }

    /// Soak: marks the next `k` open connections (round robin) to QUIT after their reply.
    fn replace_some(&mut self, k: usize) {
        let n = self.conns.len();
        for _ in 0..k.min(n) {
            let slot = self.cursor % n;
            self.cursor += 1;
            if let Some(c) = self.conns[slot].as_mut() {
                if c.phase == Phase::Waiting {
                    c.quit_next = true;
                }
            }
        }
    }

    fn poll(&mut self, events: &mut [libc::epoll_event], timeout_ms: i32) {
        let n = self.epoll.wait(events, timeout_ms);
        for ev in &events[..n] {
            let (slot, bits) = (ev.u64 as usize, ev.events);
            self.on_event(slot, bits);
        }
        self.open_more();
    }
}

#[allow(clippy::too_many_arguments)]
fn run_thread(
    addr: SocketAddr,
    sources: Vec<SocketAddr>,
    mode: Mode,
    n: usize,
    duration: Duration,
    replace: f64,
    active: f64,
    ready: std::sync::mpsc::Sender<()>,
) -> Stats {
    let mut w = Worker {
        every: ((1.0 / active).round() as usize).max(1),
        cursor: 0,
        owed: 0.0,
        addr,
        sources,
        mode,
        epoll: Epoll::new().expect("epoll"),
        conns: (0..n).map(|_| None).collect(),
        to_open: (0..n).rev().collect(),
        connecting: 0,
        measuring: false,
        stats: Stats::default(),
    };
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    w.open_more();
    // Every connection up (at most 30 s, or 120 s for a ramp) before measuring.
    let start = Instant::now();
    let cap = Duration::from_secs(if mode == Mode::Ramp { 120 } else { 30 });
    while w.stats.connected < n && start.elapsed() < cap && w.stats.errors == 0 {
        w.poll(&mut events, 100);
    }
    let _ = ready.send(());
    w.measuring = true;
    w.stats.done = 0;
    w.stats.latencies_us.clear();
    let end = Instant::now() + duration;
    // Soak: a tenth of the second's replacements every 100 ms.
    let step = Duration::from_millis(100);
    let mut next_step = Instant::now() + step;
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        if mode == Mode::Soak && now >= next_step {
            next_step += step;
            w.owed += replace * n as f64 / 10.0;
            let k = w.owed as usize;
            w.owed -= k as f64;
            w.replace_some(k);
        }
        let until = if mode == Mode::Soak {
            end.min(next_step)
        } else {
            end
        };
        let ms = until
            .saturating_duration_since(now)
            .as_millis()
            .clamp(1, 100) as i32;
        w.poll(&mut events, ms);
    }
    w.stats
}

fn main() {
    let args = parse().unwrap_or_else(|e| {
        eprintln!("loadgen: {e}");
        std::process::exit(2);
    });
    raise_nofile();
    let per = args.connections / args.threads;
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let started = Instant::now();
    let handles: Vec<_> = (0..args.threads)
        .map(|t| {
            let n = if t == 0 {
                args.connections - per * (args.threads - 1)
            } else {
                per
            };
            let (addr, mode, d, ready) = (args.addr, args.mode, args.duration, ready_tx.clone());
            let (sources, replace, active) = (args.sources.clone(), args.replace, args.active);
            std::thread::spawn(move || {
                run_thread(addr, sources, mode, n, d, replace, active, ready)
            })
        })
        .collect();
    for _ in 0..args.threads {
        let _ = ready_rx.recv();
    }
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "# connected in {:.3} s",
            started.elapsed().as_secs_f64()
        );
        let _ = out.flush();
    }
    let mut total = Stats::default();
    for h in handles {
        let s = h.join().expect("worker thread");
        total.done += s.done;
        total.replaced += s.replaced;
        total.errors += s.errors;
        total.connected += s.connected;
        total.latencies_us.extend(s.latencies_us);
    }
    total.latencies_us.sort_unstable();
    let pct = |p: f64| bench::latency::at(&total.latencies_us, p);
    if let Some(path) = &args.latency_out {
        if let Err(e) = bench::latency::write(path, &total.latencies_us) {
            eprintln!("loadgen: --latency-out {}: {e}", path.display());
            std::process::exit(1);
        }
    }
    let secs = args.duration.as_secs_f64();
    let mode = match args.mode {
        Mode::PingPong => "pingpong",
        Mode::Churn => "churn",
        Mode::Idle => "idle",
        Mode::Ramp => "ramp",
        Mode::Soak => "soak",
    };
    // A reader that went away is not worth a panic.
    let _ = writeln!(
        std::io::stdout(),
        "mode={mode} connections={} threads={} seconds={secs:.1} connected={} done={} per_second={:.0} replaced={} p50_us={} p90_us={} p99_us={} p999_us={} errors={}",
        args.connections,
        args.threads,
        total.connected,
        total.done,
        total.done as f64 / secs,
        total.replaced,
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(0.999),
        total.errors
    );
}
