/*
 * The OpenAI dialect, both sides of the seam (dp_provider.h): upstream, any OpenAI-compatible
 * server (OpenAI, vLLM, Ollama, the mock); inbound, OpenAI's Chat Completions and Embeddings
 * clients.
 *
 * Upstream request (stage 6).
 * The client's body is forwarded with these changes: `model` becomes the catalog's upstream
 * name, Switchyard's own extensions (`models`, `route`) are removed, `messages` is replaced
 * by the router's copy when it stripped an override tag (@think …), and a stream always asks
 * for `stream_options.include_usage` — metering needs the provider's count even when the
 * client did not ask (the relay then hides the usage chunk from that client) — unless the
 * provider is marked `"stream_usage": false` (a server that ignores it). It is rebuilt by
 * splicing the original bytes (the top-level member spans found in stage 4), not by
 * re-printing a parsed tree: the bytes the client sent are the bytes the provider gets.
 * Headers are an allow-list — the provider's fixed list built with the snapshot (content type,
 * accept, user agent, an empty Expect, the credential from the provider's environment
 * variable) plus the request id — the client's headers never reach the upstream. Values that reach a header
 * or the URL were validated for CR/LF/NUL when the snapshot was built (ids, upstream names, credentials,
 * URLs) or when the request was accepted (request id).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dp.h"
#include "dp_provider.h"
#include "sy_money.h"

#include <openssl/evp.h>

static int key_is(const sy_json_member_t *m, const char *k)
{
    size_t n = strlen(k);
    return m->key_len == n && memcmp(m->key, k, n) == 0;
}

/* The stream_options member to send, or NULL to keep the client's as it is. A provider whose
 * server ignores include_usage (catalog "stream_usage": false) gets the client's own: its
 * streams are billed on the estimate (dp_meter.c). */
static const char *stream_options(dp_req_t *r)
{
    if (!r->stream || r->ep != DP_EP_CHAT || r->client_wants_usage || !r->model->provider->stream_usage)
        return NULL;
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(r->body, "stream_options");
    if (!cJSON_IsObject(so) || so->child == NULL)
        return "{\"include_usage\":true}";
    /* the client set other stream options: keep them, add include_usage */
    sy_json_arena_begin(&r->arena);
    cJSON *copy = cJSON_Duplicate(so, 1);
    char *out = NULL;
    if (copy != NULL) {
        cJSON_DeleteItemFromObjectCaseSensitive(copy, "include_usage");
        cJSON_AddTrueToObject(copy, "include_usage");
        out = cJSON_PrintUnformatted(copy);
    }
    sy_json_arena_end();
    return out;
}

/* {"model":"<upstream>", <every other member except models/route>[, "stream_options":…]} */
static char *splice_body(dp_req_t *r, const char *upstream, size_t *out_len)
{
    const char *so = stream_options(r);
    size_t ol = r->messages_override ? strlen(r->messages_override) + 16 : 0;
    size_t ul = strlen(upstream), sl = so ? strlen(so) : 0, cap = r->body_src.len + ul + sl + ol + 40, n = 0;
    char *b = malloc(cap);
    if (b == NULL)
        return NULL;
    memcpy(b + n, "{\"model\":\"", 10), n += 10;
    memcpy(b + n, upstream, ul), n += ul; /* validated at snapshot build: no quotes or escapes */
    b[n++] = '"';
    for (int i = 0; i < r->nmembers; i++) {
        const sy_json_member_t *m = &r->members[i];
        if (key_is(m, "model") || key_is(m, "models") || key_is(m, "route") ||
            (so && key_is(m, "stream_options")))
            continue;
        b[n++] = ',';
        if (r->messages_override != NULL && key_is(m, "messages")) {
            /* the router stripped an override tag: only this member is re-printed */
            size_t ol = strlen(r->messages_override);
            memcpy(b + n, "\"messages\":", 11), n += 11;
            memcpy(b + n, r->messages_override, ol), n += ol;
            continue;
        }
        size_t len = (size_t)(m->value + m->value_len - m->start);
        memcpy(b + n, m->start, len), n += len;
    }
    if (so != NULL) {
        memcpy(b + n, ",\"stream_options\":", 18), n += 18;
        memcpy(b + n, so, sl), n += sl;
    }
    b[n++] = '}';
    b[n] = '\0';
    *out_len = n;
    return b;
}

