/*
 * The Anthropic dialect, upstream side (dp_provider.h): the Messages API
 * (POST {base_url}/messages, `x-api-key`, `anthropic-version: 2023-06-01`).
 *
 * Request (stage 6): the client's OpenAI chat request, translated (docs/providers.md has the
 * rules and what is lost):
 *   - system and developer messages are lifted into `system` (their text, joined by blank
 *     lines);
 *   - user/assistant content becomes content blocks: text, images (`image_url`: a data: URL
 *     becomes a base64 source, any other URL a url source); an assistant's `tool_calls`
 *     become `tool_use` blocks (arguments parsed into `input`); `tool` messages become
 *     `tool_result` blocks in a user turn; consecutive turns of one role are merged (the API
 *     wants them alternating);
 *   - `max_tokens` is required there: the request's `max_tokens` / `max_completion_tokens`,
 *     else limits.reserve_output_tokens (default 4096);
 *   - `temperature` (clamped to Anthropic's 0..1), `top_p`, `stop` → `stop_sequences`,
 *     `stream`, `tools` (function → name/description/input_schema), `tool_choice` (auto,
 *     none, required → any, a named function → tool), `user` → metadata.user_id.
 *   Everything else (n, logprobs, presence/frequency penalties, response_format, seed) is
 *   dropped.
 *
 * Answer (stage 8): SSE events message_start (input and cache token counts),
 * content_block_start/delta/stop (text, tool_use with input_json_delta, thinking), ping,
 * message_delta (stop_reason, output token count), message_stop, error — or a whole message.
 * Tokens: prompt = input + cache-creation + cache-read tokens (OpenAI's convention: the prompt
 * count includes cached tokens), with the cache counts kept apart.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dp.h"
#include "dp_provider.h"

/* What the stream reader keeps between events (r->up_state). */
typedef struct {
    int32_t next_tool;     /* tool-call index the next tool_use block gets */
    int8_t block_tool[32]; /* content block index -> tool index + 1 (0: not a tool block) */
} anth_state_t;
_Static_assert(sizeof(anth_state_t) <= DP_UPSTREAM_STATE_BYTES, "dialect state too big");

#define ANTHROPIC_DEFAULT_MAX_TOKENS 4096

/* ---- request ---- */

/* A message's content as text (a string, or the text parts of an array), for `system`. */
static void append_text(dp_buf_t *b, const cJSON *content)
{
    if (cJSON_IsString(content)) {
        dp_buf_append(b, content->valuestring, strlen(content->valuestring), SIZE_MAX);
        return;
    }
    const cJSON *p;
    cJSON_ArrayForEach(p, content)
    {
        const char *t = dp_json_str(p, "text");
        if (t != NULL)
            dp_buf_append(b, t, strlen(t), SIZE_MAX);
    }
}

static cJSON *image_block(const cJSON *part)
{
    const cJSON *iu = cJSON_GetObjectItemCaseSensitive(part, "image_url");
    const char *url = cJSON_IsString(iu) ? iu->valuestring : dp_json_str(iu, "url");
    if (url == NULL)
        return NULL;
    cJSON *b = cJSON_CreateObject(), *src = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "type", "image");
    cJSON_AddItemToObject(b, "source", src);
    const char *comma = strchr(url, ',');
    if (strncmp(url, "data:", 5) == 0 && comma != NULL && comma - url > 12 &&
        memcmp(comma - 7, ";base64", 7) == 0) {
        char media[64];
        snprintf(media, sizeof(media), "%.*s", (int)(comma - 7 - (url + 5)), url + 5);
        cJSON_AddStringToObject(src, "type", "base64");
        cJSON_AddStringToObject(src, "media_type", media);
        cJSON_AddStringToObject(src, "data", comma + 1);
    } else {
        cJSON_AddStringToObject(src, "type", "url");
        cJSON_AddStringToObject(src, "url", url);
    }
    return b;
}

