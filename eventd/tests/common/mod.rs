//! Starting eventd for a test and reading its log.
#![allow(dead_code)]

use std::fs;
use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Daemon {
    pub child: Child,
    pub addr: SocketAddr,
    pub log: PathBuf,
}

/// Another program speaking eventd's protocol and flags (the async example): it logs to
/// standard output, which `start` sends to the log file.
static OTHER: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// Makes `start` and `command` run `program` instead of eventd (set once per test binary).
pub fn use_program(program: PathBuf) {
    let set = OTHER.get_or_init(|| program.clone());
    assert_eq!(*set, program, "one program per test binary");
}

/// Starts eventd on 127.0.0.1, port chosen by the kernel, logging to a file; waits for
/// its "Listening on" line.
pub fn start(args: &[&str]) -> Daemon {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let log = dir.join(format!("eventd-{}-{}.log", std::process::id(), unique()));
    let _ = fs::remove_file(&log);
    let mut cmd = command();
    cmd.args(["--listen", "127.0.0.1:0"]);
    if OTHER.get().is_some() {
        cmd.stdout(fs::File::create(&log).expect("log file"));
    } else {
        cmd.arg("--log-file").arg(&log).stdout(Stdio::null());
    }
    let child = cmd
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start eventd");
    Daemon::wait_for(child, log)
}

impl Daemon {
    /// Waits for the "Listening on" line of a daemon started with `--log-file log`.
    pub fn wait_for(child: Child, log: PathBuf) -> Daemon {
        // From here on Drop kills and reaps the child, also when an assertion fails.
        let mut d = Daemon {
            child,
            addr: "0.0.0.0:0".parse().unwrap(),
            log,
        };
        let start = Instant::now();
        loop {
            if let Some(line) = read_log(&d.log)
                .into_iter()
                .find(|l| l.contains("Listening on "))
            {
                d.addr = line
                    .split("Listening on ")
                    .nth(1)
                    .unwrap()
                    .trim_end_matches("...")
                    .parse()
                    .expect("address in log");
                return d;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "eventd did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The eventd command; under `EVENTD_WRAPPER` (scripts/valgrind.sh sets it to a valgrind
/// command line) the daemon runs inside that wrapper.
pub fn command() -> Command {
    let program = match OTHER.get() {
        Some(p) => p.clone(),
        // Set in eventd's own tests; elsewhere use_program must come first.
        None => match option_env!("CARGO_BIN_EXE_eventd") {
            Some(p) => PathBuf::from(p),
            None => panic!("common::use_program was not called"),
        },
    };
    match std::env::var("EVENTD_WRAPPER") {
        Ok(w) if !w.trim().is_empty() => {
            let mut parts = w.split_whitespace();
            let mut c = Command::new(parts.next().unwrap());
            c.args(parts).arg(program);
            c
        }
        _ => Command::new(program),
    }
}

/// True when the daemon runs under a wrapper such as valgrind: timing and memory figures
/// mean nothing there.
pub fn wrapped() -> bool {
    std::env::var("EVENTD_WRAPPER").is_ok_and(|w| !w.trim().is_empty())
}

pub fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::SeqCst)
}

/// The log's lines, timestamps removed; checks each has the "[YYYY-MM-DD HH:MM:SS] " form.
/// A last line without its newline is one the daemon is still writing: left out (read
/// again, it will be whole).
pub fn read_log(path: &PathBuf) -> Vec<String> {
    let mut text = fs::read_to_string(path).unwrap_or_default();
    if !text.ends_with('\n') {
        let whole = text.rfind('\n').map_or(0, |i| i + 1);
        text.truncate(whole);
    }
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let b = l.as_bytes();
            let shape = b.len() > 22
                && b[0] == b'['
                && b[20] == b']'
                && b[21] == b' '
                && [5, 8].iter().all(|&i| b[i] == b'-')
                && b[11] == b' '
                && [14, 17].iter().all(|&i| b[i] == b':')
                && [1, 2, 3, 4, 6, 7, 9, 10, 12, 13, 15, 16, 18, 19]
                    .iter()
                    .all(|&i| b[i].is_ascii_digit());
            assert!(
                shape,
                "log line without a [YYYY-MM-DD HH:MM:SS] stamp: {l:?}"
            );
            l[22..].to_string()
        })
        .collect()
}

impl Daemon {
    /// Sends a signal and waits for the exit code.
    pub fn signal_and_wait(mut self, sig: i32) -> (i32, String) {
        // SAFETY: the pid is our live child.
        unsafe { libc::kill(self.child.id() as i32, sig) };
        let code = wait_timeout(&mut self.child, Duration::from_secs(15))
            .expect("eventd exits after the signal");
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        (code, err)
    }
}

pub fn wait_timeout(child: &mut Child, limit: Duration) -> Option<i32> {
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return Some(st.code().unwrap_or(-1));
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // A graceful stop, so a wrapper such as valgrind sees a normal exit and checks
        // for leaks; killed only if it does not stop.
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: the pid is our live child.
            unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
            let _ = wait_timeout(&mut self.child, Duration::from_secs(20));
        }
    }
}

pub fn proc_stat(pid: u32) -> Vec<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &text[text.rfind(')').unwrap() + 2..];
    rest.split_whitespace().map(str::to_owned).collect()
}

/// User plus system CPU time of `pid`, in seconds.
pub fn cpu_seconds(pid: u32) -> f64 {
    let f = proc_stat(pid);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name.
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / hz
}

/// CPU seconds `pid` uses while the caller sleeps for `span`.
pub fn cpu_used_over(pid: u32, span: Duration) -> f64 {
    let before = cpu_seconds(pid);
    std::thread::sleep(span);
    cpu_seconds(pid) - before
}

/// Polls `cond` every 20 ms until it holds; panics with `what()` after `limit`.
pub fn eventually(limit: Duration, cond: impl Fn() -> bool, what: impl Fn() -> String) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "{}", what());
        std::thread::sleep(Duration::from_millis(20));
    }
}
pub mod replay;

/// Whether `php` runs here (Debian: php8.2-cli); a test without it says so and passes,
/// except under CI, where .ci/run installs it and a missing PHP fails.
pub fn have_php() -> bool {
    let ok = Command::new("php")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "php is missing (Debian: php8.2-cli); .ci/run installs it"
        );
        eprintln!("skipped: no php (Debian: php8.2-cli)");
    }
    ok
}
