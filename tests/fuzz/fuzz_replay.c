/*
 * fuzz_replay: libFuzzer harness for the replay engine (captures/replay.c)
 * with the link-layer decapsulation, the embedded tracker and the middlebox
 * core behind it. Input: byte 0 picks the link type, byte 1 the function
 * and mode, then records of [u16 frame length][u16 microseconds since the
 * previous frame][frame]. Every packet written out must parse as IP/UDP
 * (rewritten ones with correct checksums: the replay's own tests check that).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ipudp.h"
#include "captures/replay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void out_cb(void *ud, qasm_tstamp t, const uint8_t *ip, size_t len)
{
    struct qasm_ipudp pu;
    (void)ud;
    (void)t;
    /* packets passed through unchanged keep their (fuzzed) checksums */
    int rv = qasm_ipudp_parse(&pu, ip, len, QASM_IPUDP_F_VERIFY_CSUM);
    if (rv < 0 && rv != QASM_IPUDP_ERR_CHECKSUM)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int dlts[] = { 1, 113, 276, 12, 101, 0, 108, 228, 229, 147 };
    static const struct qasm_addr backends[2] = {
        { .family = 2, .port = 4433, .ip = { 127, 0, 0, 1 } },
        { .family = 2, .port = 4434, .ip = { 127, 0, 0, 1 } },
    };
    struct qasm_replay_config cfg;
    struct qasm_replay *r;

    if (size < 2)
        return 0;
    int dlt = dlts[data[0] % (sizeof(dlts) / sizeof(dlts[0]))];
    memset(&cfg, 0, sizeof(cfg));
    qasm_mbox_config_init(&cfg.mbox, (enum qasm_mbox_function)(data[1] % 3),
                          (enum qasm_mbox_mode)(data[1] / 3 % 3));
    cfg.mbox.lb_backends = backends;
    cfg.mbox.lb_nbackends = 2;
    cfg.mbox.nat_port_min = 40000;
    cfg.mbox.nat_port_max = 40003; /* small pool: exhaustion is reachable */
    cfg.capture_reports = 1;
    cfg.trust_any = data[1] & 0x80;
    cfg.tracker_rtt = (data[0] >> 4) * 500 * QASM_US; /* 0 to 7.5 ms */
    cfg.pad_truncated = data[1] & 0x20;
    cfg.out = out_cb;
    if (qasm_replay_new(&r, &cfg) < 0)
        abort();
    qasm_tstamp t = (qasm_tstamp)1700000000 * QASM_SEC;
    size_t off = 2;
    while (off + 4 <= size) {
        size_t len = (size_t)data[off] << 8 | data[off + 1];
        t += ((qasm_tstamp)data[off + 2] << 8 | data[off + 3]) * QASM_US;
        off += 4;
        if (len > size - off)
            len = size - off;
        qasm_replay_frame(r, t, dlt, data + off, len, len + (data[1] & 0x40 ? 7 : 0));
        off += len;
    }
    qasm_replay_finish(r);
    const struct qasm_replay_counts *c = qasm_replay_counts(r);
    if (c->mbox_packets > c->udp_packets || c->udp_packets > c->packets)
        abort();
    qasm_replay_del(r);
    return 0;
}
