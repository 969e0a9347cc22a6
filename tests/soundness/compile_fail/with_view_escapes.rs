//! A slice of the buffer `with` lends cannot outlive the closure: after it, the loop may
//! run and drain that buffer.
use libevent::{BufferEvent, EventBase};
use libevent::bufferevent::Options;

fn main() {
    let base = EventBase::new().unwrap();
    let (mut a, _b) = BufferEvent::pair(&base, Options::empty()).unwrap();
    let slice = a.with(|bev| bev.input_mut().pullup(None));
    base.run(libevent::LoopFlags::NONBLOCK).unwrap();
    println!("{:?}", slice);
}
