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

pub fn parse() -> Result<Args, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut a = Args {
        reps: 5,
        duration: 2.0,
        connections: vec![1, 100, 1000, 10000],
        modes: Mode::DEFAULT.to_vec(),
        servers: Server::DEFAULT.to_vec(),
        out: root.join("results"),
        strict: false,
        tls: false,
    };
    let (mut modes_given, mut servers_given) = (false, false);
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
            "--tls" => {
                a.tls = true;
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
                a.modes = list(&v, Mode::parse)?;
                modes_given = true;
            }
            "--servers" => {
                a.servers = list(&v, Server::parse)?;
                servers_given = true;
            }
            "--out" => out = Some(PathBuf::from(v)),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
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
