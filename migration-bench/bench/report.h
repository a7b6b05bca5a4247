/*
 * report.h: `qasm-bench report DIR...`: reads result folders (an
 * experiment's folder with a summary.json, or a result root holding such
 * folders) and prints them; it writes nothing into them (no plot is
 * redrawn).
 */
#ifndef QASM_BENCH_REPORT_H
#define QASM_BENCH_REPORT_H

#include <stdio.h>

#include "bench.h"

/*
 * bench_report prints |dirs|: with one, its table (claim, figure, agrees)
 * and headline numbers; with more, each headline number side by side, one
 * column per folder and its ratio to the first folder's (experiments are
 * paired by name; in a root the latest folder of each counts). Returns 0,
 * or -1 when a folder holds no summary.json (the message is printed).
 */
int bench_report(struct bench *b, const char *const *dirs, int ndirs, FILE *out);

#endif
