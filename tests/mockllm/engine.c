/* Request lifecycle: routing, scenario plan, timers, disconnect detection, the stream driver
 * and the event log.
 *
 * Rules this file follows (STACK.md):
 *  - one h2o_send at a time: after IN_PROGRESS we wait for proceed (mr->waiting) and keep the
 *    buffer (mr->ev / mr->body) alive until then;
 *  - after an h2o_send with FINAL or ERROR the request (and mr, which lives in its pool) may
 *    already be gone: nothing touches mr after such a call;
 *  - h2o 2.2.5 stops reading the socket while a request is processed, so a client that leaves
 *    while we wait (ttft, delay, hang, stall) is invisible to h2o. Waiting requests are
 *    "watched": their sockets are polled for POLLRDHUP; when the client left we log it and
 *    close the connection.
 *  - every per-request resource is released in the pool dispose callback, which also covers
 *    requests whose response never started (the generator's stop is not called for them).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mockllm.h"

static long g_requests, g_closed, g_in_flight;
static uint64_t g_seq;

enum { ST_PRE, ST_CONTENT, ST_POST, ST_STALLED };

void engine_stats(long *requests, long *closed, long *in_flight)
{
    *requests = __atomic_load_n(&g_requests, __ATOMIC_RELAXED);
    *closed = __atomic_load_n(&g_closed, __ATOMIC_RELAXED);
    *in_flight = __atomic_load_n(&g_in_flight, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------------ log */

static void log_begin(sbuf_t *sb, const char *event, mock_req_t *mr)
{
    sb_init(sb, NULL, 256);
    sb_lit(sb, "{\"event\":\"");
    sb_add(sb, event, strlen(event));
    sb_lit(sb, "\",\"id\":\"");
    sb_add(sb, mr->id, strlen(mr->id));
    sb_lit(sb, "\",\"ts_ms\":");
    sb_u64(sb, now_ms());
}

static void log_end(sbuf_t *sb)
{
    sb_addc(sb, '}');
    mlog_write(sb->buf, sb->len);
    sb_free(sb);
}

void log_done(mock_req_t *mr, const char *outcome)
{
    if (mr->done_logged)
        return;
    mr->done_logged = 1;
    if (!mlog_enabled())
        return;
    sbuf_t sb;
    log_begin(&sb, "done", mr);
    sb_lit(&sb, ",\"outcome\":\"");
    sb_add(&sb, outcome, strlen(outcome));
    sb_lit(&sb, "\",\"status\":");
    sb_i64(&sb, mr->status);
    if (mr->stream) {
        sb_lit(&sb, ",\"chunks\":");
        sb_u64(&sb, mr->units_sent);
    }
    log_end(&sb);
}

void log_billed(mock_req_t *mr, unsigned completion_tokens)
{
    if (!mlog_enabled())
        return;
    sbuf_t sb;
    log_begin(&sb, "billed", mr);
    sb_lit(&sb, ",\"model\":");
    sb_json_str(&sb, mr->model.base, mr->model.len);
    sb_lit(&sb, ",\"prompt_tokens\":");
    sb_u64(&sb, mr->prompt_tokens);
    sb_lit(&sb, ",\"completion_tokens\":");
    sb_u64(&sb, completion_tokens);
    if (mr->cache_read != 0 || mr->cache_create != 0)
        sb_printf(&sb, ",\"cache_read_tokens\":%ld,\"cache_creation_tokens\":%ld", mr->cache_read,
                  mr->cache_create);
    sb_printf(&sb, ",\"stream\":%s,\"usage_sent\":%s,\"endpoint\":", mr->stream ? "true" : "false",
              mr->usage_sent ? "true" : "false");
    sb_json_str(&sb, mr->req->path_normalized.base, mr->req->path_normalized.len);
    log_end(&sb);
}

static void log_closed(mock_req_t *mr)
{
    if (!mlog_enabled())
        return;
    sbuf_t sb;
    log_begin(&sb, "closed", mr);
    sb_lit(&sb, ",\"after_chunks\":");
    sb_u64(&sb, mr->units_sent);
    log_end(&sb);
}

