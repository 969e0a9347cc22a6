//! The daemon's event wiring, as the article teaches it: one base, a listener, one
//! bufferevent per connection (read and event callbacks, timeouts, read watermark), and
//! a table of open connections keyed by id. Plus the four fixes of PROTOCOL.md.
//!
//! With `--workers N` there are N such loops, each on its own thread with its own base
//! and its own listener on the same port (SO_REUSEPORT, so the kernel spreads new
//! connections over them). What they share is in [`Shared`]: the connection count
//! against `--max-connections`, the id counter and the log. A worker that finds the
//! limit reached stops accepting and *parks*; whichever worker frees a slot wakes the
//! parked ones through a socket pair each of them watches.

use crate::config::Config;
use crate::log::Log;
use crate::protocol::{Action, Framer};
use libevent::{
    BevEvent, BufferEvent, BufferEventRef, CommonTimeout, Event, EventBase, Flags, Listener,
    ListenerFlags, Options,
};
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

macro_rules! logln {
    ($state:expr, $($arg:tt)*) => { $state.shared.log(format_args!($($arg)*)) };
}

/// How long a closed connection may linger, waiting for the peer's FIN.
const LINGER: Duration = Duration::from_secs(2);

/// How long accepting pauses after accept() failed (EMFILE and the like): a listener
/// that stays readable while accept() keeps failing would otherwise spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// One worker's door bell: the worker watches `rx`; anyone rings by writing to `tx`.
struct Bell {
    rx: UnixStream,
    tx: UnixStream,
    /// The worker stopped accepting because the limit was reached and wants to hear
    /// when a slot frees.
    parked: AtomicBool,
}

impl Bell {
    fn new() -> io::Result<Bell> {
        let (rx, tx) = UnixStream::pair()?;
        rx.set_nonblocking(true)?;
        tx.set_nonblocking(true)?;
        Ok(Bell {
            rx,
            tx,
            parked: AtomicBool::new(false),
        })
    }

    fn ring(&self) {
        // A full socket buffer means a ring is already pending: nothing is lost.
        let _ = (&self.tx).write(&[1]);
    }

