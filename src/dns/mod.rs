//! `struct evdns_base`: asynchronous name resolution on the loop (`event2/dns.h`).

use crate::base::EventBase;
pub use crate::error::DnsError;
use crate::error::{call, Error, Result};
use crate::handle::InCallback;
use crate::panic::{self, Guard};
use crate::util::sockaddr::{sockaddr_from, sockaddr_to};
use libevent_sys as sys;
use std::cell::{Cell, RefCell};
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::ptr::NonNull;
use std::rc::Rc;

mod server;

pub use server::{DnsServer, Question, Section, ServerRequest};

crate::util::flag_type! {
    /// `EVDNS_FLAGS_*`, the header flags of a [`DnsServer`]'s reply
    /// ([`ServerRequest::set_flags`]).
    ///
    /// ```
    /// use libevent::dns::ServerFlags;
    /// assert!(ServerFlags::AUTHORITATIVE.contains(ServerFlags::AUTHORITATIVE));
    /// ```
    ServerFlags: i32 {
        /// `EVDNS_FLAGS_AA`: an authoritative answer.
        AUTHORITATIVE = sys::EVDNS_FLAGS_AA;
        /// `EVDNS_FLAGS_RD`: recursion desired, echoed.
        RECURSION_DESIRED = sys::EVDNS_FLAGS_RD;
        /// The header's TC bit (RFC 1035; no libevent name): the answer was truncated,
        /// ask again over TCP. libevent passes any header flag through.
        TRUNCATED = 0x0200;
    }
}

/// Which addresses [`DnsBase::getaddrinfo`] asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Family {
    /// A and AAAA.
    #[default]
    Any,
    /// A only.
    V4,
    /// AAAA only.
    V6,
}

impl Family {
    pub(crate) fn to_c(self) -> c_int {
        match self {
            Family::Any => libc::AF_UNSPEC,
            Family::V4 => libc::AF_INET,
            Family::V6 => libc::AF_INET6,
        }
    }
}

/// The C base and what keeps it: freed when the last `DnsBase` clone, pending request
/// and connection using it are gone.
struct DnsCore {
    raw: NonNull<sys::evdns_base>,
    base: EventBase,
    /// Made here (freed here), or C's (`DnsBase::from_raw_borrowed`).
    owned: bool,
}

impl Drop for DnsCore {
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        let raw = self.raw;
        // Always on the loop's next pass: libevent defers the callbacks of lookups it
        // cancels (a bufferevent or evhttp connection freed mid-lookup cancels its own),
        // and those still use the DNS base. The closure holds no `EventBase`: if the base
        // goes first, it runs this before freeing itself.
        let free = Box::new(move || {
            // SAFETY: ours, freed once, with no lookup of ours pending (each holds the
            // core until its callback) and libevent's deferred ones run.
            unsafe { sys::evdns_base_free(raw.as_ptr(), 0) }
        });
        if self.base.defer(free).is_err() {
            log::error!("a DNS base is leaked: no event to free it");
        }
    }
}

/// A DNS resolver (`struct evdns_base`) on an event base; a cheap handle (clones share
/// one). Lookups are asynchronous: their callbacks run on the loop.
///
/// ```no_run
/// use libevent::{DnsBase, EventBase};
/// use libevent::dns::Family;
/// let base = EventBase::new()?;
/// let dns = DnsBase::from_system(&base)?; // /etc/resolv.conf and /etc/hosts
/// let _lookup = dns.getaddrinfo("example.org", 443, Family::Any, |r| match r {
///     Ok(addrs) => println!("{addrs:?}"),
///     Err(e) => eprintln!("{e}"),
/// })?;
/// base.dispatch()?;
/// # Ok::<(), libevent::Error>(())
/// ```
#[derive(Clone)]
pub struct DnsBase {
    core: Rc<DnsCore>,
}

impl DnsBase {
    fn make(base: &EventBase, flags: c_int) -> Result<DnsBase> {
        // SAFETY: base is live; the DNS base is ours to free.
        let raw = unsafe { call!(sys::evdns_base_new(base.as_raw(), flags)) }?;
        Ok(DnsBase {
            core: Rc::new(DnsCore {
                raw,
                base: base.clone(),
                owned: true,
            }),
        })
    }

