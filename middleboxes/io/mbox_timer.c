/* mbox_timer.c: see mbox_timer.h. */
#include "mbox_timer.h"

void qasm_mbox_timer_rearm(struct ev_loop *loop, ev_timer *w, qasm_tstamp *armed_at,
                           const struct qasm_mbox *m, qasm_tstamp now)
{
    qasm_tstamp at = qasm_mbox_next_expiry(m);
    if (at == *armed_at && ev_is_active(w))
        return;
    ev_timer_stop(loop, w);
    *armed_at = at;
    if (at == QASM_TSTAMP_MAX)
        return;
    double after = at > now ? (double)(at - now) / 1e9 : 0.;
    ev_timer_set(w, after, 0.);
    ev_timer_start(loop, w);
}
