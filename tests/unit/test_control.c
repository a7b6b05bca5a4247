/*
 * Unit tests for the control socket's protocol (middleboxes/io/control_proto.h):
 * request parsing, the text and JSON lines of the answers, and
 * qasm-mboxctl's command line (middleboxes/mboxctl_opts.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mbox_util.h"
#include "opts_util.h"
#include "middleboxes/io/control_list.h"
#include "middleboxes/io/control_proto.h"
#include "middleboxes/mboxctl_opts.h"

static int parse(const char *line, struct qasm_control_req *r, char *err)
{
    return qasm_control_parse(line, strlen(line), r, err, 160);
}

static void test_parse_requests(void **state)
{
    (void)state;
    struct qasm_control_req r;
    char err[160];
    assert_int_equal(parse("LIST", &r, err), 0);
    assert_int_equal(r.verb, QASM_CONTROL_LIST);
    assert_false(r.json);
    assert_int_equal(parse("list json\r\n", &r, err), 0);
    assert_int_equal(r.verb, QASM_CONTROL_LIST);
    assert_true(r.json);
    assert_int_equal(parse("  EVENTS   JSON  \n", &r, err), 0);
    assert_int_equal(r.verb, QASM_CONTROL_EVENTS);
    assert_true(r.json);
    assert_int_equal(parse("events text", &r, err), 0);
    assert_false(r.json);
    assert_int_equal(parse("STATS", &r, err), 0);
    assert_int_equal(r.verb, QASM_CONTROL_STATS);
    assert_true(r.json); /* always JSON */
    assert_int_equal(parse("stats json", &r, err), 0);
}

static void test_parse_errors(void **state)
{
    (void)state;
    struct qasm_control_req r;
    char err[160];
    assert_int_equal(parse("", &r, err), -1);
    assert_string_equal(err, "empty request (LIST, EVENTS or STATS)");
    assert_int_equal(parse("  \r\n", &r, err), -1);
    assert_int_equal(parse("FLUSH", &r, err), -1);
    assert_string_equal(err, "unknown request 'FLUSH' (LIST, EVENTS or STATS)");
    assert_int_equal(parse("LIST xml", &r, err), -1);
    assert_string_equal(err, "LIST: unknown format 'xml' (text or json)");
    assert_int_equal(parse("LIST json now", &r, err), -1);
    assert_string_equal(err, "LIST: unexpected 'now'");
    assert_int_equal(parse("STATS text", &r, err), -1);
    assert_string_equal(err, "STATS is JSON only");
    /* a word longer than the buffer is cut, not overflowed */
    assert_int_equal(parse("LISTLISTLISTLISTLISTLISTLISTLIST", &r, err), -1);
}

static void test_request_roundtrip(void **state)
{
    (void)state;
    char buf[64], err[160];
    for (int v = 0; v < 3; v++)
        for (int json = 0; json < 2; json++) {
            struct qasm_control_req r = {.verb = (enum qasm_control_verb)v, .json = json}, back;
            size_t n = qasm_control_request(buf, sizeof(buf), &r);
            assert_true(n > 0 && buf[n - 1] == '\n');
            assert_int_equal(qasm_control_parse(buf, n, &back, err, sizeof(err)), 0);
            assert_int_equal(back.verb, r.verb);
            assert_int_equal(back.json, v == QASM_CONTROL_STATS ? 1 : json);
        }
}

/* What |fill| writes into a FILE, as a string (freed by the caller). */
static char *capture_entry(const struct qasm_mbox_entry_info *e, enum qasm_mbox_function fn,
                           qasm_tstamp now)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    assert_non_null(f);
    qasm_control_entry_text(f, e, fn, now);
    fclose(f);
    return buf;
}

static void test_entry_text(void **state)
{
    (void)state;
    struct qasm_addr clients[2] = {t_addr("10.0.0.45:10001"), t_addr("10.0.0.45:10002")};
    struct qasm_mbox_entry_info e = {
        .quic = 1, .odcid = t_cid(1), .client = clients[1], .server = t_addr("192.0.2.1:443"),
        .clients = clients, .nclients = 2, .public_port = 40001, .backend = -1,
        .assured = 1, .created = 10 * QASM_SEC, .expires = 130 * QASM_SEC,
        .packets_orig = 120, .packets_reply = 118};
    char *s = capture_entry(&e, QASM_MBOX_NAT, 22 * QASM_SEC + 300 * QASM_MS);
    assert_string_equal(s, "quic odcid=1112131415161718 client=10.0.0.45:10002 "
                           "server=192.0.2.1:443 clients=10.0.0.45:10001,10.0.0.45:10002 "
                           "public_port=40001 age=12.3s expires=107.7s packets=120/118 "
                           "[ASSURED]\n");
    free(s);
    e.quic = 0;
    e.nclients = 1;
    e.clients = &clients[1];
    e.assured = 0;
    e.backend = 3;
    s = capture_entry(&e, QASM_MBOX_LB, 200 * QASM_SEC); /* past its expiry: 0 */
    assert_string_equal(s, "udp client=10.0.0.45:10002 server=192.0.2.1:443 "
                           "clients=10.0.0.45:10002 backend=3 age=190.0s expires=0.0s "
                           "packets=120/118\n");
    free(s);
}

