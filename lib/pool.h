/*
 * pool.h: a pool of fixed-size objects carved from slabs, with a free list.
 * Getting and putting an object are a few instructions and never touch
 * malloc once the slabs are there; memory is given back only by
 * qasm_pool_fini. Objects are aligned on |align| (a power of two, e.g. a
 * cache line). Under AddressSanitizer a put object is poisoned until it is
 * got again, so a use after put is still caught.
 */
#ifndef QASM_POOL_H
#define QASM_POOL_H

#include <stddef.h>

struct qasm_pool {
    size_t slot;     /* object size rounded up to |align| */
    size_t per_slab; /* objects per slab */
    size_t align;
    void **slabs;
    size_t nslabs;
    void *free;      /* free objects, linked through their first word */
};

/* qasm_pool_init sets |p| up for objects of |size| bytes aligned on |align|,
 * |per_slab| per allocation (no allocation yet). */
void qasm_pool_init(struct qasm_pool *p, size_t size, size_t align, size_t per_slab);

/* qasm_pool_fini frees every slab (objects got and not put included). */
void qasm_pool_fini(struct qasm_pool *p);

/* qasm_pool_grow adds a slab (for qasm_pool_get). 0 or -ENOMEM. */
int qasm_pool_grow(struct qasm_pool *p);

/* qasm_pool_poison / _unpoison mark |obj| unusable / usable for AddressSanitizer (no-ops
 * elsewhere). */
void qasm_pool_poison(const struct qasm_pool *p, void *obj);
void qasm_pool_unpoison(const struct qasm_pool *p, void *obj);

#if defined(__SANITIZE_ADDRESS__)
#define QASM_POOL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define QASM_POOL_ASAN 1
#endif
#endif

/* qasm_pool_get returns an object (contents undefined), or NULL without memory. */
static inline void *qasm_pool_get(struct qasm_pool *p)
{
    if (p->free == NULL && qasm_pool_grow(p) < 0)
        return NULL;
    void *obj = p->free;
#ifdef QASM_POOL_ASAN
    qasm_pool_unpoison(p, obj);
#endif
    p->free = *(void **)obj;
    return obj;
}

/* qasm_pool_put gives |obj| (from this pool) back. */
static inline void qasm_pool_put(struct qasm_pool *p, void *obj)
{
    *(void **)obj = p->free;
    p->free = obj;
#ifdef QASM_POOL_ASAN
    qasm_pool_poison(p, obj);
#endif
}

#endif