static int openai_prepare(dp_req_t *r)
{
    const dp_model_t *m = r->model;
    const dp_provider_t *p = m->provider;
    r->up_body = splice_body(r, m->upstream, &r->up_body_len);
    if (r->up_body == NULL)
        return -1;
    r->up_url = r->ep == DP_EP_EMBEDDINGS ? p->embeddings_url : p->chat_url;

    /* one node of our own in front of the provider's shared, read-only list: no per-request
     * formatting of the fixed headers and credential */
    return dp_provider_headers(r);
}

/* ---- upstream answers (stage 8) ---- */

static int64_t get_count(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e12)
        return 0;
    return (int64_t)v->valuedouble;
}

/* usage {prompt_tokens, completion_tokens, prompt_tokens_details.cached_tokens} */
static void take_usage(const cJSON *u, dp_event_t *ev)
{
    if (!cJSON_IsObject(u))
        return;
    if (!dp_usage_sane(u)) {
        ev->usage_invalid = 1;
        return;
    }
    ev->has_usage = 1;
    ev->usage.have = 1;
    ev->usage.prompt_tokens = get_count(u, "prompt_tokens");
    ev->usage.completion_tokens = get_count(u, "completion_tokens");
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(u, "prompt_tokens_details");
    if (cJSON_IsObject(d))
        ev->usage.cache_read_tokens = get_count(d, "cached_tokens");
}

static dp_finish_t finish_of(const char *s)
{
    if (strcmp(s, "stop") == 0)
        return DP_FINISH_STOP;
    if (strcmp(s, "length") == 0)
        return DP_FINISH_LENGTH;
    if (strcmp(s, "tool_calls") == 0 || strcmp(s, "function_call") == 0)
        return DP_FINISH_TOOL_CALLS;
    if (strcmp(s, "content_filter") == 0)
        return DP_FINISH_CONTENT_FILTER;
    return DP_FINISH_STOP;
}

/* Does a chunk carry something the client must see (a finish, text, a tool call, a refusal),
 * rather than only the role-only preamble? Parsed only while a stream is held back. */
static int chunk_has_content(const cJSON *obj, dp_event_t *ev)
{
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(obj, "choices"), *c;
    int content = !cJSON_IsArray(choices);
    cJSON_ArrayForEach(c, choices)
    {
        const cJSON *fr = cJSON_GetObjectItemCaseSensitive(c, "finish_reason");
        const cJSON *delta = cJSON_GetObjectItemCaseSensitive(c, "delta");
        const cJSON *text = delta ? cJSON_GetObjectItemCaseSensitive(delta, "content") : NULL;
        if (cJSON_IsString(fr))
            ev->finish = finish_of(fr->valuestring);
        if ((fr && !cJSON_IsNull(fr)) || (cJSON_IsString(text) && text->valuestring[0]) ||
            (delta && (cJSON_GetObjectItemCaseSensitive(delta, "tool_calls") ||
                       cJSON_GetObjectItemCaseSensitive(delta, "function_call") ||
                       cJSON_IsString(cJSON_GetObjectItemCaseSensitive(delta, "refusal")))))
            content = 1;
    }
    return content;
}

static void part(dp_event_t *ev, dp_part_kind_t kind, int index, const char *text, const char *id,
                 const char *name)
{
    if (ev->nparts >= DP_EVENT_MAX_PARTS)
        return;
    dp_part_t *p = &ev->parts[ev->nparts++];
    p->kind = kind;
    p->index = index;
    p->text = text;
    p->len = text ? strlen(text) : 0;
    p->id = id;
    p->name = name;
}

/* For a client of another dialect: a chunk's delta (stream) or an answer's message, as parts.
 * Strings stay in the cJSON tree, which lives in the request arena. */
