//! `struct evhttp`: the server.

use super::request::Request;
use super::strict;
use super::{c_text, InCallback, Methods};
use crate::base::EventBase;
use crate::bufferevent::BufferEvent;
use crate::error::{call, Error, Result};
use crate::handle::{context_arg, context_from_arg};
use crate::listener::Listener;
use crate::panic::{self, Guard};
use crate::util::sockaddr::local_addr;
use crate::util::time::timeval;
use libevent_sys as sys;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::{c_void, CString};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::RawFd;
use std::ptr::NonNull;
use std::rc::{Rc, Weak};
use std::time::Duration;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// Made here: freed by `evhttp_free`.
    Owned,
    /// C's: never freed here; what we registered is taken back instead.
    Borrowed,
    /// A virtual host of another server, which frees it.
    Vhost,
}

type HandlerFn = Box<dyn FnMut(Request)>;

/// libevent's own default content type (`evhttp_new` sets it), restored on a C server
/// whose Rust handle goes.
const DEFAULT_CONTENT_TYPE: &std::ffi::CStr = c"text/html; charset=ISO-8859-1";
type BevFn = Box<dyn FnMut(&EventBase) -> Option<BufferEvent>>;

/// A closure registered with C (`evhttp_set_cb`, `evhttp_set_gencb`).
struct Handler {
    core: Weak<Core>,
    f: RefCell<HandlerFn>,
}

/// The `evhttp_set_bevcb` context: the user's bufferevent maker, if any; the strict layer
/// goes over whatever it makes (or over a plain socket bufferevent).
struct BevCallback {
    core: Weak<Core>,
    f: RefCell<Option<BevFn>>,
}

/// Callbacks waiting on one request: the client going away, the reply being written.
struct Watch {
    conn: *mut sys::evhttp_connection,
    req: *mut sys::evhttp_request,
    abandon: Option<Box<dyn FnOnce()>>,
    complete: Option<Box<dyn FnOnce()>>,
    /// Keeps the server alive until this reply is written (its `Http` is gone).
    hold: Option<Rc<Owner>>,
}

/// One `struct evhttp` and everything registered on it. No `EventBase` clone in here: a
/// `Core` may wait in the base's deferred list (see `Owner`'s drop).
pub(crate) struct Core {
    raw: NonNull<sys::evhttp>,
    base: *mut sys::event_base,
    mode: Cell<Mode>,
    /// The owner requests keep alive: this server's, or its parent's for a virtual host
    /// (the parent's connections carry the requests).
    root: RefCell<Weak<Owner>>,
    handlers: RefCell<Vec<(Option<CString>, Rc<Handler>)>>,
    bevcb: RefCell<Option<Rc<BevCallback>>>,
    vhosts: RefCell<Vec<(String, Rc<Owner>)>>,
    watches: RefCell<Vec<Watch>>,
    /// The `Http` handle was dropped: replies sent from now on keep the server alive
    /// until written.
    http_gone: Cell<bool>,
    /// `evhttp_set_default_content_type` keeps the pointer it is given, not a copy.
    content_type: RefCell<Option<CString>>,
    /// New connections read through the strict framing layer (`strict.rs`).
    strict: Cell<bool>,
    /// The strict layer's bound on a request head (`set_max_headers_size`, or its default).
    max_head: Cell<usize>,
    /// The strict layer's state of each connection, by bufferevent address. An entry goes
    /// when its connection's close callback runs (set once its first bytes arrive), or
    /// when a new bufferevent takes the address (the old one was freed, with its input
    /// buffer and so its callback), or with the Core (after evhttp_free).
    strict_conns: RefCell<HashMap<usize, Box<strict::Conn>>>,
}

/// What `Http` handles and pending `Request`s share; its drop frees the C server (later,
/// if inside an evhttp callback).
pub(crate) struct Owner {
    core: Rc<Core>,
    base: EventBase,
}

impl Owner {
    pub(crate) fn core(&self) -> &Core {
        &self.core
    }

    pub(crate) fn base_raw(&self) -> *mut sys::event_base {
        self.base.as_raw()
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        let core = self.core.clone();
        if core.mode.get() == Mode::Vhost {
            return; // its parent frees it
        }
        if InCallback::active() {
            // libevent may still use the server when the callback returns.
            let deferred = Box::new(move || destroy(core));
            if self.base.defer(deferred).is_err() {
                // Not even an event could be made: leaking is safe, freeing is not.
                std::mem::forget(self.core.clone());
            }
            return;
        }
        destroy(core);
    }
}

