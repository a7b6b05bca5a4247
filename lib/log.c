#include "log.h"

#include "degrade.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *log_prog = "qasm";
static enum qasm_log_level log_threshold = QASM_LOG_INFO;

void qasm_log_init(const char *prog, enum qasm_log_level level)
{
    const char *slash = strrchr(prog, '/');
    log_prog = slash ? slash + 1 : prog;
    log_threshold = level;
}

void qasm_log_set_level(enum qasm_log_level level)
{
    log_threshold = level;
}

int qasm_log_level_parse(const char *s)
{
    static const char *names[] = { "debug", "info", "warn", "error", "off" };
    for (int i = 0; i < 5; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

int qasm_log_enabled(enum qasm_log_level level)
{
    return level >= log_threshold && level < QASM_LOG_OFF;
}

void qasm_log(enum qasm_log_level level, const char *fmt, ...)
{
    static const char *tags[] = { "debug", "info", "warn", "error" };
    char buf[1024];
    struct timespec ts;
    va_list ap;

    if (!qasm_log_enabled(level))
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    /* One fprintf per line so concurrent writers do not interleave mid-line. */
    fprintf(stderr, "%ld.%06ld %s %s: %s\n", (long)ts.tv_sec, ts.tv_nsec / 1000, log_prog,
            tags[level], buf);
}

void qasm_log_degrade(const struct qasm_degrade_line *l, const char *cause, const char *fmt, ...)
{
    char detail[768];
    va_list ap;
    double secs = (double)l->lasted / (double)QASM_SEC;

    if (l->say == QASM_DEGRADE_NOTHING)
        return;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    switch (l->say) {
    case QASM_DEGRADE_STARTED:
        qasm_warn("degraded: %s: %s", cause, detail);
        break;
    case QASM_DEGRADE_ONGOING:
        qasm_warn("still degraded: %s: %llu more (%llu in %.0fs): %s", cause,
                  (unsigned long long)l->count, (unsigned long long)l->total, secs, detail);
        break;
    default:
        qasm_warn("no longer degraded: %s: %llu in %.0fs (%llu since the last line)", cause,
                  (unsigned long long)l->total, secs, (unsigned long long)l->count);
        break;
    }
}
