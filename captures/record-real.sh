#!/usr/bin/env bash
# record-real.sh NAME [client options...]: record a corpus capture with the
# real tools on loopback: qasm-tracker, qasm-h3-server, qasm-mbox (nat,
# reactive) in front of it, and qasm-h3-client with the agent preloaded,
# captured by qasm-capture on lo (both hops, the agent's reports and the
# middlebox's TCP session to the tracker). Writes captures/corpus/NAME.pcap
# (--out DIR to write elsewhere, --mode proactive|default for the live
# middlebox, --ipv6 for ::1; options before NAME). Needs root
# (capture on lo). Every process is bounded by timeout and killed on exit.
#
#   captures/record-real.sh real-100hz --requests 30 --interval 5ms --migrate-hz 100
# Env: QASM_BUILD (default build).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../tests/integration/test_lib.sh"
build=${QASM_BUILD:-build}
out=$here/corpus
mode=reactive
ip=127.0.0.1 host=127.0.0.1 family=AF_INET
while :; do
  case "${1:-}" in
    --out) out=$2; shift 2 ;;
    --mode) mode=$2; shift 2 ;;
    --ipv6) ip=::1 host='[::1]' family=AF_INET6; shift ;;
    *) break ;;
  esac
done
name=${1:?usage: record-real.sh [--out DIR] [--mode M] NAME [client options...]}
shift
for b in qasm-tracker qasm-h3-server qasm-mbox qasm-h3-client qasm-capture libqasm-agent.so; do
  [ -e "$build/$b" ] || { echo "record-real: $build/$b not built" >&2; exit 1; }
done
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 0.2
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
  release_ports
}
trap cleanup EXIT

# Tracker, server and middlebox ports and the NAT's 64-port pool: reserved
# (free on 127.0.0.1 and ::1, below the ephemeral range; tests/integration/test_lib.sh).
base=$(reserve_ports 67) || { echo "record-real: no free ports" >&2; exit 1; }
tport=$base sport=$((base + 1)) mport=$((base + 2))
pool_lo=$((base + 3)); pool_hi=$((pool_lo + 63))

timeout "$(scaled 120)" "$build/qasm-capture" -i lo -w "$tmp/cap.pcap" \
  -f "udp port $sport or udp port $mport or port $tport" 2>"$tmp/capture.log" &
pids+=($!)
wait_until 30 grep -qs "capturing on" "$tmp/capture.log" ||
  { echo "record-real: qasm-capture did not start" >&2; exit 1; }
timeout "$(scaled 120)" "$build/qasm-tracker" --listen "$host:$tport" --log-level warn &
pids+=($!)
timeout "$(scaled 120)" "$build/qasm-h3-server" --listen "$host:$sport" --cid-len 8 --no-json &
pids+=($!)
timeout "$(scaled 120)" "$build/qasm-mbox" nat --mode "$mode" --listen "$host:$mport" \
  --upstream "$host:$sport" --tracker "$host:$tport" --ports "$pool_lo-$pool_hi" \
  --log-level warn &
pids+=($!)
wait_until 30 tcp_listening "$tport" && wait_until 30 udp_bound "$sport" && wait_until 30 udp_bound "$mport" ||
  { echo "record-real: tracker, server or middlebox did not start" >&2; exit 1; }
rc=0
LD_PRELOAD=$build/libqasm-agent.so QASM_TRACKER=$host:$tport \
  timeout "$(scaled 60)" "$build/qasm-h3-client" --connect "$host:$mport" --json "$@" \
  "https://$host:$sport/" >"$tmp/client.json" || rc=$?
sleep 0.3   # grace: qasm-capture reads what is still queued before it is stopped
kill -TERM "${pids[0]}"; wait "${pids[0]}" || true
cat "$tmp/capture.log" >&2
mkdir -p "$out"
cp "$tmp/cap.pcap" "$out/$name.pcap"
echo "record-real: $out/$name.pcap ($(stat -c %s "$out/$name.pcap") bytes), client exit $rc:"
cat "$tmp/client.json"
# the replay needs to know which side is the server: the first hop's server is the middlebox
echo "all: --server $host:$mport" >"$out/$name.flags"
