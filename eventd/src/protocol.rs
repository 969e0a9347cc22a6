//! The framing rules of the PHP daemon (PROTOCOL.md), as a pure function of the bytes
//! received: no I/O, so every rule is tested on its own.

/// What the server does after a read.
#[derive(Debug, PartialEq, Eq)]
pub enum Action<'a> {
    /// No message is complete yet; keep the bytes.
    Wait,
    /// A message was taken but gets no answer (empty, "0", or one byte long).
    Silent,
    /// Send these bytes (the upper-cased message and "\r\n").
    Reply(&'a [u8]),
    /// The message was QUIT: close the connection, send nothing.
    Quit,
}

/// The bytes PHP's `trim()` removes from both ends.
fn is_trimmed(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\0' | 0x0b)
}

/// One connection's framing state: the bytes pending since the last message. (Kept to one
/// `Vec`: a server holds one per connection, tens of thousands of them.)
#[derive(Debug, Default)]
pub struct Framer {
    pending: Vec<u8>,
}

impl Framer {
    pub fn new() -> Framer {
        Framer::default()
    }

    /// Appends received bytes (call once per chunk of one read).
    #[cfg(test)]
    pub fn extend(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
    }

    /// Appends up to `n` received bytes that `fill` copies into the slice it is given,
    /// returning how many it copied: one copy from the connection's input buffer, with
    /// no slice list in between.
    pub fn extend_with(&mut self, n: usize, fill: impl FnOnce(&mut [u8]) -> usize) {
        let start = self.pending.len();
        self.pending.resize(start + n, 0);
        let got = fill(&mut self.pending[start..]).min(n);
        self.pending.truncate(start + got);
    }

