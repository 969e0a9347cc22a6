//! A server under test: a command template run with a free port for `{port}`, its
//! standard output kept line by line (the log), its process group stopped at the end.

use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Server {
    pub name: &'static str,
    pub command: String,
    pub port: u16,
    child: Child,
    log: Arc<Mutex<Log>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

#[derive(Default)]
struct Log {
    lines: Vec<String>,
    last: Option<Instant>,
}

impl Server {
    /// Starts `template` (a shell command; `{port}` is replaced) and waits until the
    /// port listens. Nothing connects to find that out: /proc/net/tcp tells.
    pub fn start(name: &'static str, template: &str, env: &[(String, String)]) -> Result<Server> {
        if !template.contains("{port}") {
            bail!("the {name} command must say where to listen with {{port}}: {template}");
        }
        let port = free_port()?;
        let command = template.replace("{port}", &port.to_string());
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!("exec {command}"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting the {name}: {command}"))?;
        let log = Arc::new(Mutex::new(Log::default()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().expect("piped");
        let l = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(out).split(b'\n').map_while(|l| l.ok()) {
                let mut log = l.lock().expect("log lock");
                log.lines.push(String::from_utf8_lossy(&line).into_owned());
                log.last = Some(Instant::now());
            }
        });
        let err = child.stderr.take().expect("piped");
        let e = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(|l| l.ok()) {
                let mut tail = e.lock().expect("stderr lock");
                tail.push(line);
                if tail.len() > 20 {
                    tail.remove(0);
                }
            }
        });
        let mut server = Server {
            name,
            command,
            port,
            child,
            log,
            stderr,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !listening(port) {
            server.check_alive()?;
            if Instant::now() > deadline {
                bail!(
                    "the {name} ({}) did not listen on port {port} within 20 s{}",
                    server.command,
                    server.stderr_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(server)
    }

    /// An error if the process has exited, with what it printed on standard error.
    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            std::thread::sleep(Duration::from_millis(50));
            bail!(
                "the {} ({}) exited: {status}{}",
                self.name,
                self.command,
                self.stderr_tail()
            );
        }
        Ok(())
    }

    fn stderr_tail(&self) -> String {
        let tail = self.stderr.lock().expect("stderr lock");
        if tail.is_empty() {
            String::new()
        } else {
            format!("; its standard error ends:\n    {}", tail.join("\n    "))
        }
    }

    pub fn log_len(&self) -> usize {
        self.log.lock().expect("log lock").lines.len()
    }

    pub fn log_from(&self, start: usize) -> Vec<String> {
        self.log.lock().expect("log lock").lines[start..].to_vec()
    }

    /// When the last log line came.
    pub fn last_log(&self) -> Option<Instant> {
        self.log.lock().expect("log lock").last
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let pgid = self.child.id() as libc::pid_t;
        // SAFETY: kill has no memory effects; the group is the one this server leads.
        unsafe { libc::kill(-pgid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // SAFETY: as above.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(l.local_addr()?.port())
}

/// Whether something listens on `port` (IPv4 or IPv6), from /proc/net/tcp{,6}.
fn listening(port: u16) -> bool {
    let hex = format!(":{port:04X} ");
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|f| {
        std::fs::read_to_string(f).is_ok_and(|t| {
            t.lines().skip(1).any(|l| {
                let mut cols = l.split_whitespace();
                let local = cols.nth(1).unwrap_or("");
                let state = cols.nth(1).unwrap_or("");
                format!("{local} ").ends_with(&hex) && state == "0A"
            })
        })
    })
}
