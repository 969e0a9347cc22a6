//! Port of libevent's sample/signal-test.c: reports SIGINT, and exits on the second.

use libevent::event::Flags;
use libevent::{Event, EventBase};
use std::cell::{Cell, RefCell};
use std::rc::Rc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base = EventBase::new()?;
    let called = Cell::new(0);
    let slot: Rc<RefCell<Option<Event>>> = Rc::default();
    let s = slot.clone();
    let ev = Event::signal(&base, libc::SIGINT, move |_| {
        println!("signal_cb: got signal {}", libc::SIGINT);
        called.set(called.get() + 1);
        if called.get() >= 2 {
            // Deleting (here: dropping) the event from inside its own callback.
            s.borrow_mut().take();
        }
    })?;
    ev.add(None)?;
    assert!(ev.pending(Flags::SIGNAL).contains(Flags::SIGNAL));
    *slot.borrow_mut() = Some(ev);
    println!("ready: send SIGINT twice (pid {})", std::process::id());
    base.dispatch()?;
    println!("done");
    Ok(())
}
