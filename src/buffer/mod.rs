//! `struct evbuffer`: libevent's byte queue.
//!
//! [`EvBuffer`] owns one; [`EvBufferRef`] is a borrowed one (a bufferevent's input or
//! output). Methods that change the contents take `&mut self`, so a slice borrowed by
//! [`peek`](EvBufferRef::peek) or [`pullup`](EvBufferRef::pullup) cannot outlive a change.

use crate::error::{call, Error, Result};
use crate::handle::foreign_type;
use crate::panic::{self, Guard};
use crate::util::flag_type;
use libevent_sys as sys;
use std::ffi::c_void;
use std::os::fd::OwnedFd;
use std::ptr::NonNull;

mod callbacks;
mod io;
mod position;
mod segment;

pub(crate) use callbacks::Callbacks;
pub use callbacks::{Change, ChangeCallback};

pub use segment::FileSegment;

flag_type! {
    /// `EVBUFFER_FLAG_*`, for [`EvBufferRef::set_flags`].
    ///
    /// ```
    /// use libevent::buffer::BufferFlags;
    /// assert!(BufferFlags::DRAINS_TO_FD.contains(BufferFlags::DRAINS_TO_FD));
    /// ```
    BufferFlags: u64 {
        /// `EVBUFFER_FLAG_DRAINS_TO_FD`: the buffer is drained to a descriptor, so a
        /// reference added to it (`add_reference`, file segments) may be sent with
        /// `sendfile` and must stay unchanged until sent.
        DRAINS_TO_FD = sys::EVBUFFER_FLAG_DRAINS_TO_FD;
    }
}

flag_type! {
    /// `EVBUF_FS_*`, for [`FileSegment::new`]. `EVBUF_FS_CLOSE_ON_FREE` is always added
    /// (the segment owns its descriptor) and `EVBUF_FS_DISABLE_MMAP` too, unless the
    /// segment is made with [`FileSegment::new_mapped`].
    ///
    /// ```
    /// use libevent::buffer::SegmentFlags;
    /// let f = SegmentFlags::DISABLE_SENDFILE | SegmentFlags::DISABLE_LOCKING;
    /// assert!(f.contains(SegmentFlags::DISABLE_LOCKING));
    /// ```
    SegmentFlags: u32 {
        /// `EVBUF_FS_DISABLE_SENDFILE`: never `sendfile`; read the file into memory.
        DISABLE_SENDFILE = sys::EVBUF_FS_DISABLE_SENDFILE;
        /// `EVBUF_FS_DISABLE_LOCKING`: no lock around the segment's reference count.
        DISABLE_LOCKING = sys::EVBUF_FS_DISABLE_LOCKING;
    }
}

/// `enum evbuffer_eol_style`, for [`EvBufferRef::readln`].
///
/// ```
/// # use libevent::*;
/// # use libevent::buffer::Eol;
/// let mut buf = EvBuffer::new()?;
/// buf.add(b"a\r\nb\n")?;
/// assert_eq!(buf.readln(Eol::CrlfStrict).unwrap(), b"a");
/// assert_eq!(buf.readln(Eol::Lf).unwrap(), b"b");
/// # Ok::<(), libevent::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eol {
    /// `EVBUFFER_EOL_ANY`: any run of `\r` and `\n`.
    Any,
    /// `EVBUFFER_EOL_CRLF`: `\n`, optionally preceded by `\r`.
    Crlf,
    /// `EVBUFFER_EOL_CRLF_STRICT`: exactly `\r\n`.
    CrlfStrict,
    /// `EVBUFFER_EOL_LF`: `\n`.
    Lf,
    /// `EVBUFFER_EOL_NUL`: a NUL byte.
    Nul,
}

impl Eol {
    fn raw(self) -> sys::evbuffer_eol_style {
        match self {
            Eol::Any => sys::evbuffer_eol_style_EVBUFFER_EOL_ANY,
            Eol::Crlf => sys::evbuffer_eol_style_EVBUFFER_EOL_CRLF,
            Eol::CrlfStrict => sys::evbuffer_eol_style_EVBUFFER_EOL_CRLF_STRICT,
            Eol::Lf => sys::evbuffer_eol_style_EVBUFFER_EOL_LF,
            Eol::Nul => sys::evbuffer_eol_style_EVBUFFER_EOL_NUL,
        }
    }
}

