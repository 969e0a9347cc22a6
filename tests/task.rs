//! The executor on the event loop: spawn, join, cancel, wake from another thread, panics.

use libevent::base::LoopExit;
use libevent::task::JoinHandle;
use libevent::*;
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

/// Ready on its second poll; its first poll hands the waker to another thread, which
/// wakes it after `after`.
struct WokenFromAThread {
    polls: u32,
    after: Duration,
}

impl Future for WokenFromAThread {
    type Output = u32;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
        self.polls += 1;
        if self.polls > 1 {
            return Poll::Ready(self.polls);
        }
        let waker = cx.waker().clone();
        let after = self.after;
        std::thread::spawn(move || {
            std::thread::sleep(after);
            waker.wake();
        });
        Poll::Pending
    }
}

/// Never ready; records when it is dropped.
struct Forever(Rc<Cell<bool>>);

impl Future for Forever {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        Poll::Pending
    }
}

impl Drop for Forever {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

#[test]
fn spawn_join_and_block_on() {
    let base = EventBase::new().unwrap();
    let a = base.spawn_local(async { 2 }).unwrap();
    let b = base.spawn_local(async { 40 }).unwrap();
    assert!(!a.is_finished()); // tasks first run on the loop
    base.run(LoopFlags::NONBLOCK).unwrap();
    assert!(a.is_finished() && b.is_finished());
    let sum = base.block_on(async move { a.await + b.await }).unwrap();
    assert_eq!(sum, 42);
}

#[test]
fn a_waker_called_from_another_thread() {
    let base = EventBase::new().unwrap();
    let polls = base
        .block_on(WokenFromAThread {
            polls: 0,
            after: Duration::from_millis(50),
        })
        .unwrap();
    assert_eq!(polls, 2);
}

#[test]
fn dropping_the_handle_cancels_the_task_at_once() {
    let base = EventBase::new().unwrap();
    let dropped = Rc::new(Cell::new(false));
    let h = base.spawn_local(Forever(dropped.clone())).unwrap();
    base.run(LoopFlags::NONBLOCK).unwrap(); // polled once: pending
    assert!(!dropped.get());
    drop(h);
    assert!(dropped.get(), "the future is dropped with its handle");
    // Nothing is left on the loop.
    assert_eq!(base.dispatch().unwrap(), LoopExit::NoEvents);
}

#[test]
fn a_future_nothing_can_wake_is_an_error_not_a_hang() {
    let base = EventBase::new().unwrap();
    let e = base.block_on(Forever(Rc::default())).unwrap_err();
    assert_eq!(e.function(), "block_on");
}

#[test]
fn a_task_that_panics_reaches_block_on_and_the_loop_stays_usable() {
    let base = EventBase::new().unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        base.block_on(async { panic!("task panicked") })
    }));
    assert_eq!(
        r.unwrap_err().downcast_ref::<&str>(),
        Some(&"task panicked")
    );
    assert_eq!(base.block_on(async { 7 }).unwrap(), 7);
}

#[test]
fn thousands_of_tasks() {
    let base = EventBase::new().unwrap();
    let handles: Vec<_> = (0..10_000u64)
        .map(|i| base.spawn_local(async move { i }).unwrap())
        .collect();
    let total = base
        .block_on(async move {
            let mut t = 0;
            for h in handles {
                t += h.await;
            }
            t
        })
        .unwrap();
    assert_eq!(total, 10_000 * 9_999 / 2);
}

#[test]
fn a_task_dropping_its_own_handle_and_tasks_inside_a_callback() {
    let base = EventBase::new().unwrap();
    let slot: Rc<std::cell::RefCell<Option<JoinHandle<()>>>> = Rc::default();
    let s = slot.clone();
    let ran = Rc::new(Cell::new(0));
    let r = ran.clone();
    let h = base
        .spawn_local(async move {
            s.borrow_mut().take(); // its own handle, dropped while it runs
            r.set(r.get() + 1);
        })
        .unwrap();
    *slot.borrow_mut() = Some(h);
    // A timer callback spawns a task too.
    let b = base.clone();
    let r = ran.clone();
    let t = Event::timer(&base, move |_| {
        let r = r.clone();
        b.spawn_local(async move { r.set(r.get() + 10) })
            .unwrap()
            .detach();
    })
    .unwrap();
    t.add(Some(Duration::from_millis(1))).unwrap();
    base.dispatch().unwrap();
    assert_eq!(ran.get(), 11);
}

#[test]
fn a_base_dropped_with_tasks_pending_drops_their_futures() {
    let base = EventBase::new().unwrap();
    let (a, b) = (Rc::new(Cell::new(false)), Rc::new(Cell::new(false)));
    base.spawn_local(Forever(a.clone())).unwrap().detach();
    let kept = base.spawn_local(Forever(b.clone())).unwrap();
    base.run(LoopFlags::NONBLOCK).unwrap();
    assert_eq!(base.tasks(), 2);
    drop(base);
    assert!(a.get() && b.get(), "both futures dropped with the base");
    assert!(kept.is_finished());
    drop(kept); // after its base: nothing left to free
}

#[test]
fn spawn_from_inside_a_task_and_outside_one() {
    let base = EventBase::new().unwrap();
    let v = base
        .block_on(async {
            let inner = task::spawn(async { 20 }).unwrap();
            inner.await + 1
        })
        .unwrap();
    assert_eq!(v, 21);
    assert_eq!(base.tasks(), 0);
    let e = task::spawn(async {}).unwrap_err();
    assert!(e.to_string().contains("not inside a task"), "{e}");
}

