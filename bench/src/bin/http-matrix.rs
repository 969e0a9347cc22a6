//! http-matrix: wrk against five HTTP servers answering `GET /hello`, the same way:
//! examples/http_server.rs (the safe crate's evhttp, with its strict framing layer, and
//! with `--lenient`: libevent's parser alone), the same server in C on the same
//! libevent build (`c-http-reference`), hyper on tokio's current_thread runtime
//! (`hyper-reference`), and the same hyper service on libevent's loop through the safe
//! crate's `hyper` feature (`hyper-loop`). Requests per second, p99 latency and server CPU per request, at
//! each connection count; medians over interleaved repetitions.
//!
//! ```text
//! cargo run --release -p bench --bin http-matrix -- [--reps 5] [--duration 3]
//!     [--connections 1,100,1000] [--out DIR] [--quick] [--strict] [--h2]
//! ```
//!
//! `--h2`: HTTP/2 with prior knowledge instead, h2load (Debian's nghttp2-client, one
//! thread, 10 streams per connection) against the two hyper servers in their `--h2` mode;
//! output in bench/results/http2. h2load reports no percentiles: the latency column is
//! then its mean time per request.
//!
//! Servers run on core 0 and wrk (one thread) on core 1, with `taskset` when there are two
//! cores. `--quick` (CI's smoke version): one repetition of one second, output in
//! `target/bench-smoke-http`. `--strict`: exit 1 if wrk saw any socket error or any
//! response other than 200. Writes report.md, report.json and report.png.

use bench::{cpu_seconds, median, stop};
use plotters::prelude::*;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, PartialEq)]
enum Server {
    EvhttpRust,
    /// The same example with the strict framing layer off (`--lenient`): its cost.
    EvhttpRustLenient,
    EvhttpC,
    HyperCurrent,
    /// hyper on libevent's loop (libevent::hyper).
    HyperLoop,
}

impl Server {
    const ALL: [Server; 5] = [
        Server::EvhttpRust,
        Server::EvhttpRustLenient,
        Server::EvhttpC,
        Server::HyperCurrent,
        Server::HyperLoop,
    ];

    fn name(self) -> &'static str {
        match self {
            Server::EvhttpRust => "evhttp-rust",
            Server::EvhttpRustLenient => "evhttp-rust-lenient",
            Server::EvhttpC => "evhttp-c",
            Server::HyperCurrent => "hyper-current",
            Server::HyperLoop => "hyper-loop",
        }
    }

    fn args(self) -> &'static [&'static str] {
        match self {
            Server::EvhttpRustLenient => &["--lenient"],
            _ => &[],
        }
    }

    fn path(self, dir: &Path) -> PathBuf {
        match self {
            Server::EvhttpRust | Server::EvhttpRustLenient => {
                dir.join("examples").join("http_server")
            }
            Server::EvhttpC => dir.join("c-http-reference"),
            Server::HyperCurrent => dir.join("hyper-reference"),
            Server::HyperLoop => dir.join("hyper-loop"),
        }
    }
}

#[derive(Clone, Default)]
struct Run {
    per_second: f64,
    p99_us: f64,
    cpu_us_per_request: f64,
    errors: u64,
    failure: Option<String>,
}

struct Args {
    reps: usize,
    duration: u64,
    connections: Vec<usize>,
    out: PathBuf,
    strict: bool,
    /// HTTP/2 under h2load (the hyper servers only).
    h2: bool,
}

impl Args {
    fn servers(&self) -> Vec<Server> {
        if self.h2 {
            vec![Server::HyperCurrent, Server::HyperLoop]
        } else {
            Server::ALL.to_vec()
        }
    }
}

