//! `dns::DnsServer` (evdns's server side) from outside: raw queries over UDP on
//! 127.0.0.1, replies parsed by hand; requests answered later, dropped, or outliving
//! their server; the server dropped from inside its own handler; C's evdns client.

use libevent::dns::{DnsServer, Question, Section, ServerFlags, ServerRequest};
use libevent::{EventBase, LoopFlags};
use std::cell::{Cell, RefCell};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// A query for `name` of type `qtype` with id `id`.
fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]); // RD, one question
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0]);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&[0, 1]);
    q
}

/// A reply's id, flags, and its records of every section as (type, ttl, rdata).
#[derive(Debug)]
struct Reply {
    id: u16,
    flags: u16,
    records: Vec<(u16, u32, Vec<u8>)>,
    counts: [u16; 3],
}

fn skip_name(r: &[u8], mut i: usize) -> usize {
    loop {
        let l = r[i] as usize;
        if l == 0 {
            return i + 1;
        }
        if l & 0xc0 == 0xc0 {
            return i + 2;
        }
        i += 1 + l;
    }
}

fn parse(r: &[u8]) -> Reply {
    let u16at = |i: usize| u16::from_be_bytes([r[i], r[i + 1]]);
    let qd = u16at(4);
    let counts = [u16at(6), u16at(8), u16at(10)];
    let mut i = 12;
    for _ in 0..qd {
        i = skip_name(r, i) + 4;
    }
    let mut records = Vec::new();
    for _ in 0..counts.iter().sum::<u16>() {
        i = skip_name(r, i);
        let t = u16at(i);
        let ttl = u32::from_be_bytes([r[i + 4], r[i + 5], r[i + 6], r[i + 7]]);
        let len = u16at(i + 8) as usize;
        records.push((t, ttl, r[i + 10..i + 10 + len].to_vec()));
        i += 10 + len;
    }
    Reply {
        id: u16at(0),
        flags: u16at(2),
        records,
        counts,
    }
}

