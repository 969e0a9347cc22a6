//! `struct evconnlistener`: accepts TCP connections on the loop.

use crate::base::EventBase;
use crate::error::{call, Error, Result};
use crate::handle::{context_arg, context_from_arg};
use crate::panic::{self, Guard};
use crate::util::flag_type;
use crate::util::sockaddr::{sockaddr_from, sockaddr_to};
use libevent_sys as sys;
use std::cell::RefCell;
use std::ffi::c_void;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{FromRawFd, IntoRawFd, RawFd};
use std::ptr::NonNull;
use std::rc::Rc;

flag_type! {
    /// `LEV_OPT_*`. `CLOSE_ON_FREE` is always added: the listener owns its socket.
    ///
    /// ```
    /// use libevent::listener::ListenerFlags;
    /// let f = ListenerFlags::REUSEABLE | ListenerFlags::CLOSE_ON_EXEC;
    /// assert!(f.contains(ListenerFlags::REUSEABLE));
    /// ```
    ListenerFlags: u32 {
        /// `LEV_OPT_REUSEABLE`: SO_REUSEADDR.
        REUSEABLE = sys::LEV_OPT_REUSEABLE;
        /// `LEV_OPT_REUSEABLE_PORT`: SO_REUSEPORT, several listeners on one port.
        REUSEABLE_PORT = sys::LEV_OPT_REUSEABLE_PORT;
        /// `LEV_OPT_CLOSE_ON_EXEC`.
        CLOSE_ON_EXEC = sys::LEV_OPT_CLOSE_ON_EXEC;
        /// `LEV_OPT_DEFERRED_ACCEPT`: TCP_DEFER_ACCEPT, wake only when data arrives.
        DEFERRED_ACCEPT = sys::LEV_OPT_DEFERRED_ACCEPT;
        /// `LEV_OPT_DISABLED`: start disabled.
        DISABLED = sys::LEV_OPT_DISABLED;
        /// `LEV_OPT_BIND_IPV6ONLY`.
        BIND_IPV6ONLY = sys::LEV_OPT_BIND_IPV6ONLY;
    }
}

type AcceptFn = Box<dyn FnMut(TcpStream, SocketAddr)>;
type ErrorFn = Box<dyn FnMut(Error)>;

struct Callbacks {
    base: *mut sys::event_base,
    accept: RefCell<AcceptFn>,
    error: RefCell<Option<ErrorFn>>,
}

extern "C" fn accept_tramp(
    _l: *mut sys::evconnlistener,
    fd: sys::evutil_socket_t,
    sa: *mut libc::sockaddr,
    len: i32,
    arg: *mut c_void,
) {
    // SAFETY: fd is a freshly accepted socket that libevent hands over to us.
    let stream = unsafe { TcpStream::from_raw_fd(fd) };
    // SAFETY: libevent passes the peer address it got from accept().
    let Some(peer) = (unsafe { sockaddr_to(sa, len) }) else {
        return; // not TCP/IP: dropping the stream closes it
    };
    // SAFETY: arg is the context_arg of the Callbacks the Listener holds until after
    // evconnlistener_free; our own reference keeps them alive if the closure drops it.
    let cbs: Rc<Callbacks> = unsafe { context_from_arg(arg) };
    panic::wrap(Guard::Loop(cbs.base), || {
        if let Ok(mut f) = cbs.accept.try_borrow_mut() {
            f(stream, peer);
        }
    });
}

extern "C" fn error_tramp(_l: *mut sys::evconnlistener, arg: *mut c_void) {
    let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    // SAFETY: as in accept_tramp.
    let cbs: Rc<Callbacks> = unsafe { context_from_arg(arg) };
    panic::wrap(Guard::Loop(cbs.base), || {
        if let Ok(mut slot) = cbs.error.try_borrow_mut() {
            if let Some(f) = slot.as_mut() {
                f(Error::os("accept", errno));
            }
        }
    });
}

/// A listener (`struct evconnlistener`): calls a closure with each accepted connection.
///
/// Accepted sockets come non-blocking, ready for [`BufferEvent::from_tcp`](crate::BufferEvent::from_tcp).
/// Dropping the listener (also inside its own callback) frees it and closes the socket.
///
/// ```
/// use libevent::{EventBase, Listener};
/// use libevent::listener::ListenerFlags;
/// let base = EventBase::new()?;
/// let listener = Listener::bind(&base, "127.0.0.1:0".parse().unwrap(), 16, ListenerFlags::REUSEABLE, |stream, peer| {
///     println!("{peer} connected");
///     drop(stream);
/// })?;
/// assert_ne!(listener.local_addr().unwrap().port(), 0);
/// # Ok::<(), libevent::Error>(())
/// ```
pub struct Listener {
    raw: NonNull<sys::evconnlistener>,
    cbs: Rc<Callbacks>,
    base: EventBase,
}

