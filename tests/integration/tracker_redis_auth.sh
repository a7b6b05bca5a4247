#!/usr/bin/env bash
# tracker_redis_auth.sh: qasm-tracker --store redis://... on a Redis that
# wants a password (requirepass) or an ACL user (--store-auth FILE):
#  - with the password file the tracker writes its connections to Redis;
#  - without it, or with a wrong password, it says so in one log line
#    (NOAUTH / AUTH refused) and counts it (store_auth_errors), and nothing
#    reaches Redis, and store_up stays 0 (a store that refuses us is down);
#  - an ACL user ("USER PASSWORD") works too;
#  - a group-readable password file is refused at start (exit 2, one line).
set -u
. "$(dirname "$0")/test_lib.sh"
cd "$(dirname "$0")/../.." || exit 1
B=${QASM_BUILD:-build}
TRK=$B/qasm-tracker
CTL=$B/qasm-trackctl
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  echo "SKIP: redis-server/redis-cli not installed (scripts/deps.sh installs them)"
  exit 77
fi
work=$(mktemp -d)
pids=()
FAILS=0
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  if [ "$FAILS" -ne 0 ]; then
    for f in "$work"/*.err; do [ -f "$f" ] && { echo "--- $f"; tail -20 "$f"; }; done
  fi
  rm -rf "$work"
  release_ports
}
trap cleanup EXIT
check() { if eval "$2"; then echo "ok   - $1"; else echo "FAIL - $1   [$2]"; FAILS=$((FAILS + 1)); fi; }
json_get() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }

RP=$(reserve_ports 1) || { echo "FAIL: no free port"; exit 1; }
PASS=qasm-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
umask 077
timeout "$(scaled 200)" redis-server --port "$RP" --bind 127.0.0.1 --save '' --appendonly no \
  --dir "$work" --logfile "$work/redis.log" --requirepass "$PASS" &
pids+=($!)
rcli() { redis-cli -p "$RP" -a "$PASS" --no-auth-warning "$@"; }
wait_until 60 sh -c "redis-cli -p $RP -a $PASS --no-auth-warning ping 2>/dev/null | grep -q PONG" ||
  { echo "FAIL: redis-server did not start"; exit 1; }
rcli ACL SETUSER qasmtrk on '>trk-user-pw' '~*' '&*' '+@all' >/dev/null
echo "$PASS" >"$work/pass"
echo "qasmtrk trk-user-pw" >"$work/user"
echo "wrong-password" >"$work/wrong"
cp "$work/pass" "$work/pass-open"; chmod 644 "$work/pass-open"

out=$("$TRK" --store "redis://127.0.0.1:$RP" --store-auth "$work/pass-open" 2>&1); rc=$?
echo "  group-readable: exit $rc: $out"
check "a group-readable --store-auth file: exit 2, one line" \
  "[ $rc = 2 ] && [ \$(echo \"\$out\" | wc -l) = 1 ] && echo \"\$out\" | grep -q 'group or other'"

# run NAME AUTHFILE|-: a tracker on the Redis; one report; its stats after the write settled.
n=0
run() {
  local name=$1 auth=$2 port odcid
  n=$((n + 1)); odcid=$(printf 'c0ffee%02x' $n)
  timeout "$(scaled 60)" "$TRK" --listen 127.0.0.1:0 --store "redis://127.0.0.1:$RP" \
    ${auth:+--store-auth "$auth"} --log-level info 2>"$work/$name.err" &
  pids+=($!)
  port=$(logged_port "$work/$name.err") || { echo "FAIL: tracker $name did not start"; return 1; }
  "$CTL" --tracker "127.0.0.1:$port" report --type open --odcid $odcid --client 127.0.0.1:5000 \
    --server 127.0.0.1:443 >/dev/null
  _settled() {
    "$CTL" --tracker "127.0.0.1:$port" --json stats >"$work/$name.json" 2>/dev/null &&
      [ "$(json_get "$work/$name.json" "d['store_writes'] + d['store_auth_errors'] > 0 and d['store_inflight'] == 0")" = True ]
  }
  wait_until 30 _settled
  echo "  $name: $(json_get "$work/$name.json" "' '.join('%s=%s' % (k, d[k]) for k in ('store_up', 'store_writes', 'store_write_errors', 'store_auth_errors'))")"
  keys=$(rcli --scan --pattern "qc:{$odcid}*" | wc -l)
  kill "${pids[-1]}"
}

run with-password "$work/pass"
check "with the password: the connection reached Redis" "[ $keys -ge 1 ]"
check "with the password: the store is up" "[ $(json_get "$work/with-password.json" "d['store_up']") = 1 ]"
check "with the password: no auth error" "[ $(json_get "$work/with-password.json" "d['store_auth_errors']") = 0 ]"
run acl-user "$work/user"
check "ACL user: the connection reached Redis" "[ $keys -ge 1 ]"
check "ACL user: no auth error" "[ $(json_get "$work/acl-user.json" "d['store_auth_errors']") = 0 ]"
run without ""
check "without --store-auth: nothing reached Redis" "[ $keys = 0 ]"
check "without --store-auth: counted" "[ $(json_get "$work/without.json" "d['store_auth_errors']") -ge 1 ]"
check "without --store-auth: said clearly" "grep -q 'NOAUTH: the server needs a password (--store-auth FILE)' '$work/without.err'"
check "without --store-auth: the store is not up" "[ $(json_get "$work/without.json" "d['store_up']") = 0 ]"
check "without --store-auth: said as degraded" "grep -q 'degraded: store unreachable: redis 127.0.0.1:$RP: NOAUTH' '$work/without.err'"
run wrong "$work/wrong"
check "wrong password: nothing reached Redis" "[ $keys = 0 ]"
check "wrong password: counted" "[ $(json_get "$work/wrong.json" "d['store_auth_errors']") -ge 1 ]"
check "wrong password: said clearly" "grep -q 'AUTH refused' '$work/wrong.err'"
check "wrong password: the store is not up" "[ $(json_get "$work/wrong.json" "d['store_up']") = 0 ]"
if [ "$FAILS" -ne 0 ]; then echo "$FAILS check(s) failed"; exit 1; fi
echo "all checks passed"
