/*
 * sessions.h: the tracker's TCP sessions as a pure registry: which ones are
 * open, whether a new one is admitted (and which one makes room for it),
 * which ones time out, and the counters of those decisions. No sockets, no
 * clock (time is passed in): the daemon embeds one qasm_sessions_ent in each
 * of its sessions and closes what the decisions name.
 */
#ifndef QASM_SESSIONS_H
#define QASM_SESSIONS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "addr.h"
#include "budget.h"
#include "clock.h"

/* A session with --key has this long to prove it (from accept or its last message). */
#define QASM_SESSIONS_AUTH_TIMEOUT (10 * QASM_SEC)

/* One session as the registry sees it (embedded in the shell's session). */
struct qasm_sessions_ent {
    LIST_ENTRY(qasm_sessions_ent) link; /* newest first */
    struct qasm_addr peer;
    int authenticated;       /* proved the key (always 1 without --key) */
    qasm_tstamp last_active; /* accept, last request or output taken: the idle timeout */
    void *ud;                /* the shell's session */
};

struct qasm_sessions_counters {
    uint64_t total;          /* sessions_total: admitted since start */
    uint64_t refused_full;   /* sessions_refused_full */
    uint64_t refused_ip;     /* sessions_refused_ip */
    uint64_t evicted_unauth; /* sessions_evicted_unauth */
    uint64_t idle_closed;    /* sessions_idle_closed */
    uint64_t auth_timeout;   /* sessions_auth_timeout */
    uint64_t limit_errors;   /* the sessions' share of limit_errors (refusals) */
};

struct qasm_sessions {
    LIST_HEAD(, qasm_sessions_ent) list;
    size_t n;
    const struct qasm_budget *lim; /* max_sessions, max_sessions_per_ip, reserved_sessions */
    qasm_duration idle;            /* --session-idle (0: never) */
    struct qasm_sessions_counters c;
};

/* qasm_sessions_init starts an empty registry under |lim| (kept, not copied). */
void qasm_sessions_init(struct qasm_sessions *ss, const struct qasm_budget *lim,
                        qasm_duration idle);

/*
 * qasm_sessions_admit decides about a new session from |peer|
 * (qasm_budget_admit on the sessions open, those from its IP and the
 * unauthenticated ones) and counts the refusal. On QASM_ADMIT_EVICT_UNAUTH
 * *victim is the oldest unauthenticated session, for the shell to close
 * (counted as evicted). *from_ip is how many sessions its IP holds.
 */
int qasm_sessions_admit(struct qasm_sessions *ss, const struct qasm_addr *peer,
                        struct qasm_sessions_ent **victim, size_t *from_ip);

/* qasm_sessions_add registers an admitted session (|e| owned by the caller). */
void qasm_sessions_add(struct qasm_sessions *ss, struct qasm_sessions_ent *e,
                       const struct qasm_addr *peer, int authenticated, void *ud,
                       qasm_tstamp now);

/* qasm_sessions_remove unregisters a session the shell closes. */
void qasm_sessions_remove(struct qasm_sessions *ss, struct qasm_sessions_ent *e);

/* Why a session is to be closed (qasm_sessions_timed_out). */
enum {
    QASM_SESSIONS_KEEP = 0,
    QASM_SESSIONS_UNPROVED = 1, /* held a slot QASM_SESSIONS_AUTH_TIMEOUT without proving the key */
    QASM_SESSIONS_IDLE = 2,     /* no subscription or wait, no request nor output taken for idle */
};

/*
 * qasm_sessions_timed_out tells whether session |e|, holding |nsubs|
 * subscriptions and waits, is to be closed at |now|, and counts it: an
 * unauthenticated one after QASM_SESSIONS_AUTH_TIMEOUT, one without
 * subscriptions or waits after the idle timeout (a subscriber that stops
 * reading is dropped at the output cap instead).
 */
int qasm_sessions_timed_out(struct qasm_sessions *ss, const struct qasm_sessions_ent *e,
                            size_t nsubs, qasm_tstamp now);

/* Iteration, newest first: the next may be taken before closing the current. */
struct qasm_sessions_ent *qasm_sessions_first(const struct qasm_sessions *ss);
struct qasm_sessions_ent *qasm_sessions_next(const struct qasm_sessions_ent *e);

#endif
