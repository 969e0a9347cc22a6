//! TLS bufferevents over OpenSSL (feature `openssl`), with certificates made at run time.
#![cfg(feature = "openssl")]

mod common;

use common::pki::{acceptor, connector, pki, Pki};
use common::spin;
use libevent::bufferevent::{BevEvent, Options, SslState};
use libevent::event::Flags;
use libevent::http::{HttpConnection, Method};
use libevent::listener::ListenerFlags;
use libevent::*;
use openssl::nid::Nid;
use openssl::ssl::{Ssl, SslAcceptor};
use openssl::x509::X509;
use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::rc::Rc;
use std::time::Duration;

/// A TLS echo server on the loop; its connections are kept in the returned table.
fn echo_server(
    base: &EventBase,
    acc: SslAcceptor,
) -> (Listener, SocketAddr, Rc<RefCell<Vec<BufferEvent>>>) {
    let conns: Rc<RefCell<Vec<BufferEvent>>> = Rc::default();
    let (b, c) = (base.clone(), conns.clone());
    let l = Listener::bind(
        base,
        "127.0.0.1:0".parse().unwrap(),
        16,
        ListenerFlags::REUSEABLE,
        move |stream, _| {
            let ssl = Ssl::new(acc.context()).unwrap();
            let mut bev = BufferEvent::openssl_socket(
                &b,
                Some(stream.into()),
                ssl,
                SslState::Accepting,
                Options::empty(),
            )
            .unwrap();
            bev.on_read(|bev| {
                let data = bev.input_mut().remove_all();
                bev.write(&data).unwrap();
            });
            bev.on_event(|_, _| {});
            bev.enable(Flags::READ).unwrap();
            c.borrow_mut().push(bev);
        },
    )
    .unwrap();
    let addr = l.local_addr().unwrap();
    (l, addr, conns)
}

/// A client session trusting `ca`, verifying `host` (and sending it as SNI).
fn client_ssl(ca: &X509, host: &str) -> Ssl {
    connector(ca).configure().unwrap().into_ssl(host).unwrap()
}

/// What a test client read, and the events it saw.
type Seen<T> = Rc<RefCell<Vec<T>>>;

/// A TLS client bufferevent to `addr` verifying `host`; what it reads and its events.
fn client(
    base: &EventBase,
    ca: &X509,
    host: &str,
    addr: SocketAddr,
) -> (BufferEvent, Seen<u8>, Seen<BevEvent>) {
    let ssl = client_ssl(ca, host);
    let mut bev =
        BufferEvent::openssl_socket(base, None, ssl, SslState::Connecting, Options::empty())
            .unwrap();
    let (got, events) = (
        Rc::new(RefCell::new(Vec::new())),
        Rc::new(RefCell::new(Vec::new())),
    );
    let (g, e) = (got.clone(), events.clone());
    bev.on_read(move |bev| g.borrow_mut().extend(bev.input_mut().remove_all()));
    bev.on_event(move |_, what| e.borrow_mut().push(what));
    bev.enable(Flags::READ).unwrap();
    bev.connect(addr).unwrap();
    (bev, got, events)
}

#[test]
fn echo_over_tls_with_the_session_visible() {
    let pki = pki();
    let base = EventBase::new().unwrap();
    let (_l, addr, conns) = echo_server(&base, acceptor(&pki.server.0, &pki.server.1));
    let (mut bev, got, events) = client(&base, &pki.ca, "localhost", addr);
    bev.write(b"hello over tls").unwrap();
    spin(&base, || got.borrow().len() == 14);
    assert_eq!(&*got.borrow(), b"hello over tls");
    assert!(events.borrow()[0].contains(BevEvent::CONNECTED));
    bev.with(|bev| {
        let ssl = bev.ssl().unwrap();
        assert!(ssl.version_str().starts_with("TLSv1."));
        let peer = ssl.peer_certificate().unwrap();
        assert_eq!(
            peer.subject_name()
                .entries_by_nid(Nid::COMMONNAME)
                .next()
                .unwrap()
                .data()
                .as_slice(),
            b"localhost"
        );
    });
    assert_eq!(conns.borrow().len(), 1);
    assert!(conns.borrow_mut()[0].with(|b| b.ssl().is_some()));
    // A plain bufferevent has no session.
    let (mut plain, _) = BufferEvent::pair(&base, Options::empty()).unwrap();
    assert!(plain.with(|b| b.ssl().is_none()));
}

