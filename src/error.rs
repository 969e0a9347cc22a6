//! [`Error`], the one error type of every fallible call: which C function failed, what
//! kind of failure it was ([`ErrorKind`]), and the `errno` it left; with the causes some
//! kinds carry ([`DnsError`], [`RequestError`], and OpenSSL's errors with feature
//! `openssl`).

// Inside the crate, `call!` is the one way a C function's return value is checked.

use libevent_sys as sys;
use std::ffi::c_int;
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

/// A libevent call that failed: which C function, what kind of failure
/// ([`kind`](Self::kind), to match on), and the `errno` it left, if any.
///
/// ```
/// use libevent::{ErrorKind, EventBase, Event};
/// use libevent::event::Flags;
/// let base = EventBase::new().unwrap();
/// // A read event needs a descriptor.
/// let err = Event::new(&base, -1, Flags::READ, |_| {}).unwrap_err();
/// assert_eq!(err.function(), "event_new");
/// assert!(matches!(err.kind(), ErrorKind::InvalidInput(_)));
/// assert!(err.to_string().contains("descriptor"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    function: &'static str,
    errno: Option<i32>,
    kind: ErrorKind,
}

/// What kind of failure an [`Error`] is, in the spirit of `std::io::ErrorKind`; the
/// variants with a cause carry it. More may come (`#[non_exhaustive]`).
///
/// ```
/// use libevent::ErrorKind;
/// use libevent::http::Uri;
/// let e = Uri::parse("\0").unwrap_err();
/// match e.kind() {
///     ErrorKind::InvalidInput(why) => assert!(why.contains("NUL")),
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// This crate refused an argument before calling C; the sentence says which and why.
    InvalidInput(&'static str),
    /// The operation would block (`EAGAIN`, `EWOULDBLOCK`, `EINPROGRESS`).
    WouldBlock,
    /// It timed out (`ETIMEDOUT`).
    TimedOut,
    /// A DNS lookup failed, with libevent's reason.
    Dns(DnsError),
    /// An HTTP request failed on the wire, with libevent's reason.
    Request(RequestError),
    /// OpenSSL failed: its error queue for the call, oldest first (feature `openssl`).
    #[cfg(all(feature = "openssl", libevent_openssl))]
    #[cfg_attr(docsrs, doc(cfg(feature = "openssl")))]
    Tls(Vec<SslError>),
    /// An evrpc call failed on the client side, with evrpc's reason.
    Rpc(RpcError),
    /// Out of memory or descriptors (`ENOMEM`, `EMFILE`, `ENFILE`, `ENOBUFS`).
    ResourceExhausted,
    /// Anything else; [`Error::errno`] tells more when libevent left one.
    Other,
}

impl ErrorKind {
    fn from_errno(errno: Option<i32>) -> ErrorKind {
        match errno {
            Some(libc::EAGAIN | libc::EINPROGRESS) => ErrorKind::WouldBlock,
            #[allow(unreachable_patterns)] // EWOULDBLOCK is EAGAIN on Linux
            Some(libc::EWOULDBLOCK) => ErrorKind::WouldBlock,
            Some(libc::ETIMEDOUT) => ErrorKind::TimedOut,
            Some(libc::ENOMEM | libc::EMFILE | libc::ENFILE | libc::ENOBUFS) => {
                ErrorKind::ResourceExhausted
            }
            _ => ErrorKind::Other,
        }
    }
}

