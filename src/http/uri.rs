//! `struct evhttp_uri` and the URI helpers of http.h.

use super::{c_text, headers::OwnedHeaders, str_from};
use crate::error::{call, Error, Result};
use crate::handle::foreign_type;
use libevent_sys as sys;
use std::ffi::CStr;
use std::ptr::NonNull;

/// A parsed URI (`struct evhttp_uri`), freed on drop.
///
/// ```
/// use libevent::http::Uri;
/// let u = Uri::parse("http://user@example.org:8080/a/b?x=1&y=2#top")?;
/// assert_eq!(u.scheme(), Some("http"));
/// assert_eq!(u.host(), Some("example.org"));
/// assert_eq!(u.port(), Some(8080));
/// assert_eq!(u.path(), Some("/a/b"));
/// assert_eq!(u.query(), Some("x=1&y=2"));
/// assert_eq!(u.fragment(), Some("top"));
/// assert_eq!(u.to_string(), "http://user@example.org:8080/a/b?x=1&y=2#top");
/// # Ok::<(), libevent::Error>(())
/// ```
pub struct Uri {
    raw: NonNull<sys::evhttp_uri>,
}

foreign_type! {
    /// A parsed URI that libevent owns, such as a request's
    /// ([`RequestRef::parsed_uri`](crate::http::RequestRef::parsed_uri)).
    pub struct UriRef(sys::evhttp_uri), owned by Uri;
    /// Borrows a live `struct evhttp_uri *`.
    ///
    /// # Safety
    /// `raw` must be live for `'a` and not used through another reference meanwhile.
    fn from_raw;
    /// The raw `struct evhttp_uri *`.
    fn as_raw;
}

impl Uri {
    /// `evhttp_uri_parse_with_flags`: strict RFC 3986 parsing; `nonconformant` accepts
    /// what browsers send (`EVHTTP_URI_NONCONFORMANT`).
    ///
    /// ```
    /// # use libevent::http::Uri;
    /// assert!(Uri::parse("http://[::1").is_err());
    /// assert!(Uri::parse("/path with space").is_err());
    /// assert!(Uri::parse_with("/path with space", true).is_ok());
    /// ```
    pub fn parse(s: &str) -> Result<Uri> {
        Self::parse_with(s, false)
    }

    /// `evhttp_uri_parse_with_flags`, with `EVHTTP_URI_NONCONFORMANT` when asked.
    ///
    /// ```
    /// # use libevent::http::Uri;
    /// assert_eq!(Uri::parse_with("/a b", true)?.path(), Some("/a b"));
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn parse_with(s: &str, nonconformant: bool) -> Result<Uri> {
        let c = c_text("evhttp_uri_parse_with_flags", s, false)?;
        let flags = if nonconformant {
            sys::EVHTTP_URI_NONCONFORMANT as u32
        } else {
            0
        };
        // SAFETY: c is a valid string; the result is ours to free.
        let raw = unsafe { call!(sys::evhttp_uri_parse_with_flags(c.as_ptr(), flags)) }
            .map_err(|_| Error::invalid("evhttp_uri_parse_with_flags", "not a valid URI"))?;
        Ok(Uri { raw })
    }
}

impl Drop for Uri {
    fn drop(&mut self) {
        // SAFETY: ours, freed once.
        unsafe { sys::evhttp_uri_free(self.raw.as_ptr()) }
    }
}

impl UriRef {
    fn part(&self, get: unsafe extern "C" fn(*const sys::evhttp_uri) -> *const i8) -> Option<&str> {
        // SAFETY: the URI is live for &self and owns the string.
        unsafe { str_from(get(self.as_raw())) }
    }

    /// `evhttp_uri_get_scheme`.
    pub fn scheme(&self) -> Option<&str> {
        self.part(sys::evhttp_uri_get_scheme)
    }

    /// `evhttp_uri_get_userinfo`.
    pub fn userinfo(&self) -> Option<&str> {
        self.part(sys::evhttp_uri_get_userinfo)
    }

    /// `evhttp_uri_get_host`.
    pub fn host(&self) -> Option<&str> {
        self.part(sys::evhttp_uri_get_host)
    }

    /// `evhttp_uri_get_port`: `None` when the URI names none.
    pub fn port(&self) -> Option<u16> {
        // SAFETY: the URI is live.
        let p = unsafe { sys::evhttp_uri_get_port(self.as_raw()) };
        u16::try_from(p).ok()
    }

    /// `evhttp_uri_get_path` (still percent-encoded).
    pub fn path(&self) -> Option<&str> {
        self.part(sys::evhttp_uri_get_path)
    }

    /// `evhttp_uri_get_query` (still percent-encoded); see [`parse_query`].
    pub fn query(&self) -> Option<&str> {
        self.part(sys::evhttp_uri_get_query)
    }

