//! eventd's framing (`Framer`) against PROTOCOL.md's rules written plainly: the fuzzer's
//! bytes are a message limit and a sequence of reads (`model::reads_from`); both must
//! send the same bytes and close alike.

#[path = "../../../eventd/src/protocol.rs"]
#[allow(dead_code)]
mod protocol;

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let (reads, max) = protocol::model::reads_from(data);
        assert_eq!(
            protocol::model::framer(&reads, max),
            protocol::model::model(&reads, max)
        );
    });
}