/* user or assistant content → an array of blocks */
static void add_content_blocks(cJSON *blocks, const cJSON *content)
{
    if (cJSON_IsString(content)) {
        if (content->valuestring[0] == '\0')
            return; /* the API refuses empty text blocks */
        cJSON *b = cJSON_CreateObject();
        cJSON_AddStringToObject(b, "type", "text");
        cJSON_AddStringToObject(b, "text", content->valuestring);
        cJSON_AddItemToArray(blocks, b);
        return;
    }
    const cJSON *p;
    cJSON_ArrayForEach(p, content)
    {
        const char *type = dp_json_str(p, "type");
        if (type == NULL)
            continue;
        if (strcmp(type, "text") == 0 && dp_json_str(p, "text") && dp_json_str(p, "text")[0]) {
            cJSON *b = cJSON_CreateObject();
            cJSON_AddStringToObject(b, "type", "text");
            cJSON_AddStringToObject(b, "text", dp_json_str(p, "text"));
            cJSON_AddItemToArray(blocks, b);
        } else if (strcmp(type, "image_url") == 0) {
            cJSON *b = image_block(p);
            if (b)
                cJSON_AddItemToArray(blocks, b);
        }
    }
}

/* The turn to add blocks to: the last one when it has this role (turns alternate there). */
static cJSON *turn(cJSON *msgs, const char *role)
{
    cJSON *last = cJSON_GetArrayItem(msgs, cJSON_GetArraySize(msgs) - 1);
    if (last != NULL && strcmp(dp_json_str(last, "role"), role) == 0)
        return cJSON_GetObjectItemCaseSensitive(last, "content");
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", role);
    cJSON *content = cJSON_AddArrayToObject(m, "content");
    cJSON_AddItemToArray(msgs, m);
    return content;
}