static char *capture_event(const struct qasm_mbox_table_event *ev, enum qasm_mbox_function fn,
                           int json)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    assert_non_null(f);
    if (json)
        qasm_control_event_json(f, ev, fn, 1764900000.25);
    else
        qasm_control_event_text(f, ev, fn, 1764900000.25);
    fclose(f);
    return buf;
}

static void test_event_lines(void **state)
{
    (void)state;
    struct qasm_mbox_table_event ev = {
        .type = QASM_MBOX_TE_MIGRATED, .at = 15 * QASM_SEC, .quic = 1, .odcid = t_cid(1),
        .client = t_addr("10.0.0.45:10002"), .from = t_addr("10.0.0.45:10001"),
        .server = t_addr("192.0.2.1:443"), .public_port = 40001, .backend = -1,
        .created = 10 * QASM_SEC, .packets_orig = 7, .packets_reply = 5};
    char *s = capture_event(&ev, QASM_MBOX_NAT, 0);
    assert_string_equal(s, "[1764900000.250000] [MIGRATED] quic odcid=1112131415161718 "
                           "client=10.0.0.45:10002 server=192.0.2.1:443 "
                           "from=10.0.0.45:10001 public_port=40001\n");
    free(s);
    s = capture_event(&ev, QASM_MBOX_NAT, 1);
    assert_string_equal(s, "{\"time\": 1764900000.250000, \"type\": \"migrated\", \"quic\": true, "
                           "\"odcid\": \"1112131415161718\", \"client\": \"10.0.0.45:10002\", "
                           "\"from\": \"10.0.0.45:10001\", \"server\": \"192.0.2.1:443\", "
                           "\"public_port\": 40001, \"age_s\": 5, \"packets_orig\": 7, "
                           "\"packets_reply\": 5}\n");
    free(s);
    ev.type = QASM_MBOX_TE_EXPIRED;
    ev.quic = 0;
    s = capture_event(&ev, QASM_MBOX_NAT, 0);
    assert_string_equal(s, "[1764900000.250000]  [EXPIRED] udp client=10.0.0.45:10002 "
                           "server=192.0.2.1:443 public_port=40001 age=5.0s packets=7/5\n");
    free(s);
    ev.type = QASM_MBOX_TE_REFUSED;
    ev.reason = QASM_MBOX_DROP_TABLE_FULL;
    s = capture_event(&ev, QASM_MBOX_NAT, 0);
    assert_string_equal(s, "[1764900000.250000]  [REFUSED] udp client=10.0.0.45:10002 "
                           "server=192.0.2.1:443 reason=table_full\n");
    free(s);
    s = capture_event(&ev, QASM_MBOX_NAT, 1);
    assert_non_null(strstr(s, "\"type\": \"refused\""));
    assert_non_null(strstr(s, "\"reason\": \"table_full\""));
    assert_null(strstr(s, "public_port"));
    free(s);
}

/* The whole LIST of |m| formatted |chunk| entries at a time (at most |max| entries). */
static char *list_all(struct qasm_mbox *m, const struct qasm_mbox_config *cfg, int json,
                      size_t chunk, size_t max, size_t *count)
{
    struct qasm_control_list *l;
    assert_int_equal(qasm_control_list_new(&l, m, cfg, json, 5 * QASM_SEC, 1764900000.5, max), 0);
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    assert_non_null(f);
    int passes = 1;
    while (qasm_control_list_next(l, f, chunk))
        passes++;
    fclose(f);
    *count = qasm_control_list_count(l);
    assert_int_equal(passes, (int)((*count + chunk) / chunk)); /* the tail comes with the last */
    qasm_control_list_del(l);
    return buf;
}

