/*
 * migrate.h: the client's migration scheduler, a pure core. It decides when
 * a connection should migrate: every |period| ns on a fixed grid
 * (start + k*period, so late ticks do not drift the schedule), or after
 * every K packets sent. A migration that cannot happen (no spare DCID yet)
 * is reported back with qasm_migsched_done(.., 0): it stays pending and is
 * retried at the next tick (next grid slot, or next packet). At most
 * |max_backlog| migrations are kept pending; older slots are counted as
 * skipped. Time is passed in; nothing here reads a clock.
 */
#ifndef QASM_H3_MIGRATE_H
#define QASM_H3_MIGRATE_H

#include <stdint.h>

#include "clock.h"

enum qasm_mig_mode {
    QASM_MIG_NONE = 0,
    QASM_MIG_PERIOD = 1,   /* --migrate-hz / --migrate-every */
    QASM_MIG_PACKETS = 2,  /* --migrate-every-packets */
};

struct qasm_migsched {
    enum qasm_mig_mode mode;
    qasm_duration period;
    uint64_t every_pkts;
    unsigned max_backlog;
    qasm_tstamp start;
    uint64_t next_slot;    /* index k of the next grid slot (>= 1) */
    uint64_t pkts;         /* packets sent since the last slot (packet mode) */
    unsigned pending;      /* migrations due and not yet done */
    int hold;              /* 1 after a failed attempt, until the next tick */
    qasm_tstamp hold_until;
    /* counters */
    uint64_t attempted, ok, failed, skipped;
    uint64_t deferred;     /* due, put off by qasm_migsched_defer */
};

/*
 * qasm_migsched_init sets up |s|: mode NONE never fires; PERIOD needs
 * |period| > 0; PACKETS needs |every_pkts| > 0. |max_backlog| 0 means 1.
 */
void qasm_migsched_init(struct qasm_migsched *s, enum qasm_mig_mode mode, qasm_duration period,
                        uint64_t every_pkts, unsigned max_backlog, qasm_tstamp start);

/* qasm_migsched_on_packet counts one packet sent by the client (packet mode). */
void qasm_migsched_on_packet(struct qasm_migsched *s);

/*
 * qasm_migsched_due advances the schedule to |now| and returns 1 when a
 * migration should be attempted now (the caller then attempts exactly one
 * and reports it with qasm_migsched_done), else 0.
 */
int qasm_migsched_due(struct qasm_migsched *s, qasm_tstamp now);

/* qasm_migsched_done reports the attempt: |ok| non-zero if it happened. */
void qasm_migsched_done(struct qasm_migsched *s, int ok, qasm_tstamp now);

/*
 * qasm_migsched_defer puts off a due migration that is not ready (not an
 * attempt, not a failure): it stays pending, and qasm_migsched_due says 0
 * until |until| (period mode) or the next packet (packet mode). Counted in
 * |deferred|.
 */
void qasm_migsched_defer(struct qasm_migsched *s, qasm_tstamp until);

/*
 * qasm_migsched_next returns when the caller should call qasm_migsched_due
 * again (QASM_TSTAMP_MAX: only on packets / never).
 */
qasm_tstamp qasm_migsched_next(const struct qasm_migsched *s, qasm_tstamp now);

#endif
