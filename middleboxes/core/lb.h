/*
 * lb.h: the L4 load-balancer function of the middlebox core. An entry's
 * backend is a hash of the client's address and port modulo the number of
 * backends, like nginx's `hash $remote_addr$remote_port` (without
 * `consistent`); the hash has a fixed seed, so every load balancer instance
 * picks the same backend for the same client address. Client packets go to
 * the backend; return traffic needs no state (forwarded as is).
 */
#ifndef QASM_LB_H
#define QASM_LB_H

#include <stddef.h>

#include "addr.h"
#include "mbox_fn.h"

/* qasm_lb_pick returns the backend index (0..nbackends-1) for |client|; nbackends >= 1. */
size_t qasm_lb_pick(const struct qasm_addr *client, size_t nbackends);

extern const struct qasm_mbox_fn_ops qasm_lb_ops;

#endif
