//! `struct event_base`: the loop every event, bufferevent and listener belongs to.

use crate::error::{call, Error, Result};
use crate::panic;
use crate::util::flag_type;
use crate::util::time::{timeval, OptionalTimeval};
use libevent_sys as sys;
use std::any::Any;
use std::cell::{Cell, OnceCell, RefCell};
use std::ffi::{c_short, c_void, CStr, CString};
use std::io::Write;
use std::ptr::NonNull;
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod inspect;
mod once;

pub use inspect::{global_shutdown, set_mem_functions, version_number, EventInfo};

/// A timeout made by [`EventBase::common_timeout`]: a `struct timeval` with libevent's
/// magic encoding of the base's queue, valid on that base only (checked where it is used).
#[derive(Clone, Copy, Debug)]
pub struct CommonTimeout {
    tv: libc::timeval,
    base: *mut sys::event_base,
    duration: Duration,
}

impl CommonTimeout {
    /// The duration it was made for.
    ///
    /// ```
    /// # use libevent::*;
    /// # let base = EventBase::new()?;
    /// let t = base.common_timeout(std::time::Duration::from_millis(1500))?;
    /// assert_eq!(t.duration().as_millis(), 1500);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// The encoded timeval, if `base` is the base it was made on.
    pub(crate) fn timeval_for(
        &self,
        function: &'static str,
        base: *mut sys::event_base,
    ) -> Result<libc::timeval> {
        if base != self.base {
            return Err(Error::invalid(
                function,
                "a common timeout of another event base",
            ));
        }
        Ok(self.tv)
    }
}

pub(crate) struct BaseInner {
    raw: NonNull<sys::event_base>,
    owned: bool,
    /// Work that must wait until C has left the callback that asked for it (freeing an
    /// `evhttp` from inside one of its own callbacks): run by `deferred_ev` on the next
    /// pass of the loop, or here on drop if the loop never runs again.
    deferred: RefCell<Vec<Box<dyn FnOnce()>>>,
    /// The event that runs `deferred`, made on first use; null until then.
    deferred_ev: Cell<*mut sys::event>,
    /// What a higher module keeps per base, made on its first use: the executor's tasks
    /// and timers (`task::Executor`). The base knows it only as an [`Extension`].
    ext: OnceCell<Box<dyn Extension>>,
    /// Closures handed to `event_base_once` and not run yet.
    once: once::Pending,
    /// Work for the base's teardown only (a DNS server port that must not be closed
    /// while the loop can still run its callbacks).
    teardown: RefCell<Vec<Box<dyn FnOnce()>>>,
}

/// Per-base state of a module built on the base (the executor), kept in the base's one
/// extension slot and told when the base goes, before anything of it is freed.
pub(crate) trait Extension: Any {
    /// The base is going: end what still uses it (the executor cancels its tasks).
    fn base_going(&self);
    /// For [`BaseInner::extension`]'s downcast.
    fn as_any(&self) -> &dyn Any;
}

/// Runs the base's deferred work; `arg` is its `BaseInner`, which frees this event before
/// it goes, so the pointer is valid whenever the event fires.
extern "C" fn deferred_tramp(_fd: sys::evutil_socket_t, _what: c_short, arg: *mut c_void) {
    // SAFETY: see above; only shared references to BaseInner are ever made.
    let inner = unsafe { &*(arg as *const BaseInner) };
    let raw = inner.raw.as_ptr();
    inner.run_deferred(|f| {
        panic::wrap(panic::Guard::Loop(raw), f);
    });
}

impl BaseInner {
    fn run_deferred(&self, mut run: impl FnMut(Box<dyn FnOnce()>)) {
        loop {
            let batch = std::mem::take(&mut *self.deferred.borrow_mut());
            if batch.is_empty() {
                return;
            }
            for f in batch {
                run(f);
            }
        }
    }
}

/// Which C bases have a Rust state, and where: each thread's map holds weak references to
/// its own (a base is not `Send`), and a process-wide set says which thread has one, so
/// that a second state is never made for a base another thread runs.
mod registry {
    use super::BaseInner;
    use crate::error::{Error, Result};
    use libevent_sys as sys;
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::rc::{Rc, Weak};
    use std::sync::Mutex;
    use std::thread::ThreadId;

    static OWNERS: Mutex<Vec<(usize, ThreadId)>> = Mutex::new(Vec::new());

    thread_local! {
        static MINE: RefCell<HashMap<usize, Weak<BaseInner>>> = RefCell::new(HashMap::new());
    }

    fn owners() -> std::sync::MutexGuard<'static, Vec<(usize, ThreadId)>> {
        // A panic while holding it cannot leave the list inconsistent (each change is
        // one push or one remove).
        OWNERS.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn insert(raw: *mut sys::event_base, inner: &Rc<BaseInner>) {
        let key = raw as usize;
        owners().push((key, std::thread::current().id()));
        MINE.with(|m| m.borrow_mut().insert(key, Rc::downgrade(inner)));
    }

