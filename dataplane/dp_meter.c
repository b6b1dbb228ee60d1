/*
 * Stage 9: meter — tokens from the provider's usage, cost from the prices captured with the
 * request's snapshot (integer nano-USD), one access-log line and the metrics, once per
 * request, whatever way it ended.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dp.h"
#include "dp_limit.h"
#include "dp_usage.h"
#include "sy_log.h"

/* The model's prices as sy_money_usage_cost takes them. */
static sy_money_prices_t prices_of(const dp_model_t *m)
{
    return (sy_money_prices_t){.input_per_m = m->input_per_m,
                               .output_per_m = m->output_per_m,
                               .cache_read_per_m = m->cache_read_per_m,
                               .cache_write_per_m = m->cache_write_per_m};
}

sy_nano_t dp_meter_cost(const dp_req_t *r)
{
    if (r->model == NULL)
        return 0;
    sy_money_prices_t p = prices_of(r->model);
    return sy_money_usage_cost(&p, r->usage.prompt_tokens, r->usage.completion_tokens,
                               r->usage.cache_read_tokens, r->usage.cache_write_tokens, NULL, NULL);
}

/* The record's outcome word (docs/billing.md): [a-z0-9_], at most 32 bytes. */
static const char *outcome_of(sy_err_t e)
{
    switch (e) {
    case SY_E_OK:
        return "ok";
    case SY_E_UPSTREAM_ERROR:
    case SY_E_NO_PROVIDER:
        return "upstream_error";
    case SY_E_UPSTREAM_TIMEOUT:
        return "upstream_timeout";
    case SY_E_RATE_LIMITED:
        return "upstream_rate_limited";
    case SY_E_CLIENT_CLOSED:
        return "client_disconnect";
    case SY_E_SHUTTING_DOWN:
        return "shutdown";
    case SY_E_BAD_REQUEST:
    case SY_E_MODEL_NOT_FOUND:
        return "upstream_rejected"; /* the provider refused the request itself (4xx passed through) */
    default:
        return sy_strerror(e); /* the error table's reason words are [a-z_] */
    }
}

/* Copies at most size-1 bytes of src, each byte outside printable ASCII as '?' (the control
 * plane refuses other bytes in these fields). */
static void copy_printable(char *dst, size_t size, const char *src)
{
    size_t i = 0;
    for (; src != NULL && src[i] != '\0' && i + 1 < size; i++)
        dst[i] = src[i] >= 0x20 && src[i] < 0x7f ? src[i] : '?';
    dst[i] = '\0';
}

static void copy_str(char *dst, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (n > DP_USAGE_STR_MAX)
        n = DP_USAGE_STR_MAX; /* snapshot ids are checked on build; the cap only keeps the copy bounded */
    memcpy(dst, src ? src : "", n);
    dst[n] = '\0';
}

static int64_t ms_capped(uint64_t ns)
{
    uint64_t ms = ns / 1000000u;
    return ms > 86400000u ? 86400000 : (int64_t)ms;
}

void dp_meter_attempt_begin(dp_req_t *r)
{
    if (r->ua_open)
        dp_meter_attempt_end(r, r->last_err == SY_E_OK ? SY_E_UPSTREAM_ERROR : r->last_err);
    r->ua_open = 1;
    r->ua_content_bytes = 0;
}

/* What an attempt is billed: the provider's usage, else (content reached the client) an
 * estimate of ~4 bytes per token, else nothing. */
static void attempt_tokens(const dp_req_t *r, sy_err_t err, int64_t *in, int64_t *out, int64_t *cache_read,
                           int64_t *cache_write, int *estimated)
{
    /* Did this attempt deliver content to the client? A stream once it started as a stream
     * (status 200: failover happens only before that, so a started stream is the current
     * attempt) — not a stream that failed before its first event and was answered with an
     * error, which delivered nothing and is billed 0 (docs/billing.md); a non-streamed answer
     * when it was sent whole. */
    int delivered = r->stream ? r->started && r->status == 200 : err == SY_E_OK;
    *in = *out = *cache_read = *cache_write = 0;
    *estimated = 0;
    if (r->usage.have) {
        *in = r->usage.prompt_tokens;
        *out = r->usage.completion_tokens;
        *cache_read = r->usage.cache_read_tokens;
        *cache_write = r->usage.cache_write_tokens;
    } else if (delivered) {
        /* no provider usage (none sent, or the stream was cut first): ~4 bytes per token */
        uint64_t content = r->ua_content_bytes; /* the dialect counted it (dp_event_t.content_bytes) */
        *in = (int64_t)((r->up_body_len + 3) / 4);
        *out = (int64_t)((content + 3) / 4);
        *estimated = 1;
    }
}

/* Ends the current attempt with outcome err. durable: the answer is complete and its last bytes
 * are about to be sent — the record goes into the loop thread's usage ring (dp_usage_commit)
 * before they are, falling back to the queue when the ring cannot take it. */
