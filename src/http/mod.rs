//! `evhttp`: libevent's HTTP server and client (`event2/http.h`).
//!
//! - [`Http`] is a server (`struct evhttp`) on an [`EventBase`](crate::EventBase): bind
//!   addresses, route paths to closures, set limits and timeouts, add virtual hosts.
//! - A handler gets a [`Request`] by value: it owes the client exactly one reply, sent
//!   at once ([`Request::send_reply`]), later from another callback (keep the `Request`),
//!   or in chunks ([`Request::start_reply`], [`ChunkedReply`]). A `Request` dropped
//!   without a reply answers `500 Internal Server Error`, so no request is left hanging
//!   and none leaks; a client that went away is seen through
//!   [`Request::is_abandoned`] and [`Request::on_abandon`].
//! - [`HttpConnection`] is a client connection (`struct evhttp_connection`) to one
//!   address: requests are queued on it and sent over one kept-alive socket.
//! - [`RequestRef`] is a request as libevent lends it (method, URI, headers, bodies),
//!   [`HeadersRef`] its header lists, [`Uri`] a parsed URI.
//!
//! Dropping an `Http` or an `HttpConnection` frees the C object, also from inside one of
//! its own callbacks: libevent may still be using it there, so the free then waits until
//! C has returned to the loop.

mod client;
mod headers;
mod request;
mod server;
mod strict;
mod uri;

pub use client::{HttpConnection, PendingRequest, RequestBuilder, Response, ResponseFuture};
pub use headers::{HeadersIter, HeadersRef};
pub use request::{ChunkedReply, Request, RequestRef};
pub use server::{BoundSocket, Http};
pub use uri::{decode_uri, encode_uri, html_escape, parse_query, Uri, UriRef};

use crate::error::{Error, Result};
pub(crate) use crate::handle::InCallback;
use crate::util::flag_type;
use libevent_sys as sys;
use std::ffi::{CStr, CString};

/// An HTTP method (`enum evhttp_cmd_type`).
///
/// ```
/// use libevent::http::Method;
/// assert_eq!(Method::Get.as_str(), "GET");
/// assert_eq!("PATCH".parse::<Method>().unwrap(), Method::Patch);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `EVHTTP_REQ_GET`
    Get,
    /// `EVHTTP_REQ_POST`
    Post,
    /// `EVHTTP_REQ_HEAD`
    Head,
    /// `EVHTTP_REQ_PUT`
    Put,
    /// `EVHTTP_REQ_DELETE`
    Delete,
    /// `EVHTTP_REQ_OPTIONS`
    Options,
    /// `EVHTTP_REQ_TRACE`
    Trace,
    /// `EVHTTP_REQ_CONNECT`
    Connect,
    /// `EVHTTP_REQ_PATCH`
    Patch,
}

const METHODS: [(Method, sys::evhttp_cmd_type, &str); 9] = [
    (Method::Get, sys::evhttp_cmd_type_EVHTTP_REQ_GET, "GET"),
    (Method::Post, sys::evhttp_cmd_type_EVHTTP_REQ_POST, "POST"),
    (Method::Head, sys::evhttp_cmd_type_EVHTTP_REQ_HEAD, "HEAD"),
    (Method::Put, sys::evhttp_cmd_type_EVHTTP_REQ_PUT, "PUT"),
    (
        Method::Delete,
        sys::evhttp_cmd_type_EVHTTP_REQ_DELETE,
        "DELETE",
    ),
    (
        Method::Options,
        sys::evhttp_cmd_type_EVHTTP_REQ_OPTIONS,
        "OPTIONS",
    ),
    (
        Method::Trace,
        sys::evhttp_cmd_type_EVHTTP_REQ_TRACE,
        "TRACE",
    ),
    (
        Method::Connect,
        sys::evhttp_cmd_type_EVHTTP_REQ_CONNECT,
        "CONNECT",
    ),
    (
        Method::Patch,
        sys::evhttp_cmd_type_EVHTTP_REQ_PATCH,
        "PATCH",
    ),
];

