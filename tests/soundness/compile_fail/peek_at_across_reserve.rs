// A slice `peek_at` lends is borrowed from the buffer: it cannot be held across a call
// that writes into it (reserve_space appends, and may move the chunks).
use libevent::EvBuffer;

fn main() {
    let mut buf = EvBuffer::new().unwrap();
    buf.add(b"abc").unwrap();
    let chunks = buf.peek_at(1, None);
    buf.reserve_space(8, |s| {
        s[0] = b'x';
        1
    })
    .unwrap();
    println!("{:?}", chunks);
}
