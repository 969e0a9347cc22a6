//! evhttp: the server, the client, and the lifetimes between them.

mod common;

use common::spin;
use libevent::bufferevent::Options;
use libevent::error::RequestError;
use libevent::http::{
    decode_uri, encode_uri, parse_query, HttpConnection, Method, Methods, RequestRef, Uri,
};
use libevent::listener::ListenerFlags;
use libevent::*;
use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::rc::Rc;
use std::thread::JoinHandle;
use std::time::Duration;

fn server(base: &EventBase) -> (Http, SocketAddr) {
    let http = Http::new(base).unwrap();
    let bound = http.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = bound.local_addr().unwrap();
    (http, addr)
}

/// Sends `raw` from a blocking client thread and reads until the server closes.
fn exchange(addr: SocketAddr, raw: &[u8]) -> JoinHandle<String> {
    let raw = raw.to_vec();
    std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(&raw).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    })
}

/// Runs the loop until the client thread is done, and returns what it read.
fn finish(base: &EventBase, t: JoinHandle<String>) -> String {
    spin(base, || t.is_finished());
    t.join().unwrap()
}

fn get(base: &EventBase, addr: SocketAddr, path: &str) -> String {
    let t = exchange(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    finish(base, t)
}

/// What a client callback saw: status, body, or the error.
type Seen = Rc<RefCell<Vec<std::result::Result<(u16, Vec<u8>), Error>>>>;

fn collect(seen: &Seen) -> impl FnOnce(Result<&mut RequestRef>) + 'static {
    let seen = seen.clone();
    move |r| {
        seen.borrow_mut()
            .push(r.map(|resp| (resp.response_code(), resp.body())));
    }
}

#[test]
fn routes_generic_callback_and_404() {
    let base = EventBase::new().unwrap();
    let (http, addr) = server(&base);
    http.on_path("/hello", |mut req| {
        req.output_headers()
            .add("Content-Type", "text/plain")
            .unwrap();
        req.send_reply(200, None, b"hello\n").unwrap();
    })
    .unwrap();
    let hello = get(&base, addr, "/hello");
    assert!(hello.starts_with("HTTP/1.1 200 OK\r\n"), "{hello}");
    assert!(hello.contains("Content-Type: text/plain\r\n"));
    assert!(hello.contains("Content-Length: 6\r\n"));
    assert!(hello.ends_with("\r\n\r\nhello\n"));
    // A path with a query still routes by its path.
    assert!(get(&base, addr, "/hello?x=1").starts_with("HTTP/1.1 200"));
    assert!(get(&base, addr, "/nope").starts_with("HTTP/1.1 404 Not Found"));
    // A second route on one path is refused; a deleted route is a 404 again.
    assert!(http.on_path("/hello", |_| {}).is_err());
    http.del_cb("/hello").unwrap();
    assert!(http.del_cb("/hello").is_err());
    assert!(get(&base, addr, "/hello").starts_with("HTTP/1.1 404"));
    http.on_request(|req| {
        let body = format!("fallback {}", req.uri());
        req.send_reply(203, Some("Fallback"), body.as_bytes())
            .unwrap();
    });
    let r = get(&base, addr, "/other?a=b");
    assert!(r.starts_with("HTTP/1.1 203 Fallback\r\n"), "{r}");
    assert!(r.ends_with("fallback /other?a=b"));
}

#[test]
fn request_parts_headers_query_body_and_peer() {
    let base = EventBase::new().unwrap();
    let (http, addr) = server(&base);
    let seen = Rc::new(RefCell::new(None));
    let s = seen.clone();
    http.on_request(move |mut req| {
        let headers: Vec<(String, String)> = req
            .input_headers()
            .iter()
            .map(|(k, v)| {
                (
                    String::from_utf8_lossy(k).into(),
                    String::from_utf8_lossy(v).into(),
                )
            })
            .collect();
        *s.borrow_mut() = Some((
            req.method(),
            req.path().map(str::to_owned),
            req.query_pairs().unwrap(),
            headers,
            req.input_headers().get("x-ONE").map(str::to_owned),
            req.body(),
            req.peer(),
            req.host().map(str::to_owned),
        ));
        req.send_reply(200, None, b"").unwrap();
    });
    let t = exchange(
        addr,
        b"POST /p%20q?a=1&b=x%20y&c=%2B HTTP/1.1\r\nHost: example\r\nX-One: 1\r\nX-Two: two words\r\nContent-Length: 5\r\nConnection: close\r\n\r\nab\0cd",
    );
    let reply = finish(&base, t);
    assert!(reply.starts_with("HTTP/1.1 200"));
    let (method, path, query, headers, one, body, peer, host) = seen.borrow_mut().take().unwrap();
    assert_eq!(method, Some(Method::Post));
    assert_eq!(path.as_deref(), Some("/p%20q"));
    assert_eq!(
        query,
        [
            ("a".into(), "1".into()),
            ("b".into(), "x y".into()),
            ("c".into(), "+".into())
        ]
    );
    let names: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        ["Host", "X-One", "X-Two", "Content-Length", "Connection"]
    );
    assert_eq!(headers[2].1, "two words");
    assert_eq!(one.as_deref(), Some("1"));
    assert_eq!(body, b"ab\0cd");
    assert_eq!(peer.unwrap().ip(), addr.ip());
    assert_eq!(host.as_deref(), Some("example"));
}

