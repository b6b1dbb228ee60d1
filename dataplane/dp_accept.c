/*
 * Stage 1: accept — request id, CORS preflight, method/path dispatch, then the proxy stages
 * in order. Also owns the request's lifetime (see dp.h).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dp.h"
#include "dp_usage.h"
#include "sy_h2o.h"
#include "sy_json.h"

static const char *const preflight_headers =
    "authorization, content-type, x-api-key, x-request-id, openai-organization, openai-project, "
    "anthropic-version, x-stainless-arch, x-stainless-lang, x-stainless-os, x-stainless-package-version, "
    "x-stainless-runtime, x-stainless-runtime-version, x-stainless-retry-count, x-stainless-timeout";

void dp_req_maybe_free(dp_req_t *r)
{
    if (r->anchored || r->up != NULL || r->busy > 0 || h2o_timeout_is_linked(&r->retry_entry))
        return;
    dp_holder_return(&r->th->holder, r->snap);
    sy_arena_free(&r->arena);
    free(r->up_body);
    dp_buf_free(&r->sending);
    dp_buf_free(&r->pending);
    sy_sse_dispose(&r->sse);
    free(r);
}

static void on_anchor_dispose(void *p)
{
    dp_req_t *r = *(dp_req_t **)p;
    dp_watch_disarm(r); /* before r->req is gone: the fd is still the client's */
    dp_watch_release(r);
    r->req = NULL;
    r->anchored = 0;
    if (r->up != NULL) {
        dp_upstream_cancel(r->up);
        r->up = NULL;
    }
    if (h2o_timeout_is_linked(&r->retry_entry))
        h2o_timeout_unlink(&r->retry_entry);
    if (r->started && !r->final_sent && r->end == SY_E_OK)
        r->end = SY_E_CLIENT_CLOSED;
    else if (r->status == 0 && r->end == SY_E_OK)
        r->end = SY_E_CLIENT_CLOSED;
    h2o_linklist_unlink(&r->link);
    __atomic_store_n(&r->th->inflight, r->th->inflight - 1,
                     __ATOMIC_RELAXED); /* only this thread writes it */
    if (r->gated)
        __atomic_store_n(&r->th->admitted, r->th->admitted - 1, __ATOMIC_RELAXED);
    if (r->started && r->ep == DP_EP_CHAT && r->stream && r->status == 200)
        __atomic_store_n(&r->th->streams, r->th->streams - 1, __ATOMIC_RELAXED);
    dp_meter_finish(r);
    dp_req_maybe_free(r);
}

static int valid_request_id(const char *s, size_t n)
{
    if (n == 0 || n > DP_REQUEST_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '_' || c == '.' || c == ':'))
            return 0;
    }
    return 1;
}

static void assign_id(dp_req_t *r)
{
    h2o_req_t *req = r->req;
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-request-id"), -1);
    if (i >= 0) {
        h2o_iovec_t v = req->headers.entries[i].value;
        if (valid_request_id(v.base, v.len)) {
            memcpy(r->id, v.base, v.len);
            r->id[v.len] = '\0';
            return;
        }
    }
    /* node-unique without a syscall: thread index, per-thread sequence, start time salt */
    static uint64_t salt;
    if (salt == 0)
        salt = dp_now_ns();
    uint64_t seq = ++r->th->req_seq;
    snprintf(r->id, sizeof(r->id), "req_%08x%02x%010llx", (unsigned)(salt & 0xffffffffu),
             (unsigned)(r->th->index & 0xff), (unsigned long long)seq);
}

static int path_is(h2o_req_t *req, const char *p, size_t n)
{
    return req->path_normalized.len == n && memcmp(req->path_normalized.base, p, n) == 0;
}

static int method_is(h2o_req_t *req, const char *m, size_t n)
{
    return h2o_memis(req->method.base, req->method.len, m, n);
}

