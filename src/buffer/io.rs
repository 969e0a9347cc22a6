//! Writing into an evbuffer in place (`evbuffer_reserve_space` / `commit_space`,
//! `expand`, `add_iovec`), moving whole buffers (`prepend_buffer`,
//! `add_buffer_reference`), reading and writing descriptors, the buffer's flags, and the
//! standard `io::Read`, `io::Write` and `fmt::Write` traits (the safe form of
//! `evbuffer_add_printf`).
//!
//! Every call that adds or removes bytes can run callbacks before it returns (a pair's or
//! filter's buffers), so it goes through `panic::sync`, as `add` does.

use super::{BufferFlags, EvBufferRef};
use crate::error::{call, Error, Result};
use crate::panic;
use libevent_sys as sys;
use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, BorrowedFd};

/// A descriptor call's result as `io::Result`: its `errno`, or (libevent failing without
/// one, e.g. a frozen front) the crate's error.
fn io_result(r: Result<i32>) -> io::Result<usize> {
    match r {
        Ok(n) => Ok(n as usize),
        Err(e) => Err(match e.errno() {
            Some(errno) => io::Error::from_raw_os_error(errno),
            None => io::Error::other(e),
        }),
    }
}

impl EvBufferRef {
    /// `evbuffer_set_flags`.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::buffer::BufferFlags;
    /// let mut buf = EvBuffer::new()?;
    /// buf.set_flags(BufferFlags::DRAINS_TO_FD)?;
    /// buf.clear_flags(BufferFlags::DRAINS_TO_FD)?;
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn set_flags(&mut self, flags: BufferFlags) -> Result<()> {
        // SAFETY: self is live.
        unsafe { call!(sys::evbuffer_set_flags(self.as_raw(), flags.bits())) }?;
        Ok(())
    }

    /// `evbuffer_clear_flags`.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::buffer::BufferFlags;
    /// let mut buf = EvBuffer::new()?;
    /// buf.clear_flags(BufferFlags::DRAINS_TO_FD)?;
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn clear_flags(&mut self, flags: BufferFlags) -> Result<()> {
        // SAFETY: self is live.
        unsafe { call!(sys::evbuffer_clear_flags(self.as_raw(), flags.bits())) }?;
        Ok(())
    }

