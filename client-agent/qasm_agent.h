/*
 * qasm_agent.h: the public API of libqasm-agent.so, for programs that link
 * the agent explicitly instead of (or as well as) loading it with
 * LD_PRELOAD. See docs/CLIENT-AGENT.md.
 *
 * Two ways to use the library:
 *
 *  1. Interposition (no code change): LD_PRELOAD=libqasm-agent.so, or link
 *     -lqasm-agent BEFORE -lngtcp2 so that its ngtcp2_conn_* wrappers come
 *     first in the symbol search order. Configuration from the environment
 *     (QASM_TRACKER, QASM_AGENT_LOG, ...) or from qasm_agent_init().
 *
 *  2. Explicit calls: call qasm_agent_init(tracker, QASM_AGENT_NO_INTERPOSE)
 *     first, then qasm_agent_track() after ngtcp2_conn_client_new(),
 *     qasm_agent_dcid_status() from your dcid_status callback,
 *     qasm_agent_poll() after each ngtcp2_conn_read_pkt() / migration call,
 *     qasm_agent_close() when the connection closes and qasm_agent_untrack()
 *     before ngtcp2_conn_del(). With interposition active these calls are
 *     harmless no-ops for facts already seen (the agent dedupes).
 *
 * All functions are thread-safe, never block (reports are non-blocking UDP
 * datagrams) and never fail the caller's connection: errors are counted.
 * Only the ngtcp2 ABI the agent was built for (0.12.x, libngtcp2.so.9) is
 * handled; with any other version everything is a no-op.
 */
#ifndef QASM_AGENT_H
#define QASM_AGENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <ngtcp2/ngtcp2.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Flags of qasm_agent_init. */
#define QASM_AGENT_NO_INTERPOSE 0x01u /* wrappers pass through; explicit calls only */
#define QASM_AGENT_NO_PREREG    0x02u /* do not learn spare CIDs (no pre-registration) */
#define QASM_AGENT_PREREG_QLOG  0x04u /* learn spare CIDs from qlog instead of decrypt */

/*
 * qasm_agent_init configures the agent before the first connection:
 * |tracker| is "HOST:PORT" (NULL: $QASM_TRACKER), |flags| QASM_AGENT_*.
 * Returns 0; -EALREADY if the agent was already initialised (from the
 * environment, by the first wrapped call, or by an earlier call);
 * -EINVAL if |tracker| does not parse or resolve; -EPROTONOSUPPORT if the
 * loaded libngtcp2 is not the version the agent handles.
 */
int qasm_agent_init(const char *tracker, unsigned flags);

/* qasm_agent_enabled returns 1 if reports are being sent (tracker set, ABI ok). */
int qasm_agent_enabled(void);

/*
 * qasm_agent_track starts tracking client connection |conn| (just created
 * by ngtcp2_conn_client_new): reports it opened with its O-DCID, SCID and
 * path. Returns 0 (also if already tracked), -EINVAL for a server
 * connection, -ENOMEM, or -ENOTCONN if the agent is disabled.
 */
int qasm_agent_track(ngtcp2_conn *conn);

/*
 * qasm_agent_poll compares |conn|'s current DCID and path with the last
 * reported ones and reports changes; sends a periodic refresh when due.
 * |ts| is the ngtcp2 timestamp (ns) the caller uses for |conn|.
 */
void qasm_agent_poll(ngtcp2_conn *conn, uint64_t ts);

/* qasm_agent_dcid_status feeds one ngtcp2 dcid_status callback (same arguments). */
void qasm_agent_dcid_status(ngtcp2_conn *conn, int type, uint64_t seq, const ngtcp2_cid *cid);

/*
 * qasm_agent_learn_cid pre-registers a CID the server issued
 * (NEW_CONNECTION_ID |seq|, |cid|) before the client uses it.
 */
void qasm_agent_learn_cid(ngtcp2_conn *conn, uint64_t seq, const ngtcp2_cid *cid);