static cJSON *translate(dp_req_t *r)
{
    const cJSON *b = r->body;
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "model", r->model->upstream);
    dp_buf_t sys = {0};
    cJSON *msgs = cJSON_CreateArray();
    const cJSON *messages = cJSON_GetObjectItemCaseSensitive(b, "messages"), *m;
    if (r->messages_override != NULL)
        messages = cJSON_Parse(r->messages_override); /* the router stripped an override tag (arena) */
    cJSON_ArrayForEach(m, messages)
    {
        const char *role = dp_json_str(m, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (role == NULL)
            continue;
        if (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0) {
            if (sys.len)
                dp_buf_append(&sys, "\n\n", 2, SIZE_MAX);
            append_text(&sys, content);
        } else if (strcmp(role, "user") == 0) {
            add_content_blocks(turn(msgs, "user"), content);
        } else if (strcmp(role, "assistant") == 0) {
            cJSON *blocks = turn(msgs, "assistant");
            add_content_blocks(blocks, content);
            const cJSON *tc;
            cJSON_ArrayForEach(tc, cJSON_GetObjectItemCaseSensitive(m, "tool_calls"))
            {
                const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tc, "function");
                const char *args = dp_json_str(fn, "arguments");
                cJSON *input = args ? cJSON_Parse(args) : NULL;
                if (!cJSON_IsObject(input))
                    input = cJSON_CreateObject();
                cJSON *blk = cJSON_CreateObject();
                cJSON_AddStringToObject(blk, "type", "tool_use");
                cJSON_AddStringToObject(blk, "id", dp_json_str(tc, "id") ? dp_json_str(tc, "id") : "");
                cJSON_AddStringToObject(blk, "name", dp_json_str(fn, "name") ? dp_json_str(fn, "name") : "");
                cJSON_AddItemToObject(blk, "input", input);
                cJSON_AddItemToArray(blocks, blk);
            }
        } else if (strcmp(role, "tool") == 0) {
            dp_buf_t t = {0};
            append_text(&t, content);
            cJSON *blk = cJSON_CreateObject();
            cJSON_AddStringToObject(blk, "type", "tool_result");
            cJSON_AddStringToObject(blk, "tool_use_id",
                                    dp_json_str(m, "tool_call_id") ? dp_json_str(m, "tool_call_id") : "");
            char *txt = sy_arena_alloc(&r->arena, t.len + 1);
            if (txt) {
                memcpy(txt, t.base ? t.base : "", t.len);
                txt[t.len] = '\0';
                cJSON_AddStringToObject(blk, "content", txt);
            }
            dp_buf_free(&t);
            cJSON_AddItemToArray(turn(msgs, "user"), blk);
        }
    }
    if (sys.len) {
        char *s = sy_arena_alloc(&r->arena, sys.len + 1);
        if (s) {
            memcpy(s, sys.base, sys.len);
            s[sys.len] = '\0';
            cJSON_AddStringToObject(out, "system", s);
        }
    }
    dp_buf_free(&sys);
    cJSON_AddItemToObject(out, "messages", msgs);
    int64_t mt = r->max_tokens > 0
                     ? r->max_tokens
                     : (r->snap->limits.reserve_output_tokens ? r->snap->limits.reserve_output_tokens
                                                              : ANTHROPIC_DEFAULT_MAX_TOKENS);
    cJSON_AddNumberToObject(out, "max_tokens", (double)mt);
    const cJSON *v;
    if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(b, "temperature")))
        cJSON_AddNumberToObject(out, "temperature", v->valuedouble > 1 ? 1 : v->valuedouble);
    if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(b, "top_p")))
        cJSON_AddNumberToObject(out, "top_p", v->valuedouble);
    v = cJSON_GetObjectItemCaseSensitive(b, "stop");
    if (cJSON_IsString(v)) {
        cJSON *a = cJSON_AddArrayToObject(out, "stop_sequences");
        cJSON_AddItemToArray(a, cJSON_CreateString(v->valuestring));
    } else if (cJSON_IsArray(v) && cJSON_GetArraySize(v) > 0) {
        cJSON_AddItemToObject(out, "stop_sequences", cJSON_Duplicate(v, 1));
    }
    if (r->stream)
        cJSON_AddTrueToObject(out, "stream");
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(b, "tools"), *t;
    if (cJSON_IsArray(tools) && cJSON_GetArraySize(tools) > 0) {
        cJSON *a = cJSON_AddArrayToObject(out, "tools");
        cJSON_ArrayForEach(t, tools)
        {
            const cJSON *fn = cJSON_GetObjectItemCaseSensitive(t, "function");
            if (!cJSON_IsObject(fn) || dp_json_str(fn, "name") == NULL)
                continue;
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "name", dp_json_str(fn, "name"));
            if (dp_json_str(fn, "description"))
                cJSON_AddStringToObject(x, "description", dp_json_str(fn, "description"));
            const cJSON *params = cJSON_GetObjectItemCaseSensitive(fn, "parameters");
            cJSON *schema = cJSON_IsObject(params) ? cJSON_Duplicate(params, 1) : cJSON_CreateObject();
            if (!cJSON_HasObjectItem(schema, "type"))
                cJSON_AddStringToObject(schema, "type", "object");
            cJSON_AddItemToObject(x, "input_schema", schema);
            cJSON_AddItemToArray(a, x);
        }
    }
    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(b, "tool_choice");
    if (tc != NULL && cJSON_GetObjectItemCaseSensitive(out, "tools") != NULL) {
        cJSON *x = cJSON_CreateObject();
        if (cJSON_IsString(tc) && strcmp(tc->valuestring, "none") == 0)
            cJSON_AddStringToObject(x, "type", "none");
        else if (cJSON_IsString(tc) && strcmp(tc->valuestring, "required") == 0)
            cJSON_AddStringToObject(x, "type", "any");
        else if (cJSON_IsObject(tc) &&
                 dp_json_str(cJSON_GetObjectItemCaseSensitive(tc, "function"), "name")) {
            cJSON_AddStringToObject(x, "type", "tool");
            cJSON_AddStringToObject(x, "name",
                                    dp_json_str(cJSON_GetObjectItemCaseSensitive(tc, "function"), "name"));
        } else
            cJSON_AddStringToObject(x, "type", "auto");
        cJSON_AddItemToObject(out, "tool_choice", x);
    }
    const char *user = dp_json_str(b, "user");
    if (user != NULL) {
        cJSON *md = cJSON_AddObjectToObject(out, "metadata");
        cJSON_AddStringToObject(md, "user_id", user);
    }
    return out;
}

static int key_is(const sy_json_member_t *m, const char *k)
{
    size_t n = strlen(k);
    return m->key_len == n && memcmp(m->key, k, n) == 0;
}

/* An Anthropic client to an Anthropic provider: the client's own bytes with `model` replaced
 * and Switchyard's extensions (`models`, `route`) removed — thinking, cache_control, documents
 * and betas reach the provider as sent. NULL when the body cannot be spliced. */
