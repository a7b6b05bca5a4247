#!/usr/bin/env bash
# tracker_key.sh: who may read and write the tracker (qasm-tracker --key,
# --trust mac, --allow; docs/PROTOCOL.md "Session authentication", "Key MAC").
#  1. key files: group-readable, short, or --trust mac without a key: exit 2,
#     one line; the non-loopback warning without a key;
#  2. a session without the key, or with a wrong one, gets one ERROR (code 6)
#     and nothing else (no dump record, no query answer, no push), then the
#     session closes; with the key (a Python client written from the docs,
#     and qasm-trackctl --key) requests are answered; qasm-trackctl refuses a
#     tracker that cannot prove the key;
#  3. --allow: a session from outside the prefix is closed and counted;
#  4. the agent (qasm-h3-client with libqasm-agent.so, QASM_TRACKER_KEY)
#     reports to the tracker over IPv6 for an IPv4 connection: refused by
#     source attestation, accepted by --trust mac; forged key MACs (and
#     none, under --trust mac) refused and counted;
#  5. qasm-mbox nat --tracker-key with the migrating h3 client: one mapping,
#     every request answered; with a wrong key the middlebox never trusts
#     the tracker (auth_failures).
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/mbox_lib.sh

for bin in qasm-h3-server qasm-h3-client libqasm-agent.so qasm-trackctl; do
    [ -e "$B/$bin" ] || { echo "FAIL: $B/$bin not built"; exit 1; }
done
ip addr show lo 2>/dev/null | grep -q '::1/128' || { echo "SKIP: no ::1 on lo"; exit 77; }
TEST_PROC_TIMEOUT=$(scaled 120)
base=$(free_ports 16) || { echo "no free ports"; exit 1; }
TRK5=$base SRV=$((base + 1)) MB=$((base + 2)) POOL_LO=$((base + 8)) POOL_HI=$((base + 15))
PY=tests/integration/tracker_key_py.py
field() { echo "$1" | json /dev/stdin "$2"; }
# Key files are made here, not by qasm-trackctl keygen (the old code has none).
umask 077
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/k1"; echo >>"$T/k1"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/k2"; echo >>"$T/k2"
"$B/qasm-trackctl" keygen "$T/k3"
check "keygen: a 0600 key file" "$(stat -c %a "$T/k3") == 600 && $(wc -c <"$T/k3") == 65"
cp "$T/k1" "$T/k1-open"; chmod 640 "$T/k1-open"
printf 'short-key' >"$T/kshort"

# ---- 1. flags ----
echo "# 1. key files and the non-loopback warning"
oneline() { # expect exit 2 and a one-line error naming $2
    local out rc
    out=$("$B/qasm-tracker" "${@:3}" 2>&1 >/dev/null); rc=$?
    echo "  $1: exit $rc: $out"
    check "$1: exit 2, one line saying why" \
        "$rc == 2 && $(echo "$out" | wc -l) == 1 && $(echo "$out" | grep -c -- "$2")"
}
oneline "group-readable key file" "group or other" --key "$T/k1-open"
oneline "short key" "16 to 256" --key "$T/kshort"
oneline "--trust mac without a key" "needs --key" --trust mac
# 192.0.2.1 (TEST-NET-1) is on no interface: the bind fails after the warning.
out=$("$B/qasm-tracker" --listen 192.0.2.1:0 2>&1); echo "  no key, 192.0.2.1: $out" | head -n 1
check "warning: listening on a non-loopback address without a key" \
    "$(echo "$out" | grep -c 'without --key')"
out=$("$B/qasm-tracker" --listen 192.0.2.1:0 --key "$T/k1" 2>&1)
check "no warning with a key" "$(echo "$out" | grep -c 'without --key') == 0"

