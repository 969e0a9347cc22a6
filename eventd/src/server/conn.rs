//! One connection: its phases, the framing of what it sends, and how it closes (fixes 2
//! and 3, and the lingering close).

use super::metrics::add;
use super::worker::State;
use super::TRIM_DELAY;
use crate::protocol::{Action, Framer};
use libevent::bufferevent::BevEvent;
use libevent::event::Flags;
use libevent::BufferEventRef;
use std::cell::RefCell;
use std::rc::Weak;

/// Where a connection is in its life. Each variant is a legal state; the transitions are
/// the methods of [`State`] below.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Phase {
    /// Reading and answering.
    Open,
    /// Reading paused because too much output is unsent, until it drains to half the
    /// limit (fix 2).
    Paused,
    /// Decided to close; writing out the replies already produced before the FIN (fix 3).
    /// What still arrives is not answered.
    Flushing,
    /// Output written and FIN sent; discarding input until the peer closes (or the
    /// linger timeout). Its slot is already free.
    Lingering,
    /// Removed from the worker: its bufferevent is freed (or about to be).
    Gone,
}

impl Phase {
    /// Decided to close (flushing or lingering).
    fn closing(self) -> bool {
        matches!(self, Phase::Flushing | Phase::Lingering | Phase::Gone)
    }
}

/// A connection's state, kept by libevent beside its bufferevent's callbacks (the
/// bufferevent's context), which get it with the bufferevent itself. `State::conns` holds
/// the bufferevent, by id.
pub(super) struct Conn {
    pub(super) id: u64,
    framer: Framer,
    pub(super) phase: Phase,
    /// The worker, for what connections share (counters, the log, the slots).
    worker: Weak<RefCell<State>>,
}

impl Conn {
    pub(super) fn new(id: u64, worker: Weak<RefCell<State>>) -> Conn {
        Conn {
            id,
            framer: Framer::new(),
            phase: Phase::Open,
            worker,
        }
    }

    /// Counted against `--max-connections` (a lingering one no longer is).
    pub(super) fn holds_slot(&self) -> bool {
        !matches!(self.phase, Phase::Lingering | Phase::Gone)
    }

    /// Not yet decided to close.
    pub(super) fn is_serving(&self) -> bool {
        !self.phase.closing()
    }
}

/// A connection's callbacks: plain functions (boxing them allocates nothing), which reach
/// the worker through the connection's context.
pub(super) fn on_read(bev: &mut BufferEventRef, conn: &mut Conn) {
    if let Some(st) = conn.worker.upgrade() {
        if let Ok(mut st) = st.try_borrow_mut() {
            st.on_read(bev, conn);
        }
    }
}

/// The write callback: matters while paused or flushing.
pub(super) fn on_drained(bev: &mut BufferEventRef, conn: &mut Conn) {
    if conn.phase == Phase::Open {
        return;
    }
    if let Some(st) = conn.worker.upgrade() {
        if let Ok(mut st) = st.try_borrow_mut() {
            st.on_drained(bev, conn);
        }
    }
}

pub(super) fn on_event(bev: &mut BufferEventRef, conn: &mut Conn, what: BevEvent) {
    if let Some(st) = conn.worker.upgrade() {
        if let Ok(mut st) = st.try_borrow_mut() {
            st.on_event(bev, conn, what);
        }
    }
}

/// Why a connection closes: decides what is logged and whether its output is flushed.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Close {
    Quit,
    Eof,
    Error,
    Timeout,
    Shutdown,
}

impl State {
    fn on_read(&mut self, bev: &mut BufferEventRef, conn: &mut Conn) {
        if conn.phase.closing() {
            let _ = bev.input_mut().drain(usize::MAX);
            return;
        }
        let pending = bev.input().len();
        conn.framer
            .extend_with(pending, |buf| bev.input_mut().remove(buf));
        let counters = &self.shared.counters[self.index];
        add(&counters.bytes_received, pending as u64);
        let action = conn
            .framer
            .decide(self.shared.cfg.max_message, &mut self.reply);
        if action != Action::Wait {
            add(&counters.messages, 1);
        }
        match action {
            Action::Wait | Action::Silent => {}
            Action::Reply(reply) => {
                add(&counters.replies, 1);
                add(&counters.bytes_sent, reply.len() as u64);
                if bev.write_direct(reply).is_err() {
                    self.close(bev, conn, Close::Error);
                    return;
                }
                if bev.output().len() > self.shared.cfg.output_limit {
                    self.pause(bev, conn);
                }
            }
            Action::Quit => self.close(bev, conn, Close::Quit),
        }
    }

    /// Fix 2: a client that sends without reading stops being read from until its
    /// output drains to half the limit (the write callback, `on_drained`).
    fn pause(&mut self, bev: &mut BufferEventRef, conn: &mut Conn) {
        let low = self.shared.cfg.output_limit / 2;
        conn.phase = Phase::Paused;
        let r = bev
            .disable(Flags::READ)
            .and_then(|_| bev.set_write_watermark(low, 0));
        if r.is_err() {
            self.close(bev, conn, Close::Error);
        }
    }

