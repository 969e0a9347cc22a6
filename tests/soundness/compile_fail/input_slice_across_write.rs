// Inside a callback, a slice of the input borrows the callback's view: no other use of
// the bufferevent (a write that may run more callbacks) while it lives.
use libevent::{BufferEvent, EventBase};
use libevent::bufferevent::Options;

fn main() {
    let base = EventBase::new().unwrap();
    let (mut a, _b) = BufferEvent::pair(&base, Options::empty()).unwrap();
    a.on_read(|me| {
        let s = me.input_mut().pullup(None);
        me.write(b"x").unwrap();
        println!("{s:?}");
    });
}
