#!/usr/bin/env bash
# The crates as a registry would hold them: `cargo package` makes libevent-sys and
# libevent (each verified by building from its .crate alone, libevent against the
# packaged libevent-sys), then a scratch crate outside the workspace depends on both
# .crate files, unpacked and patched in for crates.io's, and builds and runs a test.
# libevent-sys gets the C source from LIBEVENT_TARBALL (no cache, no network).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
tarball=${LIBEVENT_TARBALL:-${XDG_CACHE_HOME:-$HOME/.cache}/libevent-sys/libevent-2.1.13-stable.tar.gz}
[ -f "$tarball" ] || { echo "package-check: no tarball at $tarball (build once, or set LIBEVENT_TARBALL)"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export LIBEVENT_TARBALL=$tarball LIBEVENT_CACHE_DIR=$work/empty-cache CARGO_NET_OFFLINE=true
mkdir -p "$LIBEVENT_CACHE_DIR"

# cargo verifies libevent against the libevent-sys it just packaged, through a temporary
# registry, and extracts that into $CARGO_HOME/registry/src/ -- where an extraction left
# by an earlier run of this script is reused as it is, stale. Remove those first.
rm -rf "${CARGO_HOME:-$HOME/.cargo}"/registry/src/-*/libevent-sys-0.1.0 \
       "${CARGO_HOME:-$HOME/.cargo}"/registry/src/-*/libevent-0.1.0

echo "== cargo package -p libevent-sys -p libevent"
CARGO_TARGET_DIR=target/package-check cargo package -p libevent-sys -p libevent --allow-dirty
pkg=target/package-check/package
for c in libevent-sys libevent; do
  tar -xzf "$pkg/$c-0.1.0.crate" -C "$work"
done

echo "== a crate that depends on both .crate files"
mkdir -p "$work/scratch/src"
cat > "$work/scratch/Cargo.toml" <<TOML
[package]
name = "scratch"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
libevent = "0.1"

[patch.crates-io]
libevent = { path = "$work/libevent-0.1.0" }
libevent-sys = { path = "$work/libevent-sys-0.1.0" }

[workspace]
TOML
cat > "$work/scratch/src/main.rs" <<'RS'
//! Echo over a bufferevent pair, as a first program would.
use libevent::bufferevent::Options;
use libevent::event::Flags;
use libevent::{BufferEvent, EventBase, LoopFlags};

fn main() -> Result<(), libevent::Error> {
    let base = EventBase::new()?;
    let (mut a, mut b) = BufferEvent::pair(&base, Options::empty())?;
    b.on_read(|bev| {
        let got = bev.input_mut().remove_all();
        bev.write(&got).unwrap();
    });
    b.enable(Flags::READ)?;
    a.enable(Flags::READ)?;
    a.write(b"from the .crate")?;
    for _ in 0..10 {
        base.run(LoopFlags::NONBLOCK)?;
    }
    let back = a.with(|a| a.input_mut().remove_all());
    assert_eq!(back, b"from the .crate");
    println!("{} ({})", String::from_utf8_lossy(&back), libevent::version());
    Ok(())
}
RS
# The workspace's lock file: the same dependency versions, all in the local cache.
cp Cargo.lock "$work/scratch/Cargo.lock"
(cd "$work/scratch" && CARGO_TARGET_DIR="$root/target/package-check/scratch" cargo run --quiet)
echo "package-check: both crates package, verify, and serve a crate that depends on them"
