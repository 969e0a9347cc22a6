//! `EvBuffer` operation sequences against a `Vec<u8>` model: the fuzzer's bytes are the
//! operations (`ops_from`); any disagreement, or a panic, is a finding.

#[path = "../../../tests/common/evbuffer_ops.rs"]
mod evbuffer_ops;

fn main() {
    afl::fuzz!(|data: &[u8]| {
        if let Err(e) = evbuffer_ops::check(&evbuffer_ops::ops_from(data)) {
            panic!("{e}");
        }
    });
}