    pub(super) fn known(raw: *mut sys::event_base) -> bool {
        owners().iter().any(|(k, _)| *k == raw as usize)
    }

    /// This thread's state for `raw`, if any; an error if another thread has one.
    pub(super) fn get(raw: *mut sys::event_base) -> Result<Option<Rc<BaseInner>>> {
        let key = raw as usize;
        let mine = MINE.with(|m| m.borrow().get(&key).and_then(Weak::upgrade));
        if mine.is_some() {
            return Ok(mine);
        }
        if known(raw) {
            return Err(Error::invalid(
                "EventBase::from_raw_borrowed",
                "that base's Rust handles live on another thread",
            ));
        }
        Ok(None)
    }

    pub(super) fn remove(raw: *mut sys::event_base) {
        let key = raw as usize;
        let me = std::thread::current().id();
        let mut o = owners();
        if let Some(i) = o.iter().position(|e| *e == (key, me)) {
            o.swap_remove(i);
        }
        drop(o);
        // The thread's map may already be gone (a base dropped during thread exit).
        let _ = MINE.try_with(|m| {
            let mut m = m.borrow_mut();
            if m.get(&key).is_some_and(|w| w.strong_count() == 0) {
                m.remove(&key);
            }
        });
    }
}

impl BaseInner {
    /// The base's extension of type `T`, made now if it has none yet.
    ///
    /// # Panics
    /// If the slot holds an extension of another type (there is one: the executor).
    pub(crate) fn extension<T: Extension + Default>(&self) -> &T {
        self.ext
            .get_or_init(|| Box::new(T::default()))
            .as_any()
            .downcast_ref::<T>()
            .expect("a base has one extension, the executor")
    }

    /// Runs `f` when the base goes, after its deferred work and before it is freed. `f`
    /// must not hold an `EventBase` clone.
    pub(crate) fn at_teardown(&self, f: Box<dyn FnOnce()>) {
        self.teardown.borrow_mut().push(f);
    }

    /// The base's extension of type `T`, if it has been made.
    pub(crate) fn extension_if<T: Extension>(&self) -> Option<&T> {
        self.ext.get()?.as_any().downcast_ref::<T>()
    }
}

impl Drop for BaseInner {
    fn drop(&mut self) {
        registry::remove(self.raw.as_ptr());
        // What the extension still runs on the base ends here (tasks still pending,
        // detached or with handles that outlive the base: their events freed, their
        // futures dropped), while the base lives.
        if let Some(ext) = self.ext.get() {
            ext.base_going();
        }
        // Deferred work frees C objects made on this base: do it while the base lives.
        self.run_deferred(|f| {
            panic::wrap(panic::Guard::Contain("deferred drop"), f);
        });
        let ev = self.deferred_ev.get();
        if !ev.is_null() {
            // SAFETY: made by event_new on this base, freed once, before the base.
            unsafe { sys::event_free(ev) };
        }
        for f in std::mem::take(&mut *self.teardown.borrow_mut()) {
            panic::wrap(panic::Guard::Contain("base teardown"), f);
        }
        self.once.base_going(self.owned);
        if self.owned {
            // SAFETY: the base was made by event_base_new*, and every Rust object made on it
            // holds an `EventBase` clone, so none is alive now. Freed exactly once.
            unsafe { sys::event_base_free(self.raw.as_ptr()) };
        }
    }
}

/// An event base (`struct event_base`), the loop.
///
/// `EventBase` is a cheap handle: clones share one C base, and every [`Event`](crate::Event),
/// [`BufferEvent`](crate::BufferEvent) and [`Listener`](crate::Listener) made on it keeps a
/// clone, so the base is freed (`event_base_free`) only after the last of them is dropped.
///
/// It is neither `Send` nor `Sync`: callbacks are plain `FnMut` closures that may hold
/// `Rc`s and run on the thread that runs the loop, and a base without locking (the
/// default for `EventBase::new` without the `threads` feature) must not be touched from
/// two threads. Give each thread its own base, as libevent's documentation advises.
///
/// ```
/// use libevent::{EventBase, Event};
/// use std::time::Duration;
/// let base = EventBase::new()?;
/// let timer = Event::timer(&base, |_| println!("tick"))?;
/// timer.add(Some(Duration::from_millis(1)))?;
/// base.dispatch()?;
/// # Ok::<(), libevent::Error>(())
/// ```
#[derive(Clone)]
pub struct EventBase {
    inner: Rc<BaseInner>,
}

