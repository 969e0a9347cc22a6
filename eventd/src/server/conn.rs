//! A worker's connections, in one place: their table ([`Conns`]), each one's state
//! ([`Conn`], its bufferevent's context), its phases and every transition between them
//! (fixes 2 and 3, and the lingering close). What the transitions need of the rest of
//! the worker is a small [`Ctx`] (the configuration, the log, the counters); what they
//! tell it back is how many slots they freed ([`Conns::take_freed`]).

use super::metrics::{add, Close, Counters};
use super::worker::State;
use super::{Shared, TRIM_DELAY};
use crate::protocol::{Action, Framer};
use libevent::base::CommonTimeout;
use libevent::bufferevent::BevEvent;
use libevent::event::Flags;
use libevent::{BufferEvent, BufferEventRef, Event};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Weak;
use std::sync::atomic::Ordering::Relaxed;

/// The largest TLS record's plaintext (RFC 8446, 5.1).
const TLS_RECORD: usize = 16 * 1024;

/// Where a connection is in its life. Each variant is a legal state; the transitions are
/// the methods of [`Conns`] below.
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
/// bufferevent's context), which get it with the bufferevent itself.
pub(super) struct Conn {
    pub(super) id: u64,
    framer: Framer,
    pub(super) phase: Phase,
    /// The worker, which holds the [`Conns`] (and so the bufferevent).
    worker: Weak<RefCell<State>>,
}

impl Conn {
    /// Counted against `--max-connections` (a lingering one no longer is).
    pub(super) fn holds_slot(&self) -> bool {
        !matches!(self.phase, Phase::Lingering | Phase::Gone)
    }

    /// Not yet decided to close.
    pub(super) fn is_serving(&self) -> bool {
        !self.phase.closing()
    }
}

/// What the transitions need from the rest of the worker.
pub(super) struct Ctx<'a> {
    pub(super) shared: &'a Shared,
    pub(super) index: usize,
}

impl Ctx<'_> {
    fn counters(&self) -> &Counters {
        &self.shared.counters[self.index]
    }
}

/// One worker's connections: the bufferevents by id (each one's [`Conn`] is its context),
/// and what they share.
pub(super) struct Conns {
    table: HashMap<u64, BufferEvent>,
    /// How many are open (during the shutdown one may be out of the table for a moment).
    open: usize,
    /// Slots freed since the worker last asked (each may let a waiting accept in).
    freed: usize,
    /// The reply being built; shared by the worker's connections.
    reply: Vec<u8>,
    /// `--timeout` and LINGER, as libevent common timeouts: every connection shares
    /// them, so libevent keeps each in a queue (O(1) per reset) rather than its heap.
    idle_timeout: Option<CommonTimeout>,
    linger_timeout: CommonTimeout,
    /// Gives free memory back to the system a moment after the last connection went
    /// (see [`Conns::idle`]).
    pub(super) trim_timer: Option<Event>,
}

/// A connection's callbacks: plain functions (boxing them allocates nothing), which reach
/// the worker through the connection's context.
fn on_read(bev: &mut BufferEventRef, conn: &mut Conn) {
    with_conns(bev, conn, |conns, ctx, bev, conn| {
        conns.on_read(bev, conn, ctx)
    });
}

/// The write callback: matters while paused or flushing.
fn on_drained(bev: &mut BufferEventRef, conn: &mut Conn) {
    if conn.phase == Phase::Open {
        return;
    }
    with_conns(bev, conn, |conns, ctx, bev, conn| {
        conns.on_drained(bev, conn, ctx)
    });
}

fn on_event(bev: &mut BufferEventRef, conn: &mut Conn, what: BevEvent) {
    with_conns(bev, conn, |conns, ctx, bev, conn| {
        conns.on_event(bev, conn, what, ctx)
    });
}

