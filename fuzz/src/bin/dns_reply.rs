//! The evdns client fed arbitrary replies from a local UDP server: a crash, a callback
//! run other than once, or an address with another port is a finding.

#[path = "../../../tests/common/dns_replies.rs"]
mod dns_replies;

fn main() {
    afl::fuzz!(|data: &[u8]| {
        if let Err(e) = dns_replies::check(data) {
            panic!("{e}");
        }
    });
}
