//! Rate limits: [`RateLimit`] (a token bucket), [`RateLimitGroup`], and their use by a
//! bufferevent.

use super::owned::BufferEvent;
use crate::base::EventBase;
use crate::error::{call, Error, Result};
use crate::util::time::timeval;
use libevent_sys as sys;
use std::ptr::NonNull;
use std::rc::Rc;
use std::time::Duration;

/// A token bucket (`struct ev_token_bucket_cfg`) for [`BufferEvent::set_rate_limit`] and
/// [`RateLimitGroup`]. Rates and bursts are bytes per tick.
///
/// ```
/// # use libevent::*;
/// # use libevent::bufferevent::{RateLimit, Options};
/// # let base = EventBase::new()?;
/// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
/// use std::time::Duration;
/// // 10 KB per 100 ms each way.
/// let cfg = RateLimit::new(10_000, 10_000, 10_000, 10_000, Duration::from_millis(100))?;
/// bev.set_rate_limit(Some(cfg))?;
/// # Ok::<(), libevent::Error>(())
/// ```
pub struct RateLimit {
    raw: NonNull<sys::ev_token_bucket_cfg>,
}

impl RateLimit {
    /// `ev_token_bucket_cfg_new`.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::RateLimit;
    /// use std::time::Duration;
    /// assert!(RateLimit::new(1000, 2000, 1000, 2000, Duration::from_millis(10)).is_ok());
    /// assert!(RateLimit::new(0, 0, 1, 1, Duration::from_millis(10)).is_err());
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn new(
        read_rate: usize,
        read_burst: usize,
        write_rate: usize,
        write_burst: usize,
        tick: Duration,
    ) -> Result<Rc<RateLimit>> {
        const F: &str = "ev_token_bucket_cfg_new";
        if read_rate == 0 || write_rate == 0 || read_burst < read_rate || write_burst < write_rate {
            return Err(Error::invalid(
                F,
                "rates must be positive and bursts at least the rates",
            ));
        }
        if tick.is_zero() {
            return Err(Error::invalid(F, "the tick must be longer than zero"));
        }
        let limit = |n: usize| {
            if n > isize::MAX as usize {
                Err(Error::invalid(F, "rate too large"))
            } else {
                Ok(n)
            }
        };
        let tv = timeval(F, tick)?;
        // SAFETY: arguments validated; tv read during the call.
        let raw = unsafe {
            call!(sys::ev_token_bucket_cfg_new(
                limit(read_rate)?,
                limit(read_burst)?,
                limit(write_rate)?,
                limit(write_burst)?,
                &tv,
            ))
        }?;
        Ok(Rc::new(RateLimit { raw }))
    }
}

impl std::fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimit").field("raw", &self.raw).finish()
    }
}

impl Drop for RateLimit {
    fn drop(&mut self) {
        // SAFETY: made by ev_token_bucket_cfg_new; every user holds an Rc, so none is left.
        unsafe { sys::ev_token_bucket_cfg_free(self.raw.as_ptr()) };
    }
}

/// A group of bufferevents sharing one token bucket (`bufferevent_rate_limit_group`).
///
/// ```
/// # use libevent::*;
/// # use libevent::bufferevent::{RateLimitGroup, RateLimit, Options};
/// # let base = EventBase::new()?;
/// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
/// let cfg = RateLimit::new(1 << 20, 1 << 20, 1 << 20, 1 << 20, std::time::Duration::from_millis(10))?;
/// let group = RateLimitGroup::new(&base, &cfg)?;
/// bev.join_rate_limit_group(&group)?;
/// other.join_rate_limit_group(&group)?;
/// # Ok::<(), libevent::Error>(())
/// ```
pub struct RateLimitGroup {
    raw: NonNull<sys::bufferevent_rate_limit_group>,
    _base: EventBase,
}

impl RateLimitGroup {
    /// `bufferevent_rate_limit_group_new`.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::{RateLimitGroup, RateLimit};
    /// # let base = EventBase::new()?;
    /// let cfg = RateLimit::new(1000, 1000, 1000, 1000, std::time::Duration::from_millis(10))?;
    /// let _group = RateLimitGroup::new(&base, &cfg)?;
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn new(base: &EventBase, cfg: &RateLimit) -> Result<Rc<RateLimitGroup>> {
        // SAFETY: base and cfg live; libevent copies cfg.
        let raw = unsafe {
            call!(sys::bufferevent_rate_limit_group_new(
                base.as_raw(),
                cfg.raw.as_ptr()
            ))
        }?;
        Ok(Rc::new(RateLimitGroup {
            raw,
            _base: base.clone(),
        }))
    }

