//! `struct event`: a callback on a descriptor, a timer or a signal.

use crate::base::EventBase;
use crate::error::{call, Error, Result};
use crate::handle::{context_arg, context_from_arg};
use crate::panic::{self, Guard};
use crate::util::flag_type;
use crate::util::time::OptionalTimeval;
use libevent_sys as sys;
use std::cell::RefCell;
use std::ffi::{c_short, c_void};
use std::os::fd::RawFd;
use std::ptr::NonNull;
use std::rc::Rc;
use std::time::Duration;

flag_type! {
    /// `EV_*`: what an event waits for, and what fired.
    ///
    /// ```
    /// use libevent::event::Flags;
    /// let f = Flags::READ | Flags::PERSIST;
    /// assert!(f.contains(Flags::READ) && !f.contains(Flags::WRITE));
    /// ```
    Flags: c_short {
        /// `EV_TIMEOUT`.
        TIMEOUT = sys::EV_TIMEOUT;
        /// `EV_READ`.
        READ = sys::EV_READ;
        /// `EV_WRITE`.
        WRITE = sys::EV_WRITE;
        /// `EV_SIGNAL`.
        SIGNAL = sys::EV_SIGNAL;
        /// `EV_PERSIST`: stay pending after firing.
        PERSIST = sys::EV_PERSIST;
        /// `EV_ET`: edge-triggered.
        ET = sys::EV_ET;
        /// `EV_FINALIZE`.
        FINALIZE = sys::EV_FINALIZE;
        /// `EV_CLOSED`: the peer closed (needs `Features::EARLY_CLOSE`).
        CLOSED = sys::EV_CLOSED;
    }
}

struct Callback {
    base: *mut sys::event_base,
    f: RefCell<Box<dyn FnMut(Flags)>>,
}

extern "C" fn trampoline(_fd: sys::evutil_socket_t, what: c_short, arg: *mut c_void) {
    // SAFETY: arg is the context_arg of the Callback that the Event holds until after
    // event_free, after which libevent calls no more; our own reference keeps the closure
    // alive even if it drops its Event while it runs.
    let cb: Rc<Callback> = unsafe { context_from_arg(arg) };
    panic::wrap(Guard::Loop(cb.base), || {
        // A nested loop cannot re-enter (libevent refuses reentrant loops), so the borrow
        // is always free; if it somehow is not, skipping beats aborting.
        if let Ok(mut f) = cb.f.try_borrow_mut() {
            f(Flags(what));
        }
    });
}

/// An event (`struct event`, made by `event_new`).
///
/// The callback is a Rust closure that receives the [`Flags`] that fired. Dropping the
/// `Event` deletes and frees it (`event_free`); that is allowed inside its own callback.
///
/// ```
/// use libevent::{EventBase, Event};
/// use libevent::event::Flags;
/// use std::os::fd::AsRawFd;
/// use std::io::Write;
/// use std::cell::Cell;
/// use std::rc::Rc;
///
/// let base = EventBase::new()?;
/// let (r, mut w) = std::os::unix::net::UnixStream::pair().unwrap();
/// let seen = Rc::new(Cell::new(Flags::empty()));
/// let s = seen.clone();
/// let ev = Event::new(&base, r.as_raw_fd(), Flags::READ, move |what| s.set(what))?;
/// ev.add(None)?;
/// w.write_all(b"x").unwrap();
/// base.dispatch()?;
/// assert!(seen.get().contains(Flags::READ));
/// # Ok::<(), libevent::Error>(())
/// ```
pub struct Event {
    raw: NonNull<sys::event>,
    _cb: Rc<Callback>,
    base: EventBase,
}

impl Event {
    /// `event_new`: an event on `fd` (or `-1` for a pure timer) with `flags`.
    ///
    /// `fd` is borrowed, not owned: it must stay open while the event is pending.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::event::Flags;
    /// # let base = EventBase::new()?;
    /// let (r, _w) = std::os::unix::net::UnixStream::pair().unwrap();
    /// use std::os::fd::AsRawFd;
    /// let ev = Event::new(&base, r.as_raw_fd(), Flags::READ | Flags::PERSIST, |what| println!("{what:?}"))?;
    /// ev.add(None)?;
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn new<F>(base: &EventBase, fd: RawFd, flags: Flags, callback: F) -> Result<Event>
    where
        F: FnMut(Flags) + 'static,
    {
        if fd < 0 && flags.intersects(Flags::READ | Flags::WRITE | Flags::CLOSED) {
            return Err(Error::invalid(
                "event_new",
                "a read, write or closed event needs a descriptor",
            ));
        }
        if flags.contains(Flags::SIGNAL) && flags.intersects(Flags::READ | Flags::WRITE) {
            return Err(Error::invalid(
                "event_new",
                "EV_SIGNAL cannot be mixed with EV_READ or EV_WRITE",
            ));
        }
        if flags.contains(Flags::SIGNAL) && !(1..65).contains(&fd) {
            return Err(Error::invalid("event_new", "signal number out of range"));
        }
        let cb = Rc::new(Callback {
            base: base.as_raw(),
            f: RefCell::new(Box::new(callback)),
        });
        // SAFETY: base is live; the Event keeps cb alive until after event_free.
        let raw = unsafe {
            call!(sys::event_new(
                base.as_raw(),
                fd,
                flags.0,
                Some(trampoline),
                context_arg(&cb),
            ))
        }?;
        Ok(Event {
            raw,
            _cb: cb,
            base: base.clone(),
        })
    }

