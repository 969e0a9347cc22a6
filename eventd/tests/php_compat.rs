//! compat/php: programs written for PHP 5's pecl libevent extension, run unmodified on
//! PHP 8 over the real libevent (this build's shared library), checked from outside.
//! They need `php` (Debian: php8.2-cli, which .ci/run installs); without it each test
//! says so and passes, except under CI, where a missing PHP fails.

mod common;

use common::have_php;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn compat() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../compat/php")
}

/// The shared libevent this build linked (libevent-sys's DEP_EVENT_SHARED).
fn this_libevent() -> &'static str {
    env!("EVENTD_LIBEVENT_SHARED")
}

fn run_pecl(args: &[&str]) -> Command {
    let mut c = Command::new(compat().join("run-pecl"));
    c.args(args)
        .env("LIBEVENT_PHP_LIB", this_libevent())
        .stdin(Stdio::null());
    c
}

fn run_to_end(mut cmd: Command) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run-pecl");
    let limit = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < limit, "the PHP program did not end");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn lines(b: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(b)
        .lines()
        .map(str::to_string)
        .collect()
}

/// A PHP server that prints `listening ADDR` first; what it prints next comes line by line.
struct Server {
    child: Child,
    addr: SocketAddr,
    out: std::sync::mpsc::Receiver<String>,
}

impl Server {
    fn start(program: &str) -> Server {
        let mut child = run_pecl(&[&format!("tests/{program}")])
            .current_dir(compat())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("run-pecl");
        let (tx, out) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let first = out
            .recv_timeout(Duration::from_secs(20))
            .expect("the server's first line");
        let addr = first
            .strip_prefix("listening ")
            .unwrap_or_else(|| panic!("not a listening line: {first}"))
            .parse()
            .unwrap();
        Server { child, addr, out }
    }

    fn next(&self) -> String {
        self.out
            .recv_timeout(Duration::from_secs(10))
            .expect("a line from the server")
    }

    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_to_eof(s: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    got
}

#[test]
fn an_echo_server_echoes_closes_and_reports_end_of_stream() {
    if !have_php() {
        return;
    }
    let server = Server::start("echo.php");
    assert_eq!(server.next(), "bool(true)", "extension_loaded('libevent')");
    let mut a = server.connect();
    assert_eq!(server.next(), "accepted 1 buffer event yes");
    a.write_all(b"hello\r\n").unwrap();
    let mut buf = [0u8; 7];
    a.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"hello\r\n");
    a.write_all(b"bye\n").unwrap();
    assert_eq!(server.next(), "closing 1");
    assert!(read_to_eof(&mut a).is_empty());

    let mut b = server.connect();
    assert_eq!(server.next(), "accepted 2 buffer event yes");
    b.write_all(b"abc").unwrap();
    let mut buf = [0u8; 3];
    b.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"abc");
    b.shutdown(Shutdown::Write).unwrap();
    // BEV_EVENT_EOF | BEV_EVENT_READING, as the extension passed libevent's flags on.
    assert_eq!(server.next(), "error 2 0x11");
    assert!(read_to_eof(&mut b).is_empty());
}

#[test]
fn timers_priorities_and_loop_exits_behave_as_the_extension_documented() {
    if !have_php() {
        return;
    }
    let out = run_to_end({
        let mut c = run_pecl(&["tests/timers.php"]);
        c.current_dir(compat());
        c
    });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        lines(&out.stdout),
        [
            "bool(true)",
            "pending (added): false",
            "pending (deleted): true",
            "loop: fired ten fd=NULL events=1",
            "fired twenty fd=NULL events=1",
            "fired thirty fd=NULL events=1",
            "again 1",
            "again 2",
            "again 3",
            "freed itself, is_resource inside: true",
            "1",
            "after: is_resource=false type=Unknown",
            "fired priority-0 fd=NULL events=1",
            "fired priority-1 fd=NULL events=1",
            "loopexit after ticks: some",
            "breaking",
            "nonblock: 1",
            "done",
        ]
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn buffer_events_watermarks_timeouts_errors_and_a_free_inside_the_callback() {
    if !have_php() {
        return;
    }
    let server = Server::start("buffers.php");

    // Low read watermark 5: nothing until five bytes are there.
    let mut c = server.connect();
    assert_eq!(server.next(), "mode lowmark");
    c.write_all(b"ab").unwrap();
    std::thread::sleep(Duration::from_millis(150));
    c.write_all(b"cde").unwrap();
    assert_eq!(server.next(), "read lowmark abcde");
    drop(c);
    assert_eq!(server.next(), "error lowmark 0x11");

    // High read watermark 4: libevent reads four bytes at a time.
    let mut c = server.connect();
    assert_eq!(server.next(), "mode highmark");
    c.write_all(b"123456789").unwrap();
    assert_eq!(server.next(), "read highmark 1234");
    assert_eq!(server.next(), "read highmark 5678");
    assert_eq!(server.next(), "read highmark 9");
    drop(c);
    assert_eq!(server.next(), "error highmark 0x11");

    // The write callback runs once the output has gone.
    let mut c = server.connect();
    assert_eq!(server.next(), "mode drain");
    c.write_all(b"hello").unwrap();
    assert_eq!(server.next(), "read drain hello");
    let mut buf = [0u8; 5];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"HELLO");
    assert_eq!(server.next(), "written drain");
    drop(c);
    assert_eq!(server.next(), "error drain 0x11");

    // A 1 s read timeout: BEV_EVENT_TIMEOUT | BEV_EVENT_READING, then the close.
    let mut c = server.connect();
    assert_eq!(server.next(), "mode timeout");
    let start = Instant::now();
    assert_eq!(server.next(), "error timeout 0x41");
    assert!(start.elapsed() >= Duration::from_millis(900));
    assert!(read_to_eof(&mut c).is_empty());

    // Freed in its own read callback: usable until the callback returns, then gone.
    let mut c = server.connect();
    assert_eq!(server.next(), "mode free");
    c.write_all(b"x").unwrap();
    assert_eq!(
        server.next(),
        "freed in its read callback; usable until it returns: true"
    );
    assert_eq!(
        server.next(),
        "after the callback: is_resource false, type Unknown, write false"
    );
    // What was written before the free was dropped with the buffer event.
    assert!(read_to_eof(&mut c).is_empty());
}