/// An [`EventBase`] that may be gone (what a task keeps of its base).
#[derive(Clone)]
pub(crate) struct WeakBase(std::rc::Weak<BaseInner>);

impl WeakBase {
    pub(crate) fn upgrade(&self) -> Option<EventBase> {
        self.0.upgrade().map(|inner| EventBase { inner })
    }
}

/// How a loop call ended (`event_base_loop`'s 0 and 1).
///
/// ```
/// # use libevent::*;
/// # use libevent::base::LoopExit;
/// let base = EventBase::new()?;
/// assert_eq!(base.dispatch()?, LoopExit::NoEvents); // nothing was pending
/// # Ok::<(), libevent::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoopExit {
    /// `event_base_loopexit`/`loopbreak` was called, or `ONCE`/`NONBLOCK` finished its pass.
    Stopped,
    /// No events were pending or active (return value 1).
    NoEvents,
}

flag_type! {
    /// `EVLOOP_*`: how [`EventBase::run`] runs.
    ///
    /// ```
    /// # let base = libevent::EventBase::new()?;
    /// base.run(libevent::LoopFlags::ONCE | libevent::LoopFlags::NONBLOCK)?;
    /// # Ok::<(), libevent::Error>(())
    /// ```
    LoopFlags: i32 {
        /// `EVLOOP_ONCE`: wait for events, run the active ones, return.
        ONCE = sys::EVLOOP_ONCE;
        /// `EVLOOP_NONBLOCK`: run what is ready now, do not wait.
        NONBLOCK = sys::EVLOOP_NONBLOCK;
        /// `EVLOOP_NO_EXIT_ON_EMPTY`: keep running with no events, until loopexit/loopbreak.
        NO_EXIT_ON_EMPTY = sys::EVLOOP_NO_EXIT_ON_EMPTY;
    }
}

flag_type! {
    /// `EV_FEATURE_*`: what a backend offers; required through [`Config::require_features`].
    ///
    /// ```
    /// # let base = libevent::EventBase::new()?;
    /// let f = base.features();
    /// println!("{f:?}");
    /// # Ok::<(), libevent::Error>(())
    /// ```
    Features: i32 {
        /// `EV_FEATURE_ET`: edge-triggered events.
        ET = sys::event_method_feature_EV_FEATURE_ET;
        /// `EV_FEATURE_O1`: O(1) add, delete and dispatch.
        O1 = sys::event_method_feature_EV_FEATURE_O1;
        /// `EV_FEATURE_FDS`: any descriptor, not just sockets.
        FDS = sys::event_method_feature_EV_FEATURE_FDS;
        /// `EV_FEATURE_EARLY_CLOSE`: `EV_CLOSED` without reading.
        EARLY_CLOSE = sys::event_method_feature_EV_FEATURE_EARLY_CLOSE;
    }
}

flag_type! {
    /// `EVENT_BASE_FLAG_*`, set through [`Config::flags`].
    ///
    /// ```
    /// let mut cfg = libevent::base::Config::new()?;
    /// cfg.flags(libevent::base::BaseFlags::NO_CACHE_TIME)?;
    /// # Ok::<(), libevent::Error>(())
    /// ```
    BaseFlags: i32 {
        /// `EVENT_BASE_FLAG_NOLOCK`: no lock even when threads are set up.
        NOLOCK = sys::event_base_config_flag_EVENT_BASE_FLAG_NOLOCK;
        /// `EVENT_BASE_FLAG_IGNORE_ENV`: ignore `EVENT_NO*` environment variables.
        IGNORE_ENV = sys::event_base_config_flag_EVENT_BASE_FLAG_IGNORE_ENV;
        /// `EVENT_BASE_FLAG_NO_CACHE_TIME`: read the clock at every callback.
        NO_CACHE_TIME = sys::event_base_config_flag_EVENT_BASE_FLAG_NO_CACHE_TIME;
        /// `EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST`: batch epoll_ctl calls.
        EPOLL_USE_CHANGELIST = sys::event_base_config_flag_EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST;
        /// `EVENT_BASE_FLAG_PRECISE_TIMER`: the most precise (slower) timer.
        PRECISE_TIMER = sys::event_base_config_flag_EVENT_BASE_FLAG_PRECISE_TIMER;
    }
}

flag_type! {
    /// `EVENT_BASE_COUNT_*`: which events [`EventBase::num_events`] counts.
    ///
    /// ```
    /// # let base = libevent::EventBase::new()?;
    /// assert_eq!(base.num_events(libevent::base::Count::ACTIVE | libevent::base::Count::ADDED), 0);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    Count: u32 {
        /// `EVENT_BASE_COUNT_ACTIVE`.
        ACTIVE = sys::EVENT_BASE_COUNT_ACTIVE;
        /// `EVENT_BASE_COUNT_ADDED`.
        ADDED = sys::EVENT_BASE_COUNT_ADDED;
        /// `EVENT_BASE_COUNT_VIRTUAL`.
        VIRTUAL = sys::EVENT_BASE_COUNT_VIRTUAL;
    }
}

