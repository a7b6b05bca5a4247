/* h3conn.c: the ngtcp2 + nghttp3 connection shared by client and server (see h3conn.h). */
#include "h3conn.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

#include "tls.h"

static ngtcp2_conn *get_conn(ngtcp2_crypto_conn_ref *ref)
{
    return ((struct qasm_h3conn *)ref->user_data)->conn;
}

void qasm_h3conn_init(struct qasm_h3conn *q, struct ev_loop *loop, qasm_quic_send_fn send,
                      void *owner, void (*timer_cb)(struct ev_loop *, ev_timer *, int),
                      enum qasm_log_level read_err_level, struct qasm_h3conn_counters *n)
{
    q->conn_ref.get_conn = get_conn;
    q->conn_ref.user_data = q;
    q->loop = loop;
    ev_init(&q->timer, timer_cb);
    q->timer.data = owner;
    q->send = send;
    q->owner = owner;
    q->read_err_level = read_err_level;
    q->n = n;
}

void qasm_h3conn_free(struct qasm_h3conn *q)
{
    ev_timer_stop(q->loop, &q->timer);
    if (q->h3)
        nghttp3_conn_del(q->h3);
    if (q->conn)
        ngtcp2_conn_del(q->conn);
    if (q->tls)
        gnutls_deinit(q->tls);
    if (q->qlog)
        fclose(q->qlog);
    q->qlog = NULL;
}

static void qlog_write(void *ud, uint32_t flags, const void *data, size_t len)
{
    struct qasm_h3conn *q = ud;
    if (!q->qlog)
        return;
    fwrite(data, 1, len, q->qlog);
    if (flags & NGTCP2_QLOG_WRITE_FLAG_FIN) {
        fclose(q->qlog);
        q->qlog = NULL;
    }
}

void qasm_h3conn_qlog_open(struct qasm_h3conn *q, ngtcp2_settings *settings, const char *dir,
                           const char *name)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s.sqlog", dir, name);
    q->qlog = fopen(path, "w");
    if (!q->qlog) {
        qasm_warn("qlog %s: %s", path, strerror(errno));
        return;
    }
    settings->qlog.write = qlog_write;
}

/* ------------------------------------------------------- ngtcp2 callbacks */

static int cb_recv_stream_data(ngtcp2_conn *conn, uint32_t flags, int64_t sid, uint64_t offset,
                               const uint8_t *data, size_t len, void *ud, void *sud)
{
    struct qasm_h3conn *q = ud;
    (void)conn;
    (void)offset;
    (void)sud;
    if (!q->h3)
        return NGTCP2_ERR_CALLBACK_FAILURE;
    nghttp3_ssize n = nghttp3_conn_read_stream(q->h3, sid, data, len,
                                               flags & NGTCP2_STREAM_DATA_FLAG_FIN);
    if (n < 0) {
        qasm_log(q->read_err_level, "nghttp3_conn_read_stream: %s", nghttp3_strerror((int)n));
        return NGTCP2_ERR_CALLBACK_FAILURE;
    }
    qasm_h3conn_consume(q, sid, (uint64_t)n);
    return 0;
}

static int cb_acked_stream_data_offset(ngtcp2_conn *conn, int64_t sid, uint64_t offset,
                                       uint64_t len, void *ud, void *sud)
{
    struct qasm_h3conn *q = ud;
    (void)conn;
    (void)offset;
    (void)sud;
    if (q->h3 && nghttp3_conn_add_ack_offset(q->h3, sid, len) != 0)
        return NGTCP2_ERR_CALLBACK_FAILURE;
    return 0;
}

/* A closed stream nghttp3 never knew (e.g. reset before its headers) gives
 * back its bidi credit here; the client has no such streams. */
static int cb_stream_close(ngtcp2_conn *conn, uint32_t flags, int64_t sid, uint64_t code,
                           void *ud, void *sud)
{
    struct qasm_h3conn *q = ud;
    (void)conn;
    (void)sud;
    if (!(flags & NGTCP2_STREAM_CLOSE_FLAG_APP_ERROR_CODE_SET))
        code = NGHTTP3_H3_NO_ERROR;
    if (!q->h3)
        return 0;
    int rv = nghttp3_conn_close_stream(q->h3, sid, code);
    if (rv == NGHTTP3_ERR_STREAM_NOT_FOUND) {
        qasm_h3conn_stream_gone(q, sid);
        return 0;
    }
    return rv == 0 ? 0 : NGTCP2_ERR_CALLBACK_FAILURE;
}

