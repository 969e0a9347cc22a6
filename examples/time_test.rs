//! Port of libevent's sample/time-test.c: a repeating timer that reports the time
//! elapsed between calls.
//!
//! `cargo run --example time_test -- [INTERVAL_MS] [COUNT]` (default 2000 ms, forever).

use libevent::{Event, EventBase};
use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let interval = Duration::from_millis(args.next().map_or(Ok(2000), |a| a.parse())?);
    let count: Option<u32> = args.next().map(|a| a.parse()).transpose()?;
    let base = EventBase::new()?;
    let last = Cell::new(Instant::now());
    let fired = Rc::new(Cell::new(0u32));
    let (f, b) = (fired.clone(), base.clone());
    let _timer = Event::interval(&base, interval, move |_| {
        let now = Instant::now();
        let elapsed = now - last.replace(now);
        f.set(f.get() + 1);
        println!(
            "timeout_cb called at {}: {:.3} seconds elapsed.",
            f.get(),
            elapsed.as_secs_f64()
        );
        if Some(f.get()) == count {
            let _ = b.loopbreak();
        }
    })?;
    base.dispatch()?;
    Ok(())
}
