#include "degrade.h"

#include <string.h>

void qasm_degrade_init(struct qasm_degrade *d, enum qasm_degrade_end ends, qasm_duration interval)
{
    memset(d, 0, sizeof(*d));
    d->ends = ends;
    d->interval = interval ? interval : QASM_DEGRADE_INTERVAL;
}

/* Fills |out| for a line due at |now| and restarts the count since the last line. */
static enum qasm_degrade_say line(struct qasm_degrade *d, enum qasm_degrade_say say,
                                  qasm_tstamp now, struct qasm_degrade_line *out)
{
    out->say = say;
    out->count = d->pending;
    out->total = d->total;
    out->lasted = now > d->since ? now - d->since : 0;
    d->pending = 0;
    d->last_line = now;
    return say;
}

static enum qasm_degrade_say nothing(struct qasm_degrade_line *out)
{
    memset(out, 0, sizeof(*out));
    return QASM_DEGRADE_NOTHING;
}

enum qasm_degrade_say qasm_degrade_hit(struct qasm_degrade *d, uint64_t n, qasm_tstamp now,
                                       struct qasm_degrade_line *out)
{
    if (!d->active) {
        d->active = 1;
        d->since = now;
        d->pending = n;
        d->total = n;
        d->last_hit = now;
        return line(d, QASM_DEGRADE_STARTED, now, out);
    }
    d->pending += n;
    d->total += n;
    d->last_hit = now;
    if (now - d->last_line >= d->interval)
        return line(d, QASM_DEGRADE_ONGOING, now, out);
    return nothing(out);
}

enum qasm_degrade_say qasm_degrade_poll(struct qasm_degrade *d, qasm_tstamp now,
                                        struct qasm_degrade_line *out)
{
    if (!d->active)
        return nothing(out);
    if (d->ends == QASM_DEGRADE_ENDS_QUIET && now - d->last_hit >= d->interval)
        return qasm_degrade_end(d, now, out);
    if (d->pending > 0 && now - d->last_line >= d->interval)
        return line(d, QASM_DEGRADE_ONGOING, now, out);
    return nothing(out);
}

enum qasm_degrade_say qasm_degrade_end(struct qasm_degrade *d, qasm_tstamp now,
                                       struct qasm_degrade_line *out)
{
    if (!d->active)
        return nothing(out);
    d->active = 0;
    return line(d, QASM_DEGRADE_ENDED, now, out);
}

int qasm_degrade_active(const struct qasm_degrade *d)
{
    return d->active;
}
