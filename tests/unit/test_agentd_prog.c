/*
 * test_agentd_prog.c: the eBPF client agent's cgroup_skb programs
 * (agentd/qasm_agentd.bpf.c) run on crafted packets with
 * BPF_PROG_TEST_RUN. For cgroup_skb the kernel takes an Ethernet frame,
 * strips the Ethernet header and runs the program from the IP header, as
 * on a socket's real traffic. Every fixture asserts the verdict (always 1:
 * pass), the events the ring buffer received, and the counters.
 *
 * Needs root and BPF: without them it says SKIP and exits 77
 * (scripts/run-tests.sh reports it skipped), never passes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#ifndef QASM_HAVE_AGENTD
int main(void)
{
    puts("SKIP: test_agentd_prog: qasm-agentd was not built (no BPF toolchain: make deps)");
    return 77;
}
#else

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_ether.h>

#include "addr.h"
#include "ipudp.h"
#include "agentd/agentd_ev.h"
#include "qasm_agentd.skel.h"
#include "tests/unit/bpf_fixture.h"

static struct qasm_agentd *skel;
static struct ring_buffer *rb;

#define MAX_EVS 8
static struct qasm_agentd_ev evs[MAX_EVS];
static int nevs;

/* Initial packets handed up (struct qasm_agentd_initpkt): counted, the last one kept. */
static struct qasm_agentd_initpkt last_init;
static int ninits;

static int on_event(void *ctx, void *data, size_t len)
{
    (void)ctx;
    if (len == sizeof(struct qasm_agentd_initpkt)) {
        memcpy(&last_init, data, sizeof(last_init));
        ninits++;
        return 0;
    }
    assert_int_equal(len, sizeof(struct qasm_agentd_ev));
    if (nevs < MAX_EVS)
        memcpy(&evs[nevs], data, sizeof(evs[0]));
    nevs++;
    return 0;
}

static struct qasm_addr A(const char *s)
{
    struct qasm_addr a;
    assert_int_equal(qasm_addr_parse(&a, s), 0);
    return a;
}

/* An Ethernet frame carrying UDP |src| -> |dst| with |payload| (|plen| bytes, zero-padded to |pad|). */
static struct frame mkframe(const char *src, const char *dst, const uint8_t *payload, size_t plen,
                            size_t pad)
{
    struct frame fr;
    uint8_t body[1400] = {0};
    struct qasm_addr s = A(src), d = A(dst);

    memset(&fr, 0, sizeof(fr));
    memcpy(body, payload, plen);
    uint16_t et = s.family == AF_INET ? ETH_P_IP : ETH_P_IPV6;
    fr.b[12] = (uint8_t)(et >> 8);
    fr.b[13] = (uint8_t)et;
    ssize_t n = qasm_ipudp_build(fr.b + 14, sizeof(fr.b) - 14, &s, &d, body,
                                 pad > plen ? pad : plen, 64);
    assert_true(n > 0);
    fr.len = 14 + (size_t)n;
    return fr;
}

/* Runs the egress or ingress program on |fr|; asserts the verdict is "pass"; collects events. */
static void run(const struct frame *fr, int egress)
{
    struct bpf_program *p = egress ? skel->progs.qasm_agentd_egress : skel->progs.qasm_agentd_ingress;
    struct frame out;

    nevs = 0;
    ninits = 0;
    assert_int_equal(bpft_run(p, fr, &out, NULL), 1); /* never drops */
    assert_int_equal(out.len, fr->len);
    /* Never alters the packet (the kernel rebuilds the Ethernet header it stripped). */
    assert_memory_equal(out.b + ETH_HLEN, fr->b + ETH_HLEN, fr->len - ETH_HLEN);
    ring_buffer__consume(rb);
}

static uint64_t counter(enum qasm_agentd_counter c)
{
    return bpft_counter(skel->maps.counters, (uint32_t)c);
}

/* Empties the flow and server maps so each fixture starts from scratch. */
static int setup(void **state)
{
    (void)state;
    bpft_clear(skel->maps.flows);
    bpft_clear(skel->maps.servers);
    bpft_clear(skel->maps.cands);
    /* The fast path's per-CPU recent flows (a fixture lowers a flow's last_ns). */
    bpft_zero_percpu(skel->maps.recent);
    return 0;
}