/// The command line.
#[derive(clap::Parser)]
#[command(about = "The HTTP benchmark: evhttp from Rust and from C, and hyper, under wrk")]
struct Cli {
    /// Runs per cell (default 5; 1 with --quick).
    #[arg(long)]
    reps: Option<usize>,
    /// Seconds per run (default 3; 1 with --quick).
    #[arg(long)]
    duration: Option<u64>,
    /// Connection counts, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,100,1000")]
    connections: Vec<usize>,
    /// Where the report goes (default bench/results/http; target/bench-smoke-http with --quick).
    #[arg(long)]
    out: Option<PathBuf>,
    /// The smoke version: one short run per cell.
    #[arg(long)]
    quick: bool,
    /// Fail on any error of this project's servers.
    #[arg(long)]
    strict: bool,
    /// HTTP/2 with prior knowledge under h2load, against the hyper servers.
    #[arg(long)]
    h2: bool,
}

fn parse_args() -> Result<Args, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let c = <Cli as clap::Parser>::parse();
    let a = Args {
        reps: c.reps.unwrap_or(if c.quick { 1 } else { 5 }),
        duration: c.duration.unwrap_or(if c.quick { 1 } else { 3 }),
        connections: c.connections,
        out: c.out.unwrap_or_else(|| match (c.quick, c.h2) {
            (true, false) => root.join("../target/bench-smoke-http"),
            (true, true) => root.join("../target/bench-smoke-http2"),
            (false, false) => root.join("results/http"),
            (false, true) => root.join("results/http2"),
        }),
        strict: c.strict,
        h2: c.h2,
    };
    if a.reps == 0 || a.duration == 0 || a.connections.is_empty() || a.connections.contains(&0) {
        return Err("--reps, --duration and every connection count must be positive".into());
    }
    Ok(a)
}

/// The binaries' directory; under `cargo run`, builds the servers there first.
fn binaries() -> Result<PathBuf, String> {
    let dir = bench::binaries_built_with(&[
        "-q",
        "-p",
        "libevent",
        "--example",
        "http_server",
        "-p",
        "bench",
        "--bins",
    ])?;
    for s in Server::ALL {
        if !s.path(&dir).exists() {
            return Err(format!(
                "{} is missing: build it first",
                s.path(&dir).display()
            ));
        }
    }
    Ok(dir)
}

fn pinned(pin: bool, core: usize, program: &Path) -> Command {
    if pin {
        let mut c = Command::new("taskset");
        c.arg("-c").arg(core.to_string()).arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// A wrk duration like `427.00us`, `1.05ms` or `2.00s`, in µs.
fn micros(s: &str) -> Option<f64> {
    let (num, scale) = if let Some(v) = s.strip_suffix("us") {
        (v, 1.0)
    } else if let Some(v) = s.strip_suffix("ms") {
        (v, 1e3)
    } else if let Some(v) = s.strip_suffix('s') {
        (v, 1e6)
    } else {
        return None;
    };
    Some(num.parse::<f64>().ok()? * scale)
}

/// (requests per second, p99 µs, requests, errors) from wrk's `--latency` output.
fn parse_wrk(out: &str) -> Option<(f64, f64, f64, u64)> {
    let mut per_second = None;
    let mut p99 = None;
    let mut requests = None;
    let mut errors = 0;
    for line in out.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Requests/sec:", v] => per_second = v.parse().ok(),
            ["99%", v] => p99 = micros(v),
            [n, "requests", "in", ..] => requests = n.parse().ok(),
            ["Non-2xx", "or", "3xx", "responses:", n] => errors += n.parse::<u64>().ok()?,
            ["Socket", "errors:", rest @ ..] => {
                errors += rest
                    .iter()
                    .filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok())
                    .sum::<u64>()
            }
            _ => {}
        }
    }
    Some((per_second?, p99?, requests?, errors))
}

/// (requests per second, mean µs per request, requests, errors) from h2load's output.
fn parse_h2load(out: &str) -> Option<(f64, f64, f64, u64)> {
    let mut per_second = None;
    let mut mean = None;
    let mut requests = None;
    let mut errors = None;
    for line in out.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["finished", "in", _, rate, "req/s,", ..] => per_second = rate.parse().ok(),
            ["requests:", _, "total,", _, "started,", done, "done,", _, "succeeded,", failed, "failed,", errored, "errored,", timeout, "timeout"] =>
            {
                requests = done.parse().ok();
                errors = Some(
                    failed.parse::<u64>().ok()?
                        + errored.parse::<u64>().ok()?
                        + timeout.parse::<u64>().ok()?,
                );
            }
            ["time", "for", "request:", _min, _max, m, ..] => mean = micros(m),
            _ => {}
        }
    }
    Some((per_second?, mean?, requests?, errors?))
}

