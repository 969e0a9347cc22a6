//! The strict HTTP layer: one test per framing rule and per class of the published
//! smuggling advisories. Each sends raw bytes, asserts the status, and asserts that no
//! request hidden in a body (`/smuggled`) is ever answered. Where libevent 2.1.13 alone
//! (`set_strict(false)`) answers the hidden request, the test shows that too: it is what
//! the layer is for, and the table in docs/security.md says so.

mod common;
#[path = "common/http_model.rs"]
mod http_model;

use common::spin;
use http_model::{replies, serve, Reply};
#[cfg(feature = "openssl")]
use libevent::bufferevent::{Options, SslState};
use libevent::http::Method;
use libevent::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::rc::Rc;
use std::time::Duration;

/// A server whose every request is answered `200` with `seen METHOD URI BODYLEN`.
fn server(base: &EventBase, strict: bool) -> (Http, SocketAddr) {
    let (http, addr) = serve(base, echo);
    http.set_strict(strict).unwrap();
    (http, addr)
}

fn echo(mut req: Request) {
    let method = req.method().map_or("?", Method::as_str);
    let n = req.body().len();
    let line = format!("seen {method} {} {n}", req.uri());
    req.send_reply(200, None, line.as_bytes()).unwrap();
}

/// What a client read: the replies, and whether the server closed the connection (a
/// server that keeps it open is given up on after a second of silence).
struct Seen {
    replies: Vec<Reply>,
    closed: bool,
}

/// Sends `pieces` (with a pause between them) and reads until the server closes.
fn exchange_pieces(base: &EventBase, addr: SocketAddr, pieces: Vec<Vec<u8>>) -> Seen {
    let t = std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        s.set_nodelay(true).unwrap();
        for p in pieces {
            // A server that refused the message may close before the rest is sent.
            if s.write_all(&p).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        let closed = loop {
            match s.read(&mut buf) {
                Ok(0) => break true,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
                Err(_) => break false,
            }
        };
        (out, closed)
    });
    spin(base, || t.is_finished());
    let (out, closed) = t.join().unwrap();
    Seen {
        replies: replies(&out),
        closed,
    }
}

fn exchange(base: &EventBase, addr: SocketAddr, raw: &[u8]) -> Vec<Reply> {
    exchange_pieces(base, addr, vec![raw.to_vec()]).replies
}

/// The strict server's replies to `raw` (it must close the connection after a refusal),
/// and libevent 2.1.13's alone.
fn both(raw: &[u8]) -> (Vec<Reply>, Vec<Reply>) {
    let base = EventBase::new().unwrap();
    let (_strict, a) = server(&base, true);
    let (_upstream, b) = server(&base, false);
    let strict = exchange_pieces(&base, a, vec![raw.to_vec()]);
    let upstream = exchange_pieces(&base, b, vec![raw.to_vec()]);
    let refused = strict.replies.iter().any(|r| r.status >= 400);
    assert!(
        !refused || strict.closed,
        "a refusal keeps the connection open"
    );
    (strict.replies, upstream.replies)
}

fn statuses(r: &[Reply]) -> Vec<u16> {
    r.iter().map(|r| r.status).collect()
}

fn answered_smuggled(r: &[Reply]) -> bool {
    r.iter().any(|r| r.body.contains("/smuggled"))
}

/// The request hidden in the bodies below, and a body that carries it.
const HIDDEN: &str = "GET /smuggled HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

fn with_body(head: &str) -> Vec<u8> {
    format!("{head}\r\n{HIDDEN}").into_bytes()
}

/// The strict server refuses `raw` with `status` alone and closes; returns upstream's
/// replies for the caller to compare.
fn refused(raw: &[u8], status: u16) -> Vec<Reply> {
    let (strict, upstream) = both(raw);
    assert_eq!(statuses(&strict), [status], "strict: {strict:?}");
    assert!(!answered_smuggled(&strict));
    upstream
}