    /// A handle on a DNS base that C made and frees (a C program's resolver, used from
    /// Rust); never freed from Rust.
    ///
    /// # Safety
    /// `raw` must be a live `struct evdns_base` on `base`, alive as long as this handle,
    /// its clones, and every lookup and connection made with it (until their callbacks).
    pub unsafe fn from_raw_borrowed(
        base: &EventBase,
        raw: *mut sys::evdns_base,
    ) -> Result<DnsBase> {
        let raw = NonNull::new(raw)
            .ok_or_else(|| Error::invalid("DnsBase::from_raw_borrowed", "null evdns_base"))?;
        Ok(DnsBase {
            core: Rc::new(DnsCore {
                raw,
                base: base.clone(),
                owned: false,
            }),
        })
    }

    /// `evdns_base_new` with no name server: add them with
    /// [`add_nameserver`](Self::add_nameserver) (or read a file with
    /// [`resolv_conf`](Self::resolv_conf)).
    ///
    /// ```
    /// # use libevent::*;
    /// let base = EventBase::new()?;
    /// let dns = DnsBase::new(&base)?;
    /// dns.add_nameserver("127.0.0.1:5353".parse().unwrap())?;
    /// assert_eq!(dns.nameservers(), 1);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn new(base: &EventBase) -> Result<DnsBase> {
        Self::make(base, 0)
    }

    /// `evdns_base_new(EVDNS_BASE_INITIALIZE_NAMESERVERS)`: the system's configuration
    /// (`/etc/resolv.conf`, and `/etc/hosts` for lookups).
    pub fn from_system(base: &EventBase) -> Result<DnsBase> {
        Self::make(base, sys::EVDNS_BASE_INITIALIZE_NAMESERVERS)
    }

    /// `evdns_base_resolv_conf_parse(DNS_OPTIONS_ALL)`: name servers, search domains,
    /// options and the hosts file as a resolv.conf at `path` says.
    pub fn resolv_conf(&self, path: &Path) -> Result<()> {
        let p = path_c("evdns_base_resolv_conf_parse", path)?;
        let all = sys::DNS_OPTION_SEARCH
            | sys::DNS_OPTION_NAMESERVERS
            | sys::DNS_OPTION_MISC
            | sys::DNS_OPTION_HOSTSFILE;
        // SAFETY: the DNS base is live; the path is read during the call.
        let r = unsafe { sys::evdns_base_resolv_conf_parse(self.as_raw(), all, p.as_ptr()) };
        match r {
            0 => Ok(()),
            1 => Err(Error::invalid(
                "evdns_base_resolv_conf_parse",
                "cannot open the file",
            )),
            2 => Err(Error::invalid(
                "evdns_base_resolv_conf_parse",
                "cannot read the file",
            )),
            3 => Err(Error::invalid(
                "evdns_base_resolv_conf_parse",
                "the file is too large",
            )),
            5 => Err(Error::invalid(
                "evdns_base_resolv_conf_parse",
                "no name server in the file",
            )),
            _ => Err(Error::invalid(
                "evdns_base_resolv_conf_parse",
                "out of memory",
            )),
        }
    }

    /// `evdns_base_nameserver_sockaddr_add`: one more name server (UDP, and TCP for
    /// nothing: libevent 2.1 speaks UDP only).
    pub fn add_nameserver(&self, addr: SocketAddr) -> Result<()> {
        let (storage, len) = sockaddr_from(addr);
        // SAFETY: the DNS base is live; storage holds `len` bytes, copied.
        unsafe {
            call!(sys::evdns_base_nameserver_sockaddr_add(
                self.as_raw(),
                &storage as *const _ as *const libc::sockaddr,
                len,
                0
            ))
        }?;
        Ok(())
    }

    /// `evdns_base_count_nameservers`.
    pub fn nameservers(&self) -> usize {
        // SAFETY: the DNS base is live.
        let n = unsafe { sys::evdns_base_count_nameservers(self.as_raw()) };
        usize::try_from(n).unwrap_or(0)
    }

    /// `evdns_base_get_nameserver_addr` for each name server, in order.
    ///
    /// ```
    /// # use libevent::*;
    /// let base = EventBase::new()?;
    /// let dns = DnsBase::new(&base)?;
    /// dns.add_nameserver("127.0.0.1:5353".parse().unwrap())?;
    /// dns.add_nameserver("[::1]:53".parse().unwrap())?;
    /// assert_eq!(dns.nameserver_addrs(), ["127.0.0.1:5353".parse().unwrap(), "[::1]:53".parse().unwrap()]);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn nameserver_addrs(&self) -> Vec<SocketAddr> {
        (0..self.nameservers())
            .filter_map(|i| {
                // SAFETY: all-zero is a valid sockaddr_storage.
                let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
                let len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
                // SAFETY: the DNS base is live; ss has room for len bytes.
                let n = unsafe {
                    sys::evdns_base_get_nameserver_addr(
                        self.as_raw(),
                        i as c_int,
                        &mut ss as *mut _ as *mut libc::sockaddr,
                        len,
                    )
                };
                if n <= 0 {
                    return None;
                }
                // SAFETY: libevent wrote n bytes of a sockaddr.
                unsafe { sockaddr_to(&ss as *const _ as *const libc::sockaddr, n) }
            })
            .collect()
    }

    /// `evdns_base_clear_nameservers_and_suspend`: forget every name server and hold
    /// new and in-flight lookups until [`resume`](Self::resume) (add servers between).
    ///
    /// ```
    /// # use libevent::*;
    /// let base = EventBase::new()?;
    /// let dns = DnsBase::new(&base)?;
    /// dns.add_nameserver("127.0.0.1:5353".parse().unwrap())?;
    /// dns.clear_nameservers_and_suspend()?;
    /// assert_eq!(dns.nameservers(), 0);
    /// dns.add_nameserver("127.0.0.1:5354".parse().unwrap())?;
    /// dns.resume()?;
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn clear_nameservers_and_suspend(&self) -> Result<()> {
        // Lookups held are re-sent on resume; callbacks run from the loop.
        // SAFETY: the DNS base is live.
        unsafe { call!(sys::evdns_base_clear_nameservers_and_suspend(self.as_raw())) }?;
        Ok(())
    }

    /// `evdns_base_resume`: send the lookups held since
    /// [`clear_nameservers_and_suspend`](Self::clear_nameservers_and_suspend).
    pub fn resume(&self) -> Result<()> {
        // SAFETY: the DNS base is live. Sending runs no lookup callback before it returns
        // (a failure to send is retried from the loop).
        unsafe { call!(sys::evdns_base_resume(self.as_raw())) }?;
        Ok(())
    }

    /// `evdns_base_clear_host_addresses`: forget the names the hosts file gave
    /// ([`load_hosts`](Self::load_hosts)).
    ///
    /// ```
    /// # use libevent::*;
    /// let base = EventBase::new()?;
    /// let dns = DnsBase::new(&base)?;
    /// dns.clear_hosts();
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn clear_hosts(&self) {
        // SAFETY: the DNS base is live.
        unsafe { sys::evdns_base_clear_host_addresses(self.as_raw()) }
    }

    /// `evdns_base_search_add`: a domain to try names with fewer dots than `ndots` in.
    pub fn add_search(&self, domain: &str) -> Result<()> {
        let d = text("evdns_base_search_add", domain)?;
        // SAFETY: the DNS base is live; the string is copied.
        unsafe { sys::evdns_base_search_add(self.as_raw(), d.as_ptr()) };
        Ok(())
    }

    /// `evdns_base_search_clear`.
    pub fn clear_search(&self) {
        // SAFETY: the DNS base is live.
        unsafe { sys::evdns_base_search_clear(self.as_raw()) }
    }

    /// `evdns_base_search_ndots_set`.
    pub fn set_ndots(&self, ndots: u32) {
        let n = c_int::try_from(ndots).unwrap_or(c_int::MAX);
        // SAFETY: the DNS base is live.
        unsafe { sys::evdns_base_search_ndots_set(self.as_raw(), n) }
    }

    /// `evdns_base_set_option`: resolv.conf's options by name, with or without the colon
    /// (`timeout`, `attempts`, `ndots`, `max-timeouts`, `max-inflight`,
    /// `initial-probe-timeout`, `randomize-case`, `getaddrinfo-allow-skew`, `bind-to`,
    /// `so-rcvbuf`, `so-sndbuf`); a name libevent does not know is refused (libevent
    /// itself would ignore it silently), and so is a value it cannot parse.
    ///
    /// ```
    /// # use libevent::*;
    /// # let dns = DnsBase::new(&EventBase::new()?)?;
    /// dns.set_option("timeout", "0.5")?;
    /// dns.set_option("attempts:", "2")?;
    /// assert!(dns.set_option("no-such-option", "1").is_err());
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn set_option(&self, name: &str, value: &str) -> Result<()> {
        let name = if name.ends_with(':') {
            name.to_owned()
        } else {
            format!("{name}:")
        };
        // libevent ignores a name it does not know (and reports success): refuse it here.
        if !OPTIONS.contains(&name.as_str()) {
            return Err(Error::invalid("evdns_base_set_option", "unknown option"));
        }
        let n = text("evdns_base_set_option", &name)?;
        let v = text("evdns_base_set_option", value)?;
        // SAFETY: the DNS base is live; the strings are read during the call.
        let r = unsafe { sys::evdns_base_set_option(self.as_raw(), n.as_ptr(), v.as_ptr()) };
        if r != 0 {
            return Err(Error::invalid(
                "evdns_base_set_option",
                "unknown option or bad value",
            ));
        }
        Ok(())
    }

    /// `evdns_base_load_hosts`: names from a hosts file, answered without asking a server.
    pub fn load_hosts(&self, path: &Path) -> Result<()> {
        let p = path_c("evdns_base_load_hosts", path)?;
        // SAFETY: the DNS base is live; the path is read during the call.
        unsafe { call!(sys::evdns_base_load_hosts(self.as_raw(), p.as_ptr())) }
            .map_err(|_| Error::invalid("evdns_base_load_hosts", "cannot read the hosts file"))?;
        Ok(())
    }

    /// `evdns_getaddrinfo`: the addresses of `host` (a name or a numeric address) with
    /// `port`, to `done` on the loop. Dropping the returned [`Lookup`] before then
    /// cancels it, and `done` is not called. A numeric host, or a name in the hosts
    /// file, is answered before this returns (`done` runs inside the call).
    pub fn getaddrinfo<F>(&self, host: &str, port: u16, family: Family, done: F) -> Result<Lookup>
    where
        F: FnOnce(Result<Vec<SocketAddr>>) + 'static,
    {
        let h = text("evdns_getaddrinfo", host)?;
        let service = CString::new(port.to_string()).expect("digits");
        // SAFETY: all-zero is a valid addrinfo (no flags, no pointers).
        let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
        hints.ai_family = family.to_c();
        hints.ai_socktype = libc::SOCK_STREAM;
        hints.ai_protocol = libc::IPPROTO_TCP;
        hints.ai_flags = sys::EVUTIL_AI_NUMERICSERV;
        let (pending, arg) = self.pending(Box::new(done));
        // SAFETY: the DNS base is live; the strings and hints are read during the call;
        // arg is a counted reference that the callback (called exactly once, also on
        // cancel and on a synchronous answer) takes back.
        let req = unsafe {
            sys::evdns_getaddrinfo(
                self.as_raw(),
                h.as_ptr(),
                service.as_ptr(),
                &hints,
                Some(addrinfo_tramp),
                arg,
            )
        };
        Ok(Lookup {
            req: if pending.finished.get() {
                std::ptr::null_mut()
            } else {
                req
            },
            pending,
        })
    }

    /// [`getaddrinfo`](Self::getaddrinfo) as a future: the addresses of `host` (A and
    /// AAAA) with `port`. Dropping it before it completes cancels the lookup.
    ///
    /// ```
    /// # use libevent::*;
    /// let base = EventBase::new()?;
    /// let dns = DnsBase::new(&base)?;
    /// let addrs = base.block_on(dns.resolve("127.0.0.1", 80))??;
    /// assert_eq!(addrs, ["127.0.0.1:80".parse().unwrap()]);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn resolve(&self, host: &str, port: u16) -> Resolve {
        let answer = crate::task::Oneshot::new();
        let a = answer.clone();
        let lookup = match self.getaddrinfo(host, port, Family::Any, move |r| a.send(r)) {
            Ok(l) => Some(l),
            Err(e) => {
                answer.send(Err(e));
                None
            }
        };
        Resolve { lookup, answer }
    }

    /// `evdns_base_resolve_ipv4`: the A records of `name`, with their TTL, to `done` on
    /// the loop (what `getaddrinfo` leaves out: the raw answer and how long it may be
    /// kept); dropping the [`DnsRequest`] first cancels it.
    ///
    /// ```no_run
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// # let dns = DnsBase::from_system(&base)?;
    /// let _q = dns.resolve_ipv4("example.org", |r| match r {
    ///     Ok(a) => println!("{:?} for {:?}", a.addrs, a.ttl),
    ///     Err(e) => eprintln!("{e}"),
    /// })?;
    /// base.dispatch()?;
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn resolve_ipv4<F>(&self, name: &str, done: F) -> Result<DnsRequest<Answer>>
    where
        F: FnOnce(Result<Answer>) + 'static,
    {
        self.resolve_addrs(
            "evdns_base_resolve_ipv4",
            name,
            Box::new(done),
            sys::evdns_base_resolve_ipv4,
        )
    }

    /// `evdns_base_resolve_ipv6`: as [`resolve_ipv4`](Self::resolve_ipv4), AAAA records.
    pub fn resolve_ipv6<F>(&self, name: &str, done: F) -> Result<DnsRequest<Answer>>
    where
        F: FnOnce(Result<Answer>) + 'static,
    {
        self.resolve_addrs(
            "evdns_base_resolve_ipv6",
            name,
            Box::new(done),
            sys::evdns_base_resolve_ipv6,
        )
    }

    fn resolve_addrs(
        &self,
        function: &'static str,
        name: &str,
        done: DoneFn<Answer>,
        start: unsafe extern "C" fn(
            *mut sys::evdns_base,
            *const c_char,
            c_int,
            sys::evdns_callback_type,
            *mut c_void,
        ) -> *mut sys::evdns_request,
    ) -> Result<DnsRequest<Answer>> {
        let c = CString::new(name).map_err(|_| Error::invalid(function, "NUL in the name"))?;
        let (pending, arg) = self.pending(done);
        // SAFETY: the DNS base is live; the name is copied; arg as in getaddrinfo (the
        // callback runs exactly once, on cancel too; maybe before this returns).
        let req = unsafe { start(self.as_raw(), c.as_ptr(), 0, Some(answer_tramp), arg) };
        if req.is_null() {
            if pending.finished.get() {
                // Answered inside the call (a failure it could tell at once).
                return Ok(DnsRequest { req, pending });
            }
            // SAFETY: the reference given to C above, never used by C.
            unsafe { drop(Rc::from_raw(arg as *const Pending<Answer>)) };
            return Err(Error::invalid(function, "the request could not be made"));
        }
        Ok(DnsRequest { req, pending })
    }

    /// `evdns_base_resolve_reverse` (and `_ipv6`): the name of `ip` (a PTR lookup), to
    /// `done` on the loop; dropping the [`ReverseLookup`] first cancels it.
    pub fn resolve_reverse<F>(&self, ip: IpAddr, done: F) -> Result<ReverseLookup>
    where
        F: FnOnce(Result<String>) + 'static,
    {
        let (pending, arg) = self.pending(Box::new(done));
        // SAFETY: the DNS base is live; the address is read during the call; arg as in
        // getaddrinfo (the callback runs exactly once, on cancel too).
        let req = unsafe {
            match ip {
                IpAddr::V4(v4) => {
                    let a = libc::in_addr {
                        s_addr: u32::from(v4).to_be(),
                    };
                    sys::evdns_base_resolve_reverse(self.as_raw(), &a, 0, Some(reverse_tramp), arg)
                }
                IpAddr::V6(v6) => {
                    let a = libc::in6_addr {
                        s6_addr: v6.octets(),
                    };
                    sys::evdns_base_resolve_reverse_ipv6(
                        self.as_raw(),
                        &a,
                        0,
                        Some(reverse_tramp),
                        arg,
                    )
                }
            }
        };
        if req.is_null() {
            // Not started: no callback will come.
            // SAFETY: the reference given to C above, never used by C.
            unsafe { drop(Rc::from_raw(arg as *const Pending<String>)) };
            return Err(Error::invalid(
                "evdns_base_resolve_reverse",
                "the request could not be made",
            ));
        }
        Ok(DnsRequest { req, pending })
    }

    /// A lookup's context, and C's counted reference to it (taken back by the callback).
    fn pending<T>(&self, done: DoneFn<T>) -> (Rc<Pending<T>>, *mut c_void) {
        let pending = Rc::new(Pending {
            done: RefCell::new(Some(done)),
            finished: Cell::new(false),
            dns: self.core.clone(),
        });
        let arg = Rc::into_raw(pending.clone()) as *mut c_void;
        (pending, arg)
    }

    /// The raw `struct evdns_base *`, still owned by the handle.
    pub fn as_raw(&self) -> *mut sys::evdns_base {
        self.core.raw.as_ptr()
    }
}