# ---- 2. sessions ----
echo "# 2. sessions without, with a wrong, with the right key"
start tracker "$B/qasm-tracker" --listen 127.0.0.1:0 --key "$T/k1" --log-level info
TRK=$(logged_port "$T/tracker.log") || { echo "tracker did not start"; exit 1; }
# A session that never proves the key must not hold its slot: closed after 10 s.
timeout "$(scaled 60)" python3 -c 'import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1]))); s.settimeout(55); t = time.time()
d = s.recv(100); print("%d %.1f" % (len(d), time.time() - t))' "$TRK" >"$T/idle.out" 2>&1 &
IDLE=$!
# A connection for the dump to show (reported with the key, from its own IP).
"$B/qasm-trackctl" --tracker 127.0.0.1:$TRK --key "$T/k1" report --type open \
    --odcid c0ffee01 --client 127.0.0.1:5000 --server 127.0.0.1:443 >/dev/null
r=$(timeout 20 python3 $PY 127.0.0.1 $TRK none); echo "  no key: $r"
check "no key: one ERROR code 6, nothing else, session closed" \
    "$(field "$r" "d['msgs'] == [[0x24, 6]] and d['closed']")"
r=$(timeout 20 python3 $PY 127.0.0.1 $TRK wrong "$T/k2"); echo "  wrong key: $r"
check "wrong key: the tracker's proof does not verify under it" \
    "$(field "$r" "d['tracker_proved'] is False")"
check "wrong key: CHALLENGE, then one ERROR code 6, no dump, session closed" \
    "$(field "$r" "d['msgs'] == [[0x26, None], [0x24, 6]] and d['closed']")"
r=$(timeout 20 python3 $PY 127.0.0.1 $TRK right "$T/k1"); echo "  right key: $r"
check "right key: the tracker proved the key; OK, then the dump (one record, OK 1)" \
    "$(field "$r" "d['tracker_proved'] is True and d['msgs'][1:] == [[0x23, 0], [0x20, None], [0x23, 1]]")"
out=$("$B/qasm-trackctl" --tracker 127.0.0.1:$TRK stats 2>&1); rc=$?
check "qasm-trackctl without the key: error reply, exit 3" "$rc == 3 && $(echo "$out" | grep -c 'error 6')"
out=$("$B/qasm-trackctl" --tracker 127.0.0.1:$TRK --key "$T/k2" stats 2>&1); rc=$?
echo "  trackctl, wrong key: $out"
check "qasm-trackctl with a wrong key: the tracker did not prove it, exit 3" \
    "$rc == 3 && $(echo "$out" | grep -c 'did not prove')"
"$B/qasm-trackctl" --tracker 127.0.0.1:$TRK --key "$T/k1" --json stats >"$T/s.json"; rc=$?
check "qasm-trackctl --key: stats answered" "$rc == 0"
"$B/qasm-trackctl" --tracker 127.0.0.1:$TRK --key "$T/k1" --json dump >"$T/d.json"
check "qasm-trackctl --key: dump answered" "$(json "$T/d.json" "len(d['connections'])") == 1"
echo "  tracker: $(json "$T/s.json" "' '.join('%s=%s' % (k, d[k]) for k in ('auth_ok', 'auth_failed', 'auth_required', 'dumps', 'queries', 'subscribes'))")"
check "counted: auth_failed 1, auth_required 2 (python, trackctl), auth_ok >= 2" \
    "$(json "$T/s.json" "d['auth_failed'] == 1 and d['auth_required'] == 2 and d['auth_ok'] >= 2")"
check "no request of an unauthenticated session was served" \
    "$(json "$T/s.json" "d['dumps'] == 1 and d['queries'] == 0 and d['subscribes'] == 0")"
check "the refusals were logged" "$(grep -c 'did not prove the key' "$T/tracker.log") >= 1"
wait "$IDLE"
echo "  silent session: $(cat "$T/idle.out") (bytes received, seconds until closed)"
"$B/qasm-trackctl" --tracker 127.0.0.1:$TRK --key "$T/k1" --json stats >"$T/s.json"
check "a session that never proved the key: closed without a byte, counted" \
    "$(awk '{ print ($1 == 0 && $2 >= 9) ? 1 : 0 }' "$T/idle.out") == 1 && $(json "$T/s.json" "d['sessions_auth_timeout']") == 1"
