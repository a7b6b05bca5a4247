/*
 * test_xdp_prog.c: the XDP program (middleboxes/xdp/qasm_xdp.bpf.c) run on
 * crafted frames with BPF_PROG_TEST_RUN, fixture style: an input frame,
 * the maps as userspace would fill them, the expected XDP action and the
 * expected output frame, compared byte for byte (the expected frame is
 * built from scratch with lib/ipudp.h, so the program's incremental
 * checksums are checked against full ones).
 *
 * Runs in a network namespace of its own (unshare) with a veth interface
 * as the outside, lo as the inside; the FIB is not asked (config no_fib:
 * a handled frame comes back as XDP_TX) but in the forwarding and
 * next-hop cache fixtures. Needs root and BPF: without
 * them it says SKIP and exits 77 (scripts/run-tests.sh reports it skipped).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#ifndef QASM_HAVE_XDP
int main(void)
{
    puts("SKIP: test_xdp_prog: --io xdp was not built (no BPF toolchain: make deps)");
    return 77;
}
#else

#include <errno.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_ether.h>

#include "addr.h"
#include "ipudp.h"
#include "middleboxes/io/xdp_io.h"
#include "middleboxes/io/xdp_slots.h"
#include "qasm_xdp.skel.h"
#include "tests/unit/bpf_fixture.h"

static struct qasm_xdp *skel;
static struct qasm_xdp_slots *slots; /* the entries' slots, as qasm-mbox hands them out */
static int if_in = 1, if_out;
/* The veth pair: the outside (|if_out|) and its peer, named after the process so that
 * runs at once never meet. */
static char veth[IFNAMSIZ], veth_peer[IFNAMSIZ];

/* ---- frames ---- */

static struct qasm_addr A(const char *s)
{
    struct qasm_addr a;
    assert_int_equal(qasm_addr_parse(&a, s), 0);
    return a;
}

static struct qasm_flow F(const char *src, const char *dst)
{
    struct qasm_flow f;
    memset(&f, 0, sizeof(f));
    f.src = A(src);
    f.dst = A(dst);
    f.proto = 17;
    return f;
}

/* An Ethernet frame (|vlan|: one 802.1Q tag) carrying UDP |f| with |payload|. */
static struct frame mkframe(const struct qasm_flow *f, const uint8_t *payload, size_t plen,
                            uint8_t ttl, int vlan)
{
    struct frame fr;
    memset(&fr, 0, sizeof(fr));
    static const uint8_t macs[12] = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2};
    memcpy(fr.b, macs, 12);
    size_t off = 12;
    if (vlan) {
        fr.b[off++] = 0x81, fr.b[off++] = 0x00, fr.b[off++] = 0x00, fr.b[off++] = 0x07;
    }
    uint16_t et = f->src.family == AF_INET ? ETH_P_IP : ETH_P_IPV6;
    fr.b[off++] = (uint8_t)(et >> 8);
    fr.b[off++] = (uint8_t)et;
    ssize_t n = qasm_ipudp_build(fr.b + off, sizeof(fr.b) - off, &f->src, &f->dst, payload, plen,
                                 ttl);
    assert_true(n > 0);
    fr.len = off + (size_t)n;
    return fr;
}

/* A QUIC short header to a DCID of 8 bytes (0xc1 ...), then some payload. */
static const uint8_t SHORT[] = {0x41, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8,
                                0x11, 0x22, 0x33, 0x44, 0x55};
/* A client Initial's first bytes (long header, version 1, DCID of 8). */
static const uint8_t INITIAL[] = {0xc0, 0, 0, 0, 1, 8, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7,
                                  0xd8, 0, 0x11, 0x22, 0x33};

/* The context of |in| arriving on |ifindex|. */
static struct xdp_md xdp_ctx(const struct frame *in, int ifindex)
{
    struct xdp_md ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.data_end = (uint32_t)in->len;
    ctx.ingress_ifindex = (uint32_t)ifindex;
    return ctx;
}

/* Runs the program on |in| arriving on |ifindex|: the action, |out| the frame after it. */
static int run(const struct frame *in, int ifindex, struct frame *out)
{
    struct xdp_md ctx = xdp_ctx(in, ifindex);
    struct bpft_run r = {.ctx = &ctx, .ctx_size = sizeof(ctx)};
    return bpft_run(skel->progs.qasm_xdp, in, out, &r);
}

/* Runs |in| and expects |act| and, for XDP_TX, |want| (else the frame unchanged). */
static void expect(const struct frame *in, int ifindex, int act, const struct frame *want)
{
    struct xdp_md ctx = xdp_ctx(in, ifindex);
    struct bpft_run r = {.ctx = &ctx, .ctx_size = sizeof(ctx)};
    bpft_expect(skel->progs.qasm_xdp, in, &r, act, act == XDP_TX ? want : in);
}

/* A short header of |from| arriving on |ifindex| leaves as one of |to| (XDP_TX), TTL - 1. */
static void expect_fwd(const struct qasm_flow *from, int ifindex, const struct qasm_flow *to)
{
    struct frame in = mkframe(from, SHORT, sizeof(SHORT), 64, 0);
    struct frame want = mkframe(to, SHORT, sizeof(SHORT), 63, 0);
    expect(&in, ifindex, XDP_TX, &want);
}

/* ---- maps ---- */

static uint64_t counter(int c)
{
    return bpft_counter(skel->maps.counters, (uint32_t)c);
}

/* The rate limiter's clock in the tests (the program reads the configuration's clock_ns). */
#define T0 1000000000000ull

static void config(int function, int aware, uint64_t rate_milli, uint64_t cap, int bytes)
{
    struct qasm_xdp_cfg c;
    memset(&c, 0, sizeof(c));
    c.function = (uint32_t)function;
    c.aware = (uint32_t)aware;
    c.ifindex_in = (uint32_t)if_in;
    c.ifindex_out = (uint32_t)if_out;
    if (rate_milli) {
        struct qasm_bucket_params p = {.rate_milli = rate_milli, .cap = cap};
        assert_true(qasm_xdp_cfg_rate(&c, &p, bytes ? 65535 : 1) >= 0);
    }
    c.rl_bytes = (uint32_t)bytes;
    c.clock_ns = T0; /* the rate limiter's clock: set_clock() moves it */
    c.no_fib = 1;
    uint32_t zero = 0;
    assert_int_equal(bpf_map__update_elem(skel->maps.config, &zero, 4, &c, sizeof(c), 0), 0);
}

/* The configuration's clock_ns (the rate limiter's "now"). */
static void set_clock(uint64_t now)
{
    struct qasm_xdp_cfg c;
    uint32_t zero = 0;
    assert_int_equal(bpf_map__lookup_elem(skel->maps.config, &zero, 4, &c, sizeof(c), 0), 0);
    c.clock_ns = now;
    assert_int_equal(bpf_map__update_elem(skel->maps.config, &zero, 4, &c, sizeof(c), 0), 0);
}

/* Every slot of `entries` handed out so far back to zero, a fresh allocator, `slots` empty. */
static void clear_entries(void)
{
    struct qasm_xdp_entry zero;
    memset(&zero, 0, sizeof(zero));
    for (uint32_t i = 0; slots && i < qasm_xdp_slots_high(slots); i++)
        assert_int_equal(bpf_map__update_elem(skel->maps.entries, &i, 4, &zero, sizeof(zero), 0),
                         0);
    qasm_xdp_slots_del(slots);
    assert_int_equal(qasm_xdp_slots_new(&slots, bpf_map__max_entries(skel->maps.entries), 1), 0);
    bpft_clear(skel->maps.slots);
}

static int setup(void **state)
{
    (void)state;
    bpft_clear(skel->maps.flows);
    clear_entries();
    bpft_clear(skel->maps.dcids);
    bpft_clear(skel->maps.attested);
    bpft_clear(skel->maps.servers);
    bpft_zero_percpu(skel->maps.counters);
    config(QASM_XDP_NAT, 0, 0, 0, 0);
    return 0;
}

/* The slot of entry |ek|: its own, else a new one (also written into `slots`). */
static struct qasm_xdp_ref ref_of(const struct qasm_xdp_ekey *ek)
{
    struct qasm_xdp_ref ref;
    if (qasm_xdp_slots_find(slots, ek, &ref))
        return ref;
    assert_int_equal(qasm_xdp_slots_alloc(slots, ek, &ref), 0);
    assert_int_equal(bpf_map__update_elem(skel->maps.slots, ek, sizeof(*ek), &ref, sizeof(ref), 0),
                     0);
    return ref;
}

/* flows[|key| from |dir|] = rewrite to |to| (flags), entry |ek|. */
static void put_flow(const struct qasm_flow *key, int dir, const struct qasm_flow *to,
                     const struct qasm_xdp_ekey *ek, uint32_t flags)
{
    struct qasm_xdp_fkey k = qasm_xdp_fkey_of(key, dir);
    struct qasm_xdp_flow v = qasm_xdp_flow_of(&to->src, &to->dst, ek, ref_of(ek), flags);
    assert_int_equal(bpf_map__update_elem(skel->maps.flows, &k, sizeof(k), &v, sizeof(v), 0), 0);
}

/* entries[slot of |ek|] = |e| (its generation the slot's). */
static void set_entry(const struct qasm_xdp_ekey *ek, struct qasm_xdp_entry *e)
{
    struct qasm_xdp_ref ref = ref_of(ek);
    e->gen = ref.gen;
    assert_int_equal(bpf_map__update_elem(skel->maps.entries, &ref.slot, 4, e, sizeof(*e), 0), 0);
}

/* Entry |ek| (in its slot): latest client |client|, hop (NAT public / LB backend) |hop|,
 * bucket |tat|. */