impl std::fmt::Debug for DnsBase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsBase")
            .field("nameservers", &self.nameservers())
            .finish()
    }
}

/// The options `evdns_base_set_option` knows in libevent 2.1.
const OPTIONS: [&str; 11] = [
    "ndots:",
    "timeout:",
    "getaddrinfo-allow-skew:",
    "max-timeouts:",
    "max-inflight:",
    "attempts:",
    "randomize-case:",
    "bind-to:",
    "initial-probe-timeout:",
    "so-rcvbuf:",
    "so-sndbuf:",
];

fn text(function: &'static str, s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::invalid(function, "NUL in a string"))
}

fn path_c(function: &'static str, p: &Path) -> Result<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(p.as_os_str().as_bytes()).map_err(|_| Error::invalid(function, "NUL in a path"))
}

type DoneFn<T> = Box<dyn FnOnce(Result<T>)>;

/// A lookup in flight: what C's `void *arg` points at.
struct Pending<T> {
    done: RefCell<Option<DoneFn<T>>>,
    /// libevent has called back (the request is freed).
    finished: Cell<bool>,
    /// The DNS base stays until every callback has come.
    dns: Rc<DnsCore>,
}

/// Runs a lookup's callback once: takes C's reference back, and `done` if not cancelled.
///
/// # Safety
/// `arg` is the `Rc::into_raw` of a `Pending<T>` given to C, called back once.
unsafe fn finish<T>(arg: *mut c_void, result: impl FnOnce() -> Result<T>) {
    let _cb = InCallback::enter();
    // SAFETY: per the caller: adopt the reference C held.
    let pending: Rc<Pending<T>> = unsafe { Rc::from_raw(arg as *const Pending<T>) };
    pending.finished.set(true);
    let done = pending.done.borrow_mut().take();
    if let Some(done) = done {
        panic::wrap(Guard::Loop(pending.dns.base.as_raw()), || done(result()));
    }
}

