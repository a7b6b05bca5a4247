/*
 * replay_opts.h: qasm-replay's command line into the replay's configuration
 * (pure: no I/O, no exit; the caller opens the files, prints the usage or
 * the error and exits 2).
 */
#ifndef QASM_REPLAY_OPTS_H
#define QASM_REPLAY_OPTS_H

#include <stddef.h>

#include "mbox_flags.h"
#include "replay.h"

struct qasm_replay_opts {
    struct qasm_replay_config rc;   /* function, mode, flags applied; servers, reports */
    struct qasm_mbox_flags fl;      /* the function's flags (holds the backends) */
    const char *fn_s, *mode_s;      /* --function, --mode as given */
    const char *write_path;         /* --write OUT.pcap */
    const char *events_path;        /* --tracker-events FILE */
    int json;                       /* --json */
    char **files;                   /* the capture files (argv's tail) */
    int nfiles;
};

/*
 * qasm_replay_opts_parse fills |o| from argv. Returns 0; 1 for --help (the
 * caller prints qasm_replay_usage() on stdout, exit 0); -1 with a one-line
 * message ending in "(see --help)" in |err| (the caller prints
 * "qasm-replay: ERR", exit 2). |o->rc.mbox| refers to |o->fl|.
 */
int qasm_replay_opts_parse(int argc, char **argv, struct qasm_replay_opts *o, char *err,
                           size_t errlen);

/* qasm_replay_usage returns the --help text. */
const char *qasm_replay_usage(void);

#endif
