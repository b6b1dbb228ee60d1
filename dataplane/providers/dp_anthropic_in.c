/*
 * The Anthropic dialect, inbound side (dp_provider.h): `POST /v1/messages` for Anthropic SDK
 * clients and Claude Code, with the same authentication, admission, routing, failover,
 * metering and billing as chat completions.
 *
 * Request: the Messages body is translated into the canonical request (OpenAI Chat
 * Completions JSON, docs/providers.md) that stages 4–6 read: `system` (a string or text
 * blocks) becomes a system message; text and image blocks become content parts; an
 * assistant's `tool_use` blocks become `tool_calls`; a user turn's `tool_result` blocks become
 * `tool` messages (before the turn's other content); `max_tokens` (required, as Anthropic
 * requires it), `temperature`, `top_p`, `stop_sequences`, `stream`, `tools`, `tool_choice`,
 * `metadata` (and `metadata.user_id` as `user`) carry over; Switchyard's `route` and `models`
 * extensions too. `thinking`, `top_k`, `cache_control` and document blocks have no canonical
 * form: an Anthropic upstream gets the client's own bytes instead (dp_anthropic.c splices
 * them), any other upstream goes without them.
 *
 * Answer: from an Anthropic upstream, its own events and bytes; from any other, the canonical
 * events written as Anthropic's sequence: message_start, content_block_start / _delta /
 * _stop per text or tool_use block, message_delta (stop_reason and usage), message_stop.
 * Thinking from a non-Anthropic model is not relayed (it has no signature to send back).
 * Errors: {"type":"error","error":{"type","message"}} with the table's statuses.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dp.h"
#include "dp_provider.h"
#include "sy_log.h"

/* ---- request ---- */

static const char *str_of(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static sy_err_t bad(char *msg, size_t msglen, const char **param, const char *p, const char *text)
{
    snprintf(msg, msglen, "%s", text);
    *param = p;
    return SY_E_BAD_PARAM;
}

/* The text of a string or of an array of text blocks (joined by blank lines), in the arena. */
static const char *text_of(dp_req_t *r, const cJSON *content)
{
    if (cJSON_IsString(content))
        return content->valuestring;
    dp_buf_t b = {0};
    const cJSON *blk;
    cJSON_ArrayForEach(blk, content)
    {
        const char *t = str_of(blk, "text");
        if (t == NULL)
            continue;
        if (b.len)
            dp_buf_append(&b, "\n\n", 2, SIZE_MAX);
        dp_buf_append(&b, t, strlen(t), SIZE_MAX);
    }
    char *s = sy_arena_alloc(&r->arena, b.len + 1);
    if (s != NULL) {
        memcpy(s, b.base ? b.base : "", b.len);
        s[b.len] = '\0';
    }
    dp_buf_free(&b);
    return s ? s : "";
}

/* An image block's source as an image_url part. */
static cJSON *image_part(dp_req_t *r, const cJSON *blk)
{
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(blk, "source");
    const char *type = str_of(src, "type");
    const char *url = NULL;
    if (type && strcmp(type, "base64") == 0 && str_of(src, "data") && str_of(src, "media_type")) {
        size_t n = strlen(str_of(src, "data")) + strlen(str_of(src, "media_type")) + 16;
        char *u = sy_arena_alloc(&r->arena, n);
        if (u == NULL)
            return NULL;
        snprintf(u, n, "data:%s;base64,%s", str_of(src, "media_type"), str_of(src, "data"));
        url = u;
    } else if (type && strcmp(type, "url") == 0) {
        url = str_of(src, "url");
    }
    if (url == NULL)
        return NULL;
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "type", "image_url");
    cJSON *iu = cJSON_AddObjectToObject(p, "image_url");
    cJSON_AddStringToObject(iu, "url", url);
    return p;
}

