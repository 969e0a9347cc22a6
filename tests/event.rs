//! Events and the base: timers, descriptors, signals, activation, priorities, loop
//! control, dropping inside callbacks, panics in callbacks, bad input.

use libevent::base::{BaseFlags, Config, Count, Features, LoopExit};
use libevent::event::Flags;
use libevent::{Event, EventBase, LoopFlags};
use std::cell::{Cell, RefCell};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::{Duration, Instant};

mod common;

/// libevent delivers signals to one base per process: the last one that added a signal
/// event (evsig_base). Two tests with signal events on their own bases, run at once,
/// would take each other's signals (one of them then waits forever), so each holds this.
static SIGNALS: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn signals() -> std::sync::MutexGuard<'static, ()> {
    SIGNALS.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn a_one_shot_timer_fires_once_with_timeout() {
    let base = EventBase::new().unwrap();
    let fired = Rc::new(RefCell::new(Vec::new()));
    let f = fired.clone();
    let t = Event::timer(&base, move |what| f.borrow_mut().push(what)).unwrap();
    t.add(Some(Duration::from_millis(10))).unwrap();
    assert!(t.pending(Flags::TIMEOUT).contains(Flags::TIMEOUT));
    assert_eq!(base.dispatch().unwrap(), LoopExit::NoEvents);
    assert_eq!(*fired.borrow(), vec![Flags::TIMEOUT]);
    assert!(!t.is_pending());
}

#[test]
fn a_repeating_timer_repeats_until_deleted_from_its_callback() {
    let base = EventBase::new().unwrap();
    let count = Rc::new(Cell::new(0));
    let slot: Rc<RefCell<Option<Event>>> = Rc::default();
    let (c, s) = (count.clone(), slot.clone());
    let ev = Event::interval(&base, Duration::from_millis(5), move |_| {
        c.set(c.get() + 1);
        if c.get() == 3 {
            s.borrow().as_ref().unwrap().del().unwrap();
        }
    })
    .unwrap();
    *slot.borrow_mut() = Some(ev);
    let start = Instant::now();
    base.dispatch().unwrap();
    assert_eq!(count.get(), 3);
    // Three intervals of 5 ms (the clock started just after the add).
    assert!(start.elapsed() >= Duration::from_millis(10));
    slot.borrow_mut().take();
}

#[test]
fn dropping_an_event_inside_its_own_callback_is_safe() {
    let base = EventBase::new().unwrap();
    let slot: Rc<RefCell<Option<Event>>> = Rc::default();
    let s = slot.clone();
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    let payload = vec![1u8; 1024]; // something for valgrind to see freed twice, or not
    let ev = Event::new(&base, -1, Flags::PERSIST, move |_| {
        c.set(c.get() + 1);
        assert_eq!(payload.len(), 1024);
        // Frees the event and this very closure's box, while it runs.
        s.borrow_mut().take();
        assert_eq!(
            payload.len(),
            1024,
            "the closure's captures outlive its own drop"
        );
    })
    .unwrap();
    ev.add(Some(Duration::from_millis(1))).unwrap();
    *slot.borrow_mut() = Some(ev);
    base.dispatch().unwrap();
    assert_eq!(calls.get(), 1);
    assert!(slot.borrow().is_none());
    assert_eq!(base.num_events(Count::ADDED), 0);
}

#[test]
fn read_and_write_events_on_a_socket() {
    let base = EventBase::new().unwrap();
    let (a, mut b) = UnixStream::pair().unwrap();
    let got = Rc::new(Cell::new(Flags::empty()));
    let g = got.clone();
    let r = Event::new(&base, a.as_raw_fd(), Flags::READ, move |w| g.set(w)).unwrap();
    r.add(None).unwrap();
    let wrote = Rc::new(Cell::new(false));
    let w2 = wrote.clone();
    let w = Event::new(&base, a.as_raw_fd(), Flags::WRITE, move |w| {
        w2.set(w.contains(Flags::WRITE))
    })
    .unwrap();
    w.add(None).unwrap();
    b.write_all(b"x").unwrap();
    base.dispatch().unwrap();
    assert!(got.get().contains(Flags::READ));
    assert!(wrote.get());
    assert_eq!(r.fd(), a.as_raw_fd());
    assert_eq!(r.flags(), Flags::READ);
}

