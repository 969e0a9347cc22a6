//! `struct evhttp_connection` as a client.

use super::{c_text, header_name, CText, InCallback, Method, RequestRef};
use crate::base::EventBase;
use crate::error::{call, Error, RequestError, Result};
use crate::handle::context_from_arg;
use crate::panic::{self, Guard};
use crate::util::time::timeval;
use libevent_sys as sys;
use std::cell::{Cell, RefCell};
use std::ffi::{c_void, CString};
use std::net::SocketAddr;
use std::ptr::NonNull;
use std::rc::{Rc, Weak};
use std::time::Duration;

type ResponseFn = Box<dyn FnOnce(Result<&mut RequestRef>)>;
type ChunkFn = Box<dyn FnMut(&mut RequestRef)>;
type HeadersFn = Box<dyn FnMut(&mut RequestRef) -> bool>;

/// One request in flight: what C's `void *arg` points at. C holds one strong reference
/// (taken back by the response trampoline, which C calls exactly once, or by the
/// connection's drop for requests it discards).
struct Pending {
    conn: Weak<ConnCore>,
    base: *mut sys::event_base,
    response: RefCell<Option<ResponseFn>>,
    chunk: RefCell<Option<ChunkFn>>,
    headers: RefCell<Option<HeadersFn>>,
    error: Cell<Option<(RequestError, i32)>>,
    /// The C request, once made (live while the connection's list holds this).
    req: Cell<*mut sys::evhttp_request>,
    /// [`PendingRequest::cancel`] found it on the wire: its callbacks are not run.
    cancelled: Cell<bool>,
}

struct ConnCore {
    /// The `Pending`s C still holds, as their `Rc::into_raw` pointers, in the order they
    /// were sent: evhttp works on the first, and the rest wait in its queue.
    pending: RefCell<Vec<*const Pending>>,
    on_close: RefCell<Option<Box<dyn FnMut()>>>,
    base: *mut sys::event_base,
    /// Callbacks of this connection running now: evhttp may be walking a copy of its
    /// queue (failing every request after a connect error), which
    /// `evhttp_cancel_request` would corrupt.
    running: Cell<u32>,
}

/// Counts one callback of a connection while it runs.
struct Running(Option<Rc<ConnCore>>);

impl Running {
    fn enter(conn: Option<Rc<ConnCore>>) -> Running {
        if let Some(c) = &conn {
            c.running.set(c.running.get() + 1);
        }
        Running(conn)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(c) = &self.0 {
            c.running.set(c.running.get() - 1);
        }
    }
}

impl ConnCore {
    fn release(&self, p: *const Pending) -> bool {
        let mut v = self.pending.borrow_mut();
        match v.iter().position(|&q| q == p) {
            Some(i) => {
                v.remove(i);
                true
            }
            None => false,
        }
    }
}

extern "C" fn response_tramp(req: *mut sys::evhttp_request, arg: *mut c_void) {
    let _cb = InCallback::enter();
    let p = arg as *const Pending;
    // SAFETY: arg is a Pending whose C reference is still counted: either its
    // connection's list has it (we take it out, and adopt C's reference), or the list is
    // gone with the connection, which would have freed the request without calling us.
    let pending: Rc<Pending> = unsafe { context_from_arg(arg) };
    let conn = pending.conn.upgrade();
    if let Some(conn) = &conn {
        if conn.release(p) {
            // SAFETY: the reference C held, released exactly once (just removed from
            // the list).
            unsafe { Rc::decrement_strong_count(p) };
        }
    }
    let _running = Running::enter(conn);
    let Some(f) = pending.response.borrow_mut().take() else {
        return;
    };
    if pending.cancelled.get() {
        return; // its closure is dropped
    }
    panic::wrap(Guard::Loop(pending.base), || {
        let code = if req.is_null() {
            0
        } else {
            // SAFETY: not null: live for this call (libevent frees it after).
            unsafe { sys::evhttp_request_get_response_code(req) }
        };
        if code == 0 {
            let (kind, errno) = pending
                .error
                .get()
                .unwrap_or((RequestError::ConnectFailed, 0));
            f(Err(Error::request(kind, Some(errno))));
        } else {
            // SAFETY: as above; the closure gets it for the call only.
            f(Ok(unsafe { RequestRef::from_raw(req) }));
        }
    });
}

