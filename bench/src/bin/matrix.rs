//! matrix: every server against every connection count in every mode, repeated and
//! interleaved, with medians; writes report.json, report.md and report.png.
//!
//! ```text
//! cargo run --release -p bench --bin matrix -- [--reps 5] [--duration 2]
//!     [--connections 1,100,1000,10000] [--modes pingpong,churn,idle]
//!     [--servers eventd,eventd-w2,c-reference,tokio-current,tokio-multi]
//!     [--out DIR] [--quick] [--strict]
//! ```
//!
//! - Each run starts a fresh server, waits for its port, reads its RSS, runs `loadgen`,
//!   and measures both processes' CPU over the measured window, then stops the server.
//! - Pinning (with `taskset` and two or more cores): `loadgen` on core 1; single-threaded
//!   servers on core 0; multi-threaded servers unpinned (they share core 1 with `loadgen`:
//!   on two cores there is no third to give them).
//! - Interleaving: for each repetition, for each cell, every server runs once, in an order
//!   rotated per repetition, so a slow phase of the machine hits every server alike.
//! - `--quick` (the CI smoke version): half a second per run, one repetition, output in
//!   `target/bench-smoke` unless `--out` says otherwise.
//! - `--strict`: exit 1 if any run had errors (connections refused, reset or lost).
//!
//! The binaries are taken from this executable's directory; under `cargo run`, `eventd` is
//! built there first.

use plotters::prelude::*;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server {
    name: &'static str,
    bin: &'static str,
    extra: &'static [&'static str],
    /// Threads the server runs its loops on.
    threads: usize,
}

const SERVERS: &[Server] = &[
    Server {
        name: "eventd",
        bin: "eventd",
        extra: &["--log-file", "/dev/null"],
        threads: 1,
    },
    Server {
        name: "eventd-w2",
        bin: "eventd",
        extra: &["--log-file", "/dev/null", "--workers", "2"],
        threads: 2,
    },
    Server {
        name: "c-reference",
        bin: "c-reference",
        extra: &[],
        threads: 1,
    },
    Server {
        name: "tokio-current",
        bin: "tokio-reference",
        extra: &["--runtime", "current"],
        threads: 1,
    },
    Server {
        name: "tokio-multi",
        bin: "tokio-reference",
        extra: &["--runtime", "multi"],
        threads: 2,
    },
];

const MODES: &[&str] = &["pingpong", "churn", "idle"];

struct Args {
    reps: usize,
    duration: f64,
    connections: Vec<usize>,
    modes: Vec<String>,
    servers: Vec<&'static Server>,
    out: PathBuf,
    strict: bool,
}

fn list<T>(v: &str, f: impl Fn(&str) -> Result<T, String>) -> Result<Vec<T>, String> {
    v.split(',').filter(|s| !s.is_empty()).map(f).collect()
}

fn parse() -> Result<Args, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut a = Args {
        reps: 5,
        duration: 2.0,
        connections: vec![1, 100, 1000, 10000],
        modes: MODES.iter().map(|m| m.to_string()).collect(),
        servers: SERVERS.iter().collect(),
        out: root.join("results"),
        strict: false,
    };
    let mut out = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--quick" => {
                a.reps = 1;
                a.duration = 0.5;
                a.out = root.join("../target/bench-smoke");
                continue;
            }
            "--strict" => {
                a.strict = true;
                continue;
            }
            _ => {}
        }
        let v = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag}: {e}");
        match flag.as_str() {
            "--reps" => a.reps = v.parse().map_err(|e| bad(&e))?,
            "--duration" => a.duration = v.parse().map_err(|e| bad(&e))?,
            "--connections" => {
                a.connections = list(&v, |s| s.parse::<usize>().map_err(|e| bad(&e)))?
            }
            "--modes" => {
                a.modes = list(&v, |s| {
                    MODES
                        .contains(&s)
                        .then(|| s.to_string())
                        .ok_or_else(|| format!("--modes: {s}? ({})", MODES.join(", ")))
                })?
            }
            "--servers" => {
                a.servers = list(&v, |s| {
                    SERVERS.iter().find(|k| k.name == s).ok_or_else(|| {
                        let names: Vec<_> = SERVERS.iter().map(|k| k.name).collect();
                        format!("--servers: {s}? ({})", names.join(", "))
                    })
                })?
            }
            "--out" => out = Some(PathBuf::from(v)),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if let Some(o) = out {
        a.out = o;
    }
    if a.reps == 0 || a.duration.is_nan() || a.duration <= 0.0 || a.connections.contains(&0) {
        return Err("--reps, --duration and every connection count must be positive".into());
    }
    if a.connections.is_empty() || a.modes.is_empty() || a.servers.is_empty() {
        return Err("nothing to run".into());
    }
    Ok(a)
}

