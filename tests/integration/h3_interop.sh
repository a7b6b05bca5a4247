#!/usr/bin/env bash
# h3_interop.sh: interop with Debian's ngtcp2 examples, both ways.
#   - qasm-h3-client downloads files of several sizes from gtlsserver
#     (ngtcp2-server), byte-exact, also while migrating at 100 Hz; the
#     certificate/key are the ones qasm-h3-server generated (--write-cert/--write-key);
#   - gtlsclient (ngtcp2-client) downloads /bytes/N from qasm-h3-server
#     byte-exact (IPv4 and IPv6), also while migrating once (--change-local-addr,
#     non-empty client CIDs), and POST /echo returns its body.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/h3_lib.sh"
command -v gtlsclient >/dev/null && command -v gtlsserver >/dev/null ||
    fail "gtlsclient/gtlsserver missing (Debian ngtcp2-client, ngtcp2-server)"

P=$(freeport)
start_server srv --listen "127.0.0.1:$P" --listen "[::1]:$P" --write-cert "$T/cert.pem" \
    --write-key "$T/key.pem"
[ -s "$T/cert.pem" ] && [ -s "$T/key.pem" ] || fail "--write-cert/--write-key wrote nothing"

# --- gtlsclient -> qasm-h3-server
mkdir -p "$T/dl" "$T/dl6"
timeout 60 gtlsclient -q --exit-on-all-streams-close --download="$T/dl" 127.0.0.1 "$P" \
    "https://127.0.0.1:$P/bytes/1000" "https://127.0.0.1:$P/bytes/3000000" \
    >"$T/gc.log" 2>&1 || fail "gtlsclient: exit $?"
for n in 1000 3000000; do
    pattern "$n" "$T/exp.$n"
    cmp -s "$T/dl/$n" "$T/exp.$n" || fail "gtlsclient download of $n bytes differs"
done
timeout 60 gtlsclient -q --exit-on-all-streams-close --download="$T/dl6" ::1 "$P" \
    "https://[::1]:$P/bytes/1000" >"$T/gc6.log" 2>&1 || fail "gtlsclient over IPv6: exit $?"
cmp -s "$T/dl6/1000" "$T/exp.1000" || fail "gtlsclient IPv6 download differs"
head -c 100000 /dev/urandom >"$T/body"
timeout 60 gtlsclient -q --exit-on-all-streams-close -m POST --data="$T/body" --download="$T/dl" \
    127.0.0.1 "$P" "https://127.0.0.1:$P/echo" >"$T/gcp.log" 2>&1 || fail "gtlsclient POST: exit $?"
cmp -s "$T/dl/echo" "$T/body" || fail "POST /echo did not echo the body"
echo "ok: gtlsclient -> qasm-h3-server (GET IPv4/IPv6, POST /echo)"
mkdir -p "$T/dlm"
timeout 60 gtlsclient -q --exit-on-all-streams-close --change-local-addr=5ms --download="$T/dlm" \
    127.0.0.1 "$P" "https://127.0.0.1:$P/bytes/3000000" >"$T/gcm.log" 2>&1 ||
    fail "migrating gtlsclient: exit $?"
cmp -s "$T/dlm/3000000" "$T/exp.3000000" || fail "migrating gtlsclient download differs"
stop_server srv
[ "$(jget "$T/srv.json" responses_2xx)" -ge 5 ] || fail "server did not count the responses"
[ "$(jget "$T/srv.json" migrations)" -ge 1 ] || fail "server saw no migration from gtlsclient"
echo "ok: gtlsclient migrating (--change-local-addr) while downloading from qasm-h3-server"

# --- qasm-h3-client -> gtlsserver
GP=$(freeport)
mkdir -p "$T/htdocs"
head -c 1 /dev/urandom >"$T/htdocs/one"
head -c 100000 /dev/urandom >"$T/htdocs/small"
head -c 20000000 /dev/urandom >"$T/htdocs/big"
timeout 120 gtlsserver -q -d "$T/htdocs" 127.0.0.1 "$GP" "$T/key.pem" "$T/cert.pem" \
    >"$T/gtlsserver.log" 2>&1 &
PIDS+=($!)
wait_udp "$GP" || fail "gtlsserver did not start"
for f in one small big; do
    timeout 60 "$CLI" --json --output "$T/got.$f" "https://127.0.0.1:$GP/$f" \
        >"$T/c.$f.json" 2>"$T/c.$f.log" || fail "qasm-h3-client from gtlsserver ($f): exit $?"
    cmp -s "$T/got.$f" "$T/htdocs/$f" || fail "download of $f from gtlsserver differs"
done
echo "ok: qasm-h3-client -> gtlsserver (1 B, 100 kB, 20 MB byte-exact)"
timeout 60 "$CLI" --json --requests 5 --migrate-hz 100 --output "$T/got.mig" \
    "https://127.0.0.1:$GP/big" >"$T/c.mig.json" 2>"$T/c.mig.log" ||
    fail "migrating download from gtlsserver: exit $?"
[ "$(jget "$T/c.mig.json" requests_ok)" = 5 ] || fail "migrating download: requests_ok != 5"
[ "$(jget "$T/c.mig.json" migrations)" -ge 1 ] || fail "migrating download: no migration"
cat "$T/htdocs/big" "$T/htdocs/big" "$T/htdocs/big" "$T/htdocs/big" "$T/htdocs/big" >"$T/exp.mig"
cmp -s "$T/got.mig" "$T/exp.mig" || fail "migrating download from gtlsserver differs"
echo "ok: qasm-h3-client -> gtlsserver while migrating at 100 Hz ($(jget "$T/c.mig.json" migrations) migrations)"
echo "PASS"
