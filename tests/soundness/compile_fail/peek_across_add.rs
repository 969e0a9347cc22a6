// peek's slices borrow the buffer: an add (which may move or free chains) must wait.
use libevent::EvBuffer;

fn main() {
    let mut buf = EvBuffer::new().unwrap();
    buf.add(b"abc").unwrap();
    let chunks = buf.peek();
    buf.add(b"def").unwrap();
    println!("{}", chunks.len());
}
