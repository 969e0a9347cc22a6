//! libcurl's multi-socket interface driven by libevent events from Rust, in the way of
//! curl's `hiperfifo` example: curl says which sockets to watch for what
//! (`CURLMOPT_SOCKETFUNCTION`) and when to wake it (`CURLMOPT_TIMERFUNCTION`); each
//! becomes an [`Event`] on the base, whose callback hands the readiness back
//! (`curl_multi_socket_action`) and collects the transfers that finished.

use libevent::event::Flags;
use libevent::{Event, EventBase};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_long, c_void, CStr, CString};
use std::os::fd::RawFd;
use std::rc::{Rc, Weak};
use std::time::Duration;

#[repr(C)]
struct Curl {
    _private: [u8; 0],
}
#[repr(C)]
struct CurlM {
    _private: [u8; 0],
}

#[repr(C)]
struct CurlMsg {
    msg: c_int,
    easy: *mut Curl,
    /// A union of `void *` and `CURLcode`: the code is its first `int`.
    data: MsgData,
}

#[repr(C)]
union MsgData {
    whatever: *mut c_void,
    result: c_int,
}

// curl.h and multi.h: option numbers are a type base plus an index.
const CURLOPT_WRITEDATA: c_int = 10_001;
const CURLOPT_URL: c_int = 10_002;
const CURLOPT_WRITEFUNCTION: c_int = 20_011;
const CURLOPT_NOSIGNAL: c_int = 99;
const CURLOPT_PRIVATE: c_int = 10_103;
const CURLOPT_TIMEOUT_MS: c_int = 155;
const CURLINFO_RESPONSE_CODE: c_int = 0x20_0000 + 2;
const CURLINFO_PRIVATE: c_int = 0x10_0000 + 21;
const CURLMOPT_SOCKETFUNCTION: c_int = 20_001;
const CURLMOPT_SOCKETDATA: c_int = 10_002;
const CURLMOPT_TIMERFUNCTION: c_int = 20_004;
const CURLMOPT_TIMERDATA: c_int = 10_005;
const CURL_POLL_IN: c_int = 1;
const CURL_POLL_OUT: c_int = 2;
const CURL_POLL_REMOVE: c_int = 4;
const CURL_CSELECT_IN: c_int = 1;
const CURL_CSELECT_OUT: c_int = 2;
const CURL_SOCKET_TIMEOUT: RawFd = -1;
const CURLMSG_DONE: c_int = 1;
const CURL_GLOBAL_DEFAULT: c_long = 3;

type SocketFn = extern "C" fn(*mut Curl, RawFd, c_int, *mut c_void, *mut c_void) -> c_int;
type TimerFn = extern "C" fn(*mut CurlM, c_long, *mut c_void) -> c_int;
type WriteFn = extern "C" fn(*const c_char, usize, usize, *mut c_void) -> usize;

#[link(name = "curl")]
extern "C" {
    fn curl_global_init(flags: c_long) -> c_int;
    fn curl_easy_init() -> *mut Curl;
    fn curl_easy_setopt(easy: *mut Curl, option: c_int, ...) -> c_int;
    fn curl_easy_getinfo(easy: *mut Curl, info: c_int, ...) -> c_int;
    fn curl_easy_cleanup(easy: *mut Curl);
    fn curl_easy_strerror(code: c_int) -> *const c_char;
    fn curl_multi_init() -> *mut CurlM;
    fn curl_multi_setopt(multi: *mut CurlM, option: c_int, ...) -> c_int;
    fn curl_multi_add_handle(multi: *mut CurlM, easy: *mut Curl) -> c_int;
    fn curl_multi_remove_handle(multi: *mut CurlM, easy: *mut Curl) -> c_int;
    fn curl_multi_socket_action(
        multi: *mut CurlM,
        s: RawFd,
        ev_bitmask: c_int,
        running: *mut c_int,
    ) -> c_int;
    fn curl_multi_info_read(multi: *mut CurlM, left: *mut c_int) -> *mut CurlMsg;
    fn curl_multi_cleanup(multi: *mut CurlM) -> c_int;
}

/// A finished transfer: the status and the body, or curl's error.
pub type Outcome = Result<(u16, Vec<u8>), String>;

type Done = Box<dyn FnOnce(Outcome)>;

struct Transfer {
    easy: *mut Curl,
    /// Where the write callback appends: its address is CURLOPT_WRITEDATA, so the Vec
    /// itself is boxed (the Transfer moves in its map).
    #[allow(clippy::box_collection)]
    body: Box<Vec<u8>>,
    _url: CString,
    done: Option<Done>,
}

struct Inner {
    base: EventBase,
    multi: *mut CurlM,
    me: Weak<Inner>,
    timer: RefCell<Option<Event>>,
    sockets: RefCell<HashMap<RawFd, Event>>,
    transfers: RefCell<HashMap<usize, Transfer>>,
    next: Cell<usize>,
    /// Set by Multi's drop (maybe inside a transfer's callback): the handle is gone.
    closed: Cell<bool>,
}

