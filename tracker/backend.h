/*
 * backend.h: where the tracker's state lives. Every qasm-tracker keeps its
 * connections in the in-memory store (store.h); with a shared backend that
 * store is this tracker's view of a state shared with other trackers:
 *
 *   --store memory                      no backend (NULL): the store is all
 *   --store redis://HOST:PORT           Redis standalone (tracker/redis.c)
 *   --store redis-cluster://H:P[,H:P]   Redis Cluster, routed by tracker/core/slots.c
 *
 * The daemon tells the backend what changed locally (qasm_backend_changed,
 * qasm_backend_touch) and asks it to read through on a local miss
 * (qasm_backend_lookup). The backend writes to the shared store, publishes
 * changes, and applies other trackers' changes to the local store with
 * qasm_store_apply, so the usual store events reach this tracker's
 * subscribers and waiting queries. Nothing blocks the event loop: when the
 * shared store is slow or down, the tracker answers from its local store,
 * counts it in the stats, and reconnects with backoff.
 *
 * Every function accepts a NULL backend (the memory store) and does nothing.
 */
#ifndef QASM_BACKEND_H
#define QASM_BACKEND_H

#include <ev.h>
#include <stdint.h>

#include "cid.h"
#include "clock.h"
#include "proto.h"
#include "store.h"

struct qasm_backend;

/* What the daemon gives the backend. */
struct qasm_backend_config {
    struct ev_loop *loop;
    struct qasm_store *store;
    qasm_duration ttl;          /* --ttl: shared records expire after it */
    qasm_duration close_linger; /* closed records are kept this long */
    /*
     * Called when a lookup started by qasm_backend_lookup ends: |found| = 1
     * if a record was applied to the store (its events have run), 0 if the
     * shared store has nothing, -1 if it could not answer.
     */
    void (*lookup_done)(void *arg, const struct qasm_cid *cid, int found);
    void *arg;
    /*
     * --store-auth: AUTH on every Redis connection before anything else
     * (|auth_user| NULL: the password alone, "requirepass"; else an ACL
     * user). NULL |auth_pass|: no AUTH. Borrowed for the backend's life.
     */
    const char *auth_user;
    const char *auth_pass;
};

/*
 * qasm_backend_new parses |spec| and, for a shared store, connects
 * (asynchronously: it returns before Redis answers). "memory" gives
 * *pb = NULL. Returns 0, -EINVAL for a bad spec (message in |err|), -ENOMEM.
 */
int qasm_backend_new(struct qasm_backend **pb, const char *spec,
                     const struct qasm_backend_config *cfg, char *err, size_t errlen);

/* qasm_backend_del disconnects and frees. NULL is fine. */
void qasm_backend_del(struct qasm_backend *b);

/*
 * qasm_backend_changed: store event |event| happened to |c| (call it from
 * the store's event callback). Writes and publishes the record if this
 * tracker owns it; ignores the events the backend itself caused.
 */
void qasm_backend_changed(struct qasm_backend *b, struct qasm_store_conn *c, uint8_t event);

/*
 * qasm_backend_touch: a report confirmed |c| without changing it. Keeps
 * the shared copy and the other trackers' replicas alive (rate-limited).
 */
void qasm_backend_touch(struct qasm_backend *b, struct qasm_store_conn *c, qasm_tstamp now);

/*
 * qasm_backend_lookup asks the shared store for the connection of |cid|
 * (not in the local store). Returns 0 if a lookup started (lookup_done
 * will be called, found or not), -ENOTCONN if the shared store is
 * unavailable (nothing will be called), -ENOSYS for a NULL backend.
 */
int qasm_backend_lookup(struct qasm_backend *b, const struct qasm_cid *cid);

/* qasm_backend_stats appends the backend's counters (store_* names) to |st|. */
void qasm_backend_stats(const struct qasm_backend *b, struct qasm_proto_stats *st);

#endif
