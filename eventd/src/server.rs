//! The daemon's event wiring, as the article teaches it: one base, a listener, one
//! bufferevent per connection (read and event callbacks, timeouts, read watermark), and
//! a table of open connections keyed by id. Plus the four fixes of PROTOCOL.md.

use crate::config::Config;
use crate::log::Log;
use crate::protocol::{Action, Framer};
use libevent::{
    BevEvent, BufferEvent, BufferEventRef, Event, EventBase, Flags, Listener, ListenerFlags,
    Options,
};
use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{SocketAddr, TcpStream};
use std::rc::{Rc, Weak};
use std::time::Duration;

macro_rules! logln {
    ($state:expr, $($arg:tt)*) => { $state.log.line(format_args!($($arg)*)) };
}

struct Conn {
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

/// How long a closed connection may linger, waiting for the peer's FIN.
const LINGER: Duration = Duration::from_secs(2);

struct State {
    cfg: Config,
    base: EventBase,
    log: Log,
    conns: HashMap<u64, Conn>,
    /// How many of `conns` are lingering (not counted against the limit).
    lingering: usize,
    next_id: u64,
    listener: Option<Listener>,
    accepting: bool,
    shutting_down: bool,
    finished: bool,
    grace_timer: Option<Event>,
    me: Weak<RefCell<State>>,
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
        self.next_id += 1;
        let id = self.next_id;
        logln!(self, "New connection (id = {id})...");
        let mut bev = match BufferEvent::from_tcp(&self.base, stream, Options::empty()) {
            Ok(b) => b,
            Err(e) => {
                logln!(self, "Error: {e} (id = {id})...");
                return;
            }
        };
        if let Err(e) = self.setup(&mut bev, id) {
            logln!(self, "Error: {e} (id = {id})...");
            return;
        }
        self.conns.insert(
            id,
            Conn {
                bev,
                framer: Framer::new(self.cfg.max_message),
                closing: false,
                paused: false,
                lingering: false,
            },
        );
        if self.active() >= self.cfg.max_connections {
            // Fix 1: stop accepting instead of spinning on a listener that stays readable.
            self.set_accepting(false);
        }
    }

    fn setup(&self, bev: &mut BufferEvent, id: u64) -> libevent::Result<()> {
        let me = self.me.clone();
        bev.on_read(move |bev| with_state(&me, |st| st.on_read(id, bev)))?;
        let me = self.me.clone();
        bev.on_event(move |bev, what| with_state(&me, |st| st.on_event(id, bev, what)))?;
        let t = (self.cfg.timeout > 0).then(|| Duration::from_secs(self.cfg.timeout));
        bev.set_timeouts(t, t)?;
        bev.set_read_watermark(0, self.cfg.read_high_watermark)?;
        bev.enable(Flags::READ)
    }

    /// Connections counted against `--max-connections`.
    fn active(&self) -> usize {
        self.conns.len() - self.lingering
    }

    fn set_accepting(&mut self, on: bool) {
        if self.accepting == on {
            return;
        }
        if let Some(l) = &self.listener {
            let r = if on { l.enable() } else { l.disable() };
            if let Err(e) = r {
                logln!(self, "Error: {e}");
                return;
            }
        }
        self.accepting = on;
    }

    fn on_read(&mut self, id: u64, bev: &mut BufferEventRef) {
        let Some(conn) = self.conns.get_mut(&id) else {
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
        match conn.framer.decide() {
            Action::Wait | Action::Silent => {}
            Action::Reply(reply) => {
                if bev.write(reply).is_err() {
                    self.close(id, Close::Error);
                    return;
                }
                if bev.output().len() > self.cfg.output_limit {
                    self.pause(id);
                }
            }
            Action::Quit => self.close(id, Close::Quit),
        }
    }

    /// Fix 2: a client that sends without reading stops being read from until its
    /// output drains to half the limit.
    fn pause(&mut self, id: u64) {
        let low = self.cfg.output_limit / 2;
        let me = self.me.clone();
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        conn.paused = true;
        let r = conn
            .bev
            .disable(Flags::READ)
            .and_then(|_| conn.bev.set_write_watermark(low, 0))
            .and_then(|_| {
                conn.bev
                    .on_write(move |bev| with_state(&me, |st| st.on_drained(id, bev)))
            });
        if r.is_err() {
            self.close(id, Close::Error);
        }
    }

    fn on_drained(&mut self, id: u64, bev: &mut BufferEventRef) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        if conn.closing {
            if bev.output().is_empty() && !conn.lingering {
                self.linger(id);
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
                self.close(id, Close::Error);
            }
        }
    }