static void put_entry(const struct qasm_xdp_ekey *ek, const char *client, const char *hop,
                      uint64_t tat)
{
    struct qasm_xdp_entry e;
    memset(&e, 0, sizeof(e));
    struct qasm_addr c = A(client), h = A(hop);
    e.family = c.family;
    qasm_xdp_addr(&c, e.client, &e.client_port);
    qasm_xdp_addr(&h, e.hop, &e.hop_port);
    e.rl_tat = tat;
    set_entry(ek, &e);
}

static struct qasm_xdp_entry get_entry(const struct qasm_xdp_ekey *ek)
{
    struct qasm_xdp_entry e;
    struct qasm_xdp_ref ref;
    assert_true(qasm_xdp_slots_find(slots, ek, &ref));
    assert_int_equal(bpf_map__lookup_elem(skel->maps.entries, &ref.slot, 4, &e, sizeof(e),
                                          BPF_F_LOCK), 0);
    assert_int_equal(e.gen, ref.gen);
    return e;
}

/* ---- NAT both ways, IPv4 and IPv6 ---- */

static void nat_both_ways(const char *c, const char *s, const char *pub)
{
    struct qasm_flow out = F(c, s), nat = F(pub, s), ret = F(s, pub), back = F(s, c);
    struct qasm_xdp_ekey ek = qasm_xdp_ekey_flow(&out.src, &out.dst);
    put_entry(&ek, c, pub, 0);
    put_flow(&out, QASM_XDP_FROM_CLIENT, &nat, &ek, 0);
    put_flow(&ret, QASM_XDP_FROM_SERVER, &ret, &ek, QASM_XDP_F_DST_CLIENT);
    uint8_t pl[100];
    for (size_t i = 0; i < sizeof(pl); i++)
        pl[i] = (uint8_t)(i * 7);
    struct frame in = mkframe(&out, pl, sizeof(pl), 64, 0), want = mkframe(&nat, pl, sizeof(pl), 63, 0);
    expect(&in, if_in, XDP_TX, &want);
    in = mkframe(&ret, pl, sizeof(pl), 64, 0);
    want = mkframe(&back, pl, sizeof(pl), 63, 0);
    expect(&in, if_out, XDP_TX, &want);
    assert_int_equal(counter(QASM_XDP_C_TX), 2);
    assert_int_equal(counter(QASM_XDP_C_RX), 2);
}

static void test_nat_ipv4(void **state)
{
    (void)state;
    nat_both_ways("10.77.1.2:50000", "10.77.2.2:4433", "10.77.2.1:40001");
}

static void test_nat_ipv6(void **state)
{
    (void)state;
    nat_both_ways("[fd77:1::2]:50000", "[fd77:2::2]:4433", "[fd77:2::1]:40001");
}

/* The UDP checksum of IPv4 may be absent (0): it stays absent. */
static void test_nat_ipv4_no_udp_checksum(void **state)
{
    (void)state;
    struct qasm_flow out = F("10.77.1.2:50000", "10.77.2.2:4433"), nat = F("10.77.2.1:40001",
                                                                           "10.77.2.2:4433");
    struct qasm_xdp_ekey ek = qasm_xdp_ekey_flow(&out.src, &out.dst);
    put_entry(&ek, "10.77.1.2:50000", "10.77.2.1:40001", 0);
    put_flow(&out, QASM_XDP_FROM_CLIENT, &nat, &ek, 0);
    struct frame in = mkframe(&out, SHORT, sizeof(SHORT), 64, 0);
    struct frame want = mkframe(&nat, SHORT, sizeof(SHORT), 63, 0);
    in.b[14 + 26] = in.b[14 + 27] = 0;
    want.b[14 + 26] = want.b[14 + 27] = 0;
    expect(&in, if_in, XDP_TX, &want);
}

/* A VLAN-tagged frame: the tag is kept, the rest rewritten. */
static void test_vlan(void **state)
{
    (void)state;
    struct qasm_flow out = F("10.77.1.2:50000", "10.77.2.2:4433"), nat = F("10.77.2.1:40001",
                                                                           "10.77.2.2:4433");
    struct qasm_xdp_ekey ek = qasm_xdp_ekey_flow(&out.src, &out.dst);
    put_entry(&ek, "10.77.1.2:50000", "10.77.2.1:40001", 0);
    put_flow(&out, QASM_XDP_FROM_CLIENT, &nat, &ek, 0);
    struct frame in = mkframe(&out, SHORT, sizeof(SHORT), 64, 1);
    struct frame want = mkframe(&nat, SHORT, sizeof(SHORT), 63, 1);
    expect(&in, if_in, XDP_TX, &want);
}

/* No flow: up to the slow path unchanged. */
static void test_new_flow_goes_up(void **state)
{
    (void)state;
    struct qasm_flow out = F("10.77.1.2:50000", "10.77.2.2:4433");
    struct frame in = mkframe(&out, SHORT, sizeof(SHORT), 64, 0);
    expect(&in, if_in, XDP_PASS, NULL);
    assert_int_equal(counter(QASM_XDP_C_PASS_NEW), 1);
}

/* ---- aware modes ---- */

/* Aware: a client Initial (long header) goes up even on a known 5-tuple. */
static void test_initial_goes_up(void **state)
{
    (void)state;
    config(QASM_XDP_NAT, 1, 0, 0, 0);
    struct qasm_flow out = F("10.77.1.2:50000", "10.77.2.2:4433");
    struct qasm_xdp_ekey ek = qasm_xdp_ekey_flow(&out.src, &out.dst);
    put_entry(&ek, "10.77.1.2:50000", "10.77.2.1:40001", 0);
    put_flow(&out, QASM_XDP_FROM_CLIENT, &out, &ek, 0);
    struct frame in = mkframe(&out, INITIAL, sizeof(INITIAL), 64, 0);
    expect(&in, if_in, XDP_PASS, NULL);
    assert_int_equal(counter(QASM_XDP_C_PASS_LONG), 1);
    /* Default mode: the same long header is just a packet of the flow. */
    config(QASM_XDP_NAT, 0, 0, 0, 0);
    struct frame want = mkframe(&out, INITIAL, sizeof(INITIAL), 63, 0);
    expect(&in, if_in, XDP_TX, &want);
}

/* A NAT connection (O-DCID keyed; the caller sets the configuration) seen from 10.77.1.2:50000, public 10.77.2.1:40001. */
static struct qasm_xdp_ekey conn_setup(int attest_new)
{
    struct qasm_cid odcid = {.len = 8, .data = {0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8}};
    struct qasm_cid dcid = {.len = 8, .data = {0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8}};
    struct qasm_xdp_ekey ek = qasm_xdp_ekey_conn(&odcid);
    struct qasm_flow out = F("10.77.1.2:50000", "10.77.2.2:4433");
    struct qasm_flow nat = F("10.77.2.1:40001", "10.77.2.2:4433"), ret = F("10.77.2.2:4433",
                                                                           "10.77.2.1:40001");
    put_entry(&ek, "10.77.1.2:50000", "10.77.2.1:40001", 0);
    put_flow(&out, QASM_XDP_FROM_CLIENT, &nat, &ek, 0);
    put_flow(&ret, QASM_XDP_FROM_SERVER, &ret, &ek, QASM_XDP_F_DST_CLIENT);
    struct qasm_xdp_srv sk = qasm_xdp_srv_of(&out.dst);
    uint32_t len = 8;
    assert_int_equal(bpf_map__update_elem(skel->maps.servers, &sk, sizeof(sk), &len, 4, 0), 0);
    struct qasm_xdp_cid ck = qasm_xdp_cid_of(&dcid);
    assert_int_equal(bpf_map__update_elem(skel->maps.dcids, &ck, sizeof(ck), &ek, sizeof(ek), 0),
                     0);
    if (attest_new) {
        struct qasm_addr c2 = A("10.77.1.3:50001");
        struct qasm_xdp_attest ak = qasm_xdp_attest_of(&ek, &c2);
        uint64_t now = 1;
        assert_int_equal(bpf_map__update_elem(skel->maps.attested, &ak, sizeof(ak), &now, 8, 0),
                         0);
    }
    return ek;
}

/* Proactive: the new address is attested in the map: the migration stays in the kernel. */
static void test_migration_attested(void **state)
{
    (void)state;
    config(QASM_XDP_NAT, 1, 0, 0, 0);
    struct qasm_xdp_ekey ek = conn_setup(1);
    struct qasm_flow mig = F("10.77.1.3:50001", "10.77.2.2:4433");
    struct qasm_flow nat = F("10.77.2.1:40001", "10.77.2.2:4433");
    expect_fwd(&mig, if_in, &nat);
    assert_int_equal(counter(QASM_XDP_C_MIGRATED), 1);
    struct qasm_xdp_entry e = get_entry(&ek);
    struct qasm_addr c2 = A("10.77.1.3:50001");
    assert_memory_equal(e.client, c2.ip, 16);
    assert_int_equal(ntohs(e.client_port), 50001);
    /* The return traffic follows the connection to its new address. */
    struct qasm_flow ret = F("10.77.2.2:4433", "10.77.2.1:40001"), back = F("10.77.2.2:4433",
                                                                            "10.77.1.3:50001");
    expect_fwd(&ret, if_out, &back);
    /* The next packet of the new path is a plain flow hit. */
    expect_fwd(&mig, if_in, &nat);
    assert_int_equal(counter(QASM_XDP_C_MIGRATED), 1);
    /* The client sends from its old address again: the return traffic follows it back. */
    struct qasm_flow old = F("10.77.1.2:50000", "10.77.2.2:4433");
    expect_fwd(&old, if_in, &nat);
    struct qasm_addr c1 = A("10.77.1.2:50000");
    e = get_entry(&ek);
    assert_memory_equal(e.client, c1.ip, 16);
    assert_int_equal(ntohs(e.client_port), 50000);
}

