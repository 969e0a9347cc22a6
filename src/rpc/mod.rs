//! `event2/rpc.h`: evrpc, remote calls over HTTP `POST /.rpc.NAME` with tagged-data
//! bodies ([`tag`](crate::tag)), served by an [`RpcServer`] on an [`Http`] and made from
//! an [`RpcPool`] of connections.
//!
//! A message is any type that marshals itself with the tag functions
//! ([`Message`]); written field by field with the tags an `.rpc` file gives, it is the
//! same on the wire as the C structs upstream's `event_rpcgen.py` generates, so a Rust
//! server answers C clients and the reverse.
//!
//! Lifetimes: a call handed to a handler ([`RpcCall`]) keeps its server's evrpc base
//! (evrpc frees a registration's functions when it is unregistered, and a pending call
//! still uses them), and an RPC cannot be unregistered while one of its calls is out. A
//! pool's requests keep the pool: dropped with requests out, it lives until each is
//! called back (with its reply, or an error: one second without a timeout of its own),
//! since evrpc would drop those in flight without a word and leak what it keeps of them.
//!
//! ```
//! use libevent::buffer::EvBufferRef;
//! use libevent::rpc::{Message, RpcPool, RpcServer};
//! use libevent::{tag, EventBase, Http, LoopFlags, Result};
//!
//! struct Add { a: u32, b: u32 }
//! struct Sum(u32);
//! impl Message for Add {
//!     fn marshal(&self, buf: &mut EvBufferRef) {
//!         tag::marshal_int(buf, 1, self.a).unwrap();
//!         tag::marshal_int(buf, 2, self.b).unwrap();
//!     }
//!     fn unmarshal(buf: &mut EvBufferRef) -> Result<Self> {
//!         Ok(Add { a: tag::unmarshal_int(buf, 1)?, b: tag::unmarshal_int(buf, 2)? })
//!     }
//! }
//! impl Message for Sum {
//!     fn marshal(&self, buf: &mut EvBufferRef) { tag::marshal_int(buf, 1, self.0).unwrap() }
//!     fn unmarshal(buf: &mut EvBufferRef) -> Result<Self> { Ok(Sum(tag::unmarshal_int(buf, 1)?)) }
//! }
//!
//! let base = EventBase::new()?;
//! let http = Http::new(&base)?;
//! let addr = http.bind("127.0.0.1:0".parse().unwrap())?.local_addr().unwrap();
//! let server = RpcServer::new(&http)?;
//! server.register("Add", |call: libevent::rpc::RpcCall<Add, Sum>| {
//!     let s = call.request().a + call.request().b;
//!     call.respond(Sum(s));
//! })?;
//! let pool = RpcPool::new(&base)?;
//! pool.add_connection(addr)?;
//! let got = std::rc::Rc::new(std::cell::Cell::new(None));
//! let g = got.clone();
//! pool.send("Add", Add { a: 2, b: 40 }, move |r: Result<Sum>| g.set(Some(r.map(|s| s.0))))?;
//! while got.take().map(|r| assert_eq!(r.unwrap(), 42)).is_none() {
//!     base.run(LoopFlags::ONCE)?;
//! }
//! # Ok::<(), libevent::Error>(())
//! ```

mod hooks;

pub use hooks::{HookId, HookPoint, HookRequest, Resume, Verdict};

use crate::base::EventBase;
use crate::buffer::EvBufferRef;
use crate::error::{call, Error, Result};
use crate::handle::InCallback;
use crate::http::Http;
use crate::panic::{self, Guard};
use libevent_sys as sys;
use std::cell::{Cell, RefCell};
use std::ffi::{c_int, c_void, CString};
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::ptr::NonNull;
use std::rc::{Rc, Weak};
use std::time::Duration;

/// A request or a reply evrpc carries, marshalled with the [`tag`](crate::tag)
/// functions.
pub trait Message: Sized + 'static {
    /// Appends the message to `buf`.
    fn marshal(&self, buf: &mut EvBufferRef);
    /// Reads the message from all of `buf`; an error rejects the call (the server
    /// answers 503, a client gets [`RpcError::BadPayload`]).
    fn unmarshal(buf: &mut EvBufferRef) -> Result<Self>;
    /// Whether every required field is set (evrpc's `complete`; a reply that is not is
    /// not sent). `true` unless overridden.
    fn complete(&self) -> bool {
        true
    }
}

