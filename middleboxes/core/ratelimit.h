/*
 * ratelimit.h: the rate-limiter function of the middlebox core: each entry
 * has a token bucket (bucket.h) that both directions of its flow draw
 * from; a packet costs one token, or its UDP payload length in bytes mode
 * (rl_bytes). An empty bucket drops the packet (RATE_LIMITED).
 */
#ifndef QASM_RATELIMIT_H
#define QASM_RATELIMIT_H

#include "mbox_fn.h"

extern const struct qasm_mbox_fn_ops qasm_ratelimit_ops;

#endif
