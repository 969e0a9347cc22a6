//! `libevent::tag` against a plain model of the tagged data format, written from the
//! format's description (event_tagging.c's header comment) and tag.h: encoding items to
//! bytes, and what each decoding call does to any bytes at all (its answer, and how
//! much of the buffer it consumes). Used by tests/tag_model.rs (proptest) and by the fuzz
//! target fuzz/src/bin/evtag.rs (which includes this file).
#![allow(dead_code)]

use libevent::{tag, ErrorKind, EvBuffer};
use std::time::Duration;

/// An item to marshal.
#[derive(Debug, Clone)]
pub enum Item {
    Raw(u32, Vec<u8>),
    Buffer(u32, Vec<u8>),
    Int(u32, u32),
    Int64(u32, u64),
    Str(u32, String),
    Time(u32, Duration),
    /// A bare integer (`encode_int`), no tag or length.
    Bare(u32),
    Bare64(u64),
}

/// The format's integer: a nibble saying how many nibbles follow, less one, then the
/// nibbles, least significant first from the low half of the first byte, padded to a
/// whole byte.
pub fn enc_int(v: u64) -> Vec<u8> {
    let mut nibbles = Vec::new();
    let mut x = v;
    while x != 0 {
        nibbles.push((x & 0xf) as u8);
        x >>= 4;
    }
    let count = nibbles.len().saturating_sub(1) as u8;
    // Nibble slots: [count, n0, n1, n2, ...], two to a byte, high half first.
    let mut slots = vec![count];
    slots.extend(&nibbles);
    if slots.len() % 2 == 1 {
        slots.push(0);
    }
    slots.chunks(2).map(|p| (p[0] << 4) | p[1]).collect()
}

/// The format's tag: 7 bits a byte, least significant first, the high bit on all bytes
/// but the last.
pub fn enc_tag(mut tag: u32) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let low = (tag & 0x7f) as u8;
        tag >>= 7;
        if tag == 0 {
            out.push(low);
            return out;
        }
        out.push(low | 0x80);
    }
}

fn item_bytes(tag: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = enc_tag(tag);
    v.extend(enc_int(payload.len() as u64));
    v.extend(payload);
    v
}

pub fn encode(item: &Item) -> Vec<u8> {
    match item {
        Item::Raw(t, d) | Item::Buffer(t, d) => item_bytes(*t, d),
        Item::Int(t, v) => item_bytes(*t, &enc_int((*v).into())),
        Item::Int64(t, v) => item_bytes(*t, &enc_int(*v)),
        Item::Str(t, s) => item_bytes(*t, s.as_bytes()),
        Item::Time(t, d) => {
            let mut p = enc_int(d.as_secs());
            p.extend(enc_int(d.subsec_micros().into()));
            item_bytes(*t, &p)
        }
        Item::Bare(v) => enc_int((*v).into()),
        Item::Bare64(v) => enc_int(*v),
    }
}

/// Decodes an integer of at most `max` nibbles from the front of `data`: its value and
/// the bytes it took.
pub fn dec_int(data: &[u8], max: usize) -> Option<(u64, usize)> {
    let first = *data.first()?;
    let nibbles = usize::from(first >> 4) + 1;
    if nibbles > max {
        return None;
    }
    let len = nibbles / 2 + 1;
    let bytes = data.get(..len)?;
    let mut v = 0u64;
    for k in (1..=nibbles).rev() {
        let b = bytes[k / 2];
        v = (v << 4) | u64::from(if k % 2 == 1 { b & 0xf } else { b >> 4 });
    }
    Some((v, len))
}

/// Decodes a tag from the front of `data`: `Err(true)` when it may still be arriving,
/// `Err(false)` when it can never decode (more than 32 bits or 5 bytes).
pub fn dec_tag(data: &[u8]) -> Result<(u32, usize), bool> {
    let mut tag = 0u64;
    for i in 0..5 {
        let b = *data.get(i).ok_or(true)?;
        tag |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return u32::try_from(tag).map(|t| (t, i + 1)).map_err(|_| false);
        }
    }
    Err(false)
}

/// A decoding call.
#[derive(Debug, Clone, Copy)]
pub enum Dec {
    Peek,
    PeekLength,
    PayloadLength,
    Header,
    Consume,
    Raw,
    Int(u32),
    Int64(u32),
    Fixed(u32, usize),
    Str(u32),
    Time(u32),
}

/// What a call answers, in a form both sides produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// peek, peek_length, payload_length.
    Maybe(Option<u64>),
    Tag(u32, usize),
    Int(u64),
    Bytes(Vec<u8>),
    Time(Duration),
    Done,
    /// Nothing consumed: still arriving.
    WouldBlock,
    /// Nothing consumed: another tag, another length, or a header that never decodes.
    Refused,
    /// The whole item consumed: its payload did not decode.
    Malformed,
}

