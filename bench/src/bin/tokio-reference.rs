//! tokio-reference: the PROTOCOL.md server on tokio, for comparison with eventd.
//!
//! `tokio-reference --runtime current|multi --listen ADDR [--timeout S] [--max-connections N]
//!   [--tls-cert PEM --tls-key PEM]` (TLS with bench's `tls` feature, through tokio-openssl)
//!
//! Same behaviour as eventd and c-reference on the wire: framing decided once per read
//! (reads of at most 4096 bytes), QUIT, trimming, the idle timeout, at most N connections
//! served (the rest wait in the backlog), replies flushed before closing. No log.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Semaphore;

struct Args {
    multi: bool,
    listen: SocketAddr,
    timeout: u64,
    max: usize,
    tls_cert: Option<String>,
    tls_key: Option<String>,
}

/// Which tokio runtime.
#[derive(Clone, Copy, PartialEq, clap::ValueEnum)]
enum Runtime {
    Current,
    Multi,
}

/// The command line (eventd's flags, those the reference has).
#[derive(clap::Parser)]
#[command(about = "The eventd protocol on tokio, for the benchmarks")]
struct Cli {
    #[arg(long, value_enum, default_value = "current")]
    runtime: Runtime,
    #[arg(long, default_value = "127.0.0.1:1234")]
    listen: SocketAddr,
    /// Idle timeout, seconds.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    #[arg(long = "max-connections", default_value_t = 100)]
    max: usize,
    #[arg(long = "tls-cert")]
    tls_cert: Option<String>,
    #[arg(long = "tls-key")]
    tls_key: Option<String>,
}

fn parse() -> Result<Args, String> {
    let c = <Cli as clap::Parser>::parse();
    let a = Args {
        multi: c.runtime == Runtime::Multi,
        listen: c.listen,
        timeout: c.timeout,
        max: c.max,
        tls_cert: c.tls_cert,
        tls_key: c.tls_key,
    };
    if a.max == 0 {
        return Err("--max-connections: must be at least 1".into());
    }
    Ok(a)
}

fn is_trimmed(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\0' | 0x0b)
}

/// Serves one connection; returns when it is closed.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, timeout: u64) {
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = [0u8; 4096];
    let mut out: Vec<u8> = Vec::new();
    loop {
        let read = s.read(&mut buf);
        let n = if timeout > 0 {
            match tokio::time::timeout(Duration::from_secs(timeout), read).await {
                Ok(r) => r,
                Err(_) => return, // idle timeout
            }
        } else {
            read.await
        };
        let n = match n {
            Ok(0) | Err(_) => {
                let _ = s.shutdown().await;
                return;
            }
            Ok(n) => n,
        };
        pending.extend_from_slice(&buf[..n]);
        let len = pending.len();
        if !(len > 1000 || (len > 4 && pending.ends_with(b"\r\n"))) {
            continue;
        }
        let start = pending.iter().position(|&b| !is_trimmed(b)).unwrap_or(len);
        let end = pending
            .iter()
            .rposition(|&b| !is_trimmed(b))
            .map_or(start, |i| i + 1);
        let msg = &pending[start..end];
        if msg.eq_ignore_ascii_case(b"QUIT") {
            let _ = s.shutdown().await;
            return;
        }
        if msg.len() > 1 {
            out.clear();
            out.extend(msg.iter().map(u8::to_ascii_uppercase));
            out.extend_from_slice(b"\r\n");
            if s.write_all(&out).await.is_err() {
                return;
            }
        }
        pending.clear();
    }
}

#[cfg(feature = "tls")]
type Acceptor = Option<Arc<openssl::ssl::SslAcceptor>>;
#[cfg(not(feature = "tls"))]
type Acceptor = Option<Arc<()>>;

#[cfg(feature = "tls")]
fn acceptor(a: &Args) -> std::io::Result<Acceptor> {
    use openssl::ssl::{SslAcceptor, SslFiletype, SslMethod};
    let (Some(cert), Some(key)) = (&a.tls_cert, &a.tls_key) else {
        return Ok(None);
    };
    let mut b =
        SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).map_err(std::io::Error::other)?;
    b.set_certificate_chain_file(cert)
        .map_err(std::io::Error::other)?;
    b.set_private_key_file(key, SslFiletype::PEM)
        .map_err(std::io::Error::other)?;
    Ok(Some(Arc::new(b.build())))
}

#[cfg(not(feature = "tls"))]
fn acceptor(a: &Args) -> std::io::Result<Acceptor> {
    if a.tls_cert.is_some() || a.tls_key.is_some() {
        return Err(std::io::Error::other(
            "built without TLS (bench feature `tls`)",
        ));
    }
    Ok(None)
}

async fn run(a: Args) -> std::io::Result<()> {
    let tls = acceptor(&a)?;
    let listener = bench::tokio_listener(a.listen)?;
    println!("Listening on {}...", listener.local_addr()?);
    let slots = Arc::new(Semaphore::new(a.max));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        // Take a slot before accepting: at the limit, clients wait in the backlog.
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => p.expect("semaphore never closes"),
            _ = term.recv() => return Ok(()),
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let (s, _) = tokio::select! {
            r = listener.accept() => r?,
            _ = term.recv() => return Ok(()),
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let timeout = a.timeout;
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                #[cfg(feature = "tls")]
                Some(acc) => {
                    if let Ok(ssl) = openssl::ssl::Ssl::new(acc.context()) {
                        if let Ok(mut t) = tokio_openssl::SslStream::new(ssl, s) {
                            if std::pin::Pin::new(&mut t).accept().await.is_ok() {
                                serve(t, timeout).await;
                            }
                        }
                    }
                }
                #[cfg(not(feature = "tls"))]
                Some(_) => {}
                None => serve(s, timeout).await,
            }
            drop(permit);
        });
    }
}

fn main() {
    let a = parse().unwrap_or_else(|e| {
        eprintln!("tokio-reference: {e}");
        std::process::exit(2);
    });
    let rt = if a.multi {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    }
    .expect("tokio runtime");
    if let Err(e) = rt.block_on(run(a)) {
        eprintln!("tokio-reference: {e}");
        std::process::exit(1);
    }
}
