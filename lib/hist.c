/* hist.c: log-linear histogram and percentiles (see hist.h). */
#include "hist.h"

#include <math.h>
#include <string.h>

void qasm_hist_init(struct qasm_hist *h)
{
    memset(h, 0, sizeof(*h));
}

static unsigned bucket_of(uint64_t v)
{
    if (v < 64)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* 6..63 */
    unsigned shift = e - QASM_HIST_BITS;
    return 64 + (e - 6) * 32 + (unsigned)((v >> shift) - 32);
}

/* The smallest value of bucket |b|. */
static uint64_t bucket_lower(unsigned b)
{
    if (b < 64)
        return b;
    unsigned e = (b - 64) / 32 + 6, j = (b - 64) % 32;
    return (uint64_t)(32 + j) << (e - QASM_HIST_BITS);
}

/*
 * The upper edge of |v|'s bucket with 2^bits buckets per power of two. A
 * coarser bucket is a union of whole finer ones (both are aligned powers of
 * two), so any value of a fine bucket gives the edge of the coarse one.
 */
static uint64_t edge(uint64_t v, unsigned bits)
{
    if (v < ((uint64_t)1 << bits))
        return v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = e - bits;
    return ((v >> shift) << shift) + (((uint64_t)1 << shift) - 1);
}

void qasm_hist_add(struct qasm_hist *h, uint64_t v)
{
    h->counts[bucket_of(v)]++;
    if (h->n == 0 || v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
    h->n++;
    h->sum += v;
}

void qasm_hist_merge(struct qasm_hist *dst, const struct qasm_hist *src)
{
    if (src->n == 0)
        return;
    for (unsigned b = 0; b < QASM_HIST_BUCKETS; b++)
        dst->counts[b] += src->counts[b];
    if (dst->n == 0 || src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
    dst->n += src->n;
    dst->sum += src->sum;
}

uint64_t qasm_hist_quantile(const struct qasm_hist *h, double q, unsigned bits)
{
    if (h->n == 0)
        return 0;
    if (bits < 1 || bits > QASM_HIST_BITS)
        bits = QASM_HIST_BITS;
    if (!(q > 0))
        q = 0;
    if (q > 1)
        q = 1;
    uint64_t rank = (uint64_t)ceil(q * (double)h->n);
    if (rank < 1)
        rank = 1;
    if (rank > h->n)
        rank = h->n;
    uint64_t seen = 0;
    for (unsigned b = 0; b < QASM_HIST_BUCKETS; b++) {
        seen += h->counts[b];
        if (seen >= rank) {
            uint64_t u = edge(bucket_lower(b), bits);
            if (u > h->max)
                u = h->max;
            if (u < h->min)
                u = h->min;
            return u;
        }
    }
    return h->max;
}

uint64_t qasm_hist_percentile(const struct qasm_hist *h, double p)
{
    if (h->n == 0)
        return 0;
    if (p <= 0)
        return h->min;
    return qasm_hist_quantile(h, p / 100.0, QASM_HIST_BITS);
}

uint64_t qasm_hist_sorted_pct(const uint64_t *v, size_t n, double q)
{
    if (n == 0)
        return 0;
    return v[(size_t)(q * (double)(n - 1))];
}
