//! `struct evhttp_request`: what a handler gets ([`Request`], owing one reply), what a
//! client's callback sees ([`RequestRef`]), and a reply sent in chunks ([`ChunkedReply`]).

use super::server::{Core, Owner};
use super::{c_text, status, str_from, HeadersRef, Method, UriRef};
use crate::buffer::{Callbacks, Change, ChangeCallback, EvBuffer, EvBufferRef};
use crate::bufferevent::Side;
use crate::error::Result;
use crate::handle::foreign_type;
use crate::panic::{self, Guard};
use libevent_sys as sys;
use std::ffi::{c_char, c_void, CString};
use std::mem::ManuallyDrop;
use std::net::{IpAddr, SocketAddr};
use std::ptr::NonNull;
use std::rc::Rc;

/// A request a handler must answer, by value: send the reply now, or keep the `Request`
/// and answer from another callback (a timer, a backend's reply).
///
/// Exactly one reply goes out: every reply method consumes the `Request`, and a
/// `Request` dropped without one (a handler that returns early, or panics) answers
/// `500 Internal Server Error`. A bad status or reason phrase is refused before libevent
/// sees it: the method returns the error and the client gets that 500.
///
/// A `Request` keeps its server's C object alive: the `Http` handle may be dropped while
/// replies are pending.
pub struct Request {
    raw: NonNull<sys::evhttp_request>,
    owner: Rc<Owner>,
    /// [`Request::on_buffer_change`]'s callbacks (input, output), until the reply.
    changes: Option<Box<[Callbacks; 2]>>,
}

foreign_type! {
    /// A request as libevent lends it: inside a handler (through [`Request`]'s `Deref`),
    /// or as the response in an [`HttpConnection`](crate::http::HttpConnection) callback.
    pub struct RequestRef(sys::evhttp_request), owned by Request;
    /// Borrows a live `struct evhttp_request *`.
    ///
    /// # Safety
    /// `raw` must be live for `'a` and not used through another reference meanwhile.
    fn from_raw;
    /// The raw `struct evhttp_request *`.
    fn as_raw;
}

impl RequestRef {
    /// `evhttp_request_get_command`; `None` for a response.
    pub fn method(&self) -> Option<Method> {
        // SAFETY: the request is live.
        Method::from_c(unsafe { sys::evhttp_request_get_command(self.as_raw()) })
    }

    /// `evhttp_request_get_uri`: the request target as sent (`/path?query`).
    pub fn uri(&self) -> &str {
        // SAFETY: the request is live and owns the string.
        unsafe { str_from(sys::evhttp_request_get_uri(self.as_raw())) }.unwrap_or("")
    }

    /// `evhttp_request_get_evhttp_uri`: the target, parsed (server side).
    pub fn parsed_uri(&self) -> Option<&UriRef> {
        // SAFETY: the request is live and owns the parsed URI; only shared access is given.
        unsafe {
            let p = sys::evhttp_request_get_evhttp_uri(self.as_raw());
            (!p.is_null()).then(|| &*UriRef::from_raw(p as *mut sys::evhttp_uri))
        }
    }

    /// The path of the target, still percent-encoded.
    pub fn path(&self) -> Option<&str> {
        self.parsed_uri().and_then(|u| u.path())
    }

    /// The target's query decoded into pairs (empty when there is none).
    pub fn query_pairs(&self) -> Result<Vec<(String, String)>> {
        match self.parsed_uri() {
            Some(u) => u.query_pairs(),
            None => Ok(Vec::new()),
        }
    }

    /// `evhttp_request_get_host`: the host the request was sent to (from the target or the
    /// `Host` header).
    pub fn host(&self) -> Option<&str> {
        // SAFETY: the request is live and owns the string.
        unsafe { str_from(sys::evhttp_request_get_host(self.as_raw())) }
    }

    /// `evhttp_request_get_input_headers`: the headers received.
    pub fn input_headers(&self) -> &HeadersRef {
        // SAFETY: the request is live and owns its lists.
        unsafe { HeadersRef::from_raw(sys::evhttp_request_get_input_headers(self.as_raw())) }
    }

    /// `evhttp_request_get_output_headers`: the headers to send.
    pub fn output_headers(&mut self) -> &mut HeadersRef {
        // SAFETY: as above; `&mut self` of the request's one handle (a handler's Request,
        // or the view lent to a client callback for its call) makes the borrow unique,
        // and evhttp does not touch the request while either is out.
        unsafe { HeadersRef::from_raw(sys::evhttp_request_get_output_headers(self.as_raw())) }
    }

