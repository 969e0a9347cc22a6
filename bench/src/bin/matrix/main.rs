//! matrix: every server against every connection count in every mode, repeated and
//! interleaved, with medians; writes report.json, report.md and report.png.
//!
//! ```text
//! cargo run --release -p bench --bin matrix -- [--reps 5] [--duration 2]
//!     [--connections 1,100,1000,10000] [--modes pingpong,churn,idle]
//!     (also: active1, ping-pong on 1% of the connections, the rest idle)
//!     [--servers eventd,eventd-w2,c-reference,tokio-current,tokio-multi,async-eventd]
//!     (also: eventd-upstream, eventd on libevent's exact upstream configuration)
//!     [--out DIR] [--quick] [--strict] [--tls]
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
//! - `--strict`: exit 1 if any run of this project's servers had errors (connections
//!   refused, reset or lost), or a reference server errs again when measured once more.
//! - `--tls`: ping-pong over TLS: eventd, c-reference and the tokio references with
//!   `--tls-cert`/`--tls-key` (a self-signed P-256 certificate made with the `openssl`
//!   tool), driven by `tls-loadgen`; everything built with the `tls` features; output in
//!   `bench/results/tls` unless `--out` says otherwise.
//!
//! The binaries are taken from this executable's directory; under `cargo run`, `eventd` is
//! built there first.

mod args;
mod measure;
mod plot;
mod report;
use bench::spec;

use measure::Env;
use report::{Cell, Report};
use spec::Server;

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

/// The directory of the binaries; under `cargo run`, builds eventd there first (and,
/// when `eventd-upstream` is to run, eventd on upstream's exact libevent configuration
/// into its own target directory).
fn binaries(servers: &[Server], tls: bool) -> Result<PathBuf, String> {
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let dir = me.parent().ok_or("no directory")?.to_path_buf();
    if let Some(cargo) = std::env::var_os("CARGO") {
        let release = dir.ends_with("release");
        let build = |args: &[&str], target_dir: Option<PathBuf>| {
            let mut cmd = Command::new(&cargo);
            cmd.arg("build").args(args);
            if release {
                cmd.arg("--release");
            }
            if let Some(t) = target_dir {
                cmd.arg("--target-dir").arg(t);
            }
            let st = cmd.status().map_err(|e| format!("cargo build: {e}"))?;
            st.success()
                .then_some(())
                .ok_or_else(|| format!("cargo build {} failed", args.join(" ")))
        };
        if tls {
            build(
                &[
                    "-p",
                    "eventd",
                    "-p",
                    "bench",
                    "--bins",
                    "--features",
                    "eventd/tls,bench/tls",
                ],
                None,
            )?;
        } else {
            build(&["-p", "eventd", "-p", "bench", "--bins"], None)?;
        }
        if servers.contains(&Server::AsyncEventd) {
            build(&["-p", "libevent", "--example", "async_eventd"], None)?;
        }
        if servers.contains(&Server::EventdUpstream) {
            let target = dir.parent().unwrap_or(&dir).join(spec::UPSTREAM_TARGET);
            build(
                &["-p", "eventd", "--features", "libevent/exact-upstream"],
                Some(target),
            )?;
        }
    }
    let needed = servers
        .iter()
        .map(|s| s.path(&dir))
        .chain([dir.join(if tls { "tls-loadgen" } else { "loadgen" })]);
    for path in needed {
        if !path.exists() {
            return Err(format!(
                "{} is missing: run `cargo build --release --workspace` first",
                path.display()
            ));
        }
    }
    Ok(dir)
}