pub use crate::error::RpcError;

/// A box of one of this module's types, with the function that frees it.
type Owned = (*mut c_void, unsafe fn(*mut c_void));

// ---- a message's slot: `Option<M>` boxed, as evrpc's `void *` ----

unsafe extern "C" fn slot_new<M>(_arg: *mut c_void) -> *mut c_void {
    Box::into_raw(Box::new(None::<M>)) as *mut c_void
}

unsafe extern "C" fn slot_free<M>(p: *mut c_void) {
    // SAFETY: made by slot_new::<M>, freed once by evrpc.
    drop(unsafe { Box::from_raw(p as *mut Option<M>) });
}

unsafe extern "C" fn slot_clear<M>(p: *mut c_void) {
    // SAFETY: a slot of ours, not borrowed elsewhere during the call.
    unsafe { *(p as *mut Option<M>) = None };
}

unsafe extern "C" fn slot_unmarshal<M: Message>(p: *mut c_void, buf: *mut sys::evbuffer) -> c_int {
    // SAFETY: p is a slot of ours; buf is evrpc's, live and not otherwise used during
    // the call.
    let (slot, buf) = unsafe { (&mut *(p as *mut Option<M>), EvBufferRef::from_raw(buf)) };
    match panic::wrap(Guard::Contain("an RPC message's unmarshal"), || {
        M::unmarshal(buf)
    }) {
        Some(Ok(m)) => {
            *slot = Some(m);
            0
        }
        _ => -1,
    }
}

unsafe extern "C" fn slot_marshal<M: Message>(buf: *mut sys::evbuffer, p: *mut c_void) {
    // SAFETY: as in slot_unmarshal.
    let (slot, buf) = unsafe { (&*(p as *const Option<M>), EvBufferRef::from_raw(buf)) };
    if let Some(m) = slot {
        panic::wrap(Guard::Contain("an RPC message's marshal"), || {
            m.marshal(buf)
        });
    }
}

unsafe extern "C" fn slot_complete<M: Message>(p: *mut c_void) -> c_int {
    // SAFETY: a slot of ours.
    let slot = unsafe { &*(p as *const Option<M>) };
    let ok = slot.as_ref().map(|m| {
        panic::wrap(Guard::Contain("an RPC message's complete"), || m.complete()) == Some(true)
    });
    if ok == Some(true) {
        0
    } else {
        -1
    }
}

// ---- the server ----

struct ServerCore {
    raw: NonNull<sys::evrpc_base>,
    /// Keeps the HTTP server (evrpc unregisters its paths from it) until evrpc_free.
    http: RefCell<Option<Http>>,
    base: EventBase,
    /// Per registered name: its calls out (a name with calls out is not unregistered).
    out: RefCell<Vec<(String, usize)>>,
    /// Handler boxes and how to free them, freed after evrpc_free.
    handlers: RefCell<Vec<Owned>>,
    /// The program's hooks, freed after evrpc_free.
    hooks: hooks::Hooks,
}

impl ServerCore {
    fn count(&self, name: &str, delta: isize) {
        if let Some(e) = self.out.borrow_mut().iter_mut().find(|(n, _)| n == name) {
            e.1 = (e.1 as isize + delta).max(0) as usize;
        }
    }
}

impl Drop for ServerCore {
    fn drop(&mut self) {
        let raw = self.raw;
        let http = self.http.borrow_mut().take();
        let handlers = std::mem::take(&mut *self.handlers.borrow_mut());
        let hooks = std::mem::take(&mut self.hooks);
        let free = move || {
            // SAFETY: made by evrpc_init, freed once, with no call of it out and none
            // paused (each holds this core); it unregisters every RPC from the HTTP
            // server, which `http` keeps alive until after, and removes every hook.
            unsafe { sys::evrpc_free(raw.as_ptr()) };
            hooks.release();
            drop(http);
            for (p, f) in handlers {
                // SAFETY: each box once, after evrpc no longer knows it.
                unsafe { f(p) };
            }
        };
        if InCallback::active() {
            // Inside an HTTP callback evhttp may still use the paths evrpc_free removes.
            if self.base.defer(Box::new(free)).is_err() {
                log::error!("an RPC server is leaked: no event to free it");
            }
        } else {
            free();
        }
    }
}