static size_t lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* LIST a chunk at a time gives the listing of one pass, and stops at its bound. */
static void test_list_chunks(void **state)
{
    (void)state;
    struct qasm_mbox_config cfg;
    qasm_mbox_config_init(&cfg, QASM_MBOX_RATELIMIT, QASM_MBOX_DEFAULT);
    struct qasm_mbox *m;
    assert_int_equal(qasm_mbox_new(&m, &cfg), 0);
    assert_int_equal(t_flood(m, 600, "192.0.2.1:443", QASM_SEC), 600);
    size_t n1, n7;
    char *one = list_all(m, &cfg, 0, 1000000, QASM_CONTROL_LIST_ENTRIES, &n1);
    char *seven = list_all(m, &cfg, 0, 7, QASM_CONTROL_LIST_ENTRIES, &n7);
    assert_int_equal(n1, 600);
    assert_int_equal(n7, 600);
    assert_string_equal(one, seven);
    assert_int_equal(lines(one), 600);
    assert_non_null(strstr(one, "udp client=10.64.0.0:1024 server=192.0.2.1:443 "
                                "clients=10.64.0.0:1024 tokens=4.00 age=4.0s expires=26.0s "
                                "packets=1/0\n"));
    free(one);
    free(seven);
    one = list_all(m, &cfg, 1, 1000000, QASM_CONTROL_LIST_ENTRIES, &n1);
    seven = list_all(m, &cfg, 1, 7, QASM_CONTROL_LIST_ENTRIES, &n7);
    assert_string_equal(one, seven);
    assert_true(strncmp(one, "{\n  \"function\": \"ratelimit\",\n  \"mode\": \"default\",\n"
                             "  \"time\": 1764900000.500000,\n  \"entries\": [", 83) == 0);
    assert_non_null(strstr(one, "\n  \"count\": 600,\n  \"truncated\": false\n}\n"));
    free(one);
    free(seven);
    one = list_all(m, &cfg, 0, 64, 100, &n1);
    assert_int_equal(n1, 100);
    assert_int_equal(lines(one), 101);
    assert_non_null(strstr(one, "\n# truncated after 100 entries\n"));
    free(one);
    qasm_mbox_del(m);
}

static int ctl_parse(struct qasm_mboxctl_opts *o, char *err, int argc, char **argv)
{
    return qasm_mboxctl_opts_parse(argc, argv, o, err, 256);
}
#define CTL(o, err, ...)                                                                        \
    ctl_parse(o, err, (int)(sizeof((char *[]){"qasm-mboxctl", __VA_ARGS__}) / sizeof(char *)), \
              (char *[]){"qasm-mboxctl", __VA_ARGS__})

static void test_mboxctl_opts(void **state)
{
    (void)state;
    struct qasm_mboxctl_opts o;
    char err[256];
    assert_int_equal(CTL(&o, err, "list"), 0);
    assert_int_equal(o.req.verb, QASM_CONTROL_LIST);
    assert_null(o.control);
    assert_int_equal(CTL(&o, err, "events", "--json", "--control", "/tmp/x.sock", "--count", "3"),
                     0);
    assert_int_equal(o.req.verb, QASM_CONTROL_EVENTS);
    assert_true(o.req.json);
    assert_string_equal(o.control, "/tmp/x.sock");
    assert_int_equal(o.count, 3);
    assert_int_equal(CTL(&o, err, "stats"), 0);
    assert_true(o.req.json);
    assert_int_equal(CTL(&o, err, "-h"), 1);
    assert_int_equal(CTL(&o, err, "list", "--help"), 1);
    assert_int_equal(CTL(&o, err, "--json"), -1);
    assert_string_equal(err, "a command is needed: list, events or stats (see --help)");
    assert_int_equal(CTL(&o, err, "show"), -1);
    assert_string_equal(err, "unknown command 'show' (list, events or stats) (see --help)");
    assert_int_equal(CTL(&o, err, "list", "extra"), -1);
    assert_string_equal(err, "list: unexpected 'extra' (see --help)");
    assert_int_equal(CTL(&o, err, "list", "--count", "2"), -1);
    assert_string_equal(err, "--count goes with events only (see --help)");
    assert_int_equal(CTL(&o, err, "events", "--count", "0"), -1);
    assert_string_equal(err, "--count: expected an integer in 1..1000000000, got '0' (see --help)");
    assert_int_equal(CTL(&o, err, "list", "--bogus"), -1);
    assert_non_null(strstr(err, "unrecognized option '--bogus'"));
    assert_int_equal(CTL(&o, err, "list", "--control", ""), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_requests),   cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_request_roundtrip), cmocka_unit_test(test_entry_text),
        cmocka_unit_test(test_event_lines),      cmocka_unit_test(test_mboxctl_opts),
        cmocka_unit_test(test_list_chunks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
