//! The three callback slots of a bufferevent, its context, the borrow state that keeps
//! its views apart (ARCHITECTURE.md, "The aliasing model"), and the `extern "C"`
//! trampolines.

use super::borrowed::BufferEventRef;
use super::{BevEvent, Kind};
use crate::base::EventBase;
use crate::handle::context_from_arg;
use crate::panic::{self, Guard};
use libevent_sys as sys;
use std::any::Any;
use std::cell::Cell;
use std::ffi::{c_short, c_void};
use std::rc::Rc;

pub(super) type DataFn = Box<dyn FnMut(&mut BufferEventRef, &Callbacks)>;
pub(super) type EventFn = Box<dyn FnMut(&mut BufferEventRef, BevEvent, &Callbacks)>;

/// One callback slot. While its callback runs, the closure is lent out of the slot, so the
/// callback may replace or clear itself (or any other slot); the closure goes back only if
/// nothing replaced it meanwhile ([`Loans`] keeps, per slot, whether it is lent out and
/// whether it was replaced since).
///
/// Made of `Cell`s rather than a `RefCell`: no borrow is ever held, so dropping a replaced
/// closure may itself touch the slots; with the loans in one byte beside them a
/// bufferevent's three slots take 48 bytes (a server holds one set per connection).
pub(super) struct Slot<F>(Cell<Option<F>>);

/// Which slot: its index in [`Loans`].
#[derive(Clone, Copy)]
pub(super) enum SlotId {
    Read = 0,
    Write = 1,
    Event = 2,
}

/// Two bits per slot: lent out to its running callback, and replaced (set or cleared)
/// since it was lent.
#[derive(Default)]
pub(super) struct Loans(Cell<u8>);

impl Loans {
    fn bit(&self, id: SlotId, replaced: bool) -> u8 {
        1 << (id as u8 * 2 + u8::from(replaced))
    }
    fn get(&self, id: SlotId, replaced: bool) -> bool {
        self.0.get() & self.bit(id, replaced) != 0
    }
    fn put(&self, id: SlotId, replaced: bool, on: bool) {
        let b = self.bit(id, replaced);
        self.0.set(if on {
            self.0.get() | b
        } else {
            self.0.get() & !b
        });
    }
}

impl<F> Slot<F> {
    pub(super) fn new() -> Slot<F> {
        Slot(Cell::new(None))
    }

    fn has(&self) -> bool {
        let f = self.0.take();
        let set = f.is_some();
        self.0.set(f);
        set
    }
}

impl Callbacks {
    /// True when C should keep calling slot `id`'s trampoline: it holds a closure, or
    /// its closure is lent out and goes back when its call ends.
    pub(super) fn is_set<F>(&self, id: SlotId, slot: &Slot<F>) -> bool {
        slot.has() || (self.loans.get(id, false) && !self.loans.get(id, true))
    }

    pub(super) fn set<F>(&self, id: SlotId, slot: &Slot<F>, f: Option<F>) {
        if self.loans.get(id, false) {
            self.loans.put(id, true, true);
        }
        // The old closure is dropped after the slot holds the new one.
        drop(slot.0.replace(f));
    }

    /// Lends slot `id`'s closure out for one call, then returns it unless it was replaced.
    fn call_slot<F>(&self, id: SlotId, slot: &Slot<F>, run: impl FnOnce(&mut F)) {
        if self.loans.get(id, false) {
            return; // cannot happen: the borrow state keeps a bufferevent's callbacks apart
        }
        let Some(mut f) = slot.0.take() else { return };
        self.loans.put(id, false, true);
        self.loans.put(id, true, false);
        /// Ends the loan even if the closure panics (the panic guard above catches it; the
        /// panicking closure is then dropped, not put back).
        struct EndLoan<'a>(&'a Loans, SlotId);
        impl Drop for EndLoan<'_> {
            fn drop(&mut self) {
                self.0.put(self.1, false, false);
            }
        }
        let _end = EndLoan(&self.loans, id);
        run(&mut f);
        if !self.loans.get(id, true) {
            slot.0.set(Some(f));
        }
    }
}

/// Who uses a bufferevent (and every bufferevent whose buffers C links to it: a pair's
/// other end, a filter's underlying one) right now. One view at a time: see
/// ARCHITECTURE.md, "The aliasing model".
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Borrow {
    /// Nobody: the owner may act, and C may run a callback.
    Free,
    /// [`BufferEvent::with`](super::BufferEvent::with) lends the owner's view to a closure.
    Owner,
    /// One of its callbacks (or a filter's closures) runs.
    Callback,
}

/// The borrow state of a group of bufferevents whose buffers C links: both ends of a pair,
/// a filter and what it filters. A lone bufferevent keeps its own inline.
pub(super) type Group = Rc<Cell<Borrow>>;

/// Which callback C wanted to run: what [`defer`] asks libevent to run again later.
#[derive(Clone, Copy)]
pub(super) enum Which {
    Read,
    Write,
    Event(c_short),
}

