// The view a callback receives lives for the call only: it cannot be kept.
use libevent::{BufferEvent, BufferEventRef, EventBase};
use libevent::bufferevent::Options;
use std::cell::RefCell;
use std::rc::Rc;

fn main() {
    let base = EventBase::new().unwrap();
    let (mut a, _b) = BufferEvent::pair(&base, Options::empty()).unwrap();
    let kept: Rc<RefCell<Option<&mut BufferEventRef>>> = Rc::default();
    let k = kept.clone();
    a.on_read(move |me| {
        *k.borrow_mut() = Some(me);
    });
}
