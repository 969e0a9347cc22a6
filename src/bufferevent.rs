//! `struct bufferevent`: an input and an output evbuffer over a socket (or a pair, or a
//! filter), with callbacks, timeouts, watermarks and rate limits.

use crate::base::{flag_type, timeval, EventBase};
use crate::buffer::EvBufferRef;
use crate::error::{Error, Result};
use crate::event::Flags;
use crate::panic;
use libevent_sys as sys;
use std::cell::{Cell, RefCell, UnsafeCell};
use std::ffi::{c_short, c_void};
use std::marker::PhantomData;
use std::net::{SocketAddr, TcpStream};
use std::ops::{Deref, DerefMut};
use std::os::fd::{IntoRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::rc::Rc;
use std::time::Duration;

flag_type! {
    /// `BEV_EVENT_*`: what an event callback reports.
    ///
    /// ```
    /// use libevent::BevEvent;
    /// let what = BevEvent::READING | BevEvent::EOF;
    /// assert!(what.contains(BevEvent::EOF));
    /// ```
    BevEvent: c_short {
        /// `BEV_EVENT_READING`: the condition happened while reading.
        READING = sys::BEV_EVENT_READING;
        /// `BEV_EVENT_WRITING`: the condition happened while writing.
        WRITING = sys::BEV_EVENT_WRITING;
        /// `BEV_EVENT_EOF`: end of stream.
        EOF = sys::BEV_EVENT_EOF;
        /// `BEV_EVENT_ERROR`: an error; `errno` tells which.
        ERROR = sys::BEV_EVENT_ERROR;
        /// `BEV_EVENT_TIMEOUT`: a read or write timeout expired.
        TIMEOUT = sys::BEV_EVENT_TIMEOUT;
        /// `BEV_EVENT_CONNECTED`: a connect finished.
        CONNECTED = sys::BEV_EVENT_CONNECTED;
    }
}

flag_type! {
    /// `BEV_OPT_*`: how a bufferevent is made.
    ///
    /// ```
    /// # let base = libevent::EventBase::new()?;
    /// use libevent::Options;
    /// let (_a, _b) = libevent::BufferEvent::pair(&base, Options::DEFER_CALLBACKS)?;
    /// # Ok::<(), libevent::Error>(())
    /// ```
    Options: i32 {
        /// `BEV_OPT_CLOSE_ON_FREE`: free closes the socket (or frees the underlying bufferevent).
        CLOSE_ON_FREE = sys::bufferevent_options_BEV_OPT_CLOSE_ON_FREE;
        /// `BEV_OPT_THREADSAFE`: lock it (needs the `threads` feature).
        THREADSAFE = sys::bufferevent_options_BEV_OPT_THREADSAFE;
        /// `BEV_OPT_DEFER_CALLBACKS`: run callbacks from the loop, not from inside operations.
        DEFER_CALLBACKS = sys::bufferevent_options_BEV_OPT_DEFER_CALLBACKS;
        /// `BEV_OPT_UNLOCK_CALLBACKS`: with deferred callbacks, run them unlocked.
        UNLOCK_CALLBACKS = sys::bufferevent_options_BEV_OPT_UNLOCK_CALLBACKS;
    }
}

/// `enum bufferevent_flush_mode`.
///
/// ```
/// # use libevent::*;
/// # let base = EventBase::new()?;
/// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
/// bev.enable(Flags::WRITE)?;
/// bev.write(b"x")?;
/// bev.flush(Flags::WRITE, FlushMode::Flush)?;
/// # Ok::<(), libevent::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushMode {
    /// `BEV_NORMAL`.
    Normal,
    /// `BEV_FLUSH`: write out everything.
    Flush,
    /// `BEV_FINISHED`: everything, and no more will come.
    Finished,
}

impl FlushMode {
    fn raw(self) -> sys::bufferevent_flush_mode {
        match self {
            FlushMode::Normal => sys::bufferevent_flush_mode_BEV_NORMAL,
            FlushMode::Flush => sys::bufferevent_flush_mode_BEV_FLUSH,
            FlushMode::Finished => sys::bufferevent_flush_mode_BEV_FINISHED,
        }
    }
    fn from_raw(m: sys::bufferevent_flush_mode) -> FlushMode {
        match m {
            sys::bufferevent_flush_mode_BEV_FLUSH => FlushMode::Flush,
            sys::bufferevent_flush_mode_BEV_FINISHED => FlushMode::Finished,
            _ => FlushMode::Normal,
        }
    }
}

/// What a filter closure says (`enum bufferevent_filter_result`).
///
/// ```
/// # use libevent::*;
/// # let base = EventBase::new()?;
/// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
/// let pass = |src: &mut EvBufferRef, dst: &mut EvBufferRef, _lim: isize, _m: FlushMode| {
///     if src.is_empty() { return FilterResult::NeedMore; }
///     dst.add_buffer(src).map_or(FilterResult::Error, |_| FilterResult::Ok)
/// };
/// let _filtered = BufferEvent::filter(bev, pass, pass, Options::empty())?;
/// # Ok::<(), libevent::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterResult {
    /// `BEV_OK`: wrote something.
    Ok,
    /// `BEV_NEED_MORE`: needs more input before it can write.
    NeedMore,
    /// `BEV_ERROR`: give up; the bufferevent reports an error.
    Error,
}

type DataFn = Box<dyn FnMut(&mut BufferEventRef)>;
type EventFn = Box<dyn FnMut(&mut BufferEventRef, BevEvent)>;

/// One callback slot. While its callback runs, the closure is lent out of the slot, so the
/// callback may replace or clear itself (or any other slot); the closure goes back only if
/// nothing replaced it meanwhile.
///
/// Made of `Cell`s rather than a `RefCell`: no borrow is ever held, so dropping a replaced
/// closure may itself touch the slots, and a bufferevent's three slots take 72 bytes (a
/// server holds one set per connection).
struct Slot<F> {
    f: Cell<Option<F>>,
    /// Bumped by every set or clear; never 0 (wrapping past it: a loan lasts one
    /// callback, far shorter than 2^32 sets).
    generation: Cell<u32>,
    /// The generation lent out to a running callback; 0 when none runs.
    lent: Cell<u32>,
}

impl<F> Slot<F> {
    fn new() -> Slot<F> {
        Slot {
            f: Cell::new(None),
            generation: Cell::new(1),
            lent: Cell::new(0),
        }
    }

    /// True when C should keep calling this slot's trampoline.
    fn is_set(&self) -> bool {
        let f = self.f.take();
        let set = f.is_some();
        self.f.set(f);
        set || self.lent.get() == self.generation.get()
    }

