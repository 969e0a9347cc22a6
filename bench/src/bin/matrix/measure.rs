//! One run: a fresh server, `loadgen` against it, and what both processes used.

pub use bench::median;
use bench::spec::{Mode, Server};
use bench::{cpu_seconds, stop};
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What one run measured.
#[derive(Clone, Default)]
pub struct Run {
    pub per_second: f64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    /// Ping-pong: the whole latency distribution, (quantile, µs) (bench::latency).
    pub latency: Vec<(f64, f64)>,
    pub errors: u64,
    pub connected: u64,
    /// Idle mode: server RSS growth per connection.
    pub rss_per_conn: Option<f64>,
    /// CPU used over the measured window, in cores (1.0 = one core busy all along).
    pub server_cpu: f64,
    pub loadgen_cpu: f64,
    pub failure: Option<String>,
}

pub fn field(line: &str, key: &str) -> Option<f64> {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))?
        .parse()
        .ok()
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

pub struct Env {
    pub dir: PathBuf,
    pub pin: bool,
    /// `--tls`: the certificate and key every server gets, and `tls-loadgen` drives them.
    pub tls: Option<(PathBuf, PathBuf)>,
}

impl Env {
    /// The load generator: `loadgen`, or `tls-loadgen` with `--tls`.
    pub fn loadgen(&self) -> &'static str {
        if self.tls.is_some() {
            "tls-loadgen"
        } else {
            "loadgen"
        }
    }

    fn command(&self, path: PathBuf, core: Option<usize>) -> Command {
        match core {
            Some(c) if self.pin => {
                let mut cmd = Command::new("taskset");
                cmd.arg("-c").arg(c.to_string()).arg(path);
                cmd
            }
            _ => Command::new(path),
        }
    }

    fn start_server(&self, s: Server, addr: SocketAddr) -> Result<Child, String> {
        let core = (s.threads() == 1).then_some(0);
        let mut child = self
            .command(s.path(&self.dir), core)
            .arg("--listen")
            .arg(addr.to_string())
            .args(["--timeout", "60", "--max-connections", "20000"])
            .args(s.extra_args())
            .args(self.tls.iter().flat_map(|(c, k)| {
                [
                    "--tls-cert".as_ref(),
                    c.as_os_str(),
                    "--tls-key".as_ref(),
                    k.as_os_str(),
                ]
            }))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{}: {e}", s.bin()))?;
        let start = Instant::now();
        loop {
            if TcpStream::connect(addr).is_ok() {
                // Let the probe's close settle before the baseline is read.
                std::thread::sleep(Duration::from_millis(100));
                return Ok(child);
            }
            if let Ok(Some(st)) = child.try_wait() {
                return Err(format!("{} exited at start: {st}", s.name()));
            }
            if start.elapsed() > Duration::from_secs(10) {
                stop(&mut child);
                return Err(format!("{} did not listen within 10 s", s.name()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn measure(&self, s: Server, mode: Mode, conns: usize, duration: f64) -> Run {
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
        s: Server,
        mode: Mode,
        conns: usize,
        duration: f64,
    ) -> Result<Run, String> {
        let addr: SocketAddr = ([127, 0, 0, 1], free_port().map_err(|e| e.to_string())?).into();
        let mut server = self.start_server(s, addr)?;
        let spid = server.id();
        let baseline = bench::rss_bytes(spid);
        let latency = (mode == Mode::PingPong).then(|| {
            std::env::temp_dir().join(format!(
                "matrix-latency-{}-{}.txt",
                std::process::id(),
                addr.port()
            ))
        });
        let mut lg = self
            .command(self.dir.join(self.loadgen()), Some(1))
            .arg("--addr")
            .arg(addr.to_string())
            .args(mode.loadgen_args())
            .args(["--connections", &conns.to_string()])
            .args(["--duration", &duration.to_string(), "--threads", "1"])
            .args(
                latency
                    .iter()
                    .flat_map(|p| ["--latency-out".as_ref(), p.as_os_str()]),
            )
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
                if mode == Mode::Idle {
                    std::thread::sleep(Duration::from_secs_f64((duration / 2.0).min(0.5)));
                    if let (Some(b), Some(now)) = (baseline, bench::rss_bytes(spid)) {
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
            return Err(format!("{} died during the run", s.name()));
        }
        run.per_second = field(&line, "per_second").unwrap_or(0.0);
        run.p50_us = field(&line, "p50_us").unwrap_or(0.0);
        run.p90_us = field(&line, "p90_us").unwrap_or(0.0);
        run.p99_us = field(&line, "p99_us").unwrap_or(0.0);
        run.p999_us = field(&line, "p999_us").unwrap_or(0.0);
        if let Some(path) = latency {
            run.latency = bench::latency::read(&path)?;
            let _ = std::fs::remove_file(&path);
        }
        run.errors = field(&line, "errors").unwrap_or(0.0) as u64;
        run.connected = field(&line, "connected").unwrap_or(0.0) as u64;
        if (run.connected as usize) < conns {
            run.errors += (conns - run.connected as usize) as u64;
        }
        Ok(run)
    }
}
