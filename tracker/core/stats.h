/*
 * stats.h: the tracker's STATS reply (and SIGUSR1 dump) assembled from the
 * counters of the store, the query core, the access rules, the session
 * registry and the shell's own I/O counters. Pure: the names and their
 * order are the reply's contract (docs/TRACKER.md, qasm-trackctl stats,
 * the integration tests read them by name).
 */
#ifndef QASM_STATS_H
#define QASM_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "access.h"
#include "metrics.h"
#include "proto.h"
#include "query.h"
#include "sessions.h"
#include "store.h"

/* What only the shell counts: datagrams, framing, dumps, output. */
struct qasm_stats_io {
    uint64_t udp_datagrams, malformed_udp, unexpected_udp, bad_version_udp;
    uint64_t malformed_tcp, bad_version_tcp, unknown_type_tcp, framing_errors;
    uint64_t dumps, stats_requests, dump_chunks;
    uint64_t sessions_dropped_slow, sessions_paused;
    uint64_t reports_accepted;
};

struct qasm_stats_src {
    const struct qasm_store *store;
    const struct qasm_query *query;
    const struct qasm_access *access;
    const struct qasm_sessions *sessions;
    const struct qasm_stats_io *io;
    size_t out_bytes;  /* output buffers of all sessions (capacity) */
    size_t max_memory; /* the memory budget */
};

/*
 * qasm_stats_collect fills |st| with every counter of |src|, in the
 * reply's order; a shared store appends its own after (qasm_backend_stats).
 */
void qasm_stats_collect(struct qasm_proto_stats *st, const struct qasm_stats_src *src);

/*
 * qasm_stats_metrics: how qasm-tracker --metrics renders the reply (as
 * qasm-trackctl stats --json writes it): qasm_tracker_NAME, the gauges
 * among the names (the rest are counters). The caller sets version and
 * commit in a copy.
 */
extern const struct qasm_metrics_spec qasm_stats_metrics;

#endif