/// The model: the answer to `op` on `data`, and how many bytes it consumes.
pub fn model(op: Dec, data: &[u8]) -> (Answer, usize) {
    let tag = dec_tag(data);
    let length = tag
        .ok()
        .and_then(|(_, t)| dec_int(&data[t..], 8).map(|(l, n)| (t, n, l)));
    match op {
        Dec::Peek => return (Answer::Maybe(tag.ok().map(|(t, _)| t.into())), 0),
        Dec::PayloadLength => return (Answer::Maybe(length.map(|(_, _, l)| l)), 0),
        Dec::PeekLength => {
            let whole = length
                .map(|(t, n, l)| l + (t + n) as u64)
                .filter(|w| *w <= u32::MAX as u64);
            return (Answer::Maybe(whole), 0);
        }
        _ => {}
    }
    let (t, hlen, plen) = match (tag, length) {
        (Err(false), _) => return (Answer::Refused, 0),
        (Err(true), _) => return (Answer::WouldBlock, 0),
        (Ok((t, tl)), Some((_, n, l))) => (t, tl + n, l),
        (Ok((_, tl)), None) => {
            // The length: too many nibbles never decodes; too few bytes may yet come.
            let bad = data.get(tl).is_some_and(|b| usize::from(b >> 4) + 1 > 8);
            return (
                if bad {
                    Answer::Refused
                } else {
                    Answer::WouldBlock
                },
                0,
            );
        }
    };
    if plen > i32::MAX as u64 {
        return (Answer::Refused, 0);
    }
    let plen = plen as usize;
    if data.len() < hlen + plen {
        return (Answer::WouldBlock, 0);
    }
    let need = match op {
        Dec::Int(n) | Dec::Int64(n) | Dec::Fixed(n, _) | Dec::Str(n) | Dec::Time(n) => Some(n),
        _ => None,
    };
    if need.is_some_and(|n| n != t) {
        return (Answer::Refused, 0);
    }
    let payload = &data[hlen..hlen + plen];
    let whole = hlen + plen;
    // libevent decodes an integer from the payload's start, reading on past it if the
    // encoding says so, and then fails if it ran past.
    let int = |max| match dec_int(&data[hlen..], max) {
        Some((v, used)) if used <= plen => (Answer::Int(v), whole),
        _ => (Answer::Malformed, whole),
    };
    match op {
        Dec::Header => (Answer::Tag(t, plen), hlen),
        Dec::Consume => (Answer::Done, whole),
        Dec::Raw => (Answer::Tag(t, plen), whole),
        Dec::Int(_) => int(8),
        Dec::Int64(_) => int(16),
        Dec::Fixed(_, n) if n != plen => (Answer::Refused, 0),
        Dec::Fixed(..) | Dec::Str(_) => (Answer::Bytes(payload.to_vec()), whole),
        Dec::Time(_) => {
            let Some((secs, a)) = dec_int(&data[hlen..], 8) else {
                return (Answer::Malformed, whole);
            };
            let Some((usecs, b)) = dec_int(&data[hlen + a..], 8) else {
                return (Answer::Malformed, whole);
            };
            if a + b > plen || usecs >= 1_000_000 {
                return (Answer::Malformed, whole);
            }
            (
                Answer::Time(Duration::new(secs, usecs as u32 * 1000)),
                whole,
            )
        }
        Dec::Peek | Dec::PeekLength | Dec::PayloadLength => unreachable!(),
    }
}

fn answer<T>(r: libevent::Result<T>, ok: impl FnOnce(T) -> Answer) -> Answer {
    match r {
        Ok(v) => ok(v),
        Err(e) => match e.kind() {
            ErrorKind::WouldBlock => Answer::WouldBlock,
            ErrorKind::InvalidInput(why) if why.contains("consumed") => Answer::Malformed,
            ErrorKind::InvalidInput(_) => Answer::Refused,
            other => panic!("unexpected error {other:?}: {e}"),
        },
    }
}

/// The wrapper's answer to `op` on `buf`.
pub fn run(op: Dec, buf: &mut EvBuffer) -> Answer {
    match op {
        Dec::Peek => Answer::Maybe(tag::peek(buf).map(u64::from)),
        Dec::PeekLength => Answer::Maybe(tag::peek_length(buf).map(|l| l as u64)),
        Dec::PayloadLength => Answer::Maybe(tag::payload_length(buf).map(|l| l as u64)),
        Dec::Header => answer(tag::unmarshal_header(buf), |(t, l)| Answer::Tag(t, l)),
        Dec::Consume => answer(tag::consume(buf), |()| Answer::Done),
        Dec::Raw => {
            let mut dst = EvBuffer::new().unwrap();
            let a = answer(tag::unmarshal(buf, &mut dst), |(t, l)| Answer::Tag(t, l));
            if let Answer::Tag(_, l) = a {
                assert_eq!(dst.len(), l, "the payload moved to dst");
            }
            a
        }
        Dec::Int(t) => answer(tag::unmarshal_int(buf, t), |v| Answer::Int(v.into())),
        Dec::Int64(t) => answer(tag::unmarshal_int64(buf, t), Answer::Int),
        Dec::Fixed(t, n) => {
            let mut out = vec![0u8; n];
            answer(tag::unmarshal_fixed(buf, t, &mut out), |()| {
                Answer::Bytes(out)
            })
        }
        Dec::Str(t) => answer(tag::unmarshal_string(buf, t), Answer::Bytes),
        Dec::Time(t) => answer(tag::unmarshal_timeval(buf, t), Answer::Time),
    }
}

