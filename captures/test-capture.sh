#!/usr/bin/env bash
# test-capture.sh: qasm-capture on lo (datagrams counted, SIGTERM ends it
# cleanly, bad filter refused), then an end-to-end recording with the real
# tools (captures/record-real.sh) replayed by qasm-replay: the connection the
# agent reported is found with its migrations, on the first hop only. Needs
# root for the capture. Env: QASM_BUILD (default build).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../tests/integration/test_lib.sh"
build=${QASM_BUILD:-build}
tmp=$(mktemp -d)
cap_pid=
cleanup() {
  [ -n "$cap_pid" ] && kill -KILL "$cap_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
fail=0
check() { # check NAME CONDITION-RESULT(0/1) DETAIL
  if [ "$2" = 0 ]; then echo "ok   $1"; else echo "FAIL $1: $3"; fail=1; fi
}
if [ "$(id -u)" != 0 ]; then echo "SKIP: capturing on lo needs root"; exit 77; fi

# 1. qasm-capture alone
port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
timeout 20 "$build/qasm-capture" -i lo -w "$tmp/a.pcap" -f "udp port $port" --json \
  >"$tmp/a.json" 2>"$tmp/a.log" &
cap_pid=$!
wait_until 30 grep -q "capturing on" "$tmp/a.log" || echo "FAIL qasm-capture did not say it was capturing"
for i in 1 2 3 4 5; do echo "datagram $i" >"/dev/udp/127.0.0.1/$port"; done
sleep 0.3   # grace: the datagrams are queued to the capture; let it read them
kill -TERM "$cap_pid"; wait "$cap_pid"; rc=$?; cap_pid=
check "capture exits 0 on SIGTERM" "$([ $rc = 0 ]; echo $?)" "exit $rc"
check "capture counts 5 datagrams" "$(grep -q '"packets_captured":5,' "$tmp/a.json"; echo $?)" "$(cat "$tmp/a.json")"
n=$("$build/qasm-replay" "$tmp/a.pcap" --function nat --mode default --json |
    sed -n 's/^  "udp_packets": \([0-9]*\),/\1/p')
check "replay reads the 5 datagrams back" "$([ "$n" = 5 ]; echo $?)" "udp_packets=$n"
timeout 10 "$build/qasm-capture" -w "$tmp/b.pcap" -f "udp port (" 2>/dev/null; rc=$?
check "bad filter refused with exit 2" "$([ $rc = 2 ]; echo $?)" "exit $rc"
timeout 10 "$build/qasm-capture" 2>/dev/null; rc=$?
check "missing -w refused with exit 2" "$([ $rc = 2 ]; echo $?)" "exit $rc"

# 2. end to end with the real tools
for b in qasm-tracker qasm-h3-server qasm-mbox qasm-h3-client libqasm-agent.so; do
  if [ ! -e "$build/$b" ]; then
    echo "SKIP end-to-end part: $build/$b not built"
    [ $fail = 0 ] && exit 77
    exit $fail
  fi
done
if ! QASM_BUILD=$build timeout "$(scaled 180)" "$here/record-real.sh" --out "$tmp" e2e \
     --requests 6 --interval 10ms --migrate-hz 100 >"$tmp/rec.log" 2>&1; then
  echo "FAIL record-real.sh:"; tail -20 "$tmp/rec.log"; exit 1
fi
server=$(sed 's/^all: //' "$tmp/e2e.flags")
# shellcheck disable=SC2086
"$build/qasm-replay" "$tmp/e2e.pcap" --function nat --mode default $server --json >"$tmp/e2e.json"
python3 - "$tmp/e2e.json" <<'PY' || fail=1
import json, sys
j = json.load(open(sys.argv[1]))
conns = [c for c in j["connections"] if c["in_reports"]]
def check(name, ok, detail):
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else ": " + str(detail)))
    return ok
ok = True
ok &= check("e2e: one reported connection", len(conns) == 1, len(conns))
c = conns[0] if conns else {"clients": [], "public_ports": [], "dcids": [], "packets": 0}
ok &= check("e2e: reports applied", j["tracker"]["reports_applied"] > 0, j["tracker"])
ok &= check("e2e: the client migrated (>= 3 addresses)", len(c["clients"]) >= 3, c["clients"])
ok &= check("e2e: several DCIDs", len(c["dcids"]) >= 3, c["dcids"])
ok &= check("e2e: second hop skipped", j["skipped"]["other_hop"] > 0, j["skipped"])
ok &= check("e2e: default NAT: one public port per client address",
            len(c["public_ports"]) == len(c["clients"]), (c["public_ports"], c["clients"]))
ok &= check("e2e: nothing dropped", j["middlebox"]["packets_dropped"]["total"] == 0, j["middlebox"]["packets_dropped"])
sys.exit(0 if ok else 1)
PY
[ $fail = 0 ] && echo "test-capture: all checks passed"
exit $fail
