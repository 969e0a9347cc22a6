//! [`BufferEvent`]: the handle that owns a bufferevent and frees it on drop.

use super::borrowed::BufferEventRef;
use super::callbacks::{
    defer, event_tramp, read_tramp, with_ctx, write_tramp, Borrow, Callbacks, Group, Restore,
    SlotId, Which,
};
use super::ratelimit::{release_limits, RateLimit, RateLimitGroup};
use super::FlushMode;
use super::{BevEvent, Kind, Options};
use crate::base::CommonTimeout;
use crate::base::EventBase;
use crate::buffer::EvBufferRef;
use crate::error::{call, Error, Result};
use crate::event::Flags;
use crate::handle::{context_arg, Lent};
use libevent_sys as sys;
use std::any::Any;
use std::cell::Cell;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::RawFd;
use std::os::fd::{IntoRawFd, OwnedFd};
use std::ptr::NonNull;
use std::rc::Rc;
use std::time::Duration;

/// What an underlying bufferevent's handle kept alive, held by the filter that owns it.
pub(super) struct Underlying {
    pub(super) raw: NonNull<sys::bufferevent>,
    pub(super) _cbs: Rc<Callbacks>,
    pub(super) extra: Option<Box<Extra>>,
}

/// What few bufferevents have: boxed, so that the common handle stays three words.
#[derive(Default)]
pub(super) struct Extra {
    pub(super) rate: Option<Rc<RateLimit>>,
    pub(super) group: Option<Rc<RateLimitGroup>>,
    /// What the underlying bufferevent's handle kept alive, when this is a filter.
    pub(super) filter_under: Option<Box<Underlying>>,
    /// The resolver of [`BufferEvent::connect_hostname`], kept while the bufferevent is
    /// (a DNS base frees itself only on the loop's pass after its last handle goes, after
    /// libevent's deferred cancellations).
    pub(super) dns: Option<crate::dns::DnsBase>,
    /// [`BufferEvent::on_buffer_change`]'s callbacks on the input and output buffers.
    pub(super) input_changes: crate::buffer::Callbacks,
    pub(super) output_changes: crate::buffer::Callbacks,
}

/// An owned bufferevent, freed (`bufferevent_free`) on drop, which is allowed inside its
/// own callbacks.
///
/// ```
/// use libevent::{BufferEvent, EventBase};
/// use libevent::bufferevent::Options;
/// use libevent::event::Flags;
/// let base = EventBase::new()?;
/// let (mut a, mut b) = BufferEvent::pair(&base, Options::empty())?;
/// b.on_read(|bev| {
///     let got = bev.input_mut().remove_all();
///     assert_eq!(got, b"ping");
/// });
/// b.enable(Flags::READ)?;
/// a.write(b"ping")?;
/// base.run(libevent::LoopFlags::NONBLOCK)?;
/// # Ok::<(), libevent::Error>(())
/// ```
pub struct BufferEvent {
    pub(super) raw: NonNull<sys::bufferevent>,
    pub(super) cbs: Rc<Callbacks>,
    /// Rate limit, group, a filter's underlying handle.
    pub(super) extra: Option<Box<Extra>>,
}

impl BufferEvent {
    pub(super) fn adopt(
        base: &EventBase,
        raw: NonNull<sys::bufferevent>,
        kind: Kind,
        group: Option<Group>,
    ) -> BufferEvent {
        let cbs = Rc::new(Callbacks::new(base.clone(), kind, group));
        cbs.direct.set(kind.sends_direct());
        let bev = BufferEvent {
            raw,
            cbs,
            extra: None,
        };
        // The event trampoline is always registered: it is how a view finds its
        // Callbacks (BufferEventRef::callbacks), and with an empty slot it does nothing.
        bev.update_callbacks();
        bev
    }

