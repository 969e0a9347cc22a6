//! `EvBuffer` operations against a `Vec<u8>` model: the operation list, the model's
//! answers (written from libevent's documentation), a run that checks every step, and
//! how a fuzzer's bytes become operations. Used by tests/buffer_model.rs (proptest) and
//! by the fuzz target fuzz/src/bin/evbuffer_ops.rs (which includes this file).
#![allow(dead_code)]

use libevent::buffer::Eol;
use libevent::EvBuffer;
use std::cell::Cell;
use std::rc::Rc;

#[derive(Debug, Clone)]
pub enum Op {
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
    /// `search_range(what, from, to)`.
    SearchRange(Vec<u8>, usize, usize),
    /// `search_eol(from, eol)`.
    SearchEol(usize, Eol),
    /// `copyout_from(pos, n)`.
    CopyoutFrom(usize, usize),
    /// `peek_at(pos, len)`.
    PeekAt(usize, Option<usize>),
    /// Moves another buffer, holding these bytes, to the front.
    PrependBuffer(Vec<u8>),
    /// Writes the bytes in place, into a reservation this much larger.
    ReserveSpace(Vec<u8>, usize),
    /// Appends the slices in one call.
    AddIovec(Vec<Vec<u8>>),
    /// References another buffer holding these bytes, then changes and drops that one.
    AddBufferReference(Vec<u8>),
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

/// Where `search_eol` finds an end of line at or after `from`: its offset and length.
fn model_search_eol(data: &[u8], from: usize, eol: Eol) -> Option<(usize, usize)> {
    let (line, used) = model_readln(data.get(from..)?, eol)?;
    Some((from + line.len(), used - line.len()))
}

fn model_search_range(data: &[u8], what: &[u8], from: usize, to: usize) -> Option<usize> {
    let to = to.min(data.len());
    if what.is_empty() || from > to {
        return None;
    }
    data[from..to]
        .windows(what.len())
        .position(|w| w == what)
        .map(|i| i + from)
}

/// Fails with the step and both sides when the buffer and the model disagree.
macro_rules! same {
    ($got:expr, $want:expr $(, $($what:tt)+)?) => {{
        let (got, want) = (&$got, &$want);
        if got != want {
            return Err(format!(
                "{:?}: got {:?}, the model says {:?} {}",
                STEP.with(|s| s.get()), got, want, String::new() $(+ &format!($($what)+))?
            ));
        }
    }};
}

thread_local! {
    /// The index of the operation being checked, for the failure message.
    static STEP: Cell<usize> = const { Cell::new(0) };
}

/// Runs `ops` on an `EvBuffer` and on the model, checking after every step: results,
/// contents, length, and at the end that every referenced chunk was released once.
pub fn check(ops: &[Op]) -> Result<(), String> {
    let mut buf = EvBuffer::new().unwrap();
    let mut model: Vec<u8> = Vec::new();
    let released = Rc::new(Cell::new(0usize));
    let mut referenced = 0usize;
    for (i, op) in ops.iter().enumerate() {
        STEP.with(|s| s.set(i));
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
                same!(&out[..got], &want[..]);
            }
            Op::Copyout(n) => {
                let mut out = vec![0u8; *n];
                let got = buf.copyout(&mut out);
                same!(&out[..got], &model[..(*n).min(model.len())]);
            }
            Op::Readln(eol) => {
                let want = model_readln(&model, *eol);
                let got = buf.readln(*eol);
                same!(
                    got.as_ref(),
                    want.as_ref().map(|(line, _)| line),
                    "{:?}",
                    eol
                );
                if let Some((_, used)) = want {
                    model.drain(..used);
                }
            }
            Op::Search(what, from) => {
                same!(buf.search(what, *from), model_search(&model, what, *from));
            }
            Op::Pullup(n) => {
                let want = match n {
                    Some(n) if *n > model.len() => None,
                    Some(n) => Some(&model[..*n]),
                    None => Some(&model[..]),
                };
                same!(buf.pullup(*n), want);
            }
            Op::AddBuffer(b) => {
                let mut other = EvBuffer::new().unwrap();
                other.add(b).unwrap();
                buf.add_buffer(&mut other).unwrap();
                same!(other.is_empty(), true);
                model.extend_from_slice(b);
            }
            Op::RemoveBuffer(n) => {
                let mut dst = EvBuffer::new().unwrap();
                let moved = buf.remove_buffer(&mut dst, *n).unwrap();
                let want: Vec<u8> = model.drain(..(*n).min(model.len())).collect();
                same!(moved, want.len());
                same!(dst.remove_all(), want);
            }
            Op::AddReference(b) => {
                let r = released.clone();
                buf.add_reference(b.clone(), move |_| r.set(r.get() + 1))
                    .unwrap();
                referenced += 1;
                model.extend_from_slice(b);
            }
            Op::Peek => {
                same!(buf.peek().concat(), model.clone());
            }
            Op::SearchRange(what, from, to) => {
                same!(
                    buf.search_range(what, *from, *to),
                    model_search_range(&model, what, *from, *to)
                );
            }
            Op::SearchEol(from, eol) => {
                same!(
                    buf.search_eol(*from, *eol),
                    model_search_eol(&model, *from, *eol),
                    "{:?}",
                    eol
                );
            }
            Op::CopyoutFrom(pos, n) => {
                let mut out = vec![0u8; *n];
                let got = buf.copyout_from(*pos, &mut out);
                let want = model
                    .get(*pos..)
                    .map_or(&[][..], |m| &m[..(*n).min(m.len())]);
                same!(&out[..got], want);
            }
            Op::PeekAt(pos, n) => {
                let rest = model.get(*pos..).unwrap_or(&[]);
                let want = &rest[..n.unwrap_or(rest.len()).min(rest.len())];
                same!(buf.peek_at(*pos, *n).concat(), want.to_vec());
            }
            Op::PrependBuffer(b) => {
                let mut other = EvBuffer::new().unwrap();
                other.add(b).unwrap();
                buf.prepend_buffer(&mut other).unwrap();
                same!(other.is_empty(), true);
                model.splice(0..0, b.iter().copied());
            }
            Op::ReserveSpace(b, extra) => {
                let k = buf
                    .reserve_space(b.len() + extra, |space| {
                        space[..b.len()].copy_from_slice(b);
                        b.len()
                    })
                    .unwrap();
                same!(k, b.len());
                model.extend_from_slice(b);
            }
            Op::AddIovec(parts) => {
                let slices: Vec<std::io::IoSlice<'_>> =
                    parts.iter().map(|p| std::io::IoSlice::new(p)).collect();
                same!(buf.add_iovec(&slices).unwrap(), parts.concat().len());
                model.extend_from_slice(&parts.concat());
            }
            Op::AddBufferReference(b) => {
                let mut src = EvBuffer::new().unwrap();
                src.add(b).unwrap();
                // A buffer holding references (or segments) cannot be referenced, and
                // this one never does; the result is what libevent says of `buf`.
                buf.add_buffer_reference(&src).unwrap();
                model.extend_from_slice(b);
                // The source changes and goes; what `buf` shares must not.
                src.add(b"tail").unwrap();
                src.prepend(b"head").unwrap();
                src.drain(3).unwrap();
                let _ = src.pullup(None);
                drop(src);
            }
        }
        same!(buf.len(), model.len());
    }
    same!(buf.remove_all(), model);
    drop(buf);
    // Every referenced chunk was handed back exactly once, drained or freed.
    same!(released.get(), referenced);
    Ok(())
}