static void openai_parts(const cJSON *obj, dp_event_t *ev, int stream)
{
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(obj, "choices");
    const cJSON *c = cJSON_IsArray(choices) ? choices->child : NULL;
    if (c == NULL)
        return;
    const cJSON *fr = cJSON_GetObjectItemCaseSensitive(c, "finish_reason");
    if (cJSON_IsString(fr))
        ev->finish = finish_of(fr->valuestring);
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(c, stream ? "delta" : "message"), *tc;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, "reasoning_content");
    if (cJSON_IsString(v) && v->valuestring[0])
        part(ev, DP_PART_THINKING, 0, v->valuestring, NULL, NULL);
    v = cJSON_GetObjectItemCaseSensitive(m, "content");
    if (cJSON_IsString(v) && v->valuestring[0])
        part(ev, DP_PART_TEXT, 0, v->valuestring, NULL, NULL);
    int i = 0;
    cJSON_ArrayForEach(tc, cJSON_GetObjectItemCaseSensitive(m, "tool_calls"))
    {
        const cJSON *idx = cJSON_GetObjectItemCaseSensitive(tc, "index");
        int index = stream && cJSON_IsNumber(idx) && idx->valuedouble >= 0 && idx->valuedouble < 1024
                        ? (int)idx->valuedouble
                        : i;
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tc, "function");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(tc, "id");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
        const cJSON *args = cJSON_GetObjectItemCaseSensitive(fn, "arguments");
        if (cJSON_IsString(id) || cJSON_IsString(name))
            part(ev, DP_PART_TOOL_START, index, NULL, cJSON_IsString(id) ? id->valuestring : "",
                 cJSON_IsString(name) ? name->valuestring : "");
        if (cJSON_IsString(args) && args->valuestring[0])
            part(ev, DP_PART_TOOL_ARGS, index, args->valuestring, NULL, NULL);
        i++;
    }
}

/* String content in an event or answer, for the token estimate when no usage arrives: the
 * lengths of "content", "arguments" and "text" string values (escapes counted once). */
typedef struct {
    uint64_t content_bytes; /* lengths of "content", "arguments" and "text" string values */
    int has_usage;          /* a "usage" member whose value is not null */
    int has_error;          /* an "error" member */
} scan_t;

static const char *skip_ws(const char *s, const char *end)
{
    while (s < end && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'))
        s++;
    return s;
}

/* One pass over a JSON text already checked by sy_json_precheck: every string, and for each one
 * that is a member name, what the relay needs of it (one scan instead of one memmem per name,
 * a visible share of a stream's CPU). Escapes in a counted value count once per byte after the
 * backslash's first, as before. */
static void scan_members(const char *p, size_t n, scan_t *out)
{
    memset(out, 0, sizeof(*out));
    const char *s = p, *end = p + n;
    while ((s = memchr(s, '"', (size_t)(end - s))) != NULL) {
        const char *name = ++s;
        while (s < end && *s != '"')
            s += *s == '\\' && s + 1 < end ? 2 : 1;
        size_t len = (size_t)(s - name);
        if (s >= end)
            break;
        s = skip_ws(s + 1, end);
        if (s >= end || *s != ':')
            continue; /* a value, not a member name */
        s = skip_ws(s + 1, end);
        if (len == 5 && memcmp(name, "usage", 5) == 0) {
            out->has_usage |= !(end - s >= 4 && memcmp(s, "null", 4) == 0);
        } else if (len == 5 && memcmp(name, "error", 5) == 0) {
            out->has_error = 1;
        } else if (((len == 7 && memcmp(name, "content", 7) == 0) ||
                    (len == 9 && memcmp(name, "arguments", 9) == 0) ||
                    (len == 4 && memcmp(name, "text", 4) == 0)) &&
                   s < end && *s == '"') {
            s++;
            while (s < end && *s != '"') {
                if (*s == '\\' && s + 1 < end)
                    s++;
                s++;
                out->content_bytes++;
            }
            if (s < end)
                s++; /* past the value's closing quote: its text is not searched for names */
        }
    }
}

static uint64_t content_bytes(const char *p, size_t n)
{
    scan_t sc;
    scan_members(p, n, &sc);
    return sc.content_bytes;
}

/* One SSE event: [DONE], or one JSON object. Most are content deltas that need no reading,
 * so they get the linear structural check only (UTF-8, balanced, object-shaped); the events
 * that carry usage or an error — and, while the stream is held back, every event — are
 * parsed in full. */
static int openai_stream_event(dp_req_t *r, const char *d, size_t dl, dp_event_t *ev)
{
    ev->raw = d;
    ev->raw_len = dl;
    if (dl == 6 && memcmp(d, "[DONE]", 6) == 0) {
        ev->end = 1;
        return 0;
    }
    if (dl < 2 || d[0] != '{' || d[dl - 1] != '}' || sy_json_precheck(d, dl, 64, NULL) != SY_JSON_OK)
        return -1;
    scan_t sc;
    scan_members(d, dl, &sc);
    int translate = r->in != &dp_openai_inbound; /* a client of another dialect needs the parts */
    if (!sc.has_usage && !sc.has_error && r->started && !translate) {
        ev->content_bytes = sc.content_bytes; /* the common case: a content delta */
        return 0;
    }
    sy_json_arena_begin(&r->arena);
    cJSON *obj = cJSON_ParseWithLength(d, dl);
    if (obj == NULL || !cJSON_IsObject(obj)) {
        sy_json_arena_end();
        return -1;
    }
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(obj, "usage");
    take_usage(usage, ev);
    ev->error = cJSON_GetObjectItemCaseSensitive(obj, "error") != NULL;
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(obj, "choices");
    ev->usage_only = cJSON_IsObject(usage) && cJSON_IsArray(choices) && choices->child == NULL;
    if (!r->started)
        ev->content = !ev->usage_only && chunk_has_content(obj, ev);
    if (!ev->usage_only)
        ev->content_bytes = sc.content_bytes;
    if (translate)
        openai_parts(obj, ev, 1);
    if (ev->error) {
        const char *m = cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "error"), "message"));
        ev->error_msg = m ? m : "upstream error";
    }
    sy_json_arena_end();
    return 0;
}