/* Long header: first byte, version 1, DCID, SCID. */
static size_t long_hdr(uint8_t *b, uint8_t first, const uint8_t *dcid, uint8_t dl,
                       const uint8_t *scid, uint8_t sl)
{
    size_t n = 0;
    b[n++] = first;
    b[n++] = 0, b[n++] = 0, b[n++] = 0, b[n++] = 1;
    b[n++] = dl;
    memcpy(b + n, dcid, dl), n += dl;
    b[n++] = sl;
    memcpy(b + n, scid, sl), n += sl;
    b[n++] = 0; /* token length / payload follows */
    return n;
}

static const uint8_t ODCID[8] = {0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8};
static const uint8_t CSCID[5] = {0xc1, 0xc2, 0xc3, 0xc4, 0xc5};
static const uint8_t SSCID[9] = {0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59};
static const uint8_t NEWDCID[9] = {0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69};

#define CLIENT4 "10.1.0.2:40000"
#define SERVER4 "192.0.2.7:443"

static struct frame initial(const char *c, const char *s, size_t pad)
{
    uint8_t b[64];
    size_t n = long_hdr(b, 0xc3, ODCID, 8, CSCID, 5);
    return mkframe(c, s, b, n, pad);
}

static void expect_ev(int i, uint8_t kind, const uint8_t *dcid, uint8_t dl)
{
    assert_true(i < nevs);
    assert_int_equal(evs[i].kind, kind);
    assert_int_equal(evs[i].dcid_len, dl);
    assert_memory_equal(evs[i].dcid, dcid, dl);
}

static void client_initial_v4(void **state)
{
    (void)state;
    uint64_t ev0 = counter(QASM_AGENTD_C_EVENTS);
    struct frame f = initial(CLIENT4, SERVER4, 1200);

    run(&f, 1);
    assert_int_equal(nevs, 1);
    expect_ev(0, QASM_AGENTD_EV_INITIAL, ODCID, 8);
    assert_int_equal(evs[0].scid_len, 5);
    assert_memory_equal(evs[0].scid, CSCID, 5);
    assert_int_equal(evs[0].version, 1);
    assert_int_equal(evs[0].flags, QASM_AGENTD_F_LONG | QASM_AGENTD_F_NEW_FLOW);
    assert_int_equal(evs[0].flow.family, AF_INET);
    assert_int_equal(evs[0].flow.lport, 40000);
    assert_int_equal(evs[0].flow.rport, 443);
    assert_memory_equal(evs[0].flow.lip, ((uint8_t[]){10, 1, 0, 2}), 4);
    assert_memory_equal(evs[0].flow.rip, ((uint8_t[]){192, 0, 2, 7}), 4);
    assert_int_equal(counter(QASM_AGENTD_C_EVENTS), ev0 + 1);
    run(&f, 1); /* a retransmitted Initial: nothing new */
    assert_int_equal(nevs, 0);
}

static void client_initial_v6(void **state)
{
    (void)state;
    struct frame f = initial("[2001:db8::2]:40001", "[2001:db8::7]:443", 1250);

    run(&f, 1);
    assert_int_equal(nevs, 1);
    expect_ev(0, QASM_AGENTD_EV_INITIAL, ODCID, 8);
    assert_int_equal(evs[0].flow.family, AF_INET6);
    assert_int_equal(evs[0].flow.lport, 40001);
    assert_memory_equal(evs[0].flow.lip, ((uint8_t[]){0x20, 0x01, 0x0d, 0xb8}), 4);
    assert_int_equal(evs[0].flow.lip[15], 2);
    assert_int_equal(evs[0].flow.rip[15], 7);
}

/* Initial, the server's Initial (its SCID), then the client's Handshake to that SCID. */
static void handshake(void)
{
    uint8_t b[64];
    struct frame f = initial(CLIENT4, SERVER4, 1200);

    run(&f, 1);
    assert_int_equal(nevs, 1);
    f = mkframe(SERVER4, CLIENT4, b, long_hdr(b, 0xc0, CSCID, 5, SSCID, 9), 1200);
    run(&f, 0);
    assert_int_equal(nevs, 1);
    expect_ev(0, QASM_AGENTD_EV_SERVER_CID, CSCID, 5);
    assert_int_equal(evs[0].scid_len, 9);
    assert_memory_equal(evs[0].scid, SSCID, 9);
    run(&f, 0); /* same SCID again: nothing */
    assert_int_equal(nevs, 0);
    f = mkframe(CLIENT4, SERVER4, b, long_hdr(b, 0xe0, SSCID, 9, CSCID, 5), 100);
    run(&f, 1);
    assert_int_equal(nevs, 1);
    expect_ev(0, QASM_AGENTD_EV_DCID, SSCID, 9);
    assert_int_equal(evs[0].flags, QASM_AGENTD_F_LONG);
}

