//! What a base says about itself and lets a program poke: its events, its counts, its
//! clock, activation by descriptor or signal, the dispatch interval; and the process-wide
//! calls of event.h (the numeric version, the allocator, the final shutdown).

use super::{Config, Count, EventBase};
use crate::error::{call, Error, Result};
use crate::event::Flags;
use crate::util::time::OptionalTimeval;
use libevent_sys as sys;
use std::ffi::c_void;
use std::os::fd::RawFd;
use std::ptr::NonNull;
use std::time::Duration;

/// One event of a base, as [`EventBase::events`] lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventInfo {
    /// The C event, to tell events apart (and compare with [`Event::as_raw`]).
    ///
    /// [`Event::as_raw`]: crate::Event::as_raw
    pub raw: *const sys::event,
    /// Its descriptor (`event_get_fd`), -1 for a timer.
    pub fd: RawFd,
    /// What it waits for (`event_get_events`).
    pub flags: Flags,
    /// Its priority (`event_get_priority`).
    pub priority: u8,
}

impl EventBase {
    /// `event_gettime_monotonic`: the base's monotonic clock (the time its timers are
    /// measured on), from an arbitrary start.
    ///
    /// On Linux a base made without [`BaseFlags::PRECISE_TIMER`] reads the coarse
    /// clock (`CLOCK_MONOTONIC_COARSE`), which moves once per kernel tick (1 to 10 ms):
    /// two readings a few milliseconds apart can be equal.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::base::{BaseFlags, Config};
    /// # use std::time::Duration;
    /// let coarse = EventBase::new()?;
    /// let a = coarse.monotonic_time()?;
    /// std::thread::sleep(Duration::from_millis(50));
    /// // At most one tick of the 50 ms is lost to the clock's resolution.
    /// assert!(coarse.monotonic_time()? - a >= Duration::from_millis(35));
    ///
    /// let mut cfg = Config::new()?;
    /// cfg.flags(BaseFlags::PRECISE_TIMER)?;
    /// let precise = EventBase::with_config(&cfg)?;
    /// let a = precise.monotonic_time()?;
    /// std::thread::sleep(Duration::from_millis(2));
    /// // Each reading is truncated to the microsecond.
    /// assert!(precise.monotonic_time()? - a >= Duration::from_millis(1));
    /// # Ok::<(), libevent::Error>(())
    /// ```
    ///
    /// [`BaseFlags::PRECISE_TIMER`]: crate::base::BaseFlags::PRECISE_TIMER
    pub fn monotonic_time(&self) -> Result<Duration> {
        let mut tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 0,
        };
        // SAFETY: base live; tv is a valid out-parameter.
        unsafe { call!(sys::event_gettime_monotonic(self.as_raw(), &mut tv)) }?;
        Ok(Duration::new(tv.tv_sec as u64, tv.tv_usec as u32 * 1000))
    }

    /// `event_base_get_max_events`: the most events of the kinds in `which` there have
    /// been at once; with `clear`, start counting again from now.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::base::Count;
    /// let base = EventBase::new()?;
    /// let a = Event::timer(&base, |_| {})?;
    /// let b = Event::timer(&base, |_| {})?;
    /// a.add(Some(std::time::Duration::from_secs(1)))?;
    /// b.add(Some(std::time::Duration::from_secs(1)))?;
    /// drop((a, b));
    /// assert_eq!(base.max_events(Count::ADDED, true), 2);
    /// assert_eq!(base.max_events(Count::ADDED, false), 0);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn max_events(&self, which: Count, clear: bool) -> usize {
        // SAFETY: base live.
        let n = unsafe { sys::event_base_get_max_events(self.as_raw(), which.0, i32::from(clear)) };
        n.max(0) as usize
    }

    /// `event_base_active_by_fd`: make every event on `fd` active with `what` (of
    /// `READ`, `WRITE`, `CLOSED`), as if the descriptor were ready; their callbacks run
    /// from the loop.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::event::Flags;
    /// use std::os::fd::AsRawFd;
    /// let base = EventBase::new()?;
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let got = std::rc::Rc::new(std::cell::Cell::new(Flags::empty()));
    /// let g = got.clone();
    /// let ev = Event::new(&base, a.as_raw_fd(), Flags::READ, move |w| g.set(w))?;
    /// ev.add(None)?;
    /// base.active_by_fd(a.as_raw_fd(), Flags::READ);
    /// base.run(LoopFlags::NONBLOCK)?;
    /// assert!(got.get().contains(Flags::READ)); // nothing was written
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn active_by_fd(&self, fd: RawFd, what: Flags) {
        // SAFETY: base live; libevent only looks the descriptor up in its map.
        unsafe { sys::event_base_active_by_fd(self.as_raw(), fd, what.bits()) }
    }

    /// `event_base_active_by_signal`: make every event on signal `sig` active, as if it
    /// had arrived.
    ///
    /// ```
    /// # use libevent::*;
    /// let base = EventBase::new()?;
    /// let hit = std::rc::Rc::new(std::cell::Cell::new(false));
    /// let h = hit.clone();
    /// let ev = Event::signal(&base, libc::SIGUSR2, move |_| h.set(true))?;
    /// ev.add(None)?;
    /// base.active_by_signal(libc::SIGUSR2);
    /// base.run(LoopFlags::NONBLOCK)?;
    /// assert!(hit.get());
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn active_by_signal(&self, sig: i32) {
        // SAFETY: base live; libevent looks the number up in its signal map (bounded).
        unsafe { sys::event_base_active_by_signal(self.as_raw(), sig) }
    }

    /// `event_base_foreach_event`: every event added to or active on the base, the
    /// crate's own (bufferevents', tasks') included. The list is made while libevent
    /// walks its tables, where no Rust code runs, and handed over after.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::event::Flags;
    /// let base = EventBase::new()?;
    /// let t = Event::timer(&base, |_| {})?;
    /// t.add(Some(std::time::Duration::from_secs(5)))?;
    /// let events = base.events();
    /// let me = events.iter().find(|e| std::ptr::eq(e.raw, t.as_raw())).unwrap();
    /// assert_eq!(me.fd, -1);
    /// assert!(!me.flags.contains(Flags::READ));
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn events(&self) -> Vec<EventInfo> {
        unsafe extern "C" fn each(
            _base: *const sys::event_base,
            ev: *const sys::event,
            arg: *mut c_void,
        ) -> i32 {
            // SAFETY: arg is the Vec below, alive for the whole walk; ev is live during
            // the call. Only reads; no callback of the program runs.
            unsafe {
                let out = &mut *(arg as *mut Vec<EventInfo>);
                out.push(EventInfo {
                    raw: ev,
                    fd: sys::event_get_fd(ev),
                    flags: Flags::from_bits(sys::event_get_events(ev) as _),
                    priority: sys::event_get_priority(ev).clamp(0, 255) as u8,
                });
            }
            0
        }
        let mut out: Vec<EventInfo> = Vec::new();
        // SAFETY: base live; `each` neither panics nor touches the base.
        unsafe {
            sys::event_base_foreach_event(
                self.as_raw(),
                Some(each),
                &mut out as *mut Vec<EventInfo> as *mut c_void,
            )
        };
        out
    }

    /// `event_base_get_running_event`: the C event whose callback is running on this
    /// base now (called from inside one), for code that compares raw events; `None`
    /// outside callbacks.
    ///
    /// ```
    /// # use libevent::*;
    /// use std::{cell::Cell, rc::Rc};
    /// let base = EventBase::new()?;
    /// assert!(base.running_event().is_none());
    /// let seen = Rc::new(Cell::new(None));
    /// let (s, b) = (seen.clone(), base.clone());
    /// let t = Event::timer(&base, move |_| s.set(b.running_event()))?;
    /// t.add(Some(std::time::Duration::from_millis(1)))?;
    /// base.dispatch()?;
    /// assert_eq!(seen.get().map(|p| p.as_ptr()), Some(t.as_raw()));
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn running_event(&self) -> Option<NonNull<sys::event>> {
        // SAFETY: base live; returns a pointer or null.
        NonNull::new(unsafe { sys::event_base_get_running_event(self.as_raw()) })
    }
}