/* The same DCID from an address nobody attested (a hijack, or the tracker not told yet). */
static void test_migration_unattested(void **state)
{
    (void)state;
    config(QASM_XDP_NAT, 1, 0, 0, 0);
    struct qasm_xdp_ekey ek = conn_setup(0);
    struct qasm_flow mig = F("10.77.1.9:6666", "10.77.2.2:4433");
    struct frame in = mkframe(&mig, SHORT, sizeof(SHORT), 64, 0);
    expect(&in, if_in, XDP_PASS, NULL);
    assert_int_equal(counter(QASM_XDP_C_PASS_UNATTESTED), 1);
    assert_int_equal(counter(QASM_XDP_C_MIGRATED), 0);
    /* Never the victim's mapping: no flow for the attacker, the return path unchanged. */
    struct qasm_xdp_fkey k = qasm_xdp_fkey_of(&mig, QASM_XDP_FROM_CLIENT);
    struct qasm_xdp_flow v;
    assert_int_equal(bpf_map__lookup_elem(skel->maps.flows, &k, sizeof(k), &v, sizeof(v), 0),
                     -ENOENT);
    struct qasm_xdp_entry e = get_entry(&ek);
    struct qasm_addr c1 = A("10.77.1.2:50000");
    assert_memory_equal(e.client, c1.ip, 16);
    /* An unknown DCID from a new 5-tuple: a new flow for the core. */
    uint8_t other[sizeof(SHORT)];
    memcpy(other, SHORT, sizeof(SHORT));
    other[1] = 0xee;
    in = mkframe(&mig, other, sizeof(other), 64, 0);
    expect(&in, if_in, XDP_PASS, NULL);
    assert_int_equal(counter(QASM_XDP_C_PASS_NEW), 1);
}

/* ---- the entries' slots: freed, handed to another entry ---- */

/*
 * Removes entry |ek| as qasm-mbox does: its slot freed with a new
 * generation written into the kernel's value; `slots` forgets it unless
 * |keep_index| (a removal racing a migration's first packet). The freed ref.
 */
static struct qasm_xdp_ref free_entry(const struct qasm_xdp_ekey *ek, int keep_index)
{
    struct qasm_xdp_ref freed;
    assert_int_equal(qasm_xdp_slots_free(slots, ek, &freed), 0);
    struct qasm_xdp_entry e;
    memset(&e, 0, sizeof(e));
    e.gen = freed.gen;
    assert_int_equal(bpf_map__update_elem(skel->maps.entries, &freed.slot, 4, &e, sizeof(e), 0),
                     0);
    if (!keep_index)
        assert_int_equal(bpf_map__delete_elem(skel->maps.slots, ek, sizeof(*ek), 0), 0);
    return freed;
}

/* Another NAT entry, 10.77.1.5:50005 as 10.77.2.1:40005: it takes the slot freed last. */
static struct qasm_xdp_ekey other_entry(struct qasm_flow *b, struct qasm_flow *b_nat)
{
    *b = F("10.77.1.5:50005", "10.77.2.2:4433");
    *b_nat = F("10.77.2.1:40005", "10.77.2.2:4433");
    struct qasm_xdp_ekey eb = qasm_xdp_ekey_flow(&b->src, &b->dst);
    put_entry(&eb, "10.77.1.5:50005", "10.77.2.1:40005", 0);
    put_flow(b, QASM_XDP_FROM_CLIENT, b_nat, &eb, 0);
    return eb;
}

/*
 * A flow whose entry was freed goes up (the core decides again); once the
 * slot serves another entry, the stale flows still go up, both ways: never
 * that entry's bucket or client address, while its own flow works.
 */
static void test_slot_freed_and_reused(void **state)
{
    (void)state;
    struct qasm_flow a = F("10.77.1.2:50000", "10.77.2.2:4433"), a_nat = F("10.77.2.1:40001",
                                                                           "10.77.2.2:4433");
    struct qasm_flow a_ret = F("10.77.2.2:4433", "10.77.2.1:40001"), a_back = F("10.77.2.2:4433",
                                                                                "10.77.1.2:50000");
    struct qasm_xdp_ekey ea = qasm_xdp_ekey_flow(&a.src, &a.dst);
    put_entry(&ea, "10.77.1.2:50000", "10.77.2.1:40001", 0);
    put_flow(&a, QASM_XDP_FROM_CLIENT, &a_nat, &ea, 0);
    put_flow(&a_ret, QASM_XDP_FROM_SERVER, &a_ret, &ea, QASM_XDP_F_DST_CLIENT);
    expect_fwd(&a, if_in, &a_nat);
    expect_fwd(&a_ret, if_out, &a_back);
    struct qasm_xdp_ref old = ref_of(&ea), freed = free_entry(&ea, 0);
    assert_int_equal(freed.slot, old.slot);
    assert_int_not_equal(freed.gen, old.gen);
    struct frame in = mkframe(&a, SHORT, sizeof(SHORT), 64, 0);
    struct frame ret = mkframe(&a_ret, SHORT, sizeof(SHORT), 64, 0);
    expect(&in, if_in, XDP_PASS, NULL);
    assert_int_equal(counter(QASM_XDP_C_PASS_NEW), 1);
    struct qasm_flow b, b_nat;
    struct qasm_xdp_ekey eb = other_entry(&b, &b_nat);
    struct qasm_xdp_ref rb = ref_of(&eb);
    assert_int_equal(rb.slot, old.slot); /* the same slot, a generation of its own */
    assert_int_not_equal(rb.gen, old.gen);
    assert_int_not_equal(rb.gen, freed.gen);
    expect(&in, if_in, XDP_PASS, NULL);
    expect(&ret, if_out, XDP_PASS, NULL); /* not to B's client 10.77.1.5:50005 */
    assert_int_equal(counter(QASM_XDP_C_PASS_NEW), 3);
    expect_fwd(&b, if_in, &b_nat);
    assert_int_equal(counter(QASM_XDP_C_TX), 3);
    struct qasm_xdp_entry e = get_entry(&eb);
    struct qasm_addr cb = A("10.77.1.5:50005");
    assert_memory_equal(e.client, cb.ip, 16);
    assert_int_equal(ntohs(e.client_port), 50005);
}

/*
 * A migration's first packet (aware) whose connection's entry was freed:
 * up as a new flow, even while `slots` still names the slot (the removal
 * racing the packet) and the slot serves another entry, which keeps its
 * client address; no flow is stored for the new path.
 */
static void test_migration_slot_freed(void **state)
{
    (void)state;
    config(QASM_XDP_NAT, 1, 0, 0, 0);
    struct qasm_xdp_ekey ek = conn_setup(1);
    free_entry(&ek, 1);
    struct qasm_flow b, b_nat;
    struct qasm_xdp_ekey eb = other_entry(&b, &b_nat);
    struct qasm_flow mig = F("10.77.1.3:50001", "10.77.2.2:4433");
    struct frame in = mkframe(&mig, SHORT, sizeof(SHORT), 64, 0);
    expect(&in, if_in, XDP_PASS, NULL);
    assert_int_equal(counter(QASM_XDP_C_PASS_NEW), 1);
    assert_int_equal(counter(QASM_XDP_C_MIGRATED), 0);
    struct qasm_xdp_fkey k = qasm_xdp_fkey_of(&mig, QASM_XDP_FROM_CLIENT);
    struct qasm_xdp_flow v;
    assert_int_equal(bpf_map__lookup_elem(skel->maps.flows, &k, sizeof(k), &v, sizeof(v), 0),
                     -ENOENT);
    struct qasm_xdp_entry e = get_entry(&eb);
    struct qasm_addr cb = A("10.77.1.5:50005");
    assert_memory_equal(e.client, cb.ip, 16);
    expect_fwd(&b, if_in, &b_nat);
}

/* LB, aware: an attested new client address keeps the connection's backend, both ways. */
static void test_lb_migration_attested(void **state)
{
    (void)state;
    config(QASM_XDP_LB, 1, 0, 0, 0);
    struct qasm_cid odcid = {.len = 8, .data = {0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8}};
    struct qasm_cid dcid = {.len = 8, .data = {0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8}};
    struct qasm_xdp_ekey ek = qasm_xdp_ekey_conn(&odcid);
    put_entry(&ek, "10.77.1.2:50000", "10.77.2.2:4434", 0);
    struct qasm_flow vip = F("10.77.1.2:50000", "10.77.1.1:443");
    struct qasm_xdp_srv sk = qasm_xdp_srv_of(&vip.dst);
    uint32_t len = 8;
    assert_int_equal(bpf_map__update_elem(skel->maps.servers, &sk, sizeof(sk), &len, 4, 0), 0);
    struct qasm_xdp_cid ck = qasm_xdp_cid_of(&dcid);
    assert_int_equal(bpf_map__update_elem(skel->maps.dcids, &ck, sizeof(ck), &ek, sizeof(ek), 0),
                     0);
    struct qasm_addr c2 = A("10.77.1.2:50007");
    struct qasm_xdp_attest ak = qasm_xdp_attest_of(&ek, &c2);
    uint64_t now = 1;
    assert_int_equal(bpf_map__update_elem(skel->maps.attested, &ak, sizeof(ak), &now, 8, 0), 0);
    struct qasm_flow mig = F("10.77.1.2:50007", "10.77.1.1:443"), to_b = F("10.77.1.2:50007",
                                                                          "10.77.2.2:4434");
    expect_fwd(&mig, if_in, &to_b);
    assert_int_equal(counter(QASM_XDP_C_MIGRATED), 1);
    /* The backend's answer to the new address leaves from the VIP. */
    struct qasm_flow ret = F("10.77.2.2:4434", "10.77.1.2:50007"), back = F("10.77.1.1:443",
                                                                            "10.77.1.2:50007");
    expect_fwd(&ret, if_out, &back);
}

