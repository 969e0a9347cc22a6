//! `EvBuffer` against a `Vec<u8>` model: generated sequences of every operation that
//! changes or reads a buffer, checked after each step (contents, length, results).

use libevent::buffer::Eol;
use proptest::prelude::*;

mod common;
#[path = "common/evbuffer_ops.rs"]
mod evbuffer_ops;
use common::cases;
use evbuffer_ops::{check, ops_from, Op};

/// Bytes rich in line ends and repeats, so that readln and search find things.
fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(b"ab\r\n\0x".to_vec()), 0..max)
}

fn eol() -> impl Strategy<Value = Eol> {
    prop::sample::select(vec![
        Eol::Any,
        Eol::Crlf,
        Eol::CrlfStrict,
        Eol::Lf,
        Eol::Nul,
    ])
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => bytes(40).prop_map(Op::Add),
        2 => bytes(20).prop_map(Op::Prepend),
        // Sizes past the contents as well (drain and remove take what there is).
        2 => (0usize..60).prop_map(Op::Drain),
        2 => (0usize..60).prop_map(Op::Remove),
        1 => (0usize..60).prop_map(Op::Copyout),
        3 => eol().prop_map(Op::Readln),
        2 => (bytes(4), 0usize..60).prop_map(|(w, f)| Op::Search(w, f)),
        1 => prop::option::of(0usize..60).prop_map(Op::Pullup),
        2 => bytes(40).prop_map(Op::AddBuffer),
        1 => (0usize..60).prop_map(Op::RemoveBuffer),
        2 => bytes(40).prop_map(Op::AddReference),
        1 => Just(Op::Peek),
        2 => (bytes(4), 0usize..60, 0usize..60).prop_map(|(w, f, t)| Op::SearchRange(w, f, t)),
        2 => (0usize..60, eol()).prop_map(|(f, e)| Op::SearchEol(f, e)),
        1 => (0usize..60, 0usize..60).prop_map(|(p, n)| Op::CopyoutFrom(p, n)),
        1 => (0usize..60, prop::option::of(0usize..60)).prop_map(|(p, n)| Op::PeekAt(p, n)),
        1 => bytes(20).prop_map(Op::PrependBuffer),
        2 => (bytes(40), 0usize..40).prop_map(|(b, x)| Op::ReserveSpace(b, x)),
        1 => prop::collection::vec(bytes(12), 0..4).prop_map(Op::AddIovec),
        1 => bytes(40).prop_map(Op::AddBufferReference),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(500)))]

    #[test]
    fn evbuffer_behaves_as_a_byte_vector(ops in prop::collection::vec(op(), 1..40)) {
        if let Err(e) = check(&ops) {
            return Err(TestCaseError::fail(e));
        }
    }
}

/// The fuzz target's seed corpus and every input it ever failed on (fuzz/, see
/// scripts/fuzz.sh), replayed without the fuzzer.
#[test]
fn fuzz_corpus_and_regressions_pass() {
    for (path, data) in common::fuzz_inputs("evbuffer_ops", 4) {
        if let Err(why) = check(&ops_from(&data)) {
            panic!("{}: {why}", path.display());
        }
    }
}
