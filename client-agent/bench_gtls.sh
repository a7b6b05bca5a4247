# bench_gtls.sh: sourced by the client agents' benchmarks
# (client-agent/bench-agent.sh, agentd/bench-agentd.sh), not run. Starts what
# both download from: a qasm-tracker and Debian's gtlsserver serving MB
# megabytes of random bytes (/big.bin) on 127.0.0.1, with a self-signed
# certificate, on ports reserved as the tests reserve them
# (tests/integration/test_lib.sh), and waits until both are bound.
#   bench_gtls_up LIMIT_S   needs B (build dir), T (work dir), MB, the array
#                           PIDS (the caller's cleanup kills them and calls
#                           release_ports); sets TP (tracker) and SP (server)
. "$(dirname "${BASH_SOURCE[0]}")/../tests/integration/test_lib.sh"

bench_gtls_up() {
    TP=$(reserve_ports 1) && SP=$(reserve_ports 1) || { echo "no free ports" >&2; exit 1; }
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$T/key.pem" -out "$T/cert.pem" -days 2 -subj /CN=localhost >/dev/null 2>&1 ||
        { echo "openssl could not make a certificate" >&2; exit 1; }
    mkdir -p "$T/htdocs"
    head -c $((MB * 1000000)) /dev/urandom >"$T/htdocs/big.bin"
    timeout "$1" "$B/qasm-tracker" --listen "127.0.0.1:$TP" --log-level warn >"$T/tracker.log" 2>&1 &
    PIDS+=($!)
    timeout "$1" gtlsserver -q -d "$T/htdocs" 127.0.0.1 "$SP" "$T/key.pem" "$T/cert.pem" \
        >"$T/server.log" 2>&1 &
    PIDS+=($!)
    wait_until 30 udp_bound "$TP" && wait_until 30 udp_bound "$SP" ||
        { echo "the tracker or gtlsserver did not start" >&2; exit 1; }
}
