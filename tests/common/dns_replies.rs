//! evdns fed arbitrary replies: one lookup of `fuzz.test` against a UDP "server" of ours
//! on 127.0.0.1 that answers every query with the given bytes (their first two, the
//! transaction id, set to the query's, so that evdns reads the rest). Shared by
//! tests/dns_replies.rs (hand-written replies, the fuzz corpus and its regressions) and
//! the `dns_reply` fuzz target. What must hold: no crash, the lookup's callback runs
//! exactly once, and every address it gives has the port asked for.
#![allow(dead_code)]

use libevent::dns::Family;
use libevent::{DnsBase, EventBase, LoopFlags};
use std::cell::RefCell;
use std::net::UdpSocket;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// The input: its first byte picks the family asked for, the rest is the reply. The
/// number of addresses the lookup gave. A reply evdns ignores leaves the lookup to its
/// timeout, a few milliseconds here (the fuzzer's pace).
pub fn check(input: &[u8]) -> Result<usize, String> {
    check_with(input, "0.005")
}

/// As [`check`], with evdns's `timeout` option (seconds) given: tests that must see an
/// answer (and run under valgrind too) wait longer.
pub fn check_with(input: &[u8], timeout: &str) -> Result<usize, String> {
    let (family, reply) = match input.split_first() {
        Some((f, rest)) => (
            match f % 3 {
                0 => Family::V4,
                1 => Family::V6,
                _ => Family::Any,
            },
            rest,
        ),
        None => (Family::V4, input),
    };
    let base = EventBase::new().map_err(|e| e.to_string())?;
    let udp = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    udp.set_nonblocking(true).map_err(|e| e.to_string())?;
    let dns = DnsBase::new(&base).map_err(|e| e.to_string())?;
    dns.add_nameserver(udp.local_addr().unwrap())
        .map_err(|e| e.to_string())?;
    dns.set_option("timeout:", timeout)
        .map_err(|e| e.to_string())?;
    dns.set_option("attempts:", "1")
        .map_err(|e| e.to_string())?;
    let results = Rc::new(RefCell::new(Vec::new()));
    let r = results.clone();
    let lookup = dns
        .getaddrinfo("fuzz.test", 80, family, move |res| r.borrow_mut().push(res))
        .map_err(|e| e.to_string())?;
    let start = Instant::now();
    let mut query = [0u8; 1500];
    let mut out = reply.to_vec();
    while results.borrow().is_empty() {
        if start.elapsed() > Duration::from_secs(5) {
            return Err("the lookup never finished".into());
        }
        base.run(LoopFlags::ONCE | LoopFlags::NONBLOCK)
            .map_err(|e| e.to_string())?;
        while let Ok((n, peer)) = udp.recv_from(&mut query) {
            if n >= 2 && out.len() >= 2 {
                out[..2].copy_from_slice(&query[..2]);
            }
            let _ = udp.send_to(&out, peer);
        }
        std::thread::sleep(Duration::from_micros(50));
    }
    // Anything more would be a second call.
    let settle = Instant::now();
    while settle.elapsed() < Duration::from_millis(3) {
        base.run(LoopFlags::NONBLOCK).map_err(|e| e.to_string())?;
        while udp.recv_from(&mut query).is_ok() {}
    }
    drop(lookup);
    drop(dns);
    let results = results.borrow();
    if results.len() != 1 {
        return Err(format!("the callback ran {} times", results.len()));
    }
    match &results[0] {
        Ok(addrs) => match addrs.iter().find(|a| a.port() != 80) {
            Some(a) => Err(format!("an address with another port: {a}")),
            None => Ok(addrs.len()),
        },
        Err(_) => Ok(0),
    }
}

/// A well-formed reply to `fuzz.test` (the id is set by [`check`]): header, the
/// question, and `answers` records of `qtype` (1: A, 28: AAAA) with `rdata`.
pub fn reply(qtype: u16, answers: u16, rdata: &[u8]) -> Vec<u8> {
    let mut r = vec![0, 0, 0x81, 0x80, 0, 1];
    r.extend_from_slice(&answers.to_be_bytes());
    r.extend_from_slice(&[0, 0, 0, 0]);
    r.extend_from_slice(b"\x04fuzz\x04test\x00");
    r.extend_from_slice(&qtype.to_be_bytes());
    r.extend_from_slice(&[0, 1]);
    for _ in 0..answers {
        r.extend_from_slice(&[0xc0, 0x0c]);
        r.extend_from_slice(&qtype.to_be_bytes());
        r.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
        r.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        r.extend_from_slice(rdata);
    }
    r
}