extern "C" fn addrinfo_tramp(result: c_int, res: *mut libc::addrinfo, arg: *mut c_void) {
    let collect = || {
        if result != 0 {
            return Err(Error::dns(DnsError::from_eai(result)));
        }
        let mut out = Vec::new();
        let mut ai = res;
        while !ai.is_null() {
            // SAFETY: a list libevent made; each entry and its address are live until
            // freed below.
            unsafe {
                if let Some(a) = sockaddr_to((*ai).ai_addr, (*ai).ai_addrlen as i32) {
                    if !out.contains(&a) {
                        out.push(a);
                    }
                }
                ai = (*ai).ai_next;
            }
        }
        Ok(out)
    };
    // SAFETY: arg is the getaddrinfo Pending; this callback comes exactly once.
    unsafe { finish::<Vec<SocketAddr>>(arg, collect) };
    if !res.is_null() {
        // SAFETY: the list is ours to free, once.
        unsafe { sys::evutil_freeaddrinfo(res) };
    }
}

extern "C" fn reverse_tramp(
    result: c_int,
    kind: c_char,
    count: c_int,
    _ttl: c_int,
    addresses: *mut c_void,
    arg: *mut c_void,
) {
    let name = || {
        if result != sys::DNS_ERR_NONE {
            return Err(Error::dns(DnsError::from_dns_err(result)));
        }
        if i32::from(kind) != sys::DNS_PTR || count < 1 || addresses.is_null() {
            return Err(Error::dns(DnsError::NoData));
        }
        // SAFETY: for DNS_PTR, addresses is the name, a C string live for the call.
        let s = unsafe { CStr::from_ptr(*(addresses as *const *const c_char)) };
        Ok(s.to_string_lossy().into_owned())
    };
    // SAFETY: arg is the reverse Pending; this callback comes exactly once.
    unsafe { finish::<String>(arg, name) };
}

