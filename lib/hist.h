/*
 * hist.h: the project's latency histogram and percentiles. Log-linear
 * buckets (HdrHistogram-like): exact below 64, then 32 buckets per power of
 * two (relative error < 3.2 %); fixed size, no allocation, O(1) record, any
 * unsigned unit (qasm-mbox records ns, qasm-h3-client us). Percentiles of a
 * histogram are read at that precision or at a coarser one (16 buckets per
 * power of two: what qasm-mbox has always published); percentiles of a
 * sorted sample (exact) are qasm_hist_sorted_pct.
 */
#ifndef QASM_HIST_H
#define QASM_HIST_H

#include <stddef.h>
#include <stdint.h>

/* Buckets per power of two, as a power of two: 5 = 32 buckets, 3.2 %. */
#define QASM_HIST_BITS 5
#define QASM_HIST_BUCKETS (64 + 58 * 32)

struct qasm_hist {
    uint64_t n, sum, min, max; /* min and max exact; min is 0 while n is 0 */
    uint64_t counts[QASM_HIST_BUCKETS];
};

/* qasm_hist_init empties |h|. */
void qasm_hist_init(struct qasm_hist *h);

/* qasm_hist_add records one value. */
void qasm_hist_add(struct qasm_hist *h, uint64_t v);

/* qasm_hist_merge adds all values of |src| into |dst|. */
void qasm_hist_merge(struct qasm_hist *dst, const struct qasm_hist *src);

/*
 * qasm_hist_quantile returns the value below which a fraction |q| of the
 * recorded values lie (|q| clamped to 0..1): the upper edge of the bucket
 * holding the ceil(q*n)-th smallest value (at least the first), with
 * 2^|bits| buckets per power of two (|bits| 1..QASM_HIST_BITS; values below
 * 2^|bits| exact), clamped to the exact min and max. 0 when empty.
 */
uint64_t qasm_hist_quantile(const struct qasm_hist *h, double q, unsigned bits);

/*
 * qasm_hist_percentile returns the value at percentile |p| (0..100) at full
 * precision: qasm_hist_quantile(h, p / 100, QASM_HIST_BITS), but the exact
 * min for p <= 0. 0 when empty.
 */
uint64_t qasm_hist_percentile(const struct qasm_hist *h, double p);

/*
 * qasm_hist_sorted_pct returns the element at fraction |q| (0..1) of a
 * sorted array: v[floor(q * (n - 1))]. 0 when n is 0.
 */
uint64_t qasm_hist_sorted_pct(const uint64_t *v, size_t n, double q);

#endif
