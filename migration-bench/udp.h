/*
 * udp.h: non-blocking UDP sockets for the HTTP/3 shells: bound listeners
 * that learn each datagram's local address (IP_PKTINFO / IPV6_RECVPKTINFO)
 * and can choose the source address when sending, and connected client
 * sockets (one per local path).
 */
#ifndef QASM_H3_UDP_H
#define QASM_H3_UDP_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "addr.h"

/*
 * qasm_udp_listen opens a socket bound to |a| with packet info enabled and
 * large buffers. Returns the fd, or -errno.
 */
int qasm_udp_listen(const struct qasm_addr *a);

/*
 * qasm_udp_connect opens a socket bound to |local| (NULL or port 0 = any
 * port; NULL = any IP) and connected to |remote|; the bound local address
 * is stored in |*bound|. Returns the fd, or -errno.
 */
int qasm_udp_connect(const struct qasm_addr *local, const struct qasm_addr *remote,
                     struct qasm_addr *bound);

/*
 * qasm_udp_recv reads one datagram: payload into |buf|, sender into
 * |*remote|, and the local (destination) address into |*local| when packet
 * info is available (else |*local| is left unchanged). Returns the length,
 * or -errno (-EAGAIN when empty).
 */
ssize_t qasm_udp_recv(int fd, void *buf, size_t len, struct sockaddr_storage *remote,
                      socklen_t *remotelen, struct sockaddr_storage *local);

/*
 * qasm_udp_send sends |len| bytes to |remote| (NULL for a connected socket),
 * using |local| as the source IP when non-NULL and not a wildcard. When |gso|
 * is non-zero and smaller than |len|, the bytes are |len|/|gso| datagrams of
 * |gso| bytes (the last may be shorter) sent in one call with UDP GSO; if the
 * kernel refuses GSO they are sent one by one (and GSO is not tried again).
 * Returns 0 or -errno.
 */
int qasm_udp_send(int fd, const void *buf, size_t len, const struct sockaddr *remote,
                  socklen_t remotelen, const struct sockaddr *local, size_t gso);

#endif
