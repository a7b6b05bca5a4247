/*
 * mbox_timer.h: the one libev timer a middlebox shell keeps at its core's
 * next deadline (ngtcp2 simpleclient's pattern), kept by the driver
 * (middleboxes/io/driver.h) for every backend.
 */
#ifndef QASM_MBOX_TIMER_H
#define QASM_MBOX_TIMER_H

#include <ev.h>

#include "clock.h"
#include "mbox.h"

/*
 * qasm_mbox_timer_rearm sets |w| to fire at qasm_mbox_next_expiry(|m|);
 * |*armed_at| remembers the deadline it is armed for, so an unchanged
 * deadline costs no libev call (set it to QASM_TSTAMP_MAX when |w| fires).
 * Nothing due: |w| is stopped.
 */
void qasm_mbox_timer_rearm(struct ev_loop *loop, ev_timer *w, qasm_tstamp *armed_at,
                           const struct qasm_mbox *m, qasm_tstamp now);

#endif
