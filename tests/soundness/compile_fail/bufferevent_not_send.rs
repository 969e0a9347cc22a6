// A bufferevent belongs to its base's thread: it cannot be sent to another.
use libevent::{BufferEvent, EventBase};
use libevent::bufferevent::Options;

fn main() {
    let base = EventBase::new().unwrap();
    let (a, _b) = BufferEvent::pair(&base, Options::empty()).unwrap();
    std::thread::spawn(move || drop(a));
}