/* A whole answer: one JSON object, checked by two linear scans (UTF-8 and balance, then its
 * top-level members); only its `usage` member is parsed. */
static int openai_answer(dp_req_t *r, const char *b, size_t bl, dp_event_t *ev)
{
    sy_json_member_t mem[64];
    int n = -1;
    if (bl > 0 && sy_json_precheck(b, bl, 128, NULL) == SY_JSON_OK)
        n = sy_json_members(b, bl, mem, 64);
    if (n < 0)
        return -1;
    /* A 200 that is JSON but not the answer asked for (a load balancer's status object, an
     * error object sent with 200) is a malformed answer: failover or 502, billed 0 — never
     * relayed as a success and billed an estimate (RELIABILITY A9). The member is found by the
     * scan above; nothing more is parsed. */
    const char *need = r->ep == DP_EP_EMBEDDINGS ? "data" : "choices";
    size_t need_len = strlen(need);
    int found = 0;
    for (int i = 0; i < n && !found; i++)
        found =
            mem[i].key_len == need_len && memcmp(mem[i].key, need, need_len) == 0 && mem[i].value[0] == '[';
    if (!found)
        return -1;
    ev->raw = b;
    ev->raw_len = bl;
    ev->end = 1;
    ev->content = 1;
    sy_json_arena_begin(&r->arena);
    if (r->in != &dp_openai_inbound) {
        /* a client of another dialect: the whole answer is read into parts */
        cJSON *obj = cJSON_ParseWithLength(b, bl);
        take_usage(cJSON_GetObjectItemCaseSensitive(obj, "usage"), ev);
        openai_parts(obj, ev, 0);
        if (ev->finish == DP_FINISH_NONE)
            ev->finish = DP_FINISH_STOP;
    } else {
        for (int i = 0; i < n; i++)
            if (mem[i].key_len == 5 && memcmp(mem[i].key, "usage", 5) == 0)
                take_usage(cJSON_ParseWithLength(mem[i].value, mem[i].value_len), ev);
    }
    sy_json_arena_end();
    if (!ev->has_usage)
        ev->content_bytes = content_bytes(b, bl); /* only the estimate needs it */
    return 0;
}

static void openai_error_message(const char *body, size_t len, char *msg, size_t cap)
{
    cJSON *obj = cJSON_ParseWithLength(body, len);
    const cJSON *e = obj ? cJSON_GetObjectItemCaseSensitive(obj, "error") : NULL;
    const cJSON *m = e ? cJSON_GetObjectItemCaseSensitive(e, "message") : NULL;
    snprintf(msg, cap, "%s", cJSON_IsString(m) ? m->valuestring : "no message");
    cJSON_Delete(obj);
}

const dp_upstream_ops_t dp_openai_upstream = {
    .kind = "openai",
    .chat_path = "/chat/completions",
    .embeddings_path = "/embeddings",
    .auth_header = "Authorization: Bearer %s",
    .prepare = openai_prepare,
    .stream_event = openai_stream_event,
    .answer = openai_answer,
    .error_message = openai_error_message,
};

/* ---- inbound: writing to an OpenAI client ---- */

static int put(dp_buf_t *out, const char *p, size_t n)
{
    return dp_buf_append(out, p, n, SIZE_MAX);
}

static int put_event(dp_buf_t *out, const char *d, size_t dl)
{
    return put(out, "data: ", 6) || put(out, d, dl) || put(out, "\n\n", 2) ? -1 : 0;
}