/// An evrpc server (`evrpc_init`) on an [`Http`] server: each registered RPC `NAME`
/// answers `POST /.rpc.NAME`.
pub struct RpcServer {
    core: Rc<ServerCore>,
}

struct Handler<Req, Rep, F> {
    f: RefCell<F>,
    core: Weak<ServerCore>,
    name: Rc<str>,
    _m: PhantomData<fn(Req) -> Rep>,
}

unsafe fn free_handler<Req, Rep, F>(p: *mut c_void) {
    // SAFETY: made by register::<Req, Rep, F>, freed once.
    drop(unsafe { Box::from_raw(p as *mut Handler<Req, Rep, F>) });
}

extern "C" fn call_tramp<Req, Rep, F>(req: *mut sys::evrpc_req_generic, arg: *mut c_void)
where
    Req: Message,
    Rep: Message,
    F: FnMut(RpcCall<Req, Rep>) + 'static,
{
    let _cb = InCallback::enter();
    // SAFETY: arg is the Handler, freed only after evrpc_free, which ends all calls.
    let h = unsafe { &*(arg as *const Handler<Req, Rep, F>) };
    let Some(core) = h.core.upgrade() else {
        // SAFETY: a live request state: answered (503, no reply) and freed.
        unsafe { sys::evrpc_request_done(req) };
        return;
    };
    core.count(&h.name, 1);
    let Some(raw) = NonNull::new(req) else {
        return;
    };
    let call = RpcCall {
        raw: Cell::new(Some(raw)),
        core: core.clone(),
        name: h.name.clone(),
        _m: PhantomData,
    };
    let base = core.base.as_raw();
    match h.f.try_borrow_mut() {
        Ok(mut f) => {
            panic::wrap(Guard::Loop(base), || f(call));
        }
        Err(_) => drop(call), // the handler is running (a nested loop): 503
    }
}

impl RpcServer {
    /// `evrpc_init`: RPCs on `http`'s paths.
    pub fn new(http: &Http) -> Result<RpcServer> {
        // SAFETY: the server is live (kept alive by the core until evrpc_free).
        let raw = unsafe { call!(sys::evrpc_init(http.as_raw())) }?;
        Ok(RpcServer {
            core: Rc::new(ServerCore {
                raw,
                http: RefCell::new(Some(http.clone_handle())),
                base: http.base().clone(),
                out: RefCell::new(Vec::new()),
                handlers: RefCell::new(Vec::new()),
                hooks: hooks::Hooks::default(),
            }),
        })
    }

    /// `evrpc_register_generic`: answer RPC `name` with `f`, which gets each call and
    /// [`respond`](RpcCall::respond)s to it, then or later. A request that does not
    /// unmarshal as `Req` is answered 503 without reaching `f`.
    pub fn register<Req, Rep, F>(&self, name: &str, f: F) -> Result<()>
    where
        Req: Message,
        Rep: Message,
        F: FnMut(RpcCall<Req, Rep>) + 'static,
    {
        const FN: &str = "evrpc_register_generic";
        let c = CString::new(name).map_err(|_| Error::invalid(FN, "NUL in the name"))?;
        if self.core.out.borrow().iter().any(|(n, _)| n == name) {
            return Err(Error::invalid(FN, "an RPC of that name is registered"));
        }
        let h = Box::into_raw(Box::new(Handler::<Req, Rep, F> {
            f: RefCell::new(f),
            core: Rc::downgrade(&self.core),
            name: name.into(),
            _m: PhantomData,
        })) as *mut c_void;
        // SAFETY: the evrpc base is live; every function matches its slot type; the
        // handler box lives until after evrpc_free.
        let r = unsafe {
            call!(sys::evrpc_register_generic(
                self.core.raw.as_ptr(),
                c.as_ptr(),
                Some(call_tramp::<Req, Rep, F>),
                h,
                Some(slot_new::<Req>),
                std::ptr::null_mut(),
                Some(slot_free::<Req>),
                Some(slot_unmarshal::<Req>),
                Some(slot_new::<Rep>),
                std::ptr::null_mut(),
                Some(slot_free::<Rep>),
                Some(slot_complete::<Rep>),
                Some(slot_marshal::<Rep>)
            ))
        };
        match r {
            Ok(_) => {
                self.core.out.borrow_mut().push((name.to_owned(), 0));
                self.core
                    .handlers
                    .borrow_mut()
                    .push((h, free_handler::<Req, Rep, F>));
                Ok(())
            }
            Err(e) => {
                // SAFETY: evrpc did not take it.
                unsafe { free_handler::<Req, Rep, F>(h) };
                Err(e)
            }
        }
    }