/// What one run measured.
#[derive(Clone, Default)]
struct Run {
    per_second: f64,
    p50_us: f64,
    p99_us: f64,
    errors: u64,
    connected: u64,
    /// Idle mode: server RSS growth per connection.
    rss_per_conn: Option<f64>,
    /// CPU used over the measured window, in cores (1.0 = one core busy all along).
    server_cpu: f64,
    loadgen_cpu: f64,
    failure: Option<String>,
}

fn field(line: &str, key: &str) -> Option<f64> {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))?
        .parse()
        .ok()
}

/// (utime + stime) of `pid` in seconds; a zombie still has its figures.
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let Some(close) = text.rfind(')') else {
        return 0.0;
    };
    let f: Vec<&str> = text[close + 2..].split_whitespace().collect();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / hz
}

/// Resident set of `pid` (all its threads), in bytes.
fn rss_bytes(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb * 1024.0)
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

struct Env {
    dir: PathBuf,
    pin: bool,
}

impl Env {
    fn command(&self, bin: &str, core: Option<usize>) -> Command {
        let path = self.dir.join(bin);
        match core {
            Some(c) if self.pin => {
                let mut cmd = Command::new("taskset");
                cmd.arg("-c").arg(c.to_string()).arg(path);
                cmd
            }
            _ => Command::new(path),
        }
    }

