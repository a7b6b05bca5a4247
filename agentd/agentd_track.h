/*
 * agentd_track.h: the eBPF client agent's pure core. It turns the events
 * of the cgroup_skb programs (agentd/agentd_ev.h) into the same
 * per-connection state and report events as the library agent
 * (client-agent/agent_state.h), so qasm-agentd sends the tracker exactly
 * the reports libqasm-agent.so sends, encoded by client-agent/agent_report.c.
 *
 * Attribution (which connection an event belongs to), in this order:
 *  1. its flow: a connection to that server that used that local address;
 *  2. its DCID: a connection that already used the DCID (NAT rebinding,
 *     a new local port with the same DCID);
 *  3. a client Initial on no known flow opens a connection;
 *  3b. an adopted flow (a connection that was running before the programs
 *     were attached, agentd_ev.h) opens a connection whose "O-DCID" is the
 *     first DCID seen, if its local port is an ephemeral one (cfg.eph_lo ..
 *     eph_hi): a local server's flow is not a client's;
 *  4. a new flow with an unknown DCID to a server: the live connection to
 *     that server address of the same socket owner (uid) that was active
 *     last (a migration with a fresh DCID: the spare DCIDs travel
 *     encrypted, the wire cannot tie them to the connection). More than
 *     one candidate counts as `ambiguous`, none as `unattributed`.
 *
 * Lookups 1, 2 and P1 below go through a hash index of every connection's
 * flows, DCIDs and client CIDs (O(1) per event or payload, whatever the
 * number of connections); 4 and P2 scan the live connections (a migration
 * with a fresh DCID, a payload of an unknown client CID: rare).
 *
 * Decrypted payloads (--prereg gnutls, struct qasm_agentd_plain) carry no
 * flow: the BPF side saw a thread decrypt a packet, not which socket the
 * packet came from. Their NEW_CONNECTION_ID frames (spare DCIDs) go to:
 *  P1. the connection one of whose client CIDs is the DCID in the packet's
 *      header (the decrypt's AAD): the client's SCID of its Initial, or a
 *      client CID learnt by P2. Short headers carry no CID length: each
 *      connection's own SCID length is tried.
 *  P2. else the one live connection whose payloads the same process
 *      (tgid) decrypted last (a server that switched to another client CID
 *      after a migration); that CID is then remembered for P1. Several
 *      such connections count as `plain_ambiguous`, none as
 *      `plain_unattributed`: their CIDs are not pre-registered (they are
 *      still reported at their first use on the wire).
 * Payloads without NEW_CONNECTION_ID are only counted.
 *
 * Closes (besides idle expiry):
 *  - an Initial packet of a client flow (struct qasm_agentd_initpkt) is
 *    decrypted with the Initial keys of its connection's O-DCID (or of a
 *    DCID the client sent, for a Retry); a CONNECTION_CLOSE in it closes
 *    the connection (LOCAL when the client sent it, DRAINING when the
 *    server did);
 *  - a decrypted payload (--prereg) whose first frames hold a
 *    CONNECTION_CLOSE is the server's close (DRAINING), tied to its
 *    connection like NEW_CONNECTION_ID above; a payload the client was
 *    about to encrypt (QASM_AGENTD_EV_PLAIN_OUT) is the client's own close
 *    (LOCAL), tied by the server CID in its header (one of the connection's
 *    DCIDs), else by process as in P2.
 *
 * No I/O and no clock: time is passed in (CLOCK_MONOTONIC ns, the clock of
 * bpf_ktime_get_ns), reports leave through the caller's emit callback.
 */
#ifndef QASM_AGENTD_TRACK_H
#define QASM_AGENTD_TRACK_H

#include <stddef.h>
#include <stdint.h>

#include "clock.h"
#include "agentd/agentd_ev.h"
#include "client-agent/agent_state.h"

struct qasm_agentd_track;

/*
 * Called with the events of one observation of connection |c| (never
 * empty). The first event of a new connection is OPEN: the caller draws
 * c->secret then, before encoding.
 */
typedef void (*qasm_agentd_emit_fn)(void *arg, struct qasm_agent_conn *c,
                                    const struct qasm_agent_evq *q);

/* Latest activity of |c| the caller knows of (the BPF flow map's last_ns), or 0. */
typedef qasm_tstamp (*qasm_agentd_activity_fn)(void *arg, const struct qasm_agent_conn *c);

struct qasm_agentd_track_cfg {
    size_t max_conns;       /* live connections at most (more: counted as table_full) */
    qasm_duration idle;     /* no packet for this long: CLOSE (idle) */
    qasm_duration refresh;  /* REFRESH period per connection (0 = never) */
    qasm_agentd_emit_fn emit;
    qasm_agentd_activity_fn activity; /* may be NULL */
    uint16_t eph_lo, eph_hi; /* ephemeral local ports (adoption); 0, 0 = any port */
    void *arg;
};

