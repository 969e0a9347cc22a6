// A slice into an evbuffer's memory ends before anything may change the buffer: a drain
// while it is alive would free what it points at.
use libevent::EvBuffer;

fn main() {
    let mut buf = EvBuffer::new().unwrap();
    buf.add(b"abc").unwrap();
    let s = buf.pullup(None).unwrap();
    buf.drain(3).unwrap();
    println!("{s:?}");
}