/* RL, aware: a migrated connection keeps drawing from its one bucket, in both directions. */
static void test_rl_migration_shares_bucket(void **state)
{
    (void)state;
    config(QASM_XDP_RATELIMIT, 1, 1, 2000000000ull, 0); /* burst 2 */
    struct qasm_xdp_ekey ek = conn_setup(1); /* NAT-shaped maps; the function is RL here */
    struct qasm_xdp_entry e = get_entry(&ek);
    e.rl_tat = qasm_xdp_rl_full(T0); /* full: two packets' worth */
    set_entry(&ek, &e);
    struct qasm_flow mig = F("10.77.1.3:50001", "10.77.2.2:4433"), ret = F("10.77.2.2:4433",
                                                                           "10.77.1.3:50001");
    expect_fwd(&mig, if_in, &mig);
    expect_fwd(&ret, if_out, &ret);
    struct frame in = mkframe(&mig, SHORT, sizeof(SHORT), 64, 0), out;
    assert_int_equal(run(&in, if_in, &out), XDP_DROP);
    assert_int_equal(counter(QASM_XDP_C_MIGRATED), 1);
    assert_int_equal(counter(QASM_XDP_C_RATE_LIMITED), 1);
}

/* The flows of a path the kernel migrated to, when the bucket then drops the packet: both
 * stored as seen now (never 0: the sweep would take them for idle and send the server's
 * answers up to the core, which does not know the path). */
static void test_rl_migration_dropped_flows_seen(void **state)
{
    (void)state;
    config(QASM_XDP_RATELIMIT, 1, 1, 2000000000ull, 0); /* burst 2 */
    struct qasm_xdp_ekey ek = conn_setup(1);
    struct qasm_xdp_entry e = get_entry(&ek);
    e.rl_tat = qasm_xdp_rl_full(T0) + 2000000000000ull * 1024; /* empty */
    set_entry(&ek, &e);
    struct qasm_flow mig = F("10.77.1.3:50001", "10.77.2.2:4433"), ret = F("10.77.2.2:4433",
                                                                           "10.77.1.3:50001");
    struct frame in = mkframe(&mig, SHORT, sizeof(SHORT), 64, 0), out;
    assert_int_equal(run(&in, if_in, &out), XDP_DROP);
    assert_int_equal(counter(QASM_XDP_C_MIGRATED), 1);
    struct qasm_xdp_fkey k1 = qasm_xdp_fkey_of(&mig, QASM_XDP_FROM_CLIENT);
    struct qasm_xdp_fkey k2 = qasm_xdp_fkey_of(&ret, QASM_XDP_FROM_SERVER);
    struct qasm_xdp_flow v;
    assert_int_equal(bpf_map__lookup_elem(skel->maps.flows, &k1, sizeof(k1), &v, sizeof(v), 0), 0);
    assert_true(v.last_seen > 0);
    assert_int_equal(bpf_map__lookup_elem(skel->maps.flows, &k2, sizeof(k2), &v, sizeof(v), 0), 0);
    assert_true(v.last_seen > 0);
    assert_int_equal(v.entry.kind, QASM_XDP_E_CONN);
}

/* ---- LB and the rate limiter ---- */

static void test_lb(void **state)
{
    (void)state;
    config(QASM_XDP_LB, 0, 0, 0, 0);
    struct qasm_flow in_f = F("10.77.1.2:50000", "10.77.1.1:443"), to_b = F("10.77.1.2:50000",
                                                                            "10.77.2.2:4434");
    struct qasm_flow ret = F("10.77.2.2:4434", "10.77.1.2:50000"), back = F("10.77.1.1:443",
                                                                            "10.77.1.2:50000");
    struct qasm_xdp_ekey ek = qasm_xdp_ekey_flow(&in_f.src, &in_f.dst);
    put_entry(&ek, "10.77.1.2:50000", "10.77.2.2:4434", 0);
    put_flow(&in_f, QASM_XDP_FROM_CLIENT, &to_b, &ek, 0);
    put_flow(&ret, QASM_XDP_FROM_SERVER, &back, &ek, 0);
    expect_fwd(&in_f, if_in, &to_b);
    expect_fwd(&ret, if_out, &back);
}

static void test_rate_limit_exhausted(void **state)
{
    (void)state;
    /* 0.001 token/s, burst 2; the entry's bucket is full. */
    config(QASM_XDP_RATELIMIT, 0, 1, 2000000000ull, 0);
    struct qasm_flow f = F("10.77.1.2:50000", "10.77.2.2:4433"), r = F("10.77.2.2:4433",
                                                                       "10.77.1.2:50000");
    struct qasm_xdp_ekey ek = qasm_xdp_ekey_flow(&f.src, &f.dst);
    put_entry(&ek, "10.77.1.2:50000", "10.77.2.2:4433", qasm_xdp_rl_full(T0));
    put_flow(&f, QASM_XDP_FROM_CLIENT, &f, &ek, 0);
    put_flow(&r, QASM_XDP_FROM_SERVER, &r, &ek, 0);
    expect_fwd(&f, if_in, &f);
    /* Both directions draw from the one bucket. */
    expect_fwd(&r, if_out, &r);
    struct frame in = mkframe(&f, SHORT, sizeof(SHORT), 64, 0), out;
    struct frame in2 = mkframe(&r, SHORT, sizeof(SHORT), 64, 0);
    assert_int_equal(run(&in, if_in, &out), XDP_DROP);
    assert_int_equal(run(&in2, if_out, &out), XDP_DROP);
    assert_int_equal(counter(QASM_XDP_C_RATE_LIMITED), 2);
    assert_int_equal(counter(QASM_XDP_C_RL_CONTENDED), 0);
    /* Two tokens owed (the burst): the refusals changed nothing. */
    struct qasm_xdp_cfg c;
    uint32_t zero = 0;
    assert_int_equal(bpf_map__lookup_elem(skel->maps.config, &zero, 4, &c, sizeof(c), 0), 0);
    assert_int_equal(get_entry(&ek).rl_tat - qasm_xdp_rl_full(T0), c.rl_tolerance);
    assert_int_equal(c.rl_tolerance, 2 * c.rl_interval);
}

/* The refill: empty 10 ms ago at 1000 tokens/s: full again (5), the packet takes one. */
static void test_rate_limit_refill(void **state)
{
    (void)state;
    config(QASM_XDP_RATELIMIT, 0, 1000000, 5000000000ull, 0); /* 1000 tokens/s, burst 5 */
    struct qasm_flow f = F("10.77.1.2:50000", "10.77.2.2:4433");
    struct qasm_xdp_ekey ek = qasm_xdp_ekey_flow(&f.src, &f.dst);
    uint64_t tick = 1000000ull << QASM_XDP_RL_SHIFT; /* 1 ms a token */
    put_entry(&ek, "10.77.1.2:50000", "10.77.2.2:4433", qasm_xdp_rl_full(T0) + 5 * tick);
    put_flow(&f, QASM_XDP_FROM_CLIENT, &f, &ek, 0);
    struct frame in = mkframe(&f, SHORT, sizeof(SHORT), 64, 0), out;
    assert_int_equal(run(&in, if_in, &out), XDP_DROP); /* empty at T0 */
    set_clock(T0 + 10000000ull);
    expect_fwd(&f, if_in, &f);
    assert_int_equal(get_entry(&ek).rl_tat, qasm_xdp_rl_full(T0 + 10000000ull) + tick);
}

static void test_rate_limit_bytes(void **state)
{
    (void)state;
    config(QASM_XDP_RATELIMIT, 0, 1000, 20000000000ull, 1); /* 1 byte/s, burst 20 bytes */
    struct qasm_flow f = F("10.77.1.2:50000", "10.77.2.2:4433");
    struct qasm_xdp_ekey ek = qasm_xdp_ekey_flow(&f.src, &f.dst);
    put_entry(&ek, "10.77.1.2:50000", "10.77.2.2:4433", qasm_xdp_rl_full(T0));
    put_flow(&f, QASM_XDP_FROM_CLIENT, &f, &ek, 0);
    struct frame in = mkframe(&f, SHORT, sizeof(SHORT), 64, 0), out; /* 14 bytes */
    assert_int_equal(run(&in, if_in, &out), XDP_TX);
    assert_int_equal(run(&in, if_in, &out), XDP_DROP);
    /* 14 bytes owed, 6 left. */
    uint64_t per_byte = 1000000000ull << QASM_XDP_RL_SHIFT; /* 1 s a byte */
    assert_int_equal(get_entry(&ek).rl_tat - qasm_xdp_rl_full(T0), 14 * per_byte);
}

/* ---- the kernel's bucket against the core's (middleboxes/core/bucket.h) ---- */

/* One packet of a sequence: |dt| ns after the previous one, |plen| bytes of UDP payload. */
struct rl_step {
    uint64_t dt;
    uint16_t plen;
};

/* A deterministic pseudo-random sequence of |n| steps: gaps below |dt_max|, payloads of
 * 14 (the short header) to |plen_max| bytes. */
static void rl_steps(struct rl_step *s, size_t n, uint64_t dt_max, uint16_t plen_max,
                     uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        s[i].dt = (uint64_t)(seed >> 8) % dt_max;
        seed = seed * 1103515245u + 12345u;
        s[i].plen = (uint16_t)(14 + (seed >> 8) % (uint32_t)(plen_max - 13));
    }
}

