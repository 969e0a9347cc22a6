//! Rate limits: [`RateLimit`] (a token bucket), [`RateLimitGroup`], and their use by a
//! bufferevent.

use super::borrowed::BufferEventRef;
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

    /// `bufferevent_rate_limit_group_reset_totals`: count from zero again.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::{RateLimitGroup, RateLimit};
    /// # let base = EventBase::new()?;
    /// # let cfg = RateLimit::new(1000, 1000, 1000, 1000, std::time::Duration::from_millis(10))?;
    /// let group = RateLimitGroup::new(&base, &cfg)?;
    /// group.reset_totals();
    /// assert_eq!(group.totals(), (0, 0));
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn reset_totals(&self) {
        // SAFETY: live group.
        unsafe { sys::bufferevent_rate_limit_group_reset_totals(self.raw.as_ptr()) }
    }

    /// `bufferevent_rate_limit_group_set_cfg`: give the group another token bucket
    /// (libevent copies it).
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::{RateLimitGroup, RateLimit};
    /// # use std::time::Duration;
    /// # let base = EventBase::new()?;
    /// let slow = RateLimit::new(100, 100, 100, 100, Duration::from_millis(10))?;
    /// let group = RateLimitGroup::new(&base, &slow)?;
    /// group.set_rate_limit(&*RateLimit::new(5000, 5000, 5000, 5000, Duration::from_millis(10))?)?;
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn set_rate_limit(&self, cfg: &RateLimit) -> Result<()> {
        // SAFETY: both live; libevent copies cfg.
        unsafe {
            call!(sys::bufferevent_rate_limit_group_set_cfg(
                self.raw.as_ptr(),
                cfg.raw.as_ptr()
            ))
        }?;
        Ok(())
    }

    /// `bufferevent_rate_limit_group_set_min_share`: the least a member may read or write
    /// at a time when the group's bucket is shared out (libevent's default: 64 bytes;
    /// 0 turns sharing out off).
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::{RateLimitGroup, RateLimit};
    /// # let base = EventBase::new()?;
    /// # let cfg = RateLimit::new(1000, 1000, 1000, 1000, std::time::Duration::from_millis(10))?;
    /// let group = RateLimitGroup::new(&base, &cfg)?;
    /// group.set_min_share(256)?;
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn set_min_share(&self, bytes: usize) -> Result<()> {
        // SAFETY: live group.
        unsafe {
            call!(sys::bufferevent_rate_limit_group_set_min_share(
                self.raw.as_ptr(),
                bytes
            ))
        }?;
        Ok(())
    }

    /// `bufferevent_rate_limit_group_get_read_limit`: the tokens left in the group's read
    /// bucket (negative once overdrawn). A bucket starts with one tick's rate and fills
    /// up to its burst.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::{RateLimitGroup, RateLimit};
    /// # let base = EventBase::new()?;
    /// let cfg = RateLimit::new(1000, 4000, 1000, 2000, std::time::Duration::from_millis(10))?;
    /// let group = RateLimitGroup::new(&base, &cfg)?;
    /// assert_eq!((group.read_limit(), group.write_limit()), (1000, 1000)); // one tick's rate
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn read_limit(&self) -> isize {
        // SAFETY: live group.
        unsafe { sys::bufferevent_rate_limit_group_get_read_limit(self.raw.as_ptr()) }
    }

    /// `bufferevent_rate_limit_group_get_write_limit`: as [`read_limit`](Self::read_limit).
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::{RateLimitGroup, RateLimit};
    /// # let base = EventBase::new()?;
    /// # let cfg = RateLimit::new(1000, 1000, 1000, 1000, std::time::Duration::from_millis(10))?;
    /// let group = RateLimitGroup::new(&base, &cfg)?;
    /// assert_eq!(group.write_limit(), 1000);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn write_limit(&self) -> isize {
        // SAFETY: live group.
        unsafe { sys::bufferevent_rate_limit_group_get_write_limit(self.raw.as_ptr()) }
    }

    /// `bufferevent_rate_limit_group_decrement_read`: take `n` tokens from the group's
    /// read bucket (a negative `n` gives them back), as if its members had read that much;
    /// at zero or below its members stop reading until the bucket refills.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::{RateLimitGroup, RateLimit};
    /// # let base = EventBase::new()?;
    /// # let cfg = RateLimit::new(1000, 1000, 1000, 1000, std::time::Duration::from_millis(10))?;
    /// let group = RateLimitGroup::new(&base, &cfg)?;
    /// group.decrement_read(1500)?;
    /// assert_eq!(group.read_limit(), -500);
    /// group.decrement_write(-10)?;
    /// assert_eq!(group.write_limit(), 1010);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn decrement_read(&self, n: isize) -> Result<()> {
        self.decrement(
            "bufferevent_rate_limit_group_decrement_read",
            n,
            Self::read_limit,
            |g, n| {
                // SAFETY: live group.
                unsafe { sys::bufferevent_rate_limit_group_decrement_read(g, n) }
            },
        )
    }

    /// `bufferevent_rate_limit_group_decrement_write`: as
    /// [`decrement_read`](Self::decrement_read), for writing.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::{RateLimitGroup, RateLimit};
    /// # let base = EventBase::new()?;
    /// # let cfg = RateLimit::new(1000, 1000, 1000, 1000, std::time::Duration::from_millis(10))?;
    /// let group = RateLimitGroup::new(&base, &cfg)?;
    /// group.decrement_write(1)?;
    /// assert_eq!(group.write_limit(), 999);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn decrement_write(&self, n: isize) -> Result<()> {
        self.decrement(
            "bufferevent_rate_limit_group_decrement_write",
            n,
            Self::write_limit,
            |g, n| {
                // SAFETY: live group.
                unsafe { sys::bufferevent_rate_limit_group_decrement_write(g, n) }
            },
        )
    }

    /// Checks what libevent does not (overflow of its signed bucket), then calls `f`.
    /// Resuming the members may run their callbacks (a pair end hands data over): not
    /// through panic::sync, since a member's view may be in use here (this takes no
    /// `&mut` of any), so those callbacks wait for the loop, as the aliasing model says.
    fn decrement(
        &self,
        function: &'static str,
        n: isize,
        limit: fn(&Self) -> isize,
        f: impl FnOnce(*mut sys::bufferevent_rate_limit_group, isize) -> i32,
    ) -> Result<()> {
        if limit(self).checked_sub(n).is_none() {
            return Err(Error::invalid(function, "the bucket would overflow"));
        }
        if f(self.raw.as_ptr(), n) < 0 {
            return Err(Error::last(function));
        }
        Ok(())
    }
}