    /// `evrpc_unregister_rpc`: stop answering `name` (its path answers 404 again). An
    /// error while one of its calls is out (evrpc frees what a pending call uses).
    pub fn unregister(&self, name: &str) -> Result<()> {
        const FN: &str = "evrpc_unregister_rpc";
        let i = self
            .core
            .out
            .borrow()
            .iter()
            .position(|(n, _)| n == name)
            .ok_or_else(|| Error::invalid(FN, "no RPC of that name"))?;
        if self.core.out.borrow()[i].1 > 0 {
            return Err(Error::invalid(FN, "a call of it is still out"));
        }
        if self.core.hooks.paused.get() > 0 {
            // A paused request does not say which RPC it is for; evrpc frees what it uses.
            return Err(Error::invalid(FN, "a hook holds a request paused"));
        }
        let c = CString::new(name).map_err(|_| Error::invalid(FN, "NUL in the name"))?;
        // SAFETY: the evrpc base is live; the handler box stays until the core goes.
        unsafe {
            call!(sys::evrpc_unregister_rpc(
                self.core.raw.as_ptr(),
                c.as_ptr()
            ))
        }?;
        self.core.out.borrow_mut().remove(i);
        Ok(())
    }

    /// `evrpc_add_hook`: run `f` on every request as it arrives ([`HookPoint::Input`],
    /// before it is unmarshalled) or every reply as it leaves ([`HookPoint::Output`],
    /// marshalled, before it is sent), in the order added. `f` may read and change the
    /// HTTP message and the body, attach metadata for the handler
    /// ([`RpcCall::meta`]), refuse the request ([`Verdict::Terminate`]: 503) or
    /// [pause](HookRequest::pause) it.
    ///
    /// ```
    /// # use libevent::rpc::*;
    /// # use libevent::{Http, EventBase};
    /// # let base = EventBase::new()?;
    /// # let http = Http::new(&base)?;
    /// let server = RpcServer::new(&http)?;
    /// // Only callers that say who they are.
    /// server.add_hook(HookPoint::Input, |r| {
    ///     match r.http().input_headers().get("X-Caller").map(str::to_owned) {
    ///         Some(who) => {
    ///             r.add_meta("caller", who.as_bytes()).unwrap();
    ///             Verdict::Continue
    ///         }
    ///         None => Verdict::Terminate,
    ///     }
    /// })?;
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn add_hook<F>(&self, point: HookPoint, f: F) -> Result<HookId>
    where
        F: FnMut(&mut HookRequest<'_>) -> Verdict + 'static,
    {
        let keep = hooks::Keep::Server(self.core.clone());
        self.core.hooks.add(&keep, point, Box::new(f))
    }

    /// `evrpc_remove_hook`: an error for an id of another server, one removed, or while
    /// a hook of this server runs (evrpc is walking its list).
    pub fn remove_hook(&self, id: HookId) -> Result<()> {
        self.core
            .hooks
            .remove(self.core.raw.as_ptr() as *mut c_void, id)
    }

    /// The raw `struct evrpc_base *`.
    pub fn as_raw(&self) -> *mut sys::evrpc_base {
        self.core.raw.as_ptr()
    }
}

impl std::fmt::Debug for RpcServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcServer")
            .field("rpcs", &self.core.out.borrow())
            .finish()
    }
}

