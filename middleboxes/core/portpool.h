/*
 * portpool.h: the NAT's public port pool: a finite range of ports handed out
 * one per mapping, oldest-freed first (so a port just released is not
 * reused at once, like conntrack), each with an owner pointer for the
 * public-side lookup in O(1).
 */
#ifndef QASM_PORTPOOL_H
#define QASM_PORTPOOL_H

#include <stddef.h>
#include <stdint.h>

struct qasm_portpool;

/* qasm_portpool_new makes a pool of ports |min|..|max| (inclusive, min >= 1).
 * Returns 0, -EINVAL or -ENOMEM (*pp = NULL on failure). */
int qasm_portpool_new(struct qasm_portpool **pp, uint16_t min, uint16_t max);

/* qasm_portpool_del frees the pool. NULL is fine. */
void qasm_portpool_del(struct qasm_portpool *pp);

/* qasm_portpool_alloc takes a free port for |owner| (non-NULL); returns it, or 0 when
 * the pool is exhausted. */
uint16_t qasm_portpool_alloc(struct qasm_portpool *pp, void *owner);

/* qasm_portpool_free gives |port| back (ignored if not in use). */
void qasm_portpool_free(struct qasm_portpool *pp, uint16_t port);

/* qasm_portpool_owner returns the owner of |port|, or NULL (free / out of range). */
void *qasm_portpool_owner(const struct qasm_portpool *pp, uint16_t port);

/* qasm_portpool_size returns the number of ports in the range. */
size_t qasm_portpool_size(const struct qasm_portpool *pp);

/* qasm_portpool_in_use returns the ports handed out now. */
size_t qasm_portpool_in_use(const struct qasm_portpool *pp);

/* qasm_portpool_high_water returns the most ports ever in use at once. */
size_t qasm_portpool_high_water(const struct qasm_portpool *pp);

#endif
