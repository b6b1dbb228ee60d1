/*
 * Stage 2: authenticate. The presented key is hashed (SHA-256) and looked up by hash; the
 * comparison is constant-time, and the key itself is never stored, logged or echoed. A key
 * that matches nothing counts against the client's failed-authentication limit
 * (dp_authfail.h): past it, 429 instead of 401.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "dp.h"
#include "dp_authfail.h"
#include "sy_log.h"

#define KEY_MIN 8
#define KEY_MAX 256

/* 1 a key was presented (*out), 0 none, -1 an Authorization header that is not Bearer. */
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
            return 1;
        }
        return -1;
    }
    i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-api-key"), -1);
    if (i >= 0) {
        *out = req->headers.entries[i].value;
        return 1;
    }
    return 0;
}

/* The key presented matched nothing: count it for the client; 429 once it is over its limit. */
static sy_err_t failed(dp_req_t *r, char *msg, size_t msglen)
{
    h2o_req_t *req = r->req;
    struct sockaddr_storage ss;
    socklen_t len = 0;
    if (req->conn != NULL && req->conn->callbacks->get_peername != NULL)
        len =
            req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss); /* cached per connection */
    int first = 0;
    uint32_t wait = dp_authfail_note(r->th != NULL ? r->th->authfail : NULL,
                                     len ? (struct sockaddr *)&ss : NULL, len, dp_now_ns(), &first);
    if (wait == 0)
        return SY_E_INVALID_API_KEY;
    if (first) {
        char addr[INET6_ADDRSTRLEN] = "-";
        if (len && ss.ss_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, addr, sizeof(addr));
        else if (len && ss.ss_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, addr, sizeof(addr));
        SY_WARN("msg=\"failed authentications over the limit; wrong keys get 429\" client=%s limit=%u "
                "retry_after_s=%u thread=%zu",
                addr, dp_authfail_limit(), wait, r->th != NULL ? r->th->index : 0);
    }
    r->rl.retry_after_s = wait; /* dp_respond_error: retry-after */
    snprintf(msg, msglen,
             "Too many requests with an invalid API key from this address. Check the key; try again in %us.",
             wait);
    return SY_E_AUTH_THROTTLED;
}

sy_err_t dp_auth(dp_req_t *r, char *msg, size_t msglen)
{
    if (r->key != NULL)
        return SY_E_OK;
    snprintf(msg, msglen,
             "Incorrect or missing API key. Pass it as 'Authorization: Bearer <key>' or 'X-API-Key'.");
    h2o_iovec_t k;
    int p = presented_key(r->req, &k);
    if (p <= 0)
        return SY_E_INVALID_API_KEY; /* no key at all (or not a Bearer credential): not a guess */
    if (k.len < KEY_MIN || k.len > KEY_MAX)
        return failed(r, msg, msglen);
    for (size_t i = 0; i < k.len; i++)
        if ((unsigned char)k.base[i] <= 0x20 || (unsigned char)k.base[i] >= 0x7f)
            return failed(r, msg, msglen);
    uint8_t h[SY_SHA256_LEN];
    sy_sha256(k.base, k.len, h);
    r->key = dp_snapshot_find_key(r->snap, h);
    return r->key ? SY_E_OK : failed(r, msg, msglen);
}