    /// A timer (`evtimer_new`): fires once per [`add`](Event::add) with a timeout.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// let t = Event::timer(&base, |_| println!("once"))?;
    /// t.add(Some(std::time::Duration::from_millis(1)))?;
    /// base.dispatch()?;
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn timer<F: FnMut(Flags) + 'static>(base: &EventBase, callback: F) -> Result<Event> {
        Event::new(base, -1, Flags::empty(), callback)
    }

    /// A repeating timer: `EV_PERSIST` with no descriptor, added with `interval`.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// let n = std::rc::Rc::new(std::cell::Cell::new(0));
    /// let (c, b) = (n.clone(), base.clone());
    /// let _tick = Event::interval(&base, std::time::Duration::from_millis(1), move |_| {
    ///     c.set(c.get() + 1);
    ///     if c.get() == 3 { b.loopbreak().unwrap(); }
    /// })?;
    /// base.dispatch()?;
    /// assert_eq!(n.get(), 3);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn interval<F: FnMut(Flags) + 'static>(
        base: &EventBase,
        interval: Duration,
        callback: F,
    ) -> Result<Event> {
        if interval.is_zero() {
            return Err(Error::invalid(
                "event_add",
                "a repeating timer needs a non-zero interval",
            ));
        }
        let ev = Event::new(base, -1, Flags::PERSIST, callback)?;
        ev.add(Some(interval))?;
        Ok(ev)
    }

    /// A signal event (`evsignal_new`, persistent): runs on the loop when `signum` arrives.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// let b = base.clone();
    /// let on_term = Event::signal(&base, libc::SIGTERM, move |_| b.loopbreak().unwrap())?;
    /// on_term.add(None)?;
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn signal<F: FnMut(Flags) + 'static>(
        base: &EventBase,
        signum: i32,
        callback: F,
    ) -> Result<Event> {
        Event::new(base, signum, Flags::SIGNAL | Flags::PERSIST, callback)
    }

    /// `event_add`: make it pending, with an optional timeout.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// let t = Event::timer(&base, |_| {})?;
    /// t.add(Some(std::time::Duration::from_secs(1)))?;
    /// assert!(t.is_pending());
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn add(&self, timeout: Option<Duration>) -> Result<()> {
        let tv = OptionalTimeval::new("event_add", timeout)?;
        // SAFETY: raw is live; tv read during the call only.
        unsafe { call!(sys::event_add(self.raw.as_ptr(), tv.as_ptr())) }?;
        Ok(())
    }

    /// `event_add` with a [`CommonTimeout`](crate::base::CommonTimeout) of this event's base.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::event::Flags;
    /// let base = EventBase::new()?;
    /// let t = Event::timer(&base, |what| assert!(what.contains(Flags::TIMEOUT)))?;
    /// t.add_common(base.common_timeout(std::time::Duration::from_millis(1))?)?;
    /// base.dispatch()?;
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn add_common(&self, timeout: crate::base::CommonTimeout) -> Result<()> {
        let tv = timeout.timeval_for("event_add", self.base.as_raw())?;
        // SAFETY: raw is live; tv read during the call only.
        unsafe { call!(sys::event_add(self.raw.as_ptr(), &tv)) }?;
        Ok(())
    }

    /// `event_del`: make it non-pending and non-active.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// let t = Event::timer(&base, |_| {})?;
    /// t.add(Some(std::time::Duration::from_secs(1)))?;
    /// t.del()?;
    /// assert!(!t.is_pending());
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn del(&self) -> Result<()> {
        // SAFETY: raw is live.
        unsafe { call!(sys::event_del(self.raw.as_ptr())) }?;
        Ok(())
    }

    /// `event_remove_timer`: drop the event's timeout but keep it waiting for its
    /// descriptor or signal (a pure timer stops being pending).
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::event::Flags;
    /// use std::os::fd::AsRawFd;
    /// # let base = EventBase::new()?;
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let ev = Event::new(&base, a.as_raw_fd(), Flags::READ, |_| {})?;
    /// ev.add(Some(std::time::Duration::from_secs(1)))?;
    /// ev.remove_timer()?;
    /// assert!(ev.pending(Flags::READ).contains(Flags::READ));
    /// assert!(ev.pending(Flags::TIMEOUT).is_empty());
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn remove_timer(&self) -> Result<()> {
        // SAFETY: raw is live.
        unsafe { call!(sys::event_remove_timer(self.raw.as_ptr())) }?;
        Ok(())
    }

    /// `event_active`: run the callback on the next pass with `what`.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::event::Flags;
    /// # let base = EventBase::new()?;
    /// let got = std::rc::Rc::new(std::cell::Cell::new(Flags::empty()));
    /// let g = got.clone();
    /// let ev = Event::new(&base, -1, Flags::empty(), move |w| g.set(w))?;
    /// ev.activate(Flags::READ);
    /// base.run(LoopFlags::NONBLOCK)?;
    /// assert_eq!(got.get(), Flags::READ);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn activate(&self, what: Flags) {
        // SAFETY: raw is live.
        unsafe { sys::event_active(self.raw.as_ptr(), i32::from(what.0), 0) };
    }

    /// `event_pending`: which of `what` is pending.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::event::Flags;
    /// # let base = EventBase::new()?;
    /// let t = Event::timer(&base, |_| {})?;
    /// t.add(Some(std::time::Duration::from_secs(1)))?;
    /// assert!(t.pending(Flags::TIMEOUT).contains(Flags::TIMEOUT));
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn pending(&self, what: Flags) -> Flags {
        // SAFETY: raw is live; a null timeval pointer is allowed.
        Flags(
            unsafe { sys::event_pending(self.raw.as_ptr(), what.0, std::ptr::null_mut()) }
                as c_short,
        )
    }

    /// `event_initialized`-style check: is the event pending for anything.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// let t = Event::timer(&base, |_| {})?;
    /// assert!(!t.is_pending());
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn is_pending(&self) -> bool {
        !self
            .pending(Flags::TIMEOUT | Flags::READ | Flags::WRITE | Flags::SIGNAL | Flags::CLOSED)
            .is_empty()
    }

    /// `event_priority_set`: 0 is most urgent; needs [`EventBase::priority_init`].
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// base.priority_init(2)?;
    /// let ev = Event::timer(&base, |_| {})?;
    /// ev.set_priority(0)?;
    /// assert!(ev.set_priority(2).is_err());
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn set_priority(&self, priority: u8) -> Result<()> {
        if u32::from(priority) >= self.base.priorities() {
            return Err(Error::invalid(
                "event_priority_set",
                "priority beyond event_base_priority_init",
            ));
        }
        // SAFETY: raw is live.
        unsafe {
            call!(sys::event_priority_set(
                self.raw.as_ptr(),
                i32::from(priority)
            ))
        }?;
        Ok(())
    }

    /// `event_get_priority`.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// base.priority_init(4)?;
    /// let ev = Event::timer(&base, |_| {})?;
    /// assert_eq!(ev.priority(), 2); // the middle one, by default
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn priority(&self) -> u8 {
        // SAFETY: raw is live.
        unsafe { sys::event_get_priority(self.raw.as_ptr()) as u8 }
    }

    /// `event_get_fd`.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// let t = Event::timer(&base, |_| {})?;
    /// assert_eq!(t.fd(), -1);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn fd(&self) -> RawFd {
        // SAFETY: raw is live.
        unsafe { sys::event_get_fd(self.raw.as_ptr()) }
    }

    /// `event_get_events`.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::event::Flags;
    /// # let base = EventBase::new()?;
    /// let ev = Event::new(&base, -1, Flags::PERSIST, |_| {})?;
    /// assert_eq!(ev.flags(), Flags::PERSIST);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn flags(&self) -> Flags {
        // SAFETY: raw is live.
        Flags(unsafe { sys::event_get_events(self.raw.as_ptr()) })
    }

    /// The base it belongs to.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// let t = Event::timer(&base, |_| {})?;
    /// assert_eq!(t.base().as_raw(), base.as_raw());
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn base(&self) -> &EventBase {
        &self.base
    }

    /// The raw `struct event *`, still owned by `self`.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// let t = Event::timer(&base, |_| {})?;
    /// // SAFETY: the event is live.
    /// assert_eq!(unsafe { libevent::sys::event_get_fd(t.as_raw()) }, -1);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn as_raw(&self) -> *mut sys::event {
        self.raw.as_ptr()
    }
}

impl Drop for Event {
    fn drop(&mut self) {
        // SAFETY: made by event_new, freed once. After event_free libevent never calls the
        // trampoline again, so the callbacks (dropped after this, with the fields) can go;
        // a running callback holds its own reference.
        unsafe { sys::event_free(self.raw.as_ptr()) };
    }
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event")
            .field("fd", &self.fd())
            .field("flags", &self.flags())
            .finish()
    }
}