    /// `bufferevent_rate_limit_group_get_totals`: (bytes read, bytes written).
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::{RateLimitGroup, RateLimit};
    /// # let base = EventBase::new()?;
    /// let cfg = RateLimit::new(1000, 1000, 1000, 1000, std::time::Duration::from_millis(10))?;
    /// let group = RateLimitGroup::new(&base, &cfg)?;
    /// assert_eq!(group.totals(), (0, 0));
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn totals(&self) -> (u64, u64) {
        let (mut r, mut w) = (0u64, 0u64);
        // SAFETY: live group; valid out pointers.
        unsafe { sys::bufferevent_rate_limit_group_get_totals(self.raw.as_ptr(), &mut r, &mut w) };
        (r, w)
    }
}

impl std::fmt::Debug for RateLimitGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimitGroup")
            .field("totals", &self.totals())
            .finish()
    }
}

impl Drop for RateLimitGroup {
    fn drop(&mut self) {
        // SAFETY: members hold an Rc to the group, so it is empty now; freed once.
        unsafe { sys::bufferevent_rate_limit_group_free(self.raw.as_ptr()) };
    }
}

impl BufferEvent {
    /// `bufferevent_set_rate_limit`: limit this bufferevent with `cfg` (`None` removes it).
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::{RateLimit, Options};
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// let cfg = RateLimit::new(1000, 1000, 1000, 1000, std::time::Duration::from_millis(10))?;
    /// bev.set_rate_limit(Some(cfg))?;
    /// bev.set_rate_limit(None)?; // removed again
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn set_rate_limit(&mut self, cfg: Option<Rc<RateLimit>>) -> Result<()> {
        self.check("set_rate_limit");
        let p = cfg
            .as_ref()
            .map_or(std::ptr::null_mut(), |c| c.raw.as_ptr());
        // SAFETY: raw live; cfg kept alive in self while in use.
        unsafe { call!(sys::bufferevent_set_rate_limit(self.raw.as_ptr(), p)) }?;
        self.extra_mut().rate = cfg;
        self.limits_changed();
        Ok(())
    }

    /// `bufferevent_add_to_rate_limit_group`.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::{RateLimitGroup, RateLimit, Options};
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// let cfg = RateLimit::new(1000, 1000, 1000, 1000, std::time::Duration::from_millis(10))?;
    /// let group = RateLimitGroup::new(&base, &cfg)?;
    /// bev.join_rate_limit_group(&group)?;
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn join_rate_limit_group(&mut self, group: &Rc<RateLimitGroup>) -> Result<()> {
        self.check("join_rate_limit_group");
        // SAFETY: both live; the group is kept alive by self while it is a member.
        unsafe {
            call!(sys::bufferevent_add_to_rate_limit_group(
                self.raw.as_ptr(),
                group.raw.as_ptr()
            ))
        }?;
        self.extra_mut().group = Some(group.clone());
        self.limits_changed();
        Ok(())
    }

    /// `bufferevent_remove_from_rate_limit_group`.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::{RateLimitGroup, RateLimit, Options};
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// let cfg = RateLimit::new(1000, 1000, 1000, 1000, std::time::Duration::from_millis(10))?;
    /// let group = RateLimitGroup::new(&base, &cfg)?;
    /// bev.join_rate_limit_group(&group)?;
    /// bev.leave_rate_limit_group()?;
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn leave_rate_limit_group(&mut self) -> Result<()> {
        self.check("leave_rate_limit_group");
        if self.extra.as_mut().and_then(|x| x.group.take()).is_some() {
            // SAFETY: raw live and in a group.
            unsafe {
                call!(sys::bufferevent_remove_from_rate_limit_group(
                    self.raw.as_ptr()
                ))
            }?;
        }
        self.limits_changed();
        Ok(())
    }

    /// `write_direct` sends at once only without a rate limit or group.
    fn limits_changed(&mut self) {
        let limited = self
            .extra
            .as_ref()
            .is_some_and(|x| x.rate.is_some() || x.group.is_some());
        self.cbs
            .direct
            .set(self.cbs.kind == super::Kind::Socket && !limited);
    }
}

/// Detaches `raw` from the group and the token bucket this crate keeps alive for it.
/// libevent 2.1 finalizes a freed bufferevent later, from the loop (and a filter frees its
/// underlying bufferevent only then), so both must be let go of before the `Rc`s that
/// keep them alive are dropped.
///
/// # Safety
/// `raw` must be live.
pub(super) unsafe fn release_limits(raw: *mut sys::bufferevent, rate: bool, group: bool) {
    // SAFETY: the caller vouches for raw; both calls accept a member or a limited bufferevent.
    unsafe {
        if group {
            sys::bufferevent_remove_from_rate_limit_group(raw);
        }
        if rate {
            sys::bufferevent_set_rate_limit(raw, std::ptr::null_mut());
        }
    }
}
