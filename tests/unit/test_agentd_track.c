/*
 * test_agentd_track.c: the eBPF client agent's pure core
 * (agentd/agentd_track.c): BPF events in, the library agent's report
 * events out (the same client-agent/agent_state.c core), attribution of
 * new flows, idle expiry and refresh, and the decrypted payloads of
 * --prereg (crafted plaintexts: frames found, tied to their connection),
 * closes: real Initial packets sealed by lib/quic_initial carrying
 * CONNECTION_CLOSE either way (and after a Retry), and --prereg payloads
 * with the server's and the client's CONNECTION_CLOSE.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <sys/socket.h>

#include "quic_initial.h"
#include "agentd/agentd_track.h"

#define MAXOUT 32
static struct qasm_agent_ev out[MAXOUT];
static int nout;
static struct qasm_agent_conn *last_conn; /* valid until the core's next call */
static uint8_t last_odcid0;                /* first O-DCID byte of the last emit */
static qasm_tstamp activity_at;

static void emit(void *arg, struct qasm_agent_conn *c, const struct qasm_agent_evq *q)
{
    (void)arg;
    last_conn = c;
    last_odcid0 = c->odcid.data[0];
    for (size_t i = 0; i < q->n && nout < MAXOUT; i++)
        out[nout++] = q->ev[i];
}

static qasm_tstamp activity(void *arg, const struct qasm_agent_conn *c)
{
    (void)arg;
    (void)c;
    return activity_at;
}

static struct qasm_agentd_track *mk(size_t max)
{
    struct qasm_agentd_track_cfg cfg = {.max_conns = max, .idle = 30 * QASM_SEC,
                                        .refresh = 10 * QASM_SEC, .emit = emit,
                                        .activity = activity};
    nout = 0;
    activity_at = 0;
    return qasm_agentd_track_new(&cfg);
}

static struct qasm_agentd_ev ev(uint8_t kind, uint16_t lport, uint8_t lip_last, uint8_t cidbyte,
                                uint8_t flags)
{
    struct qasm_agentd_ev e;
    memset(&e, 0, sizeof(e));
    e.kind = kind;
    e.flags = flags;
    e.uid = 1000;
    e.flow.family = AF_INET;
    e.flow.lport = lport;
    e.flow.rport = 443;
    e.flow.lip[0] = 127, e.flow.lip[3] = lip_last;
    e.flow.rip[0] = 192, e.flow.rip[1] = 0, e.flow.rip[2] = 2, e.flow.rip[3] = 7;
    e.dcid_len = 8;
    memset(e.dcid, cidbyte, 8);
    e.scid_len = 4;
    memset(e.scid, 0xcc, 4);
    return e;
}

static struct qasm_agentd_ev initial(uint16_t lport, uint8_t cid)
{
    return ev(QASM_AGENTD_EV_INITIAL, lport, 1, cid, QASM_AGENTD_F_LONG | QASM_AGENTD_F_NEW_FLOW);
}

static void test_open_switch_migrate(void **state)
{
    (void)state;
    struct qasm_agentd_track *t = mk(4);
    struct qasm_agentd_ev e = initial(5000, 0xd1);
    struct qasm_agentd_track_stats st;

    assert_non_null(t);
    assert_int_equal(qasm_agentd_track_event(t, &e, 1), 1);
    assert_int_equal(nout, 1);
    assert_int_equal(out[0].type, QASM_AGENT_EV_OPEN);
    assert_int_equal(last_conn->odcid.len, 8);
    assert_int_equal(last_conn->odcid.data[0], 0xd1);
    assert_int_equal(last_conn->scid.data[0], 0xcc);
    assert_int_equal(last_conn->local.port, 5000);
    assert_int_equal(last_conn->remote.port, 443);
    /* The handshake switch to the server's CID. */
    nout = 0;
    e = ev(QASM_AGENTD_EV_DCID, 5000, 1, 0x51, QASM_AGENTD_F_LONG);
    assert_int_equal(qasm_agentd_track_event(t, &e, 2), 1);
    assert_int_equal(nout, 1);
    assert_int_equal(out[0].type, QASM_AGENT_EV_DCID_ACTIVE);
    assert_int_equal(out[0].cid.data[0], 0x51);
    /* A new local port with the same DCID (a rebinding): ADDR only. */
    nout = 0;
    e = ev(QASM_AGENTD_EV_DCID, 5001, 1, 0x51, QASM_AGENTD_F_NEW_FLOW);
    assert_int_equal(qasm_agentd_track_event(t, &e, 3), 1);
    assert_int_equal(nout, 1);
    assert_int_equal(out[0].type, QASM_AGENT_EV_ADDR);
    assert_int_equal(out[0].addr.port, 5001);
    /* A migration to a new address with a fresh DCID: DCID_ACTIVE + ADDR. */
    nout = 0;
    e = ev(QASM_AGENTD_EV_DCID, 5002, 5, 0x61, QASM_AGENTD_F_NEW_FLOW);
    assert_int_equal(qasm_agentd_track_event(t, &e, 4), 1);
    assert_int_equal(nout, 2);
    assert_int_equal(out[0].type, QASM_AGENT_EV_DCID_ACTIVE);
    assert_int_equal(out[0].cid.data[0], 0x61);
    assert_int_equal(out[1].type, QASM_AGENT_EV_ADDR);
    assert_int_equal(out[1].addr.ip[3], 5);
    assert_int_equal(last_conn->naddrs, 3);
    qasm_agentd_track_get_stats(t, &st);
    assert_int_equal(st.opened, 1);
    assert_int_equal(st.dcids, 2);
    assert_int_equal(st.addrs, 2);
    assert_int_equal(st.ambiguous, 0);
    assert_int_equal(st.live, 1);
    qasm_agentd_track_free(t);
}

