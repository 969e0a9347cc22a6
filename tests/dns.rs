//! evdns against a small DNS server of the test's own on 127.0.0.1 (UDP), made with the
//! crate's `dns::DnsServer` (evdns's server side): nothing leaves the machine.

mod common;

use common::spin;
use libevent::bufferevent::{BevEvent, Options};
use libevent::dns::{DnsError, Family, Lookup};
use libevent::http::{HttpConnection, Method};
use libevent::*;
use std::cell::{Cell, RefCell};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Answers by name (case-insensitive, the question echoed as asked):
/// - `a.test`: A 10.0.0.1 and 10.0.0.2, AAAA 2001:db8::1;
/// - `v4only.test`: A 10.0.0.3, no AAAA;
/// - `local.test`: A 127.0.0.1;
/// - `nx.test` (and anything unknown): NXDOMAIN;
/// - `slow.test` and PTR of 10.0.0.8: never answers;
/// - `tc.test` and PTR of 10.0.0.9: an empty answer with the truncation bit;
/// - PTR of 10.0.0.1: `host.test`.
struct DnsServer {
    addr: SocketAddr,
    queries: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl DnsServer {
    /// The zone above on `libevent::dns::DnsServer`, on a base and loop of its own in a
    /// thread (the resolver under test runs on the test's).
    fn start() -> DnsServer {
        let queries = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (q, st) = (queries.clone(), stop.clone());
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let base = EventBase::new().unwrap();
            let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
            let server = libevent::dns::DnsServer::new(&base, sock, move |req| {
                q.fetch_add(1, Ordering::SeqCst);
                answer(req);
            })
            .unwrap();
            tx.send(server.local_addr()).unwrap();
            while !st.load(Ordering::SeqCst) {
                base.loopexit(Some(Duration::from_millis(20))).unwrap();
                base.dispatch().unwrap();
            }
        });
        DnsServer {
            addr: rx.recv().unwrap(),
            queries,
            stop,
            thread: Some(thread),
        }
    }

    fn queries(&self) -> usize {
        self.queries.load(Ordering::SeqCst)
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Answers one query from the zone, or drops it (no answer at all).
fn answer(mut req: libevent::dns::ServerRequest) {
    let Some(q) = req.questions().into_iter().next() else {
        return;
    };
    // evdns asks in randomized case; the answer names the question as asked.
    let name = q.name.to_ascii_lowercase();
    let ok = |req: &mut libevent::dns::ServerRequest| req.respond(0).unwrap();
    match (name.as_str(), q.qtype) {
        ("slow.test", _) | ("8.0.0.10.in-addr.arpa", _) => drop(req),
        ("tc.test", _) | ("9.0.0.10.in-addr.arpa", _) => {
            req.set_flags(libevent::dns::ServerFlags::TRUNCATED)
                .unwrap();
            ok(&mut req)
        }
        ("a.test", 1) => {
            let v4 = [Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)];
            req.add_a(&q.name, &v4, 60).unwrap();
            ok(&mut req)
        }
        ("a.test", 28) => {
            req.add_aaaa(&q.name, &["2001:db8::1".parse().unwrap()], 60)
                .unwrap();
            ok(&mut req)
        }
        ("v4only.test", 1) => {
            req.add_a(&q.name, &[Ipv4Addr::new(10, 0, 0, 3)], 60)
                .unwrap();
            ok(&mut req)
        }
        ("local.test", 1) => {
            req.add_a(&q.name, &[Ipv4Addr::LOCALHOST], 60).unwrap();
            ok(&mut req)
        }
        ("v4only.test", _) | ("local.test", _) => ok(&mut req),
        ("1.0.0.10.in-addr.arpa", 12) => {
            req.add_ptr(&q.name, "host.test", 60).unwrap();
            ok(&mut req)
        }
        _ => req.respond(3).unwrap(),
    }
}

fn resolver(base: &EventBase, server: &DnsServer) -> DnsBase {
    let dns = DnsBase::new(base).unwrap();
    dns.add_nameserver(server.addr).unwrap();
    dns.set_option("timeout", "0.3").unwrap();
    dns.set_option("attempts", "2").unwrap();
    dns
}

type Got = Rc<RefCell<Option<Result<Vec<SocketAddr>>>>>;

