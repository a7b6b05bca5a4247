/* quicwrite.c: ngtcp2 + nghttp3 write loop (see quicwrite.h). */
#include "quicwrite.h"

#include <errno.h>
#include <string.h>

#define PKT_BUF 65536
#define QASM_QUIC_MAX_GSO_SEGS 44  /* 44 * 1452 < 64 KiB */

static size_t max_gso_segs = 1;

void qasm_quic_set_gso(int on)
{
    max_gso_segs = on ? QASM_QUIC_MAX_GSO_SEGS : 1;
}

int qasm_quic_flush(ngtcp2_conn *conn, nghttp3_conn *h3, qasm_quic_send_fn send, void *ud,
                    uint64_t ts, size_t max_pkts, size_t *npkts)
{
    uint8_t buf[PKT_BUF];
    ngtcp2_path_storage ps, bps;   /* this packet's path, the batch's path */
    ngtcp2_pkt_info pi;
    size_t sent = 0, blen = 0, nseg = 0, gso = 0;
    int rv = 0, err = 0;

    ngtcp2_path_storage_zero(&ps);
    ngtcp2_path_storage_zero(&bps);
    size_t quantum = ngtcp2_conn_get_send_quantum(conn) /
                     ngtcp2_conn_get_max_tx_udp_payload_size(conn);
    if (quantum < 1)
        quantum = 1;
    if (max_pkts > quantum)
        max_pkts = quantum;
    for (;;) {
        int64_t sid = -1;
        int fin = 0;
        nghttp3_vec vec[16];
        nghttp3_ssize nvec = 0;
        ngtcp2_ssize ndatalen = -1;

        size_t max = ngtcp2_conn_get_path_max_tx_udp_payload_size(conn);
        if (max > sizeof(buf) - blen) {
            /* no room for another packet: send the batch first */
            err = send(ud, &bps.path, buf, blen, nseg > 1 ? gso : 0);
            blen = nseg = 0;
            if (err == -EAGAIN)
                break;
        }
        if (h3 && ngtcp2_conn_get_max_data_left(conn)) {
            nvec = nghttp3_conn_writev_stream(h3, &sid, &fin, vec, 16);
            if (nvec < 0) {
                rv = (int)nvec;
                break;
            }
        }
        uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_MORE;
        if (fin)
            flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;
        ngtcp2_ssize n = ngtcp2_conn_writev_stream(conn, &ps.path, &pi, buf + blen, max, &ndatalen,
                                                   flags, sid, (const ngtcp2_vec *)vec,
                                                   (size_t)nvec, ts);
        if (n < 0) {
            switch (n) {
            case NGTCP2_ERR_STREAM_DATA_BLOCKED:
                nghttp3_conn_block_stream(h3, sid);
                continue;
            case NGTCP2_ERR_STREAM_SHUT_WR:
                nghttp3_conn_shutdown_stream_write(h3, sid);
                continue;
            case NGTCP2_ERR_WRITE_MORE:
                if ((rv = nghttp3_conn_add_write_offset(h3, sid, (uint64_t)ndatalen)) != 0)
                    goto out;
                continue;
            default:
                rv = (int)n;
                goto out;
            }
        }
        if (ndatalen >= 0 && sid >= 0 &&
            (rv = nghttp3_conn_add_write_offset(h3, sid, (uint64_t)ndatalen)) != 0)
            break;
        if (n == 0)
            break;
        if (nseg > 0 && (!ngtcp2_path_eq(&ps.path, &bps.path) || (size_t)n > gso)) {
            /* different path or a bigger packet: it starts a new batch */
            err = send(ud, &bps.path, buf, blen, nseg > 1 ? gso : 0);
            memmove(buf, buf + blen, (size_t)n);
            blen = nseg = 0;
        }
        if (nseg == 0) {
            ngtcp2_path_copy(&bps.path, &ps.path);
            gso = (size_t)n;
        }
        blen += (size_t)n;
        nseg++;
        sent++;
        if ((size_t)n < gso || nseg >= max_gso_segs) {
            /* a short packet can only end a GSO batch */
            err = send(ud, &bps.path, buf, blen, nseg > 1 ? gso : 0);
            blen = nseg = 0;
        }
        if (err == -EAGAIN || sent >= max_pkts)
            break;
    }
out:
    if (nseg > 0)
        (void)send(ud, &bps.path, buf, blen, nseg > 1 ? gso : 0);
    ngtcp2_conn_update_pkt_tx_time(conn, ts);
    if (npkts)
        *npkts = sent;
    return rv;
}

ngtcp2_ssize qasm_quic_write_close(ngtcp2_conn *conn, int liberr, uint64_t h3err,
                                   ngtcp2_path_storage *ps, uint8_t *buf, size_t len,
                                   uint64_t ts)
{
    ngtcp2_connection_close_error ccerr;

    if (ngtcp2_conn_is_in_closing_period(conn) || ngtcp2_conn_is_in_draining_period(conn))
        return 0;
    ngtcp2_connection_close_error_default(&ccerr);
    if (liberr == NGTCP2_ERR_CRYPTO)
        ngtcp2_connection_close_error_set_transport_error_tls_alert(
            &ccerr, ngtcp2_conn_get_tls_alert(conn), NULL, 0);
    else if (liberr != 0)
        ngtcp2_connection_close_error_set_transport_error_liberr(&ccerr, liberr, NULL, 0);
    else
        ngtcp2_connection_close_error_set_application_error(&ccerr, h3err, NULL, 0);
    ngtcp2_path_storage_zero(ps);
    return ngtcp2_conn_write_connection_close(conn, &ps->path, NULL, buf, len, &ccerr, ts);
}

void qasm_quic_close_pkt(ngtcp2_conn *conn, int liberr, uint64_t h3err, qasm_quic_send_fn send,
                         void *ud, uint64_t ts)
{
    uint8_t buf[1500];
    ngtcp2_path_storage ps;
    ngtcp2_ssize n = qasm_quic_write_close(conn, liberr, h3err, &ps, buf, sizeof(buf), ts);
    if (n > 0)
        (void)send(ud, &ps.path, buf, (size_t)n, 0);
}