stop tracker

# ---- 3. --allow ----
echo "# 3. --allow 127.0.0.2/32"
start tracker "$B/qasm-tracker" --listen 127.0.0.1:0 --allow 127.0.0.2/32 --log-level info
TRK=$(logged_port "$T/tracker.log") || { echo "tracker did not start"; exit 1; }
r=$(timeout 20 python3 $PY --from 127.0.0.1 127.0.0.1 $TRK plain); echo "  from 127.0.0.1: $r"
check "from 127.0.0.1: closed, nothing answered" "$(field "$r" "d['msgs'] == [] and d['closed']")"
r=$(timeout 20 python3 $PY --from 127.0.0.2 127.0.0.1 $TRK plain); echo "  from 127.0.0.2: $r"
check "from 127.0.0.2: the dump answered" "$(field "$r" "d['msgs'] == [[0x23, None]]")"
check "refused and counted" "$(grep -c 'not in --allow (allow_refused 1)' "$T/tracker.log")"
stop tracker

# ---- 4. agent reports with the key ----
echo "# 4. the agent over IPv6 for an IPv4 connection"
start srv "$B/qasm-h3-server" --listen 127.0.0.1:$SRV --idle-timeout 10s --no-json
wait_bound $SRV || exit 1
h3() { # tracker-port key-file(or "") log
    QASM_TRACKER="[::1]:$1" QASM_TRACKER_KEY="$2" LD_PRELOAD="$B/libqasm-agent.so" \
        timeout 40 "$B/qasm-h3-client" --connect 127.0.0.1:$SRV --json --idle-timeout 3s \
        --requests 5 --interval 50ms --size 1000 "https://127.0.0.1:$SRV/" 2>"$T/$3.log"
}
stats6() { "$B/qasm-trackctl" --tracker "[::1]:$1" ${2:+--key "$2"} --json stats >"$T/s.json"; }
for trust in source mac; do
    # A log per tracker: a failure shows the one that served this part.
    start "tracker-$trust" "$B/qasm-tracker" --listen "[::1]:0" --key "$T/k1" --trust $trust --log-level info
    TRK=$(logged_port "$T/tracker-$trust.log") || { echo "tracker did not start"; exit 1; }
    c=$(h3 $TRK "$T/k1" client-$trust); rc=$?
    check "trust $trust: the client's requests answered" "$rc == 0"
    stats6 $TRK "$T/k1"
    echo "  trust $trust: $(json "$T/s.json" "' '.join('%s=%s' % (k, d[k]) for k in ('conns', 'created', 'reports_key_mac', 'rejected_trust', 'rejected_key_mac', 'rejected_no_key_mac'))")"
    if [ $trust = source ]; then
        check "trust source: reports from ::1 for 127.0.0.1 refused (no connection)" \
            "$(json "$T/s.json" "d['created'] == 0 and d['rejected_trust'] > 0")"
        # A forged key MAC from the client's own IP: refused under source trust too.
        "$B/qasm-trackctl" --tracker "[::1]:$TRK" --key "$T/k2" report --type open \
            --odcid c0ffee02 --client "[::1]:5000" --server 127.0.0.1:443 >/dev/null
    else
        check "trust mac: reports with the key MAC accepted without source attestation" \
            "$(json "$T/s.json" "d['created'] == 1 and d['reports_key_mac'] >= 2 and d['rejected_trust'] == 0")"
        "$B/qasm-trackctl" --tracker "[::1]:$TRK" --key "$T/k2" report --type open \
            --odcid c0ffee02 --client 127.0.0.1:5000 --server 127.0.0.1:443 >/dev/null
        "$B/qasm-trackctl" --tracker "[::1]:$TRK" report --type open \
            --odcid c0ffee03 --client 127.0.0.1:5000 --server 127.0.0.1:443 >/dev/null
        c=$(h3 $TRK "$T/k2" client-wrong); rc=$?
        check "trust mac: a client whose agent has the wrong key still works" "$rc == 0"
    fi
    wait_until 10 eval 'stats6 $TRK "$T/k1"; [ "$(json "$T/s.json" "d[\"rejected_key_mac\"]")" -ge 1 ]'
    echo "  trust $trust, after forgeries: $(json "$T/s.json" "' '.join('%s=%s' % (k, d[k]) for k in ('conns', 'created', 'rejected_key_mac', 'rejected_no_key_mac'))")"
    if [ $trust = source ]; then
        check "trust source: the forged key MAC refused and counted" \
            "$(json "$T/s.json" "d['rejected_key_mac'] == 1 and d['created'] == 0")"
    else
        wait_until 10 eval 'stats6 $TRK "$T/k1"; [ "$(json "$T/s.json" "d[\"rejected_no_key_mac\"]")" -ge 1 ]'
        check "trust mac: forged key MACs refused and counted, no connection created by them" \
            "$(json "$T/s.json" "d['rejected_key_mac'] >= 3 and d['created'] == 1")"
        check "trust mac: a report without a key MAC refused and counted" \
            "$(json "$T/s.json" "d['rejected_no_key_mac'] == 1")"
        check "the refusals were logged" "$(grep -c 'key MAC does not verify' "$T/tracker-$trust.log")"
    fi
    stop "tracker-$trust"
