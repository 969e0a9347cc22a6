// A request owes one reply: replying consumes it, so nothing can touch the C request
// libevent frees once the reply is written.
use libevent::{EventBase, Http};

fn main() {
    let base = EventBase::new().unwrap();
    let http = Http::new(&base).unwrap();
    http.on_request(|req| {
        req.send_reply(200, None, b"ok").unwrap();
        println!("{}", req.uri());
    });
}