#[test]
fn misuse_warns_at_the_programs_line_exceptions_come_out_of_the_loop_and_exit_exits() {
    if !have_php() {
        return;
    }
    let out = run_to_end({
        let mut c = run_pecl(&["tests/errors.php"]);
        c.current_dir(compat());
        c
    });
    assert_eq!(out.status.code(), Some(3), "exit(3) inside a callback");
    assert_eq!(
        lines(&out.stdout),
        [
            "bool(false)",
            "bool(false)",
            "bool(false)",
            "bool(false)",
            "caught boom",
            "bool(false)",
            "extension_loaded: true",
            "gettype: resource, type: event base",
            "signal fd=10 events=8 arg=usr1",
            "exiting",
            "shutdown",
        ]
    );
    let file = compat().join("tests/errors.php");
    let file = std::fs::canonicalize(file).unwrap();
    let at = |line: u32| format!(" in {} on line {line}", file.display());
    assert_eq!(
        lines(&out.stderr),
        [
            format!(
                "PHP Warning:  event_add(): expects parameter 1 to be resource, string given{}",
                at(6)
            ),
            format!(
                "PHP Warning:  event_add(): Unable to add event without an event base{}",
                at(9)
            ),
            format!("PHP Warning:  event_buffer_read(): supplied resource is not a valid buffer event resource{}", at(10)),
            format!("PHP Warning:  event_base_free(): base has events attached to it and cannot be freed{}", at(17)),
            format!(
                "PHP Warning:  event_timer_set(): 'no_such_function' is not a valid callback{}",
                at(27)
            ),
        ]
    );
}

#[test]
fn the_php_port_of_the_protocol_replays_the_originals_transcripts_under_the_layer() {
    if !have_php() {
        return;
    }
    let (tr, timeout, max) = common::replay::transcript();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let log = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "php-daemon-{}-{}.log",
        std::process::id(),
        common::unique()
    ));
    let listen = format!("127.0.0.1:{port}");
    let mut cmd = run_pecl(&["--listen", &listen, "tests/daemon.php", &timeout, &max]);
    cmd.current_dir(compat())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::inherit());
    // The daemon logs the address it was written with; it listens where --listen says.
    let d = common::Daemon::wait_for(cmd.spawn().unwrap(), log.clone());
    assert_eq!(d.addr.to_string(), "0.0.0.0:1234");
    let addr: SocketAddr = listen.parse().unwrap();
    common::replay::check(&tr, addr, &common::replay::Transport::Plain, || {
        common::read_log(&log)
    });
}

#[test]
fn debians_libevent_runs_the_same_programs() {
    if !have_php() {
        return;
    }
    let debian = "/usr/lib/x86_64-linux-gnu/libevent-2.1.so.7";
    if !Path::new(debian).exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{debian} is missing (Debian: libevent-2.1-7, from libevent-dev)"
        );
        eprintln!("skipped: no {debian}");
        return;
    }
    let mut c = run_pecl(&["tests/timers.php"]);
    c.current_dir(compat()).env("LIBEVENT_PHP_LIB", debian);
    let theirs = run_to_end(c);
    let mut c = run_pecl(&["tests/timers.php"]);
    c.current_dir(compat());
    let ours = run_to_end(c);
    assert!(theirs.status.success());
    assert_eq!(lines(&theirs.stdout), lines(&ours.stdout));
}

#[test]
fn the_runner_refuses_bad_arguments_and_a_missing_or_wrong_library_clearly() {
    if !have_php() {
        return;
    }
    let check = |args: &[&str], lib: Option<&str>, code: i32, says: &str| {
        let mut c = run_pecl(args);
        c.current_dir(compat());
        if let Some(l) = lib {
            c.env("LIBEVENT_PHP_LIB", l);
        }
        let out = run_to_end(c);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    };
    check(&[], None, 64, "no FILE given");
    check(&["--listen"], None, 64, "--listen needs HOST:PORT");
    check(
        &["--listen", "nowhere", "tests/echo.php"],
        None,
        64,
        "not HOST:PORT",
    );
    check(
        &["--frobnicate", "x.php"],
        None,
        64,
        "unknown option --frobnicate",
    );
    check(&["tests/missing.php"], None, 64, "no such file");
    check(
        &["tests/echo.php"],
        Some("/nonexistent/libevent.so"),
        70,
        "LIBEVENT_PHP_LIB=/nonexistent/libevent.so: no such file",
    );
    check(
        &["tests/echo.php"],
        Some("/usr/lib/x86_64-linux-gnu/libz.so.1"),
        70,
        "cannot load",
    );
}
