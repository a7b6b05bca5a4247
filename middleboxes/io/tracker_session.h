/*
 * tracker_session.h: qasm-mbox's TCP session to the tracker (docs/PROTOCOL.md),
 * a libev shell around the lib/proto.h codec. Non-blocking connect, pipelined
 * requests (the caller picks the req_ids), replies and pushes delivered by
 * callback, reconnection with exponential backoff. It never blocks the loop:
 * requests are appended to an output buffer and written when the socket
 * allows; qasm_tsess_flush() pushes them out at the end of a batch.
 *
 * While the session is down every send fails with -ENOTCONN, so the caller
 * (the middlebox core) falls back to default treatment at once. When the
 * session is lost, on_down is called: every request in flight is lost and
 * every subscription is gone (the tracker ends them with the session).
 */
#ifndef QASM_MBOX_TRACKER_SESSION_H
#define QASM_MBOX_TRACKER_SESSION_H

#include <stdint.h>

#include <ev.h>

#include "addr.h"
#include "auth.h"
#include "clock.h"
#include "proto.h"

struct qasm_tsess;

struct qasm_tsess_callbacks {
    /* The session is connected; requests can be sent. */
    void (*on_up)(void *ud);
    /* The session was lost (or a connect attempt failed after being up). */
    void (*on_down)(void *ud);
    /* A message arrived: RECORD, NOT_FOUND, OK, ERROR (replies: hdr.req_id of the request), PUSH. */
    void (*on_msg)(void *ud, const struct qasm_proto_msg *m);
};

struct qasm_tsess_counters {
    uint64_t connects;        /* successful connects */
    uint64_t connect_fails;   /* failed attempts (refused, timeout) */
    uint64_t disconnects;     /* sessions lost after being up */
    uint64_t msgs_sent;
    uint64_t msgs_recv;
    uint64_t msgs_bad;        /* undecodable messages received (skipped or session closed) */
    uint64_t send_overflow;   /* requests refused because the output buffer was full */
    uint64_t bytes_sent;
    uint64_t bytes_recv;
    uint64_t auth_failures;   /* key handshakes failed: the tracker did not prove the key, or refused ours */
    uint64_t keepalives;      /* STATS sent after 30 s without a request (the tracker's idle timeout) */
};

/*
 * qasm_tsess_new creates a session to |tracker| on |loop| and starts
 * connecting. |cb| and |ud| are borrowed for the session's life. With |key|
 * (copied; NULL or an empty key: none) every connect is followed by the key
 * handshake (docs/PROTOCOL.md, "Session authentication"): the session is up
 * only once the tracker proved the key and accepted our proof; a tracker
 * that cannot prove it is never trusted (the session retries with backoff,
 * counted in auth_failures). Returns 0, or -ENOMEM / -EINVAL with *ps = NULL.
 */
int qasm_tsess_new(struct qasm_tsess **ps, struct ev_loop *loop, const struct qasm_addr *tracker,
                   const struct qasm_auth_key *key, const struct qasm_tsess_callbacks *cb,
                   void *ud);

/*
 * qasm_tsess_set_keepalive: after |secs| (default 30) without a request the
 * session sends a STATS request (its reply is not passed on), so the
 * tracker's idle timeout (qasm-tracker --session-idle) never closes it.
 */
void qasm_tsess_set_keepalive(struct qasm_tsess *s, double secs);

/* qasm_tsess_del closes the session (no callback) and frees it. NULL is fine. */
void qasm_tsess_del(struct qasm_tsess *s);

/* qasm_tsess_is_up tells whether the session is connected. */
int qasm_tsess_is_up(const struct qasm_tsess *s);

/*
 * qasm_tsess_send encodes |m| into the output buffer (written on the next
 * flush or when the socket becomes writable). Returns 0, -ENOTCONN when
 * the session is down, -ENOBUFS when the output buffer is full, -EINVAL
 * when |m| does not encode.
 */
int qasm_tsess_send(struct qasm_tsess *s, const struct qasm_proto_msg *m);

/* qasm_tsess_flush writes what it can now, and waits for writability for the rest. */
void qasm_tsess_flush(struct qasm_tsess *s);

/* qasm_tsess_counters returns the session's counters. */
const struct qasm_tsess_counters *qasm_tsess_counters(const struct qasm_tsess *s);

#endif
