//! hyper 1 on the loop (feature `hyper`): HTTP/1.1 with keep-alive and pipelining,
//! HTTP/2 with prior knowledge, bodies streamed both ways with backpressure, hyper's
//! timers (a header read timeout) and a graceful shutdown, all on 127.0.0.1.
#![cfg(feature = "hyper")]

mod common;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode, Version};
use libevent::hyper::{LocalExec, LocalTimer};
use libevent::task::{self, TcpListener, TcpStream};
use libevent::EventBase;
use std::cell::Cell;
use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Any body, not `Send`: everything runs on the loop's thread.
type Body = std::pin::Pin<Box<dyn hyper::body::Body<Data = Bytes, Error = hyper::Error>>>;

fn full(b: impl Into<Bytes>) -> Body {
    Box::pin(Full::new(b.into()).map_err(|never: Infallible| match never {}))
}

/// `/hello`: `hello\n`; `/echo`: the request body streamed back; `/slow`: `done` after
/// 200 ms; anything else 404.
async fn routes(req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let res = match req.uri().path() {
        "/hello" => Response::new(full("hello\n")),
        "/echo" => Response::new(Box::pin(req.into_body()) as Body),
        "/slow" => {
            SLOW.with(|(now, most)| {
                now.set(now.get() + 1);
                most.set(most.get().max(now.get()));
            });
            task::sleep(Duration::from_millis(200)).await;
            SLOW.with(|(now, _)| now.set(now.get() - 1));
            Response::new(full("done"))
        }
        _ => {
            let mut r = Response::new(full("not found\n"));
            *r.status_mut() = StatusCode::NOT_FOUND;
            r
        }
    };
    Ok(res)
}

thread_local! {
    /// `/slow` requests being answered now, and the most at once.
    static SLOW: (Cell<u32>, Cell<u32>) = const { (Cell::new(0), Cell::new(0)) };
}

#[derive(Clone, Copy, PartialEq)]
enum Proto {
    Http1,
    Http2,
}

/// A hyper server on the loop, each connection a task.
fn serve(proto: Proto) -> std::io::Result<SocketAddr> {
    let mut listener = TcpListener::bind("127.0.0.1:0".parse().unwrap())?;
    let addr = listener.local_addr()?;
    task::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let svc = hyper::service::service_fn(routes);
            task::spawn(async move {
                let _ = match proto {
                    Proto::Http1 => {
                        hyper::server::conn::http1::Builder::new()
                            .timer(LocalTimer)
                            .serve_connection(stream, svc)
                            .await
                    }
                    Proto::Http2 => {
                        hyper::server::conn::http2::Builder::new(LocalExec)
                            .timer(LocalTimer)
                            .serve_connection(stream, svc)
                            .await
                    }
                };
            })
            .unwrap()
            .detach();
        }
    })
    .map_err(std::io::Error::other)?
    .detach();
    Ok(addr)
}

async fn collect(res: Response<Incoming>) -> (StatusCode, Version, Bytes) {
    let (status, version) = (res.status(), res.version());
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, version, body)
}

fn get(path: &str) -> Request<Body> {
    Request::get(path)
        .header("Host", "x")
        .body(full(""))
        .unwrap()
}

#[test]
fn http1_keep_alive_on_a_hyper_client_and_pipelining_from_a_raw_one() {
    let base = EventBase::new().unwrap();
    let got = base
        .block_on(async {
            let addr = serve(Proto::Http1)?;
            // A hyper client: three requests, one connection.
            let stream = TcpStream::connect(addr).await?;
            let local = stream.local_addr()?;
            let (mut send, conn) = hyper::client::conn::http1::handshake(stream).await.unwrap();
            task::spawn(conn).unwrap().detach();
            let mut out = Vec::new();
            for path in ["/hello", "/nope", "/hello"] {
                out.push(collect(send.send_request(get(path)).await.unwrap()).await);
            }
            // A raw client in a thread sends three requests in one write.
            let raw = std::thread::spawn(move || {
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                s.write_all(
                    b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n\
                      GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                )
                .unwrap();
                let mut all = String::new();
                s.read_to_string(&mut all).unwrap();
                all
            });
            while !raw.is_finished() {
                task::sleep(Duration::from_millis(5)).await;
            }
            Ok::<_, std::io::Error>((out, raw.join().unwrap(), local))
        })
        .unwrap()
        .unwrap();
    let (out, raw, _local) = got;
    assert_eq!(
        out[0],
        (StatusCode::OK, Version::HTTP_11, Bytes::from("hello\n"))
    );
    assert_eq!(out[1].0, StatusCode::NOT_FOUND);
    assert_eq!(out[2].2, "hello\n");
    // The three answers, in order, on the one connection.
    let statuses: Vec<&str> = raw.matches("HTTP/1.1 ").map(|_| "").collect();
    assert_eq!(statuses.len(), 3, "{raw}");
    let first = raw.find("200 OK").unwrap();
    let second = raw.find("404 Not Found").unwrap();
    assert!(first < second && raw[second..].contains("200 OK"), "{raw}");
}

