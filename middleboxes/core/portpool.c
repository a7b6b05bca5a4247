/* portpool.c: the NAT's public port pool, see portpool.h. */
#include "portpool.h"

#include <errno.h>
#include <stdlib.h>

struct qasm_portpool {
    uint16_t min;
    size_t n;           /* ports in the range */
    void **owner;       /* n owners, NULL = free */
    uint16_t *ring;     /* free ports, FIFO */
    size_t head, count; /* ring state: count free ports from head */
    size_t high_water;
};

int qasm_portpool_new(struct qasm_portpool **pp, uint16_t min, uint16_t max)
{
    *pp = NULL;
    if (min == 0 || max < min)
        return -EINVAL;
    struct qasm_portpool *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return -ENOMEM;
    p->min = min;
    p->n = (size_t)max - min + 1;
    p->owner = calloc(p->n, sizeof(*p->owner));
    p->ring = calloc(p->n, sizeof(*p->ring));
    if (p->owner == NULL || p->ring == NULL) {
        qasm_portpool_del(p);
        return -ENOMEM;
    }
    for (size_t i = 0; i < p->n; i++)
        p->ring[i] = (uint16_t)(min + i);
    p->count = p->n;
    *pp = p;
    return 0;
}

void qasm_portpool_del(struct qasm_portpool *p)
{
    if (p == NULL)
        return;
    free(p->owner);
    free(p->ring);
    free(p);
}

uint16_t qasm_portpool_alloc(struct qasm_portpool *p, void *owner)
{
    if (p->count == 0 || owner == NULL)
        return 0;
    uint16_t port = p->ring[p->head];
    p->head = (p->head + 1) % p->n;
    p->count--;
    p->owner[port - p->min] = owner;
    size_t used = p->n - p->count;
    if (used > p->high_water)
        p->high_water = used;
    return port;
}

void qasm_portpool_free(struct qasm_portpool *p, uint16_t port)
{
    if (port < p->min || (size_t)(port - p->min) >= p->n || p->owner[port - p->min] == NULL)
        return;
    p->owner[port - p->min] = NULL;
    p->ring[(p->head + p->count) % p->n] = port;
    p->count++;
}

void *qasm_portpool_owner(const struct qasm_portpool *p, uint16_t port)
{
    if (port < p->min || (size_t)(port - p->min) >= p->n)
        return NULL;
    return p->owner[port - p->min];
}

size_t qasm_portpool_size(const struct qasm_portpool *p)
{
    return p->n;
}

size_t qasm_portpool_in_use(const struct qasm_portpool *p)
{
    return p->n - p->count;
}

size_t qasm_portpool_high_water(const struct qasm_portpool *p)
{
    return p->high_water;
}
