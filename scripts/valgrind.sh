#!/usr/bin/env bash
# Runs the workspace's test binaries under valgrind memcheck, and eventd itself (the
# daemon the eventd tests start) under it too. Passes only with zero errors and zero
# bytes definitely lost in every process.
#
# Left out, with the reason:
# - libevent-sys's `libevent_regression_suite`: it runs upstream's own C suite in child
#   processes; valgrinding upstream's test programs is upstream's matter.
# - doc tests: compiled and run by rustdoc, not as standalone binaries.
# - eventd's CPU-time and RSS tests skip themselves under the wrapper (figures under
#   valgrind mean nothing); they run in the normal suite.
set -euo pipefail
cd "$(dirname "$0")/.."

logs="$PWD/target/valgrind"
rm -rf "$logs"
mkdir -p "$logs"
vg=(valgrind --quiet --leak-check=full --show-leak-kinds=definite
    --errors-for-leak-kinds=definite --error-exitcode=99 --num-callers=30
    --log-file="$logs/%p.log")

echo "== building the test binaries"
cargo test --workspace --no-run --message-format=json 2>/dev/null > "$logs/build.json"
# The TLS tests exist only with features openssl (the safe crate) and tls (eventd; this
# also rebuilds the eventd binary every eventd test starts, with TLS in it).
cargo test -p libevent --features openssl --test tls --test http_smuggling --no-run --message-format=json 2>/dev/null >> "$logs/build.json"
cargo test -p eventd --features tls --test tls --no-run --message-format=json 2>/dev/null >> "$logs/build.json"
# hyper on the loop (feature hyper).
cargo test -p libevent --features hyper,openssl --test hyper --no-run --message-format=json 2>/dev/null >> "$logs/build.json"
# The async streams with tokio's traits (the LinesCodec test).
cargo test -p libevent --features tokio --test streams --no-run --message-format=json 2>/dev/null >> "$logs/build.json"
mapfile -t exes < <(python3 - "$logs/build.json" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m.get("profile", {}).get("test"):
        print(m["executable"])
PY
)

export EVENTD_WRAPPER="${vg[*]}"
# The property tests run their full number of cases in the normal suite; under valgrind
# a few dozen generated cases exercise the same code paths for memory errors.
export PROPTEST_CASES=24
failed=0
for exe in "${exes[@]}"; do
  name=$(basename "$exe")
  case "$name" in
    # They only start other programs (eventd-compare, PHP, eventd itself) and read what
    # those show; the eventd they start is the one checked under valgrind above and below.
    compare-*|php_compat-*) echo "== $name: skipped (it runs other programs only)"; continue ;;
  esac
  echo "== $name"
  rc=0
  out=$("${vg[@]}" "$exe" --test-threads=1 --skip libevent_regression_suite -q 2>&1) || rc=$?
  printf '%s\n' "$out" | tail -n 3
  if [ $rc != 0 ]; then
    # Which tests failed, and what they said.
    printf '%s\n' "$out" | sed -n '/^failures:/,$p' | head -n 80
    echo "   FAILED: $name"
    failed=1
  fi
done

# Every process's log, the test binaries' and the daemons'.
bad=0
for f in "$logs"/*.log; do
  if grep -qE "ERROR SUMMARY: [1-9]|definitely lost: [1-9]|are definitely lost" "$f" || grep -q "Invalid \|uninitialised\|Mismatched free" "$f"; then
    echo "== valgrind reports in $f:"
    sed -n 1,80p "$f"
    bad=1
  fi
done
n=$(ls "$logs"/*.log | wc -l)
echo "valgrind: $n processes checked, errors or definite leaks: $([ $bad = 0 ] && echo none || echo FOUND)"
[ $failed = 0 ] && [ $bad = 0 ]
