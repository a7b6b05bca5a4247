/* Unit tests for migration-bench/clientopts.c (qasm-h3-client flags, URLs, sizes,
 * address ranges) and migration-bench/content.c (the /bytes/N pattern). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "migration-bench/clientopts.h"
#include "migration-bench/content.h"

static struct qasm_h3c_opts o;
static char err[256];

static int parse(int argc, const char **argv)
{
    return qasm_h3c_opts_parse(&o, argc, (char **)argv, err, sizeof(err));
}

static void test_url(void **state)
{
    struct qasm_url u;
    (void)state;
    assert_int_equal(qasm_url_parse(&u, "https://127.0.0.1:4433/bytes/10"), 0);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 4433);
    assert_string_equal(u.path, "/bytes/10");
    assert_string_equal(u.authority, "127.0.0.1:4433");
    assert_int_equal(qasm_url_parse(&u, "https://[::1]:8443"), 0);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 8443);
    assert_string_equal(u.path, "/");
    assert_string_equal(u.authority, "[::1]:8443");
    assert_int_equal(qasm_url_parse(&u, "https://example.org/x?y=1"), 0);
    assert_int_equal(u.port, 443);
    assert_string_equal(u.path, "/x?y=1");
    assert_int_not_equal(qasm_url_parse(&u, "http://a/"), 0);
    assert_int_not_equal(qasm_url_parse(&u, "https://a:0/"), 0);
    assert_int_not_equal(qasm_url_parse(&u, "https://a:70000/"), 0);
    assert_int_not_equal(qasm_url_parse(&u, "https://a:/"), 0);
    assert_int_not_equal(qasm_url_parse(&u, "https://[::1/"), 0);
    assert_int_not_equal(qasm_url_parse(&u, "https:///x"), 0);
}

static void test_opts_defaults_and_flags(void **state)
{
    (void)state;
    const char *a1[] = {"c", "https://127.0.0.1:4433/", NULL};
    assert_int_equal(parse(2, a1), 0);
    assert_int_equal(o.connections, 1);
    assert_int_equal(o.requests, 1);
    assert_int_equal(o.concurrency, 1);
    assert_int_equal(o.mig_mode, QASM_MIG_NONE);
    assert_int_equal(o.max_ack_delay, QASM_MS);
    assert_int_equal(o.nurls, 1);
    assert_int_equal(o.cid_len, 0);
    assert_int_equal(o.keep_alive, 50 * QASM_MS);
    assert_int_equal(o.keep_sockets, 16);
    assert_int_equal(o.keep_sockets_for, 500 * QASM_MS);
    assert_int_equal(o.gso, 0);
    assert_int_equal(o.handshake_timeout, 5 * QASM_SEC);
    assert_int_equal(o.grace, 2 * QASM_SEC);
    assert_int_equal(o.duration, 0);

    const char *a6[] = {"c", "--handshake-timeout", "250ms", "--duration", "3s", "--grace", "0",
                        "https://h/", NULL};
    assert_int_equal(parse(8, a6), 0);
    assert_int_equal(o.handshake_timeout, 250 * QASM_MS);
    assert_int_equal(o.duration, 3 * QASM_SEC);
    assert_int_equal(o.grace, 0);

    const char *a5[] = {"c", "--gso", "--keep-alive", "0", "--keep-sockets-for", "2s",
                        "--keep-sockets", "4", "--cid-len", "8", "https://h/", NULL};
    assert_int_equal(parse(11, a5), 0);
    assert_int_equal(o.gso, 1);
    assert_int_equal(o.keep_alive, 0);
    assert_int_equal(o.keep_sockets_for, 2 * QASM_SEC);
    assert_int_equal(o.keep_sockets, 4);
    assert_int_equal(o.cid_len, 8);

    const char *a2[] = {"c", "--connect", "127.0.0.1:9000", "--migrate-hz", "1000", "--migrate-kind",
                        "addr", "--local-addrs", "127.0.0.2-127.0.0.200", "--duration", "10s",
                        "--size", "10M", "--json", "--concurrency", "4", "--connections", "3",
                        "https://localhost:4433/", "https://localhost:4433/b", NULL};
    assert_int_equal(parse(20, a2), 0);
    assert_int_equal(o.have_connect, 1);
    assert_int_equal(o.connect.port, 9000);
    assert_int_equal(o.mig_mode, QASM_MIG_PERIOD);
    assert_int_equal(o.mig_period, QASM_MS);
    assert_int_equal(o.mig_kind, QASM_MIG_KIND_ADDR);
    assert_int_equal(o.duration, 10 * QASM_SEC);
    assert_int_equal(o.size, 10 * 1024 * 1024);
    assert_int_equal(o.json, 1);
    assert_int_equal(o.concurrency, 4);
    assert_int_equal(o.connections, 3);
    assert_int_equal(o.nurls, 2);
    assert_string_equal(o.urls[1].path, "/b");

    const char *a3[] = {"c", "--migrate-every-packets", "10", "--rebind", "https://h/", NULL};
    assert_int_equal(parse(5, a3), 0);
    assert_int_equal(o.mig_mode, QASM_MIG_PACKETS);
    assert_int_equal(o.mig_packets, 10);
    assert_int_equal(o.rebind, 1);
    assert_int_equal(o.mig_ahead, 0);

    const char *a3b[] = {"c", "--migrate-hz", "100", "--migrate-ahead", "3", "https://h/", NULL};
    assert_int_equal(parse(6, a3b), 0);
    assert_int_equal(o.mig_ahead, 3);

    const char *a4[] = {"c", "--help", NULL};
    assert_int_equal(parse(2, a4), 1);
    const char *a4h[] = {"c", "-h", NULL};
    assert_int_equal(parse(2, a4h), 1);
    assert_non_null(strstr(qasm_h3c_usage(), "  --version"));
    assert_non_null(strstr(qasm_h3c_usage(), "ns, us, ms, s, m or h"));
}

static void test_opts_errors(void **state)
{
    (void)state;
    const char *e1[] = {"c", NULL};
    assert_int_equal(parse(1, e1), -1);
    assert_non_null(strstr(err, "URL"));
    const char *e2[] = {"c", "--migrate-hz", "0", "https://h/", NULL};
    assert_int_equal(parse(4, e2), -1);
    const char *e3[] = {"c", "--migrate-hz", "10", "--migrate-every", "1s", "https://h/", NULL};
    assert_int_equal(parse(6, e3), -1);
    /* The bound the --help text states: 100000 taken, above refused. */
    const char *e3b[] = {"c", "--migrate-hz", "100001", "https://h/", NULL};
    assert_int_equal(parse(4, e3b), -1);
    assert_non_null(strstr(err, "100000"));
    const char *ok3[] = {"c", "--migrate-hz", "100000", "https://h/", NULL};
    assert_int_equal(parse(4, ok3), 0);
    const char *e4[] = {"c", "--migrate-kind", "addr", "https://h/", NULL};
    assert_int_equal(parse(4, e4), -1);
    assert_non_null(strstr(err, "--local-addrs"));
    const char *e5[] = {"c", "--bogus", "https://h/", NULL};
    assert_int_equal(parse(3, e5), -1);
    const char *e6[] = {"c", "--requests", "5", "--duration", "1s", "https://h/", NULL};
    assert_int_equal(parse(6, e6), -1);
    const char *e7[] = {"c", "--cid-len", "21", "https://h/", NULL};
    assert_int_equal(parse(4, e7), -1);
    const char *e8[] = {"c", "ftp://h/", NULL};
    assert_int_equal(parse(2, e8), -1);
    const char *e9[] = {"c", "--rebind", "https://h/", NULL};
    assert_int_equal(parse(3, e9), -1);
    const char *e9c[] = {"c", "--migrate-hz", "1", "--migrate-ahead", "5", "https://h/", NULL};
    assert_int_equal(parse(6, e9c), -1);
    assert_string_equal(err, "--migrate-ahead: expected a count of paths in 1-4, got '5'");
    const char *e9b[] = {"c", "--migrate-ahead", "1", "https://h/", NULL};
    assert_int_equal(parse(4, e9b), -1);
    assert_string_equal(err, "--migrate-ahead needs a schedule "
                             "(--migrate-hz/-every/-every-packets)");
    /* a host name is kept for main to resolve; what is neither address nor name is refused */
    const char *e10[] = {"c", "--connect", "localhost:1", "https://h/", NULL};
    assert_int_equal(parse(4, e10), 0);
    assert_int_equal(o.names.n, 1);
    assert_ptr_equal(o.names.dst[0], &o.connect);
    assert_int_equal(o.connect.port, 1);
    const char *e12[] = {"c", "--handshake-timeout", "0", "https://h/", NULL};
    assert_int_equal(parse(4, e12), -1);
    assert_string_equal(err, "--handshake-timeout: expected a duration like 5s, got '0'");
    const char *e13[] = {"c", "--grace", "1s", "https://h/", NULL};
    assert_int_equal(parse(4, e13), -1);
    assert_string_equal(err, "--grace needs --duration");
    const char *e14[] = {"c", "--duration", "1s", "--grace", "x", "https://h/", NULL};
    assert_int_equal(parse(6, e14), -1);
    assert_string_equal(err, "--grace: expected a duration like 2s, got 'x'");
    const char *e11[] = {"c", "--connect", "local host:1", "https://h/", NULL};
    assert_int_equal(parse(4, e11), -1);
    assert_string_equal(err, "--connect: expected HOST:PORT, IP:PORT or [IPv6]:PORT, got "
                             "'local host:1'");
}

static void test_content(void **state)
{
    uint8_t buf[70000];
    (void)state;
    /* the documented formula, across the period boundary */
    for (uint64_t i = 0; i < sizeof(buf); i++) {
        uint64_t j = (60000 + i) % QASM_CONTENT_PERIOD;
        buf[i] = (uint8_t)((7 * j + j / 256) % 256);
    }
    assert_int_equal(qasm_content_check(buf, 60000, sizeof(buf)), 0);
    assert_int_not_equal(qasm_content_check(buf, 60001, sizeof(buf)), 0);
    buf[69999] ^= 1;
    assert_int_not_equal(qasm_content_check(buf, 60000, sizeof(buf)), 0);
    size_t avail;
    const uint8_t *p = qasm_content_at(QASM_CONTENT_PERIOD - 3, &avail);
    assert_int_equal(avail, 3);
    assert_int_equal(p[0], (uint8_t)((7 * (QASM_CONTENT_PERIOD - 3) + (QASM_CONTENT_PERIOD - 3) / 256) % 256));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url),
        cmocka_unit_test(test_opts_defaults_and_flags),
        cmocka_unit_test(test_opts_errors),
        cmocka_unit_test(test_content),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