    /// `evhttp_request_get_input_buffer`: the body received.
    pub fn input_buffer(&mut self) -> &mut EvBufferRef {
        // SAFETY: the request is live and owns its buffers.
        unsafe { EvBufferRef::from_raw(sys::evhttp_request_get_input_buffer(self.as_raw())) }
    }

    /// `evhttp_request_get_output_buffer`: the body to send.
    pub fn output_buffer(&mut self) -> &mut EvBufferRef {
        // SAFETY: as above.
        unsafe { EvBufferRef::from_raw(sys::evhttp_request_get_output_buffer(self.as_raw())) }
    }

    /// The body received, copied out (the buffer is left as it was).
    pub fn body(&mut self) -> Vec<u8> {
        let buf = self.input_buffer();
        let mut out = vec![0; buf.len()];
        let n = buf.copyout(&mut out);
        out.truncate(n);
        out
    }

    /// `evhttp_request_get_response_code`: a response's status (0 when none arrived).
    pub fn response_code(&self) -> u16 {
        // SAFETY: the request is live.
        let c = unsafe { sys::evhttp_request_get_response_code(self.as_raw()) };
        u16::try_from(c).unwrap_or(0)
    }

    /// `evhttp_request_get_response_code_line`: a response's reason phrase.
    pub fn response_reason(&self) -> Option<&str> {
        // SAFETY: the request is live and owns the string.
        unsafe { str_from(sys::evhttp_request_get_response_code_line(self.as_raw())) }
    }

    /// The other end of the request's connection (`evhttp_connection_get_peer`); `None`
    /// once the connection is gone.
    pub fn peer(&self) -> Option<SocketAddr> {
        // SAFETY: the request is live; its connection, if any, too.
        unsafe {
            let conn = sys::evhttp_request_get_connection(self.as_raw());
            if conn.is_null() {
                return None;
            }
            let mut addr: *mut c_char = std::ptr::null_mut();
            let mut port = 0u16;
            sys::evhttp_connection_get_peer(conn, &mut addr, &mut port);
            let ip: IpAddr = str_from(addr)?.parse().ok()?;
            Some(SocketAddr::new(ip, port))
        }
    }
}

impl std::fmt::Debug for RequestRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method())
            .field("uri", &self.uri())
            .field("response_code", &self.response_code())
            .finish()
    }
}

/// A reason phrase for C: `None` lets libevent pick the standard one.
fn reason_c(function: &'static str, reason: Option<&str>) -> Result<Option<CString>> {
    reason.map(|r| c_text(function, r, true)).transpose()
}

fn ptr(c: &Option<CString>) -> *const c_char {
    c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr())
}

impl Request {
    pub(crate) fn new(raw: NonNull<sys::evhttp_request>, owner: Rc<Owner>) -> Request {
        Request {
            raw,
            owner,
            changes: None,
        }
    }

    /// The request's input or output buffer.
    fn side_buffer(&self, side: Side) -> *mut sys::evbuffer {
        // SAFETY: the request is live (its reply is owed); its buffers are its own.
        unsafe {
            match side {
                Side::Input => sys::evhttp_request_get_input_buffer(self.raw.as_ptr()),
                Side::Output => sys::evhttp_request_get_output_buffer(self.raw.as_ptr()),
            }
        }
    }

