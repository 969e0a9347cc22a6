//! `event2/tag.h`: libevent's tagged data format over an [`EvBufferRef`] (what evrpc
//! marshals its messages with).
//!
//! An item is a tag (7 bits per byte, high bit set on all but the last), a length and
//! that many bytes of payload; integers are nibble-packed (the first nibble says how many
//! follow). Functions are named after the C ones without `evtag_`.
//!
//! Where libevent would consume part of an item and then fail (a tag other than the one
//! asked for, an item not wholly buffered yet), these functions check first and consume
//! nothing: the error is [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) for
//! another tag and [`ErrorKind::WouldBlock`](crate::ErrorKind::WouldBlock) for an item
//! still arriving. An item whose payload does not decode as asked (an integer that does
//! not fit its length) is consumed whole, as libevent does, and the error says so: the
//! stream stays in step.
//!
//! ```
//! # use libevent::*;
//! use libevent::tag;
//! use std::time::Duration;
//! let mut buf = EvBuffer::new()?;
//! tag::marshal_int(&mut buf, 1, 42)?;
//! tag::marshal_string(&mut buf, 2, "name")?;
//! tag::marshal_timeval(&mut buf, 3, Duration::from_millis(1500))?;
//! assert_eq!(tag::peek(&mut buf), Some(1));
//! assert_eq!(tag::unmarshal_int(&mut buf, 1)?, 42);
//! assert!(tag::unmarshal_int(&mut buf, 9).is_err()); // tag 2 is next: nothing consumed
//! assert_eq!(tag::unmarshal_string(&mut buf, 2)?, b"name");
//! assert_eq!(tag::unmarshal_timeval(&mut buf, 3)?, Duration::from_millis(1500));
//! assert!(buf.is_empty());
//! # Ok::<(), libevent::Error>(())
//! ```

use crate::buffer::EvBufferRef;
use crate::error::{Error, Result};
use crate::panic;
use libevent_sys as sys;
use std::ffi::c_void;
use std::time::Duration;

/// `evtag_init`: nothing to do in libevent 2.1 (kept for programs that call it).
///
/// ```
/// libevent::tag::init();
/// ```
pub fn init() {
    // SAFETY: no preconditions; it does nothing in 2.1.
    unsafe { sys::evtag_init() }
}

/// Bytes a nibble-packed integer takes (libevent's `encode_int_internal`).
fn int_len(mut v: u64) -> usize {
    let mut nibbles = 0;
    while v != 0 {
        nibbles += 1;
        v >>= 4;
    }
    (nibbles + 2) / 2
}

/// Bytes a tag takes (7 bits a byte).
fn tag_len(mut tag: u32) -> usize {
    let mut n = 1;
    while tag >= 0x80 {
        n += 1;
        tag >>= 7;
    }
    n
}

/// Runs a marshalling call, which returns nothing and ignores its own failures, and
/// checks that the buffer grew by the `expect`ed bytes. The end being frozen (the one
/// reason libevent refuses, out of memory aside) is checked first, so nothing is
/// appended in part.
fn appending(
    buf: &mut EvBufferRef,
    function: &'static str,
    expect: usize,
    f: impl FnOnce(*mut sys::evbuffer),
) -> Result<()> {
    // SAFETY: adding no bytes fails exactly when the end is frozen.
    if unsafe { sys::evbuffer_add(buf.as_raw(), b"".as_ptr() as *const c_void, 0) } < 0 {
        return Err(Error::invalid(function, "the end of the buffer is frozen"));
    }
    let before = buf.len();
    let raw = buf.as_raw();
    // Adding may run callbacks of a pair's or filter's buffer (panic::sync).
    panic::sync(|| f(raw));
    if buf.len() - before != expect {
        return Err(Error::os(function, libc::ENOMEM));
    }
    Ok(())
}

fn length_u32(function: &'static str, n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| Error::invalid(function, "payload longer than 4 GiB"))
}