    fn start_server(&self, s: &Server, addr: SocketAddr) -> Result<Child, String> {
        let core = (s.threads == 1).then_some(0);
        let mut child = self
            .command(s.bin, core)
            .arg("--listen")
            .arg(addr.to_string())
            .args(["--timeout", "60", "--max-connections", "20000"])
            .args(s.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{}: {e}", s.bin))?;
        let start = Instant::now();
        loop {
            if TcpStream::connect(addr).is_ok() {
                // Let the probe's close settle before the baseline is read.
                std::thread::sleep(Duration::from_millis(100));
                return Ok(child);
            }
            if let Ok(Some(st)) = child.try_wait() {
                return Err(format!("{} exited at start: {st}", s.name));
            }
            if start.elapsed() > Duration::from_secs(10) {
                stop(&mut child);
                return Err(format!("{} did not listen within 10 s", s.name));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn measure(&self, s: &Server, mode: &str, conns: usize, duration: f64) -> Run {
        match self.try_measure(s, mode, conns, duration) {
            Ok(r) => r,
            Err(e) => Run {
                failure: Some(e),
                errors: 1,
                ..Run::default()
            },
        }
    }

    fn try_measure(
        &self,
        s: &Server,
        mode: &str,
        conns: usize,
        duration: f64,
    ) -> Result<Run, String> {
        let addr: SocketAddr = ([127, 0, 0, 1], free_port().map_err(|e| e.to_string())?).into();
        let mut server = self.start_server(s, addr)?;
        let spid = server.id();
        let baseline = rss_bytes(spid);
        let mut lg = self
            .command("loadgen", Some(1))
            .arg("--addr")
            .arg(addr.to_string())
            .args(["--mode", mode, "--connections", &conns.to_string()])
            .args(["--duration", &duration.to_string(), "--threads", "1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("loadgen: {e}"))?;
        let lpid = lg.id();
        let mut run = Run::default();
        let mut window = None;
        let mut result = None;
        for line in BufReader::new(lg.stdout.take().expect("piped")).lines() {
            let Ok(line) = line else { break };
            if line.starts_with("# connected") {
                window = Some((Instant::now(), cpu_seconds(spid), cpu_seconds(lpid)));
                if mode == "idle" {
                    std::thread::sleep(Duration::from_secs_f64((duration / 2.0).min(0.5)));
                    if let (Some(b), Some(now)) = (baseline, rss_bytes(spid)) {
                        run.rss_per_conn = Some((now - b) / conns as f64);
                    }
                }
            } else if line.starts_with("mode=") {
                result = Some(line);
            }
        }
        // The loadgen closed its output: it has exited (or is about to); read its CPU time
        // before reaping it.
        let (t0, s0, l0) = window.unwrap_or((Instant::now(), 0.0, 0.0));
        let wall = t0.elapsed().as_secs_f64().max(1e-3);
        run.server_cpu = (cpu_seconds(spid) - s0) / wall;
        run.loadgen_cpu = (cpu_seconds(lpid) - l0) / wall;
        let status = lg.wait().map_err(|e| e.to_string())?;
        let mut stderr = String::new();
        if let Some(mut e) = lg.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
        }
        let server_alive = matches!(server.try_wait(), Ok(None));
        stop(&mut server);
        let line = result.ok_or_else(|| format!("loadgen ({status}): {}", stderr.trim()))?;
        if !status.success() {
            return Err(format!("loadgen {status}: {}", stderr.trim()));
        }
        if !server_alive {
            return Err(format!("{} died during the run", s.name));
        }
        run.per_second = field(&line, "per_second").unwrap_or(0.0);
        run.p50_us = field(&line, "p50_us").unwrap_or(0.0);
        run.p99_us = field(&line, "p99_us").unwrap_or(0.0);
        run.errors = field(&line, "errors").unwrap_or(0.0) as u64;
        run.connected = field(&line, "connected").unwrap_or(0.0) as u64;
        if (run.connected as usize) < conns {
            run.errors += (conns - run.connected as usize) as u64;
        }
        Ok(run)
    }
}

fn stop(child: &mut Child) {
    // SAFETY: the pid is our child, not yet reaped.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// One cell's runs, summarised.
struct Cell {
    server: &'static str,
    mode: String,
    connections: usize,
    runs: Vec<Run>,
}

impl Cell {
    fn ok_runs(&self) -> impl Iterator<Item = &Run> {
        self.runs.iter().filter(|r| r.failure.is_none())
    }
    fn med(&self, f: impl Fn(&Run) -> f64) -> f64 {
        median(self.ok_runs().map(f).collect())
    }
    fn per_second(&self) -> f64 {
        self.med(|r| r.per_second)
    }
    fn rss_per_conn(&self) -> Option<f64> {
        let v: Vec<f64> = self.ok_runs().filter_map(|r| r.rss_per_conn).collect();
        (!v.is_empty()).then(|| median(v))
    }
    /// Server CPU time per request (or connection), in µs: comparable even where the
    /// load generator, not the server, sets the pace.
    fn cpu_us_per_op(&self) -> Option<f64> {
        let v: Vec<f64> = self
            .ok_runs()
            .filter(|r| r.per_second > 0.0)
            .map(|r| r.server_cpu * 1e6 / r.per_second)
            .collect();
        (!v.is_empty()).then(|| median(v))
    }

    fn errors(&self) -> u64 {
        self.runs.iter().map(|r| r.errors).sum()
    }
    fn json(&self) -> Value {
        json!({
            "server": self.server,
            "mode": self.mode,
            "connections": self.connections,
            "median_per_second": self.per_second().round(),
            "median_p50_us": self.med(|r| r.p50_us),
            "median_p99_us": self.med(|r| r.p99_us),
            "rss_per_idle_connection_bytes": self.rss_per_conn().map(f64::round),
            "errors": self.errors(),
            "median_server_cpu_us_per_operation": self.cpu_us_per_op().map(|v| (v * 100.0).round() / 100.0),
            "median_server_cpu_cores": (self.med(|r| r.server_cpu) * 100.0).round() / 100.0,
            "median_loadgen_cpu_cores": (self.med(|r| r.loadgen_cpu) * 100.0).round() / 100.0,
            "runs": self.runs.iter().map(|r| json!({
                "per_second": r.per_second,
                "p99_us": r.p99_us,
                "rss_per_connection_bytes": r.rss_per_conn.map(f64::round),
                "errors": r.errors,
                "server_cpu_cores": (r.server_cpu * 100.0).round() / 100.0,
                "loadgen_cpu_cores": (r.loadgen_cpu * 100.0).round() / 100.0,
                "failure": r.failure,
            })).collect::<Vec<_>>(),
        })
    }
}

struct Report<'a> {
    args: &'a Args,
    cells: Vec<Cell>,
    pinned: bool,
    seconds: f64,
}

impl Report<'_> {
    fn cell(&self, server: &str, mode: &str, conns: usize) -> Option<&Cell> {
        self.cells
            .iter()
            .find(|c| c.server == server && c.mode == mode && c.connections == conns)
    }

    /// `a / b` of the figure that matters in `mode` (for idle: RSS per connection).
    fn ratio(&self, a: &str, b: &str, mode: &str, conns: usize) -> Option<f64> {
        let (x, y) = (self.cell(a, mode, conns)?, self.cell(b, mode, conns)?);
        let (x, y) = if mode == "idle" {
            (x.rss_per_conn()?, y.rss_per_conn()?)
        } else {
            (x.per_second(), y.per_second())
        };
        (y > 0.0).then(|| (x / y * 1000.0).round() / 1000.0)
    }

    const PAIRS: [(&'static str, &'static str); 3] = [
        ("eventd", "c-reference"),
        ("eventd", "tokio-current"),
        ("eventd-w2", "tokio-multi"),
    ];

    fn json(&self) -> Value {
        let mut ratios = Vec::new();
        for mode in &self.args.modes {
            for &n in &self.args.connections {
                let mut r = serde_json::Map::new();
                r.insert("mode".into(), json!(mode));
                r.insert("connections".into(), json!(n));
                for (a, b) in Self::PAIRS {
                    r.insert(format!("{a}/{b}"), json!(self.ratio(a, b, mode, n)));
                }
                ratios.push(Value::Object(r));
            }
        }
        json!({
            "machine": machine(),
            "settings": {
                "repetitions": self.args.reps,
                "seconds_per_run": self.args.duration,
                "pinned": self.pinned,
                "pinning": "loadgen on core 1; single-threaded servers on core 0; multi-threaded servers unpinned",
                "server_flags": "--timeout 60 --max-connections 20000 (eventd: --log-file /dev/null)",
            },
            "wall_seconds": self.seconds.round(),
            "cells": self.cells.iter().map(Cell::json).collect::<Vec<_>>(),
            "ratios": ratios,
        })
    }

    /// One table: a row per connection count, a column per server, `f` filling a cell.
    fn server_table(&self, mode: &str, f: impl Fn(&Cell) -> String) -> String {
        let names: Vec<&str> = self.args.servers.iter().map(|s| s.name).collect();
        let mut md = format!(
            "| connections | {} |\n|---|{}\n",
            names.join(" | "),
            "---|".repeat(names.len())
        );
        for &n in &self.args.connections {
            md += &format!("| {n} |");
            for s in &names {
                let v = self.cell(s, mode, n).map(&f).unwrap_or_default();
                md += &format!(" {v} |");
            }
            md += "\n";
        }
        md
    }

    fn markdown(&self) -> String {
        let mut md = String::new();
        let m = machine();
        md += &format!(
            "# Benchmark matrix\n\n{} cores ({}), Linux {}; {} repetition(s) of {} s per cell, medians; \
             pinned: {}. Produced by `cargo run --release -p bench --bin matrix` in {:.0} s.\n",
            m["cpus"], m["cpu_model"].as_str().unwrap_or("?"), m["kernel"].as_str().unwrap_or("?"),
            self.args.reps, self.args.duration, self.pinned, self.seconds
        );
        for mode in &self.args.modes {
            let what = match mode.as_str() {
                "pingpong" => "requests per second (p99 latency in µs)",
                "churn" => "connections per second (connect, one request, QUIT)",
                _ => "server RSS per idle connection, bytes",
            };
            md += &format!("\n## {mode}: {what}\n\n");
            md += &self.server_table(mode, |c| {
                let v = match mode.as_str() {
                    "idle" => c.rss_per_conn().map_or("n/a".into(), |b| format!("{b:.0}")),
                    "pingpong" => format!("{:.0} ({:.0})", c.per_second(), c.med(|r| r.p99_us)),
                    _ => format!("{:.0}", c.per_second()),
                };
                match c.errors() {
                    0 => v,
                    e => format!("{v} **{e} errors**"),
                }
            });
            md += &format!(
                "\nRatios ({}):\n\n| connections |",
                if mode == "idle" {
                    "RSS per connection"
                } else {
                    "per second"
                }
            );
            for (a, b) in Self::PAIRS {
                md += &format!(" {a} / {b} |");
            }
            md += &format!("\n|---|{}\n", "---|".repeat(Self::PAIRS.len()));
            for &n in &self.args.connections {
                md += &format!("| {n} |");
                for (a, b) in Self::PAIRS {
                    md += &match self.ratio(a, b, mode, n) {
                        Some(r) => format!(" {r:.3} |"),
                        None => " |".into(),
                    };
                }
                md += "\n";
            }
            if mode != "idle" {
                md += "\nServer CPU time per operation, µs (lower is better; comparable even where loadgen sets the pace):\n\n";
                md += &self.server_table(mode, |c| {
                    c.cpu_us_per_op()
                        .map_or(String::new(), |v| format!("{v:.1}"))
                });
                md += "\nCPU over the measured window, in cores (server / loadgen):\n\n";
                md += &self.server_table(mode, |c| {
                    format!(
                        "{:.2} / {:.2}",
                        c.med(|r| r.server_cpu),
                        c.med(|r| r.loadgen_cpu)
                    )
                });
            }
        }
        let failures: Vec<String> = self
            .cells
            .iter()
            .flat_map(|c| {
                c.runs.iter().filter_map(move |r| {
                    r.failure
                        .as_ref()
                        .map(|f| format!("- {} {} {}: {f}", c.server, c.mode, c.connections))
                })
            })
            .collect();
        if !failures.is_empty() {
            md += &format!("\n## Failed runs\n\n{}\n", failures.join("\n"));
        }
        md
    }

    /// requests (or connections) per second against connections, log x axis, one line per
    /// server; one panel per throughput mode.
    fn plot(&self, path: &Path) -> Result<(), String> {
        let font = load_font()?;
        plotters::style::register_font("sans-serif", FontStyle::Normal, font)
            .map_err(|_| "the font could not be read".to_string())?;
        let modes: Vec<&String> = self.args.modes.iter().filter(|m| *m != "idle").collect();
        if modes.is_empty() {
            return Ok(());
        }
        let root = BitMapBackend::new(path, (1000, 450 * modes.len() as u32)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let panels = root.split_evenly((modes.len(), 1));
        let colors = [
            RGBColor(31, 119, 180),
            RGBColor(255, 127, 14),
            RGBColor(44, 160, 44),
            RGBColor(214, 39, 40),
            RGBColor(148, 103, 189),
        ];
        let max_n = *self.args.connections.iter().max().unwrap_or(&1) as f64;
        for (panel, mode) in panels.iter().zip(modes) {
            let ymax = self
                .cells
                .iter()
                .filter(|c| &c.mode == mode)
                .map(Cell::per_second)
                .fold(1.0, f64::max)
                * 1.15;
            let title = if mode == "pingpong" {
                "ping-pong: requests per second"
            } else {
                "churn: connections per second"
            };
            let mut chart = ChartBuilder::on(panel)
                .caption(title, ("sans-serif", 22))
                .margin(15)
                .x_label_area_size(45)
                .y_label_area_size(80)
                .build_cartesian_2d((0.8f64..max_n * 1.25).log_scale(), 0.0..ymax)
                .map_err(|e| e.to_string())?;
            chart
                .configure_mesh()
                .x_desc("concurrent connections")
                .y_desc("per second (median)")
                .x_label_formatter(&|x| format!("{x:.0}"))
                .y_label_formatter(&|y| format!("{y:.0}"))
                .draw()
                .map_err(|e| e.to_string())?;
            for (i, s) in self.args.servers.iter().enumerate() {
                let pts: Vec<(f64, f64)> = self
                    .args
                    .connections
                    .iter()
                    .filter_map(|&n| {
                        self.cell(s.name, mode, n)
                            .map(|c| (n as f64, c.per_second()))
                    })
                    .collect();
                let color = colors[i % colors.len()];
                chart
                    .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                    .map_err(|e| e.to_string())?
                    .label(s.name)
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                    });
                chart
                    .draw_series(pts.into_iter().map(|p| Circle::new(p, 4, color.filled())))
                    .map_err(|e| e.to_string())?;
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .position(SeriesLabelPosition::UpperRight)
                .draw()
                .map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())
    }
}

/// A TrueType font for the plot's text: `BENCH_FONT`, or DejaVu Sans where Debian's
/// fonts-dejavu-core puts it.
fn load_font() -> Result<&'static [u8], String> {
    let mut candidates: Vec<PathBuf> = std::env::var_os("BENCH_FONT")
        .map(PathBuf::from)
        .into_iter()
        .collect();
    candidates.extend(
        [
            "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
            "/usr/share/fonts/TTF/DejaVuSans.ttf",
            "/usr/share/fonts/dejavu/DejaVuSans.ttf",
        ]
        .map(PathBuf::from),
    );
    for p in &candidates {
        if let Ok(bytes) = std::fs::read(p) {
            return Ok(Box::leak(bytes.into_boxed_slice()));
        }
    }
    Err("no TrueType font for the plot: install fonts-dejavu-core or set BENCH_FONT=/path/to/font.ttf".into())
}

fn machine() -> Value {
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|t| {
        t.lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split(':').nth(1))
            .map(|s| s.trim().to_string())
    });
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .map(|s| s.trim().to_string());
    json!({
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "cpu_model": cpu_model,
        "kernel": kernel,
    })
}

/// The directory of the binaries; under `cargo run`, builds eventd there first.
fn binaries() -> Result<PathBuf, String> {
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let dir = me.parent().ok_or("no directory")?.to_path_buf();
    if let Some(cargo) = std::env::var_os("CARGO") {
        let release = dir.ends_with("release");
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-p", "eventd", "-p", "bench", "--bins"]);
        if release {
            cmd.arg("--release");
        }
        let st = cmd.status().map_err(|e| format!("cargo build: {e}"))?;
        if !st.success() {
            return Err("cargo build -p eventd failed".into());
        }
    }
    for bin in ["eventd", "c-reference", "tokio-reference", "loadgen"] {
        if !dir.join(bin).exists() {
            return Err(format!(
                "{} is missing: run `cargo build --release --workspace` first",
                dir.join(bin).display()
            ));
        }
    }
    Ok(dir)
}

fn main() {
    let args = parse().unwrap_or_else(|e| {
        eprintln!("matrix: {e}");
        std::process::exit(2);
    });
    let dir = binaries().unwrap_or_else(|e| {
        eprintln!("matrix: {e}");
        std::process::exit(1);
    });
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let pin = cores >= 2
        && Command::new("taskset")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
    if !pin {
        eprintln!("matrix: not pinning (needs taskset and two cores)");
    }
    let env = Env { dir, pin };
    let mut cells: Vec<Cell> = Vec::new();
    for mode in &args.modes {
        for &n in &args.connections {
            for s in &args.servers {
                cells.push(Cell {
                    server: s.name,
                    mode: mode.clone(),
                    connections: n,
                    runs: Vec::new(),
                });
            }
        }
    }
    let started = Instant::now();
    let total = cells.len() * args.reps;
    let mut done = 0;
    let per_cell = args.servers.len();
    for rep in 0..args.reps {
        for group in cells.chunks_mut(per_cell) {
            let k = group.len();
            for i in 0..k {
                let cell = &mut group[(i + rep) % k];
                let server = args
                    .servers
                    .iter()
                    .find(|s| s.name == cell.server)
                    .expect("server");
                let run = env.measure(server, &cell.mode, cell.connections, args.duration);
                done += 1;
                eprintln!(
                    "[{done}/{total}] {} {} {}: {:.0}/s p99 {:.0} µs{} errors {} cpu {:.2}/{:.2}{}",
                    cell.server,
                    cell.mode,
                    cell.connections,
                    run.per_second,
                    run.p99_us,
                    run.rss_per_conn
                        .map_or(String::new(), |b| format!(" rss/conn {b:.0} B")),
                    run.errors,
                    run.server_cpu,
                    run.loadgen_cpu,
                    run.failure
                        .as_ref()
                        .map_or(String::new(), |f| format!(" FAILED: {f}"))
                );
                cell.runs.push(run);
            }
        }
    }
    let report = Report {
        args: &args,
        cells,
        pinned: pin,
        seconds: started.elapsed().as_secs_f64(),
    };
    if let Err(e) = std::fs::create_dir_all(&args.out) {
        eprintln!("matrix: {}: {e}", args.out.display());
        std::process::exit(1);
    }
    let json = serde_json::to_string_pretty(&report.json()).expect("json");
    let md = report.markdown();
    for (name, text) in [("report.json", json + "\n"), ("report.md", md.clone())] {
        if let Err(e) = std::fs::write(args.out.join(name), text) {
            eprintln!("matrix: {name}: {e}");
            std::process::exit(1);
        }
    }
    if let Err(e) = report.plot(&args.out.join("report.png")) {
        eprintln!("matrix: report.png not written: {e}");
    }
    println!("{md}");
    println!("written to {}", args.out.display());
    let errors: u64 = report.cells.iter().map(Cell::errors).sum();
    if args.strict && errors > 0 {
        eprintln!("matrix: {errors} errors");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_even_and_no_runs() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(vec![]), 0.0);
    }

    #[test]
    fn loadgen_fields() {
        let line = "mode=pingpong connections=100 per_second=71668 p99_us=1888 errors=0";
        assert_eq!(field(line, "per_second"), Some(71668.0));
        assert_eq!(field(line, "p99_us"), Some(1888.0));
        assert_eq!(field(line, "p99"), None);
        assert_eq!(field(line, "missing"), None);
    }

    #[test]
    fn failed_runs_count_as_errors_and_stay_out_of_the_medians() {
        let run = |per_second, failure: Option<&str>| Run {
            per_second,
            failure: failure.map(str::to_owned),
            errors: failure.is_some() as u64,
            ..Run::default()
        };
        let c = Cell {
            server: "eventd",
            mode: "pingpong".into(),
            connections: 100,
            runs: vec![run(10.0, None), run(0.0, Some("died")), run(30.0, None)],
        };
        assert_eq!(c.per_second(), 20.0);
        assert_eq!(c.errors(), 1);
        assert_eq!(c.json()["runs"][1]["failure"], "died");
    }
}
