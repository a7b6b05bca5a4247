/*
 * budget.h: the tracker's resource bounds, all derived from one memory
 * budget (--max-memory), and the small decisions that enforce them (which
 * session to admit, when to stop reading a session, rate-limited logging).
 * Pure: no I/O, no clock (time is passed in), no allocation.
 *
 * The budget is split: half for the store (connections), a quarter for
 * sessions (receive buffer and queued output of each), a quarter for
 * subscriptions and waiting queries. docs/TRACKER.md, "Bounds", lists
 * every bound, its default and its counter.
 */
#ifndef QASM_BUDGET_H
#define QASM_BUDGET_H

#include <stddef.h>
#include <stdint.h>

#include "clock.h"

#define QASM_BUDGET_AUTO SIZE_MAX          /* a field to derive from the budget */
#define QASM_BUDGET_CONN_COST 512          /* bytes per connection: entry, DCIDs, tables */
#define QASM_BUDGET_SUB_COST 256           /* bytes per subscription or wait: entry, table, malloc */
#define QASM_BUDGET_RBUF (64 * 1024)       /* receive buffer per session */
#define QASM_BUDGET_SESSION_COST (QASM_BUDGET_RBUF + 1024) /* a session without output */
#define QASM_BUDGET_OUT_MIN ((size_t)1 << 20) /* output cap per session: at least 1 MiB */
#define QASM_BUDGET_OUT_MAX ((size_t)4 << 20) /* and at most 4 MiB */
#define QASM_BUDGET_OUT_LOW (64 * 1024)    /* below this, a session is read and dumped again */
#define QASM_BUDGET_MIN_MEMORY ((size_t)32 << 20)

struct qasm_budget {
    size_t max_memory;          /* the budget (bytes) */
    size_t max_conns;           /* store: connections in all */
    size_t max_per_ip;          /* store: per reporting IP */
    size_t max_per_prefix;      /* store: per reporting /24 or /48 */
    size_t max_sessions;        /* TCP sessions in all */
    size_t max_sessions_per_ip; /* TCP sessions per peer IP */
    size_t reserved_sessions;   /* of max_sessions, never taken by unauthenticated sessions */
    size_t out_cap;             /* queued output per session; over it a subscriber is dropped */
    size_t max_subs_total;      /* subscriptions + waits of all sessions */
    size_t max_subs;            /* subscriptions + waits per session */
};

/* qasm_budget_init sets every field to QASM_BUDGET_AUTO. */
void qasm_budget_init(struct qasm_budget *l);

/*
 * qasm_budget_derive fills the AUTO fields: max_memory from |phys_mem|
 * (a quarter of it, at least 64 MiB; 1 GiB if |phys_mem| is 0), then the
 * others from max_memory. Fields already set are kept (an explicit flag
 * wins over the budget). Returns 0, or -EINVAL if max_memory is below
 * QASM_BUDGET_MIN_MEMORY.
 */
int qasm_budget_derive(struct qasm_budget *l, uint64_t phys_mem);

/* What to do with a new TCP session (qasm_budget_admit). */
enum {
    QASM_ADMIT_OK = 0,
    QASM_ADMIT_EVICT_UNAUTH = 1, /* admit after closing the oldest unauthenticated session */
    QASM_ADMIT_FULL = -1,        /* refuse: max_sessions, all authenticated */
    QASM_ADMIT_PER_IP = -2,      /* refuse: max_sessions_per_ip from this IP */
};

/*
 * qasm_budget_admit decides about a new session from an IP that already
 * holds |from_ip| sessions, when |nsessions| are open, |unauth| of them
 * not authenticated. Unauthenticated sessions never hold more than
 * max_sessions - reserved_sessions: beyond, the oldest of them makes room
 * (it had its chance to prove the key), so they cannot lock out a peer
 * that holds the key.
 */
int qasm_budget_admit(const struct qasm_budget *l, size_t nsessions, size_t from_ip,
                      size_t unauth);

/*
 * qasm_budget_backed_up tells whether a session with |queued| bytes of
 * unsent output must not be read (nor fed more of a dump) now: reading
 * resumes once its output falls to QASM_BUDGET_OUT_LOW.
 */
int qasm_budget_backed_up(size_t queued);

/* qasm_budget_over_cap tells whether queueing |add| more bytes after |queued| exceeds the cap. */
int qasm_budget_over_cap(const struct qasm_budget *l, size_t queued, size_t add);

/*
 * qasm_budget_mem_used is what the bounded structures hold (the stats'
 * mem_used): the store's |store_mem|, |nsubs| subscriptions and waits,
 * |nsessions| sessions and |out_bytes| of their output buffers.
 */
size_t qasm_budget_mem_used(size_t store_mem, size_t nsubs, size_t nsessions, size_t out_bytes);

/* At most one log line per second for a kind of refusal; the rest are counted. */
struct qasm_ratelog {
    qasm_tstamp last;
    uint64_t quiet; /* refusals not logged since the last line */
};

/*
 * qasm_ratelog_due returns 1 if a line may be logged at |now| (then
 * *quiet is how many were suppressed before it, and the count restarts),
 * else 0 (counted as suppressed).
 */
int qasm_ratelog_due(struct qasm_ratelog *r, qasm_tstamp now, uint64_t *quiet);

#endif