/*
 * Runs |s| through the program (the configuration's clock at each packet's
 * time, from |t0|) and through the core's bucket of |rate| and |burst|:
 * every decision the same. Both must have passed and dropped some.
 */
static void rl_compare(double rate, double burst, int bytes, uint64_t t0, const struct rl_step *s,
                       size_t n)
{
    struct qasm_bucket_params p;
    assert_int_equal(qasm_bucket_params_init(&p, rate, burst), 0);
    struct qasm_xdp_cfg c;
    assert_int_equal(qasm_xdp_cfg_rate(&c, &p, bytes ? 65535 : 1), 0); /* exact */
    config(QASM_XDP_RATELIMIT, 0, p.rate_milli, p.cap, bytes);
    struct qasm_flow f = F("10.77.1.2:50000", "10.77.2.2:4433");
    struct qasm_xdp_ekey ek = qasm_xdp_ekey_flow(&f.src, &f.dst);
    put_entry(&ek, "10.77.1.2:50000", "10.77.2.2:4433", qasm_xdp_rl_full(t0));
    put_flow(&f, QASM_XDP_FROM_CLIENT, &f, &ek, 0);
    struct qasm_bucket b;
    qasm_bucket_init(&b, &p, t0);
    uint8_t payload[440] = {0};
    memcpy(payload, SHORT, sizeof(SHORT));
    uint64_t now = t0;
    size_t passed = 0;
    for (size_t i = 0; i < n; i++) {
        now += s[i].dt;
        set_clock(now);
        assert_true(s[i].plen >= sizeof(SHORT) && s[i].plen <= sizeof(payload));
        struct frame in = mkframe(&f, payload, s[i].plen, 64, 0), out;
        int got = run(&in, if_in, &out) == XDP_TX;
        int want = qasm_bucket_take(&b, &p, bytes ? s[i].plen : 1, now);
        if (got != want) {
            print_error("step %zu (t0 + %llu ns, %u bytes): kernel %d, core %d\n", i,
                        (unsigned long long)(now - t0), s[i].plen, got, want);
            fail();
        }
        passed += (size_t)got;
    }
    assert_true(passed > 0 && passed < n);
    assert_int_equal(counter(QASM_XDP_C_RATE_LIMITED), n - passed);
}

/* Burst to exhaustion at one instant, then a token's time short by 1 ns, then that 1 ns. */
static void test_rl_core_burst(void **state)
{
    (void)state;
    struct rl_step s[11] = {{0, 14}};
    s[9].dt = 999999; /* 1000 tokens/s: a token takes 1 ms */
    s[10].dt = 1;
    for (size_t i = 0; i < 11; i++)
        s[i].plen = 14;
    rl_compare(1000, 5, 0, T0, s, 11);
}

/* Refill over time: gaps of 0 to 2 ms at 1000 tokens/s, burst 5; and 1e6/s, burst 32. */
static void test_rl_core_refill(void **state)
{
    (void)state;
    static struct rl_step s[400];
    rl_steps(s, 400, 2000000, 14, 7);
    rl_compare(1000, 5, 0, T0, s, 400);
    setup(NULL);
    rl_steps(s, 400, 1500, 14, 11);
    rl_compare(1e6, 32, 0, T0, s, 400);
}

/* Long idle (an hour, a day) at 2 tokens/s, burst 3, across the ticks' wrap (2^54 ns). */
static void test_rl_core_idle(void **state)
{
    (void)state;
    static const struct rl_step s[] = {
        {0, 14}, {0, 14}, {0, 14}, {0, 14}, {499999999, 14}, {1, 14}, {500000000, 14}, {0, 14},
        {3600000000000ull, 14}, {0, 14}, {0, 14}, {0, 14}, {999999999, 14}, {1, 14},
        {86400000000000ull, 14}, {0, 14}, {0, 14}, {0, 14}, {0, 14},
    };
    rl_compare(2, 3, 0, (1ull << 54) - 5000000000ull, s, sizeof(s) / sizeof(s[0]));
}

/* Byte cost: 12500 bytes/s, burst 1000 bytes, payloads of 14 to 440 bytes, gaps to 20 ms. */
static void test_rl_core_bytes(void **state)
{
    (void)state;
    static struct rl_step s[400];
    rl_steps(s, 400, 20000000, 440, 3);
    rl_compare(12500, 1000, 1, T0, s, 400);
}

/* One thread's share of the race below: |frame| run |repeat| times. */
struct rl_racer {
    const struct frame *in;
    uint32_t repeat;
    int rc;
};

static void *rl_race(void *arg)
{
    struct rl_racer *r = arg;
    struct xdp_md ctx = xdp_ctx(r->in, if_in);
    /* (Not bpft_run: its assertions are for the test's own thread.) */
    LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = r->in->b, .data_size_in = (uint32_t)r->in->len,
                .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = r->repeat);
    r->rc = bpf_prog_test_run_opts(bpf_program__fd(skel->progs.qasm_xdp), &o);
    return NULL;
}

/*
 * Two CPUs drawing from one bucket at once (no refill: the clock stands
 * still): exactly the burst goes through, never more, however the
 * compare-and-swaps interleave; a packet that lost every try is counted
 * apart, never let through.
 */
static void test_rl_race(void **state)
{
    (void)state;
    config(QASM_XDP_RATELIMIT, 0, 1000000, 200000000000000ull, 0); /* 1000/s, burst 200000 */
    struct qasm_flow f = F("10.77.1.2:50000", "10.77.2.2:4433");
    struct qasm_xdp_ekey ek = qasm_xdp_ekey_flow(&f.src, &f.dst);
    put_entry(&ek, "10.77.1.2:50000", "10.77.2.2:4433", qasm_xdp_rl_full(T0));
    put_flow(&f, QASM_XDP_FROM_CLIENT, &f, &ek, 0);
    struct qasm_xdp_cfg c;
    uint32_t zero = 0;
    assert_int_equal(bpf_map__lookup_elem(skel->maps.config, &zero, 4, &c, sizeof(c), 0), 0);
    c.keep_ttl = 1; /* the repeats run on the one frame: its TTL must not run out */
    assert_int_equal(bpf_map__update_elem(skel->maps.config, &zero, 4, &c, sizeof(c), 0), 0);
    struct frame in = mkframe(&f, SHORT, sizeof(SHORT), 64, 0);
    struct rl_racer r[2] = {{&in, 300000, -1}, {&in, 300000, -1}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, rl_race, &r[i]), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(r[i].rc, 0);
    }
    uint64_t passed = counter(QASM_XDP_C_TX), limited = counter(QASM_XDP_C_RATE_LIMITED);
    uint64_t contended = counter(QASM_XDP_C_RL_CONTENDED);
    printf("figure: xdp bucket race: 2 x 300000 packets on one bucket of 200000: %llu passed, "
           "%llu refused, %llu dropped after 4 lost swaps\n", (unsigned long long)passed,
           (unsigned long long)limited, (unsigned long long)contended);
    assert_int_equal(passed, 200000);
    assert_int_equal(passed + limited + contended, 600000);
    assert_int_equal(get_entry(&ek).rl_tat - qasm_xdp_rl_full(T0), c.rl_tolerance);
}

/* What the kernel cannot take exactly is said: a rounded interval, a clamped range. */
static void test_rl_cfg_rate(void **state)
{
    (void)state;
    struct qasm_bucket_params p;
    struct qasm_xdp_cfg c;
    assert_int_equal(qasm_bucket_params_init(&p, 3, 10), 0);
    assert_int_equal(qasm_xdp_cfg_rate(&c, &p, 1), 1);
    assert_int_equal(c.rl_interval, ((1000000000000ull << QASM_XDP_RL_SHIFT) + 1500) / 3000);
    assert_int_equal(qasm_bucket_params_init(&p, 0.001, 1e10), 0);
    assert_int_equal(qasm_xdp_cfg_rate(&c, &p, 65535), -ERANGE);
    assert_true(c.rl_interval * 65535 + c.rl_tolerance < QASM_XDP_RL_HORIZON);
}

/* ---- the slow path's charge (qasm_xdp_rl_charge): one budget for both paths ---- */

/* Runs the charge program on slot |ref| for |cost| tokens: its enum qasm_xdp_charge_rc. */
static int charge(struct qasm_xdp_ref ref, uint64_t cost)
{
    struct qasm_xdp_charge ch;
    memset(&ch, 0, sizeof(ch));
    ch.ref = ref;
    ch.cost = cost;
    LIBBPF_OPTS(bpf_test_run_opts, o, .ctx_in = &ch, .ctx_size_in = sizeof(ch));
    assert_int_equal(bpf_prog_test_run_opts(bpf_program__fd(skel->progs.qasm_xdp_rl_charge), &o),
                     0);
    return (int)o.retval;
}

/*
 * At a frozen clock, a connection's packets through the slow path (the
 * charge) and through the kernel (XDP) take from one bucket: of 12 tried,
 * alternately, exactly the burst (5) pass in all, and the slot's word ends
 * where the burst's worth of takes leaves it.
 */