/// Why an HTTP request made with [`HttpConnection`](crate::http::HttpConnection) failed
/// (`enum evhttp_request_error`, plus the connection that could not be made).
///
/// ```
/// use libevent::error::RequestError;
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
        Error::os_opt(function, errno)
    }

    fn os_opt(function: &'static str, errno: Option<i32>) -> Error {
        Error {
            function,
            errno,
            kind: ErrorKind::from_errno(errno),
        }
    }

    /// The arguments were refused before calling `function`.
    pub(crate) fn invalid(function: &'static str, reason: &'static str) -> Error {
        Error {
            function,
            errno: None,
            kind: ErrorKind::InvalidInput(reason),
        }
    }

    /// The error a program's own [`Message::unmarshal`](crate::rpc::Message::unmarshal)
    /// (or any decoder over this crate's buffers) returns for data it refuses: a field
    /// out of range, text that is not UTF-8. An invalid-input error naming `reason`.
    ///
    /// ```
    /// let e = libevent::Error::invalid_message("a label not in UTF-8");
    /// assert!(e.is_invalid_input());
    /// assert!(e.to_string().contains("a label not in UTF-8"));
    /// ```
    pub fn invalid_message(reason: &'static str) -> Error {
        Error::invalid("unmarshal", reason)
    }

    /// An OS error code from a callback (a listener's accept error, for example).
    pub(crate) fn os(function: &'static str, errno: i32) -> Error {
        Error::os_opt(function, Some(errno))
    }

    /// An evrpc call that failed, for its callback.
    pub(crate) fn rpc(kind: RpcError) -> Error {
        Error {
            function: "evrpc",
            errno: None,
            kind: ErrorKind::Rpc(kind),
        }
    }

    /// An HTTP request that failed on the wire, with the `errno` libevent left, if any.
    pub(crate) fn request(kind: RequestError, errno: Option<i32>) -> Error {
        Error {
            function: "evhttp_make_request",
            errno: errno.filter(|&e| e != 0),
            kind: ErrorKind::Request(kind),
        }
    }

    /// A DNS lookup that failed.
    pub(crate) fn dns(kind: DnsError) -> Error {
        Error {
            function: "evdns",
            errno: None,
            kind: ErrorKind::Dns(kind),
        }
    }

    /// OpenSSL failed in `function`: takes its error queue (which clears it, so that a
    /// later failure on this thread is not blamed on this one).
    #[cfg(all(feature = "openssl", libevent_openssl))]
    pub(crate) fn tls(function: &'static str) -> Error {
        let mut stack = Vec::new();
        loop {
            // SAFETY: pops this thread's OpenSSL error queue; 0 when it is empty.
            let code = unsafe { openssl_sys::ERR_get_error() };
            if code == 0 {
                break;
            }
            stack.push(SslError::from_code(code));
        }
        let errno = io::Error::last_os_error()
            .raw_os_error()
            .filter(|&e| e != 0);
        Error {
            function,
            errno,
            kind: ErrorKind::Tls(stack),
        }
    }

    /// What kind of failure this is.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// let t = Event::timer(&base, |_| {})?;
    /// let e = t.add(Some(std::time::Duration::MAX)).unwrap_err();
    /// assert!(matches!(e.kind(), ErrorKind::InvalidInput(_)));
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// Why a DNS lookup failed, for errors from [`DnsBase`](crate::DnsBase) lookups and
    /// [`BufferEventRef::dns_error`](crate::BufferEventRef::dns_error): the
    /// [`ErrorKind::Dns`] code.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::http::Uri;
    /// let e = Uri::parse("\0").unwrap_err();
    /// assert_eq!(e.dns_error(), None);
    /// ```
    pub fn dns_error(&self) -> Option<DnsError> {
        match self.kind {
            ErrorKind::Dns(d) => Some(d),
            _ => None,
        }
    }

    /// Why an HTTP request failed, for errors handed to a response callback: the
    /// [`ErrorKind::Request`] reason.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// let e = Event::timer(&base, |_| {})?.add(Some(std::time::Duration::MAX)).unwrap_err();
    /// assert_eq!(e.request_error(), None);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn request_error(&self) -> Option<RequestError> {
        match self.kind {
            ErrorKind::Request(r) => Some(r),
            _ => None,
        }
    }

    /// The libevent function that failed (or would have been called).
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::event::Flags;
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
    /// # use libevent::listener::ListenerFlags;
    /// # let base = EventBase::new()?;
    /// let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let e = Listener::bind(&base, taken.local_addr().unwrap(), 8, ListenerFlags::empty(), |_, _| {}).unwrap_err();
    /// assert_eq!(e.errno(), Some(libc::EADDRINUSE));
    /// assert_eq!(e.kind(), &ErrorKind::Other);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn errno(&self) -> Option<i32> {
        self.errno
    }

    /// True when this crate refused an argument before calling C
    /// ([`ErrorKind::InvalidInput`]).
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// let t = Event::timer(&base, |_| {})?;
    /// assert!(t.add(Some(std::time::Duration::MAX)).unwrap_err().is_invalid_input());
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn is_invalid_input(&self) -> bool {
        matches!(self.kind, ErrorKind::InvalidInput(_))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let os = |f: &mut fmt::Formatter<'_>, errno: Option<i32>| match errno {
            Some(errno) => write!(f, " ({})", io::Error::from_raw_os_error(errno)),
            None => Ok(()),
        };
        match &self.kind {
            ErrorKind::Dns(kind) => write!(f, "DNS lookup failed: {kind}"),
            ErrorKind::Rpc(kind) => write!(f, "RPC failed: {kind}"),
            ErrorKind::Request(kind) => {
                write!(f, "{}: {kind}", self.function)?;
                os(f, self.errno)
            }
            ErrorKind::InvalidInput(reason) => write!(f, "{}: {reason}", self.function),
            #[cfg(all(feature = "openssl", libevent_openssl))]
            ErrorKind::Tls(stack) => {
                write!(f, "{} failed: TLS", self.function)?;
                for (i, e) in stack.iter().enumerate() {
                    write!(f, "{}{e}", if i == 0 { ": " } else { "; " })?;
                }
                os(f, self.errno)
            }
            _ => match self.errno {
                Some(errno) => write!(
                    f,
                    "{} failed: {}",
                    self.function,
                    io::Error::from_raw_os_error(errno)
                ),
                None => write!(f, "{} failed", self.function),
            },
        }
    }
}

