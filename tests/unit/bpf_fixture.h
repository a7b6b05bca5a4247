/*
 * bpf_fixture.h: what the tests of the BPF programs share (test_xdp_prog,
 * test_normalize_prog, test_agentd_prog): a frame, a program run on it with
 * BPF_PROG_TEST_RUN, output frames compared byte for byte, per-CPU counters
 * summed and zeroed, maps emptied between fixtures, and the checks that make
 * a machine without root or BPF a SKIP (exit 77), never a pass.
 *
 * Include it after <cmocka.h> (its assertions); the test links libbpf and
 * middleboxes/io/bpf_maps.c.
 */
#ifndef QASM_TEST_BPF_FIXTURE_H
#define QASM_TEST_BPF_FIXTURE_H

#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "middleboxes/io/bpf_maps.h"

/* A frame as a program is given it and leaves it (Ethernet header first). */
struct frame {
    uint8_t b[1600];
    size_t len;
};

/* How bpft_run runs a program: its context (NULL: none) and repeats (0: one run); after the
 * run, the kernel's mean duration of one in ns. */
struct bpft_run {
    const void *ctx;
    size_t ctx_size;
    uint32_t repeat;
    uint32_t duration;
};

/*
 * bpft_run runs |prog| on |in| (BPF_PROG_TEST_RUN, asserted to succeed) as
 * |r| says (NULL: once, no context): the program's return value, and in
 * |out| (NULL: not kept) the frame as it left.
 */
static inline int bpft_run(struct bpf_program *prog, const struct frame *in, struct frame *out,
                           struct bpft_run *r)
{
    struct frame scratch;
    if (!out)
        out = &scratch;
    memset(out, 0, sizeof(*out));
    LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in->b, .data_size_in = (uint32_t)in->len,
                .data_out = out->b, .data_size_out = sizeof(out->b),
                .ctx_in = r ? r->ctx : NULL, .ctx_size_in = r ? (uint32_t)r->ctx_size : 0,
                .repeat = r && r->repeat ? r->repeat : 1);
    assert_int_equal(bpf_prog_test_run_opts(bpf_program__fd(prog), &o), 0);
    out->len = o.data_size_out;
    if (r)
        r->duration = o.duration;
    return (int)o.retval;
}

/* Fails unless |got| is |want|, naming each byte that differs. */
static inline void bpft_assert_frame(const struct frame *got, const struct frame *want)
{
    assert_int_equal(got->len, want->len);
    if (memcmp(got->b, want->b, want->len) != 0) {
        for (size_t i = 0; i < want->len; i++)
            if (got->b[i] != want->b[i])
                print_error("byte %zu: got %02x want %02x\n", i, got->b[i], want->b[i]);
        fail();
    }
}

/* |in| through |prog| (as |r| says): action |act|, and the frame |want| (NULL: unchanged). */
static inline void bpft_expect(struct bpf_program *prog, const struct frame *in,
                               struct bpft_run *r, int act, const struct frame *want)
{
    struct frame out;
    assert_int_equal(bpft_run(prog, in, &out, r), act);
    bpft_assert_frame(&out, want ? want : in);
}

/* The number of possible CPUs, asserted to be within what the per-CPU buffers here hold. */
static inline size_t bpft_ncpu(void)
{
    int ncpu = libbpf_num_possible_cpus();
    assert_true(ncpu > 0 && ncpu <= 512);
    return (size_t)ncpu;
}

/* Slot |k| of the per-CPU array of counters |m|, summed over the CPUs. Unlike
 * qasm_bpf_percpu_sum, a slot that cannot be read fails the test (it is not a 0). */
static inline uint64_t bpft_counter(struct bpf_map *m, uint32_t k)
{
    size_t ncpu = bpft_ncpu();
    uint64_t v[512], sum = 0;
    assert_int_equal(bpf_map__lookup_elem(m, &k, sizeof(k), v, sizeof(v[0]) * ncpu, 0), 0);
    for (size_t i = 0; i < ncpu; i++)
        sum += v[i];
    return sum;
}

/* Every slot of the per-CPU array |m| back to zero on every CPU. */
static inline void bpft_zero_percpu(struct bpf_map *m)
{
    static uint8_t zeros[512 * 128];
    /* libbpf wants each CPU's value rounded up to 8 bytes. */
    size_t vs = bpft_ncpu() * ((bpf_map__value_size(m) + 7) & ~7u);
    assert_true(vs <= sizeof(zeros));
    for (uint32_t k = 0; k < bpf_map__max_entries(m); k++)
        assert_int_equal(bpf_map__update_elem(m, &k, sizeof(k), zeros, vs, 0), 0);
}

static inline int bpft_remove(void *ud, const void *key)
{
    struct bpf_map *m = ud;
    assert_int_equal(bpf_map__delete_elem(m, key, bpf_map__key_size(m), 0), 0);
    return 1;
}

/* Empties the hash map |m| (each removal asserted, and the map empty after). */
static inline void bpft_clear(struct bpf_map *m)
{
    uint8_t k[QASM_BPF_WALK_KEY_MAX];
    size_t ksz = bpf_map__key_size(m);
    assert_true(ksz <= sizeof(k));
    qasm_bpf_walk(m, ksz, (size_t)bpf_map__max_entries(m) + 1, bpft_remove, m);
    assert_int_not_equal(bpf_map__get_next_key(m, NULL, k, ksz), 0);
}

/*
 * bpft_need_root: 0 as root, else 77 with "SKIP: |name| needs root (|why|)"
 * said. libbpf's own messages are silenced unless the environment has
 * |verbose| (the refusals are said by the test).
 */
static inline int bpft_need_root(const char *name, const char *why, const char *verbose)
{
    if (geteuid() != 0) {
        printf("SKIP: %s needs root (%s)\n", name, why);
        return 77;
    }
    if (!getenv(verbose))
        libbpf_set_print(NULL);
    return 0;
}

/* Pins the test to the CPU it runs on: per-CPU state a program keeps (caches, recent flows)
 * is then seen by every later run, wherever the scheduler would have put it. */
static inline void bpft_one_cpu(const char *name)
{
    cpu_set_t one;
    int cpu = sched_getcpu();
    CPU_ZERO(&one);
    CPU_SET(cpu < 0 ? 0 : cpu, &one);
    if (sched_setaffinity(0, sizeof(one), &one) != 0)
        printf("%s: cannot pin to one CPU: %s\n", name, strerror(errno));
}

/* 0 when the skeleton |skel| was loaded, else 77 with "SKIP: |name|: cannot load the |what|"
 * and errno's reason said (the kernel refused it). */
static inline int bpft_loaded(const char *name, const void *skel, const char *what)
{
    if (skel)
        return 0;
    printf("SKIP: %s: cannot load the %s: %s\n", name, what, strerror(errno));
    return 77;
}

#endif
