//! `libevent::tag` against a plain model of the tagged data format
//! (tests/common/tag_ops.rs): generated items encode to the model's bytes and decode
//! back; generated calls on arbitrary bytes (valid items, cut and corrupted ones) answer
//! and consume what the model says. The fuzz target fuzz/src/bin/evtag.rs runs the same
//! check on the fuzzer's bytes.

use proptest::prelude::*;
use std::time::Duration;

mod common;
#[path = "common/tag_ops.rs"]
mod tag_ops;
use common::cases;
use tag_ops::{check_decode, check_encode, encode, from_fuzz, Dec, Item};

/// Tags around the byte boundaries of the 7-bit encoding, and any.
fn tag() -> impl Strategy<Value = u32> {
    prop_oneof![0u32..4, 120u32..136, 16_380u32..16_390, any::<u32>()]
}

/// Integers of every nibble count.
fn int64() -> impl Strategy<Value = u64> {
    (0u32..64, any::<u64>()).prop_map(|(bits, v)| if bits == 0 { 0 } else { v >> (64 - bits) })
}

fn item() -> impl Strategy<Value = Item> {
    prop_oneof![
        (tag(), prop::collection::vec(any::<u8>(), 0..40)).prop_map(|(t, d)| Item::Raw(t, d)),
        (tag(), prop::collection::vec(any::<u8>(), 0..40)).prop_map(|(t, d)| Item::Buffer(t, d)),
        (tag(), int64()).prop_map(|(t, v)| Item::Int(t, v as u32)),
        (tag(), int64()).prop_map(|(t, v)| Item::Int64(t, v)),
        (tag(), "[a-zé ]{0,20}").prop_map(|(t, s)| Item::Str(t, s)),
        (tag(), 0u64..=u32::MAX as u64, 0u32..1_000_000)
            .prop_map(|(t, s, us)| Item::Time(t, Duration::new(s, us * 1000))),
        int64().prop_map(|v| Item::Bare(v as u32)),
        int64().prop_map(Item::Bare64),
    ]
}

fn dec() -> impl Strategy<Value = Dec> {
    let small = 0u32..4;
    prop_oneof![
        Just(Dec::Peek),
        Just(Dec::PeekLength),
        Just(Dec::PayloadLength),
        Just(Dec::Header),
        Just(Dec::Consume),
        Just(Dec::Raw),
        small.clone().prop_map(Dec::Int),
        small.clone().prop_map(Dec::Int64),
        (small.clone(), 0usize..12).prop_map(|(t, n)| Dec::Fixed(t, n)),
        small.clone().prop_map(Dec::Str),
        small.prop_map(Dec::Time),
    ]
}

/// Streams of valid items with small tags (so that calls asking for tags 0 to 3 find
/// them), then cut short or with bytes flipped.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    let items = prop::collection::vec(
        prop_oneof![
            (0u32..4, prop::collection::vec(any::<u8>(), 0..12)).prop_map(|(t, d)| Item::Raw(t, d)),
            (0u32..4, int64()).prop_map(|(t, v)| Item::Int(t, v as u32)),
            (0u32..4, int64()).prop_map(|(t, v)| Item::Int64(t, v)),
            (0u32..4, 0u64..5000, 0u32..1_000_000)
                .prop_map(|(t, s, us)| Item::Time(t, Duration::new(s, us * 1000))),
        ],
        0..6,
    );
    (
        items,
        any::<usize>(),
        prop::collection::vec((any::<usize>(), any::<u8>()), 0..3),
    )
        .prop_map(|(items, cut, flips)| {
            let mut bytes: Vec<u8> = items.iter().flat_map(encode).collect();
            if !bytes.is_empty() {
                bytes.truncate(bytes.len() - cut % (bytes.len() / 4 + 1));
                let len = bytes.len();
                for (at, x) in flips {
                    if len > 0 {
                        bytes[at % len] ^= x;
                    }
                }
            }
            bytes
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(500)))]

    #[test]
    fn items_encode_as_the_model_says_and_decode_back(items in prop::collection::vec(item(), 0..12)) {
        if let Err(e) = check_encode(&items) {
            return Err(TestCaseError::fail(e));
        }
    }

    #[test]
    fn every_call_on_any_bytes_answers_and_consumes_as_the_model_says(
        data in prop_oneof![stream(), prop::collection::vec(any::<u8>(), 0..40)],
        ops in prop::collection::vec(dec(), 1..12),
    ) {
        if let Err(e) = check_decode(&data, &ops) {
            return Err(TestCaseError::fail(e));
        }
    }
}

#[test]
fn known_bytes_from_the_format_description() {
    // The description's examples: tag 0x66 is [66], 0x166 is [e6 02] (7 bits a byte).
    assert_eq!(tag_ops::enc_tag(0x66), [0x66]);
    assert_eq!(tag_ops::enc_tag(0x166), [0xe6, 0x02]);
    // An integer: nibble count less one, then the nibbles, padded: 0x123 is 3 nibbles.
    assert_eq!(tag_ops::enc_int(0x123), [0x23, 0x21]);
    assert_eq!(tag_ops::enc_int(0), [0x00]);
    check_encode(&[Item::Raw(0x166, b"x".to_vec()), Item::Int(0x66, 0x123)]).unwrap();
}

#[test]
fn a_tag_past_32_bits_and_a_length_of_nine_nibbles_never_decode_and_are_not_waited_for() {
    // Five continuation bytes: no tag fits; the call refuses rather than wait.
    check_decode(&[0xff; 8], &[Dec::Peek, Dec::Header, Dec::Consume]).unwrap();
    // A length whose first nibble says nine nibbles follow.
    check_decode(
        &[0x01, 0x80, 0, 0, 0, 0, 0],
        &[Dec::PayloadLength, Dec::Header],
    )
    .unwrap();
}

/// The fuzz target's seed corpus and every input it ever failed on, replayed.
#[test]
fn fuzz_corpus_and_regressions_pass() {
    for (path, data) in common::fuzz_inputs("evtag", 3) {
        let (bytes, ops) = from_fuzz(&data);
        if let Err(why) = check_decode(&bytes, &ops) {
            panic!("{}: {why}", path.display());
        }
    }
}
