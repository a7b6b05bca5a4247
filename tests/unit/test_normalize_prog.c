/*
 * test_normalize_prog.c: the tc programs of qasm-normalize
 * (middleboxes/normalize/qasm_normalize.bpf.c) run on crafted Ethernet
 * frames with BPF_PROG_TEST_RUN: the maps as qasm-normalize fills them from
 * a tracker record, the expected tc action and the expected output frame,
 * compared byte for byte with one built from scratch by lib/ipudp.h (so
 * the programs' incremental checksums are checked against full ones).
 * Needs root and BPF: without them it says SKIP and exits 77.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#ifndef QASM_HAVE_NORMALIZE
int main(void)
{
    puts("SKIP: test_normalize_prog: qasm-normalize was not built (no BPF toolchain: make deps)");
    return 77;
}
#else

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>

#include "addr.h"
#include "ipudp.h"
#include "middleboxes/io/bpf_maps.h"
#include "middleboxes/io/xdp_io.h"
#include "middleboxes/normalize/normalize_maps.h"
#include "middleboxes/normalize/nz_keys.h"
#include "qasm_normalize.skel.h"
#include "tests/unit/bpf_fixture.h"

static struct qasm_normalize *skel;

/* The programs opened, sized as qasm-normalize sizes them (a flow cache of 2^|bits| slots per
 * CPU, its lifetime in this kernel's ticks) and loaded; NULL, errno set, when they cannot be. */
static struct qasm_normalize *open_and_load(uint32_t bits)
{
    struct qasm_normalize *s = qasm_normalize__open();
    if (!s)
        return NULL;
    if (qasm_nz_size_cache(s, bits) == 0 && qasm_normalize__load(s) == 0)
        return s;
    int err = errno;
    qasm_normalize__destroy(s);
    errno = err;
    return NULL;
}

static struct qasm_addr A(const char *s)
{
    struct qasm_addr a;
    assert_int_equal(qasm_addr_parse(&a, s), 0);
    return a;
}

/* An Ethernet frame carrying UDP |src| -> |dst| with |payload|. */
static struct frame mkframe(const char *src, const char *dst, const uint8_t *payload, size_t plen)
{
    struct frame fr;
    memset(&fr, 0, sizeof(fr));
    static const uint8_t macs[12] = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2};
    memcpy(fr.b, macs, 12);
    struct qasm_addr s = A(src), d = A(dst);
    uint16_t et = s.family == AF_INET ? ETH_P_IP : ETH_P_IPV6;
    fr.b[12] = (uint8_t)(et >> 8);
    fr.b[13] = (uint8_t)et;
    ssize_t n = qasm_ipudp_build(fr.b + 14, sizeof(fr.b) - 14, &s, &d, payload, plen, 64);
    assert_true(n > 0);
    fr.len = 14 + (size_t)n;
    return fr;
}

/* A QUIC short header to the 8-byte DCID c1..c8, then enough bytes for a real packet. */
static const uint8_t SHORT[] = {0x41, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0x11, 0x22,
                                0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd,
                                0xee, 0xff, 0x01, 0x02, 0x03, 0x04};
/* The same to a DCID nobody reported. */
static const uint8_t OTHER[] = {0x41, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0x11, 0x22,
                                0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd,
                                0xee, 0xff, 0x01, 0x02, 0x03, 0x04};
/* Initials (long header, version 1, DCID of 8): a new connection's, and the first
 * connection's own (its O-DCID d1..d8). */
#define INITIAL_TAIL 0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc
static const uint8_t INITIAL_NEW[] = {0xc0, 0, 0, 0, 1, 8, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6,
                                      0xe7, 0xe8, INITIAL_TAIL};
static const uint8_t INITIAL_OWN[] = {0xc0, 0, 0, 0, 1, 8, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6,
                                      0xd7, 0xd8, INITIAL_TAIL};

/* A server's reply (its DCID is the client's: not looked at). */
static const uint8_t REPLY[] = {0x42, 0x51, 0x52, 0x53, 0x54, 0x00, 0x01, 0x02, 0x03, 0x04};

static int run(struct bpf_program *prog, const struct frame *in, struct frame *out)
{
    return bpft_run(prog, in, out, NULL);
}

/* |in| through |prog|: action |act|, and the frame |want| (NULL: unchanged). */
static void expect(struct bpf_program *prog, const struct frame *in, int act,
                   const struct frame *want)
{
    bpft_expect(prog, in, NULL, act, want);
}

static uint64_t counter(int c)
{
    return bpft_counter(skel->maps.counters, (uint32_t)c);
}

static void config_mode(uint64_t hold_ns, int tracker_up, int reactive)
{
    struct qasm_nz_cfg c;
    memset(&c, 0, sizeof(c));
    c.hold_ns = hold_ns;
    c.tracker_up = (uint32_t)tracker_up;
    c.reactive = (uint32_t)reactive;
    uint32_t zero = 0;
    assert_int_equal(bpf_map__update_elem(skel->maps.config, &zero, 4, &c, sizeof(c), 0), 0);
}

static void config(uint64_t hold_ns, int tracker_up)
{
    config_mode(hold_ns, tracker_up, 0);
}

static int setup(void **state)
{
    (void)state;
    __typeof__(skel->maps) *mp = &skel->maps;
    struct bpf_map *maps[] = {mp->conns,   mp->dcids,  mp->attested, mp->servers,
                              mp->firsts,  mp->pending, mp->byaddr, mp->dpending,
                              mp->handshakes, mp->quic_servers};
    for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++)
        bpft_clear(maps[i]);
    bpft_zero_percpu(mp->counters);
    config(0, 0);
    for (size_t i = 0; i < QASM_NZ_GEN_BUCKETS; i++) /* the flow cache's decisions go */
        __atomic_fetch_add(&skel->bss->qasm_nz_gens[i], 1, __ATOMIC_SEQ_CST);
    return 0;
}

/* After a write to a connection whose client address is |addr|, as qasm-normalize does. */
static void bump(const char *addr)
{
    struct qasm_addr a = A(addr);
    uint8_t ip[16];
    uint16_t port;
    qasm_xdp_addr(&a, ip, &port);
    __atomic_fetch_add(&skel->bss->qasm_nz_gens[qasm_nz_bucket(ip, port)], 1, __ATOMIC_SEQ_CST);
}

/* ---- the maps as qasm-normalize writes them for one record ---- */

static struct qasm_xdp_ekey conn_key(void)
{
    struct qasm_cid odcid = {.len = 8, .data = {0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8}};
    return qasm_xdp_ekey_conn(&odcid);
}

/* Connection (first address |first|, server |server|, DCID c1..c8), |attested| attested. */
static struct qasm_xdp_ekey record(const char *first, const char *server, const char *attested)
{
    struct qasm_xdp_ekey ek = conn_key();
    struct qasm_addr f = A(first), s = A(server);
    struct qasm_nz_conn c;
    memset(&c, 0, sizeof(c));
    c.family = f.family;
    qasm_xdp_addr(&f, c.first, &c.first_port);
    qasm_xdp_addr(&f, c.cur, &c.cur_port);
    assert_int_equal(bpf_map__update_elem(skel->maps.conns, &ek, sizeof(ek), &c, sizeof(c), 0),
                     0);
    struct qasm_nz_pair pk = qasm_nz_pair_of(&f, &s);
    assert_int_equal(bpf_map__update_elem(skel->maps.firsts, &pk, sizeof(pk), &ek, sizeof(ek), 0),
                     0);
    struct qasm_xdp_srv sk = qasm_xdp_srv_of(&s);
    uint32_t len = 8;
    assert_int_equal(bpf_map__update_elem(skel->maps.servers, &sk, sizeof(sk), &len, 4, 0), 0);
    struct qasm_cid dcid = {.len = 8, .data = {0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8}};
    struct qasm_xdp_cid ck = qasm_xdp_cid_of(&dcid);
    assert_int_equal(bpf_map__update_elem(skel->maps.dcids, &ck, sizeof(ck), &ek, sizeof(ek), 0),
                     0);
    if (attested) {
        struct qasm_addr a = A(attested);
        struct qasm_xdp_attest ak = qasm_xdp_attest_of(&ek, &a);
        uint64_t when = 1;
        assert_int_equal(
                bpf_map__update_elem(skel->maps.attested, &ak, sizeof(ak), &when, 8, 0), 0);
    }
    bump(first);
    return ek;
}

