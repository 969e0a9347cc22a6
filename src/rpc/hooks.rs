//! evrpc's hooks (`evrpc_add_hook` and what goes with it): the program's own code run on
//! each request or reply as it passes, on a server or a pool, which may read and change
//! the HTTP message and the marshalled body, attach metadata, refuse it, or pause it and
//! let it go on later.
//!
//! Lifetimes: a hook's closure is boxed in its server's or pool's core and freed after
//! evrpc no longer knows it (removed, or freed with the core); evrpc walks its hook list
//! while hooks run, so a hook is not removed then (an error). A paused request is held by
//! its [`Resume`], which keeps the core (and so the evrpc object and everything the
//! request uses) alive, and resumes it with [`Verdict::Terminate`] if dropped: a request
//! cannot be forgotten in evrpc's pause list, which would leak it.

use super::{PoolCore, ServerCore};
use crate::base::EventBase;
use crate::buffer::EvBufferRef;
use crate::error::{Error, Result};
use crate::handle::InCallback;
use crate::http::RequestRef;
use crate::panic::{self, Guard};
use libevent_sys as sys;
use std::cell::{Cell, RefCell};
use std::ffi::{c_char, c_int, c_void, CString};
use std::net::{IpAddr, SocketAddr};
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicU64, Ordering};

/// Where a hook runs (`enum EVRPC_HOOK_TYPE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HookPoint {
    /// `EVRPC_INPUT`: on a server, a request that arrived, before it is unmarshalled;
    /// on a pool, a reply that arrived, before it is unmarshalled.
    Input,
    /// `EVRPC_OUTPUT`: on a server, a reply just marshalled, before it is sent; on a
    /// pool, a request just marshalled, before it goes out.
    Output,
}

impl HookPoint {
    fn raw(self) -> sys::EVRPC_HOOK_TYPE {
        match self {
            HookPoint::Input => sys::EVRPC_HOOK_TYPE_EVRPC_INPUT,
            HookPoint::Output => sys::EVRPC_HOOK_TYPE_EVRPC_OUTPUT,
        }
    }
}

/// What a hook (or a [`Resume`]) decides for the request (`enum EVRPC_HOOK_RESULT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// `EVRPC_CONTINUE`: on to the next hook, then on its way.
    Continue,
    /// `EVRPC_TERMINATE`: refuse it. A server answers 503; on a pool, a request refused
    /// on its way out is called back with [`RpcError::Unstarted`](super::RpcError), a
    /// reply refused with [`RpcError::HookAborted`](super::RpcError).
    Terminate,
}

impl Verdict {
    fn raw(self) -> c_int {
        match self {
            Verdict::Continue => sys::EVRPC_HOOK_RESULT_EVRPC_CONTINUE,
            Verdict::Terminate => sys::EVRPC_HOOK_RESULT_EVRPC_TERMINATE,
        }
    }
}

/// A hook added with [`RpcServer::add_hook`](super::RpcServer::add_hook) or
/// [`RpcPool::add_hook`](super::RpcPool::add_hook), to remove it. Never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HookId(u64);

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