#[test]
fn plain_requests_pipelined_and_split_pass_unchanged() {
    let base = EventBase::new().unwrap();
    let (http, addr) = server(&base, true);
    let raw = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n\
                POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\
                POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
                3\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n\
                GET /d?q=%41 HTTP/1.0\r\n\r\n";
    let whole = exchange(&base, addr, raw);
    let bodies: Vec<&str> = whole.iter().map(|r| r.body.as_str()).collect();
    assert_eq!(
        bodies,
        [
            "seen GET /a 0",
            "seen POST /b 5",
            "seen POST /c 5",
            "seen GET /d?q=%41 0"
        ]
    );
    // Byte by byte: the layer holds what is incomplete and evhttp sees the same requests.
    let bytes: Vec<Vec<u8>> = raw.iter().map(|&b| vec![b]).collect();
    let split = exchange_pieces(&base, addr, bytes).replies;
    assert_eq!(
        split.iter().map(|r| r.body.as_str()).collect::<Vec<_>>(),
        bodies
    );
    // Every connection's state went with it.
    spin(&base, || http.strict_states() == 0);
}

#[test]
fn te_cl_and_cl_te_are_refused() {
    for head in [
        "POST /front HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n",
        "POST /front HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n",
    ] {
        let body = format!("{head}\r\n{:x}\r\n{HIDDEN}\r\n0\r\n\r\n", HIDDEN.len());
        let upstream = refused(body.as_bytes(), 400);
        // libevent 2.1.13 refuses these itself (its CVE fix): the same answer.
        assert_eq!(statuses(&upstream), [400]);
    }
}

#[test]
fn transfer_encoding_obfuscations_are_refused() {
    for (te, status) in [
        ("Transfer-Encoding: xchunked\r\n", 400),
        ("Transfer-Encoding: chunked, identity\r\n", 400),
        (
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n",
            400,
        ),
        ("Transfer-Encoding: chunked, chunked\r\n", 400),
        ("Transfer-Encoding: chunked;q=1\r\n", 400),
        ("Transfer-Encoding:\r\n", 400),
        ("Transfer-Encoding : chunked\r\n", 400),
        ("Transfer-Encoding:\x0bchunked\r\n", 400),
        ("X: y\r\n Transfer-Encoding: chunked\r\n", 400),
        ("Transfer-Encoding: gzip, chunked\r\n", 501),
        ("Transfer-Encoding: foo, chunked\r\n", 501),
    ] {
        let head = format!("POST /front HTTP/1.1\r\nHost: x\r\n{te}");
        let upstream = refused(&with_body(&head), status);
        if te == "Transfer-Encoding: xchunked\r\n" || te == "Transfer-Encoding : chunked\r\n" {
            // Upstream takes no body at all: the hidden request is read as one of its own.
            assert!(answered_smuggled(&upstream), "{te:?}: {upstream:?}");
        }
    }
}

#[test]
fn differing_content_lengths_are_refused_and_equal_ones_pass() {
    let raw = with_body(&format!(
        "POST /front HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: {}\r\n",
        HIDDEN.len()
    ));
    let upstream = refused(&raw, 400);
    // libevent 2.1.13 takes the first and reads the hidden request as the next one.
    assert!(answered_smuggled(&upstream), "{upstream:?}");

    let (strict, _) = both(b"POST /same HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc");
    assert_eq!(strict[0].body, "seen POST /same 3");
    for cl in ["+3", "-3", "3 3", "0x3", "3,3", "", "99999999999999999999"] {
        let raw = format!("POST /front HTTP/1.1\r\nHost: x\r\nContent-Length: {cl}\r\n\r\nabc");
        refused(raw.as_bytes(), 400);
    }
}

#[test]
fn whitespace_before_a_colon_is_refused() {
    let raw = with_body(&format!(
        "POST /front HTTP/1.1\r\nHost: x\r\nContent-Length : {}\r\n",
        HIDDEN.len()
    ));
    let upstream = refused(&raw, 400);
    // Upstream files it under another name, reads no body, and answers what follows.
    assert!(answered_smuggled(&upstream), "{upstream:?}");
}

#[test]
fn cr_lf_and_nul_inside_a_value_are_refused() {
    refused(b"GET /front HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n", 400);
    let upstream = refused(b"GET /front HTTP/1.1\r\nHost: x\r\nX: a\0b\r\n\r\n", 400);
    // libevent 2.1.13 answers it.
    assert_eq!(statuses(&upstream), [200], "{upstream:?}");
    refused(b"GET /front HTTP/1.1\rHost: x\r\n\r\n", 400);
    refused(b"GET /front HTTP/1.1\r\nHost: x\r\nX: \x7f\r\n\r\n", 400);
}

#[test]
fn obsolete_line_folding_is_refused() {
    let upstream = refused(b"GET /front HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", 400);
    assert_eq!(statuses(&upstream), [200]);
    refused(
        b"GET /front HTTP/1.1\r\nHost: x\r\nX: a\r\n\tb\r\n\r\n",
        400,
    );
}

