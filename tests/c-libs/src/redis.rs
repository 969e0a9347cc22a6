//! hiredis's asynchronous client, attached to a Rust [`EventBase`] through hiredis's own
//! libevent adapter (`c/redis.c`): a small wrapper that hands each reply, as text, to
//! the closure given with its command.

use libevent::EventBase;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_ulong, c_void, CStr, CString};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

#[repr(C)]
struct RLink {
    _private: [u8; 0],
}

type ReplyFn = unsafe extern "C" fn(*mut c_void, c_ulong, *const c_char, usize);
type EventFn = unsafe extern "C" fn(*mut c_void, *const c_char);

extern "C" {
    fn rlink_connect(
        base: *mut libevent_sys::event_base,
        ip: *const c_char,
        port: c_int,
        reply: ReplyFn,
        event: EventFn,
        arg: *mut c_void,
    ) -> *mut RLink;
    fn rlink_command(
        l: *mut RLink,
        tag: c_ulong,
        argc: c_int,
        argv: *const *const c_char,
        lens: *const usize,
    ) -> c_int;
    fn rlink_alive(l: *const RLink) -> c_int;
    fn rlink_disconnect(l: *mut RLink);
    fn rlink_free(l: *mut RLink);
}

/// A reply as text (`+OK`, `:3`, `$value`, `nil`, `-ERR ...`, `*2[$a,$b]`); `None` when
/// the connection went before the reply came.
pub type Reply = Option<String>;

enum Handler {
    /// A command's one reply.
    Once(Box<dyn FnOnce(Reply)>),
    /// A subscription's replies, until the connection goes.
    Many(Box<dyn FnMut(Reply)>),
}

struct State {
    handlers: RefCell<HashMap<u64, Handler>>,
    events: RefCell<Vec<String>>,
    next: Cell<u64>,
}

/// One hiredis connection on a base.
pub struct Redis {
    raw: *mut RLink,
    state: Rc<State>,
}

unsafe extern "C" fn reply_tramp(arg: *mut c_void, tag: c_ulong, text: *const c_char, len: usize) {
    // SAFETY: arg is the State of a live Redis (rlink_free detaches the callbacks before
    // the State goes); our own count keeps it across a drop of the Redis inside.
    let state = unsafe {
        Rc::increment_strong_count(arg as *const State);
        Rc::from_raw(arg as *const State)
    };
    let reply = (!text.is_null()).then(|| {
        // SAFETY: hiredis's text, len bytes, live for the call.
        let bytes = unsafe { std::slice::from_raw_parts(text as *const u8, len) };
        String::from_utf8_lossy(bytes).into_owned()
    });
    #[allow(clippy::useless_conversion)] // c_ulong is u64 here, u32 elsewhere
    let tag = u64::from(tag);
    // Taken out for the call (it may send commands, or drop the Redis); a
    // subscription's is put back after.
    let Some(h) = state.handlers.borrow_mut().remove(&tag) else {
        return;
    };
    let gone = reply.is_none();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || match h {
        Handler::Once(f) => {
            f(reply);
            None
        }
        Handler::Many(mut f) => {
            f(reply);
            Some(f)
        }
    }));
    match r {
        Ok(Some(f)) if !gone => {
            state.handlers.borrow_mut().insert(tag, Handler::Many(f));
        }
        Ok(_) => {}
        Err(_) => eprintln!("a redis reply handler panicked (contained)"),
    }
}

unsafe extern "C" fn event_tramp(arg: *mut c_void, what: *const c_char) {
    // SAFETY: as in reply_tramp.
    let state = unsafe {
        Rc::increment_strong_count(arg as *const State);
        Rc::from_raw(arg as *const State)
    };
    // SAFETY: a C string of c/redis.c's, live for the call.
    let what = unsafe { CStr::from_ptr(what) }
        .to_string_lossy()
        .into_owned();
    state.events.borrow_mut().push(what);
}