static int log_header_wanted(const char *name, size_t len)
{
    static const char *const exact[] = {"authorization", "content-type", "user-agent", "accept",
                                        "content-length"};
    for (size_t i = 0; i != sizeof(exact) / sizeof(exact[0]); ++i)
        if (strlen(exact[i]) == len && strncasecmp(exact[i], name, len) == 0)
            return 1;
    return (len > 2 && strncasecmp(name, "x-", 2) == 0) ||
           (len > 10 && strncasecmp(name, "anthropic-", 10) == 0) ||
           (len > 7 && strncasecmp(name, "openai-", 7) == 0);
}

static void log_request(mock_req_t *mr, cJSON *body)
{
    h2o_req_t *req = mr->req;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "event", "request");
    cJSON_AddStringToObject(o, "id", mr->id);
    cJSON_AddNumberToObject(o, "ts_ms", (double)now_ms());
    char *tmp = h2o_mem_alloc_pool(&req->pool, req->input.method.len + req->input.path.len + 2);
    memcpy(tmp, req->input.method.base, req->input.method.len);
    tmp[req->input.method.len] = '\0';
    cJSON_AddStringToObject(o, "method", tmp);
    memcpy(tmp, req->input.path.base, req->input.path.len);
    tmp[req->input.path.len] = '\0';
    cJSON_AddStringToObject(o, "path", tmp);
    static const char *const dialects[] = {"openai", "anthropic", "gemini"};
    cJSON_AddStringToObject(o, "dialect", dialects[mr->dialect]);
    if (mr->model.len != 0) {
        char *m = h2o_mem_alloc_pool(&req->pool, mr->model.len + 1);
        memcpy(m, mr->model.base, mr->model.len);
        m[mr->model.len] = '\0';
        cJSON_AddStringToObject(o, "model", m);
    }

    cJSON *hdrs = cJSON_AddObjectToObject(o, "headers");
    for (size_t i = 0; i != req->headers.size; ++i) {
        h2o_header_t *h = req->headers.entries + i;
        if (!log_header_wanted(h->name->base, h->name->len))
            continue;
        char *name = h2o_mem_alloc_pool(&req->pool, h->name->len + 1);
        for (size_t j = 0; j != h->name->len; ++j)
            name[j] = (char)h2o_tolower(h->name->base[j]);
        name[h->name->len] = '\0';
        cJSON *prev = cJSON_GetObjectItemCaseSensitive(hdrs, name);
        sbuf_t v;
        sb_init(&v, &req->pool, h->value.len + 1);
        if (prev != NULL && cJSON_IsString(prev)) {
            sb_add(&v, prev->valuestring, strlen(prev->valuestring));
            sb_lit(&v, ", ");
        }
        sb_add(&v, h->value.base, h->value.len);
        sb_addc(&v, '\0');
        if (prev != NULL)
            cJSON_ReplaceItemInObjectCaseSensitive(hdrs, name, cJSON_CreateString(v.buf));
        else
            cJSON_AddStringToObject(hdrs, name, v.buf);
    }

    if (body != NULL) {
        cJSON_AddItemReferenceToObject(o, "body", body);
    } else if (req->entity.len == 0) {
        cJSON_AddNullToObject(o, "body");
    } else {
        char *raw = h2o_mem_alloc_pool(&req->pool, req->entity.len + 1);
        if (req->entity.len != 0)
            memcpy(raw, req->entity.base, req->entity.len);
        raw[req->entity.len] = '\0';
        cJSON_AddStringToObject(o, "raw_body", raw);
    }
    cJSON_AddItemToObject(o, "scenario", scenario_to_json(&mr->sc));

    char *line = cJSON_PrintUnformatted(o);
    if (line != NULL) {
        mlog_write(line, strlen(line));
        cJSON_free(line);
    }
    cJSON_Delete(o);
}

/* ------------------------------------------------------------- timers */

struct st_timeout_cache {
    struct st_timeout_cache *next;
    uint64_t ms;
    h2o_timeout_t timeout;
};

/* h2o 2.2.5 timeouts have one fixed duration each: keep one per distinct duration per thread,
 * created on first use and never re-initialised. */
static h2o_timeout_t *get_timeout(thread_ctx_t *tc, uint64_t ms)
{
    struct st_timeout_cache *c;
    for (c = tc->timeouts; c != NULL; c = c->next)
        if (c->ms == ms)
            return &c->timeout;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        abort();
    c->ms = ms;
    h2o_timeout_init(tc->loop, &c->timeout, ms);
    c->next = tc->timeouts;
    tc->timeouts = c;
    return &c->timeout;
}