/// `struct event_config`: what kind of base [`EventBase::with_config`] makes.
///
/// ```
/// use libevent::EventBase;
/// use libevent::base::{Config, Features};
/// let mut cfg = Config::new()?;
/// cfg.avoid_method("select")?.require_features(Features::O1)?;
/// let base = EventBase::with_config(&cfg)?;
/// assert!(base.features().contains(Features::O1));
/// # Ok::<(), libevent::Error>(())
/// ```
pub struct Config {
    raw: NonNull<sys::event_config>,
}

impl Config {
    /// `event_config_new`.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::base::Config;
    /// let cfg = Config::new()?;
    /// let _base = EventBase::with_config(&cfg)?;
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn new() -> Result<Config> {
        // SAFETY: no preconditions.
        let raw = unsafe { call!(sys::event_config_new()) }?;
        Ok(Config { raw })
    }

    /// `event_config_avoid_method`: never use this backend ("epoll", "poll", "select"...).
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::base::Config;
    /// let mut cfg = Config::new()?;
    /// cfg.avoid_method("epoll")?;
    /// assert_ne!(EventBase::with_config(&cfg)?.method(), "epoll");
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn avoid_method(&mut self, method: &str) -> Result<&mut Self> {
        let m = CString::new(method)
            .map_err(|_| Error::invalid("event_config_avoid_method", "method name contains NUL"))?;
        // SAFETY: self.raw is live; m outlives the call (libevent copies it).
        unsafe {
            call!(sys::event_config_avoid_method(
                self.raw.as_ptr(),
                m.as_ptr()
            ))
        }?;
        Ok(self)
    }

    /// `event_config_require_features`.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::base::{Features, Config};
    /// let mut cfg = Config::new()?;
    /// cfg.require_features(Features::ET)?;
    /// assert!(EventBase::with_config(&cfg)?.features().contains(Features::ET));
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn require_features(&mut self, features: Features) -> Result<&mut Self> {
        // SAFETY: self.raw is live.
        unsafe {
            call!(sys::event_config_require_features(
                self.raw.as_ptr(),
                features.0
            ))
        }?;
        Ok(self)
    }

    /// `event_config_set_flag`.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::base::{BaseFlags, Config};
    /// let mut cfg = Config::new()?;
    /// cfg.flags(BaseFlags::PRECISE_TIMER | BaseFlags::IGNORE_ENV)?;
    /// let _base = EventBase::with_config(&cfg)?;
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn flags(&mut self, flags: BaseFlags) -> Result<&mut Self> {
        // SAFETY: self.raw is live.
        unsafe { call!(sys::event_config_set_flag(self.raw.as_ptr(), flags.0)) }?;
        Ok(self)
    }

    /// The raw `struct event_config *`, still owned by `self`.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::base::Config;
    /// let cfg = Config::new()?;
    /// assert!(!cfg.as_raw().is_null());
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn as_raw(&self) -> *mut sys::event_config {
        self.raw.as_ptr()
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config").field("raw", &self.raw).finish()
    }
}

impl Drop for Config {
    fn drop(&mut self) {
        // SAFETY: made by event_config_new, freed once.
        unsafe { sys::event_config_free(self.raw.as_ptr()) };
    }
}

impl EventBase {
    /// `event_base_new`: the best backend available.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::base::supported_methods;
    /// let base = EventBase::new()?;
    /// assert!(supported_methods().contains(&base.method()));
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn new() -> Result<EventBase> {
        crate::thread::setup();
        // SAFETY: no preconditions.
        let raw = unsafe { call!(sys::event_base_new()) }?;
        Ok(Self::adopt(raw, true))
    }

    /// `event_base_new_with_config`.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::base::{Features, Config};
    /// let mut cfg = Config::new()?;
    /// cfg.require_features(Features::O1)?;
    /// let base = EventBase::with_config(&cfg)?;
    /// assert!(base.features().contains(Features::O1));
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn with_config(config: &Config) -> Result<EventBase> {
        crate::thread::setup();
        // SAFETY: config.raw is live for the call.
        let raw = unsafe { call!(sys::event_base_new_with_config(config.raw.as_ptr())) }?;
        Ok(Self::adopt(raw, true))
    }

