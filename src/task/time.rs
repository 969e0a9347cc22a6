//! Timers for tasks: [`sleep`], [`sleep_until`], [`timeout`] and [`interval`], each one
//! libevent timer event that wakes its task when it fires.
//!
//! A timer is registered with libevent when it is first polled, on the base of the task
//! polling it (or on the base given to [`EventBase::sleep`] and friends). Where many
//! timers share one duration (a per-connection idle timeout, say), the base switches that
//! duration to a libevent common timeout, a queue in place of heap entries, once it has
//! seen it [`PROMOTE_AFTER`] times.

use super::{current_base, WakeSlot};
use crate::base::{CommonTimeout, EventBase};
use crate::event::Event;
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// How many times one duration is used before it gets a common timeout.
pub const PROMOTE_AFTER: u32 = 8;
/// How many distinct durations a base tracks (libevent allows 256 common timeouts).
const TRACKED: usize = 32;

/// A base's timer durations, and the common timeouts of those used often.
#[derive(Default)]
pub(crate) struct Durations {
    seen: Vec<(Duration, u32, Option<CommonTimeout>)>,
}

impl Durations {
    fn common(&mut self, base: &EventBase, d: Duration) -> Option<CommonTimeout> {
        if let Some(e) = self.seen.iter_mut().find(|e| e.0 == d) {
            if e.2.is_none() {
                e.1 += 1;
                if e.1 >= PROMOTE_AFTER {
                    e.2 = base.common_timeout(d).ok();
                }
            }
            return e.2;
        }
        if self.seen.len() < TRACKED {
            self.seen.push((d, 1, None));
        }
        None
    }
}

/// The common timeout for `d` on `base`, once `d` has been used often enough.
pub(crate) fn common_for(base: &EventBase, d: Duration) -> Option<CommonTimeout> {
    base.inner()
        .extension::<super::Executor>()
        .timer_durations
        .borrow_mut()
        .common(base, d)
}

/// What a timer's event and its future share.
struct Shared {
    fired: Cell<u64>,
    waker: WakeSlot,
    base: *mut crate::sys::event_base,
}

impl Shared {
    fn new(base: &EventBase) -> Rc<Shared> {
        Rc::new(Shared {
            fired: Cell::new(0),
            waker: WakeSlot::default(),
            base: base.as_raw(),
        })
    }

    fn set_waker(&self, cx: &Context<'_>) {
        self.waker.register(cx, self.base);
    }
}

/// The libevent event behind a timer.
fn timer_event(base: &EventBase, shared: &Rc<Shared>, persist: bool) -> Event {
    let s = shared.clone();
    let fire = move |_| {
        s.fired.set(s.fired.get() + 1);
        s.waker.wake();
    };
    let flags = if persist {
        crate::event::Flags::PERSIST
    } else {
        crate::event::Flags::empty()
    };
    // event_new fails only when malloc does.
    Event::new(base, -1, flags, fire).expect("event_new for a timer")
}

fn base_for(given: &Option<EventBase>) -> EventBase {
    match given {
        Some(b) => b.clone(),
        None => current_base("a timer").unwrap_or_else(|e| {
            panic!("{e}: a timer made by libevent::task::sleep/timeout/interval is polled by a task; outside one use EventBase::sleep and friends")
        }),
    }
}

/// A future that completes at a deadline ([`sleep`], [`sleep_until`], [`EventBase::sleep`]).
///
/// # Panics
/// Made by the free functions, it panics if first polled outside a task on an
/// [`EventBase`] (it has no loop to register with); the `EventBase` methods do not.
pub struct Sleep {
    base: Option<EventBase>,
    deadline: Instant,
    /// The duration asked for (a common timeout is used only for it).
    duration: Duration,
    timer: Option<(Event, Rc<Shared>)>,
}