#[test]
fn an_untrusted_certificate_and_a_wrong_host_name_fail_the_handshake() {
    let pki = pki();
    let base = EventBase::new().unwrap();
    for (server, host) in [(&pki.stranger, "localhost"), (&pki.server, "wrong.example")] {
        let (_l, addr, _conns) = echo_server(&base, acceptor(&server.0, &server.1));
        let (mut bev, _got, events) = client(&base, &pki.ca, host, addr);
        spin(&base, || !events.borrow().is_empty());
        assert!(
            events.borrow()[0].contains(BevEvent::ERROR),
            "{:?}",
            events.borrow()
        );
        let e = bev.openssl_error().expect("OpenSSL says why");
        assert_eq!(e.reason(), Some("certificate verify failed"), "{e}");
    }
}

/// A blocking TLS server in a thread: handshake, send `hi`, then close the socket
/// without close_notify.
fn dirty_server(pki: &Pki) -> SocketAddr {
    let acc = acceptor(&pki.server.0, &pki.server.1);
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        let mut tls = acc.accept(s).unwrap();
        tls.write_all(b"hi").unwrap();
        std::thread::sleep(Duration::from_millis(50));
        drop(tls); // no shutdown(): the TCP close comes without close_notify
    });
    addr
}

#[test]
fn a_peer_that_closes_without_close_notify() {
    let pki = pki();
    let base = EventBase::new().unwrap();
    for allow in [false, true] {
        let addr = dirty_server(&pki);
        let (mut bev, got, events) = client(&base, &pki.ca, "localhost", addr);
        bev.set_allow_dirty_shutdown(allow).unwrap();
        assert_eq!(bev.allow_dirty_shutdown(), allow);
        spin(&base, || events.borrow().len() >= 2);
        assert_eq!(&*got.borrow(), b"hi");
        let last = *events.borrow().last().unwrap();
        if allow {
            assert!(last.contains(BevEvent::EOF), "{last:?}");
        } else {
            assert!(last.contains(BevEvent::ERROR), "{last:?}");
        }
    }
    let (mut plain, _) = BufferEvent::pair(&base, Options::empty()).unwrap();
    assert!(plain
        .set_allow_dirty_shutdown(true)
        .unwrap_err()
        .is_invalid_input());
}

#[test]
fn tls_filters_over_a_pair_and_a_drop_inside_the_callback() {
    let pki = pki();
    let base = EventBase::new().unwrap();
    let (a, b) = BufferEvent::pair(&base, Options::empty()).unwrap();
    let acc = acceptor(&pki.server.0, &pki.server.1);
    let mut server = BufferEvent::openssl_filter(
        a,
        Ssl::new(acc.context()).unwrap(),
        SslState::Accepting,
        Options::empty(),
    )
    .unwrap();
    let ssl = client_ssl(&pki.ca, "localhost");
    let client =
        BufferEvent::openssl_filter(b, ssl, SslState::Connecting, Options::empty()).unwrap();
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    server.on_read(move |bev| g.borrow_mut().extend(bev.input_mut().remove_all()));
    server.enable(Flags::READ).unwrap();
    let slot = Rc::new(RefCell::new(Some(client)));
    {
        let mut c = slot.borrow_mut();
        let c = c.as_mut().unwrap();
        c.on_read(|_| {});
        // The handshake needs the client to read the server's answers.
        c.enable(Flags::READ).unwrap();
        c.write(b"through two filters").unwrap();
    }
    spin(&base, || got.borrow().len() == 19);
    assert_eq!(&*got.borrow(), b"through two filters");
    // The client drops itself inside its own read callback.
    let s = slot.clone();
    {
        let mut c = slot.borrow_mut();
        let c = c.as_mut().unwrap();
        c.on_read(move |_| {
            s.borrow_mut().take();
        });
        c.enable(Flags::READ).unwrap();
    }
    server.write(b"bye").unwrap();
    spin(&base, || slot.borrow().is_none());
}