static char *splice_own(dp_req_t *r, size_t *out_len)
{
    h2o_iovec_t body = r->req->entity;
    sy_json_member_t mem[DP_MAX_TOP_MEMBERS];
    int n = sy_json_members(body.base, body.len, mem, DP_MAX_TOP_MEMBERS);
    if (n < 0)
        return NULL;
    const char *up = r->model->upstream;
    size_t ul = strlen(up), cap = body.len + ul + 16, k = 0;
    char *b = malloc(cap);
    if (b == NULL)
        return NULL;
    memcpy(b, "{\"model\":\"", 10), k = 10;
    memcpy(b + k, up, ul), k += ul; /* validated at snapshot build: no quotes or escapes */
    b[k++] = '"';
    for (int i = 0; i < n; i++) {
        const sy_json_member_t *m = &mem[i];
        if (key_is(m, "model") || key_is(m, "models") || key_is(m, "route"))
            continue;
        size_t len = (size_t)(m->value + m->value_len - m->start);
        b[k++] = ',';
        memcpy(b + k, m->start, len), k += len;
    }
    b[k++] = '}';
    b[k] = '\0';
    *out_len = k;
    return b;
}

/* The client's anthropic-beta header, for an Anthropic provider (printable, bounded). */
static int beta_header(dp_req_t *r)
{
    ssize_t i = h2o_find_header_by_str(&r->req->headers, H2O_STRLIT("anthropic-beta"), -1);
    if (i < 0)
        return 0;
    h2o_iovec_t v = r->req->headers.entries[i].value;
    if (v.len == 0 || v.len > 512)
        return 0;
    for (size_t j = 0; j < v.len; j++)
        if ((unsigned char)v.base[j] < 0x20 || (unsigned char)v.base[j] > 0x7e)
            return 0;
    return dp_provider_header_add(r, H2O_STRLIT("anthropic-beta"), v.base, v.len);
}

static int anthropic_prepare(dp_req_t *r)
{
    const dp_provider_t *p = r->model->provider;
    if (r->ep != DP_EP_CHAT)
        return -1; /* Anthropic has no embeddings API: the router never picks it for them */
    int own = r->in == &dp_anthropic_inbound && r->messages_override == NULL;
    if (own) {
        r->up_body = splice_own(r, &r->up_body_len);
    } else {
        sy_json_arena_begin(&r->arena);
        cJSON *req = translate(r);
        char *s = req ? cJSON_PrintUnformatted(req) : NULL;
        sy_json_arena_end();
        if (dp_provider_body(r, s) != 0)
            return -1;
    }
    if (r->up_body == NULL)
        return -1;
    r->up_url = p->chat_url;
    if (dp_provider_headers(r) != 0)
        return -1;
    return own ? beta_header(r) : 0;
}

/* ---- answers ---- */

/* usage {input_tokens, output_tokens, cache_creation_input_tokens, cache_read_input_tokens};
 * merged into what the request knows so far (message_start has the input side, message_delta
 * the output count). */
static void take_usage(dp_req_t *r, const cJSON *u, dp_event_t *ev)
{
    if (!cJSON_IsObject(u))
        return;
    if (!dp_usage_sane(u)) {
        ev->usage_invalid = 1;
        return;
    }
    dp_usage_t x = r->usage;
    if (cJSON_HasObjectItem(u, "input_tokens") || cJSON_HasObjectItem(u, "cache_read_input_tokens")) {
        x.cache_write_tokens = dp_json_count(u, "cache_creation_input_tokens");
        x.cache_read_tokens = dp_json_count(u, "cache_read_input_tokens");
        x.prompt_tokens = dp_json_count(u, "input_tokens") + x.cache_write_tokens + x.cache_read_tokens;
    }
    if (cJSON_HasObjectItem(u, "output_tokens"))
        x.completion_tokens = dp_json_count(u, "output_tokens");
    x.have = 1;
    ev->usage = x;
    ev->has_usage = 1;
}

static dp_finish_t finish_of(const char *s)
{
    if (s == NULL)
        return DP_FINISH_NONE;
    if (strcmp(s, "max_tokens") == 0)
        return DP_FINISH_LENGTH;
    if (strcmp(s, "tool_use") == 0)
        return DP_FINISH_TOOL_CALLS;
    if (strcmp(s, "refusal") == 0)
        return DP_FINISH_CONTENT_FILTER;
    return DP_FINISH_STOP; /* end_turn, stop_sequence, pause_turn */
}