static void test_rl_charge_shares_budget(void **state)
{
    (void)state;
    config(QASM_XDP_RATELIMIT, 1, 1, 5000000000ull, 0); /* 0.001 token/s, burst 5 */
    struct qasm_flow f = F("10.77.1.2:50000", "10.77.2.2:4433");
    struct qasm_cid odcid = {.len = 8, .data = {0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8}};
    struct qasm_xdp_ekey ek = qasm_xdp_ekey_conn(&odcid);
    put_entry(&ek, "10.77.1.2:50000", "10.77.2.2:4433", qasm_xdp_rl_full(T0));
    put_flow(&f, QASM_XDP_FROM_CLIENT, &f, &ek, 0);
    struct qasm_xdp_ref ref = ref_of(&ek);
    struct frame in = mkframe(&f, SHORT, sizeof(SHORT), 64, 0), out;
    int slow = 0, fast = 0;
    for (int i = 0; i < 12; i++) {
        if (i % 2 == 0) {
            int rc = charge(ref, 1);
            assert_true(rc == QASM_XDP_CHARGE_ALLOWED || rc == QASM_XDP_CHARGE_LIMITED);
            slow += rc == QASM_XDP_CHARGE_ALLOWED;
        } else {
            int act = run(&in, if_in, &out);
            assert_true(act == XDP_TX || act == XDP_DROP);
            fast += act == XDP_TX;
        }
    }
    assert_int_equal(slow + fast, 5);
    assert_int_equal(slow, 3); /* charges 0, 2, 4; packets 1, 3 */
    assert_int_equal(counter(QASM_XDP_C_RATE_LIMITED), 6 - fast); /* the kernel's own refusals */
    struct qasm_xdp_cfg c;
    uint32_t zero = 0;
    assert_int_equal(bpf_map__lookup_elem(skel->maps.config, &zero, 4, &c, sizeof(c), 0), 0);
    assert_int_equal(get_entry(&ek).rl_tat - qasm_xdp_rl_full(T0), c.rl_tolerance);
    /* Refused charges took nothing; a second later (0.001/s) still nothing to give. */
    set_clock(T0 + 1000000000ull);
    assert_int_equal(charge(ref, 1), QASM_XDP_CHARGE_LIMITED);
}

/* The charge's edges: a touch (cost 0) only refreshes last_seen; bytes as cost; a slot
 * freed (another generation) is GONE and takes nothing. */
static void test_rl_charge_edges(void **state)
{
    (void)state;
    config(QASM_XDP_RATELIMIT, 0, 1000, 20000000000ull, 1); /* 1 byte/s, burst 20 bytes */
    struct qasm_flow f = F("10.77.1.2:50000", "10.77.2.2:4433");
    struct qasm_xdp_ekey ek = qasm_xdp_ekey_flow(&f.src, &f.dst);
    put_entry(&ek, "10.77.1.2:50000", "10.77.2.2:4433", qasm_xdp_rl_full(T0));
    struct qasm_xdp_ref ref = ref_of(&ek);
    assert_int_equal(charge(ref, 0), QASM_XDP_CHARGE_ALLOWED);
    struct qasm_xdp_entry e = get_entry(&ek);
    assert_int_equal(e.rl_tat, qasm_xdp_rl_full(T0));
    assert_true(e.last_seen > 0);
    assert_int_equal(charge(ref, 14), QASM_XDP_CHARGE_ALLOWED);
    assert_int_equal(charge(ref, 7), QASM_XDP_CHARGE_LIMITED); /* 6 bytes left */
    assert_int_equal(charge(ref, 6), QASM_XDP_CHARGE_ALLOWED);
    uint64_t per_byte = 1000000000ull << QASM_XDP_RL_SHIFT;
    assert_int_equal(get_entry(&ek).rl_tat - qasm_xdp_rl_full(T0), 20 * per_byte);
    struct qasm_xdp_ref stale = ref;
    stale.gen++;
    assert_int_equal(charge(stale, 1), QASM_XDP_CHARGE_GONE);
    stale = ref;
    stale.slot = bpf_map__max_entries(skel->maps.entries); /* beyond the array */
    assert_int_equal(charge(stale, 1), QASM_XDP_CHARGE_GONE);
}

/* ---- what goes up: truncated, malformed, non-UDP, fragments, TTL ---- */

/* Every prefix of a frame of a known flow goes up unchanged (never TX, never a crash). */
static void truncated_at_every_boundary(const char *c, const char *s)
{
    struct qasm_flow f = F(c, s);
    struct qasm_xdp_ekey ek = qasm_xdp_ekey_flow(&f.src, &f.dst);
    put_entry(&ek, c, s, 0);
    put_flow(&f, QASM_XDP_FROM_CLIENT, &f, &ek, 0);
    struct frame full = mkframe(&f, SHORT, sizeof(SHORT), 64, 0), out;
    for (size_t n = ETH_HLEN; n < full.len; n++) {
        struct frame in = full;
        in.len = n;
        assert_int_equal(run(&in, if_in, &out), XDP_PASS);
        bpft_assert_frame(&out, &in);
    }
    assert_int_equal(counter(QASM_XDP_C_PASS_MALFORMED), full.len - ETH_HLEN);
    assert_int_equal(run(&full, if_in, &out), XDP_TX);
}

static void test_truncated_ipv4(void **state)
{
    (void)state;
    truncated_at_every_boundary("10.77.1.2:50000", "10.77.2.2:4433");
}

static void test_truncated_ipv6(void **state)
{
    (void)state;
    truncated_at_every_boundary("[fd77:1::2]:50000", "[fd77:2::2]:4433");
}

/* A frame of a known flow with byte |off| (from the IP header) set to |v|: goes up as |c|. */
static void mangled(const struct qasm_flow *f, size_t off, uint8_t v, int c)
{
    struct frame in = mkframe(f, SHORT, sizeof(SHORT), 64, 0);
    in.b[ETH_HLEN + off] = v;
    uint64_t before = counter(c);
    expect(&in, if_in, XDP_PASS, NULL);
    assert_int_equal(counter(c), before + 1);
}

static void test_malformed_nonudp_fragments(void **state)
{
    (void)state;
    struct qasm_flow f = F("10.77.1.2:50000", "10.77.2.2:4433"), f6 = F("[fd77:1::2]:50000",
                                                                        "[fd77:2::2]:4433");
    struct qasm_xdp_ekey ek = qasm_xdp_ekey_flow(&f.src, &f.dst);
    put_entry(&ek, "10.77.1.2:50000", "10.77.2.2:4433", 0);
    put_flow(&f, QASM_XDP_FROM_CLIENT, &f, &ek, 0);
    put_flow(&f6, QASM_XDP_FROM_CLIENT, &f6, &ek, 0);
    mangled(&f, 0, 0x44, QASM_XDP_C_PASS_MALFORMED);   /* IHL 4 */
    mangled(&f, 0, 0x65, QASM_XDP_C_PASS_MALFORMED);   /* version 6 in an IPv4 frame */
    mangled(&f, 0, 0x4f, QASM_XDP_C_PASS_MALFORMED);   /* IHL 15: past the frame */
    mangled(&f, 3, 0xff, QASM_XDP_C_PASS_MALFORMED);   /* total length past the frame */
    mangled(&f, 25, 0x09, QASM_XDP_C_PASS_MALFORMED);  /* UDP length disagrees */
    mangled(&f, 9, 6, QASM_XDP_C_PASS_NOT_UDP);        /* TCP */
    mangled(&f, 9, 1, QASM_XDP_C_PASS_NOT_UDP);        /* ICMP */
    mangled(&f, 6, 0x20, QASM_XDP_C_PASS_FRAGMENT);    /* more fragments */
    mangled(&f, 7, 0x10, QASM_XDP_C_PASS_FRAGMENT);    /* a fragment offset */
    mangled(&f, 8, 1, QASM_XDP_C_PASS_TTL);            /* TTL 1 */
    mangled(&f6, 6, 44, QASM_XDP_C_PASS_FRAGMENT);     /* IPv6 fragment header */
    mangled(&f6, 6, 0, QASM_XDP_C_PASS_FRAGMENT);      /* hop-by-hop options */
    mangled(&f6, 6, 58, QASM_XDP_C_PASS_NOT_UDP);      /* ICMPv6 */
    mangled(&f6, 7, 1, QASM_XDP_C_PASS_TTL);           /* hop limit 1 */
    mangled(&f6, 5, 0xff, QASM_XDP_C_PASS_MALFORMED);  /* payload length past the frame */
    /* ARP: not IP. */
    struct frame in = mkframe(&f, SHORT, sizeof(SHORT), 64, 0);
    in.b[12] = 0x08, in.b[13] = 0x06;
    expect(&in, if_in, XDP_PASS, NULL);
    assert_int_equal(counter(QASM_XDP_C_PASS_NOT_IP), 1);
    /* Neither interface of the hop. */
    in = mkframe(&f, SHORT, sizeof(SHORT), 64, 0);
    config(QASM_XDP_NAT, 0, 0, 0, 0);
    struct qasm_xdp_cfg c;
    uint32_t zero = 0;
    assert_int_equal(bpf_map__lookup_elem(skel->maps.config, &zero, 4, &c, sizeof(c), 0), 0);
    c.ifindex_out = 999;
    assert_int_equal(bpf_map__update_elem(skel->maps.config, &zero, 4, &c, sizeof(c), 0), 0);
    expect(&in, if_out, XDP_PASS, NULL);
    assert_int_equal(counter(QASM_XDP_C_PASS_OTHER_IF), 1);
}

/* ---- forwarding through the FIB ---- */