foreign_type! {
    /// A borrowed evbuffer. Only ever seen as `&EvBufferRef` or `&mut EvBufferRef`, which
    /// are the `struct evbuffer *` itself.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::Options;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// // A bufferevent's buffers are borrowed EvBufferRefs.
    /// bev.with(|bev| {
    ///     let out: &EvBufferRef = bev.output();
    ///     assert!(out.is_empty());
    /// });
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub struct EvBufferRef(sys::evbuffer), owned by EvBuffer;

    /// Borrows an evbuffer that something else owns (C code, or a bufferevent).
    ///
    /// # Safety
    /// `raw` must be a live evbuffer for `'a`, changed by nothing else meanwhile.
    ///
    /// ```
    /// # use libevent::*;
    /// let mut buf = EvBuffer::new()?;
    /// let raw = buf.as_raw();
    /// // SAFETY: raw is live and not used elsewhere while `r` is.
    /// let r = unsafe { EvBufferRef::from_raw(raw) };
    /// r.add(b"x")?;
    /// assert_eq!(buf.len(), 1);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    fn from_raw;

    /// The raw `struct evbuffer *`.
    ///
    /// ```
    /// # use libevent::*;
    /// let mut buf = EvBuffer::new()?;
    /// // SAFETY: the buffer is live.
    /// assert_eq!(unsafe { libevent::sys::evbuffer_get_length(buf.as_raw()) }, 0);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    fn as_raw;
}