static void server_initial(void **state)
{
    (void)state;
    handshake();
    struct qasm_agentd_skey sk;
    uint8_t len = 0;
    memset(&sk, 0, sizeof(sk));
    sk.family = AF_INET;
    sk.port = 443;
    memcpy(sk.ip, ((uint8_t[]){192, 0, 2, 7}), 4);
    assert_int_equal(bpf_map__lookup_elem(skel->maps.servers, &sk, sizeof(sk), &len, 1, 0), 0);
    assert_int_equal(len, 9);
}

static struct frame short_pkt(const char *c, const char *s, const uint8_t *dcid, size_t dl)
{
    uint8_t b[32] = {0x43};
    memcpy(b + 1, dcid, dl);
    return mkframe(c, s, b, 20, 0);
}

static void short_new_dcid(void **state)
{
    (void)state;
    handshake();
    struct frame f = short_pkt(CLIENT4, SERVER4, SSCID, 9);
    run(&f, 1); /* same DCID as the Handshake: nothing */
    assert_int_equal(nevs, 0);
    f = short_pkt(CLIENT4, SERVER4, NEWDCID, 9);
    run(&f, 1);
    assert_int_equal(nevs, 1);
    expect_ev(0, QASM_AGENTD_EV_DCID, NEWDCID, 9);
    assert_int_equal(evs[0].flags, 0);
    run(&f, 1);
    assert_int_equal(nevs, 0);
    /* Ingress short headers are never reported (their DCID is the client's own CID). */
    f = short_pkt(SERVER4, CLIENT4, CSCID, 5);
    run(&f, 0);
    assert_int_equal(nevs, 0);
}

static void short_new_local_port(void **state)
{
    (void)state;
    handshake();
    struct frame f = short_pkt("10.1.0.2:40100", SERVER4, NEWDCID, 9);
    run(&f, 1);
    assert_int_equal(nevs, 1);
    expect_ev(0, QASM_AGENTD_EV_DCID, NEWDCID, 9);
    assert_int_equal(evs[0].flags, QASM_AGENTD_F_NEW_FLOW);
    assert_int_equal(evs[0].flow.lport, 40100);
    run(&f, 1);
    assert_int_equal(nevs, 0);
    f = short_pkt("10.1.0.9:40100", SERVER4, NEWDCID, 9); /* a new local address, same DCID */
    run(&f, 1);
    assert_int_equal(nevs, 1);
    assert_int_equal(evs[0].flags, QASM_AGENTD_F_NEW_FLOW);
    assert_int_equal(evs[0].flow.lip[3], 9);
}

static void non_quic(void **state)
{
    (void)state;
    uint64_t nq = counter(QASM_AGENTD_C_NOT_QUIC), un = counter(QASM_AGENTD_C_UNATTRIBUTED);
    static const uint8_t dns[12] = {0x12, 0x34, 0x01, 0, 0, 1};
    struct frame f = mkframe(CLIENT4, "192.0.2.53:53", dns, sizeof(dns), 0);

    run(&f, 1); /* the fixed bit is not a filter (RFC 9287 greasing): "unattributed" */
    assert_int_equal(nevs, 0);
    assert_int_equal(counter(QASM_AGENTD_C_UNATTRIBUTED), un + 1);
    f = short_pkt(CLIENT4, SERVER4, NEWDCID, 9); /* short header, server never seen */
    run(&f, 1);
    assert_int_equal(nevs, 0);
    f = initial(CLIENT4, SERVER4, 300); /* an "Initial" below 1200 bytes */
    run(&f, 1);
    assert_int_equal(nevs, 0);
    assert_int_equal(counter(QASM_AGENTD_C_UNATTRIBUTED), un + 3);
    f = mkframe(CLIENT4, SERVER4, dns, 0, 0); /* empty datagram */
    run(&f, 1);
    assert_int_equal(nevs, 0);
    assert_int_equal(counter(QASM_AGENTD_C_NOT_QUIC), nq + 1);
}

