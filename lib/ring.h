/*
 * ring.h: a growable FIFO of fixed-size records (a ring buffer that doubles
 * when full). The middlebox core queues its events, tracker requests and
 * released packets in rings the shell drains after each call.
 */
#ifndef QASM_RING_H
#define QASM_RING_H

#include <errno.h>
#include <stddef.h>
#include <string.h>

struct qasm_ring {
    unsigned char *buf;
    size_t esz;  /* record size */
    size_t cap;  /* records allocated */
    size_t head; /* index of the oldest record */
    size_t n;    /* records queued */
};

/* qasm_ring_init makes an empty ring of |esz|-byte records (no allocation yet). */
void qasm_ring_init(struct qasm_ring *r, size_t esz);

/* qasm_ring_fini frees the records. */
void qasm_ring_fini(struct qasm_ring *r);

/* qasm_ring_grow doubles the ring (for qasm_ring_push). 0 or -ENOMEM. */
int qasm_ring_grow(struct qasm_ring *r);

/* qasm_ring_push copies |rec| in at the tail. Returns 0 or -ENOMEM (nothing queued). */
static inline int qasm_ring_push(struct qasm_ring *r, const void *rec)
{
    if (r->n == r->cap && qasm_ring_grow(r) < 0)
        return -ENOMEM;
    memcpy(r->buf + ((r->head + r->n) % r->cap) * r->esz, rec, r->esz);
    r->n++;
    return 0;
}

/* qasm_ring_pop copies the oldest record into |rec| and removes it. Returns 1, or 0 when empty. */
static inline int qasm_ring_pop(struct qasm_ring *r, void *rec)
{
    if (r->n == 0)
        return 0;
    memcpy(rec, r->buf + r->head * r->esz, r->esz);
    r->head = (r->head + 1) % r->cap;
    r->n--;
    return 1;
}

/* qasm_ring_clear forgets every record (keeps the memory). */
void qasm_ring_clear(struct qasm_ring *r);

/* qasm_ring_len returns the records queued. */
static inline size_t qasm_ring_len(const struct qasm_ring *r)
{
    return r->n;
}

#endif