type HookFn = Box<dyn FnMut(&mut HookRequest<'_>) -> Verdict>;

/// The server or pool a hook belongs to, held strongly while a hook or a resume runs.
#[derive(Clone)]
pub(super) enum Keep {
    Server(Rc<ServerCore>),
    Pool(Rc<PoolCore>),
}

impl Keep {
    fn hooks(&self) -> &Hooks {
        match self {
            Keep::Server(s) => &s.hooks,
            Keep::Pool(p) => &p.hooks,
        }
    }
    fn base(&self) -> &EventBase {
        match self {
            Keep::Server(s) => &s.base,
            Keep::Pool(p) => &p.base,
        }
    }
    /// evrpc's `void *vbase`: the evrpc base or the pool (each starts with its hooks).
    fn vbase(&self) -> *mut c_void {
        match self {
            Keep::Server(s) => s.raw.as_ptr() as *mut c_void,
            Keep::Pool(p) => p.raw.as_ptr() as *mut c_void,
        }
    }
}

enum Owner {
    Server(Weak<ServerCore>),
    Pool(Weak<PoolCore>),
}

impl Owner {
    fn upgrade(&self) -> Option<Keep> {
        match self {
            Owner::Server(w) => w.upgrade().map(Keep::Server),
            Owner::Pool(w) => w.upgrade().map(Keep::Pool),
        }
    }
}

struct HookBox {
    f: RefCell<HookFn>,
    owner: Owner,
    point: HookPoint,
}

struct Added {
    id: HookId,
    point: HookPoint,
    /// evrpc's handle, for evrpc_remove_hook.
    handle: *mut c_void,
    /// The closure evrpc calls, kept at a fixed address while evrpc knows the hook.
    _hook: Box<HookBox>,
}

/// The program's hooks of one server or pool.
#[derive(Default)]
pub(super) struct Hooks {
    added: RefCell<Vec<Added>>,
    /// Hooks of this server or pool running now (evrpc is walking a hook list).
    running: Cell<u32>,
    /// Requests paused by a hook and not resumed yet.
    pub(super) paused: Cell<u32>,
}

impl Hooks {
    /// `evrpc_add_hook` on `keep`'s evrpc object.
    pub(super) fn add(&self, keep: &Keep, point: HookPoint, f: HookFn) -> Result<HookId> {
        let owner = match keep {
            Keep::Server(s) => Owner::Server(Rc::downgrade(s)),
            Keep::Pool(p) => Owner::Pool(Rc::downgrade(p)),
        };
        let hook = Box::new(HookBox {
            f: RefCell::new(f),
            owner,
            point,
        });
        let arg = &*hook as *const HookBox as *mut c_void;
        // SAFETY: vbase is the live evrpc base or pool; the box lives until evrpc no
        // longer knows the hook (removed, or freed with its object, before the core
        // drops the box).
        let handle =
            unsafe { sys::evrpc_add_hook(keep.vbase(), point.raw(), Some(hook_tramp), arg) };
        if handle.is_null() {
            return Err(Error::os("evrpc_add_hook", libc::ENOMEM));
        }
        let id = HookId(NEXT_ID.fetch_add(1, Ordering::Relaxed));
        self.added.borrow_mut().push(Added {
            id,
            point,
            handle,
            _hook: hook,
        });
        Ok(id)
    }

    /// `evrpc_remove_hook`.
    pub(super) fn remove(&self, vbase: *mut c_void, id: HookId) -> Result<()> {
        const FN: &str = "evrpc_remove_hook";
        if self.running.get() > 0 {
            return Err(Error::invalid(
                FN,
                "a hook is running (evrpc walks the list)",
            ));
        }
        let mut added = self.added.borrow_mut();
        let i = added
            .iter()
            .position(|a| a.id == id)
            .ok_or_else(|| Error::invalid(FN, "no such hook here"))?;
        let a = added.remove(i);
        drop(added);
        // SAFETY: the hook is vbase's (this list's), and no hook list is being walked.
        let r = unsafe { sys::evrpc_remove_hook(vbase, a.point.raw(), a.handle) };
        debug_assert_eq!(r, 1, "evrpc knew the hook");
        drop(a); // the closure, after evrpc let go of it
        Ok(())
    }

    /// After evrpc_free / evrpc_pool_free, which removed every hook: the closures.
    pub(super) fn release(&self) {
        drop(std::mem::take(&mut *self.added.borrow_mut()));
    }
}

/// A request or reply passing through a hook.
pub struct HookRequest<'a> {
    ctx: *mut c_void,
    leaks: *mut sys::evhttp_request,
    http: &'a mut RequestRef,
    body: &'a mut EvBufferRef,
    keep: &'a Keep,
    pause: &'a Cell<Option<Rc<PauseState>>>,
}