/* |client| -> |server| claimed in `byaddr` by the connection of record() (|conns| of them). */
static void claim(const char *client, const char *server, uint32_t conns)
{
    struct qasm_addr c = A(client), s = A(server);
    struct qasm_nz_pair k = qasm_nz_pair_of(&c, &s);
    struct qasm_nz_owner o;
    memset(&o, 0, sizeof(o));
    o.conn = conn_key();
    o.conns = conns;
    assert_int_equal(bpf_map__update_elem(skel->maps.byaddr, &k, sizeof(k), &o, sizeof(o), 0), 0);
}

static uint32_t claims(const char *client, const char *server)
{
    struct qasm_addr c = A(client), s = A(server);
    struct qasm_nz_pair k = qasm_nz_pair_of(&c, &s);
    struct qasm_nz_owner o;
    if (bpf_map__lookup_elem(skel->maps.byaddr, &k, sizeof(k), &o, sizeof(o), 0) != 0)
        return 0;
    return o.conns;
}

static struct qasm_nz_conn get_conn(void)
{
    struct qasm_xdp_ekey ek = conn_key();
    struct qasm_nz_conn c;
    assert_int_equal(bpf_map__lookup_elem(skel->maps.conns, &ek, sizeof(ek), &c, sizeof(c), 0), 0);
    return c;
}

/* ---- ingress ---- */

/* The client moved from |first| to |moved| (attested): its packets leave as from |first|,
 * and replies to |first| go to |moved| (through the neighbour lookup when the IP changed). */
static void migrated(const char *first, const char *moved, const char *server, int new_ip)
{
    record(first, server, moved);
    struct frame in = mkframe(moved, server, SHORT, sizeof(SHORT));
    struct frame want = mkframe(first, server, SHORT, sizeof(SHORT));
    expect(skel->progs.qasm_nz_ingress, &in, TC_ACT_OK, &want);
    assert_int_equal(counter(QASM_NZ_C_NORMALIZED), 1);
    struct qasm_nz_conn c = get_conn();
    struct qasm_addr m = A(moved);
    assert_memory_equal(c.cur, m.ip, 16);
    assert_int_equal(c.cur_port, htons(m.port));
    /* Egress: the reply, de-NATed by the kernel to the first address, goes to the moved one. */
    struct frame rin = mkframe(server, first, REPLY, sizeof(REPLY));
    struct frame rwant = mkframe(server, moved, REPLY, sizeof(REPLY));
    expect(skel->progs.qasm_nz_egress, &rin, new_ip ? TC_ACT_REDIRECT : TC_ACT_OK, &rwant);
    assert_int_equal(counter(QASM_NZ_C_OUT_REWRITTEN), 1);
    assert_int_equal(counter(QASM_NZ_C_OUT_NEIGH), new_ip ? 1 : 0);
}

static void test_port_migration_ipv4(void **state)
{
    (void)state;
    migrated("10.0.1.2:5000", "10.0.1.2:5001", "10.9.0.1:443", 0);
}

static void test_address_migration_ipv4(void **state)
{
    (void)state;
    migrated("10.0.1.2:5000", "10.0.1.7:6000", "10.9.0.1:443", 1);
}

/* Only the address changes (the port the same): the port's checksum step is left out. */
static void test_address_only_migration_ipv4(void **state)
{
    (void)state;
    migrated("10.0.1.2:5000", "10.0.1.7:5000", "10.9.0.1:443", 1);
}

static void test_migration_ipv6(void **state)
{
    (void)state;
    migrated("[fd00:1::2]:5000", "[fd00:1::9]:5001", "[fd00:9::1]:443", 1);
}

static void test_port_migration_ipv6(void **state)
{
    (void)state;
    migrated("[fd00:1::2]:5000", "[fd00:1::2]:5002", "[fd00:9::1]:443", 0);
}

/* A spoofer with the victim's DCID from an address nobody attested: never mapped. */
static void test_unattested_unchanged(void **state)
{
    (void)state;
    record("10.0.1.2:5000", "10.9.0.1:443", "10.0.1.2:5001");
    struct frame in = mkframe("10.0.1.66:4444", "10.9.0.1:443", SHORT, sizeof(SHORT));
    expect(skel->progs.qasm_nz_ingress, &in, TC_ACT_OK, NULL);
    assert_int_equal(counter(QASM_NZ_C_UNATTESTED), 1);
    assert_int_equal(counter(QASM_NZ_C_NORMALIZED), 0);
    struct qasm_nz_conn c = get_conn();
    assert_int_equal(c.cur_port, htons(5000)); /* replies still go to the victim */
    struct frame rin = mkframe("10.9.0.1:443", "10.0.1.2:5000", REPLY, sizeof(REPLY));
    expect(skel->progs.qasm_nz_egress, &rin, TC_ACT_OK, NULL);
}

/* An IPv4 UDP checksum of 0 (none) stays 0; the address, port and IP header checksum are
 * rewritten in place all the same. */
static void test_no_udp_checksum_ipv4(void **state)
{
    (void)state;
    record("10.0.1.2:5000", "10.9.0.1:443", "10.0.1.7:6000");
    struct frame in = mkframe("10.0.1.7:6000", "10.9.0.1:443", SHORT, sizeof(SHORT));
    struct frame want = mkframe("10.0.1.2:5000", "10.9.0.1:443", SHORT, sizeof(SHORT));
    size_t csum = ETH_HLEN + 20 + 6;
    in.b[csum] = in.b[csum + 1] = want.b[csum] = want.b[csum + 1] = 0;
    expect(skel->progs.qasm_nz_ingress, &in, TC_ACT_OK, &want);
    assert_int_equal(counter(QASM_NZ_C_NORMALIZED), 1);
}

/*
 * The current address found in `attested` is remembered (QASM_NZ_F_CUR_ATTESTED: its next
 * packets skip that lookup); an unattested address neither gets it nor is normalised, and
 * any other move of the current address (home) clears it.
 */
static void test_current_attested(void **state)
{
    (void)state;
    record("10.0.1.2:5000", "10.9.0.1:443", "10.0.1.2:5001");
    struct frame mig = mkframe("10.0.1.2:5001", "10.9.0.1:443", SHORT, sizeof(SHORT));
    struct frame want = mkframe("10.0.1.2:5000", "10.9.0.1:443", SHORT, sizeof(SHORT));
    assert_false(get_conn().flags & QASM_NZ_F_CUR_ATTESTED);
    expect(skel->progs.qasm_nz_ingress, &mig, TC_ACT_OK, &want);
    assert_true(get_conn().flags & QASM_NZ_F_CUR_ATTESTED);
    expect(skel->progs.qasm_nz_ingress, &mig, TC_ACT_OK, &want);
    assert_int_equal(counter(QASM_NZ_C_NORMALIZED), 2);
    struct frame spoof = mkframe("10.0.1.2:5002", "10.9.0.1:443", SHORT, sizeof(SHORT));
    expect(skel->progs.qasm_nz_ingress, &spoof, TC_ACT_OK, NULL);
    assert_int_equal(counter(QASM_NZ_C_UNATTESTED), 1);
    struct qasm_nz_conn c = get_conn();
    assert_int_equal(c.cur_port, htons(5001));
    assert_true(c.flags & QASM_NZ_F_CUR_ATTESTED);
    struct frame home = mkframe("10.0.1.2:5000", "10.9.0.1:443", SHORT, sizeof(SHORT));
    expect(skel->progs.qasm_nz_ingress, &home, TC_ACT_OK, NULL);
    c = get_conn();
    assert_int_equal(c.cur_port, htons(5000));
    assert_false(c.flags & QASM_NZ_F_CUR_ATTESTED);
    expect(skel->progs.qasm_nz_ingress, &spoof, TC_ACT_OK, NULL);
    assert_int_equal(counter(QASM_NZ_C_UNATTESTED), 2);
    expect(skel->progs.qasm_nz_ingress, &mig, TC_ACT_OK, &want);
    assert_int_equal(counter(QASM_NZ_C_NORMALIZED), 3);
    assert_true(get_conn().flags & QASM_NZ_F_CUR_ATTESTED);
}