#[test]
fn https_server_and_client() {
    let pki = pki();
    let base = EventBase::new().unwrap();
    let http = Http::new(&base).unwrap();
    let addr = http
        .bind("127.0.0.1:0".parse().unwrap())
        .unwrap()
        .local_addr()
        .unwrap();
    let acc = acceptor(&pki.server.0, &pki.server.1);
    http.on_connection(move |base| {
        let ssl = Ssl::new(acc.context()).ok()?;
        BufferEvent::openssl_socket(base, None, ssl, SslState::Accepting, Options::empty()).ok()
    });
    http.on_request(|req| {
        let tls = req.uri().to_owned();
        req.send_reply(200, None, format!("secure {tls}").as_bytes())
            .unwrap();
    });
    let ssl = client_ssl(&pki.ca, "localhost");
    let bev = BufferEvent::openssl_socket(&base, None, ssl, SslState::Connecting, Options::empty())
        .unwrap();
    let conn =
        HttpConnection::with_bufferevent(&base, None, bev, "127.0.0.1", addr.port()).unwrap();
    let got = Rc::new(RefCell::new(Vec::new()));
    for path in ["/one", "/two"] {
        let g = got.clone();
        conn.request(Method::Get, path)
            .send(move |r| g.borrow_mut().push(r.map(|r| r.body())))
            .unwrap();
    }
    spin(&base, || got.borrow().len() == 2);
    assert_eq!(got.borrow()[0].as_ref().unwrap(), b"secure /one");
    assert_eq!(got.borrow()[1].as_ref().unwrap(), b"secure /two");
    // A plain-text client gets nothing sensible from the TLS port.
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let t = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        out
    });
    spin(&base, || t.is_finished());
    assert!(!t.join().unwrap().starts_with(b"HTTP/1.1 200"));
    // A connected bufferevent cannot be handed to a connection.
    let (p, _) = BufferEvent::pair(&base, Options::empty()).unwrap();
    assert!(HttpConnection::with_bufferevent(&base, None, p, "x", 1).is_err());
}

#[test]
fn close_notify_gives_the_peer_a_clean_end_of_stream() {
    let pki = pki();
    let base = EventBase::new().unwrap();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let ca = pki.ca.clone();
    let peer = std::thread::spawn(move || {
        let s = TcpStream::connect(addr).unwrap();
        let mut tls = connector(&ca).connect("localhost", s).unwrap();
        let mut out = Vec::new();
        // read_to_end fails on a close without close_notify ("unexpected eof").
        tls.read_to_end(&mut out)
            .map(|_| out)
            .map_err(|e| e.to_string())
    });
    let (s, _) = l.accept().unwrap();
    s.set_nonblocking(true).unwrap();
    let acc = acceptor(&pki.server.0, &pki.server.1);
    let mut bev = BufferEvent::openssl_socket(
        &base,
        Some(s.into()),
        Ssl::new(acc.context()).unwrap(),
        SslState::Accepting,
        Options::empty(),
    )
    .unwrap();
    let connected = Rc::new(RefCell::new(false));
    let c = connected.clone();
    bev.on_event(move |_, what| *c.borrow_mut() |= what.contains(BevEvent::CONNECTED));
    bev.enable(Flags::READ | Flags::WRITE).unwrap();
    spin(&base, || *connected.borrow());
    bev.write(b"last words").unwrap();
    spin(&base, || bev.output_len() == 0);
    bev.close_notify().unwrap();
    bev.shutdown(std::net::Shutdown::Write).unwrap();
    spin(&base, || peer.is_finished());
    assert_eq!(peer.join().unwrap().unwrap(), b"last words");
    let (mut plain, _) = BufferEvent::pair(&base, Options::empty()).unwrap();
    assert!(plain.close_notify().is_err());
}

extern "C" {
    // A function in OpenSSL 1.1 and 3 (openssl-sys binds only the context's).
    fn SSL_get_options(ssl: *const openssl_sys::SSL) -> u64;
}