#[test]
fn bad_input_is_refused_before_c() {
    let base = EventBase::new().unwrap();
    let (http, addr) = server(&base);
    assert!(http
        .on_path("/a\0b", |_| {})
        .unwrap_err()
        .is_invalid_input());
    assert!(http
        .on_path("/a\r\nb", |_| {})
        .unwrap_err()
        .is_invalid_input());
    assert!(http
        .add_server_alias("a\nb")
        .unwrap_err()
        .is_invalid_input());
    let errors = Rc::new(RefCell::new(Vec::new()));
    let e = errors.clone();
    http.on_request(move |mut req| {
        let r = req.output_headers().add("Bad\r\nName", "v");
        e.borrow_mut().push(r.unwrap_err().is_invalid_input());
        let r = req.output_headers().add("X-Ok", "split\r\nX-Injected: 1");
        e.borrow_mut().push(r.unwrap_err().is_invalid_input());
        let r = req.output_headers().add("", "v");
        e.borrow_mut().push(r.unwrap_err().is_invalid_input());
        match req.uri() {
            "/status" => e.borrow_mut().push(
                req.send_reply(700, None, b"x")
                    .unwrap_err()
                    .is_invalid_input(),
            ),
            "/reason" => e.borrow_mut().push(
                req.send_reply(200, Some("a\r\nb"), b"x")
                    .unwrap_err()
                    .is_invalid_input(),
            ),
            _ => e.borrow_mut().push(
                req.send_reply(99, None, b"x")
                    .unwrap_err()
                    .is_invalid_input(),
            ),
        }
    });
    // Each refused reply leaves the client with a 500, never a hang.
    for path in ["/status", "/reason", "/low"] {
        let r = get(&base, addr, path);
        assert!(r.starts_with("HTTP/1.1 500 Internal Server Error"), "{r}");
        assert!(!r.contains("X-Injected"));
    }
    assert_eq!(*errors.borrow(), [true; 12]);
    // The client side refuses the same things.
    let conn = HttpConnection::new(&base, addr).unwrap();
    assert!(conn
        .request(Method::Get, "/a\0")
        .send(|_| {})
        .unwrap_err()
        .is_invalid_input());
    assert!(conn
        .request(Method::Get, "/a b")
        .send(|_| {})
        .unwrap_err()
        .is_invalid_input());
    assert!(conn
        .request(Method::Get, "")
        .send(|_| {})
        .unwrap_err()
        .is_invalid_input());
    assert!(conn
        .request(Method::Get, "/")
        .header("A:B", "c")
        .send(|_| {})
        .unwrap_err()
        .is_invalid_input());
    assert!(conn
        .request(Method::Get, "/")
        .header("A", "c\nd")
        .send(|_| {})
        .unwrap_err()
        .is_invalid_input());
    assert_eq!(conn.pending(), 0);
}

#[test]
fn a_request_dropped_unanswered_gets_500_and_a_panicking_handler_too() {
    let base = EventBase::new().unwrap();
    let (http, addr) = server(&base);
    http.on_path("/drop", drop).unwrap();
    http.on_path("/panic", |_req| panic!("handler panicked"))
        .unwrap();
    assert!(get(&base, addr, "/drop").starts_with("HTTP/1.1 500"));
    let t = exchange(
        addr,
        b"GET /panic HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    // The panic breaks the loop and resumes from the loop call.
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| loop {
        base.run(LoopFlags::ONCE).unwrap();
    }));
    let msg = panicked.unwrap_err();
    assert_eq!(msg.downcast_ref::<&str>(), Some(&"handler panicked"));
    let r = finish(&base, t);
    assert!(r.starts_with("HTTP/1.1 500"), "{r}");
    // The server goes on serving.
    assert!(get(&base, addr, "/drop").starts_with("HTTP/1.1 500"));
}

#[test]
fn a_reply_sent_later_from_a_timer() {
    let base = EventBase::new().unwrap();
    let (http, addr) = server(&base);
    let timers: Rc<RefCell<Vec<Event>>> = Rc::default();
    let (b, ts) = (base.clone(), timers.clone());
    http.on_path("/later", move |req| {
        let slot = Rc::new(RefCell::new(Some(req)));
        let t = Event::timer(&b, move |_| {
            let req = slot.borrow_mut().take().unwrap();
            req.send_reply(200, None, b"later").unwrap();
        })
        .unwrap();
        t.add(Some(Duration::from_millis(30))).unwrap();
        ts.borrow_mut().push(t);
    })
    .unwrap();
    let r = get(&base, addr, "/later");
    assert!(r.starts_with("HTTP/1.1 200") && r.ends_with("later"), "{r}");
}

/// Sends chunk i every 10 ms through a timer, n chunks in all, then ends.
fn chunked_route(
    http: &Http,
    base: &EventBase,
    abandoned: Rc<Cell<u32>>,
    completed: Rc<Cell<u32>>,
) {
    let b = base.clone();
    http.on_path("/chunked", move |req| {
        let n: u32 = req.query_pairs().unwrap()[0].1.parse().unwrap();
        let mut reply = req.start_reply(200, None).unwrap();
        let a = abandoned.clone();
        reply.on_abandon(move || a.set(a.get() + 1));
        let c = completed.clone();
        reply.on_complete(move || c.set(c.get() + 1));
        let state = Rc::new(RefCell::new((Some(reply), 0u32)));
        let holder: Rc<RefCell<Option<Event>>> = Rc::default();
        let h = holder.clone();
        let ev = Event::interval(&b, Duration::from_millis(10), move |_| {
            let mut st = state.borrow_mut();
            st.1 += 1;
            let i = st.1;
            let reply = st.0.as_mut().unwrap();
            if reply.is_abandoned() || i > n {
                st.0.take().unwrap().end();
                h.borrow_mut().take(); // the timer drops itself
                return;
            }
            reply.send_chunk(format!("chunk {i}\n").as_bytes()).unwrap();
        })
        .unwrap();
        *holder.borrow_mut() = Some(ev);
    })
    .unwrap();
}

