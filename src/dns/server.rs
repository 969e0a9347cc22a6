//! `struct evdns_server_port`: a DNS server on a UDP socket, answering from Rust.
//!
//! Each query reaches the handler as a [`ServerRequest`], which the handler may answer at
//! once or keep and answer later (or drop, which answers nothing). libevent counts the
//! requests a port has out; this module keeps two rules libevent's own code needs:
//!
//! - the port is never closed from inside its own callback (`server_port_read` goes on
//!   with the port after the handler returns, and a close that frees it there would
//!   leave it reading freed memory): closing waits for the loop (`EventBase::defer`),
//!   after the server is dropped and its last request is answered or dropped;
//! - a port that had to queue a reply (a send that failed other than with `EAGAIN`:
//!   libevent then keeps the reply and sends it when the socket allows) is closed only
//!   when its base goes: libevent frees a closing port from inside its flush of that
//!   queue and then goes on using it.
//!
//! The trampoline's argument is the port's `Rc<Port>` count, released once the port is
//! closed, after which libevent never calls it again.

use super::ServerFlags;
use crate::base::{EventBase, WeakBase};
use crate::error::{call, Error, Result};
use crate::panic::{self, Guard};
use crate::util::sockaddr::sockaddr_to;
use libevent_sys as sys;
use std::cell::{Cell, RefCell};
use std::ffi::{c_void, CStr, CString};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};
use std::ptr::NonNull;
use std::rc::Rc;

type Handler = Box<dyn FnMut(ServerRequest)>;

/// What a port's trampoline, its requests and its server share.
struct Port {
    raw: Cell<*mut sys::evdns_server_port>,
    /// Weak: a close waiting in the base's deferred work must not keep the base alive
    /// (the server and each request hold it strongly while the port is open).
    base: WeakBase,
    base_raw: *mut sys::event_base,
    /// Taken out while it runs; `None` once the server is dropped.
    handler: RefCell<Option<Handler>>,
    /// Requests handed to the handler and not yet answered or dropped.
    outstanding: Cell<usize>,
    /// The `DnsServer` is gone: close once nothing is outstanding.
    dropped: Cell<bool>,
    /// libevent queued a reply (see the module notes): close only with the base.
    queued: Cell<bool>,
    /// A close has been scheduled.
    closing: Cell<bool>,
}

impl Port {
    /// Schedules the close when the server is gone and no request is out.
    fn maybe_close(self: &Rc<Self>) {
        if !self.dropped.get() || self.outstanding.get() > 0 || self.closing.get() {
            return;
        }
        self.closing.set(true);
        let me = self.clone();
        let close = Box::new(move || {
            let raw = me.raw.replace(std::ptr::null_mut());
            if raw.is_null() {
                return;
            }
            // SAFETY: the port is live (never closed before); no request of ours is out
            // and libevent queued no reply (or the base is going, and its loop never
            // runs again), so this frees it now, outside its callbacks.
            unsafe { sys::evdns_close_server_port(raw) };
            // SAFETY: the count given to libevent as the callback's argument, which it
            // will not use again.
            unsafe { Rc::decrement_strong_count(Rc::as_ptr(&me)) };
        });
        // The server or a request holds the base while this runs.
        let Some(base) = self.base.upgrade() else {
            return;
        };
        if self.queued.get() {
            // Only with the base (its teardown runs this as it goes): see the notes.
            base.inner().at_teardown(close);
        } else if base.defer(close).is_err() {
            log::error!("a DNS server port is leaked: no event to close it");
        }
    }
}

/// A DNS server (`evdns_add_server_port_with_base`) on a UDP socket, on a base. Dropping
/// it stops answering: queries that arrive later are dropped, and the port (and its
/// socket) is closed on the loop's next pass once every request handed out is answered
/// or dropped.
///
/// ```
/// use libevent::dns::{DnsServer, Family};
/// use libevent::{DnsBase, EventBase};
/// use std::net::UdpSocket;
/// let base = EventBase::new()?;
/// let server = DnsServer::new(&base, UdpSocket::bind("127.0.0.1:0").unwrap(), |mut req| {
///     let q = req.questions()[0].clone();
///     // evdns asks in randomized case (`0x20` hardening): compare without it.
///     if q.name.eq_ignore_ascii_case("example.test") && q.qtype == 1 {
///         req.add_a(&q.name, &["192.0.2.7".parse().unwrap()], 300).unwrap();
///         req.respond(0).unwrap();
///     } else {
///         req.respond(3).unwrap(); // NXDOMAIN
///     }
/// })?;
/// let dns = DnsBase::new(&base)?;
/// dns.add_nameserver(server.local_addr())?;
/// let got = std::rc::Rc::new(std::cell::RefCell::new(None));
/// let g = got.clone();
/// let _l = dns.getaddrinfo("example.test", 80, Family::V4, move |r| *g.borrow_mut() = Some(r))?;
/// while got.borrow().is_none() {
///     base.run(libevent::LoopFlags::ONCE)?;
/// }
/// let addrs = got.borrow_mut().take().unwrap()?;
/// assert_eq!(addrs, ["192.0.2.7:80".parse().unwrap()]);
/// # Ok::<(), libevent::Error>(())
/// ```
pub struct DnsServer {
    port: Rc<Port>,
    local: SocketAddr,
    _base: EventBase,
}