/// `evtag_marshal`: append an item of `tag` with `data` as its payload.
///
/// ```
/// # use libevent::*;
/// let mut buf = EvBuffer::new()?;
/// libevent::tag::marshal(&mut buf, 0x166, b"hi")?;
/// assert_eq!(buf.remove_all(), [0xe6, 0x02, 0x02, b'h', b'i']);
/// # Ok::<(), libevent::Error>(())
/// ```
pub fn marshal(buf: &mut EvBufferRef, tag: u32, data: &[u8]) -> Result<()> {
    let len = length_u32("evtag_marshal", data.len())?;
    let expect = tag_len(tag) + int_len(len.into()) + data.len();
    appending(buf, "evtag_marshal", expect, |raw| {
        // SAFETY: data is readable for len bytes, copied during the call.
        unsafe { sys::evtag_marshal(raw, tag, data.as_ptr() as *const c_void, len) }
    })
}

/// `evtag_marshal_buffer`: append an item of `tag` whose payload is all of `data`, moved
/// (so `data` is left empty).
///
/// ```
/// # use libevent::*;
/// let mut payload = EvBuffer::new()?;
/// payload.add(b"body")?;
/// let mut buf = EvBuffer::new()?;
/// libevent::tag::marshal_buffer(&mut buf, 7, &mut payload)?;
/// assert!(payload.is_empty());
/// let mut out = EvBuffer::new()?;
/// assert_eq!(libevent::tag::unmarshal(&mut buf, &mut out)?, (7, 4));
/// assert_eq!(out.remove_all(), b"body");
/// # Ok::<(), libevent::Error>(())
/// ```
pub fn marshal_buffer(buf: &mut EvBufferRef, tag: u32, data: &mut EvBufferRef) -> Result<()> {
    const F: &str = "evtag_marshal_buffer";
    if std::ptr::eq(&*buf, &*data) {
        return Err(Error::invalid(F, "a buffer into itself"));
    }
    let n = data.len();
    let len = length_u32(F, n)?;
    let src = data.as_raw();
    appending(buf, F, tag_len(tag) + int_len(len.into()) + n, |raw| {
        // SAFETY: two distinct live buffers.
        unsafe { sys::evtag_marshal_buffer(raw, tag, src) }
    })
}

/// `evtag_marshal_int`: an item holding a 32-bit integer.
///
/// ```
/// # use libevent::*;
/// let mut buf = EvBuffer::new()?;
/// libevent::tag::marshal_int(&mut buf, 1, 0x1234)?;
/// assert_eq!(libevent::tag::unmarshal_int(&mut buf, 1)?, 0x1234);
/// # Ok::<(), libevent::Error>(())
/// ```
pub fn marshal_int(buf: &mut EvBufferRef, tag: u32, v: u32) -> Result<()> {
    let n = int_len(v.into());
    appending(
        buf,
        "evtag_marshal_int",
        tag_len(tag) + int_len(n as u64) + n,
        |raw| {
            // SAFETY: raw is live.
            unsafe { sys::evtag_marshal_int(raw, tag, v) }
        },
    )
}

/// `evtag_marshal_int64`: an item holding a 64-bit integer.
///
/// ```
/// # use libevent::*;
/// let mut buf = EvBuffer::new()?;
/// libevent::tag::marshal_int64(&mut buf, 1, u64::MAX)?;
/// assert_eq!(libevent::tag::unmarshal_int64(&mut buf, 1)?, u64::MAX);
/// # Ok::<(), libevent::Error>(())
/// ```
pub fn marshal_int64(buf: &mut EvBufferRef, tag: u32, v: u64) -> Result<()> {
    let n = int_len(v);
    appending(
        buf,
        "evtag_marshal_int64",
        tag_len(tag) + int_len(n as u64) + n,
        |raw| {
            // SAFETY: raw is live.
            unsafe { sys::evtag_marshal_int64(raw, tag, v) }
        },
    )
}