impl Listener {
    /// `evconnlistener_new_bind`: bind `addr` and listen with `backlog`.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::listener::ListenerFlags;
    /// # let base = EventBase::new()?;
    /// let l = Listener::bind(&base, "127.0.0.1:0".parse().unwrap(), 128, ListenerFlags::REUSEABLE, |stream, peer| {
    ///     println!("{peer}");
    ///     drop(stream);
    /// })?;
    /// assert!(l.local_addr().unwrap().ip().is_loopback());
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn bind<F>(
        base: &EventBase,
        addr: SocketAddr,
        backlog: i32,
        flags: ListenerFlags,
        on_accept: F,
    ) -> Result<Listener>
    where
        F: FnMut(TcpStream, SocketAddr) + 'static,
    {
        if backlog == 0 || backlog < -1 {
            return Err(Error::invalid(
                "evconnlistener_new_bind",
                "backlog must be positive (or -1 for the default)",
            ));
        }
        let cbs = Self::callbacks(base, on_accept);
        let (storage, len) = sockaddr_from(addr);
        // SAFETY: base live; storage holds `len` bytes; cbs outlives the listener.
        let raw = unsafe {
            call!(sys::evconnlistener_new_bind(
                base.as_raw(),
                Some(accept_tramp),
                context_arg(&cbs),
                flags.0 | sys::LEV_OPT_CLOSE_ON_FREE as u32,
                backlog,
                &storage as *const _ as *const libc::sockaddr,
                len as i32,
            ))
        }?;
        Ok(Self::adopt(base, raw, cbs))
    }

