//! An executor on the event loop: futures polled from libevent events, so that async
//! Rust runs inside `event_base_loop` beside every C and Rust callback (also inside a C
//! program's loop, on a base from [`EventBase::from_raw_borrowed`]).
//!
//! Each task owns one libevent event with no descriptor; waking the task activates it
//! (`event_active`), and its callback polls the future. A [`Waker`] is `Send + Sync`:
//! a wake from another thread only activates the event, under a lock that the task's
//! end also takes, through libevent's own cross-thread notification (bases made here with
//! the `threads` feature, the default, have it); the task itself never leaves its thread.
//! On a base without locking (one from C, or the feature off) a wake from another thread
//! is refused (logged), since it could only race.
//!
//! One shortcut: where this crate's own callbacks make ready what a task waits for (a
//! stream's input or room to write, a timer, an accepted connection), the task is polled
//! inside that callback, as callback code would have run there, when no other task is
//! being polled and the callback belongs to the task's base. Every other wake, a user's
//! included, goes through `event_active`.
//!
//! Beside the executor: timers ([`sleep`], [`timeout`], [`interval`]), async streams over
//! bufferevents ([`TcpStream`], [`TcpListener`]), and async forms of the DNS and HTTP
//! calls ([`DnsBase::resolve`](crate::DnsBase::resolve),
//! [`RequestBuilder::send_async`](crate::http::RequestBuilder::send_async)).

mod net;
pub(crate) mod time;

pub use net::{Incoming, ReadHalf, TcpListener, TcpStream, WriteHalf, LINGER};
pub use time::{
    interval, sleep, sleep_until, timeout, Elapsed, Interval, Sleep, Timeout, PROMOTE_AFTER,
};

use crate::base::{EventBase, WeakBase};
use crate::error::{call, Error, Result};
use crate::panic::{self, Guard};
use crate::LoopFlags;
use libevent_sys as sys;
use std::cell::{Cell, RefCell};
use std::ffi::{c_short, c_void};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

/// The task's event, reachable from any thread while the task lives (`None` after).
struct Wakeup {
    event: Mutex<Option<EventPtr>>,
    /// The thread that runs the base's loop.
    owner: std::thread::ThreadId,
    /// The base locks and can be notified (made here with the `threads` feature), so
    /// `event_active` may come from another thread.
    cross_thread: bool,
}

/// A libevent event pointer, used from other threads only through `event_active`,
/// which libevent makes thread-safe on bases with locking.
struct EventPtr(*mut sys::event);

// SAFETY: the pointer is only passed to event_active (thread-safe on a locking base)
// and freed by the task's thread with the same mutex held, so no thread uses it after.
unsafe impl Send for EventPtr {}

impl Wake for Wakeup {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.cross_thread && std::thread::current().id() != self.owner {
            // Touching a base without locks from here would be a data race.
            log::error!(
                "a task was woken from another thread, but its event base has no locking \
                 (a base from C, or the `threads` feature off): the wake is lost"
            );
            return;
        }
        let ev = self.event.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(EventPtr(ev)) = *ev {
            // SAFETY: the event is live while it is in the mutex (the task removes and
            // frees it with the mutex held); activating an active event does nothing.
            unsafe { sys::event_active(ev, sys::EV_TIMEOUT, 1) };
        }
    }
}

type BoxFuture = Pin<Box<dyn Future<Output = ()>>>;

/// A spawned task: its future (taken when done or cancelled) and its event.
struct Task {
    future: RefCell<Option<BoxFuture>>,
    wakeup: Arc<Wakeup>,
    base: WeakBase,
    /// Its index in the base's [`Registry`].
    slot: Cell<usize>,
}

/// The tasks of one base that have not finished, each held here (C's event points at it
/// without a count of its own), so that the base can end them before it goes.
#[derive(Default)]
pub(crate) struct Registry {
    slots: Vec<Option<Rc<Task>>>,
    free: Vec<usize>,
}