#[test]
fn renegotiation_is_refused_unless_asked_for() {
    use foreign_types::ForeignTypeRef;
    let pki = pki();
    let base = EventBase::new().unwrap();
    let acc = acceptor(&pki.server.0, &pki.server.1);
    for allow in [false, true] {
        let ssl = Ssl::new(acc.context()).unwrap();
        let mut bev = BufferEvent::openssl_socket_with(
            &base,
            None,
            ssl,
            SslState::Accepting,
            Options::empty(),
            allow,
        )
        .unwrap();
        // SAFETY: the bufferevent's live session.
        let opts = bev.with(|b| unsafe { SSL_get_options(b.ssl().unwrap().as_ptr()) });
        assert_eq!(opts & openssl_sys::SSL_OP_NO_RENEGOTIATION != 0, !allow);
    }
    let ssl = Ssl::new(acc.context()).unwrap();
    let mut bev =
        BufferEvent::openssl_socket(&base, None, ssl, SslState::Accepting, Options::empty())
            .unwrap();
    // SAFETY: as above.
    let opts = bev.with(|b| unsafe { SSL_get_options(b.ssl().unwrap().as_ptr()) });
    assert_ne!(opts & openssl_sys::SSL_OP_NO_RENEGOTIATION, 0);
}

/// A TLS failure is an `Error` of kind `Tls`, with OpenSSL's error queue for the call:
/// here close_notify before the handshake has even started.
#[test]
fn a_tls_failure_carries_openssls_error_queue() {
    let pki = pki();
    let base = EventBase::new().unwrap();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let s = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    s.set_nonblocking(true).unwrap();
    let acc = acceptor(&pki.server.0, &pki.server.1);
    let mut bev = BufferEvent::openssl_socket(
        &base,
        Some(s.into()),
        Ssl::new(acc.context()).unwrap(),
        SslState::Accepting,
        Options::empty(),
    )
    .unwrap();
    let e = bev.close_notify().unwrap_err();
    assert_eq!(e.function(), "SSL_shutdown");
    let ErrorKind::Tls(stack) = e.kind() else {
        panic!("{:?}", e.kind())
    };
    assert!(!stack.is_empty(), "{e}");
    assert!(
        stack
            .iter()
            .any(|s| s.reason().is_some_and(|r| r.contains("init"))),
        "{e}"
    );
    assert!(e.to_string().contains("TLS"), "{e}");
    // The queue was taken: the next failure is not blamed on this one.
    assert!(openssl::error::ErrorStack::get().errors().is_empty());
}

extern "C" {
    fn SSL_renegotiate_pending(ssl: *const openssl_sys::SSL) -> i32;
}

/// `SSL_num_renegotiations`, a macro over `SSL_ctrl`.
fn renegotiations(bev: &mut BufferEvent) -> std::ffi::c_long {
    use foreign_types::ForeignTypeRef;
    const SSL_CTRL_GET_NUM_RENEGOTIATIONS: i32 = 10;
    // SAFETY: the bufferevent's live session; the control only reads a counter.
    bev.with(|b| unsafe {
        openssl_sys::SSL_ctrl(
            b.ssl().unwrap().as_ptr(),
            SSL_CTRL_GET_NUM_RENEGOTIATIONS,
            0,
            std::ptr::null_mut(),
        )
    })
}

/// Two TLS bufferevents over one loopback connection, with renegotiation allowed or
/// not, `max` the highest version the server takes, and the kernel's buffers (the
/// client's send, the server's receive) set to `buffers` bytes if given: (server, client,
/// what the client read, the server's events). The server echoes.
fn tls_pair(
    base: &EventBase,
    pki: &Pki,
    allow: bool,
    max: openssl::ssl::SslVersion,
    buffers: Option<usize>,
) -> (BufferEvent, BufferEvent, Seen<u8>, Seen<BevEvent>) {
    let mut acc =
        openssl::ssl::SslAcceptor::mozilla_intermediate_v5(openssl::ssl::SslMethod::tls()).unwrap();
    acc.set_certificate(&pki.server.0).unwrap();
    acc.set_private_key(&pki.server.1).unwrap();
    acc.set_max_proto_version(Some(max)).unwrap();
    let acc = acc.build();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (s, _) = l.accept().unwrap();
    c.set_nonblocking(true).unwrap();
    s.set_nonblocking(true).unwrap();
    if let Some(n) = buffers {
        socket2::SockRef::from(&c).set_send_buffer_size(n).unwrap();
        socket2::SockRef::from(&s).set_recv_buffer_size(n).unwrap();
    }
    let ssl = Ssl::new(acc.context()).unwrap();
    let mut server = BufferEvent::openssl_socket_with(
        base,
        Some(s.into()),
        ssl,
        SslState::Accepting,
        Options::empty(),
        allow,
    )
    .unwrap();
    let events: Seen<BevEvent> = Rc::default();
    let e = events.clone();
    server.on_read(|bev| {
        let data = bev.input_mut().remove_all();
        bev.write(&data).unwrap();
    });
    server.on_event(move |_, what| e.borrow_mut().push(what));
    server.enable(Flags::READ).unwrap();
    let mut client = BufferEvent::openssl_socket_with(
        base,
        Some(c.into()),
        client_ssl(&pki.ca, "localhost"),
        SslState::Connecting,
        Options::empty(),
        allow,
    )
    .unwrap();
    let got: Seen<u8> = Rc::default();
    let g = got.clone();
    client.on_read(move |bev| g.borrow_mut().extend(bev.input_mut().remove_all()));
    client.on_event(|_, _| {});
    client.enable(Flags::READ).unwrap();
    (server, client, got, events)
}

