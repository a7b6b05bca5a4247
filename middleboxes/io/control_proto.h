/*
 * control_proto.h: the line protocol of qasm-mbox's control socket (a Unix
 * stream socket, see middleboxes/io/control.h) and what its answers look
 * like: parsing and formatting, shared by the server and qasm-mboxctl,
 * unit-tested in tests/unit/test_control.c.
 *
 * A client sends one request line and reads until the server closes:
 *
 *   LIST [json]     the live table, like conntrack -L: one text line per
 *                   entry, or one JSON document {"function", "mode",
 *                   "entries": [...]}; then the server closes
 *   EVENTS [json]   the table events as they happen, like conntrack -E -o
 *                   timestamp: one line (text, or one JSON object) per event,
 *                   until the client closes
 *   STATS           the object --stats-json writes; then the server closes
 *
 * Verbs are case-insensitive; "text" is the default format. A bad request
 * gets one line "ERR reason" and the server closes.
 */
#ifndef QASM_CONTROL_PROTO_H
#define QASM_CONTROL_PROTO_H

#include <stddef.h>
#include <stdio.h>

#include "clock.h"
#include "mbox.h"

/* Longest request line (with its newline). */
#define QASM_CONTROL_LINE_MAX 128

enum qasm_control_verb {
    QASM_CONTROL_LIST = 0,
    QASM_CONTROL_EVENTS = 1,
    QASM_CONTROL_STATS = 2
};

struct qasm_control_req {
    enum qasm_control_verb verb;
    int json;
};

/*
 * qasm_control_parse reads request |line| (|len| bytes, a trailing "\n" or
 * "\r\n" is fine). Returns 0, or -1 with a one-line reason in |err|.
 */
int qasm_control_parse(const char *line, size_t len, struct qasm_control_req *r, char *err,
                       size_t errlen);

/* qasm_control_request writes the request line for |r| (with its newline) into |buf|. */
size_t qasm_control_request(char *buf, size_t n, const struct qasm_control_req *r);

/*
 * qasm_control_entry_text writes entry |e| of a |fn| core as one text line
 * (with its newline) at time |now|, like conntrack -L:
 *   quic odcid=HEX client=A server=A clients=A,A public_port=P age=12.3s expires=107.7s
 *   packets=120/118 [ASSURED]
 * (a 5-tuple entry starts "udp "; ratelimit shows tokens=, lb backend=).
 */
void qasm_control_entry_text(FILE *f, const struct qasm_mbox_entry_info *e,
                             enum qasm_mbox_function fn, qasm_tstamp now);

/*
 * qasm_control_entry_json writes entry |e| as an object inside an open
 * array of |j|: quic, odcid, client, clients (the addresses),
 * server, public_port / tokens / backend, assured, idle_s, age_s,
 * expires_s, packets_orig, packets_reply (the --stats-entries objects too).
 */
struct qasm_json;
void qasm_control_entry_json(struct qasm_json *j, const struct qasm_mbox_entry_info *e,
                             enum qasm_mbox_function fn, qasm_tstamp now);

/*
 * qasm_control_event_text writes table event |ev| as one line (expired,
 * evicted and released with the entry's age and packets), like
 * conntrack -E -o timestamp: "[SECONDS.MICROS] [TYPE] fields", |wall| the
 * event's wall-clock time in seconds since the epoch.
 */
void qasm_control_event_text(FILE *f, const struct qasm_mbox_table_event *ev,
                             enum qasm_mbox_function fn, double wall);

/*
 * qasm_control_default_path writes the default socket path of a |fn|
 * middlebox into |buf|: $RUNTIME_DIRECTORY/control.sock in a systemd unit
 * with RuntimeDirectory=, else /run/qasm/mbox-FN.sock for root (the
 * directory is made), else $XDG_RUNTIME_DIR/qasm/mbox-FN.sock, else
 * ./qasm-mbox-FN.sock. |fn| "*" gives qasm-mboxctl's pattern (never the
 * systemd one). Not pure: reads the environment.
 */
void qasm_control_default_path(char *buf, size_t n, const char *fn);

/* qasm_control_event_json writes |ev| as one JSON object on one line. */
void qasm_control_event_json(FILE *f, const struct qasm_mbox_table_event *ev,
                             enum qasm_mbox_function fn, double wall);

#endif