/* One Anthropic message → canonical messages appended to `out`. */
static int add_message(dp_req_t *r, cJSON *out, const cJSON *m)
{
    const char *role = str_of(m, "role");
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
    if (role == NULL || !(cJSON_IsString(content) || cJSON_IsArray(content)))
        return -1;
    if (strcmp(role, "system") == 0) {
        /* Claude Code sends system-role messages between the turns: a canonical system message */
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "role", "system");
        cJSON_AddStringToObject(x, "content", text_of(r, content));
        cJSON_AddItemToArray(out, x);
        return 0;
    }
    if (strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0)
        return -1;
    if (cJSON_IsString(content)) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "role", role);
        cJSON_AddStringToObject(x, "content", content->valuestring);
        cJSON_AddItemToArray(out, x);
        return 0;
    }
    int user = strcmp(role, "user") == 0;
    cJSON *parts = cJSON_CreateArray(), *calls = cJSON_CreateArray();
    dp_buf_t text = {0};
    const cJSON *blk;
    cJSON_ArrayForEach(blk, content)
    {
        const char *bt = str_of(blk, "type");
        if (bt == NULL)
            continue;
        if (strcmp(bt, "text") == 0 && str_of(blk, "text")) {
            if (user) {
                cJSON *p = cJSON_CreateObject();
                cJSON_AddStringToObject(p, "type", "text");
                cJSON_AddStringToObject(p, "text", str_of(blk, "text"));
                cJSON_AddItemToArray(parts, p);
            } else {
                dp_buf_append(&text, str_of(blk, "text"), strlen(str_of(blk, "text")), SIZE_MAX);
            }
        } else if (strcmp(bt, "image") == 0 && user) {
            cJSON *p = image_part(r, blk);
            if (p)
                cJSON_AddItemToArray(parts, p);
        } else if (strcmp(bt, "tool_result") == 0 && user) {
            /* a tool message, before the turn's other content */
            const cJSON *c = cJSON_GetObjectItemCaseSensitive(blk, "content");
            cJSON *t = cJSON_CreateObject();
            cJSON_AddStringToObject(t, "role", "tool");
            cJSON_AddStringToObject(t, "tool_call_id",
                                    str_of(blk, "tool_use_id") ? str_of(blk, "tool_use_id") : "");
            const char *txt = c ? text_of(r, c) : "";
            if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(blk, "is_error"))) {
                size_t n = strlen(txt) + 16;
                char *e = sy_arena_alloc(&r->arena, n);
                if (e)
                    snprintf(e, n, "[error] %s", txt);
                txt = e ? e : txt;
            }
            cJSON_AddStringToObject(t, "content", txt);
            cJSON_AddItemToArray(out, t);
        } else if (strcmp(bt, "tool_use") == 0 && !user) {
            cJSON *tc = cJSON_CreateObject(), *fn = cJSON_CreateObject();
            cJSON_AddStringToObject(tc, "id", str_of(blk, "id") ? str_of(blk, "id") : "");
            cJSON_AddStringToObject(tc, "type", "function");
            cJSON_AddStringToObject(fn, "name", str_of(blk, "name") ? str_of(blk, "name") : "");
            const cJSON *input = cJSON_GetObjectItemCaseSensitive(blk, "input");
            char *args = input ? cJSON_PrintUnformatted(input) : NULL;
            cJSON_AddStringToObject(fn, "arguments", args ? args : "{}");
            cJSON_AddItemToObject(tc, "function", fn);
            cJSON_AddItemToArray(calls, tc);
        }
        /* thinking, redacted_thinking, document, server tool blocks: no canonical form */
    }
    if (user && cJSON_GetArraySize(parts) > 0) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "role", "user");
        cJSON_AddItemToObject(x, "content", parts);
        cJSON_AddItemToArray(out, x);
        parts = NULL;
    } else if (!user && (text.len > 0 || cJSON_GetArraySize(calls) > 0)) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "role", "assistant");
        if (text.len > 0) {
            char *s = sy_arena_alloc(&r->arena, text.len + 1);
            if (s) {
                memcpy(s, text.base, text.len);
                s[text.len] = '\0';
            }
            cJSON_AddStringToObject(x, "content", s ? s : "");
        } else {
            cJSON_AddNullToObject(x, "content");
        }
        if (cJSON_GetArraySize(calls) > 0) {
            cJSON_AddItemToObject(x, "tool_calls", calls);
            calls = NULL;
        }
        cJSON_AddItemToArray(out, x);
    }
    cJSON_Delete(parts);
    cJSON_Delete(calls);
    dp_buf_free(&text);
    return 0;
}