static void test_unattributed(void **state)
{
    (void)state;
    struct qasm_agentd_track *t = mk(4);
    struct qasm_agentd_ev e = ev(QASM_AGENTD_EV_DCID, 5000, 1, 0x51, QASM_AGENTD_F_NEW_FLOW);
    struct qasm_agentd_track_stats st;

    assert_int_equal(qasm_agentd_track_event(t, &e, 1), 0);
    e = initial(5000, 0xd1);
    assert_int_equal(qasm_agentd_track_event(t, &e, 2), 1);
    /* Another uid's new flow to the same server is not this connection's. */
    e = ev(QASM_AGENTD_EV_DCID, 6000, 1, 0x71, QASM_AGENTD_F_NEW_FLOW);
    e.uid = 0;
    assert_int_equal(qasm_agentd_track_event(t, &e, 3), 0);
    e = ev(QASM_AGENTD_EV_SERVER_CID, 7000, 1, 0x71, QASM_AGENTD_F_LONG);
    assert_int_equal(qasm_agentd_track_event(t, &e, 3), 0);
    qasm_agentd_track_get_stats(t, &st);
    assert_int_equal(st.unattributed, 3);
    assert_int_equal(nout, 1);
    qasm_agentd_track_free(t);
}

static void test_ambiguous_and_full(void **state)
{
    (void)state;
    struct qasm_agentd_track *t = mk(2);
    struct qasm_agentd_ev e = initial(5000, 0xd1);
    struct qasm_agentd_track_stats st;

    qasm_agentd_track_event(t, &e, 1);
    e = initial(5001, 0xd2);
    qasm_agentd_track_event(t, &e, 5);
    e = initial(5002, 0xd3);
    assert_int_equal(qasm_agentd_track_event(t, &e, 6), 0);
    nout = 0;
    e = ev(QASM_AGENTD_EV_DCID, 5009, 1, 0x61, QASM_AGENTD_F_NEW_FLOW);
    assert_int_equal(qasm_agentd_track_event(t, &e, 7), 1);
    assert_int_equal(last_conn->odcid.data[0], 0xd2); /* the one active last */
    qasm_agentd_track_get_stats(t, &st);
    assert_int_equal(st.table_full, 1);
    assert_int_equal(st.ambiguous, 1);
    assert_int_equal(st.opened, 2);
    qasm_agentd_track_free(t);
}

