//! Positioned reads of an evbuffer (`struct evbuffer_ptr`): search within a range, find
//! an end of line, copy or peek from an offset. Positions are byte offsets from the front;
//! the C `evbuffer_ptr` is made for each call and never handed out, so no position can
//! outlive the change that would invalidate it.

use super::{Eol, EvBufferRef};
use crate::error::call;
use libevent_sys as sys;
use std::ffi::c_void;

impl EvBufferRef {
    /// An `evbuffer_ptr` at `pos` (`evbuffer_ptr_set`), or `None` past the end.
    pub(super) fn ptr_at(&self, pos: usize) -> Option<sys::evbuffer_ptr> {
        if pos > self.len() {
            return None;
        }
        let mut p = sys::evbuffer_ptr::default();
        // SAFETY: self is live; p is a valid out-parameter; pos <= len.
        unsafe {
            call!(sys::evbuffer_ptr_set(
                self.as_raw(),
                &mut p,
                pos,
                sys::evbuffer_ptr_how_EVBUFFER_PTR_SET,
            ))
        }
        .ok()?;
        Some(p)
    }

    /// `evbuffer_search_range`: the offset of the first `what` at or after `from` that
    /// ends at or before `to`.
    ///
    /// ```
    /// # use libevent::*;
    /// let mut buf = EvBuffer::new()?;
    /// buf.add(b"a=1; b=2")?;
    /// assert_eq!(buf.search_range(b"=", 2, 8), Some(6));
    /// assert_eq!(buf.search_range(b"b=2", 0, 7), None); // would end past 7
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn search_range(&self, what: &[u8], from: usize, to: usize) -> Option<usize> {
        if what.is_empty() || from > to {
            return None;
        }
        let start = self.ptr_at(from)?;
        let end = self.ptr_at(to.min(self.len()))?;
        // SAFETY: both positions were set on this buffer, unchanged since (&self).
        let p = unsafe {
            sys::evbuffer_search_range(
                self.as_raw(),
                what.as_ptr() as *const _,
                what.len(),
                &start,
                &end,
            )
        };
        usize::try_from(p.pos).ok()
    }

    /// `evbuffer_search_eol`: the first end of line at or after `from`, as its offset and
    /// its length (1 for `\n`, 2 for `\r\n`...), without taking anything.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::buffer::Eol;
    /// let mut buf = EvBuffer::new()?;
    /// buf.add(b"one\r\ntwo\n")?;
    /// assert_eq!(buf.search_eol(0, Eol::Crlf), Some((3, 2)));
    /// assert_eq!(buf.search_eol(5, Eol::Crlf), Some((8, 1)));
    /// assert_eq!(buf.search_eol(9, Eol::Crlf), None);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn search_eol(&self, from: usize, eol: Eol) -> Option<(usize, usize)> {
        let mut start = self.ptr_at(from)?;
        let mut len = 0usize;
        // SAFETY: start was set on this buffer; len is a valid out-parameter.
        let p = unsafe { sys::evbuffer_search_eol(self.as_raw(), &mut start, &mut len, eol.raw()) };
        usize::try_from(p.pos).ok().map(|pos| (pos, len))
    }

    /// `evbuffer_copyout_from`: copy up to `out.len()` bytes starting at `pos`, leaving
    /// them; returns how many were copied (0 past the end).
    ///
    /// ```
    /// # use libevent::*;
    /// let mut buf = EvBuffer::new()?;
    /// buf.add(b"header:body")?;
    /// let mut out = [0u8; 4];
    /// assert_eq!(buf.copyout_from(7, &mut out), 4);
    /// assert_eq!(&out, b"body");
    /// assert_eq!(buf.copyout_from(11, &mut out), 0);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn copyout_from(&self, pos: usize, out: &mut [u8]) -> usize {
        if out.is_empty() || pos >= self.len() {
            return 0;
        }
        let Some(start) = self.ptr_at(pos) else {
            return 0;
        };
        // SAFETY: start was set on this buffer; out is writable for its length.
        let n = unsafe {
            call!(sys::evbuffer_copyout_from(
                self.as_raw(),
                &start,
                out.as_mut_ptr() as *mut c_void,
                out.len()
            ))
        };
        n.unwrap_or(0)
    }

    /// `evbuffer_peek` from a position: up to `len` bytes starting at `pos` (all the rest
    /// with `None`), as borrowed chunks, without copying.
    ///
    /// ```
    /// # use libevent::*;
    /// let mut buf = EvBuffer::new()?;
    /// buf.add(b"abc")?;
    /// buf.add(b"def")?;
    /// assert_eq!(buf.peek_at(2, Some(3)).concat(), b"cde");
    /// assert_eq!(buf.peek_at(4, None).concat(), b"ef");
    /// assert!(buf.peek_at(6, None).is_empty());
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn peek_at(&self, pos: usize, len: Option<usize>) -> Vec<&[u8]> {
        let avail = self.len().saturating_sub(pos);
        let want = len.map_or(avail, |l| l.min(avail));
        if want == 0 {
            return Vec::new();
        }
        let Some(mut start) = self.ptr_at(pos) else {
            return Vec::new();
        };
        let Ok(ask) = isize::try_from(want) else {
            return Vec::new();
        };
        // SAFETY: a first call with no vectors returns how many are needed.
        let n = unsafe {
            call!(sys::evbuffer_peek(
                self.as_raw(),
                ask,
                &mut start,
                std::ptr::null_mut(),
                0
            ))
        };
        let Ok(n) = n else {
            return Vec::new();
        };
        let mut vecs = vec![
            libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0
            };
            n as usize
        ];
        // SAFETY: vecs has room for n entries; the chunks stay valid while `&self` is
        // borrowed (a change needs `&mut self`).
        let got = unsafe {
            call!(sys::evbuffer_peek(
                self.as_raw(),
                ask,
                &mut start,
                vecs.as_mut_ptr(),
                n
            ))
        };
        vecs.truncate(got.map_or(0, |g| g as usize).min(n as usize));
        let mut left = want;
        let mut out = Vec::with_capacity(vecs.len());
        for v in &vecs {
            if left == 0 {
                break;
            }
            // The last chunk may run past `want`: cut it there.
            let take = v.iov_len.min(left);
            left -= take;
            if take > 0 {
                // SAFETY: each iovec describes live bytes inside the buffer (see above).
                out.push(unsafe { std::slice::from_raw_parts(v.iov_base as *const u8, take) });
            }
        }
        out
    }
}