extern "C" fn answer_tramp(
    result: c_int,
    kind: c_char,
    count: c_int,
    ttl: c_int,
    addresses: *mut c_void,
    arg: *mut c_void,
) {
    let answer = || {
        if result != sys::DNS_ERR_NONE {
            return Err(Error::dns(DnsError::from_dns_err(result)));
        }
        let n = usize::try_from(count).unwrap_or(0);
        if n == 0 || addresses.is_null() {
            return Err(Error::dns(DnsError::NoData));
        }
        // SAFETY: for DNS_IPv4_A, `count` 4-byte addresses; for DNS_IPv6_AAAA, 16-byte
        // ones; live for the call.
        let addrs = unsafe {
            match i32::from(kind) {
                sys::DNS_IPv4_A => std::slice::from_raw_parts(addresses as *const [u8; 4], n)
                    .iter()
                    .map(|a| IpAddr::from(*a))
                    .collect(),
                sys::DNS_IPv6_AAAA => std::slice::from_raw_parts(addresses as *const [u8; 16], n)
                    .iter()
                    .map(|a| IpAddr::from(*a))
                    .collect(),
                _ => return Err(Error::dns(DnsError::NoData)),
            }
        };
        let ttl = std::time::Duration::from_secs(u64::try_from(ttl).unwrap_or(0));
        Ok(Answer { addrs, ttl })
    };
    // SAFETY: arg is the answer's Pending; this callback comes exactly once.
    unsafe { finish::<Answer>(arg, answer) };
}

