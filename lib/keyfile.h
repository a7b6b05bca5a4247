/*
 * keyfile.h: reads the key shared with the tracker (qasm-tracker --key,
 * qasm-mbox --tracker-key, qasm-trackctl --key, QASM_TRACKER_KEY for the
 * agent), and writes a new one (qasm-trackctl keygen). A key file must not
 * be readable or writable by group or other (like ssh's private keys): a
 * key others can read is no key. Its content is the key; one trailing
 * newline (CR LF too) is not part of it, so `echo` and editors agree.
 */
#ifndef QASM_KEYFILE_H
#define QASM_KEYFILE_H

#include <stddef.h>

#include "auth.h"

/*
 * qasm_keyfile_load reads |path| into |k|. Returns 0, or a negative error
 * with a one-line reason in |err| (|errlen| bytes): -EPERM (group or other
 * may read or write it), -EINVAL (shorter than 16 or longer than 256
 * bytes), or the error of open/read.
 */
int qasm_keyfile_load(struct qasm_auth_key *k, const char *path, char *err, size_t errlen);

/*
 * qasm_keyfile_read reads a secret file under the same rules (mode, one
 * trailing newline dropped) into |buf| (|cap| bytes, NUL-terminated; at
 * most cap - 1 bytes of content, -EINVAL beyond) and sets *len. For
 * secrets that are not a key (qasm-tracker --store-auth: a Redis password).
 */
int qasm_keyfile_read(const char *path, char *buf, size_t cap, size_t *len, char *err,
                      size_t errlen);

/*
 * qasm_keyfile_generate writes a new key (32 random bytes from the kernel,
 * as 64 hex digits and a newline) to |path|, created with mode 0600; it
 * refuses to overwrite an existing file. Returns 0 or a negative error with
 * a reason in |err|.
 */
int qasm_keyfile_generate(const char *path, char *err, size_t errlen);

#endif
