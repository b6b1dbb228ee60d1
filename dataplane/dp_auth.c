/*
 * Stage 2: authenticate. The presented key is hashed (SHA-256) and looked up by hash; the
 * comparison is constant-time, and the key itself is never stored, logged or echoed.
 */
#include <string.h>

#include "dp.h"

#define KEY_MIN 8
#define KEY_MAX 256

static int presented_key(h2o_req_t *req, h2o_iovec_t *out)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (i >= 0) {
        h2o_iovec_t v = req->headers.entries[i].value;
        if (v.len > 7 && strncasecmp(v.base, "bearer ", 7) == 0) {
            size_t off = 7;
            while (off < v.len && v.base[off] == ' ')
                off++;
            *out = h2o_iovec_init(v.base + off, v.len - off);
            return 0;
        }
        return -1;
    }
    i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-api-key"), -1);
    if (i >= 0) {
        *out = req->headers.entries[i].value;
        return 0;
    }
    return -1;
}

sy_err_t dp_auth(dp_req_t *r)
{
    if (r->key != NULL)
        return SY_E_OK;
    h2o_iovec_t k;
    if (presented_key(r->req, &k) != 0 || k.len < KEY_MIN || k.len > KEY_MAX)
        return SY_E_INVALID_API_KEY;
    for (size_t i = 0; i < k.len; i++)
        if ((unsigned char)k.base[i] <= 0x20 || (unsigned char)k.base[i] >= 0x7f)
            return SY_E_INVALID_API_KEY;
    uint8_t h[SY_SHA256_LEN];
    sy_sha256(k.base, k.len, h);
    r->key = dp_snapshot_find_key(r->snap, h);
    return r->key ? SY_E_OK : SY_E_INVALID_API_KEY;
}