/// [`DnsBase::resolve`]: the addresses, when awaited; dropping it cancels the lookup.
pub struct Resolve {
    lookup: Option<Lookup>,
    answer: Rc<crate::task::Oneshot<Result<Vec<SocketAddr>>>>,
}

impl std::future::Future for Resolve {
    type Output = Result<Vec<SocketAddr>>;
    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        self.answer.poll(cx)
    }
}

impl std::fmt::Debug for Resolve {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolve")
            .field("lookup", &self.lookup)
            .finish()
    }
}

/// A [`DnsBase::getaddrinfo`] in flight; dropping it cancels the lookup (its callback is
/// then not called).
pub struct Lookup {
    req: *mut sys::evdns_getaddrinfo_request,
    pending: Rc<Pending<Vec<SocketAddr>>>,
}

impl Lookup {
    /// True once the callback has run (or the lookup was answered at once).
    pub fn is_done(&self) -> bool {
        self.pending.finished.get()
    }
}

impl Drop for Lookup {
    fn drop(&mut self) {
        if self.pending.finished.get() || self.req.is_null() {
            return;
        }
        // Never call the closure now; libevent still calls back (with EAI_CANCEL), which
        // releases its reference.
        let done = self.pending.done.borrow_mut().take();
        drop(done);
        // SAFETY: the request is live (its callback has not come).
        unsafe { sys::evdns_getaddrinfo_cancel(self.req) };
    }
}