impl Method {
    /// The method's name, as sent on the wire.
    ///
    /// ```
    /// assert_eq!(libevent::http::Method::Delete.as_str(), "DELETE");
    /// ```
    pub fn as_str(self) -> &'static str {
        METHODS[self as usize].2
    }

    pub(crate) fn to_c(self) -> sys::evhttp_cmd_type {
        METHODS[self as usize].1
    }

    pub(crate) fn from_c(c: sys::evhttp_cmd_type) -> Option<Method> {
        METHODS.iter().find(|m| m.1 == c).map(|m| m.0)
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Method {
    type Err = Error;
    fn from_str(s: &str) -> Result<Method> {
        METHODS
            .iter()
            .find(|m| m.2 == s)
            .map(|m| m.0)
            .ok_or(Error::invalid(
                "Method::from_str",
                "not an HTTP method libevent knows",
            ))
    }
}

flag_type! {
    /// `EVHTTP_CON_*`, for [`HttpConnection::set_flags`].
    ///
    /// ```
    /// use libevent::http::ConnectionFlags;
    /// let f = ConnectionFlags::REUSE_CONNECTED_ADDR | ConnectionFlags::LINGERING_CLOSE;
    /// assert!(f.contains(ConnectionFlags::LINGERING_CLOSE));
    /// ```
    ConnectionFlags: i32 {
        /// `EVHTTP_CON_REUSE_CONNECTED_ADDR`: reconnect to the address resolved the first
        /// time instead of resolving again.
        REUSE_CONNECTED_ADDR = sys::EVHTTP_CON_REUSE_CONNECTED_ADDR;
        /// `EVHTTP_CON_READ_ON_WRITE_ERROR`: after a write error, still read the reply
        /// the server may have sent (a server that answers early and closes).
        READ_ON_WRITE_ERROR = sys::EVHTTP_CON_READ_ON_WRITE_ERROR;
        /// `EVHTTP_CON_LINGERING_CLOSE`: on a request body too large, read it all before
        /// closing, so the server's reply is not lost to a reset.
        LINGERING_CLOSE = sys::EVHTTP_CON_LINGERING_CLOSE;
    }
}

flag_type! {
    /// A set of methods, for [`Http::set_allowed_methods`] (an `evhttp_cmd_type` mask).
    ///
    /// ```
    /// use libevent::http::Methods;
    /// let m = Methods::GET | Methods::HEAD;
    /// assert!(m.contains(Methods::GET) && !m.contains(Methods::POST));
    /// ```
    Methods: u16 {
        /// GET
        GET = sys::evhttp_cmd_type_EVHTTP_REQ_GET;
        /// POST
        POST = sys::evhttp_cmd_type_EVHTTP_REQ_POST;
        /// HEAD
        HEAD = sys::evhttp_cmd_type_EVHTTP_REQ_HEAD;
        /// PUT
        PUT = sys::evhttp_cmd_type_EVHTTP_REQ_PUT;
        /// DELETE
        DELETE = sys::evhttp_cmd_type_EVHTTP_REQ_DELETE;
        /// OPTIONS
        OPTIONS = sys::evhttp_cmd_type_EVHTTP_REQ_OPTIONS;
        /// TRACE
        TRACE = sys::evhttp_cmd_type_EVHTTP_REQ_TRACE;
        /// CONNECT
        CONNECT = sys::evhttp_cmd_type_EVHTTP_REQ_CONNECT;
        /// PATCH
        PATCH = sys::evhttp_cmd_type_EVHTTP_REQ_PATCH;
    }
}

/// A string for C that must hold no NUL (and, when `line` is set, no CR or LF: a header,
/// a reason phrase, a request target end a line on the wire).
pub(crate) fn c_text(function: &'static str, what: &str, line: bool) -> Result<CString> {
    if line && what.bytes().any(|b| b == b'\r' || b == b'\n') {
        return Err(Error::invalid(
            function,
            "CR or LF in a header, reason or URI",
        ));
    }
    CString::new(what).map_err(|_| Error::invalid(function, "NUL in a string"))
}

/// A C string on the stack when it is short: the header calls a handler makes on every
/// request allocate nothing.
pub(crate) enum CText {
    Stack([u8; CText::STACK]),
    Heap(CString),
}

impl CText {
    const STACK: usize = 128;

    /// As [`c_text`], without allocating for strings shorter than 128 bytes.
    pub(crate) fn new(function: &'static str, what: &str, line: bool) -> Result<CText> {
        let b = what.as_bytes();
        if b.len() >= Self::STACK {
            return c_text(function, what, line).map(CText::Heap);
        }
        if b.contains(&0) {
            return Err(Error::invalid(function, "NUL in a string"));
        }
        if line && b.iter().any(|&c| c == b'\r' || c == b'\n') {
            return Err(Error::invalid(
                function,
                "CR or LF in a header, reason or URI",
            ));
        }
        let mut buf = [0u8; Self::STACK];
        buf[..b.len()].copy_from_slice(b);
        Ok(CText::Stack(buf))
    }

    pub(crate) fn as_ptr(&self) -> *const std::ffi::c_char {
        match self {
            CText::Stack(buf) => buf.as_ptr().cast(),
            CText::Heap(c) => c.as_ptr(),
        }
    }
}

/// A header name: a token (RFC 9110), so no space, colon, CR, LF or NUL.
pub(crate) fn header_name(function: &'static str, name: &str) -> Result<CText> {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(token) {
        return Err(Error::invalid(
            function,
            "a header name must be a non-empty token (no space, colon, CR, LF or NUL)",
        ));
    }
    CText::new(function, name, true)
}

/// A status code libevent may send: 100 to 599.
pub(crate) fn status(function: &'static str, code: u16) -> Result<i32> {
    if !(100..=599).contains(&code) {
        return Err(Error::invalid(function, "status must be from 100 to 599"));
    }
    Ok(i32::from(code))
}

/// A C string libevent returned, or None for null or non-UTF-8.
///
/// # Safety
/// `p` is null or a NUL-terminated string live for `'a`.
pub(crate) unsafe fn str_from<'a>(p: *const std::ffi::c_char) -> Option<&'a str> {
    if p.is_null() {
        return None;
    }
    // SAFETY: per the caller.
    unsafe { CStr::from_ptr(p) }.to_str().ok()
}