    fn set(&self, f: Option<F>) {
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

struct Callbacks {
    base: *mut sys::event_base,
    /// Made by this crate as a socket bufferevent (not a pair, filter, or one adopted from
    /// C, which might be TLS over the same descriptor): see [`BufferEvent::write_direct`].
    socket: bool,
    read: Slot<DataFn>,
    write: Slot<DataFn>,
    event: Slot<EventFn>,
}

/// Runs one callback with the bufferevent kept alive by libevent's own reference count
/// and the closures kept alive by ours, so the callback may drop its `BufferEvent`.
fn with_callbacks(
    bev: *mut sys::bufferevent,
    arg: *mut c_void,
    run: impl FnOnce(&Callbacks, &mut BufferEventRef),
) {
    let cbs = arg as *const Callbacks;
    // SAFETY: arg is Rc::as_ptr of the Callbacks that the owning BufferEvent holds; it is
    // live because libevent calls no callback after bufferevent_free, which Drop calls
    // before releasing the Rc. We take our own strong reference for the call's length.
    let cbs = unsafe {
        Rc::increment_strong_count(cbs);
        Rc::from_raw(cbs)
    };
    // SAFETY: bev is the live bufferevent this callback runs for; the extra reference keeps
    // its memory valid even if the callback frees the owning handle.
    unsafe { sys::bufferevent_incref(bev) };
    panic::guard(cbs.base, || {
        // SAFETY: bev is live (see above) and nothing else touches it during the callback.
        let r = unsafe { BufferEventRef::from_raw(bev) };
        run(&cbs, r)
    });
    // SAFETY: releases the reference taken above; may free the bufferevent.
    unsafe { sys::bufferevent_decref(bev) };
}

extern "C" fn read_tramp(bev: *mut sys::bufferevent, arg: *mut c_void) {
    with_callbacks(bev, arg, |cbs, r| call_slot(&cbs.read, |f| f(r)));
}

extern "C" fn write_tramp(bev: *mut sys::bufferevent, arg: *mut c_void) {
    with_callbacks(bev, arg, |cbs, r| call_slot(&cbs.write, |f| f(r)));
}

extern "C" fn event_tramp(bev: *mut sys::bufferevent, what: c_short, arg: *mut c_void) {
    with_callbacks(bev, arg, |cbs, r| {
        call_slot(&cbs.event, |f| f(r, BevEvent(what)))
    });
}

/// Checks a max-single-read/write value: libevent takes 1 to `isize::MAX`.
fn single_limit(function: &'static str, n: usize) -> Result<()> {
    if n == 0 || n > isize::MAX as usize {
        return Err(Error::invalid(function, "must be between 1 and isize::MAX"));
    }
    Ok(())
}

/// A borrowed bufferevent: what callbacks receive, and what a [`BufferEvent`] derefs to.
///
/// ```
/// # use libevent::*;
/// # let base = EventBase::new()?;
/// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
/// // Callbacks get a &mut BufferEventRef; a BufferEvent derefs to one.
/// bev.on_read(|me: &mut BufferEventRef| { me.input_mut().drain(usize::MAX).unwrap(); })?;
/// # Ok::<(), libevent::Error>(())
/// ```
pub struct BufferEventRef {
    _opaque: UnsafeCell<[u8; 0]>,
    _not_send: PhantomData<*mut u8>,
}

impl BufferEventRef {
    /// # Safety
    /// `raw` must be a live bufferevent for `'a`.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// let raw = bev.as_raw();
    /// // SAFETY: raw is live for this scope and used through `r` only.
    /// let r = unsafe { BufferEventRef::from_raw(raw) };
    /// r.enable(Flags::READ)?;
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub unsafe fn from_raw<'a>(raw: *mut sys::bufferevent) -> &'a mut BufferEventRef {
        // SAFETY: the caller vouches for raw; the type is zero-sized and opaque.
        unsafe { &mut *(raw as *mut BufferEventRef) }
    }

    /// The raw `struct bufferevent *`.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// // SAFETY: the bufferevent is live.
    /// let base = unsafe { libevent::sys::bufferevent_get_base(bev.as_raw()) };
    /// assert_eq!(base, bev.base().as_raw());
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn as_raw(&self) -> *mut sys::bufferevent {
        self as *const BufferEventRef as *mut sys::bufferevent
    }

    /// `bufferevent_enable` (`Flags::READ`, `Flags::WRITE`).
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// bev.enable(Flags::READ | Flags::WRITE)?;
    /// assert!(bev.enabled().contains(Flags::READ));
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn enable(&mut self, what: Flags) -> Result<()> {
        // SAFETY: live bufferevent.
        if unsafe { sys::bufferevent_enable(self.as_raw(), what.0) } != 0 {
            return Err(Error::last("bufferevent_enable"));
        }
        Ok(())
    }

    /// `bufferevent_disable`.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// bev.enable(Flags::READ)?;
    /// bev.disable(Flags::READ)?;
    /// assert!(!bev.enabled().contains(Flags::READ));
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn disable(&mut self, what: Flags) -> Result<()> {
        // SAFETY: live bufferevent.
        if unsafe { sys::bufferevent_disable(self.as_raw(), what.0) } != 0 {
            return Err(Error::last("bufferevent_disable"));
        }
        Ok(())
    }

    /// `bufferevent_get_enabled`.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// assert!(bev.enabled().contains(Flags::WRITE)); // a new bufferevent may write
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn enabled(&self) -> Flags {
        // SAFETY: live bufferevent.
        Flags(unsafe { sys::bufferevent_get_enabled(self.as_raw()) })
    }

    /// `bufferevent_set_timeouts`; `None` turns a timeout off.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// use std::time::Duration;
    /// bev.set_timeouts(Some(Duration::from_secs(10)), None)?;
    /// assert!(bev.set_timeouts(Some(Duration::MAX), None).is_err());
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn set_timeouts(&mut self, read: Option<Duration>, write: Option<Duration>) -> Result<()> {
        let r = read
            .map(|d| timeval("bufferevent_set_timeouts", d))
            .transpose()?;
        let w = write
            .map(|d| timeval("bufferevent_set_timeouts", d))
            .transpose()?;
        let rp = r
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const libc::timeval);
        let wp = w
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const libc::timeval);
        // SAFETY: live bufferevent; the timevals are read during the call.
        if unsafe { sys::bufferevent_set_timeouts(self.as_raw(), rp, wp) } != 0 {
            return Err(Error::failed("bufferevent_set_timeouts"));
        }
        Ok(())
    }