static void on_timer(h2o_timeout_entry_t *entry)
{
    mock_req_t *mr = H2O_STRUCT_FROM_MEMBER(mock_req_t, timer, entry);
    mr->timer_cb(mr);
}

static void arm_timer(mock_req_t *mr, uint64_t ms, void (*cb)(mock_req_t *))
{
    mr->timer_cb = cb;
    h2o_timeout_link(mr->tc->loop, get_timeout(mr->tc, ms), &mr->timer);
}

static void cancel_timer(mock_req_t *mr)
{
    if (h2o_timeout_is_linked(&mr->timer))
        h2o_timeout_unlink(&mr->timer);
}

/* -------------------------------------------------- disconnect watch */

/* While a request waits (ttft, delay, hang, stall) h2o does not read its socket, so a client
 * that leaves is not noticed. Reading the socket ourselves is not an option: h2o's read path
 * may move the input buffer that req->entity and (for bodiless requests) the request line
 * and headers still point into. Instead each loop thread polls the sockets of its waiting
 * requests for POLLRDHUP every WATCH_INTERVAL_MS, with one poll(2) for all of them. */
#define WATCH_INTERVAL_MS 20

static void client_gone(mock_req_t *mr);
static h2o_timeout_t *get_timeout(thread_ctx_t *tc, uint64_t ms);

static void watch_sweep(h2o_timeout_entry_t *entry)
{
    thread_ctx_t *tc = H2O_STRUCT_FROM_MEMBER(thread_ctx_t, watch_entry, entry);
    size_t n = 0;
    h2o_linklist_t *l;
    for (l = tc->watches.next; l != &tc->watches; l = l->next)
        ++n;
    if (n == 0)
        return;
    if (n > tc->pfds_cap) {
        size_t cap = tc->pfds_cap != 0 ? tc->pfds_cap : 64;
        while (cap < n)
            cap *= 2;
        struct pollfd *p = realloc(tc->pfds, cap * sizeof(*p));
        if (p == NULL)
            abort();
        tc->pfds = p;
        tc->pfds_cap = cap;
    }
    size_t i = 0;
    for (l = tc->watches.next; l != &tc->watches; l = l->next, ++i) {
        mock_req_t *mr = H2O_STRUCT_FROM_MEMBER(mock_req_t, watch_link, l);
        tc->pfds[i].fd = h2o_socket_get_fd(mr->watch_sock);
        tc->pfds[i].events = POLLRDHUP;
        tc->pfds[i].revents = 0;
    }
    if (poll(tc->pfds, n, 0) > 0) {
        i = 0;
        for (l = tc->watches.next; l != &tc->watches; l = l->next, ++i) {
            if ((tc->pfds[i].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0)
                H2O_STRUCT_FROM_MEMBER(mock_req_t, watch_link, l)->gone_pending = 1;
        }
        /* client_gone() may dispose its own request (and unlinks it): rescan after each call */
        for (;;) {
            mock_req_t *gone = NULL;
            for (l = tc->watches.next; l != &tc->watches; l = l->next) {
                mock_req_t *mr = H2O_STRUCT_FROM_MEMBER(mock_req_t, watch_link, l);
                if (mr->gone_pending) {
                    gone = mr;
                    break;
                }
            }
            if (gone == NULL)
                break;
            client_gone(gone);
        }
    }
    if (!h2o_linklist_is_empty(&tc->watches))
        h2o_timeout_link(tc->loop, get_timeout(tc, WATCH_INTERVAL_MS), &tc->watch_entry);
}

static void watch_start(mock_req_t *mr)
{
    h2o_req_t *req = mr->req;
    thread_ctx_t *tc = mr->tc;
    if (h2o_linklist_is_linked(&mr->watch_link) || req->version >= 0x200 ||
        req->conn->callbacks->get_socket == NULL)
        return;
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    if (sock == NULL)
        return;
    mr->watch_sock = sock;
    h2o_linklist_insert(&tc->watches, &mr->watch_link);
    if (!h2o_timeout_is_linked(&tc->watch_entry)) {
        tc->watch_entry.cb = watch_sweep;
        h2o_timeout_link(tc->loop, get_timeout(tc, WATCH_INTERVAL_MS), &tc->watch_entry);
    }
}

static void watch_stop(mock_req_t *mr)
{
    if (!h2o_linklist_is_linked(&mr->watch_link))
        return;
    h2o_linklist_unlink(&mr->watch_link);
    mr->watch_sock = NULL;
    mr->gone_pending = 0;
}

static void mark_closed(mock_req_t *mr)
{
    if (mr->closed)
        return;
    mr->closed = 1;
    __atomic_add_fetch(&g_closed, 1, __ATOMIC_RELAXED);
    log_closed(mr);
    log_done(mr, "closed");
}

static void client_gone(mock_req_t *mr)
{
    h2o_req_t *req = mr->req;
    mr->client_gone = 1;
    watch_stop(mr);
    cancel_timer(mr);
    if (!mr->ended)
        mark_closed(mr);
    if (mr->ended)
        return;
    if (!mr->started) {
        /* close the connection: a bodiless, non-persistent response ended with ERROR */
        mr->started = 1;
        mr->ended = 1;
        req->http1_is_persistent = 0;
        req->res.status = 499;
        req->res.reason = "Client Closed Request";
        h2o_start_response(req, &mr->gen);
        h2o_send(req, NULL, 0, H2O_SEND_STATE_ERROR);
        return;
    }
    if (mr->waiting)
        return; /* on_proceed finishes the job */
    mr->ended = 1;
    h2o_send(req, NULL, 0, H2O_SEND_STATE_ERROR);
}

/* ---------------------------------------------------------- generator */

static void drive(mock_req_t *mr);

static void on_proceed(h2o_generator_t *gen, h2o_req_t *req)
{
    mock_req_t *mr = H2O_STRUCT_FROM_MEMBER(mock_req_t, gen, gen);
    mr->waiting = 0;
    if (mr->client_gone || mr->reset_on_proceed) {
        mr->ended = 1;
        watch_stop(mr);
        h2o_send(req, NULL, 0, H2O_SEND_STATE_ERROR);
        return;
    }
    drive(mr);
}

static void on_stop(h2o_generator_t *gen, h2o_req_t *req)
{
    mock_req_t *mr = H2O_STRUCT_FROM_MEMBER(mock_req_t, gen, gen);
    cancel_timer(mr);
    watch_stop(mr);
    if (!mr->reset_on_proceed)
        mark_closed(mr);
    mr->ended = 1;
    mr->waiting = 0;
}

static void mr_dispose(void *p)
{
    mock_req_t *mr = p;
    cancel_timer(mr);
    watch_stop(mr);
    if (!mr->ended && !mr->reset_on_proceed)
        mark_closed(mr);
    sb_free(&mr->ev);
    __atomic_sub_fetch(&g_in_flight, 1, __ATOMIC_RELAXED);
}

/* --------------------------------------------------------- responses */

const char *status_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 402:
        return "Payment Required";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 529:
        return "Overloaded";
    default:
        return status >= 500 ? "Server Error" : status >= 400 ? "Client Error" : "OK";
    }
}