static uint64_t coarse_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void set_last_seen(uint64_t t)
{
    struct qasm_xdp_ekey ek = conn_key();
    struct qasm_nz_conn c = get_conn();
    c.last_seen = t;
    assert_int_equal(bpf_map__update_elem(skel->maps.conns, &ek, sizeof(ek), &c, sizeof(c), 0),
                     0);
}

/* Whether a decision the flow cache took at |t| (coarse_ns()) still serves now (a jiffy spare:
 * the program's clock and this one tick apart). A busy machine may have slept past it. */
static int cache_serves(uint64_t t)
{
    return coarse_ns() - t < (skel->rodata->qasm_nz_cache_jiffies - 2) * qasm_nz_tick_ns();
}

/* Past the flow cache's lifetime: its decisions are taken again by the full path. */
static void cache_expire(void)
{
    uint64_t ns = (skel->rodata->qasm_nz_cache_jiffies + 2) * qasm_nz_tick_ns();
    struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000u), .tv_nsec = (long)(ns % 1000000000u)};
    nanosleep(&ts, NULL);
}

/*
 * A packet moves `last_seen` (the coarse clock) only when it is more than
 * the grain behind. Packets the flow cache decides do not write it; the
 * cache serves a decision for at most QASM_NZ_CACHE_LIFETIME_NS, then the full
 * path refreshes it.
 */
static void test_last_seen_grain(void **state)
{
    (void)state;
    record("10.0.1.2:5000", "10.9.0.1:443", NULL);
    struct frame home = mkframe("10.0.1.2:5000", "10.9.0.1:443", SHORT, sizeof(SHORT));
    struct frame rin = mkframe("10.9.0.1:443", "10.0.1.2:5000", REPLY, sizeof(REPLY));
    uint64_t t0 = coarse_ns();
    expect(skel->progs.qasm_nz_ingress, &home, TC_ACT_OK, NULL);
    uint64_t seen = get_conn().last_seen;
    assert_true(seen >= t0 && seen <= coarse_ns());
    uint64_t recent = coarse_ns() - QASM_NZ_SEEN_GRAIN_NS / 2;
    set_last_seen(recent);
    expect(skel->progs.qasm_nz_egress, &rin, TC_ACT_OK, NULL); /* the full path: */
    assert_int_equal(get_conn().last_seen, recent); /* within the grain: not written */
    uint64_t stale = coarse_ns() - 2 * QASM_NZ_SEEN_GRAIN_NS, filled = coarse_ns();
    set_last_seen(stale);
    expect(skel->progs.qasm_nz_ingress, &home, TC_ACT_OK, NULL);
    expect(skel->progs.qasm_nz_egress, &rin, TC_ACT_OK, NULL);
    if (cache_serves(filled)) { /* both decided by the cache: nothing written */
        assert_int_equal(counter(QASM_NZ_C_CACHED), 2);
        assert_int_equal(get_conn().last_seen, stale);
    }
    cache_expire();
    t0 = coarse_ns();
    expect(skel->progs.qasm_nz_egress, &rin, TC_ACT_OK, NULL);
    assert_true(get_conn().last_seen >= t0);
    set_last_seen(stale);
    expect(skel->progs.qasm_nz_ingress, &home, TC_ACT_OK, NULL);
    assert_true(get_conn().last_seen >= t0);
}

/* ---- the flow cache ---- */

/* A migrated connection's packets and replies decided by the cache do what the full path did
 * (|slots|: whether the programs have a flow cache). */
static void served(const char *first, const char *moved, const char *server, int slots)
{
    record(first, server, moved);
    struct frame in = mkframe(moved, server, SHORT, sizeof(SHORT));
    struct frame want = mkframe(first, server, SHORT, sizeof(SHORT));
    struct frame rin = mkframe(server, first, REPLY, sizeof(REPLY));
    struct frame rwant = mkframe(server, moved, REPLY, sizeof(REPLY));
    uint64_t t = coarse_ns();
    for (int i = 0; i < 5; i++) {
        expect(skel->progs.qasm_nz_ingress, &in, TC_ACT_OK, &want);
        expect(skel->progs.qasm_nz_egress, &rin, TC_ACT_REDIRECT, &rwant);
    }
    assert_int_equal(counter(QASM_NZ_C_NORMALIZED), 5);
    assert_int_equal(counter(QASM_NZ_C_OUT_REWRITTEN), 5);
    assert_int_equal(counter(QASM_NZ_C_OUT_NEIGH), 5);
    if (!slots)
        assert_int_equal(counter(QASM_NZ_C_CACHED), 0);
    else if (cache_serves(t)) /* the first of each direction took the full path, the rest not */
        assert_int_equal(counter(QASM_NZ_C_CACHED), 8);
}

static void served_by_cache(const char *first, const char *moved, const char *server)
{
    served(first, moved, server, 1);
}

static void test_cache_serves(void **state)
{
    (void)state;
    served_by_cache("10.0.1.2:5000", "10.0.1.7:6000", "10.9.0.1:443");
}

static void test_cache_serves_ipv6(void **state)
{
    (void)state;
    served_by_cache("[fd00:1::2]:5000", "[fd00:1::9]:5001", "[fd00:9::1]:443");
}

/* The programs loaded with a flow cache of 2^|bits| slots per CPU (0: none), as
 * qasm-normalize loads them (--flow-cache, the lifetime in this kernel's ticks); the maps then
 * cleared as setup() does. */
static void reload(uint32_t bits)
{
    qasm_normalize__destroy(skel);
    skel = open_and_load(bits);
    assert_non_null(skel);
    setup(NULL);
}

/* --flow-cache 0: every packet takes the full path, with the same frames and verdicts; then a
 * cache of 16 slots (a size not the default) serves them again. */
static void test_cache_off(void **state)
{
    (void)state;
    reload(0);
    served("10.0.1.2:5000", "10.0.1.7:6000", "10.9.0.1:443", 0);
    reload(4);
    served("10.0.1.2:5000", "10.0.1.7:6000", "10.9.0.1:443", 1);
    reload(QASM_NZ_CACHE_BITS_DEFAULT);
}

/* Another flow's reply from |server| to 10.0.2.1, from port |from| on, whose key falls in set
 * |set| of 2^|bits| slots (UINT32_MAX: the first one's set, which |set| then says): its frame. */
static struct frame reply_in_set(const char *server, uint16_t *from, uint32_t bits,
                                 uint32_t *set)
{
    struct qasm_addr s = A(server);
    for (;; (*from)++) {
        assert_true(*from < 60000);
        char client[32];
        snprintf(client, sizeof(client), "10.0.2.1:%u", (unsigned)*from);
        struct qasm_addr c = A(client);
        __u64 key[5];
        qasm_nz_cache_key_of(key, &s, &c, 1);
        uint32_t k = qasm_nz_cache_set(key, bits);
        if (*set == UINT32_MAX)
            *set = k;
        if (k == *set) {
            (*from)++;
            return mkframe(server, client, REPLY, sizeof(REPLY));
        }
    }
}