/// A bufferevent's callbacks, kept in an `Rc` by its [`BufferEvent`](super::BufferEvent)
/// and registered with C through [`context_arg`](crate::handle::context_arg).
pub(crate) struct Callbacks {
    /// The base, kept alive as long as C may call back (and a callback runs).
    pub(super) base: EventBase,
    /// How the bufferevent was made: see [`BufferEvent::write_direct`](super::BufferEvent::write_direct).
    pub(super) kind: Kind,
    own: Cell<Borrow>,
    loans: Loans,
    /// [`BufferEventRef::write_direct`] may send at once: a socket bufferevent of this
    /// crate's (plain or TLS), with no rate limit or group.
    pub(super) direct: Cell<bool>,
    /// A socket bufferevent of this crate's whose events may be edge-triggered
    /// (`edge`): made without `BEV_OPT_THREADSAFE`. `connect` makes them so again after
    /// libevent re-assigned them to the new socket.
    pub(super) edge: Cell<bool>,
    /// Over TLS, the length of a `write_direct` whose `SSL_write` the socket did not take
    /// at once: OpenSSL holds that record until libevent's retry passes at least as many
    /// bytes (0: none, or the output has drained since). A record is at most 16,384
    /// bytes, so it fits the padding beside the other small fields.
    #[cfg_attr(not(all(feature = "openssl", libevent_openssl)), allow(dead_code))]
    pub(super) tls_pending: Cell<u16>,
    /// Shared with the bufferevents C links to this one; `None`: `own` is the state.
    group: Option<Group>,
    /// [`BufferEvent::set_context`](super::BufferEvent::set_context)'s value. Whoever
    /// uses it takes it out of the cell for the time (a typed callback, `with_context`),
    /// so it is never reachable twice.
    pub(super) ctx: Cell<Option<Box<dyn Any>>>,
    pub(super) read: Slot<DataFn>,
    pub(super) write: Slot<DataFn>,
    pub(super) event: Slot<EventFn>,
}

impl Callbacks {
    pub(super) fn new(base: EventBase, kind: Kind, group: Option<Group>) -> Callbacks {
        Callbacks {
            base,
            kind,
            own: Cell::new(Borrow::Free),
            loans: Loans::default(),
            direct: Cell::new(false),
            edge: Cell::new(false),
            tls_pending: Cell::new(0),
            group,
            ctx: Cell::new(None),
            read: Slot::new(),
            write: Slot::new(),
            event: Slot::new(),
        }
    }

    /// The state this bufferevent's views obey (its group's, if it has one).
    pub(super) fn state(&self) -> &Cell<Borrow> {
        self.group.as_deref().unwrap_or(&self.own)
    }

    pub(super) fn group(&self) -> Option<&Group> {
        self.group.as_ref()
    }

    /// Called by a crate-internal callback that is done with its view and is about to run
    /// code that may use the owner (a task polled from a stream's callback): the state
    /// goes back to free, if the callback was not itself nested in a borrow. Returns
    /// whether it did; the callback must not touch its view afterwards.
    pub(crate) fn release(&self) -> bool {
        let s = self.state();
        let nested = RUNNING.with(|r| r.get()) != Borrow::Free;
        if s.get() == Borrow::Callback && !nested {
            s.set(Borrow::Free);
            true
        } else {
            false
        }
    }
}

thread_local! {
    /// The state a running trampoline found before it took the bufferevent (what
    /// [`Callbacks::release`] checks): `Free` unless that callback is nested.
    static RUNNING: Cell<Borrow> = const { Cell::new(Borrow::Free) };
}

/// Asks libevent to run the callback `which` again from the loop (deferred), for when it
/// cannot run now: a callback of the same bufferevent is using it (C called back from
/// inside that callback without going through one of this crate's calls), or its
/// context is lent out.
pub(super) fn defer(bev: *mut sys::bufferevent, which: Which) {
    let opts = sys::bufferevent_trigger_options_BEV_TRIG_DEFER_CALLBACKS as i32;
    // SAFETY: bev is the live bufferevent whose callback is running; triggering only
    // schedules a deferred callback on its base.
    unsafe {
        match which {
            Which::Read => sys::bufferevent_trigger(
                bev,
                sys::EV_READ as c_short,
                opts | sys::bufferevent_trigger_options_BEV_TRIG_IGNORE_WATERMARKS as i32,
            ),
            Which::Write => sys::bufferevent_trigger(
                bev,
                sys::EV_WRITE as c_short,
                opts | sys::bufferevent_trigger_options_BEV_TRIG_IGNORE_WATERMARKS as i32,
            ),
            Which::Event(what) => sys::bufferevent_trigger_event(bev, what, opts),
        }
    }
}

/// Puts a borrow state back when dropped (also when the closure it guards panics).
pub(super) struct Restore<'a>(pub(super) &'a Cell<Borrow>, pub(super) Borrow);

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        self.0.set(self.1);
    }
}