/// Sends `q` and runs `base` until a reply comes (or `wait` passes: None).
fn ask(base: &EventBase, to: SocketAddr, q: &[u8], wait: Duration) -> Option<Reply> {
    let c = UdpSocket::bind("127.0.0.1:0").unwrap();
    c.set_nonblocking(true).unwrap();
    c.send_to(q, to).unwrap();
    let until = Instant::now() + wait;
    let mut buf = [0u8; 1500];
    while Instant::now() < until {
        base.run(LoopFlags::NONBLOCK).unwrap();
        if let Ok(n) = c.recv(&mut buf) {
            return Some(parse(&buf[..n]));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    None
}

fn bind() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").unwrap()
}

#[test]
fn every_kind_of_record_goes_out_with_its_ttl_and_the_flags_asked() {
    let base = EventBase::new().unwrap();
    let seen = Rc::new(RefCell::new(
        Vec::<(Vec<Question>, Option<SocketAddr>)>::new(),
    ));
    let s = seen.clone();
    let server = DnsServer::new(&base, bind(), move |mut req: ServerRequest| {
        s.borrow_mut().push((req.questions(), req.peer()));
        let name = req.questions()[0].name.clone();
        req.add_a(
            &name,
            &[Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2)],
            300,
        )
        .unwrap();
        req.add_aaaa(&name, &[Ipv6Addr::LOCALHOST], 301).unwrap();
        req.add_cname("www.zone.test", &name, 302).unwrap();
        req.add_ptr("1.2.0.192.in-addr.arpa", "host.zone.test", 303)
            .unwrap();
        req.add_reply(Section::Additional, &name, 16, 1, 304, b"\x05hello")
            .unwrap();
        req.set_flags(ServerFlags::AUTHORITATIVE).unwrap();
        req.respond(0).unwrap();
        assert!(req.respond(0).is_err(), "spent");
        assert!(req.add_a(&name, &[Ipv4Addr::LOCALHOST], 1).is_err());
        assert!(req.questions().is_empty());
    })
    .unwrap();
    let r = ask(
        &base,
        server.local_addr(),
        &query(0x1234, "zone.test", 1),
        Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(r.id, 0x1234);
    assert!(
        r.flags & 0x8000 != 0 && r.flags & 0x0400 != 0,
        "QR and AA: {:#x}",
        r.flags
    );
    assert_eq!(r.flags & 0xf, 0, "rcode");
    assert_eq!(r.counts, [5, 0, 1], "{r:?}");
    let types: Vec<(u16, u32)> = r.records.iter().map(|(t, ttl, _)| (*t, *ttl)).collect();
    assert_eq!(
        types,
        [
            (1, 300),
            (1, 300),
            (28, 301),
            (5, 302),
            (12, 303),
            (16, 304)
        ]
    );
    assert_eq!(r.records[0].2, [192, 0, 2, 1]);
    assert_eq!(r.records[2].2, Ipv6Addr::LOCALHOST.octets());
    assert_eq!(r.records[5].2, b"\x05hello");
    let seen = seen.borrow();
    assert_eq!(
        seen[0].0,
        [Question {
            name: "zone.test".into(),
            qtype: 1,
            class: 1
        }]
    );
    assert!(seen[0].1.unwrap().ip().is_loopback());
}

#[test]
fn an_error_code_a_bad_argument_and_a_dropped_request() {
    let base = EventBase::new().unwrap();
    let server = DnsServer::new(&base, bind(), |mut req: ServerRequest| {
        let name = req.questions()[0].name.clone();
        match name.as_str() {
            "drop.test" => drop(req),
            _ => {
                assert!(req
                    .add_a("a\0b", &[Ipv4Addr::LOCALHOST], 1)
                    .unwrap_err()
                    .is_invalid_input());
                assert!(req.add_a(&name, &[], 1).unwrap_err().is_invalid_input());
                assert!(req.add_a(&name, &[Ipv4Addr::LOCALHOST], u32::MAX).is_err());
                assert!(req.respond(16).unwrap_err().is_invalid_input());
                req.respond(3).unwrap();
            }
        }
    })
    .unwrap();
    let r = ask(
        &base,
        server.local_addr(),
        &query(7, "nx.test", 1),
        Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!((r.flags & 0xf, r.counts), (3, [0, 0, 0]));
    assert!(ask(
        &base,
        server.local_addr(),
        &query(8, "drop.test", 1),
        Duration::from_millis(200)
    )
    .is_none());
}

#[test]
fn a_request_kept_is_answered_later_even_after_its_server_is_dropped() {
    let base = EventBase::new().unwrap();
    let kept: Rc<RefCell<Vec<ServerRequest>>> = Rc::default();
    let k = kept.clone();
    let server = DnsServer::new(&base, bind(), move |req| k.borrow_mut().push(req)).unwrap();
    let addr = server.local_addr();
    let c = UdpSocket::bind("127.0.0.1:0").unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.send_to(&query(9, "later.test", 1), addr).unwrap();
    let until = Instant::now() + Duration::from_secs(5);
    while kept.borrow().is_empty() && Instant::now() < until {
        base.run(LoopFlags::NONBLOCK).unwrap();
    }
    drop(server); // the request it handed out keeps the port
    let mut req = kept.borrow_mut().pop().unwrap();
    req.add_a("later.test", &[Ipv4Addr::new(10, 9, 9, 9)], 5)
        .unwrap();
    req.respond(0).unwrap();
    let mut buf = [0u8; 512];
    let n = c.recv(&mut buf).unwrap();
    assert_eq!(parse(&buf[..n]).records[0].2, [10, 9, 9, 9]);
    drop(req);
    // The port closes on the loop's next pass: its address is free again.
    base.run(LoopFlags::NONBLOCK).unwrap();
    UdpSocket::bind(addr).expect("the port's socket was closed");
}

#[test]
fn the_server_dropped_inside_its_own_handler_answers_that_query_and_no_more() {
    let base = EventBase::new().unwrap();
    let slot: Rc<RefCell<Option<DnsServer>>> = Rc::default();
    let handled = Rc::new(Cell::new(0));
    let (s, h) = (slot.clone(), handled.clone());
    let server = DnsServer::new(&base, bind(), move |mut req: ServerRequest| {
        h.set(h.get() + 1);
        drop(s.borrow_mut().take()); // the server, from inside its own handler
        let name = req.questions()[0].name.clone();
        req.add_a(&name, &[Ipv4Addr::LOCALHOST], 1).unwrap();
        req.respond(0).unwrap();
    })
    .unwrap();
    let addr = server.local_addr();
    *slot.borrow_mut() = Some(server);
    assert!(ask(
        &base,
        addr,
        &query(1, "one.test", 1),
        Duration::from_secs(5)
    )
    .is_some());
    assert!(ask(
        &base,
        addr,
        &query(2, "two.test", 1),
        Duration::from_millis(100)
    )
    .is_none());
    assert_eq!(handled.get(), 1);
    UdpSocket::bind(addr).expect("the port's socket was closed");
}

#[test]
fn c_code_resolves_through_the_rust_server() {
    use libevent::sys;
    use std::ffi::{c_char, c_int, c_void, CString};
    let base = EventBase::new().unwrap();
    let server = DnsServer::new(&base, bind(), |mut req: ServerRequest| {
        let name = req.questions()[0].name.clone();
        req.add_a(&name, &[Ipv4Addr::new(203, 0, 113, 5)], 42)
            .unwrap();
        req.respond(0).unwrap();
    })
    .unwrap();
    struct Got {
        result: c_int,
        ttl: c_int,
        addr: u32,
        done: bool,
    }
    unsafe extern "C" fn cb(
        result: c_int,
        _type: c_char,
        count: c_int,
        ttl: c_int,
        addrs: *mut c_void,
        arg: *mut c_void,
    ) {
        // SAFETY: arg is the Got below; addrs holds count IPv4 addresses.
        unsafe {
            let g = &mut *(arg as *mut Got);
            g.result = result;
            g.ttl = ttl;
            if count > 0 {
                g.addr = *(addrs as *const u32);
            }
            g.done = true;
        }
    }
    let mut got = Got {
        result: -1,
        ttl: 0,
        addr: 0,
        done: false,
    };
    let ns = CString::new(server.local_addr().to_string()).unwrap();
    let name = CString::new("c.test").unwrap();
    // SAFETY: what a C program does: its own evdns base on the same event base, a
    // lookup whose callback writes into `got`, which outlives it; freed after.
    unsafe {
        let dns = sys::evdns_base_new(base.as_raw(), 0);
        assert_eq!(sys::evdns_base_nameserver_ip_add(dns, ns.as_ptr()), 0);
        let r = sys::evdns_base_resolve_ipv4(
            dns,
            name.as_ptr(),
            0,
            Some(cb),
            &mut got as *mut Got as *mut c_void,
        );
        assert!(!r.is_null());
        let until = Instant::now() + Duration::from_secs(5);
        while !got.done && Instant::now() < until {
            base.run(LoopFlags::ONCE).unwrap();
        }
        sys::evdns_base_free(dns, 0);
    }
    assert!(got.done);
    assert_eq!((got.result, got.ttl), (0, 42));
    assert_eq!(
        Ipv4Addr::from(u32::from_be(got.addr)),
        Ipv4Addr::new(203, 0, 113, 5)
    );
}