static void test_idle_and_refresh(void **state)
{
    (void)state;
    struct qasm_agentd_track *t = mk(2);
    struct qasm_agentd_ev e = initial(5000, 0xd1);
    struct qasm_agentd_track_stats st;

    qasm_agentd_track_event(t, &e, QASM_SEC);
    nout = 0;
    qasm_agentd_track_tick(t, 5 * QASM_SEC);
    assert_int_equal(nout, 0);
    activity_at = 20 * QASM_SEC; /* packets seen by the kernel keep it alive */
    qasm_agentd_track_tick(t, 12 * QASM_SEC);
    assert_int_equal(nout, 1);
    assert_int_equal(out[0].type, QASM_AGENT_EV_REFRESH);
    nout = 0;
    qasm_agentd_track_tick(t, 45 * QASM_SEC);
    assert_int_equal(nout, 1);
    assert_int_equal(out[0].type, QASM_AGENT_EV_REFRESH);
    nout = 0;
    qasm_agentd_track_tick(t, 51 * QASM_SEC);
    assert_int_equal(nout, 1);
    assert_int_equal(out[0].type, QASM_AGENT_EV_CLOSE);
    assert_int_equal(out[0].reason, QASM_AGENT_CLOSE_IDLE);
    qasm_agentd_track_get_stats(t, &st);
    assert_int_equal(st.closed_idle, 1);
    assert_int_equal(st.live, 0);
    /* The slot is free again; the old flow's next Initial opens anew. */
    nout = 0;
    e = initial(5000, 0xd9);
    assert_int_equal(qasm_agentd_track_event(t, &e, 52 * QASM_SEC), 1);
    assert_int_equal(out[0].type, QASM_AGENT_EV_OPEN);
    qasm_agentd_track_free(t);
}

/* Expiring one connection among several leaves the others attributable. */
static qasm_tstamp act[3];
static qasm_tstamp activity_by_port(void *arg, const struct qasm_agent_conn *c)
{
    (void)arg;
    return act[c->client0.port - 5000];
}

static void test_expire_middle(void **state)
{
    (void)state;
    struct qasm_agentd_track_cfg cfg = {.max_conns = 3, .idle = 30 * QASM_SEC, .emit = emit,
                                        .activity = activity_by_port};
    struct qasm_agentd_track *t = qasm_agentd_track_new(&cfg);
    struct qasm_agentd_track_stats st;

    for (uint8_t i = 0; i < 3; i++) {
        struct qasm_agentd_ev e = initial((uint16_t)(5000 + i), (uint8_t)(0xd0 + i));
        assert_int_equal(qasm_agentd_track_event(t, &e, QASM_SEC), 1);
        act[i] = 40 * QASM_SEC;
    }
    act[1] = 0;
    nout = 0;
    qasm_agentd_track_tick(t, 35 * QASM_SEC);
    assert_int_equal(nout, 1);
    assert_int_equal(out[0].type, QASM_AGENT_EV_CLOSE);
    assert_int_equal(last_odcid0, 0xd1);
    for (uint8_t i = 0; i < 3; i += 2) {
        struct qasm_agentd_ev e = ev(QASM_AGENTD_EV_DCID, (uint16_t)(5000 + i), 1,
                                     (uint8_t)(0x50 + i), QASM_AGENTD_F_LONG);
        nout = 0;
        assert_int_equal(qasm_agentd_track_event(t, &e, 36 * QASM_SEC), 1);
        assert_int_equal(last_conn->odcid.data[0], 0xd0 + i);
    }
    /* A new connection takes the freed room. */
    struct qasm_agentd_ev e = initial(5001, 0xd9);
    assert_int_equal(qasm_agentd_track_event(t, &e, 37 * QASM_SEC), 1);
    qasm_agentd_track_get_stats(t, &st);
    assert_int_equal(st.live, 3);
    assert_int_equal(st.table_full, 0);
    qasm_agentd_track_free(t);
}

/* Adopted flows: a connection keyed by the DCID seen first, from ephemeral ports only. */
static void test_adopt(void **state)
{
    (void)state;
    struct qasm_agentd_track_cfg cfg = {.max_conns = 4, .idle = 30 * QASM_SEC, .emit = emit,
                                        .eph_lo = 32768, .eph_hi = 60999};
    struct qasm_agentd_track *t = qasm_agentd_track_new(&cfg);
    struct qasm_agentd_track_stats st;
    struct qasm_agentd_ev e = ev(QASM_AGENTD_EV_DCID, 443, 1, 0x77,
                                 QASM_AGENTD_F_NEW_FLOW | QASM_AGENTD_F_ADOPTED);

    nout = 0;
    e.scid_len = 0;
    assert_int_equal(qasm_agentd_track_event(t, &e, 1), 0); /* port 443: a server's */
    e.flow.lport = 40000;
    assert_int_equal(qasm_agentd_track_event(t, &e, 2), 1);
    assert_int_equal(nout, 1);
    assert_int_equal(out[0].type, QASM_AGENT_EV_OPEN);
    assert_int_equal(last_conn->odcid.data[0], 0x77);
    assert_int_equal(last_conn->scid.len, 0);
    /* Then it migrates like any other. */
    nout = 0;
    e = ev(QASM_AGENTD_EV_DCID, 40001, 1, 0x78, QASM_AGENTD_F_NEW_FLOW);
    assert_int_equal(qasm_agentd_track_event(t, &e, 3), 1);
    assert_int_equal(nout, 2);
    assert_int_equal(out[1].type, QASM_AGENT_EV_ADDR);
    qasm_agentd_track_get_stats(t, &st);
    assert_int_equal(st.adopted, 1);
    assert_int_equal(st.adopt_refused, 1);
    qasm_agentd_track_free(t);
}