extern "C" fn chunk_tramp(req: *mut sys::evhttp_request, arg: *mut c_void) {
    let _cb = InCallback::enter();
    // SAFETY: as in response_tramp; C still holds its reference (the request is live).
    let pending: Rc<Pending> = unsafe { context_from_arg(arg) };
    if pending.cancelled.get() {
        return;
    }
    let _running = Running::enter(pending.conn.upgrade());
    panic::wrap(Guard::Loop(pending.base), || {
        if let Ok(mut slot) = pending.chunk.try_borrow_mut() {
            if let Some(f) = slot.as_mut() {
                // SAFETY: req is live for the call.
                f(unsafe { RequestRef::from_raw(req) });
            }
        }
    });
}

extern "C" fn headers_tramp(req: *mut sys::evhttp_request, arg: *mut c_void) -> i32 {
    let _cb = InCallback::enter();
    // SAFETY: as in chunk_tramp.
    let pending: Rc<Pending> = unsafe { context_from_arg(arg) };
    if pending.cancelled.get() {
        return 0;
    }
    let _running = Running::enter(pending.conn.upgrade());
    let go_on = panic::wrap(Guard::Loop(pending.base), || {
        match pending.headers.try_borrow_mut() {
            Ok(mut slot) => match slot.as_mut() {
                // SAFETY: req is live for the call.
                Some(f) => f(unsafe { RequestRef::from_raw(req) }),
                None => true,
            },
            Err(_) => true,
        }
    });
    // A closure that said no, or panicked: libevent closes the connection.
    if go_on == Some(true) {
        0
    } else {
        -1
    }
}

extern "C" fn error_tramp(e: sys::evhttp_request_error, arg: *mut c_void) {
    let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    // SAFETY: as in chunk_tramp; the response callback follows at once.
    let pending: Rc<Pending> = unsafe { context_from_arg(arg) };
    pending.error.set(Some((RequestError::from_c(e), errno)));
}

extern "C" fn close_tramp(_conn: *mut sys::evhttp_connection, arg: *mut c_void) {
    let _cb = InCallback::enter();
    // SAFETY: arg is the ConnCore, which outlives the C connection (freed first in
    // destroy, with the Rc held).
    let core = unsafe { &*(arg as *const ConnCore) };
    core.running.set(core.running.get() + 1);
    panic::wrap(Guard::Loop(core.base), || {
        if let Ok(mut slot) = core.on_close.try_borrow_mut() {
            if let Some(f) = slot.as_mut() {
                f();
            }
        }
    });
    core.running.set(core.running.get() - 1);
}

/// A client connection to one HTTP server (`struct evhttp_connection`), by IP address.
///
/// Requests are queued and sent one after another over one socket, kept alive between
/// them (and reopened when the server closes it). Each response goes to the closure
/// given with the request, as `Ok(&mut RequestRef)` (status, headers, body) or an
/// [`Error`] whose [`request_error`](Error::request_error) says what went wrong.
/// Dropping the connection discards the requests still queued without calling them;
/// it may be dropped inside one of its own callbacks.
///
/// ```no_run
/// use libevent::EventBase;
/// use libevent::http::{HttpConnection, Method};
/// let base = EventBase::new()?;
/// let conn = HttpConnection::new(&base, "127.0.0.1:8080".parse().unwrap())?;
/// conn.request(Method::Get, "/hello")
///     .header("Accept", "text/plain")
///     .send(|res| match res {
///         Ok(resp) => println!("{} {:?}", resp.response_code(), resp.body()),
///         Err(e) => eprintln!("{e}"),
///     })?;
/// base.dispatch()?;
/// # Ok::<(), libevent::Error>(())
/// ```
pub struct HttpConnection {
    raw: NonNull<sys::evhttp_connection>,
    core: Rc<ConnCore>,
    base: EventBase,
    host: String,
    /// The resolver of a connection by name, kept while libevent may use it.
    dns: Option<crate::dns::DnsBase>,
}