impl std::error::Error for Error {}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        let kind = match &e.kind {
            ErrorKind::InvalidInput(_) => io::ErrorKind::InvalidInput,
            ErrorKind::TimedOut | ErrorKind::Request(RequestError::Timeout) => {
                io::ErrorKind::TimedOut
            }
            ErrorKind::Dns(_) | ErrorKind::Request(_) | ErrorKind::Rpc(_) => io::ErrorKind::Other,
            #[cfg(all(feature = "openssl", libevent_openssl))]
            ErrorKind::Tls(_) => io::ErrorKind::Other,
            _ => match e.errno {
                // The OS error as it is: its kind and its message.
                Some(errno) => return io::Error::from_raw_os_error(errno),
                None => io::ErrorKind::Other,
            },
        };
        io::Error::new(kind, e)
    }
}

/// Why a call failed on the client side (`EVRPC_STATUS_ERR_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RpcError {
    /// No reply in the pool's timeout.
    Timeout,
    /// The reply was not a message of the expected type (or the server answered with an
    /// error status).
    BadPayload,
    /// The request could not be sent.
    Unstarted,
    /// A hook stopped it.
    HookAborted,
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RpcError::Timeout => "no reply in time",
            RpcError::BadPayload => "the reply did not decode",
            RpcError::Unstarted => "the request could not be sent",
            RpcError::HookAborted => "a hook stopped the request",
        })
    }
}

impl std::error::Error for RpcError {}

