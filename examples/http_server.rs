//! A small HTTP server on libevent's evhttp, until SIGINT:
//!
//! - `GET /hello`: `hello\n` as text/plain;
//! - `POST /echo`: the request body back, with the request's Content-Type;
//! - `GET /chunked?n=N`: N chunks `chunk i\n`, one every 10 ms (N from 1 to 1000);
//! - `GET /headers`: one line `name: value` per request header, in the order received;
//! - anything else: 404; a body over 1 MiB: 413.
//!
//! `cargo run --release --example http_server -- 127.0.0.1:8080` (port 0: any). The strict
//! framing layer is on (the default); `--lenient` after the address turns it off, to
//! compare with libevent's own parser alone. The base batches its epoll changes
//! (`EventBase::with_epoll_changelist`); `--no-changelist` makes a plain one, to compare.

use libevent::http::{ChunkedReply, Method};
use libevent::{Event, EventBase, Http, Request};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:8080".into())
        .parse()?;
    let (mut lenient, mut changelist) = (false, true);
    for a in args {
        match a.as_str() {
            "--lenient" => lenient = true,
            "--no-changelist" => changelist = false,
            other => {
                return Err(
                    format!("unknown argument {other:?} (--lenient, --no-changelist)").into(),
                )
            }
        }
    }
    // evhttp turns each keep-alive connection from reading to writing and back for every
    // request: with the changelist those changes cost no epoll_ctl.
    let base = if changelist {
        EventBase::with_epoll_changelist()?
    } else {
        EventBase::new()?
    };
    let http = Http::new(&base)?;
    http.set_strict(!lenient)?;
    http.set_max_body_size(1 << 20);
    // Read what is left of a body over the limit, so that the client sees the 413.
    http.set_lingering_close(true)?;
    http.on_path("/hello", hello)?;
    http.on_path("/echo", echo)?;
    http.on_path("/headers", headers)?;
    let b = base.clone();
    http.on_path("/chunked", move |req| chunked(&b, req))?;
    http.on_request(not_found);
    let bound = http.bind(addr)?;
    println!("listening on {}", bound.local_addr()?);

    let b = base.clone();
    let sigint = Event::signal(&base, libc::SIGINT, move |_| {
        let _ = b.loopbreak();
    })?;
    sigint.add(None)?;
    base.dispatch()?;
    println!("done");
    Ok(())
}

fn not_found(req: Request) {
    let _ = req.send_error(404, None);
}

/// Replies `status` with `body` as text/plain.
fn text(mut req: Request, status: u16, body: &[u8]) {
    let _ = req.output_headers().add("Content-Type", "text/plain");
    let _ = req.send_reply(status, None, body);
}

fn hello(req: Request) {
    match req.method() {
        Some(Method::Get) => text(req, 200, b"hello\n"),
        _ => not_found(req),
    }
}

fn echo(mut req: Request) {
    if req.method() != Some(Method::Post) {
        return not_found(req);
    }
    let content_type = req.input_headers().get("Content-Type").map(str::to_owned);
    if let Some(ct) = content_type {
        let _ = req.output_headers().add("Content-Type", &ct);
    }
    let body = req.input_buffer().remove_all();
    let _ = req.send_reply(200, None, &body);
}

fn headers(req: Request) {
    if req.method() != Some(Method::Get) {
        return not_found(req);
    }
    let mut body = Vec::new();
    for (name, value) in req.input_headers() {
        body.extend_from_slice(name);
        body.extend_from_slice(b": ");
        body.extend_from_slice(value);
        body.push(b'\n');
    }
    text(req, 200, &body);
}

fn chunked(base: &EventBase, req: Request) {
    if req.method() != Some(Method::Get) {
        return not_found(req);
    }
    let n = req
        .query_pairs()
        .ok()
        .and_then(|q| q.into_iter().find(|(k, _)| k == "n"))
        .and_then(|(_, v)| v.parse::<u32>().ok())
        .filter(|n| (1..=1000).contains(n));
    let Some(n) = n else {
        return text(req, 400, b"n must be from 1 to 1000\n");
    };
    let mut req = req;
    let _ = req.output_headers().add("Content-Type", "text/plain");
    let Ok(reply) = req.start_reply(200, None) else {
        return;
    };
    // The reply and the timer that feeds it live in the timer's own closure; the timer
    // drops itself (and with it the reply, which ends it) when done or abandoned.
    struct Feed {
        reply: Option<ChunkedReply>,
        sent: u32,
        timer: Option<Event>,
    }
    let feed = Rc::new(RefCell::new(Feed {
        reply: Some(reply),
        sent: 0,
        timer: None,
    }));
    let f = feed.clone();
    let timer = Event::interval(base, Duration::from_millis(10), move |_| {
        let mut feed = f.borrow_mut();
        let reply = feed.reply.as_mut().expect("present until the timer goes");
        if reply.is_abandoned() || feed.sent == n {
            feed.reply.take(); // ends the reply, or frees an abandoned one
            feed.timer.take();
            return;
        }
        feed.sent += 1;
        let chunk = format!("chunk {}\n", feed.sent);
        let _ = feed.reply.as_mut().map(|r| r.send_chunk(chunk.as_bytes()));
    });
    match timer {
        Ok(t) => feed.borrow_mut().timer = Some(t),
        Err(e) => eprintln!("timer: {e}"),
    }
}
