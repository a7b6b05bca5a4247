/*
 * fuzz_packet_sort: libFuzzer harness for the packet backend's sorter
 * (middleboxes/core/packet_sort.c). The first byte picks the function (nat,
 * ratelimit, lb), the side and the link-layer family; the rest is the IP
 * packet. Checks the views it returns stay inside the buffer and that a
 * packet for the core can be rewritten as the backend does.
 */
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "ipudp.h"
#include "packet_sort.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t buf[65536];
    struct qasm_addr local[2], backends[1];
    struct qasm_psort_ctx c;
    struct qasm_psort o;

    if (size < 1 || size - 1 > sizeof(buf))
        return 0;
    memset(&c, 0, sizeof(c));
    qasm_addr_parse_ip(&local[0], "10.77.1.1", 0);
    qasm_addr_parse_ip(&local[1], "fd77:2::1", 0);
    qasm_addr_parse(&backends[0], "10.77.2.2:4433");
    c.function = (enum qasm_mbox_function)(data[0] % 3);
    c.local = local;
    c.nlocal = 2;
    qasm_addr_parse_ip(&c.nat_public, "10.77.1.1", 0);
    c.port_min = 40000;
    c.port_max = 40063;
    qasm_addr_parse(&c.vip, "10.77.1.1:443");
    c.backends = backends;
    c.nbackends = 1;
    int inside = (data[0] >> 2) & 1;
    int family = (data[0] >> 3) & 1 ? AF_INET6 : AF_INET;
    size_t len = size - 1;
    memcpy(buf, data + 1, len);

    enum qasm_psort_action a = qasm_psort_packet(&c, inside, family, buf, len, &o);
    if (a == QASM_PSORT_CORE || a == QASM_PSORT_ROUTE) {
        if (o.total > len || o.total < 20)
            abort();
        uint8_t ttl = family == AF_INET ? buf[8] : buf[7];
        if (ttl <= 1)
            abort();
    }
    if (a == QASM_PSORT_CORE) {
        if (o.pu.payload < buf || o.pu.payload + o.pu.payload_len > buf + o.total)
            abort();
        if (o.flow.src.family != family || o.flow.dst.family != family)
            abort();
        struct qasm_addr s = o.flow.dst, d = o.flow.src;
        if (qasm_ipudp_rewrite(buf, &o.pu, &s, &d) < 0)
            abort();
    }
    return 0;
}