static void set_headers(mock_req_t *mr, int status, const char *ctype, size_t ctype_len)
{
    h2o_req_t *req = mr->req;
    req->res.status = status;
    req->res.reason = status_reason(status);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, ctype, ctype_len);
    if (mr->dialect == DIALECT_ANTHROPIC)
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("request-id"), 0, NULL, mr->id,
                              strlen(mr->id));
    else
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0, NULL, mr->id,
                              strlen(mr->id));
    if (status == 429 && mr->dialect == DIALECT_ANTHROPIC && !sc_has(&mr->sc, SC_RETRY_AFTER)) {
        /* Anthropic always says when to retry a 429 */
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, H2O_STRLIT("1"));
    } else if (status >= 400 && sc_has(&mr->sc, SC_RETRY_AFTER)) {
        long s = mr->sc.v[SC_RETRY_AFTER];
        char *v = h2o_mem_alloc_pool(&req->pool, 48);
        int n = snprintf(v, 24, "%ld", s);
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, v, (size_t)n);
        int m = snprintf(v + 24, 24, "%ld", s * 1000);
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("retry-after-ms"), 0, NULL, v + 24,
                              (size_t)m);
    }
}

/* Ends the request with the whole body in one FINAL send. mr is gone afterwards. */
static void send_whole(mock_req_t *mr, h2o_iovec_t body, const char *outcome, int billed)
{
    h2o_req_t *req = mr->req;
    req->res.content_length = body.len;
    h2o_start_response(req, &mr->gen);
    mr->started = 1;
    if (billed)
        log_billed(mr, mr->n_tokens);
    log_done(mr, outcome);
    watch_stop(mr);
    mr->ended = 1;
    h2o_send(req, &body, 1, H2O_SEND_STATE_FINAL);
}

