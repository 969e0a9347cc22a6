//! An evbuffer's change callbacks (`evbuffer_add_cb` and what manages them).
//!
//! Synchronous callbacks run inside the call that changed the buffer, which holds
//! `&mut` of it, so a closure cannot reach the buffer then. Deferred callbacks
//! ([`EvBuffer::defer_callbacks`]) run from the loop, where a closure may reach its
//! buffer (through an `Rc<RefCell<..>>`) and remove callbacks or drop the buffer itself.
//! libevent walks the callback list holding a pointer to the next entry, so an entry
//! must not be freed during that walk, and a closure must not be freed while it runs:
//!
//! - each closure sits in an `Rc<Slot>`; libevent's argument is one strong count, and
//!   the trampoline takes its own for the length of the call;
//! - removing a callback disables its entry at once (`evbuffer_cb_clear_flags`; libevent
//!   skips disabled entries) and drops the closure (after its call, if it is running);
//!   the entry itself is freed only when no callback of the buffer is running, at the
//!   next call that manages callbacks, or by `evbuffer_free`;
//! - dropping the buffer disables every entry before `evbuffer_free` (a deferred run
//!   still pending runs no Rust code), then releases the closures.

use super::EvBuffer;
use crate::error::{call, Error, Result};
use crate::panic::{self, Guard};
use libevent_sys as sys;
use std::cell::Cell;
use std::ffi::c_void;
use std::ptr::NonNull;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

/// What changed, passed to an [`EvBuffer::on_change`] callback (`struct evbuffer_cb_info`).
///
/// ```
/// # use libevent::*;
/// # use libevent::buffer::Change;
/// let mut buf = EvBuffer::new()?;
/// let seen = std::rc::Rc::new(std::cell::Cell::new(None));
/// let s = seen.clone();
/// buf.on_change(move |c: Change| s.set(Some(c)))?;
/// buf.add(b"ab")?;
/// assert_eq!(seen.get(), Some(Change { orig_size: 0, added: 2, deleted: 0 }));
/// # Ok::<(), libevent::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    /// Length before the change.
    pub orig_size: usize,
    /// Bytes added.
    pub added: usize,
    /// Bytes removed.
    pub deleted: usize,
}

pub(crate) type ChangeFn = Box<dyn FnMut(Change)>;

/// One callback registered with [`EvBuffer::on_change`] (`struct evbuffer_cb_entry`),
/// to disable or remove it. Ids are never reused; given to another buffer, or after the
/// callback was removed, the calls return an error.
///
/// ```
/// # use libevent::*;
/// let mut buf = EvBuffer::new()?;
/// let id = buf.on_change(|_| {})?;
/// buf.remove_change_callback(id)?;
/// assert!(buf.remove_change_callback(id).is_err()); // already gone
/// # Ok::<(), libevent::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChangeCallback(u64);

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A closure and what its trampoline needs.
struct Slot {
    /// Taken out while it runs; `None` for good once removed.
    f: Cell<Option<ChangeFn>>,
    removed: Cell<bool>,
    /// Callbacks of this buffer running now (shared by its slots).
    running: Rc<Cell<u32>>,
}

struct Registered {
    id: ChangeCallback,
    slot: Rc<Slot>,
    entry: NonNull<sys::evbuffer_cb_entry>,
}

impl Registered {
    /// The strong count libevent holds, as its callback argument.
    fn arg(&self) -> *mut c_void {
        Rc::as_ptr(&self.slot) as *mut c_void
    }
}

/// The change callbacks of one evbuffer: an [`EvBuffer`]'s own, or those a
/// [`BufferEvent`](crate::BufferEvent) or a [`Request`](crate::http::Request) keeps for
/// its buffers. Whoever keeps them calls [`disable_all`](Callbacks::disable_all) while
/// the buffer is still live and before it can be freed, and
/// [`release_all`](Callbacks::release_all) after.
#[derive(Default)]
pub(crate) struct Callbacks {
    live: Vec<Registered>,
    /// Removed while a callback ran: disabled, their entries not freed yet.
    disabled: Vec<Registered>,
    running: Rc<Cell<u32>>,
}

impl Callbacks {
    /// Frees the entries of removed callbacks, when no callback of the buffer runs.
    fn sweep(&mut self, buf: *mut sys::evbuffer) {
        if self.running.get() > 0 {
            return;
        }
        for r in self.disabled.drain(..) {
            // SAFETY: the entry is this buffer's, and libevent is not walking its list
            // (no callback of it is running); its argument's count is released after.
            unsafe {
                sys::evbuffer_remove_cb(buf, Some(change_tramp), r.arg());
                Rc::decrement_strong_count(Rc::as_ptr(&r.slot));
            }
        }
    }