    /// `bufferevent_set_timeouts` with [`CommonTimeout`](crate::CommonTimeout)s of this
    /// bufferevent's base: for a server whose many connections share one timeout.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// let idle = base.common_timeout(std::time::Duration::from_secs(10))?;
    /// bev.set_common_timeouts(Some(idle), Some(idle))?;
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn set_common_timeouts(
        &mut self,
        read: Option<crate::CommonTimeout>,
        write: Option<crate::CommonTimeout>,
    ) -> Result<()> {
        const F: &str = "bufferevent_set_timeouts";
        // SAFETY: live bufferevent.
        let base = unsafe { sys::bufferevent_get_base(self.as_raw()) };
        let r = read.map(|t| t.timeval_for(F, base)).transpose()?;
        let w = write.map(|t| t.timeval_for(F, base)).transpose()?;
        let rp = r.as_ref().map_or(std::ptr::null(), |t| t as *const _);
        let wp = w.as_ref().map_or(std::ptr::null(), |t| t as *const _);
        // SAFETY: live bufferevent; the timevals are copied during the call.
        if unsafe { sys::bufferevent_set_timeouts(self.as_raw(), rp, wp) } != 0 {
            return Err(Error::failed(F));
        }
        Ok(())
    }

    fn set_watermark(&mut self, what: Flags, low: usize, high: usize) -> Result<()> {
        if high != 0 && low > high {
            return Err(Error::invalid(
                "bufferevent_setwatermark",
                "low watermark above high watermark",
            ));
        }
        // SAFETY: live bufferevent.
        unsafe { sys::bufferevent_setwatermark(self.as_raw(), what.0, low, high) };
        Ok(())
    }

    fn watermark(&self, what: Flags) -> (usize, usize) {
        let (mut low, mut high) = (0usize, 0usize);
        // SAFETY: live bufferevent; out pointers valid.
        unsafe { sys::bufferevent_getwatermark(self.as_raw(), what.0, &mut low, &mut high) };
        (low, high)
    }

    /// `bufferevent_setwatermark(EV_READ)`: the read callback waits for `low` bytes; reading
    /// pauses while `high` (0: no limit) or more are buffered.
    ///
    /// While the input holds `high` bytes or more and reading is enabled, libevent 2.1
    /// runs the read callback again (deferred) after each run, since only the callback can
    /// make room: a read callback must take data out of the input, or disable reading.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// bev.set_read_watermark(5, 4096)?;
    /// assert_eq!(bev.read_watermark(), (5, 4096));
    /// assert!(bev.set_read_watermark(10, 5).is_err());
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn set_read_watermark(&mut self, low: usize, high: usize) -> Result<()> {
        self.set_watermark(Flags::READ, low, high)
    }

    /// `bufferevent_setwatermark(EV_WRITE)`: the write callback runs when output drains to
    /// `low` or below. (`high` matters for filters only.)
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// bev.set_write_watermark(1024, 0)?;
    /// assert_eq!(bev.write_watermark(), (1024, 0));
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn set_write_watermark(&mut self, low: usize, high: usize) -> Result<()> {
        self.set_watermark(Flags::WRITE, low, high)
    }

    /// `bufferevent_getwatermark(EV_READ)`: (low, high).
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// assert_eq!(bev.read_watermark(), (0, 0));
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn read_watermark(&self) -> (usize, usize) {
        self.watermark(Flags::READ)
    }

    /// `bufferevent_getwatermark(EV_WRITE)`: (low, high).
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// assert_eq!(bev.write_watermark(), (0, 0));
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn write_watermark(&self) -> (usize, usize) {
        self.watermark(Flags::WRITE)
    }

    /// `bufferevent_get_input`.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// assert!(bev.input().is_empty());
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn input(&self) -> &EvBufferRef {
        // SAFETY: the input buffer lives as long as the bufferevent.
        unsafe { &*(sys::bufferevent_get_input(self.as_raw()) as *const EvBufferRef) }
    }

    /// `bufferevent_get_input`, to take bytes out.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// bev.enable(Flags::READ)?;
    /// other.write(b"hi")?;
    /// base.run(LoopFlags::NONBLOCK)?;
    /// assert_eq!(bev.input_mut().remove_all(), b"hi");
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn input_mut(&mut self) -> &mut EvBufferRef {
        // SAFETY: as above; `&mut self` makes the borrow unique.
        unsafe { EvBufferRef::from_raw(sys::bufferevent_get_input(self.as_raw())) }
    }

