/* content.c: the synthetic /bytes/N body (see content.h). */
#include "content.h"

#include <string.h>

static uint8_t table[QASM_CONTENT_PERIOD];
static int table_ready;

static void table_init(void)
{
    for (uint32_t j = 0; j < QASM_CONTENT_PERIOD; j++)
        table[j] = (uint8_t)(7u * j + j / 256u);
    table_ready = 1;
}

const uint8_t *qasm_content_at(uint64_t off, size_t *avail)
{
    if (!table_ready)
        table_init();
    uint32_t j = (uint32_t)(off % QASM_CONTENT_PERIOD);
    *avail = QASM_CONTENT_PERIOD - j;
    return table + j;
}

int qasm_content_check(const uint8_t *p, uint64_t off, size_t len)
{
    while (len > 0) {
        size_t avail;
        const uint8_t *t = qasm_content_at(off, &avail);
        size_t n = len < avail ? len : avail;
        if (memcmp(p, t, n) != 0)
            return -1;
        p += n;
        off += n;
        len -= n;
    }
    return 0;
}
