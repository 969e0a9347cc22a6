//! Panics in callbacks must never unwind into C. Each trampoline runs the closure under
//! `catch_unwind`; a caught panic is parked here, keyed by the base whose loop was running,
//! the loop is broken, and the loop call resumes the panic once C has returned.

use libevent_sys as sys;
use std::any::Any;
use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};

thread_local! {
    // A base runs its callbacks on the thread that runs its loop, so the loop call finds
    // its panic on its own thread.
    static PARKED: RefCell<Vec<(usize, Box<dyn Any + Send>)>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f`; if it panics, parks the payload for `base` and breaks that base's loop.
pub(crate) fn guard<F: FnOnce()>(base: *mut sys::event_base, f: F) {
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(f)) {
        PARKED.with(|p| p.borrow_mut().push((base as usize, payload)));
        // SAFETY: base is the live base whose loop is running this callback.
        unsafe { sys::event_base_loopbreak(base) };
    }
}

/// Re-raises the first panic parked for `base`, if any.
pub(crate) fn resume(base: *mut sys::event_base) {
    let payload = PARKED.with(|p| {
        let mut p = p.borrow_mut();
        let i = p.iter().position(|(b, _)| *b == base as usize)?;
        Some(p.remove(i).1)
    });
    if let Some(payload) = payload {
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
