//! examples/http_server.rs's routes served by hyper 1 on the loop (feature `hyper`),
//! HTTP/1.1 and HTTP/2 (prior knowledge) on one port, until SIGINT:
//!
//! - `GET /hello`: `hello\n` as text/plain;
//! - `POST /echo`: the request body back, with the request's Content-Type;
//! - `GET /chunked?n=N`: N chunks `chunk i\n`, one every 10 ms (N from 1 to 1000);
//! - `GET /headers`: one line `name: value` per request header (hyper gives the names in
//!   lower case);
//! - anything else: 404; a body over 1 MiB: 413.
//!
//! `cargo run --release --features hyper --example hyper_server -- 127.0.0.1:8080`
//! (port 0: any). Each connection is a task on the loop; hyper's timers are the loop's.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use libevent::hyper::{LocalExec, LocalTimer};
use libevent::task::{self, TcpListener};
use libevent::{Event, EventBase};
use std::convert::Infallible;
use std::pin::Pin;
use std::time::Duration;

/// Any body: the loop runs on one thread, so none needs to be `Send`.
type Body = Pin<Box<dyn hyper::body::Body<Data = Bytes, Error = Infallible>>>;

const MAX_BODY: usize = 1 << 20;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".into())
        .parse()?;
    let base = EventBase::new()?;
    let b = base.clone();
    let sigint = Event::signal(&base, libc::SIGINT, move |_| {
        let _ = b.loopbreak();
    })?;
    sigint.add(None)?;
    let mut listener = TcpListener::bind_on(&base, addr)?;
    println!("listening on {}", listener.local_addr()?);
    base.spawn_local(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let spawned = task::spawn(async move {
                let mut server = hyper_util::server::conn::auto::Builder::new(LocalExec);
                server.http1().timer(LocalTimer);
                server.http2().timer(LocalTimer);
                let _ = server
                    .serve_connection(stream, hyper::service::service_fn(route))
                    .await;
            });
            match spawned {
                Ok(t) => t.detach(),
                Err(e) => eprintln!("hyper_server: {e}"),
            }
        }
    })?
    .detach();
    base.dispatch()?;
    println!("done");
    Ok(())
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Box::pin(Full::new(body.into())) as Body);
    *r.status_mut() = status;
    r.headers_mut().insert(
        "Content-Type",
        hyper::header::HeaderValue::from_static("text/plain"),
    );
    r
}

async fn route(req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let get = req.method() == Method::GET;
    Ok(match req.uri().path() {
        "/hello" if get => text(StatusCode::OK, "hello\n"),
        "/echo" if req.method() == Method::POST => echo(req).await,
        "/headers" if get => {
            let mut out = Vec::new();
            for (name, value) in req.headers() {
                out.extend_from_slice(name.as_str().as_bytes());
                out.extend_from_slice(b": ");
                out.extend_from_slice(value.as_bytes());
                out.push(b'\n');
            }
            text(StatusCode::OK, out)
        }
        "/chunked" if get => chunked(req.uri().query()),
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    })
}

async fn echo(req: Request<Incoming>) -> Response<Body> {
    let content_type = req.headers().get("Content-Type").cloned();
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return text(StatusCode::PAYLOAD_TOO_LARGE, "body over 1 MiB\n"),
    };
    let mut r = Response::new(Box::pin(Full::new(body)) as Body);
    if let Some(ct) = content_type {
        r.headers_mut().insert("Content-Type", ct);
    }
    r
}

fn chunked(query: Option<&str>) -> Response<Body> {
    let n = query
        .unwrap_or("")
        .split('&')
        .find_map(|kv| kv.strip_prefix("n="))
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|n| (1..=1000).contains(n));
    let Some(n) = n else {
        return text(StatusCode::BAD_REQUEST, "n must be from 1 to 1000\n");
    };
    // One chunk every 10 ms; a client that goes away drops the body, and with it this.
    let chunks = futures_util::stream::unfold(1u32, move |i| async move {
        if i > n {
            return None;
        }
        if i > 1 {
            task::sleep(Duration::from_millis(10)).await;
        }
        let chunk = Frame::data(Bytes::from(format!("chunk {i}\n")));
        Some((Ok::<_, Infallible>(chunk), i + 1))
    });
    let mut r = Response::new(Box::pin(StreamBody::new(chunks)) as Body);
    r.headers_mut().insert(
        "Content-Type",
        hyper::header::HeaderValue::from_static("text/plain"),
    );
    r
}