impl EvBufferRef {
    /// `evbuffer_get_length`.
    ///
    /// ```
    /// # use libevent::*;
    /// let mut buf = EvBuffer::new()?;
    /// buf.add(b"abc")?;
    /// assert_eq!(buf.len(), 3);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        // SAFETY: self is a live evbuffer.
        unsafe { sys::evbuffer_get_length(self.as_raw()) }
    }

    /// True when empty.
    ///
    /// ```
    /// # use libevent::*;
    /// let mut buf = EvBuffer::new()?;
    /// assert!(buf.is_empty());
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `evbuffer_get_contiguous_space`: bytes in the first chunk.
    ///
    /// ```
    /// # use libevent::*;
    /// let mut buf = EvBuffer::new()?;
    /// buf.add(b"abc")?;
    /// assert_eq!(buf.contiguous_space(), 3);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn contiguous_space(&self) -> usize {
        // SAFETY: self is a live evbuffer.
        unsafe { sys::evbuffer_get_contiguous_space(self.as_raw()) }
    }

    /// `evbuffer_add`: append `data`.
    ///
    /// ```
    /// # use libevent::*;
    /// let mut buf = EvBuffer::new()?;
    /// buf.add(b"hello")?;
    /// assert_eq!(buf.remove_all(), b"hello");
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn add(&mut self, data: &[u8]) -> Result<()> {
        // Adding to a pair's (or filter's) output runs bufferevent callbacks before this
        // returns: their panics come out of this call (panic::sync).
        // SAFETY: data is valid for its length; libevent copies it.
        crate::panic::sync(|| unsafe {
            call!(sys::evbuffer_add(
                self.as_raw(),
                data.as_ptr() as *const c_void,
                data.len()
            ))
        })?;
        Ok(())
    }

    /// `evbuffer_prepend`: put `data` in front.
    ///
    /// ```
    /// # use libevent::*;
    /// let mut buf = EvBuffer::new()?;
    /// buf.add(b"world")?;
    /// buf.prepend(b"hello ")?;
    /// assert_eq!(buf.remove_all(), b"hello world");
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn prepend(&mut self, data: &[u8]) -> Result<()> {
        // SAFETY: as in add.
        crate::panic::sync(|| unsafe {
            call!(sys::evbuffer_prepend(
                self.as_raw(),
                data.as_ptr() as *const c_void,
                data.len()
            ))
        })?;
        Ok(())
    }

    /// `evbuffer_add_buffer`: move everything from `other` to the end of `self`.
    ///
    /// ```
    /// # use libevent::*;
    /// let mut buf = EvBuffer::new()?;
    /// let mut other = EvBuffer::new()?;
    /// other.add(b"moved")?;
    /// buf.add_buffer(&mut other)?;
    /// assert!(other.is_empty());
    /// assert_eq!(buf.len(), 5);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn add_buffer(&mut self, other: &mut EvBufferRef) -> Result<()> {
        if std::ptr::eq(self, other) {
            return Err(Error::invalid(
                "evbuffer_add_buffer",
                "a buffer cannot be moved into itself",
            ));
        }
        // SAFETY: both live and distinct.
        crate::panic::sync(|| unsafe {
            call!(sys::evbuffer_add_buffer(self.as_raw(), other.as_raw()))
        })?;
        Ok(())
    }

    /// `evbuffer_remove_buffer`: move up to `n` bytes from the front of `self` to `dst`.
    ///
    /// ```
    /// # use libevent::*;
    /// let mut buf = EvBuffer::new()?;
    /// let mut dst = EvBuffer::new()?;
    /// buf.add(b"abcdef")?;
    /// assert_eq!(buf.remove_buffer(&mut dst, 4)?, 4);
    /// assert_eq!(dst.remove_all(), b"abcd");
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn remove_buffer(&mut self, dst: &mut EvBufferRef, n: usize) -> Result<usize> {
        if std::ptr::eq(self, dst) {
            return Err(Error::invalid(
                "evbuffer_remove_buffer",
                "a buffer cannot be moved into itself",
            ));
        }
        // SAFETY: both live and distinct.
        let n = crate::panic::sync(|| unsafe {
            call!(sys::evbuffer_remove_buffer(self.as_raw(), dst.as_raw(), n))
        })?;
        Ok(n as usize)
    }

    /// `evbuffer_remove`: take up to `out.len()` bytes from the front; returns how many.
    ///
    /// ```
    /// # use libevent::*;
    /// let mut buf = EvBuffer::new()?;
    /// buf.add(b"abcdef")?;
    /// let mut out = [0u8; 4];
    /// assert_eq!(buf.remove(&mut out), 4);
    /// assert_eq!(&out, b"abcd");
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn remove(&mut self, out: &mut [u8]) -> usize {
        if out.is_empty() {
            return 0;
        }
        // Draining may run callbacks (a filter reads more into the buffer it drained):
        // panic::sync, as for add.
        // SAFETY: out is writable for its length.
        let n = crate::panic::sync(|| unsafe {
            call!(sys::evbuffer_remove(
                self.as_raw(),
                out.as_mut_ptr() as *mut c_void,
                out.len()
            ))
        });
        n.map_or(0, |n| n as usize)
    }

    /// Takes everything, as a Vec.
    ///
    /// ```
    /// # use libevent::*;
    /// let mut buf = EvBuffer::new()?;
    /// buf.add(b"all of it")?;
    /// assert_eq!(buf.remove_all(), b"all of it");
    /// assert!(buf.is_empty());
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn remove_all(&mut self) -> Vec<u8> {
        let mut v = vec![0u8; self.len()];
        let n = self.remove(&mut v);
        v.truncate(n);
        v
    }

    /// `evbuffer_copyout`: copy up to `out.len()` bytes from the front, leaving them.
    ///
    /// ```
    /// # use libevent::*;
    /// let mut buf = EvBuffer::new()?;
    /// buf.add(b"peek")?;
    /// let mut out = [0u8; 2];
    /// assert_eq!(buf.copyout(&mut out), 2);
    /// assert_eq!(buf.len(), 4); // still there
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn copyout(&self, out: &mut [u8]) -> usize {
        if out.is_empty() {
            return 0;
        }
        // SAFETY: out is writable for its length.
        let n = unsafe {
            call!(sys::evbuffer_copyout(
                self.as_raw(),
                out.as_mut_ptr() as *mut c_void,
                out.len()
            ))
        };
        n.unwrap_or(0)
    }

    /// `evbuffer_drain`: drop `n` bytes from the front (all of them if fewer).
    ///
    /// ```
    /// # use libevent::*;
    /// let mut buf = EvBuffer::new()?;
    /// buf.add(b"abcdef")?;
    /// buf.drain(2)?;
    /// assert_eq!(buf.remove_all(), b"cdef");
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn drain(&mut self, n: usize) -> Result<()> {
        // SAFETY: self live. May run callbacks, as remove.
        crate::panic::sync(|| unsafe { call!(sys::evbuffer_drain(self.as_raw(), n)) })?;
        Ok(())
    }

    /// `evbuffer_pullup`: make the first `n` bytes (all, for `None`) contiguous and borrow
    /// them. `None` when the buffer holds fewer than `n` bytes.
    ///
    /// ```
    /// # use libevent::*;
    /// let mut buf = EvBuffer::new()?;
    /// buf.add(b"abc")?;
    /// buf.add(b"def")?;
    /// assert_eq!(buf.pullup(Some(4)).unwrap(), b"abcd");
    /// assert!(buf.pullup(Some(10)).is_none());
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn pullup(&mut self, n: Option<usize>) -> Option<&[u8]> {
        let want = match n {
            Some(n) if n > self.len() => return None,
            Some(n) => n,
            None => self.len(),
        };
        if want == 0 {
            return Some(&[]);
        }
        let size = isize::try_from(want).ok()?;
        // SAFETY: self live; the returned pointer covers `want` bytes and stays valid until
        // the buffer changes, which needs `&mut self` and so ends this borrow first.
        unsafe {
            let p = call!(sys::evbuffer_pullup(self.as_raw(), size)).ok()?;
            Some(std::slice::from_raw_parts(p.as_ptr(), want))
        }
    }

    /// `evbuffer_peek`: the contents as borrowed chunks, without copying.
    ///
    /// ```
    /// # use libevent::*;
    /// let mut buf = EvBuffer::new()?;
    /// buf.add(b"abc")?;
    /// let chunks = buf.peek();
    /// assert_eq!(chunks.concat(), b"abc");
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn peek(&self) -> Vec<&[u8]> {
        // SAFETY: a first call with no vectors returns how many are needed.
        let n = unsafe {
            call!(sys::evbuffer_peek(
                self.as_raw(),
                -1,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                0,
            ))
        };
        let Ok(n) = n else {
            return Vec::new();
        };
        let count = n as usize;
        let mut vecs = vec![
            libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0
            };
            count
        ];
        // SAFETY: vecs has room for `count` entries; the chunks stay valid while `&self` is
        // borrowed, since changing the buffer needs `&mut self`.
        let got = unsafe {
            call!(sys::evbuffer_peek(
                self.as_raw(),
                -1,
                std::ptr::null_mut(),
                vecs.as_mut_ptr(),
                n,
            ))
        };
        vecs.truncate(got.map_or(0, |n| n as usize).min(count));
        vecs.iter()
            .filter(|v| v.iov_len > 0)
            // SAFETY: each iovec describes live bytes inside the buffer (see above).
            .map(|v| unsafe { std::slice::from_raw_parts(v.iov_base as *const u8, v.iov_len) })
            .collect()
    }

    /// `evbuffer_readln`: take one line (without its end-of-line), or `None` when no
    /// complete line is buffered.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::buffer::Eol;
    /// let mut buf = EvBuffer::new()?;
    /// buf.add(b"line one\r\nrest")?;
    /// assert_eq!(buf.readln(Eol::Crlf).unwrap(), b"line one");
    /// assert_eq!(buf.readln(Eol::Crlf), None); // \"rest\" has no end yet
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn readln(&mut self, eol: Eol) -> Option<Vec<u8>> {
        let mut n: usize = 0;
        // Draining may run callbacks, as remove.
        // SAFETY: self live; n is a valid out pointer.
        let p = crate::panic::sync(|| unsafe {
            call!(sys::evbuffer_readln(self.as_raw(), &mut n, eol.raw()))
        })
        .ok()?;
        // SAFETY: libevent allocated the n-byte line; copied, then freed through libevent
        // (the program may have replaced its allocator).
        unsafe {
            let line = std::slice::from_raw_parts(p.as_ptr() as *const u8, n).to_vec();
            sys::event_mm_free_(p.as_ptr() as *mut c_void);
            Some(line)
        }
    }

    /// `evbuffer_search`: the offset of the first `what`, from `from`.
    ///
    /// ```
    /// # use libevent::*;
    /// let mut buf = EvBuffer::new()?;
    /// buf.add(b"key=value")?;
    /// assert_eq!(buf.search(b"=", 0), Some(3));
    /// assert_eq!(buf.search(b"?", 0), None);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn search(&self, what: &[u8], from: usize) -> Option<usize> {
        if what.is_empty() || from >= self.len() {
            return None;
        }
        let start = self.ptr_at(from)?;
        // SAFETY: start was set on this buffer, unchanged since (&self).
        let p = unsafe {
            sys::evbuffer_search(self.as_raw(), what.as_ptr() as *const _, what.len(), &start)
        };
        usize::try_from(p.pos).ok()
    }

    /// `evbuffer_add_reference`: append `data` without copying; `on_release` gets it back
    /// when libevent no longer needs it (drained, sent, or the buffer freed).
    ///
    /// ```
    /// # use libevent::*;
    /// let mut buf = EvBuffer::new()?;
    /// let released = std::rc::Rc::new(std::cell::Cell::new(false));
    /// let r = released.clone();
    /// buf.add_reference(vec![1u8, 2, 3], move |_data| r.set(true))?;
    /// buf.drain(3)?;
    /// assert!(released.get());
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn add_reference<T, F>(&mut self, data: T, on_release: F) -> Result<()>
    where
        T: AsRef<[u8]> + 'static,
        F: FnOnce(T) + 'static,
    {
        struct Held<T, F> {
            data: T,
            release: F,
        }
        extern "C" fn cleanup<T, F: FnOnce(T)>(
            _data: *const c_void,
            _len: usize,
            arg: *mut c_void,
        ) {
            // SAFETY: arg is the Box made below, released exactly once by libevent.
            let held = unsafe { Box::from_raw(arg as *mut Held<T, F>) };
            panic::wrap(
                Guard::Contain("an evbuffer_add_reference release closure"),
                || (held.release)(held.data),
            );
        }
        let held = Box::new(Held {
            data,
            release: on_release,
        });
        let (ptr, len) = {
            let s = held.data.as_ref();
            (s.as_ptr(), s.len())
        };
        let arg = Box::into_raw(held);
        // SAFETY: the bytes live inside the boxed T until cleanup runs.
        let rc = unsafe {
            call!(sys::evbuffer_add_reference(
                self.as_raw(),
                ptr as *const c_void,
                len,
                Some(cleanup::<T, F>),
                arg as *mut c_void,
            ))
        };
        if rc.is_err() {
            // SAFETY: libevent did not take it; reclaim without running the closure.
            drop(unsafe { Box::from_raw(arg) });
        }
        rc.map(drop)
    }

    /// Appends `length` bytes of `file` from `offset`; the buffer takes the descriptor
    /// and closes it when done. What `evbuffer_add_file` does, through a
    /// [`FileSegment`] that never maps the file (`evbuffer_add_file` may `mmap` it, and a
    /// mapping would change under this buffer's slices if the file did): sent with
    /// `sendfile` from a buffer that drains to a socket, read into memory otherwise.
    ///
    /// ```
    /// # use libevent::*;
    /// let mut buf = EvBuffer::new()?;
    /// let path = std::env::temp_dir().join("libevent-doc-add-file.txt");
    /// std::fs::write(&path, b"0123456789").unwrap();
    /// buf.add_file(std::fs::File::open(&path).unwrap().into(), 3, 4)?;
    /// assert_eq!(buf.remove_all(), b"3456");
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn add_file(&mut self, file: OwnedFd, offset: u64, length: u64) -> Result<()> {
        let seg = FileSegment::new(file, offset, Some(length), SegmentFlags::empty())?;
        self.add_file_segment(&seg, 0, None)
    }

    /// `evbuffer_freeze`: refuse changes at the front (`true`) or the end (`false`).
    ///
    /// ```
    /// # use libevent::*;
    /// let mut buf = EvBuffer::new()?;
    /// buf.freeze(false)?; // the end is frozen
    /// assert!(buf.add(b"x").is_err());
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn freeze(&mut self, front: bool) -> Result<()> {
        // SAFETY: self live.
        unsafe { call!(sys::evbuffer_freeze(self.as_raw(), i32::from(front))) }?;
        Ok(())
    }

    /// `evbuffer_unfreeze`.
    ///
    /// ```
    /// # use libevent::*;
    /// let mut buf = EvBuffer::new()?;
    /// buf.freeze(false)?;
    /// buf.unfreeze(false)?;
    /// buf.add(b"x")?;
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn unfreeze(&mut self, front: bool) -> Result<()> {
        // SAFETY: self live.
        unsafe { call!(sys::evbuffer_unfreeze(self.as_raw(), i32::from(front))) }?;
        Ok(())
    }
}

