/*
 * bpf_maps.h: userspace helpers for the maps of the kernel programs
 * (libbpf): a write that counts a full map, a bounded walk that may remove
 * what it visits, the sum of a per-CPU counter array, and libbpf's messages
 * into the debug log. Shared by qasm-normalize (middleboxes/normalize/),
 * the XDP backend (middleboxes/io/xdp_io.c) and qasm-agentd.
 */
#ifndef QASM_MBOX_BPF_MAPS_H
#define QASM_MBOX_BPF_MAPS_H

#include <stddef.h>
#include <stdint.h>

struct bpf_map;

/*
 * qasm_bpf_put writes |k| -> |v| into |m| (bpf_map__update_elem with
 * |flags|): 0, or the negative error. A map at its bound (-E2BIG,
 * -ENOMEM) adds one to |*full| and says so in a debug line naming |who|
 * (the program) and the map.
 */
int qasm_bpf_put(struct bpf_map *m, const void *k, size_t ksz, const void *v, size_t vsz,
                 uint64_t flags, uint64_t *full, const char *who);

/*
 * qasm_bpf_log_libbpf sends libbpf's messages to the debug log, one line
 * each, prefixed "libbpf: " (a refusal is said by the caller in one line;
 * the detail is for debug).
 */
void qasm_bpf_log_libbpf(void);

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
