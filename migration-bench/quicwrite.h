/*
 * quicwrite.h: the write loop shared by the HTTP/3 client and server: pull
 * stream data from nghttp3, packetize it with ngtcp2 and hand each UDP
 * datagram to a caller-supplied send function (which picks the socket from
 * the packet's path: probes may leave on a path other than the current one).
 */
#ifndef QASM_H3_QUICWRITE_H
#define QASM_H3_QUICWRITE_H

#include <stdint.h>

#include <nghttp3/nghttp3.h>
#include <ngtcp2/ngtcp2.h>

/*
 * Sends |len| bytes on |path|: one datagram, or when |gso| is non-zero and
 * smaller than |len|, several datagrams of |gso| bytes (the last may be
 * shorter) to be sent with UDP GSO. Returns 0 or a negative errno (-EAGAIN:
 * stop for now).
 */
typedef int (*qasm_quic_send_fn)(void *ud, const ngtcp2_path *path, const uint8_t *pkt,
                                 size_t len, size_t gso);

/*
 * qasm_quic_flush writes packets of |conn| (and its HTTP/3 streams when
 * |h3| is non-NULL) at time |ts| until ngtcp2 has nothing more to send or
 * |max_pkts| datagrams went out. Consecutive packets of the same size on the
 * same path are handed to |send| together for GSO. *npkts counts the
 * datagrams sent. Returns 0, or a negative ngtcp2/nghttp3 error (the caller
 * closes the connection).
 */
int qasm_quic_flush(ngtcp2_conn *conn, nghttp3_conn *h3, qasm_quic_send_fn send, void *ud,
                    uint64_t ts, size_t max_pkts, size_t *npkts);

/*
 * qasm_quic_set_gso enables (1) or disables (0, the default) handing batches
 * to the send function for UDP GSO. Off by default: a capture on the sending
 * host (tshark/dumpcap on lo, AF_PACKET middleboxes) would see the unsplit
 * multi-packet super-datagrams.
 */
void qasm_quic_set_gso(int on);

/*
 * qasm_quic_write_close writes a CONNECTION_CLOSE (see qasm_quic_close_pkt
 * for |liberr| and |h3err|) into |buf| and its path into |ps| without sending
 * it. Returns its length, 0 when nothing is to be sent (closing/draining
 * period), or a negative ngtcp2 error.
 */
ngtcp2_ssize qasm_quic_write_close(ngtcp2_conn *conn, int liberr, uint64_t h3err,
                                   ngtcp2_path_storage *ps, uint8_t *buf, size_t len,
                                   uint64_t ts);

/*
 * qasm_quic_close_pkt writes a CONNECTION_CLOSE for error |liberr| (an
 * ngtcp2 error, 0 = no error, NGTCP2_ERR_CRYPTO uses the TLS alert) into
 * |buf| and sends it. Nothing is sent in the closing/draining period.
 */
void qasm_quic_close_pkt(ngtcp2_conn *conn, int liberr, uint64_t h3err, qasm_quic_send_fn send,
                         void *ud, uint64_t ts);

#endif
