//! The strict request framing layer: RFC 9112's rules for where a request ends, enforced
//! on a connection's bytes before evhttp parses them.
//!
//! libevent 2.1.13's parser rejects the published smuggling requests, but not every
//! message a strict peer rejects (differing `Content-Length`s, a space before a field's
//! colon, a NUL in a value, obsolete line folding...). A front proxy that frames such a
//! message otherwise than evhttp lets a client slip a second request past it. So every
//! connection of a strict [`Http`](super::Http) reads through a filter bufferevent whose
//! input filter runs a [`Framer`]: it passes on, unchanged, only bytes that belong to
//! messages it framed itself with [`httparse`] (hyper's parser) and the rules below.
//! At the first violation it stops passing the client's bytes and hands evhttp, in their
//! place, a line that evhttp's own parser rejects, so that evhttp answers (in order,
//! after any earlier pipelined replies) and closes the connection itself:
//!
//! | where | handed to evhttp | evhttp answers |
//! |---|---|---|
//! | between messages, 400 | `BAD` (a request line shorter than any valid one) | `400 Bad Request`, close |
//! | between messages, 501 | a request with an unknown method and `Connection: close` | `501 Not Implemented`, close |
//! | inside a chunked body | `x` as a chunk-size line | `413` (libevent's answer to corrupt chunked data), close |
//!
//! The rules (RFC 9112 and RFC 9110 sections):
//! - the request line and fields as `httparse` parses them: no whitespace between a field
//!   name and its colon (§5.1), no obsolete line folding (§5.2), no CR, LF or NUL (or any
//!   other control) inside a field value (RFC 9110 §5.5), no bare CR;
//! - `Content-Length` is digits only, and several must agree (RFC 9110 §8.6);
//! - not both `Transfer-Encoding` and `Content-Length` (§6.3), no `Transfer-Encoding` in
//!   HTTP/1.0 (§6.1); its final coding is `chunked`, once (§6.3, §7): else 400; any other
//!   coding is one libevent does not implement: 501 (§6.1);
//! - a request for a method whose body evhttp does not read (HEAD, TRACE, methods it does
//!   not know) carries none: evhttp would parse that body as the next request;
//! - exactly one `Host` in HTTP/1.1, at most one in HTTP/1.0 (§3.2);
//! - a request target whose path decodes to a NUL (`%00`) is never routed (evhttp's route
//!   match compares C strings, so `/a%00b` would match `/a`);
//! - a chunked body: size lines of hex digits (at most 15: a size must fit in 60 bits)
//!   with optional well-formed extensions, each chunk followed by exactly CRLF, trailer
//!   fields under the same rules as the header fields (libevent 2.1.13 discards them).
//!
//! The framer is data in, actions out: no I/O, so it is tested and fuzzed alone.

use libevent_sys as sys;
use std::ffi::c_void;
use std::ptr::NonNull;

/// Why a message was refused, and with which status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rejection {
    /// 400 or 501.
    pub(crate) status: u16,
    /// Found inside a chunked body (evhttp is reading it): see the module's table.
    pub(crate) mid_body: bool,
    pub(crate) reason: &'static str,
}

/// What the framer needs next from the connection's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Want {
    /// The bytes up to and including the next LF (a line of the head, a chunk-size line,
    /// the CRLF after a chunk, a trailer line); at most `max` of them.
    Line { max: usize },
    /// This many body bytes, passed on untouched.
    Body(u64),
}

/// What to do with a line the framer was given.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Nothing yet: the framer keeps the line (the head or trailers are not complete).
    Held,
    /// Pass on the whole head (or trailer section) this line completed, as
    /// [`Framer::held`] has it; then [`Framer::clear_held`].
    ForwardHeld,
    /// Pass on the given line itself.
    ForwardLine,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Reading a request's head.
    Head,
    /// This many bytes of a Content-Length body left.
    Body(u64),
    /// A chunk-size line.
    ChunkSize,
    /// This many bytes of the current chunk left.
    ChunkData(u64),
    /// The CRLF after a chunk's data.
    ChunkEnd,
    /// The trailer section after the last chunk.
    Trailers,
    /// A violation was found: nothing more is passed on.
    Rejected,
}

/// The head of a request (or a trailer section) is held until complete; this bounds it.
pub(crate) const DEFAULT_MAX_HEAD: usize = 64 * 1024;
/// A chunk-size line, with its extensions.
const MAX_CHUNK_LINE: usize = 4096;
/// Hex digits in a chunk size: 15 keep every size and any sum of a few below 2^63.
const MAX_CHUNK_DIGITS: usize = 15;