static int cb_stream_reset(ngtcp2_conn *conn, int64_t sid, uint64_t final_size, uint64_t code,
                           void *ud, void *sud)
{
    struct qasm_h3conn *q = ud;
    (void)conn;
    (void)final_size;
    (void)code;
    (void)sud;
    if (q->h3 && nghttp3_conn_shutdown_stream_read(q->h3, sid) != 0)
        return NGTCP2_ERR_CALLBACK_FAILURE;
    return 0;
}

static int cb_stream_stop_sending(ngtcp2_conn *conn, int64_t sid, uint64_t code, void *ud,
                                  void *sud)
{
    return cb_stream_reset(conn, sid, 0, code, ud, sud);
}

static int cb_extend_max_stream_data(ngtcp2_conn *conn, int64_t sid, uint64_t max, void *ud,
                                     void *sud)
{
    struct qasm_h3conn *q = ud;
    (void)conn;
    (void)max;
    (void)sud;
    if (q->h3 && nghttp3_conn_unblock_stream(q->h3, sid) != 0)
        return NGTCP2_ERR_CALLBACK_FAILURE;
    return 0;
}

static int cb_path_validation(ngtcp2_conn *conn, uint32_t flags, const ngtcp2_path *path,
                              ngtcp2_path_validation_result res, void *ud)
{
    struct qasm_h3conn *q = ud;
    (void)conn;
    (void)flags;
    (void)path;
    if (res == NGTCP2_PATH_VALIDATION_RESULT_SUCCESS)
        q->n->paths_validated++;
    else
        q->n->path_validation_failed++;
    if (res == NGTCP2_PATH_VALIDATION_RESULT_ABORTED) /* the next migration came first */
        q->n->path_validation_aborted++;
    return 0;
}

static void cb_rand(uint8_t *dest, size_t len, const ngtcp2_rand_ctx *ctx)
{
    (void)ctx;
    (void)gnutls_rnd(GNUTLS_RND_RANDOM, dest, len);
}

/* The ngtcp2 callbacks client and server share. */
static const ngtcp2_callbacks shared_callbacks = {
    .recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb,
    .encrypt = ngtcp2_crypto_encrypt_cb,
    .decrypt = ngtcp2_crypto_decrypt_cb,
    .hp_mask = ngtcp2_crypto_hp_mask_cb,
    .update_key = ngtcp2_crypto_update_key_cb,
    .delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb,
    .delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb,
    .get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb,
    .version_negotiation = ngtcp2_crypto_version_negotiation_cb,
    .rand = cb_rand,
    .recv_stream_data = cb_recv_stream_data,
    .acked_stream_data_offset = cb_acked_stream_data_offset,
    .stream_close = cb_stream_close,
    .stream_reset = cb_stream_reset,
    .stream_stop_sending = cb_stream_stop_sending,
    .extend_max_stream_data = cb_extend_max_stream_data,
    .path_validation = cb_path_validation,
};

void qasm_h3conn_callbacks(ngtcp2_callbacks *cb)
{
    *cb = shared_callbacks;
}

/* ------------------------------------------------------- ngtcp2 settings */

/* ngtcp2's debug log, enabled by QASM_NGTCP2_LOG=FILE (very verbose). */
static FILE *ngtcp2_log_file;