impl HttpConnection {
    /// `evhttp_connection_base_new` to `addr` (no DNS: the address is numeric).
    pub fn new(base: &EventBase, addr: SocketAddr) -> Result<HttpConnection> {
        let ip = CString::new(addr.ip().to_string()).expect("an IP has no NUL");
        Self::make_with(base, None, None, &ip, addr.port(), addr.to_string())
    }

    /// `evhttp_connection_base_new` to `host` (a name, resolved by `dns` when the
    /// connection is made, and again after a reconnect) and `port`.
    pub fn with_dns(
        base: &EventBase,
        dns: &crate::dns::DnsBase,
        host: &str,
        port: u16,
    ) -> Result<HttpConnection> {
        let h = c_text("evhttp_connection_base_new", host, true)?;
        Self::make_with(base, Some(dns), None, &h, port, format!("{host}:{port}"))
    }

    /// `evhttp_connection_base_bufferevent_new`: a connection over a bufferevent the
    /// caller made, unconnected (`BufferEvent::socket(base, None, ..)`, or a TLS one for
    /// HTTPS); the connection takes it over. `host` is a name (resolved with `dns`, or
    /// the system's resolver when `None`) or a numeric address.
    pub fn with_bufferevent(
        base: &EventBase,
        dns: Option<&crate::dns::DnsBase>,
        bev: crate::BufferEvent,
        host: &str,
        port: u16,
    ) -> Result<HttpConnection> {
        let h = c_text("evhttp_connection_base_bufferevent_new", host, true)?;
        if bev.fd().is_some() {
            return Err(Error::invalid(
                "evhttp_connection_base_bufferevent_new",
                "the bufferevent must not be connected yet",
            ));
        }
        let raw_bev =
            bev.into_raw_for_c("evhttp_connection_base_bufferevent_new", base.as_raw())?;
        Self::make_with(base, dns, Some(raw_bev), &h, port, format!("{host}:{port}"))
    }

    fn make_with(
        base: &EventBase,
        dns: Option<&crate::dns::DnsBase>,
        bev: Option<NonNull<sys::bufferevent>>,
        host_c: &std::ffi::CStr,
        port: u16,
        host: String,
    ) -> Result<HttpConnection> {
        let d = dns.map_or(std::ptr::null_mut(), |d| d.as_raw());
        let raw = match bev {
            // SAFETY: base live; the DNS base, if any, is kept by the connection until
            // libevent is done with it; the host is copied; the bufferevent is handed over
            // (freed by the connection; on failure libevent has not taken it, and it is
            // freed here); ours to free.
            Some(b) => unsafe {
                let r = call!(sys::evhttp_connection_base_bufferevent_new(
                    base.as_raw(),
                    d,
                    b.as_ptr(),
                    host_c.as_ptr(),
                    port
                ));
                if r.is_err() {
                    sys::bufferevent_free(b.as_ptr());
                }
                r
            },
            // SAFETY: as above, with a bufferevent libevent makes.
            None => unsafe {
                call!(sys::evhttp_connection_base_new(
                    base.as_raw(),
                    d,
                    host_c.as_ptr(),
                    port
                ))
            },
        }?;
        Ok(HttpConnection {
            dns: dns.cloned(),
            raw,
            core: Rc::new(ConnCore {
                pending: RefCell::new(Vec::new()),
                on_close: RefCell::new(None),
                base: base.as_raw(),
                running: Cell::new(0),
            }),
            base: base.clone(),
            host,
        })
    }

    /// The raw `struct evhttp_connection *`, still owned by `self`.
    pub fn as_raw(&self) -> *mut sys::evhttp_connection {
        self.raw.as_ptr()
    }