    /// `bufferevent_socket_new` on `fd` (`None`: a socket made later by [`connect`](BufferEventRef::connect)).
    /// The bufferevent owns the socket and closes it when freed.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::Options;
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
                if let Err(e) = unsafe { call!(sys::evutil_make_socket_nonblocking(raw)) } {
                    // SAFETY: we own raw and nothing else has it.
                    unsafe { libc::close(raw) };
                    return Err(e);
                }
                raw
            }
            None => -1,
        };
        // SAFETY: base live; raw_fd is owned (or -1); CLOSE_ON_FREE hands it to libevent.
        let raw = unsafe {
            call!(sys::bufferevent_socket_new(
                base.as_raw(),
                raw_fd,
                (options | Options::CLOSE_ON_FREE).0
            ))
        };
        if raw.is_err() && raw_fd >= 0 {
            // SAFETY: libevent did not take it.
            unsafe { libc::close(raw_fd) };
        }
        let bev = Self::adopt(base, raw?, Kind::Socket, None);
        if !options.contains(Options::THREADSAFE) {
            bev.cbs.edge.set(true);
            // SAFETY: a socket bufferevent of ours, not shared with threads, with our
            // trampolines registered (adopt).
            unsafe { super::edge::make_edge(bev.raw.as_ptr()) };
        }
        Ok(bev)
    }

    /// A bufferevent over a connected `TcpStream`.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::Options;
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
    /// # use libevent::bufferevent::Options;
    /// # let base = EventBase::new()?;
    /// let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let mut bev = BufferEvent::connect_tcp(&base, l.local_addr().unwrap(), Options::empty())?;
    /// bev.on_event(|_, what| println!("{what:?}"));
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

    /// Takes ownership of a bufferevent made by C. Its C callbacks are replaced at once by
    /// this crate's (none set yet: the ones of [`on_read`](Self::on_read) and its siblings).
    /// Null, or a bufferevent of another base, is refused.
    ///
    /// # Safety
    /// `raw` must be a live bufferevent (or null) that nothing else frees.
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
        const F: &str = "BufferEvent::from_raw";
        let raw = NonNull::new(raw).ok_or_else(|| Error::invalid(F, "null bufferevent"))?;
        // SAFETY: the caller vouches that raw is a live bufferevent.
        if unsafe { sys::bufferevent_get_base(raw.as_ptr()) } != base.as_raw() {
            return Err(Error::invalid(F, "a bufferevent of another event base"));
        }
        Ok(Self::adopt(base, raw, Kind::Adopted, None))
    }

    /// `bufferevent_pair_new`: two bufferevents, each one's output the other's input.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::Options;
    /// # use libevent::event::Flags;
    /// # let base = EventBase::new()?;
    /// let (mut a, mut b) = BufferEvent::pair(&base, Options::empty())?;
    /// b.enable(Flags::READ)?;
    /// a.write(b"ping")?;
    /// base.run(LoopFlags::NONBLOCK)?;
    /// assert_eq!(b.with(|b| b.input_mut().remove_all()), b"ping");
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn pair(base: &EventBase, options: Options) -> Result<(BufferEvent, BufferEvent)> {
        let mut pair = [std::ptr::null_mut(); 2];
        // SAFETY: base live; pair has room for two.
        unsafe {
            call!(sys::bufferevent_pair_new(
                base.as_raw(),
                options.0,
                pair.as_mut_ptr()
            ))
        }?;
        // The two ends' buffers are linked by C (a write to one fills the other's
        // input): one borrow state for both.
        let group: Group = Rc::new(Cell::new(Borrow::Free));
        let end = |raw| {
            NonNull::new(raw)
                .map(|raw| Self::adopt(base, raw, Kind::Pair, Some(group.clone())))
                .ok_or_else(|| Error::invalid("bufferevent_pair_new", "returned a null end"))
        };
        Ok((end(pair[0])?, end(pair[1])?))
    }

    /// Runs `f` on this bufferevent's extra state and on each underlying one's (a filter
    /// keeps the handle of what it filters), with the C bufferevent it belongs to.
    fn each_level(&mut self, mut f: impl FnMut(NonNull<sys::bufferevent>, &mut Extra)) {
        let mut raw = self.raw;
        let mut extra = self.extra.as_deref_mut();
        while let Some(x) = extra {
            f(raw, x);
            let Some(u) = x.filter_under.as_deref_mut() else {
                break;
            };
            raw = u.raw;
            extra = u.extra.as_deref_mut();
        }
    }

    pub(super) fn extra_mut(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Default::default)
    }

    fn update_callbacks(&self) {
        let cbs = &self.cbs;
        let read: sys::bufferevent_data_cb = cbs
            .is_set(SlotId::Read, &cbs.read)
            .then_some(read_tramp as _);
        let write: sys::bufferevent_data_cb = cbs
            .is_set(SlotId::Write, &cbs.write)
            .then_some(write_tramp as _);
        let event: sys::bufferevent_event_cb = Some(event_tramp as _);
        // SAFETY: raw live; the Callbacks outlive the bufferevent's callbacks (see Drop).
        unsafe {
            sys::bufferevent_setcb(
                self.raw.as_ptr(),
                read,
                write,
                event,
                context_arg(&self.cbs),
            )
        };
    }

    /// Sets the read callback: runs when input reaches the read low watermark.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::Options;
    /// # use libevent::event::Flags;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// bev.on_read(|me| {
    ///     let data = me.input_mut().remove_all();
    ///     me.write(&data).unwrap(); // echo
    /// });
    /// bev.enable(Flags::READ)?;
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn on_read<F: FnMut(&mut BufferEventRef) + 'static>(&mut self, mut f: F) {
        self.cbs.set(
            SlotId::Read,
            &self.cbs.read,
            Some(Box::new(move |bev, _| f(bev))),
        );
        self.update_callbacks();
    }

    /// Sets the write callback: runs when output drains to the write low watermark.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::Options;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// bev.on_write(|me| assert!(me.output().is_empty())); // low watermark 0: drained
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn on_write<F: FnMut(&mut BufferEventRef) + 'static>(&mut self, mut f: F) {
        self.cbs.set(
            SlotId::Write,
            &self.cbs.write,
            Some(Box::new(move |bev, _| f(bev))),
        );
        self.update_callbacks();
    }

    /// Sets the event callback: EOF, errors, timeouts, connected.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::{BevEvent, Options};
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// bev.on_event(|_me, what| {
    ///     if what.intersects(BevEvent::EOF | BevEvent::ERROR | BevEvent::TIMEOUT) {
    ///         // close: drop the BufferEvent (allowed here)
    ///     }
    /// });
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn on_event<F: FnMut(&mut BufferEventRef, BevEvent) + 'static>(&mut self, mut f: F) {
        self.cbs.set(
            SlotId::Event,
            &self.cbs.event,
            Some(Box::new(move |bev, what, _| f(bev, what))),
        );
        self.update_callbacks();
    }

    /// Removes the write callback.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::Options;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// bev.on_write(|_| {});
    /// bev.clear_write_callback();
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn clear_write_callback(&mut self) {
        self.cbs.set(SlotId::Write, &self.cbs.write, None);
        self.update_callbacks();
    }

    /// The crate's own callbacks (an async stream's), which get the Callbacks to
    /// [`release`](Callbacks::release) the bufferevent before they wake a task.
    pub(crate) fn on_read_internal(
        &mut self,
        f: impl FnMut(&mut BufferEventRef, &Callbacks) + 'static,
    ) {
        self.cbs
            .set(SlotId::Read, &self.cbs.read, Some(Box::new(f)));
        self.update_callbacks();
    }

    /// See [`on_read_internal`](Self::on_read_internal).
    pub(crate) fn on_write_internal(
        &mut self,
        f: impl FnMut(&mut BufferEventRef, &Callbacks) + 'static,
    ) {
        self.cbs
            .set(SlotId::Write, &self.cbs.write, Some(Box::new(f)));
        self.update_callbacks();
    }

    /// See [`on_read_internal`](Self::on_read_internal).
    pub(crate) fn on_event_internal(
        &mut self,
        f: impl FnMut(&mut BufferEventRef, BevEvent, &Callbacks) + 'static,
    ) {
        self.cbs
            .set(SlotId::Event, &self.cbs.event, Some(Box::new(f)));
        self.update_callbacks();
    }

    /// Stores `ctx` beside the callbacks, replacing (and dropping) any earlier context:
    /// the state the callbacks of [`on_read_with`](Self::on_read_with) and its siblings
    /// receive, and what [`with_context`](Self::with_context) lends. A callback that needs
    /// its connection's state gets it here, rather than by capturing its own owner (which
    /// it could not use: see [`with`](Self::with)).
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::Options;
    /// # use libevent::event::Flags;
    /// # let base = EventBase::new()?;
    /// let (mut a, mut b) = BufferEvent::pair(&base, Options::empty())?;
    /// struct Conn { seen: usize }
    /// b.set_context(Conn { seen: 0 });
    /// b.on_read_with(|bev, conn: &mut Conn| conn.seen += bev.input_mut().remove_all().len())?;
    /// b.enable(Flags::READ)?;
    /// a.write(b"ping")?;
    /// base.run(LoopFlags::NONBLOCK)?;
    /// assert_eq!(b.with_context(|_, conn: &mut Conn| conn.seen), 4);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    ///
    /// # Panics
    /// Inside a callback of this bufferevent, or inside [`with`](Self::with) of it or of
    /// its pair's other end.
    pub fn set_context<T: Any>(&mut self, ctx: T) {
        self.check("set_context");
        let old = self.cbs.ctx.replace(Some(Box::new(ctx)));
        drop(old);
    }

    /// Checks that a context of type `T` is set, for a typed callback setter.
    fn context_is<T: Any>(&self, function: &'static str) -> Result<()> {
        let ctx = self.cbs.ctx.take();
        let ok = ctx.as_ref().is_some_and(|c| c.is::<T>());
        self.cbs.ctx.set(ctx);
        if ok {
            Ok(())
        } else {
            Err(Error::invalid(
                function,
                "set_context with a value of the callback's context type first",
            ))
        }
    }

    /// [`on_read`](Self::on_read) with the context of [`set_context`](Self::set_context):
    /// `f` gets the bufferevent and the context at once. Err if no context of type `T` is
    /// set.
    pub fn on_read_with<T, F>(&mut self, mut f: F) -> Result<()>
    where
        T: Any,
        F: FnMut(&mut BufferEventRef, &mut T) + 'static,
    {
        self.context_is::<T>("BufferEvent::on_read_with")?;
        self.cbs.set(
            SlotId::Read,
            &self.cbs.read,
            Some(Box::new(move |bev, cbs| {
                if with_ctx(cbs, "on_read_with", |c: &mut T| f(bev, c)).is_none() {
                    defer(bev.as_raw(), Which::Read);
                }
            })),
        );
        self.update_callbacks();
        Ok(())
    }

    /// [`on_write`](Self::on_write) with the context of [`set_context`](Self::set_context).
    pub fn on_write_with<T, F>(&mut self, mut f: F) -> Result<()>
    where
        T: Any,
        F: FnMut(&mut BufferEventRef, &mut T) + 'static,
    {
        self.context_is::<T>("BufferEvent::on_write_with")?;
        self.cbs.set(
            SlotId::Write,
            &self.cbs.write,
            Some(Box::new(move |bev, cbs| {
                if with_ctx(cbs, "on_write_with", |c: &mut T| f(bev, c)).is_none() {
                    defer(bev.as_raw(), Which::Write);
                }
            })),
        );
        self.update_callbacks();
        Ok(())
    }

    /// [`on_event`](Self::on_event) with the context of [`set_context`](Self::set_context).
    pub fn on_event_with<T, F>(&mut self, mut f: F) -> Result<()>
    where
        T: Any,
        F: FnMut(&mut BufferEventRef, &mut T, BevEvent) + 'static,
    {
        self.context_is::<T>("BufferEvent::on_event_with")?;
        self.cbs.set(
            SlotId::Event,
            &self.cbs.event,
            Some(Box::new(move |bev, what, cbs| {
                if with_ctx(cbs, "on_event_with", |c: &mut T| f(bev, c, what)).is_none() {
                    defer(bev.as_raw(), Which::Event(what.0));
                }
            })),
        );
        self.update_callbacks();
        Ok(())
    }

    /// Panics (naming `function`) unless nothing uses the bufferevent's group now: not a
    /// callback of this bufferevent or of one C links to it (a pair's other end), and
    /// not [`with`](Self::with).
    #[track_caller]
    pub(super) fn check(&self, function: &str) {
        match self.cbs.state().get() {
            Borrow::Free => {}
            Borrow::Callback => panic!(
                "BufferEvent::{function} on the owner while a callback of this bufferevent \
                 (or of the other end of its pair) runs: use the `&mut BufferEventRef` \
                 the callback receives, and `set_context` for its state"
            ),
            Borrow::Owner => panic!(
                "BufferEvent::{function} while `BufferEvent::with` holds this bufferevent \
                 (or the other end of its pair)"
            ),
        }
    }

    /// The view of an owner method that returns no reference into the bufferevent.
    #[track_caller]
    fn view(&mut self, function: &str) -> &mut BufferEventRef {
        self.check(function);
        // SAFETY: the owner keeps the bufferevent live; nothing else uses it now (the
        // state is free), and the view does not outlive this one call of the owner's.
        unsafe { BufferEventRef::from_raw(self.raw.as_ptr()) }
    }

    /// The view of an owner `&self` method that returns nothing borrowed from it.
    #[track_caller]
    fn view_ref(&self, function: &str) -> &BufferEventRef {
        self.check(function);
        // SAFETY: as in `view`, for a read-only call.
        unsafe { &*(self.raw.as_ptr() as *const BufferEventRef) }
    }

    /// Lends the bufferevent's view to `f`, for what hands out references into it (its
    /// buffers, `peek`, `pullup`, the TLS session). While `f` runs, the bufferevent (and
    /// the other end of its pair) is taken: a callback of it that falls due panics,
    /// since its view and `f`'s would alias. `f` may call anything on the view,
    /// including what runs callbacks synchronously (a filter's write, `flush`).
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::Options;
    /// # use libevent::event::Flags;
    /// # let base = EventBase::new()?;
    /// let (mut a, mut b) = BufferEvent::pair(&base, Options::empty())?;
    /// b.enable(Flags::READ)?;
    /// a.write(b"ping")?;
    /// base.run(LoopFlags::NONBLOCK)?;
    /// let got = b.with(|bev| bev.input_mut().remove_all());
    /// assert_eq!(got, b"ping");
    /// # Ok::<(), libevent::Error>(())
    /// ```
    ///
    /// # Panics
    /// Inside a callback of this bufferevent (or of its pair's other end): use the
    /// callback's own view.
    #[track_caller]
    pub fn with<R>(&mut self, f: impl FnOnce(&mut BufferEventRef) -> R) -> R {
        self.check("with");
        let state = self.cbs.state();
        state.set(Borrow::Owner);
        let _restore = Restore(state, Borrow::Free);
        let _lent = Lent::enter();
        // SAFETY: live; the state makes this the only view until `_restore` ends it, and
        // no loop runs meanwhile (`Lent`), so C does not touch its buffers either.
        f(unsafe { BufferEventRef::from_raw(self.raw.as_ptr()) })
    }

    /// [`with`](Self::with), with the context of [`set_context`](Self::set_context) too.
    ///
    /// # Panics
    /// As `with`; and when no context is set or it is not a `T`.
    #[track_caller]
    pub fn with_context<T: Any, R>(
        &mut self,
        f: impl FnOnce(&mut BufferEventRef, &mut T) -> R,
    ) -> R {
        self.check("with_context");
        let cbs = self.cbs.clone();
        let raw = self.raw.as_ptr();
        let state = cbs.state();
        state.set(Borrow::Owner);
        let _restore = Restore(state, Borrow::Free);
        let _lent = Lent::enter();
        with_ctx(&cbs, "BufferEvent::with_context", |ctx: &mut T| {
            // SAFETY: as in `with`.
            f(unsafe { BufferEventRef::from_raw(raw) }, ctx)
        })
        .unwrap_or_else(|| panic!("BufferEvent::with_context: no context is set"))
    }

    /// The base it belongs to.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::Options;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// assert_eq!(bev.base().as_raw(), base.as_raw());
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn base(&self) -> &EventBase {
        &self.cbs.base
    }

    /// `bufferevent_socket_connect_hostname`: resolves `host` with `dns` (or, with `None`,
    /// the system's blocking `getaddrinfo`) and connects to the first address that
    /// answers. The event callback gets `CONNECTED`, or `ERROR`; after an error,
    /// [`dns_error`](BufferEventRef::dns_error) tells whether the lookup failed.
    pub fn connect_hostname(
        &mut self,
        dns: Option<&crate::dns::DnsBase>,
        family: crate::dns::Family,
        host: &str,
        port: u16,
    ) -> Result<()> {
        let h = std::ffi::CString::new(host).map_err(|_| {
            Error::invalid(
                "bufferevent_socket_connect_hostname",
                "NUL in the host name",
            )
        })?;
        self.check("connect_hostname");
        if let Some(d) = dns {
            // Kept before the call: the lookup may finish inside it.
            self.extra_mut().dns = Some(d.clone());
        }
        let d = dns.map_or(std::ptr::null_mut(), |d| d.as_raw());
        // A lookup that ends inside the call (a numeric host, or the system resolver)
        // runs the event callback before it returns: panic::sync.
        // SAFETY: the bufferevent and the DNS base are live (the latter kept by self
        // until libevent is done with it); the name is copied.
        crate::panic::sync(|| unsafe {
            call!(sys::bufferevent_socket_connect_hostname(
                self.raw.as_ptr(),
                d,
                family.to_c(),
                h.as_ptr(),
                i32::from(port)
            ))
        })?;
        Ok(())
    }

    /// Hands the C bufferevent to libevent code that frees it (an `evhttp` connection):
    /// our callbacks are detached first. Only a plain socket bufferevent of `base` with
    /// nothing kept alive on the Rust side (no rate limit) qualifies.
    pub(crate) fn into_raw_for_c(
        self,
        function: &'static str,
        base: *mut sys::event_base,
    ) -> Result<NonNull<sys::bufferevent>> {
        if !matches!(self.cbs.kind, Kind::Socket | Kind::Adopted | Kind::Ssl)
            || self.extra.is_some()
        {
            return Err(Error::invalid(
                function,
                "only a socket bufferevent without a rate limit can be handed over",
            ));
        }
        if self.cbs.base.as_raw() != base {
            return Err(Error::invalid(
                function,
                "a bufferevent of another event base",
            ));
        }
        let me = std::mem::ManuallyDrop::new(self);
        // SAFETY: raw is live; with its callbacks cleared C never reaches our Callbacks
        // again, and each field is read once out of a value that is never dropped.
        unsafe {
            sys::bufferevent_setcb(me.raw.as_ptr(), None, None, None, std::ptr::null_mut());
            drop(std::ptr::read(&me.cbs));
        }
        Ok(me.raw)
    }
}

