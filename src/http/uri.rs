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
        let c = c_text("evhttp_uri_parse", s, false)?;
        // SAFETY: c is a valid string; the result is ours to free.
        let raw = unsafe { call!(sys::evhttp_uri_parse(c.as_ptr())) }
            .map_err(|_| Error::invalid("evhttp_uri_parse", "not a valid URI"))?;
        Ok(Uri { raw })
    }

    /// `evhttp_uri_new`: an empty URI, to build part by part with the setters; it prints
    /// as the parts set (an empty one as nothing).
    ///
    /// ```
    /// use libevent::http::Uri;
    /// let mut u = Uri::new()?;
    /// u.set_scheme(Some("https"))?;
    /// u.set_host(Some("example.org"))?;
    /// u.set_port(Some(8443))?;
    /// u.set_path(Some("/search"))?;
    /// u.set_query(Some("q=libevent"))?;
    /// u.set_fragment(Some("top"))?;
    /// assert_eq!(u.to_string(), "https://example.org:8443/search?q=libevent#top");
    /// u.set_port(None)?;
    /// u.set_query(None)?;
    /// assert_eq!(u.to_string(), "https://example.org/search#top");
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn new() -> Result<Uri> {
        // SAFETY: no preconditions; the result is ours to free.
        let raw = unsafe { call!(sys::evhttp_uri_new()) }?;
        Ok(Uri { raw })
    }

    /// Sets one part through `set`, which checks it (libevent refuses what the part's
    /// grammar does not allow) and copies it; `None` removes the part.
    fn set_part(
        &mut self,
        function: &'static str,
        part: Option<&str>,
        set: unsafe extern "C" fn(*mut sys::evhttp_uri, *const std::ffi::c_char) -> i32,
    ) -> Result<()> {
        let c = part.map(|p| c_text(function, p, false)).transpose()?;
        let p = c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
        // SAFETY: the URI is ours; p is null or a valid string, copied during the call.
        if unsafe { set(self.raw.as_ptr(), p) } < 0 {
            return Err(Error::invalid(function, "not valid for that part of a URI"));
        }
        Ok(())
    }

    /// `evhttp_uri_set_scheme`.
    ///
    /// ```
    /// # use libevent::http::Uri;
    /// let mut u = Uri::parse("http://h/")?;
    /// assert!(u.set_scheme(Some("1nope")).is_err()); // a scheme starts with a letter
    /// u.set_scheme(Some("ws"))?;
    /// assert_eq!(u.to_string(), "ws://h/");
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn set_scheme(&mut self, scheme: Option<&str>) -> Result<()> {
        self.set_part("evhttp_uri_set_scheme", scheme, sys::evhttp_uri_set_scheme)
    }

    /// `evhttp_uri_set_userinfo`.
    ///
    /// ```
    /// # use libevent::http::Uri;
    /// let mut u = Uri::parse("http://h/")?;
    /// u.set_userinfo(Some("me:pw"))?;
    /// assert_eq!(u.to_string(), "http://me:pw@h/");
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn set_userinfo(&mut self, userinfo: Option<&str>) -> Result<()> {
        self.set_part(
            "evhttp_uri_set_userinfo",
            userinfo,
            sys::evhttp_uri_set_userinfo,
        )
    }

    /// `evhttp_uri_set_host`: a name or an IP literal (IPv6 in brackets).
    ///
    /// ```
    /// # use libevent::http::Uri;
    /// let mut u = Uri::parse("http://h/")?;
    /// u.set_host(Some("[::1]"))?;
    /// assert_eq!(u.host(), Some("[::1]"));
    /// assert!(u.set_host(Some("[::1")).is_err());
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn set_host(&mut self, host: Option<&str>) -> Result<()> {
        self.set_part("evhttp_uri_set_host", host, sys::evhttp_uri_set_host)
    }

    /// `evhttp_uri_set_port`: `None` for no port.
    ///
    /// ```
    /// # use libevent::http::Uri;
    /// let mut u = Uri::parse("http://h:1/")?;
    /// u.set_port(Some(8080))?;
    /// assert_eq!(u.port(), Some(8080));
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn set_port(&mut self, port: Option<u16>) -> Result<()> {
        // SAFETY: the URI is ours.
        unsafe {
            call!(sys::evhttp_uri_set_port(
                self.raw.as_ptr(),
                port.map_or(-1, i32::from)
            ))
        }?;
        Ok(())
    }

    /// `evhttp_uri_set_path` (percent-encoded, as a URI carries it).
    ///
    /// ```
    /// # use libevent::http::Uri;
    /// let mut u = Uri::parse("http://h/")?;
    /// u.set_path(Some("/a%20b"))?;
    /// assert!(u.set_path(Some("/a b")).is_err()); // a space must be encoded
    /// assert_eq!(u.to_string(), "http://h/a%20b");
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn set_path(&mut self, path: Option<&str>) -> Result<()> {
        self.set_part("evhttp_uri_set_path", path, sys::evhttp_uri_set_path)
    }

    /// `evhttp_uri_set_query` (without the `?`).
    ///
    /// ```
    /// # use libevent::http::Uri;
    /// let mut u = Uri::parse("http://h/p")?;
    /// u.set_query(Some("a=1&b=2"))?;
    /// assert_eq!(u.query_pairs()?.len(), 2);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn set_query(&mut self, query: Option<&str>) -> Result<()> {
        self.set_part("evhttp_uri_set_query", query, sys::evhttp_uri_set_query)
    }

    /// `evhttp_uri_set_fragment` (without the `#`).
    ///
    /// ```
    /// # use libevent::http::Uri;
    /// let mut u = Uri::parse("http://h/p")?;
    /// u.set_fragment(Some("part-2"))?;
    /// assert_eq!(u.fragment(), Some("part-2"));
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn set_fragment(&mut self, fragment: Option<&str>) -> Result<()> {
        self.set_part(
            "evhttp_uri_set_fragment",
            fragment,
            sys::evhttp_uri_set_fragment,
        )
    }

    /// `evhttp_uri_set_flags`: whether the setters accept what browsers send
    /// (`EVHTTP_URI_NONCONFORMANT`, as [`parse_with`](Self::parse_with)).
    ///
    /// ```
    /// # use libevent::http::Uri;
    /// let mut u = Uri::new()?;
    /// u.set_nonconformant(true);
    /// u.set_path(Some("/a b"))?;
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn set_nonconformant(&mut self, yes: bool) {
        let flags = if yes {
            sys::EVHTTP_URI_NONCONFORMANT as u32
        } else {
            0
        };
        // SAFETY: the URI is ours.
        unsafe { sys::evhttp_uri_set_flags(self.raw.as_ptr(), flags) }
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

/// `evhttp_htmlescape`: `<`, `>`, `"`, `'` and `&` as HTML entities. A NUL is refused
/// (C would stop there).
///
/// ```
/// assert_eq!(libevent::http::html_escape("<a href='x'>&</a>")?, "&lt;a href=&#039;x&#039;&gt;&amp;&lt;/a&gt;");
/// assert!(libevent::http::html_escape("a\0b").is_err());
/// # Ok::<(), libevent::Error>(())
/// ```
pub fn html_escape(s: &str) -> Result<String> {
    let c = c_text("evhttp_htmlescape", s, false)?;
    // SAFETY: c is valid; the result is a string libevent allocated, freed through it.
    unsafe { take_c_string(call!(sys::evhttp_htmlescape(c.as_ptr()))?.as_ptr()) }
        .ok_or_else(|| Error::os("evhttp_htmlescape", libc::ENOMEM))
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