done

# ---- 5. qasm-mbox nat with the key ----
echo "# 5. qasm-mbox nat reactive, keys on both sides"
TRK=$TRK5
start tracker "$B/qasm-tracker" --listen 127.0.0.1:$TRK --key "$T/k1" --trust mac
wait_bound $TRK tcp || exit 1
for key in k2 k1; do
    start mb "$B/qasm-mbox" nat --mode reactive --listen 127.0.0.1:$MB --tracker 127.0.0.1:$TRK \
        --tracker-key "$T/$key" --hold $HOLD --stats-json "$T/mb.json" \
        --upstream 127.0.0.1:$SRV --ports $POOL_LO-$POOL_HI
    wait_bound $MB || exit 1
    if [ $key = k2 ]; then
        wait_stats mb "$T/mb.json" "d['tracker'].get('auth_failures', 0) >= 1"
        echo "  wrong key: tracker $(json "$T/mb.json" "d['tracker']")"
        check "mbox with a wrong key: the tracker never up, handshake failures counted" \
            "$(json "$T/mb.json" "d['tracker']['up'] == 0 and d['tracker']['connects'] == 0 and d['tracker'].get('auth_failures', 0) >= 1")"
        stop mb
        continue
    fi
    wait_json "$T/mb.json" "d['tracker']['up']" || true
    c=$(QASM_TRACKER=127.0.0.1:$TRK QASM_TRACKER_KEY="$T/k1" LD_PRELOAD="$B/libqasm-agent.so" \
        timeout 40 "$B/qasm-h3-client" --connect 127.0.0.1:$MB --json --idle-timeout 3s \
        --requests 30 --interval 50ms --size 1000 --migrate-every 100ms \
        "https://127.0.0.1:$SRV/" 2>"$T/nat-client.log"); rc=$?
    echo "  client (exit $rc): $c"
    fresh_stats mb "$T/mb.json"
    echo "  nat: $(summary "$T/mb.json")"
    check "nat with keys: every request answered" "$rc == 0 && $(field "$c" "d.get('requests_ok', -1)") == 30"
    check "nat with keys: the client migrated, followed with one mapping" \
        "$(field "$c" "d.get('migrations', -1)") >= 5 && $(json "$T/mb.json" "d['mappings_created']") == 1 && $(json "$T/mb.json" "d['migrations']") >= 5"
    "$B/qasm-trackctl" --tracker 127.0.0.1:$TRK --key "$T/k1" --json stats >"$T/s.json"
    echo "  tracker: $(json "$T/s.json" "' '.join('%s=%s' % (k, d[k]) for k in ('auth_ok', 'reports_key_mac', 'rejected_key_mac', 'queries_found'))")"
    check "nat with keys: the middlebox's session proved the key" "$(json "$T/s.json" "d['auth_ok']") >= 2"
    stop mb
done
finish
