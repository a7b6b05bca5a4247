/*
 * qasm_common.bpf.h: what the kernel programs (middleboxes/xdp,
 * middleboxes/normalize, agentd) write the same way, written once: the
 * constants the UAPI headers do not give a BPF object, the map
 * declaration, the per-CPU counter bump, the 16-byte address compare,
 * the incremental checksum update and the masked CID compare.
 * Everything is static __always_inline or a macro: after inlining each
 * program's instructions are what they were with its own copy (the
 * verifier sees the same constant map pointers), so per-packet cost does
 * not change.
 */
#ifndef QASM_COMMON_BPF_H
#define QASM_COMMON_BPF_H

#include <linux/bpf.h>
#include <linux/types.h>

#include <bpf/bpf_helpers.h>

/* <sys/socket.h> and <netinet/ip.h> are userspace headers: their values here. */
#define AF_INET 2
#define AF_INET6 10
#define IP_MF_ 0x2000
#define IP_OFFSET_ 0x1FFF

/*
 * Declares map NAME of TYPE with at most MAX entries of K -> V and
 * FLAGS (map_flags; 0 is the kernel's default, as when left out).
 */
#define QASM_BPF_MAP(NAME, TYPE, MAX, K, V, FLAGS)                                          \
    struct {                                                                                \
        __uint(type, TYPE);                                                                 \
        __uint(max_entries, MAX);                                                           \
        __uint(map_flags, FLAGS);                                                           \
        __type(key, K);                                                                     \
        __type(value, V);                                                                   \
    } NAME SEC(".maps")

/* Adds one to slot |c| of the per-CPU __u64 array |map| (a program's counters). */
static __always_inline void qasm_bpf_count(void *map, __u32 c)
{
    __u64 *v = bpf_map_lookup_elem(map, &c);
    if (v)
        *v += 1;
}

/* Whether the 16-byte addresses |a| and |b| are equal (two 64-bit compares). */
static __always_inline int qasm_bpf_same16(const __u8 *a, const __u8 *b)
{
    __u64 a0, a1, b0, b1;
    __builtin_memcpy(&a0, a, 8);
    __builtin_memcpy(&a1, a + 8, 8);
    __builtin_memcpy(&b0, b, 8);
    __builtin_memcpy(&b1, b + 8, 8);
    return a0 == b0 && a1 == b1;
}

/*
 * Incremental checksums (RFC 1624: HC' = ~(~HC + ~m + m')). Adds ~old + new
 * for |n| (at most 8) 16-bit words to |acc|; byte order does not matter, all
 * as they are in memory.
 */
static __always_inline __u32 qasm_bpf_csum_diff16(__u32 acc, const void *old, const void *new,
                                                  int n)
{
    const __u16 *o = old, *w = new;
#pragma unroll
    for (int i = 0; i < 8; i++) {
        if (i < n)
            acc += (__u16)~o[i] + (__u32)w[i];
    }
    return acc;
}

/* Checksum |check| with the differences |acc| (qasm_bpf_csum_diff16) folded in. */
static __always_inline __u16 qasm_bpf_csum_apply(__u16 check, __u32 acc)
{
    __u32 s = (__u16)~check + acc;
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    return (__u16)~s;
}

/* The low |n| bytes (little-endian: the first |n| in memory) of a 64-bit word; n may exceed 8. */
static __always_inline __u64 qasm_bpf_low_bytes(__s32 n)
{
    return n >= 8 ? ~0ull : n <= 0 ? 0 : (1ull << (n * 8)) - 1;
}

/*
 * Whether the |len| (1..20) bytes at |a| (packet) equal the CID |cur|
 * (20 bytes, zero after its length): three word compares, masked, instead
 * of twenty byte steps.
 */
static __always_inline int qasm_bpf_cid_same(const __u8 *a, const __u8 *cur, __s32 len)
{
    __u64 d = (*(const __u64 *)a ^ *(const __u64 *)cur) & qasm_bpf_low_bytes(len);
    d |= (*(const __u64 *)(a + 8) ^ *(const __u64 *)(cur + 8)) & qasm_bpf_low_bytes(len - 8);
    d |= (__u64)(*(const __u32 *)(a + 16) ^ *(const __u32 *)(cur + 16)) & qasm_bpf_low_bytes(len - 16);
    return d == 0;
}

#endif
