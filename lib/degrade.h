/*
 * degrade.h: when to say that something runs degraded. One tracker per
 * cause (reports refused, tracker unreachable, store down, pool
 * exhausted, ...): a line when the cause starts, then at most one line
 * per interval carrying the count since the last line, and a line when it
 * ends (no occurrence for an interval, or the caller says so, e.g. a
 * session came back). Pure: time is a parameter; the shells write the
 * lines (qasm_log_degrade in log.h gives them one format).
 */
#ifndef QASM_DEGRADE_H
#define QASM_DEGRADE_H

#include <stdint.h>

#include "clock.h"

/* The default interval: one line per cause per 10 s at most. */
#define QASM_DEGRADE_INTERVAL (10 * QASM_SEC)

/* How a cause ends. */
enum qasm_degrade_end {
    QASM_DEGRADE_ENDS_QUIET = 0, /* after an interval without an occurrence (refusals, drops) */
    QASM_DEGRADE_ENDS_CALLER = 1,/* only by qasm_degrade_end (a state: a session down) */
};

/* What the caller writes now. */
enum qasm_degrade_say {
    QASM_DEGRADE_NOTHING = 0,
    QASM_DEGRADE_STARTED, /* the first occurrence of an episode: say what and why */
    QASM_DEGRADE_ONGOING, /* still happening: say how many since the last line */
    QASM_DEGRADE_ENDED,   /* over: say so, with any count not yet said */
};

struct qasm_degrade {
    qasm_duration interval;
    enum qasm_degrade_end ends;
    int active;
    qasm_tstamp since;     /* the episode's first occurrence */
    qasm_tstamp last_line; /* when a line was last due */
    qasm_tstamp last_hit;
    uint64_t pending;      /* occurrences since the last line */
    uint64_t total;        /* occurrences in the episode */
};

/* What a due line carries. */
struct qasm_degrade_line {
    enum qasm_degrade_say say;
    uint64_t count;         /* occurrences since the previous line (STARTED: this one's) */
    uint64_t total;         /* occurrences since the episode started */
    qasm_duration lasted;   /* time since the episode started */
};

/* qasm_degrade_init: not degraded; |interval| 0 means QASM_DEGRADE_INTERVAL. */
void qasm_degrade_init(struct qasm_degrade *d, enum qasm_degrade_end ends, qasm_duration interval);

/*
 * qasm_degrade_hit counts |n| occurrences at |now|. Returns in |*out| the
 * line due: STARTED if the cause was not active, ONGOING if an interval
 * passed since the last line, else NOTHING (counted for the next line).
 */
enum qasm_degrade_say qasm_degrade_hit(struct qasm_degrade *d, uint64_t n, qasm_tstamp now,
                                       struct qasm_degrade_line *out);

/*
 * qasm_degrade_poll is called now and then (a timer tick): ENDED if the
 * cause ends on quiet and none occurred for an interval; ONGOING if
 * occurrences wait to be said and an interval passed since the last line;
 * else NOTHING.
 */
enum qasm_degrade_say qasm_degrade_poll(struct qasm_degrade *d, qasm_tstamp now,
                                        struct qasm_degrade_line *out);

/* qasm_degrade_end ends the cause now (the session is back): ENDED if it was active, else NOTHING. */
enum qasm_degrade_say qasm_degrade_end(struct qasm_degrade *d, qasm_tstamp now,
                                       struct qasm_degrade_line *out);

/* qasm_degrade_active tells whether the cause is in an episode. */
int qasm_degrade_active(const struct qasm_degrade *d);

#endif