impl HookRequest<'_> {
    /// The HTTP message: on a server the request (and, in an output hook, the reply's
    /// headers to send); on a pool the request about to go out, or the response that
    /// came in.
    pub fn http(&mut self) -> &mut RequestRef {
        self.http
    }

    /// The marshalled body: the request's or reply's bytes, which the hook may read or
    /// replace (on input, before they are unmarshalled; on output, before they are sent).
    pub fn body(&mut self) -> &mut EvBufferRef {
        self.body
    }

    /// `evrpc_hook_add_meta`: attach `value` to this request under `key`, for the hooks
    /// that see it after (a server's output hooks, its handler through
    /// [`RpcCall::meta`](super::RpcCall::meta); a pool's input hooks on its reply).
    /// Metadata stays on this side: nothing of it is sent. A key with a NUL is an error.
    pub fn add_meta(&mut self, key: &str, value: &[u8]) -> Result<()> {
        let k = CString::new(key)
            .map_err(|_| Error::invalid("evrpc_hook_add_meta", "NUL in the key"))?;
        // SAFETY: ctx is evrpc's request state for this hook call (both kinds start with
        // the metadata list evrpc_hook_add_meta uses); the value is copied.
        unsafe {
            sys::evrpc_hook_add_meta(self.ctx, k.as_ptr(), value.as_ptr().cast(), value.len())
        };
        Ok(())
    }

    /// `evrpc_hook_find_meta`: the value first attached under `key`, if any.
    pub fn meta(&self, key: &str) -> Option<&[u8]> {
        // SAFETY: ctx is live for the hook call, which the borrow of self spans.
        unsafe { find_meta(self.ctx, key) }
    }

    /// `evrpc_hook_get_connection`: the other end of the HTTP connection the request
    /// travels on (a server's client, a pool's server).
    pub fn peer(&self) -> Option<SocketAddr> {
        // SAFETY: ctx is live for the call; the connection, when set, too.
        unsafe {
            let conn = sys::evrpc_hook_get_connection(self.ctx);
            if conn.is_null() {
                return None;
            }
            let mut addr: *mut c_char = std::ptr::null_mut();
            let mut port = 0u16;
            sys::evhttp_connection_get_peer(conn, &mut addr, &mut port);
            let ip: IpAddr = crate::http::str_from(addr)?.parse().ok()?;
            Some(SocketAddr::new(ip, port))
        }
    }

    /// Pauses the request (`EVRPC_PAUSE`): evrpc holds it when the hook returns (the
    /// hook's own verdict is then not used) until the returned [`Resume`] lets it go on.
    /// Resumed before the hook returns, the request goes on at once with that verdict;
    /// dropped at any point, it is terminated. Asked twice in one call, the second is
    /// the same pause.
    pub fn pause(&mut self) -> Resume {
        let state = match self.pause.take() {
            Some(s) => s,
            None => Rc::new(PauseState {
                phase: Cell::new(Phase::InHook),
                ctx: self.ctx,
                leaks: self.leaks,
                keep: self.keep.clone(),
            }),
        };
        self.pause.set(Some(state.clone()));
        Resume { state: Some(state) }
    }
}

