//! hyper on a base a C program owns and runs: Rust serves hyper requests (HTTP/1.1 and
//! HTTP/2) from tasks on the C program's loop, beside the program's own evhttp handlers
//! and its own timer, until one of its handlers ends the loop.

use c_interop::*;
use http_body_util::Full;
use hyper::body::Bytes;
use libevent::hyper::{LocalExec, LocalTimer};
use libevent::task::{self, TcpListener};
use libevent::EventBase;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

fn hello(
    req: hyper::Request<hyper::body::Incoming>,
) -> std::future::Ready<Result<hyper::Response<Full<Bytes>>, std::convert::Infallible>> {
    let text = format!("rust saw {} over {:?}\n", req.uri().path(), req.version());
    std::future::ready(Ok(hyper::Response::new(Full::new(Bytes::from(text)))))
}

/// One HTTP/1.1 exchange on its own connection: the whole response.
fn exchange(port: u16, request: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn hyper_serves_beside_c_handlers_and_timers_on_a_loop_that_c_runs() {
    // SAFETY: plain C calls; the base is freed at the end, after every Rust handle.
    let raw = unsafe { c_program_make_base() };
    let mut c_port = 0;
    // SAFETY: raw is live; the C server and timer are freed below, before the base.
    let (c_http, c_timer) = unsafe { (c_http_start(raw, &mut c_port), c_add_timer(raw, 20_000)) };
    assert!(!c_http.is_null() && !c_timer.is_null());
    let c_port = u16::try_from(c_port).unwrap();
    let client;
    {
        // SAFETY: raw outlives this scope and every Rust object made in it.
        let base = unsafe { EventBase::from_raw_borrowed(raw) }.unwrap();
        let mut listener = TcpListener::bind_on(&base, "127.0.0.1:0".parse().unwrap()).unwrap();
        let port = listener.local_addr().unwrap().port();
        // Two connections come, one of each version; every task ends with its
        // connection, before the loop does.
        base.spawn_local(async move {
            for _ in 0..2 {
                let (stream, _) = listener.accept().await.unwrap();
                task::spawn(async move {
                    let mut server = hyper_util::server::conn::auto::Builder::new(LocalExec);
                    server.http1().timer(LocalTimer);
                    server.http2().timer(LocalTimer);
                    let _ = server
                        .serve_connection(stream, hyper::service::service_fn(hello))
                        .await;
                })
                .unwrap()
                .detach();
            }
        })
        .unwrap()
        .detach();
        // A client thread: hyper's route, C's route, hyper over HTTP/2, then C's /stop,
        // which ends the C program's loop.
        client = std::thread::spawn(move || {
            let one = exchange(
                port,
                "GET /one HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            );
            let c = exchange(
                c_port,
                "GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            );
            let h2 = std::process::Command::new("curl")
                .args(["-s", "--max-time", "10", "--http2-prior-knowledge"])
                .arg(format!("http://127.0.0.1:{port}/two"))
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            let stop = exchange(
                c_port,
                "GET /stop HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            );
            (one, c, h2, stop)
        });
        // SAFETY: raw is live.
        let rc = unsafe { c_program_run_loop(raw) };
        assert!(rc >= 0);
        assert_eq!(
            base.tasks(),
            0,
            "every Rust task ended on the C program's loop"
        );
    }
    let (one, c, h2, stop) = client.join().unwrap();
    assert!(one.ends_with("rust saw /one over HTTP/1.1\n"), "{one}");
    assert!(c.ends_with("from C"), "{c}");
    assert_eq!(h2, "rust saw /two over HTTP/2.0\n");
    assert!(stop.ends_with("stopping"), "{stop}");
    // SAFETY: no Rust handle on the base is left; each C object freed once.
    unsafe {
        assert_eq!(c_counter_fired(c_timer), 1);
        c_counter_free(c_timer);
        c_http_free(c_http);
        c_program_free_base(raw);
    }
}
