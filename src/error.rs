//! One error type for every fallible call: which C function failed, and why.

use std::fmt;
use std::io;

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
        }
    }

    /// The C call failed and libevent documents no `errno` for it.
    pub(crate) fn failed(function: &'static str) -> Error {
        Error {
            function,
            errno: None,
            reason: None,
        }
    }

    /// The arguments were refused before calling `function`.
    pub(crate) fn invalid(function: &'static str, reason: &'static str) -> Error {
        Error {
            function,
            errno: None,
            reason: Some(reason),
        }
    }

    /// An OS error code from a callback (a listener's accept error, for example).
    pub(crate) fn os(function: &'static str, errno: i32) -> Error {
        Error {
            function,
            errno: Some(errno),
            reason: None,
        }
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
