/*
 * budget.c: the tracker's bounds derived from its memory budget
 * (budget.h). Pure.
 */
#include "budget.h"

#include <errno.h>

static size_t clamp(size_t v, size_t lo, size_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static void set(size_t *field, size_t v)
{
    if (*field == QASM_BUDGET_AUTO)
        *field = v;
}

void qasm_budget_init(struct qasm_budget *l)
{
    l->max_memory = QASM_BUDGET_AUTO;
    l->max_conns = QASM_BUDGET_AUTO;
    l->max_per_ip = QASM_BUDGET_AUTO;
    l->max_per_prefix = QASM_BUDGET_AUTO;
    l->max_sessions = QASM_BUDGET_AUTO;
    l->max_sessions_per_ip = QASM_BUDGET_AUTO;
    l->reserved_sessions = QASM_BUDGET_AUTO;
    l->out_cap = QASM_BUDGET_AUTO;
    l->max_subs_total = QASM_BUDGET_AUTO;
    l->max_subs = QASM_BUDGET_AUTO;
}

/* The store's half: connections of QASM_BUDGET_CONN_COST bytes, at most 10^6. */
static void derive_store(struct qasm_budget *l, size_t share)
{
    set(&l->max_conns, clamp(share / QASM_BUDGET_CONN_COST, 1024, 1000000));
    set(&l->max_per_ip, l->max_conns && l->max_conns < 1024 ? l->max_conns : 1024);
    /* A prefix (a site) may hold a sixteenth of all, or 16 IPs' worth if more;
     * none without a per-IP cap (a lab, a benchmark reporting for others). */
    size_t pfx = l->max_conns / 16;
    if (pfx < 16 * l->max_per_ip)
        pfx = 16 * l->max_per_ip;
    if (l->max_per_ip == 0 || (l->max_conns && pfx >= l->max_conns))
        pfx = 0; /* none */
    set(&l->max_per_prefix, pfx);
}

/* The sessions' quarter: each its receive buffer and its output cap. */
static void derive_sessions(struct qasm_budget *l, size_t share)
{
    size_t each = QASM_BUDGET_OUT_MIN + QASM_BUDGET_SESSION_COST;
    set(&l->max_sessions, clamp(share / each, 16, 1024));
    size_t ns = l->max_sessions ? l->max_sessions : 1;
    size_t per = share / ns;
    per = per > QASM_BUDGET_SESSION_COST ? per - QASM_BUDGET_SESSION_COST : 0;
    set(&l->out_cap, clamp(per, QASM_BUDGET_OUT_MIN, QASM_BUDGET_OUT_MAX));
    set(&l->max_sessions_per_ip, clamp(l->max_sessions / 16, 4, 64));
    set(&l->reserved_sessions, l->max_sessions / 4);
}

/* The subscriptions' quarter; one session may take a quarter of it. */
static void derive_subs(struct qasm_budget *l, size_t share)
{
    set(&l->max_subs_total, share / QASM_BUDGET_SUB_COST);
    size_t per = clamp(l->max_subs_total / 4, 1024, 1000000);
    set(&l->max_subs, per < l->max_subs_total ? per : l->max_subs_total);
}

int qasm_budget_derive(struct qasm_budget *l, uint64_t phys_mem)
{
    if (l->max_memory == QASM_BUDGET_AUTO) {
        uint64_t m = phys_mem ? phys_mem / 4 : (uint64_t)1 << 30;
        if (m < (uint64_t)64 << 20)
            m = (uint64_t)64 << 20;
        if (m > SIZE_MAX / 2)
            m = SIZE_MAX / 2;
        l->max_memory = (size_t)m;
    }
    if (l->max_memory < QASM_BUDGET_MIN_MEMORY)
        return -EINVAL;
    derive_store(l, l->max_memory / 2);
    derive_sessions(l, l->max_memory / 4);
    derive_subs(l, l->max_memory / 4);
    return 0;
}

int qasm_budget_admit(const struct qasm_budget *l, size_t nsessions, size_t from_ip,
                      size_t unauth)
{
    if (l->max_sessions_per_ip && from_ip >= l->max_sessions_per_ip)
        return QASM_ADMIT_PER_IP;
    size_t unauth_max = l->max_sessions > l->reserved_sessions
                                ? l->max_sessions - l->reserved_sessions : 1;
    if (unauth > 0 && (unauth >= unauth_max || nsessions >= l->max_sessions))
        return QASM_ADMIT_EVICT_UNAUTH;
    if (nsessions >= l->max_sessions)
        return QASM_ADMIT_FULL;
    return QASM_ADMIT_OK;
}

int qasm_budget_backed_up(size_t queued)
{
    return queued > QASM_BUDGET_OUT_LOW;
}

int qasm_budget_over_cap(const struct qasm_budget *l, size_t queued, size_t add)
{
    return queued + add > l->out_cap;
}

size_t qasm_budget_mem_used(size_t store_mem, size_t nsubs, size_t nsessions, size_t out_bytes)
{
    return store_mem + nsubs * QASM_BUDGET_SUB_COST + nsessions * QASM_BUDGET_SESSION_COST +
           out_bytes;
}

int qasm_ratelog_due(struct qasm_ratelog *r, qasm_tstamp now, uint64_t *quiet)
{
    if (r->last != 0 && now - r->last < QASM_SEC) {
        r->quiet++;
        return 0;
    }
    *quiet = r->quiet;
    r->quiet = 0;
    r->last = now ? now : 1;
    return 1;
}