fn lookup(dns: &DnsBase, host: &str, family: Family) -> (Lookup, Got) {
    let got: Got = Rc::default();
    let g = got.clone();
    let l = dns
        .getaddrinfo(host, 80, family, move |r| *g.borrow_mut() = Some(r))
        .unwrap();
    (l, got)
}

fn wait(base: &EventBase, got: &Got) -> Result<Vec<SocketAddr>> {
    spin(base, || got.borrow().is_some());
    got.borrow_mut().take().unwrap()
}

#[test]
fn a_and_aaaa_answers() {
    let server = DnsServer::start();
    let base = EventBase::new().unwrap();
    let dns = resolver(&base, &server);
    let (_l, got) = lookup(&dns, "A.Test", Family::Any);
    let mut addrs = wait(&base, &got).unwrap();
    addrs.sort();
    let want: Vec<SocketAddr> = ["10.0.0.1:80", "10.0.0.2:80", "[2001:db8::1]:80"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(addrs, want);
    let (_l, got) = lookup(&dns, "a.test", Family::V6);
    assert_eq!(wait(&base, &got).unwrap(), [want[2]]);
    let (_l, got) = lookup(&dns, "v4only.test", Family::V4);
    assert_eq!(wait(&base, &got).unwrap(), ["10.0.0.3:80".parse().unwrap()]);
    let (_l, got) = lookup(&dns, "v4only.test", Family::V6);
    // An empty answer: libevent's getaddrinfo reports every failure but NXDOMAIN as
    // EAI_FAIL.
    let e = wait(&base, &got).unwrap_err();
    assert_eq!(e.dns_error(), Some(DnsError::ServerFailed), "{e}");
}

#[test]
fn nxdomain_timeout_and_retry_truncation() {
    let server = DnsServer::start();
    let base = EventBase::new().unwrap();
    let dns = resolver(&base, &server);
    let (_l, got) = lookup(&dns, "nx.test", Family::V4);
    let e = wait(&base, &got).unwrap_err();
    assert_eq!(e.dns_error(), Some(DnsError::NoName), "{e}");
    assert_eq!(e.kind(), &libevent::ErrorKind::Dns(DnsError::NoName));
    assert!(e.to_string().contains("no such name"));

    let before = server.queries();
    let started = std::time::Instant::now();
    let (_l, got) = lookup(&dns, "slow.test", Family::V4);
    let e = wait(&base, &got).unwrap_err();
    assert_eq!(e.dns_error(), Some(DnsError::ServerFailed), "{e}");
    // Two attempts of 0.3 s each were made.
    assert!(
        server.queries() - before >= 2,
        "{} queries",
        server.queries() - before
    );
    assert!(started.elapsed() >= Duration::from_millis(550));
    // A reverse lookup names the timeout as such.
    let seen = Rc::new(RefCell::new(None));
    let s = seen.clone();
    let _r = dns
        .resolve_reverse("10.0.0.8".parse().unwrap(), move |r| {
            *s.borrow_mut() = Some(r)
        })
        .unwrap();
    spin(&base, || seen.borrow().is_some());
    let e = seen.borrow_mut().take().unwrap().unwrap_err();
    assert_eq!(e.dns_error(), Some(DnsError::Timeout), "{e}");

    let (_l, got) = lookup(&dns, "tc.test", Family::V4);
    assert!(wait(&base, &got).is_err());
    let seen = Rc::new(RefCell::new(None));
    let s = seen.clone();
    let _r = dns
        .resolve_reverse("10.0.0.9".parse().unwrap(), move |r| {
            *s.borrow_mut() = Some(r)
        })
        .unwrap();
    spin(&base, || seen.borrow().is_some());
    let e = seen.borrow_mut().take().unwrap().unwrap_err();
    assert_eq!(e.dns_error(), Some(DnsError::Truncated), "{e}");
}

#[test]
fn reverse_lookup() {
    let server = DnsServer::start();
    let base = EventBase::new().unwrap();
    let dns = resolver(&base, &server);
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    let r = dns
        .resolve_reverse(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), move |r| {
            s.borrow_mut().push(r)
        })
        .unwrap();
    spin(&base, || r.is_done());
    assert_eq!(seen.borrow()[0].as_deref().unwrap(), "host.test");
    let s = seen.clone();
    let _r = dns
        .resolve_reverse(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 77)), move |r| {
            s.borrow_mut().push(r)
        })
        .unwrap();
    spin(&base, || seen.borrow().len() == 2);
    assert_eq!(
        seen.borrow()[1].as_ref().unwrap_err().dns_error(),
        Some(DnsError::NoName)
    );
}