impl Registry {
    fn insert(&mut self, task: Rc<Task>) {
        let i = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        };
        task.slot.set(i);
        self.slots[i] = Some(task);
    }

    /// Takes `task` out of slot `i`, if it is still there (a slot is reused once free).
    fn remove(&mut self, i: usize, task: *const Task) -> Option<Rc<Task>> {
        let slot = self.slots.get_mut(i)?;
        if !slot
            .as_ref()
            .is_some_and(|t| std::ptr::eq(Rc::as_ptr(t), task))
        {
            return None;
        }
        self.free.push(i);
        slot.take()
    }

    /// How many tasks are spawned and not finished.
    pub(crate) fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }
}

/// The executor's state on one base, kept in the base's extension slot (made on the
/// first spawn or timer): its tasks, and the async timers' durations with their common
/// timeouts.
#[derive(Default)]
pub(crate) struct Executor {
    tasks: RefCell<Registry>,
    pub(crate) timer_durations: RefCell<time::Durations>,
}

impl crate::base::Extension for Executor {
    /// Ends every task of a base that is going away (its `BaseInner`'s drop): what their
    /// futures drop may spawn or cancel more, so this repeats until none is left.
    fn base_going(&self) {
        cancel_all_but(&self.tasks, None);
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// [`cancel_all`], leaving `keep` (the task being polled) alone.
fn cancel_all_but(tasks: &RefCell<Registry>, keep: Option<&Rc<Task>>) {
    loop {
        // Out of the registry first: finish() cannot reach it while the base goes.
        let all: Vec<Rc<Task>> = {
            let mut r = tasks.borrow_mut();
            let doomed: Vec<(usize, *const Task)> = r
                .slots
                .iter()
                .enumerate()
                .filter_map(|(i, t)| Some((i, Rc::as_ptr(t.as_ref()?))))
                .filter(|&(_, t)| !keep.is_some_and(|k| std::ptr::eq(Rc::as_ptr(k), t)))
                .collect();
            doomed
                .into_iter()
                .filter_map(|(i, t)| r.remove(i, t))
                .collect()
        };
        if all.is_empty() {
            return;
        }
        for t in all {
            panic::wrap(Guard::Contain("a task dropped with its event base"), || {
                t.finish()
            });
        }
    }
}

impl Task {
    /// Frees the event and drops the future: the task will not run again. Idempotent.
    fn finish(&self) {
        let ev = self
            .wakeup
            .event
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(EventPtr(ev)) = ev {
            // SAFETY: made by event_new, freed once, with no other thread able to reach
            // it (taken out of the mutex above). event_free inside its own callback is
            // allowed. The base is live: a base going away ends its tasks first.
            unsafe { sys::event_free(ev) };
        }
        let f = self.future.borrow_mut().take();
        // Out of the registry (the base's reference), unless the base is already going.
        let entry = self.base.upgrade().and_then(|b| {
            let ex = b.inner().extension_if::<Executor>()?;
            let entry = ex.tasks.borrow_mut().remove(self.slot.get(), self);
            entry
        });
        // Dropped outside every borrow: a future's drop may spawn or cancel tasks.
        drop(f);
        drop(entry);
    }
}

/// The task being polled on this thread.
struct Current {
    base: EventBase,
    task: Rc<Task>,
    waker: Waker,
}

thread_local! {
    /// The task being polled on this thread, and its base: where [`sleep`](time::sleep),
    /// [`TcpStream::connect`](net::TcpStream::connect) and the like make their events.
    static CURRENT: RefCell<Option<Current>> = const { RefCell::new(None) };
}

/// The base of the task being polled on this thread.
pub(crate) fn current_base(what: &'static str) -> Result<EventBase> {
    CURRENT
        .with(|c| c.borrow().as_ref().map(|c| c.base.clone()))
        .ok_or_else(|| {
            Error::invalid(
                what,
                "not inside a task on an EventBase (spawn_local or block_on)",
            )
        })
}

/// Sets the current task for the duration of a poll, and restores the previous one.
struct Enter(Option<Current>);

impl Enter {
    fn new(cur: Current) -> Enter {
        Enter(CURRENT.with(|c| c.replace(Some(cur))))
    }
}

impl Drop for Enter {
    fn drop(&mut self) {
        let prev = self.0.take();
        let mine = CURRENT.with(|c| c.replace(prev));
        drop(mine);
    }
}

/// Who waits for one thing (a stream's input, a timer), woken from this crate's own
/// callbacks.
///
/// A task of the loop's base is polled right there, inside the callback that readied it
/// (the bufferevent's read callback, the timer's): as a callback-style program would run
/// its code, with the data still in cache, and without piling up every ready
/// connection's input before any task takes it. This happens only when no task is being
/// polled (so polls never nest) and the callback belongs to the task's own base;
/// otherwise, and for any other waker, the wake goes through `event_active`.
#[derive(Default)]
pub(crate) struct WakeSlot(Cell<Option<Waiter>>);

enum Waiter {
    Task(std::rc::Weak<Task>),
    Other(Waker),
}

impl WakeSlot {
    /// Registers the waker of `cx`; `base` is the base whose callbacks will wake it.
    pub(crate) fn register(&self, cx: &Context<'_>, base: *mut sys::event_base) {
        let w = cx.waker();
        let direct = CURRENT.with(|c| {
            let c = c.borrow();
            let c = c.as_ref()?;
            (c.waker.will_wake(w) && c.base.as_raw() == base).then(|| Rc::downgrade(&c.task))
        });
        let waiter = match direct {
            Some(t) => Waiter::Task(t),
            None => match self.0.take() {
                Some(Waiter::Other(old)) if old.will_wake(w) => Waiter::Other(old),
                _ => Waiter::Other(w.clone()),
            },
        };
        self.0.set(Some(waiter));
    }

    /// [`wake`](Self::wake) when `now`; otherwise the task is polled from the loop, not
    /// from here (the caller still holds what the task would use).
    pub(crate) fn wake_after(&self, now: bool) {
        if now {
            return self.wake();
        }
        match self.0.take() {
            None => {}
            Some(Waiter::Other(w)) => w.wake(),
            Some(Waiter::Task(t)) => {
                if let Some(task) = t.upgrade() {
                    task.wakeup.wake_by_ref();
                }
            }
        }
    }

    /// Wakes whoever waits (see the type's documentation), if anyone does.
    pub(crate) fn wake(&self) {
        match self.0.take() {
            None => {}
            Some(Waiter::Other(w)) => w.wake(),
            Some(Waiter::Task(t)) => {
                let Some(task) = t.upgrade() else { return };
                let polling = CURRENT.with(|c| c.borrow().is_some());
                if polling {
                    task.wakeup.wake_by_ref();
                } else {
                    run(task);
                }
            }
        }
    }
}

extern "C" fn task_tramp(_fd: sys::evutil_socket_t, _what: c_short, arg: *mut c_void) {
    // SAFETY: arg is the task's Rc, held by the base's registry until finish() has freed
    // the event (after which C never passes arg again); we take a reference of our own.
    let task: Rc<Task> = unsafe { crate::handle::context_from_arg(arg) };
    run(task);
}

/// Polls the task once (from its event, or straight from a [`WakeSlot`]).
fn run(task: Rc<Task>) {
    let Some(base) = task.base.upgrade() else {
        return; // the base is going: the task is being cancelled
    };
    let waker = Waker::from(task.wakeup.clone());
    let mut cx = Context::from_waker(&waker);
    let raw = base.as_raw();
    let _enter = Enter::new(Current {
        base,
        task: task.clone(),
        waker: waker.clone(),
    });
    let done = panic::wrap(Guard::Loop(raw), || {
        let Ok(mut slot) = task.future.try_borrow_mut() else {
            return false; // polled from inside its own poll: impossible, ignore
        };
        match slot.as_mut() {
            Some(f) => f.as_mut().poll(&mut cx).is_ready(),
            None => false,
        }
    });
    // A panic ends the task too (its future is dropped; the panic goes to the loop's
    // caller).
    if done != Some(false) {
        task.finish();
    }
}

/// A value that one callback delivers once to one waiting future (a DNS answer, an HTTP
/// response): the callback side calls [`Oneshot::send`], the future side polls.
pub(crate) struct Oneshot<T> {
    value: RefCell<Option<T>>,
    waker: Cell<Option<Waker>>,
}

impl<T> Oneshot<T> {
    pub(crate) fn new() -> Rc<Oneshot<T>> {
        Rc::new(Oneshot {
            value: RefCell::new(None),
            waker: Cell::new(None),
        })
    }

    pub(crate) fn send(&self, v: T) {
        *self.value.borrow_mut() = Some(v);
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    pub(crate) fn poll(&self, cx: &mut Context<'_>) -> Poll<T> {
        if let Some(v) = self.value.borrow_mut().take() {
            return Poll::Ready(v);
        }
        self.waker.set(Some(cx.waker().clone()));
        Poll::Pending
    }
}

/// Runs `future` as a task on the base of the task calling this (see
/// [`EventBase::spawn_local`]); an error outside a task.
pub fn spawn<F>(future: F) -> Result<JoinHandle<F::Output>>
where
    F: Future + 'static,
    F::Output: 'static,
{
    current_base("spawn")?.spawn_local(future)
}

/// What a task's output and its awaiting side share.
struct Join<T> {
    output: RefCell<Option<T>>,
    waker: RefCell<Option<Waker>>,
}

/// A spawned task (`EventBase::spawn_local`): await it for its output, or drop it to
/// cancel the task (its future is dropped at once, on this thread).
pub struct JoinHandle<T> {
    join: Rc<Join<T>>,
    task: Rc<Task>,
}

impl<T> JoinHandle<T> {
    /// True once the task has finished (its output is ready, or it panicked).
    pub fn is_finished(&self) -> bool {
        // Borrowed mutably only while the task runs, when it is not finished.
        self.task.future.try_borrow().is_ok_and(|f| f.is_none())
    }

    /// Lets the task run to its end without a handle (dropping the handle would cancel
    /// it); its output is dropped.
    pub fn detach(self) {
        let me = std::mem::ManuallyDrop::new(self);
        // SAFETY: each field is read once out of a handle that is never dropped.
        unsafe {
            drop(std::ptr::read(&me.join));
            drop(std::ptr::read(&me.task));
        }
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = T;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        if let Some(v) = self.join.output.borrow_mut().take() {
            return Poll::Ready(v);
        }
        *self.join.waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        match self.task.future.try_borrow() {
            // Dropped from inside its own task: it goes on as if detached.
            Err(_) => return,
            // Finished already.
            Ok(f) if f.is_none() => return,
            Ok(_) => {}
        }
        // Cancel: free the event, drop the future, leave the registry.
        self.task.finish();
    }
}

impl<T> std::fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}

impl EventBase {
    /// Runs `future` as a task on this base's loop (polled from a libevent event, on
    /// this thread). The returned [`JoinHandle`] gives its output; dropping it cancels
    /// the task. The task first runs on the loop's next pass.
    ///
    /// ```
    /// use libevent::EventBase;
    /// let base = EventBase::new()?;
    /// let task = base.spawn_local(async { 6 * 7 })?;
    /// assert_eq!(base.block_on(task)?, 42);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn spawn_local<F>(&self, future: F) -> Result<JoinHandle<F::Output>>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let join = Rc::new(Join {
            output: RefCell::new(None),
            waker: RefCell::new(None),
        });
        let j = join.clone();
        let wrapped: BoxFuture = Box::pin(async move {
            let v = future.await;
            *j.output.borrow_mut() = Some(v);
            let w = j.waker.borrow_mut().take();
            if let Some(w) = w {
                w.wake();
            }
        });
        let task = Rc::new(Task {
            future: RefCell::new(Some(wrapped)),
            wakeup: Arc::new(Wakeup {
                event: Mutex::new(None),
                owner: std::thread::current().id(),
                cross_thread: crate::thread::use_pthreads() && self.is_owned(),
            }),
            base: self.downgrade(),
            slot: Cell::new(0),
        });
        let arg = crate::handle::context_arg(&task);
        // SAFETY: base live; arg stays valid while the registry holds the task, which it
        // does until finish() has freed the event.
        let ev =
            unsafe { call!(sys::event_new(self.as_raw(), -1, 0, Some(task_tramp), arg)) }?.as_ptr();
        self.inner()
            .extension::<Executor>()
            .tasks
            .borrow_mut()
            .insert(task.clone());
        *task
            .wakeup
            .event
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(EventPtr(ev));
        // SAFETY: the event is live and ours.
        unsafe { sys::event_active(ev, sys::EV_TIMEOUT, 1) };
        Ok(JoinHandle { join, task })
    }

    /// Cancels every task on this base (their futures are dropped, here and now), but
    /// the one calling this, if a task does. A task that never ends and holds something
    /// made on the base (a stream, a timer) keeps the base alive, and itself with it:
    /// call this before dropping the base when detached tasks may still wait.
    ///
    /// ```
    /// # use libevent::*;
    /// let base = EventBase::new()?;
    /// let b = base.clone();
    /// base.spawn_local(async move {
    ///     b.sleep(std::time::Duration::from_secs(3600)).await; // holds the base
    /// })?
    /// .detach();
    /// base.run(LoopFlags::NONBLOCK)?;
    /// assert_eq!(base.tasks(), 1);
    /// base.cancel_tasks();
    /// assert_eq!(base.tasks(), 0); // and the base can now be freed
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn cancel_tasks(&self) {
        let me = CURRENT.with(|c| c.borrow().as_ref().map(|c| c.task.clone()));
        if let Some(ex) = self.inner().extension_if::<Executor>() {
            cancel_all_but(&ex.tasks, me.as_ref());
        }
    }

    /// How many tasks spawned through this handle's base (and its clones) have not
    /// finished.
    ///
    /// ```
    /// # use libevent::*;
    /// let base = EventBase::new()?;
    /// let t = base.spawn_local(async {})?;
    /// assert_eq!(base.tasks(), 1);
    /// base.block_on(t)?;
    /// assert_eq!(base.tasks(), 0);
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn tasks(&self) -> usize {
        self.inner()
            .extension_if::<Executor>()
            .map_or(0, |ex| ex.tasks.borrow().len())
    }

    /// Runs the loop until `future` completes, and returns its output. A panic inside
    /// any callback or task resumes here (the loop stays usable). If the loop runs out
    /// of events while the future still waits (nothing can ever wake it), that is an
    /// error, not a hang.
    ///
    /// ```
    /// use libevent::EventBase;
    /// let base = EventBase::new()?;
    /// let v = base.block_on(async { "done" })?;
    /// assert_eq!(v, "done");
    /// # Ok::<(), libevent::Error>(())
    /// ```
    pub fn block_on<F>(&self, future: F) -> Result<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let handle = self.spawn_local(future)?;
        loop {
            if let Some(v) = handle.join.output.borrow_mut().take() {
                return Ok(v);
            }
            // While something besides the task holds its waker (another thread, a
            // channel), an empty loop may still be woken: wait for it.
            let others_can_wake = Arc::strong_count(&handle.task.wakeup) > 1;
            let flags = if others_can_wake {
                LoopFlags::ONCE | LoopFlags::NO_EXIT_ON_EMPTY
            } else {
                LoopFlags::ONCE
            };
            if self.run(flags)? == crate::base::LoopExit::NoEvents {
                if let Some(v) = handle.join.output.borrow_mut().take() {
                    return Ok(v);
                }
                if Arc::strong_count(&handle.task.wakeup) > 1 {
                    continue;
                }
                return Err(Error::invalid(
                    "block_on",
                    "the future waits for something no event can bring (the loop ran out of events)",
                ));
            }
        }
    }
}
