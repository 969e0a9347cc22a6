//! The strict HTTP server fed arbitrary request byte streams over loopback, checked
//! against the plain framing model: a reply to a request the model does not frame, a
//! request framed otherwise, or a reply after a refusal is a finding (a panic).

#[path = "../../../tests/common/http_model.rs"]
mod http_model;

use std::net::SocketAddr;
use std::sync::OnceLock;

fn main() {
    // Started on the first input, inside the process AFL runs (after its fork).
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    afl::fuzz!(|data: &[u8]| {
        let addr = *ADDR.get_or_init(http_model::spawn_server);
        if let Err(e) = http_model::check(addr, data) {
            panic!("{e}");
        }
    });
}
