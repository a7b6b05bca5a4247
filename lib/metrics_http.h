/*
 * metrics_http.h: the `--metrics HOST:PORT` endpoint of qasm-tracker and
 * qasm-mbox: `GET /metrics` answers the program's stats object rendered by
 * qasm_metrics_render (metrics.h); any other path is 404, any other method
 * 405. Served by libmicrohttpd.
 *
 * Threads: none. libmicrohttpd runs in its external epoll mode inside the
 * program's libev loop (one ev_io on its epoll descriptor, one ev_timer at
 * its next timeout), so a scrape is answered in the loop thread between two
 * batches: the stats are read where they are written, fresh at each scrape,
 * with no lock and no copy published every tick. A scrape costs the
 * program one render (a few microseconds per hundred counters); nobody
 * scraping costs nothing. Connections are bounded (16, 10 s idle).
 */
#ifndef QASM_METRICS_HTTP_H
#define QASM_METRICS_HTTP_H

#include <stddef.h>

#include <ev.h>

#include "addr.h"
#include "metrics.h"

struct qasm_metrics_http;

/*
 * Writes the program's stats JSON object into *json (malloc'd, the caller
 * frees) and its length into *len; 0, or a negative errno. Runs in the loop.
 */
typedef int (*qasm_metrics_http_json_fn)(void *ud, char **json, size_t *len);

/*
 * qasm_metrics_http_new listens on |a| (port 0: a free one, logged) and
 * serves |spec|'s rendering of what |fn| returns, in |loop|. |spec| must
 * outlive the endpoint. Returns 0 and *ph, or a negative errno with a
 * one-line reason in |err| ("cannot listen on 127.0.0.1:9100: Address
 * already in use").
 */
int qasm_metrics_http_new(struct qasm_metrics_http **ph, struct ev_loop *loop,
                          const struct qasm_addr *a, const struct qasm_metrics_spec *spec,
                          qasm_metrics_http_json_fn fn, void *ud, char *err, size_t errlen);

/* qasm_metrics_http_del closes the endpoint (NULL is fine). */
void qasm_metrics_http_del(struct qasm_metrics_http *h);

#endif
