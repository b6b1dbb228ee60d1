/*
 * Stage 8: the relay — upstream answer back to the client, and failover.
 *
 * Streams: each upstream SSE event is checked (it must be JSON or [DONE]) and queued; a
 * double buffer holds what h2o is writing and what arrived meanwhile. When the queue reaches
 * DP_STREAM_PENDING_CAP the upstream transfer is paused until h2o's `proceed`, so a slow
 * client costs a bounded buffer, never a growing one. The client response starts with the
 * first good event; before that, any failure moves on to the next candidate. After it, a
 * failure ends the stream with an OpenAI-style error event, never a silent 200.
 *
 * Every entry point (engine callbacks, h2o proceed/stop, the retry timer) marks the request
 * busy while it runs, so a dispose that happens underneath never frees it mid-function.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "dp.h"
#include "dp_usage.h"
#include "sy_log.h"
#include "sy_catalog.h"
#include "sy_money.h"

static void on_response(void *ctx, int status, int retry_after);
static int on_data(void *ctx, const char *p, size_t n);
static void on_done(void *ctx, sy_err_t err, const char *why);
static const dp_upstream_cb_t relay_cb = {on_response, on_data, on_done};

int dp_buf_append(dp_buf_t *b, const void *p, size_t n, size_t limit)
{
    if (n == 0)
        return 0; /* nothing to add (and no memcpy on a buffer never allocated) */
    if (b->len + n > limit)
        return -1;
    if (b->len + n > b->cap) {
        size_t ncap = b->cap ? b->cap : 1024;
        while (ncap < b->len + n)
            ncap *= 2;
        char *nb = realloc(b->base, ncap);
        if (nb == NULL)
            return -1;
        b->base = nb;
        b->cap = ncap;
    }
    memcpy(b->base + b->len, p, n);
    b->len += n;
    return 0;
}

void dp_buf_free(dp_buf_t *b)
{
    free(b->base);
    memset(b, 0, sizeof(*b));
}

static void enter(dp_req_t *r)
{
    r->busy++;
}

static void leave(dp_req_t *r)
{
    r->busy--;
    dp_req_maybe_free(r);
}

static dp_uperr_t classify(sy_err_t err, int status, const char *why)
{
    if (err == SY_E_UPSTREAM_TIMEOUT)
        return DP_UPERR_TIMEOUT;
    if (status == 429)
        return DP_UPERR_STATUS_429;
    if (status >= 500)
        return DP_UPERR_STATUS_5XX;
    if (status >= 400)
        return DP_UPERR_STATUS_4XX;
    if (why && strstr(why, "connect"))
        return DP_UPERR_CONNECT;
    if (why && (strstr(why, "broke") || strstr(why, "without")))
        return DP_UPERR_RESET;
    if (why && strstr(why, "malformed"))
        return DP_UPERR_MALFORMED;
    return DP_UPERR_OTHER;
}

/* The current attempt's outcome, for its model's breaker and latency (dp_breaker.h). */
static void breaker_failure(dp_req_t *r)
{
    if (r->model != NULL && r->th != NULL)
        dp_breaker_failure(r->th->breakers, r->model->id, r->snap->routing.breaker_failures,
                           r->snap->routing.breaker_cooldown_ms, dp_now_ns());
}

static void breaker_success(dp_req_t *r)
{
    uint64_t ttft = r->t_attempt_fb_ns > r->t_attempt_ns ? (r->t_attempt_fb_ns - r->t_attempt_ns) / 1000 : 0;
    if (r->model != NULL && r->th != NULL)
        dp_breaker_success(r->th->breakers, r->model->id, ttft, dp_now_ns());
}

/* The attempt ends with no verdict on the model: give back a half-open trial it held. */
static void breaker_release(dp_req_t *r)
{
    if (r->model != NULL && r->th != NULL && r->up != NULL)
        dp_breaker_release(r->th->breakers, r->model->id);
}

/* Appends "provider/model:why" to the request's failed-attempt list (the access log's
 * `failed=`), e.g. "mock/m-500:http_500"; a list that no longer fits ends with "+". */
