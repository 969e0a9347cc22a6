//! One error type for every fallible call: which C function failed, and why; and
//! [`call!`], the one way this crate checks what a C function returned.

use libevent_sys as sys;
use std::fmt;
use std::io;
use std::ptr::NonNull;

/// Calls a C function and checks its return value, the only way this crate does so.
///
/// `call!(sys::event_add(ev, tv))` clears `errno`, calls the function, and turns its
/// return value into a [`Result`] through [`CReturn`]: a negative `int` or a null pointer
/// is an [`Error`] that names the function (taken from the call itself, so the name
/// cannot drift from it) and carries the `errno` the call left, if it left one. Like
/// git2's `try_call!`, it expands to a plain call, so the caller writes the `unsafe`
/// block around it, with the reason it holds:
///
/// ```text
/// // SAFETY: the event is live; the timeval is read during the call only.
/// unsafe { call!(sys::event_add(self.as_raw(), tv)) }?;
/// ```
macro_rules! call {
    ($module:ident :: $function:ident ( $($arg:expr),* $(,)? )) => {{
        $crate::error::clear_errno();
        $crate::error::CReturn::check($module::$function($($arg),*), stringify!($function))
    }};
}
pub(crate) use call;

/// Sets `errno` to 0, so that a failure that sets none is not blamed on an old one.
#[inline]
pub(crate) fn clear_errno() {
    // SAFETY: errno is thread-local; its location is valid for the thread's life.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    unsafe {
        *libc::__errno_location() = 0
    };
    // SAFETY: as above.
    #[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd"))]
    unsafe {
        *libc::__error() = 0
    };
}

/// What a C function returns, and how its failure shows: libevent reports failure with
/// a negative `int` (-1; counts and flags are never negative) or a null pointer.
pub(crate) trait CReturn: Sized {
    /// The value on success.
    type Ok;
    /// `Ok` on success; on failure, an [`Error`] for `function` with the `errno` left.
    fn check(self, function: &'static str) -> Result<Self::Ok>;
}

impl CReturn for i32 {
    type Ok = i32;
    #[inline]
    fn check(self, function: &'static str) -> Result<i32> {
        if self < 0 {
            return Err(Error::last(function));
        }
        Ok(self)
    }
}

impl CReturn for isize {
    type Ok = usize;
    #[inline]
    fn check(self, function: &'static str) -> Result<usize> {
        usize::try_from(self).map_err(|_| Error::last(function))
    }
}

impl<T> CReturn for *mut T {
    type Ok = NonNull<T>;
    #[inline]
    fn check(self, function: &'static str) -> Result<NonNull<T>> {
        NonNull::new(self).ok_or_else(|| Error::last(function))
    }
}

impl<T> CReturn for *const T {
    type Ok = NonNull<T>;
    #[inline]
    fn check(self, function: &'static str) -> Result<NonNull<T>> {
        NonNull::new(self.cast_mut()).ok_or_else(|| Error::last(function))
    }
}

/// A libevent call that failed.
///
/// It names the C function (`bufferevent_socket_connect`, `event_add`, ...) and carries
/// the `errno` it left, when libevent reports failures through `errno`, or a sentence
/// saying which argument was refused, when this crate refused it before calling C.
///
/// ```
/// use libevent::{EventBase, Event, Flags};
/// let base = EventBase::new().unwrap();
/// // A read event needs a descriptor.
/// let err = Event::new(&base, -1, Flags::READ, |_| {}).unwrap_err();
/// assert_eq!(err.function(), "event_new");
/// assert!(err.to_string().contains("descriptor"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    function: &'static str,
    errno: Option<i32>,
    reason: Option<&'static str>,
    request: Option<RequestError>,
    dns: Option<crate::dns::DnsError>,
}

/// Why an HTTP request made with [`HttpConnection`](crate::HttpConnection) failed
/// (`enum evhttp_request_error`, plus the connection that could not be made).
///
/// ```
/// use libevent::RequestError;
/// assert_eq!(RequestError::Timeout.to_string(), "timed out");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestError {
    /// `EVREQ_HTTP_TIMEOUT`: no answer within the connection's timeout.
    Timeout,
    /// `EVREQ_HTTP_EOF`: the server closed the connection before answering.
    Eof,
    /// `EVREQ_HTTP_INVALID_HEADER`: the response could not be parsed.
    InvalidHeader,
    /// `EVREQ_HTTP_BUFFER_ERROR`: reading or writing the socket failed.
    BufferError,
    /// `EVREQ_HTTP_REQUEST_CANCEL`: the request was cancelled.
    Cancelled,
    /// `EVREQ_HTTP_DATA_TOO_LONG`: the response's headers or body passed the limits.
    DataTooLong,
    /// The connection could not be made (after the retries asked for).
    ConnectFailed,
}

