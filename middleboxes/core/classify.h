/*
 * classify.h: what a QUIC-aware middlebox needs to know about a datagram:
 * is it QUIC, which DCID does it carry, is it a client Initial (whose DCID
 * is the O-DCID), and which CID length a server uses (learned from the
 * SCID of the server's long-header packets, kept per server address).
 * I/O-free, allocation-free on the packet path.
 */
#ifndef QASM_CLASSIFY_H
#define QASM_CLASSIFY_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "cid.h"

enum qasm_pkt_kind {
    QASM_PKT_NONQUIC = 0,      /* not QUIC v1/v2 as far as the header tells */
    QASM_PKT_INITIAL = 1,      /* long header Initial: DCID = O-DCID when sent by a client */
    QASM_PKT_LONG = 2,         /* other v1/v2 long header (0-RTT, Handshake, Retry) */
    QASM_PKT_SHORT = 3,        /* short header, DCID read with the known length */
    QASM_PKT_SHORT_NOLEN = 4   /* looks like a short header, CID length unknown */
};

/*
 * qasm_classify reads the first packet of a datagram of |len| bytes.
 * |short_dcid_len| is the server's CID length (0..20) or -1 if unknown.
 * Fills |dcid| for INITIAL, LONG and SHORT and returns the kind. A short
 * header must leave room for a packet number and the header-protection
 * sample (20 bytes after the DCID), else it is NONQUIC.
 */
enum qasm_pkt_kind qasm_classify(const uint8_t *data, size_t len, int short_dcid_len,
                                 struct qasm_cid *dcid);

/*
 * qasm_classify_server_cid_len returns the SCID length (0..20) of a v1/v2
 * long-header packet sent by a server (Initial, Handshake, 0-RTT, Retry),
 * or -1 for anything else.
 */
int qasm_classify_server_cid_len(const uint8_t *data, size_t len);

/* Server address -> CID length. */
struct qasm_cidlen_table;

/* qasm_cidlen_table_new: |max| bounds the entries (oldest forgotten). 0 or -ENOMEM. */
int qasm_cidlen_table_new(struct qasm_cidlen_table **pt, size_t max, uint64_t seed);

/* qasm_cidlen_table_del frees the table. NULL is fine. */
void qasm_cidlen_table_del(struct qasm_cidlen_table *t);

/* qasm_cidlen_get returns the CID length of |server|, or -1. */
int qasm_cidlen_get(const struct qasm_cidlen_table *t, const struct qasm_addr *server);

/* qasm_cidlen_set records |len| for |server|; returns 1 when new or changed, 0 when
 * unchanged, -ENOMEM. */
int qasm_cidlen_set(struct qasm_cidlen_table *t, const struct qasm_addr *server, uint8_t len);

/* qasm_cidlen_count returns the number of servers whose length is known. */
size_t qasm_cidlen_count(const struct qasm_cidlen_table *t);

#endif