static void note_failed_attempt(dp_req_t *r, dp_uperr_t kind)
{
    static const char *const words[DP_UPERR__COUNT] = {"connect", "timeout", NULL,        NULL,
                                                       NULL,      "reset",   "malformed", "error"};
    char one[160], why[16];
    if (words[kind] != NULL)
        snprintf(why, sizeof(why), "%s", words[kind]);
    else
        snprintf(why, sizeof(why), "http_%d", r->up_status);
    int n = snprintf(one, sizeof(one), "%s%s/%s:%s", r->failed_len ? "," : "",
                     r->model ? r->model->provider->id : "-", r->model ? r->model->id : "-", why);
    if (n < 0)
        return;
    if (r->failed_len + (size_t)n + 2 > sizeof(r->failed)) {
        if (r->failed_len + 2 <= sizeof(r->failed) &&
            (r->failed_len == 0 || r->failed[r->failed_len - 1] != '+')) {
            r->failed[r->failed_len++] = '+';
            r->failed[r->failed_len] = '\0';
        }
        return;
    }
    memcpy(r->failed + r->failed_len, one, (size_t)n + 1);
    r->failed_len += (size_t)n;
}

static void note_failure(dp_req_t *r, sy_err_t err, const char *why)
{
    breaker_failure(r);
    r->last_err = err;
    snprintf(r->last_msg, sizeof(r->last_msg), "%s (model %s)", why, r->model ? r->model->id : "-");
    dp_uperr_t kind = classify(err, r->up_status, why);
    dp_metrics_upstream_error(r->th->metrics, kind);
    note_failed_attempt(r, kind);
    SY_DEBUG("msg=upstream_failure id=%s model=%s status=%d why=\"%s\"", r->id, r->model ? r->model->id : "-",
             r->up_status, why);
}

/* ---- sending to the client ---- */

static void flush(dp_req_t *r)
{
    if (!r->started || r->inflight || r->final_sent || r->req == NULL)
        return;
    if (r->pending.len == 0 && !r->up_done)
        return;
    dp_buf_t t = r->sending;
    r->sending = r->pending;
    r->pending = t;
    r->pending.len = 0;
    h2o_iovec_t buf = h2o_iovec_init(r->sending.base, r->sending.len);
    h2o_send_state_t state = H2O_SEND_STATE_IN_PROGRESS;
    /* these bytes carry the end of a successful answer (the upstream's end event was relayed;
     * its usage came before it): the record is made durable before they leave (docs/billing.md,
     * "kill -9 and power loss") */
    if (r->done_seen && r->end == SY_E_OK && r->ua_open)
        dp_meter_attempt_commit(r);
    if (r->up_done) {
        state = H2O_SEND_STATE_FINAL;
        r->final_sent = 1;
    } else {
        r->inflight = 1;
    }
    h2o_send(r->req, &buf, buf.len ? 1 : 0, state);
}

static void on_proceed(h2o_generator_t *gen, h2o_req_t *req)
{
    dp_req_t *r = H2O_STRUCT_FROM_MEMBER(dp_req_t, gen, gen);
    enter(r);
    r->inflight = 0;
    r->sending.len = 0;
    flush(r);
    if (r->up != NULL && r->up_paused && r->pending.len < DP_STREAM_PENDING_CAP) {
        r->up_paused = 0;
        dp_upstream_resume(r->up);
    }
    leave(r);
}

static void on_stop(h2o_generator_t *gen, h2o_req_t *req)
{
    dp_req_t *r = H2O_STRUCT_FROM_MEMBER(dp_req_t, gen, gen);
    breaker_release(r);
    if (r->up != NULL) {
        dp_upstream_cancel(r->up); /* the client left: stop paying for the answer now */
        r->up = NULL;
    }
    if (r->end == SY_E_OK)
        r->end = SY_E_CLIENT_CLOSED;
}

