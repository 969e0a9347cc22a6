//! scale: many idle connections over time. The ramp-up (from the first connect to the
//! last answer), the steady state and the teardown, sampled: the server's connections,
//! resident memory and CPU, and loadgen's CPU beside it (which tells who bounds the
//! ramp). Then several eventd processes on one port (SO_REUSEPORT), one loadgen each,
//! with the kernel's socket memory, for the projection past this machine.
//!
//! ```text
//! cargo run --release -p bench --bin scale -- [--servers eventd,eventd-w2,c-reference,tokio-current]
//!     [--connections 19000] [--processes 5] [--hold 5] [--sources 8] [--out DIR]
//! ```
//! - Part one, per server of `--servers` (`none` skips it): one server process,
//!   `loadgen --mode ramp` with `--connections` connections held `--hold` seconds, then
//!   closed by loadgen's exit. Sampled every 100 ms.
//! - Part two (`--processes P`, 0 skips it): P eventd processes with `--reuse-port` on
//!   one port and P loadgen processes of `--connections` each, all at once; sampled every
//!   250 ms (summed over the processes); /proc/net/sockstat and /proc/meminfo read before
//!   and at the steady state.
//!
//! Writes `scale.md`, `scale.json`, `ramp.png` (part one) and `processes.png` (part
//! two) to `--out` (default `target/scale`). Exits 1 if any loadgen saw an error or a
//! connection was not answered.

use bench::spec::Server;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

struct Args {
    servers: Vec<Server>,
    connections: usize,
    processes: usize,
    hold: f64,
    sources: usize,
    out: PathBuf,
}

/// One process holds at most this many connections: 20,000 descriptors, less its own.
const MAX_PER_PROCESS: usize = 19_900;

/// The command line.
#[derive(clap::Parser)]
#[command(
    about = "Connections held at scale: one process at its descriptor limit, several on one port"
)]
struct Cli {
    /// Servers, comma-separated, or `none`.
    #[arg(long, default_value = "eventd,eventd-w2,c-reference,tokio-current")]
    servers: String,
    /// Connections per process.
    #[arg(long, default_value_t = 19_000)]
    connections: usize,
    /// Processes on one port (0: only the single-process part).
    #[arg(long, default_value_t = 5)]
    processes: usize,
    /// Seconds to hold the connections.
    #[arg(long, default_value_t = 5.0)]
    hold: f64,
    /// Source addresses (127.0.0.2 and up).
    #[arg(long, default_value_t = 8)]
    sources: usize,
    #[arg(long, default_value = "target/scale")]
    out: PathBuf,
}

fn parse() -> Result<Args, String> {
    let c = <Cli as clap::Parser>::parse();
    let servers = if c.servers == "none" {
        Vec::new()
    } else {
        c.servers
            .split(',')
            .map(Server::parse)
            .collect::<Result<Vec<_>, _>>()?
    };
    if servers.contains(&Server::EventdUpstream) {
        return Err("--servers: eventd-upstream is the matrix's (it builds it)".into());
    }
    let a = Args {
        servers,
        connections: c.connections,
        processes: c.processes,
        hold: c.hold,
        sources: c.sources,
        out: c.out,
    };
    if a.connections == 0 || a.connections > MAX_PER_PROCESS {
        return Err(format!(
            "--connections: 1 to {MAX_PER_PROCESS} (one process's descriptors)"
        ));
    }
    if a.processes > 16 {
        return Err("--processes: at most 16".into());
    }
    if !(a.hold > 0.0 && a.hold <= 600.0) {
        return Err("--hold: seconds, above 0 and at most 600".into());
    }
    if !(1..=250).contains(&a.sources) {
        return Err("--sources: 1 to 250".into());
    }
    // Each source address has about 28,000 ephemeral ports toward one server port.
    let per_source = a.connections * a.processes.max(1) / a.sources;
    if per_source > 28_000 {
        return Err(format!(
            "{per_source} connections per source address: more than its ephemeral ports; raise --sources"
        ));
    }
    Ok(a)
}