fn measure(
    dir: &Path,
    pin: bool,
    h2: bool,
    s: Server,
    conns: usize,
    secs: u64,
) -> Result<Run, String> {
    let mut server = pinned(pin, 0, &s.path(dir))
        .arg("127.0.0.1:0")
        .args(s.args())
        .args(if h2 { &["--h2"][..] } else { &[] })
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{}: {e}", s.name()))?;
    let mut line = String::new();
    let mut out = BufReader::new(server.stdout.take().expect("piped"));
    let addr: Option<SocketAddr> = loop {
        line.clear();
        if out.read_line(&mut line).unwrap_or(0) == 0 {
            break None;
        }
        if let Some(a) = line.trim().strip_prefix("listening on ") {
            break a.parse().ok();
        }
    };
    let Some(addr) = addr else {
        stop(&mut server);
        return Err(format!("{} did not start", s.name()));
    };
    // The server's output must keep flowing (it prints nothing more, but never block it).
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    drop(TcpStream::connect(addr));
    std::thread::sleep(Duration::from_millis(100));
    let pid = server.id();
    let cpu0 = cpu_seconds(pid);
    let (tool, wrk) = if h2 {
        let out = pinned(pin, 1, Path::new("h2load"))
            .args(["-t1", &format!("-c{conns}"), "-m10", &format!("-D{secs}")])
            .arg(format!("http://{addr}/hello"))
            .output()
            .map_err(|e| format!("h2load: {e} (install Debian's nghttp2-client)"));
        ("h2load", out)
    } else {
        let out = pinned(pin, 1, Path::new("wrk"))
            .args([
                "-t1",
                &format!("-c{conns}"),
                &format!("-d{secs}s"),
                "--latency",
                "--timeout",
                "5s",
            ])
            .arg(format!("http://{addr}/hello"))
            .output()
            .map_err(|e| format!("wrk: {e} (install Debian's wrk)"));
        ("wrk", out)
    };
    let cpu = cpu_seconds(pid) - cpu0;
    let alive = matches!(server.try_wait(), Ok(None));
    stop(&mut server);
    let wrk = wrk?;
    let text = String::from_utf8_lossy(&wrk.stdout);
    if !wrk.status.success() {
        return Err(format!(
            "{tool} {}: {}",
            wrk.status,
            String::from_utf8_lossy(&wrk.stderr).trim()
        ));
    }
    if !alive {
        return Err(format!("{} died during the run", s.name()));
    }
    let parsed = if h2 {
        parse_h2load(&text)
    } else {
        parse_wrk(&text)
    };
    let (per_second, p99_us, requests, errors) =
        parsed.ok_or_else(|| format!("{tool} output not understood: {text}"))?;
    Ok(Run {
        per_second,
        p99_us,
        cpu_us_per_request: if requests > 0.0 {
            cpu * 1e6 / requests
        } else {
            0.0
        },
        errors,
        failure: None,
    })
}

struct Cell {
    server: Server,
    connections: usize,
    runs: Vec<Run>,
}

impl Cell {
    fn med(&self, f: impl Fn(&Run) -> f64) -> f64 {
        median(
            self.runs
                .iter()
                .filter(|r| r.failure.is_none())
                .map(f)
                .collect(),
        )
    }
    fn errors(&self) -> u64 {
        self.runs.iter().map(|r| r.errors).sum()
    }
}

