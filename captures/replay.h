/*
 * replay.h: the replay engine behind qasm-replay. It takes captured frames
 * (any link type of linktype.h) with their capture timestamps, keeps what
 * is UDP over IPv4/IPv6, and drives one middlebox core (middleboxes/core/mbox.h)
 * with the capture's clock: datagrams to a server are FROM_CLIENT, from a
 * server FROM_SERVER; agent reports (tracker protocol datagrams, found by
 * their magic) go to an embedded tracker (the tracker's own store core,
 * tracker/core/store.h) which answers the
 * core's QUERY / SUBSCRIBE requests in-process (at once, or when the DCID
 * becomes known within the query's wait, or NOT_FOUND at its deadline) and
 * pushes after every report that changes a subscribed connection.
 *
 * Servers are given (qasm_replay_config.servers) or learned: the
 * destination of the first client Initial of a new O-DCID, and the server
 * of every REPORT_OPEN. A QUIC datagram neither to nor from a server whose
 * DCID belongs to a known connection is the same traffic on another hop of
 * the capture and is skipped (counted in other_hop).
 *
 * Alongside, a passive observer lists the QUIC connections of the capture
 * (O-DCID from client Initials, server CIDs from long headers, DCIDs and
 * client addresses from short headers on known paths and from reports),
 * and accounts each connection's packets, NAT public ports and LB backends.
 *
 * No I/O and no clock: the caller reads the files and writes the output.
 */
#ifndef QASM_REPLAY_H
#define QASM_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "cid.h"
#include "clock.h"
#include "mbox.h"
#include "proto.h"

#define QASM_REPLAY_MAX_SERVERS 64

struct qasm_replay;

struct qasm_replay_config {
    struct qasm_mbox_config mbox;   /* function, mode and their parameters */
    struct qasm_addr servers[QASM_REPLAY_MAX_SERVERS]; /* none: learn them */
    size_t nservers;
    int capture_reports;  /* apply agent reports found in the capture (default 1) */
    int trust_any;        /* accept reports whose client IP is not the datagram's source */
    /* Round trip between the middlebox and the tracker: requests reach the
     * tracker, and answers and pushes the middlebox, half of it later.
     * 0 (default): the tracker answers at the same instant. */
    qasm_duration tracker_rtt;
    /* Use frames cut by the snap length when their IP and UDP headers were
     * captured: the missing payload bytes are zeros (default: skip them). */
    int pad_truncated;
    /* Called for every packet the middlebox forwards (IP packet, addresses
     * and ports rewritten, checksums fixed), at the time it leaves. */
    void (*out)(void *ud, qasm_tstamp t, const uint8_t *ip, size_t len);
    void *out_ud;
};

/* Counters of what the replay read and skipped. */
struct qasm_replay_counts {
    uint64_t packets;        /* frames read */
    uint64_t udp_packets;    /* UDP datagrams (whole, not fragments) */
    uint64_t quic_packets;   /* UDP datagrams whose first packet parses as QUIC */
    uint64_t quic_greased;   /* ... of which with the fixed bit clear (RFC 9287 greasing) */
    uint64_t not_ip;         /* link layer says another protocol (ARP, ...) */
    uint64_t unsupported_link;
    uint64_t not_udp;        /* TCP, ICMP, ... */
    uint64_t fragments;      /* IP fragments (not reassembled) */
    uint64_t truncated;      /* frame cut by the snap length, or short headers */
    uint64_t padded;         /* cut frames used anyway, zero-filled (pad_truncated) */
    uint64_t malformed_ip;   /* bad IP / UDP header */
    uint64_t time_backwards; /* timestamps older than the previous one (clamped) */
    uint64_t tracker_msgs;   /* tracker protocol datagrams (not given to the middlebox) */
    uint64_t tracker_bad;    /* datagrams with a tracker header whose body does not decode */
    uint64_t tracker_events; /* reports given by qasm_replay_event (events file) */
    uint64_t reports_applied;
    uint64_t reports_rejected; /* source check failed, or connection closed */
    uint64_t other_hop;      /* QUIC of a known connection, not to/from a server */
    uint64_t mbox_packets;   /* datagrams given to the middlebox core */
    uint64_t from_client;
    uint64_t from_server;
    uint64_t unattributed_quic; /* QUIC datagrams to/from a server no connection claims */
    uint64_t queries_answered;  /* QUERY answered with a record */
    uint64_t queries_not_found;
    uint64_t pushes;
    uint64_t ports_opened;      /* NAT PORT_OPEN events */
    uint64_t ports_closed;
    uint64_t return_misrouted;  /* NAT: a server packet delivered to another client address
                                   than the one it went to in the capture */
    uint64_t written;           /* packets given to the out callback */
    uint64_t deferred;          /* server packets that waited for the client packet they
                                   answer, which the core was holding */
};

