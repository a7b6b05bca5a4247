# test_lib.sh: helpers for every integration script (sourced, not run; no
# trap, no output, nothing started). The rules they serve are in
# docs/TESTBED.md ("Writing a test"): wait on conditions, never on sleeps;
# generous bounds, scaled by QASM_TEST_SLOWDOWN; ports reserved, not guessed.
#
#   QASM_TEST_SLOWDOWN      factor on every bound below (default 1; e.g. 3 on a
#                           machine known to be very slow or under valgrind)
#   python3 ...             Debian's /usr/bin/python3 (or $QASM_PYTHON), not a PATH wrapper
#   scaled SECS             print SECS x QASM_TEST_SLOWDOWN (an integer, at least 1)
#   wait_until SECS CMD...  run CMD every 0.1 s until it succeeds (status 0) or
#                           SECS x QASM_TEST_SLOWDOWN seconds have passed (status 1)
#   udp_bound PORT / tcp_listening PORT
#                           true if a UDP socket is bound / a TCP socket listens on PORT
#   reserve_ports N [OFF]   print the first of N consecutive ports, each free
#                           (UDP and TCP, 127.0.0.1 and ::1) and reserved for
#                           this script until release_ports or its exit (see
#                           below); with OFF, port+OFF too (a Redis Cluster's bus)
#   release_ports           drop this script's reservations (cleanup traps call it)
#   logged_port FILE        wait (30 s, scaled) until a program started with --listen
#                           HOST:0 logs "listening on HOST:PORT" in FILE; print PORT
#                           (qasm-tracker at --log-level info, qasm-mbox; qasm-mbox
#                           also writes it as "listen" in its stats JSON)
#
# Port reservation: a port picked as "free" may be taken by someone else
# before the program under test binds it. Ports are therefore taken from
# 20000-32767, below the kernel's ephemeral range (no client socket, TCP
# connect or port-0 bind anywhere on the machine can get one), and each
# reserved port gets a lock file in $QASM_PORT_LOCKDIR (default
# /tmp/qasm-test-ports) naming the owner (pid and start time of the test
# script, $$), so concurrent test runs never pick the same port. A
# reservation whose owner is gone is stale and reused; one older than an
# hour is ignored. Where a program can bind port 0 and tell which port it
# got, prefer that.

export QASM_TEST_SLOWDOWN=${QASM_TEST_SLOWDOWN:-1}
# The tests need only Debian's python3 and its standard library. A python3
# found first in PATH may be a wrapper (a pyenv shim costs a second per call on
# a loaded machine, and the tests call python3 hundreds of times): use
# /usr/bin/python3 when it exists, or $QASM_PYTHON.
QASM_PYTHON=${QASM_PYTHON:-$( [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || echo python3 )}
python3() { "$QASM_PYTHON" "$@"; }
QASM_PORT_LOCKDIR=${QASM_PORT_LOCKDIR:-/tmp/qasm-test-ports}

scaled() {
    awk -v s="$1" -v f="$QASM_TEST_SLOWDOWN" 'BEGIN { v = s * f; i = int(v); if (i < v) i++; if (i < 1) i = 1; print i }'
}

wait_until() {
    local secs end
    secs=$(scaled "$1"); shift
    end=$((SECONDS + secs))
    while :; do
        "$@" && return 0
        [ "$SECONDS" -ge "$end" ] && return 1
        sleep 0.1
    done
}

udp_bound() {
    [ -n "$(ss -Hlun "sport = :$1" 2>/dev/null)" ] || [ -n "$(ss -Hun "sport = :$1" 2>/dev/null)" ]
}
tcp_listening() {
    [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]
}

# dump_until PORT FILE PYEXPR: qasm-trackctl dump of the tracker on
# 127.0.0.1:PORT into FILE until PYEXPR (on d, the dump) holds, at most 30 s
# (scaled); the checks that follow then read FILE. Needs $B (the build dir).
dump_until() {
    local port=$1 f=$2 expr=$3
    _dump_ok() {
        timeout "$(scaled 30)" "$B/qasm-trackctl" --tracker "127.0.0.1:$port" \
            --timeout "$(scaled 30)s" --json dump >"$f" 2>/dev/null &&
            python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' "$f" "$expr"
    }
    wait_until 30 _dump_ok
}

reserve_ports() {
    python3 - "$1" "$$" "$QASM_PORT_LOCKDIR" "${2:-0}" <<'EOF'
import errno, fcntl, os, random, socket, sys, time
n, owner, d, off = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
LO, HI = 20000, 32767
try:
    HI = min(HI, int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0]) - 1)
except (OSError, ValueError, IndexError):
    pass
os.makedirs(d, mode=0o1777, exist_ok=True)
try:
    os.chmod(d, 0o1777)
except OSError:
    pass

def start_time(pid):
    try:
        return open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None

me = "%d %s\n" % (owner, start_time(owner))

def held(port):
    """True if a live reservation (not ours) holds this port."""
    p = os.path.join(d, str(port))
    try:
        text = open(p).read()
        age = time.time() - os.stat(p).st_mtime
    except OSError:
        return False
    if text == me:
        return False
    try:
        pid, st = text.split()
        if age < 3600 and start_time(int(pid)) == st:
            return True
    except ValueError:
        pass
    try:
        os.unlink(p)        # stale: its owner is gone
    except OSError:
        pass
    return False

def bindable(port):
    fams = [(socket.AF_INET, "127.0.0.1")]
    if socket.has_ipv6:
        fams.append((socket.AF_INET6, "::1"))
    socks = []
    try:
        for fam, host in fams:
            for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                s = socket.socket(fam, kind)
                socks.append(s)
                try:
                    s.bind((host, port))
                except OSError as e:
                    if fam == socket.AF_INET6 and e.errno == errno.EADDRNOTAVAIL:
                        continue     # no ::1 on this machine
                    return False
        return True
    finally:
        for s in socks:
            s.close()

with open(os.path.join(d, ".lock"), "a") as lk:
    fcntl.flock(lk, fcntl.LOCK_EX)     # one allocation at a time, machine-wide
    names = [f for f in os.listdir(d) if f.isdigit()]
    if len(names) > 512:               # many left behind: drop the stale ones
        for f in names:
            held(int(f))
    for _ in range(500):
        base = random.randint(LO, HI - n + 1 - off)
        ports = list(range(base, base + n))
        if off:
            ports += [p + off for p in ports]
        if any(held(p) for p in ports) or not all(bindable(p) for p in ports):
            continue
        for p in ports:
            with open(os.path.join(d, str(p)), "w") as f:
                f.write(me)
        print(base)
        sys.exit(0)
sys.exit(1)
EOF
}

# One grep over the lock files, not a process per file: the directory may hold
# thousands of stale reservations (owners killed before their cleanup ran).
release_ports() {
    local me
    me="$$ $(awk '{ sub(/.*\) /, ""); print $20 }' /proc/$$/stat 2>/dev/null)"
    grep -lxF -- "$me" "$QASM_PORT_LOCKDIR"/[0-9]* 2>/dev/null | xargs -r rm -f --
    return 0
}

logged_port() {
    local p
    _logged() {
        p=$(sed -n 's/.*listening on \(\[[^]]*\]\|[0-9.]*\):\([0-9][0-9]*\).*/\2/p' "$1" 2>/dev/null |
            head -n 1)
        [ -n "$p" ] && [ "$p" != 0 ]
    }
    wait_until 30 _logged "$1" || return 1
    echo "$p"
}
