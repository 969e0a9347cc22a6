//! libevent's messages go to the `log` crate (target "libevent").

use crate::panic::Guard;
use libevent_sys as sys;
use std::ffi::{c_char, c_int, CStr};
use std::sync::Once;

extern "C" fn log_cb(severity: c_int, msg: *const c_char) {
    if msg.is_null() {
        return;
    }
    // SAFETY: libevent passes a NUL-terminated message valid for this call.
    let text = unsafe { CStr::from_ptr(msg) }.to_string_lossy();
    let level = match severity {
        sys::EVENT_LOG_DEBUG => log::Level::Debug,
        sys::EVENT_LOG_MSG => log::Level::Info,
        sys::EVENT_LOG_WARN => log::Level::Warn,
        _ => log::Level::Error,
    };
    crate::panic::wrap(
        Guard::Contain("the logger, on a libevent message"),
        || log::log!(target: "libevent", level, "{text}"),
    );
}

/// Sends libevent's log messages to the `log` crate (done by the first base).
///
/// ```
/// # use libevent::*;
/// libevent::log::route_to_log_crate(); // done by the first EventBase anyway
/// # Ok::<(), libevent::Error>(())
/// ```
pub fn route_to_log_crate() {
    // SAFETY: log_cb is a plain function valid for the program's life.
    unsafe { sys::event_set_log_callback(Some(log_cb)) };
}

pub(crate) fn route_once() {
    static ONCE: Once = Once::new();
    ONCE.call_once(route_to_log_crate);
}

/// `event_set_fatal_callback`: run `f(err)` on an internal libevent error instead of
/// `exit(1)`. libevent's state is broken after it; `f` should not return.
///
/// ```
/// # use libevent::*;
/// extern "C" fn fatal(err: std::ffi::c_int) {
///     eprintln!("libevent fatal error {err}");
///     std::process::abort();
/// }
/// libevent::log::set_fatal_callback(fatal);
/// # Ok::<(), libevent::Error>(())
/// ```
pub fn set_fatal_callback(f: extern "C" fn(c_int)) {
    // SAFETY: f is a plain function valid for the program's life.
    unsafe { sys::event_set_fatal_callback(Some(f)) };
}

/// `event_enable_debug_logging(EVENT_DBG_ALL)`: libevent's debug messages (at log level Debug).
///
/// ```
/// # use libevent::*;
/// libevent::log::enable_debug_logging(true);
/// libevent::log::enable_debug_logging(false);
/// # Ok::<(), libevent::Error>(())
/// ```
pub fn enable_debug_logging(on: bool) {
    // SAFETY: sets a global flag.
    unsafe {
        sys::event_enable_debug_logging(if on {
            sys::EVENT_DBG_ALL as u32
        } else {
            sys::EVENT_DBG_NONE as u32
        })
    };
}