static cJSON *translate_tools(const cJSON *tools)
{
    cJSON *out = cJSON_CreateArray();
    const cJSON *t;
    cJSON_ArrayForEach(t, tools)
    {
        const char *name = str_of(t, "name");
        if (name == NULL)
            continue; /* server tools (web_search …) have a type and no schema: not forwarded */
        cJSON *x = cJSON_CreateObject(), *fn = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "type", "function");
        cJSON_AddStringToObject(fn, "name", name);
        if (str_of(t, "description"))
            cJSON_AddStringToObject(fn, "description", str_of(t, "description"));
        const cJSON *schema = cJSON_GetObjectItemCaseSensitive(t, "input_schema");
        cJSON_AddItemToObject(fn, "parameters",
                              cJSON_IsObject(schema) ? cJSON_Duplicate(schema, 1) : cJSON_CreateObject());
        cJSON_AddItemToObject(x, "function", fn);
        cJSON_AddItemToArray(out, x);
    }
    return out;
}

static sy_err_t anth_parse(dp_req_t *r, char *msg, size_t msglen, const char **param)
{
    h2o_iovec_t body = r->body_src;
    *param = NULL;
    if (body.len > r->snap->limits.max_body_bytes) {
        snprintf(msg, msglen, "request body is larger than %u bytes", r->snap->limits.max_body_bytes);
        return SY_E_REQUEST_TOO_LARGE;
    }
    if (body.base == NULL || body.len == 0 ||
        sy_json_precheck(body.base, body.len, r->snap->limits.max_json_depth, NULL) != SY_JSON_OK) {
        snprintf(msg, msglen, "the request body must be a JSON object (valid UTF-8, nesting within limits)");
        return SY_E_BAD_JSON;
    }
    sy_err_t e = SY_E_OK;
    sy_json_arena_begin(&r->arena);
    cJSON *in = cJSON_ParseWithLength(body.base, body.len);
    const cJSON *v;
    cJSON *c = cJSON_CreateObject();
    if (!cJSON_IsObject(in)) {
        snprintf(msg, msglen, "the request body must be a JSON object");
        e = SY_E_BAD_JSON;
        goto out;
    }
    const char *dup = sy_json_duplicate_key(in); /* one value per field (dp_body.c) */
    if (dup != NULL) {
        snprintf(msg, msglen, "duplicate field '%.64s' in a JSON object", dup);
        e = SY_E_BAD_JSON;
        goto out;
    }
    const char *model = str_of(in, "model");
    const cJSON *messages = cJSON_GetObjectItemCaseSensitive(in, "messages");
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(in, "max_tokens");
    if (model == NULL) {
        e = bad(msg, msglen, param, "model", "model: Field required");
        goto out;
    }
    if (!cJSON_IsArray(messages)) {
        e = bad(msg, msglen, param, "messages", "messages: Field required");
        goto out;
    }
    if (mt == NULL && !r->count_only) {
        e = bad(msg, msglen, param, "max_tokens", "max_tokens: Field required");
        goto out;
    }
    if (mt != NULL && (!cJSON_IsNumber(mt) || mt->valuedouble < 1 || mt->valuedouble > 1e9 ||
                       mt->valuedouble != (double)(int64_t)mt->valuedouble)) {
        e = bad(msg, msglen, param, "max_tokens", "max_tokens: Input should be a positive integer");
        goto out;
    }
    cJSON_AddStringToObject(c, "model", model);
    cJSON *msgs = cJSON_AddArrayToObject(c, "messages");
    const cJSON *sys = cJSON_GetObjectItemCaseSensitive(in, "system");
    if (cJSON_IsString(sys) || cJSON_IsArray(sys)) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "role", "system");
        cJSON_AddStringToObject(x, "content", text_of(r, sys));
        cJSON_AddItemToArray(msgs, x);
    } else if (sys != NULL) {
        e = bad(msg, msglen, param, "system", "system: Input should be a string or a list of text blocks");
        goto out;
    }
    const cJSON *m;
    int i = 0;
    cJSON_ArrayForEach(m, messages)
    {
        if (add_message(r, msgs, m) != 0) {
            snprintf(
                msg, msglen,
                "messages.%d: a message needs role user, assistant or system and string or block content", i);
            *param = "messages";
            e = SY_E_BAD_PARAM;
            goto out;
        }
        i++;
    }
    if (i == 0) {
        e = bad(msg, msglen, param, "messages", "messages: at least one message is required");
        goto out;
    }
    if (mt != NULL)
        cJSON_AddNumberToObject(c, "max_tokens", mt->valuedouble);
    static const char *const same[] = {"temperature", "top_p", "metadata", "route", "models"};
    for (size_t k = 0; k < sizeof(same) / sizeof(same[0]); k++)
        if ((v = cJSON_GetObjectItemCaseSensitive(in, same[k])) != NULL)
            cJSON_AddItemToObject(c, same[k], cJSON_Duplicate(v, 1));
    if ((v = cJSON_GetObjectItemCaseSensitive(in, "stop_sequences")) != NULL && cJSON_GetArraySize(v) > 0)
        cJSON_AddItemToObject(c, "stop", cJSON_Duplicate(v, 1));
    const char *user = str_of(cJSON_GetObjectItemCaseSensitive(in, "metadata"), "user_id");
    if (user != NULL)
        cJSON_AddStringToObject(c, "user", user);
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(in, "stream"))) {
        cJSON_AddTrueToObject(c, "stream");
        cJSON *so = cJSON_AddObjectToObject(c, "stream_options");
        cJSON_AddTrueToObject(so, "include_usage"); /* Anthropic clients always get usage */
    }
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(in, "tools");
    if (cJSON_IsArray(tools) && cJSON_GetArraySize(tools) > 0) {
        cJSON *t = translate_tools(tools);
        if (cJSON_GetArraySize(t) > 0)
            cJSON_AddItemToObject(c, "tools", t);
        else
            cJSON_Delete(t);
    }
    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(in, "tool_choice");
    const char *tct = str_of(tc, "type");
    if (tct != NULL && cJSON_HasObjectItem(c, "tools")) {
        if (strcmp(tct, "any") == 0)
            cJSON_AddStringToObject(c, "tool_choice", "required");
        else if (strcmp(tct, "none") == 0)
            cJSON_AddStringToObject(c, "tool_choice", "none");
        else if (strcmp(tct, "tool") == 0 && str_of(tc, "name")) {
            cJSON *x = cJSON_AddObjectToObject(c, "tool_choice");
            cJSON_AddStringToObject(x, "type", "function");
            cJSON *fn = cJSON_AddObjectToObject(x, "function");
            cJSON_AddStringToObject(fn, "name", str_of(tc, "name"));
        } else
            cJSON_AddStringToObject(c, "tool_choice", "auto");
    }
    char *s = cJSON_PrintUnformatted(c);
    if (s == NULL) {
        snprintf(msg, msglen, "out of memory");
        e = SY_E_INTERNAL;
        goto out;
    }
    r->body_src = h2o_iovec_init(s, strlen(s)); /* arena */