static void local_server(void **state)
{
    (void)state;
    /* A peer's Initial arrives first: the flow is a local server's; its replies are not clients'. */
    struct frame in = initial("198.51.100.1:5000", "10.1.0.2:443", 1200);
    run(&in, 0);
    assert_int_equal(nevs, 0);
    uint8_t b[64];
    struct frame out = mkframe("10.1.0.2:443", "198.51.100.1:5000", b,
                               long_hdr(b, 0xc0, CSCID, 5, SSCID, 9), 1200);
    run(&out, 1);
    assert_int_equal(nevs, 0);
}

static void truncated(void **state)
{
    (void)state;
    uint64_t tr = counter(QASM_AGENTD_C_TRUNCATED), nq = counter(QASM_AGENTD_C_NOT_QUIC);
    uint8_t b[64];
    size_t n = long_hdr(b, 0xc3, ODCID, 8, CSCID, 5);
    struct frame f = mkframe(CLIENT4, SERVER4, b, 10, 0); /* cut inside the DCID */

    run(&f, 1);
    assert_int_equal(nevs, 0);
    assert_int_equal(counter(QASM_AGENTD_C_TRUNCATED), tr + 1);
    b[5] = 21; /* DCID length over 20 */
    f = mkframe(CLIENT4, SERVER4, b, n, 1200);
    run(&f, 1);
    assert_int_equal(nevs, 0);
    assert_int_equal(counter(QASM_AGENTD_C_NOT_QUIC), nq + 1);
    handshake();
    uint8_t s[4] = {0x43, 0x51, 0x52, 0x53}; /* short header shorter than the 9-byte DCID */
    f = mkframe(CLIENT4, SERVER4, s, sizeof(s), 0);
    run(&f, 1);
    assert_int_equal(nevs, 0);
    assert_int_equal(counter(QASM_AGENTD_C_TRUNCATED), tr + 2);
}

/* Short header |i| of a flow: first byte |first|, |dcid| (|dl| bytes), then bytes varying with i. */
static struct frame nth_short(const char *c, const char *srv, uint8_t first, const uint8_t *dcid,
                              size_t dl, unsigned i)
{
    uint8_t b[40];
    b[0] = first;
    memcpy(b + 1, dcid, dl);
    for (size_t j = 1 + dl; j < sizeof(b); j++)
        b[j] = (uint8_t)(i * 37 + j * 11 + 1);
    return mkframe(c, srv, b, sizeof(b), 0);
}

/* A connection already running when the programs came: adopted after 8 short headers. */
static void adopt_running(void **state)
{
    (void)state;
    uint64_t ad = counter(QASM_AGENTD_C_ADOPTED);
    for (unsigned i = 0; i < QASM_AGENTD_ADOPT_PACKETS; i++) {
        struct frame f = nth_short("10.1.0.2:41000", "192.0.2.9:443", (uint8_t)(0x40 | (i * 7 % 32)),
                                   NEWDCID, 9, i);
        run(&f, 1);
        assert_int_equal(nevs, i + 1 == QASM_AGENTD_ADOPT_PACKETS ? 1 : 0);
    }
    expect_ev(0, QASM_AGENTD_EV_DCID, NEWDCID, 9);
    assert_int_equal(evs[0].flags, QASM_AGENTD_F_NEW_FLOW | QASM_AGENTD_F_ADOPTED);
    assert_int_equal(counter(QASM_AGENTD_C_ADOPTED), ad + 1);
    struct frame f = nth_short("10.1.0.2:41000", "192.0.2.9:443", 0x45, NEWDCID, 9, 99);
    run(&f, 1); /* now a known flow */
    assert_int_equal(nevs, 0);
    /* Its server is known now: a migrated flow is parsed at once. */
    f = nth_short("10.1.0.2:41001", "192.0.2.9:443", 0x45, SSCID, 9, 1);
    run(&f, 1);
    assert_int_equal(nevs, 1);
    expect_ev(0, QASM_AGENTD_EV_DCID, SSCID, 9);
    assert_int_equal(evs[0].flags, QASM_AGENTD_F_NEW_FLOW);
}