    /// A request to build and [`send`](RequestBuilder::send). `uri` is the request
    /// target (`/path?query`). A `Host` header naming the address is added unless one is
    /// given.
    pub fn request(&self, method: Method, uri: &str) -> RequestBuilder<'_> {
        RequestBuilder {
            conn: self,
            method,
            uri: c_text("evhttp_make_request", uri, true).and_then(|u| {
                if u.as_bytes().is_empty() || u.as_bytes().contains(&b' ') {
                    Err(Error::invalid(
                        "evhttp_make_request",
                        "a request target must be non-empty, without spaces",
                    ))
                } else {
                    Ok(u)
                }
            }),
            headers: Vec::new(),
            has_host: false,
            body: Vec::new(),
            chunk: None,
            on_headers: None,
        }
    }

    /// `evhttp_connection_set_timeout_tv`: for connecting, and for each read and write.
    pub fn set_timeout(&self, timeout: Duration) -> Result<()> {
        let tv = timeval("evhttp_connection_set_timeout_tv", timeout)?;
        // SAFETY: the connection is live; tv is copied.
        unsafe { sys::evhttp_connection_set_timeout_tv(self.as_raw(), &tv) };
        Ok(())
    }

    /// `evhttp_connection_set_retries`: how many times to retry a failed connect
    /// (`-1`: forever), waiting [`set_initial_retry`](Self::set_initial_retry) and twice
    /// as long each time after.
    pub fn set_retries(&self, retries: i32) {
        // SAFETY: the connection is live.
        unsafe { sys::evhttp_connection_set_retries(self.as_raw(), retries) }
    }

    /// `evhttp_connection_set_initial_retry_tv` (default 2 s).
    pub fn set_initial_retry(&self, wait: Duration) -> Result<()> {
        let tv = timeval("evhttp_connection_set_initial_retry_tv", wait)?;
        // SAFETY: the connection is live; tv is copied.
        unsafe { sys::evhttp_connection_set_initial_retry_tv(self.as_raw(), &tv) };
        Ok(())
    }

    /// `evhttp_connection_set_max_headers_size`: larger response headers fail the request.
    pub fn set_max_headers_size(&self, bytes: usize) {
        // SAFETY: the connection is live.
        unsafe {
            sys::evhttp_connection_set_max_headers_size(
                self.as_raw(),
                isize::try_from(bytes).unwrap_or(isize::MAX),
            )
        }
    }

    /// `evhttp_connection_set_max_body_size`: larger response bodies fail the request.
    pub fn set_max_body_size(&self, bytes: usize) {
        // SAFETY: the connection is live.
        unsafe {
            sys::evhttp_connection_set_max_body_size(
                self.as_raw(),
                isize::try_from(bytes).unwrap_or(isize::MAX),
            )
        }
    }

    /// `evhttp_connection_set_closecb`: `f` runs each time the socket closes (the server
    /// closed it, or an error), and when the connection is dropped while connected.
    pub fn on_close<F: FnMut() + 'static>(&self, f: F) -> Result<()> {
        *self.core.on_close.try_borrow_mut().map_err(|_| {
            Error::invalid(
                "evhttp_connection_set_closecb",
                "the close callback is running",
            )
        })? = Some(Box::new(f));
        // SAFETY: the connection is live; the ConnCore outlives it (see destroy).
        unsafe {
            sys::evhttp_connection_set_closecb(
                self.as_raw(),
                Some(close_tramp),
                Rc::as_ptr(&self.core) as *mut c_void,
            )
        };
        Ok(())
    }

    /// `evhttp_connection_get_peer`: the address it connects to.
    pub fn peer(&self) -> Option<SocketAddr> {
        let mut addr: *mut std::ffi::c_char = std::ptr::null_mut();
        let mut port = 0u16;
        // SAFETY: the connection is live; it owns the string.
        unsafe {
            sys::evhttp_connection_get_peer(self.as_raw(), &mut addr, &mut port);
            let ip = super::str_from(addr)?.parse().ok()?;
            Some(SocketAddr::new(ip, port))
        }
    }

    /// `evhttp_connection_get_addr`: the address of the socket it is connected with
    /// (`None` before the first connection).
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::http::HttpConnection;
    /// # let base = EventBase::new()?;
    /// let conn = HttpConnection::new(&base, "127.0.0.1:9".parse().unwrap())?;
    /// assert_eq!(conn.addr(), None); // not connected yet
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn addr(&self) -> Option<SocketAddr> {
        // SAFETY: the connection is live; the sockaddr it returns lives with it.
        let sa = unsafe { sys::evhttp_connection_get_addr(self.as_raw()) };
        let len = std::mem::size_of::<libc::sockaddr_storage>() as i32;
        // SAFETY: null, or a sockaddr of its family's size inside the connection.
        unsafe { crate::util::sockaddr::sockaddr_to(sa, len) }
    }

    /// `evhttp_connection_set_family`: connect by name with IPv4 or IPv6 only (it
    /// matters for [`with_dns`](Self::with_dns)).
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::http::HttpConnection;
    /// # let base = EventBase::new()?;
    /// let conn = HttpConnection::new(&base, "127.0.0.1:9".parse().unwrap())?;
    /// conn.set_family(libevent::dns::Family::V4);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn set_family(&self, family: crate::dns::Family) {
        // SAFETY: the connection is live.
        unsafe { sys::evhttp_connection_set_family(self.as_raw(), family.to_c()) }
    }

    /// `evhttp_connection_set_local_address`: the address to connect from.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::http::HttpConnection;
    /// # let base = EventBase::new()?;
    /// let conn = HttpConnection::new(&base, "127.0.0.1:9".parse().unwrap())?;
    /// conn.set_local_address("127.0.0.1".parse().unwrap());
    /// conn.set_local_port(0);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn set_local_address(&self, ip: std::net::IpAddr) {
        let c = CString::new(ip.to_string()).expect("an IP has no NUL");
        // SAFETY: the connection is live; libevent copies the string.
        unsafe { sys::evhttp_connection_set_local_address(self.as_raw(), c.as_ptr()) }
    }

    /// `evhttp_connection_set_local_port`: the port to connect from (0: any).
    pub fn set_local_port(&self, port: u16) {
        // SAFETY: the connection is live.
        unsafe { sys::evhttp_connection_set_local_port(self.as_raw(), port) }
    }

    /// `evhttp_connection_set_flags`.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::http::{ConnectionFlags, HttpConnection};
    /// # let base = EventBase::new()?;
    /// let conn = HttpConnection::new(&base, "127.0.0.1:9".parse().unwrap())?;
    /// conn.set_flags(ConnectionFlags::READ_ON_WRITE_ERROR)?;
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn set_flags(&self, flags: super::ConnectionFlags) -> Result<()> {
        // SAFETY: the connection is live.
        unsafe {
            call!(sys::evhttp_connection_set_flags(
                self.as_raw(),
                flags.bits()
            ))
        }?;
        Ok(())
    }

    /// Requests sent or queued whose response has not come yet.
    pub fn pending(&self) -> usize {
        self.core.pending.borrow().len()
    }
}

