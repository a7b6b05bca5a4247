/* pool.c: fixed-size objects from slabs, see pool.h. */
#include "pool.h"

#include <errno.h>
#include <stdlib.h>

#ifdef QASM_POOL_ASAN
#include <sanitizer/asan_interface.h>
#endif

void qasm_pool_init(struct qasm_pool *p, size_t size, size_t align, size_t per_slab)
{
    p->align = align;
    p->slot = (size + align - 1) / align * align;
    p->per_slab = per_slab;
    p->slabs = NULL;
    p->nslabs = 0;
    p->free = NULL;
}

void qasm_pool_fini(struct qasm_pool *p)
{
    for (size_t i = 0; i < p->nslabs; i++)
        free(p->slabs[i]);
    free(p->slabs);
    p->slabs = NULL;
    p->nslabs = 0;
    p->free = NULL;
}

int qasm_pool_grow(struct qasm_pool *p)
{
    void **slabs = realloc(p->slabs, (p->nslabs + 1) * sizeof(*slabs));
    if (slabs == NULL)
        return -ENOMEM;
    p->slabs = slabs;
    unsigned char *slab = aligned_alloc(p->align, p->per_slab * p->slot);
    if (slab == NULL)
        return -ENOMEM;
    p->slabs[p->nslabs++] = slab;
    for (size_t i = p->per_slab; i-- > 0;)
        qasm_pool_put(p, slab + i * p->slot);
    return 0;
}

void qasm_pool_poison(const struct qasm_pool *p, void *obj)
{
#ifdef QASM_POOL_ASAN
    ASAN_POISON_MEMORY_REGION(obj, p->slot);
#else
    (void)p;
    (void)obj;
#endif
}

void qasm_pool_unpoison(const struct qasm_pool *p, void *obj)
{
#ifdef QASM_POOL_ASAN
    ASAN_UNPOISON_MEMORY_REGION(obj, p->slot);
#else
    (void)p;
    (void)obj;
#endif
}
