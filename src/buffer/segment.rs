//! `struct evbuffer_file_segment`: a piece of a file that buffers can share, sent with
//! `sendfile` when the buffer drains to a socket ([`BufferFlags::DRAINS_TO_FD`]), read
//! into memory otherwise.
//!
//! libevent may also `mmap` the file instead of reading it. A mapping changes when the
//! file does (and faults when it is truncated), under any `&[u8]` that `peek` or
//! `pullup` lent: so the safe constructor always disables mapping, and
//! [`FileSegment::new_mapped`] is `unsafe`, with that contract.
//!
//! [`BufferFlags::DRAINS_TO_FD`]: super::BufferFlags::DRAINS_TO_FD

use super::{EvBufferRef, SegmentFlags};
use crate::error::{call, Error, Result};
use crate::panic::{self, Guard};
use libevent_sys as sys;
use std::ffi::c_void;
use std::os::fd::{IntoRawFd, OwnedFd};
use std::ptr::NonNull;

type CleanupFn = Box<dyn FnOnce()>;

/// The range `offset..offset + length` (`None`: to the end) of something `total` bytes
/// long, as libevent's `ev_off_t` offset and length; `past` is the error's reason when
/// the range does not fit.
fn range(
    function: &'static str,
    past: &'static str,
    total: u64,
    offset: u64,
    length: Option<u64>,
) -> Result<(i64, i64)> {
    let rest = total
        .checked_sub(offset)
        .ok_or_else(|| Error::invalid(function, past))?;
    let length = match length {
        None => rest,
        Some(l) if l <= rest => l,
        Some(_) => return Err(Error::invalid(function, past)),
    };
    let too_large = |_| Error::invalid(function, "offset or length too large");
    Ok((
        i64::try_from(offset).map_err(too_large)?,
        i64::try_from(length).map_err(too_large)?,
    ))
}

/// A shared piece of a file (`evbuffer_file_segment_new`), added to buffers with
/// [`EvBufferRef::add_file_segment`]. Reference-counted by libevent: dropping it releases
/// this handle's reference, and the segment (and its descriptor) goes when the last
/// buffer using it lets go.
///
/// ```
/// # use libevent::*;
/// use libevent::buffer::{FileSegment, SegmentFlags};
/// let path = std::env::temp_dir().join("libevent-doc-segment.txt");
/// std::fs::write(&path, b"0123456789").unwrap();
/// let file = std::fs::File::open(&path).unwrap();
/// let seg = FileSegment::new(file.into(), 2, Some(6), SegmentFlags::empty())?;
/// let (mut a, mut b) = (EvBuffer::new()?, EvBuffer::new()?);
/// a.add_file_segment(&seg, 0, Some(3))?;
/// b.add_file_segment(&seg, 3, None)?;
/// drop(seg); // the buffers keep it
/// assert_eq!(a.remove_all(), b"234");
/// assert_eq!(b.remove_all(), b"567");
/// # Ok::<(), libevent::Error>(())
/// ```
pub struct FileSegment {
    raw: NonNull<sys::evbuffer_file_segment>,
    /// Its length in bytes, as libevent has it.
    length: u64,
    /// The cleanup closure this handle registered last (libevent keeps one), to free it
    /// when another replaces it.
    cleanup: Option<*mut CleanupFn>,
}

impl FileSegment {
    /// `evbuffer_file_segment_new`: `length` bytes of `file` from `offset` (`None`: to
    /// the end of the file), without memory mapping. The segment takes the descriptor.
    ///
    /// ```
    /// # use libevent::*;
    /// use libevent::buffer::{FileSegment, SegmentFlags};
    /// let path = std::env::temp_dir().join("libevent-doc-segment-new.txt");
    /// std::fs::write(&path, b"abc").unwrap();
    /// let file = std::fs::File::open(&path).unwrap();
    /// let seg = FileSegment::new(file.into(), 0, None, SegmentFlags::DISABLE_SENDFILE)?;
    /// let mut buf = EvBuffer::new()?;
    /// buf.add_file_segment(&seg, 0, None)?;
    /// assert_eq!(buf.remove_all(), b"abc");
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn new(
        file: OwnedFd,
        offset: u64,
        length: Option<u64>,
        flags: SegmentFlags,
    ) -> Result<FileSegment> {
        // SAFETY: mapping is disabled, so no memory of the segment changes with the file.
        unsafe {
            Self::make(
                file,
                offset,
                length,
                flags.bits() | sys::EVBUF_FS_DISABLE_MMAP as u32,
            )
        }
    }

