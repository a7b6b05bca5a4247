#include "hmac.h"

#include <nettle/hmac.h>
#include <nettle/memops.h>

void qasm_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
                      uint8_t out[QASM_SHA256_LEN])
{
    struct hmac_sha256_ctx ctx;
    hmac_sha256_set_key(&ctx, keylen, key);
    hmac_sha256_update(&ctx, len, data);
    hmac_sha256_digest(&ctx, QASM_SHA256_LEN, out);
}

int qasm_memeq_ct(const void *a, const void *b, size_t n)
{
    return memeql_sec(a, b, n) != 0;
}