/* A decrypted payload of process |pid|: a short header (DCID |hcid| x 4, a
 * 1-byte packet number) or a long one, an ACK, then |body|. */
static struct qasm_agentd_plain plain(uint32_t pid, uint8_t hcid, int longhdr, const uint8_t *body,
                                      size_t len)
{
    static const uint8_t ack[] = {0x02, 0x05, 0x00, 0x00, 0x00};
    struct qasm_agentd_plain p;
    size_t a = 0;

    memset(&p, 0, sizeof(p));
    p.kind = QASM_AGENTD_EV_PLAIN;
    p.pid_tgid = (uint64_t)pid << 32 | (pid + 1);
    if (longhdr) {
        p.aad[a++] = 0xe0; /* Handshake */
        p.aad[a++] = 0, p.aad[a++] = 0, p.aad[a++] = 0, p.aad[a++] = 1;
        p.aad[a++] = 4;
    } else {
        p.aad[a++] = 0x41;
    }
    memset(p.aad + a, hcid, 4);
    a += 4;
    p.aad[a++] = 0x07; /* packet number */
    p.aad_len = (uint8_t)a;
    memcpy(p.plain, ack, sizeof(ack));
    memcpy(p.plain + sizeof(ack), body, len);
    p.plain_len = (uint16_t)(sizeof(ack) + len);
    p.full_len = p.plain_len;
    return p;
}

/* A NEW_CONNECTION_ID frame: seq, retire 0, an 8-byte CID of |cidbyte|, a token. */
static size_t newcid(uint8_t *b, uint8_t seq, uint8_t cidbyte)
{
    size_t n = 0;
    b[n++] = 0x18;
    b[n++] = seq;
    b[n++] = 0;
    b[n++] = 8;
    memset(b + n, cidbyte, 8);
    n += 8;
    memset(b + n, 0x5a, 16);
    return n + 16;
}

static struct qasm_agentd_ev with_scid(struct qasm_agentd_ev e, uint8_t b)
{
    memset(e.scid, b, 4);
    return e;
}

static void test_plain_spare_then_use(void **state)
{
    (void)state;
    struct qasm_agentd_track *t = mk(4);
    struct qasm_agentd_track_stats st;
    struct qasm_agentd_ev e = initial(5000, 0xd1);
    uint8_t body[64];
    struct qasm_agentd_plain p;

    assert_int_equal(qasm_agentd_track_event(t, &e, 100), 1);
    nout = 0;
    p = plain(77, 0xcc, 0, body, newcid(body, 3, 0xe1));
    assert_int_equal(qasm_agentd_track_plain(t, &p, 200), 1);
    assert_int_equal(nout, 1);
    assert_int_equal(out[0].type, QASM_AGENT_EV_DCID_SPARE);
    assert_int_equal(out[0].seq, 3);
    assert_int_equal(out[0].cid.len, 8);
    assert_int_equal(out[0].cid.data[0], 0xe1);
    /* A retransmitted frame: nothing new. */
    assert_int_equal(qasm_agentd_track_plain(t, &p, 300), 1);
    assert_int_equal(nout, 1);
    /* Its first use on the wire (a migration): active with the frame's sequence number. */
    e = ev(QASM_AGENTD_EV_DCID, 5001, 1, 0xe1, QASM_AGENTD_F_NEW_FLOW);
    nout = 0;
    assert_int_equal(qasm_agentd_track_event(t, &e, 400), 1);
    assert_true(nout >= 1);
    assert_int_equal(out[0].type, QASM_AGENT_EV_DCID_ACTIVE);
    assert_int_equal(out[0].seq, 3);
    qasm_agentd_track_get_stats(t, &st);
    assert_int_equal(st.plains, 2);
    assert_int_equal(st.plain_newcids, 2);
    assert_int_equal(st.spares, 1);
    assert_int_equal(st.plain_unattributed, 0);
    qasm_agentd_track_free(t);
}