#[test]
fn a_path_that_decodes_to_nul_never_reaches_a_route() {
    let base = EventBase::new().unwrap();
    for strict in [true, false] {
        let (http, addr) = server(&base, strict);
        let hit = Rc::new(std::cell::Cell::new(false));
        let h = hit.clone();
        http.on_path("/admin", move |req| {
            h.set(true);
            req.send_reply(200, None, b"admin").unwrap();
        })
        .unwrap();
        let r = exchange(
            &base,
            addr,
            b"GET /admin%00.png HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        if strict {
            assert_eq!(statuses(&r), [400]);
            assert!(!hit.get());
        } else {
            // libevent compares the decoded path as a C string: /admin.
            assert!(hit.get(), "{r:?}");
        }
    }
}

#[test]
fn a_body_on_a_method_evhttp_reads_none_for_is_refused() {
    for method in ["HEAD", "TRACE"] {
        let raw = with_body(&format!(
            "{method} /front HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n",
            HIDDEN.len()
        ));
        let upstream = refused(&raw, 400);
        assert!(answered_smuggled(&upstream), "{method}: {upstream:?}");
    }
}

#[test]
fn host_must_be_one() {
    refused(b"GET /front HTTP/1.1\r\n\r\n", 400);
    refused(b"GET /front HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
    let (strict, _) = both(b"GET /old HTTP/1.0\r\n\r\n");
    assert_eq!(strict[0].body, "seen GET /old 0");
    refused(
        b"POST /front HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    );
}

#[test]
fn chunked_framing_faults_are_refused_inside_the_body() {
    // Inside a chunked body libevent is reading, its own answer to corrupt chunked data
    // is 413: the layer hands it a chunk-size line it refuses.
    for body in [
        "5\r\nhello3\r\nabc\r\n0\r\n\r\n", // no CRLF after a chunk: upstream reads on
        "ffffffffffffffffffff\r\n",        // a size over 60 bits
        "5 junk\r\nhello\r\n0\r\n\r\n",    // junk after the size
        "5;\r\nhello\r\n0\r\n\r\n",        // an extension without a name
        "5\nhello\r\n0\r\n\r\n",           // a bare LF ends the size line
        "0\r\nX : y\r\n\r\n",              // a trailer with a space before its colon
    ] {
        let raw = format!(
            "POST /front HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{body}{HIDDEN}"
        );
        let upstream = refused(raw.as_bytes(), 413);
        if body.starts_with("5\r\nhello3") {
            assert_eq!(upstream[0].body, "seen POST /front 8", "{upstream:?}");
        }
    }
    // Well-formed extensions pass the layer; libevent itself refuses them, as before.
    let (strict, upstream) = both(
        b"POST /front HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b;c=\"d e\"\r\nhello\r\n0\r\n\r\n",
    );
    assert_eq!(statuses(&strict), statuses(&upstream));
}

#[test]
fn trailers_never_become_headers() {
    let base = EventBase::new().unwrap();
    let (http, addr) = server(&base, true);
    let seen = Rc::new(std::cell::RefCell::new(None));
    let s = seen.clone();
    http.on_request(move |mut req| {
        *s.borrow_mut() = req.input_headers().get("Content-Length").map(String::from);
        let n = req.body().len();
        req.send_reply(200, None, format!("{n}").as_bytes())
            .unwrap();
    });
    let raw = format!(
        "POST /front HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
         3\r\nabc\r\n0\r\nContent-Length: {}\r\n\r\n",
        HIDDEN.len()
    );
    let r = exchange(&base, addr, raw.as_bytes());
    assert_eq!(statuses(&r), [200]);
    assert_eq!(r[0].body, "3");
    assert_eq!(*seen.borrow(), None);
}

#[test]
fn a_refusal_comes_after_the_replies_before_it_and_ends_the_connection() {
    let raw = format!(
        "GET /first HTTP/1.1\r\nHost: x\r\n\r\n\
         POST /front HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab\
         {HIDDEN}"
    );
    let (strict, _) = both(raw.as_bytes());
    assert_eq!(statuses(&strict), [200, 400]);
    assert_eq!(strict[0].body, "seen GET /first 0");
    // The same refusal when the bad head arrives a byte at a time.
    let base = EventBase::new().unwrap();
    let (_http, addr) = server(&base, true);
    let r = exchange_pieces(&base, addr, raw.bytes().map(|b| vec![b]).collect());
    assert_eq!(statuses(&r.replies), [200, 400]);
    assert!(r.closed);
}

#[test]
fn a_head_over_the_limit_is_refused() {
    let base = EventBase::new().unwrap();
    let (http, addr) = server(&base, true);
    http.set_max_headers_size(1024);
    let big = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n",
        "a".repeat(2000)
    );
    assert_eq!(statuses(&exchange(&base, addr, big.as_bytes())), [400]);
    let fits = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX: {}\r\n\r\n",
        "a".repeat(900)
    );
    assert_eq!(statuses(&exchange(&base, addr, fits.as_bytes())), [200]);
}

