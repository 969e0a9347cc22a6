//! Edge-triggered reading and writing for this crate's socket bufferevents.
//!
//! libevent 2.1 registers a socket bufferevent's two events level-triggered. On epoll
//! that has two costs for a server with many busy connections: every `epoll_wait` polls
//! again each descriptor the one before it returned, and the kernel keeps a level-triggered
//! descriptor at its old place in the ready list, so a loop pass serves its connections in
//! the order of the pass before it, not in the order their data came. A connection served
//! last keeps being served last, and its requests are the tail of the latency
//! distribution (docs/benchmarks.md, "The tail at 100 connections").
//!
//! With `EV_ET` the kernel reports a descriptor once per arrival, in arrival order, and
//! polls nothing twice. What an edge does not report is what is already there. [`edge_read`]
//! and [`edge_write`] wrap libevent's own callbacks of the two events (the functions
//! `event_get_callback` returns, which stay in charge of everything else: timeouts,
//! watermarks, rate limits, connecting, errors) and activate the event again by hand
//! where something may be left, as mio and tokio do:
//!
//! - a read that filled its room (libevent reads at most 4,096 bytes, less under a read
//!   high watermark, a rate limit or `max_single_read`): more may wait;
//! - a read that came with the peer's end of stream (`EV_CLOSED`, registered for it):
//!   the next read sees the end (the reads run again by hand carry `EV_CLOSED` on, since
//!   the edge that reported it is spent);
//! - a read after which nothing was sent, nor is waiting to be: an error (a reset) that
//!   came in the same wake-up as the data would otherwise never be read, since a dead
//!   socket raises no more edges (libevent reports a reset as readable and writable, not
//!   as `EV_CLOSED`). A callback that sends learns of the error from the send, and queued
//!   output keeps the write event, which the error wakes;
//! - a write that made progress with output left: the socket may take more. A write that
//!   made none hit `EAGAIN`, and the kernel reports when there is room.
//!
//! A read that got less than its room, sent a reply and saw no end of stream emptied the
//! socket; whatever comes later is a new edge. That is the common case of a server, and
//! it costs no extra system call.
//!
//! To measure what a read added, the wrapper needs the input's length just after the
//! read, before the read callback drains it: this crate's read and write trampolines
//! note it ([`note`]), and `write_direct` notes that it sent ([`note_sent`]). Where
//! something else's callbacks run (a filter over the bufferevent, callbacks set from C)
//! the bufferevent goes back to level-triggered; where the base is not plain epoll (the
//! changelist variant merges a delete and an add made in one pass, which would lose an
//! edge; poll and select have no edges) or the bufferevent is thread-safe (another
//! thread could drain between the two measurements) it stays so: always correct, only
//! slower.

use super::callbacks::{event_tramp, read_tramp, write_tramp};
use libevent_sys as sys;
use std::cell::Cell;
use std::ffi::{c_int, c_short, c_void, CStr};
use std::ptr::{addr_of_mut, null_mut};
use std::sync::atomic::{AtomicUsize, Ordering};

/// libevent 2.1's `EVBUFFER_MAX_READ` (buffer.c): the most one `evbuffer_read` takes.
const MAX_READ: usize = 4096;

/// libevent's `bufferevent_readcb` and `bufferevent_writecb` (static in bufferevent_sock.c),
/// as `event_get_callback` found them on the first socket bufferevent.
static LIBEVENT_READ: AtomicUsize = AtomicUsize::new(0);
static LIBEVENT_WRITE: AtomicUsize = AtomicUsize::new(0);

/// Which event's wrapper is measuring.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Read,
    Write,
}

/// The wrapper now running: its bufferevent, and the length of the buffer it watches as
/// the trampoline found it (`NOT_SEEN` until then).
#[derive(Clone, Copy)]
struct Probe {
    bev: *mut sys::bufferevent,
    side: Side,
    seen: usize,
    /// `write_direct` sent to the socket meanwhile.
    sent: bool,
}

const NOT_SEEN: usize = usize::MAX;

thread_local! {
    static PROBE: Cell<Probe> = const {
        Cell::new(Probe { bev: null_mut(), side: Side::Read, seen: NOT_SEEN, sent: false })
    };
}