static void start_stream(dp_req_t *r)
{
    h2o_req_t *req = r->req;
    req->res.status = 200;
    req->res.reason = "OK";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("text/event-stream"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-cache"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-accel-buffering"), 0, NULL,
                          H2O_STRLIT("no"));
    dp_add_common_headers(r);
    dp_add_routing_headers(r);
    /* A stream's headers leave before its usage, so a stream carries no x-switchyard-cost: its
     * x-switchyard-cost-estimate is the pre-flight estimate (prompt bytes / 4 at the input
     * price, max_tokens — or 500 — at the output price), named as what it is; the exact cost is
     * usage.cost in the final chunk and in the usage record (docs/dataplane.md). */
    int64_t out_est = r->max_tokens > 0 ? r->max_tokens : 500;
    char est[32];
    sy_money_format_usd(sy_money_cost((int64_t)(r->up_body_len / 4 + 1), r->model->input_per_m) +
                            sy_money_cost(out_est, r->model->output_per_m),
                        est);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-switchyard-cost-estimate"), 0, NULL,
                          h2o_strdup(&req->pool, est, SIZE_MAX).base, strlen(est));
    r->gen.proceed = on_proceed;
    r->gen.stop = on_stop;
    dp_watch_disarm(r); /* from now on a departed client shows up as a failed write */
    breaker_success(r);
    r->started = 1;
    r->status = 200;
    r->t_client_fb_ns = dp_now_ns(); /* the first content chunk goes out with the headers */
    __atomic_store_n(&r->th->streams, r->th->streams + 1, __ATOMIC_RELAXED);
    if (dp_shutting_down())
        req->http1_is_persistent = 0;
    h2o_start_response(req, &r->gen);
}

/* Ends a started stream with an error event, then the terminating chunk. */
static void stream_fail(dp_req_t *r, sy_err_t err, const char *msg)
{
    if (r->end == SY_E_OK)
        r->end = err;
    /* the error event may exceed the cap by its own size; it is the last thing queued */
    r->in->stream_error(r, err, msg, &r->pending);
    r->up_done = 1;
    flush(r);
}

/* ---- attempts ---- */

static void fail_final(dp_req_t *r)
{
    sy_err_t e = r->last_err == SY_E_OK ? SY_E_NO_PROVIDER : r->last_err;
    if (r->req != NULL && r->model != NULL && r->status == 0)
        dp_add_routing_headers(r); /* which candidates were tried, even when none served */
    if (e == SY_E_RATE_LIMITED && r->req != NULL && r->up_retry_after >= 0) {
        char v[16];
        int n = snprintf(v, sizeof(v), "%d", r->up_retry_after);
        h2o_add_header(&r->req->pool, &r->req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL,
                       h2o_strdup(&r->req->pool, v, (size_t)n).base, (size_t)n);
    }
    dp_respond_error(r, e, r->last_msg[0] ? r->last_msg : "no upstream could serve the request", NULL);
}

static void reset_attempt(dp_req_t *r)
{
    r->up_status = 0;
    r->up_paused = 0;
    r->done_seen = 0;
    r->overflow = 0;
    r->pending.len = 0;
    memset(r->up_state, 0, sizeof(r->up_state));
    memset(&r->usage, 0, sizeof(r->usage));
    sy_sse_dispose(&r->sse);
    sy_sse_init(&r->sse, DP_MAX_SSE_EVENT);
    free(r->up_body);
    r->up_body = NULL;
    memset(&r->up_headers, 0,
           sizeof(r->up_headers)); /* arena lines + the provider's block: nothing to free */
}

void dp_relay_forward(dp_req_t *r)
{
    if (r->req == NULL)
        return;
    const dp_snapshot_t *s = r->snap;
    while (r->next_cand < r->ncand && r->attempts < s->limits.max_attempts) {
        if (dp_shutting_down() && r->attempts > 0)
            break;
        /* the request's deadline: failover never takes a request past timeouts.total */
        uint64_t spent_ms = (dp_now_ns() - r->t_start_ns) / 1000000u;
        if (r->attempts > 0 && spent_ms >= s->timeouts.total_ms)
            break;
        const dp_model_t *next = dp_route_next(r);
        if (next == NULL)
            break;
        dp_meter_attempt_begin(r); /* the previous attempt's usage record, if any, is submitted here */
        reset_attempt(r);
        r->model = next;
        r->attempts++;
        r->t_attempt_ns = dp_now_ns();
        r->t_attempt_fb_ns = 0;
        dp_breaker_attempt(r->th->breakers, next->id, r->t_attempt_ns);
        if (next->provider->ops->prepare(r) != 0) {
            note_failure(r, SY_E_UPSTREAM_ERROR, "cannot build the upstream request");
            continue;
        }
        dp_upstream_spec_t spec = {.url = r->up_url,
                                   .headers = r->up_headers,
                                   .body = r->up_body,
                                   .body_len = r->up_body_len,
                                   .ca_file = r->model->provider->ca_file,
                                   .connect_ms = s->timeouts.connect_ms,
                                   .first_byte_ms = s->timeouts.first_byte_ms,
                                   .idle_ms = s->timeouts.idle_ms, /* between body chunks, streamed or not */
                                   .total_ms = s->timeouts.total_ms -
                                               (uint32_t)(spent_ms < s->timeouts.total_ms ? spent_ms : 0)};
        if (r->t_up_ns == 0) {
            r->t_up_ns = dp_now_ns();
            dp_watch_arm(r);
            dp_watch_hold(r);
        }
        r->up = dp_upstream_start(r->th->engine, &spec, &relay_cb, r);
        if (r->up != NULL)
            return;
        note_failure(r, SY_E_UPSTREAM_ERROR, "cannot start the upstream transfer");
    }
    fail_final(r);
}

