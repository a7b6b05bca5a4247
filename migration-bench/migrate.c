/* migrate.c: migration scheduler (see migrate.h). */
#include "migrate.h"

#include <string.h>

void qasm_migsched_init(struct qasm_migsched *s, enum qasm_mig_mode mode, qasm_duration period,
                        uint64_t every_pkts, unsigned max_backlog, qasm_tstamp start)
{
    memset(s, 0, sizeof(*s));
    s->mode = mode;
    if (mode == QASM_MIG_PERIOD && period == 0)
        s->mode = QASM_MIG_NONE;
    if (mode == QASM_MIG_PACKETS && every_pkts == 0)
        s->mode = QASM_MIG_NONE;
    s->period = period;
    s->every_pkts = every_pkts;
    s->max_backlog = max_backlog ? max_backlog : 1;
    s->start = start;
    s->next_slot = 1;
}

static void add_pending(struct qasm_migsched *s, uint64_t n)
{
    uint64_t room = s->max_backlog - s->pending;
    if (n > room) {
        s->skipped += n - room;
        n = room;
    }
    s->pending += (unsigned)n;
}

void qasm_migsched_on_packet(struct qasm_migsched *s)
{
    if (s->mode != QASM_MIG_PACKETS)
        return;
    s->hold = 0;
    if (++s->pkts >= s->every_pkts) {
        s->pkts = 0;
        add_pending(s, 1);
    }
}

int qasm_migsched_due(struct qasm_migsched *s, qasm_tstamp now)
{
    if (s->mode == QASM_MIG_PERIOD && now >= s->start + s->next_slot * s->period) {
        uint64_t k = (now - s->start) / s->period;  /* last slot reached */
        add_pending(s, k + 1 - s->next_slot);
        s->next_slot = k + 1;
    }
    if (s->pending == 0)
        return 0;
    if (s->hold && s->mode == QASM_MIG_PERIOD && now >= s->hold_until)
        s->hold = 0;
    return !s->hold;
}

void qasm_migsched_done(struct qasm_migsched *s, int ok, qasm_tstamp now)
{
    s->attempted++;
    if (ok) {
        s->ok++;
        if (s->pending)
            s->pending--;
        return;
    }
    s->failed++;
    s->hold = 1;
    if (s->mode == QASM_MIG_PERIOD) {
        uint64_t k = (now - s->start) / s->period + 1;
        s->hold_until = s->start + k * s->period;
    }
}

void qasm_migsched_defer(struct qasm_migsched *s, qasm_tstamp until)
{
    s->deferred++;
    s->hold = 1;
    s->hold_until = until;
}

qasm_tstamp qasm_migsched_next(const struct qasm_migsched *s, qasm_tstamp now)
{
    if (s->mode != QASM_MIG_PERIOD)
        return (s->pending && !s->hold) ? now : QASM_TSTAMP_MAX;
    if (s->pending && !s->hold)
        return now;
    qasm_tstamp slot = s->start + s->next_slot * s->period;
    /* Held: a failure waits for the next slot, a deferral until it is ready. */
    return s->pending && s->hold && s->hold_until < slot ? s->hold_until : slot;
}