/// Called first thing by the read and write trampolines: when a wrapper of `bev` runs,
/// it learns the length of the input (read) or output (write) before the callback
/// touches it.
#[inline]
pub(super) fn note(bev: *mut sys::bufferevent, read: bool) {
    PROBE.with(|p| {
        let mut v = p.get();
        if v.bev == bev && v.seen == NOT_SEEN && (v.side == Side::Read) == read {
            // SAFETY: bev is the live bufferevent whose callback runs.
            let buf = unsafe {
                if read {
                    (*bev).input
                } else {
                    (*bev).output
                }
            };
            // SAFETY: its buffers live as long as it does.
            v.seen = unsafe { sys::evbuffer_get_length(buf) };
            p.set(v);
        }
    });
}

/// Called by `write_direct` after it sent (or tried to send) to `bev`'s socket itself.
#[inline]
pub(super) fn note_sent(bev: *mut sys::bufferevent) {
    PROBE.with(|p| {
        let mut v = p.get();
        if v.bev == bev && v.side == Side::Read {
            v.sent = true;
            p.set(v);
        }
    });
}

fn as_usize(f: sys::event_callback_fn) -> usize {
    f.map_or(0, |f| f as usize)
}

/// Whether `base` is plain epoll: the one backend here whose edge-triggered mode this
/// relies on (the changelist variant is excluded, see the module's documentation).
///
/// # Safety
/// `base` is a live event base.
unsafe fn plain_epoll(base: *mut sys::event_base) -> bool {
    // SAFETY: base is live; the method name is a static string.
    let (features, method) = unsafe {
        (
            sys::event_base_get_features(base),
            CStr::from_ptr(sys::event_base_get_method(base)),
        )
    };
    features & sys::event_method_feature_EV_FEATURE_ET as c_int != 0 && method == c"epoll"
}

/// Re-assigns one of `bev`'s events with callback `cb` and `EV_ET` on or off, keeping
/// its descriptor, flags, priority, and whether it was pending (with the bufferevent's
/// timeout for it).
///
/// # Safety
/// `ev` is `bev`'s `ev_read` (with `timeout` its `timeout_read`) or `ev_write`, and `bev`
/// is live.
unsafe fn reassign(
    bev: *mut sys::bufferevent,
    ev: *mut sys::event,
    timeout: *const libc::timeval,
    cb: sys::event_callback_fn,
    edge: bool,
    closed: c_short,
) {
    let et = sys::EV_ET as c_short | closed;
    // SAFETY: ev is an initialized event of the live bev (caller).
    unsafe {
        let base = sys::event_get_base(ev);
        let fd = sys::event_get_fd(ev);
        let events = sys::event_get_events(ev);
        let events = if edge { events | et } else { events & !et };
        let priority = sys::event_get_priority(ev);
        let what = (sys::EV_READ | sys::EV_WRITE) as c_short;
        let pending = sys::event_pending(ev, what, null_mut()) != 0;
        if pending {
            sys::event_del(ev);
        }
        sys::event_assign(ev, base, fd, events, cb, bev.cast());
        sys::event_priority_set(ev, priority);
        if pending {
            let set = (*timeout).tv_sec != 0 || (*timeout).tv_usec != 0;
            sys::event_add(ev, if set { timeout } else { std::ptr::null() });
        }
    }
}

/// Makes a socket bufferevent's events edge-triggered, if its base is plain epoll and its
/// events carry libevent's own socket callbacks (it has a descriptor). Called when the
/// bufferevent is made with a descriptor and after `connect` gave it one; harmless to
/// call again.
///
/// # Safety
/// `bev` is a live socket bufferevent (`bufferevent_socket_new`) that is not shared with
/// other threads, whose callbacks are this crate's trampolines.
pub(super) unsafe fn make_edge(bev: *mut sys::bufferevent) {
    // SAFETY: bev is live (caller); its events are initialized by bufferevent_socket_new.
    unsafe {
        let r = addr_of_mut!((*bev).ev_read);
        let w = addr_of_mut!((*bev).ev_write);
        if sys::event_get_fd(r) < 0 || !plain_epoll((*bev).ev_base) {
            return;
        }
        let (rcb, wcb) = (sys::event_get_callback(r), sys::event_get_callback(w));
        if as_usize(rcb) == edge_read as *const () as usize {
            return; // already
        }
        if !known(&LIBEVENT_READ, rcb) || !known(&LIBEVENT_WRITE, wcb) {
            return;
        }
        let (tr, tw) = (
            addr_of_mut!((*bev).timeout_read),
            addr_of_mut!((*bev).timeout_write),
        );
        reassign(bev, r, tr, Some(edge_read), true, sys::EV_CLOSED as c_short);
        reassign(bev, w, tw, Some(edge_write), true, 0);
    }
}