/* Constant first byte (WireGuard-like) or a common prefix under 4 bytes: never adopted. */
static void adopt_refused(void **state)
{
    (void)state;
    static const uint8_t wg[12] = {4, 0, 0, 0, 0x11, 0x22, 0x33, 0x44, 0, 0, 0, 0};
    uint64_t ad = counter(QASM_AGENTD_C_ADOPTED);
    for (unsigned i = 0; i < 2 * QASM_AGENTD_ADOPT_PACKETS; i++) {
        struct frame f = nth_short("10.1.0.2:41002", "192.0.2.10:51820", 4, wg + 1, 11, i);
        run(&f, 1);
        assert_int_equal(nevs, 0);
        f = nth_short("10.1.0.2:41003", "192.0.2.11:443", (uint8_t)(0x40 | i), NEWDCID, 3, i);
        run(&f, 1);
        assert_int_equal(nevs, 0);
    }
    assert_int_equal(counter(QASM_AGENTD_C_ADOPTED), ad);
}

/*
 * Initials of a known client flow go up whole, both ways, at most
 * QASM_AGENTD_INITS_PER_FLOW per flow; the first Initial of a flow (the
 * INITIAL event) and short headers do not.
 */
static void initials_handed_up(void **state)
{
    (void)state;
    uint8_t b[64];
    uint64_t capped = counter(QASM_AGENTD_C_INIT_CAPPED), inits = counter(QASM_AGENTD_C_INITIALS);
    struct frame f = initial(CLIENT4, SERVER4, 1200);

    run(&f, 1);
    assert_int_equal(ninits, 0);
    f = mkframe(SERVER4, CLIENT4, b, long_hdr(b, 0xc0, CSCID, 5, SSCID, 9), 1230);
    run(&f, 0);
    assert_int_equal(ninits, 1);
    assert_int_equal(last_init.kind, QASM_AGENTD_EV_INITIAL_PKT);
    assert_int_equal(last_init.egress, 0);
    assert_int_equal(last_init.len, 1230);
    assert_int_equal(last_init.full_len, 1230);
    assert_int_equal(last_init.flow.lport, 40000);
    assert_memory_equal(last_init.data, f.b + 14 + 28, 1230); /* the UDP payload, unchanged */
    f = mkframe(CLIENT4, SERVER4, b, long_hdr(b, 0xc1, SSCID, 9, CSCID, 5), 1200);
    run(&f, 1);
    assert_int_equal(ninits, 1);
    assert_int_equal(last_init.egress, 1);
    f = short_pkt(CLIENT4, SERVER4, SSCID, 9);
    run(&f, 1);
    assert_int_equal(ninits, 0);
    f = mkframe(CLIENT4, SERVER4, b, long_hdr(b, 0xc1, SSCID, 9, CSCID, 5), 1200);
    for (int i = 2; i < QASM_AGENTD_INITS_PER_FLOW; i++) {
        run(&f, 1);
        assert_int_equal(ninits, 1);
    }
    run(&f, 1);
    assert_int_equal(ninits, 0);
    assert_int_equal(counter(QASM_AGENTD_C_INIT_CAPPED), capped + 1);
    assert_int_equal(counter(QASM_AGENTD_C_INITIALS), inits + QASM_AGENTD_INITS_PER_FLOW);
}

/* Once the client sent a Handshake packet it ignores Initials: none goes up any more. */
static void initials_stop_at_handshake(void **state)
{
    (void)state;
    uint8_t b[64];
    struct frame ci = initial(CLIENT4, SERVER4, 1200);
    struct frame si = mkframe(SERVER4, CLIENT4, b, long_hdr(b, 0xc0, CSCID, 5, SSCID, 9), 1200);
    uint8_t b2[64];
    struct frame hs = mkframe(CLIENT4, SERVER4, b2, long_hdr(b2, 0xe0, SSCID, 9, CSCID, 5), 1200);

    run(&ci, 1);
    run(&si, 0);
    assert_int_equal(ninits, 1);
    run(&hs, 1); /* the client's first Handshake packet */
    assert_int_equal(ninits, 0);
    run(&si, 0); /* a late (or forged) server Initial */
    assert_int_equal(ninits, 0);
    run(&ci, 1);
    assert_int_equal(ninits, 0);
}

