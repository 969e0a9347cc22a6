//! [`BufferEventRef`]: a bufferevent that something else keeps alive.

use super::callbacks::{event_tramp, Callbacks};
use super::{FlushMode, Kind};
use crate::buffer::EvBufferRef;
use crate::error::{call, Error, Result};
use crate::event::Flags;
use crate::handle::foreign_type;
use crate::util::sockaddr::sockaddr_from;
use crate::util::time::OptionalTimeval;
use libevent_sys as sys;
use std::ffi::{c_short, c_void};
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::time::Duration;

/// Checks a max-single-read/write value: libevent takes 1 to `isize::MAX`.
fn single_limit(function: &'static str, n: usize) -> Result<()> {
    if n == 0 || n > isize::MAX as usize {
        return Err(Error::invalid(function, "must be between 1 and isize::MAX"));
    }
    Ok(())
}

foreign_type! {
    /// A bufferevent's view: what its callbacks receive, what [`BufferEvent::with`](crate::BufferEvent::with) lends,
    /// and what C code's bufferevents are seen as. At most one view of a bufferevent
    /// is in use at a time (ARCHITECTURE.md, "The aliasing model").
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::Options;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// // Callbacks get a &mut BufferEventRef.
    /// bev.on_read(|me: &mut BufferEventRef| { me.input_mut().drain(usize::MAX).unwrap(); });
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub struct BufferEventRef(sys::bufferevent);

    /// Borrows a bufferevent that something else owns (C code, or a [`BufferEvent`](crate::BufferEvent)).
    ///
    /// # Safety
    /// `raw` must be a live bufferevent for `'a`.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::Options;
    /// # use libevent::event::Flags;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// let raw = bev.as_raw();
    /// // SAFETY: raw is live for this scope and used through `r` only.
    /// let r = unsafe { BufferEventRef::from_raw(raw) };
    /// r.enable(Flags::READ)?;
    /// # Ok::<(), libevent::Error>(())
    /// ```
    fn from_raw;

    /// The raw `struct bufferevent *`.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::Options;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// // SAFETY: the bufferevent is live.
    /// let base = unsafe { libevent::sys::bufferevent_get_base(bev.as_raw()) };
    /// assert_eq!(base, bev.base().as_raw());
    /// # Ok::<(), libevent::Error>(())
    /// ```
    fn as_raw;
}

impl BufferEventRef {
    /// `bufferevent_enable` (`Flags::READ`, `Flags::WRITE`).
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::Options;
    /// # use libevent::event::Flags;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// bev.enable(Flags::READ | Flags::WRITE)?;
    /// assert!(bev.enabled().contains(Flags::READ));
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn enable(&mut self, what: Flags) -> Result<()> {
        // A pair's enable may hand data to the other end, running its callbacks: their
        // panics come out of this call (panic::sync), as for write.
        // SAFETY: live bufferevent.
        crate::panic::sync(|| unsafe { call!(sys::bufferevent_enable(self.as_raw(), what.0)) })?;
        Ok(())
    }

    /// `bufferevent_disable`.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::Options;
    /// # use libevent::event::Flags;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// bev.enable(Flags::READ)?;
    /// bev.disable(Flags::READ)?;
    /// assert!(!bev.enabled().contains(Flags::READ));
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn disable(&mut self, what: Flags) -> Result<()> {
        // SAFETY: live bufferevent.
        crate::panic::sync(|| unsafe { call!(sys::bufferevent_disable(self.as_raw(), what.0)) })?;
        Ok(())
    }

    /// `bufferevent_get_enabled`.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::Options;
    /// # use libevent::event::Flags;
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
    /// # use libevent::bufferevent::Options;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// use std::time::Duration;
    /// bev.set_timeouts(Some(Duration::from_secs(10)), None)?;
    /// assert!(bev.set_timeouts(Some(Duration::MAX), None).is_err());
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn set_timeouts(&mut self, read: Option<Duration>, write: Option<Duration>) -> Result<()> {
        let r = OptionalTimeval::new("bufferevent_set_timeouts", read)?;
        let w = OptionalTimeval::new("bufferevent_set_timeouts", write)?;
        self.set_timevals(r, w)
    }

