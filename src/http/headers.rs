//! `struct evkeyvalq`: a request's or response's header list.

use super::{header_name, CText};
use crate::error::{call, Result};
use crate::handle::foreign_type;
use libevent_sys as sys;
use std::ffi::CStr;
use std::marker::PhantomData;

foreign_type! {
    /// A header list (`struct evkeyvalq`) that libevent owns: a request's input or output
    /// headers, in the order they were received or added. Names compare without case.
    /// Reached through [`RequestRef::input_headers`](crate::http::RequestRef::input_headers)
    /// and [`RequestRef::output_headers`](crate::http::RequestRef::output_headers).
    pub struct HeadersRef(sys::evkeyvalq);
    /// Borrows a live `struct evkeyvalq *`.
    ///
    /// # Safety
    /// `raw` must be a live header list for `'a`, not used through another reference
    /// meanwhile.
    fn from_raw;
    /// The raw `struct evkeyvalq *`.
    fn as_raw;
}

impl HeadersRef {
    /// `evhttp_find_header`: the first value of `name` (any case), if present and UTF-8.
    /// A name with a NUL is never present.
    pub fn get(&self, name: &str) -> Option<&str> {
        let name = CText::new("evhttp_find_header", name, false).ok()?;
        // SAFETY: the list is live for &self; the value lives in it as long.
        unsafe { super::str_from(sys::evhttp_find_header(self.as_raw(), name.as_ptr())) }
    }

    /// `evhttp_add_header`: appends `name: value`. The name must be a token and the value
    /// may hold no CR, LF or NUL; both are checked here, before C sees them.
    pub fn add(&mut self, name: &str, value: &str) -> Result<()> {
        let n = header_name("evhttp_add_header", name)?;
        let v = CText::new("evhttp_add_header", value, true)?;
        // SAFETY: the list is live and ours for &mut self; the strings are copied.
        unsafe {
            call!(sys::evhttp_add_header(
                self.as_raw(),
                n.as_ptr(),
                v.as_ptr()
            ))
        }?;
        Ok(())
    }

    /// Removes every header called `name` (`evhttp_remove_header` until none is left);
    /// returns how many went.
    pub fn remove(&mut self, name: &str) -> usize {
        let Ok(n) = CText::new("evhttp_remove_header", name, false) else {
            return 0;
        };
        let mut count = 0;
        // SAFETY: the list is live and ours for &mut self.
        while unsafe { sys::evhttp_remove_header(self.as_raw(), n.as_ptr()) } == 0 {
            count += 1;
        }
        count
    }

    /// `evhttp_clear_headers`: removes them all.
    pub fn clear(&mut self) {
        // SAFETY: the list is live and ours for &mut self; it stays a valid empty list.
        unsafe { sys::evhttp_clear_headers(self.as_raw()) }
    }

    /// The headers in order, as bytes (HTTP allows bytes that are not UTF-8).
    pub fn iter(&self) -> HeadersIter<'_> {
        HeadersIter {
            // SAFETY: the list is live for &self.
            next: unsafe { (*self.as_raw()).tqh_first },
            _list: PhantomData,
        }
    }

    /// How many headers there are.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// True when there is none.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }
}

impl std::fmt::Debug for HeadersRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(
                self.iter()
                    .map(|(k, v)| (String::from_utf8_lossy(k), String::from_utf8_lossy(v))),
            )
            .finish()
    }
}

impl<'a> IntoIterator for &'a HeadersRef {
    type Item = (&'a [u8], &'a [u8]);
    type IntoIter = HeadersIter<'a>;
    fn into_iter(self) -> HeadersIter<'a> {
        self.iter()
    }
}

/// The headers of a [`HeadersRef`], in order: `(name, value)` as bytes.
pub struct HeadersIter<'a> {
    next: *mut sys::evkeyval,
    _list: PhantomData<&'a HeadersRef>,
}

impl<'a> Iterator for HeadersIter<'a> {
    type Item = (&'a [u8], &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        if self.next.is_null() {
            return None;
        }
        // SAFETY: a live entry of a list borrowed for 'a (no &mut meanwhile); key and
        // value are NUL-terminated strings it owns.
        unsafe {
            let e = &*self.next;
            self.next = e.next.tqe_next;
            Some((
                CStr::from_ptr(e.key).to_bytes(),
                CStr::from_ptr(e.value).to_bytes(),
            ))
        }
    }
}

impl std::fmt::Debug for HeadersIter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HeadersIter")
    }
}

/// A header list of our own (for query parsing), cleared on drop.
pub(crate) struct OwnedHeaders(pub(crate) Box<sys::evkeyvalq>);

impl OwnedHeaders {
    pub(crate) fn new() -> OwnedHeaders {
        let mut q = Box::new(sys::evkeyvalq {
            tqh_first: std::ptr::null_mut(),
            tqh_last: std::ptr::null_mut(),
        });
        // TAILQ_INIT: last points at first.
        q.tqh_last = &mut q.tqh_first;
        OwnedHeaders(q)
    }

    pub(crate) fn pairs(&self) -> Vec<(String, String)> {
        // SAFETY: our own list, live for &self.
        let list = unsafe { HeadersRef::from_raw(&*self.0 as *const _ as *mut sys::evkeyvalq) };
        list.iter()
            .map(|(k, v)| {
                (
                    String::from_utf8_lossy(k).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                )
            })
            .collect()
    }
}

impl Drop for OwnedHeaders {
    fn drop(&mut self) {
        // SAFETY: our list; clearing frees what libevent allocated into it.
        unsafe { sys::evhttp_clear_headers(&mut *self.0) }
    }
}
