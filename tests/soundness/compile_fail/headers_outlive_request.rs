// A request's headers are borrowed from it: they cannot outlive the reply that frees them.
use libevent::{EventBase, Http};

fn main() {
    let base = EventBase::new().unwrap();
    let http = Http::new(&base).unwrap();
    http.on_request(|req| {
        let headers = req.input_headers();
        req.send_reply(200, None, b"ok").unwrap();
        println!("{:?}", headers.get("Host"));
    });
}