impl std::fmt::Debug for EvBufferRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvBuffer")
            .field("len", &self.len())
            .finish()
    }
}

/// An owned evbuffer (`evbuffer_new`), freed on drop.
///
/// ```
/// use libevent::EvBuffer;
/// use libevent::buffer::Eol;
/// let mut buf = EvBuffer::new()?;
/// buf.add(b"GET / HTTP/1.0\r\nHost: x\r\n")?;
/// assert_eq!(buf.readln(Eol::CrlfStrict).unwrap(), b"GET / HTTP/1.0");
/// assert_eq!(buf.search(b"x", 0), Some(6));
/// # Ok::<(), libevent::Error>(())
/// ```
pub struct EvBuffer {
    raw: NonNull<sys::evbuffer>,
    callbacks: callbacks::Callbacks,
    /// The base that runs deferred callbacks (`defer_callbacks`), kept alive with the
    /// buffer.
    base: Option<crate::EventBase>,
}

impl EvBuffer {
    /// `evbuffer_new`.
    ///
    /// ```
    /// # use libevent::*;
    /// let buf = EvBuffer::new()?;
    /// assert!(buf.is_empty());
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn new() -> Result<EvBuffer> {
        // SAFETY: no preconditions.
        let raw = unsafe { call!(sys::evbuffer_new()) }?;
        Ok(EvBuffer {
            raw,
            callbacks: callbacks::Callbacks::default(),
            base: None,
        })
    }