fn report(cells: &[Cell], args: &Args, pin: bool, seconds: f64) -> String {
    let cell = |s: Server, n: usize| cells.iter().find(|c| c.server == s && c.connections == n);
    let (tool, latency) = if args.h2 {
        ("h2load", "mean latency")
    } else {
        ("wrk", "p99 latency")
    };
    let mut md = if args.h2 {
        String::from(
            "# HTTP/2 (prior knowledge): GET /hello under h2load, 10 streams per connection\n\n",
        )
    } else {
        String::from("# HTTP: GET /hello under wrk\n\n")
    };
    md.push_str(&format!(
        "Median of {} interleaved runs of {} s per cell; {tool} with one thread{}; {:.0} s in all.\n\
         Command: `cargo run --release -p bench --bin http-matrix{}`.\n\n",
        args.reps,
        args.duration,
        if pin {
            format!(", servers pinned to core 0 and {tool} to core 1")
        } else {
            " (not pinned)".to_owned()
        },
        seconds,
        if args.h2 { " -- --h2" } else { "" }
    ));
    md.push_str(&format!("| connections | server | requests/s | {latency} | server CPU per request | errors |\n|---:|---|---:|---:|---:|---:|\n"));
    for &n in &args.connections {
        for s in args.servers() {
            if let Some(c) = cell(s, n) {
                md.push_str(&format!(
                    "| {n} | {} | {:.0} | {:.0} µs | {:.2} µs | {} |\n",
                    s.name(),
                    c.med(|r| r.per_second),
                    c.med(|r| r.p99_us),
                    c.med(|r| r.cpu_us_per_request),
                    c.errors()
                ));
            }
        }
    }
    if args.h2 {
        md.push_str("\n| connections | hyper-loop / hyper-current (target 0.9) |\n|---:|---:|\n");
        for &n in &args.connections {
            let rate = |s| cell(s, n).map_or(0.0, |c| c.med(|r| r.per_second));
            md.push_str(&format!(
                "| {n} | {:.2} |\n",
                rate(Server::HyperLoop) / rate(Server::HyperCurrent).max(1e-9)
            ));
        }
    }
    if !args.h2 {
        md.push_str(
            "\n| connections | evhttp-rust / evhttp-c | evhttp-rust / evhttp-rust-lenient (the strict layer's cost) | hyper-current / evhttp-c | hyper-loop / hyper-current (target 0.9) |\n|---:|---:|---:|---:|---:|\n",
        );
        for &n in &args.connections {
            let rate = |s| cell(s, n).map_or(0.0, |c| c.med(|r| r.per_second));
            let c = rate(Server::EvhttpC).max(1e-9);
            md.push_str(&format!(
                "| {n} | {:.2} | {:.2} | {:.2} | {:.2} |\n",
                rate(Server::EvhttpRust) / c,
                rate(Server::EvhttpRust) / rate(Server::EvhttpRustLenient).max(1e-9),
                rate(Server::HyperCurrent) / c,
                rate(Server::HyperLoop) / rate(Server::HyperCurrent).max(1e-9)
            ));
        }
    }
    for c in cells {
        for r in &c.runs {
            if let Some(f) = &r.failure {
                md.push_str(&format!(
                    "\nFailed run: {} at {}: {f}\n",
                    c.server.name(),
                    c.connections
                ));
            }
        }
    }
    md
}