/*
 * qasm_agent_announce_path says that |conn| will move to the local address
 * |local| (|locallen| bytes, IPv4 or IPv6): call it when the socket of the
 * next migration is bound, before migrating to it. The agent reports the
 * address for the connection now (an ADDR report, sent from that address),
 * so the tracker attests it, and its pushes reach the middleboxes, before
 * the first packet on the new path ("attest ahead", docs/CLIENT-AGENT.md).
 * At most 4 announced addresses per connection wait for their use; a
 * further one replaces the oldest. Works with interposition and with
 * explicit tracking. Returns 0 (also when already announced, or when
 * |local| is the current address), -ENOTCONN if the agent is disabled,
 * -ENOENT if |conn| is not tracked, -EINVAL for a bad address,
 * -ESHUTDOWN once the connection was reported closed.
 *
 * Find it with dlsym(RTLD_DEFAULT, "qasm_agent_announce_path") to run
 * with or without the agent preloaded.
 */
int qasm_agent_announce_path(ngtcp2_conn *conn, const struct sockaddr *local,
                             socklen_t locallen);

/* Close reasons for qasm_agent_close (same values as reported). */
#define QASM_AGENT_CLOSED_LOCAL 0
#define QASM_AGENT_CLOSED_DRAINING 1
#define QASM_AGENT_CLOSED_IDLE 2
#define QASM_AGENT_CLOSED_RESET 3

/* qasm_agent_close reports |conn| closed (once). */
void qasm_agent_close(ngtcp2_conn *conn, int reason);

/* qasm_agent_untrack reports close if not done yet and forgets |conn|. */
void qasm_agent_untrack(ngtcp2_conn *conn);

struct qasm_agent_stats {
    uint64_t conns_tracked;   /* client connections seen */
    uint64_t conns_live;      /* tracked now */
    uint64_t reports_sent;    /* datagrams handed to the kernel */
    uint64_t send_errors;     /* datagrams the kernel refused (tracker down, buffer full) */
    uint64_t encode_errors;   /* reports that did not encode (a bug) */
    uint64_t events_dropped;  /* events lost to a full queue (a refresh follows) */
    uint64_t dcid_changes;    /* DCID switches seen */
    uint64_t addr_changes;    /* client address changes seen */
    uint64_t spares_learnt;   /* CIDs pre-registered from NEW_CONNECTION_ID */
    uint64_t refreshes;       /* periodic full-state reports */
    uint64_t closes;          /* connections reported closed */
    uint64_t migrations;      /* initiate_(immediate_)migration calls that returned 0 */
    uint64_t migration_ns;    /* agent time spent inside those calls (reporting) */
    uint64_t busy_ns;         /* agent time spent reporting, all paths */
    /* Added last (the struct only grows): */
    uint64_t paths_announced; /* addresses reported ahead (qasm_agent_announce_path) */
    uint64_t paths_replaced;  /* ... replaced by newer ones before their use */
};

/*
 * qasm_agent_get_stats_sized copies the first |size| bytes of the counters
 * (at most sizeof(struct qasm_agent_stats) of this library) into |st| and
 * returns the library's size. The struct only grows at its end, so a program
 * built against an older header gets the counters it knows of and nothing is
 * written past its struct; one built against a newer header finds the
 * counters this library lacks left as they were (compare the return value).
 */
size_t qasm_agent_get_stats_sized(struct qasm_agent_stats *st, size_t size);

/*
 * qasm_agent_get_stats copies the counters this header knows of. The
 * exported symbol of that name (what programs built before the sized call
 * existed link to) copies the first 14 counters only: the struct they
 * were built with.
 */
void(qasm_agent_get_stats)(struct qasm_agent_stats *st);
#define qasm_agent_get_stats(st) \
    ((void)qasm_agent_get_stats_sized((st), sizeof(struct qasm_agent_stats)))

#ifdef __cplusplus
}
#endif

#endif