/* The FIB asked as from lo: a known flow leaves by bpf_redirect to the outside, MACs set. */
static void fib_redirect(const char *c, const char *srv, const char *pub)
{
    struct qasm_xdp_cfg cfg;
    uint32_t zero = 0;
    assert_int_equal(bpf_map__lookup_elem(skel->maps.config, &zero, 4, &cfg, sizeof(cfg), 0), 0);
    cfg.no_fib = 0;
    cfg.fib_ifindex = 1; /* lo */
    assert_int_equal(bpf_map__update_elem(skel->maps.config, &zero, 4, &cfg, sizeof(cfg), 0), 0);
    struct qasm_flow out = F(c, srv), nat = F(pub, srv);
    struct qasm_xdp_ekey ek = qasm_xdp_ekey_flow(&out.src, &out.dst);
    put_entry(&ek, c, pub, 0);
    put_flow(&out, QASM_XDP_FROM_CLIENT, &nat, &ek, 0);
    struct frame in = mkframe(&out, SHORT, sizeof(SHORT), 64, 0);
    struct frame want = mkframe(&nat, SHORT, sizeof(SHORT), 63, 0), got;
    static const uint8_t macs[12] = {2, 0, 0, 0, 0, 0x22, 2, 0, 0, 0, 0, 0x11};
    memcpy(want.b, macs, 12);
    assert_int_equal(run(&in, if_in, &got), XDP_REDIRECT);
    bpft_assert_frame(&got, &want);
    assert_int_equal(counter(QASM_XDP_C_FORWARDED), 1);
    /* A destination without a neighbour entry: up, unchanged (the slow path resolves it). */
    struct qasm_flow out2 = out;
    out2.dst.ip[out2.dst.family == AF_INET ? 3 : 15] = 3;
    put_flow(&out2, QASM_XDP_FROM_CLIENT, &out2, &ek, 0);
    in = mkframe(&out2, SHORT, sizeof(SHORT), 64, 0);
    expect(&in, if_in, XDP_PASS, NULL);
    assert_int_equal(counter(QASM_XDP_C_PASS_NO_ROUTE), 1);
}

static void test_fib_redirect_ipv4(void **state)
{
    (void)state;
    fib_redirect("10.77.1.2:50000", "10.77.2.2:4433", "10.77.2.1:40001");
}

static void test_fib_redirect_ipv6(void **state)
{
    (void)state;
    fib_redirect("[fd77:1::2]:50000", "[fd77:2::2]:4433", "[fd77:2::1]:40001");
}

/* ---- the next hop cached in the flow ---- */

/* The FIB asked as from lo, a next hop cached for |ttl_ns|. */
static void config_fib(uint64_t ttl_ns)
{
    struct qasm_xdp_cfg cfg;
    uint32_t zero = 0;
    assert_int_equal(bpf_map__lookup_elem(skel->maps.config, &zero, 4, &cfg, sizeof(cfg), 0), 0);
    cfg.no_fib = 0;
    cfg.fib_ifindex = 1; /* lo */
    cfg.nh_ttl_ns = ttl_ns;
    assert_int_equal(bpf_map__update_elem(skel->maps.config, &zero, 4, &cfg, sizeof(cfg), 0), 0);
}

static struct qasm_xdp_flow get_flow(const struct qasm_flow *key, int dir)
{
    struct qasm_xdp_fkey k = qasm_xdp_fkey_of(key, dir);
    struct qasm_xdp_flow v;
    assert_int_equal(bpf_map__lookup_elem(skel->maps.flows, &k, sizeof(k), &v, sizeof(v), 0), 0);
    return v;
}

static void neigh(const char *addr, int mac)
{
    char cmd[160];
    if (mac)
        snprintf(cmd, sizeof(cmd), "ip neigh replace %s lladdr 02:00:00:00:00:%02x dev %s "
                 "nud permanent", addr, mac, veth);
    else
        snprintf(cmd, sizeof(cmd), "ip neigh del %s dev %s", addr, veth);
    assert_int_equal(system(cmd), 0);
}

/* |in| on |ifindex| leaves by |act| as |l3| (TTL - 1) with the destination MAC 02:..:|mac|. */
static void expect_nh(const struct frame *in, int ifindex, int act, const struct frame *l3,
                      int mac)
{
    struct frame want = *l3, got;
    static const uint8_t macs[12] = {2, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0x11};
    memcpy(want.b, macs, 12);
    want.b[5] = (uint8_t)mac;
    assert_int_equal(run(in, ifindex, &got), act);
    bpft_assert_frame(&got, &want);
}

/* The NAT flow of 10.77.1.2:50000 -> 10.77.2.2:4433 (public 10.77.2.1:40001) in the maps. */
static void nat_flow(struct qasm_flow *out, struct qasm_flow *nat)
{
    *out = F("10.77.1.2:50000", "10.77.2.2:4433");
    *nat = F("10.77.2.1:40001", "10.77.2.2:4433");
    struct qasm_xdp_ekey ek = qasm_xdp_ekey_flow(&out->src, &out->dst);
    put_entry(&ek, "10.77.1.2:50000", "10.77.2.1:40001", 0);
    put_flow(out, QASM_XDP_FROM_CLIENT, nat, &ek, 0);
}

/* Within the bound the cached next hop is used: a changed neighbour is not seen yet. */
static void test_nexthop_cached(void **state)
{
    (void)state;
    config_fib(3600ull * 1000000000ull);
    struct qasm_flow out, nat;
    nat_flow(&out, &nat);
    struct frame in = mkframe(&out, SHORT, sizeof(SHORT), 64, 0);
    struct frame want = mkframe(&nat, SHORT, sizeof(SHORT), 63, 0);
    expect_nh(&in, if_in, XDP_REDIRECT, &want, 0x22);
    assert_int_equal(counter(QASM_XDP_C_FIB_LOOKUP), 1);
    struct qasm_xdp_flow v = get_flow(&out, QASM_XDP_FROM_CLIENT);
    assert_true(v.nh.at > 0);
    assert_int_equal(v.nh.ifindex, if_out);
    assert_int_equal(v.nh.dmac[5], 0x22);
    expect_nh(&in, if_in, XDP_REDIRECT, &want, 0x22);
    neigh("10.77.2.2", 0x33);
    expect_nh(&in, if_in, XDP_REDIRECT, &want, 0x22); /* cached: the old MAC, no lookup */
    assert_int_equal(counter(QASM_XDP_C_FIB_LOOKUP), 1);
    assert_int_equal(counter(QASM_XDP_C_FORWARDED), 3);
    /* A longer packet than the lookup's MTU check saw asks the FIB again (and sees 0x33). */
    uint8_t pl[300] = {0x41};
    struct frame big = mkframe(&out, pl, sizeof(pl), 64, 0);
    struct frame bigw = mkframe(&nat, pl, sizeof(pl), 63, 0);
    expect_nh(&big, if_in, XDP_REDIRECT, &bigw, 0x33);
    expect_nh(&in, if_in, XDP_REDIRECT, &want, 0x33);
    assert_int_equal(counter(QASM_XDP_C_FIB_LOOKUP), 2);
    /* Userspace writing the flow again clears its cache. */
    struct qasm_xdp_ekey ek = qasm_xdp_ekey_flow(&out.src, &out.dst);
    put_flow(&out, QASM_XDP_FROM_CLIENT, &nat, &ek, 0);
    expect_nh(&in, if_in, XDP_REDIRECT, &want, 0x33);
    assert_int_equal(counter(QASM_XDP_C_FIB_LOOKUP), 3);
}

/* Past the bound the FIB is asked again: a new MAC is followed, a gone neighbour sends up. */
static void test_nexthop_refresh(void **state)
{
    (void)state;
    config_fib(1000000); /* 1 ms */
    struct qasm_flow out, nat;
    nat_flow(&out, &nat);
    struct frame in = mkframe(&out, SHORT, sizeof(SHORT), 64, 0);
    struct frame want = mkframe(&nat, SHORT, sizeof(SHORT), 63, 0);
    expect_nh(&in, if_in, XDP_REDIRECT, &want, 0x22);
    neigh("10.77.2.2", 0x33);
    usleep(20000); /* past the 1 ms bound (bpf_ktime_get_ns is monotonic) */
    expect_nh(&in, if_in, XDP_REDIRECT, &want, 0x33);
    assert_int_equal(counter(QASM_XDP_C_FIB_LOOKUP), 2);
    neigh("10.77.2.2", 0);
    usleep(20000);
    expect(&in, if_in, XDP_PASS, NULL); /* no neighbour: up, unchanged, the cache cleared */
    assert_int_equal(counter(QASM_XDP_C_PASS_NO_ROUTE), 1);
    assert_int_equal(get_flow(&out, QASM_XDP_FROM_CLIENT).nh.at, 0);
    neigh("10.77.2.2", 0x44);
    expect_nh(&in, if_in, XDP_REDIRECT, &want, 0x44); /* asked at once, not after the bound */
    assert_int_equal(counter(QASM_XDP_C_FIB_LOOKUP), 4);
}

/* A NAT return flow's destination is the entry's latest client: a new one asks the FIB. */
static void test_nexthop_follows_client(void **state)
{
    (void)state;
    config_fib(3600ull * 1000000000ull);
    struct qasm_flow ret = F("10.77.2.2:4433", "10.77.2.1:40001");
    struct qasm_flow back = F("10.77.2.2:4433", "10.77.3.2:50000");
    struct qasm_flow back2 = F("10.77.2.2:4433", "10.77.3.3:50001");
    struct qasm_xdp_ekey ek = qasm_xdp_ekey_flow(&back.dst, &back.src);
    put_entry(&ek, "10.77.3.2:50000", "10.77.2.1:40001", 0);
    put_flow(&ret, QASM_XDP_FROM_SERVER, &ret, &ek, QASM_XDP_F_DST_CLIENT);
    struct frame in = mkframe(&ret, SHORT, sizeof(SHORT), 64, 0);
    struct frame want = mkframe(&back, SHORT, sizeof(SHORT), 63, 0);
    /* Out of the interface it came in on (the clients' route is on the veth here): XDP_TX. */
    expect_nh(&in, if_out, XDP_TX, &want, 0x55);
    expect_nh(&in, if_out, XDP_TX, &want, 0x55);
    assert_int_equal(counter(QASM_XDP_C_FIB_LOOKUP), 1);
    put_entry(&ek, "10.77.3.3:50001", "10.77.2.1:40001", 0); /* the client moved */
    want = mkframe(&back2, SHORT, sizeof(SHORT), 63, 0);
    expect_nh(&in, if_out, XDP_TX, &want, 0x66);
    assert_int_equal(counter(QASM_XDP_C_FIB_LOOKUP), 2);
}