/// A curl multi handle on an event base.
pub struct Multi {
    inner: Rc<Inner>,
}

/// A transfer started by [`Multi::get`], to [`cancel`](Multi::cancel) it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TransferId(usize);

extern "C" fn write_cb(data: *const c_char, size: usize, n: usize, user: *mut c_void) -> usize {
    let len = size * n;
    // SAFETY: user is the transfer's body Vec (boxed, alive until the easy handle is
    // cleaned up); curl hands len readable bytes.
    unsafe {
        let body = &mut *(user as *mut Vec<u8>);
        body.extend_from_slice(std::slice::from_raw_parts(data as *const u8, len));
    }
    len
}

extern "C" fn socket_cb(
    _easy: *mut Curl,
    s: RawFd,
    what: c_int,
    user: *mut c_void,
    _socketp: *mut c_void,
) -> c_int {
    // SAFETY: user is the Inner, alive while its multi handle is (cleaned up in Drop
    // before the Inner goes).
    let inner = unsafe { &*(user as *const Inner) };
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inner.watch(s, what)));
    if r.is_ok() {
        0
    } else {
        -1
    }
}

extern "C" fn timer_cb(_multi: *mut CurlM, timeout_ms: c_long, user: *mut c_void) -> c_int {
    // SAFETY: as in socket_cb.
    let inner = unsafe { &*(user as *const Inner) };
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let timer = inner.timer.borrow();
        let Some(t) = timer.as_ref() else { return };
        if timeout_ms < 0 {
            let _ = t.del();
        } else {
            let _ = t.add(Some(Duration::from_millis(timeout_ms as u64)));
        }
    }));
    if r.is_ok() {
        0
    } else {
        -1
    }
}

impl Inner {
    /// curl's wish for socket `s`: an event for it, or none.
    fn watch(&self, s: RawFd, what: c_int) {
        if what == CURL_POLL_REMOVE {
            // Possibly the event whose callback is running: the crate lets it go.
            self.sockets.borrow_mut().remove(&s);
            return;
        }
        let mut flags = Flags::PERSIST;
        if what & CURL_POLL_IN != 0 {
            flags |= Flags::READ;
        }
        if what & CURL_POLL_OUT != 0 {
            flags |= Flags::WRITE;
        }
        let me = self.me.clone();
        let ev = Event::new(&self.base, s, flags, move |got| {
            if let Some(inner) = me.upgrade() {
                let mut mask = 0;
                if got.contains(Flags::READ) {
                    mask |= CURL_CSELECT_IN;
                }
                if got.contains(Flags::WRITE) {
                    mask |= CURL_CSELECT_OUT;
                }
                inner.action(s, mask);
            }
        })
        .expect("an event for curl's socket");
        ev.add(None).expect("the event added");
        // The old event (another interest in the same socket), if any, goes.
        let old = self.sockets.borrow_mut().insert(s, ev);
        drop(old);
    }

    /// Tells curl what happened, then hands finished transfers to their callbacks.
    fn action(&self, s: RawFd, mask: c_int) {
        if self.closed.get() {
            return;
        }
        let mut running = 0;
        // SAFETY: the multi handle is live; curl calls socket_cb/timer_cb inside, which
        // borrow nothing this holds.
        unsafe { curl_multi_socket_action(self.multi, s, mask, &mut running) };
        self.finish();
    }

    fn finish(&self) {
        while !self.closed.get() {
            let mut left = 0;
            // SAFETY: the multi handle is live; the message is valid until the next call.
            let msg = unsafe { curl_multi_info_read(self.multi, &mut left) };
            if msg.is_null() {
                break;
            }
            // SAFETY: as above.
            let (kind, easy, code) = unsafe { ((*msg).msg, (*msg).easy, (*msg).data.result) };
            if kind != CURLMSG_DONE {
                continue;
            }
            let mut id: *mut c_char = std::ptr::null_mut();
            // SAFETY: a handle of this multi; CURLOPT_PRIVATE was set to its id.
            unsafe { curl_easy_getinfo(easy, CURLINFO_PRIVATE, &mut id) };
            let Some(mut t) = self.transfers.borrow_mut().remove(&(id as usize)) else {
                continue;
            };
            let mut status: c_long = 0;
            // SAFETY: as above.
            unsafe { curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &mut status) };
            let outcome = if code == 0 {
                Ok((status as u16, std::mem::take(&mut *t.body)))
            } else {
                // SAFETY: curl's static message for the code.
                Err(unsafe { CStr::from_ptr(curl_easy_strerror(code)) }
                    .to_string_lossy()
                    .into_owned())
            };
            let done = t.done.take();
            release(self.multi, t);
            if let Some(done) = done {
                done(outcome);
            }
        }
    }
}

