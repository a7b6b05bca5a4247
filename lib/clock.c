#include "clock.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

qasm_tstamp qasm_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (qasm_tstamp)ts.tv_sec * QASM_SEC + (qasm_tstamp)ts.tv_nsec;
}

int qasm_duration_parse(qasm_duration *d, const char *s)
{
    static const struct {
        const char *suffix;
        double ns;
    } units[] = { { "ns", 1 }, { "us", 1e3 }, { "ms", 1e6 }, { "s", 1e9 }, { "m", 60e9 },
                  { "h", 3600e9 }, { "", 1e9 } };
    char *end;

    if (s == NULL || *s == '\0')
        return -EINVAL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || v < 0 || v != v)
        return -EINVAL;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(end, units[i].suffix) == 0) {
            double ns = v * units[i].ns;
            if (ns >= 1.8e19)
                return -EINVAL;
            *d = (qasm_duration)ns;
            return 0;
        }
    }
    return -EINVAL;
}