    /// `evbuffer_add_cb` on the request's input or output buffer: run `f` after each
    /// change of its length, until the reply goes out (any reply method, or the drop):
    /// the callbacks are removed then, so the body [`send_reply`](Self::send_reply) adds
    /// is the last change they see, and what evhttp does with the buffers afterwards runs
    /// none of them. Removed earlier with
    /// [`remove_buffer_change`](Self::remove_buffer_change).
    ///
    /// ```no_run
    /// # use libevent::bufferevent::Side;
    /// # fn f(mut req: libevent::Request) -> libevent::Result<()> {
    /// let written = std::rc::Rc::new(std::cell::Cell::new(0));
    /// let w = written.clone();
    /// req.on_buffer_change(Side::Output, move |c| w.set(w.get() + c.added))?;
    /// req.output_buffer().add(b"part one, ")?;
    /// req.send_reply(200, None, b"part two")?;
    /// assert_eq!(written.get(), 18);
    /// # Ok(()) }
    /// ```
    pub fn on_buffer_change<F: FnMut(Change) + 'static>(
        &mut self,
        side: Side,
        f: F,
    ) -> Result<ChangeCallback> {
        let buf = self.side_buffer(side);
        let lists = self.changes.get_or_insert_with(Default::default);
        lists[side as usize].add(buf, Box::new(f))
    }

    /// `evbuffer_remove_cb`: remove a callback of
    /// [`on_buffer_change`](Self::on_buffer_change); an error for an id it did not give.
    pub fn remove_buffer_change(&mut self, id: ChangeCallback) -> Result<()> {
        let side = self.find_change(id, "evbuffer_remove_cb")?;
        let buf = self.side_buffer(side);
        let lists = self.changes.as_mut().expect("found in it");
        lists[side as usize].remove(buf, id)
    }

    /// `evbuffer_cb_set_flags` / `_clear_flags` on a callback of
    /// [`on_buffer_change`](Self::on_buffer_change).
    pub fn set_buffer_change_enabled(&mut self, id: ChangeCallback, enabled: bool) -> Result<()> {
        let side = self.find_change(id, "evbuffer_cb_set_flags")?;
        let buf = self.side_buffer(side);
        let lists = self.changes.as_mut().expect("found in it");
        lists[side as usize].set_enabled(buf, id, enabled)
    }

    fn find_change(&self, id: ChangeCallback, function: &'static str) -> Result<Side> {
        match self.changes.as_deref() {
            Some([input, _]) if input.contains(id) => Ok(Side::Input),
            Some([_, output]) if output.contains(id) => Ok(Side::Output),
            _ => Err(crate::Error::invalid(
                function,
                "no such callback on this request",
            )),
        }
    }

    /// Before the reply: the change callbacks stop (the buffers are still live), and
    /// their closures go.
    fn end_changes(&mut self) {
        if let Some(mut lists) = self.changes.take() {
            let (input, output) = (
                self.side_buffer(Side::Input),
                self.side_buffer(Side::Output),
            );
            lists[0].disable_all(input);
            lists[1].disable_all(output);
            lists[0].release_all();
            lists[1].release_all();
        }
    }

    fn core(&self) -> &Core {
        self.owner.core()
    }

    /// Gives up the duty to reply: the caller hands the request to C.
    fn take(mut self) -> (NonNull<sys::evhttp_request>, Rc<Owner>) {
        self.end_changes();
        let me = ManuallyDrop::new(self);
        me.core().finished_with(&me.owner, me.raw.as_ptr());
        // SAFETY: read once out of a value that is never dropped.
        (me.raw, unsafe { std::ptr::read(&me.owner) })
    }

    /// `evhttp_send_reply`: status, reason (`None`: the standard phrase) and body;
    /// `Content-Length` is set from the body.
    ///
    /// ```no_run
    /// # fn f(req: libevent::Request) -> libevent::Result<()> {
    /// req.send_reply(200, None, b"hello\n")?;
    /// # Ok(()) }
    /// ```
    pub fn send_reply(mut self, code: u16, reason: Option<&str>, body: &[u8]) -> Result<()> {
        let code = status("evhttp_send_reply", code)?;
        let reason = reason_c("evhttp_send_reply", reason)?;
        self.output_buffer().add(body)?;
        let (raw, _owner) = self.take();
        // SAFETY: the request is live and we owe its reply; libevent frees it once sent
        // (or at once, if the client is gone). The body is in its output buffer.
        unsafe { sys::evhttp_send_reply(raw.as_ptr(), code, ptr(&reason), std::ptr::null_mut()) };
        Ok(())
    }

    /// `evhttp_send_reply` with the body moved out of `body`.
    pub fn send_reply_buffer(
        self,
        code: u16,
        reason: Option<&str>,
        body: &mut EvBufferRef,
    ) -> Result<()> {
        let code = status("evhttp_send_reply", code)?;
        let reason = reason_c("evhttp_send_reply", reason)?;
        let (raw, _owner) = self.take();
        // SAFETY: as in send_reply; body is a live buffer libevent drains.
        unsafe { sys::evhttp_send_reply(raw.as_ptr(), code, ptr(&reason), body.as_raw()) };
        Ok(())
    }

    /// `evhttp_send_error`: status and reason with libevent's small HTML page.
    pub fn send_error(self, code: u16, reason: Option<&str>) -> Result<()> {
        let code = status("evhttp_send_error", code)?;
        let reason = reason_c("evhttp_send_error", reason)?;
        let (raw, _owner) = self.take();
        // SAFETY: as in send_reply.
        unsafe { sys::evhttp_send_error(raw.as_ptr(), code, ptr(&reason)) };
        Ok(())
    }

    /// `evhttp_send_reply_start`: the status line and headers now
    /// (`Transfer-Encoding: chunked` for HTTP/1.1 clients), the body in chunks through
    /// the returned [`ChunkedReply`], which may live on in another callback.
    pub fn start_reply(self, code: u16, reason: Option<&str>) -> Result<ChunkedReply> {
        let code = status("evhttp_send_reply_start", code)?;
        let reason = reason_c("evhttp_send_reply_start", reason)?;
        let buf = EvBuffer::new()?;
        let mut me = ManuallyDrop::new(self);
        me.end_changes();
        // SAFETY: the request is live and we owe its reply.
        unsafe { sys::evhttp_send_reply_start(me.raw.as_ptr(), code, ptr(&reason)) };
        Ok(ChunkedReply {
            raw: me.raw,
            // SAFETY: read once out of a value that is never dropped.
            owner: unsafe { std::ptr::read(&me.owner) },
            buf,
            flushed: None,
        })
    }

    /// True once the client has gone away (its connection was closed or timed out):
    /// a reply now is dropped on the floor, and costs nothing but freeing the request.
    /// libevent notices a close while it writes to the client (from
    /// [`start_reply`](Self::start_reply) on), not while the handler holds the request.
    pub fn is_abandoned(&self) -> bool {
        abandoned(self.raw)
    }

    /// Calls `f` once if the client goes away before this request's reply is finished
    /// (the connection's close callback, `evhttp_connection_set_closecb`); at once if it
    /// already has.
    pub fn on_abandon<F: FnOnce() + 'static>(&mut self, f: F) {
        on_abandon(self.core(), self.raw, Box::new(f));
    }

    /// `evhttp_request_set_on_complete_cb`: calls `f` once the whole reply has been
    /// written to the socket. It is not called if the client goes away first.
    pub fn on_complete<F: FnOnce() + 'static>(&mut self, f: F) {
        on_complete(self.core(), self.raw, Box::new(f));
    }
}