#[test]
fn a_dropped_lookup_is_cancelled_and_never_calls_back() {
    let server = DnsServer::start();
    let base = EventBase::new().unwrap();
    let dns = resolver(&base, &server);
    let called = Rc::new(Cell::new(0));
    let c = called.clone();
    let l = dns
        .getaddrinfo("slow.test", 1, Family::V4, move |_| c.set(c.get() + 1))
        .unwrap();
    assert!(!l.is_done());
    common::run_for(&base, Duration::from_millis(50));
    drop(l);
    let c = called.clone();
    let r = dns
        .resolve_reverse("10.0.0.1".parse().unwrap(), move |_| c.set(c.get() + 1))
        .unwrap();
    drop(r);
    common::run_for(&base, Duration::from_millis(800));
    assert_eq!(called.get(), 0);
    // The resolver still works.
    let (_l, got) = lookup(&dns, "a.test", Family::V4);
    assert_eq!(wait(&base, &got).unwrap().len(), 2);
}

#[test]
fn numeric_and_hosts_file_names_are_answered_at_once() {
    let base = EventBase::new().unwrap();
    let dns = DnsBase::new(&base).unwrap();
    let hosts = std::env::temp_dir().join(format!("dns-hosts-{}", std::process::id()));
    std::fs::write(&hosts, "10.9.8.7 myhost.local myalias\n").unwrap();
    dns.load_hosts(&hosts).unwrap();
    std::fs::remove_file(&hosts).unwrap();
    for (host, want) in [
        ("myhost.local", "10.9.8.7:80"),
        ("myalias", "10.9.8.7:80"),
        ("192.0.2.5", "192.0.2.5:80"),
    ] {
        let (l, got) = lookup(&dns, host, Family::V4);
        assert!(l.is_done(), "{host}");
        assert_eq!(
            got.borrow_mut().take().unwrap().unwrap(),
            [want.parse::<SocketAddr>().unwrap()]
        );
    }
    assert!(dns
        .load_hosts(std::path::Path::new("/nonexistent/hosts"))
        .is_err());
}

#[test]
fn configuration_by_hand_and_from_a_resolv_conf() {
    let server = DnsServer::start();
    let base = EventBase::new().unwrap();
    let dns = DnsBase::new(&base).unwrap();
    assert_eq!(dns.nameservers(), 0);
    let conf = std::env::temp_dir().join(format!("dns-resolv-{}", std::process::id()));
    std::fs::write(
        &conf,
        format!(
            "nameserver {}\nsearch test\noptions ndots:2 timeout:1 attempts:1\n",
            server.addr.ip()
        ),
    )
    .unwrap();
    // resolv.conf has no port: this one points at port 53, then we add ours.
    dns.resolv_conf(&conf).unwrap();
    std::fs::remove_file(&conf).unwrap();
    assert_eq!(dns.nameservers(), 1);
    let dns = DnsBase::new(&base).unwrap();
    dns.add_nameserver(server.addr).unwrap();
    dns.add_search("test").unwrap();
    dns.set_ndots(2);
    // "a" has fewer dots than ndots: tried as a.test first.
    let (_l, got) = lookup(&dns, "a", Family::V4);
    assert_eq!(wait(&base, &got).unwrap().len(), 2);
    dns.clear_search();
    assert!(dns.set_option("timeout", "x").is_err());
    assert!(dns
        .getaddrinfo("a\0b", 1, Family::Any, |_| {})
        .unwrap_err()
        .is_invalid_input());
    assert!(DnsBase::new(&base)
        .unwrap()
        .resolv_conf(std::path::Path::new("/nonexistent"))
        .is_err());
}