static void test_plain_frames(void **state)
{
    (void)state;
    struct qasm_agentd_track *t = mk(4);
    struct qasm_agentd_track_stats st;
    struct qasm_agentd_ev e = initial(5000, 0xd1);
    uint8_t body[128];
    size_t n = 0;
    struct qasm_agentd_plain p;

    qasm_agentd_track_event(t, &e, 100);
    nout = 0;
    /* No NEW_CONNECTION_ID (a STREAM frame to the end): nothing, nothing attributed. */
    body[n++] = 0x08, body[n++] = 0x00;
    memset(body + n, 0x18, 20), n += 20;
    p = plain(77, 0xcc, 0, body, n);
    assert_int_equal(qasm_agentd_track_plain(t, &p, 200), 0);
    /* Two frames in a long-header packet, after HANDSHAKE_DONE and PADDING. */
    n = 0;
    body[n++] = 0x1e;
    body[n++] = 0x00;
    n += newcid(body + n, 1, 0xe1);
    n += newcid(body + n, 2, 0xe2);
    p = plain(77, 0xcc, 1, body, n);
    assert_int_equal(qasm_agentd_track_plain(t, &p, 300), 2);
    assert_int_equal(nout, 2);
    assert_int_equal(out[1].seq, 2);
    assert_int_equal(out[1].cid.data[0], 0xe2);
    /* A frame cut by the copied prefix (its token runs past plain_len): not learnt. */
    n = newcid(body, 4, 0xe4);
    p = plain(77, 0xcc, 0, body, n);
    p.plain_len -= 1;
    assert_int_equal(qasm_agentd_track_plain(t, &p, 400), 0);
    assert_int_equal(nout, 2);
    qasm_agentd_track_get_stats(t, &st);
    assert_int_equal(st.plains, 3);
    assert_int_equal(st.spares, 2);
    qasm_agentd_track_free(t);
}

static void test_plain_attribution(void **state)
{
    (void)state;
    struct qasm_agentd_track *t = mk(4);
    struct qasm_agentd_track_stats st;
    struct qasm_agentd_ev a = with_scid(initial(5000, 0xa1), 0xaa);
    struct qasm_agentd_ev b = with_scid(initial(5001, 0xb1), 0xbb);
    uint8_t body[64];
    struct qasm_agentd_plain p;

    qasm_agentd_track_event(t, &a, 100);
    qasm_agentd_track_event(t, &b, 100);
    /* P1: by the header's client CID, whatever the process. */
    nout = 0;
    p = plain(10, 0xbb, 0, body, newcid(body, 1, 0xe1));
    assert_int_equal(qasm_agentd_track_plain(t, &p, 200), 1);
    assert_int_equal(last_odcid0, 0xb1);
    p = plain(20, 0xaa, 0, body, newcid(body, 1, 0xf1));
    assert_int_equal(qasm_agentd_track_plain(t, &p, 200), 1);
    assert_int_equal(last_odcid0, 0xa1);
    /* P2: an unknown client CID from process 20: a's process; the CID is remembered. */
    p = plain(20, 0x77, 0, body, newcid(body, 2, 0xf2));
    assert_int_equal(qasm_agentd_track_plain(t, &p, 300), 1);
    assert_int_equal(last_odcid0, 0xa1);
    p = plain(30, 0x77, 0, body, newcid(body, 3, 0xf3));
    assert_int_equal(qasm_agentd_track_plain(t, &p, 300), 1);
    assert_int_equal(last_odcid0, 0xa1);
    /* An unknown CID from a process of no connection: unattributed. */
    p = plain(99, 0x66, 0, body, newcid(body, 4, 0xf4));
    assert_int_equal(qasm_agentd_track_plain(t, &p, 300), 0);
    /* b's payload now decrypted by process 30 too: two candidates for 30. */
    p = plain(30, 0xbb, 0, body, newcid(body, 2, 0xe2));
    assert_int_equal(qasm_agentd_track_plain(t, &p, 300), 1);
    p = plain(30, 0x55, 0, body, newcid(body, 5, 0xf5));
    assert_int_equal(qasm_agentd_track_plain(t, &p, 300), 0);
    qasm_agentd_track_get_stats(t, &st);
    assert_int_equal(st.plain_by_pid, 1);
    assert_int_equal(st.plain_unattributed, 2);
    assert_int_equal(st.plain_ambiguous, 1);
    assert_int_equal(st.spares, 5);
    qasm_agentd_track_free(t);
}