out:
    sy_json_arena_end();
    return e;
}

/* ---- answers ---- */

typedef struct {
    uint8_t started; /* message_start written */
    uint8_t open;    /* a content block is open */
    uint8_t open_tool;
    uint8_t stop;  /* dp_finish_t seen */
    int32_t block; /* the open (or last) block's index */
    int32_t tool;  /* the open tool block's tool index */
} anth_in_state_t;
_Static_assert(sizeof(anth_in_state_t) <= sizeof(((dp_req_t *)0)->in_state), "inbound state too big");

static int put(dp_buf_t *out, const char *p, size_t n)
{
    return dp_buf_append(out, p, n, SIZE_MAX);
}

/* "event: NAME\ndata: JSON\n\n" */
static int emit(dp_buf_t *out, const char *name, const char *json, size_t len)
{
    return put(out, "event: ", 7) || put(out, name, strlen(name)) || put(out, "\ndata: ", 7) ||
                   put(out, json, len) || put(out, "\n\n", 2)
               ? -1
               : 0;
}

static int emit_obj(dp_req_t *r, dp_buf_t *out, const char *name, cJSON *o)
{
    (void)r;
    char *s = cJSON_PrintUnformatted(o);
    return s == NULL ? -1 : emit(out, name, s, strlen(s));
}