/// One question of a [`ServerRequest`] (`struct evdns_server_question`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// The name asked about, as sent: DNS names compare without case, and resolvers
    /// (evdns among them) randomize it. Answer with it as sent.
    pub name: String,
    /// `EVDNS_TYPE_*`: 1 A, 28 AAAA, 12 PTR, 5 CNAME...
    pub qtype: u16,
    /// `EVDNS_CLASS_*`: 1 is the Internet.
    pub class: u16,
}

/// Which section of the reply a record goes in ([`ServerRequest::add_reply`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// `EVDNS_ANSWER_SECTION`.
    Answer,
    /// `EVDNS_AUTHORITY_SECTION`.
    Authority,
    /// `EVDNS_ADDITIONAL_SECTION`.
    Additional,
}

extern "C" fn server_tramp(req: *mut sys::evdns_server_request, arg: *mut c_void) {
    // SAFETY: arg is the port's count of its `Port`, released only once the port is
    // closed, after which libevent no longer calls this; take a count of our own.
    let port = unsafe {
        Rc::increment_strong_count(arg as *const Port);
        Rc::from_raw(arg as *const Port)
    };
    let Some(raw) = NonNull::new(req) else {
        return;
    };
    // Its loop is running this: the base is alive.
    let Some(base) = port.base.upgrade() else {
        // SAFETY: as below.
        unsafe { sys::evdns_server_request_drop(req) };
        return;
    };
    let handler = port.handler.borrow_mut().take();
    let Some(mut handler) = handler else {
        // The server is gone (or its handler is running: libevent reads on after each
        // query, inside one callback). Dropping is safe here: the port is not closed,
        // so this is not its last reference.
        // SAFETY: a request libevent just handed over, never used again.
        unsafe { sys::evdns_server_request_drop(req) };
        return;
    };
    port.outstanding.set(port.outstanding.get() + 1);
    let request = ServerRequest {
        raw: Cell::new(Some(raw)),
        port: port.clone(),
        _base: base,
    };
    panic::wrap(Guard::Loop(port.base_raw), || handler(request));
    // Put it back unless the server was dropped meanwhile.
    if !port.dropped.get() {
        *port.handler.borrow_mut() = Some(handler);
    }
}

impl DnsServer {
    /// `evdns_add_server_port_with_base`: answer the queries that arrive on `socket`
    /// (made non-blocking; the port owns it from now on) with `handler`, on `base`'s loop.
    ///
    /// ```
    /// # use libevent::*;
    /// use libevent::dns::DnsServer;
    /// let base = EventBase::new()?;
    /// let server = DnsServer::new(&base, std::net::UdpSocket::bind("127.0.0.1:0").unwrap(), |req| drop(req))?;
    /// assert_ne!(server.local_addr().port(), 0);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn new<F>(base: &EventBase, socket: UdpSocket, handler: F) -> Result<DnsServer>
    where
        F: FnMut(ServerRequest) + 'static,
    {
        const FN: &str = "evdns_add_server_port_with_base";
        let os = |e: std::io::Error| Error::os(FN, e.raw_os_error().unwrap_or(libc::EIO));
        socket.set_nonblocking(true).map_err(os)?;
        let local = socket.local_addr().map_err(os)?;
        let fd = socket.into_raw_fd();
        let port = Rc::new(Port {
            raw: Cell::new(std::ptr::null_mut()),
            base: base.downgrade(),
            base_raw: base.as_raw(),
            handler: RefCell::new(Some(Box::new(handler))),
            outstanding: Cell::new(0),
            dropped: Cell::new(false),
            queued: Cell::new(false),
            closing: Cell::new(false),
        });
        let arg = Rc::into_raw(port.clone()) as *mut c_void;
        // SAFETY: base live; fd is ours to give (the port closes it when freed); arg is
        // a count of the Port, released after the port is closed.
        match unsafe {
            call!(sys::evdns_add_server_port_with_base(
                base.as_raw(),
                fd,
                0,
                Some(server_tramp),
                arg
            ))
        } {
            Ok(raw) => {
                port.raw.set(raw.as_ptr());
                Ok(DnsServer {
                    port,
                    local,
                    _base: base.clone(),
                })
            }
            Err(e) => {
                // SAFETY: libevent took neither the count nor the descriptor.
                unsafe {
                    Rc::decrement_strong_count(arg as *const Port);
                    drop(OwnedFd::from_raw_fd(fd));
                }
                Err(e)
            }
        }
    }