impl EventBase {
    /// `evthread_make_base_notifiable`: let another thread wake the loop when it adds or
    /// activates one of this base's events (a base made with feature `threads` is
    /// notifiable already; this is for a base a C program made before setting up
    /// threads).
    ///
    /// ```
    /// # use libevent::*;
    /// let base = EventBase::new()?;
    /// base.make_notifiable()?;
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn make_notifiable(&self) -> Result<()> {
        // SAFETY: base live.
        unsafe { call!(sys::evthread_make_base_notifiable(self.as_raw())) }?;
        Ok(())
    }
}

impl Config {
    /// `event_config_set_max_dispatch_interval`: after `interval` (`None`: no limit) or
    /// `callbacks` callbacks (`None`: no limit) of priority `min_priority` or lower
    /// (numerically higher), the loop checks for new events before running more, so a
    /// flood of low-priority work does not starve what became ready meanwhile.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::base::Config;
    /// let mut cfg = Config::new()?;
    /// cfg.set_max_dispatch_interval(Some(std::time::Duration::from_millis(5)), Some(64), 0)?;
    /// let _base = EventBase::with_config(&cfg)?;
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn set_max_dispatch_interval(
        &mut self,
        interval: Option<Duration>,
        callbacks: Option<usize>,
        min_priority: u8,
    ) -> Result<&mut Self> {
        const F: &str = "event_config_set_max_dispatch_interval";
        let tv = OptionalTimeval::new(F, interval)?;
        let max = match callbacks {
            None => -1,
            Some(n) => i32::try_from(n)
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| Error::invalid(F, "callbacks must be 1 to i32::MAX"))?,
        };
        // SAFETY: self.raw is live; tv is read during the call only.
        unsafe {
            call!(sys::event_config_set_max_dispatch_interval(
                self.raw.as_ptr(),
                tv.as_ptr(),
                max,
                min_priority.into()
            ))
        }?;
        Ok(self)
    }
}

