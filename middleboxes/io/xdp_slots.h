/*
 * xdp_slots.h: the slot allocator of the XDP fast path's `entries` array
 * (middleboxes/xdp/xdp_maps.h, docs/XDP.md "The maps"). Userspace chooses
 * the slot of each state entry; flows (and `slots`, for a migration's first
 * packet) name it by struct qasm_xdp_ref: index and generation.
 *
 * Handing out: a slot freed longest ago first (a FIFO), else one never used,
 * so the slots in use stay below the high-water mark the sweep walks to,
 * and a freed slot is reused as late as possible. Each hand-out and each
 * free advances the slot's generation (never 0): a flow of a freed entry
 * names a generation no live entry has. No I/O: the caller writes the
 * kernel's side (the slot's value with the generation).
 */
#ifndef QASM_MBOX_XDP_SLOTS_H
#define QASM_MBOX_XDP_SLOTS_H

#include <stddef.h>
#include <stdint.h>

#include "middleboxes/xdp/xdp_maps.h"

struct qasm_xdp_slots;

/* qasm_xdp_slots_new makes an allocator of |n| slots (n >= 1). 0, or -ENOMEM / -EINVAL. */
int qasm_xdp_slots_new(struct qasm_xdp_slots **ps, uint32_t n, uint64_t seed);

/* qasm_xdp_slots_del frees it (NULL is fine). */
void qasm_xdp_slots_del(struct qasm_xdp_slots *s);

/* The slot of entry |ek| into |ref|: 1, or 0 when it has none. */
int qasm_xdp_slots_find(const struct qasm_xdp_slots *s, const struct qasm_xdp_ekey *ek,
                        struct qasm_xdp_ref *ref);

/* A slot for |ek| (which has none): 0, -ENOSPC when every slot is taken, or -ENOMEM. */
int qasm_xdp_slots_alloc(struct qasm_xdp_slots *s, const struct qasm_xdp_ekey *ek,
                         struct qasm_xdp_ref *ref);

/* Frees the slot of |ek|; |freed| gets its index and its new (free) generation, for the
 * kernel's value. 0, or -ENOENT. */
int qasm_xdp_slots_free(struct qasm_xdp_slots *s, const struct qasm_xdp_ekey *ek,
                        struct qasm_xdp_ref *freed);

/* 1 when |ref| names a slot in use with that generation. */
int qasm_xdp_slots_live(const struct qasm_xdp_slots *s, const struct qasm_xdp_ref *ref);

/* The entry key of slot |slot| in use, or NULL. */
const struct qasm_xdp_ekey *qasm_xdp_slots_key(const struct qasm_xdp_slots *s, uint32_t slot);

/* Slots in use; one past the highest slot ever handed out (the sweep walks below it). */
size_t qasm_xdp_slots_count(const struct qasm_xdp_slots *s);
uint32_t qasm_xdp_slots_high(const struct qasm_xdp_slots *s);

/* Userspace bytes the allocator holds (the kernel's array is the slots x 64 bytes). */
size_t qasm_xdp_slots_memory(const struct qasm_xdp_slots *s);

#endif
