/* bpf_maps.c: userspace helpers for BPF maps (see bpf_maps.h). */
#include "middleboxes/io/bpf_maps.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/libbpf.h>

#include "log.h"

int qasm_bpf_put(struct bpf_map *m, const void *k, size_t ksz, const void *v, size_t vsz,
                 uint64_t flags, uint64_t *full, const char *who)
{
    int rc = bpf_map__update_elem(m, k, ksz, v, vsz, flags);
    if (rc == -E2BIG || rc == -ENOMEM) {
        (*full)++;
        qasm_debug("%s: map %s full: entry not written", who, bpf_map__name(m));
    }
    return rc;
}

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
    (void)level;
    if (!qasm_log_enabled(QASM_LOG_DEBUG))
        return 0;
    char line[512];
    vsnprintf(line, sizeof(line), fmt, ap);
    line[strcspn(line, "\n")] = 0;
    qasm_debug("libbpf: %s", line);
    return 0;
}

void qasm_bpf_log_libbpf(void)
{
    libbpf_set_print(libbpf_log);
}

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
