#!/usr/bin/env bash
# tracker_hijack.sh: an attacker who can read the tracker tries to take a
# victim's connection at every aware middlebox (nat, ratelimit, lb; reactive
# and proactive). The victim is qasm-h3-client with the agent preloaded,
# migrating to a new IP (127.0.0.10-19) every 100 ms through qasm-mbox to
# qasm-h3-server. The attacker (tests/integration/hijack_attacker.py, on
# 127.0.0.66) dumps the tracker, forges ADDR (its own address, seq near
# 2^32), CLOSE, an authoritative REFRESH and a second OPEN with
# qasm-trackctl from its own IP (source attestation passes), and sends
# short-header packets with the victim's current DCIDs into the middlebox
# for 3 s. Checks: the attacker receives nothing, the victim's record never
# lists the attacker, every request of the victim is answered, its
# migrations are followed, and the tracker counts the refused reports.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/mbox_lib.sh

for bin in qasm-h3-server qasm-h3-client libqasm-agent.so qasm-trackctl; do
    [ -e "$B/$bin" ] || { echo "FAIL: $B/$bin not built"; exit 1; }
done
ip addr show lo 2>/dev/null | grep -q '127.0.0.1/8' ||
    { echo "SKIP: loopback is not 127.0.0.0/8"; exit 77; }

REQS=60
base=$(free_ports 24) || { echo "no free ports"; exit 1; }
TRK=$base SRV=$((base + 1)) SRV2=$((base + 2)) MB=$((base + 3))
POOL_LO=$((base + 8)) POOL_HI=$((base + 15))

# The servers live through all six runs (about 15 s each).
TEST_PROC_TIMEOUT=240
# A known stateless-reset secret: the attacker tells the server's resets (the
# answer to its own undecryptable packets) from the victim's packets.
RESET=$(printf '5e%.0s' $(seq 32))
start srva "$B/qasm-h3-server" --listen 127.0.0.1:$SRV --idle-timeout 10s --no-json --secret $RESET
start srvb "$B/qasm-h3-server" --listen 127.0.0.1:$SRV2 --idle-timeout 10s --no-json --secret $RESET
wait_bound $SRV && wait_bound $SRV2 || exit 1


for fn in nat ratelimit lb; do
    case $fn in
    nat) args=(--upstream 127.0.0.1:$SRV --ports $POOL_LO-$POOL_HI) ;;
    ratelimit) args=(--upstream 127.0.0.1:$SRV --rate 5000 --burst 5000) ;;
    lb) args=(--backend 127.0.0.1:$SRV --backend 127.0.0.1:$SRV2) ;;
    esac
    for mode in reactive proactive; do
        echo "# $fn $mode"
        TEST_PROC_TIMEOUT=60
        start tracker "$B/qasm-tracker" --listen 127.0.0.1:$TRK --log-level warn
        wait_bound $TRK tcp || exit 1
        start mb "$B/qasm-mbox" "$fn" --mode "$mode" --listen 127.0.0.1:$MB \
            --tracker 127.0.0.1:$TRK --hold 100ms --stats-json "$T/mb.json" "${args[@]}"
        wait_bound $MB || exit 1
        wait_json "$T/mb.json" "d['tracker']['up']" || true
        # The victim: 60 requests of 20 kB, a new IP every 100 ms.
        QASM_TRACKER=127.0.0.1:$TRK LD_PRELOAD="$B/libqasm-agent.so" \
            timeout 60 "$B/qasm-h3-client" --connect 127.0.0.1:$MB --json --idle-timeout 5s \
            --requests $REQS --interval 100ms --size 20000 --migrate-every 100ms \
            --migrate-kind addr --local-addrs 127.0.0.10-127.0.0.19 \
            "https://127.0.0.1:$SRV/" >"$T/victim.json" 2>"$T/victim-$fn-$mode.log" &
        victim=$!
        timeout 30 python3 tests/integration/hijack_attacker.py "$B/qasm-trackctl" \
            127.0.0.1:$TRK 127.0.0.1:$MB 3 $RESET >"$T/attacker.json" \
            2>"$T/attacker-$fn-$mode.log"
        "$B/qasm-trackctl" --tracker 127.0.0.1:$TRK --json stats >"$T/trk.json"
        running=0; kill -0 $victim 2>/dev/null && running=1
        wait $victim; rc=$?
        v=$(cat "$T/victim.json"); a=$(cat "$T/attacker.json")
        echo "victim (exit $rc): $v"
        echo "attacker: $a"
        fresh_stats mb "$T/mb.json"
        echo "mbox: $(summary "$T/mb.json")"
        echo "tracker: $(json "$T/trk.json" "' '.join('%s=%s' % (k, d[k]) for k in ('rejected_trust', 'rejected_unauth', 'rejected_bad_mac', 'rejected_owner', 'rejected_unknown', 'closed'))")"
        check "$fn $mode: the attacker found the victim" "$(field "$a" forged_reports) >= 4"
        check "$fn $mode: the attacker received nothing of the victim's (stateless resets aside)" \
            "$(field "$a" bytes) == 0"
        check "$fn $mode: the victim's record never listed the attacker" \
            "$(field "$a" listed_attacker) == 0"
        check "$fn $mode: every request of the victim answered" \
            "$rc == 0 && $(field "$v" requests_ok) == $REQS"
        check "$fn $mode: the victim migrated to new IPs, followed by the middlebox" \
            "$(field "$v" migrations) >= 10 && $(json "$T/mb.json" "d['migrations']") >= 5"
        check "$fn $mode: forged ADDR and CLOSE refused (no MAC)" \
            "$(json "$T/trk.json" "d['rejected_unauth']") >= 2"
        check "$fn $mode: forged REFRESH and OPEN refused (another secret)" \
            "$(json "$T/trk.json" "d['rejected_owner']") >= 2"
        [ $running = 1 ] &&
            check "$fn $mode: the victim's connection was not closed by the attacker" \
                "$(json "$T/trk.json" "d['closed']") == 0"
        stop mb
        stop tracker
    done
done
finish
