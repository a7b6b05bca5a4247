/*
 * tracker_bench.c: qasm-tracker-bench, the tracker benchmark on its own
 * (the same run as `qasm-bench tracker`; the code is the bench's,
 * bench/tracker_load.c). Children's logs go to --log-dir.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proc.h"
#include "cli.h"
#include "tracker_load.h"

int main(int argc, char **argv)
{
    struct tracker_load_cfg c;
    static char tbin[PATH_MAX + 32], logdir[] = "/tmp/qasm-tracker-bench.XXXXXX";
    char err[256];

    qasm_cli_front("qasm-tracker-bench", argc, argv);
    int rv = tracker_load_opts_parse(argc, argv, &c, err, sizeof(err));
    if (rv > 0) {
        fputs(tracker_load_usage, stdout);
        return 0;
    }
    if (rv < 0)
        qasm_cli_usage_exit("qasm-tracker-bench", err);
    if (c.tracker_bin == NULL) {
        ssize_t n = readlink("/proc/self/exe", tbin, sizeof(tbin) - 1);
        if (n <= 0) {
            fprintf(stderr, "qasm-tracker-bench: cannot find myself; use --tracker-bin\n");
            return 1;
        }
        tbin[n] = '\0';
        char *slash = strrchr(tbin, '/');
        snprintf(slash ? slash + 1 : tbin, sizeof(tbin) - (size_t)(slash ? slash + 1 - tbin : 0),
                 "qasm-tracker");
        c.tracker_bin = tbin;
    }
    if (c.logdir == NULL) {
        if (mkdtemp(logdir) == NULL) {
            perror("qasm-tracker-bench: mkdtemp");
            return 1;
        }
        c.logdir = logdir;
        fprintf(stderr, "qasm-tracker-bench: logs in %s\n", logdir);
    }
    bench_proc_install_handlers();
    return tracker_load_run(&c);
}