    /// A base whose epoll backend batches its descriptor changes
    /// (`EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST`): an event deleted and added again
    /// between two `epoll_wait`s (what evhttp does to every keep-alive connection, from
    /// reading to writing and back, for each request) costs no `epoll_ctl`, only the net
    /// change is made before the next wait. evhttp serves about a quarter more requests
    /// per second with it here (docs/http.md, "Benchmark"); the HTTP example, eventd's
    /// `--metrics` worker and the HTTP benchmark's evhttp servers use it.
    ///
    /// The cost, upstream's caveat: with the changelist a descriptor and a `dup()` of it
    /// (or any other descriptor for the same open file) must not both have events on
    /// the base; the kernel's epoll set is keyed by the open file, and changes batched
    /// for one may be lost for the other, so events go missing in ways that are hard to
    /// find. Nothing in this crate duplicates descriptors. Other backends (poll, select)
    /// ignore the flag.
    ///
    /// ```
    /// # use libevent::*;
    /// let base = EventBase::with_epoll_changelist()?;
    /// // libevent names the backend after what it does.
    /// if base.method().starts_with("epoll") {
    ///     assert_eq!(base.method(), "epoll (with changelist)");
    /// }
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn with_epoll_changelist() -> Result<EventBase> {
        let mut cfg = Config::new()?;
        cfg.flags(BaseFlags::EPOLL_USE_CHANGELIST)?;
        Self::with_config(&cfg)
    }

    /// The Rust state of `raw`: a new one, registered so that every later handle on the
    /// same C base (`from_raw_borrowed`, the base a C callback hands over) shares it.
    fn adopt(raw: NonNull<sys::event_base>, owned: bool) -> EventBase {
        let inner = Rc::new(BaseInner {
            raw,
            owned,
            deferred: RefCell::new(Vec::new()),
            deferred_ev: Cell::new(std::ptr::null_mut()),
            ext: OnceCell::new(),
            once: once::Pending::default(),
            teardown: RefCell::new(Vec::new()),
        });
        registry::insert(raw.as_ptr(), &inner);
        EventBase { inner }
    }

    /// Takes ownership of a base made by C: it is freed when the last handle goes.
    ///
    /// # Safety
    /// `raw` must be a live base from `event_base_new*` that nothing else frees.
    ///
    /// ```
    /// # use libevent::*;
    /// // SAFETY: a fresh base that nothing else frees.
    /// let base = unsafe { EventBase::from_raw(libevent::sys::event_base_new())? };
    /// assert!(base.is_owned());
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub unsafe fn from_raw(raw: *mut sys::event_base) -> Result<EventBase> {
        let raw = NonNull::new(raw)
            .ok_or_else(|| Error::invalid("EventBase::from_raw", "null event_base"))?;
        if registry::known(raw.as_ptr()) {
            return Err(Error::invalid(
                "EventBase::from_raw",
                "that base already has Rust handles: take a clone of one instead",
            ));
        }
        Ok(Self::adopt(raw, true))
    }

    /// A handle on a base that C code owns (for example, the base of a C program whose
    /// loop the Rust code lives in). It is never freed from Rust.
    ///
    /// A base has one Rust state (its tasks, deferred frees, common timeouts): if Rust
    /// handles on `raw` exist already, on this thread, the handle returned shares theirs
    /// (and an owned base stays owned); on another thread it is an error.
    ///
    /// Callbacks registered through it run whenever the C program runs its loop. A panic
    /// in one of them is caught and the loop broken; when the C program's loop call
    /// returns, call [`EventBase::resume_panic`] to re-raise it on the Rust side.
    ///
    /// # Safety
    /// `raw` must be a live base that stays alive as long as this handle, its clones, and
    /// every Rust object made on it.
    ///
    /// ```
    /// # use libevent::*;
    /// let raw = unsafe { libevent::sys::event_base_new() }; // owned by "C"
    /// {
    ///     // SAFETY: raw outlives this handle and everything made on it.
    ///     let base = unsafe { EventBase::from_raw_borrowed(raw)? };
    ///     assert!(!base.is_owned());
    /// }
    /// unsafe { libevent::sys::event_base_free(raw) };
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub unsafe fn from_raw_borrowed(raw: *mut sys::event_base) -> Result<EventBase> {
        let raw = NonNull::new(raw)
            .ok_or_else(|| Error::invalid("EventBase::from_raw_borrowed", "null event_base"))?;
        if let Some(inner) = registry::get(raw.as_ptr())? {
            return Ok(EventBase { inner });
        }
        Ok(Self::adopt(raw, false))
    }

    /// A handle that does not keep the base alive.
    pub(crate) fn downgrade(&self) -> WeakBase {
        WeakBase(Rc::downgrade(&self.inner))
    }

    pub(crate) fn inner(&self) -> &BaseInner {
        &self.inner
    }