    /// `evhttp_uri_get_fragment`.
    pub fn fragment(&self) -> Option<&str> {
        self.part(sys::evhttp_uri_get_fragment)
    }

    /// The query decoded into pairs ([`parse_query`] of [`query`](Self::query)); empty
    /// when there is no query.
    ///
    /// ```
    /// # use libevent::http::Uri;
    /// let u = Uri::parse("/s?q=a%20b&n=2")?;
    /// assert_eq!(u.query_pairs()?, [("q".into(), "a b".into()), ("n".into(), "2".into())]);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn query_pairs(&self) -> Result<Vec<(String, String)>> {
        match self.query() {
            Some(q) => parse_query(q),
            None => Ok(Vec::new()),
        }
    }
}

impl std::fmt::Display for UriRef {
    /// `evhttp_uri_join`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut buf = vec![0u8; 4096];
        loop {
            // SAFETY: the URI is live; buf holds buf.len() writable bytes.
            let p =
                unsafe { sys::evhttp_uri_join(self.as_raw(), buf.as_mut_ptr().cast(), buf.len()) };
            if !p.is_null() {
                // SAFETY: joined and NUL-terminated inside buf.
                let s = unsafe { CStr::from_ptr(p) };
                return f.write_str(&s.to_string_lossy());
            }
            if buf.len() >= 1 << 20 {
                return Err(std::fmt::Error);
            }
            buf.resize(buf.len() * 4, 0);
        }
    }
}

impl std::fmt::Debug for UriRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Uri({self})")
    }
}

impl std::fmt::Display for Uri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

/// `evhttp_parse_query_str`: `a=1&b=x%20y` into `[("a", "1"), ("b", "x y")]`, in order.
/// A part without `=` is an error, as libevent has it.
///
/// ```
/// use libevent::http::parse_query;
/// assert_eq!(parse_query("n=3&s=a+b")?, [("n".into(), "3".into()), ("s".into(), "a b".into())]);
/// assert!(parse_query("novalue").is_err());
/// # Ok::<(), libevent::Error>(())
/// ```
pub fn parse_query(query: &str) -> Result<Vec<(String, String)>> {
    let c = c_text("evhttp_parse_query_str", query, false)?;
    let mut list = OwnedHeaders::new();
    // SAFETY: c is valid; list is an initialised empty list we own (cleared on drop,
    // also after a failure, which may leave part of the pairs in it).
    unsafe { call!(sys::evhttp_parse_query_str(c.as_ptr(), &mut *list.0)) }
        .map_err(|_| Error::invalid("evhttp_parse_query_str", "malformed query"))?;
    Ok(list.pairs())
}

/// `evhttp_uriencode`: percent-encodes everything but RFC 3986's unreserved characters.
///
/// ```
/// assert_eq!(libevent::http::encode_uri("a b/c"), "a%20b%2Fc");
/// ```
pub fn encode_uri(s: &str) -> String {
    // SAFETY: s is s.len() readable bytes (a NUL among them is encoded as %00); the
    // result is a string libevent allocated, which we free through libevent.
    unsafe {
        let p = sys::evhttp_uriencode(s.as_ptr().cast(), s.len() as isize, 0);
        take_c_string(p).unwrap_or_default()
    }
}

/// `evhttp_uridecode`: percent-decodes (and `+` to space when `plus_is_space`).
/// Bytes that do not make UTF-8 are replaced by U+FFFD.
///
/// ```
/// assert_eq!(libevent::http::decode_uri("a%20b+c", true)?, "a b c");
/// assert!(libevent::http::decode_uri("a\0b", false).is_err());
/// # Ok::<(), libevent::Error>(())
/// ```
pub fn decode_uri(s: &str, plus_is_space: bool) -> Result<String> {
    let c = c_text("evhttp_uridecode", s, false)?;
    let mut n = 0usize;
    // SAFETY: c is valid; the result is n bytes long, allocated by libevent, ours to
    // free through libevent.
    unsafe {
        let p = call!(sys::evhttp_uridecode(
            c.as_ptr(),
            i32::from(plus_is_space),
            &mut n
        ))?;
        let bytes = std::slice::from_raw_parts(p.as_ptr().cast::<u8>(), n);
        let out = String::from_utf8_lossy(bytes).into_owned();
        sys::event_mm_free_(p.as_ptr().cast());
        Ok(out)
    }
}

/// Copies and frees a string libevent allocated (through `event_mm_free_`: the program
/// may have replaced libevent's allocator).
///
/// # Safety
/// `p` is null or a NUL-terminated string libevent allocated, which nobody else frees.
unsafe fn take_c_string(p: *mut std::ffi::c_char) -> Option<String> {
    if p.is_null() {
        return None;
    }
    // SAFETY: per the caller.
    unsafe {
        let s = CStr::from_ptr(p).to_string_lossy().into_owned();
        sys::event_mm_free_(p.cast());
        Some(s)
    }
}
