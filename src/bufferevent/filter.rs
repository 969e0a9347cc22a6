//! [`BufferEvent::filter`]: a bufferevent that passes data through closures.

use super::callbacks::{conflict, may_run, Borrow, Group, Restore};
use super::owned::{BufferEvent, Underlying};
use super::{FlushMode, Kind, Options};
use crate::buffer::EvBufferRef;
use crate::error::{call, Result};
use crate::panic::{self, Guard};
use libevent_sys as sys;
use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::rc::Rc;

/// What a filter closure says (`enum bufferevent_filter_result`).
///
/// ```
/// # use libevent::*;
/// # use libevent::bufferevent::{FilterResult, FlushMode, Options};
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

/// A filter closure, boxed.
type FilterFn =
    Box<dyn FnMut(&mut EvBufferRef, &mut EvBufferRef, isize, FlushMode) -> FilterResult>;
/// The two closures of a filter, owned by libevent (freed by `free_ctx`).
struct Filters {
    base: *mut sys::event_base,
    /// The filter's borrow state (shared with it, and with what it filters if that is a
    /// pair's end): its closures take it as its callbacks do.
    group: Group,
    input: RefCell<FilterFn>,
    output: RefCell<FilterFn>,
}
/// Runs one of a filter's closures for libevent.
fn run(
    which: &RefCell<FilterFn>,
    base: *mut sys::event_base,
    group: &Group,
    src: *mut sys::evbuffer,
    dst: *mut sys::evbuffer,
    limit: isize,
    mode: sys::bufferevent_flush_mode,
) -> sys::bufferevent_filter_result {
    // A filter that is already running (it cannot be: libevent does not nest a
    // filter's calls) or that panicked reports an error.
    let prev = may_run(group);
    let result = panic::wrap(Guard::Loop(base), || {
        // The closures get the filter's buffers: only while nothing else holds them (C
        // runs a filter from the loop, or synchronously from inside this crate's calls).
        let Ok(prev) = prev else {
            conflict("a filter closure")
        };
        group.set(Borrow::Callback);
        let _restore = Restore(group, prev);
        let mut f = which.try_borrow_mut().ok()?;
        // SAFETY: libevent passes two distinct live buffers for this call.
        let (s, d) = unsafe { (EvBufferRef::from_raw(src), EvBufferRef::from_raw(dst)) };
        Some(f(s, d, limit, FlushMode::from_raw(mode)))
    });
    match result.flatten().unwrap_or(FilterResult::Error) {
        FilterResult::Ok => sys::bufferevent_filter_result_BEV_OK,
        FilterResult::NeedMore => sys::bufferevent_filter_result_BEV_NEED_MORE,
        FilterResult::Error => sys::bufferevent_filter_result_BEV_ERROR,
    }
}
/// The trampoline of the input filter (`OUTPUT = false`) or the output one.
extern "C" fn tramp<const OUTPUT: bool>(
    src: *mut sys::evbuffer,
    dst: *mut sys::evbuffer,
    limit: isize,
    mode: sys::bufferevent_flush_mode,
    ctx: *mut c_void,
) -> sys::bufferevent_filter_result {
    // SAFETY: ctx is the Filters box, freed only by free_ctx when the filter goes.
    let f = unsafe { &*(ctx as *const Filters) };
    let which = if OUTPUT { &f.output } else { &f.input };
    run(which, f.base, &f.group, src, dst, limit, mode)
}
extern "C" fn free_ctx(ctx: *mut c_void) {
    // SAFETY: the box made below, freed once by libevent.
    drop(unsafe { Box::from_raw(ctx as *mut Filters) });
}

impl BufferEvent {
    /// `bufferevent_filter_new`: a bufferevent that passes data through closures on its way
    /// in (`input`: from `underlying` to this one's input) and out (`output`: from this one's
    /// output to `underlying`). The filter owns `underlying` and frees it with itself.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::{FilterResult, FlushMode, Options};
    /// # use libevent::event::Flags;
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
    /// assert_eq!(f.with(|f| f.input_mut().remove_all()), b"SHOUT");
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
        underlying.check("filter");
        let base = underlying.cbs.base.clone();
        // What C links to the underlying bufferevent is linked to the filter now.
        let group = underlying
            .cbs
            .group()
            .cloned()
            .unwrap_or_else(|| Rc::new(Cell::new(Borrow::Free)));
        let ctx = Box::into_raw(Box::new(Filters {
            base: base.as_raw(),
            group: group.clone(),
            input: RefCell::new(Box::new(input)),
            output: RefCell::new(Box::new(output)),
        }));
        let under = underlying.raw.as_ptr();
        // SAFETY: under is live; the filter replaces its callbacks with its own.
        unsafe { super::edge::make_level_if_edge(under) };
        // SAFETY: under is live; ctx is freed by free_ctx. CLOSE_ON_FREE makes the filter
        // free `under`, whose Rust handle is given up below without running its Drop.
        let raw = unsafe {
            call!(sys::bufferevent_filter_new(
                under,
                Some(tramp::<false>),
                Some(tramp::<true>),
                (options | Options::CLOSE_ON_FREE).0,
                Some(free_ctx),
                ctx as *mut c_void,
            ))
        };
        let raw = match raw {
            Ok(raw) => raw,
            Err(e) => {
                // SAFETY: libevent did not take ctx.
                drop(unsafe { Box::from_raw(ctx) });
                return Err(e);
            }
        };
        let kept = underlying.into_underlying();
        let mut bev = Self::adopt(&base, raw, Kind::Filter, Some(group));
        bev.extra_mut().filter_under = Some(Box::new(kept));
        Ok(bev)
    }
}

impl BufferEvent {
    /// Gives this handle up to a filter that now owns the C bufferevent (and frees it,
    /// `CLOSE_ON_FREE`): its Drop must not run, but what it kept alive (its closures, its
    /// rate limit and group, a filter's own underlying) must live as long as the filter.
    pub(super) fn into_underlying(self) -> Underlying {
        let me = std::mem::ManuallyDrop::new(self);
        // SAFETY: each field is moved out exactly once and the handle is never used or
        // dropped again (ManuallyDrop), so nothing is dropped twice.
        unsafe {
            Underlying {
                raw: me.raw,
                _cbs: std::ptr::read(&me.cbs),
                extra: std::ptr::read(&me.extra),
            }
        }
    }
}
