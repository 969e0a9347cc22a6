//! What `event2/util.h` has that Rust's standard library has not: libevent's secure
//! random generator and its HTTP date. (The rest of util.h is replaced by the standard
//! library: API.md says by what.)

use crate::error::{call, Error, Result};
use libevent_sys as sys;
use std::ffi::CString;
use std::time::{SystemTime, UNIX_EPOCH};

/// `evutil_secure_rng_init`: seed libevent's generator now (it seeds itself on first
/// use otherwise); an error if the operating system gives no entropy.
///
/// ```
/// libevent::evutil::secure_rng_init()?;
/// # Ok::<(), libevent::Error>(())
/// ```
pub fn secure_rng_init() -> Result<()> {
    // SAFETY: no preconditions.
    unsafe { call!(sys::evutil_secure_rng_init()) }?;
    Ok(())
}

/// `evutil_secure_rng_get_bytes`: fill `out` from libevent's generator (the one its DNS
/// transaction ids come from: the system's `arc4random` where there is one).
///
/// ```
/// let mut a = [0u8; 16];
/// let mut b = [0u8; 16];
/// libevent::evutil::secure_rng_get_bytes(&mut a);
/// libevent::evutil::secure_rng_get_bytes(&mut b);
/// assert_ne!(a, b);
/// ```
pub fn secure_rng_get_bytes(out: &mut [u8]) {
    // SAFETY: out is writable for its length.
    unsafe { sys::evutil_secure_rng_get_bytes(out.as_mut_ptr().cast(), out.len()) }
}

/// `evutil_secure_rng_set_urandom_device_file`: read seed entropy from `path` instead of
/// `/dev/urandom` (a chroot's copy); call it before the generator is first used. libevent
/// keeps the path's pointer for good, so this keeps a copy for the life of the process.
/// Where the system's `arc4random` is the generator (glibc 2.36 and later, the BSDs),
/// there is no file to set and this is an error, as in C.
///
/// ```
/// // Err on glibc 2.36+, whose arc4random libevent uses; Ok with libevent's own.
/// let _ = libevent::evutil::secure_rng_set_urandom_device_file("/dev/urandom");
/// ```
pub fn secure_rng_set_urandom_device_file(path: &str) -> Result<()> {
    const F: &str = "evutil_secure_rng_set_urandom_device_file";
    let c = CString::new(path).map_err(|_| Error::invalid(F, "NUL in the path"))?;
    // libevent stores the pointer: the string must live as long as the process.
    let leaked = c.into_raw();
    // SAFETY: a NUL-terminated string, never freed once libevent has taken it.
    if let Err(e) = unsafe { call!(sys::evutil_secure_rng_set_urandom_device_file(leaked)) } {
        // SAFETY: not kept on failure (the arc4random build ignores it); ours again.
        drop(unsafe { CString::from_raw(leaked) });
        return Err(e);
    }
    Ok(())
}

/// `evutil_date_rfc1123`: `time` as an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`), as
/// evhttp writes its `Date` headers.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// let t = UNIX_EPOCH + Duration::from_secs(784111777);
/// assert_eq!(libevent::evutil::date_rfc1123(t)?, "Sun, 06 Nov 1994 08:49:37 GMT");
/// # Ok::<(), libevent::Error>(())
/// ```
pub fn date_rfc1123(time: SystemTime) -> Result<String> {
    const F: &str = "evutil_date_rfc1123";
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map_err(|_| Error::invalid(F, "a time before 1970"))?
        .as_secs();
    let t = libc::time_t::try_from(secs).map_err(|_| Error::invalid(F, "a time too far ahead"))?;
    // SAFETY: all-zero is a valid tm; gmtime_r fills it from t.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call.
    if unsafe { libc::gmtime_r(&t, &mut tm) }.is_null() {
        return Err(Error::invalid(F, "a time gmtime cannot convert"));
    }
    let mut buf = [0u8; 64];
    // SAFETY: buf has room for its length; tm is read during the call.
    let n = unsafe {
        call!(sys::evutil_date_rfc1123(
            buf.as_mut_ptr().cast(),
            buf.len(),
            &tm
        ))
    }?;
    let n = (n as usize).min(buf.len());
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}