fn destroy(
    raw: NonNull<sys::evhttp_connection>,
    core: Rc<ConnCore>,
    dns: Option<crate::dns::DnsBase>,
) {
    if dns.is_some() {
        // SAFETY: the connection and its bufferevent are live.
        unsafe {
            crate::bufferevent::cancel_lookup(sys::evhttp_connection_get_bufferevent(raw.as_ptr()))
        };
    }
    // SAFETY: ours, freed once. It frees the queued requests without calling them (and
    // may call the close callback, whose ConnCore we still hold).
    unsafe { sys::evhttp_connection_free(raw.as_ptr()) };
    let left = std::mem::take(&mut *core.pending.borrow_mut());
    for p in left {
        // SAFETY: C's reference of a request it freed without calling back.
        unsafe { Rc::decrement_strong_count(p) };
    }
    // After the free, which cancelled any lookup in flight (a DNS base frees itself only
    // on the loop's next pass, after libevent's deferred cancellations).
    drop(dns);
}

impl Drop for HttpConnection {
    fn drop(&mut self) {
        let (raw, core, dns) = (self.raw, self.core.clone(), self.dns.take());
        if InCallback::active() {
            // libevent may still use the connection when the callback returns.
            if self
                .base
                .defer(Box::new(move || destroy(raw, core, dns)))
                .is_err()
            {
                std::mem::forget(self.core.clone()); // leak rather than free under C's feet
            }
            return;
        }
        destroy(raw, core, dns);
    }
}