    /// The address the server's socket is bound to.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::dns::DnsServer;
    /// # let base = EventBase::new()?;
    /// let s = DnsServer::new(&base, std::net::UdpSocket::bind("127.0.0.1:0").unwrap(), drop)?;
    /// assert!(s.local_addr().ip().is_loopback());
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The raw `struct evdns_server_port *`.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::dns::DnsServer;
    /// # let base = EventBase::new()?;
    /// let s = DnsServer::new(&base, std::net::UdpSocket::bind("127.0.0.1:0").unwrap(), drop)?;
    /// assert!(!s.as_raw().is_null());
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn as_raw(&self) -> *mut sys::evdns_server_port {
        self.port.raw.get()
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.port.dropped.set(true);
        // The handler goes now, unless it is running (it is out of the cell then, and
        // the trampoline drops it after, seeing `dropped`).
        drop(self.port.handler.borrow_mut().take());
        self.port.maybe_close();
    }
}

impl std::fmt::Debug for DnsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsServer")
            .field("local", &self.local)
            .field("outstanding", &self.port.outstanding.get())
            .finish()
    }
}

/// A query a [`DnsServer`] received (`struct evdns_server_request`): read its questions,
/// add records, then [`respond`](Self::respond) (or drop it, which answers nothing:
/// `evdns_server_request_drop`). It keeps its port, socket and base alive.
pub struct ServerRequest {
    /// `None` once answered (libevent has it then) or dropped.
    raw: Cell<Option<NonNull<sys::evdns_server_request>>>,
    port: Rc<Port>,
    _base: EventBase,
}

impl ServerRequest {
    fn raw(&self, function: &'static str) -> Result<*mut sys::evdns_server_request> {
        self.raw
            .get()
            .map(NonNull::as_ptr)
            .ok_or_else(|| Error::invalid(function, "the request was answered already"))
    }

    /// This request is done with: one fewer out, and the port may close.
    fn finished(&self) {
        self.raw.set(None);
        self.port.outstanding.set(self.port.outstanding.get() - 1);
        self.port.maybe_close();
    }

    /// The questions (`nquestions`, `questions`); empty once answered.
    ///
    /// ```
    /// # use libevent::dns::Question;
    /// let q = Question { name: "a.test".into(), qtype: 1, class: 1 };
    /// assert_eq!(q.qtype, 1);
    /// ```
    pub fn questions(&self) -> Vec<Question> {
        let Some(raw) = self.raw.get() else {
            return Vec::new();
        };
        // SAFETY: a live request; libevent fills nquestions entries, each with a
        // NUL-terminated name, and changes none of them while we hold the request.
        unsafe {
            let r = &*raw.as_ptr();
            (0..r.nquestions.max(0) as usize)
                .map(|i| {
                    let q = &**r.questions.add(i);
                    Question {
                        name: CStr::from_ptr(q.name.as_ptr())
                            .to_string_lossy()
                            .into_owned(),
                        qtype: q.type_ as u16,
                        class: q.class as u16,
                    }
                })
                .collect()
        }
    }

    /// `evdns_server_request_get_requesting_addr`: who asked.
    ///
    /// ```
    /// # let _ = |req: libevent::dns::ServerRequest| req.peer();
    /// ```
    pub fn peer(&self) -> Option<SocketAddr> {
        let raw = self.raw.get()?;
        // SAFETY: all-zero is a valid sockaddr_storage.
        let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let len = std::mem::size_of::<libc::sockaddr_storage>() as i32;
        // SAFETY: a live request; ss has room for len bytes.
        let n = unsafe {
            sys::evdns_server_request_get_requesting_addr(
                raw.as_ptr(),
                &mut ss as *mut _ as *mut libc::sockaddr,
                len,
            )
        };
        if n <= 0 {
            return None;
        }
        // SAFETY: libevent wrote n bytes of a sockaddr.
        unsafe { sockaddr_to(&ss as *const _ as *const libc::sockaddr, n) }
    }