#[test]
fn chunked_reply_from_a_timer() {
    let base = EventBase::new().unwrap();
    let (http, addr) = server(&base);
    let (abandoned, completed) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    chunked_route(&http, &base, abandoned.clone(), completed.clone());
    let r = get(&base, addr, "/chunked?n=3");
    assert!(r.contains("Transfer-Encoding: chunked\r\n"), "{r}");
    assert!(
        r.ends_with("\r\n\r\n8\r\nchunk 1\n\r\n8\r\nchunk 2\n\r\n8\r\nchunk 3\n\r\n0\r\n\r\n"),
        "{r}"
    );
    spin(&base, || completed.get() == 1);
    assert_eq!(abandoned.get(), 0);
}

#[test]
fn a_client_that_abandons_a_chunked_reply() {
    let base = EventBase::new().unwrap();
    let (http, addr) = server(&base);
    let (abandoned, completed) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    chunked_route(&http, &base, abandoned.clone(), completed.clone());
    let t = std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"GET /chunked?n=1000 HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut buf = [0u8; 256];
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0);
        // Gone after the first chunks, mid-reply.
    });
    spin(&base, || abandoned.get() == 1);
    t.join().unwrap();
    assert_eq!(completed.get(), 0);
    // The timer sees the abandonment, ends the reply (which frees the request) and
    // stops: nothing keeps running, and the server still serves.
    let r = get(&base, addr, "/chunked?n=1");
    assert!(r.ends_with("chunk 1\n\r\n0\r\n\r\n"), "{r}");
    spin(&base, || completed.get() == 1);
}

#[test]
fn limits_methods_timeouts() {
    let base = EventBase::new().unwrap();
    let (http, addr) = server(&base);
    http.on_request(|req| req.send_reply(200, None, b"ok").unwrap());
    http.set_max_body_size(10);
    http.set_max_headers_size(200);
    http.set_allowed_methods(Methods::GET | Methods::POST);
    let big = exchange(
        addr,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n01234567890",
    );
    assert!(finish(&base, big).starts_with("HTTP/1.1 413"));
    let ok = exchange(
        addr,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nConnection: close\r\n\r\n0123456789",
    );
    assert!(finish(&base, ok).starts_with("HTTP/1.1 200"));
    let long = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Long: {}\r\n\r\n",
        "a".repeat(300)
    );
    let r = finish(&base, exchange(addr, long.as_bytes()));
    assert!(r.starts_with("HTTP/1.1 400") || r.is_empty(), "{r}");
    let put = finish(
        &base,
        exchange(
            addr,
            b"PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        ),
    );
    assert!(put.starts_with("HTTP/1.1 501"), "{put}");
    // An idle connection is closed after the timeout.
    http.set_timeout(Duration::from_millis(100)).unwrap();
    let idle = exchange(addr, b"");
    assert_eq!(finish(&base, idle), "");
    assert!(http
        .set_timeout(Duration::MAX)
        .unwrap_err()
        .is_invalid_input());
}

