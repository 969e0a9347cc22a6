//! Hostile clients against the daemon: it stays up, serves everyone it owes, says in the
//! log what happened, and gets its descriptors back afterwards, with its resident memory
//! within 10% of what it was before (measured after a warm-up burst of polite clients).

mod common;
use common::{eventually, read_log, start, wrapped, Daemon};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Open descriptors of `pid`.
fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// Waits (up to 10 s: a lingering close takes up to 2) for the daemon's descriptors to
/// come back to `baseline`.
fn fds_back_to(d: &Daemon, baseline: usize) {
    eventually(
        Duration::from_secs(10),
        || fds(d.child.id()) <= baseline,
        || format!("descriptors: {} now, {baseline} before", fds(d.child.id())),
    );
}

/// Resident memory of `pid`, in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// The daemon's memory and descriptors before a hostile test, after a warm-up: a burst
/// of 50 polite clients at once (which sizes what a burst sizes once: libevent's
/// descriptor map and epoll array, the allocator's arenas), then one more session.
struct Baseline {
    fds: usize,
    rss: u64,
}

/// Clients in the warm-up burst (fewer under valgrind, where each costs more).
fn warm_up_burst() -> usize {
    if wrapped() {
        10
    } else {
        50
    }
}

/// Connections the warm-up made: the burst and one polite session.
fn warm_up_connections() -> usize {
    warm_up_burst() + 1
}

fn baseline(d: &Daemon) -> Baseline {
    let burst: Vec<TcpStream> = (0..warm_up_burst()).map(|_| connect(d)).collect();
    for mut s in burst {
        s.write_all(b"warm up\r\nquit\r\n").unwrap();
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
    }
    polite(d, "warm up");
    std::thread::sleep(Duration::from_millis(100));
    Baseline {
        fds: fds(d.child.id()),
        rss: rss(d.child.id()),
    }
}

/// Descriptors back to the baseline, and resident memory within 10% of it (not under
/// valgrind, whose memory is its own).
fn back_to(d: &Daemon, b: &Baseline) {
    fds_back_to(d, b.fds);
    if wrapped() {
        return;
    }
    let limit = b.rss + b.rss / 10;
    eventually(
        Duration::from_secs(5),
        || rss(d.child.id()) <= limit,
        || {
            format!(
                "RSS: {} now, {} before (limit {limit})",
                rss(d.child.id()),
                b.rss
            )
        },
    );
}

/// This process holds a socket per client: lift its soft descriptor limit to the hard one.
fn raise_nofile() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the struct we own; setrlimit only reads it.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        lim.rlim_cur = lim.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
    }
}

fn connect(d: &Daemon) -> TcpStream {
    let s = TcpStream::connect(d.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s
}

/// A well-behaved client's session: its reply arrives, QUIT closes it.
fn polite(d: &Daemon, msg: &str) {
    let mut s = connect(d);
    s.write_all(format!("{msg}\r\n").as_bytes()).unwrap();
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line).unwrap();
    assert_eq!(line, format!("{}\r\n", msg.to_ascii_uppercase()));
    s.write_all(b"quit\r\n").unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
}

/// Lines of the log that match `f`.
fn count(d: &Daemon, f: impl Fn(&str) -> bool) -> usize {
    read_log(&d.log).iter().filter(|l| f(l)).count()
}

#[test]
fn a_reset_in_the_middle_of_a_message() {
    let d = start(&[]);
    let baseline = baseline(&d);
    let s = connect(&d);
    (&s).write_all(b"half a mess").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    // SO_LINGER with a zero timeout: close sends RST, not FIN.
    let off = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    use std::os::fd::AsRawFd;
    // SAFETY: a valid socket and a linger struct of the size given.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &off as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0);
    drop(s);
    eventually(
        Duration::from_secs(10),
        || {
            count(&d, |l| {
                l == format!("Closing connection (id = {})...", warm_up_connections() + 1)
            }) > 0
        },
        || format!("{:?}", read_log(&d.log)),
    );
    let id = warm_up_connections() + 1;
    assert_eq!(
        count(&d, |l| l == format!("Error: EVBUFFER_ERROR (id = {id})...")),
        1
    );
    back_to(&d, &baseline);
    polite(&d, "still here");
}