/// Runs `ops` on `data` through the wrapper and through the model, step by step:
/// answers, and what is left in the buffer.
pub fn check_decode(data: &[u8], ops: &[Dec]) -> Result<(), String> {
    let mut buf = EvBuffer::new().unwrap();
    buf.add(data).unwrap();
    let mut rest = data.to_vec();
    for (i, op) in ops.iter().enumerate() {
        let (want, used) = model(*op, &rest);
        let got = run(*op, &mut buf);
        if got != want {
            return Err(format!(
                "step {i} {op:?} on {rest:02x?}: got {got:?}, the model says {want:?}"
            ));
        }
        rest.drain(..used);
        let mut now = vec![0u8; buf.len()];
        buf.copyout(&mut now);
        if now != rest {
            return Err(format!(
                "step {i} {op:?}: left {now:02x?}, the model left {rest:02x?}"
            ));
        }
    }
    Ok(())
}

/// Marshals `items` through the wrapper, checks the bytes against the model's encoding,
/// then decodes each back with the matching call.
pub fn check_encode(items: &[Item]) -> Result<(), String> {
    let mut buf = EvBuffer::new().unwrap();
    let mut want = Vec::new();
    for it in items {
        match it {
            Item::Raw(t, d) => tag::marshal(&mut buf, *t, d),
            Item::Buffer(t, d) => {
                let mut src = EvBuffer::new().unwrap();
                src.add(d).unwrap();
                tag::marshal_buffer(&mut buf, *t, &mut src)
            }
            Item::Int(t, v) => tag::marshal_int(&mut buf, *t, *v),
            Item::Int64(t, v) => tag::marshal_int64(&mut buf, *t, *v),
            Item::Str(t, s) => tag::marshal_string(&mut buf, *t, s),
            Item::Time(t, d) => tag::marshal_timeval(&mut buf, *t, *d),
            Item::Bare(v) => tag::encode_int(&mut buf, *v),
            Item::Bare64(v) => tag::encode_int64(&mut buf, *v),
        }
        .map_err(|e| format!("{it:?}: {e}"))?;
        want.extend(encode(it));
    }
    let mut got = vec![0u8; buf.len()];
    buf.copyout(&mut got);
    if got != want {
        return Err(format!("encoded {got:02x?}, the model says {want:02x?}"));
    }
    for it in items {
        let ok = match it {
            Item::Raw(t, d) | Item::Buffer(t, d) => {
                let mut dst = EvBuffer::new().unwrap();
                tag::unmarshal(&mut buf, &mut dst).map(|(tt, _)| tt == *t && dst.remove_all() == *d)
            }
            Item::Int(t, v) => tag::unmarshal_int(&mut buf, *t).map(|x| x == *v),
            Item::Int64(t, v) => tag::unmarshal_int64(&mut buf, *t).map(|x| x == *v),
            Item::Str(t, s) => tag::unmarshal_string(&mut buf, *t).map(|x| x == s.as_bytes()),
            Item::Time(t, d) => tag::unmarshal_timeval(&mut buf, *t)
                .map(|x| x == Duration::new(d.as_secs(), d.subsec_micros() * 1000)),
            Item::Bare(v) => {
                let e = enc_int((*v).into());
                let mut b = vec![0u8; e.len()];
                Ok(buf.remove(&mut b) == e.len() && b == e)
            }
            Item::Bare64(v) => {
                let e = enc_int(*v);
                let mut b = vec![0u8; e.len()];
                Ok(buf.remove(&mut b) == e.len() && b == e)
            }
        };
        match ok {
            Ok(true) => {}
            Ok(false) => return Err(format!("{it:?} decoded to something else")),
            Err(e) => return Err(format!("{it:?} did not decode: {e}")),
        }
    }
    if !buf.is_empty() {
        return Err(format!("{} bytes left over", buf.len()));
    }
    Ok(())
}

/// A fuzzer's input as data and calls: the first byte says how many of the next bytes
/// are calls (each: the call in its low nibble, a small tag in its high one); the rest
/// is the data.
pub fn from_fuzz(input: &[u8]) -> (Vec<u8>, Vec<Dec>) {
    let Some((&n, rest)) = input.split_first() else {
        return (Vec::new(), Vec::new());
    };
    let n = usize::from(n % 16).min(rest.len());
    let ops = rest[..n]
        .iter()
        .map(|&b| {
            let t = u32::from(b >> 4);
            match b % 11 {
                0 => Dec::Peek,
                1 => Dec::PeekLength,
                2 => Dec::PayloadLength,
                3 => Dec::Header,
                4 => Dec::Consume,
                5 => Dec::Raw,
                6 => Dec::Int(t),
                7 => Dec::Int64(t),
                8 => Dec::Fixed(t, usize::from(b >> 4)),
                9 => Dec::Str(t),
                _ => Dec::Time(t),
            }
        })
        .collect();
    (rest[n..].to_vec(), ops)
}
