/*
 * nat.h: the NAT function of the middlebox core (NAPT): each entry takes a
 * public port from the pool (portpool.h) and the core's PORT_OPEN /
 * PORT_CLOSE events announce it; client packets leave from the public
 * address and port, server packets to it go back to the connection's
 * latest client address. Server-side packets are found by public port.
 */
#ifndef QASM_NAT_H
#define QASM_NAT_H

#include "mbox_fn.h"

extern const struct qasm_mbox_fn_ops qasm_nat_ops;

#endif
