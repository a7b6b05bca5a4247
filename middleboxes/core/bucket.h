/*
 * bucket.h: the rate limiter's token bucket in integer arithmetic (units of 1e-9 token),
 * driven by the caller's clock. The bucket starts full; it refills at
 * |rate| tokens per second up to |burst| tokens; a packet costs 1 token
 * (or its length in bytes mode).
 */
#ifndef QASM_BUCKET_H
#define QASM_BUCKET_H

#include <stdint.h>

#include "clock.h"

/* Scale of a token: the bucket counts in nanotokens. */
#define QASM_BUCKET_UNIT 1000000000ULL

struct qasm_bucket_params {
    uint64_t rate_milli; /* tokens per second x 1000 (so 0.5/s is allowed) */
    uint64_t cap;        /* burst in nanotokens */
};

struct qasm_bucket {
    uint64_t tokens;     /* nanotokens */
    qasm_tstamp at;      /* time of the last refill */
};

/*
 * qasm_bucket_params_init checks and converts |rate| (tokens/s, > 0,
 * <= 1e12) and |burst| (tokens, >= 1, <= 1e10). Returns 0 or -EINVAL.
 */
int qasm_bucket_params_init(struct qasm_bucket_params *p, double rate, double burst);

/* qasm_bucket_init fills |b| to the brim at |now|. */
void qasm_bucket_init(struct qasm_bucket *b, const struct qasm_bucket_params *p, qasm_tstamp now);

/* qasm_bucket_refilled returns the nanotokens |b| holds at |now| (refill
 * since its last refill, capped at the burst; a clock going backwards
 * refills nothing). */
static inline uint64_t qasm_bucket_refilled(const struct qasm_bucket *b,
                                            const struct qasm_bucket_params *p, qasm_tstamp now)
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

/*
 * qasm_bucket_take refills |b| for the time since its last refill, then
 * takes |cost| tokens if it holds that many. Returns 1 when taken, 0 when
 * refused (nothing taken). A clock going backwards refills nothing. Inline:
 * the rate limiter calls it for every packet.
 */
static inline int qasm_bucket_take(struct qasm_bucket *b, const struct qasm_bucket_params *p,
                                   uint64_t cost, qasm_tstamp now)
{
    b->tokens = qasm_bucket_refilled(b, p, now);
    if (now > b->at)
        b->at = now;
    unsigned __int128 need = (unsigned __int128)cost * QASM_BUCKET_UNIT;
    if (need > b->tokens)
        return 0;
    b->tokens -= (uint64_t)need;
    return 1;
}

/* qasm_bucket_tokens returns the tokens |b| would hold at |now| (for stats). */
double qasm_bucket_tokens(const struct qasm_bucket *b, const struct qasm_bucket_params *p,
                          qasm_tstamp now);

#endif
