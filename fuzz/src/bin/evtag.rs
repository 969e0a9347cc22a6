//! evtag decoding (`libevent::tag`) against a plain model of the tagged data format: the
//! fuzzer's bytes are a few calls and the data they decode (`from_fuzz`); a disagreement
//! in an answer or in what was consumed, or a panic, is a finding. libevent 2.1.13 fixed
//! an out-of-bounds read and an integer overflow in this decoder.

#[path = "../../../tests/common/tag_ops.rs"]
mod tag_ops;

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let (bytes, ops) = tag_ops::from_fuzz(data);
        if let Err(e) = tag_ops::check_decode(&bytes, &ops) {
            panic!("{e}");
        }
    });
}