static void attempt_end(dp_req_t *r, sy_err_t err, int durable)
{
    if (!r->ua_open)
        return;
    r->ua_open = 0;
    if (r->model == NULL || r->key == NULL)
        return;
    int64_t tin, tout, tcr, tcw;
    int estimated;
    attempt_tokens(r, err, &tin, &tout, &tcr, &tcw, &estimated);
    /* the same arithmetic as x-switchyard-cost and usage.cost (dp_meter_cost); the record carries
     * the cache counts as billed (clamped to the prompt) */
    sy_money_prices_t p = prices_of(r->model);
    sy_nano_t cost = sy_money_usage_cost(&p, tin, tout, tcr, tcw, &tcr, &tcw);
    /* the request's billed totals (the access log's tokens and cost, the reservation's settlement) */
    r->billed = r->billed > INT64_MAX - cost ? INT64_MAX : r->billed + cost;
    r->billed_in += tin;
    r->billed_out += tout;
    r->billed_estimated |= estimated;
    /* the metrics count what the record bills (docs/dataplane.md, "Metrics") */
    if (r->th != NULL && r->th->metrics != NULL)
        dp_metrics_usage(r->th->metrics, r->model->id, r->model->provider->id, tin, tout, cost);
    if (!dp_usage_enabled())
        return;
    dp_usage_rec_t onstack, *u = &onstack; /* the durable path: packed into the ring from here */
    if (!durable && (u = calloc(1, sizeof(*u))) == NULL) {
        SY_ERROR("msg=\"out of memory: usage record lost\" id=%s", r->id);
        return;
    }
    u->next = NULL;
    dp_usage_mint_id(u->id, r->th != NULL ? (unsigned)r->th->index : 0);
    copy_str(u->workspace, r->key->workspace->id);
    copy_str(u->key_id, r->key->id);
    copy_str(u->model, r->model->id);
    copy_str(u->provider, r->model->provider->id);
    copy_str(u->outcome, outcome_of(err));
    /* the request it belongs to: the request log groups attempts by request id */
    copy_printable(u->request_id, sizeof(u->request_id), r->id);
    const cJSON *asked = r->body != NULL ? cJSON_GetObjectItemCaseSensitive(r->body, "model") : NULL;
    copy_printable(u->model_asked, sizeof(u->model_asked), cJSON_IsString(asked) ? asked->valuestring : "");
    copy_printable(u->task, sizeof(u->task), r->task >= 0 ? sy_task_name((sy_task_t)r->task) : "");
    copy_printable(u->difficulty, sizeof(u->difficulty),
                   r->difficulty >= 0 ? sy_difficulty_name((sy_difficulty_t)r->difficulty) : "");
    u->attempt = r->attempts > 0 && r->attempts < 1000 ? (int)r->attempts : 0;
    u->tokens_in = tin;
    u->tokens_out = tout;
    u->cache_read_tokens = tcr;
    u->cache_write_tokens = tcw;
    u->estimated = estimated;
    u->cost_nano = cost;
    uint64_t now = dp_now_ns();
    u->latency_ms = ms_capped(now > r->t_attempt_ns ? now - r->t_attempt_ns : 0);
    u->ttft_ms = r->stream && r->t_attempt_fb_ns > r->t_attempt_ns
                     ? ms_capped(r->t_attempt_fb_ns - r->t_attempt_ns)
                     : 0;
    u->streamed = r->stream != 0;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    u->created_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    SY_DEBUG("msg=usage id=%s record=%s outcome=%s tokens_in=%lld tokens_out=%lld cache_read=%lld "
             "cache_write=%lld "
             "estimated=%d cost_nano=%lld",
             r->id, u->id, u->outcome, (long long)u->tokens_in, (long long)u->tokens_out,
             (long long)u->cache_read_tokens, (long long)u->cache_write_tokens, u->estimated,
             (long long)u->cost_nano);
    unsigned th = r->th != NULL ? (unsigned)r->th->index : 0;
    if (durable) {
        if (dp_usage_commit(u, th) == 0)
            return;
        dp_usage_rec_t *h = malloc(sizeof(*h)); /* no ring, or it is full: the queue, as before */
        if (h == NULL) {
            SY_ERROR("msg=\"out of memory: usage record lost\" id=%s", r->id);
            return;
        }
        memcpy(h, u, sizeof(*h));
        u = h;
    }
    dp_usage_submit(u);
}

void dp_meter_attempt_end(dp_req_t *r, sy_err_t err)
{
    attempt_end(r, err, 0);
}

void dp_meter_attempt_commit(dp_req_t *r)
{
    attempt_end(r, SY_E_OK, 1);
}

static const char *ep_name(const dp_req_t *r)
{
    switch (r->ep) {
    case DP_EP_CHAT:
        return r->in->name; /* "chat", or "messages" for Anthropic clients */
    case DP_EP_EMBEDDINGS:
        return "embeddings";
    case DP_EP_MODELS:
        return "models";
    case DP_EP_UNKNOWN:
        return "unknown";
    default:
        return "other";
    }
}