/* The neighbours as prepare() made them, whatever a test changed. */
static int neigh_restore(void **state)
{
    (void)state;
    neigh("10.77.2.2", 0x22);
    return 0;
}

/* ---- cost per packet (a figure for the log, never asserted: timing is the machine's) ---- */

/* Mean ns per run of |prog| on |in| over |repeat| runs (BPF_PROG_TEST_RUN); |act| expected. */
static double cost(struct bpf_program *prog, const struct frame *in, int act, uint32_t repeat)
{
    struct xdp_md ctx = xdp_ctx(in, if_in);
    struct bpft_run r = {.ctx = &ctx, .ctx_size = sizeof(ctx), .repeat = repeat};
    assert_int_equal(bpft_run(prog, in, NULL, &r), act);
    return (double)r.duration;
}

static void test_cost_figures(void **state)
{
    (void)state;
    enum { FLOWS = 100000, REPEAT = 1000000 };
    /* The repeats run on one buffer: an identity rewrite (the work is the same) and the
     * TTL kept, so every run finds the flow. */
    struct qasm_xdp_cfg c;
    uint32_t zero = 0;
    assert_int_equal(bpf_map__lookup_elem(skel->maps.config, &zero, 4, &c, sizeof(c), 0), 0);
    c.keep_ttl = 1;
    assert_int_equal(bpf_map__update_elem(skel->maps.config, &zero, 4, &c, sizeof(c), 0), 0);
    struct qasm_flow out = F("10.77.1.2:50000", "10.77.2.2:4433");
    struct qasm_xdp_ekey ek = qasm_xdp_ekey_flow(&out.src, &out.dst);
    put_entry(&ek, "10.77.1.2:50000", "10.77.2.1:40001", 0);
    put_flow(&out, QASM_XDP_FROM_CLIENT, &out, &ek, 0);
    uint8_t pl[400] = {0x41};
    struct frame in = mkframe(&out, pl, sizeof(pl), 64, 0);
    double floor = cost(skel->progs.qasm_xdp_pass, &in, XDP_PASS, REPEAT);
    double one = cost(skel->progs.qasm_xdp, &in, XDP_TX, REPEAT);
    /* Other flows in the table (the lookups' cache behaviour changes with its size). */
    for (uint32_t i = 0; i < FLOWS; i++) {
        struct qasm_flow o2 = out;
        o2.src.ip[2] = (uint8_t)(i >> 16), o2.src.ip[3] = (uint8_t)(i >> 8);
        o2.src.port = (uint16_t)(1000 + (i & 0xff));
        put_flow(&o2, QASM_XDP_FROM_CLIENT, &out, &ek, 0);
    }
    double many = cost(skel->progs.qasm_xdp, &in, XDP_TX, REPEAT);
    c.aware = 1;
    assert_int_equal(bpf_map__update_elem(skel->maps.config, &zero, 4, &c, sizeof(c), 0), 0);
    double aware = cost(skel->progs.qasm_xdp, &in, XDP_TX, REPEAT);
    c.no_fib = 0;
    c.fib_ifindex = 1; /* lo: the route and neighbour of prepare() */
    assert_int_equal(bpf_map__update_elem(skel->maps.config, &zero, 4, &c, sizeof(c), 0), 0);
    double fib = cost(skel->progs.qasm_xdp, &in, XDP_REDIRECT, REPEAT);
    c.nh_ttl_ns = QASM_XDP_NH_TTL_NS;
    assert_int_equal(bpf_map__update_elem(skel->maps.config, &zero, 4, &c, sizeof(c), 0), 0);
    double cached = cost(skel->progs.qasm_xdp, &in, XDP_REDIRECT, REPEAT);
    printf("figure: xdp cost per packet (BPF_PROG_TEST_RUN x %d, 400-byte payload): pass-only "
           "%.0f ns; nat known flow without the FIB %.0f ns (1 flow), %.0f ns (%d flows), aware "
           "mode %.0f ns; with the FIB lookup and bpf_redirect %.0f ns, with the next hop "
           "cached %.0f ns\n", REPEAT, floor, one, many, FLOWS + 1, aware, fib, cached);
}

/* ---- the program: load once, in a namespace of our own ---- */

/* At exit, whatever ended the run (a failed assertion too): the pair removed. The namespace
 * of our own would take it along anyway; no exit path is left to depend on that. */
static void veth_del(void)
{
    char cmd[80];
    snprintf(cmd, sizeof(cmd), "ip link del %s 2>/dev/null", veth);
    int rc = system(cmd);
    (void)rc; /* already gone, or never made */
}

/* The outside: a route and a resolved neighbour for the FIB fixtures. 0, or -1. */
static int veth_add(void)
{
    snprintf(veth, sizeof(veth), "qxdp%d", (int)getpid());
    snprintf(veth_peer, sizeof(veth_peer), "qxdp%dp", (int)getpid());
    atexit(veth_del);
    char cmd[1400];
    snprintf(cmd, sizeof(cmd), "V=%s; ip link set lo up && ip link add $V type veth peer name %s && "
             "ip link set $V address 02:00:00:00:00:11 && ip link set $V up && "
             "ip link set %s up && ip addr add 10.77.2.1/24 dev $V && "
             "ip addr add fd77:2::1/64 dev $V nodad && "
             "ip neigh replace 10.77.2.2 lladdr 02:00:00:00:00:22 dev $V nud permanent && "
             "ip neigh replace fd77:2::2 lladdr 02:00:00:00:00:22 dev $V nud permanent && "
             "ip addr add 10.77.3.1/24 dev $V && "
             "ip neigh replace 10.77.3.2 lladdr 02:00:00:00:00:55 dev $V nud permanent && "
             "ip neigh replace 10.77.3.3 lladdr 02:00:00:00:00:66 dev $V nud permanent && "
             "sysctl -qw net.ipv4.conf.lo.forwarding=1 net.ipv6.conf.lo.forwarding=1",
             veth, veth_peer, veth_peer);
    if (system(cmd) != 0)
        return -1;
    if_out = (int)if_nametoindex(veth);
    return if_out > 0 ? 0 : -1;
}

/* 0, or 77 with the reason said (no root, no namespaces, no BPF). */
static int prepare(void)
{
    int rc = bpft_need_root("test_xdp_prog", "BPF_PROG_TEST_RUN, a network namespace",
                            "QASM_XDP_VERBOSE");
    if (rc)
        return rc;
    if (unshare(CLONE_NEWNET) != 0) {
        printf("SKIP: test_xdp_prog: unshare(CLONE_NEWNET): %s\n", strerror(errno));
        return 77;
    }
    if (veth_add() != 0) {
        printf("SKIP: test_xdp_prog: cannot make the veth pair %s (ip link)\n", veth);
        return 77;
    }
    skel = qasm_xdp__open_and_load();
    return bpft_loaded("test_xdp_prog", skel, "XDP program");
}

int main(void)
{
    int rc = prepare();
    if (rc)
        return rc;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_nat_ipv4, setup),
        cmocka_unit_test_setup(test_nat_ipv6, setup),
        cmocka_unit_test_setup(test_nat_ipv4_no_udp_checksum, setup),
        cmocka_unit_test_setup(test_vlan, setup),
        cmocka_unit_test_setup(test_new_flow_goes_up, setup),
        cmocka_unit_test_setup(test_initial_goes_up, setup),
        cmocka_unit_test_setup(test_migration_attested, setup),
        cmocka_unit_test_setup(test_migration_unattested, setup),
        cmocka_unit_test_setup(test_slot_freed_and_reused, setup),
        cmocka_unit_test_setup(test_migration_slot_freed, setup),
        cmocka_unit_test_setup(test_lb, setup),
        cmocka_unit_test_setup(test_lb_migration_attested, setup),
        cmocka_unit_test_setup(test_rl_migration_shares_bucket, setup),
        cmocka_unit_test_setup(test_rl_migration_dropped_flows_seen, setup),
        cmocka_unit_test_setup(test_rate_limit_exhausted, setup),
        cmocka_unit_test_setup(test_rate_limit_bytes, setup),
        cmocka_unit_test_setup(test_rate_limit_refill, setup),
        cmocka_unit_test_setup(test_rl_core_burst, setup),
        cmocka_unit_test_setup(test_rl_core_refill, setup),
        cmocka_unit_test_setup(test_rl_core_idle, setup),
        cmocka_unit_test_setup(test_rl_core_bytes, setup),
        cmocka_unit_test_setup(test_rl_race, setup),
        cmocka_unit_test_setup(test_rl_cfg_rate, setup),
        cmocka_unit_test_setup(test_rl_charge_shares_budget, setup),
        cmocka_unit_test_setup(test_rl_charge_edges, setup),
        cmocka_unit_test_setup(test_truncated_ipv4, setup),
        cmocka_unit_test_setup(test_truncated_ipv6, setup),
        cmocka_unit_test_setup(test_malformed_nonudp_fragments, setup),
        cmocka_unit_test_setup(test_fib_redirect_ipv4, setup),
        cmocka_unit_test_setup(test_fib_redirect_ipv6, setup),
        cmocka_unit_test_setup_teardown(test_nexthop_cached, setup, neigh_restore),
        cmocka_unit_test_setup_teardown(test_nexthop_refresh, setup, neigh_restore),
        cmocka_unit_test_setup(test_nexthop_follows_client, setup),
        cmocka_unit_test_setup(test_cost_figures, setup),
    };
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    qasm_xdp__destroy(skel);
    return rc;
}
#endif
