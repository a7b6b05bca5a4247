/*
 * bench_meta.c: the provenance a summary.json carries, so that a result can
 * be traced back to the build, the machine and the libraries it ran on.
 * The version and commit are lib/cli.c's, from a header the build generates
 * (git describe; "unknown" outside a git tree).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "bench.h"
#include "cli.h"

/* The Debian packages the programs are built against (the -dev names are stable across releases). */
static const char *const meta_packages[] = { "libngtcp2-dev", "libnghttp3-dev", "libgnutls28-dev",
                                             "libev-dev", NULL };

/* The first "model name" of /proc/cpuinfo, or NULL. */
static json_t *cpu_model(void)
{
    char line[512];
    json_t *j = json_null();
    FILE *f = fopen("/proc/cpuinfo", "r");
    while (f && fgets(line, sizeof(line), f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon) {
            line[strcspn(line, "\n")] = '\0';
            j = json_string(colon + 1 + strspn(colon + 1, " \t"));
            break;
        }
    }
    if (f)
        fclose(f);
    return j;
}

/* The installed version of Debian package |pkg| (dpkg-query), or null. */
static json_t *package_version(const char *pkg)
{
    char cmd[256], ver[128] = "";
    snprintf(cmd, sizeof(cmd),
             "dpkg-query -W -f='${db:Status-Abbrev} ${Version}' %s 2>/dev/null", pkg);
    FILE *p = popen(cmd, "r");
    if (p == NULL)
        return json_null();
    size_t n = fread(ver, 1, sizeof(ver) - 1, p);
    ver[n] = '\0';
    pclose(p);
    /* "ii  1.2-3": installed; anything else (removed, unknown) is not there. */
    if (strncmp(ver, "ii ", 3) != 0)
        return json_null();
    char *v = ver + 3 + strspn(ver + 3, " ");
    return *v ? json_string(v) : json_null();
}

json_t *bench_meta(const struct bench *b, time_t start)
{
    char host[256] = "", iso[32];
    struct utsname u;
    struct tm tm;
    (void)b;
    strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&start, &tm));
    json_t *m = json_object();
    json_object_set_new(m, "qasm_version", json_string(qasm_version()));
    json_object_set_new(m, "qasm_commit", json_string(qasm_version_commit()));
    json_object_set_new(m, "started_utc", json_string(iso));
    json_object_set_new(m, "host",
                        gethostname(host, sizeof(host) - 1) == 0 ? json_string(host) : json_null());
    json_object_set_new(m, "kernel", uname(&u) == 0
                                             ? json_pack("{s:s,s:s,s:s}", "sysname", u.sysname,
                                                         "release", u.release, "machine", u.machine)
                                             : json_null());
    json_object_set_new(m, "cpu_model", cpu_model());
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    json_object_set_new(m, "cpu_count", ncpu > 0 ? json_integer(ncpu) : json_null());
    json_t *pk = json_object();
    for (int i = 0; meta_packages[i]; i++)
        json_object_set_new(pk, meta_packages[i], package_version(meta_packages[i]));
    json_object_set_new(m, "packages", pk);
    return m;
}
