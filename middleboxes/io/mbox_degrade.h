/*
 * mbox_degrade.h: the middlebox's degraded causes, said at the default log
 * level from the core's counters once per tick (lib/degrade.h: a line when
 * a cause starts, one per 10 s with the count, one when it ends): QUIC
 * traffic given default treatment in an aware mode (with the counts per
 * reason), hold timeouts, NAT pool exhausted, table full (evictions,
 * refusals, recycled fallback mappings, the backend's evicted sockets).
 * The tracker session's own cause is tracker_session.c's.
 */
#ifndef QASM_MBOX_DEGRADE_H
#define QASM_MBOX_DEGRADE_H

#include <stddef.h>
#include <stdint.h>

#include "clock.h"
#include "degrade.h"
#include "mbox.h"

enum {
    QASM_MBOX_DG_DEFAULT = 0, /* aware mode: QUIC packets given default treatment */
    QASM_MBOX_DG_HOLD,        /* held packets decided because the hold ran out */
    QASM_MBOX_DG_POOL,        /* NAT: no free public port */
    QASM_MBOX_DG_TABLE,       /* max_entries / --max-flows reached */
    QASM_MBOX_DG_MAX
};

struct qasm_mbox_degrade {
    struct qasm_degrade dg[QASM_MBOX_DG_MAX];
    struct qasm_mbox_stats last; /* the counters at the previous tick */
    uint64_t last_backend;       /* the backend's evictions at the previous tick */
};

/* qasm_mbox_degrade_init: nothing said yet. */
void qasm_mbox_degrade_init(struct qasm_mbox_degrade *g);

/*
 * qasm_mbox_degrade_tick compares the counters |st| (and the backend's
 * evictions |backend_evicted| at |backend_limit|, 0 if none) with the
 * previous tick's and writes the lines due (qasm_log_degrade).
 */
void qasm_mbox_degrade_tick(struct qasm_mbox_degrade *g, const struct qasm_mbox_stats *st,
                            const struct qasm_mbox_config *cfg, uint64_t backend_evicted,
                            size_t backend_limit, qasm_tstamp now);

#endif