static void start_nonstream(mock_req_t *mr)
{
    h2o_req_t *req = mr->req;
    h2o_iovec_t body = h2o_iovec_init(mr->body.buf, mr->body.len);

    set_headers(mr, mr->status, H2O_STRLIT("application/json"));
    if (mr->status != 200) {
        send_whole(mr, body, "error", 0);
        return;
    }
    if (mr->malformed) {
        sbuf_t bad;
        sb_init(&bad, &req->pool, body.len / 2 + 32);
        sb_add(&bad, body.base, body.len / 2);
        sb_lit(&bad, "<<mock malformed>>");
        mr->usage_sent = 0;
        send_whole(mr, h2o_iovec_init(bad.buf, bad.len), "malformed", mr->billed);
        return;
    }
    if (mr->fault == FAULT_NONE) {
        send_whole(mr, body, "ok", mr->billed);
        return;
    }
    h2o_iovec_t prefix = h2o_iovec_init(body.base, mr->cut);
    mr->started = 1;
    switch (mr->fault) {
    case FAULT_TRUNCATE: /* chunked, cleanly terminated after a prefix of the JSON */
        h2o_start_response(req, &mr->gen);
        log_done(mr, "truncated");
        watch_stop(mr);
        mr->ended = 1;
        h2o_send(req, &prefix, 1, H2O_SEND_STATE_FINAL);
        return;
    case FAULT_RESET: /* announces the full length, sends a prefix, then drops the connection */
        req->res.content_length = body.len;
        h2o_start_response(req, &mr->gen);
        log_done(mr, "reset");
        mr->reset_on_proceed = 1;
        mr->waiting = 1;
        h2o_send(req, &prefix, 1, H2O_SEND_STATE_IN_PROGRESS);
        return;
    case FAULT_STALL:
    default:
        req->res.content_length = body.len;
        h2o_start_response(req, &mr->gen);
        log_done(mr, "stall");
        mr->stage = ST_STALLED;
        mr->waiting = 1;
        h2o_send(req, &prefix, 1, H2O_SEND_STATE_IN_PROGRESS);
        return;
    }
}

static void render_event(mock_req_t *mr, int code)
{
    mr->ev.len = 0;
    if (mr->dialect == DIALECT_ANTHROPIC)
        ant_render_event(mr, code);
    else if (mr->dialect == DIALECT_GEMINI)
        gem_render_event(mr, code);
    else
        oai_render_event(mr, code);
}

static void send_event(mock_req_t *mr)
{
    h2o_iovec_t buf = h2o_iovec_init(mr->ev.buf, mr->ev.len);
    mr->waiting = 1;
    h2o_send(mr->req, &buf, 1, H2O_SEND_STATE_IN_PROGRESS);
}

static void on_delay_timer(mock_req_t *mr)
{
    mr->delay_done = 1;
    drive(mr);
}

static void stream_fault(mock_req_t *mr)
{
    h2o_req_t *req = mr->req;
    switch (mr->fault) {
    case FAULT_STALL:
        mr->stage = ST_STALLED;
        log_done(mr, "stall");
        return;
    case FAULT_RESET:
        log_done(mr, "reset");
        watch_stop(mr);
        mr->ended = 1;
        h2o_send(req, NULL, 0, H2O_SEND_STATE_ERROR);
        return;
    case FAULT_TRUNCATE:
    default:
        log_done(mr, "truncated");
        watch_stop(mr);
        mr->ended = 1;
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
        return;
    }
}

/* Sends the next stream event. Called once the previous one was consumed (proceed), or from
 * a timer. */
