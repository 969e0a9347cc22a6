//! `--tls-cert` / `--tls-key` (feature `tls`): everything eventd does, over TLS.
#![cfg(feature = "tls")]

mod common;

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::ssl::{SslConnector, SslMethod, SslStream, SslVerifyMode};
use openssl::x509::extension::SubjectAlternativeName;
use openssl::x509::{X509Builder, X509NameBuilder};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

/// A self-signed certificate for `localhost` and its key, written as PEM files; and a
/// connector that trusts it.
fn certificate() -> (PathBuf, PathBuf, SslConnector) {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_nid(Nid::COMMONNAME, "localhost")
        .unwrap();
    let name = name.build();
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    let mut serial = BigNum::new().unwrap();
    serial.rand(64, MsbOption::MAYBE_ZERO, false).unwrap();
    b.set_serial_number(&serial.to_asn1_integer().unwrap())
        .unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(2).unwrap())
        .unwrap();
    let san = SubjectAlternativeName::new()
        .dns("localhost")
        .build(&b.x509v3_context(None, None))
        .unwrap();
    b.append_extension(san).unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    let cert = b.build();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let tag = format!("{}-{}", std::process::id(), common::unique());
    let (cp, kp) = (
        dir.join(format!("tls-{tag}.crt")),
        dir.join(format!("tls-{tag}.key")),
    );
    std::fs::write(&cp, cert.to_pem().unwrap()).unwrap();
    std::fs::write(&kp, key.private_key_to_pem_pkcs8().unwrap()).unwrap();
    let mut c = SslConnector::builder(SslMethod::tls()).unwrap();
    c.cert_store_mut().add_cert(cert).unwrap();
    c.set_verify(SslVerifyMode::PEER);
    (cp, kp, c.build())
}

fn args<'a>(cert: &'a std::path::Path, key: &'a std::path::Path) -> [&'a str; 4] {
    [
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]
}

fn connect(c: &SslConnector, addr: SocketAddr) -> SslStream<TcpStream> {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.connect("localhost", s).unwrap()
}

fn read_exactly(s: &mut SslStream<TcpStream>, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    s.read_exact(&mut buf).unwrap();
    buf
}

#[test]
fn transcripts_of_the_php_original_replay_exactly_over_tls() {
    let (cert, key, c) = certificate();
    common::replay::replay(common::replay::Transport::Tls(c), &args(&cert, &key));
}

#[test]
fn replies_are_delivered_at_quit_and_eof_with_close_notify() {
    let (cert, key, c) = certificate();
    let d = common::start(&args(&cert, &key));
    let mut s = connect(&c, d.addr);
    s.write_all(b"first\r\n").unwrap();
    assert_eq!(read_exactly(&mut s, 7), b"FIRST\r\n");
    // Two messages and QUIT in one write: the replies come, then a clean TLS close.
    s.write_all(b"second\r\nthird\r\n").unwrap();
    assert_eq!(read_exactly(&mut s, 15), b"SECOND\r\nTHIRD\r\n");
    s.write_all(b"quit\r\n").unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest)
        .expect("close_notify, not a truncated stream");
    assert!(rest.is_empty());
    // A client that ends with close_notify (EOF) after a message still gets its reply.
    let mut s = connect(&c, d.addr);
    s.write_all(b"bye now\r\n").unwrap();
    s.shutdown().unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"BYE NOW\r\n");
    common::eventually(
        Duration::from_secs(5),
        || {
            common::read_log(&d.log)
                .iter()
                .any(|l| l == "Error: EVBUFFER_EOF (id = 2)...")
        },
        || format!("{:?}", common::read_log(&d.log)),
    );
    let (code, _) = d.signal_and_wait(libc::SIGTERM);
    assert_eq!(code, 0);
}

#[test]
fn a_failed_or_stalled_handshake_is_logged_and_frees_its_slot() {
    let (cert, key, c) = certificate();
    let mut all = args(&cert, &key).to_vec();
    all.extend(["--max-connections", "1", "--timeout", "1"]);
    let d = common::start(&all);
    // Plain text to a TLS port: the handshake fails.
    let mut plain = TcpStream::connect(d.addr).unwrap();
    plain.write_all(b"hello in clear\r\n").unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut sink = Vec::new();
    let _ = plain.read_to_end(&mut sink);
    assert!(!sink.starts_with(b"HELLO"));
    common::eventually(
        Duration::from_secs(5),
        || {
            common::read_log(&d.log)
                .iter()
                .any(|l| l == "Error: EVBUFFER_ERROR (id = 1)...")
        },
        || format!("{:?}", common::read_log(&d.log)),
    );
    // A client that never starts the handshake holds the only slot until --timeout.
    let started = std::time::Instant::now();
    let _silent = TcpStream::connect(d.addr).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let mut s = connect(&c, d.addr); // waits in the backlog, then is served
    s.write_all(b"served\r\n").unwrap();
    assert_eq!(read_exactly(&mut s, 8), b"SERVED\r\n");
    assert!(started.elapsed() >= Duration::from_millis(900));
    let log = common::read_log(&d.log);
    assert!(
        log.iter()
            .any(|l| l == "Error: EVBUFFER_TIMEOUT (id = 2)..."),
        "{log:?}"
    );
    assert!(
        log.iter().any(|l| l == "Closing connection (id = 2)..."),
        "{log:?}"
    );
}