/* An Initial packet of flow |e| (client -> server when |egress|) sealed with
 * the Initial keys of |keycid| (lib/quic_initial), carrying |body|. */
static struct qasm_agentd_initpkt initpkt(const struct qasm_agentd_ev *e, int egress,
                                          const struct qasm_cid *keycid, const uint8_t *body,
                                          size_t len)
{
    static struct qasm_agentd_initpkt ip;
    struct qasm_quic_initial_keys k;
    struct qasm_cid d, sc;
    uint8_t payload[1200] = {0};

    memset(&ip, 0, sizeof(ip));
    ip.kind = QASM_AGENTD_EV_INITIAL_PKT;
    ip.egress = (uint8_t)egress;
    ip.flow = e->flow;
    memcpy(payload, body, len);
    qasm_cid_set(&d, e->dcid, e->dcid_len);
    qasm_cid_set(&sc, e->scid, e->scid_len);
    qasm_quic_initial_keys(&k, keycid, !egress);
    ssize_t n = qasm_quic_initial_seal(&k, egress ? &d : &sc, egress ? &sc : &d, 2, payload,
                                       egress ? sizeof(payload) : 100, ip.data, sizeof(ip.data));
    assert_true(n > 0);
    ip.len = (uint16_t)n;
    ip.full_len = (uint32_t)n;
    return ip;
}

/* ACK, then CONNECTION_CLOSE 0x178 (no_application_protocol) for frame type CRYPTO. */
static const uint8_t CLOSE_BODY[] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x1c, 0x41, 0x78, 0x06, 0x00};
/* A CRYPTO frame (the handshake going on). */
static const uint8_t CRYPTO_BODY[] = {0x06, 0x00, 0x04, 0x16, 0x03, 0x03, 0x00};

static void test_initial_close(void **state)
{
    (void)state;
    struct qasm_agentd_track *t = mk(4);
    struct qasm_agentd_track_stats st;
    struct qasm_agentd_ev a = initial(5000, 0xa1), b = initial(5001, 0xb1);
    struct qasm_agentd_initpkt ip;
    struct qasm_cid oa, ob, other;

    qasm_cid_set(&oa, a.dcid, 8);
    qasm_cid_set(&ob, b.dcid, 8);
    qasm_cid_set(&other, (const uint8_t *)"otherdcid", 9);
    qasm_agentd_track_event(t, &a, 100);
    qasm_agentd_track_event(t, &b, 100);
    nout = 0;
    /* The handshake going on, either way: decrypted, nothing closed. */
    ip = initpkt(&a, 0, &oa, CRYPTO_BODY, sizeof(CRYPTO_BODY));
    assert_int_equal(qasm_agentd_track_initial(t, &ip, 200), 0);
    ip = initpkt(&a, 1, &oa, CRYPTO_BODY, sizeof(CRYPTO_BODY));
    assert_int_equal(qasm_agentd_track_initial(t, &ip, 200), 0);
    /* Under keys of another DCID: not opened; of no known flow: unattributed. */
    ip = initpkt(&a, 0, &other, CLOSE_BODY, sizeof(CLOSE_BODY));
    assert_int_equal(qasm_agentd_track_initial(t, &ip, 200), 0);
    ip = initpkt(&a, 0, &oa, CLOSE_BODY, sizeof(CLOSE_BODY));
    ip.flow.lport = 6000;
    assert_int_equal(qasm_agentd_track_initial(t, &ip, 200), 0);
    assert_int_equal(nout, 0);
    /* The server refuses a's handshake: closed (draining), b goes on. */
    ip = initpkt(&a, 0, &oa, CLOSE_BODY, sizeof(CLOSE_BODY));
    assert_int_equal(qasm_agentd_track_initial(t, &ip, 300), 1);
    assert_int_equal(nout, 1);
    assert_int_equal(out[0].type, QASM_AGENT_EV_CLOSE);
    assert_int_equal(out[0].reason, QASM_AGENT_CLOSE_DRAINING);
    assert_int_equal(last_odcid0, 0xa1);
    /* b gives up in its own Initial: closed (local). */
    ip = initpkt(&b, 1, &ob, CLOSE_BODY, sizeof(CLOSE_BODY));
    assert_int_equal(qasm_agentd_track_initial(t, &ip, 300), 1);
    assert_int_equal(nout, 2);
    assert_int_equal(out[1].reason, QASM_AGENT_CLOSE_LOCAL);
    assert_int_equal(last_odcid0, 0xb1);
    qasm_agentd_track_get_stats(t, &st);
    assert_int_equal(st.initials, 6);
    assert_int_equal(st.initials_opened, 4);
    assert_int_equal(st.initials_unopened, 1);
    assert_int_equal(st.initials_unattributed, 1);
    assert_int_equal(st.closed_initial, 2);
    assert_int_equal(st.live, 0);
    qasm_agentd_track_free(t);
}