#[test]
fn a_read_timeout_reports_timeout_not_read() {
    let base = EventBase::new().unwrap();
    let (a, _b) = UnixStream::pair().unwrap();
    let got = Rc::new(Cell::new(Flags::empty()));
    let g = got.clone();
    let r = Event::new(&base, a.as_raw_fd(), Flags::READ, move |w| g.set(w)).unwrap();
    r.add(Some(Duration::from_millis(20))).unwrap();
    base.dispatch().unwrap();
    assert_eq!(got.get(), Flags::TIMEOUT);
}

#[test]
fn a_signal_event_runs_on_the_loop() {
    let _signals = signals();
    let base = EventBase::new().unwrap();
    let hits = Rc::new(Cell::new(0));
    let h = hits.clone();
    let b2 = base.clone();
    let sig = Event::signal(&base, libc::SIGUSR1, move |w| {
        assert!(w.contains(Flags::SIGNAL));
        h.set(h.get() + 1);
        b2.loopbreak().unwrap();
    })
    .unwrap();
    sig.add(None).unwrap();
    let raise = Event::timer(&base, |_| {
        // SAFETY: raising a signal that a libevent signal event handles.
        unsafe { libc::raise(libc::SIGUSR1) };
    })
    .unwrap();
    raise.add(Some(Duration::from_millis(5))).unwrap();
    base.dispatch().unwrap();
    assert_eq!(hits.get(), 1);
    assert!(base.got_break());
}

#[test]
fn manual_activation_and_priorities() {
    let base = EventBase::new().unwrap();
    base.priority_init(3).unwrap();
    assert_eq!(base.priorities(), 3);
    let order = Rc::new(RefCell::new(Vec::new()));
    let mk = |name: &'static str, pri: u8| {
        let o = order.clone();
        let ev = Event::new(&base, -1, Flags::empty(), move |w| {
            o.borrow_mut().push((name, w))
        })
        .unwrap();
        ev.set_priority(pri).unwrap();
        assert_eq!(ev.priority(), pri);
        ev
    };
    let low = mk("low", 2);
    let high = mk("high", 0);
    low.activate(Flags::WRITE);
    high.activate(Flags::READ);
    assert_eq!(base.num_events(Count::ACTIVE), 2);
    base.run(LoopFlags::NONBLOCK).unwrap();
    assert_eq!(
        *order.borrow(),
        vec![("high", Flags::READ), ("low", Flags::WRITE)]
    );
    let e = high.set_priority(3).unwrap_err();
    assert!(e.is_invalid_input());
}

#[test]
fn loopexit_loopbreak_and_their_flags() {
    let base = EventBase::new().unwrap();
    let start = Instant::now();
    base.loopexit(Some(Duration::from_millis(30))).unwrap();
    assert_eq!(
        base.run(LoopFlags::NO_EXIT_ON_EMPTY).unwrap(),
        LoopExit::Stopped
    );
    assert!(start.elapsed() >= Duration::from_millis(25));
    assert!(base.got_exit());
    assert!(!base.got_break());
    // With nothing pending, a plain dispatch reports that there was nothing to do.
    assert_eq!(base.dispatch().unwrap(), LoopExit::NoEvents);
}

#[test]
fn loopcontinue_and_cached_time() {
    let base = EventBase::new().unwrap();
    let b = base.clone();
    let seen = Rc::new(Cell::new(false));
    let s = seen.clone();
    let t = Event::timer(&base, move |_| {
        b.loopcontinue().unwrap();
        let now = std::time::SystemTime::now();
        let cached = b.cached_time().unwrap();
        s.set(now.duration_since(cached).unwrap_or_default() < Duration::from_secs(1));
    })
    .unwrap();
    t.add(Some(Duration::ZERO)).unwrap();
    base.dispatch().unwrap();
    assert!(seen.get());
}