static const char *finish_name(dp_finish_t f)
{
    switch (f) {
    case DP_FINISH_LENGTH:
        return "length";
    case DP_FINISH_TOOL_CALLS:
        return "tool_calls";
    case DP_FINISH_CONTENT_FILTER:
        return "content_filter";
    default:
        return "stop";
    }
}

/* "chatcmpl-<request id>" for answers the gateway writes itself (in the arena) */
static const char *completion_id(dp_req_t *r)
{
    char *s = sy_arena_alloc(&r->arena, sizeof("chatcmpl-") + DP_REQUEST_ID_MAX);
    if (s == NULL)
        return r->id;
    snprintf(s, sizeof("chatcmpl-") + DP_REQUEST_ID_MAX, "chatcmpl-%s", r->id);
    return s;
}

/* usage {…, "cost": <exact decimal>} for a client that asked for usage */
static cJSON *usage_json(dp_req_t *r, const dp_usage_t *u)
{
    char cost[32];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "prompt_tokens", (double)u->prompt_tokens);
    cJSON_AddNumberToObject(o, "completion_tokens", (double)u->completion_tokens);
    cJSON_AddNumberToObject(o, "total_tokens", (double)(u->prompt_tokens + u->completion_tokens));
    if (u->cache_read_tokens) {
        cJSON *d = cJSON_AddObjectToObject(o, "prompt_tokens_details");
        cJSON_AddNumberToObject(d, "cached_tokens", (double)u->cache_read_tokens);
    }
    sy_money_format_usd(dp_meter_cost(r), cost);
    cJSON_AddItemToObject(o, "cost", cJSON_CreateRaw(cost));
    return o;
}

/* A translated event as chat.completion.chunk objects (another dialect's upstream). */
static int write_chunk(dp_req_t *r, const dp_event_t *ev, dp_buf_t *out)
{
    int rc = 0;
    if (ev->error) {
        char *j = sy_err_json(SY_E_UPSTREAM_ERROR, ev->error_msg ? ev->error_msg : "upstream error", NULL);
        rc = j == NULL ? -1 : put_event(out, j, strlen(j));
        free(j);
        return rc;
    }
    sy_json_arena_begin(&r->arena);
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "id", completion_id(r));
    cJSON_AddStringToObject(c, "object", "chat.completion.chunk");
    cJSON_AddNumberToObject(c, "created", (double)r->t_wall_s);
    cJSON_AddStringToObject(c, "model", r->model ? r->model->id : "");
    cJSON *choices = cJSON_AddArrayToObject(c, "choices");
    if (ev->nparts > 0 || ev->finish != DP_FINISH_NONE) {
        cJSON *ch = cJSON_CreateObject();
        cJSON_AddItemToArray(choices, ch);
        cJSON_AddNumberToObject(ch, "index", 0);
        cJSON *delta = cJSON_AddObjectToObject(ch, "delta");
        cJSON *calls = NULL;
        for (size_t i = 0; i < ev->nparts; i++) {
            const dp_part_t *p = &ev->parts[i];
            if (p->kind == DP_PART_TEXT) {
                cJSON_AddItemToObject(delta, "content", cJSON_CreateString(p->text ? p->text : ""));
            } else if (p->kind == DP_PART_THINKING) {
                cJSON_AddItemToObject(delta, "reasoning_content", cJSON_CreateString(p->text ? p->text : ""));
            } else {
                if (calls == NULL)
                    calls = cJSON_AddArrayToObject(delta, "tool_calls");
                cJSON *tc = cJSON_CreateObject();
                cJSON_AddItemToArray(calls, tc);
                cJSON_AddNumberToObject(tc, "index", p->index);
                cJSON *fn = cJSON_CreateObject();
                if (p->kind == DP_PART_TOOL_START) {
                    cJSON_AddStringToObject(tc, "id", p->id ? p->id : "");
                    cJSON_AddStringToObject(tc, "type", "function");
                    cJSON_AddStringToObject(fn, "name", p->name ? p->name : "");
                    cJSON_AddStringToObject(fn, "arguments", "");
                } else {
                    cJSON_AddItemToObject(fn, "arguments", cJSON_CreateString(p->text ? p->text : ""));
                }
                cJSON_AddItemToObject(tc, "function", fn);
            }
        }
        if (ev->finish != DP_FINISH_NONE)
            cJSON_AddStringToObject(ch, "finish_reason", finish_name(ev->finish));
        else
            cJSON_AddNullToObject(ch, "finish_reason");
    }
    /* the usage so far travels with the finish (a dialect may report its input side early) */
    if (ev->has_usage && r->client_wants_usage && (ev->finish != DP_FINISH_NONE || ev->end))
        cJSON_AddItemToObject(c, "usage", usage_json(r, &ev->usage));
    if (cJSON_GetArraySize(choices) > 0 || cJSON_GetObjectItemCaseSensitive(c, "usage") != NULL) {
        char *s = cJSON_PrintUnformatted(c);
        rc = s == NULL ? -1 : put_event(out, s, strlen(s));
    }
    sy_json_arena_end();
    if (ev->end && rc == 0)
        rc = put(out, "data: [DONE]\n\n", 14);
    return rc;
}