    /// `bufferevent_get_output`.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// bev.disable(Flags::WRITE)?; // keep it in the output
    /// bev.write(b"pending")?;
    /// assert_eq!(bev.output().len(), 7);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn output(&self) -> &EvBufferRef {
        // SAFETY: the output buffer lives as long as the bufferevent.
        unsafe { &*(sys::bufferevent_get_output(self.as_raw()) as *const EvBufferRef) }
    }

    /// `bufferevent_get_output`, to add bytes.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// bev.output_mut().add(b"queued")?;
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn output_mut(&mut self) -> &mut EvBufferRef {
        // SAFETY: as above.
        unsafe { EvBufferRef::from_raw(sys::bufferevent_get_output(self.as_raw())) }
    }

    /// Input and output together (they are distinct buffers), for example to move the
    /// input to the output without copying: `let (i, o) = bev.buffers_mut(); o.add_buffer(i)`.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// let (input, output) = bev.buffers_mut();
    /// output.add_buffer(input)?; // echo, without copying
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn buffers_mut(&mut self) -> (&mut EvBufferRef, &mut EvBufferRef) {
        // SAFETY: a bufferevent's input and output are two different live evbuffers.
        unsafe {
            (
                EvBufferRef::from_raw(sys::bufferevent_get_input(self.as_raw())),
                EvBufferRef::from_raw(sys::bufferevent_get_output(self.as_raw())),
            )
        }
    }

    /// `bufferevent_write`.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// bev.write(b"hello")?;
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        // SAFETY: data valid for its length; copied.
        if unsafe {
            sys::bufferevent_write(self.as_raw(), data.as_ptr() as *const c_void, data.len())
        } != 0
        {
            return Err(Error::last("bufferevent_write"));
        }
        Ok(())
    }

    /// `bufferevent_write_buffer`: move all of `buf` to the output.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// let mut buf = EvBuffer::new()?;
    /// buf.add(b"all of this")?;
    /// bev.write_buffer(&mut buf)?;
    /// assert!(buf.is_empty());
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn write_buffer(&mut self, buf: &mut EvBufferRef) -> Result<()> {
        // SAFETY: both live.
        if unsafe { sys::bufferevent_write_buffer(self.as_raw(), buf.as_raw()) } != 0 {
            return Err(Error::last("bufferevent_write_buffer"));
        }
        Ok(())
    }

    /// `bufferevent_read`: take up to `out.len()` bytes of input.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// bev.enable(Flags::READ)?;
    /// other.write(b"data")?;
    /// base.run(LoopFlags::NONBLOCK)?;
    /// let mut out = [0u8; 8];
    /// assert_eq!(bev.read(&mut out), 4);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn read(&mut self, out: &mut [u8]) -> usize {
        if out.is_empty() {
            return 0;
        }
        // SAFETY: out writable for its length.
        unsafe { sys::bufferevent_read(self.as_raw(), out.as_mut_ptr() as *mut c_void, out.len()) }
    }

    /// `bufferevent_flush`: Ok(true) when data was flushed.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// bev.write(b"now")?;
    /// bev.flush(Flags::WRITE, FlushMode::Flush)?;
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn flush(&mut self, what: Flags, mode: FlushMode) -> Result<bool> {
        // SAFETY: live bufferevent.
        match unsafe { sys::bufferevent_flush(self.as_raw(), what.0, mode.raw()) } {
            -1 => Err(Error::failed("bufferevent_flush")),
            0 => Ok(false),
            _ => Ok(true),
        }
    }

    /// `bufferevent_getfd`: the socket, if any.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// assert_eq!(bev.fd(), None); // a pair has no socket
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn fd(&self) -> Option<RawFd> {
        // SAFETY: live bufferevent.
        let fd = unsafe { sys::bufferevent_getfd(self.as_raw()) };
        (fd >= 0).then_some(fd)
    }

    /// `bufferevent_priority_set`. libevent 2.1 supports it on socket bufferevents only;
    /// on others (pairs, filters) it is an error.
    ///
    /// ```
    /// # use libevent::*;
    /// let base = EventBase::new()?;
    /// base.priority_init(2)?; // before any bufferevent
    /// let mut bev = BufferEvent::socket(&base, None, Options::empty())?;
    /// bev.set_priority(1)?;
    /// assert_eq!(bev.priority(), 1);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn set_priority(&mut self, priority: u8) -> Result<()> {
        // SAFETY: live bufferevent.
        if unsafe { sys::bufferevent_priority_set(self.as_raw(), i32::from(priority)) } != 0 {
            return Err(Error::failed("bufferevent_priority_set"));
        }
        Ok(())
    }

    /// `bufferevent_get_priority`.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// assert_eq!(bev.priority(), 0);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn priority(&self) -> u8 {
        // SAFETY: live bufferevent.
        unsafe { sys::bufferevent_get_priority(self.as_raw()) as u8 }
    }

    /// `bufferevent_set_max_single_read`: bytes read per callback at most.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// bev.set_max_single_read(4096)?;
    /// assert_eq!(bev.max_single_read(), 4096);
    /// assert!(bev.set_max_single_read(0).is_err());
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn set_max_single_read(&mut self, n: usize) -> Result<()> {
        single_limit("bufferevent_set_max_single_read", n)?;
        // SAFETY: live bufferevent.
        if unsafe { sys::bufferevent_set_max_single_read(self.as_raw(), n) } != 0 {
            return Err(Error::failed("bufferevent_set_max_single_read"));
        }
        Ok(())
    }

    /// `bufferevent_set_max_single_write`.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// bev.set_max_single_write(8192)?;
    /// assert_eq!(bev.max_single_write(), 8192);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn set_max_single_write(&mut self, n: usize) -> Result<()> {
        single_limit("bufferevent_set_max_single_write", n)?;
        // SAFETY: live bufferevent.
        if unsafe { sys::bufferevent_set_max_single_write(self.as_raw(), n) } != 0 {
            return Err(Error::failed("bufferevent_set_max_single_write"));
        }
        Ok(())
    }

    /// `bufferevent_get_max_single_read`.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// assert!(bev.max_single_read() > 0);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn max_single_read(&self) -> usize {
        // SAFETY: live bufferevent.
        unsafe { sys::bufferevent_get_max_single_read(self.as_raw()) as usize }
    }

    /// `bufferevent_get_max_single_write`.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// assert!(bev.max_single_write() > 0);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn max_single_write(&self) -> usize {
        // SAFETY: live bufferevent.
        unsafe { sys::bufferevent_get_max_single_write(self.as_raw()) as usize }
    }

    /// `bufferevent_socket_connect`: start connecting; the event callback gets
    /// `CONNECTED` or `ERROR`.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let mut bev = BufferEvent::socket(&base, None, Options::empty())?;
    /// bev.connect(l.local_addr().unwrap())?;
    /// bev.on_event(|_, what| assert!(what.contains(BevEvent::CONNECTED)))?;
    /// base.run(LoopFlags::ONCE)?;
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn connect(&mut self, addr: SocketAddr) -> Result<()> {
        let (storage, len) = crate::listener::sockaddr_from(addr);
        // SAFETY: storage holds a sockaddr of `len` bytes.
        let rc = unsafe {
            sys::bufferevent_socket_connect(
                self.as_raw(),
                &storage as *const _ as *const libc::sockaddr,
                len as i32,
            )
        };
        if rc != 0 {
            return Err(Error::last("bufferevent_socket_connect"));
        }
        Ok(())
    }

    /// `shutdown(2)` on the socket: `Shutdown::Write` sends FIN once the kernel has sent
    /// what it holds (flush the output buffer first). An error if there is no socket.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let s = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// let bev = BufferEvent::from_tcp(&base, s, Options::empty())?;
    /// bev.shutdown(std::net::Shutdown::Write)?; // the peer reads end of stream
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn shutdown(&self, how: std::net::Shutdown) -> Result<()> {
        let fd = self
            .fd()
            .ok_or_else(|| Error::invalid("shutdown", "the bufferevent has no socket"))?;
        let how = match how {
            std::net::Shutdown::Read => libc::SHUT_RD,
            std::net::Shutdown::Write => libc::SHUT_WR,
            std::net::Shutdown::Both => libc::SHUT_RDWR,
        };
        // SAFETY: fd is this bufferevent's live socket.
        if unsafe { libc::shutdown(fd, how) } != 0 {
            return Err(Error::last("shutdown"));
        }
        Ok(())
    }

    /// The pending socket error (`SO_ERROR`), if any.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let s = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// let bev = BufferEvent::from_tcp(&base, s, Options::empty())?;
    /// assert_eq!(bev.socket_error(), None);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn socket_error(&self) -> Option<i32> {
        let fd = self.fd()?;
        let mut err: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: fd is the bufferevent's socket; err/len are valid out pointers.
        let rc = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                &mut err as *mut _ as *mut c_void,
                &mut len,
            )
        };
        (rc == 0 && err != 0).then_some(err)
    }
}

impl std::fmt::Debug for BufferEventRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BufferEvent")
            .field("fd", &self.fd())
            .field("enabled", &self.enabled())
            .field("input", &self.input().len())
            .field("output", &self.output().len())
            .finish()
    }
}

/// A token bucket (`struct ev_token_bucket_cfg`) for [`BufferEvent::set_rate_limit`] and
/// [`RateLimitGroup`]. Rates and bursts are bytes per tick.
///
/// ```
/// # use libevent::*;
/// # let base = EventBase::new()?;
/// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
/// use std::time::Duration;
/// // 10 KB per 100 ms each way.
/// let cfg = RateLimit::new(10_000, 10_000, 10_000, 10_000, Duration::from_millis(100))?;
/// bev.set_rate_limit(Some(cfg))?;
/// # Ok::<(), libevent::Error>(())
/// ```
pub struct RateLimit {
    raw: NonNull<sys::ev_token_bucket_cfg>,
}