    /// `evdns_server_request_set_flags`: the reply's header flags.
    ///
    /// ```
    /// use libevent::dns::ServerFlags;
    /// let f = ServerFlags::AUTHORITATIVE | ServerFlags::RECURSION_DESIRED;
    /// # let _ = |mut req: libevent::dns::ServerRequest| req.set_flags(f);
    /// ```
    pub fn set_flags(&mut self, flags: ServerFlags) -> Result<()> {
        let raw = self.raw("evdns_server_request_set_flags")?;
        // SAFETY: a live request.
        unsafe { sys::evdns_server_request_set_flags(raw, flags.bits()) };
        Ok(())
    }

    fn name(function: &'static str, name: &str) -> Result<CString> {
        CString::new(name).map_err(|_| Error::invalid(function, "NUL in a name"))
    }

    fn ttl(function: &'static str, ttl: u32) -> Result<i32> {
        i32::try_from(ttl).map_err(|_| Error::invalid(function, "TTL past 2^31 - 1"))
    }

    fn count(function: &'static str, n: usize) -> Result<()> {
        if n == 0 {
            return Err(Error::invalid(function, "no address"));
        }
        Ok(())
    }

    /// `evdns_server_request_add_a_reply`: an A record for `name` per address. (Called
    /// once per address: given several, libevent packs them into one record of 4n bytes,
    /// which evdns reads but other resolvers take for a malformed answer.)
    ///
    /// ```
    /// # let _ = |mut req: libevent::dns::ServerRequest| req.add_a("a.test", &["192.0.2.1".parse().unwrap()], 60);
    /// ```
    pub fn add_a(&mut self, name: &str, addrs: &[Ipv4Addr], ttl: u32) -> Result<()> {
        let octets: Vec<[u8; 4]> = addrs.iter().map(|a| a.octets()).collect();
        self.add_addrs(
            "evdns_server_request_add_a_reply",
            name,
            &octets,
            ttl,
            sys::evdns_server_request_add_a_reply,
        )
    }

    /// One record per address through `add` (libevent's A or AAAA adder).
    fn add_addrs<const N: usize>(
        &mut self,
        function: &'static str,
        name: &str,
        addrs: &[[u8; N]],
        ttl: u32,
        add: unsafe extern "C" fn(
            *mut sys::evdns_server_request,
            *const std::ffi::c_char,
            i32,
            *const c_void,
            i32,
        ) -> i32,
    ) -> Result<()> {
        let raw = self.raw(function)?;
        let (c, t) = (Self::name(function, name)?, Self::ttl(function, ttl)?);
        Self::count(function, addrs.len())?;
        for a in addrs {
            // SAFETY: a live request; one address of N bytes, copied during the call.
            if unsafe { add(raw, c.as_ptr(), 1, a.as_ptr() as *const c_void, t) } < 0 {
                return Err(Error::last(function));
            }
        }
        Ok(())
    }

    /// `evdns_server_request_add_aaaa_reply`: an AAAA record for `name` per address (one
    /// call each, as [`add_a`](Self::add_a)).
    ///
    /// ```
    /// # let _ = |mut req: libevent::dns::ServerRequest| req.add_aaaa("a.test", &["2001:db8::1".parse().unwrap()], 60);
    /// ```
    pub fn add_aaaa(&mut self, name: &str, addrs: &[Ipv6Addr], ttl: u32) -> Result<()> {
        let octets: Vec<[u8; 16]> = addrs.iter().map(|a| a.octets()).collect();
        self.add_addrs(
            "evdns_server_request_add_aaaa_reply",
            name,
            &octets,
            ttl,
            sys::evdns_server_request_add_aaaa_reply,
        )
    }

    /// `evdns_server_request_add_ptr_reply`: a PTR record from `name` (an
    /// `in-addr.arpa` or `ip6.arpa` name, as asked) to `host`.
    ///
    /// ```
    /// # let _ = |mut req: libevent::dns::ServerRequest| req.add_ptr("1.2.0.192.in-addr.arpa", "host.test", 60);
    /// ```
    pub fn add_ptr(&mut self, name: &str, host: &str, ttl: u32) -> Result<()> {
        const F: &str = "evdns_server_request_add_ptr_reply";
        let raw = self.raw(F)?;
        let (c, h, t) = (
            Self::name(F, name)?,
            Self::name(F, host)?,
            Self::ttl(F, ttl)?,
        );
        // SAFETY: a live request; with a name, libevent ignores the address argument.
        unsafe {
            call!(sys::evdns_server_request_add_ptr_reply(
                raw,
                std::ptr::null_mut(),
                c.as_ptr(),
                h.as_ptr(),
                t
            ))
        }?;
        Ok(())
    }