/// `evtag_marshal_string`: an item holding `s` (without a terminating NUL). A string
/// with a NUL inside is refused: C would cut it there.
///
/// ```
/// # use libevent::*;
/// let mut buf = EvBuffer::new()?;
/// libevent::tag::marshal_string(&mut buf, 5, "héllo")?;
/// assert!(libevent::tag::marshal_string(&mut buf, 5, "a\0b").is_err());
/// assert_eq!(libevent::tag::unmarshal_string(&mut buf, 5)?, "héllo".as_bytes());
/// # Ok::<(), libevent::Error>(())
/// ```
pub fn marshal_string(buf: &mut EvBufferRef, tag: u32, s: &str) -> Result<()> {
    const F: &str = "evtag_marshal_string";
    let c = std::ffi::CString::new(s).map_err(|_| Error::invalid(F, "a NUL inside the string"))?;
    let len = length_u32(F, s.len())?;
    appending(
        buf,
        F,
        tag_len(tag) + int_len(len.into()) + s.len(),
        |raw| {
            // SAFETY: c is NUL-terminated and lives through the call.
            unsafe { sys::evtag_marshal_string(raw, tag, c.as_ptr()) }
        },
    )
}

/// `evtag_marshal_timeval`: an item holding a duration to the microsecond (seconds up
/// to `u32::MAX`: the format keeps 32 bits).
///
/// ```
/// # use libevent::*;
/// use std::time::Duration;
/// let mut buf = EvBuffer::new()?;
/// libevent::tag::marshal_timeval(&mut buf, 3, Duration::new(5, 250_000_000))?;
/// assert_eq!(libevent::tag::unmarshal_timeval(&mut buf, 3)?, Duration::new(5, 250_000_000));
/// # Ok::<(), libevent::Error>(())
/// ```
pub fn marshal_timeval(buf: &mut EvBufferRef, tag: u32, d: Duration) -> Result<()> {
    const F: &str = "evtag_marshal_timeval";
    let secs = u32::try_from(d.as_secs())
        .map_err(|_| Error::invalid(F, "more seconds than 32 bits hold"))?;
    let usecs = d.subsec_micros();
    let mut tv = libc::timeval {
        tv_sec: secs.into(),
        tv_usec: usecs.into(),
    };
    let n = int_len(secs.into()) + int_len(usecs.into());
    appending(buf, F, tag_len(tag) + int_len(n as u64) + n, |raw| {
        // SAFETY: tv is read during the call only.
        unsafe { sys::evtag_marshal_timeval(raw, tag, &mut tv) }
    })
}

/// `evtag_encode_int`: a bare nibble-packed integer, with no tag or length.
///
/// ```
/// # use libevent::*;
/// let mut buf = EvBuffer::new()?;
/// libevent::tag::encode_int(&mut buf, 0)?;
/// libevent::tag::encode_int(&mut buf, 0x1f)?;
/// assert_eq!(buf.remove_all(), [0x00, 0x1f, 0x10]);
/// # Ok::<(), libevent::Error>(())
/// ```
pub fn encode_int(buf: &mut EvBufferRef, v: u32) -> Result<()> {
    appending(buf, "evtag_encode_int", int_len(v.into()), |raw| {
        // SAFETY: raw is live.
        unsafe { sys::evtag_encode_int(raw, v) }
    })
}

/// `evtag_encode_int64`: as [`encode_int`], 64 bits.
///
/// ```
/// # use libevent::*;
/// let mut buf = EvBuffer::new()?;
/// libevent::tag::encode_int64(&mut buf, 1 << 40)?;
/// assert_eq!(buf.len(), 6);
/// # Ok::<(), libevent::Error>(())
/// ```
pub fn encode_int64(buf: &mut EvBufferRef, v: u64) -> Result<()> {
    appending(buf, "evtag_encode_int64", int_len(v), |raw| {
        // SAFETY: raw is live.
        unsafe { sys::evtag_encode_int64(raw, v) }
    })
}

