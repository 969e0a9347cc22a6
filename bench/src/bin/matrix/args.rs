//! The command line.

use bench::spec::{Mode, Server};
use std::path::{Path, PathBuf};

/// What to run, and where the report goes.
pub struct Args {
    pub reps: usize,
    pub duration: f64,
    pub connections: Vec<usize>,
    pub modes: Vec<Mode>,
    pub servers: Vec<Server>,
    pub out: PathBuf,
    pub strict: bool,
    /// Ping-pong over TLS: servers with --tls-cert/--tls-key, `tls-loadgen`.
    pub tls: bool,
}

fn list<T>(v: &str, f: impl Fn(&str) -> Result<T, String>) -> Result<Vec<T>, String> {
    v.split(',').filter(|s| !s.is_empty()).map(f).collect()
}

/// The command line.
#[derive(clap::Parser)]
#[command(about = "The benchmark matrix: servers x modes x connection counts, with a report")]
struct Cli {
    /// Runs per cell (default 5; 1 with --quick).
    #[arg(long)]
    reps: Option<usize>,
    /// Seconds per run (default 2; 0.5 with --quick).
    #[arg(long)]
    duration: Option<f64>,
    /// Connection counts, comma-separated.
    #[arg(long, default_value = "1,100,1000,10000")]
    connections: String,
    /// Modes, comma-separated (default: every mode; ping-pong with --tls).
    #[arg(long)]
    modes: Option<String>,
    /// Servers, comma-separated (default: the matrix's set; the TLS ones with --tls).
    #[arg(long)]
    servers: Option<String>,
    /// Where the report goes.
    #[arg(long)]
    out: Option<PathBuf>,
    /// The smoke version: one short run per cell.
    #[arg(long)]
    quick: bool,
    /// Fail on any error of this project's servers.
    #[arg(long)]
    strict: bool,
    /// Ping-pong over TLS.
    #[arg(long)]
    tls: bool,
}

pub fn parse() -> Result<Args, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let c = <Cli as clap::Parser>::parse();
    let bad = |flag: &str, e: &dyn std::fmt::Display| format!("{flag}: {e}");
    let (modes_given, servers_given) = (c.modes.is_some(), c.servers.is_some());
    let out = c.out;
    let mut a = Args {
        reps: c.reps.unwrap_or(if c.quick { 1 } else { 5 }),
        duration: c.duration.unwrap_or(if c.quick { 0.5 } else { 2.0 }),
        connections: list(&c.connections, |s| {
            s.parse::<usize>().map_err(|e| bad("--connections", &e))
        })?,
        modes: match &c.modes {
            Some(m) => list(m, Mode::parse)?,
            None => Mode::DEFAULT.to_vec(),
        },
        servers: match &c.servers {
            Some(s) => list(s, Server::parse)?,
            None => Server::DEFAULT.to_vec(),
        },
        out: if c.quick {
            root.join("../target/bench-smoke")
        } else {
            root.join("results")
        },
        strict: c.strict,
        tls: c.tls,
    };
    if a.tls {
        if !modes_given {
            a.modes = vec![Mode::PingPong];
        }
        if !servers_given {
            a.servers = Server::TLS.to_vec();
        }
        if a.modes != [Mode::PingPong] || a.servers.iter().any(|s| !Server::TLS.contains(s)) {
            return Err(format!(
                "--tls: ping-pong only, servers {}",
                Server::TLS.map(|s| s.name()).join(", ")
            ));
        }
        if out.is_none() {
            a.out = if a.out == root.join("results") {
                root.join("results/tls")
            } else {
                root.join("../target/bench-smoke-tls")
            };
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
