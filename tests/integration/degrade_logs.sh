#!/usr/bin/env bash
# degrade_logs.sh: every cause of degraded operation is said at the default
# log level: once when it starts ("degraded: CAUSE: ..."), then at most one
# line per 10 s with the count since the last line ("still degraded: CAUSE:
# N more ..."), and once when it ends ("no longer degraded: CAUSE: ...").
# Provoked here, all at once (each needs 10 s of occurrences, then 10 s of quiet):
#  - qasm-tracker: reports refused by --trust source (a report claiming
#    another client IP than its source), as not from the connection's owner
#    (another secret for a known connection), and new connections refused
#    at --max-conns 1 (connection table full), each twice a second;
#  - qasm-tracker: its --store redis://... unreachable, until Redis starts;
#  - the client agent: the tracker unreachable (nothing listens on
#    QASM_TRACKER's port: the kernel refuses the reports), until it starts;
#  - qasm-mbox nat reactive: its tracker session down until the tracker
#    starts; meanwhile QUIC traffic given default treatment, and its 2-port
#    pool exhausted;
#  - qasm-mbox nat reactive with its tracker stopped (SIGSTOP): hold timeouts;
#  - qasm-mbox nat default with --max-entries 2: table full.
# Each cause's lines are checked from their timestamps: one start, a count
# line no sooner than 10 s after the previous line, one end line last.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/mbox_lib.sh

for bin in qasm-h3-server qasm-h3-client libqasm-agent.so qasm-trackctl; do
    [ -e "$B/$bin" ] || { echo "FAIL: $B/$bin not built"; exit 1; }
done
command -v redis-server >/dev/null || { echo "SKIP: redis-server not installed"; exit 77; }

base=$(free_ports 48) || { echo "no free ports"; exit 1; }
TA=$base TB=$((base + 1)) TC=$((base + 2)) TD=$((base + 3)) RDS=$((base + 4))
SRV=$((base + 5)) H3=$((base + 6)) M1=$((base + 7)) M2=$((base + 8)) M3=$((base + 9))
P1=$((base + 16)) P2=$((base + 24)) P3=$((base + 32))

logged() { grep -q -- "$2" "$T/$1.log"; }

# cause_ok LOG CAUSE: the cause's lines are one start, count lines at least
# 10 s apart (the first no sooner than 10 s after the start), one end, last.
cause_ok() {
    python3 - "$T/$1.log" "$2" <<'PY'
import re, sys
path, cause = sys.argv[1], sys.argv[2]
pat = re.compile(r'^(\d+\.\d+) \S+ warn: (degraded|still degraded|no longer degraded): '
                 + re.escape(cause) + r': (.*)$')
lines = [(float(m.group(1)), m.group(2), m.group(3))
         for m in map(pat.match, open(path, errors='replace')) if m]
kinds = [k for _, k, _ in lines]
ok = (len(lines) >= 3 and kinds[0] == 'degraded' and kinds.count('degraded') == 1
      and kinds[-1] == 'no longer degraded' and kinds.count('no longer degraded') == 1
      and 'still degraded' in kinds)
for (t0, k0, _), (t1, k1, d1) in zip(lines, lines[1:]):
    if k1 == 'still degraded':
        ok = ok and t1 - t0 >= 9.9 and re.match(r'[1-9]\d* more \(\d+ in \d+s\)', d1) is not None
print('%s: %s' % (cause, ' / '.join('%+.1fs %s' % (t - lines[0][0], k) for t, k, _ in lines)),
      file=sys.stderr)
print(1 if ok else 0)
PY
}

# ---- start everything that misbehaves ----
start tracker_a "$B/qasm-tracker" --listen 127.0.0.1:$TA --store "redis://127.0.0.1:$RDS" \
    --max-conns 1 --at-max-conns refuse
start tracker_c "$B/qasm-tracker" --listen 127.0.0.1:$TC
start srv "$B/qasm-udpdrive" server --listen 127.0.0.1:$SRV
start h3srv "$B/qasm-h3-server" --listen 127.0.0.1:$H3 --idle-timeout 60s --no-json
wait_bound $TA tcp && wait_bound $TC tcp && wait_bound $SRV && wait_bound $H3 || exit 1
start m1 "$B/qasm-mbox" nat --mode reactive --listen 127.0.0.1:$M1 --upstream 127.0.0.1:$SRV \
    --ports $P1-$((P1 + 1)) --tracker 127.0.0.1:$TB --stats-json "$T/m1.json"
start m2 "$B/qasm-mbox" nat --mode default --listen 127.0.0.1:$M2 --upstream 127.0.0.1:$SRV \
    --ports $P2-$((P2 + 7)) --max-entries 2 --stats-json "$T/m2.json"
start m3 "$B/qasm-mbox" nat --mode reactive --listen 127.0.0.1:$M3 --upstream 127.0.0.1:$SRV \
    --ports $P3-$((P3 + 7)) --tracker 127.0.0.1:$TC --hold 20ms --hold-ceiling 50ms \
    --stats-json "$T/m3.json"
wait_bound $M1 && wait_bound $M2 && wait_bound $M3 || exit 1
wait_json "$T/m3.json" "d['tracker']['up']" || exit 1
kill -STOP "$(child_pid tracker_c)"