    /// Stops a callback from running again and drops its closure (now, or when its
    /// running call returns).
    fn disable(buf: *mut sys::evbuffer, r: &Registered) {
        r.slot.removed.set(true);
        drop(r.slot.f.take());
        // SAFETY: the entry is this buffer's and still allocated.
        unsafe {
            sys::evbuffer_cb_clear_flags(buf, r.entry.as_ptr(), sys::EVBUFFER_CB_ENABLED as u32)
        };
    }

    /// Before `evbuffer_free`: no callback of the buffer may run again.
    pub(crate) fn disable_all(&mut self, buf: *mut sys::evbuffer) {
        for r in &self.live {
            Self::disable(buf, r);
        }
    }

    /// After `evbuffer_free`: libevent frees the entries (now or at its last reference)
    /// without calling them; release its counts.
    pub(crate) fn release_all(&mut self) {
        for r in self.live.drain(..).chain(self.disabled.drain(..)) {
            // SAFETY: the count given to libevent as the argument of a disabled entry,
            // which it will never pass to the trampoline again.
            unsafe { Rc::decrement_strong_count(Rc::as_ptr(&r.slot)) };
        }
    }
    /// `evbuffer_add_cb` on `buf`, whose callbacks these are.
    pub(crate) fn add(&mut self, buf: *mut sys::evbuffer, f: ChangeFn) -> Result<ChangeCallback> {
        self.sweep(buf);
        let slot = Rc::new(Slot {
            f: Cell::new(Some(f)),
            removed: Cell::new(false),
            running: self.running.clone(),
        });
        let arg = Rc::into_raw(slot.clone()) as *mut c_void;
        // SAFETY: buf is live (the caller's); arg is a strong count of the slot, released
        // only once the entry is disabled (see the module's notes).
        match unsafe { call!(sys::evbuffer_add_cb(buf, Some(change_tramp), arg)) } {
            Ok(entry) => {
                let id = ChangeCallback(NEXT_ID.fetch_add(1, Ordering::Relaxed));
                self.live.push(Registered { id, slot, entry });
                Ok(id)
            }
            Err(e) => {
                // SAFETY: libevent did not take the count.
                unsafe { Rc::decrement_strong_count(arg as *const Slot) };
                Err(e)
            }
        }
    }

    /// Whether `id` is one of these callbacks (not removed).
    pub(crate) fn contains(&self, id: ChangeCallback) -> bool {
        self.live.iter().any(|r| r.id == id)
    }

    fn registered(&self, id: ChangeCallback, function: &'static str) -> Result<usize> {
        self.live
            .iter()
            .position(|r| r.id == id)
            .ok_or_else(|| Error::invalid(function, "no such callback on this buffer"))
    }

    /// `evbuffer_remove_cb` (now, or at the next call once no callback runs).
    pub(crate) fn remove(&mut self, buf: *mut sys::evbuffer, id: ChangeCallback) -> Result<()> {
        let i = self.registered(id, "evbuffer_remove_cb")?;
        let r = self.live.remove(i);
        Self::disable(buf, &r);
        self.disabled.push(r);
        self.sweep(buf);
        Ok(())
    }

    /// `evbuffer_cb_set_flags` / `evbuffer_cb_clear_flags` with `EVBUFFER_CB_ENABLED`.
    pub(crate) fn set_enabled(
        &mut self,
        buf: *mut sys::evbuffer,
        id: ChangeCallback,
        enabled: bool,
    ) -> Result<()> {
        let i = self.registered(id, "evbuffer_cb_set_flags")?;
        let entry = self.live[i].entry.as_ptr();
        let flag = sys::EVBUFFER_CB_ENABLED as u32;
        // SAFETY: buf is live (the caller's); entry is its, allocated until removed.
        unsafe {
            if enabled {
                call!(sys::evbuffer_cb_set_flags(buf, entry, flag))
            } else {
                call!(sys::evbuffer_cb_clear_flags(buf, entry, flag))
            }
        }?;
        Ok(())
    }
}