    fn silence(&self) {
        let mut buf = [0u8; 64];
        while matches!((&self.rx).read(&mut buf), Ok(n) if n > 0) {}
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

/// A connection, keyed in `State::conns` by its bufferevent's address (see [`conn_key`]).
struct Conn {
    id: u64,
    bev: BufferEvent,
    framer: Framer,
    /// Decided to close; waiting for the output to drain (fix 3).
    closing: bool,
    /// Reading paused because too much output is unsent (fix 2).
    paused: bool,
    /// Output written and FIN sent; discarding input until the peer closes. Its slot is
    /// already free.
    lingering: bool,
}

struct State {
    index: usize,
    shared: Arc<Shared>,
    base: EventBase,
    /// Boxed: the table's slots stay two words, which at tens of thousands of idle
    /// connections (and the table's spare capacity) costs less memory than inline ones.
    conns: HashMap<usize, Box<Conn>>,
    /// The reply being built; shared by the worker's connections.
    reply: Vec<u8>,
    /// Accepted while every slot was taken (another worker took the last one between
    /// this worker's checks); served, in order, as slots free.
    waiting: VecDeque<TcpStream>,
    listener: Option<Listener>,
    /// Whether the listener is enabled.
    listening: bool,
    /// accept() failed; accepting resumes when `backoff_timer` fires.
    backoff: bool,
    backoff_timer: Option<Event>,
    bell_event: Option<Event>,
    /// `--timeout` and LINGER, as libevent common timeouts: every connection shares
    /// them, so libevent keeps each in a queue (O(1) per reset) rather than its heap.
    idle_timeout: Option<CommonTimeout>,
    linger_timeout: CommonTimeout,
    shutting_down: bool,
    finished: bool,
    grace_timer: Option<Event>,
}

/// Why a connection closes: decides what is logged and whether its output is flushed.
#[derive(Clone, Copy, PartialEq)]
enum Close {
    Quit,
    Eof,
    Error,
    Timeout,
    Shutdown,
}

impl State {
    fn accept(&mut self, stream: TcpStream) {
        if self.shutting_down {
            return;
        }
        if !self.waiting.is_empty() || !self.shared.reserve() {
            self.waiting.push_back(stream);
        } else {
            self.serve(stream);
        }
        self.refresh_listener();
    }

    /// Serves a connection whose slot is already reserved.
    fn serve(&mut self, stream: TcpStream) {
        let id = self.shared.next_id.fetch_add(1, SeqCst) + 1;
        logln!(self, "New connection (id = {id})...");
        let bev =
            BufferEvent::from_tcp(&self.base, stream, Options::empty()).and_then(|mut bev| {
                self.setup(&mut bev)?;
                Ok(bev)
            });
        match bev {
            Ok(bev) => {
                self.conns.insert(
                    conn_key(&bev),
                    Box::new(Conn {
                        id,
                        bev,
                        framer: Framer::new(),
                        closing: false,
                        paused: false,
                        lingering: false,
                    }),
                );
            }
            Err(e) => {
                logln!(self, "Error: {e} (id = {id})...");
                self.shared.release(self.index);
            }
        }
    }

    /// The callbacks capture nothing (the worker's state is thread-local and the
    /// connection is found by its bufferevent), so boxing them allocates nothing.
    fn setup(&self, bev: &mut BufferEvent) -> libevent::Result<()> {
        bev.on_read(|bev| with_state(|st| st.on_read(conn_key(bev), bev)))?;
        bev.on_event(|bev, what| with_state(|st| st.on_event(conn_key(bev), what)))?;
        bev.set_common_timeouts(self.idle_timeout, self.idle_timeout)?;
        bev.set_read_watermark(0, self.shared.cfg.read_high_watermark)?;
        bev.enable(Flags::READ)
    }

    /// Enables the listener when a connection could be served, disables it otherwise
    /// (fix 1: a listener left enabled at the limit makes the loop spin). At the limit
    /// the worker parks, to be woken when any worker frees a slot.
    fn refresh_listener(&mut self) {
        let full = !self.waiting.is_empty() || self.shared.at_limit();
        let want = !self.shutting_down && !self.backoff && !full;
        if want != self.listening {
            if let Some(l) = &self.listener {
                let r = if want { l.enable() } else { l.disable() };
                match r {
                    Ok(()) => self.listening = want,
                    Err(e) => logln!(self, "Error: {e}"),
                }
            }
        }
        if full && !self.shutting_down {
            let bell = &self.shared.bells[self.index];
            bell.parked.store(true, SeqCst);
            // A slot freed between the check above and the flag: nobody rang, so ring.
            if !self.shared.at_limit() {
                bell.ring();
            }
        }
    }

    /// The bell rang: a slot freed somewhere, or the daemon is stopping.
    fn on_bell(&mut self) {
        let bell = &self.shared.bells[self.index];
        bell.silence();
        bell.parked.store(false, SeqCst);
        if self.shared.stopping.load(SeqCst) {
            self.shutdown();
            return;
        }
        self.resume();
    }

    /// Serves waiting connections while slots are free, then re-enables accepting.
    fn resume(&mut self) {
        if self.shutting_down {
            return;
        }
        while !self.waiting.is_empty() && self.shared.reserve() {
            if let Some(stream) = self.waiting.pop_front() {
                self.serve(stream);
            }
        }
        self.refresh_listener();
    }

    fn accept_failed(&mut self, e: libevent::Error) {
        if self.backoff || self.shutting_down {
            return;
        }
        match e.errno() {
            Some(errno) => logln!(
                self,
                "Error: cannot accept: {}",
                io::Error::from_raw_os_error(errno)
            ),
            None => logln!(self, "Error: cannot accept: {e}"),
        }
        self.backoff = true;
        self.refresh_listener();
        let armed = self
            .backoff_timer
            .as_ref()
            .is_some_and(|t| t.add(Some(ACCEPT_BACKOFF)).is_ok());
        if !armed {
            self.backoff = false;
            self.refresh_listener();
        }
    }

    fn backoff_over(&mut self) {
        self.backoff = false;
        self.refresh_listener();
    }

    fn on_read(&mut self, key: usize, bev: &mut BufferEventRef) {
        let Some(conn) = self.conns.get_mut(&key) else {
            return;
        };
        if conn.closing {
            // Closing: what still arrives is not answered.
            let _ = bev.input_mut().drain(usize::MAX);
            return;
        }
        for chunk in bev.input().peek() {
            conn.framer.extend(chunk);
        }
        let _ = bev.input_mut().drain(usize::MAX);
        match conn
            .framer
            .decide(self.shared.cfg.max_message, &mut self.reply)
        {
            Action::Wait | Action::Silent => {}
            Action::Reply(reply) => {
                if conn.bev.write_direct(reply).is_err() {
                    self.close(key, Close::Error);
                    return;
                }
                if bev.output().len() > self.shared.cfg.output_limit {
                    self.pause(key);
                }
            }
            Action::Quit => self.close(key, Close::Quit),
        }
    }

    /// Fix 2: a client that sends without reading stops being read from until its
    /// output drains to half the limit.
    fn pause(&mut self, key: usize) {
        let low = self.shared.cfg.output_limit / 2;
        let Some(conn) = self.conns.get_mut(&key) else {
            return;
        };
        conn.paused = true;
        let r = conn
            .bev
            .disable(Flags::READ)
            .and_then(|_| conn.bev.set_write_watermark(low, 0))
            .and_then(|_| {
                conn.bev
                    .on_write(|bev| with_state(|st| st.on_drained(conn_key(bev), bev)))
            });
        if r.is_err() {
            self.close(key, Close::Error);
        }
    }

    fn on_drained(&mut self, key: usize, bev: &mut BufferEventRef) {
        let Some(conn) = self.conns.get_mut(&key) else {
            return;
        };
        if conn.closing {
            if bev.output().is_empty() && !conn.lingering {
                self.linger(key);
            }
            return;
        }
        if conn.paused {
            conn.paused = false;
            let r = conn
                .bev
                .set_write_watermark(0, 0)
                .and_then(|_| conn.bev.clear_write_callback())
                .and_then(|_| conn.bev.enable(Flags::READ));
            if r.is_err() {
                self.close(key, Close::Error);
            }
        }
    }

    fn on_event(&mut self, key: usize, what: BevEvent) {
        let Some(conn) = self.conns.get(&key) else {
            return;
        };
        if conn.closing {
            // A write error or timeout while flushing: give up on the rest.
            self.remove(key);
            return;
        }
        // The original checks in this order.
        let why = if what.contains(BevEvent::EOF) {
            Close::Eof
        } else if what.contains(BevEvent::ERROR) {
            Close::Error
        } else if what.contains(BevEvent::TIMEOUT) {
            Close::Timeout
        } else {
            return;
        };
        self.close(key, why);
    }

    fn close(&mut self, key: usize, why: Close) {
        let Some(id) = self.conns.get(&key).map(|c| c.id) else {
            return;
        };
        match why {
            Close::Eof => logln!(self, "Error: EVBUFFER_EOF (id = {id})..."),
            Close::Error => logln!(self, "Error: EVBUFFER_ERROR (id = {id})..."),
            Close::Timeout => logln!(self, "Error: EVBUFFER_TIMEOUT (id = {id})..."),
            Close::Quit | Close::Shutdown => {}
        }
        logln!(self, "Closing connection (id = {id})...");
        // Fix 3: replies already produced are written out before the close, except when
        // the socket is broken or the peer stopped taking data.
        let flush = matches!(why, Close::Quit | Close::Eof | Close::Shutdown);
        let Some(conn) = self.conns.get_mut(&key) else {
            return;
        };
        if !flush {
            self.remove(key);
            return;
        }
        conn.closing = true;
        if conn.bev.output().is_empty() {
            self.linger(key);
            return;
        }
        let r = conn
            .bev
            .disable(Flags::READ)
            .and_then(|_| conn.bev.set_write_watermark(0, 0))
            .and_then(|_| {
                conn.bev
                    .on_write(|bev| with_state(|st| st.on_drained(conn_key(bev), bev)))
            })
            .and_then(|_| conn.bev.enable(Flags::WRITE));
        if r.is_err() {
            self.remove(key);
        }
    }

    /// Everything written: send FIN and wait (up to LINGER) for the peer's, discarding
    /// what it still sends. Closing at once with unread input would make the kernel send
    /// a reset, which can destroy replies still on their way to the peer.
    fn linger(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(&key) else {
            return;
        };
        if conn.bev.shutdown(std::net::Shutdown::Write).is_err() {
            self.remove(key);
            return;
        }
        let r = conn
            .bev
            .set_common_timeouts(Some(self.linger_timeout), Some(self.linger_timeout))
            .and_then(|_| conn.bev.disable(Flags::WRITE))
            .and_then(|_| conn.bev.enable(Flags::READ));
        if r.is_err() {
            self.remove(key);
        } else {
            conn.lingering = true;
            self.slot_freed();
        }
    }

    fn remove(&mut self, key: usize) {
        // Dropping the BufferEvent frees it and closes the socket (also from inside its
        // own callback: the safe crate keeps it alive until the callback returns).
        let Some(conn) = self.conns.remove(&key) else {
            return;
        };
        if !conn.lingering {
            self.slot_freed();
        }
        if self.shutting_down && self.conns.is_empty() {
            self.finish();
        }
    }

    fn slot_freed(&mut self) {
        self.shared.release(self.index);
        self.resume();
    }

    /// Fix 4: SIGINT/SIGTERM. Worker 0 gets the signal and rings the other workers.
    fn shutdown(&mut self) {
        if self.shutting_down {
            return;
        }
        self.shutting_down = true;
        if !self.shared.stopping.swap(true, SeqCst) {
            for (i, bell) in self.shared.bells.iter().enumerate() {
                if i != self.index {
                    bell.ring();
                }
            }
        }
        self.listener = None;
        self.listening = false;
        // Never served: they go the way of the kernel's backlog.
        self.waiting.clear();
        // In the order they were accepted, as the log of one worker always was.
        let mut open: Vec<(u64, usize)> = self.conns.iter().map(|(&k, c)| (c.id, k)).collect();
        open.sort_unstable();
        for (_, key) in open {
            if self.conns.get(&key).is_some_and(|c| !c.closing) {
                self.close(key, Close::Shutdown);
            }
        }
        if self.conns.is_empty() {
            self.finish();
        } else {
            // Peers that do not read get the timeout (or 5 s) to take their replies.
            let grace = Duration::from_secs(self.shared.cfg.timeout.clamp(1, 5));
            if let Ok(timer) = Event::timer(&self.base, |_| with_state(|st| st.force_close())) {
                if timer.add(Some(grace)).is_ok() {
                    // The timer lives as long as the loop; it is freed with the state.
                    self.grace_timer = Some(timer);
                }
            }
        }
    }

    fn force_close(&mut self) {
        for (_, conn) in self.conns.drain() {
            if !conn.lingering {
                self.shared.active.fetch_sub(1, SeqCst);
            }
        }
        self.finish();
    }

    /// This worker is done: its loop ends. The last line of the log is written once
    /// every worker is done (see [`Server::run`]).
    fn finish(&mut self) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        let _ = self.base.loopbreak();
    }

    /// Frees everything the loop may still reference before the base goes.
    fn clear(&mut self) {
        self.conns.clear();
        self.waiting.clear();
        self.listener = None;
        self.grace_timer = None;
        self.backoff_timer = None;
        self.bell_event = None;
    }
}

thread_local! {
    /// The state of the worker whose loop runs on this thread.
    static WORKER: RefCell<Weak<RefCell<State>>> = const { RefCell::new(Weak::new()) };
}

/// The key of a connection in `State::conns`: its bufferevent's address, unique while
/// the connection is in the table (it leaves the table before the bufferevent is freed).
fn conn_key(bev: &BufferEventRef) -> usize {
    bev.as_raw() as usize
}

/// Runs `f` on this thread's worker state.
fn with_state(f: impl FnOnce(&mut State)) {
    if let Some(st) = WORKER.with(|w| w.borrow().upgrade()) {
        // Callbacks never nest (libevent runs them one at a time, and nothing here runs
        // one synchronously), so the state is free.
        if let Ok(mut st) = st.try_borrow_mut() {
            f(&mut st);
        }
    }
}

fn listen_error(addr: SocketAddr, e: libevent::Error) -> String {
    match e.errno() {
        Some(errno) => format!(
            "cannot listen on {addr}: {}",
            io::Error::from_raw_os_error(errno)
        ),
        None => format!("cannot listen on {addr}: {e}"),
    }
}

/// One worker's loop and state, on the thread that made it.
struct Worker {
    state: Rc<RefCell<State>>,
    _signals: Vec<Event>,
}

impl Worker {
    /// Makes worker `index`: a base, a listener on `addr` and the bell; worker 0 also
    /// takes SIGINT and SIGTERM.
    fn start(shared: Arc<Shared>, index: usize, addr: SocketAddr) -> Result<Worker, String> {
        let base = EventBase::new().map_err(|e| e.to_string())?;
        let timeout = shared.cfg.timeout;
        let idle_timeout = (timeout > 0)
            .then(|| base.common_timeout(Duration::from_secs(timeout)))
            .transpose()
            .map_err(|e| e.to_string())?;
        let linger_timeout = base.common_timeout(LINGER).map_err(|e| e.to_string())?;
        let state = Rc::new(RefCell::new(State {
            idle_timeout,
            linger_timeout,
            index,
            shared: shared.clone(),
            base: base.clone(),
            conns: HashMap::new(),
            reply: Vec::new(),
            waiting: VecDeque::new(),
            listener: None,
            listening: true,
            backoff: false,
            backoff_timer: None,
            bell_event: None,
            shutting_down: false,
            finished: false,
            grace_timer: None,
        }));
        WORKER.with(|w| *w.borrow_mut() = Rc::downgrade(&state));
        let mut flags = ListenerFlags::REUSEABLE | ListenerFlags::CLOSE_ON_EXEC;
        if shared.bells.len() > 1 {
            flags |= ListenerFlags::REUSEABLE_PORT;
        }
        let mut listener =
            Listener::bind(&base, addr, shared.cfg.backlog, flags, |stream, _peer| {
                with_state(|st| st.accept(stream))
            })
            .map_err(|e| listen_error(addr, e))?;
        listener
            .on_error(|e| with_state(|st| st.accept_failed(e)))
            .map_err(|e| e.to_string())?;
        let backoff_timer = Event::timer(&base, |_| with_state(|st| st.backoff_over()))
            .map_err(|e| e.to_string())?;
        let bell_fd = shared.bells[index].rx.as_raw_fd();
        let bell_event = Event::new(&base, bell_fd, Flags::READ | Flags::PERSIST, |_| {
            with_state(|st| st.on_bell())
        })
        .and_then(|ev| ev.add(None).map(|_| ev))
        .map_err(|e| e.to_string())?;
        let mut signals = Vec::new();
        if index == 0 {
            for sig in [libc::SIGINT, libc::SIGTERM] {
                let ev = Event::signal(&base, sig, |_| with_state(|st| st.shutdown()))
                    .and_then(|ev| ev.add(None).map(|_| ev))
                    .map_err(|e| e.to_string())?;
                signals.push(ev);
            }
        }
        {
            let mut st = state.borrow_mut();
            st.listener = Some(listener);
            st.backoff_timer = Some(backoff_timer);
            st.bell_event = Some(bell_event);
        }
        Ok(Worker {
            state,
            _signals: signals,
        })
    }

