/*
 * sessions.c: the tracker's session registry and its admission and
 * timeout rules (see sessions.h).
 */
#include "sessions.h"

#include <string.h>

void qasm_sessions_init(struct qasm_sessions *ss, const struct qasm_budget *lim,
                        qasm_duration idle)
{
    memset(ss, 0, sizeof(*ss));
    LIST_INIT(&ss->list);
    ss->lim = lim;
    ss->idle = idle;
}

int qasm_sessions_admit(struct qasm_sessions *ss, const struct qasm_addr *peer,
                        struct qasm_sessions_ent **victim, size_t *from_ip)
{
    size_t ip = 0, unauth = 0;
    struct qasm_sessions_ent *e, *oldest_unauth = NULL;
    LIST_FOREACH(e, &ss->list, link) {
        ip += qasm_addr_ip_eq(&e->peer, peer);
        if (!e->authenticated) {
            unauth++;
            oldest_unauth = e; /* the list is newest first */
        }
    }
    *victim = NULL;
    *from_ip = ip;
    int rv = qasm_budget_admit(ss->lim, ss->n, ip, unauth);
    if (rv == QASM_ADMIT_EVICT_UNAUTH) {
        ss->c.evicted_unauth++;
        *victim = oldest_unauth;
    } else if (rv == QASM_ADMIT_FULL) {
        ss->c.limit_errors++;
        ss->c.refused_full++;
    } else if (rv == QASM_ADMIT_PER_IP) {
        ss->c.limit_errors++;
        ss->c.refused_ip++;
    }
    return rv;
}

void qasm_sessions_add(struct qasm_sessions *ss, struct qasm_sessions_ent *e,
                       const struct qasm_addr *peer, int authenticated, void *ud,
                       qasm_tstamp now)
{
    e->peer = *peer;
    e->authenticated = authenticated;
    e->last_active = now;
    e->ud = ud;
    LIST_INSERT_HEAD(&ss->list, e, link);
    ss->n++;
    ss->c.total++;
}

void qasm_sessions_remove(struct qasm_sessions *ss, struct qasm_sessions_ent *e)
{
    LIST_REMOVE(e, link);
    ss->n--;
}

int qasm_sessions_timed_out(struct qasm_sessions *ss, const struct qasm_sessions_ent *e,
                            size_t nsubs, qasm_tstamp now)
{
    if (!e->authenticated && now - e->last_active >= QASM_SESSIONS_AUTH_TIMEOUT) {
        ss->c.auth_timeout++; /* holds a slot without proving the key */
        return QASM_SESSIONS_UNPROVED;
    }
    if (ss->idle && nsubs == 0 && now - e->last_active >= ss->idle) {
        ss->c.idle_closed++;
        return QASM_SESSIONS_IDLE;
    }
    return QASM_SESSIONS_KEEP;
}

struct qasm_sessions_ent *qasm_sessions_first(const struct qasm_sessions *ss)
{
    return LIST_FIRST(&ss->list);
}

struct qasm_sessions_ent *qasm_sessions_next(const struct qasm_sessions_ent *e)
{
    return LIST_NEXT(e, link);
}
