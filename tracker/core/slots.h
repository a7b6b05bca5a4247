/*
 * slots.h: Redis Cluster key slots and redirections, I/O-free (Debian's
 * hiredis 0.14 has no cluster client; tracker/redis.c routes with this).
 *
 * - qasm_slot_key: the hash slot of a key (CRC16-XMODEM mod 16384 of the
 *   whole key, or of the first non-empty {hash tag} in it).
 * - qasm_slot_redirect: parses "MOVED <slot> <host>:<port>" and
 *   "ASK <slot> <host>:<port>" error replies.
 * - struct qasm_slotmap: which node serves each slot, filled from CLUSTER
 *   SLOTS ranges and corrected by MOVED replies.
 */
#ifndef QASM_SLOTS_H
#define QASM_SLOTS_H

#include <stddef.h>
#include <stdint.h>

#define QASM_SLOTS 16384
#define QASM_SLOT_NONE 0xffffu /* slot map: no node known */
#define QASM_SLOT_HOSTLEN 63

/* qasm_slot_crc16 returns the CRC16-XMODEM (poly 0x1021, init 0) of |len| bytes. */
uint16_t qasm_slot_crc16(const void *buf, size_t len);

/* qasm_slot_key returns the cluster hash slot (0..16383) of the key |key| (|len| bytes). */
unsigned qasm_slot_key(const void *key, size_t len);

enum qasm_slot_redirect_kind {
    QASM_SLOT_MOVED = 1, /* the slot lives on that node now: update the map, resend */
    QASM_SLOT_ASK = 2,   /* this once: send ASKING then the command to that node */
};

struct qasm_slot_redirect {
    int kind; /* enum qasm_slot_redirect_kind */
    unsigned slot;
    char host[QASM_SLOT_HOSTLEN + 1]; /* "127.0.0.1", "::1" (no brackets) */
    int port;
};

/*
 * qasm_slot_redirect parses the error reply |err| (|len| bytes, no CRLF).
 * Returns 0 and fills |r| for a well-formed MOVED or ASK, -ENOENT for any
 * other error, -EINVAL for a MOVED/ASK that does not parse (bad slot, port
 * or address).
 */
int qasm_slot_redirect(struct qasm_slot_redirect *r, const char *err, size_t len);

/* Which node (a caller's index, < QASM_SLOT_NONE) serves each slot. */
struct qasm_slotmap {
    uint16_t node[QASM_SLOTS];
};

/* qasm_slotmap_clear marks every slot unknown. */
void qasm_slotmap_clear(struct qasm_slotmap *m);

/* qasm_slotmap_set makes |node| serve slots |first|..|last| (inclusive). -EINVAL if out of range. */
int qasm_slotmap_set(struct qasm_slotmap *m, unsigned first, unsigned last, unsigned node);

/* qasm_slotmap_get returns the node of |slot|, or QASM_SLOT_NONE. */
unsigned qasm_slotmap_get(const struct qasm_slotmap *m, unsigned slot);

/* qasm_slotmap_covered tells whether every slot has a node. */
int qasm_slotmap_covered(const struct qasm_slotmap *m);

#endif