/// A self-signed certificate and key for `--tls`, made with the `openssl` tool in a
/// directory of the system's temporary one (not the report's: a key is not a result).
fn certificate() -> Result<(PathBuf, PathBuf), String> {
    let dir = std::env::temp_dir().join(format!("matrix-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let st = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("openssl (the tool, Debian's openssl package): {e}"))?;
    st.success()
        .then_some((cert, key))
        .ok_or_else(|| "openssl req failed".to_string())
}

/// Pins only with `taskset` and at least two cores.
fn can_pin() -> bool {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    cores >= 2
        && Command::new("taskset")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success())
}

/// Every (mode, connections, server) cell, with no runs yet; the servers of one
/// (mode, connections) are adjacent, which is how [`run_all`] interleaves them.
fn empty_cells(args: &args::Args) -> Vec<Cell> {
    let mut cells = Vec::new();
    for &mode in &args.modes {
        for &connections in &args.connections {
            for &server in &args.servers {
                cells.push(Cell {
                    server,
                    mode,
                    connections,
                    runs: Vec::new(),
                });
            }
        }
    }
    cells
}

/// Runs every cell `args.reps` times: per repetition, per (mode, connections), every
/// server once, in an order rotated each repetition.
fn run_all(env: &Env, args: &args::Args, cells: &mut [Cell]) {
    let total = cells.len() * args.reps;
    let mut done = 0;
    for rep in 0..args.reps {
        for group in cells.chunks_mut(args.servers.len()) {
            let k = group.len();
            for i in 0..k {
                let cell = &mut group[(i + rep) % k];
                let run = env.measure(cell.server, cell.mode, cell.connections, args.duration);
                done += 1;
                eprintln!(
                    "[{done}/{total}] {} {} {}: {:.0}/s p99 {:.0} µs{} errors {} cpu {:.2}/{:.2}{}",
                    cell.server.name(),
                    cell.mode.name(),
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
}

/// Writes report.json, report.md, report.png and latency.png into `args.out`; returns
/// the markdown.
fn write_report(report: &Report<'_>) -> Result<String, String> {
    let out = &report.args.out;
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let json = serde_json::to_string_pretty(&report.json()).expect("json");
    let md = report.markdown();
    for (name, text) in [("report.json", json + "\n"), ("report.md", md.clone())] {
        std::fs::write(out.join(name), text).map_err(|e| format!("{name}: {e}"))?;
    }
    if let Err(e) = plot::plot(report, &out.join("report.png")) {
        eprintln!("matrix: report.png not written: {e}");
    }
    if let Err(e) = plot::plot_latency(report, 100, &out.join("latency.png")) {
        eprintln!("matrix: latency.png not written: {e}");
    }
    Ok(md)
}

fn fail(code: i32, e: impl std::fmt::Display) -> ! {
    eprintln!("matrix: {e}");
    std::process::exit(code);
}

fn main() {
    let args = args::parse().unwrap_or_else(|e| fail(2, e));
    let dir = binaries(&args.servers, args.tls).unwrap_or_else(|e| fail(1, e));
    let tls = args
        .tls
        .then(certificate)
        .transpose()
        .unwrap_or_else(|e| fail(1, e));
    let pin = can_pin();
    if !pin {
        eprintln!("matrix: not pinning (needs taskset and two cores)");
    }
    let env = Env { dir, pin, tls };
    let mut cells = empty_cells(&args);
    let started = Instant::now();
    run_all(&env, &args, &mut cells);
    let report = Report {
        args: &args,
        cells,
        pinned: pin,
        seconds: started.elapsed().as_secs_f64(),
    };
    let md = write_report(&report).unwrap_or_else(|e| fail(1, e));
    println!("{md}");
    println!("written to {}", args.out.display());
    if args.strict {
        strict_verdict(&env, &args, &report.cells);
    }
}

/// `--strict`: any error of this project's servers fails. A reference server (tokio's,
/// the C one: the baselines, not the code under test) that saw errors is measured once
/// more, and fails only if it errs again: on a loaded 2-core machine tokio's accept loop
/// can drop a handful of 10,000 connections in a ramp, once in a while (15 in one CI run),
/// which says nothing about this project's code. Every error is printed either way.
fn strict_verdict(env: &Env, args: &args::Args, cells: &[Cell]) {
    let reference = |s: Server| {
        matches!(
            s,
            Server::CReference | Server::TokioCurrent | Server::TokioMulti
        )
    };
    let ours: u64 = cells
        .iter()
        .filter(|c| !reference(c.server))
        .map(Cell::errors)
        .sum();
    if ours > 0 {
        fail(1, format!("{ours} errors in this project's servers"));
    }
    for c in cells
        .iter()
        .filter(|c| reference(c.server) && c.errors() > 0)
    {
        let again = env.measure(c.server, c.mode, c.connections, args.duration);
        eprintln!(
            "matrix: {} {} {}: {} errors, measured again: {} errors{}",
            c.server.name(),
            c.mode.name(),
            c.connections,
            c.errors(),
            again.errors,
            again
                .failure
                .as_ref()
                .map_or(String::new(), |f| format!(" (FAILED: {f})"))
        );
        if again.errors > 0 {
            fail(1, format!("{} errs again", c.server.name()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use measure::{field, median, Run};
    use spec::Mode;

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
            server: Server::Eventd,
            mode: Mode::PingPong,
            connections: 100,
            runs: vec![run(10.0, None), run(0.0, Some("died")), run(30.0, None)],
        };
        assert_eq!(c.per_second(), 20.0);
        assert_eq!(c.errors(), 1);
        assert_eq!(c.json()["runs"][1]["failure"], "died");
    }

    #[test]
    fn the_spread_pairs_the_runs_of_each_repetition_and_skips_failed_ones() {
        let run = |per_second, failure: Option<&str>| Run {
            per_second,
            failure: failure.map(str::to_owned),
            ..Run::default()
        };
        let cell = |server, runs| Cell {
            server,
            mode: Mode::PingPong,
            connections: 100,
            runs,
        };
        let args = args::Args {
            reps: 3,
            duration: 1.0,
            connections: vec![100],
            modes: vec![Mode::PingPong],
            servers: vec![Server::Eventd, Server::TokioCurrent],
            out: PathBuf::new(),
            strict: false,
            tls: false,
        };
        let eventd = vec![run(90.0, None), run(10.0, Some("died")), run(150.0, None)];
        let tokio = vec![run(100.0, None), run(100.0, None), run(125.0, None)];
        let r = Report {
            args: &args,
            cells: vec![
                cell(Server::Eventd, eventd),
                cell(Server::TokioCurrent, tokio),
            ],
            pinned: true,
            seconds: 1.0,
        };
        let (a, b) = (Server::Eventd, Server::TokioCurrent);
        let p = r.paired_ratios(a, b, Mode::PingPong, 100).unwrap();
        assert_eq!((p.median, p.lo, p.hi, p.n), (1.05, 0.9, 1.2, 2));
        assert_eq!(p.confidence, 0.5);
        assert_eq!(r.paired_ratios(a, b, Mode::PingPong, 1000), None);
        let md = r.markdown();
        assert!(
            md.contains("| 100 | 1.050 (0.900 – 1.200, 2 pairs) |"),
            "{md}"
        );
        assert!(md.contains("75.0% confidence"), "{md}");
    }
}
