/*
 * The only place an error becomes a response (in the client's dialect: r->in->error_json),
 * and the headers every response carries.
 */
#include <stdlib.h>
#include <string.h>

#include "dp.h"
#include "sy_catalog.h"
#include "sy_util.h"

static h2o_generator_t inline_gen = {NULL, NULL};

static const char expose[] =
    "x-request-id, x-ratelimit-limit, x-ratelimit-remaining, x-ratelimit-reset, retry-after, "
    "x-ratelimit-limit-requests, x-ratelimit-remaining-requests, x-ratelimit-reset-requests, "
    "x-ratelimit-limit-tokens, x-ratelimit-remaining-tokens, x-ratelimit-reset-tokens, "
    "x-switchyard-model, x-switchyard-provider, x-switchyard-task, x-switchyard-difficulty, "
    "x-switchyard-cost, x-switchyard-cost-estimate, x-switchyard-attempts";

static void add_hdr(h2o_req_t *req, const char *name, size_t nlen, const char *v, int vlen)
{
    h2o_iovec_t d = h2o_strdup(&req->pool, v, (size_t)vlen);
    h2o_add_header_by_str(&req->pool, &req->res.headers, name, nlen, 0, NULL, d.base, d.len);
}

/* x-ratelimit-*: the short three (DESIGN.md) describe the binding request limit — the key's or
 * the workspace's, whichever has less left on this node; the OpenAI-style -requests/-tokens
 * variants describe each kind. Without a limit (none configured, or no key identified yet)
 * every response still carries them: limit and remaining "unlimited", reset 0. Values:
 * limit = the configured per-minute limit, remaining = what this node still admits now (its
 * share), reset = until the bucket is full again (seconds, ceil, for the short one; OpenAI's
 * duration format for the variants). docs/admission.md. */
static void add_ratelimit_headers(dp_req_t *r)
{
    h2o_req_t *req = r->req;
    const dp_limit_view_t *v = &r->rl;
    char a[32], b[32], c[32];
    int la, lb, lc;
    if (v->has_req) {
        la = (int)sy_fmt_u64(a, v->req_limit);
        lb = (int)sy_fmt_u64(b, v->req_remaining);
        lc = (int)sy_fmt_u64(c, (v->req_reset_ms + 999) / 1000);
    } else {
        la = lb = (int)sizeof("unlimited") - 1;
        memcpy(a, "unlimited", sizeof("unlimited"));
        memcpy(b, a, sizeof("unlimited"));
        lc = 1;
        memcpy(c, "0", 2);
    }
    add_hdr(req, H2O_STRLIT("x-ratelimit-limit"), a, la);
    add_hdr(req, H2O_STRLIT("x-ratelimit-remaining"), b, lb);
    add_hdr(req, H2O_STRLIT("x-ratelimit-reset"), c, lc);
    add_hdr(req, H2O_STRLIT("x-ratelimit-limit-requests"), a, la);
    add_hdr(req, H2O_STRLIT("x-ratelimit-remaining-requests"), b, lb);
    lc = dp_limit_format_duration(v->has_req ? v->req_reset_ms : 0, c);
    add_hdr(req, H2O_STRLIT("x-ratelimit-reset-requests"), c, lc);
    if (v->has_tok) {
        la = (int)sy_fmt_u64(a, v->tok_limit);
        lb = (int)sy_fmt_u64(b, v->tok_remaining);
    } else {
        la = lb = (int)sizeof("unlimited") - 1;
        memcpy(a, "unlimited", sizeof("unlimited"));
        memcpy(b, a, sizeof("unlimited"));
    }
    lc = dp_limit_format_duration(v->has_tok ? v->tok_reset_ms : 0, c);
    add_hdr(req, H2O_STRLIT("x-ratelimit-limit-tokens"), a, la);
    add_hdr(req, H2O_STRLIT("x-ratelimit-remaining-tokens"), b, lb);
    add_hdr(req, H2O_STRLIT("x-ratelimit-reset-tokens"), c, lc);
}

