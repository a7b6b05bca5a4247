/* mbox_json.c: the backend-independent parts of --stats-json, see mbox_json.h. */
#include "mbox_json.h"

#include <stdio.h>

#include "cid.h"
#include "middleboxes/io/control_proto.h"
#include "tracker_link.h"
#include "tracker_session.h"

/*
 * A log2 histogram of the core as {"<upper bound in us>": count, ...}, empty
 * buckets left out ("inf" for the last): e.g. "hold_us": {"2048": 5} is five
 * packets held between 1024 and 2048 us.
 */
static void us_buckets(struct qasm_json *j, const char *key, const uint64_t *b)
{
    char name[24];
    qasm_json_obj(j, key);
    for (unsigned i = 0; i < QASM_MBOX_US_BUCKETS; i++) {
        if (b[i] == 0)
            continue;
        if (i == QASM_MBOX_US_BUCKETS - 1)
            snprintf(name, sizeof(name), "inf");
        else
            snprintf(name, sizeof(name), "%llu", 1ull << i);
        qasm_json_u64(j, name, b[i]);
    }
    qasm_json_close(j);
}

void qasm_mbox_json_counters(struct qasm_json *j, const struct qasm_mbox *m,
                             const struct qasm_mbox_config *cfg,
                             const struct qasm_mbox_json_drop *extra, size_t nextra)
{
    struct qasm_mbox_stats st;
    qasm_mbox_get_stats(m, &st);
    qasm_json_u64(j, "mappings", st.mappings);
    qasm_json_u64(j, "mappings_created", st.mappings_created);
    qasm_json_u64(j, "mappings_expired", st.mappings_expired);
    qasm_json_u64(j, "max_entries", cfg->max_entries);
    qasm_json_u64(j, "entries_evicted", st.entries_evicted);
    if (cfg->mode != QASM_MBOX_DEFAULT) {
        qasm_json_u64(j, "fallback_mappings", st.fallback_mappings);
        qasm_json_u64(j, "fallback_recycled", st.fallback_recycled);
        qasm_json_u64(j, "fallback_returned", st.fallback_returned);
        qasm_json_u64(j, "fallback_now", st.fallback_now);
    }
    qasm_json_u64(j, "flows", st.flows);
    qasm_json_u64(j, "conns", st.conns);
    qasm_json_u64(j, "dcids", st.dcids);
    qasm_json_u64(j, "ports_in_use", st.ports_in_use);
    qasm_json_u64(j, "ports_high_water", st.ports_high_water);
    if (cfg->function == QASM_MBOX_NAT)
        qasm_json_u64(j, "ports_total", (uint64_t)cfg->nat_port_max - cfg->nat_port_min + 1);
    qasm_json_u64(j, "packets_in", st.packets_in);
    qasm_json_u64(j, "packets_forwarded", st.packets_forwarded);
    uint64_t total = st.packets_dropped;
    for (size_t i = 0; i < nextra; i++)
        total += extra[i].count;
    qasm_json_obj(j, "packets_dropped");
    qasm_json_u64(j, "total", total);
    for (int r = 1; r < QASM_MBOX_DROP_MAX; r++)
        qasm_json_u64(j, qasm_mbox_drop_name((enum qasm_mbox_drop_reason)r),
                      st.packets_dropped_by[r]);
    for (size_t i = 0; i < nextra; i++)
        qasm_json_u64(j, extra[i].name, extra[i].count);
    qasm_json_close(j);
    qasm_json_u64(j, "packets_held", st.packets_held);
    qasm_json_u64(j, "packets_released", st.packets_released);
    qasm_json_u64(j, "released_joined", st.released_joined);
    qasm_json_u64(j, "released_default", st.released_default);
    qasm_json_u64(j, "hold_timeouts", st.hold_timeouts);
    qasm_json_u64(j, "held_past_hold", st.held_past_hold);
    qasm_json_u64(j, "joined_past_hold", st.joined_past_hold);
    qasm_json_u64(j, "held_now", st.held_now);
    qasm_json_u64(j, "migrations", st.migrations);
    qasm_json_u64(j, "unattested", st.unattested);
    qasm_json_u64(j, "adopted", st.adopted);
    us_buckets(j, "hold_us", st.hold_us);
    us_buckets(j, "answer_us", st.answer_us);
    us_buckets(j, "adopt_us", st.adopt_us);
    qasm_json_u64(j, "cid_lens_learned", st.cid_lens_learned);
    qasm_json_u64(j, "tracker_queries", st.tracker_queries);
    qasm_json_u64(j, "tracker_waits", st.tracker_waits);
    qasm_json_u64(j, "tracker_answers", st.tracker_answers);
    qasm_json_u64(j, "tracker_not_found", st.tracker_not_found);
    qasm_json_u64(j, "tracker_timeouts", st.tracker_timeouts);
    qasm_json_u64(j, "tracker_late", st.tracker_late);
    qasm_json_u64(j, "tracker_pushes", st.tracker_pushes);
    qasm_json_u64(j, "tracker_subscribes", st.tracker_subscribes);
    qasm_json_u64(j, "tracker_unsubscribes", st.tracker_unsubscribes);
    qasm_json_u64(j, "tracker_unavailable", st.tracker_unavailable);
    qasm_json_u64(j, "tracker_down_events", st.tracker_down_events);
    qasm_json_u64(j, "requests_dropped", st.requests_dropped);
    qasm_json_u64(j, "cache_hits", st.cache_hits);
    qasm_json_u64(j, "cache_misses", st.cache_misses);
    qasm_json_u64(j, "table_events_dropped", st.table_events_dropped);
    qasm_json_obj(j, "paths");
    for (int p = 0; p < QASM_MBOX_PATH_MAX; p++)
        qasm_json_u64(j, qasm_mbox_path_name((enum qasm_mbox_path)p), st.path[p]);
    qasm_json_close(j);
    qasm_json_obj(j, "classes");
    for (int c = 0; c < QASM_MBOX_CLASS_MAX; c++)
        qasm_json_u64(j, qasm_mbox_class_name((enum qasm_mbox_class)c), st.cls[c]);
    qasm_json_close(j);
}