/// One call of a registered RPC (`struct evrpc_req_generic`): its request, and the reply
/// owed. Dropping it unanswered answers 503.
pub struct RpcCall<Req, Rep> {
    raw: Cell<Option<NonNull<sys::evrpc_req_generic>>>,
    core: Rc<ServerCore>,
    name: Rc<str>,
    _m: PhantomData<fn(Req) -> Rep>,
}

impl<Req: Message, Rep: Message> RpcCall<Req, Rep> {
    /// `evrpc_get_request`: the request, unmarshalled.
    pub fn request(&self) -> &Req {
        let raw = self
            .raw
            .get()
            .expect("a call is answered only by consuming it");
        // SAFETY: a live call; its request slot was filled by slot_unmarshal (evrpc
        // calls the handler only then) and is not changed while the call is out.
        let slot = unsafe { &*(sys::evrpc_get_request(raw.as_ptr()) as *const Option<Req>) };
        slot.as_ref()
            .expect("evrpc calls handlers with an unmarshalled request")
    }

    /// `evrpc_hook_find_meta`: what a hook attached to this call under `key`
    /// ([`HookRequest::add_meta`]).
    pub fn meta(&self, key: &str) -> Option<&[u8]> {
        let raw = self
            .raw
            .get()
            .expect("a call is answered only by consuming it");
        // SAFETY: a live call, alive as long as self (the borrow).
        unsafe { hooks::find_meta(raw.as_ptr() as *mut c_void, key) }
    }

    /// `evrpc_get_reply` and `evrpc_request_done`: answer with `reply` (503 instead if
    /// it is not [`complete`](Message::complete)). The server's output hooks run inside
    /// this call.
    pub fn respond(self, reply: Rep) {
        if let Some(raw) = self.raw.get() {
            // SAFETY: a live call; its reply slot is ours until evrpc_request_done.
            unsafe { *(sys::evrpc_get_reply(raw.as_ptr()) as *mut Option<Rep>) = Some(reply) };
        }
        drop(self); // request_done in Drop
    }
}

impl<Req, Rep> Drop for RpcCall<Req, Rep> {
    fn drop(&mut self) {
        if let Some(raw) = self.raw.take() {
            // Marshals the reply (503 when there is none), runs the output hooks, sends it
            // (or leaves it paused by a hook), frees the state.
            // SAFETY: a live call, answered once.
            panic::sync(|| unsafe { sys::evrpc_request_done(raw.as_ptr()) });
            self.core.count(&self.name, -1);
        }
    }
}

impl<Req, Rep> std::fmt::Debug for RpcCall<Req, Rep> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcCall")
            .field("rpc", &&*self.name)
            .finish()
    }
}

// ---- the client ----

struct PoolCore {
    raw: NonNull<sys::evrpc_pool>,
    /// The timeout set, in seconds (0: none).
    timeout: Cell<i32>,
    base: EventBase,
    conns: RefCell<Vec<(SocketAddr, *mut sys::evhttp_connection)>>,
    /// Requests sent and not called back: (their box, how to free it).
    pending: RefCell<Vec<Owned>>,
    /// The program's hooks, freed after evrpc_pool_free.
    hooks: hooks::Hooks,
}

impl Drop for PoolCore {
    fn drop(&mut self) {
        let raw = self.raw;
        let pending = std::mem::take(&mut *self.pending.borrow_mut());
        let hooks = std::mem::take(&mut self.hooks);
        let free = move || {
            // SAFETY: made by evrpc_pool_new, freed once: its queued requests and its
            // connections (with what they carry) go without calling back.
            unsafe { sys::evrpc_pool_free(raw.as_ptr()) };
            hooks.release();
            for (p, f) in pending {
                // SAFETY: each request box once, after evrpc let go of it.
                unsafe { f(p) };
            }
        };
        if InCallback::active() {
            // A request's callback runs inside evrpc's reply handling of this pool.
            if self.base.defer(Box::new(free)).is_err() {
                log::error!("an RPC pool is leaked: no event to free it");
            }
        } else {
            free();
        }
    }
}