fn abandoned(raw: NonNull<sys::evhttp_request>) -> bool {
    // SAFETY: the request is live (we still owe its reply, so libevent has not freed it).
    unsafe { sys::evhttp_request_get_connection(raw.as_ptr()).is_null() }
}

fn on_abandon(core: &Core, raw: NonNull<sys::evhttp_request>, f: Box<dyn FnOnce()>) {
    // SAFETY: as in abandoned.
    let conn = unsafe { sys::evhttp_request_get_connection(raw.as_ptr()) };
    if conn.is_null() {
        f();
    } else {
        core.watch(conn, raw.as_ptr(), Some(f), None, None);
    }
}

fn on_complete(core: &Core, raw: NonNull<sys::evhttp_request>, f: Box<dyn FnOnce()>) {
    // SAFETY: as in abandoned.
    let conn = unsafe { sys::evhttp_request_get_connection(raw.as_ptr()) };
    if !conn.is_null() {
        core.watch(conn, raw.as_ptr(), None, Some(f), None);
    }
}

impl Drop for Request {
    fn drop(&mut self) {
        self.end_changes();
        self.core().finished_with(&self.owner, self.raw.as_ptr());
        // SAFETY: we still owe the reply; this one frees the request once sent.
        unsafe { sys::evhttp_send_error(self.raw.as_ptr(), 500, std::ptr::null()) };
    }
}

/// A reply whose body goes out in chunks (`evhttp_send_reply_chunk`), ended by
/// [`end`](Self::end) or by dropping it (`evhttp_send_reply_end`). It may be kept and
/// fed from other callbacks; check [`is_abandoned`](Self::is_abandoned) (or use
/// [`on_abandon`](Self::on_abandon)) to stop producing for a client that went away.
pub struct ChunkedReply {
    raw: NonNull<sys::evhttp_request>,
    owner: Rc<Owner>,
    buf: EvBuffer,
    /// The closure of the last `send_chunk_with_cb`, until the connection's output
    /// drains; C's argument points here (not counted: libevent calls it only while this
    /// reply lives, since ending the reply replaces the connection's write callback).
    flushed: Option<Rc<FlushSlot>>,
}

struct FlushSlot {
    f: std::cell::Cell<Option<Box<dyn FnOnce()>>>,
    base: *mut sys::event_base,
}