/// Takes a transfer off the multi handle and frees it.
fn release(multi: *mut CurlM, t: Transfer) {
    // SAFETY: a handle of this multi, removed then freed once; its body and URL go after.
    unsafe {
        curl_multi_remove_handle(multi, t.easy);
        curl_easy_cleanup(t.easy);
    }
    drop(t);
}

impl Multi {
    /// A multi handle whose sockets and timer are events on `base`.
    pub fn new(base: &EventBase) -> Multi {
        static INIT: std::sync::Once = std::sync::Once::new();
        // SAFETY: once per process, before any other curl call.
        INIT.call_once(|| unsafe {
            curl_global_init(CURL_GLOBAL_DEFAULT);
        });
        // SAFETY: plain constructor.
        let multi = unsafe { curl_multi_init() };
        assert!(!multi.is_null(), "curl_multi_init");
        let inner = Rc::new_cyclic(|me| Inner {
            base: base.clone(),
            multi,
            me: me.clone(),
            timer: RefCell::new(None),
            sockets: RefCell::default(),
            transfers: RefCell::default(),
            next: Cell::new(1),
            closed: Cell::new(false),
        });
        let me = Rc::downgrade(&inner);
        let timer = Event::timer(base, move |_| {
            if let Some(inner) = me.upgrade() {
                inner.action(CURL_SOCKET_TIMEOUT, 0);
            }
        })
        .expect("curl's timer");
        *inner.timer.borrow_mut() = Some(timer);
        let user = Rc::as_ptr(&inner) as *mut c_void;
        // SAFETY: the callbacks match curl's types; user is the Inner, alive until
        // curl_multi_cleanup in Drop.
        unsafe {
            curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, socket_cb as SocketFn);
            curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, user);
            curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, timer_cb as TimerFn);
            curl_multi_setopt(multi, CURLMOPT_TIMERDATA, user);
        }
        Multi { inner }
    }

    /// Starts `GET url` (with an overall `timeout`, if any); `done` gets the outcome on
    /// the loop.
    pub fn get<F: FnOnce(Outcome) + 'static>(
        &self,
        url: &str,
        timeout: Option<Duration>,
        done: F,
    ) -> TransferId {
        let inner = &self.inner;
        let id = inner.next.get();
        inner.next.set(id + 1);
        // SAFETY: plain constructor.
        let easy = unsafe { curl_easy_init() };
        assert!(!easy.is_null(), "curl_easy_init");
        let mut t = Transfer {
            easy,
            body: Box::default(),
            _url: CString::new(url).expect("a URL without NUL"),
            done: Some(Box::new(done)),
        };
        let body = &mut *t.body as *mut Vec<u8> as *mut c_void;
        // SAFETY: options of the documented types; the URL and body live in the
        // Transfer until the handle is cleaned up.
        unsafe {
            curl_easy_setopt(easy, CURLOPT_URL, t._url.as_ptr());
            curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, write_cb as WriteFn);
            curl_easy_setopt(easy, CURLOPT_WRITEDATA, body);
            curl_easy_setopt(easy, CURLOPT_PRIVATE, id as *mut c_void);
            curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1 as c_long);
            if let Some(d) = timeout {
                curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, d.as_millis() as c_long);
            }
        }
        inner.transfers.borrow_mut().insert(id, t);
        // SAFETY: both live; curl asks for a timer (timer_cb) to start the transfer.
        unsafe { curl_multi_add_handle(inner.multi, easy) };
        TransferId(id)
    }

    /// Stops a transfer: its callback is dropped, not called. `false` when it has
    /// finished already.
    pub fn cancel(&self, id: TransferId) -> bool {
        let t = self.inner.transfers.borrow_mut().remove(&id.0);
        match t {
            Some(t) => {
                release(self.inner.multi, t);
                true
            }
            None => false,
        }
    }

    /// Transfers not finished.
    pub fn running(&self) -> usize {
        self.inner.transfers.borrow().len()
    }

    /// Sockets curl has an event for now.
    pub fn sockets(&self) -> usize {
        self.inner.sockets.borrow().len()
    }
}

impl Drop for Multi {
    fn drop(&mut self) {
        let inner = &self.inner;
        let transfers: Vec<Transfer> = inner
            .transfers
            .borrow_mut()
            .drain()
            .map(|(_, t)| t)
            .collect();
        for t in transfers {
            release(inner.multi, t);
        }
        // SAFETY: every easy handle is off it; the callbacks may still run inside
        // (removing sockets), with the Inner alive.
        unsafe { curl_multi_cleanup(inner.multi) };
        inner.closed.set(true);
        inner.sockets.borrow_mut().clear();
        inner.timer.borrow_mut().take();
    }
}