#[test]
fn config_avoid_method_and_features() {
    let mut cfg = Config::new().unwrap();
    cfg.avoid_method("epoll")
        .unwrap()
        .flags(BaseFlags::IGNORE_ENV | BaseFlags::PRECISE_TIMER)
        .unwrap();
    let base = EventBase::with_config(&cfg).unwrap();
    assert_ne!(base.method(), "epoll");
    let mut o1 = Config::new().unwrap();
    o1.require_features(Features::O1 | Features::ET).unwrap();
    let base = EventBase::with_config(&o1).unwrap();
    assert_eq!(base.method(), "epoll");
    assert!(base.features().contains(Features::ET));
    assert!(Config::new()
        .unwrap()
        .avoid_method("ep\0oll")
        .unwrap_err()
        .is_invalid_input());
    assert!(libevent::base::supported_methods().contains(&"epoll"));
    assert_eq!(libevent::version(), "2.1.13-stable");
}

#[test]
fn counts_and_dump_events() {
    let base = EventBase::new().unwrap();
    let (a, _b) = UnixStream::pair().unwrap();
    let r = Event::new(&base, a.as_raw_fd(), Flags::READ | Flags::PERSIST, |_| {}).unwrap();
    r.add(None).unwrap();
    let t = Event::timer(&base, |_| {}).unwrap();
    t.add(Some(Duration::from_secs(60))).unwrap();
    assert_eq!(base.num_events(Count::ADDED), 2);
    let mut out = Vec::new();
    base.dump_events(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("Inserted events"), "{text}");
    let fd_line = text.lines().find(|l| {
        l.contains(&format!(" {}] Read Persist", a.as_raw_fd())) && !l.contains("Internal")
    });
    assert!(fd_line.is_some(), "{text}");
    assert!(text.contains("Timeout="), "{text}");
    r.del().unwrap();
    assert_eq!(base.num_events(Count::ADDED), 1);
}

#[test]
fn a_panic_in_a_callback_breaks_the_loop_and_resumes_after_it() {
    let base = EventBase::new().unwrap();
    let later = Rc::new(Cell::new(false));
    let l = later.clone();
    let boom = Event::timer(&base, |_| panic!("boom from a callback")).unwrap();
    boom.add(Some(Duration::from_millis(1))).unwrap();
    let after = Event::timer(&base, move |_| l.set(true)).unwrap();
    after.add(Some(Duration::from_millis(200))).unwrap();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| base.dispatch()));
    let payload = caught.expect_err("the panic resumes from dispatch");
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"boom from a callback")
    );
    assert!(!later.get(), "the loop stopped at the panic");
    // The base is still usable.
    base.dispatch().unwrap();
    assert!(later.get());
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let base = EventBase::new().unwrap();
    let e = Event::new(&base, -1, Flags::READ, |_| {}).unwrap_err();
    assert_eq!(e.function(), "event_new");
    assert!(Event::signal(&base, 0, |_| {}).is_err());
    assert!(Event::new(&base, 3, Flags::SIGNAL | Flags::READ, |_| {}).is_err());
    assert!(Event::interval(&base, Duration::ZERO, |_| {}).is_err());
    let t = Event::timer(&base, |_| {}).unwrap();
    let e = t.add(Some(Duration::from_secs(u64::MAX))).unwrap_err();
    assert!(e.is_invalid_input(), "{e}");
    assert!(base.priority_init(0).is_err());
    assert!(base.loopexit(Some(Duration::MAX)).is_err());
}

#[test]
fn the_base_outlives_handles_dropped_in_any_order() {
    let base = EventBase::new().unwrap();
    let t = Event::timer(&base, |_| {}).unwrap();
    t.add(Some(Duration::from_secs(1))).unwrap();
    drop(base); // the event still holds the base
    assert!(t.is_pending());
    assert_eq!(t.base().num_events(Count::ADDED), 1);
    drop(t);
}