    fn on_event(&mut self, id: u64, _bev: &mut BufferEventRef, what: BevEvent) {
        let Some(conn) = self.conns.get(&id) else {
            return;
        };
        if conn.closing {
            // A write error or timeout while flushing: give up on the rest.
            self.remove(id);
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
        self.close(id, why);
    }

    fn close(&mut self, id: u64, why: Close) {
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
        let me = self.me.clone();
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        if !flush {
            self.remove(id);
            return;
        }
        conn.closing = true;
        if conn.bev.output().is_empty() {
            self.linger(id);
            return;
        }
        let r = conn
            .bev
            .disable(Flags::READ)
            .and_then(|_| conn.bev.set_write_watermark(0, 0))
            .and_then(|_| {
                conn.bev
                    .on_write(move |bev| with_state(&me, |st| st.on_drained(id, bev)))
            })
            .and_then(|_| conn.bev.enable(Flags::WRITE));
        if r.is_err() {
            self.remove(id);
        }
    }

    /// Everything written: send FIN and wait (up to LINGER) for the peer's, discarding
    /// what it still sends. Closing at once with unread input would make the kernel send
    /// a reset, which can destroy replies still on their way to the peer.
    fn linger(&mut self, id: u64) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        if conn.bev.shutdown(std::net::Shutdown::Write).is_err() {
            self.remove(id);
            return;
        }
        conn.lingering = true;
        self.lingering += 1;
        let r = conn
            .bev
            .set_timeouts(Some(LINGER), Some(LINGER))
            .and_then(|_| conn.bev.disable(Flags::WRITE))
            .and_then(|_| conn.bev.enable(Flags::READ));
        if r.is_err() {
            self.remove(id);
        } else {
            self.slot_freed();
        }
    }

    fn remove(&mut self, id: u64) {
        // Dropping the BufferEvent frees it and closes the socket (also from inside its
        // own callback: the safe crate keeps it alive until the callback returns).
        let Some(conn) = self.conns.remove(&id) else {
            return;
        };
        if conn.lingering {
            self.lingering -= 1;
        } else {
            self.slot_freed();
        }
        if self.shutting_down && self.conns.is_empty() {
            self.finish();
        }
    }

    fn slot_freed(&mut self) {
        if !self.shutting_down && self.active() < self.cfg.max_connections {
            self.set_accepting(true);
        }
    }

    /// Fix 4: SIGINT/SIGTERM.
    fn shutdown(&mut self) {
        if self.shutting_down {
            return;
        }
        self.shutting_down = true;
        self.listener = None;
        let mut ids: Vec<u64> = self.conns.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            if self.conns.get(&id).is_some_and(|c| !c.closing) {
                self.close(id, Close::Shutdown);
            }
        }
        if self.conns.is_empty() {
            self.finish();
        } else {
            // Peers that do not read get the timeout (or 5 s) to take their replies.
            let grace = Duration::from_secs(self.cfg.timeout.clamp(1, 5));
            let me = self.me.clone();
            if let Ok(timer) =
                Event::timer(&self.base, move |_| with_state(&me, |st| st.force_close()))
            {
                if timer.add(Some(grace)).is_ok() {
                    // The timer lives as long as the loop; it is freed with the state.
                    self.grace_timer = Some(timer);
                }
            }
        }
    }

    fn force_close(&mut self) {
        self.conns.clear();
        self.finish();
    }

    fn finish(&mut self) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        logln!(self, "Daemon is shutting down...");
        let _ = self.base.loopbreak();
    }
}

fn with_state(me: &Weak<RefCell<State>>, f: impl FnOnce(&mut State)) {
    if let Some(st) = me.upgrade() {
        // Callbacks never nest (libevent runs them one at a time, and nothing here runs
        // one synchronously), so the state is free.
        if let Ok(mut st) = st.try_borrow_mut() {
            f(&mut st);
        }
    }
}

/// Binds, serves until SIGINT or SIGTERM, and returns after the shutdown.
pub struct Server {
    state: Rc<RefCell<State>>,
    _signals: Vec<Event>,
}

impl Server {
    /// Binds the listener; logs "Listening on ...".
    pub fn bind(cfg: Config, log: Log) -> Result<(Server, SocketAddr), String> {
        let base = EventBase::new().map_err(|e| e.to_string())?;
        let state = Rc::new_cyclic(|me| {
            RefCell::new(State {
                cfg: cfg.clone(),
                base: base.clone(),
                log,
                conns: HashMap::new(),
                lingering: 0,
                next_id: 0,
                listener: None,
                accepting: true,
                shutting_down: false,
                finished: false,
                me: me.clone(),
                grace_timer: None,
            })
        });
        let me = Rc::downgrade(&state);
        let listener = Listener::bind(
            &base,
            cfg.listen,
            128,
            ListenerFlags::REUSEABLE | ListenerFlags::CLOSE_ON_EXEC,
            move |stream, _peer| with_state(&me, |st| st.accept(stream)),
        )
        .map_err(|e| match e.errno() {
            Some(errno) => format!(
                "cannot listen on {}: {}",
                cfg.listen,
                std::io::Error::from_raw_os_error(errno)
            ),
            None => format!("cannot listen on {}: {e}", cfg.listen),
        })?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let mut signals = Vec::new();
        for sig in [libc::SIGINT, libc::SIGTERM] {
            let me = Rc::downgrade(&state);
            let ev = Event::signal(&base, sig, move |_| with_state(&me, |st| st.shutdown()))
                .map_err(|e| e.to_string())?;
            ev.add(None).map_err(|e| e.to_string())?;
            signals.push(ev);
        }
        {
            let mut st = state.borrow_mut();
            st.listener = Some(listener);
            logln!(st, "Listening on {}...", addr);
        }
        Ok((
            Server {
                state,
                _signals: signals,
            },
            addr,
        ))
    }

    /// Runs the loop until the shutdown is complete.
    pub fn run(self) -> Result<(), String> {
        let base = self.state.borrow().base.clone();
        base.run(libevent::LoopFlags::NO_EXIT_ON_EMPTY)
            .map_err(|e| e.to_string())?;
        let mut st = self.state.borrow_mut();
        st.conns.clear();
        st.listener = None;
        st.grace_timer = None;
        Ok(())
    }
}
