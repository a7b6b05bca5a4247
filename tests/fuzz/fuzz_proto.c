/*
 * fuzz_proto.c: libFuzzer harness for the tracker protocol. The input is a
 * TCP byte stream: the framer splits it, each frame is decoded; a message
 * that decodes must re-encode to the same bytes and decode again; decoded
 * reports are applied to a store (trust any, tiny caps, time from the
 * input) so the store core is fuzzed through the codec too: each report as
 * it came (a fuzzer cannot forge a MAC: the refusal paths) and signed with
 * one owner's secret (the paths that change a connection). Every frame also
 * goes through the key handshake of a session (tracker/core/access.h, with a
 * key), and every report through the key-MAC admission, as it came and
 * signed with the key (which must then verify).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "proto.h"
#include "access.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct qasm_proto_msg m, d;
    static uint8_t out[QASM_PROTO_MAX_MSG];
    struct qasm_store_config cfg;
    qasm_store_config_default(&cfg);
    cfg.trust_any = 1;
    cfg.max_conns = 8;
    cfg.max_per_ip = 4;
    cfg.ttl = 5 * QASM_SEC;
    cfg.close_linger = QASM_SEC;
    cfg.expected = 8;
    struct qasm_store *s;
    if (qasm_store_new(&s, &cfg, NULL, NULL) < 0)
        return 0;

    /* The whole input as one datagram, also as a version-1 recording. */
    qasm_proto_decode(&m, data, size);
    qasm_proto_decode_v1(&m, data, size);
    static const uint8_t owner[QASM_PROTO_SECRET_LEN] = { 0x0f, 0x0e, 0x0d };
    static struct qasm_access acc;
    static struct qasm_access_sess sess;
    static struct qasm_proto_msg reply;
    static const uint8_t tn[QASM_PROTO_NONCE_LEN] = { 0x7a };
    if (acc.key.len == 0 && qasm_auth_key_set(&acc.key, "fuzz key 16 bytes", 17) != 0)
        abort();
    acc.trust = (enum qasm_access_trust)(size % 3);
    int authenticated = qasm_access_sess_init(&acc, &sess, tn);

    qasm_tstamp now = 0;
    size_t off = 0;
    while (off < size) {
        ssize_t len = qasm_proto_frame(data + off, size - off);
        if (len <= 0)
            break;
        const uint8_t *p = data + off;
        off += (size_t)len;
        now += (qasm_tstamp)p[(size_t)len - 1] * 100 * QASM_MS;
        int drv = qasm_proto_decode(&m, p, (size_t)len);
        int act = qasm_access_session_msg(&acc, &sess, &authenticated, drv, &m, &reply);
        if (act != QASM_ACCESS_HANDLE && qasm_proto_encode(out, sizeof(out), &reply) < 0)
            abort(); /* the handshake's replies always encode */
        if (act == QASM_ACCESS_CLOSE)
            authenticated = qasm_access_sess_init(&acc, &sess, tn); /* the next session */
        if (drv != 0)
            continue;
        ssize_t n = qasm_proto_encode(out, sizeof(out), &m);
        if (n < 0)
            abort(); /* everything that decodes must encode */
        if (qasm_proto_decode(&d, out, (size_t)n) != 0)
            abort();
        ssize_t n2 = qasm_proto_encode(out, sizeof(out), &d);
        if (n2 != n)
            abort();
        if (qasm_proto_is_report(m.hdr.type)) {
            qasm_store_report(s, m.hdr.type, &m.u.report, NULL, now);
            struct qasm_proto_report o = m.u.report;
            if (qasm_proto_report_sign(m.hdr.type, &o, owner) != 0)
                abort(); /* a decoded report always encodes, so it signs */
            if (!qasm_proto_report_verify(m.hdr.type, &o, owner))
                abort();
            qasm_access_report(&acc, m.hdr.type, &m.u.report);
            if (qasm_auth_report_sign(&acc.key, m.hdr.type, &o) != 0 ||
                qasm_access_report(&acc, m.hdr.type, &o) != 0)
                abort(); /* signed with the key: admitted under every trust mode */
            qasm_store_report(s, m.hdr.type, &o, NULL, now);
        }
        struct qasm_store_conn *c = NULL;
        if (m.hdr.type == QASM_PROTO_QUERY)
            c = qasm_store_find(s, &m.u.query.dcid, &m.u.query.server);
        if (c) {
            struct qasm_proto_conn rec;
            qasm_store_record(c, &rec);
            m.hdr.type = QASM_PROTO_RECORD;
            m.u.conn = rec;
            if (qasm_proto_encode(out, sizeof(out), &m) < 0)
                abort(); /* a record built by the store always encodes */
        }
        qasm_store_expire(s, now);
    }
    qasm_store_del(s);
    return 0;
}