fn destroy(core: Rc<Core>) {
    let raw = core.raw.as_ptr();
    match core.mode.get() {
        // SAFETY: made by evhttp_new, freed once. It frees its sockets, connections
        // (whose close callbacks may reach `core`, still alive here), pending requests and
        // virtual hosts; no Rust Request is alive (each holds the Owner).
        Mode::Owned => unsafe { sys::evhttp_free(raw) },
        Mode::Borrowed => {
            // SAFETY: C's server is live (the caller of from_raw_borrowed vouched for it);
            // we take back every callback whose context is about to be freed.
            unsafe {
                for (path, _) in core.handlers.borrow().iter() {
                    match path {
                        Some(p) => {
                            sys::evhttp_del_cb(raw, p.as_ptr());
                        }
                        None => sys::evhttp_set_gencb(raw, None, std::ptr::null_mut()),
                    }
                }
                if core.bevcb.borrow().is_some() {
                    sys::evhttp_set_bevcb(raw, None, std::ptr::null_mut());
                }
                if core.content_type.borrow().is_some() {
                    // Ours is about to be freed: back to libevent's default, a static.
                    sys::evhttp_set_default_content_type(raw, DEFAULT_CONTENT_TYPE.as_ptr());
                }
                for w in core.watches.borrow().iter() {
                    sys::evhttp_connection_set_closecb(w.conn, None, std::ptr::null_mut());
                    if w.complete.is_some() {
                        sys::evhttp_request_set_on_complete_cb(w.req, None, std::ptr::null_mut());
                    }
                }
            }
        }
        Mode::Vhost => {}
    }
    drop(core);
}

extern "C" fn handler_tramp(req: *mut sys::evhttp_request, arg: *mut c_void) {
    let _cb = InCallback::enter();
    // SAFETY: arg is the context_arg of a Handler its Core keeps until C can no longer
    // call it (after evhttp_free, or after evhttp_del_cb for a borrowed server).
    let h: Rc<Handler> = unsafe { context_from_arg(arg) };
    let root = h.core.upgrade().and_then(|c| c.root.borrow().upgrade());
    let (Some(root), Some(req)) = (root, NonNull::new(req)) else {
        // The server's last handle is gone and its free is pending.
        // SAFETY: req is live and unanswered; this reply frees it.
        unsafe { sys::evhttp_send_error(req, 503, std::ptr::null()) };
        return;
    };
    let base = root.core.base;
    panic::wrap(Guard::Loop(base), || {
        let request = Request::new(req, root);
        match h.f.try_borrow_mut() {
            Ok(mut f) => f(request),
            Err(_) => drop(request), // the handler is running further up: 500
        }
    });
}

extern "C" fn bev_tramp(base: *mut sys::event_base, arg: *mut c_void) -> *mut sys::bufferevent {
    let _cb = InCallback::enter();
    // SAFETY: as in handler_tramp, for the BevCallback.
    let cb: Rc<BevCallback> = unsafe { context_from_arg(arg) };
    let Some(core) = cb.core.upgrade() else {
        return std::ptr::null_mut();
    };
    // SAFETY: the base the server runs on is live while it calls us.
    let Ok(ebase) = (unsafe { EventBase::from_raw_borrowed(base) }) else {
        return std::ptr::null_mut();
    };
    let made = panic::wrap(Guard::Loop(core.base), || {
        let mut f = cb.f.try_borrow_mut().ok()?;
        let bev = f.as_mut()?(&ebase)?;
        match bev.into_raw_for_c("evhttp_set_bevcb", base) {
            Ok(raw) => Some(raw.as_ptr()),
            Err(e) => {
                log::error!("{e}; a plain bufferevent is made instead");
                None
            }
        }
    });
    // A callback that panicked made nothing, as one that returns None (the loop resumes
    // its panic); a plain bufferevent is made in its place, strict or not as the server is.
    let made = made.flatten();
    if !core.strict.get() {
        return made.unwrap_or(std::ptr::null_mut());
    }
    let bev = match made {
        Some(raw) => raw,
        // SAFETY: base is live; a socket bufferevent without a socket yet, exactly as
        // libevent makes its own (evhttp sets the socket, and closes it).
        None => unsafe { sys::bufferevent_socket_new(base, -1, 0) },
    };
    if bev.is_null() {
        log::error!("bufferevent_socket_new failed: the connection is refused");
        return std::ptr::null_mut();
    }
    let weak = Rc::downgrade(&core);
    let first = Box::new(move |evcon: *mut sys::evhttp_connection| {
        if let Some(core) = weak.upgrade() {
            core.watch_strict(evcon);
        }
    });
    // SAFETY: bev is live and new; the Conn is kept in the Core until the connection's
    // close callback detaches it (the bufferevent still live), or past the bufferevent's
    // input buffer (a later bufferevent at the same address, or evhttp_free before the
    // Core goes).
    match unsafe { strict::Conn::attach(bev, core.max_head.get(), first) } {
        Some(conn) => {
            core.strict_conns.borrow_mut().insert(bev as usize, conn);
            bev
        }
        None => {
            log::error!("no memory for the strict layer: the connection is refused");
            // SAFETY: ours, never handed to evhttp.
            unsafe { sys::bufferevent_free(bev) };
            std::ptr::null_mut()
        }
    }
}

