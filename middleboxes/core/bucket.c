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

static uint64_t refilled(const struct qasm_bucket *b, const struct qasm_bucket_params *p,
                         qasm_tstamp now)
{
    if (now <= b->at || b->tokens >= p->cap)
        return b->tokens;
    /* rate tokens/s = rate nanotokens/ns; rate_milli / 1000 of them per ns. */
    uint64_t dt = now - b->at;
    uint64_t need = p->cap - b->tokens;
    /* Past the time to fill the bucket (or on overflow risk) it is simply full. */
    if (dt >= UINT64_MAX / p->rate_milli)
        return p->cap;
    uint64_t add = dt * p->rate_milli / 1000u;
    return add >= need ? p->cap : b->tokens + add;
}

int qasm_bucket_take(struct qasm_bucket *b, const struct qasm_bucket_params *p, uint64_t cost,
                     qasm_tstamp now)
{
    b->tokens = refilled(b, p, now);
    if (now > b->at)
        b->at = now;
    unsigned __int128 need = (unsigned __int128)cost * QASM_BUCKET_UNIT;
    if (need > b->tokens)
        return 0;
    b->tokens -= (uint64_t)need;
    return 1;
}

double qasm_bucket_tokens(const struct qasm_bucket *b, const struct qasm_bucket_params *p,
                          qasm_tstamp now)
{
    return (double)refilled(b, p, now) / (double)QASM_BUCKET_UNIT;
}