    fn on_drained(&mut self, bev: &mut BufferEventRef, conn: &mut Conn) {
        match conn.phase {
            Phase::Flushing if bev.output().is_empty() => self.linger(bev, conn),
            Phase::Paused => {
                conn.phase = Phase::Open;
                let r = bev
                    .set_write_watermark(0, 0)
                    .and_then(|_| bev.enable(Flags::READ));
                if r.is_err() {
                    self.close(bev, conn, Close::Error);
                }
            }
            Phase::Open | Phase::Flushing | Phase::Lingering | Phase::Gone => {}
        }
    }

    fn on_event(&mut self, bev: &mut BufferEventRef, conn: &mut Conn, what: BevEvent) {
        if conn.phase.closing() {
            // A write error or timeout while flushing, or the peer's close (or the linger
            // timeout) while lingering: done.
            self.remove(conn);
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
        self.close(bev, conn, why);
    }

    pub(super) fn close(&mut self, bev: &mut BufferEventRef, conn: &mut Conn, why: Close) {
        if conn.phase == Phase::Gone {
            return;
        }
        let id = conn.id;
        self.counters().closed(why);
        match why {
            Close::Eof => self
                .shared
                .log(format_args!("Error: EVBUFFER_EOF (id = {id})...")),
            Close::Error => self
                .shared
                .log(format_args!("Error: EVBUFFER_ERROR (id = {id})...")),
            Close::Timeout => self
                .shared
                .log(format_args!("Error: EVBUFFER_TIMEOUT (id = {id})...")),
            Close::Quit | Close::Shutdown => {}
        }
        self.shared
            .log(format_args!("Closing connection (id = {id})..."));
        // Fix 3: replies already produced are written out before the close, except when
        // the socket is broken or the peer stopped taking data.
        let flush = matches!(why, Close::Quit | Close::Eof | Close::Shutdown);
        if !flush {
            self.remove(conn);
            return;
        }
        conn.phase = Phase::Flushing;
        if bev.output().is_empty() {
            self.linger(bev, conn);
            return;
        }
        let r = bev
            .disable(Flags::READ)
            .and_then(|_| bev.set_write_watermark(0, 0))
            .and_then(|_| bev.enable(Flags::WRITE));
        if r.is_err() {
            self.remove(conn);
        }
    }

    /// Everything written: send FIN and wait (up to LINGER) for the peer's, discarding
    /// what it still sends. Closing at once with unread input would make the kernel send
    /// a reset, which can destroy replies still on their way to the peer.
    fn linger(&mut self, bev: &mut BufferEventRef, conn: &mut Conn) {
        // Over TLS, the end of the stream is close_notify, then the FIN.
        super::tls::close_notify(bev);
        if bev.shutdown(std::net::Shutdown::Write).is_err() {
            self.remove(conn);
            return;
        }
        let r = bev
            .set_common_timeouts(Some(self.linger_timeout), Some(self.linger_timeout))
            .and_then(|_| bev.disable(Flags::WRITE))
            .and_then(|_| bev.enable(Flags::READ));
        if r.is_err() {
            self.remove(conn);
        } else {
            conn.phase = Phase::Lingering;
            self.slot_freed();
        }
    }

    /// Done with the connection: its bufferevent leaves the table and is freed (also from
    /// inside its own callback: the safe crate keeps it alive until the callback
    /// returns). During the shutdown the table may not hold it: the shutdown frees it.
    pub(super) fn remove(&mut self, conn: &mut Conn) {
        if conn.phase == Phase::Gone {
            return;
        }
        let held = conn.holds_slot();
        conn.phase = Phase::Gone;
        drop(self.conns.remove(&conn.id));
        self.open -= 1;
        self.counters()
            .open
            .store(self.open as u64, std::sync::atomic::Ordering::Relaxed);
        if held {
            self.slot_freed();
        }
        if self.open == 0 {
            self.idle();
        }
        if self.shutting_down && self.open == 0 {
            self.finish();
        }
    }

    /// The last connection is gone: after a burst (the table grew past 64 slots), give
    /// back what it left behind (the table's capacity, and on glibc the free memory in
    /// the heap), so that the daemon's footprint after a flood is its footprint before
    /// it. Not after every close: one connection at a time costs nothing to keep, and
    /// trimming per close would.
    ///
    /// The trim waits for a later loop pass: libevent frees a closed bufferevent with
    /// its finalizers, after the callbacks of the pass that closed it, so a trim here
    /// would find the connections' memory still in use. (What lets the trim give pages
    /// back at all is that libevent's per-descriptor records live apart from the heap:
    /// `crate::alloc`.)
    fn idle(&mut self) {
        if self.conns.capacity() <= 64 {
            return;
        }
        self.conns.shrink_to_fit();
        self.waiting.shrink_to_fit();
        if let Some(t) = &self.trim_timer {
            // If the timer cannot be armed, the memory is kept until the next burst.
            let _ = t.add(Some(TRIM_DELAY));
        }
    }

    fn slot_freed(&mut self) {
        self.shared.release(self.index);
        self.resume();
    }
}
