/* histogram.c: log-linear histogram (see histogram.h). */
#include "histogram.h"

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
    unsigned e = 63u - (unsigned)__builtin_clzll(v);  /* 6..63 */
    unsigned shift = e - 5;
    return 64 + (e - 6) * 32 + (unsigned)((v >> shift) - 32);
}

static uint64_t bucket_upper(unsigned b)
{
    if (b < 64)
        return b;
    unsigned e = (b - 64) / 32 + 6, j = (b - 64) % 32;
    unsigned shift = e - 5;
    uint64_t lo = (uint64_t)(32 + j) << shift;
    return lo + (((uint64_t)1 << shift) - 1);
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

uint64_t qasm_hist_percentile(const struct qasm_hist *h, double p)
{
    if (h->n == 0)
        return 0;
    if (p <= 0)
        return h->min;
    uint64_t rank = (uint64_t)ceil(p / 100.0 * (double)h->n);
    if (rank < 1)
        rank = 1;
    if (rank > h->n)
        rank = h->n;
    uint64_t seen = 0;
    for (unsigned b = 0; b < QASM_HIST_BUCKETS; b++) {
        seen += h->counts[b];
        if (seen >= rank) {
            uint64_t u = bucket_upper(b);
            if (u > h->max)
                u = h->max;
            if (u < h->min)
                u = h->min;
            return u;
        }
    }
    return h->max;
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