# ~15 s of migrating clients through each middlebox (a phase every 0.5 s)
drive() { # NAME MBOX_PORT CONN
    start "$1" "$B/qasm-udpdrive" client --to 127.0.0.1:$2 --conn $3 --packets 150 \
        --interval 100ms --migrate-every 5 --handshake-timeout $HS_TIMEOUT --linger 1s
}
drive c1 $M1 31
drive c2 $M2 32
drive c3 $M3 33
# the agent's h3 client: reports (a migration every 0.5 s) to a port nobody listens on yet
QASM_TRACKER=127.0.0.1:$TD start agent env LD_PRELOAD="$B/libqasm-agent.so" \
    "$B/qasm-h3-client" --connect 127.0.0.1:$H3 --duration 60s --interval 100ms --size 100 \
    --migrate-every 500ms "https://127.0.0.1:$H3/"
# reports refused, twice a second for 14 s: by --trust source, as not from
# the owner (each trackctl report picks a new secret), at the connection cap
report() { # ODCID CLIENT
    "$B/qasm-trackctl" --tracker 127.0.0.1:$TA report --type open --odcid "$1" --client "$2" \
        --server 127.0.0.1:443 >/dev/null 2>&1
}
refuse() {
    local i
    report c0ffee00 127.0.0.1:5000   # the one connection --max-conns allows
    for i in $(seq 1 28); do
        report "c0ffee$(printf %02x $i)" 10.9.9.9:5000
        report c0ffee00 127.0.0.1:5000
        report "c0ffee$(printf %02x $i)" 127.0.0.1:5000
        sleep 0.5
    done
}
refuse & PIDS[refuse]=$!

# ---- the count lines come; then the causes that are states end ----
wait_until 60 logged agent "still degraded: tracker unreachable" || echo "agent: no count line"
wait_until 60 logged m1 "still degraded: tracker session down" || echo "m1: no count line"
wait_until 60 logged tracker_a "still degraded: store unreachable" || echo "tracker_a: no count line"
start tracker_b "$B/qasm-tracker" --listen 127.0.0.1:$TB
start tracker_d "$B/qasm-tracker" --listen 127.0.0.1:$TD
start redis redis-server --port $RDS --bind 127.0.0.1 --save "" --appendonly no --dir "$T"
kill -CONT "$(child_pid tracker_c)"

wait_until 90 logged agent "no longer degraded: tracker unreachable" || echo "agent: no end line"
stop agent
for f in tracker_a:"reports refused by --trust source" tracker_a:"store unreachable" \
         tracker_a:"reports refused: not the connection's owner" tracker_a:"connection table full" \
         m1:"tracker session down" m1:"default treatment for QUIC traffic" m1:"NAT pool exhausted" \
         m3:"hold timeouts" m2:"table full"; do
    wait_until 90 logged "${f%%:*}" "no longer degraded: ${f#*:}" || echo "${f%%:*}: no end line for ${f#*:}"
done

# ---- the checks ----
check "tracker: reports refused by --trust source, start / count / end" \
    "$(cause_ok tracker_a "reports refused by --trust source")"
check "tracker: ... naming the rule, the source, the claimed client and the fix" \
    "$(grep -c 'warn: degraded: reports refused by --trust source: REPORT_OPEN from 127.0.0.1:[0-9]* claims client 10.9.9.9:5000, .*--trust mac' "$T/tracker_a.log") == 1"
check "tracker: reports refused as not from the owner, start / count / end" \
    "$(cause_ok tracker_a "reports refused: not the connection's owner")"
check "tracker: connection table full, start / count / end" \
    "$(cause_ok tracker_a "connection table full")"
check "tracker: ... naming the cap" \
    "$(grep -Ec 'warn: degraded: connection table full: refused a new connection from 127.0.0.1:[0-9]+: (per-IP|global) .*rejected_ip_cap' "$T/tracker_a.log") == 1"
check "tracker: store unreachable, start / count / end" "$(cause_ok tracker_a "store unreachable")"
check "tracker: ... naming the store and the reason" \
    "$(grep -c "warn: degraded: store unreachable: redis 127.0.0.1:$RDS: connect failed" "$T/tracker_a.log") == 1"
check "agent: tracker unreachable, start / count / end" "$(cause_ok agent "tracker unreachable")"
check "agent: ... naming the tracker and the error" \
    "$(grep -c "warn: degraded: tracker unreachable: reports to 127.0.0.1:$TD over IPv4: Connection refused" "$T/agent.log") == 1"
check "mbox: tracker session down, start / count / end" "$(cause_ok m1 "tracker session down")"
check "mbox: default treatment for QUIC traffic, start / count / end" \
    "$(cause_ok m1 "default treatment for QUIC traffic")"
check "mbox: ... with the reason (tracker_unavailable)" \
    "$(grep -c 'warn: degraded: default treatment for QUIC traffic: .*tracker_unavailable +[1-9]' "$T/m1.log") == 1"
check "mbox: NAT pool exhausted, start / count / end" "$(cause_ok m1 "NAT pool exhausted")"
check "mbox: hold timeouts, start / count / end" "$(cause_ok m3 "hold timeouts")"
check "mbox: table full, start / count / end" "$(cause_ok m2 "table full")"
finish