/// One sample: seconds since the load started, connections the server(s) hold, resident
/// bytes, and CPU in cores over the interval before it (server(s), loadgen(s)).
#[derive(Clone, Copy)]
struct Sample {
    t: f64,
    conns: usize,
    rss: f64,
    cpu: f64,
    load_cpu: f64,
    /// Whether the load was still running.
    loading: bool,
}

/// What one run measured.
struct Run {
    name: String,
    connections: usize,
    /// Connections answered (loadgen's `connected`), errors.
    answered: usize,
    errors: usize,
    /// Load start to the last "# connected" line, seconds.
    ramp: f64,
    /// Loadgen's exit to the server's descriptors back, seconds (None: not back in 15 s).
    teardown: Option<f64>,
    rss_before: f64,
    rss_steady: f64,
    rss_after: f64,
    fds_before: usize,
    fds_after: usize,
    /// Mean CPU in cores over the ramp: server(s), loadgen(s).
    ramp_cpu: (f64, f64),
    samples: Vec<Sample>,
    /// Part two: connections each process held at the steady state.
    split: Vec<usize>,
}

impl Run {
    fn per_second(&self) -> f64 {
        self.answered as f64 / self.ramp.max(1e-9)
    }
    fn rss_per_conn(&self) -> f64 {
        (self.rss_steady - self.rss_before) / self.answered.max(1) as f64
    }
}

fn main() {
    match run() {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("scale: {e}");
            std::process::exit(2);
        }
    }
}

fn run() -> Result<bool, String> {
    let a = parse()?;
    let dir = bench::binaries_built_with(&["-p", "eventd", "-p", "bench", "--bins"])?;
    if a.servers.contains(&Server::AsyncEventd) {
        bench::binaries_built_with(&["-p", "libevent", "--example", "async_eventd"])?;
    }
    for path in a
        .servers
        .iter()
        .map(|s| s.path(&dir))
        .chain(["eventd", "loadgen"].map(|b| dir.join(b)))
    {
        if !path.exists() {
            return Err(format!("{} is missing", path.display()));
        }
    }
    let mut runs = Vec::new();
    for &s in &a.servers {
        eprintln!("scale: {} with {} connections", s.name(), a.connections);
        runs.push(one_server(&a, &dir, s)?);
    }
    let multi = if a.processes > 0 {
        eprintln!(
            "scale: {} eventd processes x {} connections",
            a.processes, a.connections
        );
        Some(processes(&a, &dir)?)
    } else {
        None
    };
    std::fs::create_dir_all(&a.out).map_err(|e| e.to_string())?;
    if !runs.is_empty() {
        plot(&runs, &a.out.join("ramp.png"), "one process each")?;
    }
    if let Some((m, _)) = &multi {
        plot(
            std::slice::from_ref(m),
            &a.out.join("processes.png"),
            &format!("{} eventd processes on one port (sums)", a.processes),
        )?;
    }
    let md = report(&a, &runs, multi.as_ref());
    std::fs::write(a.out.join("scale.md"), &md).map_err(|e| e.to_string())?;
    std::fs::write(a.out.join("scale.json"), json(&runs, multi.as_ref()))
        .map_err(|e| e.to_string())?;
    let _ = std::io::stdout().write_all(md.as_bytes());
    println!("\nwritten to {}", a.out.display());
    let ok = runs
        .iter()
        .chain(multi.as_ref().map(|(m, _)| m))
        .all(|r| r.errors == 0 && r.answered == r.connections);
    Ok(ok)
}

/// A free port on 127.0.0.1 (bound and released).
fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