    /// As [`new`](Self::new), and libevent may `mmap` the file.
    ///
    /// # Safety
    /// While any buffer holds the segment, the file's bytes in the segment's range must
    /// not change and the file must not be truncated: a buffer's slices (`peek`,
    /// `pullup`) may point into the mapping.
    ///
    /// ```
    /// # use libevent::*;
    /// use libevent::buffer::{FileSegment, SegmentFlags};
    /// let path = std::env::temp_dir().join("libevent-doc-segment-mapped.txt");
    /// std::fs::write(&path, b"mapped").unwrap();
    /// let file = std::fs::File::open(&path).unwrap();
    /// // SAFETY: nothing writes to or truncates the file while the buffer holds it.
    /// let seg = unsafe { FileSegment::new_mapped(file.into(), 0, None, SegmentFlags::empty())? };
    /// let mut buf = EvBuffer::new()?;
    /// buf.add_file_segment(&seg, 0, None)?;
    /// assert_eq!(buf.pullup(None).unwrap(), b"mapped");
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub unsafe fn new_mapped(
        file: OwnedFd,
        offset: u64,
        length: Option<u64>,
        flags: SegmentFlags,
    ) -> Result<FileSegment> {
        // SAFETY: the caller's contract covers the mapping.
        unsafe { Self::make(file, offset, length, flags.bits()) }
    }

    /// # Safety
    /// Without `EVBUF_FS_DISABLE_MMAP` in `flags`, as `new_mapped`.
    unsafe fn make(
        file: OwnedFd,
        offset: u64,
        length: Option<u64>,
        flags: u32,
    ) -> Result<FileSegment> {
        const F: &str = "evbuffer_file_segment_new";
        // libevent takes -1 as the file's whole size, whatever the offset, and a range
        // past the end fails only when read: the range is settled here, against the file.
        let file = std::fs::File::from(file);
        let size = file
            .metadata()
            .map_err(|e| Error::os(F, e.raw_os_error().unwrap_or(libc::EIO)))?
            .len();
        let (off, len) = range(F, "range past the end of the file", size, offset, length)?;
        let length = len as u64;
        let fd = OwnedFd::from(file).into_raw_fd();
        let mut flags = flags | sys::EVBUF_FS_CLOSE_ON_FREE as u32;
        if length == 0 {
            // libevent fails to read an empty range into memory; nothing is ever read
            // from an empty segment (adding it adds nothing), so let it stay unread.
            flags &= !(sys::EVBUF_FS_DISABLE_SENDFILE as u32);
        }
        // SAFETY: fd is ours to give (CLOSE_ON_FREE); on failure libevent does not take it.
        match unsafe { call!(sys::evbuffer_file_segment_new(fd, off, len, flags)) } {
            Ok(raw) => Ok(FileSegment {
                raw,
                length,
                cleanup: None,
            }),
            Err(e) => {
                // SAFETY: not taken by libevent on failure.
                drop(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) });
                Err(e)
            }
        }
    }

    /// The segment's length in bytes.
    ///
    /// ```
    /// # use libevent::buffer::{FileSegment, SegmentFlags};
    /// let path = std::env::temp_dir().join("libevent-doc-segment-len.txt");
    /// std::fs::write(&path, b"0123456789").unwrap();
    /// let file = std::fs::File::open(&path).unwrap();
    /// let seg = FileSegment::new(file.into(), 4, None, SegmentFlags::empty())?;
    /// assert_eq!(seg.len(), 6);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn len(&self) -> u64 {
        self.length
    }

    /// True for a segment of no bytes.
    ///
    /// ```
    /// # use libevent::buffer::{FileSegment, SegmentFlags};
    /// let file = std::fs::File::open("/dev/null").unwrap();
    /// assert!(FileSegment::new(file.into(), 0, None, SegmentFlags::empty())?.is_empty());
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// `evbuffer_file_segment_add_cleanup_cb`: run `f` once the segment is freed (this
    /// handle dropped and every buffer done with it). Replaces an earlier closure, which
    /// is then dropped without running.
    ///
    /// ```
    /// # use libevent::*;
    /// use libevent::buffer::{FileSegment, SegmentFlags};
    /// use std::{cell::Cell, rc::Rc};
    /// let path = std::env::temp_dir().join("libevent-doc-segment-cleanup.txt");
    /// std::fs::write(&path, b"x").unwrap();
    /// let file = std::fs::File::open(&path).unwrap();
    /// let mut seg = FileSegment::new(file.into(), 0, None, SegmentFlags::empty())?;
    /// let freed = Rc::new(Cell::new(false));
    /// let f = freed.clone();
    /// seg.on_cleanup(move || f.set(true));
    /// let mut buf = EvBuffer::new()?;
    /// buf.add_file_segment(&seg, 0, None)?;
    /// drop(seg);
    /// assert!(!freed.get()); // the buffer still holds it
    /// buf.drain(1)?;
    /// assert!(freed.get());
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn on_cleanup<F: FnOnce() + 'static>(&mut self, f: F) {
        extern "C" fn tramp(
            _seg: *const sys::evbuffer_file_segment,
            _flags: i32,
            arg: *mut c_void,
        ) {
            // SAFETY: arg is the box registered last; libevent calls this once, when it
            // frees the segment, and the handle that could replace it is gone by then.
            let f = unsafe { Box::from_raw(arg as *mut CleanupFn) };
            panic::wrap(Guard::Contain("a file segment cleanup closure"), f);
        }
        let boxed: *mut CleanupFn = Box::into_raw(Box::new(Box::new(f)));
        // SAFETY: the segment is live (this handle holds a reference).
        unsafe {
            sys::evbuffer_file_segment_add_cleanup_cb(
                self.raw.as_ptr(),
                Some(tramp),
                boxed as *mut c_void,
            )
        };
        if let Some(old) = self.cleanup.replace(boxed) {
            // SAFETY: replaced above, so libevent will never call it.
            drop(unsafe { Box::from_raw(old) });
        }
    }

    /// The raw `struct evbuffer_file_segment *`.
    ///
    /// ```
    /// # use libevent::buffer::{FileSegment, SegmentFlags};
    /// let file = std::fs::File::open("/dev/null").unwrap();
    /// let seg = FileSegment::new(file.into(), 0, Some(0), SegmentFlags::empty())?;
    /// assert!(!seg.as_raw().is_null());
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn as_raw(&self) -> *mut sys::evbuffer_file_segment {
        self.raw.as_ptr()
    }
}

