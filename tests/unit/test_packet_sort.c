/* test_packet_sort.c: the packet backend's sorting of IP packets (packet_sort.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <string.h>

#include "addr.h"
#include "bytes.h"
#include "ipudp.h"
#include "packet_sort.h"

/* The hop of the netns testbed: inside 10.77.1.1 / fd77:1::1, outside 10.77.2.1 / fd77:2::1. */
static struct qasm_addr local[4];
static struct qasm_addr backends[2];

static struct qasm_addr A(const char *s)
{
    struct qasm_addr a;
    assert_int_equal(qasm_addr_parse(&a, s), 0);
    return a;
}

static struct qasm_addr IP(const char *s)
{
    struct qasm_addr a;
    assert_int_equal(qasm_addr_parse_ip(&a, s, 0), 0);
    return a;
}

static struct qasm_psort_ctx ctx(enum qasm_mbox_function f)
{
    struct qasm_psort_ctx c;
    memset(&c, 0, sizeof(c));
    local[0] = IP("10.77.1.1");
    local[1] = IP("10.77.2.1");
    local[2] = IP("fd77:1::1");
    local[3] = IP("fd77:2::1");
    backends[0] = A("10.77.2.2:4433");
    backends[1] = A("10.77.2.2:4434");
    c.function = f;
    c.local = local;
    c.nlocal = 4;
    c.nat_public = IP("10.77.2.1");
    c.port_min = 40000;
    c.port_max = 40007;
    c.vip = A("10.77.1.1:443");
    c.backends = backends;
    c.nbackends = 2;
    return c;
}

