#!/usr/bin/env bash
# The safe crate's public API, listed (scripts/public-api.py over rustdoc's JSON, with
# the features docs.rs documents) and compared with the committed api/libevent.txt: a
# change to the API fails here, with its diff, until the listing is updated in the same
# commit (`bash scripts/public-api.sh --bless`), so every API change shows in review.
# rustdoc's JSON output is unstable; RUSTC_BOOTSTRAP lets the stable toolchain make it.
set -euo pipefail
cd "$(dirname "$0")/.."
RUSTC_BOOTSTRAP=1 RUSTDOCFLAGS="-Z unstable-options --output-format json" CARGO_TARGET_DIR=target/api \
  cargo doc --no-deps --quiet -p libevent --features openssl,tokio,hyper
new=$(mktemp)
trap 'rm -f "$new"' EXIT
python3 scripts/public-api.py target/api/doc/libevent.json > "$new"
if [ "${1:-}" = --bless ]; then
  mkdir -p api
  cp "$new" api/libevent.txt
  echo "public-api: api/libevent.txt written ($(wc -l < api/libevent.txt) items)"
  exit 0
fi
if ! diff -u api/libevent.txt "$new"; then
  echo "public-api: the public API changed (diff above); if that is meant, run"
  echo "  bash scripts/public-api.sh --bless"
  echo "and commit api/libevent.txt with the change"
  exit 1
fi
echo "public-api: $(wc -l < api/libevent.txt) items, as committed"