/// Runs a transition on the worker's connections, then lets the worker act on the slots
/// it freed. Callbacks never nest (libevent runs them one at a time, and nothing here
/// runs one synchronously), and the worker frees its bufferevents before it goes, so the
/// worker is there and free. Were it not, the connection would stop being read: its
/// input, which may have no watermark (see [`Conns::add`]), must not grow unserved.
fn with_conns(
    bev: &mut BufferEventRef,
    conn: &mut Conn,
    f: impl FnOnce(&mut Conns, &Ctx<'_>, &mut BufferEventRef, &mut Conn),
) {
    let worker = conn.worker.upgrade();
    let Some(mut st) = worker.as_ref().and_then(|w| w.try_borrow_mut().ok()) else {
        debug_assert!(false, "a connection's callback without its worker");
        let _ = bev.disable(Flags::READ);
        return;
    };
    let st = &mut *st;
    let ctx = Ctx {
        shared: &st.shared,
        index: st.index,
    };
    f(&mut st.conns, &ctx, bev, conn);
    st.after_conns();
}

impl Conns {
    pub(super) fn new(idle_timeout: Option<CommonTimeout>, linger_timeout: CommonTimeout) -> Conns {
        Conns {
            table: HashMap::new(),
            open: 0,
            freed: 0,
            reply: Vec::new(),
            idle_timeout,
            linger_timeout,
            trim_timer: None,
        }
    }

    /// How many are open.
    pub(super) fn open(&self) -> usize {
        self.open
    }

    /// The slots freed since the last call.
    pub(super) fn take_freed(&mut self) -> usize {
        std::mem::take(&mut self.freed)
    }

    /// Serves a new connection `id` over `bev`: its state goes beside its callbacks,
    /// which capture nothing.
    pub(super) fn add(
        &mut self,
        id: u64,
        mut bev: BufferEvent,
        worker: Weak<RefCell<State>>,
        ctx: &Ctx<'_>,
    ) -> libevent::Result<()> {
        bev.set_context(Conn {
            id,
            framer: Framer::new(),
            phase: Phase::Open,
            worker,
        });
        bev.on_read_with(on_read)?;
        bev.on_write_with(on_drained)?;
        bev.on_event_with(on_event)?;
        bev.set_common_timeouts(self.idle_timeout, self.idle_timeout)?;
        // Conns::on_read empties the input every time, so a read callback finds at most
        // one read in it: max_single_read bytes, and over TLS the rest of the record that
        // read opened (libevent's openssl bufferevent drains SSL_pending before calling
        // back). A high watermark above that is never reached: leave it unset. Set,
        // libevent's watermark callback re-adds the read event (and re-arms its timeout)
        // on every change of the input, twice per request.
        let high = ctx.shared.cfg.read_high_watermark;
        if high < bev.max_single_read() + TLS_RECORD {
            bev.set_read_watermark(0, high)?;
        }
        bev.enable(Flags::READ)?;
        self.table.insert(id, bev);
        self.open += 1;
        let c = ctx.counters();
        add(&c.connections, 1);
        c.open.store(self.open as u64, Relaxed);
        Ok(())
    }

    fn on_read(&mut self, bev: &mut BufferEventRef, conn: &mut Conn, ctx: &Ctx<'_>) {
        if conn.phase.closing() {
            let _ = bev.input_mut().drain(usize::MAX);
            return;
        }
        let pending = bev.input().len();
        conn.framer
            .extend_with(pending, |buf| bev.input_mut().remove(buf));
        let counters = ctx.counters();
        add(&counters.bytes_received, pending as u64);
        let action = conn
            .framer
            .decide(ctx.shared.cfg.max_message, &mut self.reply);
        if action != Action::Wait {
            add(&counters.messages, 1);
        }
        match action {
            Action::Wait | Action::Silent => {}
            Action::Reply(reply) => {
                add(&counters.replies, 1);
                add(&counters.bytes_sent, reply.len() as u64);
                if bev.write_direct(reply).is_err() {
                    self.close(bev, conn, Close::Error, ctx);
                    return;
                }
                if bev.output().len() > ctx.shared.cfg.output_limit {
                    self.pause(bev, conn, ctx);
                }
            }
            Action::Quit => self.close(bev, conn, Close::Quit, ctx),
        }
    }

    /// Fix 2: a client that sends without reading stops being read from until its
    /// output drains to half the limit (the write callback, `on_drained`).
    fn pause(&mut self, bev: &mut BufferEventRef, conn: &mut Conn, ctx: &Ctx<'_>) {
        let low = ctx.shared.cfg.output_limit / 2;
        conn.phase = Phase::Paused;
        let r = bev
            .disable(Flags::READ)
            .and_then(|_| bev.set_write_watermark(low, 0));
        if r.is_err() {
            self.close(bev, conn, Close::Error, ctx);
        }
    }

    fn on_drained(&mut self, bev: &mut BufferEventRef, conn: &mut Conn, ctx: &Ctx<'_>) {
        match conn.phase {
            Phase::Flushing if bev.output().is_empty() => self.linger(bev, conn, ctx),
            Phase::Paused => {
                conn.phase = Phase::Open;
                let r = bev
                    .set_write_watermark(0, 0)
                    .and_then(|_| bev.enable(Flags::READ));
                if r.is_err() {
                    self.close(bev, conn, Close::Error, ctx);
                }
            }
            Phase::Open | Phase::Flushing | Phase::Lingering | Phase::Gone => {}
        }
    }

    fn on_event(
        &mut self,
        bev: &mut BufferEventRef,
        conn: &mut Conn,
        what: BevEvent,
        ctx: &Ctx<'_>,
    ) {
        if conn.phase.closing() {
            // A write error or timeout while flushing, or the peer's close (or the linger
            // timeout) while lingering: done.
            self.remove(conn, ctx);
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
        self.close(bev, conn, why, ctx);
    }

    fn close(&mut self, bev: &mut BufferEventRef, conn: &mut Conn, why: Close, ctx: &Ctx<'_>) {
        if conn.phase == Phase::Gone {
            return;
        }
        let id = conn.id;
        let log = |args: std::fmt::Arguments<'_>| ctx.shared.log(args);
        ctx.counters().closed(why);
        match why {
            Close::Eof => log(format_args!("Error: EVBUFFER_EOF (id = {id})...")),
            Close::Error => log(format_args!("Error: EVBUFFER_ERROR (id = {id})...")),
            Close::Timeout => log(format_args!("Error: EVBUFFER_TIMEOUT (id = {id})...")),
            Close::Quit | Close::Shutdown => {}
        }
        log(format_args!("Closing connection (id = {id})..."));
        // Fix 3: replies already produced are written out before the close, except when
        // the socket is broken or the peer stopped taking data.
        let flush = matches!(why, Close::Quit | Close::Eof | Close::Shutdown);
        if !flush {
            self.remove(conn, ctx);
            return;
        }
        conn.phase = Phase::Flushing;
        if bev.output().is_empty() {
            self.linger(bev, conn, ctx);
            return;
        }
        let r = bev
            .disable(Flags::READ)
            .and_then(|_| bev.set_write_watermark(0, 0))
            .and_then(|_| bev.enable(Flags::WRITE));
        if r.is_err() {
            self.remove(conn, ctx);
        }
    }

    /// Everything written: send FIN and wait (up to LINGER) for the peer's, discarding
    /// what it still sends. Closing at once with unread input would make the kernel send
    /// a reset, which can destroy replies still on their way to the peer.
    fn linger(&mut self, bev: &mut BufferEventRef, conn: &mut Conn, ctx: &Ctx<'_>) {
        // Over TLS, the end of the stream is close_notify, then the FIN.
        super::tls::close_notify(bev);
        if bev.shutdown(std::net::Shutdown::Write).is_err() {
            self.remove(conn, ctx);
            return;
        }
        let r = bev
            .set_common_timeouts(Some(self.linger_timeout), Some(self.linger_timeout))
            .and_then(|_| bev.disable(Flags::WRITE))
            .and_then(|_| bev.enable(Flags::READ));
        if r.is_err() {
            self.remove(conn, ctx);
        } else {
            conn.phase = Phase::Lingering;
            self.freed += 1;
        }
    }

    /// Done with the connection: its bufferevent leaves the table and is freed (also from
    /// inside its own callback: the safe crate keeps it alive until the callback
    /// returns). During the shutdown the table may not hold it: the shutdown frees it.
    fn remove(&mut self, conn: &mut Conn, ctx: &Ctx<'_>) {
        if conn.phase == Phase::Gone {
            return;
        }
        let held = conn.holds_slot();
        conn.phase = Phase::Gone;
        drop(self.table.remove(&conn.id));
        self.open -= 1;
        ctx.counters().open.store(self.open as u64, Relaxed);
        if held {
            self.freed += 1;
        }
        if self.open == 0 {
            self.idle();
        }
    }

    /// Fix 4's part here: every connection still serving closes, writing out what it
    /// owes, in the order they were accepted (as the log of one worker always was). Each
    /// is taken out of the table for its close, which may free it.
    pub(super) fn shutdown(&mut self, ctx: &Ctx<'_>) {
        let mut ids: Vec<u64> = self.table.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let Some(mut bev) = self.table.remove(&id) else {
                continue;
            };
            let gone = bev.with_context(|bev, conn: &mut Conn| {
                if conn.is_serving() {
                    self.close(bev, conn, Close::Shutdown, ctx);
                }
                conn.phase == Phase::Gone
            });
            if !gone {
                self.table.insert(id, bev);
            }
        }
    }

    /// The shutdown's grace period is over: whatever is still open is dropped. Returns
    /// how many of them held a slot.
    pub(super) fn drop_all(&mut self) -> usize {
        let mut held = 0;
        for (_, mut bev) in self.table.drain() {
            if bev.with_context(|_, conn: &mut Conn| conn.holds_slot()) {
                held += 1;
            }
        }
        self.open = 0;
        held
    }

    /// Frees every bufferevent, and the trim timer, before the base goes.
    pub(super) fn clear(&mut self) {
        self.table.clear();
        self.trim_timer = None;
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
        if self.table.capacity() <= 64 {
            return;
        }
        self.table.shrink_to_fit();
        if let Some(t) = &self.trim_timer {
            // If the timer cannot be armed, the memory is kept until the next burst.
            let _ = t.add(Some(TRIM_DELAY));
        }
    }
}
