//! hyper on libevent's loop (the safe crate's feature `hyper`: its executor, timer and
//! streams), answering `GET /hello` as hyper-reference does on tokio's current_thread
//! runtime: the HTTP benchmark's measure of what the bridge costs. `hyper-loop HOST:PORT`;
//! prints `listening on ADDR`; exits on SIGINT or SIGTERM.

use libevent::hyper::LocalExec;
use libevent::task::{self, TcpListener};
use libevent::{Event, EventBase};

/// The command line.
#[derive(clap::Parser)]
#[command(about = "hyper on libevent's loop, answering GET /hello, for the HTTP benchmark")]
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
    let base = EventBase::new()?;
    let mut stops = Vec::new();
    for sig in [libc::SIGINT, libc::SIGTERM] {
        let b = base.clone();
        let ev = Event::signal(&base, sig, move |_| {
            let _ = b.loopbreak();
        })?;
        ev.add(None)?;
        stops.push(ev);
    }
    let mut listener = TcpListener::bind_on(&base, addr)?;
    println!("listening on {}", listener.local_addr()?);
    base.spawn_local(async move {
        while let Ok((stream, _)) = listener.accept().await {
            if let Ok(t) = task::spawn(async move {
                let svc = hyper::service::service_fn(|req| async move {
                    Ok::<_, std::convert::Infallible>(bench::hello_route(&req))
                });
                // No timer, as hyper-reference has none: hyper then sets no header read
                // timeout (with LocalTimer it would, per request).
                let _ = if h2 {
                    hyper::server::conn::http2::Builder::new(LocalExec)
                        .serve_connection(stream, svc)
                        .await
                } else {
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(stream, svc)
                        .await
                };
            }) {
                t.detach();
            }
        }
    })?
    .detach();
    base.dispatch()?;
    Ok(())
}
