//! A plain model of strict HTTP/1.1 request framing, and the check of a live server
//! against it. Shared by tests/http_framing.rs (seeded cases, the fuzz corpus and its
//! regressions) and the `http_server` fuzz target.
//!
//! The model reads a whole byte stream at once with `httparse` and RFC 9112's rules
//! (written apart from `src/http/strict.rs`, which frames incrementally): it returns the
//! requests a strict peer frames, in order, up to the first message it refuses or the end
//! of the input. A server agrees with it when every request it answers is the model's
//! request at that place (same method, target and body), and when it refuses, it answers
//! nothing after. ("Same framing, or rejected": libevent may refuse more than the model,
//! never frame otherwise.)
#![allow(dead_code)]

use libevent::http::Methods;
use libevent::{EventBase, Http, Request};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

/// One request as the model frames it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Framed {
    pub method: String,
    pub target: String,
    pub body: Vec<u8>,
}

/// How the model's reading ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The input ended (possibly inside a message).
    Input,
    /// A message broke a rule.
    Refused,
}

fn ows_trimmed(v: &[u8]) -> &[u8] {
    let mut v = v;
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// Where the line starting at `at` ends (after its LF).
fn line_end(input: &[u8], at: usize) -> Option<usize> {
    input[at..]
        .iter()
        .position(|&b| b == b'\n')
        .map(|p| at + p + 1)
}

/// The length of a head (request line, fields, empty line) starting at `at`, if complete.
fn head_len(input: &[u8], at: usize) -> Option<usize> {
    let mut pos = at;
    loop {
        let end = line_end(input, pos)?;
        let line = &input[pos..end];
        if line == b"\r\n" || line == b"\n" {
            return Some(end - at);
        }
        pos = end;
    }
}

enum Body {
    None,
    Length(usize),
    Chunked,
}

/// The rules on a parsed head; `Err(())` is a refusal.
fn body_of(req: &httparse::Request) -> Result<Body, ()> {
    let method = req.method.ok_or(())?;
    let target = req.path.ok_or(())?;
    let path_end = target.find(['?', '#']).unwrap_or(target.len());
    if target[..path_end].contains("%00") {
        return Err(());
    }
    let headers: &[httparse::Header] = req.headers;
    let named = |n: &'static str| {
        headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(n))
    };
    let hosts = named("host").count();
    if hosts > 1 || (req.version == Some(1) && hosts == 0) {
        return Err(());
    }
    let mut lengths = Vec::new();
    for h in named("content-length") {
        let v = ows_trimmed(h.value);
        if v.is_empty() || v.len() > 18 || v.iter().any(|b| !b.is_ascii_digit()) {
            return Err(());
        }
        lengths.push(
            std::str::from_utf8(v)
                .unwrap()
                .parse::<usize>()
                .map_err(|_| ())?,
        );
    }
    if lengths.windows(2).any(|w| w[0] != w[1]) {
        return Err(());
    }
    let te: Vec<&[u8]> = named("transfer-encoding")
        .flat_map(|h| h.value.split(|&b| b == b','))
        .map(ows_trimmed)
        .filter(|c| !c.is_empty())
        .collect();
    let has_te = named("transfer-encoding").next().is_some();
    let body = if has_te {
        // Both framings, TE in HTTP/1.0, and any coding list but a lone final chunked.
        if !lengths.is_empty() || req.version == Some(0) || te.len() != 1 {
            return Err(());
        }
        if !te[0].eq_ignore_ascii_case(b"chunked") {
            return Err(());
        }
        Body::Chunked
    } else {
        match lengths.first() {
            Some(&n) if n > 0 => Body::Length(n),
            _ => Body::None,
        }
    };
    let reads_body = [
        "GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT",
    ];
    if !matches!(body, Body::None) && !reads_body.contains(&method) {
        return Err(());
    }
    Ok(body)
}