#[test]
fn reinit_after_fork_keeps_the_base_working_in_the_child() {
    let base = EventBase::new().unwrap();
    let (a, mut b) = UnixStream::pair().unwrap();
    let got = Rc::new(Cell::new(false));
    let g = got.clone();
    let r = Event::new(&base, a.as_raw_fd(), Flags::READ, move |_| g.set(true)).unwrap();
    r.add(None).unwrap();
    // SAFETY: the child only uses async-signal-safe-enough calls on its own copies and
    // leaves with _exit, never returning into the test harness.
    match unsafe { libc::fork() } {
        0 => {
            let ok = base.reinit().is_ok() && {
                b.write_all(b"x").is_ok() && base.run(LoopFlags::ONCE).is_ok() && got.get()
            };
            // SAFETY: ends the child without running the parent's destructors.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        -1 => panic!("fork failed"),
        pid => {
            let mut status = 0;
            // SAFETY: waiting for our own child.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            assert!(
                libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                "child status {status}"
            );
        }
    }
}

#[test]
fn closed_events_report_the_peer_closing_without_reading() {
    let base = EventBase::new().unwrap();
    assert!(base.features().contains(Features::EARLY_CLOSE));
    let (a, b) = UnixStream::pair().unwrap();
    let got = Rc::new(Cell::new(Flags::empty()));
    let g = got.clone();
    let ev = Event::new(&base, a.as_raw_fd(), Flags::CLOSED, move |w| g.set(w)).unwrap();
    ev.add(None).unwrap();
    drop(b);
    base.dispatch().unwrap();
    assert!(got.get().contains(Flags::CLOSED), "{:?}", got.get());
}

#[test]
fn edge_triggered_events_fire_once_per_arrival() {
    let base = EventBase::new().unwrap();
    assert!(base.features().contains(Features::ET));
    let (a, mut b) = UnixStream::pair().unwrap();
    let fired = Rc::new(Cell::new(0));
    let f = fired.clone();
    // Never reads: level-triggered would fire on every pass, edge-triggered only on new data.
    let ev = Event::new(
        &base,
        a.as_raw_fd(),
        Flags::READ | Flags::PERSIST | Flags::ET,
        move |_| f.set(f.get() + 1),
    )
    .unwrap();
    ev.add(None).unwrap();
    b.write_all(b"one").unwrap();
    for _ in 0..5 {
        base.run(LoopFlags::NONBLOCK).unwrap();
    }
    assert_eq!(fired.get(), 1);
    b.write_all(b"two").unwrap();
    for _ in 0..5 {
        base.run(LoopFlags::NONBLOCK).unwrap();
    }
    assert_eq!(fired.get(), 2);
}

#[test]
fn debug_mode_only_before_the_first_base() {
    // Debug mode is process-wide and must come before any base, so it runs in a child
    // process of this test binary.
    if std::env::var_os("LIBEVENT_TEST_DEBUG_MODE_CHILD").is_some() {
        libevent::thread::enable_debug_mode().unwrap();
        let base = EventBase::new().unwrap();
        let t = Event::timer(&base, |_| {}).unwrap();
        t.add(Some(Duration::from_millis(1))).unwrap();
        base.dispatch().unwrap();
        let e = libevent::thread::enable_debug_mode();
        assert!(e.is_ok(), "a second call while on is a no-op");
        return;
    }
    common::rerun_in_child(
        "debug_mode_only_before_the_first_base",
        "LIBEVENT_TEST_DEBUG_MODE_CHILD",
    );
    // In this process bases exist already (other tests), or will: once one has been made
    // the call is refused.
    let _base = EventBase::new().unwrap();
    assert!(libevent::thread::enable_debug_mode()
        .unwrap_err()
        .is_invalid_input());
}