fn json(cells: &[Cell]) -> serde_json::Value {
    serde_json::Value::Array(
        cells
            .iter()
            .map(|c| {
                serde_json::json!({
                    "server": c.server.name(),
                    "connections": c.connections,
                    "per_second": c.med(|r| r.per_second),
                    "p99_us": c.med(|r| r.p99_us),
                    "cpu_us_per_request": c.med(|r| r.cpu_us_per_request),
                    "errors": c.errors(),
                    "runs": c.runs.iter().map(|r| serde_json::json!({
                        "per_second": r.per_second, "p99_us": r.p99_us,
                        "cpu_us_per_request": r.cpu_us_per_request, "errors": r.errors,
                        "failure": r.failure,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect(),
    )
}

fn plot(cells: &[Cell], args: &Args, path: &Path) -> Result<(), String> {
    bench::register_plot_font()?;
    let root = BitMapBackend::new(path, (1000, 450)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let ymax = cells
        .iter()
        .map(|c| c.med(|r| r.per_second))
        .fold(1.0, f64::max)
        * 1.15;
    let max_n = *args.connections.iter().max().unwrap_or(&1) as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            if args.h2 {
                "GET /hello over HTTP/2: requests per second"
            } else {
                "GET /hello: requests per second"
            },
            ("sans-serif", 22),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(80)
        .build_cartesian_2d((0.8f64..max_n * 1.25).log_scale(), 0.0..ymax)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("concurrent connections")
        .y_desc("requests per second (median)")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()
        .map_err(|e| e.to_string())?;
    let series = args
        .servers()
        .into_iter()
        .map(|s| {
            let pts = cells
                .iter()
                .filter(|c| c.server == s)
                .map(|c| (c.connections as f64, c.med(|r| r.per_second)))
                .collect();
            (s.name(), pts)
        })
        .collect();
    bench::draw_lines(&mut chart, series)?;
    root.present().map_err(|e| e.to_string())
}

fn fail(code: i32, e: impl std::fmt::Display) -> ! {
    eprintln!("http-matrix: {e}");
    std::process::exit(code);
}

fn main() {
    let args = parse_args().unwrap_or_else(|e| fail(2, e));
    let dir = binaries().unwrap_or_else(|e| fail(1, e));
    let pin = std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2)
        && Command::new("taskset")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
    let mut cells: Vec<Cell> = args
        .connections
        .iter()
        .flat_map(|&n| {
            args.servers().into_iter().map(move |server| Cell {
                server,
                connections: n,
                runs: Vec::new(),
            })
        })
        .collect();
    let started = Instant::now();
    let total = cells.len() * args.reps;
    let mut done = 0;
    for rep in 0..args.reps {
        for group in cells.chunks_mut(args.servers().len()) {
            let k = group.len();
            for i in 0..k {
                let cell = &mut group[(i + rep) % k];
                let run = measure(
                    &dir,
                    pin,
                    args.h2,
                    cell.server,
                    cell.connections,
                    args.duration,
                )
                .unwrap_or_else(|e| Run {
                    failure: Some(e),
                    errors: 1,
                    ..Run::default()
                });
                done += 1;
                eprintln!(
                    "[{done}/{total}] {} {}: {:.0}/s p99 {:.0} µs cpu {:.2} µs/req errors {}{}",
                    cell.server.name(),
                    cell.connections,
                    run.per_second,
                    run.p99_us,
                    run.cpu_us_per_request,
                    run.errors,
                    run.failure
                        .as_ref()
                        .map_or(String::new(), |f| format!(" FAILED: {f}"))
                );
                cell.runs.push(run);
            }
        }
    }
    let md = report(&cells, &args, pin, started.elapsed().as_secs_f64());
    std::fs::create_dir_all(&args.out)
        .unwrap_or_else(|e| fail(1, format!("{}: {e}", args.out.display())));
    let js = serde_json::to_string_pretty(&json(&cells)).expect("json") + "\n";
    for (name, text) in [("report.md", &md), ("report.json", &js)] {
        std::fs::write(args.out.join(name), text)
            .unwrap_or_else(|e| fail(1, format!("{name}: {e}")));
    }
    if let Err(e) = plot(&cells, &args, &args.out.join("report.png")) {
        eprintln!("http-matrix: report.png not written: {e}");
    }
    println!("{md}");
    println!("written to {}", args.out.display());
    let errors: u64 = cells.iter().map(Cell::errors).sum();
    if args.strict && errors > 0 {
        fail(1, format!("{errors} errors"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrk_output() {
        let out = "Running 1s test @ http://127.0.0.1:1/hello
  1 threads and 100 connections
  Latency Distribution
     50%  427.00us
     99%    1.05ms
  123456 requests in 2.00s, 15.20MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 5
Requests/sec:  61728.00
Transfer/sec:      7.61MB
";
        assert_eq!(parse_wrk(out), Some((61728.0, 1050.0, 123456.0, 8)));
        assert_eq!(micros("2.00s"), Some(2e6));
        assert_eq!(micros("12"), None);
        assert_eq!(parse_wrk("garbage"), None);
    }
}
