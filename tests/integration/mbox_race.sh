#!/usr/bin/env bash
# mbox_race.sh: the tracker race, lost on purpose. The tracker is stopped
# (SIGSTOP) while a client migrates through an aware NAT, so the answer to
# the middlebox's query about the migrated packet comes long after --hold
# (2 ms), as it does, for a few ms, on a busy machine. The middlebox must
# keep the packet held until that answer (--hold-ceiling, 30 s here, the client's own bound) and
# give the connection one mapping, not a transient second one that the
# server would see as a NAT rebinding.
#
# No timing assertion: however the stop falls relative to the client's
# migrations, every migrated path is attested by the tracker once it runs
# again, well within the ceiling, so the expected counts do not depend on
# the machine's load. (With a fixed 2 ms hold the stop makes the middlebox
# give the migrated packets default treatment.)
set -u
cd "$(dirname "$0")/../.."
. tests/integration/mbox_lib.sh

base=$(free_ports 16) || { echo "no free ports"; exit 1; }
TRK=$base SRV=$((base + 1)) NAT=$((base + 2))
POOL_LO=$((base + 8)) POOL_HI=$((base + 15))

start tracker "$B/qasm-tracker" --listen 127.0.0.1:$TRK
start server "$B/qasm-udpdrive" server --listen 127.0.0.1:$SRV
wait_bound $TRK tcp && wait_bound $SRV || exit 1

for mode in reactive proactive; do
    echo "# nat $mode, tracker stopped while the client migrates"
    start nat "$B/qasm-mbox" nat --mode "$mode" --listen 127.0.0.1:$NAT \
        --upstream 127.0.0.1:$SRV --ports $POOL_LO-$POOL_HI --tracker 127.0.0.1:$TRK \
        --hold 2ms --hold-ceiling 30s --stats-json "$T/nat.json" --log-level info
    wait_bound $NAT || exit 1
    wait_json "$T/nat.json" "d['tracker']['up']" || { echo "FAIL - $mode: tracker session"; exit 1; }
    tpid=$(child_pid tracker)
    kill -STOP "$tpid"
    # Handshake (needs no tracker), then a migration (new port, next DCID) every 4 packets.
    timeout 30 "$B/qasm-udpdrive" client --to 127.0.0.1:$NAT --conn $((40 + ${#mode})) \
        --packets 12 --migrate-every 4 --interval 10ms --linger 100ms \
        --tracker 127.0.0.1:$TRK >"$T/client.json" 2>&1
    rc=$?
    sleep 0.2
    kill -CONT "$tpid"
    check "$mode: client handshake through the NAT" "$rc == 0"
    # The held packets are decided once the tracker answers.
    wait_json "$T/nat.json" "d['packets_held'] > 0 and d['held_now'] == 0" 200 ||
        echo "# (held packets not all decided yet)"
    fresh_stats nat "$T/nat.json"
    # One python run for every figure (each start is slow on a loaded machine).
    read -r held joined_late dflt created migr < <(json "$T/nat.json" \
        "' '.join(str(d.get(k, -1)) for k in ('packets_held', 'joined_past_hold', 'released_default', 'mappings_created', 'migrations'))")
    echo "nat: held=$held joined_past_hold=$joined_late released_default=$dflt mappings_created=$created migrations=$migr"
    check "$mode: migrated packets were held" "$held > 0"
    check "$mode: ... past --hold, and joined their connection" "$joined_late > 0"
    check "$mode: none given default treatment" "$dflt == 0"
    check "$mode: one mapping for the connection, none transient" "$created == 1"
    check "$mode: migrations followed" "$migr >= 1"
    stop nat
done

finish