/* For the access line of a request to an unknown path: ` method=GET path="/v1/x"`, the path
 * without its query (a key put in `?api_key=` must not reach the log), printable ASCII only,
 * at most 100 bytes; in the request's arena (h2o's request is gone when the line is written). */
static void note_path(dp_req_t *r)
{
    const h2o_req_t *q = r->req;
    char p[104];
    size_t n = 0;
    for (size_t i = 0; i < q->path.len && q->path.base[i] != '?' && n < 100; i++) {
        unsigned char c = (unsigned char)q->path.base[i];
        p[n++] = c > 0x20 && c < 0x7f && c != '"' && c != '\\' ? (char)c : '_';
    }
    p[n] = '\0';
    char *note = sy_arena_alloc(&r->arena, 140);
    if (note != NULL)
        snprintf(note, 140, " method=%.*s path=\"%s\"", (int)(q->method.len < 16 ? q->method.len : 16),
                 q->method.base, p);
    r->path_note = note;
}

static void respond_preflight(dp_req_t *r)
{
    h2o_req_t *req = r->req;
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("access-control-allow-methods"), 0, NULL,
                          H2O_STRLIT("GET, POST, OPTIONS"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("access-control-allow-headers"), 0, NULL,
                          preflight_headers, strlen(preflight_headers));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("access-control-max-age"), 0, NULL,
                          H2O_STRLIT("86400"));
    dp_respond_body(r, 204, "text/plain", "", 0);
}

/* The node-wide cap on model requests in flight (limits.max_inflight; docs/dataplane.md,
 * "Overload"), checked before anything else is spent on the request: authentication, rate-limit
 * tokens, the body parse, a reservation, an upstream connection. The count is the sum of every
 * loop thread's own counter, read with relaxed loads, so the hot path writes no shared cache
 * line; threads admitting at the same instant may pass the cap by at most threads - 1. */
static int gate_enter(dp_req_t *r)
{
    dp_thread_t *th = r->th;
    if (dp_server_admitted() >= r->snap->limits.max_inflight) {
        __atomic_store_n(&th->overload_refused, th->overload_refused + 1, __ATOMIC_RELAXED);
        return 0;
    }
    __atomic_store_n(&th->admitted, th->admitted + 1, __ATOMIC_RELAXED);
    r->gated = 1;
    return 1;
}

static void proxy(dp_req_t *r, dp_endpoint_t ep)
{
    char msg[256] = "";
    const char *param = NULL;
    sy_err_t e;
    r->ep = ep;
    if (dp_shutting_down()) {
        dp_respond_error(r, SY_E_SHUTTING_DOWN, "this node is shutting down; retry on another", NULL);
        return;
    }
    if (r->snap == NULL) {
        dp_respond_error(r, SY_E_NOT_READY, "no routing table loaded yet", NULL);
        return;
    }
    if (dp_usage_refusing()) {
        /* usage records cannot be spooled and the memory bound is reached (docs/billing.md) */
        dp_respond_error(r, SY_E_NOT_READY, "usage spool unavailable on this node; retry on another", NULL);
        return;
    }
    if (!gate_enter(r)) {
        dp_respond_error(r, SY_E_OVERLOADED,
                         "this node has too many requests in flight; retry shortly or on another node", NULL);
        return;
    }
    if ((e = dp_auth(r, msg, sizeof(msg))) != SY_E_OK) {
        dp_respond_error(r, e, msg, NULL);
        return;
    }
    if ((e = dp_admit(r, msg, sizeof(msg))) != SY_E_OK) {
        dp_respond_error(r, e, msg, NULL);
        return;
    }
    /* an inbound dialect other than OpenAI's turns its body into the canonical request first */
    if (r->in->parse != NULL && (e = r->in->parse(r, msg, sizeof(msg), &param)) != SY_E_OK) {
        dp_respond_error(r, e, msg, param);
        return;
    }
    if ((e = dp_body_parse(r, msg, sizeof(msg), &param)) != SY_E_OK) {
        dp_respond_error(r, e, msg, param);
        return;
    }
    if ((e = dp_route(r, msg, sizeof(msg), &param)) != SY_E_OK) {
        dp_respond_error(r, e, msg, param);
        return;
    }
    /* money last: the worst case needs the candidates; released in dp_meter_finish */
    if ((e = dp_admit_reserve(r, msg, sizeof(msg))) != SY_E_OK) {
        dp_respond_error(r, e, msg, NULL);
        return;
    }
    dp_relay_forward(r);
}

