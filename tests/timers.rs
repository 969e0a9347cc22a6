//! Timers for tasks: sleep, sleep_until, timeout, interval, reset, many sharing one
//! duration (common timeouts), and a timer dropped before it fires.

use libevent::base::LoopExit;
use libevent::task::{self, Elapsed};
use libevent::*;
use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

#[test]
fn sleep_waits_at_least_its_duration() {
    let base = EventBase::new().unwrap();
    let t = Instant::now();
    base.block_on(task::sleep(Duration::from_millis(30)))
        .unwrap();
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(30), "{took:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    // A deadline already past completes at once.
    base.block_on(task::sleep_until(Instant::now() - Duration::from_secs(1)))
        .unwrap();
}

#[test]
fn sleeps_complete_in_deadline_order() {
    let base = EventBase::new().unwrap();
    let order = Rc::new(std::cell::RefCell::new(Vec::new()));
    for ms in [40u64, 10, 30, 20] {
        let o = order.clone();
        base.spawn_local(async move {
            task::sleep(Duration::from_millis(ms)).await;
            o.borrow_mut().push(ms);
        })
        .unwrap()
        .detach();
    }
    base.dispatch().unwrap();
    assert_eq!(*order.borrow(), [10, 20, 30, 40]);
}

#[test]
fn timeout_gives_the_output_or_elapsed() {
    let base = EventBase::new().unwrap();
    let quick = base
        .block_on(task::timeout(Duration::from_secs(5), async { 5 }))
        .unwrap();
    assert_eq!(quick, Ok(5));
    let t = Instant::now();
    let slow = base
        .block_on(task::timeout(
            Duration::from_millis(20),
            task::sleep(Duration::from_secs(30)),
        ))
        .unwrap();
    let elapsed: Elapsed = slow.unwrap_err();
    assert_eq!(elapsed.to_string(), "deadline has elapsed");
    assert!(t.elapsed() < Duration::from_secs(5));
    // Nothing is left behind on the loop: the 30 s sleep went with the timeout.
    assert_eq!(base.dispatch().unwrap(), LoopExit::NoEvents);
    let io: std::io::Error = elapsed.into();
    assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
}

#[test]
fn interval_ticks_first_at_once_then_every_period() {
    let base = EventBase::new().unwrap();
    let (first, total) = base
        .block_on(async {
            let mut every = task::interval(Duration::from_millis(10)).unwrap();
            let t = Instant::now();
            every.tick().await;
            let first = t.elapsed();
            for _ in 0..5 {
                every.tick().await;
            }
            (first, t.elapsed())
        })
        .unwrap();
    assert!(first < Duration::from_millis(5), "{first:?}");
    // Five periods, measured by libevent from the time it cached at the start of a loop
    // pass (a little before `t` under valgrind): allow for that.
    assert!(total >= Duration::from_millis(45), "{total:?}");
    assert!(task::interval(Duration::ZERO).is_err());
}

#[test]
fn a_late_interval_skips_missed_ticks() {
    let base = EventBase::new().unwrap();
    let ticks = base
        .block_on(async {
            let mut every = task::interval(Duration::from_millis(5)).unwrap();
            every.tick().await;
            std::thread::sleep(Duration::from_millis(60)); // the loop is blocked: 12 periods
            let t = Instant::now();
            every.tick().await; // the one that fired late
            let mut n = 0;
            while t.elapsed() < Duration::from_millis(3) {
                let r = task::timeout(Duration::from_millis(1), every.tick()).await;
                n += r.is_ok() as u32;
            }
            n
        })
        .unwrap();
    assert!(ticks <= 1, "missed ticks came in a burst: {ticks}");
}

#[test]
fn reset_moves_the_deadline() {
    let base = EventBase::new().unwrap();
    let took = base
        .block_on(async {
            let t = Instant::now();
            let mut s = task::sleep(Duration::from_millis(10));
            // Poll once so the timer is registered, then push it back.
            let _ = task::timeout(Duration::from_millis(1), &mut s).await;
            s.reset(Duration::from_millis(40));
            s.await;
            t.elapsed()
        })
        .unwrap();
    assert!(took >= Duration::from_millis(40), "{took:?}");
}

#[test]
fn many_timers_of_one_duration_share_a_common_timeout() {
    let base = EventBase::new().unwrap();
    let done = Rc::new(Cell::new(0));
    for _ in 0..2_000 {
        let d = done.clone();
        base.spawn_local(async move {
            task::sleep(Duration::from_millis(25)).await;
            d.set(d.get() + 1);
        })
        .unwrap()
        .detach();
    }
    let t = Instant::now();
    base.dispatch().unwrap();
    assert_eq!(done.get(), 2_000);
    assert!(t.elapsed() >= Duration::from_millis(25));
    // The duration was promoted: libevent holds a common-timeout queue for it, so the
    // next new duration gets the second queue. libevent encodes the queue in tv_usec:
    // 0x50000000 | index << 20 | microseconds.
    let next = base.common_timeout(Duration::from_millis(26)).unwrap();
    let second_queue = 0x5000_0000 | (1 << 20) | 26_000;
    assert!(
        format!("{next:?}").contains(&format!("tv_usec: {second_queue}")),
        "{next:?}"
    );
}

#[test]
fn a_timer_dropped_before_it_fires_leaves_nothing() {
    let base = EventBase::new().unwrap();
    let h = base
        .spawn_local(task::sleep(Duration::from_secs(60)))
        .unwrap();
    base.run(LoopFlags::NONBLOCK).unwrap();
    drop(h);
    assert_eq!(base.dispatch().unwrap(), LoopExit::NoEvents);
}

#[test]
fn base_sleep_works_outside_a_task() {
    let base = EventBase::new().unwrap();
    let s = base.sleep(Duration::from_millis(5));
    // Polled by a plain spawned task on the base; made outside any task.
    base.block_on(s).unwrap();
}

#[test]
fn a_free_timer_polled_outside_a_task_panics_with_a_clear_message() {
    let s = task::sleep(Duration::from_millis(5));
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut s = std::pin::pin!(s);
        let _ = std::future::Future::poll(s.as_mut(), &mut cx);
    }));
    let msg = r.unwrap_err();
    let msg = msg.downcast_ref::<String>().unwrap();
    assert!(msg.contains("EventBase::sleep"), "{msg}");
}