    fn set_timevals(&mut self, read: OptionalTimeval, write: OptionalTimeval) -> Result<()> {
        // SAFETY: live bufferevent; the timevals are copied during the call.
        unsafe {
            call!(sys::bufferevent_set_timeouts(
                self.as_raw(),
                read.as_ptr(),
                write.as_ptr()
            ))
        }?;
        Ok(())
    }

    /// `bufferevent_set_timeouts` with [`CommonTimeout`](crate::base::CommonTimeout)s of this
    /// bufferevent's base: for a server whose many connections share one timeout.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::Options;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// let idle = base.common_timeout(std::time::Duration::from_secs(10))?;
    /// bev.set_common_timeouts(Some(idle), Some(idle))?;
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn set_common_timeouts(
        &mut self,
        read: Option<crate::base::CommonTimeout>,
        write: Option<crate::base::CommonTimeout>,
    ) -> Result<()> {
        const F: &str = "bufferevent_set_timeouts";
        // SAFETY: live bufferevent.
        let base = unsafe { sys::bufferevent_get_base(self.as_raw()) };
        let r = OptionalTimeval::from(read.map(|t| t.timeval_for(F, base)).transpose()?);
        let w = OptionalTimeval::from(write.map(|t| t.timeval_for(F, base)).transpose()?);
        self.set_timevals(r, w)
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
    /// # use libevent::bufferevent::Options;
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
    /// # use libevent::bufferevent::Options;
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
    /// # use libevent::bufferevent::Options;
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
    /// # use libevent::bufferevent::Options;
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
    /// # use libevent::bufferevent::Options;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// bev.with(|bev| assert!(bev.input().is_empty()));
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn input(&self) -> &EvBufferRef {
        // SAFETY: the input buffer lives as long as the bufferevent, and while this view
        // is borrowed nothing else changes it: the view is the bufferevent's only one in
        // use (ARCHITECTURE.md, "The aliasing model": its owner refuses to act, its other
        // callbacks and its pair's wait, and no loop runs inside `with`), and C changes
        // it only inside calls that take `&mut` of this view or of the buffer.
        unsafe { &*(sys::bufferevent_get_input(self.as_raw()) as *const EvBufferRef) }
    }

    /// `bufferevent_get_input`, to take bytes out.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::Options;
    /// # use libevent::event::Flags;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// bev.enable(Flags::READ)?;
    /// other.write(b"hi")?;
    /// base.run(LoopFlags::NONBLOCK)?;
    /// assert_eq!(bev.with(|bev| bev.input_mut().remove_all()), b"hi");
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn input_mut(&mut self) -> &mut EvBufferRef {
        // SAFETY: as above; `&mut self` of the bufferevent's only view in use makes the
        // borrow unique.
        unsafe { EvBufferRef::from_raw(sys::bufferevent_get_input(self.as_raw())) }
    }

    /// `bufferevent_get_output`.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::Options;
    /// # use libevent::event::Flags;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// bev.disable(Flags::WRITE)?; // keep it in the output
    /// bev.write(b"pending")?;
    /// bev.with(|bev| assert_eq!(bev.output().len(), 7));
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn output(&self) -> &EvBufferRef {
        // SAFETY: as for `input`.
        unsafe { &*(sys::bufferevent_get_output(self.as_raw()) as *const EvBufferRef) }
    }

    /// `bufferevent_get_output`, to add bytes.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::Options;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// bev.with(|bev| bev.output_mut().add(b"queued"))?;
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
    /// # use libevent::bufferevent::Options;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// bev.on_read(|bev| {
    ///     let (input, output) = bev.buffers_mut();
    ///     output.add_buffer(input).unwrap(); // echo, without copying
    /// });
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn buffers_mut(&mut self) -> (&mut EvBufferRef, &mut EvBufferRef) {
        // SAFETY: a bufferevent's input and output are two different live evbuffers, each
        // borrowed uniquely for the reason `input_mut` gives.
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
    /// # use libevent::bufferevent::Options;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// bev.write(b"hello")?;
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        // A pair or filter without deferred callbacks runs callbacks before this returns;
        // their panics come out of this call (panic::sync).
        // SAFETY: data valid for its length; copied.
        crate::panic::sync(|| unsafe {
            call!(sys::bufferevent_write(
                self.as_raw(),
                data.as_ptr() as *const c_void,
                data.len()
            ))
        })?;
        Ok(())
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
    /// Over TLS (`BufferEvent::openssl_socket`, feature
    /// `openssl`) the same holds with one `SSL_write` in place of the `send`, when the
    /// handshake is done, no close_notify has passed, the session refuses renegotiation
    /// (the default) and `data` fits one TLS record and
    /// [`max_single_write`](BufferEventRef::max_single_write). A record the socket does
    /// not take at once stays with OpenSSL and the data is queued: libevent's next
    /// `SSL_write` finishes that record, which is why
    /// [`set_max_single_write`](BufferEventRef::set_max_single_write) refuses to go below
    /// its length until the output has drained. A TLS filter over another bufferevent
    /// queues, as `write`.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::Options;
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
        let how = self.callbacks().filter(|c| c.direct.get()).map(|c| c.kind);
        let sent = match how {
            Some(Kind::Socket) => self.send_now(data),
            #[cfg(all(feature = "openssl", libevent_openssl))]
            Some(Kind::Ssl) => self.ssl_send_now(data)?,
            _ => 0,
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
        let raw = self.as_raw();
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
                super::edge::note_sent(raw);
            }
            sys::bufferevent_unlock(raw);
        }
        sent
    }