void dp_meter_finish(dp_req_t *r)
{
    dp_meter_attempt_end(r, r->end);
    /* the one place a reservation closes, however the request ended (success, upstream error,
     * timeout, client gone, shutdown): release the worst case, settle what the ledger will
     * debit — the attempts' billed sum (estimates included), what the usage records carry. A
     * request that never reached an upstream settles 0. */
    if (r->rsv.open)
        dp_reserve_close(&r->rsv, r->billed, dp_limit_now_ns());
    /* token limits were charged an estimate at admission: correct them to what the provider
     * counted (docs/admission.md); without provider usage the estimate stands */
    if (r->key != NULL && r->snap != NULL && r->rl.est_tokens > 0 && r->usage.have)
        dp_limit_settle(r->key, r->snap->live_nodes, r->rl.est_tokens,
                        r->usage.prompt_tokens + r->usage.completion_tokens, dp_limit_now_ns());
    uint64_t now = dp_now_ns();
    uint64_t total = now - r->t_start_ns;
    uint64_t up = r->t_up_ns && r->t_up_end_ns > r->t_up_ns ? r->t_up_end_ns - r->t_up_ns : 0;
    if (r->t_up_ns && r->t_up_end_ns == 0)
        up = now - r->t_up_ns;
    int status = r->status ? r->status : 499;
    if (r->ep == DP_EP_OTHER)
        return; /* health checks and scrapes are neither API traffic nor worth a log line */
    /* time to first byte: requests that reached an upstream and sent the client something */
    int ttfb = r->attempts > 0 && r->t_client_fb_ns >= r->t_start_ns && r->t_client_fb_ns != 0;
    dp_metrics_request(r->th->metrics, status, r->model ? r->model->id : "",
                       r->model ? r->model->provider->id : "", total, total > up ? total - up : 0, ttfb,
                       r->stream, ttfb ? r->t_client_fb_ns - r->t_start_ns : 0);
    if (!sy_log_enabled(SY_LOG_INFO))
        return;
    /* tokens and cost are what the request is billed (the sum over its attempts, the usage
     * records' figures): the provider's counts, or the estimate of a stream cut before its
     * usage arrived (usage=estimated); failed attempts are listed in failed= */
    char cost[32];
    sy_money_format_usd(r->billed, cost);
    const char *usage = r->billed_estimated               ? "estimated"
                        : (r->billed_in || r->billed_out) ? "provider"
                                                          : "none";
    char line[2048];
    size_t len = sy_log_format(
        SY_LOG_INFO, line, sizeof(line),
        "msg=access id=%s ep=%s%s status=%d end=%s model=%s provider=%s key=%s attempts=%zu%s%s stream=%d "
        "tokens_in=%lld tokens_out=%lld usage=%s cost_usd=%s total_us=%llu upstream_us=%llu ttfb_us=%llu",
        r->id, ep_name(r), r->path_note ? r->path_note : "", status, sy_strerror(r->end),
        r->model ? r->model->id : "-", r->model ? r->model->provider->id : "-", r->key ? r->key->id : "-",
        r->attempts, r->failed_len ? " failed=" : "", r->failed_len ? r->failed : "", r->stream,
        (long long)r->billed_in, (long long)r->billed_out, usage, cost, (unsigned long long)(total / 1000),
        (unsigned long long)(up / 1000),
        (unsigned long long)(r->t_first_byte_ns ? (r->t_first_byte_ns - r->t_start_ns) / 1000 : 0));
    dp_meter_log(r->th, line, len);
}

/* Access lines are batched per thread and written at the end of the loop iteration (h2o's
 * zero timeout) or when the next line would pass SY_LOG_BATCH: at load that is one write(2)
 * for many requests instead of one each (docs/dataplane.md, "Syscalls per request"). */
static void on_log_flush(h2o_timeout_entry_t *entry)
{
    dp_thread_t *th = H2O_STRUCT_FROM_MEMBER(dp_thread_t, log_entry, entry);
    dp_meter_log_flush(th);
}

void dp_meter_log_flush(dp_thread_t *th)
{
    if (th == NULL)
        return;
    if (h2o_timeout_is_linked(&th->log_entry))
        h2o_timeout_unlink(&th->log_entry);
    if (th->log_len > 0)
        sy_log_write(th->log_buf, th->log_len);
    th->log_len = 0;
}

void dp_meter_log(dp_thread_t *th, const char *line, size_t len)
{
    if (th == NULL || th->loop == NULL || len > sizeof(th->log_buf)) {
        sy_log_write(line, len);
        return;
    }
    if (th->log_len + len > sizeof(th->log_buf))
        dp_meter_log_flush(th);
    memcpy(th->log_buf + th->log_len, line, len);
    th->log_len += len;
    if (!h2o_timeout_is_linked(&th->log_entry)) {
        th->log_entry.cb = on_log_flush;
        h2o_timeout_link(th->loop, &th->ctx.zero_timeout, &th->log_entry);
    }
}
