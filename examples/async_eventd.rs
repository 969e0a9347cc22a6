//! eventd's protocol (../shared/PROTOCOL.md, "PHP Daemon, part III") in async style: one
//! task per connection on an `EventBase`, over `libevent::task`'s streams and timers.
//!
//!     async_eventd [--listen ADDR] [--timeout SECS] [--max-connections N]
//!
//! Logs to standard output as the original does. The project's conformance replay runs
//! against it (tests/async_eventd.rs), byte for byte, log lines included.

use futures_util::AsyncWriteExt;
use libevent::task::{self, TcpListener, TcpStream};
use libevent::EventBase;
use std::cell::Cell;
use std::io::{ErrorKind, Write};
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

/// One socket read takes at most this much (libevent's EVBUFFER_MAX_READ in the original).
const READ: usize = 4096;
const MAX_SIZE: usize = 1000;

/// "[YYYY-MM-DD HH:MM:SS] message" in local time, flushed at once.
fn log(msg: std::fmt::Arguments) {
    // SAFETY: time(NULL) and localtime_r with valid pointers; an all-zero tm is valid.
    let tm = unsafe {
        let now = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&now, &mut tm);
        tm
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "[{}-{:02}-{:02} {:02}:{:02}:{:02}] {msg}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    );
    let _ = out.flush();
}

/// How many connections are open, and the acceptor waiting for one to close.
#[derive(Default)]
struct Slots {
    open: Cell<usize>,
    waiter: Cell<Option<Waker>>,
}

/// The reply a complete `pending` gets: `None` for nothing, `Some(None)` for QUIT.
fn answer(pending: &[u8]) -> Option<Option<Vec<u8>>> {
    let blank = |b: &u8| b" \t\n\r\0\x0b".contains(b);
    let start = pending
        .iter()
        .position(|b| !blank(b))
        .unwrap_or(pending.len());
    let end = pending
        .iter()
        .rposition(|b| !blank(b))
        .map_or(start, |i| i + 1);
    let msg = &pending[start..end];
    if msg.is_empty() || msg == b"0" {
        return None;
    }
    if msg.eq_ignore_ascii_case(b"QUIT") {
        return Some(None);
    }
    let mut reply = msg.to_ascii_uppercase();
    if reply.len() < 2 {
        return None;
    }
    reply.extend_from_slice(b"\r\n");
    Some(Some(reply))
}

/// The original's name for why a connection ended.
fn failure(e: &std::io::Error) -> &'static str {
    match e.kind() {
        ErrorKind::TimedOut => "EVBUFFER_TIMEOUT",
        _ => "EVBUFFER_ERROR",
    }
}

/// Serves one connection until QUIT, end of stream, an error or the timeout.
async fn serve(mut s: TcpStream, id: u64) {
    let mut pending = Vec::new();
    let why = loop {
        // Straight from the bufferevent's input: an idle connection holds no read buffer.
        match s.read_append(&mut pending, READ).await {
            Ok(0) => break "EVBUFFER_EOF",
            Ok(_) => {}
            Err(e) => break failure(&e),
        }
        let ready = pending.len() > MAX_SIZE || (pending.len() > 4 && pending.ends_with(b"\r\n"));
        if !ready {
            continue;
        }
        match answer(&std::mem::take(&mut pending)) {
            None => {}
            Some(None) => {
                log(format_args!("Closing connection (id = {id})..."));
                return; // dropped: what is queued is still written, then it closes
            }
            // Waits while the peer does not read: no more is read from it meanwhile.
            Some(Some(reply)) => {
                if let Err(e) = s.write_all(&reply).await {
                    break failure(&e);
                }
            }
        }
    };
    log(format_args!("Error: {why} (id = {id})..."));
    log(format_args!("Closing connection (id = {id})..."));
    let _ = s.close().await; // replies already made go out before the FIN
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut listen, mut timeout, mut max) = ("0.0.0.0:1234".to_string(), 10u64, 100usize);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--listen" => listen = value,
            "--timeout" => timeout = value.parse()?,
            "--max-connections" => max = value.parse()?,
            _ => return Err(format!("unknown flag {flag}").into()),
        }
    }
    if max == 0 {
        return Err("--max-connections must be at least 1".into());
    }
    let timeout = (timeout > 0).then(|| Duration::from_secs(timeout));
    let base = EventBase::new()?;
    base.block_on(async move {
        let mut listener = TcpListener::bind(listen.parse()?)?;
        log(format_args!("Listening on {}...", listener.local_addr()?));
        let slots = Rc::new(Slots::default());
        for id in 1.. {
            // At the limit, wait for a connection to close; new ones wait in the backlog.
            std::future::poll_fn(|cx| {
                if slots.open.get() < max {
                    return Poll::Ready(());
                }
                slots.waiter.set(Some(cx.waker().clone()));
                Poll::Pending
            })
            .await;
            let (stream, _) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    log(format_args!("Error: accept failed: {e}"));
                    task::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            log(format_args!("New connection (id = {id})..."));
            stream.set_timeouts(timeout, timeout)?;
            slots.open.set(slots.open.get() + 1);
            let slots = slots.clone();
            task::spawn(async move {
                serve(stream, id).await;
                slots.open.set(slots.open.get() - 1);
                if let Some(w) = slots.waiter.take() {
                    w.wake();
                }
            })?
            .detach();
        }
        Ok::<(), Box<dyn std::error::Error>>(())
    })?
}
