/*
 * histogram.h: a log-linear latency histogram (HdrHistogram-like): exact
 * below 64, then 32 buckets per power of two (relative error < 3.2 %), fixed
 * size, no allocation. Values are unsigned (the client records microseconds).
 */
#ifndef QASM_H3_HISTOGRAM_H
#define QASM_H3_HISTOGRAM_H

#include <stdint.h>

#define QASM_HIST_BUCKETS (64 + 58 * 32)

struct qasm_hist {
    uint64_t n, sum, min, max;
    uint64_t counts[QASM_HIST_BUCKETS];
};

/* qasm_hist_init empties |h|. */
void qasm_hist_init(struct qasm_hist *h);

/* qasm_hist_add records one value. */
void qasm_hist_add(struct qasm_hist *h, uint64_t v);

/*
 * qasm_hist_percentile returns the value at percentile |p| (0..100): the
 * upper bound of the bucket holding the ceil(p/100*n)-th smallest value,
 * capped by the exact maximum; 0 when empty.
 */
uint64_t qasm_hist_percentile(const struct qasm_hist *h, double p);

/* qasm_hist_merge adds all values of |src| into |dst|. */
void qasm_hist_merge(struct qasm_hist *dst, const struct qasm_hist *src);

#endif
