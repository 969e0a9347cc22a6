//! loadgen: drives a PROTOCOL.md server over loopback.
//!
//! ```text
//! loadgen --addr 127.0.0.1:1234 [--mode pingpong|churn|idle] [--connections N]
//!         [--duration SECS] [--threads T]
//! ```
//! - pingpong: N connections, each looping "hello world\r\n" -> "HELLO WORLD\r\n";
//!   reports requests per second and p50/p99/p999 latency.
//! - churn: N slots, each looping connect, one request, QUIT, wait for the close;
//!   reports connections per second.
//! - idle: opens N connections and holds them for the duration (for the server's RSS).
//!
//! Prints one line of `key=value` pairs. Raises its own RLIMIT_NOFILE.

use libevent::{BevEvent, BufferEvent, BufferEventRef, Event, EventBase, Flags, Options};
use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

const REQUEST: &[u8] = b"hello world\r\n";
const REPLY_LEN: usize = 13; // "HELLO WORLD\r\n"

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    PingPong,
    Churn,
    Idle,
}

struct Args {
    addr: SocketAddr,
    mode: Mode,
    connections: usize,
    duration: Duration,
    threads: usize,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        addr: "127.0.0.1:1234".parse().unwrap(),
        mode: Mode::PingPong,
        connections: 100,
        duration: Duration::from_secs(5),
        threads: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag}: {e}");
        match flag.as_str() {
            "--addr" => a.addr = v.parse().map_err(|e| bad(&e))?,
            "--mode" => {
                a.mode = match v.as_str() {
                    "pingpong" => Mode::PingPong,
                    "churn" => Mode::Churn,
                    "idle" => Mode::Idle,
                    _ => return Err(format!("--mode: {v}? (pingpong, churn, idle)")),
                }
            }
            "--connections" => a.connections = v.parse().map_err(|e| bad(&e))?,
            "--duration" => a.duration = Duration::from_secs_f64(v.parse().map_err(|e| bad(&e))?),
            "--threads" => a.threads = v.parse().map_err(|e| bad(&e))?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if a.connections == 0 || a.threads == 0 || a.threads > a.connections {
        return Err("need 1 <= threads <= connections".into());
    }
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
    errors: u64,
    connected: usize,
    latencies_us: Vec<u32>,
}

struct Worker {
    base: EventBase,
    addr: SocketAddr,
    mode: Mode,
    measuring: bool,
    stop: bool,
    conns: HashMap<usize, (BufferEvent, Instant, usize)>,
    stats: Stats,
    me: std::rc::Weak<RefCell<Worker>>,
}

impl Worker {
    fn open(&mut self, slot: usize) {
        let me = self.me.clone();
        let r = BufferEvent::connect_tcp(&self.base, self.addr, Options::empty()).and_then(
            |mut bev| {
                let m = me.clone();
                bev.on_read(move |b| with(&m, |w| w.on_read(slot, b)))?;
                bev.on_event(move |b, what| with(&me, |w| w.on_event(slot, b, what)))?;
                bev.enable(Flags::READ | Flags::WRITE)?;
                Ok(bev)
            },
        );
        match r {
            Ok(bev) => {
                self.conns.insert(slot, (bev, Instant::now(), 0));
            }
            Err(_) => self.stats.errors += 1,
        }
    }

    fn on_event(&mut self, slot: usize, bev: &mut BufferEventRef, what: BevEvent) {
        if what.contains(BevEvent::CONNECTED) {
            self.stats.connected += 1;
            if self.mode != Mode::Idle {
                let _ = bev.write(REQUEST);
                if let Some(c) = self.conns.get_mut(&slot) {
                    c.1 = Instant::now();
                }
            }
            return;
        }
        let expected_close =
            self.mode == Mode::Churn && self.conns.get(&slot).is_some_and(|c| c.2 == usize::MAX);
        if !expected_close && !self.stop {
            self.stats.errors += 1;
        }
        self.conns.remove(&slot);
        if self.mode == Mode::Churn && !self.stop {
            if expected_close && self.measuring {
                self.stats.done += 1;
            }
            self.open(slot);
        }
    }