    /// Bytes waiting for the rest of their message.
    #[cfg(test)]
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Decides once, after a read, as the original does. A message without CRLF is
    /// released once more than `max_message` bytes are pending (1000 in the original); a
    /// reply is built in `reply`, a buffer the caller may share between connections.
    pub fn decide<'a>(&mut self, max_message: usize, reply: &'a mut Vec<u8>) -> Action<'a> {
        let n = self.pending.len();
        let ready = n > max_message || (n > 4 && self.pending.ends_with(b"\r\n"));
        if !ready {
            return Action::Wait;
        }
        let start = self
            .pending
            .iter()
            .position(|&b| !is_trimmed(b))
            .unwrap_or(n);
        let end = self
            .pending
            .iter()
            .rposition(|&b| !is_trimmed(b))
            .map_or(start, |i| i + 1);
        let msg = &self.pending[start..end];
        let action = if msg.is_empty() || msg == b"0" {
            Action::Silent
        } else if msg.eq_ignore_ascii_case(b"QUIT") {
            Action::Quit
        } else if msg.len() == 1 {
            // The original sends a reply only when it is longer than one byte.
            Action::Silent
        } else {
            reply.clear();
            reply.extend(msg.iter().map(u8::to_ascii_uppercase));
            reply.extend_from_slice(b"\r\n");
            Action::Reply(&[])
        };
        self.pending.clear();
        match action {
            Action::Reply(_) => Action::Reply(reply),
            other => other,
        }
    }

    /// `extend` then `decide`, with the original's 1000-byte limit.
    #[cfg(test)]
    pub fn feed<'a>(&mut self, bytes: &[u8], reply: &'a mut Vec<u8>) -> Action<'a> {
        self.extend(bytes);
        self.decide(1000, reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(reads: &[&[u8]]) -> Vec<String> {
        let mut f = Framer::new();
        let mut reply = Vec::new();
        reads
            .iter()
            .map(|r| match f.feed(r, &mut reply) {
                Action::Wait => "wait".to_string(),
                Action::Silent => "silent".to_string(),
                Action::Quit => "quit".to_string(),
                Action::Reply(b) => String::from_utf8_lossy(b).into_owned(),
            })
            .collect()
    }

    #[test]
    fn every_rule() {
        let x1001 = vec![b'x'; 1001];
        let x1000 = vec![b'x'; 1000];
        let x1001_reply = format!("{}\r\n", "X".repeat(1001));
        let x1000y_reply = format!("{}Y\r\n", "X".repeat(1000));
        type Case<'a> = (&'a str, Vec<&'a [u8]>, Vec<&'a str>);
        let table: Vec<Case> = vec![
            (
                "a line in upper case",
                vec![b"hello world\r\n"],
                vec!["HELLO WORLD\r\n"],
            ),
            (
                "five bytes with CRLF are ready",
                vec![b"abc\r\n"],
                vec!["ABC\r\n"],
            ),
            (
                "four bytes wait, then go with the next",
                vec![b"hi\r\n", b"yo\r\n"],
                vec!["wait", "HI\r\nYO\r\n"],
            ),
            (
                "split over two reads",
                vec![b"hel", b"lo there\r\n"],
                vec!["wait", "HELLO THERE\r\n"],
            ),
            (
                "two lines in one read are one message",
                vec![b"abc\r\ndef\r\n"],
                vec!["ABC\r\nDEF\r\n"],
            ),
            (
                "trimmed both ends",
                vec![b"   padded   \r\n"],
                vec!["PADDED\r\n"],
            ),
            (
                "LF alone never ends",
                vec![b"hello\n", b"world\n", b"\r\n"],
                vec!["wait", "wait", "HELLO\nWORLD\r\n"],
            ),
            ("QUIT", vec![b"QUIT\r\n"], vec!["quit"]),
            (
                "quit in any case, trimmed",
                vec![b"  QuIt \r\n"],
                vec!["quit"],
            ),
            (
                "quit inside a message is echoed",
                vec![b"quit now\r\n"],
                vec!["QUIT NOW\r\n"],
            ),
            (
                "one byte is dropped and clears",
                vec![b" a  \r\n", b"bcd\r\n"],
                vec!["silent", "BCD\r\n"],
            ),
            (
                "0 gets nothing",
                vec![b"  0  \r\n", b"next\r\n"],
                vec!["silent", "NEXT\r\n"],
            ),
            (
                "only CRLFs give nothing",
                vec![b"\r\n\r\n\r\n", b"after\r\n"],
                vec!["silent", "AFTER\r\n"],
            ),
            (
                "NULs inside kept, at the ends trimmed",
                vec![b"a\x00b\x00c\r\n", b"\x00\x00abc\x00\r\n"],
                vec!["A\u{0}B\u{0}C\r\n", "ABC\r\n"],
            ),
            (
                "tab and vertical tab trimmed",
                vec![b"\t\x0bxyz\t\r\n"],
                vec!["XYZ\r\n"],
            ),
            (
                "more than max without CRLF",
                vec![&x1001],
                vec![&*x1001_reply],
            ),
            (
                "exactly max waits",
                vec![&x1000, b"y"],
                vec!["wait", &*x1000y_reply],
            ),
        ];
        for (name, reads, want) in table {
            assert_eq!(run(&reads), want, "{name}");
        }
    }

    #[test]
    fn extend_with_keeps_only_what_was_filled() {
        let mut f = Framer::new();
        f.extend(b"he");
        f.extend_with(8, |buf| {
            buf[..3].copy_from_slice(b"y\r\n");
            3
        });
        assert_eq!(f.pending(), 5);
        let mut reply = Vec::new();
        assert_eq!(f.decide(1000, &mut reply), Action::Reply(b"HEY\r\n"));
        f.extend_with(4, |_| 0);
        assert_eq!(f.pending(), 0);
    }

    #[test]
    fn bytes_above_0x7f_pass_through() {
        let mut f = Framer::new();
        let mut reply = Vec::new();
        let msg = "zażółć gęślą\r\n".as_bytes();
        let Action::Reply(r) = f.feed(msg, &mut reply) else {
            panic!("no reply")
        };
        assert_eq!(r, "ZAżółć GęśLą\r\n".as_bytes());
    }

    #[test]
    fn short_messages_wait_without_crlf() {
        let mut f = Framer::new();
        let mut reply = Vec::new();
        assert_eq!(f.feed(b"abcd", &mut reply), Action::Wait);
        assert_eq!(f.pending(), 4);
        // "\n" alone after 4 bytes: 5 bytes but no CRLF.
        assert_eq!(f.feed(b"\n", &mut reply), Action::Wait);
    }

    #[test]
    fn max_message_is_configurable() {
        let mut f = Framer::new();
        let mut reply = Vec::new();
        f.extend(b"0123456789");
        assert_eq!(f.decide(10, &mut reply), Action::Wait);
        f.extend(b"a");
        assert_eq!(f.decide(10, &mut reply), Action::Reply(b"0123456789A\r\n"));
    }
}