/// Records libevent's callback the first time; afterwards, whether `cb` is it.
fn known(slot: &AtomicUsize, cb: sys::event_callback_fn) -> bool {
    let cb = as_usize(cb);
    if cb == 0 {
        return false;
    }
    match slot.compare_exchange(0, cb, Ordering::Relaxed, Ordering::Relaxed) {
        Ok(_) => true,
        Err(was) => was == cb,
    }
}

/// libevent's callback recorded in `slot`.
fn libevent_cb(slot: &AtomicUsize) -> sys::event_callback_fn {
    let f = slot.load(Ordering::Relaxed);
    // SAFETY: f was recorded from event_get_callback (make_edge: a wrapper is installed
    // only after both are recorded) and has that type.
    (f != 0).then(|| unsafe {
        std::mem::transmute::<usize, unsafe extern "C" fn(c_int, c_short, *mut c_void)>(f)
    })
}

/// Back to level-triggered with libevent's own callbacks: this crate's trampolines no
/// longer run for `bev`, so a wrapper could not measure.
///
/// # Safety
/// `bev` is live, its events carry the wrappers.
unsafe fn make_level(bev: *mut sys::bufferevent) {
    // SAFETY: bev is live (caller).
    unsafe {
        let r = addr_of_mut!((*bev).ev_read);
        let w = addr_of_mut!((*bev).ev_write);
        let (tr, tw) = (
            addr_of_mut!((*bev).timeout_read),
            addr_of_mut!((*bev).timeout_write),
        );
        let closed = sys::EV_CLOSED as c_short;
        reassign(bev, r, tr, libevent_cb(&LIBEVENT_READ), false, closed);
        reassign(bev, w, tw, libevent_cb(&LIBEVENT_WRITE), false, 0);
    }
}

/// Back to level-triggered if `make_edge` made `bev` edge-triggered: before something
/// else's callbacks replace this crate's (a filter over it).
///
/// # Safety
/// `bev` is a live bufferevent.
pub(super) unsafe fn make_level_if_edge(bev: *mut sys::bufferevent) {
    // SAFETY: bev is live (caller).
    unsafe {
        let cb = sys::event_get_callback(addr_of_mut!((*bev).ev_read));
        if as_usize(cb) == edge_read as *const () as usize {
            make_level(bev);
        }
    }
}

/// Whether `bev`'s callbacks are still this crate's (and it was not freed: freeing
/// clears them), so that the trampolines measure.
///
/// # Safety
/// `bev` is live.
unsafe fn ours(bev: *mut sys::bufferevent) -> Ours {
    // SAFETY: bev is live (caller).
    let (r, w, e, arg) = unsafe { ((*bev).readcb, (*bev).writecb, (*bev).errorcb, (*bev).cbarg) };
    if arg.is_null() && e.is_none() {
        return Ours::Freed;
    }
    let e_ok = e.map_or(0, |f| f as usize) == event_tramp as *const () as usize;
    let r_ok = r.map_or(true, |f| f as usize == read_tramp as *const () as usize);
    let w_ok = w.map_or(true, |f| f as usize == write_tramp as *const () as usize);
    if e_ok && r_ok && w_ok {
        Ours::Yes
    } else {
        Ours::No
    }
}

enum Ours {
    Yes,
    No,
    Freed,
}

/// `ev_read`'s callback: libevent's, then run again if something may be left (see the
/// module's documentation).
unsafe extern "C" fn edge_read(fd: c_int, what: c_short, arg: *mut c_void) {
    // SAFETY: libevent calls it as ev_read's callback, with the argument make_edge gave.
    unsafe { wrapped(Side::Read, fd, what, arg) }
}