/// Completes `duration` from now.
///
/// ```
/// use libevent::{task, EventBase};
/// use std::time::{Duration, Instant};
/// let base = EventBase::new()?;
/// let t = Instant::now();
/// base.block_on(task::sleep(Duration::from_millis(5)))?;
/// assert!(t.elapsed() >= Duration::from_millis(5));
/// # Ok::<(), libevent::Error>(())
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    Sleep::new(None, Instant::now() + duration, duration)
}

/// Completes at `deadline` (at once if it has passed).
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep::new(
        None,
        deadline,
        deadline.saturating_duration_since(Instant::now()),
    )
}

impl Sleep {
    fn new(base: Option<EventBase>, deadline: Instant, duration: Duration) -> Sleep {
        Sleep {
            base,
            deadline,
            duration,
            timer: None,
        }
    }

    /// When it completes.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// True once the timer fired and the deadline has passed.
    pub fn is_elapsed(&self) -> bool {
        self.timer.as_ref().is_some_and(|(_, s)| s.fired.get() > 0)
            && Instant::now() >= self.deadline
    }

    /// Moves the deadline to `duration` from now, reusing the timer's event (an idle
    /// timeout pushed back after every message, say).
    pub fn reset(&mut self, duration: Duration) {
        self.deadline = Instant::now() + duration;
        self.duration = duration;
        if let Some((ev, s)) = &self.timer {
            s.fired.set(0);
            let _ = ev.del();
            let base = ev.base().clone();
            self.arm(&base);
        }
    }

    /// Adds the timer for what is left of the duration.
    fn arm(&self, base: &EventBase) {
        let Some((ev, _)) = &self.timer else { return };
        let left = self.deadline.saturating_duration_since(Instant::now());
        // Registering the whole duration fires at most a millisecond late.
        let common = if left + Duration::from_millis(1) >= self.duration {
            common_for(base, self.duration)
        } else {
            None
        };
        let r = match common {
            Some(c) => ev.add_common(c),
            None => ev.add(Some(left)),
        };
        // A duration libevent cannot represent (past year 2^63): never fires.
        if let Err(e) = r {
            log::error!("a timer of {:?} was not added: {e}", self.duration);
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if let Some((ev, s)) = &self.timer {
            if s.fired.get() > 0 {
                // libevent measures from the time it cached at the start of the loop's
                // pass, so a timer can fire a little before the deadline: wait the rest.
                if Instant::now() >= self.deadline {
                    return Poll::Ready(());
                }
                s.fired.set(0);
                let base = ev.base().clone();
                self.arm(&base);
            }
            s.set_waker(cx);
            return Poll::Pending;
        }
        if self.deadline <= Instant::now() {
            return Poll::Ready(());
        }
        let base = base_for(&self.base);
        let shared = Shared::new(&base);
        shared.set_waker(cx);
        self.timer = Some((timer_event(&base, &shared, false), shared));
        self.arm(&base);
        Poll::Pending
    }
}

impl std::fmt::Debug for Sleep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .field("elapsed", &self.is_elapsed())
            .finish()
    }
}

/// The error of a [`timeout`] whose duration passed first; as an `io::Error` it is
/// `ErrorKind::TimedOut`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed(());

impl std::fmt::Display for Elapsed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for std::io::Error {
    fn from(e: Elapsed) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::TimedOut, e)
    }
}

/// `future`, unless `duration` passes first ([`timeout`], [`EventBase::timeout`]); the
/// future is dropped with the `Timeout`.
pub struct Timeout<F> {
    future: F,
    sleep: Sleep,
}