/*
 * The fast path (a short header of a known flow, read in place): realistic
 * sizes (an ACK of 47 bytes, a data packet of 1200), the same effects as the
 * full path: counted once, no event while the DCID is the flow's, the DCID
 * compared over its length only (a change in its first or last byte is seen,
 * bytes after it are not part of it), the flow's last_ns refreshed.
 */
static struct frame sized_short(const char *c, const char *s, const uint8_t *dcid, size_t dl,
                                size_t size)
{
    uint8_t b[64];
    b[0] = 0x41;
    memcpy(b + 1, dcid, dl);
    for (size_t j = 1 + dl; j < sizeof(b); j++)
        b[j] = (uint8_t)(0xa0 + j); /* packet number and payload: not zero */
    return mkframe(c, s, b, sizeof(b) < size ? sizeof(b) : size, size);
}

static struct qasm_agentd_fkey flow_key(const char *local, const char *remote)
{
    struct qasm_agentd_fkey k;
    struct qasm_addr l = A(local), r = A(remote);
    memset(&k, 0, sizeof(k));
    k.family = (uint8_t)l.family;
    k.lport = l.port;
    k.rport = r.port;
    memcpy(k.lip, l.ip, 16);
    memcpy(k.rip, r.ip, 16);
    return k;
}

static uint64_t flow_last(const char *local, const char *remote, int reset)
{
    struct qasm_agentd_fkey k = flow_key(local, remote);
    struct qasm_agentd_flow f;
    assert_int_equal(bpf_map__lookup_elem(skel->maps.flows, &k, sizeof(k), &f, sizeof(f), 0), 0);
    uint64_t last = f.last_ns;
    if (reset) {
        f.last_ns = 1;
        assert_int_equal(bpf_map__update_elem(skel->maps.flows, &k, sizeof(k), &f, sizeof(f), 0), 0);
    }
    return last;
}

static void fast_path_same_effects(void **state)
{
    (void)state;
    handshake(); /* the flow's DCID: SSCID, 9 bytes */
    uint64_t pk = counter(QASM_AGENTD_C_PACKETS), ev0 = counter(QASM_AGENTD_C_EVENTS);
    uint8_t d[9];
    struct frame f = sized_short(CLIENT4, SERVER4, SSCID, 9, 47);

    flow_last(CLIENT4, SERVER4, 1);
    run(&f, 1);
    assert_int_equal(nevs, 0);
    assert_int_equal(counter(QASM_AGENTD_C_PACKETS), pk + 1);
    assert_true(flow_last(CLIENT4, SERVER4, 0) > 1); /* touched */
    for (int i = 0; i < 2; i++) { /* the DCID's first, then its last byte differ: a new DCID */
        memcpy(d, SSCID, 9);
        d[i ? 8 : 0] ^= 0x80;
        f = sized_short(CLIENT4, SERVER4, d, 9, 47);
        run(&f, 1);
        assert_int_equal(nevs, 1);
        expect_ev(0, QASM_AGENTD_EV_DCID, d, 9);
        run(&f, 1); /* now the flow's DCID */
        assert_int_equal(nevs, 0);
    }
    /* Back to the first DCID while this CPU's recent flow has the last one: reported again. */
    f = sized_short(CLIENT4, SERVER4, SSCID, 9, 47);
    run(&f, 1);
    assert_int_equal(nevs, 1);
    expect_ev(0, QASM_AGENTD_EV_DCID, SSCID, 9);
    run(&f, 1);
    assert_int_equal(nevs, 0);
    assert_int_equal(counter(QASM_AGENTD_C_PACKETS), pk + 7); /* each packet once */
    assert_int_equal(counter(QASM_AGENTD_C_EVENTS), ev0 + 3);
    /* Ingress short headers, 1200 bytes: counted, the flow touched, never an event. */
    f = sized_short(SERVER4, CLIENT4, CSCID, 5, 1200);
    flow_last(CLIENT4, SERVER4, 1);
    run(&f, 0);
    run(&f, 0);
    assert_int_equal(nevs, 0);
    assert_true(flow_last(CLIENT4, SERVER4, 0) > 1);
    f = sized_short("192.0.2.99:443", CLIENT4, CSCID, 5, 1200); /* no flow: nothing made */
    run(&f, 0);
    assert_int_equal(nevs, 0);
    assert_int_equal(counter(QASM_AGENTD_C_PACKETS), pk + 10);
    struct qasm_agentd_fkey k = flow_key(CLIENT4, "192.0.2.99:443");
    struct qasm_agentd_flow fl;
    assert_int_not_equal(bpf_map__lookup_elem(skel->maps.flows, &k, sizeof(k), &fl, sizeof(fl), 0), 0);
}