#[test]
fn strictness_is_for_servers_this_crate_made() {
    let base = EventBase::new().unwrap();
    let http = Http::new(&base).unwrap();
    assert!(http.strict());
    // SAFETY: a live server on this base, outliving the borrowed handle.
    let borrowed = unsafe { Http::from_raw_borrowed(&base, http.as_raw()) }.unwrap();
    assert!(!borrowed.strict());
    assert!(borrowed.set_strict(true).is_err());
    borrowed.set_strict(false).unwrap();
}

#[cfg(feature = "openssl")]
mod tls {
    use super::common::pki::{acceptor, connector, pki};
    use super::*;
    use openssl::ssl::Ssl;

    /// The same exchange over TLS, through a bufferevent the server's bevcb makes.
    fn tls_exchange(raw: &[u8], strict: bool) -> Vec<Reply> {
        let pki = pki();
        let base = EventBase::new().unwrap();
        let (http, addr) = server(&base, strict);
        let acc = acceptor(&pki.server.0, &pki.server.1);
        http.on_connection(move |base| {
            let ssl = Ssl::new(acc.context()).ok()?;
            BufferEvent::openssl_socket(base, None, ssl, SslState::Accepting, Options::empty()).ok()
        });
        let conn = connector(&pki.ca);
        let raw = raw.to_vec();
        let t = std::thread::spawn(move || {
            let s = TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut tls = conn.connect("localhost", s).unwrap();
            tls.write_all(&raw).unwrap();
            let mut out = Vec::new();
            let _ = tls.read_to_end(&mut out);
            out
        });
        spin(&base, || t.is_finished());
        replies(&t.join().unwrap())
    }

    #[test]
    fn over_tls_too() {
        let cases: [(Vec<u8>, &[u16]); 3] = [
            (
                with_body(&format!(
                    "POST /front HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: {}\r\n",
                    HIDDEN.len()
                )),
                &[400],
            ),
            (
                with_body(&format!(
                    "POST /front HTTP/1.1\r\nHost: x\r\nContent-Length : {}\r\n",
                    HIDDEN.len()
                )),
                &[400],
            ),
            (
                b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                    .to_vec(),
                &[200, 200],
            ),
        ];
        for (raw, want) in cases {
            let strict = tls_exchange(&raw, true);
            assert_eq!(statuses(&strict), want, "{strict:?}");
            assert!(!answered_smuggled(&strict));
        }
        // Without the layer the hidden request is answered over TLS as well.
        let upstream = tls_exchange(
            &with_body(&format!(
                "POST /front HTTP/1.1\r\nHost: x\r\nContent-Length : {}\r\n",
                HIDDEN.len()
            )),
            false,
        );
        assert!(answered_smuggled(&upstream), "{upstream:?}");
    }
}

#[test]
fn a_bevcb_that_panics_leaves_the_connection_strict() {
    let base = EventBase::new().unwrap();
    let (http, addr) = server(&base, true);
    http.on_connection(|_| panic!("no bufferevent for you"));
    let raw = with_body(&format!(
        "POST /front HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: {}\r\n",
        HIDDEN.len()
    ));
    let t = std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(&raw).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        out
    });
    // The panic comes out of the loop once; the connection is served after it.
    let mut panicked = 0;
    let start = std::time::Instant::now();
    while !t.is_finished() {
        assert!(start.elapsed() < Duration::from_secs(5));
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            base.run(LoopFlags::ONCE | LoopFlags::NONBLOCK).unwrap();
        }));
        panicked += usize::from(r.is_err());
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(panicked, 1);
    let r = replies(&t.join().unwrap());
    assert_eq!(statuses(&r), [400]);
    assert!(!answered_smuggled(&r));
}