#[test]
fn bufferevent_connects_by_name() {
    let server = DnsServer::start();
    let base = EventBase::new().unwrap();
    let dns = resolver(&base, &server);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let events = Rc::new(RefCell::new(Vec::new()));
    let mut bev = BufferEvent::socket(&base, None, Options::CLOSE_ON_FREE).unwrap();
    let e = events.clone();
    bev.on_event(move |_, what| e.borrow_mut().push(what));
    bev.connect_hostname(Some(&dns), Family::V4, "local.test", port)
        .unwrap();
    spin(&base, || !events.borrow().is_empty());
    assert!(events.borrow()[0].contains(BevEvent::CONNECTED));
    assert_eq!(bev.dns_error(), None);
    let (peer, _) = listener.accept().unwrap();
    drop(peer);

    let mut bad = BufferEvent::socket(&base, None, Options::CLOSE_ON_FREE).unwrap();
    let e = events.clone();
    bad.on_event(move |_, what| e.borrow_mut().push(what));
    bad.connect_hostname(Some(&dns), Family::V4, "nx.test", port)
        .unwrap();
    spin(&base, || events.borrow().len() >= 2);
    assert!(events.borrow()[1].contains(BevEvent::ERROR));
    assert_eq!(bad.dns_error(), Some(DnsError::NoName));

    // Dropped while the lookup is in flight: cancelled; the DNS base stays until
    // libevent's cancellation has run.
    let mut slow = BufferEvent::socket(&base, None, Options::CLOSE_ON_FREE).unwrap();
    slow.connect_hostname(Some(&dns), Family::V4, "slow.test", port)
        .unwrap();
    drop(slow);
    drop(dns);
    common::run_for(&base, Duration::from_millis(100));
}

#[test]
fn http_connection_by_name() {
    let server = DnsServer::start();
    let base = EventBase::new().unwrap();
    let dns = resolver(&base, &server);
    let http = Http::new(&base).unwrap();
    let port = http
        .bind("127.0.0.1:0".parse().unwrap())
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    http.on_request(|req| {
        let host = req.host().unwrap_or("").to_owned();
        req.send_reply(200, None, host.as_bytes()).unwrap();
    });
    let conn = HttpConnection::with_dns(&base, &dns, "local.test", port).unwrap();
    let got = Rc::new(RefCell::new(None));
    let g = got.clone();
    conn.request(Method::Get, "/")
        .send(move |r| *g.borrow_mut() = Some(r.map(|r| r.body())))
        .unwrap();
    spin(&base, || got.borrow().is_some());
    assert_eq!(got.borrow_mut().take().unwrap().unwrap(), b"local.test");
    let bad = HttpConnection::with_dns(&base, &dns, "nx.test", port).unwrap();
    let g = got.clone();
    bad.request(Method::Get, "/")
        .send(move |r| *g.borrow_mut() = Some(r.map(|r| r.body())))
        .unwrap();
    spin(&base, || got.borrow().is_some());
    assert!(got.borrow_mut().take().unwrap().is_err());
    // Dropped mid-lookup: the lookup is cancelled, the queued request discarded.
    let slow = HttpConnection::with_dns(&base, &dns, "slow.test", port).unwrap();
    slow.request(Method::Get, "/")
        .send(|_| panic!("discarded"))
        .unwrap();
    common::run_for(&base, Duration::from_millis(30));
    drop(slow);
    drop(dns);
    common::run_for(&base, Duration::from_millis(100));
}

#[test]
fn dns_base_dropped_inside_its_own_callback() {
    let server = DnsServer::start();
    let base = EventBase::new().unwrap();
    let slot = Rc::new(RefCell::new(Some(resolver(&base, &server))));
    let s = slot.clone();
    let done = Rc::new(Cell::new(false));
    let d = done.clone();
    let l = slot
        .borrow()
        .as_ref()
        .unwrap()
        .getaddrinfo("a.test", 1, Family::V4, move |r| {
            assert!(r.is_ok());
            s.borrow_mut().take(); // the last handle
            d.set(true);
        })
        .unwrap();
    spin(&base, || done.get());
    drop(l);
    common::run_for(&base, Duration::from_millis(20));
}

#[test]
fn resolve_awaited_in_a_task_then_connect() {
    use libevent::task::{self, TcpListener, TcpStream};
    let server = DnsServer::start();
    let base = EventBase::new().unwrap();
    let dns = resolver(&base, &server);
    let (addrs, nx, timed_out) = base
        .block_on(async move {
            let mut l = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
            let port = l.local_addr().unwrap().port();
            let addrs = dns.resolve("local.test", port).await.unwrap();
            // Connect to what the name gave.
            let accept = task::spawn(async move { l.accept().await.map(|(_, p)| p) }).unwrap();
            let c = TcpStream::connect(addrs[0]).await.unwrap();
            assert_eq!(accept.await.unwrap(), c.local_addr().unwrap());
            let nx = dns.resolve("nx.test", 1).await.unwrap_err();
            // A lookup dropped by a timeout is cancelled.
            let slow = task::timeout(Duration::from_millis(50), dns.resolve("slow.test", 1)).await;
            (addrs, nx.dns_error(), slow.is_err())
        })
        .unwrap();
    assert_eq!(addrs.len(), 1);
    assert!(addrs[0].ip().is_loopback());
    assert_eq!(nx, Some(DnsError::NoName));
    assert!(timed_out);
}