/// One connection's framing state.
#[derive(Debug)]
pub(crate) struct Framer {
    state: State,
    /// The head or trailer section so far.
    held: Vec<u8>,
    max_head: usize,
}

/// How evhttp 2.1.13 treats a request method: whether it reads a body for it at all
/// (`evhttp_method_may_have_body`; methods it does not know are read with no body).
pub(crate) fn evhttp_reads_body(method: &str) -> bool {
    matches!(
        method,
        "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" | "CONNECT"
    )
}

/// How a request's body is framed, once its head passed the rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BodyKind {
    None,
    Length(u64),
    Chunked,
}

impl BodyKind {
    /// Where the framer goes once a head with this body passed.
    fn next_state(self) -> State {
        match self {
            BodyKind::None => State::Head,
            BodyKind::Length(n) => State::Body(n),
            BodyKind::Chunked => State::ChunkSize,
        }
    }
}

/// The rules on a complete, parsed head; how its body is framed.
pub(crate) fn check_head(req: &httparse::Request<'_, '_>) -> Result<BodyKind, Rejection> {
    let bad = |reason| Rejection {
        status: 400,
        mid_body: false,
        reason,
    };
    let method = req.method.unwrap_or("");
    let target = req.path.unwrap_or("");
    let version = req.version.unwrap_or(1);
    let path = target.split(['?', '#']).next().unwrap_or("");
    if path.as_bytes().windows(3).any(|w| w == b"%00") {
        return Err(bad("the request target's path decodes to a NUL"));
    }
    let mut length: Option<u64> = None;
    let mut codings: Vec<&[u8]> = Vec::new();
    let mut has_te = false;
    let mut hosts = 0;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let v = trim_ows(h.value);
            if v.is_empty() || v.len() > 18 || !v.iter().all(u8::is_ascii_digit) {
                return Err(bad("a Content-Length that is not a plain decimal number"));
            }
            let n: u64 = std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| bad("a Content-Length that is not a plain decimal number"))?;
            if length.is_some_and(|l| l != n) {
                return Err(bad("several Content-Length values that differ"));
            }
            length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            has_te = true;
            codings.extend(
                h.value
                    .split(|&b| b == b',')
                    .map(trim_ows)
                    .filter(|c| !c.is_empty()),
            );
        } else if h.name.eq_ignore_ascii_case("host") {
            hosts += 1;
        }
    }
    if hosts > 1 || (version == 1 && hosts == 0) {
        return Err(bad(if hosts > 1 {
            "more than one Host"
        } else {
            "an HTTP/1.1 request without Host"
        }));
    }
    let kind = if has_te {
        if length.is_some() {
            return Err(bad("both Transfer-Encoding and Content-Length"));
        }
        if version == 0 {
            return Err(bad("Transfer-Encoding in an HTTP/1.0 request"));
        }
        let chunked = |c: &[u8]| c.eq_ignore_ascii_case(b"chunked");
        match codings.split_last() {
            Some((last, rest)) if chunked(last) => {
                if rest.iter().any(|c| chunked(c)) {
                    return Err(bad("chunked applied more than once"));
                }
                if !rest.is_empty() {
                    return Err(Rejection {
                        status: 501,
                        mid_body: false,
                        reason: "a transfer coding libevent does not implement",
                    });
                }
                BodyKind::Chunked
            }
            _ => return Err(bad("a Transfer-Encoding whose final coding is not chunked")),
        }
    } else {
        match length {
            Some(n) if n > 0 => BodyKind::Length(n),
            _ => BodyKind::None,
        }
    };
    if kind != BodyKind::None && !evhttp_reads_body(method) {
        return Err(bad("a body on a request whose method takes none"));
    }
    Ok(kind)
}

fn trim_ows(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |e| e + 1);
    &v[start..end.max(start)]
}

/// A chunk-size line without its CRLF: `1*HEXDIG *( BWS ";" BWS token [ BWS "=" BWS
/// ( token / quoted-string ) ] )`; the size.
pub(crate) fn chunk_size(line: &[u8]) -> Option<u64> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 || digits > MAX_CHUNK_DIGITS {
        return None;
    }
    let size = u64::from_str_radix(std::str::from_utf8(&line[..digits]).ok()?, 16).ok()?;
    let mut rest = &line[digits..];
    let bws = |r: &mut &[u8]| {
        while let [b' ' | b'\t', tail @ ..] = *r {
            *r = tail;
        }
    };
    let token = |r: &mut &[u8]| {
        let n = r.iter().take_while(|&&b| is_tchar(b)).count();
        *r = &r[n..];
        n > 0
    };
    loop {
        bws(&mut rest);
        let [b';', tail @ ..] = rest else {
            break;
        };
        rest = tail;
        bws(&mut rest);
        if !token(&mut rest) {
            return None;
        }
        bws(&mut rest);
        if let [b'=', tail @ ..] = rest {
            rest = tail;
            bws(&mut rest);
            if let [b'"', tail @ ..] = rest {
                rest = quoted_rest(tail)?;
            } else if !token(&mut rest) {
                return None;
            }
        }
    }
    rest.is_empty().then_some(size)
}

