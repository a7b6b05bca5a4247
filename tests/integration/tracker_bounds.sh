#!/usr/bin/env bash
# tracker_bounds.sh: a few sessions cannot starve or exhaust qasm-tracker,
# and a middlebox's session (STATS / QUERY round trips from 127.0.0.1, the
# probe of tracker_bounds.py) is served during each attack:
#  1. dump flood: sessions pipeline DUMP of 10k connections and never read:
#     the dump is streamed under flow control, the tracker's peak RSS stays
#     flat (it grew by the whole backlog before: up to 256 MiB a session);
#  2. idle sessions: sessions from one IP are capped (--max-sessions-per-ip),
#     idle ones from many IPs are closed (--session-idle): the middlebox
#     gets a session (it was locked out for as long as they stayed);
#  3. memory: subscriptions beyond the budget's share are refused and
#     subscribe-all sessions that do not read are dropped at the output cap
#     (--max-memory 64M): peak RSS bounded;
#  4. connection cap: one /24 cannot hold more than its prefix cap, and at
#     the global cap a client of another prefix evicts the idlest connection
#     of the biggest prefix: its connection is found by a middlebox's QUERY
#     (it was refused before).
# Against a tracker without these bounds (QASM_BUILD=<old build>) every
# section fails. Figures: peak RSS growth, probe latency, sessions kept.
set -u
. "$(dirname "$0")/test_lib.sh"
B=${QASM_BUILD:-build}
TRK=$B/qasm-tracker
CTL=$B/qasm-trackctl
PY="$(dirname "$0")/tracker_bounds.py"
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
  release_ports
}
trap cleanup EXIT
failed=0
fail() { echo "FAIL: $*"; failed=1; }
ok() { echo "ok: $*"; }

# Flags only a bounded tracker knows; a tracker built before them runs with its defaults.
HELP=$("$TRK" --help)
newflag() { case "$HELP" in *"$1 "*) echo "$1 $2" ;; esac; }

# start_tracker NAME ARGS...: sets P (port) and TPID (the tracker's pid).
start_tracker() {
  local name=$1; shift
  timeout "$(scaled 200)" "$TRK" --listen 127.0.0.1:0 "$@" 2>"$work/$name.err" &
  pids+=($!)
  P=$(logged_port "$work/$name.err") || { cat "$work/$name.err"; echo "FAIL: $name: tracker did not start"; exit 1; }
  TPID=$(pgrep -P "$!" -x qasm-tracker)
}
stop_tracker() { kill "$TPID" 2>/dev/null; wait 2>/dev/null; pids=(); }
hwm_kib() { awk '/^VmHWM/ { print $2 }' "/proc/$TPID/status"; }
stat_of() {  # stat_of NAME: the counter (empty if this tracker has none)
  timeout "$(scaled 30)" "$CTL" --tracker "127.0.0.1:$P" --timeout "$(scaled 20)s" --json stats 2>/dev/null |
    python3 -c 'import json,sys; print(json.load(sys.stdin).get(sys.argv[1], ""))' "$1"
}
conns_at_least() { local c; c=$(stat_of conns); [ -n "$c" ] && [ "$c" -ge "$1" ]; }
probe_field() { python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).read() or "{}").get(sys.argv[2], ""))' "$1" "$2"; }
load() {  # load IPS N PREFIX_HEX [DCIDS]: see tracker_bounds.py
  timeout "$(scaled 60)" python3 "$PY" load "$P" "$@" >/dev/null || echo "load from $1 failed"
}
ips() {  # ips A.B.C. FROM TO: A.B.C.FROM,...,A.B.C.TO
  seq "$2" "$3" | sed "s/^/$1/" | paste -sd,
}

# ---- 1. dump flood ---------------------------------------------------------
start_tracker dump $(newflag --max-memory 256M)
load "$(ips 127.0.0. 2 11)" 1000 0a
wait_until 30 conns_at_least 10000 || fail "dump: 10000 connections loaded"
h0=$(hwm_kib)
timeout "$(scaled 60)" python3 "$PY" probe "$P" 6 >"$work/probe1" &
probe=$!
timeout "$(scaled 60)" python3 "$PY" dumpflood "$P" 4 200 6 &
flood=$!
wait "$probe"
wait "$flood"
h1=$(hwm_kib)
grow=$(( (h1 - h0) / 1024 ))
echo "figure: dump flood (4 sessions x 200 pipelined DUMP of 10000 connections, never read): tracker peak RSS +${grow} MiB"
echo "figure: dump flood: middlebox STATS round trips $(cat "$work/probe1")"
[ "$grow" -lt 64 ] && ok "dump flood: peak RSS +${grow} MiB (< 64)" || fail "dump flood: peak RSS +${grow} MiB"
[ "$(probe_field "$work/probe1" served)" -ge 1 ] 2>/dev/null && [ "$(probe_field "$work/probe1" failures)" = 0 ] &&
  ok "dump flood: the middlebox's session served" || fail "dump flood: middlebox not served: $(cat "$work/probe1")"
n=$(timeout "$(scaled 30)" "$CTL" --tracker "127.0.0.1:$P" --timeout "$(scaled 20)s" --json dump |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])')
[ "$n" = 10000 ] && ok "dump after the flood: 10000 records" || fail "dump after the flood: $n"
paused=$(stat_of sessions_paused)
[ -n "$paused" ] && [ "$paused" -ge 1 ] && ok "dump flood: sessions paused ($paused)" || fail "dump flood: no session paused ($paused)"
stop_tracker

