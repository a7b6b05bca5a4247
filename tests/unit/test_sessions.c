/*
 * test_sessions.c: the tracker's session registry (tracker/core/sessions.h):
 * admission per IP and in all, the oldest unauthenticated session making
 * room for a new one, the key and idle timeouts, and their counters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sessions.h"

#define NS 8

struct fixture {
    struct qasm_budget lim;
    struct qasm_sessions ss;
    struct qasm_sessions_ent e[NS];
    int id[NS];
};

static int setup(void **state)
{
    static struct fixture f;
    f.lim = (struct qasm_budget){ .max_sessions = 4, .max_sessions_per_ip = 2,
                                  .reserved_sessions = 2 };
    qasm_sessions_init(&f.ss, &f.lim, 5 * QASM_SEC);
    for (int i = 0; i < NS; i++)
        f.id[i] = i;
    *state = &f;
    return 0;
}

static struct qasm_addr ip(const char *s)
{
    struct qasm_addr a;
    assert_int_equal(qasm_addr_parse_ip(&a, s, 0), 0);
    return a;
}

/* Admit a session from |peer| and register it as e[i]; returns the decision. */
static int open_one(struct fixture *f, int i, const char *peer, int authenticated,
                    qasm_tstamp now, struct qasm_sessions_ent **victim)
{
    struct qasm_addr a = ip(peer);
    size_t from_ip;
    int rv = qasm_sessions_admit(&f->ss, &a, victim, &from_ip);
    if (rv >= 0)
        qasm_sessions_add(&f->ss, &f->e[i], &a, authenticated, &f->id[i], now);
    return rv;
}

static void test_per_ip_and_global_caps(void **state)
{
    struct fixture *f = *state;
    struct qasm_sessions_ent *v;
    /* Two per IP, four in all (every session authenticated). */
    static const struct {
        const char *peer;
        int want;
    } steps[] = {
        { "10.0.0.1", QASM_ADMIT_OK }, { "10.0.0.1", QASM_ADMIT_OK },
        { "10.0.0.1", QASM_ADMIT_PER_IP }, { "10.0.0.2", QASM_ADMIT_OK },
        { "10.0.0.3", QASM_ADMIT_OK }, { "10.0.0.4", QASM_ADMIT_FULL },
    };
    int next = 0;
    for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
        int rv = open_one(f, next, steps[k].peer, 1, 0, &v);
        assert_int_equal(rv, steps[k].want);
        next += rv >= 0;
    }
    assert_int_equal(f->ss.n, 4);
    assert_int_equal(f->ss.c.total, 4);
    assert_int_equal(f->ss.c.refused_ip, 1);
    assert_int_equal(f->ss.c.refused_full, 1);
    assert_int_equal(f->ss.c.limit_errors, 2);
    /* A closed session frees its slot; iteration is newest first. */
    qasm_sessions_remove(&f->ss, &f->e[3]);
    assert_ptr_equal(qasm_sessions_first(&f->ss), &f->e[2]);
    assert_ptr_equal(qasm_sessions_next(&f->e[2]), &f->e[1]);
    assert_int_equal(open_one(f, 4, "10.0.0.4", 1, 0, &v), QASM_ADMIT_OK);
}

static void test_oldest_unauthenticated_makes_room(void **state)
{
    struct fixture *f = *state;
    struct qasm_sessions_ent *v;
    /* Unauthenticated sessions hold at most max - reserved = 2. */
    assert_int_equal(open_one(f, 0, "10.0.0.1", 0, 0, &v), QASM_ADMIT_OK);
    assert_int_equal(open_one(f, 1, "10.0.0.2", 0, 1, &v), QASM_ADMIT_OK);
    assert_int_equal(open_one(f, 2, "10.0.0.3", 0, 2, &v), QASM_ADMIT_EVICT_UNAUTH);
    assert_ptr_equal(v, &f->e[0]);
    assert_int_equal(*(int *)v->ud, 0);
    assert_int_equal(f->ss.c.evicted_unauth, 1);
    qasm_sessions_remove(&f->ss, v);
    assert_int_equal(f->ss.n, 2);
    assert_int_equal(open_one(f, 3, "10.0.0.4", 0, 3, &v), QASM_ADMIT_EVICT_UNAUTH);
    assert_ptr_equal(v, &f->e[1]);
}

static void test_timeouts(void **state)
{
    struct fixture *f = *state;
    struct qasm_sessions_ent *v;
    assert_int_equal(open_one(f, 0, "10.0.0.1", 0, 0, &v), QASM_ADMIT_OK);
    assert_int_equal(open_one(f, 1, "10.0.0.2", 1, 0, &v), QASM_ADMIT_OK);
    qasm_tstamp t = 5 * QASM_SEC;
    /* At the idle timeout: an idle session goes, one with a subscription stays. */
    assert_int_equal(qasm_sessions_timed_out(&f->ss, &f->e[1], 1, t), QASM_SESSIONS_KEEP);
    assert_int_equal(qasm_sessions_timed_out(&f->ss, &f->e[1], 0, t - 1), QASM_SESSIONS_KEEP);
    assert_int_equal(qasm_sessions_timed_out(&f->ss, &f->e[1], 0, t), QASM_SESSIONS_IDLE);
    /* An unproved session has QASM_SESSIONS_AUTH_TIMEOUT, subscriptions or not. */
    f->e[0].last_active = t;
    assert_int_equal(qasm_sessions_timed_out(&f->ss, &f->e[0], 1, t + 9 * QASM_SEC),
                     QASM_SESSIONS_KEEP);
    assert_int_equal(qasm_sessions_timed_out(&f->ss, &f->e[0], 1,
                                             t + QASM_SESSIONS_AUTH_TIMEOUT),
                     QASM_SESSIONS_UNPROVED);
    assert_int_equal(f->ss.c.idle_closed, 1);
    assert_int_equal(f->ss.c.auth_timeout, 1);
    /* --session-idle 0: never idle. */
    f->ss.idle = 0;
    assert_int_equal(qasm_sessions_timed_out(&f->ss, &f->e[1], 0, 1000 * QASM_SEC),
                     QASM_SESSIONS_KEEP);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_per_ip_and_global_caps, setup),
        cmocka_unit_test_setup(test_oldest_unauthenticated_makes_room, setup),
        cmocka_unit_test_setup(test_timeouts, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
