#include "middleboxes/io/mbox_degrade.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

static const char *const causes[QASM_MBOX_DG_MAX] = {
    [QASM_MBOX_DG_DEFAULT] = "default treatment for QUIC traffic",
    [QASM_MBOX_DG_HOLD] = "hold timeouts",
    [QASM_MBOX_DG_POOL] = "NAT pool exhausted",
    [QASM_MBOX_DG_TABLE] = "table full",
};

void qasm_mbox_degrade_init(struct qasm_mbox_degrade *g)
{
    memset(g, 0, sizeof(*g));
    for (int i = 0; i < QASM_MBOX_DG_MAX; i++)
        qasm_degrade_init(&g->dg[i], QASM_DEGRADE_ENDS_QUIET, 0);
}

#define D(f) (st->f - p->f)

/* Counts |n| for cause |i| now; the detail only matters when a line is due. */
static int hit(struct qasm_mbox_degrade *g, int i, uint64_t n, qasm_tstamp now,
               struct qasm_degrade_line *l)
{
    if (n == 0)
        return qasm_degrade_poll(&g->dg[i], now, l) != QASM_DEGRADE_NOTHING;
    return qasm_degrade_hit(&g->dg[i], n, now, l) != QASM_DEGRADE_NOTHING;
}

/* Aware modes: which reason sent QUIC packets to the 5-tuple path this tick. */
static void say_default(struct qasm_mbox_degrade *g, const struct qasm_mbox_stats *st,
                        qasm_tstamp now)
{
    const struct qasm_mbox_stats *p = &g->last;
    struct qasm_degrade_line l;
    if (!hit(g, QASM_MBOX_DG_DEFAULT, D(cls[QASM_MBOX_CLASS_QUIC_FLOW]), now, &l))
        return;
    qasm_log_degrade(&l, causes[QASM_MBOX_DG_DEFAULT],
                     "%" PRIu64 " QUIC packets in the last tick keyed on the 5-tuple (class "
                     "quic_flow); reasons: tracker_unavailable +%" PRIu64 ", tracker_not_found +%"
                     PRIu64 " (the tracker does not know the connection: are the agent's reports "
                     "refused? see the tracker's log), released_default +%" PRIu64
                     ", hold_timeouts +%" PRIu64 ", tracker_timeouts +%" PRIu64
                     ", unattested +%" PRIu64, D(cls[QASM_MBOX_CLASS_QUIC_FLOW]),
                     D(tracker_unavailable), D(tracker_not_found), D(released_default),
                     D(hold_timeouts), D(tracker_timeouts), D(unattested));
}

static void say_bounds(struct qasm_mbox_degrade *g, const struct qasm_mbox_stats *st,
                       const struct qasm_mbox_config *cfg, uint64_t bev, size_t blimit,
                       qasm_tstamp now)
{
    const struct qasm_mbox_stats *p = &g->last;
    struct qasm_degrade_line l;
    uint64_t pool = D(packets_dropped_by[QASM_MBOX_DROP_POOL_EXHAUSTED]);
    if (hit(g, QASM_MBOX_DG_POOL, pool, now, &l))
        qasm_log_degrade(&l, causes[QASM_MBOX_DG_POOL],
                         "%" PRIu64 " new flows refused in the last tick (pool_exhausted), ports "
                         "%u-%u, %" PRIu64 " in use", pool, cfg->nat_port_min, cfg->nat_port_max,
                         st->ports_in_use);
    uint64_t tf = D(packets_dropped_by[QASM_MBOX_DROP_TABLE_FULL]), ev = D(entries_evicted);
    uint64_t rcy = D(fallback_recycled), uev = bev - g->last_backend;
    if (!hit(g, QASM_MBOX_DG_TABLE, tf + ev + rcy + uev, now, &l))
        return;
    char tail[96] = "";
    if (blimit)
        snprintf(tail, sizeof(tail), ", %" PRIu64 " upstream sockets evicted (--max-flows %zu)",
                 uev, blimit);
    qasm_log_degrade(&l, causes[QASM_MBOX_DG_TABLE],
                     "in the last tick %" PRIu64 " entries evicted and %" PRIu64 " packets "
                     "refused (table_full) at --max-entries %zu, %" PRIu64 " fallback mappings "
                     "recycled (--fallback-per-conn %zu)%s", ev, tf, cfg->max_entries, rcy,
                     cfg->fallback_per_conn, tail);
}

void qasm_mbox_degrade_tick(struct qasm_mbox_degrade *g, const struct qasm_mbox_stats *st,
                            const struct qasm_mbox_config *cfg, uint64_t backend_evicted,
                            size_t backend_limit, qasm_tstamp now)
{
    const struct qasm_mbox_stats *p = &g->last;
    struct qasm_degrade_line l;
    if (cfg->mode != QASM_MBOX_DEFAULT)
        say_default(g, st, now);
    if (hit(g, QASM_MBOX_DG_HOLD, D(hold_timeouts), now, &l))
        qasm_log_degrade(&l, causes[QASM_MBOX_DG_HOLD],
                         "%" PRIu64 " held packets in the last tick decided because the hold "
                         "ran out (--hold-ceiling): the tracker answers late", D(hold_timeouts));
    say_bounds(g, st, cfg, backend_evicted, backend_limit, now);
    g->last = *st;
    g->last_backend = backend_evicted;
}