impl std::fmt::Debug for HttpConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpConnection")
            .field("peer", &self.host)
            .field("pending", &self.pending())
            .finish()
    }
}

/// A request being built for an [`HttpConnection`]; nothing is sent before
/// [`send`](Self::send), which reports the first bad argument.
pub struct RequestBuilder<'a> {
    conn: &'a HttpConnection,
    method: Method,
    uri: Result<CString>,
    headers: Vec<Result<(CText, CText)>>,
    has_host: bool,
    body: Vec<u8>,
    chunk: Option<ChunkFn>,
    on_headers: Option<HeadersFn>,
}

impl RequestBuilder<'_> {
    /// Adds a request header (checked: a token name, no CR, LF or NUL in the value).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.has_host |= name.eq_ignore_ascii_case("host");
        let h = header_name("evhttp_add_header", name)
            .and_then(|n| Ok((n, CText::new("evhttp_add_header", value, true)?)));
        self.headers.push(h);
        self
    }

    /// The request body (`Content-Length` is set from it).
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// `evhttp_request_set_chunked_cb`: the response body as it arrives, in pieces (each
    /// in the request's input buffer, drained after the call); the final callback then
    /// sees what is left.
    pub fn on_chunk<F: FnMut(&mut RequestRef) + 'static>(mut self, f: F) -> Self {
        self.chunk = Some(Box::new(f));
        self
    }

    /// `evhttp_request_set_header_cb`: `f` sees the response's status and headers as
    /// soon as they arrive, before the body; returning `false` abandons the response
    /// (libevent closes the connection, and the response callback gets an error).
    ///
    /// ```no_run
    /// # use libevent::*;
    /// # use libevent::http::{HttpConnection, Method};
    /// # let base = EventBase::new()?;
    /// # let conn = HttpConnection::new(&base, "127.0.0.1:8080".parse().unwrap())?;
    /// conn.request(Method::Get, "/big")
    ///     .on_headers(|resp| resp.input_headers().get("Content-Length") != Some("0"))
    ///     .send(|r| println!("{:?}", r.map(|r| r.response_code())))?;
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn on_headers<F: FnMut(&mut RequestRef) -> bool + 'static>(mut self, f: F) -> Self {
        self.on_headers = Some(Box::new(f));
        self
    }

    /// `evhttp_request_new` + `evhttp_make_request`: queue the request; `on_response`
    /// runs once, with the response or the error. When the connection cannot even start
    /// (no descriptor left, say) it may run before `send` returns. The returned handle
    /// may [cancel](PendingRequest::cancel) it; dropping the handle does not.
    pub fn send<F>(self, on_response: F) -> Result<PendingRequest>
    where
        F: FnOnce(Result<&mut RequestRef>) + 'static,
    {
        let uri = self.uri?;
        let headers = self.headers.into_iter().collect::<Result<Vec<_>>>()?;
        let conn = self.conn;
        let pending = Rc::new(Pending {
            conn: Rc::downgrade(&conn.core),
            base: conn.base.as_raw(),
            response: RefCell::new(Some(Box::new(on_response))),
            chunk: RefCell::new(self.chunk),
            headers: RefCell::new(self.on_headers),
            error: Cell::new(None),
            req: Cell::new(std::ptr::null_mut()),
            cancelled: Cell::new(false),
        });
        let arg = Rc::into_raw(pending.clone());
        // SAFETY: arg is a counted reference C holds until the response callback (or the
        // connection's free, which releases it through the pending list).
        let req = match unsafe {
            call!(sys::evhttp_request_new(
                Some(response_tramp),
                arg as *mut c_void
            ))
        } {
            Ok(r) => r.as_ptr(),
            Err(e) => {
                // SAFETY: C never got it.
                unsafe { drop(Rc::from_raw(arg)) };
                return Err(e);
            }
        };
        let has_host = self.has_host;
        // SAFETY: req is live and ours until evhttp_make_request; strings are copied.
        let filled = unsafe {
            if pending.chunk.borrow().is_some() {
                sys::evhttp_request_set_chunked_cb(req, Some(chunk_tramp));
            }
            if pending.headers.borrow().is_some() {
                sys::evhttp_request_set_header_cb(req, Some(headers_tramp));
            }
            sys::evhttp_request_set_error_cb(req, Some(error_tramp));
            let out = sys::evhttp_request_get_output_headers(req);
            let mut r = Ok(());
            for (n, v) in &headers {
                r = r.and(call!(sys::evhttp_add_header(out, n.as_ptr(), v.as_ptr())).map(drop));
            }
            if !has_host {
                let h = CString::new(conn.host.as_str()).expect("an address has no NUL");
                r = r.and(
                    call!(sys::evhttp_add_header(out, c"Host".as_ptr(), h.as_ptr())).map(drop),
                );
            }
            if !self.body.is_empty() {
                let len = CString::new(self.body.len().to_string()).expect("digits");
                if sys::evhttp_find_header(out, c"Content-Length".as_ptr()).is_null() {
                    r = r.and(
                        call!(sys::evhttp_add_header(
                            out,
                            c"Content-Length".as_ptr(),
                            len.as_ptr()
                        ))
                        .map(drop),
                    );
                }
                let buf = sys::evhttp_request_get_output_buffer(req);
                r = r.and(
                    call!(sys::evbuffer_add(
                        buf,
                        self.body.as_ptr().cast(),
                        self.body.len()
                    ))
                    .map(drop),
                );
            }
            r
        };
        if let Err(e) = filled {
            // SAFETY: never handed to a connection: ours to free, and C's reference too.
            unsafe {
                sys::evhttp_request_free(req);
                drop(Rc::from_raw(arg));
            }
            return Err(e);
        }
        conn.core.pending.borrow_mut().push(arg);
        // SAFETY: conn and req are live; on success the connection owns req.
        let made = unsafe {
            call!(sys::evhttp_make_request(
                conn.as_raw(),
                req,
                self.method.to_c(),
                uri.as_ptr()
            ))
        };
        if let Err(e) = made {
            // libevent could not start the connection (or copy the URI, in which case it
            // freed the request itself): no callback will come. The request is not freed
            // here, since which of the two happened cannot be told apart; that leaks a
            // request only when memory has run out.
            if conn.core.release(arg) {
                // SAFETY: C's reference, which no callback will release now.
                unsafe { drop(Rc::from_raw(arg)) };
            }
            return Err(e);
        }
        pending.req.set(req);
        Ok(PendingRequest {
            pending: Rc::downgrade(&pending),
        })
    }
}

