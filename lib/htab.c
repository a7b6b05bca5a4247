/* htab.c: open-addressing hash table, see htab.h. */
#include "htab.h"

#include <errno.h>
#include <stdlib.h>

struct qasm_htab {
    struct qasm_htab_raw t;
    qasm_htab_eq_fn eq;
};

static int alloc_slots(struct qasm_htab_raw *t, size_t nslots)
{
    struct qasm_htab_slot *s = calloc(nslots, sizeof(*s));
    if (s == NULL)
        return -ENOMEM;
    t->slots = s;
    t->mask = nslots - 1;
    return 0;
}

int qasm_htab_raw_init(struct qasm_htab_raw *t, size_t expected)
{
    size_t n = 16;
    while (n / 4 * 3 < expected)
        n *= 2;
    t->count = 0;
    return alloc_slots(t, n);
}

void qasm_htab_raw_fini(struct qasm_htab_raw *t)
{
    free(t->slots);
    t->slots = NULL;
    t->count = 0;
}

static void place(struct qasm_htab_slot *slots, size_t mask, uint64_t hash, void *entry)
{
    size_t i = hash & mask;
    while (slots[i].hash != 0)
        i = (i + 1) & mask;
    slots[i].hash = hash;
    slots[i].entry = entry;
}

int qasm_htab_raw_grow(struct qasm_htab_raw *t)
{
    struct qasm_htab_slot *old = t->slots;
    size_t oldn = t->mask + 1;
    if (alloc_slots(t, oldn * 2) < 0)
        return -ENOMEM;
    for (size_t i = 0; i < oldn; i++)
        if (old[i].hash != 0)
            place(t->slots, t->mask, old[i].hash, old[i].entry);
    free(old);
    return 0;
}

/* Backward-shift deletion: pull later members of the probe run into the hole. */
static void erase_at(struct qasm_htab_raw *t, size_t hole)
{
    size_t i = hole;
    for (;;) {
        i = (i + 1) & t->mask;
        struct qasm_htab_slot *s = &t->slots[i];
        if (s->hash == 0)
            break;
        size_t home = s->hash & t->mask;
        /* Move s into the hole unless its home lies cyclically in (hole, i]. */
        int stays = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
        if (!stays) {
            t->slots[hole] = *s;
            hole = i;
        }
    }
    t->slots[hole].hash = 0;
    t->slots[hole].entry = NULL;
    t->count--;
}

int qasm_htab_raw_remove_ptr(struct qasm_htab_raw *t, uint64_t hash, const void *entry)
{
    hash = qasm_htab_stored_hash(hash);
    for (size_t i = hash & t->mask;; i = (i + 1) & t->mask) {
        struct qasm_htab_slot *s = &t->slots[i];
        if (s->hash == 0)
            return -ENOENT;
        if (s->entry == entry) {
            erase_at(t, i);
            return 0;
        }
    }
}

int qasm_htab_new(struct qasm_htab **ph, size_t expected, qasm_htab_eq_fn eq)
{
    *ph = NULL;
    struct qasm_htab *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return -ENOMEM;
    if (qasm_htab_raw_init(&h->t, expected) < 0) {
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
    qasm_htab_raw_fini(&h->t);
    free(h);
}

void *qasm_htab_find(const struct qasm_htab *h, uint64_t hash, const void *key)
{
    const struct qasm_htab_raw *t = &h->t;
    hash = qasm_htab_stored_hash(hash);
    for (size_t i = hash & t->mask;; i = (i + 1) & t->mask) {
        const struct qasm_htab_slot *s = &t->slots[i];
        if (s->hash == 0)
            return NULL;
        if (s->hash == hash && h->eq(s->entry, key))
            return s->entry;
    }
}

int qasm_htab_insert(struct qasm_htab *h, uint64_t hash, void *entry)
{
    return qasm_htab_raw_insert(&h->t, hash, entry);
}

void *qasm_htab_remove(struct qasm_htab *h, uint64_t hash, const void *key)
{
    struct qasm_htab_raw *t = &h->t;
    hash = qasm_htab_stored_hash(hash);
    for (size_t i = hash & t->mask;; i = (i + 1) & t->mask) {
        struct qasm_htab_slot *s = &t->slots[i];
        if (s->hash == 0)
            return NULL;
        if (s->hash == hash && h->eq(s->entry, key)) {
            void *e = s->entry;
            erase_at(t, i);
            return e;
        }
    }
}

int qasm_htab_remove_ptr(struct qasm_htab *h, uint64_t hash, const void *entry)
{
    return qasm_htab_raw_remove_ptr(&h->t, hash, entry);
}

size_t qasm_htab_count(const struct qasm_htab *h)
{
    return h->t.count;
}

size_t qasm_htab_memory(const struct qasm_htab *h)
{
    return sizeof(*h) + (h->t.mask + 1) * sizeof(struct qasm_htab_slot);
}

void *qasm_htab_next(const struct qasm_htab *h, size_t *pos)
{
    for (size_t i = *pos; i <= h->t.mask; i++) {
        if (h->t.slots[i].hash != 0) {
            *pos = i + 1;
            return h->t.slots[i].entry;
        }
    }
    *pos = h->t.mask + 1;
    return NULL;
}