#[test]
fn random_binary_with_nuls_gets_only_what_the_rules_say() {
    let d = start(&[]);
    let baseline = baseline(&d);
    // A fixed pseudo-random stream (xorshift), half of it NULs, CRs and LFs.
    let mut x: u32 = 0x9e37_79b9;
    let junk: Vec<u8> = (0..20_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            match x % 8 {
                0 => 0,
                1 => b'\r',
                2 => b'\n',
                _ => (x >> 8) as u8,
            }
        })
        .collect();
    let mut s = connect(&d);
    s.write_all(&junk).unwrap();
    // Whatever the replies, they are upper-cased pieces of the input, CRLF-terminated,
    // and the connection goes on: a line that may only be a reply follows.
    // The marker goes once the daemon has read the junk, so that one read takes it
    // whole (a read is at most 4,096 bytes and could otherwise cut it).
    std::thread::sleep(Duration::from_millis(if wrapped() { 1000 } else { 200 }));
    s.write_all(b"\r\nlast words\r\n").unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.ends_with(b"LAST WORDS\r\n") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed early; got {} bytes", got.len());
        got.extend_from_slice(&buf[..n]);
    }
    assert!(got.len() <= junk.len() * 2);
    assert!(
        !got.iter().any(u8::is_ascii_lowercase),
        "a reply was not upper-cased"
    );
    s.write_all(b"QUIT\r\n").unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    back_to(&d, &baseline);
    polite(&d, "unaffected");
}