#[test]
fn http2_with_prior_knowledge_many_streams_on_one_connection() {
    let base = EventBase::new().unwrap();
    let got = base
        .block_on(async {
            let addr = serve(Proto::Http2)?;
            let stream = TcpStream::connect(addr).await?;
            let (send, conn) = hyper::client::conn::http2::Builder::new(LocalExec)
                .timer(LocalTimer)
                .handshake(stream)
                .await
                .unwrap();
            task::spawn(conn).unwrap().detach();
            // Ten requests at once: each its own task, all on the one connection.
            let mut tasks = Vec::new();
            for i in 0..10 {
                let mut send = send.clone();
                let path = if i % 2 == 0 { "/hello" } else { "/slow" };
                tasks.push(
                    task::spawn(async move {
                        let req = Request::get(format!("http://x{path}"))
                            .body(full(""))
                            .unwrap();
                        collect(send.send_request(req).await.unwrap()).await
                    })
                    .unwrap(),
                );
            }
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await);
            }
            Ok::<_, std::io::Error>(out)
        })
        .unwrap()
        .unwrap();
    let out = got;
    assert!(out
        .iter()
        .all(|(s, v, _)| *s == StatusCode::OK && *v == Version::HTTP_2));
    assert_eq!(out.iter().filter(|r| r.2 == "done").count(), 5);
    // The slow ones were answered side by side, not one after another.
    assert!(SLOW.with(|(_, most)| most.get()) >= 2);
}

/// A request body of `total` bytes, made as it is polled; `sent` counts what was taken.
fn counted_body(total: usize, sent: Rc<Cell<usize>>) -> Body {
    let chunk = Bytes::from(vec![7u8; 64 * 1024]);
    let stream = futures_util::stream::unfold(0usize, move |done| {
        let (chunk, sent) = (chunk.clone(), sent.clone());
        async move {
            if done >= total {
                return None;
            }
            let n = chunk.len().min(total - done);
            sent.set(sent.get() + n);
            Some((
                Ok::<_, hyper::Error>(Frame::data(chunk.slice(..n))),
                done + n,
            ))
        }
    });
    Box::pin(StreamBody::new(stream))
}

#[test]
fn bodies_stream_both_ways_and_a_reader_that_stops_stops_the_writer() {
    for proto in [Proto::Http1, Proto::Http2] {
        let base = EventBase::new().unwrap();
        // More than every buffer between the two ends could hold (the kernel's four socket
        // buffers, at most some 20 MB here; the stall was seen at 7.8 MB over HTTP/1.1 and
        // 2.9 MB over HTTP/2, whose flow control stops it sooner).
        const TOTAL: usize = 48 << 20;
        let (stalled_at, echoed) = base
            .block_on(async move {
                let addr = serve(proto)?;
                let stream = TcpStream::connect(addr).await?;
                let sent = Rc::new(Cell::new(0));
                let req = Request::post("http://x/echo")
                    .header("Host", "x")
                    .body(counted_body(TOTAL, sent.clone()))
                    .unwrap();
                let res = match proto {
                    Proto::Http1 => {
                        let (mut s, c) =
                            hyper::client::conn::http1::handshake(stream).await.unwrap();
                        task::spawn(c).unwrap().detach();
                        s.send_request(req).await.unwrap()
                    }
                    Proto::Http2 => {
                        let (mut s, c) = hyper::client::conn::http2::Builder::new(LocalExec)
                            .handshake(stream)
                            .await
                            .unwrap();
                        task::spawn(c).unwrap().detach();
                        s.send_request(req).await.unwrap()
                    }
                };
                // Nobody reads the echo: the server cannot write, so it stops reading,
                // and the upload stops well short of its end.
                task::sleep(Duration::from_millis(300)).await;
                let stalled_at = sent.get();
                let mut body = res.into_body();
                let mut echoed = 0usize;
                while let Some(frame) = body.frame().await {
                    let frame = frame.unwrap();
                    if let Some(d) = frame.data_ref() {
                        assert!(d.iter().all(|&b| b == 7));
                        echoed += d.len();
                    }
                }
                Ok::<_, std::io::Error>((stalled_at, echoed))
            })
            .unwrap()
            .unwrap();
        assert!(
            stalled_at < TOTAL / 2,
            "sent {stalled_at} of {TOTAL} with nobody reading"
        );
        assert_eq!(echoed, TOTAL);
    }
}