/* POST /v1/messages/count_tokens: an estimate (the canonical request's bytes / 4, the same
 * estimate admission uses), after the same authentication and admission as a model call; no
 * upstream is asked and nothing is billed. */
static void count_tokens(dp_req_t *r)
{
    char msg[256] = "";
    const char *param = NULL;
    sy_err_t e;
    if (r->snap == NULL) {
        dp_respond_error(r, SY_E_NOT_READY, "no routing table loaded yet", NULL);
        return;
    }
    if ((e = dp_auth(r, msg, sizeof(msg))) != SY_E_OK) {
        dp_respond_error(r, e, msg, NULL);
        return;
    }
    r->count_only = 1;
    if ((e = dp_admit(r, msg, sizeof(msg))) != SY_E_OK ||
        (e = r->in->parse(r, msg, sizeof(msg), &param)) != SY_E_OK) {
        dp_respond_error(r, e, msg, param);
        return;
    }
    char out[64];
    int n = snprintf(out, sizeof(out), "{\"input_tokens\":%llu}",
                     (unsigned long long)((r->body_src.len + 3) / 4));
    dp_respond_body(r, 200, "application/json", out, (size_t)n);
}

static void dispatch(dp_req_t *r)
{
    h2o_req_t *req = r->req;
    int get = method_is(req, H2O_STRLIT("GET")) || method_is(req, H2O_STRLIT("HEAD"));
    int post = method_is(req, H2O_STRLIT("POST"));
    sy_err_t e;
    static const char models_prefix[] = "/v1/models/";

    if (method_is(req, H2O_STRLIT("OPTIONS"))) {
        respond_preflight(r);
    } else if (path_is(req, H2O_STRLIT("/v1/chat/completions"))) {
        r->ep = DP_EP_CHAT;
        post ? proxy(r, DP_EP_CHAT) : dp_respond_error(r, SY_E_METHOD_NOT_ALLOWED, "use POST", NULL);
    } else if (path_is(req, H2O_STRLIT("/v1/messages"))) {
        r->ep = DP_EP_CHAT; /* Anthropic's Messages API: the same stages, in that dialect */
        r->in = &dp_anthropic_inbound;
        post ? proxy(r, DP_EP_CHAT) : dp_respond_error(r, SY_E_METHOD_NOT_ALLOWED, "use POST", NULL);
    } else if (path_is(req, H2O_STRLIT("/v1/messages/count_tokens"))) {
        r->ep = DP_EP_CHAT;
        r->in = &dp_anthropic_inbound;
        post ? count_tokens(r) : dp_respond_error(r, SY_E_METHOD_NOT_ALLOWED, "use POST", NULL);
    } else if (path_is(req, H2O_STRLIT("/v1/embeddings"))) {
        r->ep = DP_EP_EMBEDDINGS;
        post ? proxy(r, DP_EP_EMBEDDINGS) : dp_respond_error(r, SY_E_METHOD_NOT_ALLOWED, "use POST", NULL);
    } else if (path_is(req, H2O_STRLIT("/v1/models")) ||
               (req->path_normalized.len > sizeof(models_prefix) - 1 &&
                memcmp(req->path_normalized.base, models_prefix, sizeof(models_prefix) - 1) == 0)) {
        r->ep = DP_EP_MODELS;
        if (!get) {
            dp_respond_error(r, SY_E_METHOD_NOT_ALLOWED, "use GET", NULL);
        } else if (r->snap == NULL) {
            dp_respond_error(r, SY_E_NOT_READY, "no routing table loaded yet", NULL);
        } else if ((e = dp_auth(r, r->last_msg, sizeof(r->last_msg))) != SY_E_OK) {
            dp_respond_error(r, e, r->last_msg, NULL);
        } else if ((e = dp_admit(r, r->last_msg, sizeof(r->last_msg))) != SY_E_OK) {
            dp_respond_error(r, e, r->last_msg,
                             NULL); /* revoked/expired 401, deactivated 403, as for model calls */
        } else if (req->path_normalized.len == sizeof("/v1/models") - 1) {
            dp_info_models(r, NULL, 0);
        } else {
            dp_info_models(r, req->path_normalized.base + sizeof(models_prefix) - 1,
                           req->path_normalized.len - (sizeof(models_prefix) - 1));
        }
    } else if (path_is(req, H2O_STRLIT("/healthz"))) {
        static const char ok[] = "{\"status\":\"ok\"}";
        dp_respond_body(r, 200, "application/json", ok, sizeof(ok) - 1);
    } else if (path_is(req, H2O_STRLIT("/readyz"))) {
        if (r->snap == NULL)
            dp_respond_error(r, SY_E_NOT_READY, "no routing table loaded yet", NULL);
        else if (dp_shutting_down())
            dp_respond_error(r, SY_E_SHUTTING_DOWN, "shutting down", NULL);
        else if (dp_usage_refusing())
            dp_respond_error(r, SY_E_NOT_READY, "usage spool unavailable", NULL);
        else {
            static const char ok[] = "{\"status\":\"ready\"}";
            dp_respond_body(r, 200, "application/json", ok, sizeof(ok) - 1);
        }
    } else if (path_is(req, H2O_STRLIT("/metrics"))) {
        get ? dp_info_metrics(r) : dp_respond_error(r, SY_E_METHOD_NOT_ALLOWED, "use GET", NULL);
    } else {
        r->ep = DP_EP_UNKNOWN; /* logged like any other request */
        note_path(r);
        dp_respond_error(r, SY_E_NOT_FOUND,
                         "Unknown path. Switchyard serves /v1/chat/completions, /v1/embeddings "
                         "and /v1/models.",
                         NULL);
    }
}

