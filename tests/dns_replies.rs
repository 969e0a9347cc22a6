//! evdns against arbitrary replies from a local UDP server (tests/common/dns_replies.rs):
//! hand-written good and hostile replies, then the `dns_reply` fuzz target's corpus and
//! regressions. No crash, the callback exactly once, valgrind clean (CI runs this under
//! memcheck).

mod common;
#[path = "common/dns_replies.rs"]
mod dns_replies;

use dns_replies::{check_with, reply};

/// Long enough for an answer under valgrind; short for a reply evdns ignores.
fn answered(input: &[u8]) -> Result<usize, String> {
    check_with(input, "2")
}

fn check(input: &[u8]) -> Result<usize, String> {
    check_with(input, "0.1")
}

fn family_v4(r: Vec<u8>) -> Vec<u8> {
    let mut v = vec![0];
    v.extend(r);
    v
}

#[test]
fn good_and_hostile_replies() {
    let good = family_v4(reply(1, 1, &[127, 0, 0, 1]));
    assert_eq!(answered(&good).unwrap(), 1);
    // The same address twice is given once.
    let twice = family_v4(reply(1, 2, &[127, 0, 0, 1]));
    assert_eq!(answered(&twice).unwrap(), 1);
    let v6 = vec![1]
        .into_iter()
        .chain(reply(
            28,
            1,
            &[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        ))
        .collect::<Vec<u8>>();
    assert_eq!(answered(&v6).unwrap(), 1);
    let mut hostile = vec![
        family_v4(Vec::new()),
        family_v4(vec![0, 0]),
        // Counts far past the data.
        family_v4({
            let mut r = reply(1, 1, &[1, 2, 3, 4]);
            r[6] = 0xff;
            r[7] = 0xff;
            r
        }),
        // A compression pointer to itself.
        family_v4({
            let mut r = reply(1, 1, &[1, 2, 3, 4]);
            let at = r.len() - 16;
            r[at] = 0xc0;
            r[at + 1] = at as u8;
            r
        }),
        // An A record whose data is not 4 bytes, and one cut short.
        family_v4(reply(1, 1, &[1, 2, 3])),
        family_v4(reply(1, 1, &[1, 2, 3, 4])[..40].to_vec()),
        // AAAA asked, A given; and both asked.
        vec![1]
            .into_iter()
            .chain(reply(1, 1, &[1, 2, 3, 4]))
            .collect(),
        vec![2].into_iter().chain(reply(28, 1, &[0; 16])).collect(),
    ];
    // Error codes in the header.
    for rcode in 1..6u8 {
        let mut r = reply(1, 0, &[]);
        r[3] = 0x80 | rcode;
        hostile.push(family_v4(r));
    }
    for input in hostile {
        check(&input).unwrap_or_else(|e| panic!("{e}: {input:?}"));
    }
}

/// The fuzz target's seed corpus and every input it ever failed on (fuzz/, see
/// scripts/fuzz.sh), replayed without the fuzzer.
#[test]
fn fuzz_corpus_and_regressions_pass() {
    for (path, data) in common::fuzz_inputs("dns_reply", 3) {
        if let Err(why) = check(&data) {
            panic!("{}: {why}", path.display());
        }
    }
}