/// A pool of connections RPCs are made on (`evrpc_pool_new`); each request goes out on
/// an idle connection, or waits for one.
pub struct RpcPool {
    core: Rc<PoolCore>,
}

struct Sent<Req, Rep, F> {
    req: Option<Req>,
    rep: Option<Rep>,
    done: Option<F>,
    /// Strong: a pool dropped with requests out lives until the last is called back
    /// (evrpc_pool_free would lose the ones in flight, and leak what evrpc keeps of them).
    core: Rc<PoolCore>,
}

unsafe fn free_sent<Req, Rep, F>(p: *mut c_void) {
    // SAFETY: made by send::<Req, Rep, F>, freed once.
    drop(unsafe { Box::from_raw(p as *mut Sent<Req, Rep, F>) });
}

extern "C" fn sent_tramp<Req, Rep, F>(
    status: *mut sys::evrpc_status,
    _req: *mut c_void,
    _rep: *mut c_void,
    arg: *mut c_void,
) where
    Req: Message,
    Rep: Message,
    F: FnOnce(Result<Rep>) + 'static,
{
    let _cb = InCallback::enter();
    // SAFETY: arg is the Sent box, listed in its pool until here; evrpc calls this once.
    let mut sent = unsafe { Box::from_raw(arg as *mut Sent<Req, Rep, F>) };
    let core = sent.core.clone();
    core.pending.borrow_mut().retain(|(p, _)| *p != arg);
    let error = if status.is_null() {
        sys::EVRPC_STATUS_ERR_UNSTARTED
    } else {
        // SAFETY: evrpc's status for this call, live during it.
        unsafe { (*status).error }
    };
    let result = match error {
        sys::EVRPC_STATUS_ERR_NONE => sent.rep.take().ok_or(RpcError::BadPayload),
        sys::EVRPC_STATUS_ERR_TIMEOUT => Err(RpcError::Timeout),
        sys::EVRPC_STATUS_ERR_HOOKABORTED => Err(RpcError::HookAborted),
        sys::EVRPC_STATUS_ERR_UNSTARTED => Err(RpcError::Unstarted),
        _ => Err(RpcError::BadPayload),
    };
    let Some(done) = sent.done.take() else {
        return;
    };
    let result = result.map_err(Error::rpc);
    panic::wrap(Guard::Loop(core.base.as_raw()), || done(result));
    // The box, then maybe the pool (this was its last request), go here.
}

/// The pool's output hook: a `Host` header naming the server, which evrpc does not send
/// and HTTP/1.1 requires (a strict server, this crate's default, refuses a request
/// without one). evrpc does not tell a hook which connection the request takes; the
/// header names the pool's first connection's address (all of them, as a rule, go to
/// one server).
unsafe extern "C" fn host_hook(
    _ctx: *mut c_void,
    req: *mut sys::evhttp_request,
    _body: *mut sys::evbuffer,
    arg: *mut c_void,
) -> c_int {
    // SAFETY: arg is the pool's core: the hook is removed (evrpc_pool_free) before the
    // core goes.
    let core = unsafe { &*(arg as *const PoolCore) };
    let Some(addr) = core.conns.borrow().first().map(|(a, _)| *a) else {
        return sys::EVRPC_HOOK_RESULT_EVRPC_CONTINUE;
    };
    let host = CString::new(addr.to_string()).expect("an address has no NUL");
    // SAFETY: evrpc's request about to go out, live for the call.
    unsafe {
        let out = sys::evhttp_request_get_output_headers(req);
        if !out.is_null() && sys::evhttp_find_header(out, c"Host".as_ptr()).is_null() {
            sys::evhttp_add_header(out, c"Host".as_ptr(), host.as_ptr());
        }
    }
    sys::EVRPC_HOOK_RESULT_EVRPC_CONTINUE
}