static int openai_stream_write(dp_req_t *r, const dp_upstream_ops_t *up, const dp_event_t *ev, dp_buf_t *out)
{
    if (up != &dp_openai_upstream)
        return write_chunk(r, ev, out);
    /* same dialect: the provider's own bytes */
    if (ev->end)
        return put(out, "data: [DONE]\n\n", 14);
    if (ev->usage_only && !r->client_wants_usage)
        return 0; /* the usage-only chunk we asked for on the client's behalf: metered, not relayed */
    if (ev->has_usage && r->client_wants_usage) {
        /* the client sees what the request cost, as an exact decimal */
        int rc = -1;
        sy_json_arena_begin(&r->arena);
        cJSON *obj = cJSON_ParseWithLength(ev->raw, ev->raw_len);
        cJSON *usage = obj ? cJSON_GetObjectItemCaseSensitive(obj, "usage") : NULL;
        if (cJSON_IsObject(usage)) {
            char cost[32];
            sy_money_format_usd(dp_meter_cost(r), cost);
            cJSON_AddItemToObject(usage, "cost", cJSON_CreateRaw(cost));
            char *s = cJSON_PrintUnformatted(obj);
            rc = s == NULL ? -1 : put_event(out, s, strlen(s));
        }
        sy_json_arena_end();
        if (rc == 0)
            return 0;
    }
    return put_event(out, ev->raw, ev->raw_len);
}

static int openai_stream_error(dp_req_t *r, sy_err_t e, const char *msg, dp_buf_t *out)
{
    (void)r;
    char *j = sy_err_json(e, msg, NULL);
    if (j == NULL)
        return -1;
    int rc = put_event(out, j, strlen(j));
    free(j);
    return rc;
}

/* The routing object, printed by cJSON (in the request arena). */
static char *routing_json(dp_req_t *r)
{
    cJSON *routing = cJSON_CreateObject();
    cJSON_AddStringToObject(routing, "selected", r->model->id);
    cJSON_AddStringToObject(routing, "provider", r->model->provider->id);
    cJSON_AddStringToObject(routing, "objective", dp_objective_name(r->objective));
    cJSON_AddNumberToObject(routing, "candidates_considered",
                            (double)(r->considered ? r->considered : r->ncand));
    cJSON *cands = cJSON_AddArrayToObject(routing, "candidates");
    for (size_t i = 0; i < r->ncand; i++)
        cJSON_AddItemToArray(cands, cJSON_CreateString(r->cand[i]->id));
    if (r->task >= 0) {
        cJSON_AddStringToObject(routing, "task", sy_task_name((sy_task_t)r->task));
        if (r->difficulty >= 0)
            cJSON_AddStringToObject(routing, "difficulty",
                                    sy_difficulty_name((sy_difficulty_t)r->difficulty));
        if (r->task_conf >= 0) {
            /* the classifier's calibrated probabilities of the task and difficulty it found
             * (docs/routing.md); "difficulty" above is one level harder when routing leaned */
            cJSON *conf = cJSON_AddObjectToObject(routing, "confidence");
            cJSON_AddNumberToObject(conf, "task", (double)(int)(r->task_conf * 1000 + 0.5f) / 1000);
            cJSON_AddNumberToObject(conf, "difficulty", (double)(int)(r->diff_conf * 1000 + 0.5f) / 1000);
            if (r->diff_leaned)
                cJSON_AddBoolToObject(conf, "difficulty_leaned", 1);
        }
    }
    if (r->tag != NULL)
        cJSON_AddStringToObject(routing, "tag", r->tag);
    cJSON_AddNumberToObject(routing, "attempts", (double)r->attempts);
    char reason[600];
    const char *base = r->reason ? r->reason : "requested model";
    if (r->attempts > 1)
        snprintf(reason, sizeof(reason), "%s; failover: attempt %zu served by %s", base, r->attempts,
                 r->model->id);
    else
        snprintf(reason, sizeof(reason), "%s", base);
    cJSON_AddStringToObject(routing, "reason", reason);
    return cJSON_PrintUnformatted(routing);
}