/// A request [`send`](RequestBuilder::send) queued, to [`cancel`](Self::cancel) it.
/// Dropping it changes nothing.
#[derive(Debug)]
pub struct PendingRequest {
    pending: Weak<Pending>,
}

impl PendingRequest {
    /// Cancels the request: its callbacks will not run (their closures are dropped).
    /// `true` when it had not gone out yet: `evhttp_cancel_request` takes it off the
    /// connection's queue, and nothing of it is sent. `false` when it was already on the
    /// wire (or answered): its response, when it comes, is read and discarded, since
    /// libevent 2.1 cancels a request in flight by resetting the connection, and a read
    /// it has already scheduled for that connection then aborts the program (libevent
    /// issue 315; drop the [`HttpConnection`] to stop a transfer). Called from inside a
    /// callback of the same connection, it is `false` too (the request goes out, and its
    /// response is discarded): evhttp may be walking its queue then. May be called from
    /// any callback, including the request's own.
    ///
    /// ```no_run
    /// # use libevent::*;
    /// # use libevent::http::{HttpConnection, Method};
    /// # let base = EventBase::new()?;
    /// let conn = HttpConnection::new(&base, "127.0.0.1:8080".parse().unwrap())?;
    /// let _first = conn.request(Method::Get, "/slow").send(|_| {})?;
    /// let second = conn.request(Method::Get, "/other").send(|_| unreachable!())?;
    /// assert!(second.cancel()); // still queued behind the first
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn cancel(self) -> bool {
        let Some(pending) = self.pending.upgrade() else {
            return false; // called back already
        };
        pending.cancelled.set(true);
        let p = Rc::as_ptr(&pending);
        let Some(conn) = pending.conn.upgrade() else {
            return false;
        };
        let position = conn.pending.borrow().iter().position(|&q| q == p);
        let unsent = match position {
            // The first is the one evhttp works on: on the wire. Inside a callback of the
            // connection, evhttp may have moved its queue aside (failing each request
            // after a connect error), where its cancel would corrupt the list: the
            // request is then treated as on the wire too.
            Some(i) => i > 0 && conn.running.get() == 0,
            None => return false,
        };
        let dropped = (
            pending.response.borrow_mut().take(),
            pending
                .chunk
                .try_borrow_mut()
                .ok()
                .and_then(|mut c| c.take()),
            pending
                .headers
                .try_borrow_mut()
                .ok()
                .and_then(|mut h| h.take()),
        );
        if unsent {
            conn.release(p);
            // SAFETY: the request is live (the connection's list held it) and queued
            // behind another: evhttp takes it off the queue and frees it, without
            // calling back. C's reference to the Pending is released after.
            unsafe {
                sys::evhttp_cancel_request(pending.req.get());
                Rc::decrement_strong_count(p);
            }
        }
        drop(dropped);
        unsent
    }
}

