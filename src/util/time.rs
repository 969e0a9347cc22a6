//! `Duration` to `struct timeval`, refusing what a timeval cannot hold.

use crate::error::{Error, Result};
use std::time::Duration;

/// Converts a Duration for libevent, refusing what `struct timeval` cannot hold.
pub(crate) fn timeval(function: &'static str, d: Duration) -> Result<libc::timeval> {
    let secs = libc::time_t::try_from(d.as_secs())
        .map_err(|_| Error::invalid(function, "duration too long for struct timeval"))?;
    Ok(libc::timeval {
        tv_sec: secs,
        tv_usec: d.subsec_micros() as libc::suseconds_t,
    })
}

/// An optional timeout as libevent takes it: a timeval, or null for "none".
pub(crate) struct OptionalTimeval(Option<libc::timeval>);

impl OptionalTimeval {
    /// Converts `d`, if any, for `function`.
    pub(crate) fn new(function: &'static str, d: Option<Duration>) -> Result<OptionalTimeval> {
        Ok(OptionalTimeval(
            d.map(|d| timeval(function, d)).transpose()?,
        ))
    }

    /// A pointer to the timeval, or null; valid while `self` is.
    pub(crate) fn as_ptr(&self) -> *const libc::timeval {
        self.0.as_ref().map_or(std::ptr::null(), |t| t as *const _)
    }
}

impl From<Option<libc::timeval>> for OptionalTimeval {
    fn from(tv: Option<libc::timeval>) -> OptionalTimeval {
        OptionalTimeval(tv)
    }
}
