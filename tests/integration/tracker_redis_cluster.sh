#!/usr/bin/env bash
# tracker_redis_cluster.sh: qasm-tracker with --store redis-cluster://
# on a Redis Cluster of 3 masters and 3 replicas started here on loopback
# ports (redis-server --cluster-enabled yes + redis-cli --cluster create),
# removed after:
#  1. the tracker's own integration tests against the Cluster store;
#  2. two trackers: 24 connections reported at A (their keys spread over the
#     masters by the {O-DCID} hash tag), pushed to a watcher at B through
#     sharded pub/sub, all visible at B; a tracker started
#     later reads them through, following MOVED redirections;
#  3. failover: the master holding most records is killed while reports and
#     queries go on; B answers from what it holds meanwhile; after its
#     replica took over, every record is in the Cluster again (A rewrites
#     what the lost master had not replicated) and a new tracker finds all.
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
fail() {
  echo "FAIL: $*"
  for f in "$work"/*.err "$work"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -15 "$f"; }; done
  exit 1
}
ok() { echo "ok: $*"; }
free_port() { reserve_ports 1 10000 || echo 0; }   # reserved: see test_lib.sh
json_get() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }

# ---- the Cluster -------------------------------------------------------------
used=()
PORTS=()
for i in 1 2 3 4 5 6; do
  p=$(free_port); [ "$p" != 0 ] || fail "no free port"; used+=("$p"); PORTS+=("$p")
done
declare -A RPID
for p in "${PORTS[@]}"; do
  mkdir -p "$work/n$p"
  timeout "$(scaled 400)" redis-server --port "$p" --bind 127.0.0.1 --cluster-enabled yes \
    --cluster-config-file "$work/n$p/nodes.conf" --cluster-node-timeout 1500 \
    --cluster-replica-validity-factor 0 \
    --save '' --appendonly no --dir "$work/n$p" --logfile "$work/redis-$p.log" &
  RPID[$p]=$!
  pids+=("$!")
done
for p in "${PORTS[@]}"; do
  for _ in $(seq 1 $(scaled 600)); do redis-cli -p "$p" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
  redis-cli -p "$p" ping 2>/dev/null | grep -q PONG || fail "redis-server $p did not start"
done
nodes=(); for p in "${PORTS[@]}"; do nodes+=("127.0.0.1:$p"); done
timeout "$(scaled 120)" redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes \
  >"$work/create.log" 2>&1 || fail "redis-cli --cluster create"
cluster_ok() { # cluster_ok PORT...: every given node says cluster_state:ok
  for p in "$@"; do
    redis-cli -p "$p" cluster info 2>/dev/null | grep -q 'cluster_state:ok' || return 1
  done
}
failed_over() { # failed_over VICTIM PORT...: every node marks VICTIM failed and its state is ok
  local v=$1 p; shift
  for p in "$@"; do
    redis-cli -p "$p" cluster nodes 2>/dev/null |
      awk -v v="$v" '{ split($2, a, "[:@]") } a[2] == v && $3 ~ /(^|,)fail(,|$)/ { f = 1 } END { exit !f }' ||
      return 1
  done
  cluster_ok "$@"
}
for _ in $(seq 1 $(scaled 600)); do cluster_ok "${PORTS[@]}" && break; sleep 0.2; done
cluster_ok "${PORTS[@]}" || fail "cluster not ok after 30 s"
# Wait for the replicas to be attached (3 masters with slots, 3 replicas).
for _ in $(seq 1 $(scaled 600)); do
  masters=($(redis-cli -p "${PORTS[0]}" cluster nodes |
    awk '$3 ~ /master/ && NF >= 9 {split($2,a,"[:@]"); print a[2]}'))
  nrep=$(redis-cli -p "${PORTS[0]}" cluster nodes | awk '$3 ~ /slave/' | wc -l)
  [ ${#masters[@]} = 3 ] && [ "$nrep" = 3 ] && break
  sleep 0.2
done
[ ${#masters[@]} = 3 ] && [ "$nrep" = 3 ] || fail "expected 3 masters + 3 replicas: ${masters[*]} / $nrep"
links_up() { # every replica's link to its master is up (else it could not take over)
  local p n=0
  for p in "${PORTS[@]}"; do
    redis-cli -p "$p" info replication 2>/dev/null | grep -q 'master_link_status:up' && n=$((n + 1))
  done
  [ $n = 3 ]
}
for _ in $(seq 1 $(scaled 600)); do links_up && break; sleep 0.2; done
links_up || fail "replicas not synchronised after 30 s"
ok "Redis Cluster up: masters ${masters[*]}, 3 replicas"
# Seeds: two nodes only; the tracker learns the others from CLUSTER SLOTS.
STORE="redis-cluster://127.0.0.1:${PORTS[0]},127.0.0.1:${PORTS[1]}"

# ---- 1. the tracker's tests against the Cluster ---------------------------------
for t in tracker.sh tracker_robust.sh; do
  QASM_TRACKER_STORE=$STORE timeout "$(scaled 250)" tests/integration/$t >"$work/$t.log" 2>&1 ||
    fail "$t with --store redis-cluster://"
  ok "$t passes with --store redis-cluster://"
done

# ---- 2. two trackers, records spread over the masters -----------------------------
start_tracker() { # start_tracker NAME PORT
  timeout "$(scaled 400)" "$TRK" --listen "127.0.0.1:$2" --store "$STORE" --ttl 120s --close-linger 30s \
    --max-wait 20s --store-timeout 500ms --log-level debug 2>"$work/$1.err" &
  pids+=($!)
  eval "${1}_pid=$!"
  for _ in $(seq 1 $(scaled 600)); do
    "$CTL" --tracker "127.0.0.1:$2" --json stats >"$work/$1.stats" 2>/dev/null &&
      [ "$(json_get "$work/$1.stats" 'd.get("store_up", 0)')" = 1 ] && return 0
    sleep 0.1
  done
  fail "tracker $1 did not come up connected to the Cluster"
}
tport() { p=$(free_port); echo "$p"; }
PA=$(tport); PB=$(tport); PC=$(tport); PD=$(tport)
start_tracker A "$PA"
start_tracker B "$PB"
A=("$CTL" --tracker "127.0.0.1:$PA" --timeout "$(scaled 30)s")
Bc=("$CTL" --tracker "127.0.0.1:$PB" --timeout "$(scaled 30)s")
N=24
odcid() { printf 'c0de%04x' "$1"; }
dcid() { printf 'd0%06x' "$1"; }
# Pushes cross trackers by sharded pub/sub: a watcher of every connection at B.
timeout "$(scaled 120)" "${Bc[@]}" --json watch --count $N >"$work/watch_all.out" 2>"$work/watch_all.err" &
WALL=$!; pids+=("$WALL")
for _ in $(seq 1 $(scaled 600)); do grep -q watching "$work/watch_all.err" 2>/dev/null && break; sleep 0.05; done
grep -q watching "$work/watch_all.err" || fail "watcher at B did not subscribe"
for i in $(seq 1 $N); do
  "${A[@]}" report --odcid "$(odcid "$i")" --dcid "$(dcid "$i")" --client "127.0.0.2:$((5000 + i))" \
    --server 127.0.0.1:4433 --seq 1 >/dev/null || fail "report $i at A"
done
wait $WALL || fail "watch at B: exit $? after $(wc -l <"$work/watch_all.out") pushes"
[ "$(grep -c '"event":"opened"' "$work/watch_all.out")" = $N ] || fail "watch at B: not $N opened pushes"
nch=0
for m in "${masters[@]}"; do
  nch=$((nch + $(redis-cli -p "$m" pubsub shardchannels 'qasm:ev:*' | grep -c .)))
done
[ $nch -ge 16 ] || fail "sharded channels subscribed: $nch, expected 16 (on their masters)"
ok "watcher at B got the $N opened pushes of A through SPUBLISH/SSUBSCRIBE ($nch shard channel subscriptions)"
seen=0
for _ in $(seq 1 $(scaled 600)); do
  seen=0
  for i in $(seq 1 $N); do "${Bc[@]}" query "$(dcid "$i")" >/dev/null 2>&1 && seen=$((seen + 1)); done
  [ $seen = $N ] && break
  sleep 0.1
done
[ $seen = $N ] || fail "B sees $seen of $N connections reported at A"
ok "$N connections reported at A, all visible at B"
declare -A perm
spread=0
for m in "${masters[@]}"; do
  k=$(redis-cli -p "$m" --scan --pattern 'qc:{c0de*' | wc -l)
  perm[$m]=$k
  [ "$k" -gt 0 ] && spread=$((spread + 1))
done
[ $spread -ge 2 ] || fail "records not spread over the masters: ${perm[*]}"
for i in 1 2 3; do # record, sequence and the O-DCID's index entry share a slot
  o=$(odcid "$i")
  s1=$(redis-cli -p "${PORTS[0]}" cluster keyslot "qc:{$o}:127.0.0.2:$((5000 + i))")
  s2=$(redis-cli -p "${PORTS[0]}" cluster keyslot "qs:{$o}:127.0.0.2:$((5000 + i))")
  s3=$(redis-cli -p "${PORTS[0]}" cluster keyslot "qi:{$o}")
  [ "$s1" = "$s2" ] && [ "$s1" = "$s3" ] || fail "keys of $o in slots $s1 $s2 $s3"
done
ok "records spread over $spread masters (${perm[*]}); one connection's keys share one slot"

start_tracker C "$PC"
Cc=("$CTL" --tracker "127.0.0.1:$PC" --timeout "$(scaled 30)s")
for i in $(seq 1 $N); do
  "${Cc[@]}" query "$(dcid "$i")" >/dev/null || fail "C (started later): $(dcid "$i") not found"
done
"${Cc[@]}" --json stats >"$work/C.stats"
[ "$(json_get "$work/C.stats" 'd["store_lookup_hits"]')" -ge $N ] || fail "C: lookups not counted"
ok "tracker C started later reads all $N through from the Cluster"

# ---- 3. failover -------------------------------------------------------------------
victim=${masters[0]}
for m in "${masters[@]}"; do [ "${perm[$m]}" -gt "${perm[$victim]}" ] && victim=$m; done
vpid=$(pgrep -P "${RPID[$victim]}" -x redis-server)
[ -n "$vpid" ] || fail "redis-server $victim not found"
kill -9 "$vpid"
ok "killed master $victim (${perm[$victim]} records) with -9"
# Reports and queries go on during the failover.
M=8
for i in $(seq $((N + 1)) $((N + M))); do
  "${A[@]}" report --odcid "$(odcid "$i")" --dcid "$(dcid "$i")" --client "127.0.0.2:$((5000 + i))" \
    --server 127.0.0.1:4433 --seq 1 >/dev/null || fail "report $i at A during failover"
  "${Bc[@]}" query "$(dcid 1)" >/dev/null || fail "B stopped answering during the failover"
  sleep 0.2
done
ok "during the failover: reports accepted at A, B answers from what it holds"
alive=(); for p in "${PORTS[@]}"; do [ "$p" != "$victim" ] && alive+=("$p"); done
# "ok" alone is not enough: right after the kill the nodes have not yet
# noticed (state still ok); wait until every node marks the victim failed
# and the state is ok again, i.e. its replica took the slots over.
for _ in $(seq 1 $(scaled 600)); do failed_over "$victim" "${alive[@]}" && break; sleep 0.2; done
failed_over "$victim" "${alive[@]}" || fail "cluster did not recover from the loss of $victim in $(scaled 120) s"
ok "replica promoted, cluster ok again"
T=$((N + M))
for _ in $(seq 1 $(scaled 600)); do
  n=0
  for i in $(seq 1 $T); do
    [ "$(redis-cli -c -p "${alive[0]}" exists "qi:{$(dcid "$i")}" 2>/dev/null)" = 1 ] && n=$((n + 1))
  done
  [ $n = $T ] && break
  sleep 0.2
done
[ $n = $T ] || fail "after failover only $n of $T index entries in the Cluster"
start_tracker D "$PD"
Dc=("$CTL" --tracker "127.0.0.1:$PD" --timeout "$(scaled 30)s")
for i in $(seq 1 $T); do
  "${Dc[@]}" query "$(dcid "$i")" >/dev/null || fail "after failover: $(dcid "$i") lost"
done
"${A[@]}" --json stats >"$work/A.stats"
ok "after failover no record lost: all $T found by a new tracker (A: redirects $(json_get "$work/A.stats" 'd["store_redirects"]'), reconnects $(json_get "$work/A.stats" 'd["store_reconnects"]'))"

# Pushes cross trackers again: B re-subscribed the channels of the lost master.
for _ in $(seq 1 $(scaled 600)); do
  "${Bc[@]}" --json stats >"$work/B.stats" 2>/dev/null &&
    [ "$(json_get "$work/B.stats" 'd["store_up"]')" = 1 ] && break
  sleep 0.1
done
[ "$(json_get "$work/B.stats" 'd["store_up"]')" = 1 ] || fail "B: store_up not back after failover"
timeout "$(scaled 120)" "${Bc[@]}" --json watch --count 16 >"$work/watch2.out" 2>"$work/watch2.err" &
W2=$!; pids+=("$W2")
for _ in $(seq 1 $(scaled 600)); do grep -q watching "$work/watch2.err" 2>/dev/null && break; sleep 0.05; done
grep -q watching "$work/watch2.err" || fail "watcher at B did not subscribe after the failover"
for i in $(seq 101 116); do
  "${A[@]}" report --odcid "$(odcid "$i")" --dcid "$(dcid "$i")" --client "127.0.0.2:$((5000 + i))" \
    --server 127.0.0.1:4433 --seq 1 >/dev/null || fail "report $i at A after failover"
done
wait $W2 || fail "watch at B after failover: exit $? after $(wc -l <"$work/watch2.out") pushes"
ok "after failover: 16 new connections at A pushed to a watcher at B"

for n in A B C D; do
  tp=$(eval echo \$${n}_pid)
  pid=$(pgrep -P "$tp" -x qasm-tracker)
  [ -n "$pid" ] && kill -TERM "$pid"
  wait "$tp"; rc=$?
  [ $rc -eq 0 ] || fail "tracker $n exit status $rc"
done
ok "trackers exit cleanly"
echo "PASS tracker_redis_cluster.sh"
