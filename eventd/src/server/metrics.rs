//! `--metrics`: the daemon's counters, and the HTTP endpoint (libevent's evhttp, on the
//! first worker's own loop) that serves them in the Prometheus text format.
//!
//! Each worker counts in its own [`Counters`], written by that worker's thread only, so
//! counting is a plain load and store (no locked instruction, no shared cache line);
//! the endpoint sums over workers when it is scraped.

use super::Shared;
use libevent::http::Method;
use libevent::{EventBase, Http, Request};
use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// Why a connection closes: decides what is logged and whether its output is flushed.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Close {
    Quit,
    Eof,
    Error,
    Timeout,
    Shutdown,
}

/// One worker's counters (its own cache lines).
#[derive(Default)]
#[repr(align(128))]
pub(super) struct Counters {
    pub(super) open: AtomicU64,
    pub(super) connections: AtomicU64,
    pub(super) messages: AtomicU64,
    pub(super) replies: AtomicU64,
    pub(super) bytes_received: AtomicU64,
    pub(super) bytes_sent: AtomicU64,
    /// By [`Close`] reason, in [`REASONS`] order.
    pub(super) closes: [AtomicU64; 5],
}

const REASONS: [(Close, &str); 5] = [
    (Close::Quit, "quit"),
    (Close::Eof, "eof"),
    (Close::Error, "error"),
    (Close::Timeout, "timeout"),
    (Close::Shutdown, "shutdown"),
];

/// Adds `n`: only the owning worker writes, so no read-modify-write is needed.
#[inline]
pub(super) fn add(c: &AtomicU64, n: u64) {
    c.store(c.load(Relaxed).wrapping_add(n), Relaxed);
}

impl Counters {
    pub(super) fn closed(&self, why: Close) {
        if let Some(i) = REASONS.iter().position(|(r, _)| *r == why) {
            add(&self.closes[i], 1);
        }
    }
}

fn sum(shared: &Shared, f: impl Fn(&Counters) -> &AtomicU64) -> u64 {
    shared.counters.iter().map(|c| f(c).load(Relaxed)).sum()
}

/// The resident set size, from /proc/self/statm.
fn rss_bytes() -> u64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * u64::try_from(page).unwrap_or(4096)
}

/// The exposition, summed over workers.
pub(super) fn render(shared: &Shared) -> String {
    let mut out = String::with_capacity(2048);
    let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
        let _ = write!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
        );
    };
    metric(
        "eventd_connections_active",
        "gauge",
        "Connections open now (lingering ones included).",
        sum(shared, |c| &c.open),
    );
    metric(
        "eventd_connections_total",
        "counter",
        "Connections accepted and served.",
        sum(shared, |c| &c.connections),
    );
    metric(
        "eventd_messages_total",
        "counter",
        "Messages framed (answered or not).",
        sum(shared, |c| &c.messages),
    );
    metric(
        "eventd_replies_total",
        "counter",
        "Replies sent.",
        sum(shared, |c| &c.replies),
    );
    metric(
        "eventd_bytes_received_total",
        "counter",
        "Bytes read from clients.",
        sum(shared, |c| &c.bytes_received),
    );
    metric(
        "eventd_bytes_sent_total",
        "counter",
        "Bytes of replies written to clients.",
        sum(shared, |c| &c.bytes_sent),
    );
    metric(
        "eventd_listener_paused",
        "gauge",
        "1 while accepting is paused at --max-connections.",
        u64::from(shared.at_limit()),
    );
    metric(
        "eventd_rss_bytes",
        "gauge",
        "Resident set size of the process.",
        rss_bytes(),
    );
    out.push_str("# HELP eventd_closes_total Connections closed, by reason.\n# TYPE eventd_closes_total counter\n");
    for (i, (_, reason)) in REASONS.iter().enumerate() {
        let n: u64 = shared
            .counters
            .iter()
            .map(|c| c.closes[i].load(Relaxed))
            .sum();
        let _ = writeln!(out, "eventd_closes_total{{reason=\"{reason}\"}} {n}");
    }
    out
}

/// Starts the endpoint on `base`; returns the server (dropped with the worker's state)
/// and the address it is bound to.
pub(super) fn serve(
    base: &EventBase,
    shared: Arc<Shared>,
    addr: SocketAddr,
) -> libevent::Result<(Http, SocketAddr)> {
    let http = Http::new(base)?;
    http.set_timeout(std::time::Duration::from_secs(10))?;
    http.set_max_body_size(4096);
    http.on_path("/metrics", move |req| {
        if only_get(&req) {
            let body = render(&shared);
            reply(
                req,
                "text/plain; version=0.0.4; charset=utf-8",
                body.as_bytes(),
            );
        } else {
            let _ = req.send_error(405, None);
        }
    })?;
    http.on_path("/healthz", |req| reply(req, "text/plain", b"ok"))?;
    http.on_request(|req| {
        let _ = req.send_error(404, None);
    });
    let bound = http.bind(addr)?;
    let local = bound.local_addr().unwrap_or(addr);
    Ok((http, local))
}

fn only_get(req: &Request) -> bool {
    matches!(req.method(), Some(Method::Get | Method::Head))
}

fn reply(mut req: Request, content_type: &str, body: &[u8]) {
    let _ = req.output_headers().add("Content-Type", content_type);
    let _ = req.send_reply(200, None, body);
}
