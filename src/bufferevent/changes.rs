//! Change callbacks on a bufferevent's own buffers (`evbuffer_add_cb` on
//! `bufferevent_get_input` / `_get_output`), kept by its owner.
//!
//! The closures live in the owner's `Extra`, with the buffers'
//! callback lists (`buffer::Callbacks`, the same machinery as an
//! [`EvBuffer`](crate::EvBuffer)'s own). The bufferevent's buffers live at least as long
//! as the owner: its drop disables every entry while they are still live, before
//! `bufferevent_free` (libevent frees the buffers later, from the loop, and a change it
//! makes meanwhile runs no Rust code), and releases the closures after.
//!
//! Deferral (`evbuffer_defer_callbacks`) is not offered on these buffers: it would defer
//! libevent's own callbacks on them too (the bufferevent's write scheduling and
//! watermarks), and a deferred run that a buffer's reference keeps pending could call
//! them after the bufferevent is freed. A closure that wants to act later schedules it
//! (an `Event`, `EventBase::once`, a task).
//!
//! A closure gets only the [`Change`]. It runs inside whatever changed the buffer: one of
//! this crate's calls, which holds the bufferevent's view (so the owner refuses to act),
//! or libevent's own reading and writing from the loop, where the owner may act (and may
//! drop the bufferevent: libevent holds a reference of its own while it works on it).

use super::owned::Extra;
use super::BufferEvent;
use crate::buffer::{Change, ChangeCallback};
use crate::error::{Error, Result};
use libevent_sys as sys;
use std::ptr::NonNull;

/// Which of a bufferevent's two buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// `bufferevent_get_input`: what was read.
    Input,
    /// `bufferevent_get_output`: what is to be written.
    Output,
}

impl BufferEvent {
    fn side_buffer(&self, side: Side) -> *mut sys::evbuffer {
        // SAFETY: the owner keeps the bufferevent live; its buffers are its own for its
        // whole life.
        unsafe {
            match side {
                Side::Input => sys::bufferevent_get_input(self.raw.as_ptr()),
                Side::Output => sys::bufferevent_get_output(self.raw.as_ptr()),
            }
        }
    }

    /// `evbuffer_add_cb` on the input or output buffer: run `f` after each change of its
    /// length, whoever makes it (libevent reading into the input or writing out the
    /// output, or this crate's calls). The callbacks go with the owner: dropping it
    /// removes them. libevent runs the one added last first, and those it adds itself
    /// (the bufferevent's own watermark and write handling) are untouched.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::{Options, Side};
    /// # use libevent::event::Flags;
    /// # use std::{cell::Cell, rc::Rc};
    /// let base = EventBase::new()?;
    /// let (mut a, mut b) = BufferEvent::pair(&base, Options::empty())?;
    /// let sent = Rc::new(Cell::new(0));
    /// let s = sent.clone();
    /// // The pair moves what `a` writes out of its output: each move is a deletion.
    /// a.on_buffer_change(Side::Output, move |c| s.set(s.get() + c.deleted))?;
    /// b.enable(Flags::READ)?;
    /// a.enable(Flags::WRITE)?;
    /// a.write(b"hello")?;
    /// base.run(LoopFlags::NONBLOCK)?;
    /// assert_eq!(sent.get(), 5);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    ///
    /// # Panics
    /// Inside a callback of this bufferevent or [`with`](Self::with), as every owner call.
    #[track_caller]
    pub fn on_buffer_change<F: FnMut(Change) + 'static>(
        &mut self,
        side: Side,
        f: F,
    ) -> Result<ChangeCallback> {
        self.check("on_buffer_change");
        let buf = self.side_buffer(side);
        let x = self.extra_mut();
        let list = match side {
            Side::Input => &mut x.input_changes,
            Side::Output => &mut x.output_changes,
        };
        list.add(buf, Box::new(f))
    }

    fn find_change(&self, id: ChangeCallback, function: &'static str) -> Result<Side> {
        let x = self.extra.as_deref();
        if x.is_some_and(|x| x.input_changes.contains(id)) {
            Ok(Side::Input)
        } else if x.is_some_and(|x| x.output_changes.contains(id)) {
            Ok(Side::Output)
        } else {
            Err(Error::invalid(
                function,
                "no such callback on this bufferevent",
            ))
        }
    }

    /// `evbuffer_remove_cb`: remove a callback of [`on_buffer_change`](Self::on_buffer_change)
    /// (its closure goes once it returns, if it is running). An error for an id of
    /// another buffer, or one already removed.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::{Options, Side};
    /// # let base = EventBase::new()?;
    /// let (mut a, _b) = BufferEvent::pair(&base, Options::empty())?;
    /// let id = a.on_buffer_change(Side::Input, |_| {})?;
    /// a.remove_buffer_change(id)?;
    /// assert!(a.remove_buffer_change(id).is_err());
    /// # Ok::<(), libevent::Error>(())
    /// ```
    ///
    /// # Panics
    /// As [`on_buffer_change`](Self::on_buffer_change).
    #[track_caller]
    pub fn remove_buffer_change(&mut self, id: ChangeCallback) -> Result<()> {
        self.check("remove_buffer_change");
        let side = self.find_change(id, "evbuffer_remove_cb")?;
        let buf = self.side_buffer(side);
        let x = self.extra_mut();
        match side {
            Side::Input => x.input_changes.remove(buf, id),
            Side::Output => x.output_changes.remove(buf, id),
        }
    }

    /// `evbuffer_cb_set_flags` / `_clear_flags`: enable or disable a callback of
    /// [`on_buffer_change`](Self::on_buffer_change); disabled, it misses the changes made
    /// meanwhile.
    ///
    /// # Panics
    /// As [`on_buffer_change`](Self::on_buffer_change).
    #[track_caller]
    pub fn set_buffer_change_enabled(&mut self, id: ChangeCallback, enabled: bool) -> Result<()> {
        self.check("set_buffer_change_enabled");
        let side = self.find_change(id, "evbuffer_cb_set_flags")?;
        let buf = self.side_buffer(side);
        let x = self.extra_mut();
        match side {
            Side::Input => x.input_changes.set_enabled(buf, id, enabled),
            Side::Output => x.output_changes.set_enabled(buf, id, enabled),
        }
    }
}

/// Before `bufferevent_free`: no change callback of `x`'s (the extra state of `raw`, a
/// live bufferevent) may run again.
pub(super) fn disable_all(raw: NonNull<sys::bufferevent>, x: &mut Extra) {
    // SAFETY: raw is live (the caller's); its buffers are its own.
    let (input, output) = unsafe {
        (
            sys::bufferevent_get_input(raw.as_ptr()),
            sys::bufferevent_get_output(raw.as_ptr()),
        )
    };
    x.input_changes.disable_all(input);
    x.output_changes.disable_all(output);
}