#[test]
fn resolve_ipv4_and_ipv6_give_the_raw_answer_with_its_ttl() {
    let server = DnsServer::start();
    let base = EventBase::new().unwrap();
    let dns = resolver(&base, &server);
    type Slot = Rc<RefCell<Option<Result<libevent::dns::Answer>>>>;
    let ask = |v6: bool, name: &str| -> Result<libevent::dns::Answer> {
        let got: Slot = Rc::default();
        let g = got.clone();
        let done = move |r| *g.borrow_mut() = Some(r);
        let _q = if v6 {
            dns.resolve_ipv6(name, done)
        } else {
            dns.resolve_ipv4(name, done)
        }
        .unwrap();
        spin(&base, || got.borrow().is_some());
        let r = got.borrow_mut().take().unwrap();
        r
    };
    let a = ask(false, "a.test").unwrap();
    assert_eq!(
        a.addrs,
        [IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2])]
    );
    assert_eq!(a.ttl, Duration::from_secs(60));
    let aaaa = ask(true, "a.test").unwrap();
    assert_eq!(aaaa.addrs, ["2001:db8::1".parse::<IpAddr>().unwrap()]);
    let e = ask(false, "nx.test").unwrap_err();
    assert_eq!(e.dns_error(), Some(DnsError::NoName));
    assert!(ask(true, "v4only.test").is_err());
    assert!(dns
        .resolve_ipv4("a\0b", |_| {})
        .unwrap_err()
        .is_invalid_input());
    // Dropped before the answer: never called back.
    let called = Rc::new(Cell::new(false));
    let c = called.clone();
    drop(dns.resolve_ipv4("slow.test", move |_| c.set(true)).unwrap());
    common::run_for(&base, Duration::from_millis(100));
    assert!(!called.get());
}

#[test]
fn name_servers_listed_cleared_with_lookups_held_then_resumed() {
    let server = DnsServer::start();
    let base = EventBase::new().unwrap();
    let dns = DnsBase::new(&base).unwrap();
    dns.set_option("timeout", "0.3").unwrap();
    dns.add_nameserver("127.0.0.1:9".parse().unwrap()).unwrap();
    assert_eq!(
        dns.nameserver_addrs(),
        ["127.0.0.1:9".parse::<SocketAddr>().unwrap()]
    );
    dns.clear_nameservers_and_suspend().unwrap();
    assert!(dns.nameserver_addrs().is_empty());
    let got: Rc<RefCell<Option<Result<libevent::dns::Answer>>>> = Rc::default();
    let g = got.clone();
    let _q = dns
        .resolve_ipv4("local.test", move |r| *g.borrow_mut() = Some(r))
        .unwrap();
    common::run_for(&base, Duration::from_millis(50));
    assert!(got.borrow().is_none(), "held while suspended");
    dns.add_nameserver(server.addr).unwrap();
    dns.resume().unwrap();
    spin(&base, || got.borrow().is_some());
    assert_eq!(
        got.borrow_mut().take().unwrap().unwrap().addrs,
        [IpAddr::from([127, 0, 0, 1])]
    );
}

#[test]
fn hosts_entries_go_when_cleared() {
    let server = DnsServer::start();
    let base = EventBase::new().unwrap();
    let dns = resolver(&base, &server);
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dns-clear-hosts");
    std::fs::write(&path, "10.7.7.7 a.test\n").unwrap();
    dns.load_hosts(&path).unwrap();
    let (_l, got) = lookup(&dns, "a.test", Family::V4);
    assert_eq!(wait(&base, &got).unwrap(), ["10.7.7.7:80".parse().unwrap()]);
    dns.clear_hosts();
    let (_l, got) = lookup(&dns, "a.test", Family::V4);
    let addrs = wait(&base, &got).unwrap();
    assert!(
        addrs.contains(&"10.0.0.1:80".parse().unwrap()),
        "{addrs:?}: from the server now"
    );
}