/// A connection closed: requests watched on it are abandoned (if not finished).
extern "C" fn close_tramp(conn: *mut sys::evhttp_connection, arg: *mut c_void) {
    let _cb = InCallback::enter();
    // SAFETY: arg is the Core of the server the connection belongs to; a close callback
    // is registered only while a watch exists (taken back before the Core goes) or for a
    // strict connection (strict servers are this crate's, whose connections evhttp_free
    // closes before the Core goes).
    let core = unsafe { &*(arg as *const Core) };
    core.unwatch_strict(conn);
    let gone: Vec<Watch> = {
        let mut w = core.watches.borrow_mut();
        let (gone, keep) = std::mem::take(&mut *w)
            .into_iter()
            .partition(|w| w.conn == conn);
        *w = keep;
        gone
    };
    for w in gone {
        drop(w.complete);
        // Dropping the hold may free the server: deferred, since we are in a callback.
        drop(w.hold);
        if let Some(f) = w.abandon {
            panic::wrap(Guard::Loop(core.base), f);
        }
    }
}

/// A reply was written in full.
extern "C" fn complete_tramp(req: *mut sys::evhttp_request, arg: *mut c_void) {
    let _cb = InCallback::enter();
    // SAFETY: as in close_tramp; an on-complete callback is registered only with a watch.
    let core = unsafe { &*(arg as *const Core) };
    let done = {
        let mut w = core.watches.borrow_mut();
        w.iter().position(|w| w.req == req).map(|i| w.remove(i))
    };
    if let Some(w) = done {
        core.unwatch_conn_if_idle(w.conn);
        if let Some(f) = w.complete {
            panic::wrap(Guard::Loop(core.base), f);
        }
        drop(w.hold);
    }
}

impl Core {
    /// Registers callbacks for a request on `conn`.
    pub(crate) fn watch(
        &self,
        conn: *mut sys::evhttp_connection,
        req: *mut sys::evhttp_request,
        abandon: Option<Box<dyn FnOnce()>>,
        complete: Option<Box<dyn FnOnce()>>,
        hold: Option<Rc<Owner>>,
    ) {
        let arg = self as *const Core as *mut c_void;
        let on_complete = complete.is_some() || hold.is_some();
        {
            let mut ws = self.watches.borrow_mut();
            let w = match ws.iter_mut().position(|w| w.req == req) {
                Some(i) => &mut ws[i],
                None => {
                    ws.push(Watch {
                        conn,
                        req,
                        abandon: None,
                        complete: None,
                        hold: None,
                    });
                    ws.last_mut().expect("just pushed")
                }
            };
            if abandon.is_some() {
                w.abandon = abandon;
            }
            if complete.is_some() {
                w.complete = complete;
            }
            if hold.is_some() {
                w.hold = hold;
            }
        }
        // SAFETY: conn and req are live (the request is unanswered, its connection
        // attached); the Core outlives the registration (taken back when the last watch
        // on the connection goes, or when a borrowed server's Core goes; an owned
        // server's connections are freed before its Core).
        unsafe {
            sys::evhttp_connection_set_closecb(conn, Some(close_tramp), arg);
            if on_complete {
                sys::evhttp_request_set_on_complete_cb(req, Some(complete_tramp), arg);
            }
        }
    }

    /// The Rust side hands `req` back to libevent with its reply sent or ended: it can no
    /// longer be abandoned, only completed; if the `Http` is gone, `owner` is held until
    /// the reply is written, so that freeing the server does not cut it off.
    pub(crate) fn finished_with(&self, owner: &Rc<Owner>, req: *mut sys::evhttp_request) {
        self.finished(req);
        if self.http_gone.get() {
            // SAFETY: req is live (its reply not yet handed over).
            let conn = unsafe { sys::evhttp_request_get_connection(req) };
            if !conn.is_null() {
                self.watch(conn, req, None, None, Some(owner.clone()));
            }
        }
    }

    fn finished(&self, req: *mut sys::evhttp_request) {
        let conn = {
            let mut ws = self.watches.borrow_mut();
            let Some(i) = ws.iter().position(|w| w.req == req) else {
                return;
            };
            ws[i].abandon = None;
            if ws[i].complete.is_some() || ws[i].hold.is_some() {
                return;
            }
            ws.remove(i).conn
        };
        self.unwatch_conn_if_idle(conn);
    }

