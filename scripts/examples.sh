#!/usr/bin/env bash
# Runs each example (ports of libevent's samples) with a time limit and checks what it
# prints or answers. Prints "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --examples || exit 1
ex=target/debug/examples
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; sed 's/^/     | /' "$2" 2>/dev/null | head -20; fail=$((fail + 1)); }
wait_for() { # file pattern
  for _ in $(seq 100); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done; return 1
}
addr_of() { sed -n 's/^listening on //p' "$1" | head -1; }

# hello_world: the greeting, then a clean exit two seconds after SIGINT.
$ex/hello_world 127.0.0.1:0 >"$tmp/hw" 2>&1 & pid=$!
if wait_for "$tmp/hw" "listening on"; then
  a=$(addr_of "$tmp/hw")
  got=$(timeout 5 bash -c "exec 3<>/dev/tcp/${a%:*}/${a##*:}; cat <&3")
  kill -INT $pid; timeout 5 tail --pid=$pid -f /dev/null
  if [ "$got" = "Hello, World!" ] && grep -q "exiting cleanly" "$tmp/hw" && grep -q "^done" "$tmp/hw"; then ok hello_world; else bad hello_world "$tmp/hw"; fi
else bad hello_world "$tmp/hw"; fi

# time_test: three fires of a 100 ms timer.
timeout 10 $ex/time_test 100 3 >"$tmp/tt" 2>&1
if [ "$(grep -c '^timeout_cb called at [123]: 0\.[01][0-9][0-9] seconds elapsed\.$' "$tmp/tt")" = 3 ]; then ok time_test; else bad time_test "$tmp/tt"; fi

# signal_test: two SIGINTs, reported, then exit.
$ex/signal_test >"$tmp/st" 2>&1 & pid=$!
if wait_for "$tmp/st" "^ready"; then
  kill -INT $pid; sleep 0.2; kill -INT $pid; timeout 5 tail --pid=$pid -f /dev/null
  if [ "$(grep -c 'signal_cb: got signal 2' "$tmp/st")" = 2 ] && grep -q "^done" "$tmp/st"; then ok signal_test; else bad signal_test "$tmp/st"; fi
else bad signal_test "$tmp/st"; fi

# event_read_fifo: what is written to the FIFO is read; the writer's close ends it.
$ex/event_read_fifo "$tmp/fifo" >"$tmp/ef" 2>&1 & pid=$!
if wait_for "$tmp/ef" "^reading"; then
  echo "hello fifo" >"$tmp/fifo"
  timeout 5 tail --pid=$pid -f /dev/null
  if grep -q "^Read: hello fifo" "$tmp/ef" && grep -q "Connection closed" "$tmp/ef"; then ok event_read_fifo; else bad event_read_fifo "$tmp/ef"; fi
else bad event_read_fifo "$tmp/ef"; fi

# echo_server and echo_client against each other.
$ex/echo_server 127.0.0.1:0 >"$tmp/es" 2>&1 & pid=$!
if wait_for "$tmp/es" "listening on"; then
  timeout 10 $ex/echo_client "$(addr_of "$tmp/es")" one "two words" >"$tmp/ec" 2>&1
  kill -INT $pid; timeout 5 tail --pid=$pid -f /dev/null
  if grep -q "^connected" "$tmp/ec" && grep -q "^echo: one$" "$tmp/ec" && grep -q "^echo: two words$" "$tmp/ec" && grep -q "client 1 from" "$tmp/es"; then ok "echo_server + echo_client"; else bad "echo_server + echo_client" "$tmp/ec"; fi
else bad echo_server "$tmp/es"; fi

echo "examples: $pass passed, $fail failed"
[ $fail = 0 ]