impl Drop for FileSegment {
    fn drop(&mut self) {
        // SAFETY: releases this handle's reference; the cleanup closure (if any) runs now
        // or when the last buffer lets go, and frees its own box.
        unsafe { sys::evbuffer_file_segment_free(self.raw.as_ptr()) }
    }
}

impl std::fmt::Debug for FileSegment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSegment")
            .field("raw", &self.raw)
            .finish()
    }
}

impl EvBufferRef {
    /// `evbuffer_add_file_segment`: append `length` bytes (`None`: the rest) of `seg` from
    /// `offset` within it. The buffer takes its own reference on the segment.
    ///
    /// ```
    /// # use libevent::*;
    /// use libevent::buffer::{FileSegment, SegmentFlags};
    /// let path = std::env::temp_dir().join("libevent-doc-add-segment.txt");
    /// std::fs::write(&path, b"hello world").unwrap();
    /// let file = std::fs::File::open(&path).unwrap();
    /// let seg = FileSegment::new(file.into(), 0, None, SegmentFlags::empty())?;
    /// let mut buf = EvBuffer::new()?;
    /// buf.add_file_segment(&seg, 6, None)?;
    /// assert_eq!(buf.remove_all(), b"world");
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn add_file_segment(
        &mut self,
        seg: &FileSegment,
        offset: u64,
        length: Option<u64>,
    ) -> Result<()> {
        const F: &str = "evbuffer_add_file_segment";
        // libevent 2.1.13's failure path releases a reference to the segment that it
        // never took (buffer.c: the count is raised only on success, and lowered at
        // `err`), which frees the segment under its other users. So every failure it
        // checks for is checked here first, and libevent only ever succeeds.
        let (off, len) = range(
            F,
            "range past the end of the segment",
            seg.length,
            offset,
            length,
        )?;
        if len == 0 {
            return Ok(());
        }
        // Adding nothing fails exactly when the end is frozen (evbuffer_add checks that
        // first, and no callback runs for a change of no bytes).
        // SAFETY: a valid pointer for zero bytes.
        if unsafe { sys::evbuffer_add(self.as_raw(), b"".as_ptr() as *const c_void, 0) } < 0 {
            return Err(Error::invalid(F, "the end of the buffer is frozen"));
        }
        // SAFETY: both live; the range is inside the segment and the end is not frozen,
        // so libevent takes its reference and succeeds (but for reading the file, which
        // fails before any reference is touched). Adding data may run callbacks.
        panic::sync(|| unsafe {
            call!(sys::evbuffer_add_file_segment(
                self.as_raw(),
                seg.as_raw(),
                off,
                len
            ))
        })?;
        Ok(())
    }
}