    fn on_read(&mut self, slot: usize, bev: &mut BufferEventRef) {
        let n = bev.input().len();
        let _ = bev.input_mut().drain(n);
        let Some(c) = self.conns.get_mut(&slot) else {
            return;
        };
        if c.2 == usize::MAX {
            return; // churn: QUIT sent, waiting for the close
        }
        c.2 += n;
        while c.2 >= REPLY_LEN {
            c.2 -= REPLY_LEN;
            if self.measuring {
                self.stats.done += 1;
                self.stats
                    .latencies_us
                    .push(c.1.elapsed().as_micros().min(u32::MAX as u128) as u32);
            }
            match self.mode {
                Mode::PingPong if !self.stop => {
                    c.1 = Instant::now();
                    let _ = bev.write(REQUEST);
                }
                Mode::Churn => {
                    c.2 = usize::MAX;
                    let _ = bev.write(b"QUIT\r\n");
                    return;
                }
                _ => {}
            }
        }
    }
}

fn with(me: &std::rc::Weak<RefCell<Worker>>, f: impl FnOnce(&mut Worker)) {
    if let Some(w) = me.upgrade() {
        if let Ok(mut w) = w.try_borrow_mut() {
            f(&mut w);
        }
    }
}

fn run_thread(addr: SocketAddr, mode: Mode, n: usize, duration: Duration) -> Stats {
    let base = EventBase::new().expect("event base");
    let w = Rc::new_cyclic(|me| {
        RefCell::new(Worker {
            base: base.clone(),
            addr,
            mode,
            measuring: false,
            stop: false,
            conns: HashMap::new(),
            stats: Stats::default(),
            me: me.clone(),
        })
    });
    for slot in 0..n {
        w.borrow_mut().open(slot);
    }
    // Wait (up to 30 s) for every connection before measuring.
    let start = Instant::now();
    while w.borrow().stats.connected < n
        && start.elapsed() < Duration::from_secs(30)
        && w.borrow().stats.errors == 0
    {
        base.run(libevent::LoopFlags::ONCE).expect("loop");
    }
    {
        let mut w = w.borrow_mut();
        w.measuring = true;
        w.stats.done = 0;
        w.stats.latencies_us.clear();
    }
    let b = base.clone();
    let end = Event::timer(&base, move |_| {
        let _ = b.loopbreak();
    })
    .expect("timer");
    end.add(Some(duration)).expect("timer add");
    base.run(libevent::LoopFlags::NO_EXIT_ON_EMPTY)
        .expect("loop");
    let mut w = w.borrow_mut();
    w.stop = true;
    w.measuring = false;
    w.conns.clear();
    std::mem::take(&mut w.stats)
}

fn main() {
    let args = parse().unwrap_or_else(|e| {
        eprintln!("loadgen: {e}");
        std::process::exit(2);
    });
    raise_nofile();
    let per = args.connections / args.threads;
    let handles: Vec<_> = (0..args.threads)
        .map(|t| {
            let n = if t == 0 {
                args.connections - per * (args.threads - 1)
            } else {
                per
            };
            let (addr, mode, d) = (args.addr, args.mode, args.duration);
            std::thread::spawn(move || run_thread(addr, mode, n, d))
        })
        .collect();
    let mut total = Stats::default();
    for h in handles {
        let s = h.join().expect("worker thread");
        total.done += s.done;
        total.errors += s.errors;
        total.connected += s.connected;
        total.latencies_us.extend(s.latencies_us);
    }
    total.latencies_us.sort_unstable();
    let pct = |p: f64| -> u32 {
        if total.latencies_us.is_empty() {
            return 0;
        }
        let i = ((total.latencies_us.len() as f64 * p).ceil() as usize)
            .clamp(1, total.latencies_us.len())
            - 1;
        total.latencies_us[i]
    };
    let secs = args.duration.as_secs_f64();
    let mode = match args.mode {
        Mode::PingPong => "pingpong",
        Mode::Churn => "churn",
        Mode::Idle => "idle",
    };
    println!(
        "mode={mode} connections={} threads={} seconds={secs:.1} connected={} done={} per_second={:.0} p50_us={} p99_us={} p999_us={} errors={}",
        args.connections,
        args.threads,
        total.connected,
        total.done,
        total.done as f64 / secs,
        pct(0.50),
        pct(0.99),
        pct(0.999),
        total.errors
    );
}