static void drive(mock_req_t *mr)
{
    for (;;) {
        switch (mr->stage) {
        case ST_PRE:
            if (mr->idx < mr->n_pre) {
                render_event(mr, mr->pre[mr->idx++]);
                send_event(mr);
                return;
            }
            mr->stage = ST_CONTENT;
            continue;
        case ST_CONTENT: {
            if (mr->fault != FAULT_NONE && mr->units_sent == mr->fault_at) {
                stream_fault(mr);
                return;
            }
            if (mr->units_sent == mr->n_units) {
                mr->stage = ST_POST;
                mr->idx = 0;
                continue;
            }
            long delay = sc_get(&mr->sc, SC_DELAY_MS, 0);
            if (delay > 0 && mr->units_sent > 0 && !mr->delay_done) {
                arm_timer(mr, (uint64_t)delay, on_delay_timer);
                return;
            }
            mr->delay_done = 0;
            render_event(mr, mr->dialect == DIALECT_ANTHROPIC ? EV_ANT_CONTENT
                             : mr->dialect == DIALECT_GEMINI  ? EV_GEM_CONTENT
                                                              : EV_OAI_CONTENT);
            mr->units_sent++;
            send_event(mr);
            return;
        }
        case ST_POST:
            render_event(mr, mr->post[mr->idx++]);
            if (mr->idx >= mr->n_post) {
                h2o_req_t *req = mr->req;
                h2o_iovec_t buf = h2o_iovec_init(mr->ev.buf, mr->ev.len);
                if (mr->billed)
                    log_billed(mr, mr->n_tokens);
                log_done(mr, mr->malformed ? "malformed" : "ok");
                watch_stop(mr);
                mr->ended = 1;
                h2o_send(req, &buf, 1, H2O_SEND_STATE_FINAL);
                return;
            }
            send_event(mr);
            return;
        case ST_STALLED:
        default:
            return;
        }
    }
}

