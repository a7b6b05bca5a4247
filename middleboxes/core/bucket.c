/* bucket.c: token bucket, see bucket.h. */
#include "bucket.h"

#include <errno.h>
#include <math.h>

int qasm_bucket_params_init(struct qasm_bucket_params *p, double rate, double burst)
{
    if (!(rate > 0) || rate > 1e12 || !(burst >= 1) || burst > 1e10)
        return -EINVAL;
    uint64_t rm = (uint64_t)llround(rate * 1000.0);
    if (rm == 0)
        return -EINVAL;
    p->rate_milli = rm;
    p->cap = (uint64_t)llround(burst * (double)QASM_BUCKET_UNIT);
    return 0;
}

void qasm_bucket_init(struct qasm_bucket *b, const struct qasm_bucket_params *p, qasm_tstamp now)
{
    b->tokens = p->cap;
    b->at = now;
}

double qasm_bucket_tokens(const struct qasm_bucket *b, const struct qasm_bucket_params *p,
                          qasm_tstamp now)
{
    return (double)qasm_bucket_refilled(b, p, now) / (double)QASM_BUCKET_UNIT;
}