    /// A strict connection's first bytes came: its close callback frees its state.
    fn watch_strict(&self, evcon: *mut sys::evhttp_connection) {
        if evcon.is_null() {
            return;
        }
        let arg = self as *const Core as *mut c_void;
        // SAFETY: evcon is live (its bufferevent is reading); the Core outlives the
        // registration (taken back with the state, or freed with evhttp_free first).
        unsafe { sys::evhttp_connection_set_closecb(evcon, Some(close_tramp), arg) };
    }

    /// The strict state of `conn`'s bufferevent, if any, leaves (the connection closes).
    fn unwatch_strict(&self, conn: *mut sys::evhttp_connection) {
        // SAFETY: conn is live (its close callback is running).
        let bev = unsafe { sys::evhttp_connection_get_bufferevent(conn) };
        let gone = self.strict_conns.borrow_mut().remove(&(bev as usize));
        if let Some(mut state) = gone {
            // SAFETY: the bufferevent is still live: evhttp frees it after this callback.
            unsafe { state.detach() };
        }
    }

    fn has_strict(&self, conn: *mut sys::evhttp_connection) -> bool {
        // SAFETY: conn is live (the caller's).
        let bev = unsafe { sys::evhttp_connection_get_bufferevent(conn) };
        self.strict_conns
            .borrow()
            .get(&(bev as usize))
            .is_some_and(|c| c.evcon == conn)
    }

    fn unwatch_conn_if_idle(&self, conn: *mut sys::evhttp_connection) {
        if self.watches.borrow().iter().any(|w| w.conn == conn) || self.has_strict(conn) {
            return;
        }
        // SAFETY: a connection with a watch until now is live (its close callback would
        // have removed the watches).
        unsafe { sys::evhttp_connection_set_closecb(conn, None, std::ptr::null_mut()) };
    }
}

/// An HTTP server (`struct evhttp`) on an event base.
///
/// Routes go to closures that get a [`Request`] by value, which owes the client exactly
/// one reply (see [`Request`] for the rules). Every setting method takes `&self`.
///
/// ```no_run
/// use libevent::{EventBase, Http};
/// let base = EventBase::new()?;
/// let http = Http::new(&base)?;
/// http.on_path("/hello", |req| {
///     let _ = req.send_reply(200, None, b"hello\n");
/// })?;
/// let bound = http.bind("127.0.0.1:0".parse().unwrap())?;
/// println!("listening on {}", bound.local_addr()?);
/// base.dispatch()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Http {
    owner: Rc<Owner>,
}

/// A socket a server accepts on (`struct evhttp_bound_socket`); the server owns it.
#[derive(Debug, Clone)]
pub struct BoundSocket {
    raw: *mut sys::evhttp_bound_socket,
    fd: RawFd,
    addr: Option<SocketAddr>,
}

impl BoundSocket {
    /// The address it is bound to (useful after binding port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.addr
            .ok_or_else(|| std::io::Error::other("not an IP socket"))
    }

    /// `evhttp_bound_socket_get_fd`.
    pub fn fd(&self) -> RawFd {
        self.fd
    }
}

impl Http {
    fn from_core(base: &EventBase, raw: NonNull<sys::evhttp>, mode: Mode) -> Http {
        let core = Rc::new(Core {
            raw,
            base: base.as_raw(),
            mode: Cell::new(mode),
            root: RefCell::new(Weak::new()),
            handlers: RefCell::new(Vec::new()),
            bevcb: RefCell::new(None),
            vhosts: RefCell::new(Vec::new()),
            watches: RefCell::new(Vec::new()),
            http_gone: Cell::new(false),
            content_type: RefCell::new(None),
            strict: Cell::new(false),
            max_head: Cell::new(strict::DEFAULT_MAX_HEAD),
            strict_conns: RefCell::new(HashMap::new()),
        });
        let owner = Rc::new(Owner {
            core,
            base: base.clone(),
        });
        *owner.core.root.borrow_mut() = Rc::downgrade(&owner);
        let http = Http { owner };
        if mode == Mode::Owned {
            http.install_bevcb(None);
            http.core().strict.set(true);
        }
        http
    }

    fn core(&self) -> &Core {
        &self.owner.core
    }

    /// `evhttp_new`.
    ///
    /// ```
    /// # use libevent::*;
    /// let base = EventBase::new()?;
    /// let http = Http::new(&base)?;
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn new(base: &EventBase) -> Result<Http> {
        // SAFETY: base is live; the server is ours to free.
        let raw = unsafe { call!(sys::evhttp_new(base.as_raw())) }?;
        Ok(Self::from_core(base, raw, Mode::Owned))
    }