    /// `evdns_server_request_add_cname_reply`: a CNAME record from `name` to `target`.
    ///
    /// ```
    /// # let _ = |mut req: libevent::dns::ServerRequest| req.add_cname("www.test", "a.test", 60);
    /// ```
    pub fn add_cname(&mut self, name: &str, target: &str, ttl: u32) -> Result<()> {
        const F: &str = "evdns_server_request_add_cname_reply";
        let raw = self.raw(F)?;
        let (c, g, t) = (
            Self::name(F, name)?,
            Self::name(F, target)?,
            Self::ttl(F, ttl)?,
        );
        // SAFETY: a live request; strings copied during the call.
        unsafe {
            call!(sys::evdns_server_request_add_cname_reply(
                raw,
                c.as_ptr(),
                g.as_ptr(),
                t
            ))
        }?;
        Ok(())
    }

    /// `evdns_server_request_add_reply`: any record, with its type, class and raw data
    /// (as it goes on the wire: a TXT record's length-prefixed strings, for example).
    ///
    /// ```
    /// # use libevent::dns::Section;
    /// # let _ = |mut req: libevent::dns::ServerRequest| req.add_reply(Section::Answer, "a.test", 16, 1, 60, b"\x05hello");
    /// ```
    pub fn add_reply(
        &mut self,
        section: Section,
        name: &str,
        rtype: u16,
        class: u16,
        ttl: u32,
        data: &[u8],
    ) -> Result<()> {
        const F: &str = "evdns_server_request_add_reply";
        let raw = self.raw(F)?;
        let (c, t) = (Self::name(F, name)?, Self::ttl(F, ttl)?);
        let len = u16::try_from(data.len())
            .map_err(|_| Error::invalid(F, "record data past 65535 bytes"))?;
        let section = match section {
            Section::Answer => sys::EVDNS_ANSWER_SECTION,
            Section::Authority => sys::EVDNS_AUTHORITY_SECTION,
            Section::Additional => sys::EVDNS_ADDITIONAL_SECTION,
        };
        // SAFETY: a live request; data is readable for len bytes, copied during the call.
        unsafe {
            call!(sys::evdns_server_request_add_reply(
                raw,
                section,
                c.as_ptr(),
                rtype.into(),
                class.into(),
                t,
                len.into(),
                0,
                data.as_ptr() as *const std::ffi::c_char
            ))
        }?;
        Ok(())
    }

    /// `evdns_server_request_respond`: send the reply with `rcode` (0 no error, 2 server
    /// failure, 3 no such name, 5 refused...). After it succeeds the request is spent
    /// (more calls are errors); when the socket cannot take the reply now
    /// ([`ErrorKind::WouldBlock`](crate::ErrorKind::WouldBlock)) it stays yours, to
    /// respond again or drop.
    ///
    /// ```
    /// # let _ = |mut req: libevent::dns::ServerRequest| req.respond(3);
    /// ```
    pub fn respond(&mut self, rcode: u8) -> Result<()> {
        const F: &str = "evdns_server_request_respond";
        let raw = self.raw(F)?;
        if rcode > 15 {
            return Err(Error::invalid(F, "a response code is 4 bits"));
        }
        // SAFETY: a live request. 0: sent, and freed; 1: libevent keeps it to send
        // later; -1: still ours (not sent).
        let r = unsafe { sys::evdns_server_request_respond(raw, rcode.into()) };
        match r {
            0 => {}
            1 => self.port.queued.set(true),
            _ => return Err(Error::last(F)),
        }
        self.finished();
        Ok(())
    }
}

impl Drop for ServerRequest {
    fn drop(&mut self) {
        if let Some(raw) = self.raw.get() {
            // SAFETY: a live request of ours. Its port is not closed while we have it
            // out (closing waits for `outstanding` to be 0), so this frees no port.
            unsafe { sys::evdns_server_request_drop(raw.as_ptr()) };
            self.finished();
        }
    }
}

impl std::fmt::Debug for ServerRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerRequest")
            .field("questions", &self.questions())
            .field("peer", &self.peer())
            .finish()
    }
}