void qasm_mbox_json_u64s(struct qasm_json *j, const char *key, const char *const *names,
                         const uint64_t *v, size_t n)
{
    qasm_json_obj(j, key);
    for (size_t i = 0; i < n; i++)
        qasm_json_u64(j, names[i], v[i]);
    qasm_json_close(j);
}

void qasm_mbox_json_tracker(struct qasm_json *j, const struct qasm_tlink *tl)
{
    qasm_json_obj(j, "tracker");
    qasm_json_bool(j, "up", tl ? qasm_tlink_is_up(tl) : 0);
    if (tl) {
        const struct qasm_tsess_counters *sc = qasm_tlink_session_counters(tl);
        const struct qasm_tlink_counters *lc = qasm_tlink_counters(tl);
        qasm_json_u64(j, "connects", sc->connects);
        qasm_json_u64(j, "connect_fails", sc->connect_fails);
        qasm_json_u64(j, "auth_failures", sc->auth_failures);
        qasm_json_u64(j, "keepalives", sc->keepalives);
        qasm_json_u64(j, "disconnects", sc->disconnects);
        qasm_json_u64(j, "msgs_sent", sc->msgs_sent);
        qasm_json_u64(j, "msgs_recv", sc->msgs_recv);
        qasm_json_u64(j, "msgs_bad", sc->msgs_bad);
        qasm_json_u64(j, "send_overflow", sc->send_overflow);
        qasm_json_u64(j, "requests_sent", lc->requests_sent);
        qasm_json_u64(j, "requests_failed", lc->requests_failed);
        qasm_json_u64(j, "answers", lc->answers);
        qasm_json_u64(j, "answers_unknown", lc->answers_unknown);
        qasm_json_u64(j, "errors", lc->errors);
        qasm_json_u64(j, "pushes", lc->pushes);
    }
    qasm_json_close(j);
}

static const char *const metrics_gauges[] = {
    "mappings", "max_entries", "fallback_now", "flows", "conns", "dcids", "ports_in_use",
    "ports_high_water", "ports_total", "held_now", "uptime_s",
    "processing_ns.mean", "processing_ns.min", "processing_ns.p50", "processing_ns.p90",
    "processing_ns.p99", "processing_ns.p999", "processing_ns.max",
    "relay.ports_open", "relay.upstream_sockets", "relay.max_flows", "packet.ports_open",
    NULL,
};

static const struct qasm_metrics_object metrics_objects[] = {
    { "packets_dropped", NULL, "reason" },
    { "paths", NULL, "path" },
    { "classes", NULL, "class" },
    { "hold_us", NULL, "upper_us" },
    { "answer_us", NULL, "upper_us" },
    { "adopt_us", NULL, "upper_us" },
    { "tracker", "tracker_link", NULL },
    { NULL, NULL, NULL },
};

const struct qasm_metrics_spec qasm_mbox_json_metrics = {
    .prefix = "qasm_mbox",
    .source = "qasm-mbox --stats-json",
    .gauges = metrics_gauges,
    .objects = metrics_objects,
};

struct entries_ctx {
    struct qasm_json *j;
    enum qasm_mbox_function fn;
    qasm_tstamp now;
    size_t left;
};

/* One state entry of the core, as a JSON object (like a line of conntrack -L). */
static int entry_cb(const struct qasm_mbox_entry_info *e, void *arg)
{
    struct entries_ctx *ctx = arg;
    if (ctx->left == 0)
        return 1;
    ctx->left--;
    qasm_control_entry_json(ctx->j, e, ctx->fn, ctx->now);
    return 0;
}

void qasm_mbox_json_entries(struct qasm_json *j, const struct qasm_mbox *m,
                            enum qasm_mbox_function fn, qasm_tstamp now, size_t max)
{
    if (max == 0)
        return;
    struct entries_ctx ctx = { .j = j, .fn = fn, .now = now, .left = max };
    qasm_json_arr(j, "entries");
    qasm_mbox_foreach(m, entry_cb, &ctx);
    qasm_json_close(j);
}
