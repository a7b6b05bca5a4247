/*
 * h3conn.h: what the HTTP/3 client and server connections share: the ngtcp2
 * connection with its TLS session and nghttp3 connection, the ngtcp2 expiry
 * timer, the send function, and the glue between ngtcp2 and nghttp3 (stream
 * data, ACKed offsets, stream close/reset/stop-sending, flow-control credit).
 *
 * Embed a struct qasm_h3conn in the application's connection and give its
 * address to ngtcp2 and nghttp3 as user_data; the application's own
 * callbacks get back to their connection with QASM_H3CONN_OWNER.
 */
#ifndef QASM_H3_H3CONN_H
#define QASM_H3_H3CONN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <ev.h>
#include <gnutls/gnutls.h>
#include <jansson.h>
#include <nghttp3/nghttp3.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include "clock.h"
#include "log.h"
#include "quicwrite.h"

/* At most this many datagrams per flush. */
#define QASM_H3CONN_MAX_BURST 64

/* Counters kept by the shared callbacks; one set serves all connections of a process. */
struct qasm_h3conn_counters {
    uint64_t paths_validated, path_validation_failed;
    uint64_t path_validation_aborted; /* of the failed: superseded by a newer migration */
    uint64_t streams_reset;  /* streams nghttp3 had us reset (RESET_STREAM sent) */
};

struct qasm_h3conn {
    ngtcp2_crypto_conn_ref conn_ref;  /* the TLS session's way back to conn */
    ngtcp2_conn *conn;
    gnutls_session_t tls;
    nghttp3_conn *h3;                 /* NULL until the application sets it up */
    struct ev_loop *loop;
    ev_timer timer;                   /* ngtcp2 expiry; data = owner */
    qasm_quic_send_fn send;
    void *owner;                      /* the application's connection; send's ud */
    enum qasm_log_level read_err_level;  /* for nghttp3 read errors */
    struct qasm_h3conn_counters *n;
    FILE *qlog;                       /* --qlog-dir: this connection's qlog (NULL: none) */
};

/*
 * qasm_h3conn_json_counters adds to the object |j| the unsigned counters
 * |v|[i] under |keys|[i], in order: the client's and the server's JSON
 * summaries are mostly such runs.
 */
void qasm_h3conn_json_counters(json_t *j, const char *const *keys, const uint64_t *v, size_t n);

/*
 * qasm_h3conn_json_print writes |j| on one compact line to |f|, keys in
 * insertion order, reals with 15 significant digits (a value rounded to the
 * microsecond prints without a binary tail), and frees it.
 */
void qasm_h3conn_json_print(json_t *j, FILE *f);

/* QASM_H3CONN_OWNER turns |ptr|, the address of the qasm_h3conn |member| of a |type|, back into
 * that |type|. */
#define QASM_H3CONN_OWNER(ptr, type, member) \
    ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/*
 * qasm_h3conn_init prepares |q| (zeroed by the caller): its crypto conn_ref,
 * the expiry timer (|timer_cb|, data |owner|, not started) on |loop|, and
 * |send| with |owner| as its ud. nghttp3 read errors are logged at
 * |read_err_level|; the shared callbacks count into |n|.
 */
void qasm_h3conn_init(struct qasm_h3conn *q, struct ev_loop *loop, qasm_quic_send_fn send,
                      void *owner, void (*timer_cb)(struct ev_loop *, ev_timer *, int),
                      enum qasm_log_level read_err_level, struct qasm_h3conn_counters *n);

/*
 * qasm_h3conn_free stops the timer and deletes the nghttp3 and ngtcp2
 * connections and the TLS session (those that exist) and closes the qlog;
 * |q| itself is not freed.
 */
void qasm_h3conn_free(struct qasm_h3conn *q);

/*
 * qasm_h3conn_callbacks sets |cb| to the ngtcp2 callbacks client and server
 * share (the others NULL): the ngtcp2_crypto ones, random bytes, path
 * validation (counted) and the stream glue to nghttp3. The caller adds its
 * own (initial packet, handshake, connection IDs).
 */
void qasm_h3conn_callbacks(ngtcp2_callbacks *cb);

/*
 * qasm_h3conn_settings sets |settings| to ngtcp2's defaults with initial
 * timestamp |ts|, initial RTT |initial_rtt|, the project's flow-control
 * windows, and ngtcp2's debug log when QASM_NGTCP2_LOG=FILE is set.
 */
void qasm_h3conn_settings(ngtcp2_settings *settings, qasm_tstamp ts, qasm_duration initial_rtt);

/*
 * qasm_h3conn_qlog_open opens DIR/NAME.sqlog (|name| without the suffix)
 * and points |settings|' qlog writer at it; ngtcp2 then writes the
 * connection's qlog (JSON-SEQ) there through its user_data, which must be
 * |q|. A file that cannot be created is a warning: the connection runs
 * without. The file is closed when ngtcp2 finishes the log or by
 * qasm_h3conn_free.
 */
void qasm_h3conn_qlog_open(struct qasm_h3conn *q, ngtcp2_settings *settings, const char *dir,
                           const char *name);

/*
 * qasm_h3conn_start_tls creates the TLS session of |q| (|server| or client
 * with SNI |sni|, credentials |cred|) and hands it to q->conn, which must
 * exist. Returns 0, or -1 with a message on stderr.
 */
int qasm_h3conn_start_tls(struct qasm_h3conn *q, int server, gnutls_certificate_credentials_t cred,
                          const char *sni);

/*
 * qasm_h3conn_setup_h3 creates the nghttp3 connection of |q| (|server| or
 * client) with user_data |q| and the application's nghttp3 callbacks |app|
 * (headers, data, stream end and close) plus those client and server share
 * (flow-control credit for consumed data, STOP_SENDING / RESET_STREAM
 * (counted) passed to ngtcp2), and opens and binds its control and QPACK
 * streams. A server also takes its peer's bidi stream limit
 * from the local transport parameters. Does nothing when it exists already.
 * Returns 0 or -1.
 */
int qasm_h3conn_setup_h3(struct qasm_h3conn *q, int server, const nghttp3_callbacks *app);

/*
 * qasm_h3conn_stream_gone gives the peer back the credit for one more
 * bidirectional stream when |sid| was one of its bidirectional streams
 * (call it once a stream is closed for good).
 */
void qasm_h3conn_stream_gone(struct qasm_h3conn *q, int64_t sid);

/*
 * qasm_h3conn_consume gives back |n| bytes of flow-control credit of stream
 * |sid| and of the connection (the application consumed them).
 */
void qasm_h3conn_consume(struct qasm_h3conn *q, int64_t sid, uint64_t n);

/*
 * qasm_h3conn_flush writes what |q| has to send at time |ts| (at most
 * QASM_H3CONN_MAX_BURST datagrams) through its send function. Returns 0 or
 * a negative ngtcp2/nghttp3 error (the caller closes the connection).
 */
int qasm_h3conn_flush(struct qasm_h3conn *q, qasm_tstamp ts);

/*
 * qasm_h3conn_close_pkt sends a CONNECTION_CLOSE for |liberr| / |h3err|
 * (see qasm_quic_close_pkt) now, unless closing or draining.
 */
void qasm_h3conn_close_pkt(struct qasm_h3conn *q, int liberr, uint64_t h3err);

/* qasm_h3conn_arm_timer (re)starts the timer of |q| for ngtcp2's next expiry. */
void qasm_h3conn_arm_timer(struct qasm_h3conn *q);

#endif