#[test]
fn workers_and_a_graceful_shutdown_over_tls() {
    let (cert, key, c) = certificate();
    let mut all = args(&cert, &key).to_vec();
    all.extend(["--workers", "2"]);
    let d = common::start(&all);
    let mut clients: Vec<_> = (0..8).map(|_| connect(&c, d.addr)).collect();
    for (i, s) in clients.iter_mut().enumerate() {
        s.write_all(format!("client {i}\r\n").as_bytes()).unwrap();
    }
    for (i, s) in clients.iter_mut().enumerate() {
        assert_eq!(read_exactly(s, 10), format!("CLIENT {i}\r\n").as_bytes());
    }
    let (code, _) = d.signal_and_wait(libc::SIGTERM);
    assert_eq!(code, 0);
    for s in &mut clients {
        let mut rest = Vec::new();
        s.read_to_end(&mut rest)
            .expect("closed with close_notify at shutdown");
    }
}

#[test]
fn fix1_and_fix2_over_tls_no_spin_at_the_limit_and_bounded_output() {
    if common::wrapped() {
        eprintln!("CPU time and RSS are not measured under a wrapper (valgrind); skipped");
        return;
    }
    let (cert, key, c) = certificate();
    const LIMIT: u64 = 1 << 20;
    let limit = LIMIT.to_string();
    let mut all = args(&cert, &key).to_vec();
    all.extend([
        "--max-connections",
        "2",
        "--output-limit",
        &limit,
        "--timeout",
        "30",
    ]);
    let d = common::start(&all);
    let pid = d.child.id();

    // Fix 1: both slots taken, three clients waiting in the backlog: no busy loop.
    let mut flood = connect(&c, d.addr);
    let mut other = connect(&c, d.addr);
    other.write_all(b"ping\r\n\r\n").unwrap();
    assert_eq!(read_exactly(&mut other, 6), b"PING\r\n");
    let _waiting: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(d.addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let used = common::cpu_used_over(pid, Duration::from_secs(2));
    assert!(
        used < 0.10,
        "eventd used {used:.3} s of CPU in 2 s at the limit"
    );

    // Fix 2: a client that sends without reading stops being read from.
    let baseline = fixes_rss(pid);
    flood.get_ref().set_nonblocking(true).unwrap();
    let line = b"helloworld\r\n";
    let chunk = line.repeat(4096);
    let total = 50 * 1024 * 1024 / chunk.len() * chunk.len();
    let (mut sent, mut at) = (0usize, 0usize);
    let mut peak = 0;
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_secs(3) && sent < total {
        match flood.write(&chunk[at..]) {
            Ok(n) => {
                sent += n;
                at = (at + n) % chunk.len();
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
        peak = peak.max(fixes_rss(pid));
    }
    assert!(
        sent < total,
        "all 50 MB were taken while the client read nothing"
    );
    let bound = baseline + 6 * LIMIT;
    assert!(
        peak < bound,
        "RSS grew to {peak} (baseline {baseline}, bound {bound})"
    );
    // Now it reads as it sends: every reply arrives. Replies are the messages upper-cased
    // and framed per read (a message may hold several lines, or end mid-line past the
    // size limit), so what must match exactly is the letters: all of them, once.
    let want = total / line.len() * 10;
    let mut letters = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while letters < want && std::time::Instant::now() < deadline {
        if sent < total {
            if let Ok(n) = flood.write(&chunk[at..]) {
                sent += n;
                at = (at + n) % chunk.len();
            }
        }
        match flood.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                assert!(
                    buf[..n].iter().all(|b| b"HELOWRD\r\n".contains(b)),
                    "not upper-cased"
                );
                letters += buf[..n].iter().filter(|b| b.is_ascii_alphabetic()).count();
            }
            Err(_) => std::thread::sleep(Duration::from_millis(1)),
        }
    }
    assert_eq!(letters, want, "replies lost or duplicated");
    assert!(fixes_rss(pid) < bound);
}

/// The resident set of `pid`, from /proc.
fn fixes_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap();
    kb * 1024
}