impl RateLimit {
    /// `ev_token_bucket_cfg_new`.
    ///
    /// ```
    /// # use libevent::*;
    /// use std::time::Duration;
    /// assert!(RateLimit::new(1000, 2000, 1000, 2000, Duration::from_millis(10)).is_ok());
    /// assert!(RateLimit::new(0, 0, 1, 1, Duration::from_millis(10)).is_err());
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn new(
        read_rate: usize,
        read_burst: usize,
        write_rate: usize,
        write_burst: usize,
        tick: Duration,
    ) -> Result<Rc<RateLimit>> {
        const F: &str = "ev_token_bucket_cfg_new";
        if read_rate == 0 || write_rate == 0 || read_burst < read_rate || write_burst < write_rate {
            return Err(Error::invalid(
                F,
                "rates must be positive and bursts at least the rates",
            ));
        }
        if tick.is_zero() {
            return Err(Error::invalid(F, "the tick must be longer than zero"));
        }
        let limit = |n: usize| {
            if n > isize::MAX as usize {
                Err(Error::invalid(F, "rate too large"))
            } else {
                Ok(n)
            }
        };
        let tv = timeval(F, tick)?;
        // SAFETY: arguments validated; tv read during the call.
        let raw = unsafe {
            sys::ev_token_bucket_cfg_new(
                limit(read_rate)?,
                limit(read_burst)?,
                limit(write_rate)?,
                limit(write_burst)?,
                &tv,
            )
        };
        NonNull::new(raw)
            .map(|raw| Rc::new(RateLimit { raw }))
            .ok_or_else(|| Error::failed(F))
    }
}

impl Drop for RateLimit {
    fn drop(&mut self) {
        // SAFETY: made by ev_token_bucket_cfg_new; every user holds an Rc, so none is left.
        unsafe { sys::ev_token_bucket_cfg_free(self.raw.as_ptr()) };
    }
}

/// A group of bufferevents sharing one token bucket (`bufferevent_rate_limit_group`).
///
/// ```
/// # use libevent::*;
/// # let base = EventBase::new()?;
/// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
/// let cfg = RateLimit::new(1 << 20, 1 << 20, 1 << 20, 1 << 20, std::time::Duration::from_millis(10))?;
/// let group = RateLimitGroup::new(&base, &cfg)?;
/// bev.join_rate_limit_group(&group)?;
/// other.join_rate_limit_group(&group)?;
/// # Ok::<(), libevent::Error>(())
/// ```
pub struct RateLimitGroup {
    raw: NonNull<sys::bufferevent_rate_limit_group>,
    _base: EventBase,
}

impl RateLimitGroup {
    /// `bufferevent_rate_limit_group_new`.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// let cfg = RateLimit::new(1000, 1000, 1000, 1000, std::time::Duration::from_millis(10))?;
    /// let _group = RateLimitGroup::new(&base, &cfg)?;
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn new(base: &EventBase, cfg: &RateLimit) -> Result<Rc<RateLimitGroup>> {
        // SAFETY: base and cfg live; libevent copies cfg.
        let raw = unsafe { sys::bufferevent_rate_limit_group_new(base.as_raw(), cfg.raw.as_ptr()) };
        NonNull::new(raw)
            .map(|raw| {
                Rc::new(RateLimitGroup {
                    raw,
                    _base: base.clone(),
                })
            })
            .ok_or_else(|| Error::failed("bufferevent_rate_limit_group_new"))
    }

    /// `bufferevent_rate_limit_group_get_totals`: (bytes read, bytes written).
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// let cfg = RateLimit::new(1000, 1000, 1000, 1000, std::time::Duration::from_millis(10))?;
    /// let group = RateLimitGroup::new(&base, &cfg)?;
    /// assert_eq!(group.totals(), (0, 0));
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn totals(&self) -> (u64, u64) {
        let (mut r, mut w) = (0u64, 0u64);
        // SAFETY: live group; valid out pointers.
        unsafe { sys::bufferevent_rate_limit_group_get_totals(self.raw.as_ptr(), &mut r, &mut w) };
        (r, w)
    }
}

impl Drop for RateLimitGroup {
    fn drop(&mut self) {
        // SAFETY: members hold an Rc to the group, so it is empty now; freed once.
        unsafe { sys::bufferevent_rate_limit_group_free(self.raw.as_ptr()) };
    }
}

/// What an underlying bufferevent's handle kept alive, held by the filter that owns it.
struct Underlying {
    raw: NonNull<sys::bufferevent>,
    _cbs: Rc<Callbacks>,
    extra: Option<Box<Extra>>,
}

/// What few bufferevents have: boxed, so that the common handle stays four words.
#[derive(Default)]
struct Extra {
    rate: Option<Rc<RateLimit>>,
    group: Option<Rc<RateLimitGroup>>,
    /// What the underlying bufferevent's handle kept alive, when this is a filter.
    filter_under: Option<Box<Underlying>>,
}

/// An owned bufferevent, freed (`bufferevent_free`) on drop, which is allowed inside its
/// own callbacks.
///
/// ```
/// use libevent::{BufferEvent, EventBase, Flags, Options};
/// let base = EventBase::new()?;
/// let (mut a, mut b) = BufferEvent::pair(&base, Options::empty())?;
/// b.on_read(|bev| {
///     let got = bev.input_mut().remove_all();
///     assert_eq!(got, b"ping");
/// })?;
/// b.enable(Flags::READ)?;
/// a.write(b"ping")?;
/// base.run(libevent::LoopFlags::NONBLOCK)?;
/// # Ok::<(), libevent::Error>(())
/// ```
pub struct BufferEvent {
    raw: NonNull<sys::bufferevent>,
    cbs: Rc<Callbacks>,
    /// Rate limit, group, a filter's underlying handle.
    extra: Option<Box<Extra>>,
    _base: EventBase,
}

impl BufferEvent {
    fn adopt(
        base: &EventBase,
        raw: *mut sys::bufferevent,
        function: &'static str,
    ) -> Result<BufferEvent> {
        let raw = NonNull::new(raw).ok_or_else(|| Error::last(function))?;
        let cbs = Rc::new(Callbacks {
            base: base.as_raw(),
            socket: function == "bufferevent_socket_new",
            read: Slot::new(),
            write: Slot::new(),
            event: Slot::new(),
        });
        Ok(BufferEvent {
            raw,
            cbs,
            extra: None,
            _base: base.clone(),
        })
    }

