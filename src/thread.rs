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

/// `evthread_enable_lock_debugging`: wrap libevent's locks in checks that abort on a
/// locking error (a lock released twice, released by another thread, a condition
/// waited on unlocked). Call it before the first base: the locks made before it would
/// not be the debug wrappers the checks expect, so afterwards it is an error. Without
/// feature `threads` there are no locks to check (an error too).
///
/// ```no_run
/// // First thing in main, before any EventBase:
/// libevent::thread::enable_lock_debugging()?;
/// # Ok::<(), libevent::Error>(())
/// ```
pub fn enable_lock_debugging() -> Result<()> {
    const F: &str = "evthread_enable_lock_debugging";
    static ON: OnceLock<()> = OnceLock::new();
    if ON.get().is_some() {
        return Ok(());
    }
    if BASE_MADE.load(Ordering::SeqCst) {
        return Err(Error::invalid(
            F,
            "must be called before any event base is made",
        ));
    }
    if !use_pthreads() {
        return Err(Error::invalid(
            F,
            "libevent has no locks without feature `threads`",
        ));
    }
    ON.get_or_init(|| {
        // SAFETY: the lock callbacks are set (use_pthreads) and no base, hence no lock
        // but libevent's global ones (which this re-makes as debug locks), exists yet.
        unsafe { libevent_sys::evthread_enable_lock_debugging() }
    });
    Ok(())
}
