/* The experiments' gnuplot scripts (plots.h). */
#include "plots.h"

#include <stdio.h>

/* The modes' colours, the same in every figure: default red, reactive blue, proactive green. */
#define PLOTS_COLOURS \
    "  mode_lc(m) = m eq 'default' ? '#c0392b' : m eq 'reactive' ? '#2e86c1' : '#229954'\n"

int plots_table1(const struct bench *b)
{
    return bench_plot(b, "table1",
                      "  set title 'NAT table after migration (paper Table 1)'\n"
                      "  set style data histograms\n  set style fill solid 0.8 border -1\n"
                      "  set ylabel 'count'\n  set yrange [0:*]\n  set offsets 0,0,1,0\n"
                      "  set key top right\n  set grid ytics\n"
                      "  plot 'table1.csv' every ::1 using 5:xtic(1) title 'public ports in use' lc rgb "
                      "'#2e86c1', '' every ::1 using 2 title 'migrations' lc rgb '#aaaaaa'");
}

int plots_kernel_nat(const struct bench *b)
{
    return bench_plot(b, "kernel-nat",
                      "  set title 'Kernel NAT under migration, alone and behind qasm-normalize'\n"
                      "  set style data histograms\n  set style fill solid 0.8 border -1\n"
                      "  set ylabel 'count'\n  set yrange [0:*]\n  set offsets 0,0,1,0\n"
                      "  set key top right\n  set grid ytics\n"
                      "  plot 'kernel-nat.csv' every ::1 using 3:xtic(1) title 'conntrack entries' lc "
                      "rgb '#c0392b', '' every ::1 using 5 title 'public ports in use' lc rgb "
                      "'#2e86c1', '' every ::1 using 2 title 'migrations' lc rgb '#aaaaaa'");
}

int plots_natdos(const struct bench *b)
{
    return bench_plot(b, "nat-dos",
                      "  set title 'NAT port pool under migration (paper §2.1)'\n"
                      "  set style data histograms\n  set style fill solid 0.8 border -1\n"
                      "  set ylabel 'public ports'\n  set yrange [0:*]\n  set offsets 0,0,1,0\n"
                      "  set key outside below horizontal\n  set grid ytics\n"
                      "  plot 'nat-dos.csv' every ::1 using 3:xtic(1) title 'ports in use (attacker)' lc rgb "
                      "'#c0392b', '' every ::1 using 4 title 'pool size' lc rgb '#aaaaaa'");
}

int plots_latency(const struct bench *b, const char *exp, const char *title)
{
    char script[2048], name[64];
    /* The CDF: each sample weighs 1/N (N from gnuplot's stats), cumulated over sorted latency. */
    snprintf(script, sizeof(script),
             "  set title '%s'\n  set xlabel 'request latency (ms)'\n"
             "  set ylabel 'fraction of requests'\n  set yrange [0:1]\n  set logscale x\n"
             "  set key bottom right\n  set grid\n" PLOTS_COLOURS
             "  plot for [m in 'default reactive proactive'] 'latency-'.m.'.csv' "
             "using ($4/1000.0):(1.0) smooth cnormal with lines lw 2 lc rgb mode_lc(m) title m",
             title);
    int rv = bench_plot(b, exp, script);
    snprintf(name, sizeof(name), "%s-percentiles", exp);
    snprintf(script, sizeof(script),
             "  set title '%s: p50 and p99 (bars: median of the runs, whiskers: min..max)'\n"
             "  set style data histograms\n  set style histogram errorbars gap 2 lw 1\n"
             "  set style fill solid 0.8 border -1\n  set ylabel 'latency (ms)'\n"
             "  set yrange [0:*]\n  set key top left\n  set grid ytics\n"
             "  plot 'latency-stats.csv' every ::1 using ($3/1000):($2/1000):($4/1000):xtic(1) title 'p50' "
             "lc rgb '#2e86c1', '' every ::1 using ($6/1000):($5/1000):($7/1000) title 'p99' lc rgb "
             "'#c0392b'",
             exp);
    return bench_plot(b, name, script) < 0 ? -1 : rv;
}

int plots_fig7b(const struct bench *b, const char *period0, const char *period1, int maxn)
{
    char script[3000];
    /* Rows 1..maxn+1 hold the first period, the next maxn+1 the second (fig7b.csv). */
    snprintf(script, sizeof(script),
             "  set multiplot layout 1,2 title 'Throughput through a chain of NATs (paper Fig. "
             "7b); bars: median, whiskers: min..max'\n"
             "  set style data histograms\n  set style histogram errorbars gap 2 lw 1\n"
             "  set style fill solid 0.8 border -1\n  set xlabel 'number of NATs'\n"
             "  set ylabel 'throughput (Mbit/s)'\n  set yrange [0:*]\n  set grid ytics\n"
             "  set key outside below horizontal\n"
             "  do for [p=0:1] {\n"
             "    first = 1 + p * %d\n    last = first + %d\n"
             "    set title 'migration every ' . (p == 0 ? '%s' : '%s')\n"
             "    plot 'fig7b.csv' every ::first::last using ($3/1e6):($6/1e6):($7/1e6):xtic(1) "
             "title 'default' lc rgb '#c0392b', '' every ::first::last using ($4/1e6):($8/1e6):"
             "($9/1e6) title 'reactive' lc rgb '#2e86c1', '' every ::first::last using "
             "($5/1e6):($10/1e6):($11/1e6) title 'proactive' lc rgb '#229954'\n"
             "  }\n  unset multiplot",
             maxn + 1, maxn, period0, period1);
    return bench_plot(b, "fig7b", script);
}

int plots_sweep(const struct bench *b, const char *conns)
{
    char script[3000];
    /* Each (connection count, mode) series is copied into one block of the
     * datablock $S (blocks apart by two blank lines): a series filtered with
     * 1/0 in a plot of the whole CSV would be drawn as points, not joined. */
    snprintf(script, sizeof(script),
             "  conns = '%s'\n  modes = 'default reactive proactive'\n" PLOTS_COLOURS
             "  set datafile separator ','\n"
             "  do for [c=1:words(conns)] { do for [m=1:3] {\n"
             "    if (c == 1 && m == 1) { set table $S } else { set table $S append }\n"
             "    plot 'rate-sweep.csv' using ($1):($9) with table if ($2 == word(conns, c) + 0 && "
             "strcol(3) eq word(modes, m))\n"
             "    unset table\n    set print $S append\n    print ''\n    print ''\n"
             "    unset print\n  } }\n"
             "  set datafile separator whitespace\n"
             "  set title 'NAT public ports in use after migrating at a given rate'\n"
             "  set xlabel 'migrations per second (per connection)'\n"
             "  set ylabel 'public ports in use (aware: one per connection)'\n"
             "  set logscale x\n  set logscale y\n  set yrange [0.5:*]\n"
             "  set key outside right\n  set grid\n"
             "  plot for [i=0:3*words(conns)-1] $S index i using 1:2 with linespoints lw 2 "
             "dt i/3+1 pt (i%%3 == 0 ? 7 : i%%3 == 1 ? 6 : 2) ps 1.3 "
             "lc rgb mode_lc(word(modes, i%%3+1)) "
             "title word(modes, i%%3+1) . ', ' . word(conns, i/3+1) . ' conn'\n"
             "  set datafile separator ','",
             conns);
    return bench_plot(b, "rate-sweep", script);
}