/*
 * Two ways a set: three flows whose keys fall in one set of the smallest
 * cache (16 slots, 8 sets): the first two are both served by it (a
 * direct-mapped cache would have each take the other's slot), the third
 * takes the slot filled less recently, and so on. Other flows' replies
 * (no connection's: passed, decided as such).
 */
static void test_cache_two_ways(void **state)
{
    (void)state;
    reload(QASM_NZ_CACHE_BITS_MIN);
    uint16_t port = 1000;
    uint32_t set = UINT32_MAX;
    struct frame f[3];
    for (int i = 0; i < 3; i++)
        f[i] = reply_in_set("10.9.0.1:443", &port, QASM_NZ_CACHE_BITS_MIN, &set);
    /* The flows in turn, and how many of their packets the cache decided by then. */
    static const struct {
        int flow;
        uint64_t cached;
    } steps[] = {{0, 0}, {1, 0}, {0, 1}, {1, 2}, {2, 2}, {1, 3}, {0, 3}, {2, 4}, {0, 5}};
    uint64_t t = coarse_ns();
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        expect(skel->progs.qasm_nz_egress, &f[steps[i].flow], TC_ACT_OK, NULL);
        if (cache_serves(t))
            assert_int_equal(counter(QASM_NZ_C_CACHED), steps[i].cached);
    }
    assert_true(counter(QASM_NZ_C_CACHED) <= 5);
    reload(QASM_NZ_CACHE_BITS_DEFAULT);
}

/* The same 5-tuple with another DCID (of no connection) is not taken for the cached one's. */
static void test_cache_keys_on_dcid(void **state)
{
    (void)state;
    record("10.0.1.2:5000", "10.9.0.1:443", "10.0.1.7:6000");
    struct frame in = mkframe("10.0.1.7:6000", "10.9.0.1:443", SHORT, sizeof(SHORT));
    struct frame want = mkframe("10.0.1.2:5000", "10.9.0.1:443", SHORT, sizeof(SHORT));
    expect(skel->progs.qasm_nz_ingress, &in, TC_ACT_OK, &want);
    struct frame other = mkframe("10.0.1.7:6000", "10.9.0.1:443", OTHER, sizeof(OTHER));
    expect(skel->progs.qasm_nz_ingress, &other, TC_ACT_OK, NULL);
    assert_int_equal(counter(QASM_NZ_C_UNKNOWN), 1);
    assert_int_equal(counter(QASM_NZ_C_NORMALIZED), 1);
}

/* The connection removed (as qasm-normalize forgets it: maps, then the generations): its
 * cached decisions stand no more, its packets and replies pass unchanged. */
static void test_cache_connection_removed(void **state)
{
    (void)state;
    struct qasm_xdp_ekey ek = record("10.0.1.2:5000", "10.9.0.1:443", "10.0.1.7:6000");
    struct frame in = mkframe("10.0.1.7:6000", "10.9.0.1:443", SHORT, sizeof(SHORT));
    struct frame want = mkframe("10.0.1.2:5000", "10.9.0.1:443", SHORT, sizeof(SHORT));
    struct frame rin = mkframe("10.9.0.1:443", "10.0.1.2:5000", REPLY, sizeof(REPLY));
    struct frame rwant = mkframe("10.9.0.1:443", "10.0.1.7:6000", REPLY, sizeof(REPLY));
    expect(skel->progs.qasm_nz_ingress, &in, TC_ACT_OK, &want);
    expect(skel->progs.qasm_nz_egress, &rin, TC_ACT_REDIRECT, &rwant);
    __typeof__(skel->maps) *mp = &skel->maps;
    struct bpf_map *maps[] = {mp->dcids, mp->attested, mp->firsts};
    for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++)
        bpft_clear(maps[i]);
    assert_int_equal(bpf_map__delete_elem(mp->conns, &ek, sizeof(ek), 0), 0);
    bump("10.0.1.2:5000");
    bump("10.0.1.7:6000");
    expect(skel->progs.qasm_nz_ingress, &in, TC_ACT_OK, NULL);
    expect(skel->progs.qasm_nz_egress, &rin, TC_ACT_OK, NULL);
    assert_int_equal(counter(QASM_NZ_C_NORMALIZED), 1);
    assert_int_equal(counter(QASM_NZ_C_OUT_REWRITTEN), 1);
    assert_int_equal(counter(QASM_NZ_C_CACHED), 0);
}

/*
 * The client sends from a second attested address, then from the first
 * again: each move of the current address (by the program itself) ends the
 * decisions cached for the old one, so replies follow the client as the
 * full path has them follow it.
 */
static void test_cache_current_moves(void **state)
{
    (void)state;
    record("10.0.1.2:5000", "10.9.0.1:443", "10.0.1.7:6000");
    struct qasm_addr b = A("10.0.1.8:6001");
    struct qasm_xdp_ekey ek = conn_key();
    struct qasm_xdp_attest ak = qasm_xdp_attest_of(&ek, &b);
    uint64_t when = 1;
    assert_int_equal(bpf_map__update_elem(skel->maps.attested, &ak, sizeof(ak), &when, 8, 0), 0);
    struct frame a_in = mkframe("10.0.1.7:6000", "10.9.0.1:443", SHORT, sizeof(SHORT));
    struct frame b_in = mkframe("10.0.1.8:6001", "10.9.0.1:443", SHORT, sizeof(SHORT));
    struct frame want = mkframe("10.0.1.2:5000", "10.9.0.1:443", SHORT, sizeof(SHORT));
    struct frame rin = mkframe("10.9.0.1:443", "10.0.1.2:5000", REPLY, sizeof(REPLY));
    struct frame to_a = mkframe("10.9.0.1:443", "10.0.1.7:6000", REPLY, sizeof(REPLY));
    struct frame to_b = mkframe("10.9.0.1:443", "10.0.1.8:6001", REPLY, sizeof(REPLY));
    for (int i = 0; i < 3; i++) {
        expect(skel->progs.qasm_nz_ingress, &a_in, TC_ACT_OK, &want);
        expect(skel->progs.qasm_nz_egress, &rin, TC_ACT_REDIRECT, &to_a);
        expect(skel->progs.qasm_nz_ingress, &a_in, TC_ACT_OK, &want);
        expect(skel->progs.qasm_nz_ingress, &b_in, TC_ACT_OK, &want);
        expect(skel->progs.qasm_nz_egress, &rin, TC_ACT_REDIRECT, &to_b);
        expect(skel->progs.qasm_nz_ingress, &b_in, TC_ACT_OK, &want);
    }
    struct qasm_nz_conn c = get_conn();
    assert_int_equal(c.cur_port, htons(6001));
    assert_int_equal(counter(QASM_NZ_C_NORMALIZED), 12);
}

/* The hold: a known connection's packets from a new address wait (dropped) for the tracker's
 * push while it lasts and the tracker is up; then, or with the tracker down, pass unchanged. */
static void test_hold(void **state)
{
    (void)state;
    record("10.0.1.2:5000", "10.9.0.1:443", NULL);
    struct frame in = mkframe("10.0.1.2:5009", "10.9.0.1:443", SHORT, sizeof(SHORT));
    config(60ull * 1000000000, 0); /* tracker down: no hold */
    expect(skel->progs.qasm_nz_ingress, &in, TC_ACT_OK, NULL);
    config(60ull * 1000000000, 1);
    expect(skel->progs.qasm_nz_ingress, &in, TC_ACT_SHOT, NULL);
    expect(skel->progs.qasm_nz_ingress, &in, TC_ACT_SHOT, NULL);
    assert_int_equal(counter(QASM_NZ_C_HELD), 2);
    config(1, 1); /* the hold is over: default treatment */
    expect(skel->progs.qasm_nz_ingress, &in, TC_ACT_OK, NULL);
    assert_int_equal(counter(QASM_NZ_C_UNATTESTED), 2);
    assert_int_equal(counter(QASM_NZ_C_NORMALIZED), 0);
    /* The push arrives: normalised from then on. */
    struct qasm_xdp_ekey ek = conn_key();
    struct qasm_addr a = A("10.0.1.2:5009");
    struct qasm_xdp_attest ak = qasm_xdp_attest_of(&ek, &a);
    uint64_t when = 1;
    assert_int_equal(bpf_map__update_elem(skel->maps.attested, &ak, sizeof(ak), &when, 8, 0), 0);
    struct frame want = mkframe("10.0.1.2:5000", "10.9.0.1:443", SHORT, sizeof(SHORT));
    expect(skel->progs.qasm_nz_ingress, &in, TC_ACT_OK, &want);
    assert_int_equal(counter(QASM_NZ_C_NORMALIZED), 1);
}

