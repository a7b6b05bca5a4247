#!/usr/bin/env bash
# record-trackctl-key.sh [OUT.pcap]: record qasm-trackctl sessions against a
# qasm-tracker with --key on loopback (protocol version 3): a report with a
# key MAC over UDP; a session without the key (one ERROR, closed); a
# session with the key (HELLO, CHALLENGE, AUTH, OK, then DUMP); a session
# with a wrong key (the client gives up after the CHALLENGE). For the
# dissector's test. Default output: captures/corpus/trackctl-key.pcap. Needs
# root (capture on lo). Env: QASM_BUILD (default build).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${QASM_BUILD:-build}
out=${1:-$here/corpus/trackctl-key.pcap}
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
umask 077
echo "qasm dissector test key, not a secret" >"$tmp/key"
echo "another key, the wrong one for this tracker" >"$tmp/wrong"
ctl() { timeout 10 "$build/qasm-trackctl" --tracker "127.0.0.1:$port" "$@" >/dev/null 2>&1 || true; }

timeout 30 "$build/qasm-capture" -i lo -w "$tmp/t.pcap" -f "port $port" 2>"$tmp/c.log" &
cap=$!
pids+=($cap)
for _ in $(seq 100); do grep -q "capturing on" "$tmp/c.log" && break; sleep 0.05; done
timeout 30 "$build/qasm-tracker" --listen "127.0.0.1:$port" --key "$tmp/key" --log-level warn &
pids+=($!)
sleep 0.3
ctl --key "$tmp/key" report --secret c0ffee01c0ffee01c0ffee01c0ffee01 --odcid c0ffee01 \
  --client 127.0.0.1:5555 --server 127.0.0.1:4433 --dcid aabbccdd --scid 0102
sleep 0.1
ctl dump
ctl --key "$tmp/key" dump
ctl --key "$tmp/wrong" stats
sleep 0.2
kill -TERM "$cap"; wait "$cap" || true
cp "$tmp/t.pcap" "$out"
echo "record-trackctl-key: $out ($(stat -c %s "$out") bytes)"