/* One QUIC connection found in the capture. Arrays in first-seen order. */
struct qasm_replay_conn {
    struct qasm_cid odcid;
    struct qasm_cid client_scid;
    struct qasm_addr server;
    struct qasm_cid *dcids;      /* DCIDs seen (O-DCID excluded) */
    size_t ndcids;
    struct qasm_addr *clients;   /* client addresses seen */
    size_t nclients;
    uint16_t *ports;             /* NAT public ports its client packets left from */
    size_t nports;
    int *backends;               /* LB backends its client packets went to */
    size_t nbackends;
    struct qasm_addr *attested;  /* client addresses agent reports vouched for */
    size_t nattested;
    uint64_t packets;            /* datagrams given to the middlebox */
    uint64_t forwarded;
    uint64_t dropped;
    uint64_t held;
    int in_reports;              /* the tracker knew it */
};

/*
 * qasm_replay_new makes a replay for |cfg| (copied; the LB backend array
 * is copied by the core). Returns 0, -EINVAL (bad middlebox configuration)
 * or -ENOMEM; *pr is NULL on failure.
 */
int qasm_replay_new(struct qasm_replay **pr, const struct qasm_replay_config *cfg);

/* qasm_replay_del frees everything. NULL is fine. */
void qasm_replay_del(struct qasm_replay *r);

/*
 * qasm_replay_frame replays one captured frame of link type |dlt| (a DLT_*
 * value), |caplen| bytes captured of |wirelen|, at time |t|. Never fails:
 * what cannot be used is counted.
 */
void qasm_replay_frame(struct qasm_replay *r, qasm_tstamp t, int dlt, const uint8_t *frame,
                       size_t caplen, size_t wirelen);

/*
 * qasm_replay_event applies one agent report |m| (from --tracker-events) at
 * time |t|, trusted. Call it in time order with the frames. Returns 0 or
 * -EINVAL when |m| is not a report.
 */
int qasm_replay_event(struct qasm_replay *r, qasm_tstamp t, const struct qasm_proto_msg *m);

/*
 * qasm_replay_finish runs the clock past the last packet by the longest
 * hold / query wait so that no packet stays held. Call once at the end.
 */
void qasm_replay_finish(struct qasm_replay *r);

/* Results. */
const struct qasm_replay_counts *qasm_replay_counts(const struct qasm_replay *r);
size_t qasm_replay_nconns(const struct qasm_replay *r);
const struct qasm_replay_conn *qasm_replay_conn(const struct qasm_replay *r, size_t i);
const struct qasm_mbox *qasm_replay_mbox(const struct qasm_replay *r);
/* The embedded tracker's counters (tracker/core/store.h). */
struct qasm_store_stats;
const struct qasm_store_stats *qasm_replay_tracker_stats(const struct qasm_replay *r);
/* First and last timestamps seen (0 if none). */
qasm_tstamp qasm_replay_first_ts(const struct qasm_replay *r);
qasm_tstamp qasm_replay_last_ts(const struct qasm_replay *r);

#endif
