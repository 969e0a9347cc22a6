//! Replays the recorded transcripts of the PHP original (tests/data/visible.json) against
//! eventd over plain TCP (the machinery is in `common/replay.rs`; `tls.rs` replays them
//! over TLS).

mod common;

#[test]
fn transcripts_of_the_php_original_replay_exactly() {
    common::replay::replay(common::replay::Transport::Plain, &[]);
}
