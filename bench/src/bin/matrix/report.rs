//! report.json and report.md: each cell's runs summarised, the ratios, the failures.

use crate::args::Args;
use crate::measure::{median, Run};
use bench::spec::{Mode, Server};
use serde_json::{json, Value};

/// One cell's runs, summarised.
pub struct Cell {
    pub server: Server,
    pub mode: Mode,
    pub connections: usize,
    pub runs: Vec<Run>,
}

impl Cell {
    pub fn ok_runs(&self) -> impl Iterator<Item = &Run> {
        self.runs.iter().filter(|r| r.failure.is_none())
    }
    pub fn med(&self, f: impl Fn(&Run) -> f64) -> f64 {
        median(self.ok_runs().map(f).collect())
    }
    pub fn per_second(&self) -> f64 {
        self.med(|r| r.per_second)
    }
    pub fn rss_per_conn(&self) -> Option<f64> {
        let v: Vec<f64> = self.ok_runs().filter_map(|r| r.rss_per_conn).collect();
        (!v.is_empty()).then(|| median(v))
    }
    /// Server CPU time per request (or connection), in µs: comparable even where the
    /// load generator, not the server, sets the pace.
    pub fn cpu_us_per_op(&self) -> Option<f64> {
        let v: Vec<f64> = self
            .ok_runs()
            .filter(|r| r.per_second > 0.0)
            .map(|r| r.server_cpu * 1e6 / r.per_second)
            .collect();
        (!v.is_empty()).then(|| median(v))
    }

    /// The latency distribution: at each quantile, the median of the runs' values.
    pub fn latency(&self) -> Vec<(f64, f64)> {
        let runs: Vec<&Run> = self.ok_runs().filter(|r| !r.latency.is_empty()).collect();
        let Some(first) = runs.first() else {
            return Vec::new();
        };
        (0..first.latency.len())
            .map(|i| {
                let q = first.latency[i].0;
                let v = runs
                    .iter()
                    .filter_map(|r| r.latency.get(i).map(|p| p.1))
                    .collect();
                (q, median(v))
            })
            .collect()
    }

    pub fn errors(&self) -> u64 {
        self.runs.iter().map(|r| r.errors).sum()
    }
    pub fn json(&self) -> Value {
        json!({
            "server": self.server.name(),
            "mode": self.mode.name(),
            "connections": self.connections,
            "median_per_second": self.per_second().round(),
            "median_p50_us": self.med(|r| r.p50_us),
            "median_p90_us": self.med(|r| r.p90_us),
            "median_p99_us": self.med(|r| r.p99_us),
            "median_p999_us": self.med(|r| r.p999_us),
            "latency_distribution_us": self.latency().iter().map(|(q, v)| json!([q, v])).collect::<Vec<_>>(),
            "rss_per_idle_connection_bytes": self.rss_per_conn().map(f64::round),
            "errors": self.errors(),
            "median_server_cpu_us_per_operation": self.cpu_us_per_op().map(|v| (v * 100.0).round() / 100.0),
            "median_server_cpu_cores": (self.med(|r| r.server_cpu) * 100.0).round() / 100.0,
            "median_loadgen_cpu_cores": (self.med(|r| r.loadgen_cpu) * 100.0).round() / 100.0,
            "runs": self.runs.iter().map(|r| json!({
                "per_second": r.per_second,
                "p50_us": r.p50_us,
                "p90_us": r.p90_us,
                "p99_us": r.p99_us,
                "p999_us": r.p999_us,
                "rss_per_connection_bytes": r.rss_per_conn.map(f64::round),
                "errors": r.errors,
                "server_cpu_cores": (r.server_cpu * 100.0).round() / 100.0,
                "loadgen_cpu_cores": (r.loadgen_cpu * 100.0).round() / 100.0,
                "failure": r.failure,
            })).collect::<Vec<_>>(),
        })
    }
}

/// Every cell, and how the matrix was run: what report.json and report.md are made of.
pub struct Report<'a> {
    pub args: &'a Args,
    pub cells: Vec<Cell>,
    pub pinned: bool,
    pub seconds: f64,
}

