/*
 * control.h: qasm-mbox's control socket, served from the driver's libev
 * loop: a Unix stream socket answering the line protocol of
 * middleboxes/io/control_proto.h (LIST, EVENTS, STATS) from the core.
 *
 * The loop never blocks on a client: sockets are non-blocking, a request
 * must arrive within 10 s, at most QASM_CONTROL_MAX_CLIENTS clients at once
 * (the next is refused with "ERR busy"), and each client's output is
 * bounded: an EVENTS reader that falls QASM_CONTROL_EVENTS_MAX bytes
 * behind is dropped, a LIST or STATS reader that takes nothing of its
 * answer for 10 s is dropped. A LIST copies the table at once and formats
 * it LIST_CHUNK entries per pass of the loop as the client reads
 * (control_list.h), so a full table costs the loop a copy, not a listing. Each of these is counted in the
 * "control" object of the stats and logged.
 *
 * Table events (qasm_mbox_table_events) are on while an EVENTS client is
 * connected, off otherwise: a middlebox nobody watches pays nothing.
 */
#ifndef QASM_CONTROL_H
#define QASM_CONTROL_H

#include <stddef.h>

#include <ev.h>

#include "mbox.h"
#include "middleboxes/io/control_proto.h"
#include "middleboxes/io/json.h"

#define QASM_CONTROL_MAX_CLIENTS 16
#define QASM_CONTROL_EVENTS_MAX (1u << 20)  /* bytes queued for one EVENTS reader */
#define QASM_CONTROL_QUEUE 65536            /* the core's table event queue while watched */

struct qasm_control;

struct qasm_control_config {
    const char *path;           /* the socket's path (NULL: the default, see below) */
    struct qasm_mbox *m;
    const struct qasm_mbox_config *core;
    qasm_json_fill_fn stats;    /* fills the STATS object (the --stats-json one) */
    void *stats_ud;
};

/*
 * qasm_control_new listens on cfg->path, or on the default path
 * (qasm_control_default_path). A path where another process answers is in
 * use (-EADDRINUSE). Failing on an explicit path is an error (a negative
 * errno, said on stderr); on the default path, a warning and no socket
 * (*pc NULL, returns 0). A stale socket file is replaced.
 */
int qasm_control_new(struct qasm_control **pc, struct ev_loop *loop,
                     const struct qasm_control_config *cfg);

/* qasm_control_del closes every client and the socket, and removes its file. NULL is fine. */
void qasm_control_del(struct qasm_control *c);

/* qasm_control_pump sends the core's table events to the EVENTS clients (after each drain). */
void qasm_control_pump(struct qasm_control *c);

/* qasm_control_json writes the "control" object (path, clients, counters). NULL: nothing. */
void qasm_control_json(struct qasm_json *j, const struct qasm_control *c);

#endif