static void test_unknown_dcid_unchanged(void **state)
{
    (void)state;
    record("10.0.1.2:5000", "10.9.0.1:443", "10.0.1.2:5001");
    struct frame in = mkframe("10.0.1.5:5001", "10.9.0.1:443", OTHER, sizeof(OTHER));
    expect(skel->progs.qasm_nz_ingress, &in, TC_ACT_OK, NULL);
    assert_int_equal(counter(QASM_NZ_C_UNKNOWN), 1);
    /* No server entry for that destination: not looked into at all. */
    in = mkframe("10.0.1.2:5001", "10.9.0.2:443", SHORT, sizeof(SHORT));
    expect(skel->progs.qasm_nz_ingress, &in, TC_ACT_OK, NULL);
    assert_int_equal(counter(QASM_NZ_C_NOT_QUIC), 1);
}

/* The DCID race: a migration's first packets carry a DCID whose report has not been pushed
 * yet. From a new 5-tuple they are held while the tracker is up (dropped for at most the
 * hold), then pass unchanged; once the push has brought the DCID, normalised. */
static void test_unknown_dcid_held(void **state)
{
    (void)state;
    record("10.0.1.2:5000", "10.9.0.1:443", NULL);
    struct frame in = mkframe("10.0.1.2:5009", "10.9.0.1:443", OTHER, sizeof(OTHER));
    config(60ull * 1000000000, 0); /* tracker down: nothing would end the hold */
    expect(skel->progs.qasm_nz_ingress, &in, TC_ACT_OK, NULL);
    assert_int_equal(counter(QASM_NZ_C_UNKNOWN), 1);
    config(60ull * 1000000000, 1);
    expect(skel->progs.qasm_nz_ingress, &in, TC_ACT_SHOT, NULL);
    expect(skel->progs.qasm_nz_ingress, &in, TC_ACT_SHOT, NULL);
    assert_int_equal(counter(QASM_NZ_C_HELD_DCID), 2);
    config(1, 1); /* the hold is over: default treatment */
    expect(skel->progs.qasm_nz_ingress, &in, TC_ACT_OK, NULL);
    assert_int_equal(counter(QASM_NZ_C_UNKNOWN), 2);
    assert_int_equal(counter(QASM_NZ_C_UNKNOWN_NEW), 2);
    assert_int_equal(counter(QASM_NZ_C_NORMALIZED), 0);
    /* The push: the DCID and the address. */
    struct qasm_xdp_ekey ek = conn_key();
    struct qasm_cid dcid = {.len = 8, .data = {0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8}};
    struct qasm_xdp_cid ck = qasm_xdp_cid_of(&dcid);
    assert_int_equal(bpf_map__update_elem(skel->maps.dcids, &ck, sizeof(ck), &ek, sizeof(ek), 0),
                     0);
    struct qasm_addr a = A("10.0.1.2:5009");
    struct qasm_xdp_attest ak = qasm_xdp_attest_of(&ek, &a);
    uint64_t when = 1;
    assert_int_equal(bpf_map__update_elem(skel->maps.attested, &ak, sizeof(ak), &when, 8, 0), 0);
    struct frame want = mkframe("10.0.1.2:5000", "10.9.0.1:443", OTHER, sizeof(OTHER));
    expect(skel->progs.qasm_nz_ingress, &in, TC_ACT_OK, &want);
    assert_int_equal(counter(QASM_NZ_C_NORMALIZED), 1);
}

/* A 5-tuple that sent a long header is a connection at home (a new connection's first 1-RTT
 * packets, a client without the agent): its unknown DCIDs pass at once, never held. */
static void test_unknown_dcid_at_home_not_held(void **state)
{
    (void)state;
    record("10.0.1.2:5000", "10.9.0.1:443", NULL);
    config(60ull * 1000000000, 1);
    struct frame init = mkframe("10.0.1.8:7000", "10.9.0.1:443", INITIAL_NEW,
                                sizeof(INITIAL_NEW));
    expect(skel->progs.qasm_nz_ingress, &init, TC_ACT_OK, NULL);
    struct frame in = mkframe("10.0.1.8:7000", "10.9.0.1:443", OTHER, sizeof(OTHER));
    expect(skel->progs.qasm_nz_ingress, &in, TC_ACT_OK, NULL);
    assert_int_equal(counter(QASM_NZ_C_UNKNOWN), 1);
    assert_int_equal(counter(QASM_NZ_C_UNKNOWN_NEW), 0);
    assert_int_equal(counter(QASM_NZ_C_HELD_DCID), 0);
}

/* An unknown DCID from a (client, server) pair the tracker attested for exactly one
 * connection: that connection's DCID whose report trails the packet, normalised onto it. */
static void test_unknown_dcid_by_address(void **state)
{
    (void)state;
    record("10.0.1.2:5000", "10.9.0.1:443", "10.0.1.7:5001");
    claim("10.0.1.2:5000", "10.9.0.1:443", 1);
    claim("10.0.1.7:5001", "10.9.0.1:443", 1);
    config(60ull * 1000000000, 1);
    struct frame in = mkframe("10.0.1.7:5001", "10.9.0.1:443", OTHER, sizeof(OTHER));
    struct frame want = mkframe("10.0.1.2:5000", "10.9.0.1:443", OTHER, sizeof(OTHER));
    expect(skel->progs.qasm_nz_ingress, &in, TC_ACT_OK, &want);
    assert_int_equal(counter(QASM_NZ_C_BY_ADDR), 1);
    assert_int_equal(counter(QASM_NZ_C_NORMALIZED), 1);
    assert_int_equal(counter(QASM_NZ_C_HELD_DCID), 0);
    struct frame rin = mkframe("10.9.0.1:443", "10.0.1.2:5000", REPLY, sizeof(REPLY));
    struct frame rwant = mkframe("10.9.0.1:443", "10.0.1.7:5001", REPLY, sizeof(REPLY));
    expect(skel->progs.qasm_nz_egress, &rin, TC_ACT_REDIRECT, &rwant);
    /* From the first address: unchanged (it is the first 5-tuple already). */
    struct frame home = mkframe("10.0.1.2:5000", "10.9.0.1:443", OTHER, sizeof(OTHER));
    expect(skel->progs.qasm_nz_ingress, &home, TC_ACT_OK, NULL);
    assert_int_equal(counter(QASM_NZ_C_FIRST), 1);
    assert_int_equal(counter(QASM_NZ_C_NORMALIZED), 1);
}

/* The spoofer: an unknown DCID (or the victim's own) from an address nobody attested is never
 * normalised, held or not; and the victim's replies keep going to the victim. */
