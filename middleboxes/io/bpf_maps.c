/* bpf_maps.c: userspace helpers for BPF maps (see bpf_maps.h). */
#include "middleboxes/io/bpf_maps.h"

#include <stdlib.h>
#include <string.h>

#include <bpf/libbpf.h>

size_t qasm_bpf_walk(struct bpf_map *m, size_t ksz, size_t max,
                     int (*fn)(void *ud, const void *key), void *ud)
{
    uint8_t k[QASM_BPF_WALK_KEY_MAX], next[QASM_BPF_WALK_KEY_MAX];
    size_t removed = 0;
    if (ksz > sizeof(k) || bpf_map__get_next_key(m, NULL, k, ksz) != 0)
        return 0;
    for (size_t n = 0; n < max; n++) {
        /* The next key first: removing |k| must not restart the walk. */
        int more = bpf_map__get_next_key(m, k, next, ksz) == 0;
        removed += fn(ud, k) == 1;
        if (!more)
            break;
        memcpy(k, next, ksz);
    }
    return removed;
}

void qasm_bpf_percpu_sum(struct bpf_map *m, uint32_t n, uint64_t *out)
{
    int ncpu = libbpf_num_possible_cpus();
    uint64_t *v = ncpu > 0 ? calloc((size_t)ncpu, sizeof(uint64_t)) : NULL;
    memset(out, 0, n * sizeof(uint64_t));
    for (uint32_t c = 0; v && c < n; c++)
        if (bpf_map__lookup_elem(m, &c, sizeof(c), v, (size_t)ncpu * sizeof(uint64_t), 0) == 0)
            for (int i = 0; i < ncpu; i++)
                out[c] += v[i];
    free(v);
}