    /// `bufferevent_socket_new` on `fd` (`None`: a socket made later by [`connect`](BufferEventRef::connect)).
    /// The bufferevent owns the socket and closes it when freed.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// let bev = BufferEvent::socket(&base, None, Options::empty())?; // connect() makes the socket
    /// assert_eq!(bev.fd(), None);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn socket(base: &EventBase, fd: Option<OwnedFd>, options: Options) -> Result<BufferEvent> {
        let raw_fd = match fd {
            Some(fd) => {
                let raw = fd.into_raw_fd();
                // SAFETY: raw is a valid descriptor we own. libevent requires non-blocking.
                if unsafe { sys::evutil_make_socket_nonblocking(raw) } != 0 {
                    // SAFETY: we own raw and nothing else has it.
                    unsafe { libc::close(raw) };
                    return Err(Error::last("evutil_make_socket_nonblocking"));
                }
                raw
            }
            None => -1,
        };
        // SAFETY: base live; raw_fd is owned (or -1); CLOSE_ON_FREE hands it to libevent.
        let raw = unsafe {
            sys::bufferevent_socket_new(base.as_raw(), raw_fd, (options | Options::CLOSE_ON_FREE).0)
        };
        if raw.is_null() && raw_fd >= 0 {
            // SAFETY: libevent did not take it.
            unsafe { libc::close(raw_fd) };
        }
        Self::adopt(base, raw, "bufferevent_socket_new")
    }

    /// A bufferevent over a connected `TcpStream`.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let s = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// let bev = BufferEvent::from_tcp(&base, s, Options::empty())?;
    /// assert!(bev.fd().is_some());
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn from_tcp(base: &EventBase, stream: TcpStream, options: Options) -> Result<BufferEvent> {
        Self::socket(base, Some(OwnedFd::from(stream)), options)
    }

    /// `bufferevent_socket_new(-1)` then `bufferevent_socket_connect(addr)`.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let mut bev = BufferEvent::connect_tcp(&base, l.local_addr().unwrap(), Options::empty())?;
    /// bev.on_event(|_, what| println!("{what:?}"))?;
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn connect_tcp(
        base: &EventBase,
        addr: SocketAddr,
        options: Options,
    ) -> Result<BufferEvent> {
        let mut bev = Self::socket(base, None, options)?;
        bev.connect(addr)?;
        Ok(bev)
    }

    /// Takes ownership of a bufferevent made by C. Its callbacks are replaced when set here.
    ///
    /// # Safety
    /// `raw` must be a live bufferevent on `base` that nothing else frees.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// // SAFETY: a fresh bufferevent on `base` that nothing else frees.
    /// let raw = unsafe { libevent::sys::bufferevent_socket_new(base.as_raw(), -1, 0) };
    /// let bev = unsafe { BufferEvent::from_raw(&base, raw)? };
    /// assert_eq!(bev.fd(), None);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub unsafe fn from_raw(base: &EventBase, raw: *mut sys::bufferevent) -> Result<BufferEvent> {
        Self::adopt(base, raw, "BufferEvent::from_raw")
    }

    /// `bufferevent_pair_new`: two bufferevents, each one's output the other's input.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// let (mut a, mut b) = BufferEvent::pair(&base, Options::empty())?;
    /// b.enable(Flags::READ)?;
    /// a.write(b"ping")?;
    /// base.run(LoopFlags::NONBLOCK)?;
    /// assert_eq!(b.input_mut().remove_all(), b"ping");
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn pair(base: &EventBase, options: Options) -> Result<(BufferEvent, BufferEvent)> {
        let mut pair = [std::ptr::null_mut(); 2];
        // SAFETY: base live; pair has room for two.
        if unsafe { sys::bufferevent_pair_new(base.as_raw(), options.0, pair.as_mut_ptr()) } != 0 {
            return Err(Error::failed("bufferevent_pair_new"));
        }
        Ok((
            Self::adopt(base, pair[0], "bufferevent_pair_new")?,
            Self::adopt(base, pair[1], "bufferevent_pair_new")?,
        ))
    }

    /// `bufferevent_filter_new`: a bufferevent that passes data through closures on its way
    /// in (`input`: from `underlying` to this one's input) and out (`output`: from this one's
    /// output to `underlying`). The filter owns `underlying` and frees it with itself.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// // Upper-cases what comes in, passes what goes out.
    /// let upper = |src: &mut EvBufferRef, dst: &mut EvBufferRef, _l: isize, _m: FlushMode| {
    ///     let data = src.remove_all().to_ascii_uppercase();
    ///     if data.is_empty() { return FilterResult::NeedMore; }
    ///     dst.add(&data).map_or(FilterResult::Error, |_| FilterResult::Ok)
    /// };
    /// let pass = |src: &mut EvBufferRef, dst: &mut EvBufferRef, _l: isize, _m: FlushMode| {
    ///     dst.add_buffer(src).map_or(FilterResult::Error, |_| FilterResult::Ok)
    /// };
    /// let mut f = BufferEvent::filter(bev, upper, pass, Options::empty())?;
    /// f.enable(Flags::READ)?;
    /// other.write(b"shout")?;
    /// base.run(LoopFlags::NONBLOCK)?;
    /// assert_eq!(f.input_mut().remove_all(), b"SHOUT");
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn filter<I, O>(
        underlying: BufferEvent,
        input: I,
        output: O,
        options: Options,
    ) -> Result<BufferEvent>
    where
        I: FnMut(&mut EvBufferRef, &mut EvBufferRef, isize, FlushMode) -> FilterResult + 'static,
        O: FnMut(&mut EvBufferRef, &mut EvBufferRef, isize, FlushMode) -> FilterResult + 'static,
    {
        type FilterFn =
            Box<dyn FnMut(&mut EvBufferRef, &mut EvBufferRef, isize, FlushMode) -> FilterResult>;
        struct Filters {
            base: *mut sys::event_base,
            input: RefCell<FilterFn>,
            output: RefCell<FilterFn>,
        }
        fn run(
            which: &RefCell<FilterFn>,
            base: *mut sys::event_base,
            src: *mut sys::evbuffer,
            dst: *mut sys::evbuffer,
            limit: isize,
            mode: sys::bufferevent_flush_mode,
        ) -> sys::bufferevent_filter_result {
            let mut result = FilterResult::Error;
            panic::guard(base, || {
                if let Ok(mut f) = which.try_borrow_mut() {
                    // SAFETY: libevent passes two distinct live buffers for this call.
                    let (s, d) =
                        unsafe { (EvBufferRef::from_raw(src), EvBufferRef::from_raw(dst)) };
                    result = f(s, d, limit, FlushMode::from_raw(mode));
                }
            });
            match result {
                FilterResult::Ok => sys::bufferevent_filter_result_BEV_OK,
                FilterResult::NeedMore => sys::bufferevent_filter_result_BEV_NEED_MORE,
                FilterResult::Error => sys::bufferevent_filter_result_BEV_ERROR,
            }
        }
        extern "C" fn in_tramp(
            src: *mut sys::evbuffer,
            dst: *mut sys::evbuffer,
            limit: isize,
            mode: sys::bufferevent_flush_mode,
            ctx: *mut c_void,
        ) -> sys::bufferevent_filter_result {
            // SAFETY: ctx is the Filters box, freed only by free_ctx when the filter goes.
            let f = unsafe { &*(ctx as *const Filters) };
            run(&f.input, f.base, src, dst, limit, mode)
        }
        extern "C" fn out_tramp(
            src: *mut sys::evbuffer,
            dst: *mut sys::evbuffer,
            limit: isize,
            mode: sys::bufferevent_flush_mode,
            ctx: *mut c_void,
        ) -> sys::bufferevent_filter_result {
            // SAFETY: as in in_tramp.
            let f = unsafe { &*(ctx as *const Filters) };
            run(&f.output, f.base, src, dst, limit, mode)
        }
        extern "C" fn free_ctx(ctx: *mut c_void) {
            // SAFETY: the box made below, freed once by libevent.
            drop(unsafe { Box::from_raw(ctx as *mut Filters) });
        }

        let base = underlying._base.clone();
        let ctx = Box::into_raw(Box::new(Filters {
            base: base.as_raw(),
            input: RefCell::new(Box::new(input)),
            output: RefCell::new(Box::new(output)),
        }));
        let under = underlying.raw.as_ptr();
        // SAFETY: under is live; ctx is freed by free_ctx. CLOSE_ON_FREE makes the filter
        // free `under`, whose Rust handle is given up below without running its Drop.
        let raw = unsafe {
            sys::bufferevent_filter_new(
                under,
                Some(in_tramp),
                Some(out_tramp),
                (options | Options::CLOSE_ON_FREE).0,
                Some(free_ctx),
                ctx as *mut c_void,
            )
        };
        if raw.is_null() {
            // SAFETY: libevent did not take ctx.
            drop(unsafe { Box::from_raw(ctx) });
            return Err(Error::failed("bufferevent_filter_new"));
        }
        // The filter now owns the underlying bufferevent (it frees it, CLOSE_ON_FREE). Its
        // handle must not free it, but what the handle kept alive (its closures, its rate
        // limit and group, a filter's own underlying) must live as long as the filter.
        let under_handle = std::mem::ManuallyDrop::new(underlying);
        // SAFETY: each field is moved out exactly once and the handle is never used or
        // dropped again (ManuallyDrop), so nothing is dropped twice.
        let kept = unsafe {
            drop(std::ptr::read(&under_handle._base)); // `base` above is a clone
            Underlying {
                raw: under_handle.raw,
                _cbs: std::ptr::read(&under_handle.cbs),
                extra: std::ptr::read(&under_handle.extra),
            }
        };
        let mut bev = Self::adopt(&base, raw, "bufferevent_filter_new")?;
        bev.extra_mut().filter_under = Some(Box::new(kept));
        Ok(bev)
    }

    /// [`write`](BufferEventRef::write), but sent at once when it can be: on a socket
    /// bufferevent made by this crate, with nothing queued, writing enabled and no rate
    /// limit or group, `data` goes straight to `send(2)` and only what the kernel does not
    /// take is queued. Otherwise it is exactly `write`.
    ///
    /// libevent 2.1 always defers a bufferevent's write to the next loop iteration, which
    /// costs an `epoll_ctl` to watch for writability, a `writev`, and another `epoll_ctl`
    /// to stop watching; a request-reply server pays all three per reply. This costs one
    /// `send`. Order is kept (nothing is ever queued ahead of what is sent at once). What
    /// is sent at once never passes through the output buffer, so it triggers no write
    /// callback and no write timeout; a failed send queues the data, and libevent's own
    /// write then reports the error through the event callback as usual.
    ///
    /// ```
    /// # use libevent::*;
    /// # use std::io::Read;
    /// let base = EventBase::new()?;
    /// let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let client = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// let (mut peer, _) = l.accept().unwrap();
    /// let mut bev = BufferEvent::from_tcp(&base, client, Options::empty())?;
    /// bev.write_direct(b"now")?; // on the wire already: the loop has not run
    /// let mut got = [0u8; 3];
    /// peer.read_exact(&mut got).unwrap();
    /// assert_eq!(&got, b"now");
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn write_direct(&mut self, data: &[u8]) -> Result<()> {
        let limited = self
            .extra
            .as_ref()
            .is_some_and(|x| x.rate.is_some() || x.group.is_some());
        let sent = if self.cbs.socket && !limited {
            self.send_now(data)
        } else {
            0
        };
        if sent == data.len() {
            return Ok(());
        }
        self.write(&data[sent..])
    }

    /// Sends what the socket takes without blocking, if nothing is queued; returns how
    /// much was sent.
    fn send_now(&mut self, data: &[u8]) -> usize {
        #[cfg(any(target_os = "macos", target_os = "ios"))]
        const FLAGS: libc::c_int = libc::MSG_DONTWAIT;
        // MSG_NOSIGNAL: a closed peer gives EPIPE, not SIGPIPE.
        #[cfg(not(any(target_os = "macos", target_os = "ios")))]
        const FLAGS: libc::c_int = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
        let raw = self.raw.as_ptr();
        let mut sent = 0;
        // SAFETY: raw is live; the lock (a no-op unless the bufferevent is thread-safe)
        // keeps another thread from queueing between the check and the send.
        unsafe {
            sys::bufferevent_lock(raw);
            let fd = sys::bufferevent_getfd(raw);
            let writing = sys::bufferevent_get_enabled(raw) & sys::EV_WRITE as c_short != 0;
            let queued = sys::evbuffer_get_length(sys::bufferevent_get_output(raw));
            if fd >= 0 && writing && queued == 0 && !data.is_empty() {
                // data is valid for its length; fd is the bufferevent's socket.
                let n = libc::send(fd, data.as_ptr().cast(), data.len(), FLAGS);
                if n > 0 {
                    sent = (n as usize).min(data.len());
                }
            }
            sys::bufferevent_unlock(raw);
        }
        sent
    }

    fn extra_mut(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Default::default)
    }

    fn update_callbacks(&mut self) {
        let read: sys::bufferevent_data_cb = self.cbs.read.is_set().then_some(read_tramp as _);
        let write: sys::bufferevent_data_cb = self.cbs.write.is_set().then_some(write_tramp as _);
        let event: sys::bufferevent_event_cb = self.cbs.event.is_set().then_some(event_tramp as _);
        // SAFETY: raw live; the Callbacks outlive the bufferevent's callbacks (see Drop).
        unsafe {
            sys::bufferevent_setcb(
                self.raw.as_ptr(),
                read,
                write,
                event,
                Rc::as_ptr(&self.cbs) as *mut c_void,
            )
        };
    }

    /// Sets the read callback: runs when input reaches the read low watermark.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// bev.on_read(|me| {
    ///     let data = me.input_mut().remove_all();
    ///     me.write(&data).unwrap(); // echo
    /// })?;
    /// bev.enable(Flags::READ)?;
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn on_read<F: FnMut(&mut BufferEventRef) + 'static>(&mut self, f: F) -> Result<()> {
        self.cbs.read.set(Some(Box::new(f)));
        self.update_callbacks();
        Ok(())
    }

    /// Sets the write callback: runs when output drains to the write low watermark.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// bev.on_write(|me| assert!(me.output().is_empty()))?; // low watermark 0: drained
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn on_write<F: FnMut(&mut BufferEventRef) + 'static>(&mut self, f: F) -> Result<()> {
        self.cbs.write.set(Some(Box::new(f)));
        self.update_callbacks();
        Ok(())
    }

    /// Sets the event callback: EOF, errors, timeouts, connected.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// bev.on_event(|_me, what| {
    ///     if what.intersects(BevEvent::EOF | BevEvent::ERROR | BevEvent::TIMEOUT) {
    ///         // close: drop the BufferEvent (allowed here)
    ///     }
    /// })?;
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn on_event<F: FnMut(&mut BufferEventRef, BevEvent) + 'static>(
        &mut self,
        f: F,
    ) -> Result<()> {
        self.cbs.event.set(Some(Box::new(f)));
        self.update_callbacks();
        Ok(())
    }

    /// Removes the write callback.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// bev.on_write(|_| {})?;
    /// bev.clear_write_callback()?;
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn clear_write_callback(&mut self) -> Result<()> {
        self.cbs.write.set(None);
        self.update_callbacks();
        Ok(())
    }

    /// `bufferevent_set_rate_limit`: limit this bufferevent with `cfg` (`None` removes it).
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// let cfg = RateLimit::new(1000, 1000, 1000, 1000, std::time::Duration::from_millis(10))?;
    /// bev.set_rate_limit(Some(cfg))?;
    /// bev.set_rate_limit(None)?; // removed again
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn set_rate_limit(&mut self, cfg: Option<Rc<RateLimit>>) -> Result<()> {
        let p = cfg
            .as_ref()
            .map_or(std::ptr::null_mut(), |c| c.raw.as_ptr());
        // SAFETY: raw live; cfg kept alive in self while in use.
        if unsafe { sys::bufferevent_set_rate_limit(self.raw.as_ptr(), p) } != 0 {
            return Err(Error::failed("bufferevent_set_rate_limit"));
        }
        self.extra_mut().rate = cfg;
        Ok(())
    }

    /// `bufferevent_add_to_rate_limit_group`.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// let cfg = RateLimit::new(1000, 1000, 1000, 1000, std::time::Duration::from_millis(10))?;
    /// let group = RateLimitGroup::new(&base, &cfg)?;
    /// bev.join_rate_limit_group(&group)?;
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn join_rate_limit_group(&mut self, group: &Rc<RateLimitGroup>) -> Result<()> {
        // SAFETY: both live; the group is kept alive by self while it is a member.
        if unsafe {
            sys::bufferevent_add_to_rate_limit_group(self.raw.as_ptr(), group.raw.as_ptr())
        } != 0
        {
            return Err(Error::failed("bufferevent_add_to_rate_limit_group"));
        }
        self.extra_mut().group = Some(group.clone());
        Ok(())
    }

    /// `bufferevent_remove_from_rate_limit_group`.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// let cfg = RateLimit::new(1000, 1000, 1000, 1000, std::time::Duration::from_millis(10))?;
    /// let group = RateLimitGroup::new(&base, &cfg)?;
    /// bev.join_rate_limit_group(&group)?;
    /// bev.leave_rate_limit_group()?;
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn leave_rate_limit_group(&mut self) -> Result<()> {
        if self.extra.as_mut().and_then(|x| x.group.take()).is_some() {
            // SAFETY: raw live and in a group.
            if unsafe { sys::bufferevent_remove_from_rate_limit_group(self.raw.as_ptr()) } != 0 {
                return Err(Error::failed("bufferevent_remove_from_rate_limit_group"));
            }
        }
        Ok(())
    }

    /// The base it belongs to.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// assert_eq!(bev.base().as_raw(), base.as_raw());
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn base(&self) -> &EventBase {
        &self._base
    }
}

