//! What a Rust closure callback costs over a plain C callback, on the same libevent.
//! Prints the time per event for each and the ratio (Rust / C). Run with
//! `cargo bench -p c-interop --bench overhead`.
//!
//! Both sides are driven by the same raw calls: only the callback differs (a C function,
//! or the safe crate's trampoline with its panic guard and the user's closure).

use c_interop::{c_bench_count_cb, BenchCounter};
use libevent::base::{BaseFlags, Config};
use libevent::event::Flags;
use libevent::{Event, EventBase};
use libevent_sys as sys;
use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

const N: i64 = 1_000_000;
const ROUNDS: usize = 5;

/// One million `event_active` + one non-blocking loop pass.
fn activations(ev: *mut sys::event, base: &EventBase) -> Duration {
    let start = Instant::now();
    for _ in 0..N {
        // SAFETY: ev and base are live for the whole run.
        unsafe {
            sys::event_active(ev, sys::EV_READ, 0);
            sys::event_base_loop(base.as_raw(), sys::EVLOOP_NONBLOCK);
        }
    }
    start.elapsed()
}

/// A persistent 1 µs timer (libevent does not re-arm a zero timeout) that fires once per
/// loop pass until the callback breaks the loop after one million. The base uses the
/// precise timer (timerfd), or epoll would round each wait up to a millisecond.
fn timer_fires(ev: *mut sys::event, base: &EventBase) -> Duration {
    let zero = libc::timeval {
        tv_sec: 0,
        tv_usec: 1,
    };
    let start = Instant::now();
    // SAFETY: ev and base are live; the callback breaks the loop at N.
    unsafe {
        sys::event_add(ev, &zero);
        sys::event_base_dispatch(base.as_raw());
        sys::event_del(ev);
    }
    start.elapsed()
}

fn c_side(base: &EventBase, what: Driver, flags: i32) -> Duration {
    let mut counter = BenchCounter {
        count: 0,
        limit: N,
        base: base.as_raw(),
    };
    // SAFETY: the counter outlives the event, freed below.
    let ev = unsafe {
        sys::event_new(
            base.as_raw(),
            -1,
            flags as i16,
            Some(c_bench_count_cb),
            &mut counter as *mut _ as *mut libc::c_void,
        )
    };
    let t = what(ev, base);
    // SAFETY: made above, freed once.
    unsafe { sys::event_free(ev) };
    assert_eq!(counter.count, N);
    t
}

fn rust_side(base: &EventBase, what: Driver, flags: Flags) -> Duration {
    let count = Rc::new(Cell::new(0i64));
    let (c, b) = (count.clone(), base.clone());
    let ev = Event::new(base, -1, flags, move |_| {
        c.set(c.get() + 1);
        if c.get() == N {
            let _ = b.loopbreak();
        }
    })
    .unwrap();
    let t = what(ev.as_raw(), base);
    assert_eq!(count.get(), N);
    t
}

/// How to drive the event, and the base to do it on.
type Driver = fn(*mut sys::event, &EventBase) -> Duration;
type Case<'a> = (&'a str, Driver, Flags, &'a EventBase);

/// The best run: on a shared 2-core machine the scheduler only ever adds time.
fn best(v: Vec<Duration>) -> Duration {
    v.into_iter().min().unwrap()
}

fn main() {
    let plain = EventBase::new().unwrap();
    let mut cfg = Config::new().unwrap();
    cfg.flags(BaseFlags::PRECISE_TIMER).unwrap();
    let precise = EventBase::with_config(&cfg).unwrap();
    println!(
        "{} events per run, best of {ROUNDS} interleaved runs, backend {}",
        N,
        plain.method()
    );
    println!(
        "{:<22} {:>12} {:>12} {:>8}",
        "", "C ns/event", "Rust ns/event", "Rust/C"
    );
    let cases: [Case; 2] = [
        ("manual activations", activations, Flags::empty(), &plain),
        ("timer fires", timer_fires, Flags::PERSIST, &precise),
    ];
    for (name, what, flags, base) in cases {
        let (mut c, mut r) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            c.push(c_side(base, what, i32::from(flags.bits())));
            r.push(rust_side(base, what, flags));
        }
        let (c, r) = (best(c), best(r));
        let per = |d: Duration| d.as_nanos() as f64 / N as f64;
        println!(
            "{name:<22} {:>12.1} {:>12.1} {:>8.3}",
            per(c),
            per(r),
            per(r) / per(c)
        );
    }
}
