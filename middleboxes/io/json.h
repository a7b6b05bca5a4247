/*
 * json.h: what qasm-mbox needs to publish its counters: a tiny JSON writer,
 * the summary of a latency histogram (lib/hist) as JSON, and a file
 * rewritten atomically (write to FILE.tmp, then rename), so a reader never
 * sees half an object.
 */
#ifndef QASM_JSON_H
#define QASM_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hist.h"

/*
 * The precision of the published p50..p999: 16 buckets per power of two, a
 * value within 1/16 (6.25 %) of itself, as the stats files have always had
 * (the figures in the docs and benches compare against them).
 */
#define QASM_JSON_HIST_BITS 4

/*
 * A JSON object being written to a FILE: keys are emitted in call order,
 * commas are placed automatically. Nesting depth is bounded (8).
 */
struct qasm_json {
    FILE *f;
    int depth;
    int first[8];
    int array[8]; /* the container at this depth is an array: members have no key */
    int compact;  /* all on one line (JSON lines) */
};

/* qasm_json_begin starts the top-level object on |f|. */
void qasm_json_begin(struct qasm_json *j, FILE *f);
/* qasm_json_begin_line starts an object written on one line (one JSON object per line). */
void qasm_json_begin_line(struct qasm_json *j, FILE *f);
/* qasm_json_end closes the top-level object and writes a newline. */
void qasm_json_end(struct qasm_json *j);
/*
 * qasm_json_obj opens a nested object under |key| (NULL inside an array);
 * qasm_json_arr opens an array; qasm_json_close closes either. Inside an
 * array, pass NULL as the key of every member.
 */
void qasm_json_obj(struct qasm_json *j, const char *key);
void qasm_json_arr(struct qasm_json *j, const char *key);
void qasm_json_close(struct qasm_json *j);
void qasm_json_u64(struct qasm_json *j, const char *key, uint64_t v);
void qasm_json_i64(struct qasm_json *j, const char *key, int64_t v);
void qasm_json_dbl(struct qasm_json *j, const char *key, double v);
/* qasm_json_fixed writes |v| with |decimals| digits after the point (timestamps). */
void qasm_json_fixed(struct qasm_json *j, const char *key, double v, int decimals);
/* qasm_json_str writes |v| escaped (quotes, backslash, control characters). */
void qasm_json_str(struct qasm_json *j, const char *key, const char *v);
void qasm_json_bool(struct qasm_json *j, const char *key, int v);
/* qasm_json_null writes null: a value not measured or not known (never a 0 standing in). */
void qasm_json_null(struct qasm_json *j, const char *key);

/*
 * qasm_json_hist writes an object {count, mean, min, p50, p90, p99, p999, max}
 * under |key|; all but count are null while count is 0.
 */
void qasm_json_hist(struct qasm_json *j, const char *key, const struct qasm_hist *h);

/* Called by qasm_json_write_file to fill the object. */
typedef void (*qasm_json_fill_fn)(struct qasm_json *j, void *ud);

/*
 * qasm_json_write_file writes one JSON object made by |fill| to |path|,
 * atomically (|path|.tmp then rename), or to standard output when |path| is
 * "-" (flushed; each call one more document). Returns 0, or a negative errno.
 */
int qasm_json_write_file(const char *path, qasm_json_fill_fn fill, void *ud);

/*
 * qasm_json_to_string writes one JSON object made by |fill| into *out
 * (malloc'd, NUL-terminated; the caller frees) and *len. 0, or -ENOMEM.
 */
int qasm_json_to_string(qasm_json_fill_fn fill, void *ud, char **out, size_t *len);

#endif