/// After the opening quote of a quoted-string: what follows its closing quote.
fn quoted_rest(mut r: &[u8]) -> Option<&[u8]> {
    loop {
        match r {
            [b'"', tail @ ..] => return Some(tail),
            [b'\\', c, tail @ ..] if *c == b'\t' || (0x20..0x7f).contains(c) || *c >= 0x80 => {
                r = tail
            }
            [c, tail @ ..] if *c == b'\t' || (*c >= 0x20 && *c != 0x7f && *c != b'\\') => r = tail,
            _ => return None,
        }
    }
}

pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A head line's count bound for httparse's field array: one per line, at least one.
fn field_slots(block: &[u8]) -> usize {
    block.iter().filter(|&&b| b == b'\n').count().max(1)
}

/// Parses a complete head (request line, fields, the empty line) with httparse and
/// applies the rules.
pub(crate) fn parse_head(block: &[u8]) -> Result<BodyKind, Rejection> {
    let bad = |reason| Rejection {
        status: 400,
        mid_body: false,
        reason,
    };
    // On the stack for the usual head; a head of more lines gets a heap array.
    let mut stack = [httparse::EMPTY_HEADER; 32];
    let mut heap = Vec::new();
    let slots = field_slots(block);
    let fields: &mut [httparse::Header] = if slots <= stack.len() {
        &mut stack
    } else {
        heap.resize(slots, httparse::EMPTY_HEADER);
        &mut heap
    };
    let mut req = httparse::Request::new(fields);
    match req.parse(block) {
        Ok(httparse::Status::Complete(n)) if n == block.len() => check_head(&req),
        Ok(_) => Err(bad(
            "a request head httparse does not see end where it ends",
        )),
        Err(_) => Err(bad("a request line or header field httparse rejects")),
    }
}

/// Parses a complete trailer section (its fields and the empty line).
pub(crate) fn parse_trailers(block: &[u8]) -> Result<(), Rejection> {
    let mut fields = vec![httparse::EMPTY_HEADER; field_slots(block)];
    match httparse::parse_headers(block, &mut fields) {
        Ok(httparse::Status::Complete((n, _))) if n == block.len() => Ok(()),
        _ => Err(Rejection {
            status: 400,
            mid_body: true,
            reason: "a trailer field httparse rejects",
        }),
    }
}

/// The length of the head or trailer section at the start of `data` (through its empty
/// line), if it ends within `max` bytes.
fn block_end(data: &[u8], max: usize) -> Option<usize> {
    let mut at = 0;
    while at < data.len().min(max) {
        let lf = at + data[at..].iter().position(|&b| b == b'\n')?;
        let line = &data[at..=lf];
        at = lf + 1;
        if at > max {
            return None;
        }
        if is_empty_line(line) {
            return Some(at);
        }
    }
    None
}

fn is_empty_line(line: &[u8]) -> bool {
    line == b"\r\n" || line == b"\n"
}

impl Framer {
    pub(crate) fn new(max_head: usize) -> Framer {
        Framer {
            state: State::Head,
            held: Vec::new(),
            max_head: max_head.max(64),
        }
    }

    /// What to feed next; `None` once a violation was found (discard everything).
    pub(crate) fn want(&self) -> Option<Want> {
        Some(match self.state {
            State::Head | State::Trailers => Want::Line {
                max: self.max_head.saturating_sub(self.held.len()),
            },
            State::ChunkSize => Want::Line {
                max: MAX_CHUNK_LINE,
            },
            State::ChunkEnd => Want::Line { max: 2 },
            State::Body(n) | State::ChunkData(n) => Want::Body(n),
            State::Rejected => return None,
        })
    }

    /// The block a [`Step::ForwardHeld`] passes on.
    pub(crate) fn held(&self) -> &[u8] {
        &self.held
    }

    /// Whether a violation now would fall inside a chunked body.
    fn in_chunked_body(&self) -> bool {
        matches!(
            self.state,
            State::ChunkSize | State::ChunkData(_) | State::ChunkEnd | State::Trailers
        )
    }