/* After a Retry the Initial keys derive from the DCID the client sent its next Initial to. */
static void test_initial_after_retry(void **state)
{
    (void)state;
    struct qasm_agentd_track *t = mk(4);
    struct qasm_agentd_ev a = initial(5000, 0xa1);
    struct qasm_agentd_ev r = ev(QASM_AGENTD_EV_DCID, 5000, 1, 0x7e, QASM_AGENTD_F_LONG);
    struct qasm_agentd_initpkt ip;
    struct qasm_cid retry;

    qasm_cid_set(&retry, r.dcid, 8);
    qasm_agentd_track_event(t, &a, 100);
    qasm_agentd_track_event(t, &r, 110);
    nout = 0;
    ip = initpkt(&a, 0, &retry, CLOSE_BODY, sizeof(CLOSE_BODY));
    assert_int_equal(qasm_agentd_track_initial(t, &ip, 200), 1);
    assert_int_equal(nout, 1);
    assert_int_equal(out[0].type, QASM_AGENT_EV_CLOSE);
    qasm_agentd_track_free(t);
}

/* --prereg: a CONNECTION_CLOSE the client decrypted (the server's) or was about to encrypt (its own). */
static void test_plain_close(void **state)
{
    (void)state;
    struct qasm_agentd_track *t = mk(4);
    struct qasm_agentd_track_stats st;
    struct qasm_agentd_ev a = with_scid(initial(5000, 0xa1), 0xaa);
    struct qasm_agentd_ev b = with_scid(initial(5001, 0xb1), 0xbb);
    struct qasm_agentd_ev bsw = ev(QASM_AGENTD_EV_DCID, 5001, 1, 0x52, QASM_AGENTD_F_LONG);
    const uint8_t app_close[] = {0x1d, 0x41, 0x00, 0x00}; /* H3_NO_ERROR (0x100) */
    struct qasm_agentd_plain p;

    qasm_agentd_track_event(t, &a, 100);
    qasm_agentd_track_event(t, &b, 100);
    qasm_agentd_track_event(t, &bsw, 110); /* b's server CID: 0x52 x 8 */
    nout = 0;
    /* A payload without a close: nothing. */
    p = plain(10, 0xaa, 0, CRYPTO_BODY, sizeof(CRYPTO_BODY));
    assert_int_equal(qasm_agentd_track_plain(t, &p, 200), 0);
    /* The server closes a (the header's DCID is a's client CID). */
    p = plain(10, 0xaa, 0, app_close, sizeof(app_close));
    assert_int_equal(qasm_agentd_track_plain(t, &p, 200), 1);
    assert_int_equal(nout, 1);
    assert_int_equal(out[0].type, QASM_AGENT_EV_CLOSE);
    assert_int_equal(out[0].reason, QASM_AGENT_CLOSE_DRAINING);
    assert_int_equal(last_odcid0, 0xa1);
    /* The client closes b: its header carries b's server CID (8 bytes: a short header). */
    p = plain(11, 0, 0, app_close, sizeof(app_close));
    p.kind = QASM_AGENTD_EV_PLAIN_OUT;
    memset(p.aad + 1, 0x52, 8);
    p.aad_len = 10;
    memcpy(p.plain, app_close, sizeof(app_close)); /* alone in its packet */
    p.plain_len = sizeof(app_close);
    assert_int_equal(qasm_agentd_track_plain(t, &p, 300), 1);
    assert_int_equal(nout, 2);
    assert_int_equal(out[1].reason, QASM_AGENT_CLOSE_LOCAL);
    assert_int_equal(last_odcid0, 0xb1);
    /* Another close of no connection (an unknown CID, an unknown process). */
    assert_int_equal(qasm_agentd_track_plain(t, &p, 400), 0);
    qasm_agentd_track_get_stats(t, &st);
    assert_int_equal(st.closed_peer, 1);
    assert_int_equal(st.closed_local, 1);
    assert_int_equal(st.close_unattributed, 1);
    assert_int_equal(st.live, 0);
    qasm_agentd_track_free(t);
}