#[test]
fn hypers_timer_closes_a_connection_that_sends_no_header() {
    let base = EventBase::new().unwrap();
    let closed_after = base
        .block_on(async {
            let mut listener = TcpListener::bind("127.0.0.1:0".parse().unwrap())?;
            let addr = listener.local_addr()?;
            task::spawn(async move {
                let (stream, _) = listener.accept().await.unwrap();
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(LocalTimer)
                    .header_read_timeout(Duration::from_millis(150))
                    .serve_connection(stream, hyper::service::service_fn(routes))
                    .await;
            })
            .unwrap()
            .detach();
            let mut quiet = TcpStream::connect(addr).await?;
            let started = Instant::now();
            let mut buf = Vec::new();
            futures_util::AsyncReadExt::read_to_end(&mut quiet, &mut buf).await?;
            Ok::<_, std::io::Error>(started.elapsed())
        })
        .unwrap()
        .unwrap();
    assert!(
        closed_after >= Duration::from_millis(100),
        "{closed_after:?}"
    );
    assert!(closed_after < Duration::from_secs(5), "{closed_after:?}");
}

#[test]
fn a_graceful_shutdown_finishes_the_request_in_flight() {
    let base = EventBase::new().unwrap();
    let (res, ended) = base
        .block_on(async {
            let mut listener = TcpListener::bind("127.0.0.1:0".parse().unwrap())?;
            let addr = listener.local_addr()?;
            let ended = Rc::new(Cell::new(None));
            let e = ended.clone();
            // The handler says when the request is in: then the server is told to stop.
            let inside: Rc<std::cell::RefCell<(bool, Option<std::task::Waker>)>> = Rc::default();
            let i = inside.clone();
            task::spawn(async move {
                let (stream, _) = listener.accept().await.unwrap();
                let svc = hyper::service::service_fn(move |req| {
                    let mut i = i.borrow_mut();
                    i.0 = true;
                    if let Some(w) = i.1.take() {
                        w.wake();
                    }
                    routes(req)
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(LocalTimer)
                    .serve_connection(stream, svc);
                let mut conn = std::pin::pin!(conn);
                // While /slow (200 ms) is being answered, the server is told to stop: it
                // finishes that reply, then ends the connection.
                let stop = std::pin::pin!(std::future::poll_fn(|cx| {
                    let mut i = inside.borrow_mut();
                    if i.0 {
                        std::task::Poll::Ready(())
                    } else {
                        i.1 = Some(cx.waker().clone());
                        std::task::Poll::Pending
                    }
                }));
                let r = match futures_util::future::select(conn.as_mut(), stop).await {
                    futures_util::future::Either::Left((r, _)) => r,
                    futures_util::future::Either::Right(((), _)) => {
                        conn.as_mut().graceful_shutdown();
                        conn.await
                    }
                };
                e.set(Some(r.is_ok()));
            })
            .unwrap()
            .detach();
            let stream = TcpStream::connect(addr).await?;
            let (mut send, conn) = hyper::client::conn::http1::handshake(stream).await.unwrap();
            task::spawn(conn).unwrap().detach();
            let res = collect(send.send_request(get("/slow")).await.unwrap()).await;
            while ended.get().is_none() {
                task::sleep(Duration::from_millis(5)).await;
            }
            Ok::<_, std::io::Error>((res, ended.get()))
        })
        .unwrap()
        .unwrap();
    assert_eq!(res.2, "done");
    assert_eq!(
        ended,
        Some(true),
        "the connection ended cleanly after the reply"
    );
}

#[test]
fn the_executor_and_timer_refuse_to_be_used_wrongly() {
    use hyper::rt::{Executor, Timer};
    // Outside the loop there is nothing to spawn on: the future is dropped, not run.
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    LocalExec.execute(async move { r.set(true) });
    assert!(!ran.get());
    assert_eq!(Rc::strong_count(&ran), 1, "the future was dropped");
    // A sleep used on another thread panics there (and is leaked, not freed there).
    let base = EventBase::new().unwrap();
    let sleep = LocalTimer.sleep(Duration::from_secs(60));
    let panicked = std::thread::spawn(move || {
        let mut sleep = sleep;
        let waker = futures_util::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = sleep.as_mut().poll(&mut cx);
        }))
        .is_err()
    })
    .join()
    .unwrap();
    assert!(panicked);
    common::run_for(&base, Duration::from_millis(1));
}