    /// Refuses the message: nothing is passed on from here.
    pub(crate) fn reject(&mut self, status: u16, reason: &'static str) -> Rejection {
        let r = Rejection {
            status,
            mid_body: self.in_chunked_body(),
            reason,
        };
        self.state = State::Rejected;
        self.held = Vec::new();
        r
    }

    /// More bytes than [`Want::Line`]'s `max` came without an LF.
    pub(crate) fn line_too_long(&mut self) -> Rejection {
        let reason = match self.state {
            State::ChunkSize => "a chunk-size line that never ends",
            State::ChunkEnd => "a chunk not followed by CRLF",
            _ => "a request head over the size limit",
        };
        self.reject(400, reason)
    }

    /// A whole line (ending in LF), as [`Want::Line`] asked.
    pub(crate) fn line(&mut self, line: &[u8]) -> Result<Step, Rejection> {
        match self.state {
            State::Head => {
                if self.held.is_empty() && is_empty_line(line) {
                    return Err(self.reject(400, "an empty line where a request line belongs"));
                }
                self.held.extend_from_slice(line);
                if !is_empty_line(line) {
                    return Ok(Step::Held);
                }
                match parse_head(&self.held) {
                    Ok(kind) => self.state = kind.next_state(),
                    Err(r) => return Err(self.reject(r.status, r.reason)),
                }
                Ok(Step::ForwardHeld)
            }
            State::ChunkSize => {
                let Some(text) = line.strip_suffix(b"\r\n") else {
                    return Err(self.reject(400, "a chunk-size line not ended by CRLF"));
                };
                match chunk_size(text) {
                    Some(0) => self.state = State::Trailers,
                    Some(n) => self.state = State::ChunkData(n),
                    None => return Err(self.reject(400, "a malformed chunk-size line")),
                }
                Ok(Step::ForwardLine)
            }
            State::ChunkEnd => {
                if line != b"\r\n" {
                    return Err(self.reject(400, "a chunk not followed by CRLF"));
                }
                self.state = State::ChunkSize;
                Ok(Step::ForwardLine)
            }
            State::Trailers => {
                self.held.extend_from_slice(line);
                if !is_empty_line(line) {
                    return Ok(Step::Held);
                }
                if let Err(r) = parse_trailers(&self.held) {
                    return Err(self.reject(r.status, r.reason));
                }
                self.state = State::Head;
                Ok(Step::ForwardHeld)
            }
            State::Body(_) | State::ChunkData(_) | State::Rejected => {
                unreachable!("line() while the framer wants {:?}", self.want())
            }
        }
    }

    /// The held block was passed on.
    pub(crate) fn clear_held(&mut self) {
        self.held.clear();
    }

    /// Frames what it can of a contiguous `data` in one pass, without holding anything:
    /// how many bytes from the start are whole units it passed (heads, lines, body
    /// bytes), and the refusal if one came. What is left after them is an incomplete
    /// unit, for [`line`](Self::line) and [`body`](Self::body) once more bytes come.
    /// Only with nothing held.
    pub(crate) fn advance(&mut self, data: &[u8]) -> (usize, Option<Rejection>) {
        debug_assert!(self.held.is_empty());
        let mut pos = 0;
        loop {
            let rest = &data[pos..];
            if rest.is_empty() {
                return (pos, None);
            }
            match self.state {
                State::Rejected => return (pos, None),
                State::Body(n) | State::ChunkData(n) => {
                    let m = n.min(rest.len() as u64);
                    self.body(m);
                    pos += m as usize;
                }
                State::Head | State::Trailers => {
                    let trailers = self.state == State::Trailers;
                    if !trailers && (rest.starts_with(b"\r\n") || rest.starts_with(b"\n")) {
                        let r = self.reject(400, "an empty line where a request line belongs");
                        return (pos, Some(r));
                    }
                    let Some(end) = block_end(rest, self.max_head) else {
                        if rest.len() >= self.max_head {
                            return (pos, Some(self.line_too_long()));
                        }
                        return (pos, None);
                    };
                    let block = &rest[..end];
                    let next = if trailers {
                        parse_trailers(block).map(|()| State::Head)
                    } else {
                        parse_head(block).map(BodyKind::next_state)
                    };
                    match next {
                        Ok(s) => self.state = s,
                        Err(r) => return (pos, Some(self.reject(r.status, r.reason))),
                    }
                    pos += end;
                }
                State::ChunkSize | State::ChunkEnd => {
                    let Some(Want::Line { max }) = self.want() else {
                        unreachable!("a line state wants a line")
                    };
                    match rest.iter().position(|&b| b == b'\n') {
                        Some(p) if p < max => match self.line(&rest[..=p]) {
                            Ok(_) => pos += p + 1,
                            Err(r) => return (pos, Some(r)),
                        },
                        None if rest.len() < max => return (pos, None),
                        _ => return (pos, Some(self.line_too_long())),
                    }
                }
            }
        }
    }

