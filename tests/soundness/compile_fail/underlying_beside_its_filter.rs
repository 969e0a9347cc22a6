// The underlying bufferevent's view reborrows the filter's: the two cannot be used at
// once (one group, one view in use at a time).
use libevent::bufferevent::{FilterResult, FlushMode, Options};
use libevent::{BufferEvent, EvBufferRef, EventBase};

fn pass(src: &mut EvBufferRef, dst: &mut EvBufferRef, _: isize, _: FlushMode) -> FilterResult {
    dst.add_buffer(src).ok();
    FilterResult::Ok
}

fn main() {
    let base = EventBase::new().unwrap();
    let (inner, _other) = BufferEvent::pair(&base, Options::empty()).unwrap();
    let mut outer = BufferEvent::filter(inner, pass, pass, Options::empty()).unwrap();
    outer.with(|filter| {
        let under = filter.underlying().unwrap();
        filter.write(b"through the filter").unwrap();
        under.write(b"around it").unwrap();
    });
}