#[test]
fn virtual_hosts_and_aliases() {
    let base = EventBase::new().unwrap();
    let (http, addr) = server(&base);
    http.on_request(|req| req.send_reply(200, None, b"main").unwrap());
    let vhost = Http::new(&base).unwrap();
    vhost.on_request(|req| req.send_reply(200, None, b"vhost").unwrap());
    vhost.add_server_alias("other.example").unwrap();
    http.add_virtual_host("*.example.org", vhost).unwrap();
    let ask = |host: &str| {
        let t = exchange(
            addr,
            format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        let r = finish(&base, t);
        r.rsplit("\r\n\r\n").next().unwrap().to_owned()
    };
    assert_eq!(ask("a.example.org"), "vhost");
    assert_eq!(ask("other.example"), "vhost");
    assert_eq!(ask("example.com"), "main");
    http.add_server_alias("alias.test").unwrap();
    http.remove_server_alias("alias.test").unwrap();
    assert!(http.remove_server_alias("alias.test").is_err());
}

#[test]
fn accept_on_own_sockets_and_listeners_and_unbind() {
    let base = EventBase::new().unwrap();
    let http = Http::new(&base).unwrap();
    http.on_request(|req| req.send_reply(200, None, b"x").unwrap());
    let std_l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let a = http.accept_socket(std_l).unwrap();
    let l = Listener::bind(
        &base,
        "127.0.0.1:0".parse().unwrap(),
        16,
        ListenerFlags::REUSEABLE,
        |_, _| panic!("the server replaced this callback"),
    )
    .unwrap();
    let b = http.bind_listener(l).unwrap();
    for bound in [&a, &b] {
        assert!(get(&base, bound.local_addr().unwrap(), "/").starts_with("HTTP/1.1 200"));
    }
    let addr = a.local_addr().unwrap();
    http.del_accept_socket(&a).unwrap();
    assert!(http.del_accept_socket(&a).is_err());
    assert!(TcpStream::connect(addr).is_err());
    let other = Http::new(&base).unwrap();
    assert!(other.del_accept_socket(&b).is_err());
}

#[test]
fn bufferevent_supplied_by_the_caller() {
    let base = EventBase::new().unwrap();
    let (http, addr) = server(&base);
    let made = Rc::new(Cell::new(0));
    let m = made.clone();
    http.on_connection(move |base| {
        m.set(m.get() + 1);
        Some(BufferEvent::socket(base, None, Options::CLOSE_ON_FREE).unwrap())
    });
    http.on_request(|req| req.send_reply(200, None, b"via bevcb").unwrap());
    assert!(get(&base, addr, "/").ends_with("via bevcb"));
    assert_eq!(made.get(), 1);
    // A bufferevent that cannot be handed over is refused; libevent makes its own.
    http.on_connection(|base| Some(BufferEvent::pair(base, Options::empty()).unwrap().0));
    assert!(get(&base, addr, "/").ends_with("via bevcb"));
}

#[test]
fn server_dropped_inside_its_own_handler() {
    let base = EventBase::new().unwrap();
    let (http, addr) = server(&base);
    let slot = Rc::new(RefCell::new(Some(http)));
    let s = slot.clone();
    slot.borrow()
        .as_ref()
        .unwrap()
        .on_path("/bye", move |req| {
            s.borrow_mut().take(); // the last handle
            req.send_reply(200, None, b"bye").unwrap();
        })
        .unwrap();
    assert!(get(&base, addr, "/bye").ends_with("bye"));
    // Freed once C left the callback: the port no longer accepts.
    spin(&base, || TcpStream::connect(addr).is_err());
}

#[test]
fn a_pending_request_keeps_the_server_alive() {
    let base = EventBase::new().unwrap();
    let (http, addr) = server(&base);
    let held: Rc<RefCell<Option<Request>>> = Rc::default();
    let h = held.clone();
    http.on_request(move |req| *h.borrow_mut() = Some(req));
    let t = exchange(
        addr,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    spin(&base, || held.borrow().is_some());
    drop(http);
    held.borrow_mut()
        .take()
        .unwrap()
        .send_reply(200, None, b"still here")
        .unwrap();
    assert!(finish(&base, t).ends_with("still here"));
}

#[test]
fn client_get_post_keepalive_and_chunks() {
    let base = EventBase::new().unwrap();
    let (http, addr) = server(&base);
    let peers = Rc::new(RefCell::new(Vec::new()));
    let p = peers.clone();
    http.on_request(move |mut req| {
        p.borrow_mut().push(req.peer().unwrap());
        let body = req.body();
        let ct = req
            .input_headers()
            .get("Content-Type")
            .unwrap_or("none")
            .to_owned();
        let out = format!(
            "{} {} {} {}",
            req.method().unwrap(),
            req.uri(),
            ct,
            String::from_utf8_lossy(&body)
        );
        req.output_headers().add("X-Reply", "yes").unwrap();
        req.send_reply(200, None, out.as_bytes()).unwrap();
    });
    let conn = HttpConnection::new(&base, addr).unwrap();
    assert_eq!(conn.peer(), Some(addr));
    let seen: Seen = Rc::default();
    conn.request(Method::Get, "/one")
        .send(collect(&seen))
        .unwrap();
    conn.request(Method::Post, "/two?x=1")
        .header("Content-Type", "text/plain")
        .body("payload")
        .send(collect(&seen))
        .unwrap();
    let headers = Rc::new(RefCell::new(None));
    let hd = headers.clone();
    conn.request(Method::Put, "/three")
        .body(vec![1u8, 0, 2])
        .send(move |r| {
            let r = r.unwrap();
            *hd.borrow_mut() = r.input_headers().get("X-Reply").map(str::to_owned);
        })
        .unwrap();
    assert_eq!(conn.pending(), 3);
    spin(&base, || conn.pending() == 0);
    let seen = seen.borrow();
    assert_eq!(
        seen[0].as_ref().unwrap(),
        &(200, b"GET /one none ".to_vec())
    );
    assert_eq!(
        seen[1].as_ref().unwrap(),
        &(200, b"POST /two?x=1 text/plain payload".to_vec())
    );
    assert_eq!(headers.borrow().as_deref(), Some("yes"));
    // Keep-alive: one TCP connection carried all three.
    let peers = peers.borrow();
    assert_eq!(peers.len(), 3);
    assert!(peers.iter().all(|p| *p == peers[0]), "{peers:?}");
}

#[test]
fn client_streams_a_chunked_response() {
    let base = EventBase::new().unwrap();
    let (http, addr) = server(&base);
    chunked_route(&http, &base, Rc::default(), Rc::default());
    let conn = HttpConnection::new(&base, addr).unwrap();
    let pieces = Rc::new(RefCell::new(Vec::new()));
    let p = pieces.clone();
    let done = Rc::new(Cell::new(false));
    let d = done.clone();
    conn.request(Method::Get, "/chunked?n=4")
        .on_chunk(move |r| {
            p.borrow_mut()
                .push(String::from_utf8(r.input_buffer().remove_all()).unwrap())
        })
        .send(move |r| {
            assert_eq!(r.unwrap().response_code(), 200);
            d.set(true);
        })
        .unwrap();
    spin(&base, || done.get());
    assert_eq!(
        pieces.borrow().concat(),
        "chunk 1\nchunk 2\nchunk 3\nchunk 4\n"
    );
    assert!(pieces.borrow().len() >= 2, "{:?}", pieces.borrow());
}

#[test]
fn client_errors_refused_timeout_and_retry() {
    let base = EventBase::new().unwrap();
    // Nothing listens on this port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let conn = HttpConnection::new(&base, closed).unwrap();
    let seen: Seen = Rc::default();
    conn.request(Method::Get, "/").send(collect(&seen)).unwrap();
    spin(&base, || !seen.borrow().is_empty());
    let e = seen.borrow_mut().pop().unwrap().unwrap_err();
    assert_eq!(e.request_error(), Some(RequestError::ConnectFailed));
    assert_eq!(
        e.kind(),
        &libevent::ErrorKind::Request(RequestError::ConnectFailed)
    );

    // A server that accepts and never answers: the request times out.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let conn = HttpConnection::new(&base, silent.local_addr().unwrap()).unwrap();
    conn.set_timeout(Duration::from_millis(100)).unwrap();
    conn.request(Method::Get, "/").send(collect(&seen)).unwrap();
    spin(&base, || !seen.borrow().is_empty());
    let e = seen.borrow_mut().pop().unwrap().unwrap_err();
    assert_eq!(e.request_error(), Some(RequestError::Timeout), "{e}");
    assert!(e.to_string().contains("timed out"));

    // Retries: the server appears while the client waits to retry.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let conn = HttpConnection::new(&base, port).unwrap();
    conn.set_retries(5);
    conn.set_initial_retry(Duration::from_millis(50)).unwrap();
    conn.request(Method::Get, "/late")
        .send(collect(&seen))
        .unwrap();
    common::run_for(&base, Duration::from_millis(20));
    let http = Http::new(&base).unwrap();
    http.bind(port).unwrap();
    http.on_request(|req| req.send_reply(200, None, b"finally").unwrap());
    spin(&base, || !seen.borrow().is_empty());
    assert_eq!(
        seen.borrow_mut().pop().unwrap().unwrap(),
        (200, b"finally".to_vec())
    );
}

#[test]
fn client_dropped_inside_its_own_callbacks() {
    let base = EventBase::new().unwrap();
    let (http, addr) = server(&base);
    chunked_route(&http, &base, Rc::default(), Rc::default());
    http.on_path("/x", |req| req.send_reply(200, None, b"x").unwrap())
        .unwrap();
    // In the response callback, with another request still queued behind it.
    let slot: Rc<RefCell<Option<HttpConnection>>> = Rc::new(RefCell::new(Some(
        HttpConnection::new(&base, addr).unwrap(),
    )));
    let calls = Rc::new(Cell::new(0));
    {
        let s = slot.clone();
        let c = calls.clone();
        let c2 = calls.clone();
        let conn = slot.borrow();
        let conn = conn.as_ref().unwrap();
        conn.request(Method::Get, "/x")
            .send(move |r| {
                assert!(r.is_ok());
                c.set(c.get() + 1);
                s.borrow_mut().take();
            })
            .unwrap();
        conn.request(Method::Get, "/x")
            .send(move |_| c2.set(c2.get() + 100))
            .unwrap();
    }
    spin(&base, || slot.borrow().is_none());
    common::run_for(&base, Duration::from_millis(50));
    assert_eq!(
        calls.get(),
        1,
        "the queued request is discarded, not called"
    );
    // In a chunk callback.
    let slot: Rc<RefCell<Option<HttpConnection>>> = Rc::new(RefCell::new(Some(
        HttpConnection::new(&base, addr).unwrap(),
    )));
    let s = slot.clone();
    slot.borrow()
        .as_ref()
        .unwrap()
        .request(Method::Get, "/chunked?n=50")
        .on_chunk(move |_| {
            s.borrow_mut().take();
        })
        .send(|_| panic!("the connection was dropped"))
        .unwrap();
    spin(&base, || slot.borrow().is_none());
    common::run_for(&base, Duration::from_millis(50));
}

#[test]
fn client_close_callback() {
    let base = EventBase::new().unwrap();
    let (http, addr) = server(&base);
    http.on_request(|mut req| {
        req.output_headers().add("Connection", "close").unwrap();
        req.send_reply(200, None, b"x").unwrap();
    });
    let conn = HttpConnection::new(&base, addr).unwrap();
    let closes = Rc::new(Cell::new(0));
    let c = closes.clone();
    conn.on_close(move || c.set(c.get() + 1)).unwrap();
    let seen: Seen = Rc::default();
    conn.request(Method::Get, "/").send(collect(&seen)).unwrap();
    spin(&base, || !seen.borrow().is_empty() && closes.get() >= 1);
}

#[test]
fn uri_parts_and_encoding() {
    let u = Uri::parse("https://u:p@[::1]:8443/a%2Fb?q=1#f").unwrap();
    assert_eq!(u.host(), Some("[::1]"));
    assert_eq!(u.userinfo(), Some("u:p"));
    assert_eq!(u.port(), Some(8443));
    assert_eq!(Uri::parse("/x").unwrap().port(), None);
    assert!(Uri::parse("ht tp://x").is_err());
    assert!(Uri::parse("a\0b").unwrap_err().is_invalid_input());
    assert_eq!(encode_uri("é&="), "%C3%A9%26%3D");
    assert_eq!(decode_uri("%C3%A9%26%3D", false).unwrap(), "é&=");
    assert_eq!(decode_uri("a+b", false).unwrap(), "a+b");
    assert!(parse_query("a=1&&b=2").is_err() || parse_query("a=1&&b=2").unwrap().len() == 2);
    assert_eq!(parse_query("").unwrap(), []);
}

#[test]
fn output_headers_edit_and_default_content_type() {
    let base = EventBase::new().unwrap();
    let (http, addr) = server(&base);
    http.set_default_content_type("application/x-default")
        .unwrap();
    let counts = Rc::new(RefCell::new(Vec::new()));
    let c = counts.clone();
    http.on_request(move |mut req| {
        let h = req.output_headers();
        h.add("X-Drop", "1").unwrap();
        h.add("x-drop", "2").unwrap();
        h.add("X-Keep", "kept").unwrap();
        c.borrow_mut()
            .push((h.len(), h.get("X-DROP").map(str::to_owned)));
        c.borrow_mut().push((h.remove("X-Drop"), None));
        c.borrow_mut()
            .push((h.remove("X-Drop"), h.get("x-keep").map(str::to_owned)));
        assert!(!h.is_empty());
        req.send_reply(200, None, b"x").unwrap();
    });
    let r = get(&base, addr, "/");
    assert!(r.contains("Content-Type: application/x-default\r\n"), "{r}");
    assert!(
        r.contains("X-Keep: kept\r\n") && !r.contains("X-Drop"),
        "{r}"
    );
    assert_eq!(
        *counts.borrow(),
        [(3, Some("1".into())), (2, None), (0, Some("kept".into()))]
    );
}

#[test]
fn requests_awaited_in_a_task() {
    let base = EventBase::new().unwrap();
    let (http, addr) = server(&base);
    http.on_path("/echo", |mut req| {
        let body = req.body();
        req.output_headers()
            .add("X-Len", &body.len().to_string())
            .unwrap();
        req.send_reply(201, Some("Made"), &body).unwrap();
    })
    .unwrap();
    let conn = HttpConnection::new(&base, addr).unwrap();
    let (a, b, missing) = base
        .block_on(async move {
            let a = conn
                .request(Method::Post, "/echo")
                .body("hello")
                .send_async()
                .unwrap();
            // Two in flight on one connection, answered in order.
            let b = conn
                .request(Method::Post, "/echo")
                .body("world!")
                .send_async()
                .unwrap();
            let (a, b) = (a.await.unwrap(), b.await.unwrap());
            let missing = conn
                .request(Method::Get, "/nothing")
                .send_async()
                .unwrap()
                .await
                .unwrap();
            (a, b, missing)
        })
        .unwrap();
    assert_eq!((a.status, a.reason.as_deref()), (201, Some("Made")));
    assert_eq!(a.body, b"hello");
    assert_eq!(a.header("x-len"), Some("5"));
    assert_eq!(b.body, b"world!");
    assert_eq!(missing.status, 404);
    // A bad request is refused before anything is sent.
    let conn = HttpConnection::new(&base, addr).unwrap();
    assert!(conn.request(Method::Get, "/a b\r\n").send_async().is_err());
}

#[test]
fn a_uri_built_part_by_part_prints_and_parses_back_to_the_same_parts() {
    use libevent::http::Uri;
    type Parts<'a> = (
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
        Option<u16>,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
    );
    let cases: [Parts; 4] = [
        (
            Some("http"),
            None,
            Some("example.org"),
            None,
            Some("/"),
            None,
            None,
        ),
        (
            Some("https"),
            Some("u:p"),
            Some("[2001:db8::1]"),
            Some(8443),
            Some("/a/b%20c"),
            Some("x=1&y=%2F"),
            Some("frag"),
        ),
        (
            None,
            None,
            None,
            None,
            Some("/relative/only"),
            Some("q"),
            None,
        ),
        (
            Some("ws"),
            None,
            Some("127.0.0.1"),
            Some(1),
            Some(""),
            None,
            Some(""),
        ),
    ];
    for (scheme, user, host, port, path, query, frag) in cases {
        let mut u = Uri::new().unwrap();
        u.set_scheme(scheme).unwrap();
        u.set_userinfo(user).unwrap();
        u.set_host(host).unwrap();
        u.set_port(port).unwrap();
        u.set_path(path).unwrap();
        u.set_query(query).unwrap();
        u.set_fragment(frag).unwrap();
        let text = u.to_string();
        let back = Uri::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(
            (
                back.scheme(),
                back.userinfo(),
                back.host(),
                back.port(),
                back.query(),
                back.fragment()
            ),
            (scheme, user, host, port, query, frag),
            "{text}"
        );
        assert_eq!(back.path().unwrap_or(""), path.unwrap_or(""), "{text}");
    }
    // What a part's grammar refuses, each setter refuses, and the URI keeps its part.
    let mut u = Uri::parse("http://h/p?q#f").unwrap();
    assert!(u.set_scheme(Some("h t")).is_err());
    assert!(u.set_userinfo(Some("a@b")).is_err());
    assert!(u.set_query(Some("a#b")).is_err());
    assert!(u.set_fragment(Some("a#b")).is_err());
    assert!(u.set_path(Some("p\0")).unwrap_err().is_invalid_input());
    assert_eq!(u.to_string(), "http://h/p?q#f");
    assert_eq!(
        libevent::http::html_escape("\"x\"").unwrap(),
        "&quot;x&quot;"
    );
}

#[test]
fn a_chunked_reply_streamed_with_backpressure_arrives_whole() {
    use libevent::http::ChunkedReply;
    let base = EventBase::new().unwrap();
    let (http, addr) = server(&base);
    let flushes = Rc::new(Cell::new(0));
    let f = flushes.clone();
    http.on_request(move |req| {
        let reply: Rc<RefCell<Option<ChunkedReply>>> =
            Rc::new(RefCell::new(Some(req.start_reply(200, None).unwrap())));
        fn next(reply: Rc<RefCell<Option<ChunkedReply>>>, left: usize, flushes: Rc<Cell<usize>>) {
            let r = reply.clone();
            let mut slot = reply.borrow_mut();
            if left == 0 {
                drop(slot.take()); // the last chunk, from inside the flush callback
                return;
            }
            let out = slot.as_mut().unwrap();
            out.send_chunk_with_cb(&[b'a' + (left % 26) as u8; 65536], move || {
                flushes.set(flushes.get() + 1);
                next(r, left - 1, flushes)
            })
            .unwrap();
        }
        next(reply, 20, f.clone());
    });
    let t = exchange(
        addr,
        b"GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let got = finish(&base, t);
    assert!(
        got.starts_with("HTTP/1.1 200 OK\r\n"),
        "{}",
        &got[..100.min(got.len())]
    );
    assert!(got.contains("Transfer-Encoding: chunked"));
    let body_letters = got.bytes().filter(|b| b.is_ascii_lowercase()).count();
    assert!(body_letters >= 20 * 65536, "{body_letters}");
    assert_eq!(
        flushes.get(),
        20,
        "one flush per chunk, each sending the next"
    );
}

#[test]
fn a_virtual_host_removed_hands_its_requests_back_to_the_server() {
    let base = EventBase::new().unwrap();
    let (http, addr) = server(&base);
    http.on_request(|req| req.send_reply(200, None, b"root").unwrap());
    let vhost = Http::new(&base).unwrap();
    vhost.on_request(|req| req.send_reply(200, None, b"vhost").unwrap());
    http.add_virtual_host("api.test", vhost).unwrap();
    let ask = |host: &str| {
        let t = exchange(
            addr,
            format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        finish(&base, t)
    };
    assert!(ask("api.test").ends_with("vhost"));
    let back = http.remove_virtual_host("api.test").unwrap();
    assert!(ask("api.test").ends_with("root"));
    assert!(http
        .remove_virtual_host("api.test")
        .unwrap_err()
        .is_invalid_input());
    drop(back); // a server of its own again: freed
    assert!(ask("other.test").ends_with("root"));
}

#[test]
fn accepting_paused_leaves_clients_in_the_backlog_until_resumed() {
    let base = EventBase::new().unwrap();
    let http = Http::new(&base).unwrap();
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = std_listener.local_addr().unwrap();
    let bound = http.accept_socket(std_listener).unwrap();
    http.on_request(|req| req.send_reply(200, None, b"served").unwrap());
    http.pause_accepting(&bound, true).unwrap();
    let t = exchange(
        addr,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    common::run_for(&base, Duration::from_millis(100));
    assert!(!t.is_finished(), "not accepted while paused");
    http.pause_accepting(&bound, false).unwrap();
    assert!(finish(&base, t).ends_with("served"));
    let other = Http::new(&base).unwrap();
    assert!(
        other
            .pause_accepting(&bound, true)
            .unwrap_err()
            .is_invalid_input(),
        "not its socket"
    );
}

#[test]
fn a_client_connection_from_a_chosen_port_with_a_header_callback() {
    let base = EventBase::new().unwrap();
    let (http, addr) = server(&base);
    let peers = Rc::new(RefCell::new(Vec::new()));
    let p = peers.clone();
    http.on_request(move |req| {
        p.borrow_mut().push(req.peer());
        req.send_reply(200, None, b"ok").unwrap()
    });
    let conn = HttpConnection::new(&base, addr).unwrap();
    let port = {
        // A free port to connect from.
        let s = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap().port()
    };
    conn.set_local_address("127.0.0.1".parse().unwrap());
    conn.set_local_port(port);
    conn.set_family(libevent::dns::Family::V4);
    conn.set_flags(libevent::http::ConnectionFlags::READ_ON_WRITE_ERROR)
        .unwrap();
    assert_eq!(conn.addr(), None);
    let seen: Seen = Rc::default();
    let headers_seen = Rc::new(Cell::new(0));
    let h = headers_seen.clone();
    conn.request(Method::Get, "/")
        .on_headers(move |r| {
            h.set(r.response_code());
            true
        })
        .send(collect(&seen))
        .unwrap();
    spin(&base, || !seen.borrow().is_empty());
    assert_eq!(*seen.borrow()[0].as_ref().unwrap(), (200, b"ok".to_vec()));
    assert_eq!(headers_seen.get(), 200);
    assert_eq!(conn.addr(), Some(addr), "the address it connected to");
    assert_eq!(peers.borrow()[0].map(|a| a.port()), Some(port));
    // A header callback that says no: the response is abandoned, an error comes.
    let seen: Seen = Rc::default();
    conn.request(Method::Get, "/")
        .on_headers(|_| false)
        .send(collect(&seen))
        .unwrap();
    spin(&base, || !seen.borrow().is_empty());
    assert!(seen.borrow()[0].is_err());
}

#[test]
fn a_queued_request_cancelled_is_never_sent_and_one_on_the_wire_is_discarded() {
    let base = EventBase::new().unwrap();
    let (http, addr) = server(&base);
    let uris = Rc::new(RefCell::new(Vec::new()));
    let held: Rc<RefCell<Option<Request>>> = Rc::default();
    let (u, h) = (uris.clone(), held.clone());
    http.on_request(move |req| {
        u.borrow_mut().push(req.uri().to_owned());
        if req.uri() == "/slow" {
            *h.borrow_mut() = Some(req);
        } else {
            req.send_reply(200, None, b"quick").unwrap();
        }
    });
    let conn = HttpConnection::new(&base, addr).unwrap();
    let seen: Seen = Rc::default();
    let slow = conn
        .request(Method::Get, "/slow")
        .send(collect(&seen))
        .unwrap();
    let two = conn
        .request(Method::Get, "/two")
        .send(collect(&seen))
        .unwrap();
    conn.request(Method::Get, "/three")
        .send(collect(&seen))
        .unwrap();
    assert_eq!(conn.pending(), 3);
    // Queued behind /slow: taken off the queue, never sent.
    assert!(two.cancel());
    assert_eq!(conn.pending(), 2);
    spin(&base, || held.borrow().is_some());
    // On the wire: its response is read and thrown away.
    assert!(!slow.cancel());
    held.borrow_mut()
        .take()
        .unwrap()
        .send_reply(200, None, b"late")
        .unwrap();
    spin(&base, || conn.pending() == 0);
    assert_eq!(*uris.borrow(), ["/slow", "/three"]);
    let seen = seen.borrow();
    assert_eq!(seen.len(), 1, "only /three was called back");
    assert_eq!(seen[0].as_ref().unwrap().1, b"quick");
    // Answered already: nothing to cancel.
    let done = conn.request(Method::Get, "/four").send(|_| {}).unwrap();
    spin(&base, || conn.pending() == 0);
    assert!(!done.cancel());
}

#[test]
fn a_cancel_inside_a_callback_of_the_connection_discards_the_response() {
    let base = EventBase::new().unwrap();
    let (http, addr) = server(&base);
    let uris = Rc::new(RefCell::new(Vec::new()));
    let u = uris.clone();
    http.on_request(move |req| {
        u.borrow_mut().push(req.uri().to_owned());
        req.send_reply(200, None, b"ok").unwrap();
    });
    let conn = HttpConnection::new(&base, addr).unwrap();
    let later: Rc<RefCell<Option<libevent::http::PendingRequest>>> = Rc::default();
    let answers = Rc::new(Cell::new(0));
    let (l, a) = (later.clone(), answers.clone());
    conn.request(Method::Get, "/a")
        .send(move |r| {
            assert!(r.is_ok());
            a.set(a.get() + 1);
            // /b is the connection's next request now: on its way.
            assert!(!l.borrow_mut().take().unwrap().cancel());
        })
        .unwrap();
    let b = conn
        .request(Method::Get, "/b")
        .send(|_| panic!("/b was cancelled"))
        .unwrap();
    *later.borrow_mut() = Some(b);
    spin(&base, || conn.pending() == 0);
    assert_eq!(answers.get(), 1);
    assert_eq!(*uris.borrow(), ["/a", "/b"]);
}

#[test]
fn cancelling_while_evhttp_fails_every_queued_request_is_safe() {
    let base = EventBase::new().unwrap();
    // A port nothing listens on: the connect fails, and evhttp calls back each request
    // from a copy of its queue, where its own cancel would corrupt the queue.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let conn = HttpConnection::new(&base, port).unwrap();
    let third: Rc<RefCell<Option<libevent::http::PendingRequest>>> = Rc::default();
    let errors = Rc::new(Cell::new(0));
    let (t, e) = (third.clone(), errors.clone());
    conn.request(Method::Get, "/1")
        .send(move |r| {
            assert!(r.is_err());
            e.set(e.get() + 1);
            if let Some(p) = t.borrow_mut().take() {
                assert!(!p.cancel(), "inside the connection's callback");
            }
        })
        .unwrap();
    let e = errors.clone();
    conn.request(Method::Get, "/2")
        .send(move |r| {
            assert!(r.is_err());
            e.set(e.get() + 1);
        })
        .unwrap();
    let p = conn
        .request(Method::Get, "/3")
        .send(|_| panic!("/3 was cancelled"))
        .unwrap();
    *third.borrow_mut() = Some(p);
    spin(&base, || conn.pending() == 0);
    assert_eq!(errors.get(), 2);
}

#[test]
fn a_response_future_dropped_while_queued_cancels_its_request() {
    let base = EventBase::new().unwrap();
    let (http, addr) = server(&base);
    let uris = Rc::new(RefCell::new(Vec::new()));
    let held: Rc<RefCell<Option<Request>>> = Rc::default();
    let (u, h) = (uris.clone(), held.clone());
    http.on_request(move |req| {
        u.borrow_mut().push(req.uri().to_owned());
        *h.borrow_mut() = Some(req);
    });
    let conn = HttpConnection::new(&base, addr).unwrap();
    let first = conn.request(Method::Get, "/first").send_async().unwrap();
    let never = conn.request(Method::Get, "/never").send_async().unwrap();
    drop(never);
    assert_eq!(conn.pending(), 1);
    spin(&base, || held.borrow().is_some());
    held.borrow_mut()
        .take()
        .unwrap()
        .send_reply(200, None, b"first")
        .unwrap();
    let resp = base.block_on(first).unwrap().unwrap();
    assert_eq!(resp.body, b"first");
    common::run_for(&base, Duration::from_millis(50));
    assert_eq!(*uris.borrow(), ["/first"]);
}
