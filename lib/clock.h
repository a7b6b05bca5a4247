/*
 * clock.h: the project's time type. A qasm_tstamp is nanoseconds on a
 * monotonic clock. Cores receive it as a parameter and never read a clock;
 * only I/O shells call qasm_now().
 */
#ifndef QASM_CLOCK_H
#define QASM_CLOCK_H

#include <stdint.h>

typedef uint64_t qasm_tstamp;    /* ns, monotonic */
typedef uint64_t qasm_duration;  /* ns */

#define QASM_NS  ((qasm_duration)1)
#define QASM_US  ((qasm_duration)1000)
#define QASM_MS  ((qasm_duration)1000000)
#define QASM_SEC ((qasm_duration)1000000000)
#define QASM_TSTAMP_MAX UINT64_MAX

/* qasm_now returns CLOCK_MONOTONIC in ns. For I/O shells only. */
qasm_tstamp qasm_now(void);

/*
 * qasm_duration_parse parses a number with a unit, ns, us, ms, s, m or h
 * ("250ms", "2s", "1.5s", "100us", "5m", "1h"), or "30" (seconds when no
 * unit), into |*d|. Returns 0, or -EINVAL.
 */
int qasm_duration_parse(qasm_duration *d, const char *s);

#endif
