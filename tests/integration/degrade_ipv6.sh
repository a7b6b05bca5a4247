#!/usr/bin/env bash
# degrade_ipv6.sh: an IPv6 client (qasm-h3-client on ::1 with the client
# agent preloaded) through a reactive qasm-mbox nat on ::1, the tracker on
# 127.0.0.1 with its default --trust source.
#  - QASM_TRACKER names only the tracker's IPv4 address: the agent's reports
#    would leave over IPv4 for an IPv6 connection, which --trust source
#    refuses. Nothing is silent: the agent says so (with the fix), the
#    tracker names the rule, the source and the claimed address (and the
#    fix), and the middlebox says it gives the connection default
#    treatment, with the reasons.
#  - QASM_TRACKER lists both families and the tracker listens on both: the
#    agent reports the IPv6 connection over IPv6, the tracker accepts every
#    report, and the transfer gets aware treatment (one mapping, one port,
#    every request answered while migrating).
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/mbox_lib.sh

for bin in qasm-h3-server qasm-h3-client libqasm-agent.so qasm-trackctl; do
    [ -e "$B/$bin" ] || { echo "FAIL: $B/$bin not built"; exit 1; }
done
ip -6 addr show dev lo 2>/dev/null | grep -q '::1' || { echo "SKIP: no ::1"; exit 77; }

base=$(free_ports 16) || { echo "no free ports"; exit 1; }
TRK=$base SRV=$((base + 1)) MB=$((base + 2))
POOL_LO=$((base + 8)) POOL_HI=$((base + 15))

start srv "$B/qasm-h3-server" --listen "[::1]:$SRV" --idle-timeout 10s --no-json
wait_bound $SRV || exit 1

# h3 NAME QASM_TRACKER: the migrating client's JSON summary; its stderr in $T/NAME.log.
h3() {
    QASM_TRACKER=$2 LD_PRELOAD="$B/libqasm-agent.so" \
        timeout "$(scaled 60)" "$B/qasm-h3-client" --connect "[::1]:$MB" --json --idle-timeout 3s \
        --requests 20 --interval 50ms --size 1000 --migrate-every 100ms \
        "https://[::1]:$SRV/" 2>"$T/$1.log"
}
mbox() {
    start mb "$B/qasm-mbox" nat --mode reactive --listen "[::1]:$MB" --upstream "[::1]:$SRV" \
        --ports $POOL_LO-$POOL_HI --tracker 127.0.0.1:$TRK --hold $HOLD --stats-json "$T/mb.json"
    wait_bound $MB || return 1
    wait_json "$T/mb.json" "d['tracker']['up']"
}
logged() { grep -q -- "$2" "$T/$1.log"; }
trk_stat() { "$B/qasm-trackctl" --tracker 127.0.0.1:$TRK --json stats | json /dev/stdin "d['$1']"; }

echo "# QASM_TRACKER=127.0.0.1 only, tracker on IPv4 only"
start tracker "$B/qasm-tracker" --listen 127.0.0.1:$TRK
wait_bound $TRK tcp || exit 1
mbox || exit 1
c=$(h3 v4only "127.0.0.1:$TRK"); rc=$?
echo "client (exit $rc): $c"
sed -n '1,3p' "$T/v4only.log"
check "agent: says its reports leave over IPv4 for an IPv6 connection, with the fix" \
    "$(grep -c ' warn: degraded: reports over another address family: connection from \[::1\]:[0-9]* is IPv6 but QASM_TRACKER=127.0.0.1:[0-9]* has no IPv6 address.*QASM_TRACKER=127.0.0.1:P,\[::1\]:P' "$T/v4only.log") == 1"
wait_until 30 logged tracker "degraded: reports refused by --trust source" ||
    echo "tracker log: $(tail -n 3 "$T/tracker.log")"
grep 'reports refused by --trust source' "$T/tracker.log" | head -n 1
check "tracker: names the rule, the source, the claimed client and the fix" \
    "$(grep -c ' warn: degraded: reports refused by --trust source: REPORT_[A-Z_]* from 127.0.0.1:[0-9]* claims client \[::1\]:[0-9]*, whose IP is not the source.*listen on both' "$T/tracker.log") == 1"
check "tracker: every report refused (rejected_trust > 0, no connection)" \
    "$(trk_stat rejected_trust) > 0 && $(trk_stat conns) == 0"
wait_until 30 logged mb "degraded: default treatment for QUIC traffic" ||
    echo "mbox log: $(tail -n 3 "$T/mb.log")"
grep 'default treatment' "$T/mb.log" | head -n 1
check "mbox: says it gives QUIC traffic default treatment, the tracker not knowing it" \
    "$(grep -c ' qasm-mbox warn: degraded: default treatment for QUIC traffic: .*tracker_not_found' "$T/mb.log") == 1"
fresh_stats mb "$T/mb.json"
check "mbox: ... counted (tracker_not_found, one mapping per migration)" \
    "$(json "$T/mb.json" "d['tracker_not_found'] > 0 and d['mappings_created'] > 1")"
stop mb
stop tracker

echo "# QASM_TRACKER lists both families, the tracker listens on both"
start tracker "$B/qasm-tracker" --listen 127.0.0.1:$TRK --listen "[::1]:$TRK"
wait_bound $TRK tcp || exit 1
mbox || exit 1
c=$(h3 both "127.0.0.1:$TRK,[::1]:$TRK"); rc=$?
echo "client (exit $rc): $c"
fresh_stats mb "$T/mb.json"; s="$T/mb.json"
echo "nat: $(summary "$s")"
check "both: every request answered" "$rc == 0 && $(field "$c" requests_ok) == 20"
check "both: the client migrated" "$(field "$c" migrations) >= 3"
check "both: aware treatment (one mapping, one public port, migrations followed)" \
    "$(json $s "d['mappings_created'] == 1 and d['ports_high_water'] == 1 and d['migrations'] >= 3")"
check "both: the tracker refused no report" "$(trk_stat rejected_trust) == 0 && $(trk_stat created) >= 1"
check "both: the agent said nothing" "$(grep -c 'degraded' "$T/both.log") == 0"
check "both: nor the tracker" "$(grep -c 'degraded' "$T/tracker.log") == 0"
check "both: nor the middlebox" "$(grep -c 'degraded' "$T/mb.log") == 0"
finish