/// Takes the state for one call of C's: `Ok(previous)` when the callback may run now,
/// `Err` with what to do instead. A callback may run when nothing uses the bufferevent,
/// or when C runs it synchronously from inside one of this crate's calls (a write, an
/// enable, a flush, an evbuffer add: each takes `&mut` of the view or buffer it acts on,
/// so no reference into the bufferevent is live across it).
pub(super) fn may_run(state: &Cell<Borrow>) -> Result<Borrow, Borrow> {
    let prev = state.get();
    if prev == Borrow::Free || panic::beneath_sync() {
        Ok(prev)
    } else {
        Err(prev)
    }
}

/// The panic of a callback that C wanted to run while the owner lent its view out
/// ([`BufferEvent::with`](super::BufferEvent::with)): the loop was run, or a C function
/// that runs callbacks was called, inside that closure.
#[cold]
pub(super) fn conflict(what: &str) -> ! {
    panic!(
        "{what} was due while `BufferEvent::with` held the bufferevent (or the other end \
         of its pair): do not run the loop inside `with`"
    )
}

/// Runs one callback with the bufferevent kept alive by libevent's own reference count
/// and the closures kept alive by ours, so the callback may drop its `BufferEvent`.
fn with_callbacks(
    bev: *mut sys::bufferevent,
    arg: *mut c_void,
    which: Which,
    run: impl FnOnce(&Callbacks, &mut BufferEventRef),
) {
    // SAFETY: arg is the context_arg of the Callbacks that the owning BufferEvent holds;
    // it is live because libevent calls no callback after bufferevent_free, which Drop
    // calls before releasing the Rc. We take our own strong reference for the call.
    let cbs: Rc<Callbacks> = unsafe { context_from_arg(arg) };
    let base = cbs.base.as_raw();
    let state = cbs.state();
    let prev = match may_run(state) {
        Ok(prev) => prev,
        Err(Borrow::Owner) => {
            panic::wrap(Guard::Loop(base), || conflict("a bufferevent callback"));
            return;
        }
        Err(_) => return defer(bev, which),
    };
    // SAFETY: bev is the live bufferevent this callback runs for; the extra reference keeps
    // its memory valid even if the callback frees the owning handle.
    unsafe { sys::bufferevent_incref(bev) };
    panic::wrap(Guard::Loop(base), || {
        state.set(Borrow::Callback);
        let _restore = Restore(state, prev);
        let outer = RUNNING.with(|r| r.replace(prev));
        struct Back(Borrow);
        impl Drop for Back {
            fn drop(&mut self) {
                RUNNING.with(|r| r.set(self.0));
            }
        }
        let _back = Back(outer);
        // SAFETY: bev is live (see above), and the state makes this the only view of it
        // (and of the buffers C links to it) while the callback runs: the owner refuses
        // to act, and any other callback of the group waits (see may_run).
        let r = unsafe { BufferEventRef::from_raw(bev) };
        run(&cbs, r)
    });
    // SAFETY: releases the reference taken above; may free the bufferevent.
    unsafe { sys::bufferevent_decref(bev) };
}

pub(super) extern "C" fn read_tramp(bev: *mut sys::bufferevent, arg: *mut c_void) {
    super::edge::note(bev, true);
    with_callbacks(bev, arg, Which::Read, |cbs, r| {
        cbs.call_slot(SlotId::Read, &cbs.read, |f| f(r, cbs))
    });
}

pub(super) extern "C" fn write_tramp(bev: *mut sys::bufferevent, arg: *mut c_void) {
    super::edge::note(bev, false);
    with_callbacks(bev, arg, Which::Write, |cbs, r| {
        cbs.call_slot(SlotId::Write, &cbs.write, |f| f(r, cbs))
    });
}

pub(super) extern "C" fn event_tramp(bev: *mut sys::bufferevent, what: c_short, arg: *mut c_void) {
    with_callbacks(bev, arg, Which::Event(what), |cbs, r| {
        cbs.call_slot(SlotId::Event, &cbs.event, |f| f(r, BevEvent(what), cbs))
    });
}

/// Runs `f` with the context taken out of `cbs` as a `T`, and puts it back after (also if
/// `f` panics). `None` when the context is lent out (the caller defers); a panic naming
/// the types when it is not a `T`, or when there is none.
pub(super) fn with_ctx<T: Any, R>(
    cbs: &Callbacks,
    who: &str,
    f: impl FnOnce(&mut T) -> R,
) -> Option<R> {
    let taken = cbs.ctx.take()?;
    struct PutBack<'a>(&'a Callbacks, Option<Box<dyn Any>>);
    impl Drop for PutBack<'_> {
        fn drop(&mut self) {
            // Nothing can set a context meanwhile (the owner is refused while its view is
            // out), so the cell is still empty.
            self.0.ctx.set(self.1.take());
        }
    }
    let mut back = PutBack(cbs, Some(taken));
    let boxed = back.1.as_mut().expect("just put there");
    match boxed.downcast_mut::<T>() {
        Some(t) => Some(f(t)),
        None => panic!(
            "{who}: the bufferevent's context is not a {}",
            std::any::type_name::<T>()
        ),
    }
}