static void on_retry_timer(h2o_timeout_entry_t *entry)
{
    dp_req_t *r = H2O_STRUCT_FROM_MEMBER(dp_req_t, retry_entry, entry);
    enter(r);
    dp_relay_forward(r);
    leave(r);
}

/* From inside the engine's callbacks a new transfer is not started: defer to a zero timeout. */
static void retry_deferred(dp_req_t *r)
{
    if (r->up != NULL) {
        dp_upstream_cancel(r->up);
        r->up = NULL;
    }
    r->retry_entry.cb = on_retry_timer;
    if (!h2o_timeout_is_linked(&r->retry_entry))
        h2o_timeout_link(r->th->ctx.loop, &r->th->ctx.zero_timeout, &r->retry_entry);
}

/* ---- upstream callbacks ---- */

static void on_response(void *ctx, int status, int retry_after)
{
    dp_req_t *r = ctx;
    r->up_status = status;
    r->up_retry_after = retry_after;
    r->t_attempt_fb_ns = dp_now_ns();
    if (r->t_first_byte_ns == 0)
        r->t_first_byte_ns = dp_now_ns();
}

/* 1 when a chunk carries something a client shows (text, a tool call, a refusal, a finish
 * reason) or is not a chat chunk at all; 0 for a preamble (role only, empty content). Parsed
 * only until the stream starts: a handful of events. */
/* The provider's usage from an event; absurd numbers (negative, 1e20, fractions) are not
 * billed as they are: the attempt keeps no provider usage (so it is billed the estimate) and
 * the first such event of a request is logged. */
static void note_usage(dp_req_t *r, const dp_event_t *e)
{
    if (e->usage_invalid) {
        if (!r->usage_invalid_logged)
            SY_WARN("msg=\"provider usage out of range; the request is billed an estimate\" id=%s model=%s "
                    "provider=%s",
                    r->id, r->model->id, r->model->provider->id);
        r->usage_invalid_logged = 1;
        memset(&r->usage, 0, sizeof(r->usage));
        return;
    }
    if (e->has_usage)
        r->usage = e->usage;
}

/* One upstream SSE event: the candidate's dialect reads it (dp_provider.h), the client's
 * writes it. 0, 1 malformed, 2 out of memory (sy_sse_feed's contract). */
static int on_event(void *ctx, const sy_sse_event_t *ev)
{
    dp_req_t *r = ctx;
    if (ev->data == NULL)
        return 0; /* comments and keep-alives: nothing to relay */
    const char *d = ev->data;
    size_t dl = ev->data_len;
    while (dl > 0 && (d[dl - 1] == ' ' || d[dl - 1] == '\r'))
        dl--;
    const dp_upstream_ops_t *up = r->model->provider->ops;
    dp_event_t e;
    memset(&e, 0, offsetof(dp_event_t, parts));
    e.nparts = 0;
    if (up->stream_event(r, d, dl, &e) != 0)
        return 1; /* malformed event */
    if (e.error && !r->started) {
        /* the provider's error before anything reached the client: this attempt failed like a
         * 5xx, and the next candidate may serve (RELIABILITY A9); its words go to the client if
         * none does (on_data) */
        snprintf(r->last_msg, sizeof(r->last_msg), "upstream error event before any content: %s",
                 e.error_msg ? e.error_msg : "no message");
        return 3;
    }
    note_usage(r, &e);
    if (e.error && r->end == SY_E_OK)
        r->end = SY_E_UPSTREAM_ERROR; /* the provider's own error event is relayed as it is */
    if (e.end)
        r->done_seen = 1;
    /* The preamble (a role-only first chunk) is held back until real content arrives, so an
     * upstream that fails before its first token can still be replaced without the client
     * seeing two beginnings. Bounded: past DP_STREAM_PENDING_CAP the stream starts anyway. */
    if (!r->started && (e.content || e.end || r->pending.len >= DP_STREAM_PENDING_CAP))
        start_stream(r);
    r->ua_content_bytes += e.content_bytes; /* for the estimate if the stream is cut */
    return r->in->stream_write(r, up, &e, &r->pending) != 0 ? 2 : 0;
}

