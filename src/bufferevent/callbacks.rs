//! The three callback slots of a bufferevent and their `extern "C"` trampolines.

use super::borrowed::BufferEventRef;
use super::{BevEvent, Kind};
use crate::handle::context_from_arg;
use crate::panic::{self, Guard};
use libevent_sys as sys;
use std::cell::Cell;
use std::ffi::{c_short, c_void};
use std::rc::Rc;

pub(super) type DataFn = Box<dyn FnMut(&mut BufferEventRef)>;
pub(super) type EventFn = Box<dyn FnMut(&mut BufferEventRef, BevEvent)>;

/// One callback slot. While its callback runs, the closure is lent out of the slot, so the
/// callback may replace or clear itself (or any other slot); the closure goes back only if
/// nothing replaced it meanwhile.
///
/// Made of `Cell`s rather than a `RefCell`: no borrow is ever held, so dropping a replaced
/// closure may itself touch the slots, and a bufferevent's three slots take 72 bytes (a
/// server holds one set per connection).
pub(super) struct Slot<F> {
    f: Cell<Option<F>>,
    /// Bumped by every set or clear; never 0 (wrapping past it: a loan lasts one
    /// callback, far shorter than 2^32 sets).
    generation: Cell<u32>,
    /// The generation lent out to a running callback; 0 when none runs.
    lent: Cell<u32>,
}

impl<F> Slot<F> {
    pub(super) fn new() -> Slot<F> {
        Slot {
            f: Cell::new(None),
            generation: Cell::new(1),
            lent: Cell::new(0),
        }
    }

    /// True when C should keep calling this slot's trampoline.
    pub(super) fn is_set(&self) -> bool {
        let f = self.f.take();
        let set = f.is_some();
        self.f.set(f);
        set || self.lent.get() == self.generation.get()
    }

    pub(super) fn set(&self, f: Option<F>) {
        let next = self.generation.get().wrapping_add(1);
        self.generation.set(next.max(1));
        // The old closure is dropped after the slot holds the new one.
        self.f.set(f);
    }
}

/// Lends the closure out for one call, then returns it unless it was replaced.
fn call_slot<F>(slot: &Slot<F>, run: impl FnOnce(&mut F)) {
    if slot.lent.get() != 0 {
        return; // cannot happen: libevent does not nest a bufferevent's callbacks
    }
    let Some(mut f) = slot.f.take() else { return };
    let generation = slot.generation.get();
    slot.lent.set(generation);
    /// Ends the loan even if the closure panics (the panic guard above catches it; the
    /// panicking closure is then dropped, not put back).
    struct EndLoan<'a, F>(&'a Slot<F>);
    impl<F> Drop for EndLoan<'_, F> {
        fn drop(&mut self) {
            self.0.lent.set(0);
        }
    }
    let _end = EndLoan(slot);
    run(&mut f);
    if slot.generation.get() == generation {
        slot.f.set(Some(f));
    }
}

/// A bufferevent's callbacks, kept in an `Rc` by its [`BufferEvent`](super::BufferEvent)
/// and registered with C through [`context_arg`](crate::handle::context_arg).
pub(super) struct Callbacks {
    pub(super) base: *mut sys::event_base,
    /// How the bufferevent was made: see [`BufferEvent::write_direct`](super::BufferEvent::write_direct).
    pub(super) kind: Kind,
    pub(super) read: Slot<DataFn>,
    pub(super) write: Slot<DataFn>,
    pub(super) event: Slot<EventFn>,
}

/// Runs one callback with the bufferevent kept alive by libevent's own reference count
/// and the closures kept alive by ours, so the callback may drop its `BufferEvent`.
fn with_callbacks(
    bev: *mut sys::bufferevent,
    arg: *mut c_void,
    run: impl FnOnce(&Callbacks, &mut BufferEventRef),
) {
    // SAFETY: arg is the context_arg of the Callbacks that the owning BufferEvent holds;
    // it is live because libevent calls no callback after bufferevent_free, which Drop
    // calls before releasing the Rc. We take our own strong reference for the call.
    let cbs: Rc<Callbacks> = unsafe { context_from_arg(arg) };
    // SAFETY: bev is the live bufferevent this callback runs for; the extra reference keeps
    // its memory valid even if the callback frees the owning handle.
    unsafe { sys::bufferevent_incref(bev) };
    panic::wrap(Guard::Loop(cbs.base), || {
        // SAFETY: bev is live (see above) and nothing else touches it during the callback.
        let r = unsafe { BufferEventRef::from_raw(bev) };
        run(&cbs, r)
    });
    // SAFETY: releases the reference taken above; may free the bufferevent.
    unsafe { sys::bufferevent_decref(bev) };
}

pub(super) extern "C" fn read_tramp(bev: *mut sys::bufferevent, arg: *mut c_void) {
    with_callbacks(bev, arg, |cbs, r| call_slot(&cbs.read, |f| f(r)));
}

pub(super) extern "C" fn write_tramp(bev: *mut sys::bufferevent, arg: *mut c_void) {
    with_callbacks(bev, arg, |cbs, r| call_slot(&cbs.write, |f| f(r)));
}

pub(super) extern "C" fn event_tramp(bev: *mut sys::bufferevent, what: c_short, arg: *mut c_void) {
    with_callbacks(bev, arg, |cbs, r| {
        call_slot(&cbs.event, |f| f(r, BevEvent(what)))
    });
}
