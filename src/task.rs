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
//! This is the executor only; timers, streams over bufferevents and the rest of async
//! support come next.

use crate::base::EventBase;
use crate::error::{call, Error, Result};
use crate::panic::{self, Guard};
use crate::LoopFlags;
use libevent_sys as sys;
use std::cell::RefCell;
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
    base: *mut sys::event_base,
}

impl Task {
    /// Frees the event and drops the future: the task will not run again.
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
            // allowed.
            unsafe { sys::event_free(ev) };
        }
        let f = self.future.borrow_mut().take();
        drop(f);
    }
}

extern "C" fn task_tramp(_fd: sys::evutil_socket_t, _what: c_short, arg: *mut c_void) {
    // SAFETY: arg is the task's Rc, kept by the task table entry (`Rc::into_raw` in
    // spawn) until finish() frees the event; we take a reference of our own.
    let task: Rc<Task> = unsafe { crate::handle::context_from_arg(arg) };
    let waker = Waker::from(task.wakeup.clone());
    let mut cx = Context::from_waker(&waker);
    let done = panic::wrap(Guard::Loop(task.base), || {
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
        // SAFETY: the reference spawn gave to C, released once: finish() freed the
        // event, so C will not pass arg again.
        unsafe { drop(Rc::from_raw(Rc::as_ptr(&task))) };
    }
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
        // Cancel: free the event, drop the future, release C's reference.
        self.task.finish();
        // SAFETY: C's reference (see task_tramp), released once: the event is gone.
        unsafe { drop(Rc::from_raw(Rc::as_ptr(&self.task))) };
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
            base: self.as_raw(),
        });
        let arg = Rc::into_raw(task.clone()) as *mut c_void;
        // SAFETY: base live; arg is a counted reference released when the task ends
        // (task_tramp) or is cancelled (JoinHandle's drop), after the event is freed.
        let ev = unsafe { call!(sys::event_new(self.as_raw(), -1, 0, Some(task_tramp), arg)) };
        let ev = match ev {
            Ok(ev) => ev.as_ptr(),
            Err(e) => {
                // SAFETY: C never got arg.
                unsafe { drop(Rc::from_raw(arg as *const Task)) };
                return Err(e);
            }
        };
        *task
            .wakeup
            .event
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(EventPtr(ev));
        // SAFETY: the event is live and ours.
        unsafe { sys::event_active(ev, sys::EV_TIMEOUT, 1) };
        Ok(JoinHandle { join, task })
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
            if self.run(flags)? == crate::LoopExit::NoEvents {
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