/* A 20-byte DCID (the compare's last word) and IPv6, on the fast path. */
static void fast_path_long_dcid_v6(void **state)
{
    (void)state;
    static const uint8_t D20[20] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20};
    uint8_t b[64], d[20];
    const char *c = "[2001:db8::2]:40002", *s = "[2001:db8::7]:443";
    struct frame f = initial(c, s, 1200);

    run(&f, 1);
    f = mkframe(s, c, b, long_hdr(b, 0xc0, CSCID, 5, D20, 20), 1200);
    run(&f, 0);
    expect_ev(0, QASM_AGENTD_EV_SERVER_CID, CSCID, 5);
    f = sized_short(c, s, D20, 20, 60);
    run(&f, 1);
    assert_int_equal(nevs, 1); /* the switch to the server's CID */
    uint64_t pk = counter(QASM_AGENTD_C_PACKETS);
    run(&f, 1);
    assert_int_equal(nevs, 0);
    assert_int_equal(counter(QASM_AGENTD_C_PACKETS), pk + 1);
    memcpy(d, D20, 20);
    d[19] ^= 1;
    f = sized_short(c, s, d, 20, 60);
    run(&f, 1);
    assert_int_equal(nevs, 1);
    expect_ev(0, QASM_AGENTD_EV_DCID, d, 20);
}

/* A local server's flow (role PEER): its short headers are counted, never reported. */
static void fast_path_peer_flow(void **state)
{
    (void)state;
    struct frame in = initial("198.51.100.1:5000", "10.1.0.2:443", 1200);
    run(&in, 0);
    uint64_t pk = counter(QASM_AGENTD_C_PACKETS);
    struct frame out = sized_short("10.1.0.2:443", "198.51.100.1:5000", NEWDCID, 9, 47);
    run(&out, 1);
    run(&out, 1);
    assert_int_equal(nevs, 0);
    assert_int_equal(counter(QASM_AGENTD_C_PACKETS), pk + 2);
}

/* ns per run of |prog| on |f|, repeated QASM_AGENTD_COST_REPEAT times (default 10^6). */
static unsigned cost_of(struct bpf_program *prog, const struct frame *f)
{
    const char *env = getenv("QASM_AGENTD_COST_REPEAT");
    struct bpft_run r = {.repeat = env ? (uint32_t)strtoul(env, NULL, 10) : 1000000};
    assert_int_equal(bpft_run(prog, f, NULL, &r), 1);
    return r.duration;
}

/* ns per run of an Initial that is copied up: the flow's quota is reset before each run. */
static unsigned cost_handed_up(const struct frame *f)
{
    struct qasm_agentd_fkey k;
    struct qasm_agentd_flow fl;
    struct qasm_addr c = A(CLIENT4), srv = A(SERVER4);
    uint64_t sum = 0;
    const unsigned n = 2000;

    memset(&k, 0, sizeof(k));
    k.family = AF_INET;
    k.lport = c.port;
    k.rport = srv.port;
    memcpy(k.lip, c.ip, 16);
    memcpy(k.rip, srv.ip, 16);
    ring_buffer__consume(rb); /* what the repeated runs before left */
    for (unsigned i = 0; i < n; i++) {
        struct bpft_run r = {.repeat = 1};
        assert_int_equal(bpf_map__lookup_elem(skel->maps.flows, &k, sizeof(k), &fl, sizeof(fl), 0), 0);
        fl.inits = 0;
        assert_int_equal(bpf_map__update_elem(skel->maps.flows, &k, sizeof(k), &fl, sizeof(fl), 0), 0);
        bpft_run(skel->progs.qasm_agentd_ingress, f, NULL, &r);
        sum += r.duration;
        ninits = 0;
        ring_buffer__consume(rb);
        assert_int_equal(ninits, 1);
    }
    return (unsigned)(sum / n);
}