impl RpcPool {
    /// `evrpc_pool_new` on `base`, with no connection yet. Its requests carry a `Host`
    /// header (an output hook, `evrpc_add_hook`): HTTP/1.1 requires one, and evrpc sends
    /// none.
    pub fn new(base: &EventBase) -> Result<RpcPool> {
        // SAFETY: base is live (kept by the core).
        let raw = unsafe { call!(sys::evrpc_pool_new(base.as_raw())) }?;
        let core = Rc::new(PoolCore {
            raw,
            timeout: Cell::new(0),
            base: base.clone(),
            conns: RefCell::new(Vec::new()),
            pending: RefCell::new(Vec::new()),
            hooks: hooks::Hooks::default(),
        });
        // SAFETY: a pool starts with its hook lists (evrpc's `vbase`); the hook's
        // argument is the core, which outlives the hook (removed by evrpc_pool_free).
        let hook = unsafe {
            sys::evrpc_add_hook(
                raw.as_ptr() as *mut c_void,
                sys::EVRPC_HOOK_TYPE_EVRPC_OUTPUT,
                Some(host_hook),
                Rc::as_ptr(&core) as *mut c_void,
            )
        };
        if hook.is_null() {
            return Err(Error::os("evrpc_add_hook", libc::ENOMEM));
        }
        Ok(RpcPool { core })
    }

    /// `evrpc_pool_add_connection`: a connection to `addr` (made now, connected when
    /// first used), which the pool owns.
    pub fn add_connection(&self, addr: SocketAddr) -> Result<()> {
        let ip = CString::new(addr.ip().to_string()).expect("an IP has no NUL");
        // evrpc asserts that a connection it is given has no base yet (it gives it the
        // pool's), and libevent 2.1 cannot make a connection's bufferevent without one:
        // so the bufferevent is made on the pool's base, and the connection without.
        // SAFETY: base live; the bufferevent goes to the connection, which frees it.
        let bev = unsafe { call!(sys::bufferevent_socket_new(self.core.base.as_raw(), -1, 0)) }?;
        // SAFETY: bev is ours to give; the connection goes to the pool, which frees it.
        let conn = match unsafe {
            call!(sys::evhttp_connection_base_bufferevent_new(
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                bev.as_ptr(),
                ip.as_ptr(),
                addr.port()
            ))
        } {
            Ok(c) => c,
            Err(e) => {
                // SAFETY: not taken.
                unsafe { sys::bufferevent_free(bev.as_ptr()) };
                return Err(e);
            }
        };
        // SAFETY: both live; the pool owns the connection from here.
        unsafe { sys::evrpc_pool_add_connection(self.core.raw.as_ptr(), conn.as_ptr()) };
        self.core.conns.borrow_mut().push((addr, conn.as_ptr()));
        Ok(())
    }

    /// `evrpc_pool_remove_connection`: drop the connection to `addr`. An error while a
    /// request of the pool is out (evrpc would lose it without calling back).
    pub fn remove_connection(&self, addr: SocketAddr) -> Result<()> {
        const FN: &str = "evrpc_pool_remove_connection";
        if !self.core.pending.borrow().is_empty() {
            return Err(Error::invalid(FN, "a request of the pool is still out"));
        }
        let i = self
            .core
            .conns
            .borrow()
            .iter()
            .position(|(a, _)| *a == addr)
            .ok_or_else(|| Error::invalid(FN, "no connection to that address"))?;
        let (_, conn) = self.core.conns.borrow_mut().remove(i);
        // SAFETY: the pool's connection, idle (no request is out); ours again after.
        unsafe {
            sys::evrpc_pool_remove_connection(self.core.raw.as_ptr(), conn);
            sys::evhttp_connection_free(conn);
        }
        Ok(())
    }