/// A chunk-size line's size (the line without CRLF), by the grammar.
fn chunk_size(line: &[u8]) -> Option<usize> {
    let hex = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if hex == 0 || hex > 15 {
        return None;
    }
    let size = usize::from_str_radix(std::str::from_utf8(&line[..hex]).unwrap(), 16).ok()?;
    let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    let mut i = hex;
    let skip_ws = |i: &mut usize| {
        while *i < line.len() && (line[*i] == b' ' || line[*i] == b'\t') {
            *i += 1;
        }
    };
    let token = |i: &mut usize| {
        let s = *i;
        while *i < line.len() && tchar(line[*i]) {
            *i += 1;
        }
        *i > s
    };
    loop {
        skip_ws(&mut i);
        if i == line.len() {
            return Some(size);
        }
        if line[i] != b';' {
            return None;
        }
        i += 1;
        skip_ws(&mut i);
        if !token(&mut i) {
            return None;
        }
        skip_ws(&mut i);
        if i < line.len() && line[i] == b'=' {
            i += 1;
            skip_ws(&mut i);
            if i < line.len() && line[i] == b'"' {
                i += 1;
                loop {
                    match line.get(i) {
                        Some(b'"') => {
                            i += 1;
                            break;
                        }
                        Some(b'\\')
                            if line
                                .get(i + 1)
                                .is_some_and(|&c| c != 0x7f && (c >= 0x20 || c == b'\t')) =>
                        {
                            i += 2
                        }
                        Some(&c) if c != 0x7f && c != b'\\' && (c >= 0x20 || c == b'\t') => i += 1,
                        _ => return None,
                    }
                }
            } else if !token(&mut i) {
                return None;
            }
        }
    }
}

/// Result of reading one message at `at`: framed (with the position after it), the
/// input ended, or a refusal.
enum One {
    Framed(Framed, usize),
    Ended,
    Refused,
}

fn one(input: &[u8], at: usize) -> One {
    let Some(hl) = head_len(input, at) else {
        return One::Ended;
    };
    let head = &input[at..at + hl];
    if head == b"\r\n" || head == b"\n" {
        return One::Refused;
    }
    let lines = head.iter().filter(|&&b| b == b'\n').count();
    let mut fields = vec![httparse::EMPTY_HEADER; lines];
    let mut req = httparse::Request::new(&mut fields);
    match req.parse(head) {
        Ok(httparse::Status::Complete(n)) if n == head.len() => {}
        _ => return One::Refused,
    }
    let Ok(body) = body_of(&req) else {
        return One::Refused;
    };
    let mut framed = Framed {
        method: req.method.unwrap().to_string(),
        target: req.path.unwrap().to_string(),
        body: Vec::new(),
    };
    let mut pos = at + hl;
    match body {
        Body::None => {}
        Body::Length(n) => {
            if input.len() - pos < n {
                return One::Ended;
            }
            framed.body.extend_from_slice(&input[pos..pos + n]);
            pos += n;
        }
        Body::Chunked => loop {
            let Some(end) = line_end(input, pos) else {
                return if input.len() - pos >= 4096 {
                    One::Refused
                } else {
                    One::Ended
                };
            };
            let Some(text) = input[pos..end].strip_suffix(b"\r\n") else {
                return One::Refused;
            };
            if end - pos > 4096 {
                return One::Refused;
            }
            let Some(size) = chunk_size(text) else {
                return One::Refused;
            };
            pos = end;
            if size == 0 {
                // Trailers: fields under the same rules, then the empty line.
                let Some(tl) = head_len(input, pos) else {
                    return One::Ended;
                };
                let trailer = &input[pos..pos + tl];
                let lines = trailer.iter().filter(|&&b| b == b'\n').count();
                let mut fields = vec![httparse::EMPTY_HEADER; lines];
                match httparse::parse_headers(trailer, &mut fields) {
                    Ok(httparse::Status::Complete((n, _))) if n == tl => {}
                    _ => return One::Refused,
                }
                pos += tl;
                break;
            }
            if input.len() - pos < size {
                return One::Ended;
            }
            framed.body.extend_from_slice(&input[pos..pos + size]);
            pos += size;
            match input.get(pos..pos + 2) {
                Some(b"\r\n") => pos += 2,
                None if input.len() - pos < 2 && input[pos..].iter().all(|&b| b == b'\r') => {
                    return One::Ended
                }
                _ => return One::Refused,
            }
        },
    }
    One::Framed(framed, pos)
}

/// The requests a strict peer frames in `input`, and why it stopped.
pub fn frame(input: &[u8]) -> (Vec<Framed>, End) {
    let mut out = Vec::new();
    let mut at = 0;
    loop {
        match one(input, at) {
            One::Framed(f, next) => {
                out.push(f);
                at = next;
            }
            One::Ended => return (out, End::Input),
            One::Refused => return (out, End::Refused),
        }
    }
}

/// FNV-1a, to name a body in a reply header.
pub fn digest(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325, |h, &x| {
        (h ^ x as u64).wrapping_mul(0x100_0000_01b3)
    })
}

