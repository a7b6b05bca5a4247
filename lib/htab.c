#include "htab.h"

#include <errno.h>
#include <stdlib.h>

struct slot {
    uint64_t hash; /* 0 = empty */
    void *entry;
};

struct qasm_htab {
    struct slot *slots;
    size_t mask;
    size_t count;
    qasm_htab_eq_fn eq;
};

static uint64_t nonzero(uint64_t hash)
{
    return hash ? hash : 1;
}

static int alloc_slots(struct qasm_htab *h, size_t nslots)
{
    struct slot *s = calloc(nslots, sizeof(*s));
    if (s == NULL)
        return -ENOMEM;
    h->slots = s;
    h->mask = nslots - 1;
    return 0;
}

int qasm_htab_new(struct qasm_htab **ph, size_t expected, qasm_htab_eq_fn eq)
{
    size_t n = 16;
    *ph = NULL;
    while (n / 4 * 3 < expected)
        n *= 2;
    struct qasm_htab *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return -ENOMEM;
    if (alloc_slots(h, n) < 0) {
        free(h);
        return -ENOMEM;
    }
    h->eq = eq;
    *ph = h;
    return 0;
}

void qasm_htab_del(struct qasm_htab *h)
{
    if (h == NULL)
        return;
    free(h->slots);
    free(h);
}

static void place(struct slot *slots, size_t mask, uint64_t hash, void *entry)
{
    size_t i = hash & mask;
    while (slots[i].hash != 0)
        i = (i + 1) & mask;
    slots[i].hash = hash;
    slots[i].entry = entry;
}

static int grow(struct qasm_htab *h)
{
    struct slot *old = h->slots;
    size_t oldn = h->mask + 1;
    if (alloc_slots(h, oldn * 2) < 0)
        return -ENOMEM;
    for (size_t i = 0; i < oldn; i++)
        if (old[i].hash != 0)
            place(h->slots, h->mask, old[i].hash, old[i].entry);
    free(old);
    return 0;
}

void *qasm_htab_find(const struct qasm_htab *h, uint64_t hash, const void *key)
{
    hash = nonzero(hash);
    for (size_t i = hash & h->mask;; i = (i + 1) & h->mask) {
        const struct slot *s = &h->slots[i];
        if (s->hash == 0)
            return NULL;
        if (s->hash == hash && h->eq(s->entry, key))
            return s->entry;
    }
}

int qasm_htab_insert(struct qasm_htab *h, uint64_t hash, void *entry)
{
    if ((h->count + 1) > (h->mask + 1) / 4 * 3 && grow(h) < 0)
        return -ENOMEM;
    place(h->slots, h->mask, nonzero(hash), entry);
    h->count++;
    return 0;
}

/* Backward-shift deletion: pull later members of the probe run into the hole. */
static void erase_at(struct qasm_htab *h, size_t hole)
{
    size_t i = hole;
    for (;;) {
        i = (i + 1) & h->mask;
        struct slot *s = &h->slots[i];
        if (s->hash == 0)
            break;
        size_t home = s->hash & h->mask;
        /* Move s into the hole unless its home lies cyclically in (hole, i]. */
        int stays = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
        if (!stays) {
            h->slots[hole] = *s;
            hole = i;
        }
    }
    h->slots[hole].hash = 0;
    h->slots[hole].entry = NULL;
    h->count--;
}

void *qasm_htab_remove(struct qasm_htab *h, uint64_t hash, const void *key)
{
    hash = nonzero(hash);
    for (size_t i = hash & h->mask;; i = (i + 1) & h->mask) {
        struct slot *s = &h->slots[i];
        if (s->hash == 0)
            return NULL;
        if (s->hash == hash && h->eq(s->entry, key)) {
            void *e = s->entry;
            erase_at(h, i);
            return e;
        }
    }
}

int qasm_htab_remove_ptr(struct qasm_htab *h, uint64_t hash, const void *entry)
{
    hash = nonzero(hash);
    for (size_t i = hash & h->mask;; i = (i + 1) & h->mask) {
        struct slot *s = &h->slots[i];
        if (s->hash == 0)
            return -ENOENT;
        if (s->entry == entry) {
            erase_at(h, i);
            return 0;
        }
    }
}

size_t qasm_htab_count(const struct qasm_htab *h)
{
    return h->count;
}

size_t qasm_htab_memory(const struct qasm_htab *h)
{
    return sizeof(*h) + (h->mask + 1) * sizeof(struct slot);
}

void *qasm_htab_next(const struct qasm_htab *h, size_t *pos)
{
    for (size_t i = *pos; i <= h->mask; i++) {
        if (h->slots[i].hash != 0) {
            *pos = i + 1;
            return h->slots[i].entry;
        }
    }
    *pos = h->mask + 1;
    return NULL;
}
