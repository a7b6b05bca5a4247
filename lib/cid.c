#include "cid.h"

#include <errno.h>

#include "hash.h"

int qasm_cid_set(struct qasm_cid *cid, const uint8_t *data, size_t len)
{
    if (len > QASM_CID_MAXLEN)
        return -EINVAL;
    cid->len = (uint8_t)len;
    if (len)
        memcpy(cid->data, data, len);
    return 0;
}

char *qasm_cid_hex(char *buf, const struct qasm_cid *cid)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;
    for (i = 0; i < cid->len && i < QASM_CID_MAXLEN; i++) {
        buf[2 * i] = digits[cid->data[i] >> 4];
        buf[2 * i + 1] = digits[cid->data[i] & 0xf];
    }
    buf[2 * i] = '\0';
    return buf;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int qasm_cid_parse_len(struct qasm_cid *cid, const char *hex, size_t n)
{
    if (n % 2 != 0 || n > 2 * QASM_CID_MAXLEN)
        return -EINVAL;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -EINVAL;
        cid->data[i] = (uint8_t)(hi << 4 | lo);
    }
    cid->len = (uint8_t)(n / 2);
    return 0;
}

int qasm_cid_parse(struct qasm_cid *cid, const char *hex)
{
    if (hex[0] == '0' && (hex[1] == 'x' || hex[1] == 'X'))
        hex += 2;
    return qasm_cid_parse_len(cid, hex, strlen(hex));
}

uint64_t qasm_cid_hash(const struct qasm_cid *cid, uint64_t seed)
{
    return qasm_hash(cid->data, cid->len, seed ^ cid->len);
}