    /// A handle on a server that C made and owns, to add Rust routes to it. Dropping the
    /// handle takes back what was registered through it (routes, the generic callback);
    /// it never frees the server.
    ///
    /// # Safety
    /// `raw` must be a live `struct evhttp` on `base`, and stay alive as long as this
    /// handle and every [`Request`] it hands out.
    pub unsafe fn from_raw_borrowed(base: &EventBase, raw: *mut sys::evhttp) -> Result<Http> {
        let raw = NonNull::new(raw)
            .ok_or_else(|| Error::invalid("Http::from_raw_borrowed", "null evhttp"))?;
        Ok(Self::from_core(base, raw, Mode::Borrowed))
    }

    /// The raw `struct evhttp *`, still owned as before.
    pub fn as_raw(&self) -> *mut sys::evhttp {
        self.core().raw.as_ptr()
    }

    /// `evhttp_bind_socket_with_handle`: bind and listen on `addr` (port 0: any).
    pub fn bind(&self, addr: SocketAddr) -> Result<BoundSocket> {
        let ip = CString::new(addr.ip().to_string()).expect("an IP has no NUL");
        // SAFETY: the server is live; the address string is read during the call.
        let raw = unsafe {
            call!(sys::evhttp_bind_socket_with_handle(
                self.as_raw(),
                ip.as_ptr(),
                addr.port()
            ))
        }?;
        Ok(Self::bound(raw.as_ptr()))
    }

    fn bound(raw: *mut sys::evhttp_bound_socket) -> BoundSocket {
        // SAFETY: a bound socket the server just made.
        let fd = unsafe { sys::evhttp_bound_socket_get_fd(raw) };
        BoundSocket {
            raw,
            fd,
            addr: local_addr(fd).ok(),
        }
    }

    /// `evhttp_bind_listener`: accept on a [`Listener`], which the server takes over
    /// (its accept callback is replaced by the server's).
    pub fn bind_listener(&self, listener: Listener) -> Result<BoundSocket> {
        let raw = listener.into_raw();
        // SAFETY: the server is live; on success it owns the listener.
        match unsafe { call!(sys::evhttp_bind_listener(self.as_raw(), raw.as_ptr())) } {
            Ok(b) => Ok(Self::bound(b.as_ptr())),
            Err(e) => {
                // SAFETY: not taken: still ours, and it closes its socket.
                unsafe { sys::evconnlistener_free(raw.as_ptr()) };
                Err(e)
            }
        }
    }

