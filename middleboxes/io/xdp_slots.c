/*
 * xdp_slots.c: the slot allocator of the XDP `entries` array (see
 * xdp_slots.h): the slots' owners, an index by entry key (lib/htab), and a
 * FIFO of freed slots.
 */
#include "middleboxes/io/xdp_slots.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "htab.h"

struct slot {
    struct qasm_xdp_ekey key;
    uint32_t gen;  /* the current generation: the owner's while used, else the free one */
    uint32_t used;
};

struct qasm_xdp_slots {
    struct slot *slot;
    uint32_t n;
    uint32_t high;  /* slots [0, high) were handed out at least once */
    uint32_t *fifo; /* freed slots, oldest at |head| */
    uint32_t head, nfree;
    size_t used;
    uint64_t seed;
    struct qasm_htab *by_key; /* of struct slot */
};

static int slot_eq(const void *entry, const void *key)
{
    return memcmp(&((const struct slot *)entry)->key, key, sizeof(struct qasm_xdp_ekey)) == 0;
}

static uint64_t key_hash(const struct qasm_xdp_slots *s, const struct qasm_xdp_ekey *ek)
{
    return qasm_hash(ek, sizeof(*ek), s->seed);
}

/* The next generation after |g|: never 0 (the value of a slot never handed out). */
static uint32_t gen_next(uint32_t g)
{
    return g + 1 ? g + 1 : 1;
}

int qasm_xdp_slots_new(struct qasm_xdp_slots **ps, uint32_t n, uint64_t seed)
{
    *ps = NULL;
    if (n == 0)
        return -EINVAL;
    struct qasm_xdp_slots *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->n = n;
    s->seed = seed;
    s->slot = calloc(n, sizeof(*s->slot));
    s->fifo = malloc((size_t)n * sizeof(*s->fifo));
    if (!s->slot || !s->fifo || qasm_htab_new(&s->by_key, 64, slot_eq) < 0) {
        qasm_xdp_slots_del(s);
        return -ENOMEM;
    }
    *ps = s;
    return 0;
}

void qasm_xdp_slots_del(struct qasm_xdp_slots *s)
{
    if (!s)
        return;
    qasm_htab_del(s->by_key);
    free(s->slot);
    free(s->fifo);
    free(s);
}

int qasm_xdp_slots_find(const struct qasm_xdp_slots *s, const struct qasm_xdp_ekey *ek,
                        struct qasm_xdp_ref *ref)
{
    const struct slot *sl = qasm_htab_find(s->by_key, key_hash(s, ek), ek);
    if (!sl)
        return 0;
    ref->slot = (uint32_t)(sl - s->slot);
    ref->gen = sl->gen;
    return 1;
}

int qasm_xdp_slots_alloc(struct qasm_xdp_slots *s, const struct qasm_xdp_ekey *ek,
                         struct qasm_xdp_ref *ref)
{
    uint32_t i;
    if (s->nfree)
        i = s->fifo[s->head];
    else if (s->high < s->n)
        i = s->high;
    else
        return -ENOSPC;
    struct slot *sl = &s->slot[i];
    if (qasm_htab_insert(s->by_key, key_hash(s, ek), sl) < 0)
        return -ENOMEM;
    if (s->nfree) {
        s->head = (s->head + 1) % s->n;
        s->nfree--;
    } else {
        s->high++;
    }
    sl->key = *ek;
    sl->gen = gen_next(sl->gen);
    sl->used = 1;
    s->used++;
    ref->slot = i;
    ref->gen = sl->gen;
    return 0;
}

int qasm_xdp_slots_free(struct qasm_xdp_slots *s, const struct qasm_xdp_ekey *ek,
                        struct qasm_xdp_ref *freed)
{
    struct slot *sl = qasm_htab_remove(s->by_key, key_hash(s, ek), ek);
    if (!sl)
        return -ENOENT;
    uint32_t i = (uint32_t)(sl - s->slot);
    sl->gen = gen_next(sl->gen);
    sl->used = 0;
    memset(&sl->key, 0, sizeof(sl->key));
    s->fifo[(s->head + s->nfree) % s->n] = i; /* at most n - 1 others are free */
    s->nfree++;
    s->used--;
    freed->slot = i;
    freed->gen = sl->gen;
    return 0;
}

int qasm_xdp_slots_live(const struct qasm_xdp_slots *s, const struct qasm_xdp_ref *ref)
{
    return ref->slot < s->n && s->slot[ref->slot].used && s->slot[ref->slot].gen == ref->gen;
}

const struct qasm_xdp_ekey *qasm_xdp_slots_key(const struct qasm_xdp_slots *s, uint32_t slot)
{
    return slot < s->n && s->slot[slot].used ? &s->slot[slot].key : NULL;
}

size_t qasm_xdp_slots_count(const struct qasm_xdp_slots *s)
{
    return s->used;
}

uint32_t qasm_xdp_slots_high(const struct qasm_xdp_slots *s)
{
    return s->high;
}

size_t qasm_xdp_slots_memory(const struct qasm_xdp_slots *s)
{
    return sizeof(*s) + (size_t)s->n * (sizeof(*s->slot) + sizeof(*s->fifo)) +
           qasm_htab_memory(s->by_key);
}