static const char *stop_reason(dp_finish_t f)
{
    switch (f) {
    case DP_FINISH_LENGTH:
        return "max_tokens";
    case DP_FINISH_TOOL_CALLS:
        return "tool_use";
    case DP_FINISH_CONTENT_FILTER:
        return "refusal";
    default:
        return "end_turn";
    }
}

static const char *message_id(dp_req_t *r)
{
    char *s = sy_arena_alloc(&r->arena, sizeof("msg_") + DP_REQUEST_ID_MAX);
    if (s == NULL)
        return r->id;
    snprintf(s, sizeof("msg_") + DP_REQUEST_ID_MAX, "msg_%s", r->id);
    return s;
}

static void usage_fields(dp_req_t *r, cJSON *u, const dp_usage_t *x)
{
    int64_t in = x->have ? x->prompt_tokens - x->cache_read_tokens - x->cache_write_tokens
                         : (int64_t)(r->up_body_len + 3) / 4;
    cJSON_AddNumberToObject(u, "input_tokens", (double)(in > 0 ? in : 0));
    cJSON_AddNumberToObject(u, "cache_creation_input_tokens", (double)x->cache_write_tokens);
    cJSON_AddNumberToObject(u, "cache_read_input_tokens", (double)x->cache_read_tokens);
    cJSON_AddNumberToObject(u, "output_tokens", (double)x->completion_tokens);
}

static int close_block(dp_req_t *r, anth_in_state_t *st, dp_buf_t *out)
{
    if (!st->open)
        return 0;
    st->open = 0;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "content_block_stop");
    cJSON_AddNumberToObject(o, "index", st->block);
    return emit_obj(r, out, "content_block_stop", o);
}

static int open_block(dp_req_t *r, anth_in_state_t *st, dp_buf_t *out, cJSON *blk)
{
    if (close_block(r, st, out) != 0)
        return -1;
    st->block = st->started > 1 ? st->block + 1 : 0;
    st->started = 2; /* a block has been opened: the next one is block + 1 */
    st->open = 1;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "content_block_start");
    cJSON_AddNumberToObject(o, "index", st->block);
    cJSON_AddItemToObject(o, "content_block", blk);
    return emit_obj(r, out, "content_block_start", o);
}

static int delta(dp_req_t *r, anth_in_state_t *st, dp_buf_t *out, const char *type, const char *field,
                 const char *text)
{
    cJSON *o = cJSON_CreateObject(), *d = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "content_block_delta");
    cJSON_AddNumberToObject(o, "index", st->block);
    cJSON_AddStringToObject(d, "type", type);
    cJSON_AddStringToObject(d, field, text);
    cJSON_AddItemToObject(o, "delta", d);
    return emit_obj(r, out, "content_block_delta", o);
}

