#!/usr/bin/env bash
# The soundness change's cost: the matrix (ping-pong and idle, eventd and the async
# example) run from two checkouts in turn, five rounds, one repetition of 2 s per cell
# each, so that both see the same machine. BEFORE and AFTER are checkouts whose release
# binaries are built (`cargo build --release -p eventd -p bench --bins` and
# `cargo build --release -p libevent --example async_eventd`); OUT gets each run's log.
set -euo pipefail
: "${BEFORE:?a checkout of the commit before}" "${AFTER:?a checkout of the commit after}" "${OUT:?a directory}"
mkdir -p "$OUT"
for r in 1 2 3 4 5; do
  for side in before after; do
    if [ "$side" = before ]; then d=$BEFORE; else d=$AFTER; fi
    (cd "$d" && env -u CARGO ./target/release/matrix --servers eventd,async-eventd \
      --modes pingpong,idle --connections 100,1000,10000 --reps 1 --out "$OUT/$side-$r" \
      2>&1 | { grep '^\[' || true; } > "$OUT/$side-$r.log")
  done
done