static void test_unknown_dcid_spoofer(void **state)
{
    (void)state;
    record("10.0.1.2:5000", "10.9.0.1:443", "10.0.1.2:5001");
    claim("10.0.1.2:5000", "10.9.0.1:443", 1);
    claim("10.0.1.2:5001", "10.9.0.1:443", 1);
    struct frame in = mkframe("10.0.1.66:5001", "10.9.0.1:443", OTHER, sizeof(OTHER));
    expect(skel->progs.qasm_nz_ingress, &in, TC_ACT_OK, NULL); /* no hold */
    config(60ull * 1000000000, 1);
    expect(skel->progs.qasm_nz_ingress, &in, TC_ACT_SHOT, NULL);
    config(1, 1);
    expect(skel->progs.qasm_nz_ingress, &in, TC_ACT_OK, NULL);
    struct frame own = mkframe("10.0.1.2:5002", "10.9.0.1:443", OTHER, sizeof(OTHER));
    expect(skel->progs.qasm_nz_ingress, &own, TC_ACT_SHOT, NULL); /* another port: unattested */
    assert_int_equal(counter(QASM_NZ_C_NORMALIZED), 0);
    assert_int_equal(counter(QASM_NZ_C_BY_ADDR), 0);
    assert_int_equal(get_conn().cur_port, htons(5000));
    struct frame rin = mkframe("10.9.0.1:443", "10.0.1.2:5000", REPLY, sizeof(REPLY));
    expect(skel->progs.qasm_nz_egress, &rin, TC_ACT_OK, NULL);
}

/* The connection's first migrations may beat its first record, so no record gave its server's
 * CID length yet: a server seen sending a long header (by egress) speaks QUIC, and a short
 * header to it from a new 5-tuple is held by address (no DCID can be read), then passes. A
 * client's Initial does not make a server QUIC (a client could then have any server's traffic
 * held). */
static void test_unknown_server_held(void **state)
{
    (void)state;
    config(60ull * 1000000000, 1);
    struct frame mig = mkframe("10.0.1.2:5001", "10.9.0.5:443", SHORT, sizeof(SHORT));
    expect(skel->progs.qasm_nz_ingress, &mig, TC_ACT_OK, NULL); /* nothing known: not QUIC */
    assert_int_equal(counter(QASM_NZ_C_NOT_QUIC), 1);
    uint8_t initial[1200];
    memset(initial, 0, sizeof(initial));
    memcpy(initial, INITIAL_NEW, sizeof(INITIAL_NEW));
    struct frame init = mkframe("10.0.1.2:5000", "10.9.0.5:443", initial, sizeof(initial));
    expect(skel->progs.qasm_nz_ingress, &init, TC_ACT_OK, NULL);
    expect(skel->progs.qasm_nz_ingress, &mig, TC_ACT_OK, NULL); /* the client's word: not enough */
    assert_int_equal(counter(QASM_NZ_C_NOT_QUIC), 3);
    /* The server's Handshake, seen by egress. */
    static const uint8_t HS[] = {0xe0, 0, 0, 0, 1, 4, 0xa1, 0xa2, 0xa3, 0xa4, 8, 0xb1, 0xb2,
                                 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0x00, 0x11, 0x22};
    struct frame hs = mkframe("10.9.0.5:443", "10.0.1.2:5000", HS, sizeof(HS));
    expect(skel->progs.qasm_nz_egress, &hs, TC_ACT_OK, NULL);
    struct frame mig2 = mkframe("10.0.1.2:5002", "10.9.0.5:443", SHORT, sizeof(SHORT));
    expect(skel->progs.qasm_nz_ingress, &mig2, TC_ACT_SHOT, NULL);
    assert_int_equal(counter(QASM_NZ_C_HELD_DCID), 1);
    /* The connection at home (its handshake's 5-tuple) passes at once. */
    struct frame home = mkframe("10.0.1.2:5000", "10.9.0.5:443", SHORT, sizeof(SHORT));
    expect(skel->progs.qasm_nz_ingress, &home, TC_ACT_OK, NULL);
    config(1, 1);
    expect(skel->progs.qasm_nz_ingress, &mig2, TC_ACT_OK, NULL);
    assert_int_equal(counter(QASM_NZ_C_UNKNOWN_NEW), 1);
    assert_int_equal(counter(QASM_NZ_C_NORMALIZED), 0);
}

/* A pair claimed by two connections is ambiguous: an unknown DCID from it is not normalised.
 * A new connection's Initial from an attested pair makes it so (the same client opened a second
 * connection to that server from there). */
static void test_unknown_dcid_ambiguous(void **state)
{
    (void)state;
    record("10.0.1.2:5000", "10.9.0.1:443", "10.0.1.2:5001");
    claim("10.0.1.2:5001", "10.9.0.1:443", 2);
    struct frame in = mkframe("10.0.1.2:5001", "10.9.0.1:443", OTHER, sizeof(OTHER));
    expect(skel->progs.qasm_nz_ingress, &in, TC_ACT_OK, NULL);
    assert_int_equal(counter(QASM_NZ_C_AMBIGUOUS), 1);
    assert_int_equal(counter(QASM_NZ_C_NORMALIZED), 0);
    /* One claim, then the connection's own Initial (no change), then another's (ambiguous). */
    claim("10.0.1.2:5001", "10.9.0.1:443", 1);
    struct frame own = mkframe("10.0.1.2:5001", "10.9.0.1:443", INITIAL_OWN,
                               sizeof(INITIAL_OWN));
    expect(skel->progs.qasm_nz_ingress, &own, TC_ACT_OK, NULL);
    assert_int_equal(claims("10.0.1.2:5001", "10.9.0.1:443"), 1);
    struct frame newc = mkframe("10.0.1.2:5001", "10.9.0.1:443", INITIAL_NEW,
                                sizeof(INITIAL_NEW));
    expect(skel->progs.qasm_nz_ingress, &newc, TC_ACT_OK, NULL);
    assert_int_equal(claims("10.0.1.2:5001", "10.9.0.1:443"), 2);
    expect(skel->progs.qasm_nz_ingress, &in, TC_ACT_OK, NULL);
    assert_int_equal(counter(QASM_NZ_C_AMBIGUOUS), 2);
    assert_int_equal(counter(QASM_NZ_C_NORMALIZED), 0);
}

/* ---- reactive mode: the asks ring buffer ---- */

struct asks_seen {
    int n;
    struct qasm_nz_ask last;
};

static int ask_seen(void *ctx, void *data, size_t size)
{
    struct asks_seen *a = ctx;
    assert_int_equal(size, sizeof(struct qasm_nz_ask));
    memcpy(&a->last, data, sizeof(a->last));
    a->n++;
    return 0;
}

/* What the kernel asked since the last call. */
static struct asks_seen drain_asks(void)
{
    struct asks_seen a = {0};
    struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(skel->maps.asks), ask_seen, &a, NULL);
    assert_non_null(rb);
    ring_buffer__consume(rb);
    ring_buffer__free(rb);
    return a;
}

/* Reactive: a hold's first packet is reported (the DCID, the address, whether the DCID is
 * known), once per hold; proactive reports nothing. */
static void test_reactive_asks(void **state)
{
    (void)state;
    drain_asks();
    record("10.0.1.2:5000", "10.9.0.1:443", NULL);
    struct frame unk = mkframe("10.0.1.2:5009", "10.9.0.1:443", OTHER, sizeof(OTHER));
    struct frame una = mkframe("10.0.1.2:5010", "10.9.0.1:443", SHORT, sizeof(SHORT));
    config_mode(60ull * 1000000000, 1, 0);
    expect(skel->progs.qasm_nz_ingress, &unk, TC_ACT_SHOT, NULL);
    assert_int_equal(drain_asks().n, 0);
    setup(NULL);
    drain_asks();
    record("10.0.1.2:5000", "10.9.0.1:443", NULL);
    config_mode(60ull * 1000000000, 1, 1);
    expect(skel->progs.qasm_nz_ingress, &unk, TC_ACT_SHOT, NULL);
    expect(skel->progs.qasm_nz_ingress, &unk, TC_ACT_SHOT, NULL);
    struct asks_seen a = drain_asks();
    assert_int_equal(a.n, 1);
    assert_int_equal(a.last.known, 0);
    assert_int_equal(a.last.cid.len, 8);
    assert_memory_equal(a.last.cid.data, OTHER + 1, 8);
    struct qasm_addr want = A("10.0.1.2:5009");
    assert_memory_equal(a.last.addr, want.ip, 16);
    assert_int_equal(a.last.port, htons(5009));
    expect(skel->progs.qasm_nz_ingress, &una, TC_ACT_SHOT, NULL);
    a = drain_asks();
    assert_int_equal(a.n, 1);
    assert_int_equal(a.last.known, 1);
    assert_memory_equal(a.last.cid.data, SHORT + 1, 8);
    assert_int_equal(counter(QASM_NZ_C_ASKED), 2);
    /* Tracker down: nothing to ask, nothing held. */
    config_mode(60ull * 1000000000, 0, 1);
    struct frame other = mkframe("10.0.1.2:5011", "10.9.0.1:443", OTHER, sizeof(OTHER));
    expect(skel->progs.qasm_nz_ingress, &other, TC_ACT_OK, NULL);
    assert_int_equal(drain_asks().n, 0);
}