#[test]
fn renegotiation_on_tls_1_2_runs_a_new_handshake_while_data_flows() {
    let pki = pki();
    let base = EventBase::new().unwrap();
    let (mut server, mut client, got, events) =
        tls_pair(&base, &pki, true, openssl::ssl::SslVersion::TLS1_2, None);
    client.write(b"before ").unwrap();
    spin(&base, || got.borrow().len() == 7);
    assert_eq!(renegotiations(&mut client), 0);
    let connected = |e: &Seen<BevEvent>| {
        e.borrow()
            .iter()
            .filter(|w| w.contains(BevEvent::CONNECTED))
            .count()
    };
    assert_eq!(connected(&events), 1);
    server.with(|b| b.renegotiate()).unwrap();
    client.write(b"after").unwrap();
    spin(&base, || {
        got.borrow().len() == 12 && connected(&events) == 2
    });
    assert_eq!(&*got.borrow(), b"before after");
    // The client took part: OpenSSL counts the renegotiation it answered.
    assert_eq!(renegotiations(&mut client), 1);
    use foreign_types::ForeignTypeRef;
    // The new handshake finishes (the server's session no longer waits for it), and the
    // connection still carries data after it.
    let pending = |s: &mut BufferEvent| {
        s.with(|b| {
            let ssl = b.ssl().unwrap().as_ptr();
            // SAFETY: the server's live session; the call only reads a flag.
            unsafe { SSL_renegotiate_pending(ssl) }
        })
    };
    let mut rounds = 0;
    while pending(&mut server) != 0 {
        rounds += 1;
        assert!(rounds < 100, "the handshake never finished");
        client.write(b".").unwrap();
        let want = got.borrow().len() + 1;
        spin(&base, || got.borrow().len() == want);
    }
    // A plain bufferevent has nothing to renegotiate.
    let (mut plain, _) = BufferEvent::pair(&base, Options::empty()).unwrap();
    assert!(plain
        .with(|b| b.renegotiate())
        .unwrap_err()
        .is_invalid_input());
}

#[test]
fn renegotiation_is_refused_on_tls_1_3_and_on_sessions_that_do_not_allow_it() {
    let pki = pki();
    let base = EventBase::new().unwrap();
    for (allow, max) in [
        (true, openssl::ssl::SslVersion::TLS1_3),
        (false, openssl::ssl::SslVersion::TLS1_2),
    ] {
        let (mut server, mut client, got, _) = tls_pair(&base, &pki, allow, max, None);
        client.write(b"x").unwrap();
        spin(&base, || got.borrow().len() == 1);
        let e = server.with(|b| b.renegotiate()).unwrap_err();
        assert!(e.is_invalid_input(), "{e}");
        // Nothing happened to the connection.
        client.write(b"y").unwrap();
        spin(&base, || got.borrow().len() == 2);
    }
}

/// Runs the loop until `until` holds, failing after 60 s (a transfer of a few hundred
/// records may take a while under valgrind).
fn spin_long(base: &EventBase, until: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !until() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "condition not reached"
        );
        base.run(LoopFlags::ONCE | LoopFlags::NONBLOCK).unwrap();
    }
}