    /// `n` body bytes were passed on (at most what [`Want::Body`] asked).
    pub(crate) fn body(&mut self, n: u64) {
        self.state = match self.state {
            State::Body(left) if n >= left => State::Head,
            State::Body(left) => State::Body(left - n),
            State::ChunkData(left) if n >= left => State::ChunkEnd,
            State::ChunkData(left) => State::ChunkData(left - n),
            s => s,
        };
    }
}

/// What is handed to evhttp in place of a refused message (see the module's table).
fn stand_in(r: Rejection) -> &'static [u8] {
    match (r.mid_body, r.status) {
        (true, _) => b"x\r\n",
        (false, 501) => b"STRICT-REFUSED / HTTP/1.1\r\nHost: -\r\nConnection: close\r\n\r\n",
        (false, _) => b"BAD\r\n",
    }
}

/// One strict connection: its framer and the bytes evhttp is not shown yet. Kept by the
/// server's `Core` (see `server.rs`); the input buffer's callback reaches it by pointer.
pub(crate) struct Conn {
    framer: Framer,
    /// The client's bytes not framed yet (an incomplete head, a partial line); made on
    /// first need (most connections never hold any).
    pending: Option<NonNull<sys::evbuffer>>,
    line: Vec<u8>,
    /// Our own moves in the input buffer call the callback again: ignored.
    busy: bool,
    input: *mut sys::evbuffer,
    entry: *mut sys::evbuffer_cb_entry,
    /// The evhttp connection on this bufferevent, once its bytes arrive.
    pub(crate) evcon: *mut sys::evhttp_connection,
    pub(crate) bev: *mut sys::bufferevent,
    /// Told the connection's evhttp object once it is known (see `server.rs`).
    on_first_bytes: Option<Box<dyn FnOnce(*mut sys::evhttp_connection)>>,
}

impl Conn {
    /// Starts framing what arrives in `bev`'s input.
    ///
    /// # Safety
    /// `bev` is a live bufferevent whose input no one else watches with callbacks of
    /// ours; the returned `Conn` must be [`detach`](Conn::detach)ed while `bev` lives,
    /// or outlive its input buffer.
    pub(crate) unsafe fn attach(
        bev: *mut sys::bufferevent,
        max_head: usize,
        on_first_bytes: Box<dyn FnOnce(*mut sys::evhttp_connection)>,
    ) -> Option<Box<Conn>> {
        // SAFETY: bev is live (the caller's promise).
        let input = unsafe { sys::bufferevent_get_input(bev) };
        let mut conn = Box::new(Conn {
            framer: Framer::new(max_head),
            pending: None,
            line: Vec::new(),
            busy: false,
            input,
            entry: std::ptr::null_mut(),
            evcon: std::ptr::null_mut(),
            bev,
            on_first_bytes: Some(on_first_bytes),
        });
        let arg = &mut *conn as *mut Conn as *mut c_void;
        // SAFETY: input is live; arg stays valid as long as the callback can run (the
        // caller's promise: detached first, or outliving the buffer).
        conn.entry = unsafe { sys::evbuffer_add_cb(input, Some(input_cb), arg) };
        if conn.entry.is_null() {
            return None;
        }
        Some(conn)
    }

    /// Stops watching the input buffer.
    ///
    /// # Safety
    /// The bufferevent is still live.
    pub(crate) unsafe fn detach(&mut self) {
        if !self.entry.is_null() {
            // SAFETY: the buffer is live (the caller's promise) and the entry is its own.
            unsafe { sys::evbuffer_remove_cb_entry(self.input, self.entry) };
            self.entry = std::ptr::null_mut();
        }
    }

    /// `n` bytes were added at the end of `buf`, evhttp's input: they move to `pending`,
    /// and what the framer passes comes back.
    ///
    /// # Safety
    /// `buf` is this connection's live input buffer.
    unsafe fn added(&mut self, buf: *mut sys::evbuffer, n: usize) {
        self.busy = true;
        // SAFETY: pending, if made, is ours and live.
        let nothing_pending = self.pending.map_or(
            true,
            |p| unsafe { sys::evbuffer_get_length(p.as_ptr()) } == 0,
        );
        if nothing_pending && self.framer.held().is_empty() && self.framer.want().is_some() {
            // SAFETY: buf is live (the caller's promise).
            unsafe { self.added_in_place(buf, n) };
            self.busy = false;
            return;
        }
        // SAFETY: buf and pending are live; the end of buf is writable while bytes are
        // being added to it (a socket bufferevent unfreezes it for the read whose callback
        // this is). The first `keep` bytes were framed before and evhttp has not read
        // them; the new ones join what is pending.
        unsafe {
            let keep = sys::evbuffer_get_length(buf).saturating_sub(n);
            self.move_tail(buf, keep, false);
            if let Some(pending) = self.pending {
                self.run(pending.as_ptr(), buf);
            }
        }
        self.busy = false;
    }

