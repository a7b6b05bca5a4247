/*
 * etrack.h: the replay's embedded tracker. It applies agent reports (lib/proto.h
 * REPORT_*) to an in-memory set of connection records with the convergence
 * rules of docs/PROTOCOL.md (any report creates its connection, DCID sets
 * with retirement tombstones, current address from the highest seq, CLOSE
 * final, REFRESH merges) and looks connections up by CID, like the tracker's
 * QUERY. I/O-free and clock-free; sized for captures (a linear scan per
 * lookup), not for the daemon. When tracker/store.h lands the replay can
 * switch to it behind the same calls.
 */
#ifndef QASM_ETRACK_H
#define QASM_ETRACK_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "cid.h"
#include "proto.h"

struct qasm_etrack;

/* Counters of the embedded tracker. */
struct qasm_etrack_stats {
    uint64_t reports;          /* reports applied */
    uint64_t rejected_source;  /* report's client IP differs from the datagram's source IP */
    uint64_t ignored_closed;   /* report for a connection already closed */
    uint64_t not_report;       /* messages that are not reports (queries, replies, ...) */
    uint64_t conns;            /* connections known */
};

/* qasm_etrack_new makes an empty tracker. Returns 0 or -ENOMEM (*pt = NULL). */
int qasm_etrack_new(struct qasm_etrack **pt);

/* qasm_etrack_del frees it. NULL is fine. */
void qasm_etrack_del(struct qasm_etrack *t);

/*
 * qasm_etrack_apply applies the decoded report |m|. |source| is the IP the
 * datagram came from (its port is ignored), or NULL to trust the report
 * (events read from a file). Returns the index of the connection that
 * changed (>= 0), or -EPERM (source check failed), -ENOENT (connection
 * closed: ignored), -EINVAL (not a report), -ENOMEM.
 */
int qasm_etrack_apply(struct qasm_etrack *t, const struct qasm_proto_msg *m,
                      const struct qasm_addr *source);

/*
 * qasm_etrack_find returns the index of the connection using |cid| (as its
 * O-DCID or an active DCID), restricted to |server| when it is set (family
 * != 0 on both sides), or -1. The most recently created match wins.
 */
int qasm_etrack_find(const struct qasm_etrack *t, const struct qasm_cid *cid,
                     const struct qasm_addr *server);

/* qasm_etrack_count returns the number of connections (indexes 0..count-1, stable). */
size_t qasm_etrack_count(const struct qasm_etrack *t);

/* qasm_etrack_conn returns connection |i|'s record (clients[current] is the latest address). */
const struct qasm_proto_conn *qasm_etrack_conn(const struct qasm_etrack *t, size_t i);

/* qasm_etrack_get_stats copies the counters. */
void qasm_etrack_get_stats(const struct qasm_etrack *t, struct qasm_etrack_stats *st);

#endif