/// Why a lookup failed: `EVUTIL_EAI_*` for [`DnsBase::getaddrinfo`](crate::DnsBase::getaddrinfo), `DNS_ERR_*` for
/// [`DnsBase::resolve_reverse`](crate::DnsBase::resolve_reverse) and the DNS part of
/// [`BufferEvent::connect_hostname`](crate::BufferEvent::connect_hostname).
///
/// ```
/// use libevent::dns::DnsError;
/// assert_eq!(DnsError::NoName.to_string(), "no such name");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsError {
    /// `EVUTIL_EAI_NONAME`, `DNS_ERR_NOTEXIST`: the name does not exist (NXDOMAIN).
    NoName,
    /// `EVUTIL_EAI_NODATA`, `DNS_ERR_NODATA`: the name exists, without an address of the
    /// family asked for.
    NoData,
    /// `EVUTIL_EAI_AGAIN`, `DNS_ERR_TIMEOUT`: no answer in time (after the retries).
    Timeout,
    /// `EVUTIL_EAI_FAIL`, `DNS_ERR_SERVERFAILED`, `DNS_ERR_REFUSED`, `DNS_ERR_FORMAT`,
    /// `DNS_ERR_NOTIMPL`: the server failed or refused. libevent's `getaddrinfo` reports
    /// every failure but NXDOMAIN this way (no answer in time, an empty answer, a
    /// truncated one); [`DnsBase::resolve_reverse`](crate::DnsBase::resolve_reverse) tells them apart.
    ServerFailed,
    /// `DNS_ERR_TRUNCATED`: the answer did not fit in UDP.
    Truncated,
    /// `EVUTIL_EAI_SERVICE`: the service (port) is not known.
    Service,
    /// `EVUTIL_EAI_FAMILY`, `EVUTIL_EAI_ADDRFAMILY`: the address family is not supported.
    Family,
    /// `EVUTIL_EAI_MEMORY`: out of memory.
    Memory,
    /// `EVUTIL_EAI_CANCEL`, `DNS_ERR_CANCEL`: cancelled.
    Cancelled,
    /// `DNS_ERR_SHUTDOWN`: the DNS base was freed.
    Shutdown,
    /// Anything else (`EVUTIL_EAI_SYSTEM`, `DNS_ERR_UNKNOWN`...), with libevent's code.
    Other(i32),
}

impl DnsError {
    /// From an `EVUTIL_EAI_*` code.
    pub(crate) fn from_eai(code: c_int) -> DnsError {
        match code {
            sys::EVUTIL_EAI_NONAME => DnsError::NoName,
            sys::EVUTIL_EAI_NODATA => DnsError::NoData,
            sys::EVUTIL_EAI_AGAIN => DnsError::Timeout,
            sys::EVUTIL_EAI_FAIL => DnsError::ServerFailed,
            sys::EVUTIL_EAI_SERVICE => DnsError::Service,
            sys::EVUTIL_EAI_FAMILY | sys::EVUTIL_EAI_ADDRFAMILY => DnsError::Family,
            sys::EVUTIL_EAI_MEMORY => DnsError::Memory,
            sys::EVUTIL_EAI_CANCEL => DnsError::Cancelled,
            other => DnsError::Other(other),
        }
    }

    /// From a `DNS_ERR_*` code.
    pub(crate) fn from_dns_err(code: c_int) -> DnsError {
        match code {
            sys::DNS_ERR_NOTEXIST => DnsError::NoName,
            sys::DNS_ERR_NODATA => DnsError::NoData,
            sys::DNS_ERR_TIMEOUT => DnsError::Timeout,
            sys::DNS_ERR_SERVERFAILED
            | sys::DNS_ERR_REFUSED
            | sys::DNS_ERR_FORMAT
            | sys::DNS_ERR_NOTIMPL => DnsError::ServerFailed,
            sys::DNS_ERR_TRUNCATED => DnsError::Truncated,
            sys::DNS_ERR_CANCEL => DnsError::Cancelled,
            sys::DNS_ERR_SHUTDOWN => DnsError::Shutdown,
            other => DnsError::Other(other),
        }
    }
}