/* A translated whole answer as a chat.completion (another dialect's upstream), `routing` included. */
static int write_completion(dp_req_t *r, const dp_event_t *ev, const char **out, size_t *out_len)
{
    sy_json_arena_begin(&r->arena);
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "id", completion_id(r));
    cJSON_AddStringToObject(c, "object", "chat.completion");
    cJSON_AddNumberToObject(c, "created", (double)r->t_wall_s);
    cJSON_AddStringToObject(c, "model", r->model->id);
    cJSON *choices = cJSON_AddArrayToObject(c, "choices");
    cJSON *ch = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, ch);
    cJSON_AddNumberToObject(ch, "index", 0);
    cJSON *msg = cJSON_AddObjectToObject(ch, "message");
    cJSON_AddStringToObject(msg, "role", "assistant");
    const char *text = NULL, *thinking = NULL;
    cJSON *calls = NULL;
    for (size_t i = 0; i < ev->nparts; i++) {
        const dp_part_t *p = &ev->parts[i];
        if (p->kind == DP_PART_TEXT)
            text = p->text;
        else if (p->kind == DP_PART_THINKING)
            thinking = p->text;
        else if (p->kind == DP_PART_TOOL_START) {
            if (calls == NULL)
                calls = cJSON_CreateArray();
            cJSON *tc = cJSON_CreateObject(), *fn = cJSON_CreateObject();
            cJSON_AddStringToObject(tc, "id", p->id ? p->id : "");
            cJSON_AddStringToObject(tc, "type", "function");
            cJSON_AddStringToObject(fn, "name", p->name ? p->name : "");
            cJSON_AddStringToObject(fn, "arguments", "");
            cJSON_AddItemToObject(tc, "function", fn);
            cJSON_AddItemToArray(calls, tc);
        } else if (p->kind == DP_PART_TOOL_ARGS && calls != NULL) {
            cJSON *tc = cJSON_GetArrayItem(calls, p->index);
            cJSON *fn = tc ? cJSON_GetObjectItemCaseSensitive(tc, "function") : NULL;
            if (fn != NULL)
                cJSON_ReplaceItemInObjectCaseSensitive(fn, "arguments",
                                                       cJSON_CreateString(p->text ? p->text : ""));
        }
    }
    if (text != NULL)
        cJSON_AddStringToObject(msg, "content", text);
    else
        cJSON_AddNullToObject(msg, "content");
    if (thinking != NULL)
        cJSON_AddStringToObject(msg, "reasoning_content", thinking);
    if (calls != NULL)
        cJSON_AddItemToObject(msg, "tool_calls", calls);
    cJSON_AddStringToObject(ch, "finish_reason", finish_name(ev->finish));
    if (ev->has_usage) {
        cJSON *u = cJSON_AddObjectToObject(c, "usage");
        cJSON_AddNumberToObject(u, "prompt_tokens", (double)ev->usage.prompt_tokens);
        cJSON_AddNumberToObject(u, "completion_tokens", (double)ev->usage.completion_tokens);
        cJSON_AddNumberToObject(u, "total_tokens",
                                (double)(ev->usage.prompt_tokens + ev->usage.completion_tokens));
        if (ev->usage.cache_read_tokens) {
            cJSON *d = cJSON_AddObjectToObject(u, "prompt_tokens_details");
            cJSON_AddNumberToObject(d, "cached_tokens", (double)ev->usage.cache_read_tokens);
        }
    }
    char *routing = routing_json(r);
    if (routing != NULL)
        cJSON_AddItemToObject(c, "routing", cJSON_CreateRaw(routing));
    char *s = cJSON_PrintUnformatted(c);
    sy_json_arena_end();
    if (s == NULL)
        return -1;
    *out = s; /* arena */
    *out_len = strlen(s);
    return 0;
}

/* A translated embeddings answer (dp_event_t.embeddings) as an OpenAI embeddings list:
 * `encoding_format` "base64" (the openai npm SDK's default) gets little-endian float32 in
 * base64, anything else JSON numbers (the provider's values, printed to round-trip). The
 * provider reported no usage, so `usage` shows the gateway's estimate — the prompt bytes / 4
 * the meter bills (dp_meter.c) — and the answer says so in `usage.estimated`. */
