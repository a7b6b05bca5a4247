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
}
trap cleanup EXIT

# free UDP+TCP ports on the loopback address
free_port() {
  python3 -c 'import socket, sys
fam = getattr(socket, sys.argv[1]); ip = sys.argv[2]
for _ in range(50):
    u = socket.socket(fam, socket.SOCK_DGRAM); u.bind((ip, 0)); p = u.getsockname()[1]
    t = socket.socket(fam, socket.SOCK_STREAM)
    try:
        t.bind((ip, p)); print(p); break
    except OSError: pass
    finally: t.close(); u.close()' "$family" "$ip"
}
tport=$(free_port); sport=$(free_port); mport=$(free_port)
pool_lo=$((41000 + RANDOM % 2000)); pool_hi=$((pool_lo + 63))

timeout 60 "$build/qasm-capture" -i lo -w "$tmp/cap.pcap" \
  -f "udp port $sport or udp port $mport or port $tport" 2>"$tmp/capture.log" &
pids+=($!)
for _ in $(seq 50); do grep -q "capturing on" "$tmp/capture.log" && break; sleep 0.1; done
timeout 60 "$build/qasm-tracker" --listen "$host:$tport" --log-level warn &
pids+=($!)
timeout 60 "$build/qasm-h3-server" --listen "$host:$sport" --cid-len 8 --no-json &
pids+=($!)
timeout 60 "$build/qasm-mbox" nat --mode "$mode" --listen "$host:$mport" \
  --upstream "$host:$sport" --tracker "$host:$tport" --ports "$pool_lo-$pool_hi" \
  --log-level warn &
pids+=($!)
sleep 0.5
rc=0
LD_PRELOAD=$build/libqasm-agent.so QASM_TRACKER=$host:$tport \
  timeout 30 "$build/qasm-h3-client" --connect "$host:$mport" --json "$@" \
  "https://$host:$sport/" >"$tmp/client.json" || rc=$?
sleep 0.3
kill -TERM "${pids[0]}"; wait "${pids[0]}" || true
cat "$tmp/capture.log" >&2
mkdir -p "$out"
cp "$tmp/cap.pcap" "$out/$name.pcap"
echo "record-real: $out/$name.pcap ($(stat -c %s "$out/$name.pcap") bytes), client exit $rc:"
cat "$tmp/client.json"
# the replay needs to know which side is the server: the first hop's server is the middlebox
echo "all: --server $host:$mport" >"$out/$name.flags"