static int on_data(void *ctx, const char *p, size_t n)
{
    dp_req_t *r = ctx;
    if (r->req == NULL)
        return 0;
    if (r->up_status != 200 || !r->stream) {
        /* error bodies and non-streamed answers are collected whole (capped) */
        size_t cap = r->up_status == 200 ? DP_MAX_RESPONSE_BYTES : 64 * 1024;
        if (dp_buf_append(&r->pending, p, n, cap) != 0 && !r->overflow) {
            r->overflow = 1;
            if (r->up_status == 200) {
                /* an answer over the cap cannot be relayed: stop reading it now (the rest could
                 * be gigabytes) and move on; an error body is only cut, its start says enough */
                enter(r);
                note_failure(r, SY_E_UPSTREAM_ERROR, "upstream answer too large");
                retry_deferred(r);
                leave(r);
                return 0;
            }
        }
        return 0;
    }
    if (r->pending.len >= DP_STREAM_PENDING_CAP) {
        r->up_paused = 1;
        return 1;
    }
    enter(r);
    int rc = sy_sse_feed(&r->sse, p, n, on_event, r);
    if (rc != 0) {
        char said[sizeof(r->last_msg)];
        snprintf(said, sizeof(said), "%s", r->last_msg); /* note_failure rewrites last_msg */
        const char *why = rc == 1   ? "malformed event from upstream"
                          : rc == 3 ? said
                                    : "upstream event too large";
        if (!r->started) {
            note_failure(r, SY_E_UPSTREAM_ERROR, why);
            retry_deferred(r);
        } else {
            dp_metrics_upstream_error(r->th->metrics, DP_UPERR_MALFORMED);
            breaker_failure(r);
            dp_upstream_cancel(r->up);
            r->up = NULL;
            r->t_up_end_ns = dp_now_ns();
            stream_fail(r, SY_E_UPSTREAM_ERROR, why);
        }
    } else {
        flush(r);
    }
    leave(r);
    return 0;
}

static int retryable_status(int status)
{
    return status == 429 || status >= 500 || status == 401 || status == 403 || status == 408;
}

static void finish_nonstream(dp_req_t *r)
{
    const dp_upstream_ops_t *up = r->model->provider->ops;
    dp_event_t e;
    memset(&e, 0, offsetof(dp_event_t, parts));
    e.nparts = 0;
    if (r->overflow || up->answer(r, r->pending.base ? r->pending.base : "", r->pending.len, &e) != 0) {
        note_failure(r, SY_E_UPSTREAM_ERROR,
                     r->overflow ? "upstream answer too large" : "malformed answer from upstream");
        dp_relay_forward(r);
        return;
    }
    note_usage(r, &e);
    r->ua_content_bytes = e.content_bytes;
    const char *out;
    size_t out_len;
    if (r->in->answer_write(r, up, &e, &out, &out_len) != 0) {
        dp_respond_error(r, SY_E_INTERNAL, "out of memory", NULL);
        return;
    }
    breaker_success(r);
    dp_add_routing_headers(r);
    char cost[32];
    sy_money_format_usd(dp_meter_cost(r), cost);
    h2o_req_t *req = r->req;
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-switchyard-cost"), 0, NULL,
                          h2o_strdup(&req->pool, cost, SIZE_MAX).base, strlen(cost));
    dp_meter_attempt_commit(r); /* durable before the answer's bytes leave (dp.h) */
    dp_respond_body(r, 200, "application/json", out, out_len);
}

