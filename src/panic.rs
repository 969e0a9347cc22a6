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

use libevent_sys as sys;
use std::any::Any;
use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};

thread_local! {
    // A base runs its callbacks on the thread that runs its loop, so the loop call finds
    // its panic on its own thread.
    static PARKED: RefCell<Vec<(usize, Box<dyn Any + Send>)>> = const { RefCell::new(Vec::new()) };
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
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => Some(r),
        Err(payload) => {
            caught(guard, payload);
            None
        }
    }
}

#[cold]
fn caught(guard: Guard, payload: Box<dyn Any + Send>) {
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