/// `evtag_peek`: the tag of the item at the front, without consuming anything.
///
/// ```
/// # use libevent::*;
/// let mut buf = EvBuffer::new()?;
/// assert_eq!(libevent::tag::peek(&mut buf), None);
/// libevent::tag::marshal(&mut buf, 300, b"")?;
/// assert_eq!(libevent::tag::peek(&mut buf), Some(300));
/// # Ok::<(), libevent::Error>(())
/// ```
pub fn peek(buf: &mut EvBufferRef) -> Option<u32> {
    let mut tag = 0u32;
    // SAFETY: live buffer; tag is a valid out-parameter. libevent pulls the front up
    // (moving the bytes in memory, which is why this takes `&mut`: no slice lent by
    // `peek` or `pullup` may be alive across it).
    let n = unsafe { sys::evtag_peek(buf.as_raw(), &mut tag) };
    (n > 0).then_some(tag)
}

/// `evtag_peek_length`: the whole length (tag, length and payload) of the item at the
/// front, if its header is complete.
///
/// ```
/// # use libevent::*;
/// let mut buf = EvBuffer::new()?;
/// libevent::tag::marshal(&mut buf, 1, b"abc")?;
/// assert_eq!(libevent::tag::peek_length(&mut buf), Some(5));
/// # Ok::<(), libevent::Error>(())
/// ```
pub fn peek_length(buf: &mut EvBufferRef) -> Option<usize> {
    let mut len = 0u32;
    // SAFETY: as peek.
    let rc = unsafe { sys::evtag_peek_length(buf.as_raw(), &mut len) };
    // libevent adds the header's length to the payload's in 32 bits: a sum that wrapped
    // is less than the payload alone, and no answer.
    (rc == 0 && payload_length(buf).is_some_and(|p| len as usize >= p)).then_some(len as usize)
}

/// `evtag_payload_length`: the payload length of the item at the front, if its header
/// is complete (the payload may still be arriving).
///
/// ```
/// # use libevent::*;
/// let mut buf = EvBuffer::new()?;
/// libevent::tag::marshal(&mut buf, 1, b"abc")?;
/// assert_eq!(libevent::tag::payload_length(&mut buf), Some(3));
/// # Ok::<(), libevent::Error>(())
/// ```
pub fn payload_length(buf: &mut EvBufferRef) -> Option<usize> {
    let mut len = 0u32;
    // SAFETY: as peek.
    let rc = unsafe { sys::evtag_payload_length(buf.as_raw(), &mut len) };
    (rc == 0).then_some(len as usize)
}

/// What the front of a buffer holds, read from its first bytes by the format's rules
/// (those of libevent's decoder, which then does the work).
#[derive(Debug, PartialEq, Eq)]
enum Header {
    /// A tag, the header's length and the payload's.
    Complete(u32, usize, usize),
    /// Not all of the header has arrived.
    Incomplete,
    /// No bytes to come can make it valid.
    Malformed,
}

/// Reads an item header from `b`, the first bytes of a buffer (the 10 a header can take
/// at most, or all there are: running out is then waiting for more).
fn header(b: &[u8]) -> Header {
    // The tag: 7 bits a byte, at most 5 bytes, 32 bits in all.
    let mut tag: u32 = 0;
    let mut t = 0;
    loop {
        let Some(&byte) = b.get(t) else {
            return Header::Incomplete;
        };
        if t == 4 && (byte & 0x7f) > 15 {
            return Header::Malformed;
        }
        tag |= u32::from(byte & 0x7f) << (7 * t);
        t += 1;
        if byte & 0x80 == 0 {
            break;
        }
        if t == 5 {
            return Header::Malformed;
        }
    }
    // The length: nibble-packed, at most 8 nibbles.
    let Some(&first) = b.get(t) else {
        return Header::Incomplete;
    };
    let nibbles = usize::from(first >> 4) + 1;
    if nibbles > 8 {
        return Header::Malformed;
    }
    let n = nibbles / 2 + 1;
    let Some(data) = b.get(t..t + n) else {
        return Header::Incomplete;
    };
    let mut len: u64 = 0;
    for k in (1..=nibbles).rev() {
        let byte = data[k / 2];
        len = (len << 4) | u64::from(if k % 2 == 1 { byte & 0x0f } else { byte >> 4 });
    }
    if len > i32::MAX as u64 {
        return Header::Malformed;
    }
    Header::Complete(tag, t + n, len as usize)
}