static int anthropic_stream_event(dp_req_t *r, const char *d, size_t dl, dp_event_t *ev)
{
    anth_state_t *st = (anth_state_t *)r->up_state;
    if (dl < 2 || d[0] != '{' || sy_json_precheck(d, dl, 64, NULL) != SY_JSON_OK)
        return -1;
    ev->raw = d; /* an Anthropic client gets the provider's own event */
    ev->raw_len = dl;
    /* every event is read: they are small, and none is relayed as it is to an OpenAI client */
    cJSON *o =
        cJSON_ParseWithLength(d, dl); /* malloc'ed: deleted below; kept strings are copied to the arena */
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return -1;
    }
    int rc = 0;
    const char *type = dp_json_str(o, "type");
    if (type != NULL) {
        char *name = sy_arena_alloc(&r->arena, strlen(type) + 1);
        ev->raw_name =
            name && strlen(type) < 64 && strspn(type, "abcdefghijklmnopqrstuvwxyz_") == strlen(type)
                ? strcpy(name, type)
                : "message";
    }
    if (type == NULL) {
        rc = -1;
    } else if (strcmp(type, "message_start") == 0) {
        take_usage(
            r, cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "message"), "usage"), ev);
    } else if (strcmp(type, "content_block_start") == 0) {
        const cJSON *blk = cJSON_GetObjectItemCaseSensitive(o, "content_block");
        int bi = (int)dp_json_count(o, "index");
        const char *bt = dp_json_str(blk, "type");
        if (bt != NULL && strcmp(bt, "tool_use") == 0 && bi >= 0 && bi < 32 && st->next_tool < 127) {
            int ti = st->next_tool++;
            st->block_tool[bi] = (int8_t)(ti + 1);
            char *id =
                sy_arena_alloc(&r->arena, strlen(dp_json_str(blk, "id") ? dp_json_str(blk, "id") : "") + 1);
            char *name = sy_arena_alloc(&r->arena,
                                        strlen(dp_json_str(blk, "name") ? dp_json_str(blk, "name") : "") + 1);
            if (id == NULL || name == NULL || dp_event_part(ev, DP_PART_TOOL_START, ti, NULL) != 0) {
                rc = -1;
            } else {
                strcpy(id, dp_json_str(blk, "id") ? dp_json_str(blk, "id") : "");
                strcpy(name, dp_json_str(blk, "name") ? dp_json_str(blk, "name") : "");
                ev->parts[ev->nparts - 1].id = id;
                ev->parts[ev->nparts - 1].name = name;
                ev->content = 1;
            }
        }
    } else if (strcmp(type, "content_block_delta") == 0) {
        const cJSON *delta = cJSON_GetObjectItemCaseSensitive(o, "delta");
        const char *dt = dp_json_str(delta, "type");
        int bi = (int)dp_json_count(o, "index");
        const char *field = NULL;
        dp_part_kind_t kind = DP_PART_TEXT;
        int ti = 0;
        if (dt && strcmp(dt, "text_delta") == 0) {
            field = "text";
        } else if (dt && strcmp(dt, "input_json_delta") == 0 && bi >= 0 && bi < 32 && st->block_tool[bi]) {
            field = "partial_json";
            kind = DP_PART_TOOL_ARGS;
            ti = st->block_tool[bi] - 1;
        } else if (dt && strcmp(dt, "thinking_delta") == 0) {
            field = "thinking";
            kind = DP_PART_THINKING;
        }
        const char *text = field ? dp_json_str(delta, field) : NULL;
        if (text != NULL && text[0] != '\0') {
            char *copy = sy_arena_alloc(&r->arena, strlen(text) + 1);
            if (copy == NULL || dp_event_part(ev, kind, ti, strcpy(copy, text)) != 0)
                rc = -1;
            ev->content = 1;
        }
    } else if (strcmp(type, "message_delta") == 0) {
        ev->finish = finish_of(dp_json_str(cJSON_GetObjectItemCaseSensitive(o, "delta"), "stop_reason"));
        take_usage(r, cJSON_GetObjectItemCaseSensitive(o, "usage"), ev);
        ev->content = ev->finish != DP_FINISH_NONE;
    } else if (strcmp(type, "message_stop") == 0) {
        ev->end = 1;
    } else if (strcmp(type, "error") == 0) {
        const char *msg = dp_json_str(cJSON_GetObjectItemCaseSensitive(o, "error"), "message");
        char *copy = sy_arena_alloc(&r->arena, strlen(msg ? msg : "upstream error") + 1);
        ev->error = 1;
        ev->content = 1;
        ev->error_msg = copy ? strcpy(copy, msg ? msg : "upstream error") : "upstream error";
    }
    /* ping, content_block_stop and unknown (future) event types carry nothing for the client */
    cJSON_Delete(o);
    return rc;
}