#[test]
fn common_timeouts_fire_in_order_and_belong_to_one_base() {
    let base = EventBase::new().unwrap();
    let short = base.common_timeout(Duration::from_millis(20)).unwrap();
    let long = base.common_timeout(Duration::from_millis(60)).unwrap();
    let again = base.common_timeout(Duration::from_millis(20)).unwrap();
    assert_eq!(again.duration(), short.duration());
    let order = Rc::new(RefCell::new(Vec::new()));
    let pass = Rc::new(Cell::new(0));
    let start = Instant::now();
    let mut timers = Vec::new();
    for (name, t) in [("long", long), ("short", short), ("plain", short)] {
        let (o, p) = (order.clone(), pass.clone());
        let ev = Event::timer(&base, move |_| {
            o.borrow_mut().push((name, start.elapsed(), p.get()))
        })
        .unwrap();
        if name == "plain" {
            ev.add(Some(Duration::from_millis(40))).unwrap();
        } else {
            ev.add_common(t).unwrap();
        }
        timers.push(ev);
    }
    // One loop pass at a time: a pass runs every timer that has expired by then, in an
    // order of libevent's, so the check is that no timer runs in an earlier pass than
    // one due before it (a machine that stalls the test for 40 ms makes one pass of
    // "short" and "plain").
    while order.borrow().len() < 3 {
        pass.set(pass.get() + 1);
        base.run(LoopFlags::ONCE).unwrap();
    }
    let order = order.borrow();
    let at = |name: &str| order.iter().find(|(n, ..)| *n == name).unwrap();
    assert!(at("short").2 <= at("plain").2, "{order:?}");
    assert!(at("plain").2 <= at("long").2, "{order:?}");
    // libevent's default clock is CLOCK_MONOTONIC_COARSE, which lags the precise clock
    // `start` was read from by up to one tick: a timer is never early by more than that.
    let tick = common::coarse_tick();
    for (name, due) in [("short", 20), ("plain", 40), ("long", 60)] {
        assert!(
            at(name).1 + tick >= Duration::from_millis(due),
            "{name}: {order:?}"
        );
    }

    // A common timeout of another base is refused, not misread as a huge timeout.
    let other = EventBase::new().unwrap();
    let foreign = other.common_timeout(Duration::from_millis(5)).unwrap();
    let e = timers[0].add_common(foreign).unwrap_err();
    assert!(e.to_string().contains("another event base"), "{e}");
}

// ---- event_base_once, activation by descriptor and signal, introspection ----

/// Counts drops of what a closure captures.
struct DropCount(Rc<Cell<u32>>);
impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn once_runs_on_a_descriptor_or_its_timeout_and_gets_what_fired() {
    let base = EventBase::new().unwrap();
    let (a, mut b) = UnixStream::pair().unwrap();
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    base.once(
        a.as_raw_fd(),
        Flags::READ,
        Some(Duration::from_secs(5)),
        move |w| g.borrow_mut().push(("read", w)),
    )
    .unwrap();
    let g = got.clone();
    base.once(
        a.as_raw_fd(),
        Flags::WRITE | Flags::TIMEOUT,
        Some(Duration::from_secs(5)),
        move |w| g.borrow_mut().push(("write", w)),
    )
    .unwrap();
    // Nothing is written to b: its timeout runs it. (A descriptor that is ready and a
    // timeout that has passed by the time the loop looks make one callback, and
    // libevent 2.1 then reports only TIMEOUT; the timeouts of the others are long, so
    // a slow start cannot make them race.)
    let g = got.clone();
    base.once(
        b.as_raw_fd(),
        Flags::READ,
        Some(Duration::from_millis(1)),
        move |w| g.borrow_mut().push(("timeout", w)),
    )
    .unwrap();
    b.write_all(b"x").unwrap();
    base.dispatch().unwrap();
    let got = got.borrow();
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(got
        .iter()
        .any(|(n, w)| *n == "read" && w.contains(Flags::READ)));
    assert!(got
        .iter()
        .any(|(n, w)| *n == "write" && w.contains(Flags::WRITE)));
    assert!(got
        .iter()
        .any(|(n, w)| *n == "timeout" && *w == Flags::TIMEOUT));
    assert_eq!(base.num_events(Count::ADDED), 0, "nothing left behind");
}

#[test]
fn once_closures_never_run_are_dropped_with_the_base_and_run_ones_right_after() {
    let drops = Rc::new(Cell::new(0));
    let base = EventBase::new().unwrap();
    let (a, _b) = UnixStream::pair().unwrap();
    let d = DropCount(drops.clone());
    base.once(a.as_raw_fd(), Flags::READ, None, move |_| drop(d))
        .unwrap();
    let d = DropCount(drops.clone());
    base.once(-1, Flags::empty(), None, move |_| drop(d))
        .unwrap();
    base.run(LoopFlags::NONBLOCK).unwrap();
    assert_eq!(drops.get(), 1, "the timer ran and dropped its capture");
    drop(base);
    assert_eq!(drops.get(), 2, "the one never run is dropped with the base");
}

