//! `EvBuffer` against a `Vec<u8>` model: generated sequences of every operation that
//! changes or reads a buffer, checked after each step (contents, length, results).

use libevent::{Eol, EvBuffer};
use proptest::prelude::*;

mod common;
use common::cases;
use std::cell::Cell;
use std::rc::Rc;

#[derive(Debug, Clone)]
enum Op {
    Add(Vec<u8>),
    Prepend(Vec<u8>),
    Drain(usize),
    Remove(usize),
    Copyout(usize),
    Readln(Eol),
    Search(Vec<u8>, usize),
    Pullup(Option<usize>),
    /// Moves another buffer, holding these bytes, to the end.
    AddBuffer(Vec<u8>),
    /// Moves up to n bytes from the front into another buffer.
    RemoveBuffer(usize),
    /// Appends without copying.
    AddReference(Vec<u8>),
    Peek,
}

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
    ]
}

/// The line `readln` takes from `data` under `eol`, and how many bytes it consumes, as
/// libevent documents each style.
fn model_readln(data: &[u8], eol: Eol) -> Option<(Vec<u8>, usize)> {
    let (at, eol_len) = match eol {
        // Any run of CR and LF characters.
        Eol::Any => {
            let at = data.iter().position(|&b| b == b'\r' || b == b'\n')?;
            let run = data[at..]
                .iter()
                .take_while(|&&b| b == b'\r' || b == b'\n')
                .count();
            (at, run)
        }
        // A LF, with the CR before it if there is one.
        Eol::Crlf => {
            let lf = data.iter().position(|&b| b == b'\n')?;
            if lf > 0 && data[lf - 1] == b'\r' {
                (lf - 1, 2)
            } else {
                (lf, 1)
            }
        }
        Eol::CrlfStrict => (data.windows(2).position(|w| w == b"\r\n")?, 2),
        Eol::Lf => (data.iter().position(|&b| b == b'\n')?, 1),
        Eol::Nul => (data.iter().position(|&b| b == 0)?, 1),
    };
    Some((data[..at].to_vec(), at + eol_len))
}

fn model_search(data: &[u8], what: &[u8], from: usize) -> Option<usize> {
    if what.is_empty() || from >= data.len() {
        return None;
    }
    data[from..]
        .windows(what.len())
        .position(|w| w == what)
        .map(|i| i + from)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(500)))]

    #[test]
    fn evbuffer_behaves_as_a_byte_vector(ops in prop::collection::vec(op(), 1..40)) {
        let mut buf = EvBuffer::new().unwrap();
        let mut model: Vec<u8> = Vec::new();
        let released = Rc::new(Cell::new(0usize));
        let mut referenced = 0usize;
        for op in &ops {
            match op {
                Op::Add(b) => {
                    buf.add(b).unwrap();
                    model.extend_from_slice(b);
                }
                Op::Prepend(b) => {
                    buf.prepend(b).unwrap();
                    model.splice(0..0, b.iter().copied());
                }
                Op::Drain(n) => {
                    buf.drain(*n).unwrap();
                    model.drain(..(*n).min(model.len()));
                }
                Op::Remove(n) => {
                    let mut out = vec![0u8; *n];
                    let got = buf.remove(&mut out);
                    let want: Vec<u8> = model.drain(..(*n).min(model.len())).collect();
                    prop_assert_eq!(&out[..got], &want[..]);
                }
                Op::Copyout(n) => {
                    let mut out = vec![0u8; *n];
                    let got = buf.copyout(&mut out);
                    prop_assert_eq!(&out[..got], &model[..(*n).min(model.len())]);
                }
                Op::Readln(eol) => {
                    let want = model_readln(&model, *eol);
                    let got = buf.readln(*eol);
                    prop_assert_eq!(got.as_ref(), want.as_ref().map(|(line, _)| line), "{:?}", eol);
                    if let Some((_, used)) = want {
                        model.drain(..used);
                    }
                }
                Op::Search(what, from) => {
                    prop_assert_eq!(buf.search(what, *from), model_search(&model, what, *from));
                }
                Op::Pullup(n) => {
                    let want = match n {
                        Some(n) if *n > model.len() => None,
                        Some(n) => Some(&model[..*n]),
                        None => Some(&model[..]),
                    };
                    prop_assert_eq!(buf.pullup(*n), want);
                }
                Op::AddBuffer(b) => {
                    let mut other = EvBuffer::new().unwrap();
                    other.add(b).unwrap();
                    buf.add_buffer(&mut other).unwrap();
                    prop_assert!(other.is_empty());
                    model.extend_from_slice(b);
                }
                Op::RemoveBuffer(n) => {
                    let mut dst = EvBuffer::new().unwrap();
                    let moved = buf.remove_buffer(&mut dst, *n).unwrap();
                    let want: Vec<u8> = model.drain(..(*n).min(model.len())).collect();
                    prop_assert_eq!(moved, want.len());
                    prop_assert_eq!(dst.remove_all(), want);
                }
                Op::AddReference(b) => {
                    let r = released.clone();
                    buf.add_reference(b.clone(), move |_| r.set(r.get() + 1)).unwrap();
                    referenced += 1;
                    model.extend_from_slice(b);
                }
                Op::Peek => {
                    prop_assert_eq!(buf.peek().concat(), model.clone());
                }
            }
            prop_assert_eq!(buf.len(), model.len());
        }
        prop_assert_eq!(buf.remove_all(), model);
        drop(buf);
        // Every referenced chunk was handed back exactly once, drained or freed.
        prop_assert_eq!(released.get(), referenced);
    }
}