    /// The usual case, nothing pending: frame the new bytes where they lie, and take out of
    /// `buf` only what follows the last whole unit (an incomplete head or line), or, after
    /// a refusal, everything from it on.
    ///
    /// # Safety
    /// `buf` is this connection's live input buffer, its end writable (as in `added`).
    unsafe fn added_in_place(&mut self, buf: *mut sys::evbuffer, n: usize) {
        // SAFETY: buf is live; a pullup of all of it (one chain already, usually, so no
        // copy) is valid until the buffer next changes, which is after the last use of
        // `data` below.
        let (len, start) = unsafe {
            let len = sys::evbuffer_get_length(buf);
            (len, sys::evbuffer_pullup(buf, -1))
        };
        let keep = len - n.min(len);
        if start.is_null() {
            // No memory for the pullup: the slow path moves the bytes instead.
            // SAFETY: as in `added`.
            unsafe { self.move_tail(buf, keep, false) };
            if let Some(pending) = self.pending {
                // SAFETY: pending and buf are live.
                unsafe { self.run(pending.as_ptr(), buf) };
            }
            return;
        }
        // SAFETY: start points at the buffer's len contiguous bytes (the pullup above).
        let data = unsafe { std::slice::from_raw_parts(start.add(keep), len - keep) };
        let (used, refusal) = self.framer.advance(data);
        let cut = keep + used;
        if let Some(r) = refusal {
            log::debug!("strict HTTP framing refused a request: {}", r.reason);
            // SAFETY: as above.
            unsafe {
                self.move_tail(buf, cut, true);
                let out = stand_in(r);
                sys::evbuffer_add(buf, out.as_ptr().cast(), out.len());
            }
        } else if cut < len {
            // SAFETY: as above.
            unsafe { self.move_tail(buf, cut, false) };
        }
    }

    /// Everything in `buf` past its first `cut` bytes goes to `pending` (or, with `drop`,
    /// nowhere).
    ///
    /// # Safety
    /// As [`added_in_place`](Self::added_in_place).
    unsafe fn move_tail(&mut self, buf: *mut sys::evbuffer, cut: usize, drop: bool) {
        if self.pending.is_none() && !drop {
            // SAFETY: a fresh buffer, ours to free (Drop).
            self.pending = NonNull::new(unsafe { sys::evbuffer_new() });
        }
        let pending = self.pending.map_or(std::ptr::null_mut(), NonNull::as_ptr);
        // SAFETY: buf is live and its end writable (the caller's); pending is live where
        // it is used (not null unless `drop`, or the allocation failed: handled first).
        unsafe {
            let len = sys::evbuffer_get_length(buf);
            if pending.is_null() && !drop {
                // No memory: refuse the connection rather than pass unframed bytes.
                sys::evbuffer_drain(buf, len);
                let r = self.framer.reject(400, "no memory for the strict layer");
                let out = stand_in(r);
                sys::evbuffer_add(buf, out.as_ptr().cast(), out.len());
                return;
            }
            if cut == 0 {
                if drop {
                    sys::evbuffer_drain(buf, len);
                } else {
                    sys::evbuffer_add_buffer(pending, buf);
                }
                return;
            }
            let front = sys::evbuffer_new();
            if front.is_null() {
                // No memory: refuse the connection rather than pass unframed bytes.
                sys::evbuffer_drain(buf, len);
                let r = self.framer.reject(400, "no memory for the strict layer");
                let out = stand_in(r);
                sys::evbuffer_add(buf, out.as_ptr().cast(), out.len());
                return;
            }
            sys::evbuffer_remove_buffer(buf, front, cut);
            if drop {
                sys::evbuffer_drain(buf, len - cut);
            } else {
                sys::evbuffer_add_buffer(pending, buf);
            }
            sys::evbuffer_add_buffer(buf, front);
            sys::evbuffer_free(front);
        }
    }

