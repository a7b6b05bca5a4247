/*
 * stats.c: the tracker's STATS reply (see stats.h). One table, in the
 * reply's order: adding a counter is one entry here and one in
 * docs/TRACKER.md.
 */
#include "stats.h"

#include <string.h>

#include "budget.h"
#include "cli.h"

static const char *const metrics_gauges[] = {
    "conns", "dcids", "tombstones", "client_ips", "client_prefixes", "mem_bytes",
    "bytes_per_conn", "waiting", "subscribers", "sessions", "out_bytes", "mem_used",
    "mem_budget", "store_up", "store_inflight", "build_version", "build_commit", NULL,
};

const struct qasm_metrics_spec qasm_stats_metrics = {
    .prefix = "qasm_tracker",
    .source = "qasm-trackctl stats",
    .gauges = metrics_gauges,
};

void qasm_stats_collect(struct qasm_proto_stats *st, const struct qasm_stats_src *src)
{
    const struct qasm_store_stats *ss = qasm_store_get_stats(src->store);
    const uint64_t *rep = ss->reports;
    const struct qasm_query_counters *qn = qasm_query_counters(src->query);
    const struct qasm_stats_io *io = src->io;
    const struct qasm_sessions_counters *sc = &src->sessions->c;
    size_t mem = qasm_store_memory(src->store);
    size_t nsubs = qasm_query_nsubscribers(src->query), nwait = qasm_query_nwaiting(src->query);
    const struct qasm_proto_stat rows[] = {
        { "conns", ss->conns }, { "dcids", ss->dcids }, { "tombstones", ss->tombstones },
        { "client_ips", ss->ips }, { "client_prefixes", ss->prefixes }, { "mem_bytes", mem },
        { "bytes_per_conn", ss->conns ? mem / ss->conns : 0 },
        { "reports_open", rep[QASM_PROTO_REPORT_OPEN] },
        { "reports_dcid_new", rep[QASM_PROTO_REPORT_DCID_NEW] },
        { "reports_dcid_retire", rep[QASM_PROTO_REPORT_DCID_RETIRE] },
        { "reports_addr", rep[QASM_PROTO_REPORT_ADDR] },
        { "reports_close", rep[QASM_PROTO_REPORT_CLOSE] },
        { "reports_refresh", rep[QASM_PROTO_REPORT_REFRESH] },
        { "reports_unchanged", ss->unchanged }, { "rejected_trust", ss->rejected_trust },
        { "rejected_max_conns", ss->rejected_full }, { "rejected_ip_cap", ss->rejected_ip_cap },
        { "rejected_prefix_cap", ss->rejected_prefix_cap }, { "evicted", ss->evicted },
        { "rejected_bad", ss->rejected_bad }, { "rejected_unauth", ss->rejected_unauth },
        { "rejected_bad_mac", ss->rejected_bad_mac }, { "rejected_owner", ss->rejected_owner },
        { "rejected_unknown", ss->rejected_unknown }, { "ignored_closed", ss->ignored_closed },
        { "created", ss->created }, { "closed", ss->closed }, { "expired", ss->expired },
        { "removed_closed", ss->removed_closed }, { "dcid_conflicts", ss->dcid_conflicts },
        { "dcid_overflow", ss->dcid_overflow }, { "addr_overflow", ss->addr_overflow },
        { "nomem", ss->nomem }, { "udp_datagrams", io->udp_datagrams },
        { "malformed_udp", io->malformed_udp }, { "unexpected_udp", io->unexpected_udp },
        { "bad_version_udp", io->bad_version_udp }, { "malformed_tcp", io->malformed_tcp },
        { "bad_version_tcp", io->bad_version_tcp }, { "unknown_type_tcp", io->unknown_type_tcp },
        { "framing_errors", io->framing_errors }, { "queries", qn->queries },
        { "queries_found", qn->queries_found }, { "queries_not_found", qn->queries_not_found },
        { "waits", qn->waits }, { "waits_found", qn->waits_found },
        { "waits_timeout", qn->waits_timeout }, { "addr_waits", qn->addr_waits },
        { "waiting", nwait }, { "subscribes", qn->subscribes },
        { "unsubscribes", qn->unsubscribes }, { "subscribers", nsubs }, { "pushes", qn->pushes },
        { "dumps", io->dumps }, { "sessions", src->sessions->n }, { "sessions_total", sc->total },
        { "sessions_dropped_slow", io->sessions_dropped_slow },
        { "limit_errors", sc->limit_errors + qn->limit_errors },
        { "auth_ok", src->access->n.auth_ok }, { "auth_failed", src->access->n.auth_failed },
        { "auth_required", src->access->n.auth_required },
        { "allow_refused", src->access->n.allow_refused },
        { "reports_key_mac", src->access->n.reports_key_mac },
        { "rejected_key_mac", src->access->n.rejected_key_mac },
        { "rejected_no_key_mac", src->access->n.rejected_no_key_mac },
        { "sessions_refused_full", sc->refused_full }, { "sessions_refused_ip", sc->refused_ip },
        { "sessions_evicted_unauth", sc->evicted_unauth },
        { "sessions_idle_closed", sc->idle_closed }, { "sessions_auth_timeout", sc->auth_timeout },
        { "sessions_paused", io->sessions_paused },
        { "subs_refused_budget", qn->subs_refused_budget }, { "dump_chunks", io->dump_chunks },
        { "out_bytes", src->out_bytes },
        { "mem_used", qasm_budget_mem_used(mem, nsubs + nwait, src->sessions->n, src->out_bytes) },
        { "mem_budget", src->max_memory },
        /* The tracker's build, as numbers (lib/cli.h): qasm-trackctl shows it as text. */
        { "build_version", qasm_version_number() }, { "build_commit", qasm_version_commit_number() },
    };
    memset(st, 0, sizeof(*st));
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        qasm_proto_stats_add(st, rows[i].name, rows[i].value);
}
