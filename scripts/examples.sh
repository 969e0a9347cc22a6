#!/usr/bin/env bash
# Runs each example (ports of libevent's samples) with a time limit and checks what it
# prints or answers. Prints "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --examples || exit 1
cargo build --quiet --features hyper --example hyper_server || exit 1
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

# The routes of http_server and hyper_server, checked with curl and with http_client (the
# safe crate's client API) against the server at $a; failures go to the array errs.
# With "lower", header names come back in lower case (hyper's).
check() { [ "$2" = "$3" ] || errs+=("$1: got [$2], want [$3]"); }
http_routes() { # addr [lower]
  local a=$1 u="http://$1" c="curl -s --max-time 10" hdrs
  check "GET /hello" "$($c -w '%{http_code} %{content_type}|' "$u/hello")" "hello
200 text/plain|"
  check "POST /echo" "$(printf 'a\0b c' | $c -w '|%{http_code} %{content_type}' -H 'Content-Type: application/x-demo' --data-binary @- "$u/echo" | od -An -c | tr -s ' ')" "$(printf 'a\0b c|200 application/x-demo' | od -An -c | tr -s ' ')"
  check "GET /chunked?n=3" "$($c -D "$tmp/h3" "$u/chunked?n=3")" "chunk 1
chunk 2
chunk 3"
  grep -qi '^Transfer-Encoding: chunked' "$tmp/h3" || errs+=("GET /chunked: not chunked")
  check "GET /chunked?n=200" "$($c "$u/chunked?n=200" | sed -n '1p;$p')" "chunk 1
chunk 200"
  # 1000 is allowed; the client leaves after the first chunk (the server stops feeding).
  check "GET /chunked?n=1000" "$($c -N "$u/chunked?n=1000" | head -1)" "chunk 1"
  for q in "n=0" "n=1001" "n=x" ""; do check "GET /chunked?$q" "$($c -o /dev/null -w '%{http_code}' "$u/chunked?$q")" 400; done
  hdrs=$($c -H 'X-First: 1' -H 'X-Second: two words' "$u/headers" | grep -vi '^User-Agent')
  check "GET /headers" "$hdrs" "$([ "${2:-}" = lower ] && printf 'host: %s\naccept: */*\nx-first: 1\nx-second: two words' "$a" || printf 'Host: %s\nAccept: */*\nX-First: 1\nX-Second: two words' "$a")"
  check "GET /other" "$($c -o /dev/null -w '%{http_code}' "$u/other")" 404
  check "GET /echo" "$($c -o /dev/null -w '%{http_code}' "$u/echo")" 404
  check "POST 2 MiB" "$(head -c 2097152 /dev/zero | $c -o /dev/null -w '%{http_code}' --data-binary @- "$u/echo")" 413
  check "POST 1 MiB" "$(head -c 1048576 /dev/zero | $c -w '%{http_code}' --data-binary @- "$u/echo" | wc -c)" 1048579
  check "client GET /hello" "$(timeout 10 $ex/http_client "$a" GET /hello | sed -n '1p;$p')" "200 OK
hello"
  check "client POST /echo" "$(timeout 10 $ex/http_client "$a" POST /echo 'from the client' | tail -1)" "from the client"
  check "client chunks" "$(timeout 10 $ex/http_client --chunks "$a" GET '/chunked?n=5' | grep -c '^piece .*: chunk [1-5]$')" 5
}