/// The front item's tag and payload length, once it is wholly buffered and (with
/// `need`) has that tag; otherwise an error, and nothing consumed: `WouldBlock` while it
/// is arriving, `InvalidInput` for another tag or a header no bytes can mend.
fn front_item(
    buf: &mut EvBufferRef,
    function: &'static str,
    need: Option<u32>,
) -> Result<(u32, usize)> {
    let mut first = [0u8; 10];
    let n = buf.copyout(&mut first);
    let (tag, hlen, plen) = match header(&first[..n]) {
        Header::Complete(tag, hlen, plen) => (tag, hlen, plen),
        Header::Incomplete => return Err(Error::os(function, libc::EAGAIN)),
        Header::Malformed => {
            return Err(Error::invalid(
                function,
                "the item at the front is malformed",
            ))
        }
    };
    if buf.len() - hlen < plen {
        return Err(Error::os(function, libc::EAGAIN));
    }
    // libevent's reading of the header must be the same.
    if peek(buf) != Some(tag) || payload_length(buf) != Some(plen) {
        return Err(Error::invalid(
            function,
            "the item at the front is malformed",
        ));
    }
    if need.is_some_and(|n| n != tag) {
        return Err(Error::invalid(
            function,
            "the item at the front has another tag",
        ));
    }
    Ok((tag, plen))
}

/// A failure once the item was checked whole: its payload did not decode as asked;
/// libevent consumed it.
fn malformed(function: &'static str) -> Error {
    Error::invalid(
        function,
        "the item's payload does not decode as asked (consumed)",
    )
}

/// `evtag_unmarshal_header`: consume the front item's tag and length, leaving its
/// payload at the front; returns them.
///
/// ```
/// # use libevent::*;
/// let mut buf = EvBuffer::new()?;
/// libevent::tag::marshal(&mut buf, 4, b"xyz")?;
/// assert_eq!(libevent::tag::unmarshal_header(&mut buf)?, (4, 3));
/// assert_eq!(buf.remove_all(), b"xyz");
/// # Ok::<(), libevent::Error>(())
/// ```
pub fn unmarshal_header(buf: &mut EvBufferRef) -> Result<(u32, usize)> {
    const F: &str = "evtag_unmarshal_header";
    let (tag, len) = front_item(buf, F, None)?;
    let mut got = 0u32;
    // SAFETY: live buffer; got is a valid out-parameter. Draining may run callbacks.
    let n = panic::sync(|| unsafe { sys::evtag_unmarshal_header(buf.as_raw(), &mut got) });
    if n < 0 || got != tag || n as usize != len {
        return Err(malformed(F));
    }
    Ok((tag, len))
}

/// `evtag_consume`: drop the whole front item.
///
/// ```
/// # use libevent::*;
/// let mut buf = EvBuffer::new()?;
/// libevent::tag::marshal(&mut buf, 1, b"skip")?;
/// libevent::tag::marshal_int(&mut buf, 2, 9)?;
/// libevent::tag::consume(&mut buf)?;
/// assert_eq!(libevent::tag::unmarshal_int(&mut buf, 2)?, 9);
/// # Ok::<(), libevent::Error>(())
/// ```
pub fn consume(buf: &mut EvBufferRef) -> Result<()> {
    const F: &str = "evtag_consume";
    front_item(buf, F, None)?;
    // SAFETY: live buffer; draining may run callbacks.
    if panic::sync(|| unsafe { sys::evtag_consume(buf.as_raw()) }) < 0 {
        return Err(malformed(F));
    }
    Ok(())
}

