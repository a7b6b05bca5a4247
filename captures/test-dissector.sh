#!/usr/bin/env bash
# test-dissector.sh: run tshark with captures/qasm-tracker.lua on corpus
# captures and check the decoded tracker-protocol fields against what the
# generator wrote (synthetic captures) and against the C codec (the replay's
# count of tracker messages). Env: QASM_BUILD (default build).
set -u
here=$(cd "$(dirname "$0")" && pwd)
corpus=$here/corpus
lua=$here/qasm-tracker.lua
build=${QASM_BUILD:-build}
command -v tshark >/dev/null || { echo "SKIP: tshark not installed"; exit 77; }
fail=0
ts() { # ts CAPTURE FILTER FIELD...: decoded fields, one line per message
  local cap=$1 filter=$2; shift 2
  local args=()
  for f in "$@"; do args+=(-e "$f"); done
  timeout 60 tshark -X "lua_script:$lua" -r "$corpus/$cap" -Y "$filter" -T fields -E separator=' ' \
    "${args[@]}" 2>/dev/null
}
check() { # check NAME EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then
    echo "ok   $1"
  else
    echo "FAIL $1: expected [$2], got [$3]"; fail=1
  fi
}

# 1. synthetic port migrations: every report decoded with its fields
check "open decoded" "REPORT_OPEN c00000005a174000 127.0.0.1:50000 127.0.0.1:4433 1" \
  "$(ts port-migration.pcap 'qasmt.type == 0x01' qasmt.type_name qasmt.odcid qasmt.client0 qasmt.server qasmt.seq)"
check "first dcid_new" "5e0000005a174000 0" \
  "$(ts port-migration.pcap 'qasmt.type == 0x02' qasmt.dcid qasmt.cid_seq | head -1)"
check "addr reports" "127.0.0.1:50001 127.0.0.1:50002 127.0.0.1:50003 127.0.0.1:50004 127.0.0.1:50005 127.0.0.1:50006 127.0.0.1:50007" \
  "$(ts port-migration.pcap 'qasmt.type == 0x04' qasmt.client | tr '\n' ' ' | sed 's/ $//')"
check "retire after migration" "5e0000005a174000 0 127.0.0.1:50001" \
  "$(ts port-migration.pcap 'qasmt.type == 0x03' qasmt.dcid qasmt.cid_seq qasmt.client | head -1)"
check "report seq increasing" "1 2 3 4 5 6 7" \
  "$(ts port-migration.pcap 'qasmt' qasmt.seq | head -7 | tr '\n' ' ' | sed 's/ $//')"

# 1b. version 2: OPEN carries the connection's secret, every report a MAC; the
# attacker's forged reports (hijack.pcap, from 127.0.0.66) carry none
check "open carries the secret" "c00000005a174000a5a5a5a5a5a5a5a5" \
  "$(ts port-migration.pcap 'qasmt.type == 0x01' qasmt.secret)"
check "every report of the agent has a MAC" "0" \
  "$(ts port-migration.pcap 'qasmt && !qasmt.mac' frame.number | wc -l)"
check "forged reports unauthenticated" "2 00000000000000000000000000000000" \
  "$(ts hijack.pcap 'qasmt && ip.src == 127.0.0.66' qasmt.mac | sort | uniq -c | awk '{print $1, $2}')"

# 2. IPv6 addresses
check "ipv6 server" "[::1]:4433 [::1]:4433" \
  "$(ts ipv6.pcap 'qasmt.type == 0x01' qasmt.server | tr '\n' ' ' | sed 's/ $//')"

# 3. a QUERY sent over UDP, and a broken message flagged, not crashing
check "udp query" "QUERY ee0000005a174000 0" \
  "$(ts malformed.pcap 'qasmt.type == 0x10' qasmt.type_name qasmt.dcid qasmt.wait_ms)"
check "malformed flagged (bad length, bad body)" "2" \
  "$(ts malformed.pcap 'qasmt && _ws.expert.group == "Malformed"' frame.number | wc -l)"

# 4. a real middlebox session over TCP (on a random port: heuristic): SUBSCRIBE, RECORD, PUSH
odcid=$(ts real-proactive.pcap 'qasmt.type == 0x01' qasmt.odcid)
check "real: subscribe to the reported connection" "$odcid" \
  "$(ts real-proactive.pcap 'qasmt.type == 0x11' qasmt.cid)"
pushes=$(ts real-proactive.pcap 'qasmt.type == 0x22' qasmt.event qasmt.odcid)
check "real: pushes carry the connection" "$odcid" \
  "$(echo "$pushes" | awk '{print $2}' | sort -u)"