impl RequestBuilder<'_> {
    /// [`send`](Self::send) as a future: the whole response, copied out. Dropping the
    /// future [cancels](PendingRequest::cancel) the request: one still queued is never
    /// sent, one already on the wire is read and its response discarded.
    ///
    /// ```no_run
    /// # use libevent::*;
    /// # use libevent::http::{HttpConnection, Method};
    /// let base = EventBase::new()?;
    /// let conn = HttpConnection::new(&base, "127.0.0.1:8080".parse().unwrap())?;
    /// let resp = base.block_on(conn.request(Method::Get, "/").send_async()?)??;
    /// println!("{} {}", resp.status, String::from_utf8_lossy(&resp.body));
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn send_async(self) -> Result<ResponseFuture> {
        let answer = crate::task::Oneshot::new();
        let a = answer.clone();
        let pending = self.send(move |r| a.send(r.map(Response::from_request)))?;
        Ok(ResponseFuture {
            answer,
            pending: Some(pending),
        })
    }
}

/// A response, owned: what [`RequestBuilder::send_async`] gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The reason phrase.
    pub reason: Option<String>,
    /// The headers in order, as bytes.
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    fn from_request(req: &mut RequestRef) -> Response {
        Response {
            status: req.response_code(),
            reason: req.response_reason().map(str::to_owned),
            headers: req
                .input_headers()
                .iter()
                .map(|(k, v)| (k.to_vec(), v.to_vec()))
                .collect(),
            body: req.body(),
        }
    }

    /// The first header of this name (ASCII case ignored), if it is UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name.as_bytes()))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }
}

/// [`RequestBuilder::send_async`]'s future.
pub struct ResponseFuture {
    answer: Rc<crate::task::Oneshot<Result<Response>>>,
    /// Cancelled when the future is dropped before its answer.
    pending: Option<PendingRequest>,
}

impl Drop for ResponseFuture {
    fn drop(&mut self) {
        if let Some(p) = self.pending.take() {
            p.cancel(); // after the answer, a no-op
        }
    }
}

impl std::future::Future for ResponseFuture {
    type Output = Result<Response>;
    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        self.answer.poll(cx)
    }
}

impl std::fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResponseFuture")
    }
}

impl std::fmt::Debug for RequestBuilder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestBuilder")
            .field("method", &self.method)
            .field("uri", &self.uri)
            .finish()
    }
}