    /// Moves what can be framed from `src` to `dst`.
    ///
    /// # Safety
    /// `src` and `dst` are live evbuffers, for the call.
    unsafe fn run(&mut self, src: *mut sys::evbuffer, dst: *mut sys::evbuffer) {
        loop {
            // SAFETY: src and dst are live (the caller's promise), here and below.
            let len = unsafe { sys::evbuffer_get_length(src) };
            let Some(want) = self.framer.want() else {
                // Refused: the client's bytes go nowhere.
                // SAFETY: as above.
                unsafe { sys::evbuffer_drain(src, len) };
                return;
            };
            if len == 0 {
                return;
            }
            let step = match want {
                Want::Body(n) => {
                    let m = n.min(len as u64) as usize;
                    // SAFETY: as above; m <= len.
                    unsafe { sys::evbuffer_remove_buffer(src, dst, m) };
                    self.framer.body(m as u64);
                    continue;
                }
                Want::Line { max } => {
                    // SAFETY: as above; the needle is 1 byte, read during the call.
                    let at =
                        unsafe { sys::evbuffer_search(src, c"\n".as_ptr(), 1, std::ptr::null()) };
                    match usize::try_from(at.pos).ok().map(|p| p + 1) {
                        Some(end) if end <= max => {
                            self.line.resize(end, 0);
                            // SAFETY: as above; line has room for the `end` bytes src has.
                            unsafe {
                                sys::evbuffer_remove(src, self.line.as_mut_ptr().cast(), end)
                            };
                            self.framer.line(&self.line)
                        }
                        None if len < max => return,
                        _ => Err(self.framer.line_too_long()),
                    }
                }
            };
            let out: &[u8] = match &step {
                Ok(Step::Held) => continue,
                Ok(Step::ForwardHeld) => self.framer.held(),
                Ok(Step::ForwardLine) => &self.line,
                Err(r) => {
                    log::debug!("strict HTTP framing refused a request: {}", r.reason);
                    stand_in(*r)
                }
            };
            // SAFETY: as above; out is read during the call.
            unsafe { sys::evbuffer_add(dst, out.as_ptr().cast(), out.len()) };
            if matches!(step, Ok(Step::ForwardHeld)) {
                self.framer.clear_held();
            }
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Some(p) = self.pending {
            // SAFETY: ours, made in move_tail, freed once; nothing else holds it.
            unsafe { sys::evbuffer_free(p.as_ptr()) };
        }
    }
}

/// The input buffer's callback: runs inside the read that added the bytes, before the
/// bufferevent's read callback (evhttp's) sees them.
extern "C" fn input_cb(
    buf: *mut sys::evbuffer,
    info: *const sys::evbuffer_cb_info,
    arg: *mut c_void,
) {
    let run = || {
        // SAFETY: arg is the Conn this callback was added with, alive while the callback
        // is registered (Conn::attach's contract); libevent runs a buffer's callbacks on
        // one thread at a time, and no other reference to the Conn is in use while C
        // runs this (the server touches it only from its close callback, never from
        // inside a buffer operation).
        let conn = unsafe { &mut *(arg as *mut Conn) };
        // SAFETY: info is valid for the call.
        let added = unsafe { (*info).n_added };
        if conn.busy || added == 0 {
            return;
        }
        if let Some(first) = conn.on_first_bytes.take() {
            let mut evcon: *mut c_void = std::ptr::null_mut();
            // SAFETY: the bufferevent is live (its input is); evhttp set its callbacks with
            // the evhttp connection as their argument before any byte could arrive.
            unsafe {
                sys::bufferevent_getcb(
                    conn.bev,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    &mut evcon,
                )
            };
            conn.evcon = evcon.cast();
            first(conn.evcon);
        }
        // SAFETY: buf is this Conn's input buffer, live for the call.
        unsafe { conn.added(buf, added) };
    };
    if crate::panic::wrap(crate::panic::Guard::Contain("the strict HTTP layer"), run).is_none() {
        // A bug of ours: fail closed. Nothing more is passed on, and evhttp is handed a
        // line it refuses.
        // SAFETY: as above; the panicked closure's borrow has ended.
        let conn = unsafe { &mut *(arg as *mut Conn) };
        conn.busy = false;
        let r = conn.framer.reject(400, "the strict layer failed");
        let out = stand_in(r);
        // SAFETY: buf is live for the call.
        unsafe {
            sys::evbuffer_drain(buf, sys::evbuffer_get_length(buf));
            sys::evbuffer_add(buf, out.as_ptr().cast(), out.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` a line or body piece at a time, as the glue does; what was passed on,
    /// and the refusal if any.
    fn drive(input: &[u8]) -> (Vec<u8>, Option<Rejection>) {
        let mut f = Framer::new(DEFAULT_MAX_HEAD);
        let mut out = Vec::new();
        let mut rest = input;
        while let Some(want) = f.want() {
            match want {
                Want::Body(n) => {
                    let m = (n as usize).min(rest.len());
                    if m == 0 {
                        break;
                    }
                    out.extend_from_slice(&rest[..m]);
                    f.body(m as u64);
                    rest = &rest[m..];
                }
                Want::Line { max } => {
                    let Some(p) = rest.iter().position(|&b| b == b'\n') else {
                        if rest.len() >= max {
                            return (out, Some(f.line_too_long()));
                        }
                        break;
                    };
                    if p + 1 > max {
                        return (out, Some(f.line_too_long()));
                    }
                    let (line, tail) = rest.split_at(p + 1);
                    rest = tail;
                    match f.line(line) {
                        Ok(Step::Held) => {}
                        Ok(Step::ForwardHeld) => {
                            out.extend_from_slice(f.held());
                            f.clear_held();
                        }
                        Ok(Step::ForwardLine) => out.extend_from_slice(line),
                        Err(r) => return (out, Some(r)),
                    }
                }
            }
        }
        (out, None)
    }

    #[test]
    fn valid_streams_pass_byte_for_byte() {
        let s: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n\
            POST /p HTTP/1.1\nHost: a\nContent-Length: 3\n\nabc\
            PUT /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n\
            a;n=v;q=\"x\\\"y\"\r\n0123456789\r\n0\r\nT: 1\r\n\r\n";
        assert_eq!(drive(s), (s.to_vec(), None));
        // Cut anywhere: what passed is a prefix, and nothing is refused.
        for cut in 0..s.len() {
            let (out, r) = drive(&s[..cut]);
            assert!(r.is_none(), "cut {cut}");
            assert!(s.starts_with(&out));
        }
    }

    #[test]
    fn heads_are_held_until_complete_and_refused_whole() {
        let (out, r) =
            drive(b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
        assert!(out.is_empty());
        let r = r.unwrap();
        assert_eq!((r.status, r.mid_body), (400, false));
        let (_, r) = drive(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: br, chunked\r\n\r\n");
        assert_eq!(r.unwrap().status, 501);
        let (out, r) =
            drive(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nz\r\n");
        assert!(out.ends_with(b"\r\n\r\n"));
        assert!(r.unwrap().mid_body);
    }

    #[test]
    fn advance_frames_as_the_line_path() {
        let s: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n\
            PUT /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
            3\r\nabc\r\n0\r\n\r\nPOST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nok";
        for cut in 0..=s.len() {
            // One pass over the first part, then the line path for the rest.
            let mut f = Framer::new(DEFAULT_MAX_HEAD);
            let (used, r) = f.advance(&s[..cut]);
            assert!(r.is_none() && used <= cut);
            let (used2, r) = f.advance(&s[used..]);
            assert_eq!((used + used2, r), (s.len(), None), "cut {cut}");
        }
        for bad in [
            &b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"[..],
            b"\r\n",
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY",
        ] {
            let mut f = Framer::new(DEFAULT_MAX_HEAD);
            let (_, r) = f.advance(bad);
            assert_eq!(
                r.map(|r| (r.status, r.mid_body)),
                drive(bad).1.map(|r| (r.status, r.mid_body))
            );
            assert!(r.is_some());
        }
    }

    #[test]
    fn chunk_size_grammar() {
        assert_eq!(chunk_size(b"0"), Some(0));
        assert_eq!(chunk_size(b"fF"), Some(255));
        assert_eq!(chunk_size(b"5 ; a = b ; c"), Some(5));
        assert_eq!(chunk_size(b"5;a=\"b;\\\"c\""), Some(5));
        for bad in [
            &b""[..],
            b" 5",
            b"5 x",
            b"5;",
            b"5;=b",
            b"5;a=",
            b"5;a=\"b",
            b"-1",
            b"1000000000000000",
        ] {
            assert_eq!(chunk_size(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(chunk_size(b"fffffffffffffff"), Some(0xfff_ffff_ffff_ffff));
    }

    #[test]
    fn lines_past_their_bound_are_refused() {
        let mut f = Framer::new(100);
        assert_eq!(f.want(), Some(Want::Line { max: 100 }));
        assert_eq!(f.line(b"GET / HTTP/1.1\r\n"), Ok(Step::Held));
        assert_eq!(f.want(), Some(Want::Line { max: 84 }));
        assert_eq!(f.line_too_long().status, 400);
        assert_eq!(f.want(), None);
    }
}