static void ngtcp2_log_cb(void *ud, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void ngtcp2_log_cb(void *ud, const char *fmt, ...)
{
    va_list ap;
    (void)ud;
    fprintf(ngtcp2_log_file, "%.6f ", (double)qasm_now() / 1e9);
    va_start(ap, fmt);
    vfprintf(ngtcp2_log_file, fmt, ap);
    va_end(ap);
    fputc('\n', ngtcp2_log_file);
}

static void ngtcp2_log_setup(ngtcp2_settings *settings)
{
    static int checked;
    if (!checked) {
        const char *path = getenv("QASM_NGTCP2_LOG");
        checked = 1;
        if (path && *path && !(ngtcp2_log_file = fopen(path, "w")))
            qasm_warn("QASM_NGTCP2_LOG=%s: %s", path, strerror(errno));
        if (ngtcp2_log_file)  /* complete up to an abort() inside ngtcp2 */
            setvbuf(ngtcp2_log_file, NULL, _IOLBF, 0);
    }
    if (ngtcp2_log_file)
        settings->log_printf = ngtcp2_log_cb;
}

void qasm_h3conn_settings(ngtcp2_settings *settings, qasm_tstamp ts, qasm_duration initial_rtt)
{
    ngtcp2_settings_default(settings);
    settings->initial_ts = ts;
    settings->initial_rtt = initial_rtt;
    ngtcp2_log_setup(settings);
    settings->max_window = 24 * 1024 * 1024;
    settings->max_stream_window = 16 * 1024 * 1024;
}

int qasm_h3conn_start_tls(struct qasm_h3conn *q, int server, gnutls_certificate_credentials_t cred,
                          const char *sni)
{
    if (qasm_tls_session_new(&q->tls, server, cred, sni, &q->conn_ref) != 0)
        return -1;
    ngtcp2_conn_set_tls_native_handle(q->conn, q->tls);
    return 0;
}

/* ---------------------------------------------------------------- HTTP/3 */

static int bind_streams(struct qasm_h3conn *q)
{
    int64_t ctrl, enc, dec;
    if (ngtcp2_conn_open_uni_stream(q->conn, &ctrl, NULL) != 0 ||
        nghttp3_conn_bind_control_stream(q->h3, ctrl) != 0 ||
        ngtcp2_conn_open_uni_stream(q->conn, &enc, NULL) != 0 ||
        ngtcp2_conn_open_uni_stream(q->conn, &dec, NULL) != 0 ||
        nghttp3_conn_bind_qpack_streams(q->h3, enc, dec) != 0)
        return -1;
    return 0;
}

void qasm_h3conn_stream_gone(struct qasm_h3conn *q, int64_t sid)
{
    if (ngtcp2_is_bidi_stream(sid) && !ngtcp2_conn_is_local_stream(q->conn, sid))
        ngtcp2_conn_extend_max_streams_bidi(q->conn, 1);
}

void qasm_h3conn_consume(struct qasm_h3conn *q, int64_t sid, uint64_t n)
{
    ngtcp2_conn_extend_max_stream_offset(q->conn, sid, n);
    ngtcp2_conn_extend_max_offset(q->conn, n);
}

static int h3_deferred_consume(nghttp3_conn *h3, int64_t sid, size_t consumed, void *ud,
                               void *sud)
{
    (void)h3;
    (void)sud;
    qasm_h3conn_consume(ud, sid, consumed);
    return 0;
}

static int h3_stop_sending(nghttp3_conn *h3, int64_t sid, uint64_t code, void *ud, void *sud)
{
    struct qasm_h3conn *q = ud;
    (void)h3;
    (void)sud;
    ngtcp2_conn_shutdown_stream_read(q->conn, sid, code);
    return 0;
}

static int h3_reset_stream(nghttp3_conn *h3, int64_t sid, uint64_t code, void *ud, void *sud)
{
    struct qasm_h3conn *q = ud;
    (void)h3;
    (void)sud;
    q->n->streams_reset++;
    ngtcp2_conn_shutdown_stream_write(q->conn, sid, code);
    return 0;
}

int qasm_h3conn_setup_h3(struct qasm_h3conn *q, int server, const nghttp3_callbacks *app)
{
    nghttp3_settings settings;
    if (q->h3)
        return 0;
    nghttp3_callbacks all = *app, *cb = &all;
    cb->deferred_consume = h3_deferred_consume;
    cb->stop_sending = h3_stop_sending;
    cb->reset_stream = h3_reset_stream;
    if (ngtcp2_conn_get_max_local_streams_uni(q->conn) < 3)
        return -1;
    nghttp3_settings_default(&settings);
    settings.qpack_max_dtable_capacity = 4096;
    settings.qpack_blocked_streams = 100;
    if (server) {
        if (nghttp3_conn_server_new(&q->h3, cb, &settings, NULL, q) != 0)
            return -1;
        const ngtcp2_transport_params *p = ngtcp2_conn_get_local_transport_params(q->conn);
        nghttp3_conn_set_max_client_streams_bidi(q->h3, p->initial_max_streams_bidi);
    } else if (nghttp3_conn_client_new(&q->h3, cb, &settings, NULL, q) != 0) {
        return -1;
    }
    return bind_streams(q);
}

/* ---------------------------------------------------------------- output */

int qasm_h3conn_flush(struct qasm_h3conn *q, qasm_tstamp ts)
{
    return qasm_quic_flush(q->conn, q->h3, q->send, q->owner, ts, QASM_H3CONN_MAX_BURST, NULL);
}

void qasm_h3conn_close_pkt(struct qasm_h3conn *q, int liberr, uint64_t h3err)
{
    qasm_quic_close_pkt(q->conn, liberr, h3err, q->send, q->owner, qasm_now());
}

void qasm_h3conn_arm_timer(struct qasm_h3conn *q)
{
    qasm_tstamp exp = ngtcp2_conn_get_expiry(q->conn), now = qasm_now();
    q->timer.repeat = exp <= now ? 1e-9 : (double)(exp - now) / 1e9;
    ev_timer_again(q->loop, &q->timer);
}

void qasm_h3conn_json_counters(json_t *j, const char *const *keys, const uint64_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        json_object_set_new(j, keys[i], json_integer((json_int_t)v[i]));
}

void qasm_h3conn_json_print(json_t *j, FILE *f)
{
    json_dumpf(j, f, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    fputc('\n', f);
    json_decref(j);
}