/// `event_get_version_number`: libevent's version as a number, `0xMMmmpp00` for
/// `MM.mm.pp` (a release adds nothing in the low byte).
///
/// ```
/// let v = libevent::base::version_number();
/// assert_eq!(v >> 24, 2);
/// assert_eq!((v >> 16) & 0xff, 1);
/// ```
pub fn version_number() -> u32 {
    // SAFETY: no preconditions.
    unsafe { sys::event_get_version_number() }
}

/// `event_set_mem_functions`: libevent allocates with these instead of `malloc`,
/// `realloc` and `free` (the safe crate frees what libevent hands it through them too).
///
/// # Safety
/// Call it once, before anything in the process has used libevent (nothing it
/// allocated may be freed by the other allocator). The functions must behave as
/// `malloc`, `realloc` and `free` do (alignment, null on failure), never unwind, and
/// stay valid for the life of the process.
///
/// ```no_run
/// use std::ffi::c_void;
/// unsafe extern "C" fn my_malloc(n: usize) -> *mut c_void { unsafe { libc::malloc(n) } }
/// unsafe extern "C" fn my_realloc(p: *mut c_void, n: usize) -> *mut c_void {
///     unsafe { libc::realloc(p, n) }
/// }
/// unsafe extern "C" fn my_free(p: *mut c_void) { unsafe { libc::free(p) } }
/// // SAFETY: first thing in main; the functions are malloc's.
/// unsafe { libevent::base::set_mem_functions(my_malloc, my_realloc, my_free) };
/// ```
pub unsafe fn set_mem_functions(
    malloc: unsafe extern "C" fn(usize) -> *mut c_void,
    realloc: unsafe extern "C" fn(*mut c_void, usize) -> *mut c_void,
    free: unsafe extern "C" fn(*mut c_void),
) {
    // SAFETY: the caller's contract.
    unsafe { sys::event_set_mem_functions(Some(malloc), Some(realloc), Some(free)) }
}

/// `libevent_global_shutdown`: free libevent's global state (its debug maps, locks,
/// the evsignal and evthread tables), as a leak checker wants at exit.
///
/// # Safety
/// Nothing may use libevent afterwards, in any thread: every `EventBase`, event,
/// bufferevent and other object of this crate (or of C code) must be gone, and none be
/// made again.
///
/// ```
/// {
///     let base = libevent::EventBase::new()?;
///     base.run(libevent::LoopFlags::NONBLOCK)?;
/// } // everything dropped
/// // SAFETY: nothing uses libevent after this line (a doc test is its own process).
/// unsafe { libevent::base::global_shutdown() };
/// # Ok::<(), libevent::Error>(())
/// ```
pub unsafe fn global_shutdown() {
    // SAFETY: the caller's contract.
    unsafe { sys::libevent_global_shutdown() }
}
