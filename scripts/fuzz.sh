#!/usr/bin/env bash
# Runs each fuzz target of fuzz/ under AFL++ (cargo-afl, from crates.io) for a bounded
# time, starting from its committed seed corpus, and fails if any input crashed it: a
# disagreement with the target's model is a panic, so a crash is a finding.
#
#   bash scripts/fuzz.sh [SECONDS per target, default 60] [TARGET ...]
#
# A finding is left in target/fuzz-out/<target>/default/crashes/. Copy it into
# fuzz/regressions/<target>/ once fixed: the ordinary test suite replays the corpus and
# the regressions (eventd's protocol tests, tests/buffer_model.rs) without the fuzzer.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(framing evbuffer_ops http_server dns_reply evtag)

# The same version as the afl crate in fuzz/Cargo.lock: AFL++ is built per version.
command -v cargo-afl >/dev/null || cargo install --locked cargo-afl --version 0.18.2
# AFL++ itself, built once per toolchain (its source ships in the afl crate).
if ! out=$(cargo afl config --build 2>&1); then
    grep -q "already built" <<<"$out" || { echo "$out" >&2; exit 1; }
fi

export CARGO_TARGET_DIR=$PWD/target/fuzz
(cd fuzz && cargo afl build --release --quiet)

# One fuzzer per core at a time: the targets are independent, and each still gets its
# full time (a 2-core machine runs two at once).
fuzz_one() {
    local t=$1 out=target/fuzz-out/$1
    rm -rf "$out"
    mkdir -p "$out"
    # No UI (no terminal here), no CPU binding or governor checks (shared machines), and
    # crashes are still seen when core dumps go to a helper program.
    AFL_NO_UI=1 AFL_NO_AFFINITY=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 \
        cargo afl fuzz -i "fuzz/corpus/$t" -o "$out" -V "$secs" "$CARGO_TARGET_DIR/release/$t" \
        >"$out/afl.log" 2>&1 || { echo "fuzz $t: afl-fuzz failed:" >&2; tail -20 "$out/afl.log" >&2; return 2; }
    local stats=$out/default/fuzzer_stats
    field() { awk -F: -v k="$1" '$1 ~ "^"k" *$" {gsub(/ /, "", $2); print $2}' "$stats"; }
    local crashes
    crashes=$(find "$out/default/crashes" -type f ! -name README.txt 2>/dev/null | wc -l)
    echo "fuzz $t: ${secs} s, $(field execs_done) executions ($(field execs_per_sec)/s), $(field corpus_count) inputs in the corpus, $(field bitmap_cvg) coverage, $crashes crashes"
    if [ "$crashes" -gt 0 ]; then
        for f in "$out"/default/crashes/id*; do
            echo "  finding: $f ($(od -An -tx1 -v "$f" | tr -s " \n" " " | head -c 120)...)" >&2
        done
        return 1
    fi
}

jobs=$(nproc 2>/dev/null || echo 1)
mkdir -p target/fuzz-out
for t in "${targets[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
        sleep 1
    done
    rm -f "target/fuzz-out/$t.rc"
    (
        rc=0
        fuzz_one "$t" || rc=$?
        echo "$rc" >"target/fuzz-out/$t.rc"
    ) &
done
wait
failed=0
for t in "${targets[@]}"; do
    [ "$(cat "target/fuzz-out/$t.rc" 2>/dev/null)" = 0 ] || failed=1
done
exit $failed