/*
 * The cost of the common cases (no event: the flow is known), printed, not
 * asserted: a short header each way (of a real size, on the fast path; and
 * of 20 bytes, too short for the egress fast path), a client Initial (a retransmission on
 * its known flow) and the server's Initial. agentd/bench-agentd.sh collects
 * these lines.
 */
static void cost(void **state)
{
    (void)state;
    handshake();
    uint8_t b[64], b2[64];
    struct frame es = short_pkt(CLIENT4, SERVER4, SSCID, 9);
    struct frame is = short_pkt(SERVER4, CLIENT4, CSCID, 5);
    /* The client's Initials after the server's first are sent to the server's CID. */
    struct frame ei = mkframe(CLIENT4, SERVER4, b, long_hdr(b, 0xc3, SSCID, 9, CSCID, 5), 1200);
    struct frame ii = mkframe(SERVER4, CLIENT4, b2, long_hdr(b2, 0xc0, CSCID, 5, SSCID, 9), 1200);
    struct frame ea = sized_short(CLIENT4, SERVER4, SSCID, 9, 47);
    struct frame id = sized_short(SERVER4, CLIENT4, CSCID, 5, 1200);
    struct {
        const char *what;
        struct bpf_program *prog;
        const struct frame *f;
    } c[] = {
        {"egress short header of a known flow, 47 bytes (an ACK), fast path", skel->progs.qasm_agentd_egress, &ea},
        {"ingress short header of a known flow, 1200 bytes, fast path", skel->progs.qasm_agentd_ingress, &id},
        {"egress short header of a known flow, 20 bytes (full path)", skel->progs.qasm_agentd_egress, &es},
        {"ingress short header of a known flow, 20 bytes", skel->progs.qasm_agentd_ingress, &is},
        {"egress client Initial, 1200 bytes, known flow, copy quota used", skel->progs.qasm_agentd_egress, &ei},
        {"ingress server Initial, 1200 bytes, known SCID, copy quota used", skel->progs.qasm_agentd_ingress, &ii},
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
        print_message("cost: %s: %u ns per run (BPF_PROG_TEST_RUN)\n", c[i].what,
                      cost_of(c[i].prog, c[i].f));
    print_message("cost: ingress server Initial copied to the daemon (1200 bytes): %u ns per run "
                  "(BPF_PROG_TEST_RUN, mean of 2000 single runs)\n", cost_handed_up(&ii));
    nevs = 0;
    ring_buffer__consume(rb);
    assert_int_equal(nevs, 0); /* the common cases emit no event */
}

int main(void)
{
    int rc = bpft_need_root("test_agentd_prog", "BPF_PROG_TEST_RUN", "QASM_TEST_VERBOSE");
    if (rc)
        return rc;
    /* One CPU: the programs keep per-CPU state (the fast path's recent flows), so that
     * every run sees what the run before it left. */
    bpft_one_cpu("test_agentd_prog");
    skel = qasm_agentd__open_and_load();
    rc = bpft_loaded("test_agentd_prog", skel, "programs");
    if (rc)
        return rc;
    rb = ring_buffer__new(bpf_map__fd(skel->maps.events), on_event, NULL, NULL);
    assert_non_null(rb);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(client_initial_v4, setup),
        cmocka_unit_test_setup(client_initial_v6, setup),
        cmocka_unit_test_setup(server_initial, setup),
        cmocka_unit_test_setup(short_new_dcid, setup),
        cmocka_unit_test_setup(short_new_local_port, setup),
        cmocka_unit_test_setup(non_quic, setup),
        cmocka_unit_test_setup(local_server, setup),
        cmocka_unit_test_setup(truncated, setup),
        cmocka_unit_test_setup(adopt_running, setup),
        cmocka_unit_test_setup(adopt_refused, setup),
        cmocka_unit_test_setup(initials_handed_up, setup),
        cmocka_unit_test_setup(initials_stop_at_handshake, setup),
        cmocka_unit_test_setup(fast_path_same_effects, setup),
        cmocka_unit_test_setup(fast_path_long_dcid_v6, setup),
        cmocka_unit_test_setup(fast_path_peer_flow, setup),
        cmocka_unit_test_setup(cost, setup),
    };
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    ring_buffer__free(rb);
    qasm_agentd__destroy(skel);
    return rc;
}
#endif
