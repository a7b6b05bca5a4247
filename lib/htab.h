/*
 * htab.h: an open-addressing hash table of entry pointers (linear probing,
 * backward-shift deletion, no tombstones). The caller owns the entries and
 * supplies their 64-bit hash and an equality callback; the table stores
 * {hash, pointer} pairs only, so lookups never allocate. Insert, lookup and
 * delete are O(1) on average; the table doubles at 3/4 load. Fit for 10^6
 * entries (16 bytes per slot).
 */
#ifndef QASM_HTAB_H
#define QASM_HTAB_H

#include <stddef.h>
#include <stdint.h>

struct qasm_htab;

/* Returns non-zero when |entry| has key |key|. */
typedef int (*qasm_htab_eq_fn)(const void *entry, const void *key);

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