impl std::fmt::Debug for HookRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HookRequest")
            .field("uri", &self.http.uri())
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// `evrpc_hook_find_meta` on a request state.
///
/// # Safety
/// `ctx` must be a live evrpc request state (server or pool), live for `'a`.
pub(super) unsafe fn find_meta<'a>(ctx: *mut c_void, key: &str) -> Option<&'a [u8]> {
    let k = CString::new(key).ok()?;
    let mut data: *mut c_void = std::ptr::null_mut();
    let mut len = 0usize;
    // SAFETY: per the caller; the value is owned by the state's metadata list, which
    // only grows (and is freed with the state).
    unsafe {
        if sys::evrpc_hook_find_meta(ctx, k.as_ptr(), &mut data, &mut len) != 0 {
            return None;
        }
        Some(if len == 0 || data.is_null() {
            &[]
        } else {
            std::slice::from_raw_parts(data as *const u8, len)
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    /// Taken inside the hook, which is still running.
    InHook,
    /// Resumed (or dropped) before the hook returned: the hook answers this.
    Decided(Verdict),
    /// evrpc holds the request: `evrpc_resume_request` lets it go on.
    Armed,
    /// Resumed.
    Done,
}

struct PauseState {
    phase: Cell<Phase>,
    ctx: *mut c_void,
    /// What evrpc leaks when the request is terminated (see [`leaked_on_terminate`]).
    leaks: *mut sys::evhttp_request,
    /// The server or pool: alive as long as the request may be resumed.
    keep: Keep,
}

/// A request a hook paused ([`HookRequest::pause`]): [`resume`](Self::resume) lets it go
/// on, from any later callback or outside the loop; dropped unresumed, it is terminated.
/// It keeps its server or pool alive.
pub struct Resume {
    /// Taken by `resume`; what `Drop` finds is not resumed yet.
    state: Option<Rc<PauseState>>,
}

impl Resume {
    /// `evrpc_resume_request`: the request goes on (or is refused) with `verdict`, now:
    /// the rest of evrpc's work on it (the next hooks, the handler, the send, the
    /// reply's callback) runs inside this call, and a panic of it comes out of it.
    pub fn resume(mut self, verdict: Verdict) {
        if let Some(state) = self.state.take() {
            finish(state, verdict);
        }
    }
}

impl Drop for Resume {
    fn drop(&mut self) {
        if let Some(state) = self.state.take() {
            finish(state, Verdict::Terminate);
        }
    }
}

impl std::fmt::Debug for Resume {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resume")
            .field("phase", &self.state.as_ref().map(|s| s.phase.get()))
            .finish()
    }
}

fn finish(state: Rc<PauseState>, verdict: Verdict) {
    match state.phase.get() {
        Phase::InHook => state.phase.set(Phase::Decided(verdict)),
        Phase::Armed => {
            state.phase.set(Phase::Done);
            let keep = state.keep.clone(); // alive across the call, whatever it drops
            let hooks = keep.hooks();
            hooks.paused.set(hooks.paused.get() - 1);
            let r = panic::sync(|| {
                // SAFETY: the request is in vbase's pause list (armed, and resumed only
                // here, once); keep holds the evrpc object alive across the call.
                unsafe { sys::evrpc_resume_request(keep.vbase(), state.ctx, verdict.raw()) }
            });
            debug_assert_eq!(r, 0, "evrpc held the paused request");
            if verdict == Verdict::Terminate && !state.leaks.is_null() {
                // SAFETY: the request evrpc made for this call and dropped on the error
                // path it just took; nothing of evrpc's refers to it any more.
                unsafe { sys::evhttp_request_free(state.leaks) };
            }
        }
        Phase::Decided(_) | Phase::Done => {}
    }
}

unsafe extern "C" fn hook_tramp(
    ctx: *mut c_void,
    req: *mut sys::evhttp_request,
    body: *mut sys::evbuffer,
    arg: *mut c_void,
) -> c_int {
    let _cb = InCallback::enter();
    // SAFETY: arg is a HookBox, freed only once evrpc no longer calls this hook (removed,
    // which is refused while hooks run, or freed with its object).
    let hook = unsafe { &*(arg as *const HookBox) };
    let Some(keep) = hook.owner.upgrade() else {
        return Verdict::Terminate.raw();
    };
    if req.is_null() || body.is_null() {
        return Verdict::Continue.raw();
    }
    let hooks = keep.hooks();
    hooks.running.set(hooks.running.get() + 1);
    let pause = Cell::new(None);
    let leaks = leaked_on_terminate(&keep, hook.point, req);
    let verdict = match hook.f.try_borrow_mut() {
        Ok(mut f) => panic::wrap(Guard::Loop(keep.base().as_raw()), || {
            // SAFETY: evrpc's request and body for this call, used by nothing else while
            // the hook runs.
            let (http, body) = unsafe { (RequestRef::from_raw(req), EvBufferRef::from_raw(body)) };
            let mut r = HookRequest {
                ctx,
                leaks,
                http,
                body,
                keep: &keep,
                pause: &pause,
            };
            f(&mut r)
        }),
        // The same hook, re-entered (a request it sent itself): refused.
        Err(_) => None,
    };
    hooks.running.set(hooks.running.get() - 1);
    let verdict = match pause.take().map(|s| (s.phase.get(), s)) {
        Some((Phase::InHook, state)) => {
            state.phase.set(Phase::Armed);
            hooks.paused.set(hooks.paused.get() + 1);
            return sys::EVRPC_HOOK_RESULT_EVRPC_PAUSE;
        }
        Some((Phase::Decided(v), _)) => v,
        _ => verdict.unwrap_or(Verdict::Terminate),
    };
    if verdict == Verdict::Terminate && !leaks.is_null() {
        // SAFETY: see leaked_on_terminate: evrpc's error path after this hook does not
        // use the request (or its buffer) again, and does not free it.
        unsafe { sys::evhttp_request_free(leaks) };
    }
    verdict.raw()
}

/// The request evrpc 2.1 leaks when a pool's output hook terminates it: the error paths
/// of `evrpc_schedule_request` and `evrpc_schedule_request_closure` call back and free
/// their state, but not the `evhttp_request` they made, which is not on any connection
/// yet. This crate frees it itself, after evrpc is done with it (null: nothing leaks).
fn leaked_on_terminate(
    keep: &Keep,
    point: HookPoint,
    req: *mut sys::evhttp_request,
) -> *mut sys::evhttp_request {
    match (keep, point) {
        (Keep::Pool(_), HookPoint::Output) => req,
        _ => std::ptr::null_mut(),
    }
}
