// A slice of the request's body is borrowed from the request: it cannot be held across
// the reply, after which libevent frees the request and its buffers.
use libevent::{EventBase, Http};

fn main() {
    let base = EventBase::new().unwrap();
    let http = Http::new(&base).unwrap();
    http.on_request(|mut req| {
        let body = req.input_buffer().pullup(None);
        req.send_reply(200, None, b"ok").unwrap();
        println!("{:?}", body);
    });
}