/// Runs `future` for at most `duration`: its output, or [`Elapsed`].
///
/// ```
/// use libevent::{task, EventBase};
/// use std::time::Duration;
/// let base = EventBase::new()?;
/// let r = base.block_on(task::timeout(Duration::from_millis(1), task::sleep(Duration::from_secs(60))))?;
/// assert!(r.is_err());
/// # Ok::<(), libevent::Error>(())
/// ```
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    Timeout {
        future,
        sleep: sleep(duration),
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `future` is structurally pinned (never moved out of the pinned Timeout,
        // which has no Drop or Unpin impl of its own that could move it); `sleep` is Unpin
        // and not pinned.
        let (future, sleep) = unsafe {
            let me = self.get_unchecked_mut();
            (Pin::new_unchecked(&mut me.future), &mut me.sleep)
        };
        if let Poll::Ready(v) = future.poll(cx) {
            return Poll::Ready(Ok(v));
        }
        match Pin::new(sleep).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed(()))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<F> std::fmt::Debug for Timeout<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timeout")
            .field("sleep", &self.sleep)
            .finish()
    }
}

/// A repeating timer ([`interval`], [`EventBase::interval`]): one persistent libevent
/// timer. The first tick completes at once, then one every period; ticks missed while
/// the task was busy are skipped, not delivered in a burst (libevent reschedules a late
/// persistent timer from the time it ran).
pub struct Interval {
    base: Option<EventBase>,
    period: Duration,
    timer: Option<(Event, Rc<Shared>)>,
    taken: u64,
}

/// Ticks every `period`, the first at once; a zero period is an error.
///
/// ```
/// use libevent::{task, EventBase};
/// use std::time::Duration;
/// let base = EventBase::new()?;
/// let n = base.block_on(async {
///     let mut every = task::interval(Duration::from_millis(1)).unwrap();
///     for _ in 0..3 {
///         every.tick().await;
///     }
///     3
/// })?;
/// assert_eq!(n, 3);
/// # Ok::<(), libevent::Error>(())
/// ```
pub fn interval(period: Duration) -> crate::Result<Interval> {
    Interval::new(None, period)
}

impl Interval {
    fn new(base: Option<EventBase>, period: Duration) -> crate::Result<Interval> {
        if period.is_zero() {
            return Err(crate::Error::invalid(
                "interval",
                "a repeating timer needs a non-zero period",
            ));
        }
        Ok(Interval {
            base,
            period,
            timer: None,
            taken: 0,
        })
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// Completes at the next tick.
    pub async fn tick(&mut self) -> Instant {
        std::future::poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// The next tick, if it has come (else the task is woken when it does).
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        let Some((_, s)) = &self.timer else {
            let base = base_for(&self.base);
            let shared = Shared::new(&base);
            let ev = timer_event(&base, &shared, true);
            let r = ev.add(Some(self.period));
            if let Err(e) = r {
                log::error!("an interval of {:?} was not added: {e}", self.period);
            }
            self.timer = Some((ev, shared));
            return Poll::Ready(Instant::now());
        };
        let fired = s.fired.get();
        if fired > self.taken {
            self.taken = fired;
            return Poll::Ready(Instant::now());
        }
        s.set_waker(cx);
        Poll::Pending
    }
}

impl futures_core::Stream for Interval {
    type Item = Instant;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Instant>> {
        self.poll_tick(cx).map(Some)
    }
}

impl std::fmt::Debug for Interval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interval")
            .field("period", &self.period)
            .finish()
    }
}

impl EventBase {
    /// [`sleep`] on this base: usable outside a task too (polled by another executor,
    /// it still needs this base's loop to run).
    pub fn sleep(&self, duration: Duration) -> Sleep {
        Sleep::new(Some(self.clone()), Instant::now() + duration, duration)
    }

    /// [`sleep_until`] on this base.
    pub fn sleep_until(&self, deadline: Instant) -> Sleep {
        Sleep::new(
            Some(self.clone()),
            deadline,
            deadline.saturating_duration_since(Instant::now()),
        )
    }

    /// [`timeout`] on this base.
    pub fn timeout<F: Future>(&self, duration: Duration, future: F) -> Timeout<F> {
        Timeout {
            future,
            sleep: self.sleep(duration),
        }
    }

    /// [`interval`] on this base.
    pub fn interval(&self, period: Duration) -> crate::Result<Interval> {
        Interval::new(Some(self.clone()), period)
    }
}
