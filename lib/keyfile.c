#include "keyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

int qasm_keyfile_read(const char *path, char *buf, size_t cap, size_t *len, char *err,
                      size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd == -1) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        return -e;
    }
    struct stat st;
    if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        close(fd);
        return -EINVAL;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        snprintf(err, errlen, "%s: mode %03o, group or other may read it (chmod 600 %s)", path,
                 (unsigned)(st.st_mode & 0777), path);
        close(fd);
        return -EPERM;
    }
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r == -1 && errno == EINTR)
            continue;
        if (r == -1) {
            int e = errno;
            snprintf(err, errlen, "%s: %s", path, strerror(e));
            close(fd);
            return -e;
        }
        if (r == 0 || (n += (size_t)r) == cap)
            break;
    }
    close(fd);
    if (n > 0 && buf[n - 1] == '\n')
        n--;
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    if (n >= cap) {
        memset(buf, 0, cap);
        snprintf(err, errlen, "%s: longer than %zu bytes", path, cap - 1);
        return -E2BIG;
    }
    buf[n] = '\0';
    *len = n;
    return 0;
}

int qasm_keyfile_load(struct qasm_auth_key *k, const char *path, char *err, size_t errlen)
{
    char buf[QASM_AUTH_KEY_MAX + 3];
    size_t n = 0;
    int rv = qasm_keyfile_read(path, buf, sizeof(buf), &n, err, errlen);
    if (rv < 0 && rv != -E2BIG)
        return rv;
    if (rv == 0)
        rv = qasm_auth_key_set(k, buf, n);
    memset(buf, 0, sizeof(buf));
    if (rv < 0) {
        snprintf(err, errlen, "%s: a key is %d to %d bytes (not counting a final newline)", path,
                 QASM_AUTH_KEY_MIN, QASM_AUTH_KEY_MAX);
        return rv;
    }
    return 0;
}

int qasm_keyfile_generate(const char *path, char *err, size_t errlen)
{
    uint8_t raw[32];
    char hex[2 * sizeof(raw) + 2];
    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
        snprintf(err, errlen, "getrandom: %s", strerror(errno));
        return -EIO;
    }
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    hex[2 * sizeof(raw)] = '\n';
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd == -1) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        return -e;
    }
    ssize_t w = write(fd, hex, 2 * sizeof(raw) + 1);
    int e = errno;
    memset(raw, 0, sizeof(raw));
    memset(hex, 0, sizeof(hex));
    if (close(fd) == -1 || w != (ssize_t)(2 * sizeof(raw) + 1)) {
        snprintf(err, errlen, "%s: write failed: %s", path, strerror(e));
        unlink(path);
        return -EIO;
    }
    return 0;
}