static int anthropic_answer(dp_req_t *r, const char *body, size_t len, dp_event_t *ev)
{
    if (len < 2 || sy_json_precheck(body, len, 128, NULL) != SY_JSON_OK)
        return -1;
    cJSON *o = cJSON_ParseWithLength(body, len);
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(o, "content"), *blk;
    if (!cJSON_IsObject(o) || !cJSON_IsArray(content)) {
        cJSON_Delete(o);
        return -1;
    }
    int rc = 0, tool = 0;
    ev->raw = body;
    ev->raw_len = len;
    ev->end = 1;
    ev->content = 1;
    /* one TEXT part with all the text; a TOOL_START + TOOL_ARGS pair per tool_use block */
    dp_buf_t text = {0};
    cJSON_ArrayForEach(blk, content)
    {
        const char *bt = dp_json_str(blk, "type");
        if (bt && strcmp(bt, "text") == 0 && dp_json_str(blk, "text"))
            dp_buf_append(&text, dp_json_str(blk, "text"), strlen(dp_json_str(blk, "text")),
                          DP_MAX_RESPONSE_BYTES);
    }
    if (text.len) {
        char *t = sy_arena_alloc(&r->arena, text.len + 1);
        if (t == NULL ||
            dp_event_part(ev, DP_PART_TEXT, 0, (memcpy(t, text.base, text.len), t[text.len] = '\0', t)) != 0)
            rc = -1;
    }
    dp_buf_free(&text);
    cJSON_ArrayForEach(blk, content)
    {
        const char *bt = dp_json_str(blk, "type");
        if (rc != 0 || bt == NULL || strcmp(bt, "tool_use") != 0)
            continue;
        char *args = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(blk, "input"));
        const char *id = dp_json_str(blk, "id") ? dp_json_str(blk, "id") : "",
                   *name = dp_json_str(blk, "name") ? dp_json_str(blk, "name") : "";
        char *cid = sy_arena_alloc(&r->arena, strlen(id) + 1),
             *cname = sy_arena_alloc(&r->arena, strlen(name) + 1);
        char *cargs = args ? sy_arena_alloc(&r->arena, strlen(args) + 1) : NULL;
        if (cid == NULL || cname == NULL || cargs == NULL ||
            dp_event_part(ev, DP_PART_TOOL_START, tool, NULL) != 0) {
            rc = -1;
        } else {
            ev->parts[ev->nparts - 1].id = strcpy(cid, id);
            ev->parts[ev->nparts - 1].name = strcpy(cname, name);
            if (dp_event_part(ev, DP_PART_TOOL_ARGS, tool, strcpy(cargs, args)) != 0)
                rc = -1;
            tool++;
        }
        free(args);
    }
    ev->finish = finish_of(dp_json_str(o, "stop_reason"));
    if (ev->finish == DP_FINISH_NONE)
        ev->finish = DP_FINISH_STOP;
    take_usage(r, cJSON_GetObjectItemCaseSensitive(o, "usage"), ev);
    cJSON_Delete(o);
    return rc;
}

/* {"type":"error","error":{"type":…,"message":…}} */
static void anthropic_error_message(const char *body, size_t len, char *msg, size_t cap)
{
    cJSON *o = cJSON_ParseWithLength(body, len);
    const char *m = dp_json_str(cJSON_GetObjectItemCaseSensitive(o, "error"), "message");
    snprintf(msg, cap, "%s", m ? m : "no message");
    cJSON_Delete(o);
}

static const char *const anthropic_headers[] = {"anthropic-version: 2023-06-01", NULL};

const dp_upstream_ops_t dp_anthropic_upstream = {
    .kind = "anthropic",
    .chat_path = "/messages",
    .embeddings_path = NULL,
    .auth_header = "x-api-key: %s",
    .fixed_headers = anthropic_headers,
    .prepare = anthropic_prepare,
    .stream_event = anthropic_stream_event,
    .answer = anthropic_answer,
    .error_message = anthropic_error_message,
};