static int write_translated(dp_req_t *r, const dp_event_t *ev, dp_buf_t *out)
{
    anth_in_state_t *st = (anth_in_state_t *)r->in_state;
    int rc = 0;
    if (!st->started) {
        cJSON *o = cJSON_CreateObject(), *m = cJSON_CreateObject(), *u = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "type", "message_start");
        cJSON_AddStringToObject(m, "id", message_id(r));
        cJSON_AddStringToObject(m, "type", "message");
        cJSON_AddStringToObject(m, "role", "assistant");
        cJSON_AddStringToObject(m, "model", r->model->id);
        cJSON_AddArrayToObject(m, "content");
        cJSON_AddNullToObject(m, "stop_reason");
        cJSON_AddNullToObject(m, "stop_sequence");
        usage_fields(r, u, &r->usage);
        cJSON_AddItemToObject(m, "usage", u);
        cJSON_AddItemToObject(o, "message", m);
        rc = emit_obj(r, out, "message_start", o);
        st->started = 1;
    }
    for (size_t i = 0; rc == 0 && i < ev->nparts; i++) {
        const dp_part_t *p = &ev->parts[i];
        if (p->kind == DP_PART_TEXT) {
            if (!st->open || st->open_tool) {
                cJSON *b = cJSON_CreateObject();
                cJSON_AddStringToObject(b, "type", "text");
                cJSON_AddStringToObject(b, "text", "");
                st->open_tool = 0;
                rc = open_block(r, st, out, b);
            }
            if (rc == 0)
                rc = delta(r, st, out, "text_delta", "text", p->text ? p->text : "");
        } else if (p->kind == DP_PART_TOOL_START) {
            cJSON *b = cJSON_CreateObject();
            cJSON_AddStringToObject(b, "type", "tool_use");
            cJSON_AddStringToObject(b, "id", p->id ? p->id : "");
            cJSON_AddStringToObject(b, "name", p->name ? p->name : "");
            cJSON_AddObjectToObject(b, "input");
            rc = open_block(r, st, out, b);
            st->open_tool = 1;
            st->tool = p->index;
        } else if (p->kind == DP_PART_TOOL_ARGS && st->open && st->open_tool && st->tool == p->index) {
            rc = delta(r, st, out, "input_json_delta", "partial_json", p->text ? p->text : "");
        }
        /* THINKING from a non-Anthropic model: not relayed (no signature to send back) */
    }
    if (ev->error && rc == 0) {
        cJSON *o = cJSON_CreateObject(), *e = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "type", "error");
        cJSON_AddStringToObject(e, "type", "api_error");
        cJSON_AddStringToObject(e, "message", ev->error_msg ? ev->error_msg : "upstream error");
        cJSON_AddItemToObject(o, "error", e);
        rc = emit_obj(r, out, "error", o);
    }
    if (ev->finish != DP_FINISH_NONE)
        st->stop = (uint8_t)ev->finish;
    if (ev->end && rc == 0) {
        /* the provider's usage is complete by its end marker (OpenAI's usage chunk precedes [DONE]) */
        rc = close_block(r, st, out);
        cJSON *o = cJSON_CreateObject(), *d = cJSON_CreateObject(), *u = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "type", "message_delta");
        cJSON_AddStringToObject(d, "stop_reason",
                                stop_reason((dp_finish_t)(st->stop ? st->stop : DP_FINISH_STOP)));
        cJSON_AddNullToObject(d, "stop_sequence");
        cJSON_AddItemToObject(o, "delta", d);
        usage_fields(r, u, &r->usage);
        cJSON_AddItemToObject(o, "usage", u);
        if (rc == 0)
            rc = emit_obj(r, out, "message_delta", o);
        static const char stop[] = "{\"type\":\"message_stop\"}";
        if (rc == 0)
            rc = emit(out, "message_stop", stop, sizeof(stop) - 1);
    }
    return rc;
}

