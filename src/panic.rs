//! The one panic policy of every trampoline: a panic never unwinds into C.
//!
//! Each `extern "C"` function that runs Rust code does so through [`wrap`], which runs it
//! under `catch_unwind` and returns `None` if it panicked (as git2's `panic::wrap` does),
//! so a trampoline that must hand C a value picks a safe one. What happens to the panic
//! depends on where the callback ran:
//!
//! - [`Guard::Loop`]: inside a base's loop (events, bufferevents, listeners, filters).
//!   The payload is parked for that base, the loop is broken, and the loop call
//!   ([`EventBase::dispatch`](crate::EventBase::dispatch), [`run`](crate::EventBase::run))
//!   resumes it once C has returned; a C program running the loop itself gets it through
//!   [`EventBase::resume_panic`](crate::EventBase::resume_panic).
//! - [`Guard::Contain`]: where no loop is known (an evbuffer's callbacks, which run inside
//!   whatever changed the buffer; libevent's log callback). The panic is contained and
//!   reported through the `log` crate; a panic of the reporter itself is swallowed.
//!
//! One exception to [`Guard::Loop`], as git2's `panic::check` after each call: a callback
//! that C runs synchronously from inside one of this crate's calls (a write to a pair
//! without deferred callbacks runs the other end's read callback before it returns; so do
//! a filter's write and `flush`) panics out of that call. Such calls run their C call
//! through [`sync`]; a trampoline whose callback panicked directly beneath one hands the
//! payload to it, and the call resumes it once C has returned. Nested, each level takes
//! its own: the panic unwinds through the callback that made the inner call, whose
//! trampoline hands it to the next call out, and so on.

use libevent_sys as sys;
use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};

thread_local! {
    // A base runs its callbacks on the thread that runs its loop, so the loop call finds
    // its panic on its own thread.
    static PARKED: RefCell<Vec<(usize, Box<dyn Any + Send>)>> = const { RefCell::new(Vec::new()) };
    /// How many trampolines are running on this thread, one inside another.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    /// The trampoline depth directly beneath the innermost [`sync`] call (0: none).
    static SYNC_AT: Cell<u32> = const { Cell::new(0) };
    /// The panic a callback beneath that call raised, for the call to resume.
    static SYNC_PANIC: RefCell<Option<Box<dyn Any + Send>>> = const { RefCell::new(None) };
}

/// Runs `f`, a C call that may run this crate's callbacks before it returns, and resumes
/// here a panic that one of them raised.
#[inline]
pub(crate) fn sync<R>(f: impl FnOnce() -> R) -> R {
    let outer = SYNC_AT.replace(DEPTH.get() + 1);
    let r = f();
    SYNC_AT.set(outer);
    if let Some(payload) = SYNC_PANIC.with(|p| p.borrow_mut().take()) {
        panic::resume_unwind(payload);
    }
    r
}

/// True in a trampoline about to run (before [`wrap`]) directly beneath a [`sync`] call:
/// C runs it synchronously from inside one of this crate's calls, not from a loop.
#[inline]
pub(crate) fn beneath_sync() -> bool {
    let at = SYNC_AT.get();
    at != 0 && at == DEPTH.get() + 1
}

/// Where a callback runs, which decides what becomes of its panic.
#[derive(Clone, Copy)]
pub(crate) enum Guard {
    /// In the loop of this base: park the panic for it and break the loop.
    Loop(*mut sys::event_base),
    /// Outside any known loop: contain the panic and report it, naming the callback.
    Contain(&'static str),
}

/// Runs `f` under the policy `guard`; `None` if it panicked.
#[inline]
pub(crate) fn wrap<R>(guard: Guard, f: impl FnOnce() -> R) -> Option<R> {
    let depth = DEPTH.get() + 1;
    DEPTH.set(depth);
    let r = panic::catch_unwind(AssertUnwindSafe(f));
    DEPTH.set(depth - 1);
    match r {
        Ok(r) => Some(r),
        Err(payload) => {
            caught(guard, payload, depth);
            None
        }
    }
}

#[cold]
fn caught(guard: Guard, payload: Box<dyn Any + Send>, depth: u32) {
    if matches!(guard, Guard::Loop(_)) && SYNC_AT.get() == depth {
        // Directly beneath a `sync` call: it resumes the first such panic when C returns
        // (a second one during the same call is dropped, as the loop keeps only one).
        SYNC_PANIC.with(|p| {
            let mut p = p.borrow_mut();
            if p.is_none() {
                *p = Some(payload);
            }
        });
        return;
    }
    match guard {
        Guard::Loop(base) => {
            PARKED.with(|p| p.borrow_mut().push((base as usize, payload)));
            // SAFETY: base is the live base whose loop is running this callback.
            unsafe { sys::event_base_loopbreak(base) };
        }
        Guard::Contain(what) => {
            // The reporter (the program's logger) may panic too; that must not unwind
            // into C either.
            let _ = panic::catch_unwind(|| log::error!("panic in {what} (contained)"));
        }
    }
}

/// Re-raises the first panic parked for `base`, if any.
pub(crate) fn resume(base: *mut sys::event_base) {
    if let Some(payload) = take(base) {
        panic::resume_unwind(payload);
    }
}

/// Takes the panic parked for `base` without raising it.
pub(crate) fn take(base: *mut sys::event_base) -> Option<Box<dyn Any + Send>> {
    PARKED.with(|p| {
        let mut p = p.borrow_mut();
        let i = p.iter().position(|(b, _)| *b == base as usize)?;
        Some(p.remove(i).1)
    })
}