    /// `evbuffer_enable_locking` with a lock of libevent's: give the buffer a lock, for a
    /// buffer C threads also use (Rust's handles are not `Send`, so Rust needs none of
    /// its own). An error without feature `threads` (libevent has no locks then).
    ///
    /// ```
    /// # use libevent::*;
    /// let mut buf = EvBuffer::new()?;
    /// buf.enable_locking()?;
    /// let n = buf.with_lock(|b| {
    ///     b.add(b"locked")?;
    ///     Ok::<_, libevent::Error>(b.len())
    /// })?;
    /// assert_eq!(n, 6);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn enable_locking(&mut self) -> Result<()> {
        // Lock callbacks first (what every base constructor does), or libevent has none.
        if !crate::thread::use_pthreads() {
            return Err(Error::invalid(
                "evbuffer_enable_locking",
                "libevent has no locks without feature `threads`",
            ));
        }
        // SAFETY: self is live; a null lock asks libevent to make one.
        unsafe {
            call!(sys::evbuffer_enable_locking(
                self.as_raw(),
                std::ptr::null_mut()
            ))
        }?;
        Ok(())
    }

    /// `evbuffer_lock` and `evbuffer_unlock` around `f`: C threads that lock the buffer
    /// wait until `f` returns (also when it panics). Without a lock
    /// ([`enable_locking`](Self::enable_locking)) both are no-ops. `f` must not call
    /// into the loop of another thread that waits for this buffer.
    pub fn with_lock<R>(&mut self, f: impl FnOnce(&mut EvBufferRef) -> R) -> R {
        struct Unlock(*mut sys::evbuffer);
        impl Drop for Unlock {
            fn drop(&mut self) {
                // SAFETY: the buffer locked below, still live (borrowed by with_lock).
                unsafe { sys::evbuffer_unlock(self.0) }
            }
        }
        // SAFETY: self is live; libevent's locks are recursive, so the buffer's own
        // calls inside f lock it again without deadlock.
        unsafe { sys::evbuffer_lock(self.as_raw()) };
        let _unlock = Unlock(self.as_raw());
        f(self)
    }

    /// `evbuffer_expand`: make room for `n` more bytes without reallocating later.
    ///
    /// ```
    /// # use libevent::*;
    /// let mut buf = EvBuffer::new()?;
    /// buf.expand(4096)?;
    /// assert!(buf.is_empty()); // room, not data
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn expand(&mut self, n: usize) -> Result<()> {
        // SAFETY: self is live; expanding adds no data and runs no callback.
        unsafe { call!(sys::evbuffer_expand(self.as_raw(), n)) }?;
        Ok(())
    }

    /// `evbuffer_reserve_space` and `evbuffer_commit_space`: reserve `n` contiguous bytes
    /// at the end, let `fill` write into them, and append the first `k` it reports
    /// (`k <= n`), with no copy. The space is zeroed before `fill` sees it, so it never
    /// reads uninitialized memory. A `k` above `n` is an error and appends nothing.
    ///
    /// ```
    /// # use libevent::*;
    /// let mut buf = EvBuffer::new()?;
    /// let k = buf.reserve_space(16, |space| {
    ///     space[..5].copy_from_slice(b"hello");
    ///     5
    /// })?;
    /// assert_eq!(k, 5);
    /// assert_eq!(buf.remove_all(), b"hello");
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn reserve_space(
        &mut self,
        n: usize,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<usize> {
        let size = isize::try_from(n)
            .map_err(|_| Error::invalid("evbuffer_reserve_space", "size too large"))?;
        if n == 0 {
            return Ok(0);
        }
        let mut v = libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        };
        // SAFETY: one iovec out-parameter; with n_vec 1 libevent makes one extent of at
        // least `n` bytes.
        unsafe { call!(sys::evbuffer_reserve_space(self.as_raw(), size, &mut v, 1)) }?;
        debug_assert!(v.iov_len >= n);
        // SAFETY: the extent is n writable bytes owned by the buffer, which nothing else
        // can touch while `&mut self` is held; zeroed first, so the slice is initialized.
        let space = unsafe {
            std::ptr::write_bytes(v.iov_base as *mut u8, 0, n);
            std::slice::from_raw_parts_mut(v.iov_base as *mut u8, n)
        };
        let k = fill(space);
        if k > n {
            return Err(Error::invalid(
                "evbuffer_commit_space",
                "fill reported more bytes than were reserved",
            ));
        }
        v.iov_len = k;
        // SAFETY: the extent reserved above, unchanged since (&mut self); committing
        // adds data, which may run callbacks (panic::sync).
        panic::sync(|| unsafe { call!(sys::evbuffer_commit_space(self.as_raw(), &mut v, 1)) })?;
        Ok(k)
    }

    /// `evbuffer_add_iovec`: append every slice, in order, in one call.
    ///
    /// ```
    /// # use libevent::*;
    /// use std::io::IoSlice;
    /// let mut buf = EvBuffer::new()?;
    /// buf.add_iovec(&[IoSlice::new(b"GET "), IoSlice::new(b"/ HTTP/1.1")])?;
    /// assert_eq!(buf.remove_all(), b"GET / HTTP/1.1");
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn add_iovec(&mut self, slices: &[IoSlice<'_>]) -> Result<usize> {
        let n = i32::try_from(slices.len())
            .map_err(|_| Error::invalid("evbuffer_add_iovec", "too many slices"))?;
        // IoSlice is an iovec on Unix (same layout, guaranteed by std); libevent's
        // evbuffer_iovec is declared as struct iovec here.
        // SAFETY: the iovecs describe readable slices, read (copied) during the call only.
        let added = panic::sync(|| unsafe {
            sys::evbuffer_add_iovec(self.as_raw(), slices.as_ptr() as *mut libc::iovec, n)
        });
        let want: usize = slices.iter().map(|s| s.len()).sum();
        if added != want {
            return Err(Error::invalid(
                "evbuffer_add_iovec",
                "not everything was added",
            ));
        }
        Ok(added)
    }

    /// `evbuffer_prepend_buffer`: move all of `src` in front of this buffer's contents.
    ///
    /// ```
    /// # use libevent::*;
    /// let mut body = EvBuffer::new()?;
    /// body.add(b"body")?;
    /// let mut head = EvBuffer::new()?;
    /// head.add(b"head:")?;
    /// body.prepend_buffer(&mut head)?;
    /// assert!(head.is_empty());
    /// assert_eq!(body.remove_all(), b"head:body");
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn prepend_buffer(&mut self, src: &mut EvBufferRef) -> Result<()> {
        if std::ptr::eq(self, src) {
            return Err(Error::invalid(
                "evbuffer_prepend_buffer",
                "a buffer into itself",
            ));
        }
        // SAFETY: two distinct live buffers; moving data may run callbacks of both.
        panic::sync(|| unsafe {
            call!(sys::evbuffer_prepend_buffer(self.as_raw(), src.as_raw()))
        })?;
        Ok(())
    }

    /// `evbuffer_add_buffer_reference`: append what `src` holds without copying and
    /// without draining it: both buffers then share the bytes. libevent marks the shared
    /// chunks immutable in both (adding to either starts a new chunk) and keeps `src`'s
    /// chunks alive until this buffer lets go of them, so `src` may be changed or dropped
    /// meanwhile. A buffer that holds such references (or file segments) cannot itself be
    /// referenced: that is an error.
    ///
    /// ```
    /// # use libevent::*;
    /// let mut src = EvBuffer::new()?;
    /// src.add(b"shared")?;
    /// let mut out = EvBuffer::new()?;
    /// out.add_buffer_reference(&src)?;
    /// assert_eq!(out.remove_all(), b"shared");
    /// assert_eq!(src.remove_all(), b"shared"); // still there
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn add_buffer_reference(&mut self, src: &EvBufferRef) -> Result<()> {
        if std::ptr::eq(self, src) {
            return Err(Error::invalid(
                "evbuffer_add_buffer_reference",
                "a buffer into itself",
            ));
        }
        // SAFETY: two distinct live buffers. libevent takes a reference on src (it is not
        // freed while this buffer shares its chunks) and changes none of src's bytes.
        panic::sync(|| unsafe {
            call!(sys::evbuffer_add_buffer_reference(
                self.as_raw(),
                src.as_raw()
            ))
        })?;
        Ok(())
    }

    /// `evbuffer_read`: read up to `max` bytes (`None`: as much as libevent chooses) from
    /// `fd` into the end of this buffer. `Ok(0)` is end of file.
    ///
    /// ```
    /// # use libevent::*;
    /// use std::io::Write;
    /// use std::os::fd::AsFd;
    /// let (mut a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// a.write_all(b"from the socket").unwrap();
    /// let mut buf = EvBuffer::new()?;
    /// assert_eq!(buf.read_fd(b.as_fd(), Some(4096)).unwrap(), 15);
    /// assert_eq!(buf.remove_all(), b"from the socket");
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn read_fd(&mut self, fd: BorrowedFd<'_>, max: Option<usize>) -> io::Result<usize> {
        let howmuch = match max {
            None => -1,
            Some(m) => i32::try_from(m).unwrap_or(i32::MAX),
        };
        // SAFETY: fd is open for the call (borrowed); reading adds data (panic::sync).
        io_result(panic::sync(|| unsafe {
            call!(sys::evbuffer_read(self.as_raw(), fd.as_raw_fd(), howmuch))
        }))
    }

    /// `evbuffer_write`: write as much of the buffer as `fd` takes, draining what was
    /// written.
    ///
    /// ```
    /// # use libevent::*;
    /// use std::io::Read;
    /// use std::os::fd::AsFd;
    /// let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let mut buf = EvBuffer::new()?;
    /// buf.add(b"to the socket")?;
    /// assert_eq!(buf.write_fd(a.as_fd()).unwrap(), 13);
    /// assert!(buf.is_empty());
    /// let mut got = [0u8; 13];
    /// b.read_exact(&mut got).unwrap();
    /// assert_eq!(&got, b"to the socket");
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn write_fd(&mut self, fd: BorrowedFd<'_>) -> io::Result<usize> {
        // libevent fails an empty write without errno: nothing to do is Ok(0).
        if self.is_empty() {
            return Ok(0);
        }
        // SAFETY: fd is open for the call; writing drains (panic::sync).
        io_result(panic::sync(|| unsafe {
            call!(sys::evbuffer_write(self.as_raw(), fd.as_raw_fd()))
        }))
    }

    /// `evbuffer_write_atmost`: as [`write_fd`](Self::write_fd), at most `max` bytes.
    ///
    /// ```
    /// # use libevent::*;
    /// use std::os::fd::AsFd;
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let mut buf = EvBuffer::new()?;
    /// buf.add(b"abcdef")?;
    /// assert_eq!(buf.write_fd_atmost(a.as_fd(), 2).unwrap(), 2);
    /// assert_eq!(buf.remove_all(), b"cdef");
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn write_fd_atmost(&mut self, fd: BorrowedFd<'_>, max: usize) -> io::Result<usize> {
        if self.is_empty() || max == 0 {
            return Ok(0);
        }
        let howmuch = isize::try_from(max).unwrap_or(isize::MAX);
        // SAFETY: as write_fd.
        io_result(panic::sync(|| unsafe {
            call!(sys::evbuffer_write_atmost(
                self.as_raw(),
                fd.as_raw_fd(),
                howmuch
            ))
        }))
    }
}