impl Report<'_> {
    pub fn cell(&self, server: Server, mode: Mode, conns: usize) -> Option<&Cell> {
        self.cells
            .iter()
            .find(|c| c.server == server && c.mode == mode && c.connections == conns)
    }

    /// `a / b` of the figure that matters in `mode` (for idle: RSS per connection).
    fn ratio(&self, a: Server, b: Server, mode: Mode, conns: usize) -> Option<f64> {
        let (x, y) = (self.cell(a, mode, conns)?, self.cell(b, mode, conns)?);
        let (x, y) = match mode {
            Mode::Idle => (x.rss_per_conn()?, y.rss_per_conn()?),
            Mode::PingPong | Mode::Churn | Mode::Active => (x.per_second(), y.per_second()),
        };
        (y > 0.0).then(|| (x / y * 1000.0).round() / 1000.0)
    }

    pub fn json(&self) -> Value {
        let mut ratios = Vec::new();
        for &mode in &self.args.modes {
            for &n in &self.args.connections {
                let mut r = serde_json::Map::new();
                r.insert("mode".into(), json!(mode.name()));
                r.insert("connections".into(), json!(n));
                for (a, b) in self.pairs() {
                    let key = format!("{}/{}", a.name(), b.name());
                    r.insert(key, json!(self.ratio(a, b, mode, n)));
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

    /// report.md: how it was run, a section per mode, the failed runs.
    pub fn markdown(&self) -> String {
        let mut md = self.header();
        for &mode in &self.args.modes {
            md += &self.mode_section(mode);
        }
        md += &self.failures();
        md
    }

    fn header(&self) -> String {
        let m = machine();
        format!(
            "# Benchmark matrix{}\n\n{} cores ({}), Linux {}; {} repetition(s) of {} s per cell, medians; \
             pinned: {}. Produced by `cargo run --release -p bench --bin matrix{}` in {:.0} s.\n",
            if self.args.tls { " over TLS" } else { "" },
            m["cpus"],
            m["cpu_model"].as_str().unwrap_or("?"),
            m["kernel"].as_str().unwrap_or("?"),
            self.args.reps,
            self.args.duration,
            self.pinned,
            command_args(),
            self.seconds
        )
    }

    /// A mode's figures per server, its ratios, and (for throughput) the CPU tables.
    fn mode_section(&self, mode: Mode) -> String {
        let mut md = format!("\n## {}: {}\n\n", mode.name(), mode.figure());
        md += &self.server_table(mode, |c| {
            let v = match mode {
                Mode::Idle => c.rss_per_conn().map_or("n/a".into(), |b| format!("{b:.0}")),
                Mode::PingPong | Mode::Active => {
                    format!("{:.0} ({:.0})", c.per_second(), c.med(|r| r.p99_us))
                }
                Mode::Churn => format!("{:.0}", c.per_second()),
            };
            match c.errors() {
                0 => v,
                e => format!("{v} **{e} errors**"),
            }
        });
        md += &self.ratio_table(mode);
        if mode.is_throughput() {
            md += &self.spread_table(mode);
        }
        if mode == Mode::PingPong {
            md += "\nLatency, µs: p50 / p90 / p99 / p999 (medians of the runs; the distributions at 100 connections are in latency.png):\n\n";
            md += &self.server_table(mode, |c| {
                format!(
                    "{:.0} / {:.0} / {:.0} / {:.0}",
                    c.med(|r| r.p50_us),
                    c.med(|r| r.p90_us),
                    c.med(|r| r.p99_us),
                    c.med(|r| r.p999_us)
                )
            });
            md += &self.p99_ratio_table();
        }
        if mode.is_throughput() {
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
        md
    }

    /// One table: a row per connection count, a column per server, `f` filling a cell.
    fn server_table(&self, mode: Mode, f: impl Fn(&Cell) -> String) -> String {
        let names: Vec<&str> = self.args.servers.iter().map(|s| s.name()).collect();
        let mut md = format!(
            "| connections | {} |\n|---|{}\n",
            names.join(" | "),
            "---|".repeat(names.len())
        );
        for &n in &self.args.connections {
            md += &format!("| {n} |");
            for &s in &self.args.servers {
                let v = self.cell(s, mode, n).map(&f).unwrap_or_default();
                md += &format!(" {v} |");
            }
            md += "\n";
        }
        md
    }

    /// The [`Server::PAIRS`] among the servers measured.
    fn pairs(&self) -> Vec<(Server, Server)> {
        let measured = |s| self.args.servers.contains(&s);
        Server::PAIRS
            .into_iter()
            .filter(|&(a, b)| measured(a) && measured(b))
            .collect()
    }

    /// The ratios of [`Report::pairs`], a row per connection count.
    fn ratio_table(&self, mode: Mode) -> String {
        let figure = match mode {
            Mode::Idle => "RSS per connection",
            Mode::PingPong | Mode::Churn | Mode::Active => "per second",
        };
        self.pairs_table(&format!("Ratios ({figure})"), |a, b, n| {
            self.ratio(a, b, mode, n).map(|r| format!("{r:.3}"))
        })
    }

    /// Per repetition, `a`'s per-second figure over `b`'s from the same repetition (the
    /// two ran one after the other): the median of those ratios, an interval for it
    /// ([`bench::median_interval`]: its bounds and confidence) and how many there are.
    pub fn paired_ratios(&self, a: Server, b: Server, mode: Mode, conns: usize) -> Option<Paired> {
        let (x, y) = (self.cell(a, mode, conns)?, self.cell(b, mode, conns)?);
        let v: Vec<f64> = x
            .runs
            .iter()
            .zip(&y.runs)
            .filter(|(p, q)| p.failure.is_none() && q.failure.is_none() && q.per_second > 0.0)
            .map(|(p, q)| p.per_second / q.per_second)
            .collect();
        let (lo, hi, confidence) = bench::median_interval(&v)?;
        let n = v.len();
        Some(Paired {
            median: median(v),
            lo,
            hi,
            confidence,
            n,
        })
    }

    /// The same ratios taken per repetition, with an interval for their median: what a
    /// ratio can be told apart from when the machine's speed drifts between repetitions.
    /// A cell with fewer pairs than repetitions (a run failed) says how many it has.
    fn spread_table(&self, mode: Mode) -> String {
        let reps = self.args.reps;
        let nominal = bench::median_interval_rank(reps).map_or(0.0, |(_, c)| c);
        let how = if reps < 6 {
            format!("lowest – highest, which at {reps} repetitions holds the median with {:.1}% confidence", nominal * 100.0)
        } else {
            format!(
                "the sign test's interval for the median, {:.1}% confidence at {reps} repetitions",
                nominal * 100.0
            )
        };
        self.pairs_table(
            &format!("The same ratios per repetition (the two servers' runs of one repetition paired): median ({how}; an interval that holds 1 does not tell the two servers apart)"),
            |a, b, n| {
                self.paired_ratios(a, b, mode, n).map(|p| {
                    let short = if p.n < reps { format!(", {} pairs", p.n) } else { String::new() };
                    format!("{:.3} ({:.3} – {:.3}{short})", p.median, p.lo, p.hi)
                })
            },
        )
    }

    /// The p99 latency ratios of [`Report::pairs`] in ping-pong (lower is better).
    fn p99_ratio_table(&self) -> String {
        let p99 = |s, n| self.cell(s, Mode::PingPong, n).map(|c| c.med(|r| r.p99_us));
        self.pairs_table("Ratios (p99 latency; lower is better)", |a, b, n| {
            match (p99(a, n), p99(b, n)) {
                (Some(x), Some(y)) if y > 0.0 => Some(format!("{:.3}", x / y)),
                _ => None,
            }
        })
    }

    /// A table of `ratio(a, b, connections)` for each of [`Report::pairs`], a row per
    /// connection count (empty where there is none).
    fn pairs_table(
        &self,
        title: &str,
        ratio: impl Fn(Server, Server, usize) -> Option<String>,
    ) -> String {
        let pairs = self.pairs();
        let mut md = format!("\n{title}:\n\n| connections |");
        for &(a, b) in &pairs {
            md += &format!(" {} / {} |", a.name(), b.name());
        }
        md += &format!("\n|---|{}\n", "---|".repeat(pairs.len()));
        for &n in &self.args.connections {
            md += &format!("| {n} |");
            for &(a, b) in &pairs {
                md += &match ratio(a, b, n) {
                    Some(r) => format!(" {r} |"),
                    None => " |".into(),
                };
            }
            md += "\n";
        }
        md
    }

    fn failures(&self) -> String {
        let failures: Vec<String> = self
            .cells
            .iter()
            .flat_map(|c| {
                c.runs.iter().filter_map(move |r| {
                    let (s, m, n) = (c.server.name(), c.mode.name(), c.connections);
                    r.failure.as_ref().map(|f| format!("- {s} {m} {n}: {f}"))
                })
            })
            .collect();
        if failures.is_empty() {
            return String::new();
        }
        format!("\n## Failed runs\n\n{}\n", failures.join("\n"))
    }
}

/// The matrix's own arguments as given, for the report's header (` -- --tls --reps 15`),
/// so that a report names the command that made it.
fn command_args() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        String::new()
    } else {
        format!(" -- {}", args.join(" "))
    }
}

/// [`Report::paired_ratios`]: the median of the per-repetition ratios, an interval for it
/// with its confidence, and how many ratios there were.
#[derive(Debug, PartialEq)]
pub struct Paired {
    pub median: f64,
    pub lo: f64,
    pub hi: f64,
    pub confidence: f64,
    pub n: usize,
}

pub fn machine() -> Value {
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
