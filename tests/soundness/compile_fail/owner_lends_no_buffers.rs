//! The owner hands out no reference into the bufferevent: a slice of its input taken
//! through the owner could be held across a loop run (whose read callback drains that
//! input). Such references come only from a callback's view or from `with`.
use libevent::{BufferEvent, EventBase};
use libevent::bufferevent::Options;

fn main() {
    let base = EventBase::new().unwrap();
    let (mut a, _b) = BufferEvent::pair(&base, Options::empty()).unwrap();
    let slice = a.input_mut().pullup(None);
    base.run(libevent::LoopFlags::NONBLOCK).unwrap();
    println!("{:?}", slice);
}
