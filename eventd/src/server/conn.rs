//! One connection: its phases, the framing of what it sends, and how it closes (fixes 2
//! and 3, and the lingering close).

use super::metrics::add;
use super::worker::State;
use super::{conn_key, with_state, TRIM_DELAY};
use crate::protocol::{Action, Framer};
use libevent::{BevEvent, BufferEvent, BufferEventRef, Flags};

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
}

impl Phase {
    /// Decided to close (flushing or lingering).
    fn closing(self) -> bool {
        matches!(self, Phase::Flushing | Phase::Lingering)
    }
}

/// A connection, keyed in `State::conns` by its bufferevent's address (see [`conn_key`]).
pub(super) struct Conn {
    pub(super) id: u64,
    pub(super) bev: BufferEvent,
    framer: Framer,
    pub(super) phase: Phase,
}

impl Conn {
    pub(super) fn new(id: u64, bev: BufferEvent) -> Conn {
        Conn {
            id,
            bev,
            framer: Framer::new(),
            phase: Phase::Open,
        }
    }

    /// Counted against `--max-connections` (a lingering one no longer is).
    pub(super) fn holds_slot(&self) -> bool {
        self.phase != Phase::Lingering
    }

    /// Not yet decided to close.
    pub(super) fn is_serving(&self) -> bool {
        !self.phase.closing()
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
    pub(super) fn on_read(&mut self, key: usize, bev: &mut BufferEventRef) {
        let Some(conn) = self.conns.get_mut(&key) else {
            return;
        };
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
        conn.phase = Phase::Paused;
        let r = conn
            .bev
            .disable(Flags::READ)
            .and_then(|_| conn.bev.set_write_watermark(low, 0))
            .and_then(|_| conn.bev.on_write(on_drained));
        if r.is_err() {
            self.close(key, Close::Error);
        }
    }

    fn on_drained(&mut self, key: usize, bev: &mut BufferEventRef) {
        let Some(conn) = self.conns.get_mut(&key) else {
            return;
        };
        match conn.phase {
            Phase::Flushing if bev.output().is_empty() => self.linger(key),
            Phase::Paused => {
                conn.phase = Phase::Open;
                let r = conn
                    .bev
                    .set_write_watermark(0, 0)
                    .and_then(|_| conn.bev.clear_write_callback())
                    .and_then(|_| conn.bev.enable(Flags::READ));
                if r.is_err() {
                    self.close(key, Close::Error);
                }
            }
            Phase::Open | Phase::Flushing | Phase::Lingering => {}
        }
    }

    pub(super) fn on_event(&mut self, key: usize, what: BevEvent) {
        let Some(conn) = self.conns.get(&key) else {
            return;
        };
        if conn.phase.closing() {
            // A write error or timeout while flushing, or the peer's close (or the linger
            // timeout) while lingering: done.
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

    pub(super) fn close(&mut self, key: usize, why: Close) {
        let Some(id) = self.conns.get(&key).map(|c| c.id) else {
            return;
        };
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
        let Some(conn) = self.conns.get_mut(&key) else {
            return;
        };
        if !flush {
            self.remove(key);
            return;
        }
        conn.phase = Phase::Flushing;
        if conn.bev.output().is_empty() {
            self.linger(key);
            return;
        }
        let r = conn
            .bev
            .disable(Flags::READ)
            .and_then(|_| conn.bev.set_write_watermark(0, 0))
            .and_then(|_| conn.bev.on_write(on_drained))
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
        // Over TLS, the end of the stream is close_notify, then the FIN.
        super::tls::close_notify(&mut conn.bev);
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
            conn.phase = Phase::Lingering;
            self.slot_freed();
        }
    }

    pub(super) fn remove(&mut self, key: usize) {
        // Dropping the BufferEvent frees it and closes the socket (also from inside its
        // own callback: the safe crate keeps it alive until the callback returns).
        let Some(conn) = self.conns.remove(&key) else {
            return;
        };
        self.counters().open.store(
            self.conns.len() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        if conn.holds_slot() {
            self.slot_freed();
        }
        if self.conns.is_empty() {
            self.idle();
        }
        if self.shutting_down && self.conns.is_empty() {
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

/// The write callback while paused or flushing; it captures nothing, so setting it
/// allocates nothing.
fn on_drained(bev: &mut BufferEventRef) {
    with_state(|st| st.on_drained(conn_key(bev), bev))
}
