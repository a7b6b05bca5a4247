/*
 * mbox_json.h: the parts of qasm-mbox's --stats-json that do not depend on
 * the I/O backend (UDP relay or packet): the core's counters, the tracker
 * link and the state entries. Each backend adds its own object around them.
 */
#ifndef QASM_MBOX_JSON_H
#define QASM_MBOX_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "clock.h"
#include "mbox.h"
#include "json.h"
#include "metrics.h"

struct qasm_tlink;

/* A backend's own drop reason, added to "packets_dropped" and its total. */
struct qasm_mbox_json_drop {
    const char *name;
    uint64_t count;
};

/*
 * qasm_mbox_json_counters writes the core's counters of |m| (mappings,
 * ports, packets, "packets_dropped" by reason with |extra| appended, hold
 * queue, tracker requests, cache, "paths", "classes") into the open object.
 */
void qasm_mbox_json_counters(struct qasm_json *j, const struct qasm_mbox *m,
                             const struct qasm_mbox_config *cfg,
                             const struct qasm_mbox_json_drop *extra, size_t nextra);

/* qasm_mbox_json_u64s writes the object |key| of |n| counters: names[i]: v[i]. */
void qasm_mbox_json_u64s(struct qasm_json *j, const char *key, const char *const *names,
                         const uint64_t *v, size_t n);

/* qasm_mbox_json_tracker writes the "tracker" object of link |tl| (NULL: none, up false). */
void qasm_mbox_json_tracker(struct qasm_json *j, const struct qasm_tlink *tl);

/*
 * qasm_mbox_json_entries writes "entries": at most |max| state entries of
 * |m| as conntrack -L would list them (nothing when |max| is 0), each as
 * qasm_control_entry_json writes it (the control socket's LIST json too).
 */
void qasm_mbox_json_entries(struct qasm_json *j, const struct qasm_mbox *m,
                            enum qasm_mbox_function fn, qasm_tstamp now, size_t max);

/*
 * qasm_mbox_json_metrics: how --metrics renders the stats object
 * (lib/metrics.h): qasm_mbox_KEY, the gauges among the keys, the drop
 * reasons, paths, classes and latency buckets as labels, "tracker" as
 * tracker_link (its members would collide with the core's tracker_*). The
 * caller sets version and commit in a copy.
 */
extern const struct qasm_metrics_spec qasm_mbox_json_metrics;

#endif
