#!/usr/bin/env bash
# tracker_redis.sh: qasm-tracker with --store redis://HOST:PORT.
#  1. the tracker's own integration tests (tracker.sh, tracker_robust.sh)
#     against the Redis store, and tracker.sh with a Redis that is not there;
#  2. two trackers on one Redis behave as one: a report at A is seen by a
#     QUERY (plain and waiting) and by watchers at B, pushes carry
#     increasing per-connection sequence numbers; a third tracker started
#     later reads the record through from Redis;
#  3. Redis down: B keeps answering from what it holds and says so in stats
#     (store_up 0); Redis back on the same port: both reconnect and A
#     rewrites its connections (resynchronisation).
# redis-server runs on a free loopback port, without persistence, in a
# temporary directory; every process is bounded and killed on exit.
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
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
  release_ports
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; for f in "$work"/*.err "$work"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -20 "$f"; }; done; exit 1; }
ok() { echo "ok: $*"; }

free_port() { reserve_ports 1 || echo 0; }   # reserved: see test_lib.sh
json_get() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }

RP=$(free_port)
[ "$RP" != 0 ] || fail "no free port"
RPID=
start_redis() {
  timeout "$(scaled 400)" redis-server --port "$RP" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$work" --logfile "$work/redis.log" &
  RPID=$!
  pids+=("$RPID")
  for _ in $(seq 1 $(scaled 600)); do redis-cli -p "$RP" ping 2>/dev/null | grep -q PONG && return 0; sleep 0.1; done
  fail "redis-server did not start"
}
start_redis
ok "redis-server on 127.0.0.1:$RP"
STORE=redis://127.0.0.1:$RP

# 1. The tracker's tests against the Redis store.
for t in tracker.sh tracker_robust.sh; do
  QASM_TRACKER_STORE=$STORE timeout "$(scaled 250)" tests/integration/$t >"$work/$t.log" 2>&1 ||
    fail "$t with --store $STORE"
  ok "$t passes with --store redis://"
done
redis-cli -p "$RP" flushall >/dev/null
# Redis unreachable from the start (a closed port): the tracker serves as with memory.
DEAD=$(free_port)
QASM_TRACKER_STORE=redis://127.0.0.1:$DEAD timeout "$(scaled 250)" tests/integration/tracker.sh \
  >"$work/dead.log" 2>&1 || fail "tracker.sh with an unreachable Redis"
ok "tracker.sh passes with an unreachable Redis (answers from what it holds)"

# Bad store specs: clear message, exit 2.
"$TRK" --store redis://nohost 2>"$work/flag.err"; [ $? -eq 2 ] || fail "bad redis:// accepted"
grep -q -- "--store" "$work/flag.err" || fail "no message for a bad --store"
"$TRK" --store mongodb://x:1 2>"$work/flag.err"; [ $? -eq 2 ] || fail "unknown store accepted"
ok "bad --store rejected"

start_tracker() { # start_tracker NAME PORT
  timeout "$(scaled 400)" "$TRK" --listen "127.0.0.1:$2" --store "$STORE" --ttl 60s --close-linger 30s \
    --max-wait 20s --log-level debug 2>"$work/$1.err" &
  pids+=($!)
  eval "${1}_pid=$!"
  for _ in $(seq 1 $(scaled 600)); do
    "$CTL" --tracker "127.0.0.1:$2" --json stats >"$work/$1.stats" 2>/dev/null &&
      [ "$(json_get "$work/$1.stats" 'd.get("store_up", 0)')" = 1 ] && return 0
    sleep 0.1
  done
  fail "tracker $1 did not come up connected to Redis"
}
PA=$(free_port); PB=$(free_port); PC=$(free_port)
start_tracker A "$PA"
start_tracker B "$PB"
A=("$CTL" --tracker "127.0.0.1:$PA" --timeout "$(scaled 30)s")
Bc=("$CTL" --tracker "127.0.0.1:$PB" --timeout "$(scaled 30)s")
ok "trackers A ($PA) and B ($PB) on one Redis"

# 2. Watchers and a waiting query at B, report at A.
ODCID=0102030405060708
# The connection's secret, as its agent would choose it: every report of the connection
# carries a MAC under it (only its owner may change it at the tracker).
SECRET=5ec2e75ec2e75ec2e75ec2e75ec2e75e
timeout "$(scaled 120)" "${Bc[@]}" --json watch $ODCID >"$work/watch_one.out" 2>"$work/watch_one.err" &
WONE=$!; pids+=("$WONE")
timeout "$(scaled 120)" "${Bc[@]}" --json watch --count 4 >"$work/watch_all.out" 2>"$work/watch_all.err" &
WALL=$!; pids+=("$WALL")
timeout "$(scaled 120)" "${Bc[@]}" --json --timeout "$(scaled 90)s" query aabbccdd --wait 15000 >"$work/wait.out" 2>"$work/wait.err" &
WQ=$!; pids+=("$WQ")
for _ in $(seq 1 $(scaled 600)); do
  grep -q watching "$work/watch_all.err" && grep -q watching "$work/watch_one.err" && break
  sleep 0.05
done
grep -q watching "$work/watch_one.err" || fail "watchers at B did not subscribe"
# The query must be waiting at B before the report is made at A.
b_waiting() {
  "${Bc[@]}" --json stats >"$work/bst.json" 2>/dev/null && [ "$(json_get "$work/bst.json" 'd["waiting"]')" -ge 1 ]
}
wait_until 30 b_waiting || fail "the waiting query did not reach B"

"${A[@]}" report --secret $SECRET --odcid $ODCID --dcid aabbccdd --client 127.0.0.2:5000 \
  --server 127.0.0.1:4433 --seq 10 >/dev/null || fail "report at A"
found=0
for _ in $(seq 1 $(scaled 600)); do
  if "${Bc[@]}" --json query aabbccdd >"$work/q1.json" 2>/dev/null; then found=1; break; fi
  sleep 0.1
done
[ $found = 1 ] || fail "report at A: not found by a query at B"
[ "$(json_get "$work/q1.json" 'd["connection"]["odcid"]')" = $ODCID ] || fail "B: wrong odcid"
[ "$(json_get "$work/q1.json" 'd["connection"]["server"]')" = 127.0.0.1:4433 ] || fail "B: server"
ok "report at A -> query at B"
wait $WQ || fail "waiting query at B: exit $?"
[ "$(json_get "$work/wait.out" 'd["found"]')" = True ] || fail "waiting query at B not answered"
ok "query waiting at B answered by a report at A"

"${A[@]}" report --secret $SECRET --type dcid --odcid $ODCID --dcid 11223344 --dcid-seq 1 \
  --client 127.0.0.3:6000 --client0 127.0.0.2:5000 --seq 11 >/dev/null || fail "report dcid at A"
for _ in $(seq 1 $(scaled 600)); do "${Bc[@]}" query 11223344 >/dev/null 2>&1 && break; sleep 0.1; done
"${Bc[@]}" --json query 11223344 >"$work/q2.json" || fail "B: new DCID not seen"
[ "$(json_get "$work/q2.json" 'd["connection"]["current"]')" = 127.0.0.3:6000 ] || fail "B: current address"
"${A[@]}" report --secret $SECRET --type addr --odcid $ODCID --client 127.0.0.4:7000 --client0 127.0.0.2:5000 \
  --seq 12 >/dev/null || fail "report addr at A"
"${A[@]}" report --secret $SECRET --close --odcid $ODCID --client 127.0.0.4:7000 --client0 127.0.0.2:5000 \
  --seq 13 >/dev/null || fail "report close at A"
wait $WONE || fail "watch one at B: exit $?"
wait $WALL || fail "watch all at B: exit $?"
python3 - "$work/watch_one.out" "$work/watch_all.out" <<'EOF' || fail "pushes at B: $(cat "$work/watch_one.out")"
import json, sys
for f in sys.argv[1:]:
    ev = [json.loads(l) for l in open(f)]
    names = [e["event"] for e in ev]
    assert names == ["opened", "dcid_new", "addr", "closed"], (f, names)
    revs = [e["connection"]["rev"] for e in ev]
    assert revs == sorted(revs) and len(set(revs)) == len(revs) and revs[0] >= 1, (f, revs)
EOF
ok "watchers at B got A's pushes: opened dcid_new addr closed, increasing sequence numbers"

# A connection reported while only A runs is read through by a tracker started later.
"${A[@]}" report --odcid 0a0b0c0d --dcid 5566 --client 127.0.0.5:5000 --server 127.0.0.1:4433 \
  --seq 1 >/dev/null || fail "report at A (2)"
for _ in $(seq 1 $(scaled 600)); do
  [ "$(redis-cli -p "$RP" exists 'qi:{5566}')" = 1 ] && break; sleep 0.1
done
[ "$(redis-cli -p "$RP" exists 'qi:{5566}')" = 1 ] || fail "index key qi:{5566} not in Redis"
[ -n "$(redis-cli -p "$RP" --scan --pattern 'qc:{0a0b0c0d}:*')" ] || fail "record key not in Redis"
ttl=$(redis-cli -p "$RP" pttl 'qi:{5566}')
[ "$ttl" -gt 0 ] && [ "$ttl" -le 60000 ] || fail "index TTL $ttl not within --ttl"
ok "keys in Redis: record qc:{O-DCID}:CLIENT0, index qi:{DCID}, PTTL $ttl ms <= --ttl"
start_tracker C "$PC"
Cc=("$CTL" --tracker "127.0.0.1:$PC" --timeout "$(scaled 30)s")
"${Cc[@]}" --json query 5566 >"$work/q3.json" || fail "C (started later): not found"
[ "$(json_get "$work/q3.json" 'd["connection"]["odcid"]')" = 0a0b0c0d ] || fail "C: wrong record"
"${Cc[@]}" query 77889900 >/dev/null; [ $? -eq 1 ] || fail "C: unknown DCID not NOT_FOUND"
"${Cc[@]}" --json stats >"$work/C.stats" || fail "stats C"
[ "$(json_get "$work/C.stats" 'd["store_lookup_hits"]')" -ge 1 ] || fail "C: no lookup hit counted"
ok "tracker C started later reads the record through from Redis; NOT_FOUND otherwise"

# 2b. The owner's secret travels with the record: B, which never saw the OPEN,
# verifies the owner's next report and refuses a forged one.
S2=0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d
"${A[@]}" report --secret $S2 --type open --odcid 0d0d --client 127.0.0.7:5000 \
  --server 127.0.0.1:4433 --seq 1 >/dev/null || fail "open at A"
"${A[@]}" report --secret $S2 --type dcid --odcid 0d0d --dcid 0d0e --client 127.0.0.7:5000 \
  --seq 2 >/dev/null || fail "dcid at A"
for _ in $(seq 1 50); do "${Bc[@]}" query 0d0e >/dev/null 2>&1 && break; sleep 0.1; done
"${Bc[@]}" report --type addr --odcid 0d0d --client0 127.0.0.7:5000 --client 127.0.0.66:6000 \
  --seq 4294967280 >/dev/null || fail "forged addr at B"
"${Bc[@]}" report --secret $S2 --type addr --odcid 0d0d --client0 127.0.0.7:5000 \
  --client 127.0.0.8:5000 --seq 3 >/dev/null || fail "owner's addr at B"
for _ in $(seq 1 50); do
  "${Bc[@]}" --json query 0d0e >"$work/q5.json" 2>/dev/null &&
    [ "$(json_get "$work/q5.json" '"127.0.0.8:5000" in d["connection"]["clients"]')" = True ] && break
  sleep 0.1
done
[ "$(json_get "$work/q5.json" '"127.0.0.8:5000" in d["connection"]["clients"]')" = True ] ||
  fail "B refused the owner's report (secret not shared)"
[ "$(json_get "$work/q5.json" '"127.0.0.66:6000" in d["connection"]["clients"]')" = False ] ||
  fail "B accepted a forged report"
"${Bc[@]}" --json stats >"$work/B2.stats" || fail "stats at B"
[ "$(json_get "$work/B2.stats" 'd["rejected_unauth"]')" -ge 1 ] || fail "B: forged report not counted"
ok "B verifies the owner's reports with the secret shared through Redis, refuses a forged one"

# 3. Redis down: answers from local state, stats say so; back: reconnect + resync.
kill "$RPID"; wait "$RPID" 2>/dev/null
for _ in $(seq 1 $(scaled 600)); do
  "${Bc[@]}" --json stats >"$work/B.stats" 2>/dev/null &&
    [ "$(json_get "$work/B.stats" 'd["store_up"]')" = 0 ] && break
  sleep 0.1
done
[ "$(json_get "$work/B.stats" 'd["store_up"]')" = 0 ] || fail "B: store_up still 1 with Redis down"
"${Bc[@]}" --json query 5566 >"$work/q4.json" || fail "B: local record not answered with Redis down"
"${Bc[@]}" query 99999999 >/dev/null; [ $? -eq 1 ] || fail "B: unknown DCID with Redis down"
"${A[@]}" report --odcid 0e0f --dcid 7788 --client 127.0.0.6:5000 --seq 1 >/dev/null ||
  fail "report at A with Redis down"
for _ in $(seq 1 $(scaled 600)); do "${A[@]}" query 7788 >/dev/null 2>&1 && break; sleep 0.1; done
"${A[@]}" query 7788 >/dev/null || fail "A does not hold its report with Redis down"
ok "Redis down: trackers answer from what they hold (store_up 0)"
start_redis
for _ in $(seq 1 $(scaled 600)); do
  [ "$(redis-cli -p "$RP" exists 'qi:{7788}')" = 1 ] && break; sleep 0.1
done
[ "$(redis-cli -p "$RP" exists 'qi:{7788}')" = 1 ] || fail "A did not resynchronise after Redis came back"
for n in A B; do
  p=$([ $n = A ] && echo "$PA" || echo "$PB")
  for _ in $(seq 1 $(scaled 600)); do
    "$CTL" --tracker "127.0.0.1:$p" --json stats >"$work/$n.stats" 2>/dev/null &&
      [ "$(json_get "$work/$n.stats" 'd["store_up"]')" = 1 ] && break
    sleep 0.1
  done
  [ "$(json_get "$work/$n.stats" 'd["store_up"]')" = 1 ] || fail "$n did not reconnect"
  [ "$(json_get "$work/$n.stats" 'd["store_reconnects"]')" -ge 1 ] || fail "$n: reconnects not counted"
done
ok "Redis back: A and B reconnected, A rewrote its connections"

for n in A B C; do
  pid=$(pgrep -P "$(eval echo \$${n}_pid)" -x qasm-tracker)
  [ -n "$pid" ] && kill -TERM "$pid"
  wait "$(eval echo \$${n}_pid)"; rc=$?
  [ $rc -eq 0 ] || fail "tracker $n exit status $rc"
done
ok "trackers exit cleanly"
echo "PASS tracker_redis.sh"