/* Thousands of connections through the index: each found by its flow, its DCID and its
 * client CID; one with more keys than a connection indexes; nothing left after expiry. */
static void test_many_conns(void **state)
{
    (void)state;
    enum { N = 3000 };
    struct qasm_agentd_track *t = mk(N);
    struct qasm_agentd_track_stats st;
    uint8_t body[64];

    for (int i = 0; i < N; i++) {
        struct qasm_agentd_ev e = initial((uint16_t)(10000 + i), 0);
        memcpy(e.dcid, &i, sizeof(i)); /* O-DCID and client CID unique per connection */
        memcpy(e.scid, &i, sizeof(i));
        assert_int_equal(qasm_agentd_track_event(t, &e, 100), 1);
    }
    struct qasm_agentd_ev x = initial(9999, 0x55);
    assert_int_equal(qasm_agentd_track_event(t, &x, 100), 0);
    for (int i = 0; i < N; i += 7) {
        /* A rebinding (new port, same DCID): found by the DCID. */
        struct qasm_agentd_ev e = ev(QASM_AGENTD_EV_DCID, (uint16_t)(40000 + i), 1, 0,
                                     QASM_AGENTD_F_NEW_FLOW);
        memcpy(e.dcid, &i, sizeof(i));
        nout = 0;
        assert_int_equal(qasm_agentd_track_event(t, &e, 200), 1);
        assert_int_equal(nout, 1);
        assert_int_equal(out[0].type, QASM_AGENT_EV_ADDR);
        assert_memory_equal(last_conn->odcid.data, &i, sizeof(i));
        /* Then by its new flow: a new DCID on it. */
        e.dcid[7] = 0x77;
        assert_int_equal(qasm_agentd_track_event(t, &e, 210), 1);
        assert_memory_equal(last_conn->odcid.data, &i, sizeof(i));
        /* A --prereg payload to its client CID (a short header, 4 bytes). */
        struct qasm_agentd_plain p = plain(77, 0, 0, body, newcid(body, 1, 0xe1));
        memcpy(p.aad + 1, &i, sizeof(i));
        assert_int_equal(qasm_agentd_track_plain(t, &p, 220), 1);
        assert_memory_equal(last_conn->odcid.data, &i, sizeof(i));
    }
    /* One connection rebinding 60 times (more keys than it indexes): still found by its
     * DCID each time, then by its latest flow. */
    for (int m = 0; m < 60; m++) {
        struct qasm_agentd_ev e = ev(QASM_AGENTD_EV_DCID, (uint16_t)(50000 + m), 1, 0,
                                     QASM_AGENTD_F_NEW_FLOW);
        int i = 5;
        memcpy(e.dcid, &i, sizeof(i));
        assert_int_equal(qasm_agentd_track_event(t, &e, 300), 1);
        assert_memory_equal(last_conn->odcid.data, &i, sizeof(i));
        e.dcid[7] = (uint8_t)m;
        e.flags = 0;
        assert_int_equal(qasm_agentd_track_event(t, &e, 300), 1);
        assert_memory_equal(last_conn->odcid.data, &i, sizeof(i));
    }
    qasm_agentd_track_get_stats(t, &st);
    assert_int_equal(st.live, N);
    assert_int_equal(st.unattributed, 0);
    assert_int_equal(st.index_failed, 0);
    assert_true(st.indexed >= 3 * (uint64_t)N);
    qasm_agentd_track_tick(t, 100 * QASM_SEC);
    qasm_agentd_track_get_stats(t, &st);
    assert_int_equal(st.live, 0);
    assert_int_equal(st.closed_idle, N);
    assert_int_equal(st.indexed, 0);
    /* The pool is reused. */
    assert_int_equal(qasm_agentd_track_event(t, &x, 200 * QASM_SEC), 1);
    qasm_agentd_track_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_switch_migrate),
        cmocka_unit_test(test_unattributed),
        cmocka_unit_test(test_ambiguous_and_full),
        cmocka_unit_test(test_idle_and_refresh),
        cmocka_unit_test(test_expire_middle),
        cmocka_unit_test(test_adopt),
        cmocka_unit_test(test_plain_spare_then_use),
        cmocka_unit_test(test_plain_frames),
        cmocka_unit_test(test_plain_attribution),
        cmocka_unit_test(test_initial_close),
        cmocka_unit_test(test_initial_after_retry),
        cmocka_unit_test(test_plain_close),
        cmocka_unit_test(test_many_conns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