extern "C" fn flushed_tramp(_conn: *mut sys::evhttp_connection, arg: *mut c_void) {
    // SAFETY: arg is a FlushSlot the live ChunkedReply holds; a count of our own keeps it
    // through the closure (which may end the reply, dropping the reply's count).
    let slot = unsafe {
        Rc::increment_strong_count(arg as *const FlushSlot);
        Rc::from_raw(arg as *const FlushSlot)
    };
    // libevent calls this each time the output drains, until the next chunk: once only.
    if let Some(f) = slot.f.take() {
        panic::wrap(Guard::Loop(slot.base), f);
    }
}

impl ChunkedReply {
    /// `evhttp_send_reply_chunk`: one chunk (an empty one sends nothing: an empty chunk
    /// would end the body).
    pub fn send_chunk(&mut self, data: &[u8]) -> Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        self.buf.add(data)?;
        self.send_buffered()
    }

    /// Hands what `buf` holds to C as one chunk.
    fn send_buffered(&mut self) -> Result<()> {
        // SAFETY: the request is live until end; the buffer is ours and drained by C
        // (or left as is for an abandoned request, which we clear).
        unsafe { sys::evhttp_send_reply_chunk(self.raw.as_ptr(), self.buf.as_raw()) };
        let left = self.buf.len();
        if left > 0 {
            self.buf.drain(left)?;
        }
        Ok(())
    }

    /// `evhttp_send_reply_chunk_with_cb`: one chunk, and `on_flushed` once the
    /// connection has written everything queued (backpressure: send the next chunk from
    /// there, or end the reply). A later chunk replaces a closure that has not run yet,
    /// which is then dropped unrun, as is one whose client went away.
    ///
    /// ```no_run
    /// # use libevent::http::ChunkedReply;
    /// # use std::{cell::RefCell, rc::Rc};
    /// fn stream(reply: Rc<RefCell<Option<ChunkedReply>>>, left: usize) {
    ///     let r = reply.clone();
    ///     let mut guard = reply.borrow_mut();
    ///     let Some(out) = guard.as_mut() else { return };
    ///     if left == 0 {
    ///         drop(guard.take()); // the last chunk
    ///         return;
    ///     }
    ///     out.send_chunk_with_cb(&[b'x'; 65536], move || stream(r, left - 1)).unwrap();
    /// }
    /// ```
    pub fn send_chunk_with_cb<F: FnOnce() + 'static>(
        &mut self,
        data: &[u8],
        on_flushed: F,
    ) -> Result<()> {
        self.buf.add(data)?;
        let slot = Rc::new(FlushSlot {
            f: std::cell::Cell::new(Some(Box::new(on_flushed))),
            base: self.owner.base_raw(),
        });
        // SAFETY: the request is live until end; the buffer is ours and drained by C;
        // the slot lives in self for as long as libevent may call back (see `flushed`).
        unsafe {
            sys::evhttp_send_reply_chunk_with_cb(
                self.raw.as_ptr(),
                self.buf.as_raw(),
                Some(flushed_tramp),
                Rc::as_ptr(&slot) as *mut c_void,
            )
        };
        self.flushed = Some(slot);
        let left = self.buf.len();
        if left > 0 {
            self.buf.drain(left)?;
        }
        Ok(())
    }

    /// `evhttp_send_reply_chunk` with the data moved out of `data`.
    pub fn send_chunk_buffer(&mut self, data: &mut EvBufferRef) -> Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        self.buf.add_buffer(data)?;
        self.send_buffered()
    }

    /// `evhttp_send_reply_end`: the last chunk; libevent frees the request once written.
    pub fn end(self) {
        drop(self)
    }

    /// True once the client has gone away; see [`Request::is_abandoned`].
    pub fn is_abandoned(&self) -> bool {
        abandoned(self.raw)
    }

    /// See [`Request::on_abandon`].
    pub fn on_abandon<F: FnOnce() + 'static>(&mut self, f: F) {
        on_abandon(self.owner.core(), self.raw, Box::new(f));
    }

    /// See [`Request::on_complete`].
    pub fn on_complete<F: FnOnce() + 'static>(&mut self, f: F) {
        on_complete(self.owner.core(), self.raw, Box::new(f));
    }
}

impl Drop for ChunkedReply {
    fn drop(&mut self) {
        self.owner
            .core()
            .finished_with(&self.owner, self.raw.as_ptr());
        // SAFETY: the request is live until this call, which ends the reply and hands the
        // request back to libevent (freed at once if the client is gone).
        unsafe { sys::evhttp_send_reply_end(self.raw.as_ptr()) };
    }
}

impl std::fmt::Debug for ChunkedReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkedReply")
            .field("abandoned", &self.is_abandoned())
            .finish()
    }
}