check "real: push events named" "yes" \
  "$(echo "$pushes" | awk '$1 >= 1 && $1 <= 8 {n++} END {print (n > 0 && n == NR) ? "yes" : "no"}')"
check "real: no malformed message" "0" \
  "$(ts real-proactive.pcap 'qasmt && _ws.expert.group == "Malformed"' frame.number | wc -l)"

# 5. a qasm-trackctl session (captures/record-trackctl.sh): every other message type
check "trackctl: message sequence" \
  "REPORT_REFRESH REPORT_ADDR SUBSCRIBE RECORD REPORT_ADDR PUSH DUMP RECORD,OK STATS STATS_REPLY QUERY NOT_FOUND QUERY RECORD" \
  "$(ts trackctl-session.pcap 'qasmt' qasmt.type_name | tr '\n' ' ' | sed 's/ $//')"
check "trackctl: refresh carries the record" "c0ffee01,c0ffee01 aabbccdd 127.0.0.1:4433" \
  "$(ts trackctl-session.pcap 'qasmt.type == 0x06' qasmt.odcid qasmt.dcid qasmt.server)"
check "trackctl: push event addr with three clients" "4 3" \
  "$(ts trackctl-session.pcap 'qasmt.type == 0x22' qasmt.event qasmt.nclients)"
check "trackctl: dump ends with OK count 1" "1" \
  "$(ts trackctl-session.pcap 'qasmt.type == 0x23' qasmt.count)"
check "trackctl: not found echoes the CID" "99999999" \
  "$(ts trackctl-session.pcap 'qasmt.type == 0x21' qasmt.cid)"
n=$(ts trackctl-session.pcap 'qasmt.type == 0x25' qasmt.stat_name | tr ',' '\n' | grep -c .)
check "trackctl: stats reply counters decoded" "yes" "$([ "$n" -gt 10 ] && echo yes || echo "$n")"
check "trackctl: no malformed message" "0" \
  "$(ts trackctl-session.pcap 'qasmt && _ws.expert.group == "Malformed"' frame.number | wc -l)"

# 5b. version 3 with a key (captures/record-trackctl.sh --key): a report with a key
# MAC; a session without the key (one ERROR 6); one with the key (HELLO,
# CHALLENGE, AUTH, OK, then the dump); one with a wrong key (the client stops
# after the CHALLENGE, whose proof does not verify under its key)
check "key: message sequence" \
  "REPORT_REFRESH DUMP ERROR HELLO CHALLENGE AUTH OK DUMP RECORD,OK HELLO CHALLENGE" \
  "$(ts trackctl-key.pcap 'qasmt' qasmt.type_name | tr '\n' ' ' | sed 's/ $//')"
check "key: the report carries a key MAC" "1" \
  "$(ts trackctl-key.pcap 'qasmt.type == 0x06 && qasmt.key_mac' frame.number | wc -l)"
check "key: the refused session's error is code 6" "6" \
  "$(ts trackctl-key.pcap 'qasmt.type == 0x24' qasmt.err_code)"
check "key: nonces and proofs decoded (2 HELLO, 2 CHALLENGE: 4 nonces; 3 proofs)" "2 2 4 3" \
  "$(echo $(ts trackctl-key.pcap 'qasmt.type == 0x15' qasmt.nonce | grep -c .) \
          $(ts trackctl-key.pcap 'qasmt.type == 0x26' qasmt.nonce | grep -c .) \
          $(ts trackctl-key.pcap 'qasmt.nonce' frame.number | grep -c .) \
          $(ts trackctl-key.pcap 'qasmt.proof' frame.number | grep -c .))"
check "key: no malformed message" "0" \
  "$(ts trackctl-key.pcap 'qasmt && _ws.expert.group == "Malformed"' frame.number | wc -l)"

# 6. the Lua dissector and the C codec agree on how many UDP tracker messages each capture holds
if [ -x "$build/qasm-replay" ]; then
  for cap in port-migration.pcap pcapng-many.pcapng real-100hz.pcap hijack.pcap trackctl-key.pcap; do
    c=$("$build/qasm-replay" "$corpus/$cap" --function nat --mode default --json |
        sed -n '/"tracker": {/,/}/s/.*"messages": \([0-9]*\).*/\1/p')
    l=$(ts "$cap" 'qasmt && udp && !_ws.expert' frame.number | wc -l)
    check "$cap: lua and C count the same messages" "$c" "$l"
  done
else
  echo "FAIL $build/qasm-replay not built"; fail=1
fi
[ $fail -eq 0 ] && echo "test-dissector: all checks passed"
exit $fail
