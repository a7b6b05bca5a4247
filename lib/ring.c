/* ring.c: growable FIFO of fixed-size records, see ring.h. */
#include "ring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void qasm_ring_init(struct qasm_ring *r, size_t esz)
{
    memset(r, 0, sizeof(*r));
    r->esz = esz;
}

void qasm_ring_fini(struct qasm_ring *r)
{
    free(r->buf);
    r->buf = NULL;
    r->cap = r->head = r->n = 0;
}

int qasm_ring_grow(struct qasm_ring *r)
{
    size_t ncap = r->cap ? r->cap * 2 : 16;
    unsigned char *nb = malloc(ncap * r->esz);
    if (nb == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < r->n; i++)
        memcpy(nb + i * r->esz, r->buf + ((r->head + i) % r->cap) * r->esz, r->esz);
    free(r->buf);
    r->buf = nb;
    r->cap = ncap;
    r->head = 0;
    return 0;
}

void qasm_ring_clear(struct qasm_ring *r)
{
    r->head = 0;
    r->n = 0;
}