/// The server's handler: every request answered 200, with what it saw in `X-Seen`
/// (a header: replies to HEAD carry no body).
pub fn echo(mut req: Request) {
    let method = req.method().map_or("?", |m| m.as_str());
    let body = req.body();
    let seen = format!(
        "{method} {} {} {:016x}",
        hex(req.uri().as_bytes()),
        body.len(),
        digest(&body)
    );
    let _ = req.output_headers().add("X-Seen", &seen);
    let _ = req.send_reply(200, None, b"");
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// What the model says the server's `X-Seen` must be for `f`.
pub fn seen_of(f: &Framed) -> String {
    format!(
        "{} {} {} {:016x}",
        f.method,
        hex(f.target.as_bytes()),
        f.body.len(),
        digest(&f.body)
    )
}

/// Every method evhttp knows.
pub fn all_methods() -> Methods {
    Methods::GET
        | Methods::POST
        | Methods::HEAD
        | Methods::PUT
        | Methods::DELETE
        | Methods::OPTIONS
        | Methods::TRACE
        | Methods::CONNECT
        | Methods::PATCH
}

/// A server on `base` (strict, as made) that takes every method evhttp knows and hands
/// every request to `handler`, bound to a loopback port.
pub fn serve(base: &EventBase, handler: impl FnMut(Request) + 'static) -> (Http, SocketAddr) {
    let http = Http::new(base).unwrap();
    http.set_allowed_methods(all_methods());
    http.on_request(handler);
    let addr = http
        .bind("127.0.0.1:0".parse().unwrap())
        .unwrap()
        .local_addr()
        .unwrap();
    (http, addr)
}

/// A strict server that echoes, on its own thread and base; returns its address.
pub fn spawn_server() -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let base = EventBase::new().unwrap();
        let (http, addr) = serve(&base, echo);
        http.set_timeout(Duration::from_secs(2)).unwrap();
        tx.send(addr).unwrap();
        base.dispatch().unwrap();
    });
    rx.recv().unwrap()
}

/// One reply: its status, its `X-Seen`, its body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub seen: Option<String>,
    pub body: String,
}

/// Splits the bytes a client read into replies (evhttp's carry a length; a reply to HEAD
/// announces one without the body). A stream that does not parse ends the list.
pub fn replies(mut raw: &[u8]) -> Vec<Reply> {
    let mut out = Vec::new();
    while !raw.is_empty() {
        let mut fields = [httparse::EMPTY_HEADER; 32];
        let mut resp = httparse::Response::new(&mut fields);
        let Ok(httparse::Status::Complete(n)) = resp.parse(raw) else {
            break;
        };
        let find = |name: &str| {
            resp.headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| String::from_utf8_lossy(h.value).into_owned())
        };
        let seen = find("x-seen");
        let len = find("content-length").and_then(|v| v.parse::<usize>().ok());
        let body = match len {
            Some(_) if raw[n..].starts_with(b"HTTP/1.") => 0,
            Some(l) => l.min(raw.len() - n),
            None => raw.len() - n,
        };
        out.push(Reply {
            status: resp.code.unwrap_or(0),
            seen,
            body: String::from_utf8_lossy(&raw[n..n + body]).into_owned(),
        });
        raw = &raw[n + body..];
    }
    out
}

/// Sends `input` on a new connection, half-closes, and reads what comes back.
pub fn send(addr: SocketAddr, input: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // The server may close before it read everything (after a refusal): not a finding.
    let _ = s.write_all(input);
    let _ = s.shutdown(Shutdown::Write);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// The check: every reply the server sent for `input` agrees with the model.
pub fn check(addr: SocketAddr, input: &[u8]) -> Result<(), String> {
    let (model, end) = frame(input);
    // Interim replies (100 Continue) are not answers.
    let got: Vec<Reply> = replies(&send(addr, input))
        .into_iter()
        .filter(|r| !(100..200).contains(&r.status))
        .collect();
    for (i, r) in got.iter().enumerate() {
        if r.status == 200 {
            let Some(want) = model.get(i) else {
                return Err(format!(
                    "reply {i} answers a request the model does not frame ({end:?} after {}): {r:?}",
                    model.len()
                ));
            };
            if r.seen.as_deref() != Some(seen_of(want).as_str()) {
                return Err(format!(
                    "reply {i} framed otherwise: server {:?}, model {:?}",
                    r.seen,
                    seen_of(want)
                ));
            }
        } else if i + 1 != got.len() {
            return Err(format!(
                "reply {i} refused ({}) and more came after",
                r.status
            ));
        }
    }
    Ok(())
}