    /// `evhttp_accept_socket_with_handle`: accept on a socket the program already
    /// listens on; the server takes it over (and closes it when done).
    ///
    /// ```
    /// # use libevent::*;
    /// let base = EventBase::new()?;
    /// let http = Http::new(&base)?;
    /// let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let addr = l.local_addr().unwrap();
    /// let bound = http.accept_socket(l)?;
    /// assert_eq!(bound.local_addr().unwrap(), addr);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn accept_socket(&self, listener: TcpListener) -> Result<BoundSocket> {
        const F: &str = "evhttp_accept_socket_with_handle";
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::os(F, e.raw_os_error().unwrap_or(libc::EIO)))?;
        let fd = std::os::fd::IntoRawFd::into_raw_fd(listener);
        // SAFETY: the server is live; fd is a listening socket that is ours to give (the
        // server's listener closes it when freed).
        match unsafe { call!(sys::evhttp_accept_socket_with_handle(self.as_raw(), fd)) } {
            Ok(b) => Ok(Self::bound(b.as_ptr())),
            Err(e) => {
                // SAFETY: not taken on failure: still ours.
                drop(unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) });
                Err(e)
            }
        }
    }

    /// Whether `bound` is one of this server's sockets now.
    fn owns(&self, bound: &BoundSocket) -> bool {
        extern "C" fn find(b: *mut sys::evhttp_bound_socket, arg: *mut c_void) {
            // SAFETY: arg is the (target, found) pair below, live for the call.
            let (target, found) =
                unsafe { &mut *(arg as *mut (*mut sys::evhttp_bound_socket, bool)) };
            if b == *target {
                *found = true;
            }
        }
        let mut probe = (bound.raw, false);
        // SAFETY: the server is live; `find` only compares pointers.
        unsafe {
            sys::evhttp_foreach_bound_socket(
                self.as_raw(),
                Some(find),
                &mut probe as *mut _ as *mut c_void,
            )
        };
        probe.1
    }

    /// Stops (`pause`: true) or resumes accepting on `bound`, through its listener
    /// (`evhttp_bound_socket_get_listener`, then `evconnlistener_disable` or `_enable`):
    /// connections wait in the kernel's backlog meanwhile. An error if `bound` is not one
    /// of this server's sockets (any more).
    ///
    /// ```
    /// # use libevent::*;
    /// let base = EventBase::new()?;
    /// let http = Http::new(&base)?;
    /// let bound = http.bind("127.0.0.1:0".parse().unwrap())?;
    /// http.pause_accepting(&bound, true)?;
    /// http.pause_accepting(&bound, false)?;
    /// http.del_accept_socket(&bound)?;
    /// assert!(http.pause_accepting(&bound, true).is_err());
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn pause_accepting(&self, bound: &BoundSocket, pause: bool) -> Result<()> {
        const F: &str = "evhttp_bound_socket_get_listener";
        if !self.owns(bound) {
            return Err(Error::invalid(F, "not a socket of this server"));
        }
        // SAFETY: a bound socket of this live server (checked), with its listener.
        let l = unsafe { call!(sys::evhttp_bound_socket_get_listener(bound.raw)) }?;
        // SAFETY: the server's live listener.
        unsafe {
            if pause {
                call!(sys::evconnlistener_disable(l.as_ptr()))
            } else {
                call!(sys::evconnlistener_enable(l.as_ptr()))
            }
        }?;
        Ok(())
    }

    /// `evhttp_del_accept_socket`: stop accepting on `bound` and close it.
    pub fn del_accept_socket(&self, bound: &BoundSocket) -> Result<()> {
        if !self.owns(bound) {
            return Err(Error::invalid(
                "evhttp_del_accept_socket",
                "not a socket this server accepts on",
            ));
        }
        // SAFETY: one of this server's bound sockets, freed once.
        unsafe { sys::evhttp_del_accept_socket(self.as_raw(), bound.raw) };
        Ok(())
    }

    fn handler(&self, f: HandlerFn) -> Rc<Handler> {
        Rc::new(Handler {
            core: Rc::downgrade(&self.owner.core),
            f: RefCell::new(f),
        })
    }

    /// `evhttp_set_cb`: requests whose path is exactly `path` (no query) go to `f`.
    /// A path already routed is an error.
    pub fn on_path<F: FnMut(Request) + 'static>(&self, path: &str, f: F) -> Result<()> {
        let p = c_text("evhttp_set_cb", path, true)?;
        let h = self.handler(Box::new(f));
        // SAFETY: the server is live; h is kept in the Core until C can no longer call it.
        unsafe {
            call!(sys::evhttp_set_cb(
                self.as_raw(),
                p.as_ptr(),
                Some(handler_tramp),
                context_arg(&h)
            ))
        }
        .map_err(|_| Error::invalid("evhttp_set_cb", "that path already has a callback"))?;
        self.core().handlers.borrow_mut().push((Some(p), h));
        Ok(())
    }

    /// `evhttp_del_cb`: unroute `path`.
    pub fn del_cb(&self, path: &str) -> Result<()> {
        let p = c_text("evhttp_del_cb", path, true)?;
        // SAFETY: the server is live.
        unsafe { call!(sys::evhttp_del_cb(self.as_raw(), p.as_ptr())) }
            .map_err(|_| Error::invalid("evhttp_del_cb", "no callback for that path"))?;
        // The context may be running (a handler removing its own route): dropping our
        // reference is safe, the trampoline holds its own.
        self.core()
            .handlers
            .borrow_mut()
            .retain(|(q, _)| q.as_deref() != Some(p.as_c_str()));
        Ok(())
    }

    /// `evhttp_set_gencb`: every request no route took (instead of libevent's 404).
    pub fn on_request<F: FnMut(Request) + 'static>(&self, f: F) {
        let h = self.handler(Box::new(f));
        // SAFETY: the server is live; h is kept below.
        unsafe { sys::evhttp_set_gencb(self.as_raw(), Some(handler_tramp), context_arg(&h)) };
        let mut hs = self.core().handlers.borrow_mut();
        hs.retain(|(p, _)| p.is_some());
        hs.push((None, h));
    }

    /// `evhttp_set_bevcb`: `f` makes the bufferevent of each new connection (a TLS one,
    /// say); libevent sets its socket. `None` lets libevent make a plain one. On a strict
    /// server (the default) the strict layer reads through it.
    pub fn on_connection<F>(&self, f: F)
    where
        F: FnMut(&EventBase) -> Option<BufferEvent> + 'static,
    {
        self.install_bevcb(Some(Box::new(f)));
    }

    fn install_bevcb(&self, f: Option<BevFn>) {
        if let Some(cb) = self.core().bevcb.borrow().as_ref() {
            if f.is_some() {
                // The trampoline may be running it (a connection being accepted now):
                // replaced once it returns, through a fresh context instead.
                if let Ok(mut cur) = cb.f.try_borrow_mut() {
                    *cur = f;
                    return;
                }
            } else {
                return;
            }
        }
        let cb = Rc::new(BevCallback {
            core: Rc::downgrade(&self.owner.core),
            f: RefCell::new(f),
        });
        // SAFETY: the server is live; cb is kept in the Core until C can no longer call it
        // (the old context, if any, is dropped here only after C has the new one).
        unsafe { sys::evhttp_set_bevcb(self.as_raw(), Some(bev_tramp), context_arg(&cb)) };
        *self.core().bevcb.borrow_mut() = Some(cb);
    }

    /// Whether new connections read through the strict framing layer: RFC 9112's rules
    /// for where a request ends, enforced before evhttp parses anything (on by default
    /// for a server made by [`Http::new`]). A
    /// request that breaks a rule is answered `400 Bad Request` (`501 Not Implemented`
    /// for a transfer coding other than `chunked`; libevent's `413` inside a chunked
    /// body) and its connection closed; no handler sees it, nor anything after it on
    /// that connection. `false` gives libevent 2.1.13's own parser alone. Connections
    /// already open keep what they had. The rules and what upstream does for each:
    /// docs/security.md in the repository.
    ///
    /// On a server C owns ([`Http::from_raw_borrowed`]) turning it on is an error: the
    /// layer keeps per-connection state that must go before the server does.
    ///
    /// ```
    /// # use libevent::*;
    /// let base = EventBase::new()?;
    /// let http = Http::new(&base)?;
    /// assert!(http.strict());
    /// http.set_strict(false)?;
    /// assert!(!http.strict());
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn set_strict(&self, on: bool) -> Result<()> {
        if on && self.core().mode.get() == Mode::Borrowed {
            return Err(Error::invalid(
                "Http::set_strict",
                "the strict layer needs a server this crate made (Http::new)",
            ));
        }
        if on {
            self.install_bevcb(None);
        }
        self.core().strict.set(on);
        Ok(())
    }

    /// Whether new connections read through the strict framing layer.
    pub fn strict(&self) -> bool {
        self.core().strict.get()
    }

    /// How many connections' strict-layer states the server holds (for tests: each goes
    /// when its connection closes).
    #[doc(hidden)]
    pub fn strict_states(&self) -> usize {
        self.core().strict_conns.borrow().len()
    }

    /// `evhttp_set_allowed_methods`: others get `501 Not Implemented` (default: GET,
    /// POST, HEAD, PUT, DELETE).
    pub fn set_allowed_methods(&self, methods: Methods) {
        // SAFETY: the server is live.
        unsafe { sys::evhttp_set_allowed_methods(self.as_raw(), methods.bits()) }
    }

    /// `evhttp_set_timeout_tv`: how long a connection may sit idle or mid-request.
    pub fn set_timeout(&self, timeout: Duration) -> Result<()> {
        let tv = timeval("evhttp_set_timeout_tv", timeout)?;
        // SAFETY: the server is live; tv is copied.
        unsafe { sys::evhttp_set_timeout_tv(self.as_raw(), &tv) };
        Ok(())
    }

    /// `evhttp_set_max_headers_size`: larger request headers get `400 Bad Request`. The
    /// strict layer holds a request's head until it is complete, at most this many bytes
    /// (64 KiB by default, where libevent's own limit is none).
    pub fn set_max_headers_size(&self, bytes: usize) {
        self.core().max_head.set(bytes);
        // SAFETY: the server is live.
        unsafe {
            sys::evhttp_set_max_headers_size(
                self.as_raw(),
                isize::try_from(bytes).unwrap_or(isize::MAX),
            )
        }
    }

    /// `evhttp_set_max_body_size`: larger request bodies get `413 Request Entity Too Large`.
    pub fn set_max_body_size(&self, bytes: usize) {
        // SAFETY: the server is live.
        unsafe {
            sys::evhttp_set_max_body_size(
                self.as_raw(),
                isize::try_from(bytes).unwrap_or(isize::MAX),
            )
        }
    }

    /// `evhttp_set_default_content_type`: the `Content-Type` of replies with a body that
    /// set none (libevent's default: `text/html; charset=ISO-8859-1`).
    pub fn set_default_content_type(&self, content_type: &str) -> Result<()> {
        let c = c_text("evhttp_set_default_content_type", content_type, true)?;
        // SAFETY: the server is live. libevent keeps the pointer (no copy): the string's
        // heap buffer is kept in the Core, which outlives the server, and replaced only
        // after C has the new one.
        unsafe { sys::evhttp_set_default_content_type(self.as_raw(), c.as_ptr()) };
        *self.core().content_type.borrow_mut() = Some(c);
        Ok(())
    }

    /// `evhttp_set_flags(EVHTTP_SERVER_LINGERING_CLOSE)`: read the rest of a body that is
    /// over the limit before closing, so the client sees the 413.
    pub fn set_lingering_close(&self, on: bool) -> Result<()> {
        let flags = if on {
            sys::EVHTTP_SERVER_LINGERING_CLOSE
        } else {
            0
        };
        // SAFETY: the server is live.
        unsafe { call!(sys::evhttp_set_flags(self.as_raw(), flags)) }?;
        Ok(())
    }

    /// `evhttp_add_server_alias`: another host name this server answers as.
    pub fn add_server_alias(&self, alias: &str) -> Result<()> {
        let c = c_text("evhttp_add_server_alias", alias, true)?;
        // SAFETY: the server is live; the string is copied.
        unsafe { call!(sys::evhttp_add_server_alias(self.as_raw(), c.as_ptr())) }?;
        Ok(())
    }

    /// `evhttp_remove_server_alias`.
    pub fn remove_server_alias(&self, alias: &str) -> Result<()> {
        let c = c_text("evhttp_remove_server_alias", alias, true)?;
        // SAFETY: the server is live.
        unsafe { call!(sys::evhttp_remove_server_alias(self.as_raw(), c.as_ptr())) }
            .map_err(|_| Error::invalid("evhttp_remove_server_alias", "no such alias"))?;
        Ok(())
    }

    /// `evhttp_add_virtual_host`: requests for a host matching `pattern` (`*` and `?`
    /// allowed) go to `vhost`'s routes. This server takes `vhost` over and frees it.
    pub fn add_virtual_host(&self, pattern: &str, vhost: Http) -> Result<()> {
        let c = c_text("evhttp_add_virtual_host", pattern, true)?;
        if vhost.core().mode.get() != Mode::Owned || !vhost.core().vhosts.borrow().is_empty() {
            return Err(Error::invalid(
                "evhttp_add_virtual_host",
                "a virtual host must be a server made here, with no virtual hosts of its own",
            ));
        }
        if vhost.owner.base.as_raw() != self.core().base {
            return Err(Error::invalid(
                "evhttp_add_virtual_host",
                "a server of another event base",
            ));
        }
        // SAFETY: both live; on success the parent owns the vhost's C object.
        unsafe {
            call!(sys::evhttp_add_virtual_host(
                self.as_raw(),
                c.as_ptr(),
                vhost.as_raw()
            ))
        }?;
        let vcore = &vhost.owner.core;
        vcore.mode.set(Mode::Vhost);
        *vcore.root.borrow_mut() = self.core().root.borrow().clone();
        self.core()
            .vhosts
            .borrow_mut()
            .push((pattern.to_owned(), vhost.owner.clone()));
        Ok(())
    }

    /// `evhttp_remove_virtual_host`: stop routing `pattern`'s requests to the virtual
    /// host added with it, and hand it back (a server of its own again: drop it to free
    /// it, or add it elsewhere).
    ///
    /// ```
    /// # use libevent::*;
    /// let base = EventBase::new()?;
    /// let http = Http::new(&base)?;
    /// http.add_virtual_host("api.test", Http::new(&base)?)?;
    /// let vhost = http.remove_virtual_host("api.test")?;
    /// assert!(http.remove_virtual_host("api.test").is_err());
    /// http.add_virtual_host("*.test", vhost)?;
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn remove_virtual_host(&self, pattern: &str) -> Result<Http> {
        const F: &str = "evhttp_remove_virtual_host";
        let i = self
            .core()
            .vhosts
            .borrow()
            .iter()
            .position(|(p, _)| p == pattern)
            .ok_or_else(|| Error::invalid(F, "no virtual host with that pattern"))?;
        let owner = self.core().vhosts.borrow()[i].1.clone();
        // SAFETY: both live; the vhost is this server's (listed above).
        unsafe {
            call!(sys::evhttp_remove_virtual_host(
                self.as_raw(),
                owner.core.raw.as_ptr()
            ))
        }?;
        self.core().vhosts.borrow_mut().remove(i);
        owner.core.mode.set(Mode::Owned);
        *owner.core.root.borrow_mut() = Rc::downgrade(&owner);
        Ok(Http { owner })
    }

    /// Another handle on the same server (the server lives while one is left).
    pub(crate) fn clone_handle(&self) -> Http {
        Http {
            owner: self.owner.clone(),
        }
    }

    /// The base the server runs on.
    pub fn base(&self) -> &EventBase {
        &self.owner.base
    }
}

impl Drop for Http {
    fn drop(&mut self) {
        self.core().http_gone.set(true);
    }
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http")
            .field("raw", &self.as_raw())
            .field("mode", &self.core().mode.get())
            .finish()
    }
}
