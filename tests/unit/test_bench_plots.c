/*
 * The bench's figures (plots.c): each script is rendered by gnuplot from a
 * small synthetic result folder, and its axes are checked: bars from 0, the
 * nat-dos legend outside the bars, a log rate axis with every connection
 * count on the sweep, CDFs from 0 to 1, error bars on fig7b and fig8.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "plots.h"

/* bench.c reads the experiment tables: none are needed here. */
const struct bench_experiment bench_experiments[] = { { NULL, NULL, NULL, 0, 0 } };
const struct bench_param_def bench_param_defs[] = { { NULL, NULL, NULL, NULL, NULL } };

static struct bench b;

static void put(const char *name, const char *text)
{
    char path[PATH_MAX];
    FILE *f = fopen(bench_path(&b, path, sizeof(path), name), "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* The text of OUTDIR/NAME (caller frees). */
static char *slurp(const char *name)
{
    char path[PATH_MAX];
    FILE *f = fopen(bench_path(&b, path, sizeof(path), name), "r");
    assert_non_null(f);
    char *buf = calloc(1, 1 << 16);
    assert_non_null(buf);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* NAME.gp holds every string of |want| (NULL-terminated) and NAME.png and .svg were drawn. */
static void check_plot(const char *name, const char *const *want)
{
    char file[128], path[PATH_MAX];
    struct stat st;
    snprintf(file, sizeof(file), "%s.gp", name);
    char *gp = slurp(file);
    for (int i = 0; want[i]; i++)
        if (strstr(gp, want[i]) == NULL)
            fail_msg("%s.gp lacks \"%s\"", name, want[i]);
    free(gp);
    for (int i = 0; i < 2; i++) {
        snprintf(file, sizeof(file), "%s.%s", name, i ? "svg" : "png");
        if (stat(bench_path(&b, path, sizeof(path), file), &st) != 0 || st.st_size < 1000)
            fail_msg("%s not drawn", file);
    }
}

static int setup(void **state)
{
    (void)state;
    snprintf(b.outdir, sizeof(b.outdir), "/tmp/qasm-test-plots-XXXXXX");
    assert_non_null(mkdtemp(b.outdir));
    return 0;
}

static int teardown(void **state)
{
    char cmd[PATH_MAX + 16];
    (void)state;
    char *log = slurp("plots.log");
    /* gnuplot said nothing: no warning about a missing file, column or range. */
    if (log[0] != '\0')
        fail_msg("gnuplot complained: %s", log);
    free(log);
    if (getenv("QASM_KEEP_PLOTS") != NULL) { /* to look at the figures */
        fprintf(stderr, "kept %s\n", b.outdir);
        return 0;
    }
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", b.outdir);
    return system(cmd);
}

static void test_table1(void **state)
{
    (void)state;
    put("table1.csv", "mode,migrations,mappings,mappings_created,ports_in_use,requests_ok,"
                      "requests_failed\ndefault,8,9,9,9,119,0\nreactive,8,1,1,1,120,0\n"
                      "proactive,8,1,1,1,120,0\n");
    assert_int_equal(plots_table1(&b), 0);
    check_plot("table1", (const char *const[]){ "set yrange [0:*]", "histograms", NULL });
}

static void test_kernel_nat(void **state)
{
    (void)state;
    put("kernel-nat.csv", "mode,migrations,conntrack_entries,mappings_created,ports_in_use,"
                          "requests_ok,requests_failed\nkernel,8,9,9,9,119,0\n"
                          "normalize,8,1,1,1,121,0\n");
    assert_int_equal(plots_kernel_nat(&b), 0);
    check_plot("kernel-nat", (const char *const[]){ "set yrange [0:*]", "conntrack entries", NULL });
}

static void test_natdos(void **state)
{
    (void)state;
    put("nat-dos.csv", "mode,attacker_migrations,ports_in_use,pool,pool_exhausted_drops,victim_ok,"
                       "victim_failed\ndefault,14,8,8,80,0,3\nreactive,15,2,8,0,3,0\n"
                       "proactive,15,2,8,0,3,0\n");
    assert_int_equal(plots_natdos(&b), 0);
    check_plot("nat-dos", (const char *const[]){ "set yrange [0:*]", "set key outside", NULL });
}

static void test_latency(void **state)
{
    static const char *const modes[] = { "default", "reactive", "proactive" };
    (void)state;
    for (int m = 0; m < 3; m++) {
        char name[64], text[4096];
        int n = snprintf(text, sizeof(text), "conn,request,start_s,latency_us,bytes,status,ok,"
                                             "migrations\n");
        for (int i = 0; i < 50; i++)
            n += snprintf(text + n, sizeof(text) - (size_t)n, "0,%d,%d.0,%d,143,200,1,0\n", i, i,
                          (200 + 37 * ((i * 7) % 50)) * (m + 2) / 2);
        snprintf(name, sizeof(name), "latency-%s.csv", modes[m]);
        put(name, text);
    }
    put("latency-stats.csv", "mode,p50_min_us,p50_us,p50_max_us,p99_min_us,p99_us,p99_max_us,runs\n"
                             "default,300,320,350,1200,1343,1500,3\nreactive,380,399,420,1800,"
                             "1951,2100,3\nproactive,390,407,430,1900,2015,2200,3\n");
    assert_int_equal(plots_latency(&b, "fig8a", "latency CDF"), 0);
    check_plot("fig8a", (const char *const[]){ "set yrange [0:1]", "smooth cnormal",
                                               "set logscale x", NULL });
    check_plot("fig8a-percentiles", (const char *const[]){ "set yrange [0:*]",
                                                           "histogram errorbars", NULL });
}

static void test_fig7b(void **state)
{
    (void)state;
    char text[4096];
    int n = snprintf(text, sizeof(text),
                     "nats,period,default_bps,reactive_bps,proactive_bps,default_min,default_max,"
                     "reactive_min,reactive_max,proactive_min,proactive_max\n");
    for (int p = 0; p < 2; p++)
        for (int k = 0; k <= 2; k++)
            n += snprintf(text + n, sizeof(text) - (size_t)n,
                          "%d,%s,5e8,4.8e8,5.1e8,4e8,6e8,4.1e8,5.5e8,4.5e8,5.6e8\n", k,
                          p ? "100ms" : "1s");
    put("fig7b.csv", text);
    assert_int_equal(plots_fig7b(&b, "1s", "100ms", 2), 0);
    check_plot("fig7b", (const char *const[]){ "set yrange [0:*]", "histogram errorbars",
                                               "first = 1 + p * 3", "last = first + 2", NULL });
}

static void test_sweep(void **state)
{
    (void)state;
    char text[8192];
    int n = snprintf(text, sizeof(text),
                     "rate_hz,connections,mode,migrations,migrations_failed,requests_ok,"
                     "requests_failed,mappings_created,ports_in_use,ports_high_water,p99_us,"
                     "throughput_bps\n");
    static const char *const modes[] = { "default", "reactive", "proactive" };
    for (int r = 10; r <= 1000; r *= 10)
        for (int c = 1; c <= 100; c *= 10)
            for (int m = 0; m < 3; m++)
                n += snprintf(text + n, sizeof(text) - (size_t)n, "%d,%d,%s,10,0,90,0,%d,%d,%d,"
                                                                   "900,50000\n",
                              r, c, modes[m], m ? c : c * r / 5, m ? c : c * r / 5,
                              m ? c : c * r / 5);
    put("rate-sweep.csv", text);
    assert_int_equal(plots_sweep(&b, "1 10 100"), 0);
    check_plot("rate-sweep", (const char *const[]){ "set logscale x", "conns = '1 10 100'",
                                                    "for [c=1:words(conns)]", "with table if",
                                                    "index i", "linespoints", NULL });
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_table1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_natdos, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kernel_nat, setup, teardown),
        cmocka_unit_test_setup_teardown(test_latency, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fig7b, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sweep, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