/// The protocol ALPN agreed on a TLS stream, once its handshake is done (`None` for a
/// handshake that agreed none, or did not finish within five seconds).
#[cfg(feature = "openssl")]
async fn alpn(stream: &TcpStream) -> Option<Vec<u8>> {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(5) {
        let (done, proto) = stream.with_bufferevent(|b| {
            let ssl = b.ssl().expect("a TLS stream");
            (
                ssl.is_init_finished(),
                ssl.selected_alpn_protocol().map(<[u8]>::to_vec),
            )
        });
        if done {
            return proto;
        }
        task::sleep(Duration::from_millis(1)).await;
    }
    None
}

/// HTTP/2 over TLS, chosen by ALPN, on the crate's TLS bufferevents (features hyper and
/// openssl): the server offers h2 and http/1.1 and serves what was agreed; one client asks
/// for h2, another for http/1.1 only.
#[cfg(feature = "openssl")]
#[test]
fn http2_or_http1_over_tls_as_alpn_agrees() {
    use libevent::bufferevent::{Options, SslState};
    use libevent::listener::ListenerFlags;
    use libevent::{BufferEvent, Listener};
    use openssl::ssl::{AlpnError, Ssl, SslAcceptor, SslConnector, SslMethod, SslVerifyMode};
    let pki = common::pki::pki();
    let mut acc = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).unwrap();
    acc.set_certificate(&pki.server.0).unwrap();
    acc.set_private_key(&pki.server.1).unwrap();
    acc.set_alpn_select_callback(|_, client| {
        openssl::ssl::select_next_proto(b"\x02h2\x08http/1.1", client).ok_or(AlpnError::NOACK)
    });
    let acc = acc.build();
    let base = EventBase::new().unwrap();
    let b = base.clone();
    let listener = Listener::bind(
        &base,
        "127.0.0.1:0".parse().unwrap(),
        16,
        ListenerFlags::REUSEABLE,
        move |stream, _| {
            let ssl = Ssl::new(acc.context()).unwrap();
            let bev = BufferEvent::openssl_socket(
                &b,
                Some(stream.into()),
                ssl,
                SslState::Accepting,
                Options::empty(),
            )
            .unwrap();
            let stream = TcpStream::from_bufferevent(bev).unwrap();
            b.spawn_local(async move {
                let svc = hyper::service::service_fn(routes);
                let _ = if alpn(&stream).await.as_deref() == Some(b"h2") {
                    hyper::server::conn::http2::Builder::new(LocalExec)
                        .timer(LocalTimer)
                        .serve_connection(stream, svc)
                        .await
                } else {
                    hyper::server::conn::http1::Builder::new()
                        .timer(LocalTimer)
                        .serve_connection(stream, svc)
                        .await
                };
            })
            .unwrap()
            .detach();
        },
    )
    .unwrap();
    let addr = listener.local_addr().unwrap();
    for (offer, want) in [
        (&b"\x02h2\x08http/1.1"[..], Version::HTTP_2),
        (&b"\x08http/1.1"[..], Version::HTTP_11),
    ] {
        let mut c = SslConnector::builder(SslMethod::tls()).unwrap();
        c.cert_store_mut().add_cert(pki.ca.clone()).unwrap();
        c.set_verify(SslVerifyMode::PEER);
        c.set_alpn_protos(offer).unwrap();
        let ssl = c
            .build()
            .configure()
            .unwrap()
            .into_ssl("localhost")
            .unwrap();
        let mut bev =
            BufferEvent::openssl_socket(&base, None, ssl, SslState::Connecting, Options::empty())
                .unwrap();
        bev.connect(addr).unwrap();
        let stream = TcpStream::from_bufferevent(bev).unwrap();
        let (agreed, out) = base
            .block_on(async move {
                let agreed = alpn(&stream).await;
                let req = Request::get("https://localhost/hello")
                    .header("Host", "localhost")
                    .body(full(""))
                    .unwrap();
                let res = if agreed.as_deref() == Some(b"h2") {
                    let (mut send, conn) = hyper::client::conn::http2::Builder::new(LocalExec)
                        .handshake(stream)
                        .await
                        .unwrap();
                    task::spawn(conn).unwrap().detach();
                    send.send_request(req).await.unwrap()
                } else {
                    let (mut send, conn) =
                        hyper::client::conn::http1::handshake(stream).await.unwrap();
                    task::spawn(conn).unwrap().detach();
                    send.send_request(req).await.unwrap()
                };
                (agreed, collect(res).await)
            })
            .unwrap();
        let name: &[u8] = if want == Version::HTTP_2 {
            b"h2"
        } else {
            b"http/1.1"
        };
        assert_eq!(agreed.as_deref(), Some(name));
        assert_eq!(out, (StatusCode::OK, want, Bytes::from("hello\n")));
    }
}
