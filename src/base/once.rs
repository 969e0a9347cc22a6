//! `event_base_once`: a callback run once, on a descriptor, a signal-free timeout or
//! both, with no `Event` to keep.
//!
//! libevent owns the event; the closure is the crate's. Each pending closure sits in an
//! `Rc<OnceSlot>` that the base also lists: the trampoline takes the closure out and
//! releases libevent's count; a base freed first (`event_base_free` frees pending
//! one-shot events without calling them) drops the closures still listed.

use super::EventBase;
use crate::error::{call, Error, Result};
use crate::event::Flags;
use crate::panic::{self, Guard};
use crate::util::time::OptionalTimeval;
use libevent_sys as sys;
use std::cell::Cell;
use std::ffi::{c_short, c_void};
use std::os::fd::RawFd;
use std::rc::Rc;
use std::time::Duration;

type OnceFn = Box<dyn FnOnce(Flags)>;

/// A one-shot closure, and the base it runs on (for panics).
pub(super) struct OnceSlot {
    f: Cell<Option<OnceFn>>,
    base: *mut sys::event_base,
}

/// The closures a base has handed to `event_base_once` and libevent has not run yet.
#[derive(Default)]
pub(super) struct Pending(std::cell::RefCell<Vec<Rc<OnceSlot>>>);

impl Pending {
    fn add(&self, slot: Rc<OnceSlot>) {
        let mut v = self.0.borrow_mut();
        // Those that ran hold only this list's count now.
        v.retain(|s| Rc::strong_count(s) > 1);
        v.push(slot);
    }

    /// The base's Rust state is going. An owned base is freed next, and
    /// `event_base_free` frees pending one-shot events without calling them: their
    /// closures are dropped here, and libevent's counts released. A base borrowed from C
    /// lives on and may still run them: each keeps its closure, held by libevent's count
    /// alone (and leaked if C frees the base before it fires: libevent tells no one).
    pub(super) fn base_going(&self, owned: bool) {
        for s in self.0.borrow_mut().drain(..) {
            if owned && Rc::strong_count(&s) > 1 {
                drop(s.f.take());
                // SAFETY: the count handed to event_base_once, whose event the base's
                // free is about to release without calling.
                unsafe { Rc::decrement_strong_count(Rc::as_ptr(&s)) };
            }
        }
    }
}

extern "C" fn once_tramp(_fd: sys::evutil_socket_t, what: c_short, arg: *mut c_void) {
    // SAFETY: arg is the count handed over in `once`; libevent calls this at most once,
    // and that count is ours from here.
    let slot = unsafe { Rc::from_raw(arg as *const OnceSlot) };
    if let Some(f) = slot.f.take() {
        panic::wrap(Guard::Loop(slot.base), || f(Flags::from_bits(what)));
    }
}

impl EventBase {
    /// `event_base_once`: run `f` once, when `fd` is ready for `flags` (of `READ`,
    /// `WRITE`, `CLOSED`) or `timeout` passes, whichever comes first; `f` gets what
    /// fired. With no flags (and `fd` -1) it is a timer, and with no timeout either it
    /// runs on the loop's next pass. `fd` is borrowed: it must stay open until then.
    /// libevent owns the event, so there is nothing to cancel: a closure not run when
    /// the base is freed is dropped unrun. (On a base borrowed from C it stays with
    /// libevent, to run if the C loop fires it; if C frees the base first, it leaks.) A
    /// closure that holds an `EventBase` clone keeps the base alive until it runs.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::event::Flags;
    /// use std::time::Duration;
    /// let base = EventBase::new()?;
    /// let fired = std::rc::Rc::new(std::cell::Cell::new(Flags::empty()));
    /// let f = fired.clone();
    /// base.once(-1, Flags::empty(), Some(Duration::from_millis(1)), move |what| f.set(what))?;
    /// base.dispatch()?;
    /// assert!(fired.get().contains(Flags::TIMEOUT));
    /// // No flags, no timeout: on the next pass.
    /// let ran = std::rc::Rc::new(std::cell::Cell::new(false));
    /// let r = ran.clone();
    /// base.once(-1, Flags::empty(), None, move |_| r.set(true))?;
    /// base.run(LoopFlags::NONBLOCK)?;
    /// assert!(ran.get());
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn once<F: FnOnce(Flags) + 'static>(
        &self,
        fd: RawFd,
        flags: Flags,
        timeout: Option<Duration>,
        f: F,
    ) -> Result<()> {
        const F: &str = "event_base_once";
        if flags.intersects(Flags::SIGNAL | Flags::PERSIST) {
            return Err(Error::invalid(
                F,
                "a one-shot event cannot be a signal or persist",
            ));
        }
        if fd < 0 && flags.intersects(Flags::READ | Flags::WRITE | Flags::CLOSED) {
            return Err(Error::invalid(F, "READ or WRITE needs a descriptor"));
        }
        let io = flags & (Flags::READ | Flags::WRITE | Flags::CLOSED);
        // libevent tells a timer by EV_TIMEOUT alone.
        let events = if io.is_empty() { Flags::TIMEOUT } else { io };
        let tv = OptionalTimeval::new(F, timeout)?;
        let slot = Rc::new(OnceSlot {
            f: Cell::new(Some(Box::new(f))),
            base: self.as_raw(),
        });
        let arg = Rc::into_raw(slot.clone()) as *mut c_void;
        // SAFETY: base live; arg is a count of the slot that the trampoline (or the
        // base's going) releases; tv is read during the call only.
        let rc = unsafe {
            call!(sys::event_base_once(
                self.as_raw(),
                fd,
                events.bits(),
                Some(once_tramp),
                arg,
                tv.as_ptr()
            ))
        };
        match rc {
            Ok(_) => {
                self.inner().once.add(slot);
                Ok(())
            }
            Err(e) => {
                // SAFETY: libevent did not take the count.
                unsafe { Rc::decrement_strong_count(arg as *const OnceSlot) };
                Err(e)
            }
        }
    }
}