/// Starts `cmd` as a server and waits until `addr` takes connections.
fn start_server(mut cmd: Command, addr: &str) -> Result<Child, String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("server: {e}"))?;
    let start = Instant::now();
    while TcpStream::connect(addr).is_err() {
        if start.elapsed() > Duration::from_secs(10) {
            bench::stop(&mut child);
            return Err("a server did not start".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // Let the probe connection's close settle.
    std::thread::sleep(Duration::from_millis(300));
    Ok(child)
}

/// A running loadgen in ramp mode; a thread reads its output.
struct Load {
    child: Child,
    /// Seconds since `t0` at which "# connected" came, then the final line.
    lines: mpsc::Receiver<(f64, String)>,
    ramp_end: Option<f64>,
    last: String,
}

impl Load {
    fn start(dir: &Path, addr: &str, a: &Args, hold: f64, t0: Instant) -> Result<Load, String> {
        let mut child = Command::new(dir.join("loadgen"))
            .args(["--addr", addr, "--mode", "ramp"])
            .args(["--connections", &a.connections.to_string()])
            .args(["--duration", &hold.to_string()])
            .args(["--sources", &a.sources.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("loadgen: {e}"))?;
        let out = child.stdout.take().ok_or("loadgen's output")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send((t0.elapsed().as_secs_f64(), line)).is_err() {
                    break;
                }
            }
        });
        Ok(Load {
            child,
            lines: rx,
            ramp_end: None,
            last: String::new(),
        })
    }

    /// Takes the lines that came; true once the process has exited.
    fn poll(&mut self) -> bool {
        while let Ok((t, line)) = self.lines.try_recv() {
            if line.starts_with("# connected") {
                self.ramp_end = Some(t);
            } else {
                self.last = line;
            }
        }
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    fn field(&self, k: &str) -> usize {
        self.last
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(k)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

/// What [`watch`] saw.
struct Watched {
    samples: Vec<Sample>,
    /// Seconds from the loads' exit to the descriptors' return (None: not in 15 s).
    teardown: Option<f64>,
    /// At the steady state (every ramp done, the most connections held): seconds since
    /// the start, connections per server process, the kernel's figures.
    steady: f64,
    split: Vec<usize>,
    kernel: Kernel,
}

/// Samples `servers` and `loads` every `every` until the loads have exited and the
/// servers' descriptors are back to `fds_before` (or 15 s after the exit).
fn watch(
    servers: &[u32],
    loads: &mut [Load],
    fds_before: &[usize],
    every: Duration,
    t0: Instant,
) -> Watched {
    let cpu = |pids: &[u32]| pids.iter().copied().map(bench::cpu_seconds).sum::<f64>();
    let before: usize = fds_before.iter().sum();
    let mut w = Watched {
        samples: Vec::new(),
        teardown: None,
        steady: 0.0,
        split: Vec::new(),
        kernel: Kernel::default(),
    };
    let (mut last_t, mut last_cpu, mut last_load) = (0.0, cpu(servers), 0.0);
    w.samples.push(Sample {
        t: 0.0,
        conns: 0,
        rss: servers.iter().filter_map(|&p| bench::rss_bytes(p)).sum(),
        cpu: 0.0,
        load_cpu: 0.0,
        loading: true,
    });
    let mut exited_at = None;
    let mut most = 0;
    let mut next = t0 + every;
    loop {
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
        next += every;
        let t = t0.elapsed().as_secs_f64();
        let load_pids: Vec<u32> = loads.iter().map(|l| l.child.id()).collect();
        // Read before the loads are reaped: a zombie still has its figures.
        let (c, lc) = (cpu(servers), cpu(&load_pids));
        let fds: Vec<usize> = servers
            .iter()
            .map(|&p| bench::open_fds(p).unwrap_or(0))
            .collect();
        let total: usize = fds.iter().sum();
        let conns = total.saturating_sub(before);
        let rss = servers.iter().filter_map(|&p| bench::rss_bytes(p)).sum();
        let dt = (t - last_t).max(1e-9);
        let load_cpu = if exited_at.is_some() {
            0.0
        } else {
            ((lc - last_load) / dt).max(0.0)
        };
        w.samples.push(Sample {
            t,
            conns,
            rss,
            cpu: (c - last_cpu) / dt,
            load_cpu,
            loading: exited_at.is_none(),
        });
        (last_t, last_cpu, last_load) = (t, c, lc);
        // Every load polled (each takes its lines), then asked whether all have exited.
        let exited: Vec<bool> = loads.iter_mut().map(Load::poll).collect();
        let all_exited = exited.iter().all(|&e| e);
        if exited_at.is_none() && conns >= most && loads.iter().all(|l| l.ramp_end.is_some()) {
            most = conns;
            w.steady = t;
            w.split = fds
                .iter()
                .zip(fds_before)
                .map(|(f, b)| f.saturating_sub(*b))
                .collect();
            w.kernel = kernel();
        }
        if all_exited && exited_at.is_none() {
            exited_at = Some(t);
        }
        if let Some(e) = exited_at {
            if total <= before {
                w.teardown = Some(t - e);
                return w;
            }
            if t - e > 15.0 {
                return w;
            }
        }
    }
}

/// The RSS at time `t` (the sample nearest before it).
fn rss_at(samples: &[Sample], t: f64) -> f64 {
    samples
        .iter()
        .take_while(|s| s.t <= t + 1e-9)
        .last()
        .map_or(0.0, |s| s.rss)
}

/// Mean CPU over samples in (from, to]: server(s), loadgen(s).
fn cpu_over(samples: &[Sample], from: f64, to: f64) -> (f64, f64) {
    let w: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.t > from && s.t <= to + 0.05)
        .collect();
    let n = w.len().max(1) as f64;
    (
        w.iter().map(|s| s.cpu).sum::<f64>() / n,
        w.iter().map(|s| s.load_cpu).sum::<f64>() / n,
    )
}

fn one_server(a: &Args, dir: &Path, s: Server) -> Result<Run, String> {
    let addr = format!("127.0.0.1:{}", free_port()?);
    let mut cmd = Command::new(s.path(dir));
    cmd.args([
        "--listen",
        &addr,
        "--timeout",
        "120",
        "--max-connections",
        "20000",
    ])
    .args(s.extra_args());
    let mut server = start_server(cmd, &addr)?;
    let pid = server.id();
    let fds_before = bench::open_fds(pid).unwrap_or(0);
    let rss_before = bench::rss_bytes(pid).unwrap_or(0.0);
    let t0 = Instant::now();
    let mut loads = [Load::start(dir, &addr, a, a.hold, t0)?];
    let w = watch(
        &[pid],
        &mut loads,
        &[fds_before],
        Duration::from_millis(100),
        t0,
    );
    // eventd gives memory back a moment after its last connection has gone.
    std::thread::sleep(Duration::from_secs(1));
    let rss_after = bench::rss_bytes(pid).unwrap_or(0.0);
    let fds_after = bench::open_fds(pid).unwrap_or(0);
    bench::stop(&mut server);
    let l = &loads[0];
    let ramp = l.ramp_end.unwrap_or(f64::NAN);
    Ok(Run {
        name: s.name().to_string(),
        connections: a.connections,
        answered: l.field("connected"),
        errors: l.field("errors"),
        ramp,
        teardown: w.teardown,
        rss_before,
        rss_steady: rss_at(&w.samples, w.steady),
        rss_after,
        fds_before,
        fds_after,
        ramp_cpu: cpu_over(&w.samples, 0.0, ramp),
        samples: w.samples,
        split: Vec::new(),
    })
}

/// /proc/net/sockstat's "TCP: inuse N ... mem M" (sockets, pages) and /proc/meminfo's
/// Slab (bytes).
#[derive(Clone, Copy, Default)]
struct Kernel {
    tcp_inuse: f64,
    tcp_mem_pages: f64,
    slab: f64,
}

fn kernel() -> Kernel {
    let mut k = Kernel::default();
    if let Ok(s) = std::fs::read_to_string("/proc/net/sockstat") {
        if let Some(line) = s.lines().find(|l| l.starts_with("TCP:")) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let get = |key: &str| {
                f.iter()
                    .position(|&x| x == key)
                    .and_then(|i| f.get(i + 1))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0.0)
            };
            k.tcp_inuse = get("inuse");
            k.tcp_mem_pages = get("mem");
        }
    }
    if let Ok(s) = std::fs::read_to_string("/proc/meminfo") {
        if let Some(line) = s.lines().find(|l| l.starts_with("Slab:")) {
            k.slab = line
                .split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
                * 1024.0;
        }
    }
    k
}

