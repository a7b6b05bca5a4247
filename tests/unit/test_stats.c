/*
 * test_stats.c: the tracker's STATS reply (tracker/core/stats.h): every
 * name in its place, each fed from its own counter, limit_errors and
 * mem_used summed from their parts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cli.h"
#include "stats.h"

static int no_action(void *arg, const struct qasm_query_action *a)
{
    (void)arg;
    (void)a;
    return 0;
}

static uint64_t value_of(const struct qasm_proto_stats *st, const char *name)
{
    for (unsigned i = 0; i < st->n; i++)
        if (strcmp(st->s[i].name, name) == 0)
            return st->s[i].value;
    fail_msg("no counter %s", name);
    return 0;
}

static void test_reply_names_order_and_sources(void **state)
{
    (void)state;
    struct qasm_store_config cfg;
    qasm_store_config_default(&cfg);
    struct qasm_store *store;
    assert_int_equal(qasm_store_new(&store, &cfg, NULL, NULL), 0);
    struct qasm_query_config qcfg = { .store = store, .max_wait = QASM_SEC, .max_subs = 4,
                                      .max_subs_total = 8, .act = no_action };
    struct qasm_query *query;
    assert_int_equal(qasm_query_new(&query, &qcfg), 0);
    struct qasm_access access;
    memset(&access, 0, sizeof(access));
    access.n.auth_failed = 7;
    access.n.rejected_no_key_mac = 8;
    struct qasm_budget lim = { .max_sessions = 4, .max_sessions_per_ip = 1 };
    struct qasm_sessions ss;
    qasm_sessions_init(&ss, &lim, 0);
    struct qasm_sessions_ent e;
    struct qasm_sessions_ent *victim;
    size_t from_ip;
    struct qasm_addr peer;
    assert_int_equal(qasm_addr_parse_ip(&peer, "10.0.0.1", 0), 0);
    qasm_sessions_add(&ss, &e, &peer, 1, NULL, 0);
    assert_int_equal(qasm_sessions_admit(&ss, &peer, &victim, &from_ip), QASM_ADMIT_PER_IP);
    struct qasm_stats_io io = { .udp_datagrams = 11, .framing_errors = 12, .dumps = 13,
                                .sessions_dropped_slow = 14, .sessions_paused = 15,
                                .dump_chunks = 16 };
    struct qasm_stats_src src = { .store = store, .query = query, .access = &access,
                                  .sessions = &ss, .io = &io, .out_bytes = 1000,
                                  .max_memory = 1 << 30 };
    struct qasm_proto_stats st;
    qasm_stats_collect(&st, &src);

    assert_int_equal(st.n, 78);
    assert_string_equal(st.s[0].name, "conns");
    assert_string_equal(st.s[6].name, "bytes_per_conn");
    assert_string_equal(st.s[33].name, "udp_datagrams");
    assert_string_equal(st.s[41].name, "queries");
    assert_string_equal(st.s[57].name, "limit_errors");
    assert_string_equal(st.s[75].name, "mem_budget");
    assert_string_equal(st.s[76].name, "build_version");
    assert_int_equal(st.s[76].value, qasm_version_number());
    assert_string_equal(st.s[77].name, "build_commit");
    assert_int_equal(st.s[77].value, qasm_version_commit_number());
    assert_int_equal(value_of(&st, "udp_datagrams"), 11);
    assert_int_equal(value_of(&st, "framing_errors"), 12);
    assert_int_equal(value_of(&st, "dumps"), 13);
    assert_int_equal(value_of(&st, "sessions_dropped_slow"), 14);
    assert_int_equal(value_of(&st, "sessions_paused"), 15);
    assert_int_equal(value_of(&st, "dump_chunks"), 16);
    assert_int_equal(value_of(&st, "auth_failed"), 7);
    assert_int_equal(value_of(&st, "rejected_no_key_mac"), 8);
    assert_int_equal(value_of(&st, "sessions"), 1);
    assert_int_equal(value_of(&st, "sessions_total"), 1);
    assert_int_equal(value_of(&st, "sessions_refused_ip"), 1);
    assert_int_equal(value_of(&st, "limit_errors"), 1);
    assert_int_equal(value_of(&st, "out_bytes"), 1000);
    assert_int_equal(value_of(&st, "mem_budget"), 1 << 30);
    size_t mem = qasm_store_memory(store);
    assert_int_equal(value_of(&st, "mem_bytes"), mem);
    assert_int_equal(value_of(&st, "mem_used"), mem + QASM_BUDGET_SESSION_COST + 1000);
    qasm_query_del(query);
    qasm_store_del(store);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reply_names_order_and_sources),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