#[test]
fn slowloris_is_served_and_closed_only_when_idle() {
    let d = start(&["--timeout", "1"]);
    let baseline = baseline(&d);
    // (The warm-up's clients with --timeout 1 are timed out too, waiting their turn.)
    let id = warm_up_connections() + 1;
    let timed_out = format!("Error: EVBUFFER_TIMEOUT (id = {id})...");
    let mut s = connect(&d);
    // One byte per 100 ms: 1.1 s for the message, longer than the timeout, but the
    // connection is never idle for a whole second.
    for b in b"slow post\r\n" {
        s.write_all(&[*b]).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut line = String::new();
    let mut r = BufReader::new(&s);
    r.read_line(&mut line).unwrap();
    assert_eq!(line, "SLOW POST\r\n");
    assert_eq!(count(&d, |l| l == timed_out), 0);
    // Idle now: the timeout closes it.
    let mut rest = Vec::new();
    let _ = r.read_to_end(&mut rest);
    eventually(
        Duration::from_secs(10),
        || count(&d, |l| l == timed_out) > 0,
        || format!("{:?}", read_log(&d.log)),
    );
    back_to(&d, &baseline);
    polite(&d, "after the slow one");
}

#[test]
fn connect_and_close_in_a_row() {
    let d = start(&[]);
    let baseline = baseline(&d);
    let n = if wrapped() { 300 } else { 10_000 };
    // At most `STEP` of them wait to be closed at a time: how many pile up otherwise
    // depends on how loaded the machine is (thousands), and the memory the daemon then
    // keeps resident (its allocator's peak, libevent's descriptor-indexed tables) with
    // it, which is not what this test is about: what one connection leaves behind.
    const STEP: usize = 100;
    for i in 0..n {
        drop(TcpStream::connect(d.addr).unwrap());
        if (i + 1) % STEP == 0 {
            eventually(
                Duration::from_secs(60),
                || count(&d, |l| l.starts_with("Closing connection")) > i,
                || format!("{} of the first {} not closed", i + 1, i + 1),
            );
        }
    }
    eventually(
        Duration::from_secs(60),
        || count(&d, |l| l.starts_with("Closing connection")) >= n,
        || "not all closed".into(),
    );
    assert_eq!(
        count(&d, |l| l.starts_with("New connection")),
        n + warm_up_connections()
    );
    assert_eq!(count(&d, |l| l.starts_with("Error: EVBUFFER_EOF")), n);
    // How many of these connections are open at once depends on how fast this client
    // runs against the daemon (thousands on a loaded machine). What they leave behind is
    // libevent's per-descriptor record (16 bytes, kept apart from the heap by eventd's
    // allocator) and its epoll array: before that allocator, the records pinned the
    // heap's pages and this test ended 11 to 13% above the baseline under load.
    back_to(&d, &baseline);
    polite(&d, "after the storm");
}

#[test]
fn a_flood_of_held_connections_leaves_no_memory_behind() {
    raise_nofile();
    let n = if wrapped() { 200 } else { 5_000 };
    let d = start(&["--max-connections", "6000"]);
    let baseline = baseline(&d);
    // Every connection open at once, each with a message answered; then all closed.
    let mut clients: Vec<TcpStream> = (0..n).map(|_| connect(&d)).collect();
    for (i, s) in clients.iter_mut().enumerate() {
        s.write_all(format!("flood {i}\r\n").as_bytes()).unwrap();
    }
    for (i, s) in clients.iter_mut().enumerate() {
        let mut reply = vec![0u8; format!("FLOOD {i}\r\n").len()];
        s.read_exact(&mut reply).unwrap();
        assert_eq!(reply, format!("FLOOD {i}\r\n").into_bytes());
    }
    drop(clients);
    eventually(
        Duration::from_secs(30),
        || count(&d, |l| l.starts_with("Closing connection")) >= n + warm_up_connections(),
        || "not all closed".into(),
    );
    // libevent keeps a 16-byte record per descriptor number for the life of its base;
    // among the heap's pages, those records kept the whole flood's memory resident
    // (three times the baseline here). eventd keeps them apart (eventd/src/alloc.rs)
    // and trims the heap once the last connection has gone.
    back_to(&d, &baseline);
    polite(&d, "after the flood");
}

#[test]
fn many_clients_against_a_small_limit_are_all_served_in_turn() {
    let (clients, max) = if wrapped() { (60, 10) } else { (1000, 100) };
    let max_arg = max.to_string();
    raise_nofile();
    let d = start(&["--max-connections", &max_arg]);
    let addr = d.addr;
    // All connect at once; each waits for its reply, then quits.
    let round = || {
        let threads: Vec<_> = (0..clients)
            .map(|i| {
                std::thread::spawn(move || {
                    let mut s = TcpStream::connect(addr).unwrap();
                    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
                    s.write_all(format!("client {i}\r\n").as_bytes()).unwrap();
                    let mut line = String::new();
                    BufReader::new(&s).read_line(&mut line).unwrap();
                    assert_eq!(line, format!("CLIENT {i}\r\n"));
                    s.write_all(b"quit\r\n").unwrap();
                    let mut rest = Vec::new();
                    let _ = s.read_to_end(&mut rest);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    };
    // The baseline is taken after one whole round: how much the allocator keeps after
    // `max` connections at once (and libevent's descriptor map, sized by the highest
    // descriptor seen) is not a leak. What matters is that a second round, with as many
    // clients again, leaves nothing more behind. (Against the small warm-up alone, RSS
    // ended 15% up once on a loaded CI machine.)
    let _ = baseline(&d);
    round();
    std::thread::sleep(Duration::from_millis(100));
    let after_one = Baseline {
        fds: fds(d.child.id()),
        rss: rss(d.child.id()),
    };
    round();
    assert_eq!(
        count(&d, |l| l.starts_with("New connection")),
        2 * clients + warm_up_connections()
    ); // and the warm-up
    back_to(&d, &after_one);
}

#[test]
fn a_hundred_megabytes_without_crlf_are_answered_in_full() {
    let d = start(&[]);
    let baseline = baseline(&d);
    let total: usize = if wrapped() { 2 << 20 } else { 100 << 20 };
    let s = connect(&d);
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let chunk = vec![b'a'; 64 << 10];
        let mut left = total;
        while left > 0 {
            let n = left.min(chunk.len());
            w.write_all(&chunk[..n]).unwrap();
            left -= n;
        }
        // What is still pending (at most 1,000 bytes) is released by two short lines:
        // with them it is more than 4 bytes long and more than one byte once trimmed,
        // whatever is left and however the reads split it.
        w.write_all(b"b\r\nb\r\n").unwrap();
    });
    // Every byte comes back upper-cased, in messages of more than 1,000 bytes each
    // ended by CRLF, and nothing else.
    let (mut letters, mut bs, mut other) = (0usize, 0usize, 0usize);
    let mut buf = vec![0u8; 64 << 10];
    let mut r = &s;
    while letters < total || bs < 2 {
        let n = r.read(&mut buf).unwrap();
        assert!(n > 0, "closed after {letters} of {total} bytes");
        for &b in &buf[..n] {
            match b {
                b'A' => letters += 1,
                b'B' => bs += 1,
                b'\r' | b'\n' => {}
                _ => other += 1,
            }
        }
    }
    writer.join().unwrap();
    assert_eq!((letters, bs, other), (total, 2, 0));
    (&s).write_all(b"quit\r\n").unwrap();
    let mut rest = Vec::new();
    let _ = (&s).read_to_end(&mut rest);
    back_to(&d, &baseline);
    polite(&d, "next");
}
