//! The daemon's event wiring, as the article teaches it: one base, a listener, one
//! bufferevent per connection (read and event callbacks, timeouts, read watermark), and
//! a table of open connections keyed by id. Plus the four fixes of PROTOCOL.md.
//!
//! With `--workers N` there are N such loops, each on its own thread with its own base
//! and its own listener on the same port (SO_REUSEPORT, so the kernel spreads new
//! connections over them). What they share is in [`Shared`]: the connection count
//! against `--max-connections`, the id counter and the log. A worker that finds the
//! limit reached stops accepting and *parks*; whichever worker frees a slot wakes the
//! parked ones through its [`Bell`].
//!
//! - `worker`: one worker's loop, listener and accepting (fix 1, the accept back-off);
//! - `conn`: a connection's phases, replies and close (fixes 2 and 3, the linger);
//! - `bell`: how workers wake each other;
//! - `shutdown`: SIGINT and SIGTERM (fix 4);
//! - `metrics`: the counters, and `--metrics` (an evhttp server on worker 0's loop);
//! - `tls`: `--tls-cert`/`--tls-key`, each connection's bufferevent a TLS one.

mod bell;
mod conn;
mod metrics;
mod shutdown;
mod tls;
mod worker;

use crate::config::Config;
use crate::log::Log;
use anyhow::{anyhow, Context, Result};
use bell::Bell;
use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Weak;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;
use worker::{State, Worker};

/// How long a closed connection may linger, waiting for the peer's FIN.
const LINGER: Duration = Duration::from_secs(2);

/// How long accepting pauses after accept() failed (EMFILE and the like): a listener
/// that stays readable while accept() keeps failing would otherwise spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// How long after the last connection went the worker gives memory back (a few loop
/// passes, so libevent's finalizers have freed the closed connections).
const TRIM_DELAY: Duration = Duration::from_millis(50);

/// Returns the heap's free pages to the system (glibc; elsewhere nothing).
fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory to the system.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// What the workers share.
struct Shared {
    cfg: Config,
    /// Connections counted against `--max-connections`, over all workers.
    active: AtomicUsize,
    next_id: AtomicU64,
    log: Mutex<Log>,
    /// SIGINT or SIGTERM arrived (worker 0 handles signals and rings the others).
    stopping: AtomicBool,
    bells: Vec<Bell>,
    /// One per worker, for `--metrics`.
    counters: Vec<metrics::Counters>,
    /// `--tls-cert`: every connection is TLS.
    tls: Option<tls::Tls>,
}

impl Shared {
    fn log(&self, args: std::fmt::Arguments<'_>) {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .line(args);
    }

    /// Takes a slot under the limit, if one is free.
    fn reserve(&self) -> bool {
        let max = self.cfg.max_connections;
        self.active
            .fetch_update(SeqCst, SeqCst, |n| (n < max).then_some(n + 1))
            .is_ok()
    }

    fn at_limit(&self) -> bool {
        self.active.load(SeqCst) >= self.cfg.max_connections
    }

    /// Gives a slot back and wakes the other workers that wait for one.
    fn release(&self, me: usize) {
        self.active.fetch_sub(1, SeqCst);
        for (i, bell) in self.bells.iter().enumerate() {
            if i != me && bell.parked.load(SeqCst) {
                bell.ring();
            }
        }
    }
}

/// Runs `f` on a worker's state, if the worker is still there. Callbacks never nest
/// (libevent runs them one at a time, and nothing here runs one synchronously), so the
/// state is free.
fn with_state(worker: &Weak<RefCell<State>>, f: impl FnOnce(&mut State)) {
    if let Some(st) = worker.upgrade() {
        if let Ok(mut st) = st.try_borrow_mut() {
            f(&mut st);
        }
    }
}

/// Binds, serves until SIGINT or SIGTERM, and returns after the shutdown.
pub struct Server {
    shared: Arc<Shared>,
    first: Worker,
    /// Workers 1.., each on its thread, waiting for the go.
    others: Vec<(JoinHandle<()>, mpsc::Sender<()>)>,
}

impl Server {
    /// Binds every worker's listener; logs "Listening on ...".
    pub fn bind(cfg: Config, log: Log) -> Result<(Server, SocketAddr)> {
        let bells = (0..cfg.workers)
            .map(|_| Bell::new())
            .collect::<std::io::Result<Vec<_>>>()
            .context("cannot make the workers' wake-up sockets")?;
        let shared = Arc::new(Shared {
            cfg: cfg.clone(),
            active: AtomicUsize::new(0),
            next_id: AtomicU64::new(0),
            log: Mutex::new(log),
            stopping: AtomicBool::new(false),
            bells,
            counters: (0..cfg.workers).map(|_| Default::default()).collect(),
            tls: match (&cfg.tls_cert, &cfg.tls_key) {
                (Some(cert), Some(key)) => Some(tls::Tls::load(cert, key)?),
                _ => None,
            },
        });
        let first = Worker::start(shared.clone(), 0, cfg.listen)?;
        // With port 0 the kernel chose one: the other workers join that one.
        let addr = first.local_addr()?;
        let others = (1..cfg.workers)
            .map(|index| spawn_worker(shared.clone(), index, addr))
            .collect::<Result<Vec<_>>>()?;
        shared.log(format_args!("Listening on {addr}..."));
        Ok((
            Server {
                shared,
                first,
                others,
            },
            addr,
        ))
    }

    /// Runs every worker until the shutdown is complete.
    pub fn run(self) -> Result<()> {
        let mut threads = Vec::new();
        for (thread, go) in self.others {
            let _ = go.send(());
            threads.push(thread);
        }
        let r = self.first.run();
        for t in threads {
            if t.join().is_err() {
                return Err(anyhow!("a worker panicked"));
            }
        }
        self.shared.log(format_args!("Daemon is shutting down..."));
        r
    }
}

/// Starts worker `index` on its own thread; it binds, reports, then waits for the go
/// (sent by [`Server::run`]), so that a worker that cannot bind fails the start.
fn spawn_worker(
    shared: Arc<Shared>,
    index: usize,
    addr: SocketAddr,
) -> Result<(JoinHandle<()>, mpsc::Sender<()>)> {
    let (ready_tx, ready_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name(format!("eventd-{index}"))
        .spawn(move || {
            let worker = match Worker::start(shared, index, addr) {
                Ok(w) => {
                    let _ = ready_tx.send(Ok(()));
                    w
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            if go_rx.recv().is_err() {
                return; // another worker failed to start
            }
            // A worker that stops serving takes the daemon down with it, rather than
            // leaving its share of the port unserved.
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| worker.run())) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    eprintln!("eventd: worker {index}: {e:#}");
                    std::process::exit(1);
                }
                Err(_) => std::process::exit(101),
            }
        })
        .with_context(|| format!("cannot start worker {index}"))?;
    match ready_rx.recv() {
        Ok(Ok(())) => Ok((thread, go_tx)),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(anyhow!("worker {index} failed to start")),
    }
}
