//! PROTOCOL.md's framing ("Framing, per connection"), written plainly from the text
//! and not from [`Framer`]'s code, and [`Framer`] driven as the server drives it: the
//! two must agree on every sequence of reads. Also how a fuzzer's bytes become reads.

use super::{Action, Framer};

/// What the connection shows: the bytes it sends, and whether it closed (QUIT).
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    pub sent: Vec<u8>,
    pub closed: bool,
}

/// PROTOCOL.md's rules 1 to 5, one read at a time.
pub fn model(reads: &[Vec<u8>], max: usize) -> Outcome {
    let trimmed = |b: &u8| b" \t\n\r\0\x0b".contains(b);
    let mut pending: Vec<u8> = Vec::new();
    let mut sent = Vec::new();
    for read in reads {
        pending.extend_from_slice(read);
        let n = pending.len();
        if !(n > max || (n > 4 && pending.ends_with(b"\r\n"))) {
            continue;
        }
        let start = pending.iter().position(|b| !trimmed(b)).unwrap_or(n);
        let end = pending
            .iter()
            .rposition(|b| !trimmed(b))
            .map_or(start, |i| i + 1);
        let msg = pending[start..end].to_vec();
        pending.clear();
        if msg.is_empty() || msg == b"0" {
            continue;
        }
        let upper = msg.to_ascii_uppercase();
        if upper == b"QUIT" {
            return Outcome { sent, closed: true };
        }
        if upper.len() > 1 {
            sent.extend_from_slice(&upper);
            sent.extend_from_slice(b"\r\n");
        }
    }
    Outcome {
        sent,
        closed: false,
    }
}

/// The same reads through [`Framer`], as the server drives it.
pub fn framer(reads: &[Vec<u8>], max: usize) -> Outcome {
    let mut f = Framer::new();
    let mut reply = Vec::new();
    let mut sent = Vec::new();
    for read in reads {
        f.extend_with(read.len(), |buf| {
            buf.copy_from_slice(read);
            read.len()
        });
        match f.decide(max, &mut reply) {
            Action::Wait | Action::Silent => {}
            Action::Reply(bytes) => sent.extend_from_slice(bytes),
            Action::Quit => return Outcome { sent, closed: true },
        }
    }
    Outcome {
        sent,
        closed: false,
    }
}

/// A fuzzer's input as reads and a message limit: the first byte picks the limit (below
/// 128: the original's 1000; else 1 to 40), then each read is a length byte and up to
/// that many bytes.
pub fn reads_from(data: &[u8]) -> (Vec<Vec<u8>>, usize) {
    let Some((&first, mut rest)) = data.split_first() else {
        return (Vec::new(), 1000);
    };
    let max = if first < 128 {
        1000
    } else {
        1 + first as usize % 40
    };
    let mut reads = Vec::new();
    while let Some((&n, after)) = rest.split_first() {
        let n = (n as usize).min(after.len());
        reads.push(after[..n].to_vec());
        rest = &after[n..];
    }
    (reads, max)
}