    /// `evconnlistener_new` on a listening `TcpListener` (which it takes over).
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::listener::ListenerFlags;
    /// # let base = EventBase::new()?;
    /// let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let l = Listener::from_tcp(&base, std_listener, ListenerFlags::empty(), |_s, _p| {})?;
    /// assert!(l.fd() >= 0);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn from_tcp<F>(
        base: &EventBase,
        listener: TcpListener,
        flags: ListenerFlags,
        on_accept: F,
    ) -> Result<Listener>
    where
        F: FnMut(TcpStream, SocketAddr) + 'static,
    {
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::os("evconnlistener_new", e.raw_os_error().unwrap_or(0)))?;
        let fd = listener.into_raw_fd();
        let cbs = Self::callbacks(base, on_accept);
        // SAFETY: fd is a listening socket we own; CLOSE_ON_FREE gives it to libevent.
        // backlog 0: it is already listening.
        let raw = unsafe {
            call!(sys::evconnlistener_new(
                base.as_raw(),
                Some(accept_tramp),
                context_arg(&cbs),
                flags.0 | sys::LEV_OPT_CLOSE_ON_FREE as u32,
                0,
                fd,
            ))
        };
        if raw.is_err() {
            // SAFETY: not taken by libevent.
            unsafe { libc::close(fd) };
        }
        Ok(Self::adopt(base, raw?, cbs))
    }

    fn callbacks<F: FnMut(TcpStream, SocketAddr) + 'static>(
        base: &EventBase,
        on_accept: F,
    ) -> Rc<Callbacks> {
        Rc::new(Callbacks {
            base: base.as_raw(),
            accept: RefCell::new(Box::new(on_accept)),
            error: RefCell::new(None),
        })
    }

    fn adopt(base: &EventBase, raw: NonNull<sys::evconnlistener>, cbs: Rc<Callbacks>) -> Listener {
        Listener {
            raw,
            cbs,
            base: base.clone(),
        }
    }

    /// `evconnlistener_set_error_cb`: called when accept() fails (for example EMFILE).
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::listener::ListenerFlags;
    /// # let base = EventBase::new()?;
    /// let mut l = Listener::bind(&base, "127.0.0.1:0".parse().unwrap(), 8, ListenerFlags::empty(), |_, _| {})?;
    /// l.on_error(|e| eprintln!("accept: {e}"))?;
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn on_error<F: FnMut(Error) + 'static>(&mut self, f: F) -> Result<()> {
        *self.cbs.error.try_borrow_mut().map_err(|_| {
            Error::invalid(
                "evconnlistener_set_error_cb",
                "the error callback is running",
            )
        })? = Some(Box::new(f));
        // SAFETY: raw live; the callbacks outlive the listener.
        unsafe { sys::evconnlistener_set_error_cb(self.raw.as_ptr(), Some(error_tramp)) };
        Ok(())
    }

    /// `evconnlistener_enable`: accept again.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::listener::ListenerFlags;
    /// # let base = EventBase::new()?;
    /// let l = Listener::bind(&base, "127.0.0.1:0".parse().unwrap(), 8, ListenerFlags::DISABLED, |_, _| {})?;
    /// l.enable()?;
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn enable(&self) -> Result<()> {
        // SAFETY: raw live.
        unsafe { call!(sys::evconnlistener_enable(self.raw.as_ptr())) }?;
        Ok(())
    }

    /// `evconnlistener_disable`: stop accepting; new connections wait in the backlog.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::listener::ListenerFlags;
    /// # let base = EventBase::new()?;
    /// let l = Listener::bind(&base, "127.0.0.1:0".parse().unwrap(), 8, ListenerFlags::empty(), |_, _| {})?;
    /// l.disable()?; // at capacity: new clients wait in the backlog
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn disable(&self) -> Result<()> {
        // SAFETY: raw live.
        unsafe { call!(sys::evconnlistener_disable(self.raw.as_ptr())) }?;
        Ok(())
    }

    /// The base it accepts on (what `evconnlistener_get_base` returns in C).
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::listener::ListenerFlags;
    /// # let base = EventBase::new()?;
    /// let l = Listener::bind(&base, "127.0.0.1:0".parse().unwrap(), 8, ListenerFlags::empty(), |_, _| {})?;
    /// assert_eq!(l.base().as_raw(), base.as_raw());
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn base(&self) -> &EventBase {
        &self.base
    }

    /// `evconnlistener_get_fd`.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::listener::ListenerFlags;
    /// # let base = EventBase::new()?;
    /// let l = Listener::bind(&base, "127.0.0.1:0".parse().unwrap(), 8, ListenerFlags::empty(), |_, _| {})?;
    /// assert!(l.fd() >= 0);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn fd(&self) -> RawFd {
        // SAFETY: raw live.
        unsafe { sys::evconnlistener_get_fd(self.raw.as_ptr()) }
    }

    /// The bound address (getsockname), useful after binding port 0.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::listener::ListenerFlags;
    /// # let base = EventBase::new()?;
    /// let l = Listener::bind(&base, "127.0.0.1:0".parse().unwrap(), 8, ListenerFlags::empty(), |_, _| {})?;
    /// assert_ne!(l.local_addr().unwrap().port(), 0);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        crate::util::sockaddr::local_addr(self.fd())
    }

    /// Gives the C listener away with its socket (`evhttp_bind_listener` takes one): our
    /// callbacks are detached first, so C never calls into freed closures.
    pub(crate) fn into_raw(self) -> NonNull<sys::evconnlistener> {
        let me = std::mem::ManuallyDrop::new(self);
        // SAFETY: raw is live; with no callbacks it accepts nothing until its new owner
        // sets one, and our Callbacks (dropped below) are never reached again.
        unsafe {
            sys::evconnlistener_set_cb(me.raw.as_ptr(), None, std::ptr::null_mut());
            sys::evconnlistener_set_error_cb(me.raw.as_ptr(), None);
        }
        // SAFETY: each field is read once out of a value that is never dropped.
        unsafe {
            drop(std::ptr::read(&me.cbs));
            drop(std::ptr::read(&me.base));
        }
        me.raw
    }

    /// The raw `struct evconnlistener *`, still owned by `self`.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::listener::ListenerFlags;
    /// # let base = EventBase::new()?;
    /// let l = Listener::bind(&base, "127.0.0.1:0".parse().unwrap(), 8, ListenerFlags::empty(), |_, _| {})?;
    /// // SAFETY: the listener is live.
    /// assert_eq!(unsafe { libevent::sys::evconnlistener_get_fd(l.as_raw()) }, l.fd());
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn as_raw(&self) -> *mut sys::evconnlistener {
        self.raw.as_ptr()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        // SAFETY: freed once; libevent defers the real free if its callback is running, and
        // calls no callback after this, so the Callbacks Rc may go.
        unsafe { sys::evconnlistener_free(self.raw.as_ptr()) };
    }
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener").field("fd", &self.fd()).finish()
    }
}
