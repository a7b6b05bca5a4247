#!/usr/bin/env bash
# record-trackctl.sh [--key] [OUT.pcap]: record qasm-trackctl sessions against
# a qasm-tracker on loopback, so that the dissector has every message type to
# decode. Needs root (capture on lo). Env: QASM_BUILD (default build).
#
# Without --key (default output captures/corpus/trackctl-session.pcap):
# reports over UDP, then SUBSCRIBE/PUSH, DUMP, STATS, QUERY found and not
# found over TCP.
# With --key (protocol version 3, default output
# captures/corpus/trackctl-key.pcap): a report with a key MAC over UDP; a
# session without the key (one ERROR, closed); a session with the key (HELLO,
# CHALLENGE, AUTH, OK, then DUMP); a session with a wrong key (the client
# gives up after the CHALLENGE).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${QASM_BUILD:-build}
key=0
if [ "${1:-}" = --key ]; then key=1; shift; fi
if [ $key = 1 ]; then
  name=record-trackctl-key out=${1:-$here/corpus/trackctl-key.pcap}
else
  name=record-trackctl out=${1:-$here/corpus/trackctl-session.pcap}
fi
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
secret=c0ffee01c0ffee01c0ffee01c0ffee01
tracker_args=()
if [ $key = 1 ]; then
  umask 077
  echo "qasm dissector test key, not a secret" >"$tmp/key"
  echo "another key, the wrong one for this tracker" >"$tmp/wrong"
  tracker_args=(--key "$tmp/key")
  ctl() { timeout 10 "$build/qasm-trackctl" --tracker "127.0.0.1:$port" "$@" >/dev/null 2>&1 || true; }
else
  ctl() { timeout 10 "$build/qasm-trackctl" --tracker "127.0.0.1:$port" "$@" >/dev/null; }
fi

timeout 30 "$build/qasm-capture" -i lo -w "$tmp/t.pcap" -f "port $port" 2>"$tmp/c.log" &
cap=$!
pids+=($cap)
for _ in $(seq 100); do grep -q "capturing on" "$tmp/c.log" && break; sleep 0.05; done
timeout 30 "$build/qasm-tracker" --listen "127.0.0.1:$port" "${tracker_args[@]}" --log-level warn &
pids+=($!)
sleep 0.3
if [ $key = 1 ]; then
  ctl --key "$tmp/key" report --secret $secret --odcid c0ffee01 \
    --client 127.0.0.1:5555 --server 127.0.0.1:4433 --dcid aabbccdd --scid 0102
  sleep 0.1
  ctl dump
  ctl --key "$tmp/key" dump
  ctl --key "$tmp/wrong" stats
else
  ctl report --secret $secret --odcid c0ffee01 --client 127.0.0.1:5555 --server 127.0.0.1:4433 \
    --dcid aabbccdd --scid 0102
  ctl report --secret $secret --odcid c0ffee01 --client 127.0.0.1:5556 --client0 127.0.0.1:5555 --type addr
  timeout 10 "$build/qasm-trackctl" --tracker "127.0.0.1:$port" watch c0ffee01 --count 1 \
    >/dev/null 2>&1 &
  watch=$!
  sleep 0.2
  ctl report --secret $secret --odcid c0ffee01 --client 127.0.0.1:5557 --client0 127.0.0.1:5555 --type addr
  wait "$watch"
  ctl dump
  ctl stats
  ctl query 99999999 || true   # NOT_FOUND: exit 1 expected
  ctl query aabbccdd
fi
sleep 0.2
kill -TERM "$cap"; wait "$cap" || true
cp "$tmp/t.pcap" "$out"
echo "$name: $out ($(stat -c %s "$out") bytes)"