static int anth_stream_write(dp_req_t *r, const dp_upstream_ops_t *up, const dp_event_t *ev, dp_buf_t *out)
{
    if (up == &dp_anthropic_upstream && ev->raw != NULL)
        return emit(out, ev->raw_name ? ev->raw_name : "message", ev->raw, ev->raw_len); /* its own events */
    sy_json_arena_begin(&r->arena);
    int rc = write_translated(r, ev, out);
    sy_json_arena_end();
    return rc;
}

static char *anth_error_json(sy_err_t e, const char *msg, const char *param)
{
    (void)param;
    cJSON *o = cJSON_CreateObject(), *err = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "error");
    cJSON_AddStringToObject(err, "type", sy_err_anthropic_type(e));
    cJSON_AddStringToObject(err, "message", msg ? msg : sy_strerror(e));
    cJSON_AddItemToObject(o, "error", err);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

static int anth_stream_error(dp_req_t *r, sy_err_t e, const char *msg, dp_buf_t *out)
{
    (void)r;
    char *j = anth_error_json(e, msg, NULL);
    if (j == NULL)
        return -1;
    int rc = emit(out, "error", j, strlen(j));
    free(j);
    return rc;
}

static int anth_answer_write(dp_req_t *r, const dp_upstream_ops_t *up, const dp_event_t *ev, const char **out,
                             size_t *out_len)
{
    if (up == &dp_anthropic_upstream && ev->raw != NULL) {
        *out = ev->raw; /* its own message */
        *out_len = ev->raw_len;
        return 0;
    }
    sy_json_arena_begin(&r->arena);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", message_id(r));
    cJSON_AddStringToObject(o, "type", "message");
    cJSON_AddStringToObject(o, "role", "assistant");
    cJSON_AddStringToObject(o, "model", r->model->id);
    cJSON *content = cJSON_AddArrayToObject(o, "content");
    cJSON *tool = NULL;
    for (size_t i = 0; i < ev->nparts; i++) {
        const dp_part_t *p = &ev->parts[i];
        if (p->kind == DP_PART_TEXT && p->text && p->text[0]) {
            cJSON *b = cJSON_CreateObject();
            cJSON_AddStringToObject(b, "type", "text");
            cJSON_AddStringToObject(b, "text", p->text);
            cJSON_AddItemToArray(content, b);
        } else if (p->kind == DP_PART_TOOL_START) {
            tool = cJSON_CreateObject();
            cJSON_AddStringToObject(tool, "type", "tool_use");
            cJSON_AddStringToObject(tool, "id", p->id ? p->id : "");
            cJSON_AddStringToObject(tool, "name", p->name ? p->name : "");
            cJSON_AddObjectToObject(tool, "input");
            cJSON_AddItemToArray(content, tool);
        } else if (p->kind == DP_PART_TOOL_ARGS && tool != NULL) {
            cJSON *input = cJSON_Parse(p->text ? p->text : "{}");
            if (cJSON_IsObject(input))
                cJSON_ReplaceItemInObjectCaseSensitive(tool, "input", input);
        }
    }
    cJSON_AddStringToObject(o, "stop_reason", stop_reason(ev->finish));
    cJSON_AddNullToObject(o, "stop_sequence");
    cJSON *u = cJSON_AddObjectToObject(o, "usage");
    usage_fields(r, u, &ev->usage);
    char *s = cJSON_PrintUnformatted(o);
    sy_json_arena_end();
    if (s == NULL)
        return -1;
    *out = s; /* arena */
    *out_len = strlen(s);
    return 0;
}

const dp_inbound_ops_t dp_anthropic_inbound = {
    .name = "messages",
    .parse = anth_parse,
    .error_json = anth_error_json,
    .stream_write = anth_stream_write,
    .stream_error = anth_stream_error,
    .answer_write = anth_answer_write,
};