struct qasm_agentd_track_stats {
    uint64_t events;        /* BPF events fed */
    uint64_t opened;        /* connections opened */
    uint64_t closed_idle;   /* connections closed by idle expiry */
    uint64_t dcids;         /* DCID changes attributed */
    uint64_t addrs;         /* local address changes attributed */
    uint64_t unattributed;  /* events of no connection */
    uint64_t ambiguous;     /* attributed by server address among several candidates */
    uint64_t table_full;    /* Initials not tracked: max_conns reached */
    uint64_t adopted;       /* running connections opened from an adopted flow */
    uint64_t adopt_refused; /* adopted flows from a non-ephemeral port (a local server's?) */
    uint64_t evq_dropped;   /* report events beyond one queue */
    uint64_t live;          /* connections tracked now */
    uint64_t plains;        /* decrypted payloads fed (--prereg) */
    uint64_t plain_newcids; /* NEW_CONNECTION_ID frames found in them */
    uint64_t spares;        /* spare DCIDs learnt (reported before their first use) */
    uint64_t plain_by_pid;  /* payloads attributed by their process (P2) */
    uint64_t plain_ambiguous;    /* P2 with several candidates: not attributed */
    uint64_t plain_unattributed; /* NEW_CONNECTION_ID of no connection */
    uint64_t initials;        /* Initial packets fed */
    uint64_t initials_opened; /* ... that decrypted */
    uint64_t initials_unopened;     /* ... of a known connection that did not (no key fitted) */
    uint64_t initials_unattributed; /* ... of no connection */
    uint64_t closed_initial;  /* connections closed by a CONNECTION_CLOSE in an Initial */
    uint64_t closed_local;    /* ... by the client's CONNECTION_CLOSE (--prereg) */
    uint64_t closed_peer;     /* ... by the server's CONNECTION_CLOSE (--prereg) */
    uint64_t close_unattributed; /* CONNECTION_CLOSE payloads (--prereg) of no connection */
    uint64_t index_failed;    /* keys not indexed (no memory): lookups by them miss */
    uint64_t indexed;         /* keys in the index now (flows, DCIDs, client CIDs) */
};

/* qasm_agentd_track_new returns a tracker core, or NULL (no memory, max_conns 0, no emit). */
struct qasm_agentd_track *qasm_agentd_track_new(const struct qasm_agentd_track_cfg *cfg);
void qasm_agentd_track_free(struct qasm_agentd_track *t);

/*
 * qasm_agentd_track_event feeds one BPF event at |now|. Returns 1 if it
 * was attributed to a connection (reports may have been emitted), 0 if not.
 */
int qasm_agentd_track_event(struct qasm_agentd_track *t, const struct qasm_agentd_ev *ev,
                            qasm_tstamp now);

/*
 * qasm_agentd_track_plain feeds one decrypted payload (or, for
 * QASM_AGENTD_EV_PLAIN_OUT, one about to be encrypted) at |now|: its
 * NEW_CONNECTION_ID frames are learnt as spare DCIDs of their connection
 * (DCID_SPARE reports); a CONNECTION_CLOSE closes it. Returns the number of
 * frames attributed (the close counts as one).
 */
int qasm_agentd_track_plain(struct qasm_agentd_track *t, const struct qasm_agentd_plain *p,
                            qasm_tstamp now);

/*
 * qasm_agentd_track_initial feeds one Initial packet (a datagram's first
 * bytes) at |now|: decrypted, a CONNECTION_CLOSE in it closes its
 * connection. Returns 1 if it closed one, 0 if not.
 */
int qasm_agentd_track_initial(struct qasm_agentd_track *t, const struct qasm_agentd_initpkt *ip,
                              qasm_tstamp now);

/*
 * qasm_agentd_track_tick expires connections idle for cfg.idle (CLOSE,
 * reason idle; the activity callback is asked first) and sends the due
 * refreshes. Call it about once a second.
 */
void qasm_agentd_track_tick(struct qasm_agentd_track *t, qasm_tstamp now);

/* qasm_agentd_track_get_stats copies the counters. */
void qasm_agentd_track_get_stats(const struct qasm_agentd_track *t,
                                 struct qasm_agentd_track_stats *st);

/* qasm_agentd_ev_addrs converts an event's flow into the local and remote addresses. */
void qasm_agentd_ev_addrs(const struct qasm_agentd_ev *ev, struct qasm_addr *local,
                          struct qasm_addr *remote);

/* qasm_agentd_fkey_addrs is the same for a flow key. */
void qasm_agentd_fkey_addrs(const struct qasm_agentd_fkey *k, struct qasm_addr *local,
                            struct qasm_addr *remote);

#endif