/// `evtag_unmarshal`: move the front item's payload to the end of `dst`; returns its
/// tag and length.
///
/// ```
/// # use libevent::*;
/// let mut buf = EvBuffer::new()?;
/// libevent::tag::marshal(&mut buf, 8, b"payload")?;
/// let mut dst = EvBuffer::new()?;
/// assert_eq!(libevent::tag::unmarshal(&mut buf, &mut dst)?, (8, 7));
/// assert_eq!(dst.remove_all(), b"payload");
/// # Ok::<(), libevent::Error>(())
/// ```
pub fn unmarshal(buf: &mut EvBufferRef, dst: &mut EvBufferRef) -> Result<(u32, usize)> {
    const F: &str = "evtag_unmarshal";
    if std::ptr::eq(&*buf, &*dst) {
        return Err(Error::invalid(F, "a buffer into itself"));
    }
    let (tag, len) = front_item(buf, F, None)?;
    // SAFETY: appending no bytes fails exactly when dst's end is frozen; libevent would
    // then have consumed the header and kept the payload.
    if unsafe { sys::evbuffer_add(dst.as_raw(), b"".as_ptr() as *const c_void, 0) } < 0 {
        return Err(Error::invalid(F, "the end of the destination is frozen"));
    }
    let mut got = 0u32;
    // SAFETY: two distinct live buffers; moving data may run callbacks.
    let n = panic::sync(|| unsafe { sys::evtag_unmarshal(buf.as_raw(), &mut got, dst.as_raw()) });
    if n < 0 || got != tag {
        return Err(malformed(F));
    }
    Ok((tag, len))
}

/// `evtag_unmarshal_int`: the 32-bit integer in the front item, which must have `tag`.
///
/// ```
/// # use libevent::*;
/// let mut buf = EvBuffer::new()?;
/// libevent::tag::marshal_int(&mut buf, 2, 7)?;
/// assert!(libevent::tag::unmarshal_int(&mut buf, 3).is_err()); // wrong tag: kept
/// assert_eq!(libevent::tag::unmarshal_int(&mut buf, 2)?, 7);
/// # Ok::<(), libevent::Error>(())
/// ```
pub fn unmarshal_int(buf: &mut EvBufferRef, tag: u32) -> Result<u32> {
    const F: &str = "evtag_unmarshal_int";
    front_item(buf, F, Some(tag))?;
    let mut v = 0u32;
    // SAFETY: live buffer; v is a valid out-parameter; draining may run callbacks.
    let n = panic::sync(|| unsafe { sys::evtag_unmarshal_int(buf.as_raw(), tag, &mut v) });
    if n < 0 {
        return Err(malformed(F));
    }
    Ok(v)
}

/// `evtag_unmarshal_int64`: as [`unmarshal_int`], 64 bits.
///
/// ```
/// # use libevent::*;
/// let mut buf = EvBuffer::new()?;
/// libevent::tag::marshal_int64(&mut buf, 2, 1 << 50)?;
/// assert_eq!(libevent::tag::unmarshal_int64(&mut buf, 2)?, 1 << 50);
/// # Ok::<(), libevent::Error>(())
/// ```
pub fn unmarshal_int64(buf: &mut EvBufferRef, tag: u32) -> Result<u64> {
    const F: &str = "evtag_unmarshal_int64";
    front_item(buf, F, Some(tag))?;
    let mut v = 0u64;
    // SAFETY: as unmarshal_int.
    let n = panic::sync(|| unsafe { sys::evtag_unmarshal_int64(buf.as_raw(), tag, &mut v) });
    if n < 0 {
        return Err(malformed(F));
    }
    Ok(v)
}