/// `ev_write`'s callback: libevent's, then, if the write made progress and output is
/// left, run again.
unsafe extern "C" fn edge_write(fd: c_int, what: c_short, arg: *mut c_void) {
    // SAFETY: as in edge_read, for ev_write.
    unsafe { wrapped(Side::Write, fd, what, arg) }
}

/// The two wrappers: runs libevent's callback for `side`'s event, measuring the buffer it
/// fills (read) or empties (write) before and just after libevent's read or write, then
/// activates the event again where no edge would come.
///
/// # Safety
/// `arg` is the live bufferevent whose `side` event's callback libevent is running (so
/// libevent keeps it alive meanwhile), and `fd`, `what` are that call's.
unsafe fn wrapped(side: Side, fd: c_int, what: c_short, arg: *mut c_void) {
    let bev: *mut sys::bufferevent = arg.cast();
    let (slot, flag) = match side {
        Side::Read => (&LIBEVENT_READ, sys::EV_READ as c_short),
        Side::Write => (&LIBEVENT_WRITE, sys::EV_WRITE as c_short),
    };
    let Some(cb) = libevent_cb(slot) else {
        return;
    };
    // SAFETY: bev is live (caller); the reference taken below keeps it alive until we are
    // done, also if a callback frees it; its buffers and events live as long as it does.
    unsafe {
        if what & flag == 0 {
            return cb(fd, what, arg); // a timeout
        }
        let (ev, buf) = match side {
            Side::Read => (addr_of_mut!((*bev).ev_read), (*bev).input),
            Side::Write => (addr_of_mut!((*bev).ev_write), (*bev).output),
        };
        let before = sys::evbuffer_get_length(buf);
        // What libevent reads at most this time, from the limits as they are now (the
        // callback may change them).
        let room = match side {
            Side::Read => read_room(bev, before),
            Side::Write => 0,
        };
        sys::bufferevent_incref(bev);
        let outer = PROBE.with(|p| {
            p.replace(Probe {
                bev,
                side,
                seen: NOT_SEEN,
                sent: false,
            })
        });
        cb(fd, what, arg);
        let probe = PROBE.with(|p| p.replace(outer));
        match ours(bev) {
            Ours::Yes => {
                // The length just after libevent's read or write: as the trampoline saw
                // it, or, if no callback of ours ran, as it is (nothing touched it since).
                let after = match probe.seen {
                    NOT_SEEN => sys::evbuffer_get_length(buf),
                    seen => seen,
                };
                let again = match side {
                    Side::Read => {
                        let added = after.saturating_sub(before);
                        let closed = what & sys::EV_CLOSED as c_short;
                        let go = added > 0
                            && (added >= room
                                || closed != 0
                                || !(probe.sent || sys::evbuffer_get_length((*bev).output) > 0));
                        // The end of stream stays known to the reads that follow: the
                        // edge that reported it is spent.
                        go.then(|| c_int::from(flag | closed))
                    }
                    Side::Write => {
                        // What is still queued now: if no callback of ours ran, `after`.
                        let now = match probe.seen {
                            NOT_SEEN => after,
                            _ => sys::evbuffer_get_length(buf),
                        };
                        (after < before && now > 0).then_some(c_int::from(flag))
                    }
                };
                if let Some(res) = again {
                    if sys::event_pending(ev, flag, null_mut()) != 0 {
                        sys::event_active(ev, res, 1);
                    }
                }
            }
            Ours::No => make_level(bev),
            Ours::Freed => {}
        }
        sys::bufferevent_decref(bev);
    }
}

/// The most libevent's next read of `bev` takes, its input holding `len` bytes: 4,096,
/// or less under a read high watermark or a rate limit (`max_single_read` included).
///
/// # Safety
/// `bev` is live.
unsafe fn read_room(bev: *mut sys::bufferevent, len: usize) -> usize {
    let mut room = MAX_READ;
    // SAFETY: bev is live (caller).
    let (high, max) = unsafe { ((*bev).wm_read.high, sys::bufferevent_get_max_to_read(bev)) };
    if high != 0 {
        room = room.min(high.saturating_sub(len));
    }
    if max >= 0 {
        room = room.min(max as usize);
    }
    room
}