    /// How many bytes the input buffer holds (`evbuffer_get_length` of it).
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::Options;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// assert_eq!(bev.input_len(), 0);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn input_len(&self) -> usize {
        self.input().len()
    }

    /// How many bytes the output buffer holds, not yet handed to the socket.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::Options;
    /// # use libevent::event::Flags;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// bev.disable(Flags::WRITE)?;
    /// bev.write(b"queued")?;
    /// assert_eq!(bev.output_len(), 6);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn output_len(&self) -> usize {
        self.output().len()
    }

    /// The Rust state of a bufferevent this crate owns, found through the callback
    /// argument C holds (the event trampoline is always registered for it); `None` for a
    /// bufferevent of C's.
    pub(super) fn callbacks(&self) -> Option<&Callbacks> {
        let (mut r, mut w, mut e, mut arg) = (None, None, None, std::ptr::null_mut());
        // SAFETY: a live bufferevent; the out pointers are valid.
        unsafe { sys::bufferevent_getcb(self.as_raw(), &mut r, &mut w, &mut e, &mut arg) };
        // By address: a function's address could differ between codegen units, which
        // would only make this `None` (write_direct then queues, as `write`); no C
        // function has our trampoline's address.
        let ours = event_tramp as *const () as usize;
        let e = e.map_or(0, |f| f as usize);
        // SAFETY: with our event trampoline registered, arg is the context_arg of the
        // Callbacks the owner holds, alive while C may call back (until bufferevent_free,
        // which clears the callbacks first); the reference does not outlive &self.
        (e == ours && !arg.is_null()).then(|| unsafe { &*(arg as *const Callbacks) })
    }

    /// `bufferevent_write_buffer`: move all of `buf` to the output.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::Options;
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
        crate::panic::sync(|| unsafe {
            call!(sys::bufferevent_write_buffer(self.as_raw(), buf.as_raw()))
        })?;
        Ok(())
    }

    /// `bufferevent_read`: take up to `out.len()` bytes of input.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::Options;
    /// # use libevent::event::Flags;
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

    /// [`read`](Self::read) into memory that may be uninitialized (libevent writes it):
    /// the first `n` bytes of `out` are initialized after, for the `n` returned.
    #[cfg(feature = "hyper")]
    pub(crate) fn read_uninit(&mut self, out: &mut [std::mem::MaybeUninit<u8>]) -> usize {
        if out.is_empty() {
            return 0;
        }
        // SAFETY: out is writable for its length; C only writes it (up to what it returns).
        unsafe { sys::bufferevent_read(self.as_raw(), out.as_mut_ptr() as *mut c_void, out.len()) }
    }

    /// `bufferevent_read_buffer`: move everything in the input to the end of `out`.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::Options;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// bev.enable(libevent::event::Flags::READ)?;
    /// other.write(b"all of it")?; // a pair hands it over at once
    /// let mut out = EvBuffer::new()?;
    /// bev.read_buffer(&mut out)?;
    /// assert_eq!(out.remove_all(), b"all of it");
    /// assert_eq!(bev.input_len(), 0);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn read_buffer(&mut self, out: &mut EvBufferRef) -> Result<()> {
        // Draining the input may run callbacks of a pair or filter (panic::sync).
        // SAFETY: both live; out is not this bufferevent's own input (it would be the
        // same evbuffer borrowed twice, which `&mut self` and `&mut out` rule out for
        // the views this crate hands out).
        crate::panic::sync(|| unsafe {
            call!(sys::bufferevent_read_buffer(self.as_raw(), out.as_raw()))
        })?;
        Ok(())
    }

    /// `bufferevent_get_underlying`: the bufferevent a filter (plain or TLS) reads from
    /// and writes to, as a view; `None` for one that filters nothing. It reborrows this
    /// view: the two are one group (the aliasing model), used one at a time.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::{FilterResult, Options};
    /// let base = EventBase::new()?;
    /// let (inner, _other) = BufferEvent::pair(&base, Options::empty())?;
    /// # use libevent::bufferevent::FlushMode;
    /// let pass = |src: &mut EvBufferRef, dst: &mut EvBufferRef, _: isize, _: FlushMode| {
    ///     dst.add_buffer(src).ok();
    ///     FilterResult::Ok
    /// };
    /// let mut outer = BufferEvent::filter(inner, pass, pass, Options::empty())?;
    /// outer.with(|bev| {
    ///     let under = bev.underlying().expect("a filter has one");
    ///     assert!(under.underlying().is_none()); // a pair end filters nothing
    /// });
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn underlying(&mut self) -> Option<&mut BufferEventRef> {
        // SAFETY: self is live; a filter's underlying bufferevent lives as long as the
        // filter (it frees it, or outlives it, only when the filter goes).
        let raw = unsafe { sys::bufferevent_get_underlying(self.as_raw()) };
        // SAFETY: live for as long as self is borrowed; the reborrow of `&mut self` keeps
        // this the only view of the group in use.
        (!raw.is_null()).then(|| unsafe { BufferEventRef::from_raw(raw) })
    }

    /// `bufferevent_pair_get_partner`: the other end of a pair, as a view; `None` for a
    /// bufferevent that is not a pair end, or whose partner was freed. It reborrows this
    /// view, as [`underlying`](Self::underlying) does.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::Options;
    /// let base = EventBase::new()?;
    /// let (mut a, b) = BufferEvent::pair(&base, Options::empty())?;
    /// let b_raw = b.as_raw();
    /// a.with(|a| assert_eq!(a.partner().map(|p| p.as_raw()), Some(b_raw)));
    /// drop(b);
    /// a.with(|a| assert!(a.partner().is_none()));
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn partner(&mut self) -> Option<&mut BufferEventRef> {
        // SAFETY: self is live; libevent unlinks a freed partner, so a non-null answer is
        // live.
        let raw = unsafe { sys::bufferevent_pair_get_partner(self.as_raw()) };
        // SAFETY: as in underlying: one view of the group (a pair's two ends are one).
        (!raw.is_null()).then(|| unsafe { BufferEventRef::from_raw(raw) })
    }

    /// `bufferevent_flush`: Ok(true) when data was flushed.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::{FlushMode, Options};
    /// # use libevent::event::Flags;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// bev.write(b"now")?;
    /// bev.flush(Flags::WRITE, FlushMode::Flush)?;
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn flush(&mut self, what: Flags, mode: FlushMode) -> Result<bool> {
        // SAFETY: live bufferevent.
        let flushed = crate::panic::sync(|| unsafe {
            call!(sys::bufferevent_flush(self.as_raw(), what.0, mode.raw()))
        })?;
        Ok(flushed > 0)
    }

    /// `bufferevent_getfd`: the socket, if any.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::Options;
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
    /// # use libevent::bufferevent::Options;
    /// let base = EventBase::new()?;
    /// base.priority_init(2)?; // before any bufferevent
    /// let mut bev = BufferEvent::socket(&base, None, Options::empty())?;
    /// bev.set_priority(1)?;
    /// assert_eq!(bev.priority(), 1);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn set_priority(&mut self, priority: u8) -> Result<()> {
        // SAFETY: live bufferevent.
        unsafe {
            call!(sys::bufferevent_priority_set(
                self.as_raw(),
                i32::from(priority)
            ))
        }?;
        Ok(())
    }

    /// `bufferevent_get_priority`.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::Options;
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
    /// # use libevent::bufferevent::Options;
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
        unsafe { call!(sys::bufferevent_set_max_single_read(self.as_raw(), n)) }?;
        Ok(())
    }

    /// `bufferevent_set_max_single_write`.
    ///
    /// Over TLS, an error while a record that
    /// [`write_direct`](BufferEventRef::write_direct) could not send at once is still
    /// queued and `n` is below its length: libevent's retry would then pass OpenSSL fewer
    /// bytes than the record, which fails the connection.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::Options;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// bev.set_max_single_write(8192)?;
    /// assert_eq!(bev.max_single_write(), 8192);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn set_max_single_write(&mut self, n: usize) -> Result<()> {
        const FN: &str = "bufferevent_set_max_single_write";
        single_limit(FN, n)?;
        if let Some(c) = self.callbacks() {
            if self.output_len() == 0 {
                c.tls_pending.set(0);
            } else if n < usize::from(c.tls_pending.get()) {
                // libevent's retry of the record OpenSSL holds would pass fewer bytes
                // than it, which OpenSSL fails as a bad write retry.
                return Err(Error::invalid(
                    FN,
                    "below the length of a TLS record that write_direct could not send at once; set it once the output has drained",
                ));
            }
        }
        // SAFETY: live bufferevent.
        unsafe { call!(sys::bufferevent_set_max_single_write(self.as_raw(), n)) }?;
        Ok(())
    }

    /// `bufferevent_get_max_single_read`.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::Options;
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
    /// # use libevent::bufferevent::Options;
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
    /// # use libevent::bufferevent::{BevEvent, Options};
    /// # let base = EventBase::new()?;
    /// let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let mut bev = BufferEvent::socket(&base, None, Options::empty())?;
    /// bev.connect(l.local_addr().unwrap())?;
    /// bev.on_event(|_, what| assert!(what.contains(BevEvent::CONNECTED)));
    /// base.run(LoopFlags::ONCE)?;
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn connect(&mut self, addr: SocketAddr) -> Result<()> {
        let (storage, len) = sockaddr_from(addr);
        // SAFETY: storage holds a sockaddr of `len` bytes.
        unsafe {
            call!(sys::bufferevent_socket_connect(
                self.as_raw(),
                &storage as *const _ as *const libc::sockaddr,
                len as i32,
            ))
        }?;
        if self.callbacks().is_some_and(|c| c.edge.get()) {
            // SAFETY: a socket bufferevent of ours made without THREADSAFE (`edge`),
            // with our trampolines registered (callbacks() found them).
            unsafe { super::edge::make_edge(self.as_raw()) };
        }
        Ok(())
    }

    /// `bufferevent_socket_get_dns_error`: why the lookup of
    /// [`BufferEvent::connect_hostname`](crate::BufferEvent::connect_hostname) failed, if it did.
    pub fn dns_error(&self) -> Option<crate::dns::DnsError> {
        // SAFETY: the bufferevent is live.
        let e = unsafe { sys::bufferevent_socket_get_dns_error(self.as_raw()) };
        (e != 0).then(|| crate::dns::DnsError::from_eai(e))
    }

    /// `shutdown(2)` on the socket: `Shutdown::Write` sends FIN once the kernel has sent
    /// what it holds (flush the output buffer first). An error if there is no socket.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::Options;
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
        unsafe { call!(libc::shutdown(fd, how)) }?;
        Ok(())
    }

    /// The pending socket error (`SO_ERROR`), if any.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::Options;
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
            call!(libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                &mut err as *mut _ as *mut c_void,
                &mut len,
            ))
        };
        (rc.is_ok() && err != 0).then_some(err)
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