/// `evtag_unmarshal_fixed`: the front item's payload into `out`, whose length it must
/// have exactly (otherwise an error, and nothing consumed).
///
/// ```
/// # use libevent::*;
/// let mut buf = EvBuffer::new()?;
/// libevent::tag::marshal(&mut buf, 6, b"four")?;
/// let mut out = [0u8; 4];
/// assert!(libevent::tag::unmarshal_fixed(&mut buf, 6, &mut [0u8; 3]).is_err());
/// libevent::tag::unmarshal_fixed(&mut buf, 6, &mut out)?;
/// assert_eq!(&out, b"four");
/// # Ok::<(), libevent::Error>(())
/// ```
pub fn unmarshal_fixed(buf: &mut EvBufferRef, tag: u32, out: &mut [u8]) -> Result<()> {
    const F: &str = "evtag_unmarshal_fixed";
    let (_, len) = front_item(buf, F, Some(tag))?;
    if len != out.len() {
        return Err(Error::invalid(F, "the item's payload has another length"));
    }
    // SAFETY: out is writable for its length, which the payload has.
    let rc = panic::sync(|| unsafe {
        sys::evtag_unmarshal_fixed(
            buf.as_raw(),
            tag,
            out.as_mut_ptr() as *mut c_void,
            out.len(),
        )
    });
    if rc < 0 {
        return Err(malformed(F));
    }
    Ok(())
}

/// `evtag_unmarshal_string`: the front item's payload, all of it (NUL bytes included,
/// which C would cut the string at).
///
/// ```
/// # use libevent::*;
/// let mut buf = EvBuffer::new()?;
/// libevent::tag::marshal(&mut buf, 5, b"a\0b")?;
/// assert_eq!(libevent::tag::unmarshal_string(&mut buf, 5)?, b"a\0b");
/// # Ok::<(), libevent::Error>(())
/// ```
pub fn unmarshal_string(buf: &mut EvBufferRef, tag: u32) -> Result<Vec<u8>> {
    const F: &str = "evtag_unmarshal_string";
    let (_, len) = front_item(buf, F, Some(tag))?;
    let mut p: *mut std::ffi::c_char = std::ptr::null_mut();
    // SAFETY: p is a valid out-parameter; draining may run callbacks.
    let rc = panic::sync(|| unsafe { sys::evtag_unmarshal_string(buf.as_raw(), tag, &mut p) });
    if rc < 0 || p.is_null() {
        return Err(malformed(F));
    }
    // SAFETY: libevent allocated len + 1 bytes and filled len of them; copied, then freed
    // through libevent's allocator.
    unsafe {
        let v = std::slice::from_raw_parts(p as *const u8, len).to_vec();
        sys::event_mm_free_(p as *mut c_void);
        Ok(v)
    }
}

/// `evtag_unmarshal_timeval`: the duration in the front item.
///
/// ```
/// # use libevent::*;
/// use std::time::Duration;
/// let mut buf = EvBuffer::new()?;
/// libevent::tag::marshal_timeval(&mut buf, 1, Duration::from_micros(7))?;
/// assert_eq!(libevent::tag::unmarshal_timeval(&mut buf, 1)?, Duration::from_micros(7));
/// # Ok::<(), libevent::Error>(())
/// ```
pub fn unmarshal_timeval(buf: &mut EvBufferRef, tag: u32) -> Result<Duration> {
    const F: &str = "evtag_unmarshal_timeval";
    front_item(buf, F, Some(tag))?;
    let mut tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 0,
    };
    // SAFETY: tv is a valid out-parameter; draining may run callbacks.
    let rc = panic::sync(|| unsafe { sys::evtag_unmarshal_timeval(buf.as_raw(), tag, &mut tv) });
    // The format holds 32-bit fields; a microsecond count past a second is malformed.
    if rc < 0 || !(0..1_000_000).contains(&tv.tv_usec) || tv.tv_sec < 0 {
        return Err(malformed(F));
    }
    Ok(Duration::new(tv.tv_sec as u64, tv.tv_usec as u32 * 1000))
}