# ---- 2. idle sessions ------------------------------------------------------
start_tracker idle --max-sessions 32 $(newflag --max-sessions-per-ip 8) $(newflag --session-idle 2s)
# The attackers stay (40 s) until the probes are done.
timeout "$(scaled 60)" python3 "$PY" idle "$P" 127.0.0.2 40 40 >"$work/idle1" &
attackers=($!)
wait_until 10 test -s "$work/idle1"
timeout "$(scaled 60)" python3 "$PY" probe "$P" 6 first >"$work/probe2"
echo "figure: 40 idle sessions from one IP: $(cat "$work/idle1") kept; middlebox: $(cat "$work/probe2")"
[ "$(probe_field "$work/probe2" served)" -ge 1 ] 2>/dev/null && ok "idle sessions from one IP: middlebox served" ||
  fail "idle sessions from one IP: middlebox locked out ($(cat "$work/probe2"))"
for i in 3 4 5 6 7; do
  timeout "$(scaled 60)" python3 "$PY" idle "$P" "127.0.0.$i" 8 40 >"$work/idle$i" &
  attackers+=($!)
done
for i in 3 4 5 6 7; do wait_until 10 test -s "$work/idle$i"; done
full=$(cat "$work"/idle[34567] | awk '{ s += $1 } END { print s }')
timeout "$(scaled 60)" python3 "$PY" probe "$P" 12 first >"$work/probe3"
echo "figure: 40 idle sessions from 5 more IPs: $full kept; middlebox: $(cat "$work/probe3") (first_s: served once idle sessions were closed)"
[ "$(probe_field "$work/probe3" served)" -ge 1 ] 2>/dev/null && ok "idle sessions from many IPs: middlebox served" ||
  fail "idle sessions from many IPs: middlebox locked out ($(cat "$work/probe3"))"
echo "figure: sessions_refused_ip $(stat_of sessions_refused_ip), sessions_idle_closed $(stat_of sessions_idle_closed), sessions_refused_full $(stat_of sessions_refused_full)"
kill "${attackers[@]}" 2>/dev/null
stop_tracker

# ---- 3. memory: subscriptions and slow subscribe-all sessions ---------------
start_tracker mem $(newflag --max-memory 32M)
h0=$(hwm_kib)
timeout "$(scaled 60)" python3 "$PY" probe "$P" 8 >"$work/probe4" &
probe=$!
timeout "$(scaled 60)" python3 "$PY" watchers "$P" "$(ips 127.0.0. 20 25)" 4096 50 &  # killed below
watch=$!
wait_until 10 test "$(stat_of subscribers)" -ge 6
load "$(ips 127.0.0. 40 49)" 1000 0d 10
timeout "$(scaled 90)" python3 "$PY" subflood "$P" "$(ips 127.0.0. 70 74)" 40000 1 >"$work/subs"
h1=$(hwm_kib)
wait "$probe"
kill "$watch" 2>/dev/null
grow=$(( (h1 - h0) / 1024 ))
echo "figure: 6 subscribe-all sessions not reading (4 KB receive buffer) during 10000 new connections with 10 DCIDs each (110000 pushes each), and 5 sessions subscribing 40000 CIDs each (accepted refused: $(cat "$work/subs")): tracker peak RSS +${grow} MiB (the new connections' share about 8 MiB)"
echo "figure: memory attack: middlebox STATS round trips $(cat "$work/probe4")"
echo "figure: sessions_dropped_slow $(stat_of sessions_dropped_slow), subs_refused_budget $(stat_of subs_refused_budget), mem_used $(stat_of mem_used), mem_budget $(stat_of mem_budget)"
[ "$grow" -lt 32 ] && ok "memory attack: peak RSS +${grow} MiB (< 32)" || fail "memory attack: peak RSS +${grow} MiB"
[ "$(probe_field "$work/probe4" served)" -ge 1 ] 2>/dev/null && [ "$(probe_field "$work/probe4" failures)" = 0 ] &&
  ok "memory attack: the middlebox's session served" || fail "memory attack: middlebox not served: $(cat "$work/probe4")"
b=$(stat_of subs_refused_budget)
[ -n "$b" ] && [ "$b" -ge 1 ] && ok "subscriptions beyond the budget refused ($b)" || fail "subscription budget not enforced ($b)"
d=$(stat_of sessions_dropped_slow)
[ -n "$d" ] && [ "$d" -ge 1 ] && ok "slow subscribe-all sessions dropped ($d)" || fail "slow subscribers not dropped ($d)"
stop_tracker

# ---- 4. connection cap from many addresses ----------------------------------
start_tracker cap --max-conns 2000 --max-per-ip 100
load "$(ips 127.0.0. 2 21)" 100 0e
load "$(ips 127.0.5. 1 4)" 100 0f
wait_until 30 conns_at_least 2000 || fail "cap: global cap reached"
load 127.0.9.7 1 bb
timeout "$(scaled 30)" python3 "$PY" probe "$P" 5 bb0700000000 >"$work/probe5"
echo "figure: --max-conns 2000 filled from 24 IPs of two /24s: conns $(stat_of conns), rejected_prefix_cap $(stat_of rejected_prefix_cap), evicted $(stat_of evicted), rejected_max_conns $(stat_of rejected_max_conns); a client of a third /24: $(cat "$work/probe5")"
[ "$(probe_field "$work/probe5" found)" = True ] && ok "connection cap: a client of another prefix is served (QUERY found)" ||
  fail "connection cap: the client's connection was refused ($(cat "$work/probe5"))"
stop_tracker

[ "$failed" = 0 ] || { echo "FAIL tracker_bounds.sh"; exit 1; }
echo "PASS tracker_bounds.sh"
