/*
 * htab.h: an open-addressing hash table of entry pointers (linear probing,
 * backward-shift deletion, no tombstones). The caller owns the entries and
 * supplies their 64-bit hash; the table stores {hash, pointer} pairs only,
 * so lookups never allocate. Insert, lookup and delete are O(1) on
 * average; the table doubles at 3/4 load. Fit for 10^6 entries (16 bytes
 * per slot).
 *
 * Two faces of the same table:
 *  - struct qasm_htab (opaque, allocated): the key comparison is a callback
 *    given once to qasm_htab_new;
 *  - struct qasm_htab_raw (embedded in the caller's struct): the key
 *    comparison is passed to each lookup, which is inline, so a constant
 *    comparison function is inlined too; and a slot can be prefetched
 *    before the lookup, so a batch of lookups has its cache misses in
 *    flight together. For hot paths (the middlebox's 5-tuple table).
 */
#ifndef QASM_HTAB_H
#define QASM_HTAB_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

/* Returns non-zero when |entry| has key |key|. */
typedef int (*qasm_htab_eq_fn)(const void *entry, const void *key);

/* ---- the embeddable table with inline lookups ---- */

struct qasm_htab_slot {
    uint64_t hash; /* 0 = empty (a hash of 0 is stored as 1) */
    void *entry;
};

struct qasm_htab_raw {
    struct qasm_htab_slot *slots;
    size_t mask;  /* slots - 1 (a power of two) */
    size_t count;
};

/* qasm_htab_raw_init sizes |t| for |expected| entries. Returns 0 or -ENOMEM. */
int qasm_htab_raw_init(struct qasm_htab_raw *t, size_t expected);

/* qasm_htab_raw_fini frees the slots (not the entries). */
void qasm_htab_raw_fini(struct qasm_htab_raw *t);

/* qasm_htab_raw_remove_ptr removes exactly |entry|; returns 0 or -ENOENT. */
int qasm_htab_raw_remove_ptr(struct qasm_htab_raw *t, uint64_t hash, const void *entry);

/* The hash as stored: 0 marks an empty slot. */
static inline uint64_t qasm_htab_stored_hash(uint64_t hash)
{
    return hash ? hash : 1;
}

/* qasm_htab_raw_prefetch starts loading the slot |hash| probes first. */
static inline void qasm_htab_raw_prefetch(const struct qasm_htab_raw *t, uint64_t hash)
{
    __builtin_prefetch(&t->slots[qasm_htab_stored_hash(hash) & t->mask]);
}

/*
 * qasm_htab_raw_find returns the entry with |key| (hashing to |hash|), or
 * NULL. Always inlined: with a constant |eq| the comparison is inlined too.
 */
static inline __attribute__((always_inline)) void *
qasm_htab_raw_find(const struct qasm_htab_raw *t, uint64_t hash, const void *key,
                   qasm_htab_eq_fn eq)
{
    hash = qasm_htab_stored_hash(hash);
    for (size_t i = hash & t->mask;; i = (i + 1) & t->mask) {
        const struct qasm_htab_slot *s = &t->slots[i];
        if (s->hash == 0)
            return NULL;
        if (s->hash == hash && eq(s->entry, key))
            return s->entry;
    }
}

/* qasm_htab_raw_grow doubles the slots (for qasm_htab_raw_insert). 0 or -ENOMEM. */
int qasm_htab_raw_grow(struct qasm_htab_raw *t);

/* qasm_htab_raw_insert adds |entry| under |hash| (no uniqueness check).
 * Returns 0, or -ENOMEM (the table is unchanged). Inline like the lookup. */
static inline int qasm_htab_raw_insert(struct qasm_htab_raw *t, uint64_t hash, void *entry)
{
    if ((t->count + 1) > (t->mask + 1) / 4 * 3 && qasm_htab_raw_grow(t) < 0)
        return -ENOMEM;
    hash = qasm_htab_stored_hash(hash);
    size_t i = hash & t->mask;
    while (t->slots[i].hash != 0)
        i = (i + 1) & t->mask;
    t->slots[i].hash = hash;
    t->slots[i].entry = entry;
    t->count++;
    return 0;
}

/* ---- the allocated table with a comparison callback ---- */

struct qasm_htab;

/*
 * qasm_htab_new makes a table sized for |expected| entries. Returns 0, or
 * -ENOMEM with *ph = NULL.
 */
int qasm_htab_new(struct qasm_htab **ph, size_t expected, qasm_htab_eq_fn eq);

/* qasm_htab_del frees the table (not the entries). NULL is fine. */
void qasm_htab_del(struct qasm_htab *h);

/* qasm_htab_find returns the entry with |key| (hashing to |hash|), or NULL. */
void *qasm_htab_find(const struct qasm_htab *h, uint64_t hash, const void *key);

/*
 * qasm_htab_insert adds |entry| under |hash|. It does not look for an equal
 * key first: callers that need uniqueness call qasm_htab_find. Returns 0,
 * or -ENOMEM (the table is unchanged).
 */
int qasm_htab_insert(struct qasm_htab *h, uint64_t hash, void *entry);

/* qasm_htab_remove removes and returns the entry with |key|, or NULL. */
void *qasm_htab_remove(struct qasm_htab *h, uint64_t hash, const void *key);

/* qasm_htab_remove_ptr removes exactly |entry|; returns 0 or -ENOENT. */
int qasm_htab_remove_ptr(struct qasm_htab *h, uint64_t hash, const void *entry);

size_t qasm_htab_count(const struct qasm_htab *h);

/* qasm_htab_memory returns the bytes the table itself holds (slots + header). */
size_t qasm_htab_memory(const struct qasm_htab *h);

/*
 * qasm_htab_next iterates: start with *pos = 0; returns the next entry or
 * NULL at the end. Removing the returned entry during iteration is not
 * allowed (collect first, then remove).
 */
void *qasm_htab_next(const struct qasm_htab *h, size_t *pos);

#endif