/* A 4xx that is about the request itself: the client should see the provider's words. */
static void pass_through_error(dp_req_t *r)
{
    breaker_success(r); /* the provider answered, about the request: it is up */
    char said[256], msg[300];
    r->model->provider->ops->error_message(r->pending.base ? r->pending.base : "", r->pending.len, said,
                                           sizeof(said));
    snprintf(msg, sizeof(msg), "upstream rejected the request: %s", said);
    r->last_err = r->up_status == 404 ? SY_E_MODEL_NOT_FOUND : SY_E_BAD_REQUEST;
    dp_respond_error(r, r->last_err, msg, NULL);
}

static void on_done(void *ctx, sy_err_t err, const char *why)
{
    dp_req_t *r = ctx;
    enter(r);
    r->up = NULL;
    r->t_up_end_ns = dp_now_ns();
    if (r->req == NULL)
        goto out;
    if (err != SY_E_OK) {
        if (!r->started) {
            note_failure(r, err, why);
            dp_relay_forward(r);
        } else {
            dp_metrics_upstream_error(r->th->metrics, classify(err, 0, why));
            breaker_failure(r);
            stream_fail(r, err, why);
        }
        goto out;
    }
    if (r->up_status != 200) {
        char why2[64];
        snprintf(why2, sizeof(why2), "upstream answered %d", r->up_status);
        if (retryable_status(r->up_status) || r->up_status < 200 || r->up_status >= 300) {
            if (!retryable_status(r->up_status) && r->up_status >= 400 && r->up_status < 500) {
                dp_metrics_upstream_error(r->th->metrics, DP_UPERR_STATUS_4XX);
                pass_through_error(r);
                goto out;
            }
            note_failure(r, r->up_status == 429 ? SY_E_RATE_LIMITED : SY_E_UPSTREAM_ERROR, why2);
            if (r->up_status == 429 && r->up_retry_after > 0)
                dp_breaker_cool(r->th->breakers, r->model->id, (uint32_t)r->up_retry_after, dp_now_ns());
            dp_relay_forward(r);
            goto out;
        }
    }
    if (!r->stream) {
        finish_nonstream(r);
    } else if (!r->done_seen) {
        const char *w = sy_sse_pending(&r->sse) ? "upstream stream ended mid-event"
                                                : "upstream stream ended without [DONE]";
        if (!r->started) {
            note_failure(r, SY_E_UPSTREAM_ERROR, w);
            dp_relay_forward(r);
        } else {
            dp_metrics_upstream_error(r->th->metrics, DP_UPERR_RESET);
            breaker_failure(r);
            stream_fail(r, SY_E_UPSTREAM_ERROR, w);
        }
    } else {
        r->up_done = 1;
        flush(r);
    }
out:
    leave(r);
}

void dp_relay_client_gone(dp_req_t *r)
{
    enter(r);
    dp_watch_disarm(r);
    breaker_release(r);
    if (r->up != NULL) {
        dp_upstream_cancel(r->up);
        r->up = NULL;
    }
    if (h2o_timeout_is_linked(&r->retry_entry))
        h2o_timeout_unlink(&r->retry_entry);
    if (r->end == SY_E_OK)
        r->end = SY_E_CLIENT_CLOSED;
    if (r->req != NULL && !r->started) {
        /* nobody to answer: a bodiless response ended in error makes h2o drop the connection */
        h2o_req_t *req = r->req;
        r->started = 1;
        r->final_sent = 1;
        r->status = 499;
        req->http1_is_persistent = 0;
        req->res.status = 499;
        req->res.reason = "Client Closed Request";
        r->gen.proceed = NULL;
        r->gen.stop = NULL;
        h2o_start_response(req, &r->gen);
        h2o_send(req, NULL, 0, H2O_SEND_STATE_ERROR);
    }
    leave(r);
}

void dp_relay_abort(dp_req_t *r, sy_err_t err, const char *msg)
{
    enter(r);
    breaker_release(r);
    if (r->up != NULL) {
        dp_upstream_cancel(r->up);
        r->up = NULL;
    }
    if (h2o_timeout_is_linked(&r->retry_entry))
        h2o_timeout_unlink(&r->retry_entry);
    if (r->req != NULL) {
        if (r->started) {
            if (!r->final_sent && !r->up_done)
                stream_fail(r, err, msg);
        } else if (r->status == 0) {
            dp_respond_error(r, err, msg, NULL);
        }
    }
    leave(r);
}