static void start_stream(mock_req_t *mr)
{
    if (mr->dialect == DIALECT_GEMINI && !mr->gem_sse) /* streamGenerateContent without alt=sse */
        set_headers(mr, 200, H2O_STRLIT("application/json; charset=UTF-8"));
    else
        set_headers(mr, 200, H2O_STRLIT("text/event-stream; charset=utf-8"));
    h2o_add_header(&mr->req->pool, &mr->req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-cache"));
    h2o_start_response(mr->req, &mr->gen);
    mr->started = 1;
    mr->stage = ST_PRE;
    mr->idx = 0;
    drive(mr);
}

static void start_response(mock_req_t *mr)
{
    if (mr->stream && mr->status == 200)
        start_stream(mr);
    else
        start_nonstream(mr);
}

/* The plan: hang, or wait (ttft, and for non-stream answers the generation time
 * delay_ms * units), then answer. */
static void mr_begin(mock_req_t *mr)
{
    if (sc_get(&mr->sc, SC_HANG, 0)) {
        mr->stage = ST_STALLED;
        log_done(mr, "stall");
        watch_start(mr);
        return;
    }
    uint64_t wait = (uint64_t)sc_get(&mr->sc, SC_TTFT_MS, 0);
    long delay = sc_get(&mr->sc, SC_DELAY_MS, 0);
    if (!mr->stream && mr->status == 200 &&
        (mr->api == API_CHAT || mr->api == API_MESSAGES || mr->api == API_GENERATE))
        wait += (uint64_t)delay * mr->n_units;
    int streaming = mr->stream && mr->status == 200;
    if (wait > 0 || (streaming && delay > 0) || (mr->status == 200 && mr->fault == FAULT_STALL))
        watch_start(mr);
    if (wait > 0) {
        arm_timer(mr, wait, start_response);
        return;
    }
    start_response(mr);
}

/* --------------------------------------------------- planning helpers */

void mr_fail(mock_req_t *mr, int status, const char *message)
{
    mr_fail_code(mr, status, message, NULL);
}

void mr_fail_code(mock_req_t *mr, int status, const char *message, const char *code)
{
    mr->status = status;
    mr->stream = 0;
    mr->billed = 0;
    mr->body.len = 0;
    if (message == NULL && status == 404 && mr->model.len != 0) {
        sbuf_t msg;
        sb_init(&msg, &mr->req->pool, mr->model.len + 80);
        sb_lit(&msg, "The model `");
        sb_add(&msg, mr->model.base, mr->model.len);
        sb_lit(&msg, "` does not exist or you do not have access to it.");
        sb_addc(&msg, '\0');
        message = msg.buf;
    }
    if (mr->dialect == DIALECT_ANTHROPIC)
        ant_error_body(&mr->body, status, message);
    else if (mr->dialect == DIALECT_GEMINI)
        gem_error_body(&mr->body, status, message, sc_get(&mr->sc, SC_RETRY_AFTER, -1));
    else
        oai_error_body(&mr->body, status, message, code);
}

void mr_set_model(mock_req_t *mr, const char *model, size_t len)
{
    mr->model = h2o_strdup(&mr->req->pool, model, len);
    scenario_t from_model = {{0}, 0};
    scenario_parse(&from_model, model, len, 1, 0);
    scenario_merge(&mr->sc, &from_model);
}

int mr_scenario_error(mock_req_t *mr)
{
    long status = sc_get(&mr->sc, SC_STATUS, 200);
    if (status < 300 && sc_get(&mr->sc, SC_OVERLOADED, 0)) /* the provider's own overload answer */
        status = mr->dialect == DIALECT_ANTHROPIC ? 529 : 503;
    if (sc_has(&mr->sc, SC_FAIL_FIRST)) {
        if (!failfirst_hit(mr->model.base, mr->model.len, mr->sc.v[SC_FAIL_FIRST]))
            return 0;
        if (status < 300)
            status = 500;
    } else if (status < 300) {
        return 0;
    }
    mr_fail(mr, (int)status, NULL);
    return 1;
}

void text_of_content(const cJSON *content, sbuf_t *out, size_t max)
{
    if (out->len >= max)
        return;
    if (cJSON_IsString(content)) {
        size_t n = strlen(content->valuestring);
        sb_add(out, content->valuestring, n < max - out->len ? n : max - out->len);
        return;
    }
    if (!cJSON_IsArray(content))
        return;
    const cJSON *part;
    cJSON_ArrayForEach(part, content)
    {
        if (cJSON_IsString(part)) {
            text_of_content(part, out, max);
            continue;
        }
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
        const char *t = cJSON_IsString(type) ? type->valuestring : "text";
        if (strcmp(t, "text") == 0)
            text_of_content(cJSON_GetObjectItemCaseSensitive(part, "text"), out, max);
        else if (strcmp(t, "tool_result") == 0)
            text_of_content(cJSON_GetObjectItemCaseSensitive(part, "content"), out, max);
    }
}

unsigned prompt_words_of_content(const cJSON *content)
{
    if (cJSON_IsString(content))
        return (unsigned)count_words(content->valuestring, strlen(content->valuestring));
    unsigned n = 0;
    if (cJSON_IsArray(content)) {
        const cJSON *part;
        cJSON_ArrayForEach(part, content)
        {
            if (cJSON_IsString(part)) {
                n += (unsigned)count_words(part->valuestring, strlen(part->valuestring));
                continue;
            }
            const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
            const char *t = cJSON_IsString(type) ? type->valuestring : "text";
            if (strcmp(t, "text") == 0) {
                const cJSON *text = cJSON_GetObjectItemCaseSensitive(part, "text");
                if (cJSON_IsString(text))
                    n += (unsigned)count_words(text->valuestring, strlen(text->valuestring));
            } else if (strcmp(t, "tool_result") == 0) {
                n += prompt_words_of_content(cJSON_GetObjectItemCaseSensitive(part, "content"));
            }
        }
    }
    return n;
}

/* ------------------------------------------------------------ routing */

static void send_json_simple(h2o_req_t *req, int status, const char *body, size_t len)
{
    static h2o_generator_t generator = {NULL, NULL};
    req->res.status = status;
    req->res.reason = status_reason(status);
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("application/json"));
    h2o_iovec_t buf = h2o_strdup(&req->pool, body, len);
    h2o_start_response(req, &generator);
    h2o_send(req, &buf, 1, H2O_SEND_STATE_FINAL);
}

static int path_is(h2o_iovec_t path, const char *s)
{
    size_t n = strlen(s);
    return path.len == n && memcmp(path.base, s, n) == 0;
}

static int method_is(h2o_req_t *req, const char *m)
{
    size_t n = strlen(m);
    return req->method.len == n && memcmp(req->method.base, m, n) == 0;
}