/// PROTOCOL.md's framing written plainly, to check [`Framer`] against: by the property
/// test below and by the fuzz target (fuzz/, which includes this file and the model's).
#[cfg(any(test, fuzzing))]
#[path = "protocol_model.rs"]
pub mod model;

/// The framing against the model, over generated sequences of reads.
#[cfg(test)]
mod prop {
    use super::model::{framer, model};
    use proptest::prelude::*;

    /// `PROPTEST_CASES` if set (scripts/valgrind.sh sets it low), else `default`.
    fn cases(default: u32) -> u32 {
        std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }

    /// Pieces that make the rules matter: line ends (and their halves), the trimmed
    /// bytes, `0`, QUIT in several cases, short words, bytes above 0x7f, and any bytes.
    fn piece() -> impl Strategy<Value = Vec<u8>> {
        let fixed: Vec<&[u8]> = vec![
            b"\r\n",
            b"\n",
            b"\r",
            b" ",
            b"\t",
            b"\0",
            b"\x0b",
            b"0",
            b"quit",
            b"QUIT",
            b"qUiT",
            b"hi",
            b"ab",
            b"x",
            "\u{e9}".as_bytes(),
        ];
        prop_oneof![
            6 => prop::sample::select(fixed).prop_map(<[u8]>::to_vec),
            1 => prop::collection::vec(any::<u8>(), 1..6),
        ]
    }

    /// A read: a few pieces, or now and then a long run (past the 1000-byte limit).
    fn read() -> impl Strategy<Value = Vec<u8>> {
        let pieces = prop::collection::vec(piece(), 0..6).prop_map(|p| p.concat());
        let long = prop::collection::vec(piece(), 100..400).prop_map(|p| p.concat());
        prop_oneof![8 => pieces, 1 => long]
    }

    fn reads() -> impl Strategy<Value = Vec<Vec<u8>>> {
        prop::collection::vec(read(), 1..24)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(cases(2000)))]

        #[test]
        fn framer_matches_the_model(reads in reads(), max in prop_oneof![Just(1000usize), 1usize..40]) {
            prop_assert_eq!(framer(&reads, max), model(&reads, max));
        }

    }

    /// The fuzz target's seed corpus and every input it ever failed on (fuzz/, see
    /// scripts/fuzz.sh), replayed without the fuzzer.
    #[test]
    fn fuzz_corpus_and_regressions_pass() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
        let mut n = 0;
        for dir in ["corpus/framing", "regressions/framing"] {
            let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
                continue;
            };
            for e in entries {
                let path = e.unwrap().path();
                let (reads, max) = super::model::reads_from(&std::fs::read(&path).unwrap());
                assert_eq!(
                    framer(&reads, max),
                    model(&reads, max),
                    "{}",
                    path.display()
                );
                n += 1;
            }
        }
        assert!(n >= 4, "the seed corpus is missing ({n} inputs)");
    }
}