int dp_on_req(h2o_handler_t *self, h2o_req_t *req)
{
    dp_thread_t *th = dp_self;
    dp_req_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return -1;
    r->req = req;
    r->th = th;
    r->t_start_ns = dp_now_ns();
    r->t_wall_s = (int64_t)time(NULL);
    r->up_retry_after = -1;
    r->watch_fd = -1;
    r->in = &dp_openai_inbound; /* the client's dialect; dispatch switches it for /v1/messages */
    r->body_src = req->entity;
    sy_sse_init(&r->sse, DP_MAX_SSE_EVENT);
    dp_req_t **anchor = h2o_mem_alloc_shared(&req->pool, sizeof(*anchor), on_anchor_dispose);
    *anchor = r;
    r->anchored = 1;
    h2o_linklist_insert(&th->active, &r->link);
    __atomic_store_n(&th->inflight, th->inflight + 1, __ATOMIC_RELAXED); /* read by /metrics and the drain */
    assign_id(r);
    r->snap = dp_holder_borrow(&th->holder);
    r->busy++;
    if (sy_h2o_ambiguous_framing(req)) {
        /* two Content-Length headers, or one with Transfer-Encoding: which body was meant is
         * ambiguous, and what follows may be a smuggled request — refuse and close */
        req->http1_is_persistent = 0;
        r->ep = DP_EP_UNKNOWN;
        note_path(r);
        dp_respond_error(
            r, SY_E_BAD_REQUEST,
            "Ambiguous request framing: more than one Content-Length header, or Content-Length with "
            "Transfer-Encoding (RFC 9112).",
            NULL);
    } else {
        dispatch(r);
    }
    r->busy--;
    dp_req_maybe_free(r);
    return 0;
}