/// Part two: P eventd processes on one port, P loadgens. Returns the run and the
/// kernel's figures (before, steady).
fn processes(a: &Args, dir: &Path) -> Result<(Run, (Kernel, Kernel)), String> {
    let addr = format!("127.0.0.1:{}", free_port()?);
    let mut servers = Vec::new();
    for _ in 0..a.processes {
        let mut cmd = Command::new(dir.join("eventd"));
        cmd.args(["--listen", &addr, "--timeout", "120", "--reuse-port"])
            .args(["--max-connections", &MAX_PER_PROCESS.to_string()])
            .args(["--log-file", "/dev/null"]);
        match start_server(cmd, &addr) {
            Ok(c) => servers.push(c),
            Err(e) => {
                servers.iter_mut().for_each(bench::stop);
                return Err(e);
            }
        }
    }
    let pids: Vec<u32> = servers.iter().map(Child::id).collect();
    let fds_before: Vec<usize> = pids
        .iter()
        .map(|&p| bench::open_fds(p).unwrap_or(0))
        .collect();
    let rss_before: f64 = pids.iter().filter_map(|&p| bench::rss_bytes(p)).sum();
    let k_before = kernel();
    let t0 = Instant::now();
    // The ramps overlap; each loadgen holds its connections for the hold after its own
    // ramp. The steady state is sampled once the slowest ramp is done, so the hold is
    // padded by the time a ramp may take.
    let hold = a.hold + 2.0 * a.processes as f64;
    let mut loads = Vec::new();
    for _ in 0..a.processes {
        match Load::start(dir, &addr, a, hold, t0) {
            Ok(l) => loads.push(l),
            Err(e) => {
                servers.iter_mut().for_each(bench::stop);
                return Err(e);
            }
        }
    }
    let w = watch(
        &pids,
        &mut loads,
        &fds_before,
        Duration::from_millis(250),
        t0,
    );
    std::thread::sleep(Duration::from_secs(1));
    let rss_after: f64 = pids.iter().filter_map(|&p| bench::rss_bytes(p)).sum();
    let fds_after: usize = pids.iter().map(|&p| bench::open_fds(p).unwrap_or(0)).sum();
    servers.iter_mut().for_each(bench::stop);
    let ramp = loads
        .iter()
        .map(|l| l.ramp_end.unwrap_or(f64::NAN))
        .fold(0.0, f64::max);
    let run = Run {
        name: format!("eventd x{}", a.processes),
        connections: a.connections * a.processes,
        answered: loads.iter().map(|l| l.field("connected")).sum(),
        errors: loads.iter().map(|l| l.field("errors")).sum(),
        ramp,
        teardown: w.teardown,
        rss_before,
        rss_steady: rss_at(&w.samples, w.steady),
        rss_after,
        fds_before: fds_before.iter().sum(),
        fds_after,
        ramp_cpu: cpu_over(&w.samples, 0.0, ramp),
        samples: w.samples,
        split: w.split,
    };
    Ok((run, (k_before, w.kernel)))
}