impl EvBuffer {
    /// `evbuffer_add_cb`: run `f` after every change of length; the returned id
    /// disables or removes it. libevent runs the callback added last first.
    ///
    /// ```
    /// # use libevent::*;
    /// let mut buf = EvBuffer::new()?;
    /// let total = std::rc::Rc::new(std::cell::Cell::new(0));
    /// let t = total.clone();
    /// buf.on_change(move |c| t.set(t.get() + c.added))?;
    /// buf.add(b"abc")?;
    /// assert_eq!(total.get(), 3);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn on_change<F: FnMut(Change) + 'static>(&mut self, f: F) -> Result<ChangeCallback> {
        self.callbacks.add(self.raw.as_ptr(), Box::new(f))
    }

    /// `evbuffer_remove_cb`: remove a callback; its closure is dropped (once it returns,
    /// if this is called from inside it).
    ///
    /// ```
    /// # use libevent::*;
    /// let mut buf = EvBuffer::new()?;
    /// let calls = std::rc::Rc::new(std::cell::Cell::new(0));
    /// let c = calls.clone();
    /// let id = buf.on_change(move |_| c.set(c.get() + 1))?;
    /// buf.add(b"a")?;
    /// buf.remove_change_callback(id)?;
    /// buf.add(b"b")?;
    /// assert_eq!(calls.get(), 1);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn remove_change_callback(&mut self, id: ChangeCallback) -> Result<()> {
        self.callbacks.remove(self.raw.as_ptr(), id)
    }

    /// `evbuffer_cb_set_flags` / `evbuffer_cb_clear_flags` with `EVBUFFER_CB_ENABLED`:
    /// a disabled callback is skipped, and misses the changes made meanwhile.
    ///
    /// ```
    /// # use libevent::*;
    /// let mut buf = EvBuffer::new()?;
    /// let calls = std::rc::Rc::new(std::cell::Cell::new(0));
    /// let c = calls.clone();
    /// let id = buf.on_change(move |_| c.set(c.get() + 1))?;
    /// buf.set_change_callback_enabled(id, false)?;
    /// buf.add(b"skipped")?;
    /// buf.set_change_callback_enabled(id, true)?;
    /// buf.add(b"seen")?;
    /// assert_eq!(calls.get(), 1);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn set_change_callback_enabled(&mut self, id: ChangeCallback, enabled: bool) -> Result<()> {
        self.callbacks.set_enabled(self.raw.as_ptr(), id, enabled)
    }

    /// `evbuffer_defer_callbacks`: run this buffer's callbacks from `base`'s loop instead
    /// of inside the call that changed it (changes made meanwhile add up into one call).
    /// The buffer keeps the base alive. A deferred callback may reach the buffer (through
    /// an `Rc<RefCell<..>>`), remove callbacks and drop the buffer.
    ///
    /// ```
    /// # use libevent::*;
    /// let base = EventBase::new()?;
    /// let mut buf = EvBuffer::new()?;
    /// let calls = std::rc::Rc::new(std::cell::Cell::new(0));
    /// let c = calls.clone();
    /// buf.on_change(move |_| c.set(c.get() + 1))?;
    /// buf.defer_callbacks(&base)?;
    /// buf.add(b"a")?;
    /// buf.add(b"b")?;
    /// assert_eq!(calls.get(), 0); // not yet
    /// base.run(libevent::LoopFlags::NONBLOCK)?;
    /// assert_eq!(calls.get(), 1); // both changes, once
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn defer_callbacks(&mut self, base: &crate::EventBase) -> Result<()> {
        // SAFETY: both live; the base is kept alive in self for as long as the buffer.
        unsafe {
            call!(sys::evbuffer_defer_callbacks(
                self.raw.as_ptr(),
                base.as_raw()
            ))
        }?;
        self.base = Some(base.clone());
        Ok(())
    }
}

extern "C" fn change_tramp(
    _buf: *mut sys::evbuffer,
    info: *const sys::evbuffer_cb_info,
    arg: *mut c_void,
) {
    // SAFETY: arg is a strong count of a Slot that libevent holds while the entry is
    // enabled (it is, or libevent would not call); take one of our own for the call, so
    // the slot outlives a drop of the buffer from inside the closure.
    let slot = unsafe {
        Rc::increment_strong_count(arg as *const Slot);
        Rc::from_raw(arg as *const Slot)
    };
    if slot.removed.get() {
        return;
    }
    // Taken out for the call: a nested run (the closure changing its own buffer, in the
    // deferred mode) finds None and skips it.
    let Some(mut f) = slot.f.take() else {
        return;
    };
    // SAFETY: libevent's struct for this call.
    let info = unsafe { &*info };
    let change = Change {
        orig_size: info.orig_size,
        added: info.n_added,
        deleted: info.n_deleted,
    };
    slot.running.set(slot.running.get() + 1);
    panic::wrap(Guard::Contain("an evbuffer change callback"), || f(change));
    slot.running.set(slot.running.get() - 1);
    if !slot.removed.get() {
        slot.f.set(Some(f));
    }
}