/// Appends, as [`EvBufferRef::add`]: with `write!`, the safe `evbuffer_add_printf`.
///
/// ```
/// # use libevent::*;
/// use std::io::Write;
/// let mut buf = EvBuffer::new()?;
/// write!(buf, "{} + {} = {}", 2, 2, 4).unwrap();
/// assert_eq!(buf.remove_all(), b"2 + 2 = 4");
/// # Ok::<(), libevent::Error>(())
/// ```
impl io::Write for EvBufferRef {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.add(data).map_err(io::Error::other)?;
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Appends text, as [`EvBufferRef::add`] (`evbuffer_add_printf` with Rust's formatting).
///
/// ```
/// # use libevent::*;
/// use std::fmt::Write;
/// let mut buf = EvBuffer::new()?;
/// write!(buf, "HTTP/1.1 {} {}\r\n", 200, "OK").unwrap();
/// assert_eq!(buf.remove_all(), b"HTTP/1.1 200 OK\r\n");
/// # Ok::<(), libevent::Error>(())
/// ```
impl std::fmt::Write for EvBufferRef {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.add(s.as_bytes()).map_err(|_| std::fmt::Error)
    }
}

/// Takes from the front, as [`EvBufferRef::remove`].
///
/// ```
/// # use libevent::*;
/// use std::io::Read;
/// let mut buf = EvBuffer::new()?;
/// buf.add(b"read me")?;
/// let mut s = String::new();
/// buf.read_to_string(&mut s).unwrap();
/// assert_eq!(s, "read me");
/// # Ok::<(), libevent::Error>(())
/// ```
impl io::Read for EvBufferRef {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        Ok(self.remove(out))
    }
}

// The iovec cast in add_iovec relies on IoSlice's layout.
const _: () =
    assert!(std::mem::size_of::<IoSlice<'static>>() == std::mem::size_of::<libc::iovec>());