    /// `evrpc_pool_set_timeout`: how long a request may wait for its reply (whole
    /// seconds, rounded up; evrpc's unit), on every connection of the pool.
    pub fn set_timeout(&self, timeout: Duration) {
        let secs = timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0);
        let secs = i32::try_from(secs).unwrap_or(i32::MAX);
        // SAFETY: the pool is live.
        unsafe { sys::evrpc_pool_set_timeout(self.core.raw.as_ptr(), secs) };
        self.core.timeout.set(secs);
    }

    /// `evrpc_send_request_generic`: call RPC `name` with `req`; `done` gets the reply
    /// (or why there is none), once, on the loop. An error if the pool has no
    /// connection (evrpc would abort).
    pub fn send<Req, Rep, F>(&self, name: &str, req: Req, done: F) -> Result<()>
    where
        Req: Message,
        Rep: Message,
        F: FnOnce(Result<Rep>) + 'static,
    {
        const FN: &str = "evrpc_send_request_generic";
        if self.core.conns.borrow().is_empty() {
            return Err(Error::invalid(FN, "the pool has no connection"));
        }
        let c = CString::new(name).map_err(|_| Error::invalid(FN, "NUL in the name"))?;
        let sent = Box::into_raw(Box::new(Sent::<Req, Rep, F> {
            req: Some(req),
            rep: None,
            done: Some(done),
            core: self.core.clone(),
        }));
        // SAFETY: the slots live in the box, which lives until its callback (or the
        // pool's drop).
        let (reqp, repp) = unsafe {
            (
                &mut (*sent).req as *mut Option<Req> as *mut c_void,
                &mut (*sent).rep as *mut Option<Rep> as *mut c_void,
            )
        };
        self.core
            .pending
            .borrow_mut()
            .push((sent as *mut c_void, free_sent::<Req, Rep, F>));
        // SAFETY: the pool is live; every function matches its slot type. On a failure
        // evrpc calls back at once (UNSTARTED), which frees the box. The output hooks
        // run inside the call when a connection is idle.
        let r = panic::sync(|| unsafe {
            sys::evrpc_send_request_generic(
                self.core.raw.as_ptr(),
                reqp,
                repp,
                Some(sent_tramp::<Req, Rep, F>),
                sent as *mut c_void,
                c.as_ptr(),
                Some(slot_marshal::<Req>),
                Some(slot_clear::<Rep>),
                Some(slot_unmarshal::<Rep>),
            )
        });
        if r < 0 {
            return Err(Error::rpc(RpcError::Unstarted));
        }
        Ok(())
    }

    /// `evrpc_add_hook`: run `f` on every request as it leaves ([`HookPoint::Output`],
    /// marshalled, before it is sent; after the pool's own `Host` hook) or every reply
    /// as it arrives ([`HookPoint::Input`], before it is unmarshalled), in the order
    /// added. Refused on the way out ([`Verdict::Terminate`]), a request is called back
    /// with [`RpcError::Unstarted`]; a reply refused, with [`RpcError::HookAborted`]. A
    /// request [paused](HookRequest::pause) keeps the pool until it is resumed.
    pub fn add_hook<F>(&self, point: HookPoint, f: F) -> Result<HookId>
    where
        F: FnMut(&mut HookRequest<'_>) -> Verdict + 'static,
    {
        let keep = hooks::Keep::Pool(self.core.clone());
        self.core.hooks.add(&keep, point, Box::new(f))
    }

    /// `evrpc_remove_hook`: as [`RpcServer::remove_hook`].
    pub fn remove_hook(&self, id: HookId) -> Result<()> {
        self.core
            .hooks
            .remove(self.core.raw.as_ptr() as *mut c_void, id)
    }

    /// The raw `struct evrpc_pool *`.
    pub fn as_raw(&self) -> *mut sys::evrpc_pool {
        self.core.raw.as_ptr()
    }
}

impl Drop for RpcPool {
    fn drop(&mut self) {
        // The requests out keep the pool until they are called back; with no timeout, a
        // server that never answers would keep it for good: give them one second.
        if !self.core.pending.borrow().is_empty() && self.core.timeout.get() == 0 {
            // SAFETY: the pool is live.
            unsafe { sys::evrpc_pool_set_timeout(self.core.raw.as_ptr(), 1) };
            self.core.timeout.set(1);
        }
    }
}

impl std::fmt::Debug for RpcPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcPool")
            .field("connections", &self.core.conns.borrow().len())
            .field("pending", &self.core.pending.borrow().len())
            .finish()
    }
}