    /// The raw `struct event_base *`, still owned as before.
    ///
    /// ```
    /// # use libevent::*;
    /// let base = EventBase::new()?;
    /// // SAFETY: the base is live.
    /// let n = unsafe { libevent::sys::event_base_get_npriorities(base.as_raw()) };
    /// assert_eq!(n, 1);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn as_raw(&self) -> *mut sys::event_base {
        self.inner.raw.as_ptr()
    }

    /// Runs `f` once C has returned to the loop (its next pass, after what libevent
    /// deferred to it), or when the last handle on the base goes if the loop never runs
    /// again. `f` must not hold an `EventBase`
    /// clone (it would keep the base, and itself, alive).
    pub(crate) fn defer(&self, f: Box<dyn FnOnce()>) -> Result<()> {
        let inner = &*self.inner;
        let mut ev = inner.deferred_ev.get();
        if ev.is_null() {
            // SAFETY: base live; the arg is the BaseInner, which frees the event before
            // it is itself freed (see its Drop).
            ev = unsafe {
                call!(sys::event_new(
                    self.as_raw(),
                    -1,
                    0,
                    Some(deferred_tramp),
                    inner as *const BaseInner as *mut c_void,
                ))
            }?
            .as_ptr();
            inner.deferred_ev.set(ev);
        }
        inner.deferred.borrow_mut().push(f);
        // A zero timeout, not event_active: a timer fires on the loop's next pass, after
        // the callbacks libevent itself deferred to that pass (evdns's cancellations,
        // for one), which may still need what `f` frees.
        let now = libc::timeval {
            tv_sec: 0,
            tv_usec: 0,
        };
        // SAFETY: ev is live; re-adding a pending timer only resets it.
        unsafe { call!(sys::event_add(ev, &now)) }?;
        Ok(())
    }

    /// True when dropping the last handle frees the C base.
    ///
    /// ```
    /// # use libevent::*;
    /// let base = EventBase::new()?;
    /// assert!(base.is_owned());
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn is_owned(&self) -> bool {
        self.inner.owned
    }

    fn after_loop(&self, rc: Result<i32>) -> Result<LoopExit> {
        panic::resume(self.as_raw());
        match rc? {
            0 => Ok(LoopExit::Stopped),
            _ => Ok(LoopExit::NoEvents),
        }
    }

    /// `event_base_loop` with flags. A panic in a callback resumes here.
    ///
    /// ```
    /// # use libevent::*;
    /// let base = EventBase::new()?;
    /// // Run what is ready, without waiting.
    /// base.run(LoopFlags::NONBLOCK)?;
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn run(&self, flags: LoopFlags) -> Result<LoopExit> {
        crate::handle::refuse_loop("event_base_loop")?;
        // SAFETY: the base is live; callbacks reached from here are panic-guarded.
        let rc = unsafe { call!(sys::event_base_loop(self.as_raw(), flags.0)) };
        self.after_loop(rc)
    }

    /// `event_base_dispatch`: run until no events remain or the loop is stopped.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::base::LoopExit;
    /// let base = EventBase::new()?;
    /// let t = Event::timer(&base, |_| {})?;
    /// t.add(Some(std::time::Duration::from_millis(1)))?;
    /// assert_eq!(base.dispatch()?, LoopExit::NoEvents); // ran until nothing was left
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn dispatch(&self) -> Result<LoopExit> {
        crate::handle::refuse_loop("event_base_dispatch")?;
        // SAFETY: as in `run`.
        let rc = unsafe { call!(sys::event_base_dispatch(self.as_raw())) };
        self.after_loop(rc)
    }

    /// Re-raises a panic that a callback raised while C code ran this base's loop.
    ///
    /// ```
    /// # use libevent::*;
    /// let base = EventBase::new()?;
    /// // Nothing panicked: a no-op.
    /// base.resume_panic();
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn resume_panic(&self) {
        panic::resume(self.as_raw());
    }

    /// Takes a parked callback panic without raising it.
    ///
    /// ```
    /// # use libevent::*;
    /// let base = EventBase::new()?;
    /// assert!(base.take_panic().is_none());
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn take_panic(&self) -> Option<Box<dyn std::any::Any + Send>> {
        panic::take(self.as_raw())
    }

    /// `event_base_loopexit`: stop after `after` (or after this pass of callbacks).
    ///
    /// ```
    /// # use libevent::*;
    /// let base = EventBase::new()?;
    /// base.loopexit(Some(std::time::Duration::from_millis(5)))?;
    /// base.run(LoopFlags::NO_EXIT_ON_EMPTY)?;
    /// assert!(base.got_exit());
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn loopexit(&self, after: Option<Duration>) -> Result<()> {
        let tv = OptionalTimeval::new("event_base_loopexit", after)?;
        // SAFETY: base live; tv read during the call only.
        unsafe { call!(sys::event_base_loopexit(self.as_raw(), tv.as_ptr())) }?;
        Ok(())
    }

    /// `event_base_loopbreak`: stop after the callback running now.
    ///
    /// ```
    /// # use libevent::*;
    /// let base = EventBase::new()?;
    /// let b = base.clone();
    /// let t = Event::timer(&base, move |_| b.loopbreak().unwrap())?;
    /// t.add(Some(std::time::Duration::ZERO))?;
    /// base.run(LoopFlags::NO_EXIT_ON_EMPTY)?;
    /// assert!(base.got_break());
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn loopbreak(&self) -> Result<()> {
        // SAFETY: base live.
        unsafe { call!(sys::event_base_loopbreak(self.as_raw())) }?;
        Ok(())
    }

    /// `event_base_loopcontinue`: rescan for active events before running more callbacks.
    ///
    /// ```
    /// # use libevent::*;
    /// let base = EventBase::new()?;
    /// let b = base.clone();
    /// let t = Event::timer(&base, move |_| b.loopcontinue().unwrap())?;
    /// t.add(Some(std::time::Duration::ZERO))?;
    /// base.dispatch()?;
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn loopcontinue(&self) -> Result<()> {
        // SAFETY: base live.
        unsafe { call!(sys::event_base_loopcontinue(self.as_raw())) }?;
        Ok(())
    }

    /// `event_base_got_exit`.
    ///
    /// ```
    /// # use libevent::*;
    /// let base = EventBase::new()?;
    /// assert!(!base.got_exit());
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn got_exit(&self) -> bool {
        // SAFETY: base live.
        unsafe { sys::event_base_got_exit(self.as_raw()) != 0 }
    }

    /// `event_base_got_break`.
    ///
    /// ```
    /// # use libevent::*;
    /// let base = EventBase::new()?;
    /// assert!(!base.got_break());
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn got_break(&self) -> bool {
        // SAFETY: base live.
        unsafe { sys::event_base_got_break(self.as_raw()) != 0 }
    }

    /// `event_base_get_method`: "epoll", "kqueue", "poll", "select"...
    ///
    /// ```
    /// # use libevent::*;
    /// let base = EventBase::new()?;
    /// assert_eq!(base.method(), "epoll"); // on Linux
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn method(&self) -> &'static str {
        // SAFETY: returns a pointer to a static string of the backend.
        let s = unsafe { CStr::from_ptr(sys::event_base_get_method(self.as_raw())) };
        s.to_str().unwrap_or("?")
    }

    /// `event_base_get_features`.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::base::Features;
    /// let base = EventBase::new()?;
    /// assert!(base.features().contains(Features::O1)); // epoll
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn features(&self) -> Features {
        // SAFETY: base live.
        Features(unsafe { sys::event_base_get_features(self.as_raw()) })
    }

    /// `event_base_priority_init`: make `n` priorities (call before adding events).
    ///
    /// ```
    /// # use libevent::*;
    /// let base = EventBase::new()?;
    /// base.priority_init(3)?;
    /// assert_eq!(base.priorities(), 3);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn priority_init(&self, n: u8) -> Result<()> {
        if n == 0 {
            return Err(Error::invalid(
                "event_base_priority_init",
                "at least one priority",
            ));
        }
        // SAFETY: base live.
        unsafe { call!(sys::event_base_priority_init(self.as_raw(), i32::from(n))) }?;
        Ok(())
    }

    /// `event_base_get_npriorities`.
    ///
    /// ```
    /// # use libevent::*;
    /// let base = EventBase::new()?;
    /// assert_eq!(base.priorities(), 1);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn priorities(&self) -> u32 {
        // SAFETY: base live.
        unsafe { sys::event_base_get_npriorities(self.as_raw()) as u32 }
    }

    /// `event_base_init_common_timeout`: a timeout of `d` that libevent keeps in a queue
    /// of its own instead of its timeout heap. With many events or bufferevents sharing one
    /// timeout (a server's idle timeout), adding and resetting it costs O(1) instead of
    /// O(log n). Use it with [`Event::add_common`](crate::Event::add_common) and
    /// [`BufferEventRef::set_common_timeouts`](crate::BufferEventRef::set_common_timeouts),
    /// on this base only. Asking twice for one duration gives the same queue; a base
    /// holds at most 256.
    ///
    /// ```
    /// # use libevent::*;
    /// let base = EventBase::new()?;
    /// let ten = base.common_timeout(std::time::Duration::from_secs(10))?;
    /// assert_eq!(ten.duration(), std::time::Duration::from_secs(10));
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn common_timeout(&self, d: Duration) -> Result<CommonTimeout> {
        let tv = timeval("event_base_init_common_timeout", d)?;
        // SAFETY: base live; tv read during the call. The result points into the base.
        let p = unsafe { call!(sys::event_base_init_common_timeout(self.as_raw(), &tv)) }?;
        Ok(CommonTimeout {
            // SAFETY: non-null, owned by the live base; copied out (libevent allows copies).
            tv: unsafe { *p.as_ptr() },
            base: self.as_raw(),
            duration: d,
        })
    }

    /// `event_base_gettimeofday_cached`: the time cached at the start of this pass.
    ///
    /// ```
    /// # use libevent::*;
    /// let base = EventBase::new()?;
    /// let t = base.cached_time()?; // outside the loop: the current time
    /// assert!(t > std::time::UNIX_EPOCH);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn cached_time(&self) -> Result<SystemTime> {
        let mut tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 0,
        };
        // SAFETY: base live; tv is a valid out pointer.
        unsafe { call!(sys::event_base_gettimeofday_cached(self.as_raw(), &mut tv)) }?;
        Ok(UNIX_EPOCH + Duration::new(tv.tv_sec as u64, tv.tv_usec as u32 * 1000))
    }

    /// `event_base_update_cache_time`.
    ///
    /// ```
    /// # use libevent::*;
    /// let base = EventBase::new()?;
    /// base.update_cache_time()?;
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn update_cache_time(&self) -> Result<()> {
        // SAFETY: base live.
        unsafe { call!(sys::event_base_update_cache_time(self.as_raw())) }?;
        Ok(())
    }

    /// `event_base_get_num_events`.
    ///
    /// ```
    /// # use libevent::*;
    /// # use libevent::base::Count;
    /// let base = EventBase::new()?;
    /// let t = Event::timer(&base, |_| {})?;
    /// t.add(Some(std::time::Duration::from_secs(1)))?;
    /// assert_eq!(base.num_events(Count::ADDED), 1);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn num_events(&self, which: Count) -> usize {
        // SAFETY: base live.
        unsafe { sys::event_base_get_num_events(self.as_raw(), which.0) as usize }
    }

    /// `event_base_dump_events`, written to `out`.
    ///
    /// ```
    /// # use libevent::*;
    /// let base = EventBase::new()?;
    /// let mut out = Vec::new();
    /// base.dump_events(&mut out).unwrap();
    /// assert!(String::from_utf8_lossy(&out).contains("Inserted events"));
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn dump_events<W: Write>(&self, out: &mut W) -> std::io::Result<()> {
        let mut ptr: *mut libc::c_char = std::ptr::null_mut();
        let mut len: libc::size_t = 0;
        // SAFETY: open_memstream gives a FILE writing to a malloc'd buffer we free below.
        let file = unsafe { call!(libc::open_memstream(&mut ptr, &mut len)) }?.as_ptr();
        // SAFETY: base live; file is a valid FILE until fclose, which also sets ptr/len.
        let text = unsafe {
            sys::event_base_dump_events(self.as_raw(), file);
            libc::fclose(file);
            let text = std::slice::from_raw_parts(ptr as *const u8, len).to_vec();
            libc::free(ptr as *mut libc::c_void);
            text
        };
        out.write_all(&text)
    }

    /// `event_reinit`: call in the child after `fork()` before using the base.
    ///
    /// ```
    /// # use libevent::*;
    /// let base = EventBase::new()?;
    /// // In a child after fork(); harmless in the parent too.
    /// base.reinit()?;
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn reinit(&self) -> Result<()> {
        // SAFETY: base live.
        unsafe { call!(sys::event_reinit(self.as_raw())) }?;
        Ok(())
    }
}

impl std::fmt::Debug for EventBase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventBase")
            .field("raw", &self.inner.raw)
            .field("method", &self.method())
            .field("owned", &self.inner.owned)
            .finish()
    }
}

/// The backends this build of libevent offers (`event_get_supported_methods`).
///
/// ```
/// # use libevent::*;
/// # use libevent::base::supported_methods;
/// assert!(supported_methods().contains(&"poll"));
/// # Ok::<(), libevent::Error>(())
/// ```
pub fn supported_methods() -> Vec<&'static str> {
    let mut out = Vec::new();
    // SAFETY: a static NULL-terminated array of static strings.
    unsafe {
        let mut p = sys::event_get_supported_methods();
        while !(*p).is_null() {
            out.push(CStr::from_ptr(*p).to_str().unwrap_or("?"));
            p = p.add(1);
        }
    }
    out
}

/// `event_get_version`: "2.1.13-stable" for the bundled build.
///
/// ```
/// # use libevent::*;
/// assert!(version().starts_with("2.1."));
/// # Ok::<(), libevent::Error>(())
/// ```
pub fn version() -> &'static str {
    // SAFETY: a static string.
    unsafe { CStr::from_ptr(sys::event_get_version()) }
        .to_str()
        .unwrap_or("?")
}
