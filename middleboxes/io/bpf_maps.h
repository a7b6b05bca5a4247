/*
 * bpf_maps.h: userspace helpers for the maps of the kernel programs
 * (libbpf): a bounded walk that may remove what it visits, and the sum of
 * a per-CPU counter array. Used by qasm-normalize (middleboxes/normalize/);
 * generic, so the XDP backend can share them.
 */
#ifndef QASM_MBOX_BPF_MAPS_H
#define QASM_MBOX_BPF_MAPS_H

#include <stddef.h>
#include <stdint.h>

struct bpf_map;

/* The largest key qasm_bpf_walk takes. */
#define QASM_BPF_WALK_KEY_MAX 128

/*
 * qasm_bpf_walk calls |fn| on each key of |m| (|ksz| bytes), at most
 * |max| times (a map changing under the walk cannot loop it); |fn|
 * returns 1 when it removed the key. Returns the number removed.
 */
size_t qasm_bpf_walk(struct bpf_map *m, size_t ksz, size_t max,
                     int (*fn)(void *ud, const void *key), void *ud);

/*
 * qasm_bpf_percpu_sum reads the |n| slots of the per-CPU array |m| of
 * __u64 values into |out|, each summed over the CPUs (0 where unreadable).
 */
void qasm_bpf_percpu_sum(struct bpf_map *m, uint32_t n, uint64_t *out);

#endif