/* Reactive (no records to learn it from): a server's CID length from its long headers, seen
 * by egress; proactive leaves `servers` to the records. */
static void test_reactive_learns_server(void **state)
{
    (void)state;
    /* A server's Handshake: DCID (the client's, 4 bytes), SCID (the server's, 8 bytes). */
    static const uint8_t HS[] = {0xe0, 0, 0, 0, 1, 4, 0xa1, 0xa2, 0xa3, 0xa4, 8, 0xb1, 0xb2,
                                 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0x00, 0x11, 0x22};
    struct frame hs = mkframe("10.9.0.3:443", "10.0.1.2:5000", HS, sizeof(HS));
    struct qasm_addr srv = A("10.9.0.3:443");
    struct qasm_xdp_srv sk = qasm_xdp_srv_of(&srv);
    uint32_t len = 0;
    expect(skel->progs.qasm_nz_egress, &hs, TC_ACT_OK, NULL);
    assert_int_not_equal(bpf_map__lookup_elem(skel->maps.servers, &sk, sizeof(sk), &len, 4, 0), 0);
    config_mode(0, 1, 1);
    expect(skel->progs.qasm_nz_egress, &hs, TC_ACT_OK, NULL);
    assert_int_equal(bpf_map__lookup_elem(skel->maps.servers, &sk, sizeof(sk), &len, 4, 0), 0);
    assert_int_equal(len, 8);
    /* A truncated one teaches nothing. */
    struct qasm_addr srv2 = A("10.9.0.4:443");
    struct qasm_xdp_srv sk2 = qasm_xdp_srv_of(&srv2);
    struct frame cut = mkframe("10.9.0.4:443", "10.0.1.2:5000", HS, 8);
    expect(skel->progs.qasm_nz_egress, &cut, TC_ACT_OK, NULL);
    assert_int_not_equal(bpf_map__lookup_elem(skel->maps.servers, &sk2, sizeof(sk2), &len, 4, 0),
                         0);
}

static void test_first_address_unchanged(void **state)
{
    (void)state;
    record("10.0.1.2:5000", "10.9.0.1:443", "10.0.1.2:5001");
    struct frame in = mkframe("10.0.1.2:5000", "10.9.0.1:443", SHORT, sizeof(SHORT));
    expect(skel->progs.qasm_nz_ingress, &in, TC_ACT_OK, NULL);
    assert_int_equal(counter(QASM_NZ_C_FIRST), 1);
    struct frame rin = mkframe("10.9.0.1:443", "10.0.1.2:5000", REPLY, sizeof(REPLY));
    expect(skel->progs.qasm_nz_egress, &rin, TC_ACT_OK, NULL);
    assert_int_equal(counter(QASM_NZ_C_OUT_REWRITTEN), 0);
}

/* The client moved away, then opened a new connection from its first address to the same
 * server: that one's traffic is left alone, and the first connection is normalised no more. */
static void test_first_address_reused(void **state)
{
    (void)state;
    record("10.0.1.2:5000", "10.9.0.1:443", "10.0.1.2:5001");
    struct frame newc = mkframe("10.0.1.2:5000", "10.9.0.1:443", INITIAL_NEW,
                                sizeof(INITIAL_NEW));
    expect(skel->progs.qasm_nz_ingress, &newc, TC_ACT_OK, NULL);
    assert_int_equal(counter(QASM_NZ_C_REUSED), 0); /* not moved yet: nothing to undo */
    struct frame mig = mkframe("10.0.1.2:5001", "10.9.0.1:443", SHORT, sizeof(SHORT));
    struct frame out;
    run(skel->progs.qasm_nz_ingress, &mig, &out);
    assert_int_equal(counter(QASM_NZ_C_NORMALIZED), 1);
    /* Its own Initial (O-DCID), or a new connection to another server: not a reuse. */
    struct frame own = mkframe("10.0.1.2:5000", "10.9.0.1:443", INITIAL_OWN,
                               sizeof(INITIAL_OWN));
    expect(skel->progs.qasm_nz_ingress, &own, TC_ACT_OK, NULL);
    struct frame other_srv = mkframe("10.0.1.2:5000", "10.9.0.7:443", INITIAL_NEW,
                                     sizeof(INITIAL_NEW));
    expect(skel->progs.qasm_nz_ingress, &other_srv, TC_ACT_OK, NULL);
    assert_int_equal(counter(QASM_NZ_C_REUSED), 0);
    assert_false(get_conn().flags & QASM_NZ_F_REUSED);
    expect(skel->progs.qasm_nz_ingress, &newc, TC_ACT_OK, NULL);
    assert_int_equal(counter(QASM_NZ_C_REUSED), 1);
    assert_true(get_conn().flags & QASM_NZ_F_REUSED);
    struct frame rin = mkframe("10.9.0.1:443", "10.0.1.2:5000", REPLY, sizeof(REPLY));
    expect(skel->progs.qasm_nz_egress, &rin, TC_ACT_OK, NULL);
    expect(skel->progs.qasm_nz_ingress, &mig, TC_ACT_OK, NULL);
    assert_int_equal(counter(QASM_NZ_C_NORMALIZED), 1);
}

/* Replies are known by the first address AND the server: another server's go untouched. */
static void test_egress_other_server(void **state)
{
    (void)state;
    record("10.0.1.2:5000", "10.9.0.1:443", "10.0.1.2:5001");
    struct frame mig = mkframe("10.0.1.2:5001", "10.9.0.1:443", SHORT, sizeof(SHORT)), out;
    run(skel->progs.qasm_nz_ingress, &mig, &out);
    struct frame rin = mkframe("10.9.0.7:443", "10.0.1.2:5000", REPLY, sizeof(REPLY));
    expect(skel->progs.qasm_nz_egress, &rin, TC_ACT_OK, NULL);
    assert_int_equal(counter(QASM_NZ_C_OUT_REWRITTEN), 0);
}

/* Cut at every byte past the IP header: passes unchanged, never rewritten. */
static void truncated(const char *first, const char *moved, const char *server)
{
    record(first, server, moved);
    struct frame full = mkframe(moved, server, SHORT, sizeof(SHORT));
    /* BPF_PROG_TEST_RUN itself refuses a frame shorter than its IP header (EINVAL). */
    size_t start = ETH_HLEN + (full.b[12] == 0x08 ? 20 : 40);
    for (size_t len = start; len < full.len; len++) {
        struct frame in = full;
        in.len = len;
        expect(skel->progs.qasm_nz_ingress, &in, TC_ACT_OK, NULL);
        expect(skel->progs.qasm_nz_egress, &in, TC_ACT_OK, NULL);
    }
    assert_int_equal(counter(QASM_NZ_C_NORMALIZED), 0);
    assert_true(counter(QASM_NZ_C_MALFORMED) > 0);
}

