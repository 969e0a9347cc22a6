//! The strict HTTP server against the plain framing model (tests/common/http_model.rs):
//! the model on hand-written streams, then a live server on generated streams (valid
//! requests, pipelined, with one byte changed or cut), the fuzz corpus and its
//! regressions. Every reply must be the model's request at that place, and a refusal
//! ends the connection.

mod common;
#[path = "common/http_model.rs"]
mod http_model;

use common::cases;
use http_model::{check, frame, spawn_server, End};
use proptest::prelude::*;
use std::net::SocketAddr;
use std::sync::OnceLock;

fn server() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(spawn_server)
}

fn targets(input: &[u8]) -> (Vec<String>, End) {
    let (f, end) = frame(input);
    (f.into_iter().map(|f| f.target).collect(), end)
}

#[test]
fn the_model_frames_what_rfc_9112_says() {
    let ok = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc\
               POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2;e=\"q\"\r\nab\r\n0\r\nT: 1\r\n\r\n";
    assert_eq!(
        targets(ok),
        (vec!["/a".into(), "/b".into(), "/c".into()], End::Input)
    );
    let (f, _) = frame(ok);
    assert_eq!(f[1].body, b"abc");
    assert_eq!(f[2].body, b"ab");
    for bad in [
        &b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"[..],
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX: a\0\r\n\r\n",
        b"GET /%00 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"HEAD / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\na",
        b"GET / HTTP/1.1\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n",
        b"\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
    ] {
        assert_eq!(
            targets(bad),
            (vec![], End::Refused),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
    // Cut anywhere, a valid stream is a prefix of its requests, never a refusal.
    for cut in 0..ok.len() {
        let (f, end) = frame(&ok[..cut]);
        assert_eq!(end, End::Input, "cut at {cut}");
        assert!(f.len() <= 3);
    }
}

/// Requests a client could send, valid as the model sees them.
fn request() -> impl Strategy<Value = Vec<u8>> {
    let method = prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS"]);
    let path = prop::sample::select(vec!["/", "/a", "/a/b?c=d", "/x%41", "/%2F"]);
    let body = prop::collection::vec(prop::sample::select(b"ab\r\n0GET ".to_vec()), 0..20);
    let framing = 0u8..3;
    (method, path, body, framing, any::<bool>()).prop_map(|(m, p, body, framing, close)| {
        let mut r = format!("{m} {p} HTTP/1.1\r\nHost: h\r\n").into_bytes();
        if close {
            r.extend_from_slice(b"Connection: close\r\n");
        }
        let body = if m == "HEAD" { Vec::new() } else { body };
        match framing {
            0 if !body.is_empty() => {
                r.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
                r.extend_from_slice(&body);
            }
            1 if m != "HEAD" => {
                r.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
                for part in body.chunks(7) {
                    r.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
                    r.extend_from_slice(part);
                    r.extend_from_slice(b"\r\n");
                }
                r.extend_from_slice(b"0\r\n\r\n");
            }
            _ => r.extend_from_slice(b"\r\n"),
        }
        r
    })
}

/// A few requests, then maybe one byte changed to one that matters to framing, and maybe
/// the stream cut short.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    let reqs = prop::collection::vec(request(), 1..4);
    let change = prop::option::of((
        any::<prop::sample::Index>(),
        prop::sample::select(b" \t\r\n:\0;,0fxX-".to_vec()),
    ));
    let cut = prop::option::of(any::<prop::sample::Index>());
    (reqs, change, cut).prop_map(|(reqs, change, cut)| {
        let mut s: Vec<u8> = reqs.concat();
        if let Some((at, b)) = change {
            let i = at.index(s.len());
            s[i] = b;
        }
        if let Some(at) = cut {
            s.truncate(at.index(s.len() + 1));
        }
        s
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(300)))]

    #[test]
    fn the_server_frames_as_the_model_or_refuses(input in stream()) {
        if let Err(e) = check(server(), &input) {
            return Err(TestCaseError::fail(format!("{e}\ninput: {:?}", String::from_utf8_lossy(&input))));
        }
    }
}

/// The fuzz target's seed corpus and every input it ever failed on (fuzz/, see
/// scripts/fuzz.sh), replayed without the fuzzer.
#[test]
fn fuzz_corpus_and_regressions_pass() {
    for (path, data) in common::fuzz_inputs("http_server", 4) {
        if let Err(why) = check(server(), &data) {
            panic!("{}: {why}", path.display());
        }
    }
}
