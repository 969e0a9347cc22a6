//! [`BufferEvent`]: the handle that owns a bufferevent and frees it on drop.

use super::borrowed::BufferEventRef;
use super::callbacks::{event_tramp, read_tramp, write_tramp, Callbacks, Slot};
use super::ratelimit::{release_limits, RateLimit, RateLimitGroup};
use super::{BevEvent, Kind, Options};
use crate::base::EventBase;
use crate::error::{call, Error, Result};
use crate::handle::context_arg;
use libevent_sys as sys;
use std::ffi::c_short;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{IntoRawFd, OwnedFd};
use std::ptr::NonNull;
use std::rc::Rc;

/// What an underlying bufferevent's handle kept alive, held by the filter that owns it.
pub(super) struct Underlying {
    pub(super) raw: NonNull<sys::bufferevent>,
    pub(super) _cbs: Rc<Callbacks>,
    pub(super) extra: Option<Box<Extra>>,
}

/// What few bufferevents have: boxed, so that the common handle stays four words.
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
    pub(super) raw: NonNull<sys::bufferevent>,
    pub(super) cbs: Rc<Callbacks>,
    /// Rate limit, group, a filter's underlying handle.
    pub(super) extra: Option<Box<Extra>>,
    pub(super) base: EventBase,
}

impl BufferEvent {
    pub(super) fn adopt(
        base: &EventBase,
        raw: NonNull<sys::bufferevent>,
        kind: Kind,
    ) -> BufferEvent {
        let cbs = Rc::new(Callbacks {
            base: base.as_raw(),
            kind,
            read: Slot::new(),
            write: Slot::new(),
            event: Slot::new(),
        });
        BufferEvent {
            raw,
            cbs,
            extra: None,
            base: base.clone(),
        }
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
        Ok(Self::adopt(base, raw?, Kind::Socket))
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
        Ok(Self::adopt(base, raw, Kind::Adopted))
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
        unsafe {
            call!(sys::bufferevent_pair_new(
                base.as_raw(),
                options.0,
                pair.as_mut_ptr()
            ))
        }?;
        let end = |raw| {
            NonNull::new(raw)
                .map(|raw| Self::adopt(base, raw, Kind::Pair))
                .ok_or_else(|| Error::invalid("bufferevent_pair_new", "returned a null end"))
        };
        Ok((end(pair[0])?, end(pair[1])?))
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
        let sent = if self.cbs.kind == Kind::Socket && !limited {
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
                // A failed send (EAGAIN, or a broken socket) sends nothing now; the data
                // is queued, and libevent's own write reports a real error.
                let n = call!(libc::send(fd, data.as_ptr().cast(), data.len(), FLAGS));
                sent = n.unwrap_or(0).min(data.len());
            }
            sys::bufferevent_unlock(raw);
        }
        sent
    }

    pub(super) fn extra_mut(&mut self) -> &mut Extra {
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
                context_arg(&self.cbs),
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
        &self.base
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
        if let Some(d) = dns {
            // Kept before the call: the lookup may finish inside it.
            self.extra_mut().dns = Some(d.clone());
        }
        let d = dns.map_or(std::ptr::null_mut(), |d| d.as_raw());
        // SAFETY: the bufferevent and the DNS base are live (the latter kept by self
        // until libevent is done with it); the name is copied.
        unsafe {
            call!(sys::bufferevent_socket_connect_hostname(
                self.raw.as_ptr(),
                d,
                family.to_c(),
                h.as_ptr(),
                i32::from(port)
            ))
        }?;
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
        if self.base.as_raw() != base {
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
            drop(std::ptr::read(&me.base));
        }
        Ok(me.raw)
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
        // SAFETY: freed once. bufferevent_free clears the callbacks first, so the Callbacks
        // Rc dropped after it is never reached from C again; a running callback holds its
        // own reference on both.
        unsafe { sys::bufferevent_free(self.raw.as_ptr()) };
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