static int write_embeddings(dp_req_t *r, const dp_event_t *ev, const char **out, size_t *out_len)
{
    const char *ef = NULL;
    const cJSON *efj = cJSON_GetObjectItemCaseSensitive(r->body, "encoding_format");
    if (cJSON_IsString(efj))
        ef = efj->valuestring;
    int b64 = ef != NULL && strcmp(ef, "base64") == 0;
    int rc = 0;
    sy_json_arena_begin(&r->arena);
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(c, "data");
    for (size_t i = 0; i < ev->nembeddings && rc == 0; i++) {
        const dp_embedding_t *e = &ev->embeddings[i];
        cJSON *item = cJSON_CreateObject();
        cJSON_AddItemToArray(data, item);
        cJSON_AddStringToObject(item, "object", "embedding");
        cJSON_AddNumberToObject(item, "index", (double)i);
        if (b64) {
            size_t nb = 4 * e->n;
            unsigned char *raw = sy_arena_alloc(&r->arena, nb + 1);
            char *enc = sy_arena_alloc(&r->arena, 4 * ((nb + 2) / 3) + 1);
            if (raw == NULL || enc == NULL || nb > INT32_MAX) {
                rc = -1;
                break;
            }
            for (size_t j = 0; j < e->n; j++) {
                float f = (float)e->values[j];
                uint32_t u;
                memcpy(&u, &f, 4);
                raw[4 * j] = (unsigned char)u;
                raw[4 * j + 1] = (unsigned char)(u >> 8);
                raw[4 * j + 2] = (unsigned char)(u >> 16);
                raw[4 * j + 3] = (unsigned char)(u >> 24);
            }
            EVP_EncodeBlock((unsigned char *)enc, raw, (int)nb);
            cJSON_AddStringToObject(item, "embedding", enc);
        } else {
            cJSON *v = cJSON_AddArrayToObject(item, "embedding");
            for (size_t j = 0; j < e->n; j++)
                cJSON_AddItemToArray(v, cJSON_CreateNumber(e->values[j]));
        }
    }
    cJSON_AddStringToObject(c, "model", r->model->id);
    int64_t est = (int64_t)((r->up_body_len + 3) / 4);
    cJSON *u = cJSON_AddObjectToObject(c, "usage");
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)est);
    cJSON_AddNumberToObject(u, "total_tokens", (double)est);
    cJSON_AddTrueToObject(u, "estimated");
    char *s = rc == 0 ? cJSON_PrintUnformatted(c) : NULL;
    sy_json_arena_end();
    if (s == NULL)
        return -1;
    *out = s; /* arena */
    *out_len = strlen(s);
    return 0;
}

/* The provider's own bytes with `routing` spliced in before the closing brace (chat only):
 * no tree of the whole answer is built or re-printed. */
static int openai_answer_write(dp_req_t *r, const dp_upstream_ops_t *up, const dp_event_t *ev,
                               const char **out, size_t *out_len)
{
    if (up != &dp_openai_upstream)
        return ev->embeddings != NULL ? write_embeddings(r, ev, out, out_len)
                                      : write_completion(r, ev, out, out_len);
    *out = ev->raw;
    *out_len = ev->raw_len;
    if (r->ep != DP_EP_CHAT)
        return 0;
    sy_json_arena_begin(&r->arena);
    char *routing = routing_json(r);
    sy_json_arena_end();
    if (routing == NULL)
        return -1;
    size_t end = ev->raw_len;
    while (end > 0 && ev->raw[end - 1] != '}')
        end--; /* the closing brace of the top-level object (checked by the reader) */
    int empty = 0;
    for (size_t i = end - 1; i > 0; i--) {
        char c = ev->raw[i - 1];
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
            continue;
        empty = c == '{';
        break;
    }
    size_t rl = strlen(routing);
    char *b = sy_arena_alloc(&r->arena, end + rl + 16);
    if (b == NULL)
        return -1;
    size_t n = end - 1;
    memcpy(b, ev->raw, n);
    memcpy(b + n, empty ? "\"routing\":" : ",\"routing\":", empty ? 10 : 11);
    n += empty ? 10 : 11;
    memcpy(b + n, routing, rl);
    n += rl;
    b[n++] = '}';
    *out = b;
    *out_len = n;
    return 0;
}

const dp_inbound_ops_t dp_openai_inbound = {
    .name = "chat",
    .parse = NULL,
    .error_json = sy_err_json,
    .stream_write = openai_stream_write,
    .stream_error = openai_stream_error,
    .answer_write = openai_answer_write,
};
