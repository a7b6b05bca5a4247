/*
 * log.h: a small leveled logger for the I/O shells (cores never log).
 * One line per call to stderr: "<time> <prog> <level> message".
 */
#ifndef QASM_LOG_H
#define QASM_LOG_H

enum qasm_log_level {
    QASM_LOG_DEBUG = 0,
    QASM_LOG_INFO = 1,
    QASM_LOG_WARN = 2,
    QASM_LOG_ERROR = 3,
    QASM_LOG_OFF = 4,
};

/* qasm_log_init sets the program name shown in each line and the level. */
void qasm_log_init(const char *prog, enum qasm_log_level level);

/* qasm_log_set_level changes the threshold; lines below it are discarded. */
void qasm_log_set_level(enum qasm_log_level level);

/* qasm_log_level_parse maps "debug|info|warn|error|off" to a level; -1 if unknown. */
int qasm_log_level_parse(const char *s);

/* qasm_log_enabled tells whether a line at |level| would be written. */
int qasm_log_enabled(enum qasm_log_level level);

void qasm_log(enum qasm_log_level level, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

struct qasm_degrade_line;

/*
 * qasm_log_degrade writes the line |l| asks for (degrade.h) about |cause|
 * (a few words, the same in every line of the cause), then the detail
 * (printf-style; what, from where, what to do). All three at warn, so
 * that the end is seen wherever the start was (the agent logs warnings only):
 *   warn "degraded: CAUSE: DETAIL"                                  started
 *   warn "still degraded: CAUSE: N more (T in Ss): DETAIL"          ongoing
 *   warn "no longer degraded: CAUSE: T in Ss (N since the last line)" ended
 * Nothing for QASM_DEGRADE_NOTHING.
 */
void qasm_log_degrade(const struct qasm_degrade_line *l, const char *cause, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

#define qasm_debug(...) qasm_log(QASM_LOG_DEBUG, __VA_ARGS__)
#define qasm_info(...)  qasm_log(QASM_LOG_INFO, __VA_ARGS__)
#define qasm_warn(...)  qasm_log(QASM_LOG_WARN, __VA_ARGS__)
#define qasm_error(...) qasm_log(QASM_LOG_ERROR, __VA_ARGS__)

#endif