int mock_on_req(h2o_handler_t *self, h2o_req_t *req)
{
    h2o_iovec_t path = req->path_normalized;

    if (path_is(path, "/_mock/stats")) {
        long r, c, f;
        char buf[128];
        engine_stats(&r, &c, &f);
        int n = snprintf(buf, sizeof(buf), "{\"requests\":%ld,\"closed\":%ld,\"in_flight\":%ld}", r, c, f);
        send_json_simple(req, 200, buf, (size_t)n);
        return 0;
    }

    mock_req_t *mr = h2o_mem_alloc_shared(&req->pool, sizeof(*mr), mr_dispose);
    memset(mr, 0, sizeof(*mr));
    mr->gen.proceed = on_proceed;
    mr->gen.stop = on_stop;
    mr->req = req;
    mr->tc = H2O_STRUCT_FROM_MEMBER(thread_ctx_t, ctx, req->conn->ctx);
    mr->timer.cb = on_timer;
    mr->seq = __atomic_add_fetch(&g_seq, 1, __ATOMIC_RELAXED);
    {
        char tmp[24];
        size_t i = sizeof(tmp);
        uint64_t v = mr->seq;
        do {
            tmp[--i] = (char)('0' + v % 10);
            v /= 10;
        } while (v != 0);
        memcpy(mr->id, "mock-", 5);
        memcpy(mr->id + 5, tmp + i, sizeof(tmp) - i);
        mr->id[5 + sizeof(tmp) - i] = '\0';
    }
    mr->created = time(NULL);
    mr->status = 200;
    mr->dialect = DIALECT_OPENAI;
    sb_init(&mr->body, &req->pool, 0);
    sb_init(&mr->ev, NULL, 0);
    __atomic_add_fetch(&g_requests, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&g_in_flight, 1, __ATOMIC_RELAXED);

    ssize_t hi = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-mock-scenario"), -1);
    if (hi != -1)
        scenario_parse(&mr->sc, req->headers.entries[hi].value.base, req->headers.entries[hi].value.len, 0,
                       1);

    int is_post = method_is(req, "POST"), is_get = method_is(req, "GET");
    void (*json_handler)(mock_req_t *, cJSON *) = NULL;

    if (path_is(path, "/v1/chat/completions")) {
        mr->api = API_CHAT;
        json_handler = oai_chat;
    } else if (path_is(path, "/v1/embeddings")) {
        mr->api = API_EMBEDDINGS;
        json_handler = oai_embeddings;
    } else if (path_is(path, "/v1/messages")) {
        mr->api = API_MESSAGES;
        mr->dialect = DIALECT_ANTHROPIC;
        json_handler = ant_messages;
    } else if (gem_route(mr, path, &json_handler)) {
        /* Gemini: dialect, api and model set from the URL */
    } else if (path_is(path, "/v1/models") || (path.len > 11 && memcmp(path.base, "/v1/models/", 11) == 0)) {
        mr->api = API_MODELS;
    } else {
        mr->api = API_OTHER;
    }

    if (json_handler != NULL) {
        cJSON *body = NULL;
        if (mr->status != 200) {
            /* already failed while routing */
        } else if (!is_post) {
            mr_fail(mr, 405, "Method not allowed; use POST");
        } else {
            body = cJSON_ParseWithLength(req->entity.base, req->entity.len);
            if (body == NULL)
                mr_fail(mr, 400, "We could not parse the JSON body of your request. (mock)");
            else if (!cJSON_IsObject(body))
                mr_fail(mr, 400, "The request body must be a JSON object. (mock)");
            else
                json_handler(mr, body);
        }
        if (mlog_enabled())
            log_request(mr, body);
        cJSON_Delete(body);
        json_arena_reset();
    } else {
        if (mr->dialect == DIALECT_GEMINI) {
            /* gem_route planned the answer */
        } else if (mr->api == API_MODELS && is_get) {
            if (path.len > 11)
                oai_models(mr, path.base + 11, path.len - 11);
            else
                oai_models(mr, NULL, 0);
        } else if (mr->api == API_MODELS) {
            mr_fail(mr, 405, "Method not allowed; use GET");
        } else {
            sbuf_t msg;
            sb_init(&msg, &req->pool, 64);
            sb_lit(&msg, "Invalid URL (");
            sb_add(&msg, req->method.base, req->method.len);
            sb_addc(&msg, ' ');
            sb_add(&msg, path.base, path.len);
            sb_lit(&msg, ")\0");
            mr_fail_code(mr, 404, msg.buf, "");
        }
        if (mlog_enabled()) {
            log_request(mr, NULL);
            json_arena_reset();
        }
    }

    mr_begin(mr);
    return 0;
}