/// The owner's own versions of the view's methods that return no reference into the
/// bufferevent: each checks that nothing else uses it (see [`BufferEvent::with`]) and
/// makes the one call. What returns a reference (the buffers, the TLS session) is
/// reached through `with`.
macro_rules! owner_calls {
    (@doc $name:ident) => {
        concat!(
            "[`BufferEventRef::", stringify!($name), "`] on the owner.\n\n",
            "# Panics\n",
            "Inside a callback of this bufferevent (or of its pair's other end), where the ",
            "callback's own `&mut BufferEventRef` is the one to use."
        )
    };
    ($(#![$impl_meta:meta])* $(
        $(#[$meta:meta])*
        fn $name:ident(&mut self $(, $arg:ident: $ty:ty)*) -> $ret:ty;
    )*) => {
        $(#[$impl_meta])*
        impl BufferEvent {
            $(
                $(#[$meta])*
                #[doc = owner_calls!(@doc $name)]
                #[track_caller]
                pub fn $name(&mut self $(, $arg: $ty)*) -> $ret {
                    self.view(stringify!($name)).$name($($arg),*)
                }
            )*
        }
    };
}

/// As `owner_calls!`, for the view's `&self` methods.
macro_rules! owner_calls_ref {
    ($(#![$impl_meta:meta])* $(
        $(#[$meta:meta])*
        fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty;
    )*) => {
        $(#[$impl_meta])*
        impl BufferEvent {
            $(
                $(#[$meta])*
                #[doc = owner_calls!(@doc $name)]
                #[track_caller]
                pub fn $name(&self $(, $arg: $ty)*) -> $ret {
                    self.view_ref(stringify!($name)).$name($($arg),*)
                }
            )*
        }
    };
}

owner_calls! {
    fn enable(&mut self, what: Flags) -> Result<()>;
    fn disable(&mut self, what: Flags) -> Result<()>;
    fn set_timeouts(&mut self, read: Option<Duration>, write: Option<Duration>) -> Result<()>;
    fn set_common_timeouts(&mut self, read: Option<CommonTimeout>, write: Option<CommonTimeout>) -> Result<()>;
    fn set_read_watermark(&mut self, low: usize, high: usize) -> Result<()>;
    fn set_write_watermark(&mut self, low: usize, high: usize) -> Result<()>;
    fn write(&mut self, data: &[u8]) -> Result<()>;
    fn write_direct(&mut self, data: &[u8]) -> Result<()>;
    fn write_buffer(&mut self, buf: &mut EvBufferRef) -> Result<()>;
    fn read(&mut self, out: &mut [u8]) -> usize;
    fn flush(&mut self, what: Flags, mode: FlushMode) -> Result<bool>;
    fn set_priority(&mut self, priority: u8) -> Result<()>;
    fn set_max_single_read(&mut self, n: usize) -> Result<()>;
    fn set_max_single_write(&mut self, n: usize) -> Result<()>;
    fn connect(&mut self, addr: SocketAddr) -> Result<()>;
    fn read_buffer(&mut self, out: &mut EvBufferRef) -> Result<()>;
    fn decrement_read_limit(&mut self, n: isize) -> Result<()>;
    fn decrement_write_limit(&mut self, n: isize) -> Result<()>;
}

owner_calls_ref! {
    fn enabled(&self) -> Flags;
    fn read_watermark(&self) -> (usize, usize);
    fn write_watermark(&self) -> (usize, usize);
    fn fd(&self) -> Option<RawFd>;
    fn priority(&self) -> u8;
    fn max_single_read(&self) -> usize;
    fn max_single_write(&self) -> usize;
    fn dns_error(&self) -> Option<crate::dns::DnsError>;
    fn shutdown(&self, how: std::net::Shutdown) -> Result<()>;
    fn socket_error(&self) -> Option<i32>;
    fn input_len(&self) -> usize;
    fn output_len(&self) -> usize;
    fn read_limit(&self) -> isize;
    fn write_limit(&self) -> isize;
    fn max_to_read(&self) -> isize;
    fn max_to_write(&self) -> isize;
    fn has_rate_limit(&self) -> bool;
}

#[cfg(all(feature = "openssl", libevent_openssl))]
owner_calls! {
    #![cfg_attr(docsrs, doc(cfg(feature = "openssl")))]
    fn openssl_error(&mut self) -> Option<super::SslError>;
    fn set_allow_dirty_shutdown(&mut self, allow: bool) -> Result<()>;
    fn close_notify(&mut self) -> Result<()>;
}

#[cfg(all(feature = "openssl", libevent_openssl))]
owner_calls_ref! {
    #![cfg_attr(docsrs, doc(cfg(feature = "openssl")))]
    fn allow_dirty_shutdown(&self) -> bool;
}

impl BufferEvent {
    /// The raw `struct bufferevent *` (it stays owned by this handle).
    pub fn as_raw(&self) -> *mut sys::bufferevent {
        self.raw.as_ptr()
    }
}

impl std::fmt::Debug for BufferEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.cbs.state().get() != Borrow::Free {
            return f.write_str("BufferEvent { in use }");
        }
        // SAFETY: live, and nothing else uses it now (the state is free); the view does
        // not outlive this call.
        unsafe { BufferEventRef::from_raw(self.raw.as_ptr()) }.fmt(f)
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
        if self.extra.as_ref().is_some_and(|x| x.dns.is_some()) {
            // SAFETY: a live socket bufferevent that connect_hostname used.
            unsafe { cancel_lookup(self.raw.as_ptr()) };
        }
        // The buffers (this one's and each underlying one's) are live until
        // bufferevent_free, and maybe after, until the loop finalizes them: no change
        // callback of ours may run from here.
        self.each_level(super::changes::disable_all);
        // SAFETY: freed once. bufferevent_free clears the callbacks first, so the Callbacks
        // Rc dropped after it is never reached from C again; a running callback holds its
        // own reference on both.
        unsafe { sys::bufferevent_free(self.raw.as_ptr()) };
        // Disabled above: libevent calls none of these closures again.
        self.each_level(|_, x| {
            x.input_changes.release_all();
            x.output_changes.release_all();
        });
    }
}

/// Cancels the lookup of a `bufferevent_socket_connect_hostname` still resolving, which
/// `bufferevent_free` does not do in libevent 2.1 (the lookup would run on, holding the
/// bufferevent and its DNS base, until its timeout). `bufferevent_setfd` cancels it; it
/// is called only while the bufferevent has no socket yet, so nothing else changes.
///
/// # Safety
/// `raw` must be a live socket bufferevent.
pub(crate) unsafe fn cancel_lookup(raw: *mut sys::bufferevent) {
    // SAFETY: per the caller.
    unsafe {
        if sys::bufferevent_getfd(raw) < 0 {
            sys::bufferevent_setfd(raw, -1);
        }
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
            3 * std::mem::size_of::<usize>()
        );
        // With the Rc's two counts at most 104 bytes: one 112-byte glibc chunk (a chunk
        // is the request plus one size word, rounded up to 16).
        assert!(
            std::mem::size_of::<Callbacks>() + 2 * std::mem::size_of::<usize>() <= 104,
            "{}",
            std::mem::size_of::<Callbacks>()
        );
    }
}