static void test_truncated_ipv4(void **state)
{
    (void)state;
    truncated("10.0.1.2:5000", "10.0.1.2:5001", "10.9.0.1:443");
}

static void test_truncated_ipv6(void **state)
{
    (void)state;
    truncated("[fd00:1::2]:5000", "[fd00:1::2]:5001", "[fd00:9::1]:443");
}

/*
 * |in| through |prog| QASM_NZ_COST_REPEAT times (default 10^5): ns per packet, printed. One
 * BPF_PROG_TEST_RUN per packet (repeat 1): its repeats would run on the same skb, which the
 * first run rewrote (a normalised packet would be measured as one from the first address).
 * The kernel times the program's run alone, not the system call.
 */
/*
 * |in| through |prog| many times (QASM_NZ_COST_REPEAT, default 10^5), one
 * BPF_PROG_TEST_RUN each (each run must see the packet as sent): the mean
 * duration the kernel measured, harness included. |full|: the client
 * address whose bucket's generation is bumped before each run (as a change
 * to its connection would), so that the full path decides each packet;
 * NULL: the flow cache decides all but the first (and one per its lifetime),
 * which the `fast_path` counter must show.
 */
static void cost(const char *what, struct bpf_program *prog, const struct frame *in, int act,
                 const char *full)
{
    uint32_t b = 0;
    if (full) {
        struct qasm_addr a = A(full);
        uint8_t ip[16];
        uint16_t port;
        qasm_xdp_addr(&a, ip, &port);
        b = qasm_nz_bucket(ip, port);
    }
    const char *env = getenv("QASM_NZ_COST_REPEAT");
    unsigned long n = env ? strtoul(env, NULL, 10) : 100000;
    n = n ? n : 1;
    uint64_t total = 0, cached = counter(QASM_NZ_C_CACHED);
    for (unsigned long i = 0; i < n; i++) {
        struct bpft_run r = {.repeat = 1};
        if (full)
            __atomic_fetch_add(&skel->bss->qasm_nz_gens[b], 1, __ATOMIC_SEQ_CST);
        assert_int_equal(bpft_run(prog, in, NULL, &r), act);
        total += r.duration;
    }
    cached = counter(QASM_NZ_C_CACHED) - cached;
    printf("cost: %s, %s: %.0f ns/packet (%lu runs, %lu by the cache)\n", what,
           full ? "full path" : "flow cache", (double)total / (double)n, n, (unsigned long)cached);
    if (full)
        assert_int_equal(cached, 0);
    else
        assert_true(cached * 2 >= n); /* at most one miss per run, and one per lifetime */
}

/* The cost per packet of each path, decided by the full path and by the flow cache. */
static void test_cost(void **state)
{
    (void)state;
    record("10.0.1.2:5000", "10.9.0.1:443", "10.0.1.2:5001");
    struct frame mig = mkframe("10.0.1.2:5001", "10.9.0.1:443", SHORT, sizeof(SHORT));
    struct frame reply = mkframe("10.9.0.1:443", "10.0.1.2:5000", REPLY, sizeof(REPLY));
    struct frame oreply = mkframe("10.9.0.2:443", "10.0.1.2:5000", REPLY, sizeof(REPLY));
    struct frame home = mkframe("10.0.1.2:5000", "10.9.0.1:443", SHORT, sizeof(SHORT));
    struct frame other = mkframe("10.0.1.2:5000", "10.9.0.2:443", SHORT, sizeof(SHORT));
    for (int full = 1; full >= 0; full--) {
        cost("ingress, attested migrated IPv4 packet normalised", skel->progs.qasm_nz_ingress,
             &mig, TC_ACT_OK, full ? "10.0.1.2:5001" : NULL);
        cost("egress, a reply to a moved connection (destination rewritten)",
             skel->progs.qasm_nz_egress, &reply, TC_ACT_OK, full ? "10.0.1.2:5000" : NULL);
        cost("egress, another flow's packet (unchanged)", skel->progs.qasm_nz_egress, &oreply,
             TC_ACT_OK, full ? "10.0.1.2:5000" : NULL);
    }
    assert_int_equal(counter(QASM_NZ_C_OUT_REWRITTEN) > 0, 1);
    for (int full = 1; full >= 0; full--) /* (its first packet brings the connection home) */
        cost("ingress, a tracked connection at home (unchanged)", skel->progs.qasm_nz_ingress,
             &home, TC_ACT_OK, full ? "10.0.1.2:5000" : NULL);
    struct frame out;
    run(skel->progs.qasm_nz_ingress, &other, &out);
    uint64_t cached = counter(QASM_NZ_C_CACHED);
    run(skel->progs.qasm_nz_ingress, &other, &out);
    assert_int_equal(counter(QASM_NZ_C_CACHED), cached); /* nothing to cache: */
    cost("ingress, UDP to a server with no records (unchanged)", skel->progs.qasm_nz_ingress,
         &other, TC_ACT_OK, "10.0.1.2:5000");
}

static int prepare(void)
{
    int rc = bpft_need_root("test_normalize_prog", "BPF_PROG_TEST_RUN", "QASM_NZ_VERBOSE");
    if (rc)
        return rc;
    /* One CPU for the whole run: the flow cache is per CPU, so whether a packet finds the
     * decision an earlier one left does not depend on where the scheduler ran it. */
    bpft_one_cpu("test_normalize_prog");
    skel = open_and_load(QASM_NZ_CACHE_BITS_DEFAULT);
    return bpft_loaded("test_normalize_prog", skel, "tc programs");
}

int main(void)
{
    int rc = prepare();
    if (rc)
        return rc;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_port_migration_ipv4, setup),
        cmocka_unit_test_setup(test_address_migration_ipv4, setup),
        cmocka_unit_test_setup(test_address_only_migration_ipv4, setup),
        cmocka_unit_test_setup(test_migration_ipv6, setup),
        cmocka_unit_test_setup(test_port_migration_ipv6, setup),
        cmocka_unit_test_setup(test_unattested_unchanged, setup),
        cmocka_unit_test_setup(test_no_udp_checksum_ipv4, setup),
        cmocka_unit_test_setup(test_current_attested, setup),
        cmocka_unit_test_setup(test_last_seen_grain, setup),
        cmocka_unit_test_setup(test_cache_serves, setup),
        cmocka_unit_test_setup(test_cache_serves_ipv6, setup),
        cmocka_unit_test_setup(test_cache_keys_on_dcid, setup),
        cmocka_unit_test_setup(test_cache_connection_removed, setup),
        cmocka_unit_test_setup(test_cache_current_moves, setup),
        cmocka_unit_test_setup(test_cache_off, setup),
        cmocka_unit_test_setup(test_cache_two_ways, setup),
        cmocka_unit_test_setup(test_hold, setup),
        cmocka_unit_test_setup(test_unknown_dcid_unchanged, setup),
        cmocka_unit_test_setup(test_unknown_dcid_held, setup),
        cmocka_unit_test_setup(test_unknown_dcid_at_home_not_held, setup),
        cmocka_unit_test_setup(test_unknown_dcid_by_address, setup),
        cmocka_unit_test_setup(test_unknown_dcid_spoofer, setup),
        cmocka_unit_test_setup(test_unknown_dcid_ambiguous, setup),
        cmocka_unit_test_setup(test_unknown_server_held, setup),
        cmocka_unit_test_setup(test_reactive_asks, setup),
        cmocka_unit_test_setup(test_reactive_learns_server, setup),
        cmocka_unit_test_setup(test_first_address_unchanged, setup),
        cmocka_unit_test_setup(test_first_address_reused, setup),
        cmocka_unit_test_setup(test_egress_other_server, setup),
        cmocka_unit_test_setup(test_truncated_ipv4, setup),
        cmocka_unit_test_setup(test_truncated_ipv6, setup),
        cmocka_unit_test_setup(test_cost, setup),
    };
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    qasm_normalize__destroy(skel);
    return rc;
}
#endif