impl Deref for BufferEvent {
    type Target = BufferEventRef;
    fn deref(&self) -> &BufferEventRef {
        // SAFETY: raw is live while self is.
        unsafe { &*(self.raw.as_ptr() as *const BufferEventRef) }
    }
}

impl DerefMut for BufferEvent {
    fn deref_mut(&mut self) -> &mut BufferEventRef {
        // SAFETY: raw is live and owned by self.
        unsafe { BufferEventRef::from_raw(self.raw.as_ptr()) }
    }
}

/// Detaches `raw` from the group and the token bucket this crate keeps alive for it.
/// libevent 2.1 finalizes a freed bufferevent later, from the loop (and a filter frees its
/// underlying bufferevent only then), so both must be let go of before the `Rc`s that
/// keep them alive are dropped.
///
/// # Safety
/// `raw` must be live.
unsafe fn release_limits(raw: *mut sys::bufferevent, rate: bool, group: bool) {
    // SAFETY: the caller vouches for raw; both calls accept a member or a limited bufferevent.
    unsafe {
        if group {
            sys::bufferevent_remove_from_rate_limit_group(raw);
        }
        if rate {
            sys::bufferevent_set_rate_limit(raw, std::ptr::null_mut());
        }
    }
}

impl Drop for BufferEvent {
    fn drop(&mut self) {
        // SAFETY: self.raw is live, and so is every underlying bufferevent (each filter
        // owns the next); detached before anything they use may be freed.
        unsafe {
            let mut raw = self.raw;
            let mut extra = self.extra.as_deref();
            while let Some(x) = extra {
                release_limits(raw.as_ptr(), x.rate.is_some(), x.group.is_some());
                let Some(u) = x.filter_under.as_deref() else {
                    break;
                };
                raw = u.raw;
                extra = u.extra.as_deref();
            }
        }
        // SAFETY: freed once. bufferevent_free clears the callbacks first, so the Callbacks
        // Rc dropped after it is never reached from C again; a running callback holds its
        // own reference on both.
        unsafe { sys::bufferevent_free(self.raw.as_ptr()) };
    }
}

impl std::fmt::Debug for BufferEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server holds one handle and one set of callbacks per connection: keep both small.
    #[test]
    fn per_connection_sizes() {
        assert_eq!(
            std::mem::size_of::<BufferEvent>(),
            4 * std::mem::size_of::<usize>()
        );
        // With the Rc's two counts at most 104 bytes: one 112-byte glibc chunk (a chunk
        // is the request plus one size word, rounded up to 16).
        assert!(
            std::mem::size_of::<Callbacks>() <= 104,
            "{}",
            std::mem::size_of::<Callbacks>()
        );
    }
}
