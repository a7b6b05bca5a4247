#!/usr/bin/env bash
# record-trackctl.sh [OUT.pcap]: record a qasm-trackctl session against a
# qasm-tracker on loopback (reports over UDP, then SUBSCRIBE/PUSH, DUMP,
# STATS, QUERY found and not found over TCP), so that the dissector has
# every message type to decode. Default output:
# captures/corpus/trackctl-session.pcap. Needs root (capture on lo).
# Env: QASM_BUILD (default build).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${QASM_BUILD:-build}
out=${1:-$here/corpus/trackctl-session.pcap}
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
port=$(python3 -c 'import socket
for _ in range(50):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0)); p = u.getsockname()[1]
    t = socket.socket()
    try:
        t.bind(("127.0.0.1", p)); print(p); break
    except OSError: pass
    finally: t.close(); u.close()')
ctl() { timeout 10 "$build/qasm-trackctl" --tracker "127.0.0.1:$port" "$@" >/dev/null; }

timeout 30 "$build/qasm-capture" -i lo -w "$tmp/t.pcap" -f "port $port" 2>"$tmp/c.log" &
cap=$!
pids+=($cap)
for _ in $(seq 100); do grep -q "capturing on" "$tmp/c.log" && break; sleep 0.05; done
timeout 30 "$build/qasm-tracker" --listen "127.0.0.1:$port" --log-level warn &
pids+=($!)
sleep 0.3
ctl report --secret c0ffee01c0ffee01c0ffee01c0ffee01 --odcid c0ffee01 --client 127.0.0.1:5555 --server 127.0.0.1:4433 --dcid aabbccdd \
  --scid 0102
ctl report --secret c0ffee01c0ffee01c0ffee01c0ffee01 --odcid c0ffee01 --client 127.0.0.1:5556 --client0 127.0.0.1:5555 --type addr
timeout 10 "$build/qasm-trackctl" --tracker "127.0.0.1:$port" watch c0ffee01 --count 1 \
  >/dev/null 2>&1 &
watch=$!
sleep 0.2
ctl report --secret c0ffee01c0ffee01c0ffee01c0ffee01 --odcid c0ffee01 --client 127.0.0.1:5557 --client0 127.0.0.1:5555 --type addr
wait "$watch"
ctl dump
ctl stats
ctl query 99999999 || true   # NOT_FOUND: exit 1 expected
ctl query aabbccdd
sleep 0.2
kill -TERM "$cap"; wait "$cap" || true
cp "$tmp/t.pcap" "$out"
echo "record-trackctl: $out ($(stat -c %s "$out") bytes)"
