//! Thread support: `evthread_use_pthreads`, set up once before the first base.

use crate::error::{Error, Result};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

static SETUP: OnceLock<bool> = OnceLock::new();
pub(crate) static BASE_MADE: AtomicBool = AtomicBool::new(false);

/// With the `threads` feature, makes libevent lock its structures with pthreads.
/// Every [`EventBase`](crate::EventBase) constructor calls this first, so bases made here
/// get a lock; call it yourself only to be explicit. Returns whether locking is on.
///
/// ```
/// # use libevent::*;
/// assert!(libevent::thread::use_pthreads()); // with the default `threads` feature
/// # Ok::<(), libevent::Error>(())
/// ```
pub fn use_pthreads() -> bool {
    *SETUP.get_or_init(|| {
        #[cfg(feature = "threads")]
        {
            // SAFETY: called once, before any base exists (every constructor comes here first).
            unsafe { libevent_sys::evthread_use_pthreads() == 0 }
        }
        #[cfg(not(feature = "threads"))]
        {
            false
        }
    })
}

pub(crate) fn setup() {
    crate::log::route_once();
    use_pthreads();
    BASE_MADE.store(true, Ordering::SeqCst);
}

/// `event_enable_debug_mode`: libevent checks every event operation (slower). Must come
/// before the first base and event; afterwards it is refused.
///
/// ```
/// # use libevent::*;
/// // Must come before the first base: afterwards it is refused.
/// let _ = EventBase::new()?;
/// assert!(libevent::thread::enable_debug_mode().is_err());
/// # Ok::<(), libevent::Error>(())
/// ```
pub fn enable_debug_mode() -> Result<()> {
    static ON: OnceLock<()> = OnceLock::new();
    if ON.get().is_some() {
        return Ok(());
    }
    if BASE_MADE.load(Ordering::SeqCst) {
        return Err(Error::invalid(
            "event_enable_debug_mode",
            "must be called before any event base is made",
        ));
    }
    ON.get_or_init(|| {
        // SAFETY: no base or event exists yet (checked above); called at most once.
        unsafe { libevent_sys::event_enable_debug_mode() }
    });
    Ok(())
}