impl std::fmt::Debug for Lookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lookup")
            .field("done", &self.is_done())
            .finish()
    }
}

/// An evdns request in flight ([`DnsBase::resolve_reverse`], [`DnsBase::resolve_ipv4`],
/// [`DnsBase::resolve_ipv6`]); dropping it before its callback cancels the lookup (the
/// callback is then never called).
pub struct DnsRequest<T> {
    req: *mut sys::evdns_request,
    pending: Rc<Pending<T>>,
}

/// A [`DnsBase::resolve_reverse`] in flight.
pub type ReverseLookup = DnsRequest<String>;

/// What [`DnsBase::resolve_ipv4`] and [`DnsBase::resolve_ipv6`] answer: the addresses
/// and the time they may be kept (the smallest TTL of the records, as libevent gives it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The addresses, in the answer's order.
    pub addrs: Vec<IpAddr>,
    /// How long the answer may be kept.
    pub ttl: std::time::Duration,
}

impl<T> DnsRequest<T> {
    /// True once the callback has run.
    pub fn is_done(&self) -> bool {
        self.pending.finished.get()
    }
}

impl<T> Drop for DnsRequest<T> {
    fn drop(&mut self) {
        if self.pending.finished.get() || self.req.is_null() {
            return;
        }
        let done = self.pending.done.borrow_mut().take();
        drop(done);
        // SAFETY: the request is live (its callback has not come); the base too (the
        // pending lookup holds it).
        unsafe { sys::evdns_cancel_request(self.pending.dns.raw.as_ptr(), self.req) };
    }
}

impl<T> std::fmt::Debug for DnsRequest<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsRequest")
            .field("done", &self.is_done())
            .finish()
    }
}
