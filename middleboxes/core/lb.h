/*
 * lb.h: backend choice of the L4 load balancer: a hash of the client's
 * address and port modulo the number of backends, like nginx's
 * `hash $remote_addr$remote_port` (without `consistent`). The hash has a
 * fixed seed, so every load balancer instance picks the same backend for
 * the same client address.
 */
#ifndef QASM_LB_H
#define QASM_LB_H

#include <stddef.h>

#include "addr.h"

/* qasm_lb_pick returns the backend index (0..nbackends-1) for |client|; nbackends >= 1. */
size_t qasm_lb_pick(const struct qasm_addr *client, size_t nbackends);

#endif