void dp_add_common_headers(dp_req_t *r)
{
    h2o_req_t *req = r->req;
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0, NULL, r->id,
                          strlen(r->id));
    add_ratelimit_headers(r);
    /* CORS only for a browser's request (it names its Origin; every cross-origin one does): an
     * SDK or curl has no use for ~480 bytes of CORS headers on every answer (docs/dataplane.md) */
    if (h2o_find_header_by_str(&req->headers, H2O_STRLIT("origin"), -1) == -1)
        return;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ACCESS_CONTROL_ALLOW_ORIGIN, NULL,
                   H2O_STRLIT("*"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("access-control-expose-headers"), 0, NULL,
                          H2O_STRLIT(expose));
}

void dp_add_routing_headers(dp_req_t *r)
{
    if (r->model == NULL)
        return;
    h2o_req_t *req = r->req;
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-switchyard-model"), 0, NULL,
                          r->model->id, strlen(r->model->id));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-switchyard-provider"), 0, NULL,
                          r->model->provider->id, strlen(r->model->provider->id));
    char n[SY_FMT_U64_MAX];
    int l = (int)sy_fmt_u64(n, r->attempts);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-switchyard-attempts"), 0, NULL,
                          h2o_strdup(&req->pool, n, (size_t)l).base, (size_t)l);
    /* absent when the request was not classified (routing.classify "routed", a named model);
     * a route.task_class without classification names the task only */
    if (r->task >= 0) {
        const char *t = sy_task_name((sy_task_t)r->task);
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-switchyard-task"), 0, NULL, t,
                              strlen(t));
    }
    if (r->difficulty >= 0) {
        const char *d = sy_difficulty_name((sy_difficulty_t)r->difficulty);
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-switchyard-difficulty"), 0, NULL,
                              d, strlen(d));
    }
}

void dp_respond_body(dp_req_t *r, int status, const char *content_type, const char *body, size_t len)
{
    h2o_req_t *req = r->req;
    if (req == NULL || r->started || r->status != 0)
        return;
    r->status = status;
    if (dp_shutting_down())
        req->http1_is_persistent = 0; /* draining: send the client elsewhere for its next request */
    req->res.status = status;
    req->res.reason = status < 300 ? "OK" : "Error";
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type,
                   strlen(content_type));
    dp_add_common_headers(r);
    h2o_iovec_t buf = h2o_strdup(&req->pool, body, len);
    dp_watch_disarm(r);
    r->started = 1;
    r->final_sent = 1;
    r->t_client_fb_ns = dp_now_ns();
    h2o_start_response(req, &inline_gen);
    if (h2o_memis(req->input.method.base, req->input.method.len, H2O_STRLIT("HEAD")))
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
    else
        h2o_send(req, &buf, 1, H2O_SEND_STATE_FINAL);
}

void dp_respond_error(dp_req_t *r, sy_err_t e, const char *msg, const char *param)
{
    if (r->req == NULL || r->started)
        return;
    if (r->end == SY_E_OK)
        r->end = e;
    char *j = r->in->error_json(e, msg, param); /* in the client's dialect */
    if (j == NULL) {
        static const char oom[] =
            "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"param\":null,"
            "\"code\":\"internal_error\"}}";
        dp_respond_body(r, 500, "application/json", oom, sizeof(oom) - 1);
        return;
    }
    if ((e == SY_E_RATE_LIMITED || e == SY_E_AUTH_THROTTLED) && r->rl.retry_after_s > 0 &&
        h2o_find_header_by_str(&r->req->res.headers, H2O_STRLIT("retry-after"), -1) < 0) {
        /* our own limiter refused (an upstream 429's retry-after is set by dp_relay) */
        char v[16];
        int n = snprintf(v, sizeof(v), "%u", r->rl.retry_after_s);
        add_hdr(r->req, H2O_STRLIT("retry-after"), v, n);
    }
    if (e == SY_E_OVERLOADED) /* the in-flight cap: slots free up as requests end */
        add_hdr(r->req, H2O_STRLIT("retry-after"), "1", 1);
    /* a 402 needs money, a throttled wrong key a different key: retrying the same request
     * cannot succeed, so the OpenAI SDKs are told not to */
    if (sy_err_status(e) == 402 || e == SY_E_AUTH_THROTTLED)
        h2o_add_header_by_str(&r->req->pool, &r->req->res.headers, H2O_STRLIT("x-should-retry"), 0, NULL,
                              H2O_STRLIT("false"));
    dp_respond_body(r, sy_err_status(e), "application/json", j, strlen(j));
    free(j);
}
