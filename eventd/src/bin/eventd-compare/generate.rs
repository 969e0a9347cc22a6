//! Sessions from a seed: the inputs where the protocol has edges (PROTOCOL.md's
//! framing), split at any position, on 1 to 3 connections, with half-closes and closes.

use crate::session::{Op, Session, Step};

/// splitmix64: small, and the same sequence on every platform and version, so that a
/// seed names the same sessions forever.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn percent(&mut self, p: usize) -> bool {
        self.below(100) < p
    }

    fn pick<'a>(&mut self, of: &'a [&'a [u8]]) -> &'a [u8] {
        of[self.below(of.len())]
    }
}

/// Session `index` of the run seeded with `seed`: each session has its own stream, so
/// one can be made again without the ones before it.
pub fn session(seed: u64, index: u64) -> Session {
    let mut rng = Rng::new(seed ^ index.wrapping_mul(0xd1b5_4a32_d192_ed03));
    rng.next();
    let conns = 1 + rng.below(3);
    let mut open: Vec<bool> = vec![true; conns];
    let mut writable: Vec<bool> = vec![true; conns];
    let mut steps = Vec::new();
    let n = 1 + rng.below(8);
    for _ in 0..n {
        let live: Vec<usize> = (0..conns).filter(|&c| open[c]).collect();
        if live.is_empty() {
            break;
        }
        let conn = live[rng.below(live.len())];
        let roll = rng.below(100);
        if roll < 8 && writable[conn] {
            writable[conn] = false;
            steps.push(Step {
                conn,
                op: Op::HalfClose,
            });
        } else if roll < 14 {
            open[conn] = false;
            steps.push(Step {
                conn,
                op: Op::Close,
            });
        } else if writable[conn] {
            let bytes = message(&mut rng);
            // A quarter of the messages arrive in two reads, split anywhere.
            if bytes.len() >= 2 && rng.percent(25) {
                let at = 1 + rng.below(bytes.len() - 1);
                steps.push(Step {
                    conn,
                    op: Op::Send(bytes[..at].to_vec()),
                });
                steps.push(Step {
                    conn,
                    op: Op::Send(bytes[at..].to_vec()),
                });
            } else {
                steps.push(Step {
                    conn,
                    op: Op::Send(bytes),
                });
            }
        }
    }
    if steps.is_empty() {
        steps.push(Step {
            conn: 0,
            op: Op::Send(b"hello\r\n".to_vec()),
        });
    }
    Session { conns, steps }
}

const ENDINGS: &[&[u8]] = &[b"\r\n", b"\r\n", b"\n", b"", b"\r\n\r\n", b"\r"];
const SPACE: &[&[u8]] = &[b"", b"", b" ", b"\t", b"\0", b"\x0b", b"  \t"];

fn word(rng: &mut Rng) -> Vec<u8> {
    let len = 1 + rng.below(12);
    (0..len)
        .map(|_| {
            let c = b'a' + rng.below(26) as u8;
            match rng.below(8) {
                0 => b' ',
                1 => c.to_ascii_uppercase(),
                _ => c,
            }
        })
        .collect()
}

fn run(rng: &mut Rng, around: usize) -> Vec<u8> {
    let len = around - 1 + rng.below(3);
    vec![b'a' + rng.below(26) as u8; len]
}

