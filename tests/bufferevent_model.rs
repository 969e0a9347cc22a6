//! Bufferevent pairs under generated watermarks and write sizes: every byte arrives once
//! and in order, and the read callback runs only as libevent's watermark rules say.

use libevent::bufferevent::Options;
use libevent::event::Flags;
use libevent::{BufferEvent, EventBase, LoopFlags};
use proptest::prelude::*;

mod common;
use common::cases;
use std::cell::RefCell;
use std::rc::Rc;

/// What the reading side saw.
#[derive(Default)]
struct Seen {
    data: Vec<u8>,
    /// Input length at each read callback.
    lengths: Vec<usize>,
}

fn watermarks() -> impl Strategy<Value = (usize, usize)> {
    (0usize..64, prop_oneof![Just(0usize), 1usize..256])
        .prop_filter("low <= high, or no high", |(l, h)| *h == 0 || l <= h)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(200)))]

    #[test]
    fn every_byte_arrives_once_in_order(
        (low, high) in watermarks(),
        writes in prop::collection::vec(1usize..300, 1..30),
        takes in prop::collection::vec(1usize..200, 1..8),
    ) {
        let base = EventBase::new().unwrap();
        let (mut a, mut b) = BufferEvent::pair(&base, Options::empty()).unwrap();
        b.set_read_watermark(low, high).unwrap();
        let seen = Rc::new(RefCell::new(Seen::default()));
        let s = seen.clone();
        let mut turn = 0usize;
        b.on_read(move |bev| {
            let mut s = s.borrow_mut();
            let len = bev.input().len();
            s.lengths.push(len);
            // Takes a generated amount each time (at least one byte, so it progresses).
            let mut out = vec![0u8; takes[turn % takes.len()]];
            turn += 1;
            let n = bev.read(&mut out);
            s.data.extend_from_slice(&out[..n]);
        });
        b.enable(Flags::READ).unwrap();
        let mut sent = Vec::new();
        for (i, &n) in writes.iter().enumerate() {
            let chunk: Vec<u8> = (0..n).map(|j| (i * 31 + j) as u8).collect();
            a.write(&chunk).unwrap();
            sent.extend_from_slice(&chunk);
            base.run(LoopFlags::NONBLOCK).unwrap();
        }
        // Drain what is left: whatever stays below the low watermark is read by hand.
        for _ in 0..10_000 {
            if seen.borrow().data.len() + b.input_len() == sent.len() && a.output_len() == 0 {
                break;
            }
            base.run(LoopFlags::NONBLOCK).unwrap();
        }
        let rest = b.with(|b| b.input_mut().remove_all());
        let seen = seen.borrow();
        let mut got = seen.data.clone();
        got.extend_from_slice(&rest);
        prop_assert_eq!(&got, &sent);
        // Once low bytes are in, the callback must have run.
        prop_assert!(seen.lengths.len() >= usize::from(sent.len() >= low.max(1)));
        for &len in &seen.lengths {
            prop_assert!(len >= low.max(1), "read callback with {} bytes, low watermark {}", len, low);
            if high != 0 {
                prop_assert!(len <= high, "input {} above the high watermark {}", len, high);
            }
        }
    }
}
