//! One handle pattern for every C object, and one way back from a callback's `void *`.
//!
//! - An owning type holds `raw: NonNull<sys::T>` and frees it in `Drop`; where C hands
//!   out objects it keeps owning (a bufferevent's buffers, the bufferevent a callback
//!   runs for), a borrowed `TRef` type is the object itself, seen as `&TRef` or
//!   `&mut TRef`. [`foreign_type!`] declares the `TRef` and ties the owner to it
//!   (`Deref`, `DerefMut`, `Debug`), so every pair has the same `from_raw`/`as_raw`; the
//!   bufferevent's owner, whose object C also lends to its callbacks, is declared without
//!   the tie and lends its view through `BufferEvent::with` instead.
//! - Callbacks live in an `Rc` held by the owning handle; C gets [`context_arg`] and the
//!   trampoline gets its own strong reference back with [`context_from_arg`], so a
//!   callback may drop its own handle while it runs.

use std::cell::Cell;
use std::ffi::c_void;
use std::rc::Rc;

/// Declares `pub struct $Ref`, the borrowed view of `sys::$raw`, with its
/// `unsafe fn from_raw<'a>(*mut sys::$raw) -> &'a mut $Ref` and
/// `fn as_raw(&self) -> *mut sys::$raw`, and makes `$Owned` (a struct with a
/// `raw: NonNull<sys::$raw>` field that keeps the object live) deref to it.
macro_rules! foreign_type {
    (
        $(#[$ref_meta:meta])*
        pub struct $Ref:ident(sys::$raw:ident), owned by $Owned:ident;
        $(#[$from_meta:meta])*
        fn from_raw;
        $(#[$as_meta:meta])*
        fn as_raw;
    ) => {
        $crate::handle::foreign_type! {
            $(#[$ref_meta])*
            pub struct $Ref(sys::$raw);
            $(#[$from_meta])*
            fn from_raw;
            $(#[$as_meta])*
            fn as_raw;
        }

        impl std::ops::Deref for $Owned {
            type Target = $Ref;
            fn deref(&self) -> &$Ref {
                // SAFETY: the owner keeps the object live while it is borrowed.
                unsafe { &*(self.raw.as_ptr() as *const $Ref) }
            }
        }

        impl std::ops::DerefMut for $Owned {
            fn deref_mut(&mut self) -> &mut $Ref {
                // SAFETY: as above; `&mut self` makes the borrow unique, since the owners
                // that deref (an evbuffer, a request owed a reply, a URI) are the only
                // way to their object: C hands no callback a view of them (a bufferevent,
                // which C does hand its callbacks, does not deref: ARCHITECTURE.md, "The
                // aliasing model").
                unsafe { $Ref::from_raw(self.raw.as_ptr()) }
            }
        }

        impl std::fmt::Debug for $Owned {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                (**self).fmt(f)
            }
        }
    };
    // A C object only ever seen borrowed (a request's headers, for example).
    (
        $(#[$ref_meta:meta])*
        pub struct $Ref:ident(sys::$raw:ident);
        $(#[$from_meta:meta])*
        fn from_raw;
        $(#[$as_meta:meta])*
        fn as_raw;
    ) => {
        $(#[$ref_meta])*
        pub struct $Ref {
            _opaque: std::cell::UnsafeCell<[u8; 0]>,
            _not_send: std::marker::PhantomData<*mut u8>,
        }

        impl $Ref {
            $(#[$from_meta])*
            pub unsafe fn from_raw<'a>(raw: *mut sys::$raw) -> &'a mut $Ref {
                // SAFETY: the caller vouches that raw is live for 'a and not used through
                // another reference meanwhile; the type is zero-sized and opaque, so the
                // reference is the C pointer itself.
                unsafe { &mut *(raw as *mut $Ref) }
            }

            $(#[$as_meta])*
            pub fn as_raw(&self) -> *mut sys::$raw {
                self as *const $Ref as *mut sys::$raw
            }
        }
    };
}
pub(crate) use foreign_type;

/// The `void *arg` to register with C for callbacks kept in `rc`. The owning handle
/// holds `rc` until C can no longer call back (after the C object is freed).
pub(crate) fn context_arg<T>(rc: &Rc<T>) -> *mut c_void {
    Rc::as_ptr(rc) as *mut c_void
}

/// The callbacks behind a trampoline's `void *arg`, with a strong reference of the
/// trampoline's own: they stay alive for the call even if the callback drops the handle
/// that owns them.
///
/// # Safety
/// `arg` must come from [`context_arg`] for an `Rc<T>` that is still alive.
pub(crate) unsafe fn context_from_arg<T>(arg: *mut c_void) -> Rc<T> {
    let p = arg as *const T;
    // SAFETY: the caller vouches that p is an Rc<T>'s pointer whose count is at least
    // one; taking a new strong reference and adopting it is balanced on drop.
    unsafe {
        Rc::increment_strong_count(p);
        Rc::from_raw(p)
    }
}

thread_local! {
    /// How many [`BufferEvent::with`](crate::BufferEvent::with) closures run on this
    /// thread: a loop must not run inside one (see [`refuse_loop`]).
    static LENT: Cell<u32> = const { Cell::new(0) };
    /// How many callbacks of C objects that C still touches after the callback returns
    /// (evhttp's, evdns's) are running on this thread: such an object dropped while one
    /// runs defers its free to the loop's next pass (see `EventBase::defer`).
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// Held by every evhttp and evdns trampoline while it runs.
pub(crate) struct InCallback;

impl InCallback {
    pub(crate) fn enter() -> InCallback {
        DEPTH.with(|d| d.set(d.get() + 1));
        InCallback
    }

    /// True inside such a callback.
    pub(crate) fn active() -> bool {
        DEPTH.with(|d| d.get() > 0)
    }
}

impl Drop for InCallback {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get() - 1));
    }
}

/// Counts one [`BufferEvent::with`](crate::BufferEvent::with) closure while it lives.
pub(crate) struct Lent;

impl Lent {
    pub(crate) fn enter() -> Lent {
        LENT.with(|l| l.set(l.get() + 1));
        Lent
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        LENT.with(|l| l.set(l.get() - 1));
    }
}

/// Err when a loop is about to run inside [`BufferEvent::with`](crate::BufferEvent::with):
/// the loop reads into and writes out of the very buffers that closure may hold slices
/// of (libevent may move a chain's bytes when it grows it), whether or not a callback of
/// that bufferevent runs.
pub(crate) fn refuse_loop(function: &'static str) -> crate::error::Result<()> {
    if LENT.with(|l| l.get()) > 0 {
        return Err(crate::error::Error::invalid(
            function,
            "the loop cannot run inside BufferEvent::with (its closure may hold slices of \
             the buffers the loop fills and drains)",
        ));
    }
    Ok(())
}