#[test]
fn a_waker_called_by_user_code_holding_a_borrow_defers_the_poll() {
    // A user's callback wakes a task while it still holds a RefCell the task borrows:
    // the wake goes through event_active, so the task runs after the callback returns.
    let base = EventBase::new().unwrap();
    let shared: Rc<std::cell::RefCell<(Vec<u32>, Option<std::task::Waker>)>> = Rc::default();
    let s = shared.clone();
    let consumer = base
        .spawn_local(std::future::poll_fn(move |cx| {
            let mut g = s.borrow_mut();
            if g.0.len() == 3 {
                return Poll::Ready(g.0.iter().sum::<u32>());
            }
            g.1 = Some(cx.waker().clone());
            Poll::Pending
        }))
        .unwrap();
    let s = shared.clone();
    let n = Rc::new(Cell::new(0u32));
    let tick = Event::interval(&base, Duration::from_millis(1), move |_| {
        let mut g = s.borrow_mut();
        n.set(n.get() + 1);
        g.0.push(n.get());
        if let Some(w) = g.1.take() {
            w.wake(); // while `g` is borrowed
        }
    })
    .unwrap();
    let sum = base.block_on(consumer).unwrap();
    drop(tick);
    assert_eq!(sum, 1 + 2 + 3);
}

/// Never ready; counts its drops.
struct Counted(Rc<Cell<u32>>);

impl Future for Counted {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        Poll::Pending
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn cancel_tasks_from_outside_and_from_inside_a_task() {
    let base = EventBase::new().unwrap();
    let dropped = Rc::new(Cell::new(0));
    for _ in 0..3 {
        let d = Counted(dropped.clone());
        base.spawn_local(d).unwrap().detach();
    }
    let b = base.clone();
    let left = base
        .block_on(async move {
            task::sleep(Duration::from_millis(1)).await; // the others have run by now
            b.cancel_tasks(); // all but this one
            b.tasks()
        })
        .unwrap();
    assert_eq!(left, 1, "only the task that cancelled the others");
    assert_eq!(dropped.get(), 3);
    let d = Counted(dropped.clone());
    base.spawn_local(d).unwrap().detach();
    base.cancel_tasks();
    assert_eq!((base.tasks(), dropped.get()), (0, 4));
}

/// A C base has one Rust state: every handle on it, however obtained, shares its tasks.
#[test]
fn one_rust_state_per_c_base() {
    // SAFETY: a base "C" owns, freed below after every handle on it is gone.
    let raw = unsafe { libevent::sys::event_base_new() };
    {
        // SAFETY: raw outlives these handles.
        let first = unsafe { EventBase::from_raw_borrowed(raw) }.unwrap();
        // SAFETY: as above.
        let second = unsafe { EventBase::from_raw_borrowed(raw) }.unwrap();
        let ran = Rc::new(Cell::new(false));
        let r = ran.clone();
        second
            .spawn_local(async move { r.set(true) })
            .unwrap()
            .detach();
        // The task belongs to the base, not to the handle it was spawned through.
        drop(second);
        assert_eq!(first.tasks(), 1);
        first.dispatch().unwrap();
        assert!(ran.get());
        // A base that has Rust handles cannot be adopted a second time.
        // SAFETY: refused before anything is taken over.
        assert!(unsafe { EventBase::from_raw(raw) }.is_err());
        // Nor handled from another thread while this one has it.
        let addr = raw as usize;
        let other = std::thread::spawn(move || {
            // SAFETY: refused before the base is touched.
            unsafe { EventBase::from_raw_borrowed(addr as *mut libevent::sys::event_base) }.is_err()
        });
        assert!(other.join().unwrap());
    }
    // SAFETY: no Rust handle on it is left.
    unsafe { libevent::sys::event_base_free(raw) };
}

/// The base an evhttp bufferevent callback is handed is the server's own: a task spawned
/// through it keeps running after the callback returns.
#[test]
fn a_task_spawned_from_a_bevcb_outlives_the_callback() {
    use std::io::{Read, Write};
    let base = EventBase::new().unwrap();
    let http = Http::new(&base).unwrap();
    let addr = http
        .bind("127.0.0.1:0".parse().unwrap())
        .unwrap()
        .local_addr()
        .unwrap();
    let ticks = Rc::new(Cell::new(0));
    let t = ticks.clone();
    http.on_connection(move |b| {
        let t = t.clone();
        // The task holds no handle of its own: it lives as long as its base's state.
        b.spawn_local(async move {
            for _ in 0..3 {
                libevent::task::sleep(Duration::from_millis(5)).await;
                t.set(t.get() + 1);
            }
        })
        .unwrap()
        .detach();
        None
    });
    http.on_request(|req| {
        let _ = req.send_reply(200, None, b"ok");
    });
    let client = std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        out
    });
    let start = std::time::Instant::now();
    while ticks.get() < 3 || !client.is_finished() {
        assert!(start.elapsed() < Duration::from_secs(5), "the task stopped");
        base.run(LoopFlags::ONCE | LoopFlags::NONBLOCK).unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(client.join().unwrap().starts_with(b"HTTP/1.1 200"));
    assert_eq!(base.tasks(), 0);
}
