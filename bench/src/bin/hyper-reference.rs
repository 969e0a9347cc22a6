//! hyper on tokio's current_thread runtime, answering `GET /hello` as
//! examples/http_server.rs does (`hello\n`, text/plain; 404 otherwise): the HTTP
//! benchmark's reference from the async Rust world. `hyper-reference HOST:PORT`; prints
//! `listening on ADDR`; exits on SIGINT or SIGTERM.

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use tokio::signal::unix::{signal, SignalKind};

async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(bench::hello_route(&req))
}

/// The command line.
#[derive(clap::Parser)]
#[command(
    about = "hyper on tokio's current_thread runtime, answering GET /hello, for the HTTP benchmark"
)]
struct Cli {
    /// The address to listen on.
    #[arg(default_value = "127.0.0.1:8080")]
    addr: std::net::SocketAddr,
    /// HTTP/2 with prior knowledge instead of HTTP/1.1.
    #[arg(long)]
    h2: bool,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cli = <Cli as clap::Parser>::parse();
    let (addr, h2) = (cli.addr, cli.h2);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = bench::tokio_listener(addr)?;
        println!("listening on {}", listener.local_addr()?);
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        loop {
            let (stream, _) = tokio::select! {
                r = listener.accept() => r?,
                _ = term.recv() => break,
                _ = int.recv() => break,
            };
            tokio::spawn(async move {
                let io = TokioIo::new(stream);
                let svc = hyper::service::service_fn(handle);
                let _ = if h2 {
                    hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                        .serve_connection(io, svc)
                        .await
                } else {
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, svc)
                        .await
                };
            });
        }
        Ok::<(), Box<dyn std::error::Error>>(())
    })
}