    fn local_addr(&self) -> Result<SocketAddr, String> {
        let st = self.state.borrow();
        let l = st.listener.as_ref().ok_or("no listener")?;
        l.local_addr().map_err(|e| e.to_string())
    }

    /// Runs the loop until this worker's part of the shutdown is complete.
    fn run(self) -> Result<(), String> {
        let base = self.state.borrow().base.clone();
        let r = base
            .run(libevent::LoopFlags::NO_EXIT_ON_EMPTY)
            .map(|_| ())
            .map_err(|e| e.to_string());
        self.state.borrow_mut().clear();
        r
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
    pub fn bind(cfg: Config, log: Log) -> Result<(Server, SocketAddr), String> {
        let bells = (0..cfg.workers)
            .map(|_| Bell::new())
            .collect::<io::Result<Vec<_>>>()
            .map_err(|e| format!("cannot make the workers' wake-up sockets: {e}"))?;
        let shared = Arc::new(Shared {
            cfg: cfg.clone(),
            active: AtomicUsize::new(0),
            next_id: AtomicU64::new(0),
            log: Mutex::new(log),
            stopping: AtomicBool::new(false),
            bells,
        });
        let first = Worker::start(shared.clone(), 0, cfg.listen)?;
        // With port 0 the kernel chose one: the other workers join that one.
        let addr = first.local_addr()?;
        let mut others = Vec::new();
        for index in 1..cfg.workers {
            let (ready_tx, ready_rx) = mpsc::channel();
            let (go_tx, go_rx) = mpsc::channel::<()>();
            let shared = shared.clone();
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
                    // A worker that stops serving takes the daemon down with it, rather
                    // than leaving its share of the port unserved.
                    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| worker.run()));
                    match r {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => {
                            eprintln!("eventd: worker {index}: {e}");
                            std::process::exit(1);
                        }
                        Err(_) => std::process::exit(101),
                    }
                })
                .map_err(|e| format!("cannot start worker {index}: {e}"))?;
            match ready_rx.recv() {
                Ok(Ok(())) => others.push((thread, go_tx)),
                Ok(Err(e)) => return Err(e),
                Err(_) => return Err(format!("worker {index} failed to start")),
            }
        }
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
    pub fn run(self) -> Result<(), String> {
        let mut threads = Vec::new();
        for (thread, go) in self.others {
            let _ = go.send(());
            threads.push(thread);
        }
        let r = self.first.run();
        for t in threads {
            if t.join().is_err() {
                return Err("a worker panicked".into());
            }
        }
        self.shared.log(format_args!("Daemon is shutting down..."));
        r
    }
}