/// One client write: the kinds of input the framing rules turn on.
pub fn message(rng: &mut Rng) -> Vec<u8> {
    let mut m = Vec::new();
    match rng.below(12) {
        // A line, with whitespace around it to trim.
        0 | 1 => {
            m.extend(rng.pick(SPACE));
            m.extend(word(rng));
            m.extend(rng.pick(SPACE));
            m.extend(rng.pick(ENDINGS));
        }
        // Several lines in one write.
        2 => {
            for _ in 0..2 + rng.below(3) {
                m.extend(word(rng));
                m.extend(rng.pick(ENDINGS));
            }
        }
        // NUL bytes inside and around.
        3 => {
            m.push(0);
            m.extend(word(rng));
            m.push(0);
            m.extend(word(rng));
            m.extend(rng.pick(ENDINGS));
        }
        // QUIT in any case, maybe padded, maybe with more after it.
        4 => {
            m.extend(rng.pick(SPACE));
            for c in b"quit" {
                m.push(if rng.percent(50) {
                    c.to_ascii_uppercase()
                } else {
                    *c
                });
            }
            m.extend(rng.pick(SPACE));
            m.extend(rng.pick(ENDINGS));
            if rng.percent(20) {
                m.extend(b" now\r\n");
            }
        }
        // "0", which PHP takes for false.
        5 => {
            m.extend(rng.pick(SPACE));
            m.push(b'0');
            m.extend(rng.pick(SPACE));
            m.extend(rng.pick(ENDINGS));
        }
        // Around the 1,000-byte limit.
        6 => {
            m.extend(run(rng, 1000));
            m.extend(rng.pick(ENDINGS));
        }
        // Around one read's 4,096 bytes.
        7 => {
            m.extend(run(rng, 4096));
            m.extend(rng.pick(ENDINGS));
        }
        // Binary.
        8 => {
            let len = 1 + rng.below(48);
            m.extend((0..len).map(|_| rng.next() as u8));
        }
        // Short: one byte, four-byte lines, bare line ends.
        9 => {
            let short: &[&[u8]] = &[b"a", b"a\r\n", b"hi\r\n", b"\r\n", b"\n", b"ab", b"xyz\r\n"];
            m.extend(rng.pick(short));
        }
        // A slice of 1,024 bytes and then one "0" (where the original's read loop stops).
        10 => {
            m.extend(vec![b'x'; 1024 * (1 + rng.below(3))]);
            m.push(b'0');
        }
        // High bytes, which upper-casing leaves alone.
        _ => {
            m.extend(b"caf\xc3\xa9 \xff\x80 ");
            m.extend(word(rng));
            m.extend(rng.pick(ENDINGS));
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_names_the_same_sessions() {
        for i in 0..50 {
            assert_eq!(session(7, i), session(7, i));
        }
        assert_ne!(
            (0..20).map(|i| session(7, i)).collect::<Vec<_>>(),
            (0..20).map(|i| session(8, i)).collect::<Vec<_>>()
        );
    }

    #[test]
    fn sessions_are_valid_and_cover_the_edges() {
        let sessions: Vec<Session> = (0..1000).map(|i| session(1, i)).collect();
        for s in &sessions {
            s.validate().unwrap();
            assert!((1..=3).contains(&s.conns));
        }
        let sends = || {
            sessions
                .iter()
                .flat_map(|s| s.steps.iter())
                .filter_map(|s| match &s.op {
                    Op::Send(b) => Some(b.clone()),
                    _ => None,
                })
        };
        let has = |f: &dyn Fn(&[u8]) -> bool| sends().any(|b| f(&b));
        assert!(has(&|b| b.ends_with(b"\r\n")));
        assert!(has(&|b| b.ends_with(b"\n") && !b.ends_with(b"\r\n")));
        assert!(has(&|b| b.contains(&0)));
        assert!(has(&|b| b.windows(4).any(|w| w == b"QUIT")));
        assert!(has(&|b| b
            .windows(4)
            .any(|w| w.eq_ignore_ascii_case(b"quit")
                && w != b"QUIT"
                && w != b"quit")));
        assert!(has(&|b| b.len() == 1001));
        assert!(has(&|b| b.len() >= 4096));
        assert!(has(&|b| b.iter().any(|&c| c >= 0x80)));
        assert!(has(&|b| b.len() % 1024 == 1 && b.ends_with(b"0")));
        let ops =
            |f: &dyn Fn(&Op) -> bool| sessions.iter().flat_map(|s| &s.steps).any(|s| f(&s.op));
        assert!(ops(&|o| *o == Op::HalfClose));
        assert!(ops(&|o| *o == Op::Close));
        assert!(sessions.iter().any(|s| s.conns == 3));
    }
}
