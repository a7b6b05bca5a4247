/*
 * metrics.h: a program's stats JSON object rendered in the Prometheus text
 * exposition format (version 0.0.4), so that `--metrics` serves the same
 * counters under the same names as `--stats-json` / `qasm-trackctl stats`.
 * Pure: JSON text in, exposition text out (jansson parses; no I/O).
 *
 * The mapping, member by member of the top-level object:
 *   - a number: PREFIX_KEY, a counter unless its key is in spec->gauges;
 *   - true / false: PREFIX_KEY, a gauge of 1 / 0;
 *   - null: left out (a missing value is not 0);
 *   - a string: a label of the one PREFIX_info gauge (value 1), except
 *     "version", which qasm_build_info{version,commit} carries;
 *   - an object named in spec->objects with a label: one family PREFIX_KEY
 *     whose members are the label's values (packets_dropped{reason="..."});
 *     its member "total" is its own family, PREFIX_KEY_total;
 *   - any other object: its members under PREFIX_KEY_ (or the object's
 *     name in spec->objects), recursively; nested strings are left out;
 *   - an array (state entries): left out.
 * Gauges are named by their JSON path: "held_now", "tracker.up",
 * "processing_ns.p50"; a map by its key ("paths").
 */
#ifndef QASM_METRICS_H
#define QASM_METRICS_H

#include <stddef.h>

/* An object of the stats: its part of the metric names, or a labeled map. */
struct qasm_metrics_object {
    const char *key;   /* the JSON path of the object ("tracker", "packets_dropped") */
    const char *name;  /* its part of the names (NULL: the key) */
    const char *label; /* non-NULL: a map, one sample per member with this label */
};

struct qasm_metrics_spec {
    const char *prefix;                       /* "qasm_mbox": PREFIX_KEY */
    const char *source;                       /* the HELP lines: "qasm-mbox --stats-json" */
    const char *const *gauges;                /* JSON paths of gauges, NULL-terminated */
    const struct qasm_metrics_object *objects; /* terminated by a NULL key (NULL: none) */
    const char *version, *commit;             /* qasm_build_info's labels (NULL: no such line) */
};

/*
 * qasm_metrics_render turns the stats object |json| (|len| bytes) into
 * exposition text: *out (malloc'd, NUL-terminated, the caller frees) and
 * *outlen. Returns 0; -EINVAL with a reason in |err| when |json| is not an
 * object or two values would get the same metric name; -ENOMEM.
 */
int qasm_metrics_render(const char *json, size_t len, const struct qasm_metrics_spec *spec,
                        char **out, size_t *outlen, char *err, size_t errlen);

#endif