impl std::fmt::Display for DnsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DnsError::NoName => f.write_str("no such name"),
            DnsError::NoData => f.write_str("no address of that family"),
            DnsError::Timeout => f.write_str("no answer in time"),
            DnsError::ServerFailed => f.write_str("the name server failed"),
            DnsError::Truncated => f.write_str("answer truncated"),
            DnsError::Service => f.write_str("unknown service"),
            DnsError::Family => f.write_str("address family not supported"),
            DnsError::Memory => f.write_str("out of memory"),
            DnsError::Cancelled => f.write_str("cancelled"),
            DnsError::Shutdown => f.write_str("the DNS base was freed"),
            DnsError::Other(code) => write!(f, "DNS error {code}"),
        }
    }
}

/// An error from OpenSSL's queue, as libevent keeps it for a TLS bufferevent
/// (`bufferevent_get_openssl_error`).
#[cfg(all(feature = "openssl", libevent_openssl))]
#[cfg_attr(docsrs, doc(cfg(feature = "openssl")))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SslError {
    code: std::ffi::c_ulong,
    library: Option<String>,
    reason: Option<String>,
}

#[cfg(all(feature = "openssl", libevent_openssl))]
impl SslError {
    pub(crate) fn from_code(code: std::ffi::c_ulong) -> SslError {
        let text = |p: *const std::ffi::c_char| {
            if p.is_null() {
                return None;
            }
            // SAFETY: not null: one of OpenSSL's static strings.
            let s = unsafe { std::ffi::CStr::from_ptr(p) };
            Some(s.to_string_lossy().into_owned())
        };
        // SAFETY: plain lookups in OpenSSL's static tables.
        let (library, reason) = unsafe {
            (
                text(openssl_sys::ERR_lib_error_string(code)),
                text(openssl_sys::ERR_reason_error_string(code)),
            )
        };
        SslError {
            code,
            library,
            reason,
        }
    }

    /// OpenSSL's packed error code.
    pub fn code(&self) -> std::ffi::c_ulong {
        self.code
    }

    /// The reason, as OpenSSL words it (`certificate verify failed`, ...).
    pub fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }
}

#[cfg(all(feature = "openssl", libevent_openssl))]
impl std::fmt::Display for SslError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}, code {:#x})",
            self.reason.as_deref().unwrap_or("TLS error"),
            self.library.as_deref().unwrap_or("OpenSSL"),
            self.code
        )
    }
}

#[cfg(all(feature = "openssl", libevent_openssl))]
impl std::error::Error for SslError {}

#[cfg(test)]
mod tests {
    use super::*;

    /// The errno values each kind stands for (WouldBlock and TimedOut come only from
    /// what the OS says, which a test cannot make a libevent call say on demand).
    #[test]
    fn errno_kinds() {
        for (errno, kind) in [
            (libc::EAGAIN, ErrorKind::WouldBlock),
            (libc::EWOULDBLOCK, ErrorKind::WouldBlock),
            (libc::EINPROGRESS, ErrorKind::WouldBlock),
            (libc::ETIMEDOUT, ErrorKind::TimedOut),
            (libc::ENOMEM, ErrorKind::ResourceExhausted),
            (libc::EMFILE, ErrorKind::ResourceExhausted),
            (libc::ENFILE, ErrorKind::ResourceExhausted),
            (libc::ENOBUFS, ErrorKind::ResourceExhausted),
            (libc::ECONNREFUSED, ErrorKind::Other),
        ] {
            let e = Error::os("f", errno);
            assert_eq!(e.kind(), &kind, "{errno}");
            assert_eq!(e.errno(), Some(errno));
        }
        let timed_out = io::Error::from(Error::os("f", libc::ETIMEDOUT));
        assert_eq!(timed_out.kind(), io::ErrorKind::TimedOut);
        let request = io::Error::from(Error::request(RequestError::Timeout, None));
        assert_eq!(request.kind(), io::ErrorKind::TimedOut);
    }
}