/* A UDP packet from |src| to |dst| with |ttl|; returns its length. */
static size_t udp(uint8_t *buf, const char *src, const char *dst, uint8_t ttl)
{
    struct qasm_addr s = A(src), d = A(dst);
    static const uint8_t payload[] = {0x40, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    ssize_t n = qasm_ipudp_build(buf, 2048, &s, &d, payload, sizeof(payload), ttl);
    assert_true(n > 0);
    return (size_t)n;
}

/* The same packet turned into another protocol (ICMP 1 / ICMPv6 58). */
static size_t not_udp(uint8_t *buf, const char *src, const char *dst)
{
    size_t n = udp(buf, src, dst, 64);
    if ((buf[0] >> 4) == 4)
        buf[9] = 1;
    else
        buf[6] = 58;
    return n;
}

static enum qasm_psort_action sort(const struct qasm_psort_ctx *c, int inside, const uint8_t *pkt,
                                   size_t len, struct qasm_psort *out)
{
    return qasm_psort_packet(c, inside, (pkt[0] >> 4) == 4 ? AF_INET : AF_INET6, pkt, len, out);
}

static void test_nat(void **state)
{
    (void)state;
    struct qasm_psort_ctx c = ctx(QASM_MBOX_NAT);
    struct qasm_psort o;
    uint8_t b[2048];
    size_t n;

    /* client -> server crossing the hop: the core, from the client */
    n = udp(b, "10.77.1.5:5000", "10.77.2.2:4433", 64);
    assert_int_equal(sort(&c, 1, b, n, &o), QASM_PSORT_CORE);
    assert_int_equal(o.dir, QASM_MBOX_FROM_CLIENT);
    assert_int_equal(o.flow.src.port, 5000);
    assert_int_equal(o.flow.dst.port, 4433);
    assert_int_equal(o.total, n);
    /* return traffic to the public address on a pool port */
    n = udp(b, "10.77.2.2:4433", "10.77.2.1:40003", 64);
    assert_int_equal(sort(&c, 0, b, n, &o), QASM_PSORT_CORE);
    assert_int_equal(o.dir, QASM_MBOX_FROM_SERVER);
    assert_int_equal(o.flow.dst.port, 40003);
    /* ... outside the pool, or on the inside address: the kernel's */
    n = udp(b, "10.77.2.2:4433", "10.77.2.1:40008", 64);
    assert_int_equal(sort(&c, 0, b, n, &o), QASM_PSORT_LOCAL);
    n = udp(b, "10.77.1.5:5000", "10.77.1.1:4790", 64);
    assert_int_equal(sort(&c, 1, b, n, &o), QASM_PSORT_LOCAL);
    /* the outside cannot reach private addresses through a NAT */
    n = udp(b, "10.77.2.2:4433", "10.77.1.5:5000", 64);
    assert_int_equal(sort(&c, 0, b, n, &o), QASM_PSORT_DROP_OUTSIDE);
    /* non-UDP crossing: dropped; to the hop: the kernel's */
    n = not_udp(b, "10.77.1.5:0", "10.77.2.2:0");
    assert_int_equal(sort(&c, 1, b, n, &o), QASM_PSORT_DROP_NON_UDP);
    n = not_udp(b, "10.77.1.5:0", "10.77.1.1:0");
    assert_int_equal(sort(&c, 1, b, n, &o), QASM_PSORT_LOCAL);
    /* TTL 1: not forwarded; TTL 2 is */
    n = udp(b, "10.77.1.5:5000", "10.77.2.2:4433", 1);
    assert_int_equal(sort(&c, 1, b, n, &o), QASM_PSORT_DROP_TTL);
    n = udp(b, "10.77.1.5:5000", "10.77.2.2:4433", 2);
    assert_int_equal(sort(&c, 1, b, n, &o), QASM_PSORT_CORE);
}

static void test_ratelimit_ipv6(void **state)
{
    (void)state;
    struct qasm_psort_ctx c = ctx(QASM_MBOX_RATELIMIT);
    struct qasm_psort o;
    uint8_t b[2048];
    size_t n;

    n = udp(b, "[fd77:1::3]:5000", "[fd77:2::2]:4433", 64);
    assert_int_equal(sort(&c, 1, b, n, &o), QASM_PSORT_CORE);
    assert_int_equal(o.dir, QASM_MBOX_FROM_CLIENT);
    assert_int_equal(o.flow.src.family, AF_INET6);
    /* a transparent router: the server's reply is for the core too */
    n = udp(b, "[fd77:2::2]:4433", "[fd77:1::3]:5000", 64);
    assert_int_equal(sort(&c, 0, b, n, &o), QASM_PSORT_CORE);
    assert_int_equal(o.dir, QASM_MBOX_FROM_SERVER);
    /* non-UDP is routed, with its length */
    n = not_udp(b, "[fd77:1::3]:0", "[fd77:2::2]:0");
    assert_int_equal(sort(&c, 1, b, n, &o), QASM_PSORT_ROUTE);
    assert_int_equal(o.total, n);
    n = not_udp(b, "[fd77:1::3]:0", "[fd77:1::1]:0");
    assert_int_equal(sort(&c, 1, b, n, &o), QASM_PSORT_LOCAL);
    /* hop limit 1 */
    n = udp(b, "[fd77:1::3]:5000", "[fd77:2::2]:4433", 1);
    assert_int_equal(sort(&c, 1, b, n, &o), QASM_PSORT_DROP_TTL);
}

static void test_lb(void **state)
{
    (void)state;
    struct qasm_psort_ctx c = ctx(QASM_MBOX_LB);
    struct qasm_psort o;
    uint8_t b[2048];
    size_t n;

    /* to the VIP (a hop address): the core, not the kernel */
    n = udp(b, "10.77.1.5:5000", "10.77.1.1:443", 64);
    assert_int_equal(sort(&c, 1, b, n, &o), QASM_PSORT_CORE);
    assert_int_equal(o.dir, QASM_MBOX_FROM_CLIENT);
    assert_int_equal(o.lb_reply, 0);
    /* another port of that address: the kernel's */
    n = udp(b, "10.77.1.5:5000", "10.77.1.1:4790", 64);
    assert_int_equal(sort(&c, 1, b, n, &o), QASM_PSORT_LOCAL);
    /* a backend's reply: the core, seen as from the VIP */
    n = udp(b, "10.77.2.2:4434", "10.77.1.5:5000", 64);
    assert_int_equal(sort(&c, 0, b, n, &o), QASM_PSORT_CORE);
    assert_int_equal(o.dir, QASM_MBOX_FROM_SERVER);
    assert_int_equal(o.lb_reply, 1);
    assert_int_equal(o.flow.src.port, 443);
    assert_memory_equal(o.flow.src.ip, c.vip.ip, 4);
    assert_int_equal(o.pu.flow.src.port, 4434);
    /* a non-backend port of the same host, and direct client traffic: routed */
    n = udp(b, "10.77.2.2:5000", "10.77.1.5:5000", 64);
    assert_int_equal(sort(&c, 0, b, n, &o), QASM_PSORT_ROUTE);
    n = udp(b, "10.77.1.5:5000", "10.77.2.2:4433", 64);
    assert_int_equal(sort(&c, 1, b, n, &o), QASM_PSORT_ROUTE);
}

static void test_malformed(void **state)
{
    (void)state;
    struct qasm_psort_ctx c = ctx(QASM_MBOX_RATELIMIT);
    struct qasm_psort o;
    uint8_t b[2048];
    size_t n = udp(b, "10.77.1.5:5000", "10.77.2.2:4433", 64);

    /* the link layer said IPv6 but the packet is IPv4 */
    assert_int_equal(qasm_psort_packet(&c, 1, AF_INET6, b, n, &o), QASM_PSORT_DROP_MALFORMED);
    /* too short for its header, shorter than its total length, IHL below 20 */
    assert_int_equal(qasm_psort_packet(&c, 1, AF_INET, b, 19, &o), QASM_PSORT_DROP_MALFORMED);
    assert_int_equal(qasm_psort_packet(&c, 1, AF_INET, b, n - 1, &o), QASM_PSORT_DROP_MALFORMED);
    uint8_t bad[2048];
    memcpy(bad, b, n);
    bad[0] = 0x44;
    assert_int_equal(qasm_psort_packet(&c, 1, AF_INET, bad, n, &o), QASM_PSORT_DROP_MALFORMED);
    /* a non-UDP packet claiming an IHL past its end is not routed */
    n = not_udp(bad, "10.77.1.5:0", "10.77.2.2:0");
    bad[0] = 0x4f;
    qasm_put16(bad + 2, 40);
    assert_int_equal(qasm_psort_packet(&c, 1, AF_INET, bad, n, &o), QASM_PSORT_DROP_MALFORMED);
    /* UDP length disagreeing with the IP length */
    n = udp(bad, "10.77.1.5:5000", "10.77.2.2:4433", 64);
    qasm_put16(bad + 20 + 4, 200);
    assert_int_equal(qasm_psort_packet(&c, 1, AF_INET, bad, n, &o), QASM_PSORT_DROP_MALFORMED);
    /* link-layer padding after the packet is fine and not counted in |total| */
    n = udp(b, "10.77.1.5:5000", "10.77.2.2:4433", 64);
    memset(b + n, 0, 20);
    assert_int_equal(qasm_psort_packet(&c, 1, AF_INET, b, n + 20, &o), QASM_PSORT_CORE);
    assert_int_equal(o.total, n);
    /* unknown family */
    assert_int_equal(qasm_psort_packet(&c, 1, 99, b, n, &o), QASM_PSORT_DROP_MALFORMED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nat),
        cmocka_unit_test(test_ratelimit_ipv6),
        cmocka_unit_test(test_lb),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