/// A fuzzer's input as operations: each starts with a byte choosing the operation, and
/// then takes what it needs (a length byte and that many bytes, a size byte, an `Eol`
/// byte); an input that runs out ends the list.
pub fn ops_from(data: &[u8]) -> Vec<Op> {
    let mut it = data.iter().copied();
    let mut ops = Vec::new();
    let bytes = |it: &mut dyn Iterator<Item = u8>, max: usize| -> Option<Vec<u8>> {
        let n = it.next()? as usize % (max + 1);
        let v: Vec<u8> = it.take(n).collect();
        (v.len() == n).then_some(v)
    };
    let size = |it: &mut dyn Iterator<Item = u8>| it.next().map(|b| b as usize % 64);
    let eol = |b: u8| [Eol::Any, Eol::Crlf, Eol::CrlfStrict, Eol::Lf, Eol::Nul][b as usize % 5];
    while let Some(k) = it.next() {
        let op = match k % 20 {
            0 => bytes(&mut it, 48).map(Op::Add),
            1 => bytes(&mut it, 24).map(Op::Prepend),
            2 => size(&mut it).map(Op::Drain),
            3 => size(&mut it).map(Op::Remove),
            4 => size(&mut it).map(Op::Copyout),
            5 => it.next().map(|b| Op::Readln(eol(b))),
            6 => bytes(&mut it, 4).and_then(|w| Some(Op::Search(w, size(&mut it)?))),
            7 => it
                .next()
                .map(|b| Op::Pullup((b != 255).then_some(b as usize % 64))),
            8 => bytes(&mut it, 48).map(Op::AddBuffer),
            9 => size(&mut it).map(Op::RemoveBuffer),
            10 => bytes(&mut it, 48).map(Op::AddReference),
            11 => Some(Op::Peek),
            12 => bytes(&mut it, 4)
                .and_then(|w| Some(Op::SearchRange(w, size(&mut it)?, size(&mut it)?))),
            13 => size(&mut it).and_then(|f| Some(Op::SearchEol(f, eol(it.next()?)))),
            14 => size(&mut it).and_then(|p| Some(Op::CopyoutFrom(p, size(&mut it)?))),
            15 => size(&mut it).and_then(|p| {
                let n = it.next()?;
                Some(Op::PeekAt(p, (n != 255).then_some(n as usize % 64)))
            }),
            16 => bytes(&mut it, 24).map(Op::PrependBuffer),
            17 => bytes(&mut it, 48).and_then(|b| Some(Op::ReserveSpace(b, size(&mut it)?))),
            18 => it.next().and_then(|n| {
                let parts: Option<Vec<Vec<u8>>> =
                    (0..n as usize % 4).map(|_| bytes(&mut it, 16)).collect();
                parts.map(Op::AddIovec)
            }),
            _ => bytes(&mut it, 48).map(Op::AddBufferReference),
        };
        match op {
            Some(op) => ops.push(op),
            None => break,
        }
    }
    ops
}