impl BufferEventRef {
    /// `bufferevent_get_read_limit`: the tokens left in this bufferevent's own read
    /// bucket (`isize::MAX` without a rate limit; negative once overdrawn). A bucket
    /// starts with one tick's rate and fills up to its burst.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::{RateLimit, Options};
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// assert_eq!(bev.read_limit(), isize::MAX);
    /// bev.set_rate_limit(Some(RateLimit::new(100, 300, 50, 200, std::time::Duration::from_secs(1))?))?;
    /// assert_eq!((bev.read_limit(), bev.write_limit()), (100, 50));
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn read_limit(&self) -> isize {
        // SAFETY: live bufferevent.
        unsafe { sys::bufferevent_get_read_limit(self.as_raw()) }
    }

    /// `bufferevent_get_write_limit`: as [`read_limit`](Self::read_limit).
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::Options;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// assert_eq!(bev.write_limit(), isize::MAX);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn write_limit(&self) -> isize {
        // SAFETY: live bufferevent.
        unsafe { sys::bufferevent_get_write_limit(self.as_raw()) }
    }

    /// `bufferevent_get_max_to_read`: how much it may read now, its own bucket and its
    /// group's share taken together.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::{RateLimit, Options};
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// bev.set_rate_limit(Some(RateLimit::new(100, 300, 50, 200, std::time::Duration::from_secs(1))?))?;
    /// assert_eq!((bev.max_to_read(), bev.max_to_write()), (100, 50));
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn max_to_read(&self) -> isize {
        // SAFETY: live bufferevent.
        unsafe { sys::bufferevent_get_max_to_read(self.as_raw()) }
    }

    /// `bufferevent_get_max_to_write`: as [`max_to_read`](Self::max_to_read).
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::Options;
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// assert!(bev.max_to_write() > 0);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn max_to_write(&self) -> isize {
        // SAFETY: live bufferevent.
        unsafe { sys::bufferevent_get_max_to_write(self.as_raw()) }
    }

    /// `bufferevent_get_token_bucket_cfg`: whether it has a rate limit of its own.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::{RateLimit, Options};
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// assert!(!bev.has_rate_limit());
    /// bev.set_rate_limit(Some(RateLimit::new(10, 10, 10, 10, std::time::Duration::from_secs(1))?))?;
    /// assert!(bev.has_rate_limit());
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn has_rate_limit(&self) -> bool {
        // SAFETY: live bufferevent; only compared with null.
        !unsafe { sys::bufferevent_get_token_bucket_cfg(self.as_raw()) }.is_null()
    }

    /// `bufferevent_decrement_read_limit`: take `n` tokens from its own read bucket (a
    /// negative `n` gives them back); at zero or below it stops reading until the bucket
    /// refills. An error without a rate limit (libevent would abort), or if the bucket
    /// would overflow.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::{RateLimit, Options};
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// assert!(bev.decrement_read_limit(1).is_err());
    /// bev.set_rate_limit(Some(RateLimit::new(100, 100, 100, 100, std::time::Duration::from_secs(1))?))?;
    /// bev.decrement_read_limit(150)?;
    /// assert_eq!(bev.read_limit(), -50);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn decrement_read_limit(&mut self, n: isize) -> Result<()> {
        self.decrement(
            "bufferevent_decrement_read_limit",
            n,
            Self::read_limit,
            |raw, n| {
                // SAFETY: live bufferevent with a rate limit (checked).
                unsafe { sys::bufferevent_decrement_read_limit(raw, n) }
            },
        )
    }

    /// Checks what libevent asserts (a rate limit; it aborts without one) or does not
    /// check (overflow), then calls `f`, which may resume reading or writing and so run
    /// callbacks of this bufferevent or its pair's other end, whose views `&mut self`
    /// keeps out of use (panic::sync).
    fn decrement(
        &mut self,
        function: &'static str,
        n: isize,
        limit: fn(&Self) -> isize,
        f: impl FnOnce(*mut sys::bufferevent, isize) -> i32,
    ) -> Result<()> {
        if !self.has_rate_limit() {
            return Err(Error::invalid(
                function,
                "the bufferevent has no rate limit",
            ));
        }
        if limit(self).checked_sub(n).is_none() {
            return Err(Error::invalid(function, "the bucket would overflow"));
        }
        let raw = self.as_raw();
        if crate::panic::sync(|| f(raw, n)) < 0 {
            return Err(Error::last(function));
        }
        Ok(())
    }

    /// `bufferevent_decrement_write_limit`: as
    /// [`decrement_read_limit`](Self::decrement_read_limit), for writing.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::bufferevent::{RateLimit, Options};
    /// # let base = EventBase::new()?;
    /// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
    /// bev.set_rate_limit(Some(RateLimit::new(100, 100, 100, 100, std::time::Duration::from_secs(1))?))?;
    /// bev.decrement_write_limit(-5)?;
    /// assert_eq!(bev.write_limit(), 105);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn decrement_write_limit(&mut self, n: isize) -> Result<()> {
        self.decrement(
            "bufferevent_decrement_write_limit",
            n,
            Self::write_limit,
            |raw, n| {
                // SAFETY: live bufferevent with a rate limit (checked).
                unsafe { sys::bufferevent_decrement_write_limit(raw, n) }
            },
        )
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
            .set(self.cbs.kind.sends_direct() && !limited);
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