    /// Takes ownership of an evbuffer made by C (`evbuffer_new`): it is freed on drop.
    ///
    /// # Safety
    /// `raw` must be a live evbuffer that nothing else frees or uses meanwhile.
    ///
    /// ```
    /// # use libevent::*;
    /// // SAFETY: a fresh evbuffer that nothing else frees.
    /// let mut buf = unsafe { EvBuffer::from_raw(libevent::sys::evbuffer_new())? };
    /// buf.add(b"adopted")?;
    /// assert_eq!(buf.len(), 7);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub unsafe fn from_raw(raw: *mut sys::evbuffer) -> Result<EvBuffer> {
        let raw = NonNull::new(raw)
            .ok_or_else(|| Error::invalid("EvBuffer::from_raw", "null evbuffer"))?;
        Ok(EvBuffer {
            raw,
            callbacks: callbacks::Callbacks::default(),
            base: None,
        })
    }
}

impl Drop for EvBuffer {
    fn drop(&mut self) {
        // Disable every callback first: libevent may still run the buffer's callbacks
        // after evbuffer_free (a pending deferred run holds a reference to it).
        self.callbacks.disable_all(self.raw.as_ptr());
        // SAFETY: made by evbuffer_new (or adopted), freed once.
        unsafe { sys::evbuffer_free(self.raw.as_ptr()) };
        // The closures can go now: libevent calls none of them again.
        self.callbacks.release_all();
    }
}