impl Redis {
    /// Connects (asynchronously) to redis at `ip:port`, with the client's events on
    /// `base`.
    pub fn connect(base: &EventBase, ip: &str, port: u16) -> Option<Redis> {
        let state = Rc::new(State {
            handlers: RefCell::default(),
            events: RefCell::default(),
            next: Cell::new(1),
        });
        let ip = CString::new(ip).ok()?;
        // SAFETY: base is live while the link is (the caller's); the state outlives the
        // link (freed after rlink_free).
        let raw = unsafe {
            rlink_connect(
                base.as_raw(),
                ip.as_ptr(),
                port.into(),
                reply_tramp,
                event_tramp,
                Rc::as_ptr(&state) as *mut c_void,
            )
        };
        (!raw.is_null()).then_some(Redis { raw, state })
    }

    /// Sends a command; `on_reply` gets its reply, or `None` if the connection goes
    /// first. `false` when the connection is gone already.
    pub fn command<F: FnOnce(Reply) + 'static>(&self, args: &[&[u8]], on_reply: F) -> bool {
        self.send(args, Handler::Once(Box::new(on_reply)))
    }

    /// Sends `SUBSCRIBE`-like command: `on_message` gets every reply it brings (the
    /// confirmation, then each message), then `None` when the connection goes.
    pub fn subscribe<F: FnMut(Reply) + 'static>(&self, args: &[&[u8]], on_message: F) -> bool {
        self.send(args, Handler::Many(Box::new(on_message)))
    }

    fn send(&self, args: &[&[u8]], h: Handler) -> bool {
        let tag = self.state.next.get();
        self.state.next.set(tag + 1);
        self.state.handlers.borrow_mut().insert(tag, h);
        let argv: Vec<*const c_char> = args.iter().map(|a| a.as_ptr().cast()).collect();
        let lens: Vec<usize> = args.iter().map(|a| a.len()).collect();
        // SAFETY: the link is live; argv/lens describe args for the call (hiredis copies).
        let r = unsafe {
            rlink_command(
                self.raw,
                tag as c_ulong,
                args.len() as c_int,
                argv.as_ptr(),
                lens.as_ptr(),
            )
        };
        if r != 0 {
            self.state.handlers.borrow_mut().remove(&tag);
        }
        r == 0
    }

    /// [`command`](Self::command) as a future of its first reply.
    pub fn ask(&self, args: &[&[u8]]) -> Ask {
        let slot: Rc<RefCell<(Option<Reply>, Option<Waker>)>> = Rc::default();
        let s = slot.clone();
        let sent = self.command(args, move |r| {
            let mut s = s.borrow_mut();
            if s.0.is_none() {
                s.0 = Some(r);
                if let Some(w) = s.1.take() {
                    w.wake();
                }
            }
        });
        if !sent {
            slot.borrow_mut().0 = Some(None);
        }
        Ask { slot }
    }

    /// The connection events so far (`connected`, `disconnected: ...`).
    pub fn events(&self) -> Vec<String> {
        self.state.events.borrow().clone()
    }

    /// Whether hiredis still has the connection.
    pub fn is_alive(&self) -> bool {
        // SAFETY: the link is live.
        unsafe { rlink_alive(self.raw) != 0 }
    }

    /// Ends the connection once the replies owed are in.
    pub fn disconnect(&self) {
        // SAFETY: the link is live.
        unsafe { rlink_disconnect(self.raw) }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        // SAFETY: freed once; C calls neither trampoline for it afterwards.
        unsafe { rlink_free(self.raw) };
    }
}

/// [`Redis::ask`]'s future.
pub struct Ask {
    slot: Rc<RefCell<(Option<Reply>, Option<Waker>)>>,
}

impl Future for Ask {
    type Output = Reply;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Reply> {
        let mut s = self.slot.borrow_mut();
        match s.0.take() {
            Some(r) => Poll::Ready(r),
            None => {
                s.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}