#[test]
fn write_direct_over_tls_writes_at_once_once_open_and_never_overtakes_queued_data() {
    use openssl::ssl::SslVersion;
    let pki = pki();
    let base = EventBase::new().unwrap();
    let (_server, mut client, got, _) = tls_pair(&base, &pki, false, SslVersion::TLS1_3, None);
    // Before the handshake: queued, and sent once it is done.
    client.write_direct(b"early ").unwrap();
    assert_eq!(client.output_len(), 6);
    spin(&base, || got.borrow().len() == 6);
    // Open, nothing queued: SSL_write at once.
    client.write_direct(b"now ").unwrap();
    assert_eq!(client.output_len(), 0, "written at once, not queued");
    // Behind queued data: queued after it, in order.
    client.write(b"second ").unwrap();
    client.write_direct(b"third ").unwrap();
    assert_eq!(client.output_len(), 13);
    spin(&base, || got.borrow().len() == 23);
    assert_eq!(&*got.borrow(), b"early now second third ");
    // More than one record: queued, as write.
    let big: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    client.write_direct(&big).unwrap();
    assert_eq!(client.output_len(), big.len());
    // More than max_single_write: queued too.
    client.set_max_single_write(100).unwrap();
    spin(&base, || client.output_len() == 0);
    client.write_direct(&[b'm'; 101]).unwrap();
    assert_eq!(client.output_len(), 101);
    spin(&base, || got.borrow().len() == 23 + big.len() + 101);
    assert_eq!(&got.borrow()[23..23 + big.len()], &big[..]);
    assert!(got.borrow()[23 + big.len()..].iter().all(|&b| b == b'm'));
    // Writing disabled: queued.
    client.disable(Flags::WRITE).unwrap();
    client.write_direct(b"held").unwrap();
    assert_eq!(client.output_len(), 4);
}

#[test]
fn write_direct_over_tls_queues_on_sessions_that_allow_renegotiation() {
    use openssl::ssl::SslVersion;
    let pki = pki();
    let base = EventBase::new().unwrap();
    let (_server, mut client, got, _) = tls_pair(&base, &pki, true, SslVersion::TLS1_2, None);
    client.write(b"hello ").unwrap();
    spin(&base, || got.borrow().len() == 6);
    // A renegotiation may start at any read: libevent's handshake state is not ours to
    // race, so the write goes through libevent's queue.
    client.write_direct(b"queued").unwrap();
    assert_eq!(client.output_len(), 6);
    spin(&base, || got.borrow().len() == 12);
    assert_eq!(&*got.borrow(), b"hello queued");
}

#[test]
fn a_tls_record_the_socket_cannot_take_is_queued_whole_and_arrives_in_order() {
    use openssl::ssl::SslVersion;
    let pki = pki();
    let base = EventBase::new().unwrap();
    let (mut server, mut client, got, _) =
        tls_pair(&base, &pki, false, SslVersion::TLS1_3, Some(4096));
    client.write(b"hi").unwrap();
    spin(&base, || got.borrow().len() == 2);
    // The server stops reading and keeps what it reads from then on.
    let kept: Seen<u8> = Rc::default();
    let k = kept.clone();
    server.on_read(move |bev| k.borrow_mut().extend(bev.input_mut().remove_all()));
    server.disable(Flags::READ).unwrap();
    // Records of 16,000 bytes until the socket takes no more: the last is then with
    // OpenSSL, partly written, and queued.
    let chunk = |i: usize| vec![(i % 256) as u8; 16_000];
    let mut sent = 0;
    while client.output_len() == 0 {
        assert!(sent < 2_000, "the socket never filled");
        client.write_direct(&chunk(sent)).unwrap();
        sent += 1;
    }
    assert_eq!(
        client.output_len(),
        16_000,
        "the blocked record, queued whole"
    );
    // Behind it: queued.
    client.write_direct(b"tail").unwrap();
    assert_eq!(client.output_len(), 16_004);
    // libevent's retry must pass the whole record: a smaller single write is refused
    // until the output has drained, a larger one is fine.
    let e = client.set_max_single_write(1000).unwrap_err();
    assert!(e.to_string().contains("write_direct"), "{e}");
    client.set_max_single_write(20_000).unwrap();
    server.enable(Flags::READ).unwrap();
    let total = sent * 16_000 + 4;
    spin_long(&base, || {
        kept.borrow().len() == total && client.output_len() == 0
    });
    let kept = kept.borrow();
    for i in 0..sent {
        assert!(
            kept[i * 16_000..(i + 1) * 16_000]
                .iter()
                .all(|&b| b == (i % 256) as u8),
            "record {i} out of place"
        );
    }
    assert_eq!(&kept[sent * 16_000..], b"tail");
    client.set_max_single_write(1000).unwrap();
}