#[test]
fn a_panic_in_a_once_closure_comes_out_of_dispatch() {
    let base = EventBase::new().unwrap();
    base.once(-1, Flags::empty(), None, |_| panic!("once panicked"))
        .unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| base.dispatch()));
    let msg = r.unwrap_err();
    assert_eq!(msg.downcast_ref::<&str>(), Some(&"once panicked"));
    base.dispatch().unwrap();
}

#[test]
fn once_refuses_what_libevent_cannot_do_once() {
    let base = EventBase::new().unwrap();
    for (fd, flags) in [
        (3, Flags::SIGNAL),
        (3, Flags::READ | Flags::PERSIST),
        (-1, Flags::READ),
    ] {
        let e = base.once(fd, flags, None, |_| {}).unwrap_err();
        assert!(e.is_invalid_input(), "{flags:?}: {e}");
    }
}

#[test]
fn once_on_a_base_made_and_run_by_c() {
    // SAFETY: a fresh base; the Rust handle goes before C frees it.
    let raw = unsafe { libevent::sys::event_base_new() };
    let ran = Rc::new(Cell::new(false));
    {
        // SAFETY: raw is live until freed below.
        let base = unsafe { EventBase::from_raw_borrowed(raw) }.unwrap();
        let r = ran.clone();
        base.once(
            -1,
            Flags::empty(),
            Some(Duration::from_millis(1)),
            move |w| {
                assert!(w.contains(Flags::TIMEOUT));
                r.set(true)
            },
        )
        .unwrap();
    } // the Rust state goes; the closure stays with libevent, to run from C's loop
      // SAFETY: raw is live; C runs its loop and frees its base.
    unsafe {
        assert_eq!(libevent::sys::event_base_dispatch(raw), 1);
        libevent::sys::event_base_free(raw);
    }
    assert!(ran.get());
}

#[test]
fn active_by_fd_and_by_signal_wake_the_events_waiting_on_them() {
    let _signals = signals();
    let base = EventBase::new().unwrap();
    let (a, _b) = UnixStream::pair().unwrap();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    let r = Event::new(
        &base,
        a.as_raw_fd(),
        Flags::READ | Flags::PERSIST,
        move |w| s.borrow_mut().push(w),
    )
    .unwrap();
    r.add(None).unwrap();
    let s = seen.clone();
    let sig = Event::signal(&base, libc::SIGUSR1, move |w| s.borrow_mut().push(w)).unwrap();
    sig.add(None).unwrap();
    base.active_by_fd(a.as_raw_fd(), Flags::READ);
    base.active_by_signal(libc::SIGUSR1);
    base.active_by_fd(9999, Flags::READ); // nothing waits on it: nothing happens
    base.run(LoopFlags::NONBLOCK).unwrap();
    let seen = seen.borrow();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen.iter().any(|w| w.contains(Flags::READ)));
    assert!(seen.iter().any(|w| w.contains(Flags::SIGNAL)));
}

#[test]
fn events_lists_each_added_event_with_its_descriptor_flags_and_priority() {
    let base = EventBase::new().unwrap();
    base.priority_init(3).unwrap();
    let (a, _b) = UnixStream::pair().unwrap();
    let r = Event::new(&base, a.as_raw_fd(), Flags::READ, |_| {}).unwrap();
    r.set_priority(2).unwrap();
    r.add(None).unwrap();
    let t = Event::timer(&base, |_| {}).unwrap();
    t.add(Some(Duration::from_secs(9))).unwrap();
    let idle = Event::timer(&base, |_| {}).unwrap(); // never added: not listed
    let list = base.events();
    let find = |e: &Event| {
        list.iter()
            .find(|i| std::ptr::eq(i.raw, e.as_raw()))
            .copied()
    };
    let ri = find(&r).expect("the read event");
    assert_eq!((ri.fd, ri.priority), (a.as_raw_fd(), 2));
    assert!(ri.flags.contains(Flags::READ));
    assert_eq!(find(&t).unwrap().fd, -1);
    assert!(find(&idle).is_none());
    assert_eq!(base.max_events(Count::ADDED, false), 2);
}