# http_server: evhttp.
$ex/http_server 127.0.0.1:0 >"$tmp/hs" 2>&1 & pid=$!
if wait_for "$tmp/hs" "listening on"; then
  errs=()
  http_routes "$(addr_of "$tmp/hs")"
  kill -INT $pid; timeout 5 tail --pid=$pid -f /dev/null
  grep -q "^done" "$tmp/hs" || errs+=("no clean exit on SIGINT")
  if [ ${#errs[@]} = 0 ]; then ok "http_server (curl) + http_client"; else printf '%s\n' "${errs[@]}" >"$tmp/hs.err"; bad http_server "$tmp/hs.err"; fi
else bad http_server "$tmp/hs"; fi

# hyper_server: the same routes from hyper on the loop, over HTTP/1.1 and HTTP/2.
$ex/hyper_server 127.0.0.1:0 >"$tmp/hy" 2>&1 & pid=$!
if wait_for "$tmp/hy" "listening on"; then
  errs=()
  a=$(addr_of "$tmp/hy")
  http_routes "$a" lower
  h2="curl -s --max-time 10 --http2-prior-knowledge"
  check "h2 GET /hello" "$($h2 -w '%{http_version} %{http_code}|' "http://$a/hello")" "hello
2 200|"
  check "h2 POST /echo" "$($h2 -H 'Content-Type: text/x-h2' --data-binary 'over h2' -w '|%{http_version} %{content_type}' "http://$a/echo")" "over h2|2 text/x-h2"
  check "h2 GET /chunked?n=3" "$($h2 "http://$a/chunked?n=3")" "chunk 1
chunk 2
chunk 3"
  check "h2 five at once" "$($h2 --parallel --parallel-immediate -w '%{http_version}\n' "http://$a/hello" "http://$a/hello" "http://$a/hello" "http://$a/hello" "http://$a/hello" 2>/dev/null | grep -c '^2$')" 5
  kill -INT $pid; timeout 5 tail --pid=$pid -f /dev/null
  grep -q "^done" "$tmp/hy" || errs+=("no clean exit on SIGINT")
  if [ ${#errs[@]} = 0 ]; then ok "hyper_server (curl, HTTP/1.1 and HTTP/2) + http_client"; else printf '%s\n' "${errs[@]}" >"$tmp/hy.err"; bad hyper_server "$tmp/hy.err"; fi
else bad hyper_server "$tmp/hy"; fi

# dns_lookup: names from a hosts file, a numeric address, and a name server that is not there.
printf '10.1.1.1 one.example\n10.2.2.2 two.example\n' >"$tmp/hosts"
timeout 20 $ex/dns_lookup --hosts "$tmp/hosts" one.example two.example 192.0.2.9 >"$tmp/dl" 2>&1
timeout 20 $ex/dns_lookup --nameserver 127.0.0.1:9 --option timeout:0.2 --option attempts:1 nothing.invalid >>"$tmp/dl" 2>&1
if grep -q '^one.example: 10.1.1.1$' "$tmp/dl" && grep -q '^two.example: 10.2.2.2$' "$tmp/dl" \
   && grep -q '^192.0.2.9: 192.0.2.9$' "$tmp/dl" && grep -q '^nothing.invalid: error: ' "$tmp/dl"; then ok dns_lookup; else bad dns_lookup "$tmp/dl"; fi

# dns_server: its zone, asked with dig (Debian's bind9-dnsutils): A, AAAA, CNAME, PTR,
# TXT, the authoritative flag and TTLs, NXDOMAIN inside the zone and REFUSED outside.
$ex/dns_server 127.0.0.1:0 >"$tmp/ds" 2>&1 & pid=$!
if wait_for "$tmp/ds" "listening on"; then
  a=$(addr_of "$tmp/ds")
  d() { timeout 10 dig +tries=2 +time=2 @"${a%:*}" -p "${a##*:}" "$@"; }
  errs=()
  want() { [ "$2" = "$3" ] || errs+=("$1: got [$2], want [$3]"); }
  want A "$(d www.example.test A +short | tr '\n' ' ')" "192.0.2.10 192.0.2.11 "
  want AAAA "$(d www.example.test AAAA +short)" "2001:db8::10"
  want CNAME "$(d alias.example.test A +short | tr '\n' ' ')" "www.example.test. 192.0.2.10 192.0.2.11 "
  want PTR "$(d -x 192.0.2.10 +short)" "www.example.test."
  want TXT "$(d txt.example.test TXT +short)" '"hello from libevent"'
  want "AA and TTL" "$(d www.example.test A +noall +comments +answer | grep -cE 'flags: qr aa|^www.example.test.\s+300\s+IN\s+A')" "3"
  want NXDOMAIN "$(d nope.example.test A | grep -o 'status: [A-Z]*')" "status: NXDOMAIN"
  want REFUSED "$(d example.org A | grep -o 'status: [A-Z]*')" "status: REFUSED"
  kill -INT $pid; timeout 5 tail --pid=$pid -f /dev/null
  if [ ${#errs[@]} = 0 ] && grep -q "^done" "$tmp/ds"; then ok dns_server; else printf '%s\n' "${errs[@]}" >>"$tmp/ds"; bad dns_server "$tmp/ds"; fi
else bad dns_server "$tmp/ds"; fi

# async_eventd: eventd's protocol in async style (the full transcript replay is
# tests/async_eventd.rs): two messages answered in upper case, QUIT closes, the log says so.
$ex/async_eventd --listen 127.0.0.1:0 --timeout 5 --max-connections 2 >"$tmp/ae" 2>&1 & pid=$!
if wait_for "$tmp/ae" "Listening on"; then
  a=$(sed -n 's/.*Listening on \(.*\)\.\.\.$/\1/p' "$tmp/ae" | head -1)
  got=$(timeout 5 bash -c "exec 3<>/dev/tcp/${a%:*}/${a##*:}; printf 'hello\r\n' >&3; sleep 0.2; printf 'two words\r\n' >&3; sleep 0.2; printf 'quit\r\n' >&3; cat <&3" | tr -d '\r')
  kill $pid; wait $pid 2>/dev/null
  if [ "$got" = "$(printf 'HELLO\nTWO WORDS')" ] && grep -q "New connection (id = 1)" "$tmp/ae" && grep -q "Closing connection (id = 1)" "$tmp/ae"; then ok async_eventd; else echo "got: $got" >>"$tmp/ae"; bad async_eventd "$tmp/ae"; fi
else bad async_eventd "$tmp/ae"; fi

# tls_echo_server (feature openssl), checked with `openssl s_client` and a certificate
# made here.
if cargo build --quiet --features openssl --example tls_echo_server && \
   openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
     -subj /CN=localhost -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null; then
  $ex/tls_echo_server 127.0.0.1:0 "$tmp/cert.pem" "$tmp/key.pem" >"$tmp/ts" 2>&1 & pid=$!
  if wait_for "$tmp/ts" "listening on"; then
    a=$(addr_of "$tmp/ts")
    got=$( (printf 'hello over tls\n'; sleep 0.5) | timeout 10 openssl s_client -connect "$a" -CAfile "$tmp/cert.pem" -verify_return_error -quiet 2>"$tmp/sc")
    kill -INT $pid; timeout 5 tail --pid=$pid -f /dev/null
    if [ "$got" = "hello over tls" ] && grep -q '^client 1: TLSv1.3$' "$tmp/ts" && grep -q "^done" "$tmp/ts"; then ok "tls_echo_server (openssl s_client)"; else cat "$tmp/sc" >>"$tmp/ts"; bad tls_echo_server "$tmp/ts"; fi
  else bad tls_echo_server "$tmp/ts"; fi
else echo "FAIL tls_echo_server: build or certificate"; fail=$((fail + 1)); fi

echo "examples: $pass passed, $fail failed"
[ $fail = 0 ]