fn mb(b: f64) -> String {
    format!("{:.1}", b / 1e6)
}

/// A teardown time: within one sampling interval of the exit reads as "< interval".
fn secs(t: Option<f64>, every: f64) -> String {
    match t {
        None => "not back in 15 s".into(),
        Some(t) if t < every => format!("< {every:.2}"),
        Some(t) => format!("{t:.2}"),
    }
}

fn report(a: &Args, runs: &[Run], multi: Option<&(Run, (Kernel, Kernel))>) -> String {
    let mut md = String::from("# Scale: ramp-up, steady state, teardown\n\n");
    md += &format!(
        "`cargo run --release -p bench --bin scale -- --connections {} --processes {} --hold {}`; {} cores.\n\n",
        a.connections,
        a.processes,
        a.hold,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    if !runs.is_empty() {
        md += &format!(
            "## One process, {} connections\n\n\
             `loadgen --mode ramp`: every connection sends one request as soon as it is \
             connected and counts once its answer is back; the ramp is from loadgen's \
             start to its last answer. CPU is in cores, averaged over the ramp. RSS per \
             connection is (steady − before) / connections. Teardown is from loadgen's \
             exit to the server's descriptors back to their count before. Plot: ramp.png.\n\n\
             | server | ramp s | connections/s | answered | errors | CPU in ramp: server / loadgen | RSS MB: before, steady, after | RSS per connection, bytes | teardown s | descriptors before / after |\n\
             |---|---:|---:|---:|---:|---|---|---:|---:|---|\n",
            a.connections
        );
        for r in runs {
            md += &format!(
                "| {} | {:.2} | {:.0} | {} | {} | {:.2} / {:.2} | {}, {}, {} | {:.0} | {} | {} / {} |\n",
                r.name,
                r.ramp,
                r.per_second(),
                r.answered,
                r.errors,
                r.ramp_cpu.0,
                r.ramp_cpu.1,
                mb(r.rss_before),
                mb(r.rss_steady),
                mb(r.rss_after),
                r.rss_per_conn(),
                secs(r.teardown, 0.1),
                r.fds_before,
                r.fds_after,
            );
        }
        md += "\n";
    }
    if let Some((r, (kb, ks))) = multi {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as f64;
        let sockets = (ks.tcp_inuse - kb.tcp_inuse).max(1.0);
        let kernel_bytes = (ks.slab - kb.slab) + (ks.tcp_mem_pages - kb.tcp_mem_pages) * page;
        let per_socket = kernel_bytes / sockets;
        let user = r.rss_per_conn();
        let million = 1e6;
        let procs = (million / MAX_PER_PROCESS as f64).ceil();
        md += &format!(
            "## {p} eventd processes on one port\n\n\
             {p} eventd processes with `--reuse-port --max-connections {MAX_PER_PROCESS}` \
             listen on one port; {p} loadgen processes of {n} connections each (sources \
             127.0.0.2 to 127.0.0.{last}) ramp at once. Figures are sums over the \
             processes. Plot: processes.png.\n\n\
             | figure | value |\n|---|---|\n\
             | connections answered / asked | {} / {} |\n\
             | loadgen errors | {} |\n\
             | connections per process at the steady state | {} |\n\
             | ramp (all loadgens started to the last answer) | {:.2} s, {:.0} connections/s |\n\
             | CPU in the ramp: servers / loadgens | {:.2} / {:.2} cores |\n\
             | RSS of the servers: before, steady, after | {} MB, {} MB, {} MB |\n\
             | RSS per connection | {:.0} bytes |\n\
             | teardown | {} s |\n\
             | descriptors before / after | {} / {} |\n\
             | kernel: TCP sockets in use (sockstat), before → steady | {:.0} → {:.0} |\n\
             | kernel: TCP buffer memory (sockstat `mem`), before → steady | {:.0} → {:.0} pages |\n\
             | kernel: Slab (meminfo), before → steady | {} MB → {} MB |\n\
             | kernel memory per TCP socket (Δslab + Δbuffers) / Δsockets | {:.0} bytes |\n\n\
             Both ends of every connection are on this machine, so the kernel holds two \
             sockets per connection here; a server on its own box holds one.\n\n\
             ### Projection to 1,000,000 connections on one box\n\n\
             | part | per connection | for 1,000,000 |\n|---|---:|---:|\n\
             | eventd, user memory (RSS per connection above) | {:.0} B | {:.2} GB |\n\
             | kernel, one socket per connection (measured above, idle) | {:.0} B | {:.2} GB |\n\
             | total | {:.0} B | {:.2} GB |\n\n\
             At this machine's 20,000 descriptors per process that is {procs:.0} processes of \
             {MAX_PER_PROCESS} on one port with `--reuse-port` (or fewer, where the limit \
             may be raised); ephemeral ports bound only the clients, per source address.\n\n",
            r.answered,
            r.connections,
            r.errors,
            r.split
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            r.ramp,
            r.per_second(),
            r.ramp_cpu.0,
            r.ramp_cpu.1,
            mb(r.rss_before),
            mb(r.rss_steady),
            mb(r.rss_after),
            user,
            secs(r.teardown, 0.25),
            r.fds_before,
            r.fds_after,
            kb.tcp_inuse,
            ks.tcp_inuse,
            kb.tcp_mem_pages,
            ks.tcp_mem_pages,
            mb(kb.slab),
            mb(ks.slab),
            per_socket,
            user,
            user * million / 1e9,
            per_socket,
            per_socket * million / 1e9,
            user + per_socket,
            (user + per_socket) * million / 1e9,
            p = a.processes,
            n = a.connections,
            last = 1 + a.sources,
        );
    }
    md
}

fn json(runs: &[Run], multi: Option<&(Run, (Kernel, Kernel))>) -> String {
    let run = |r: &Run| {
        serde_json::json!({
            "name": r.name,
            "connections": r.connections,
            "answered": r.answered,
            "errors": r.errors,
            "ramp_s": r.ramp,
            "per_second": r.per_second(),
            "teardown_s": r.teardown,
            "rss_before": r.rss_before,
            "rss_steady": r.rss_steady,
            "rss_after": r.rss_after,
            "rss_per_connection": r.rss_per_conn(),
            "fds_before": r.fds_before,
            "fds_after": r.fds_after,
            "ramp_cpu": [r.ramp_cpu.0, r.ramp_cpu.1],
            "split": r.split,
            "samples": r.samples.iter().map(|s| {
                serde_json::json!([s.t, s.conns, s.rss, s.cpu, s.load_cpu])
            }).collect::<Vec<_>>(),
        })
    };
    let kernel = |k: &Kernel| serde_json::json!({"tcp_inuse": k.tcp_inuse, "tcp_mem_pages": k.tcp_mem_pages, "slab": k.slab});
    serde_json::json!({
        "samples_are": ["t_s", "connections", "rss_bytes", "server_cpu_cores", "loadgen_cpu_cores"],
        "one_process": runs.iter().map(run).collect::<Vec<_>>(),
        "processes": multi.map(|(r, (kb, ks))| serde_json::json!({
            "run": run(r), "kernel_before": kernel(kb), "kernel_steady": kernel(ks)
        })),
    })
    .to_string()
}

/// Three panels over time (connections, RSS, CPU), one line per run.
fn plot(runs: &[Run], path: &Path, what: &str) -> Result<(), String> {
    use plotters::prelude::*;
    bench::register_plot_font()?;
    let root = BitMapBackend::new(path, (1000, 1200)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let panels = root.split_evenly((3, 1));
    let tmax = runs
        .iter()
        .flat_map(|r| r.samples.last().map(|s| s.t))
        .fold(1.0, f64::max);
    type Pick = fn(&Sample) -> f64;
    let figures: [(&str, &str, Pick); 3] = [
        ("connections held", "connections", |s| s.conns as f64),
        ("resident memory", "MB", |s| s.rss / 1e6),
        ("CPU (dashed: loadgen)", "cores", |s| s.cpu),
    ];
    for (i, (panel, (title, unit, pick))) in panels.iter().zip(figures).enumerate() {
        let mut ymax = runs
            .iter()
            .flat_map(|r| r.samples.iter().map(pick))
            .fold(0.0, f64::max);
        if i == 2 {
            ymax = runs
                .iter()
                .flat_map(|r| r.samples.iter().map(|s| s.load_cpu))
                .fold(ymax, f64::max);
        }
        let mut chart = ChartBuilder::on(panel)
            .caption(format!("{title}: {what}"), ("sans-serif", 22))
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(80)
            .build_cartesian_2d(0.0..tmax, 0.0..(ymax * 1.15).max(1e-3))
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("seconds since loadgen started")
            .y_desc(unit)
            .draw()
            .map_err(|e| e.to_string())?;
        for (k, r) in runs.iter().enumerate() {
            let color = bench::PALETTE[k % bench::PALETTE.len()];
            let pts: Vec<(f64, f64)> = r.samples.iter().map(|s| (s.t, pick(s))).collect();
            chart
                .draw_series(LineSeries::new(pts, color.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(r.name.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            if i == 2 {
                let pts: Vec<(f64, f64)> = r
                    .samples
                    .iter()
                    .filter(|s| s.loading)
                    .map(|s| (s.t, s.load_cpu))
                    .collect();
                chart
                    .draw_series(DashedLineSeries::new(pts, 6, 4, color.stroke_width(1)))
                    .map_err(|e| e.to_string())?;
            }
        }
        bench::draw_legend(&mut chart)?;
    }
    root.present().map_err(|e| e.to_string())
}