impl RequestError {
    pub(crate) fn from_c(e: u32) -> RequestError {
        match e {
            sys::evhttp_request_error_EVREQ_HTTP_TIMEOUT => RequestError::Timeout,
            sys::evhttp_request_error_EVREQ_HTTP_EOF => RequestError::Eof,
            sys::evhttp_request_error_EVREQ_HTTP_INVALID_HEADER => RequestError::InvalidHeader,
            sys::evhttp_request_error_EVREQ_HTTP_REQUEST_CANCEL => RequestError::Cancelled,
            sys::evhttp_request_error_EVREQ_HTTP_DATA_TOO_LONG => RequestError::DataTooLong,
            _ => RequestError::BufferError,
        }
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RequestError::Timeout => "timed out",
            RequestError::Eof => "connection closed before the response",
            RequestError::InvalidHeader => "invalid response",
            RequestError::BufferError => "socket error",
            RequestError::Cancelled => "cancelled",
            RequestError::DataTooLong => "response over the size limits",
            RequestError::ConnectFailed => "could not connect",
        })
    }
}

/// `Result<T, libevent::Error>`.
///
/// ```
/// # use libevent::*;
/// fn open() -> libevent::Result<EventBase> { EventBase::new() }
/// assert!(open().is_ok());
/// # Ok::<(), libevent::Error>(())
/// ```
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// The C call failed; take `errno` as libevent left it (0 means it set none).
    pub(crate) fn last(function: &'static str) -> Error {
        let errno = io::Error::last_os_error()
            .raw_os_error()
            .filter(|&e| e != 0);
        Error {
            function,
            errno,
            reason: None,
            request: None,
            dns: None,
        }
    }

    /// The arguments were refused before calling `function`.
    pub(crate) fn invalid(function: &'static str, reason: &'static str) -> Error {
        Error {
            function,
            errno: None,
            reason: Some(reason),
            request: None,
            dns: None,
        }
    }

    /// An OS error code from a callback (a listener's accept error, for example).
    pub(crate) fn os(function: &'static str, errno: i32) -> Error {
        Error {
            function,
            errno: Some(errno),
            reason: None,
            request: None,
            dns: None,
        }
    }

    /// An HTTP request that failed on the wire, with the `errno` libevent left, if any.
    pub(crate) fn request(kind: RequestError, errno: Option<i32>) -> Error {
        Error {
            function: "evhttp_make_request",
            errno: errno.filter(|&e| e != 0),
            reason: None,
            request: Some(kind),
            dns: None,
        }
    }

    /// A DNS lookup that failed.
    pub(crate) fn dns(kind: crate::dns::DnsError) -> Error {
        Error {
            function: "evdns",
            errno: None,
            reason: None,
            request: None,
            dns: Some(kind),
        }
    }

    /// Why a DNS lookup failed, for errors from [`DnsBase`](crate::DnsBase) lookups and
    /// [`BufferEventRef::dns_error`](crate::BufferEventRef::dns_error).
    ///
    /// ```
    /// # use libevent::*;
    /// let e = Uri::parse("\0").unwrap_err();
    /// assert_eq!(e.dns_error(), None);
    /// ```
    pub fn dns_error(&self) -> Option<crate::dns::DnsError> {
        self.dns
    }

    /// Why an HTTP request failed, for errors handed to a response callback.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// let e = Event::timer(&base, |_| {})?.add(Some(std::time::Duration::MAX)).unwrap_err();
    /// assert_eq!(e.request_error(), None);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn request_error(&self) -> Option<RequestError> {
        self.request
    }

    /// The libevent function that failed (or would have been called).
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// let e = Event::new(&base, -1, Flags::WRITE, |_| {}).unwrap_err();
    /// assert_eq!(e.function(), "event_new");
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn function(&self) -> &'static str {
        self.function
    }

    /// The `errno` value, when there was one.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let e = Listener::bind(&base, taken.local_addr().unwrap(), 8, ListenerFlags::empty(), |_, _| {}).unwrap_err();
    /// assert_eq!(e.errno(), Some(libc::EADDRINUSE));
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn errno(&self) -> Option<i32> {
        self.errno
    }

    /// True when this crate refused an argument before calling C.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// let t = Event::timer(&base, |_| {})?;
    /// assert!(t.add(Some(std::time::Duration::MAX)).unwrap_err().is_invalid_input());
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn is_invalid_input(&self) -> bool {
        self.reason.is_some()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(kind) = self.dns {
            return write!(f, "DNS lookup failed: {kind}");
        }
        if let Some(kind) = self.request {
            write!(f, "{}: {kind}", self.function)?;
            if let Some(errno) = self.errno {
                write!(f, " ({})", io::Error::from_raw_os_error(errno))?;
            }
            return Ok(());
        }
        match (self.reason, self.errno) {
            (Some(reason), _) => write!(f, "{}: {reason}", self.function),
            (None, Some(errno)) => {
                write!(
                    f,
                    "{} failed: {}",
                    self.function,
                    io::Error::from_raw_os_error(errno)
                )
            }
            (None, None) => write!(f, "{} failed", self.function),
        }
    }
}

impl std::error::Error for Error {}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        match (e.errno, e.reason) {
            (Some(errno), None) => io::Error::from_raw_os_error(errno),
            (_, Some(_)) => io::Error::new(io::ErrorKind::InvalidInput, e),
            _ => io::Error::other(e),
        }
    }
}
