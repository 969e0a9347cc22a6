//! One worker: its event base, its listener and its share of the connections, run on
//! one thread. Accepting, the connection limit (fix 1) and the back-off after a failed
//! accept live here; connections in conn.rs, the shutdown in shutdown.rs.

use super::conn::{Conns, Ctx};
use super::metrics;
use super::{trim, with_state, Shared, ACCEPT_BACKOFF, LINGER};
use anyhow::{Context, Result};
use libevent::bufferevent::Options;
use libevent::event::Flags;
use libevent::listener::ListenerFlags;
use libevent::{BufferEvent, Event, EventBase, Http, Listener};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::rc::{Rc, Weak};
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;
use std::time::Duration;

/// A worker's state, reached from its callbacks through a `Weak` (the connections',
/// through their context).
pub(super) struct State {
    /// This state, for the callbacks it sets up.
    pub(super) me: Weak<RefCell<State>>,
    pub(super) index: usize,
    pub(super) shared: Arc<Shared>,
    pub(super) base: EventBase,
    /// The connections, their table and their transitions (conn.rs).
    pub(super) conns: Conns,
    /// Accepted while every slot was taken (another worker took the last one between
    /// this worker's checks); served, in order, as slots free.
    pub(super) waiting: VecDeque<TcpStream>,
    pub(super) listener: Option<Listener>,
    /// Whether the listener is enabled.
    pub(super) listening: bool,
    /// accept() failed; accepting resumes when `backoff_timer` fires.
    backoff: bool,
    backoff_timer: Option<Event>,
    bell_event: Option<Event>,
    pub(super) shutting_down: bool,
    pub(super) finished: bool,
    pub(super) grace_timer: Option<Event>,
    /// `--metrics`, on worker 0.
    metrics: Option<Http>,
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
        self.shared
            .log(format_args!("New connection (id = {id})..."));
        let bev = match &self.shared.tls {
            Some(tls) => tls.bufferevent(&self.base, stream),
            None => BufferEvent::from_tcp(&self.base, stream, Options::empty()).map_err(Into::into),
        }
        .and_then(|bev| {
            let ctx = Ctx {
                shared: &self.shared,
                index: self.index,
            };
            Ok(self.conns.add(id, bev, self.me.clone(), &ctx)?)
        });
        if let Err(e) = bev {
            self.shared.log(format_args!("Error: {e} (id = {id})..."));
            self.shared.release(self.index);
        }
    }

    /// After the connections' transitions: each slot they freed is given back (waking
    /// the workers that wait for one) and lets a waiting accept in; the last one gone
    /// during the shutdown ends this worker.
    pub(super) fn after_conns(&mut self) {
        let freed = self.conns.take_freed();
        for _ in 0..freed {
            self.shared.release(self.index);
        }
        if freed > 0 {
            self.resume();
        }
        if self.conns.open() == 0 {
            if self.waiting.is_empty() {
                self.waiting.shrink_to_fit();
            }
            if self.shutting_down {
                self.finish();
            }
        }
    }

    /// Enables the listener when a connection could be served, disables it otherwise
    /// (fix 1: a listener left enabled at the limit makes the loop spin). At the limit
    /// the worker parks, to be woken when any worker frees a slot.
    pub(super) fn refresh_listener(&mut self) {
        let full = !self.waiting.is_empty() || self.shared.at_limit();
        let want = !self.shutting_down && !self.backoff && !full;
        if want != self.listening {
            if let Some(l) = &self.listener {
                let r = if want { l.enable() } else { l.disable() };
                match r {
                    Ok(()) => self.listening = want,
                    Err(e) => self.shared.log(format_args!("Error: {e}")),
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
    pub(super) fn resume(&mut self) {
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
        self.shared
            .log(format_args!("Error: cannot accept: {}", io::Error::from(e)));
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

    /// Frees everything the loop may still reference before the base goes.
    fn clear(&mut self) {
        self.conns.clear();
        self.waiting.clear();
        self.listener = None;
        self.grace_timer = None;
        self.backoff_timer = None;
        self.bell_event = None;
        self.metrics = None;
    }
}

/// One worker's loop and state, on the thread that made it.
pub(super) struct Worker {
    state: Rc<RefCell<State>>,
    _signals: Vec<Event>,
}

impl Worker {
    /// Makes worker `index`: a base, a listener on `addr` and the bell; worker 0 also
    /// takes SIGINT and SIGTERM (shutdown) and SIGHUP (reopen the log).
    pub(super) fn start(shared: Arc<Shared>, index: usize, addr: SocketAddr) -> Result<Worker> {
        // The worker that serves `--metrics` (evhttp, which turns each keep-alive
        // connection from reading to writing and back per request) batches its epoll
        // changes; eventd duplicates no descriptor, which is what the changelist forbids.
        let base = if index == 0 && shared.cfg.metrics.is_some() {
            EventBase::with_epoll_changelist()
        } else {
            EventBase::new()
        }
        .context("cannot make an event base")?;
        let timeout = shared.cfg.timeout;
        let idle_timeout = (timeout > 0)
            .then(|| base.common_timeout(Duration::from_secs(timeout)))
            .transpose()?;
        let linger_timeout = base.common_timeout(LINGER)?;
        let state = Rc::new_cyclic(|me| {
            RefCell::new(State {
                me: me.clone(),
                index,
                shared: shared.clone(),
                base: base.clone(),
                conns: Conns::new(idle_timeout, linger_timeout),
                waiting: VecDeque::new(),
                listener: None,
                listening: true,
                backoff: false,
                backoff_timer: None,
                bell_event: None,
                shutting_down: false,
                finished: false,
                grace_timer: None,
                metrics: None,
            })
        });
        let w = Rc::downgrade(&state);
        let mut flags = ListenerFlags::REUSEABLE | ListenerFlags::CLOSE_ON_EXEC;
        if shared.bells.len() > 1 || shared.cfg.reuse_port {
            flags |= ListenerFlags::REUSEABLE_PORT;
        }
        let mut listener = Listener::bind(&base, addr, shared.cfg.backlog, flags, {
            let w = w.clone();
            move |stream, _peer| with_state(&w, |st| st.accept(stream))
        })
        .map_err(io::Error::from)
        .with_context(|| format!("cannot listen on {addr}"))?;
        let w2 = w.clone();
        listener.on_error(move |e| with_state(&w2, |st| st.accept_failed(e)))?;
        let w2 = w.clone();
        let backoff_timer = Event::timer(&base, move |_| with_state(&w2, |st| st.backoff_over()))?;
        let trim_timer = Event::timer(&base, |_| trim())?;
        let bell_fd = shared.bells[index].rx.as_raw_fd();
        let w2 = w.clone();
        let bell_event = Event::new(&base, bell_fd, Flags::READ | Flags::PERSIST, move |_| {
            with_state(&w2, |st| st.on_bell())
        })?;
        bell_event.add(None)?;
        let mut signals = Vec::new();
        if index == 0 {
            for sig in [libc::SIGINT, libc::SIGTERM] {
                let w2 = w.clone();
                let ev = Event::signal(&base, sig, move |_| with_state(&w2, |st| st.shutdown()))?;
                ev.add(None)?;
                signals.push(ev);
            }
            let w2 = w.clone();
            let hup = Event::signal(&base, libc::SIGHUP, move |_| {
                with_state(&w2, |st| st.reopen_log())
            })?;
            hup.add(None)?;
            signals.push(hup);
        }
        let metrics = match shared.cfg.metrics {
            Some(addr) if index == 0 => {
                let (http, bound) = metrics::serve(&base, shared.clone(), addr)
                    .map_err(io::Error::from)
                    .with_context(|| format!("cannot serve metrics on {addr}"))?;
                eprintln!("eventd: metrics on http://{bound}/metrics");
                Some(http)
            }
            _ => None,
        };
        {
            let mut st = state.borrow_mut();
            st.metrics = metrics;
            st.listener = Some(listener);
            st.backoff_timer = Some(backoff_timer);
            st.conns.trim_timer = Some(trim_timer);
            st.bell_event = Some(bell_event);
        }
        Ok(Worker {
            state,
            _signals: signals,
        })
    }

    pub(super) fn local_addr(&self) -> Result<SocketAddr> {
        let st = self.state.borrow();
        let l = st.listener.as_ref().context("no listener")?;
        Ok(l.local_addr()?)
    }

    /// Runs the loop until this worker's part of the shutdown is complete.
    pub(super) fn run(self) -> Result<()> {
        let base = self.state.borrow().base.clone();
        let r = base.run(libevent::LoopFlags::NO_EXIT_ON_EMPTY);
        self.state.borrow_mut().clear();
        r?;
        Ok(())
    }
}
