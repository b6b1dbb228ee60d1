/*
 * Stage 4: read the body. One linear pre-check (UTF-8, nesting depth), one cJSON parse, then
 * the checks that must hold before anything goes upstream: required fields, types, ranges,
 * and no control bytes in anything that may reach a header or URL. Errors name the field in
 * `param`, as OpenAI does.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "dp.h"
#include "sy_json.h"

#define MAX_MODEL_NAME 256
#define MAX_FALLBACKS (DP_MAX_CANDIDATES - 1)

static sy_err_t bad(char *msg, size_t msglen, const char **param, const char *p, const char *fmt,
                    const char *a)
{
    snprintf(msg, msglen, fmt, a);
    *param = p;
    return SY_E_BAD_PARAM;
}

static int is_model_name(const cJSON *v)
{
    if (!cJSON_IsString(v))
        return 0;
    size_t n = strlen(v->valuestring);
    return n > 0 && n <= MAX_MODEL_NAME && !sy_has_ctl(v->valuestring, n);
}

/* A number in [lo, hi] when present (v: the member's value, NULL when absent). */
static int range_ok(const cJSON *v, double lo, double hi)
{
    if (v == NULL || cJSON_IsNull(v))
        return 1;
    return cJSON_IsNumber(v) && isfinite(v->valuedouble) && v->valuedouble >= lo && v->valuedouble <= hi;
}

static int int_ok(const cJSON *v, double lo, double hi)
{
    if (v == NULL || cJSON_IsNull(v))
        return 1;
    return cJSON_IsNumber(v) && v->valuedouble >= lo && v->valuedouble <= hi &&
           floor(v->valuedouble) == v->valuedouble;
}

static int type_ok(const cJSON *v, int (*is)(const cJSON *))
{
    return v == NULL || cJSON_IsNull(v) || is(v);
}

static int is_bool(const cJSON *v)
{
    return cJSON_IsBool(v);
}
static int is_object(const cJSON *v)
{
    return cJSON_IsObject(v);
}
static int is_array(const cJSON *v)
{
    return cJSON_IsArray(v);
}
static int is_string_or_object(const cJSON *v)
{
    return cJSON_IsString(v) || cJSON_IsObject(v);
}
static int is_string_or_array(const cJSON *v)
{
    return cJSON_IsString(v) || cJSON_IsArray(v);
}

static sy_err_t check_messages(const cJSON *msgs, char *msg, size_t msglen, const char **param)
{
    if (msgs == NULL)
        return bad(msg, msglen, param, "messages", "%s", "'messages' is a required property");
    if (!cJSON_IsArray(msgs) || cJSON_GetArraySize(msgs) == 0)
        return bad(msg, msglen, param, "messages", "%s", "'messages' must be a non-empty array");
    static const char *const roles[] = {"system", "user", "assistant", "tool", "developer", "function", NULL};
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs)
    {
        if (!cJSON_IsObject(m))
            return bad(msg, msglen, param, "messages", "%s", "each message must be an object");
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        int known = 0;
        for (const char *const *r = roles; cJSON_IsString(role) && *r; r++)
            known |= strcmp(role->valuestring, *r) == 0;
        if (!known)
            return bad(msg, msglen, param, "messages.role", "%s",
                       "each message needs a 'role' of system, developer, user, assistant or tool");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (content != NULL && !cJSON_IsNull(content) && !cJSON_IsString(content) && !cJSON_IsArray(content))
            return bad(msg, msglen, param, "messages.content", "%s",
                       "'content' must be a string or an array of parts");
        /* as OpenAI: only an assistant turn that calls tools may go without content */
        int calls = strcmp(role->valuestring, "assistant") == 0 &&
                    (cJSON_GetObjectItemCaseSensitive(m, "tool_calls") != NULL ||
                     cJSON_GetObjectItemCaseSensitive(m, "function_call") != NULL);
        if ((content == NULL || cJSON_IsNull(content)) && !calls)
            return bad(
                msg, msglen, param, "messages.content", "%s",
                "each message needs 'content' (only an assistant message with 'tool_calls' may omit it)");
    }
    return SY_E_OK;
}

/* The chat body's checked members, found in one pass over the body (a lookup by name per
 * check was a dozen string compares per member, ~1.5 % of the data plane's CPU per request). */
enum {
    C_MESSAGES,
    C_STREAM,
    C_STREAM_OPTIONS,
    C_TEMPERATURE,
    C_TOP_P,
    C_PRESENCE_PENALTY,
    C_FREQUENCY_PENALTY,
    C_MAX_TOKENS,
    C_MAX_COMPLETION_TOKENS,
    C_N,
    C_TOOLS,
    C_TOOL_CHOICE,
    C_RESPONSE_FORMAT,
    C__COUNT
};
static const char *const chat_names[C__COUNT] = {
    "messages",          "stream",     "stream_options",        "temperature", "top_p", "presence_penalty",
    "frequency_penalty", "max_tokens", "max_completion_tokens", "n",           "tools", "tool_choice",
    "response_format"};

static sy_err_t check_chat(dp_req_t *r, cJSON *b, char *msg, size_t msglen, const char **param)
{
    const cJSON *f[C__COUNT] = {0};
    const cJSON *e;
    cJSON_ArrayForEach(e, b)
    {
        for (int i = 0; i < C__COUNT; i++) {
            if (e->string[0] == chat_names[i][0] && f[i] == NULL && strcmp(e->string, chat_names[i]) == 0) {
                f[i] = e;
                break;
            }
        }
    }
    sy_err_t err = check_messages(f[C_MESSAGES], msg, msglen, param);
    if (err != SY_E_OK)
        return err;
    if (!type_ok(f[C_STREAM], is_bool))
        return bad(msg, msglen, param, "stream", "%s", "'stream' must be a boolean");
    if (!type_ok(f[C_STREAM_OPTIONS], is_object))
        return bad(msg, msglen, param, "stream_options", "%s", "'stream_options' must be an object");
    if (!range_ok(f[C_TEMPERATURE], 0, 2))
        return bad(msg, msglen, param, "temperature", "%s", "'temperature' must be a number between 0 and 2");
    if (!range_ok(f[C_TOP_P], 0, 1))
        return bad(msg, msglen, param, "top_p", "%s", "'top_p' must be a number between 0 and 1");
    if (!range_ok(f[C_PRESENCE_PENALTY], -2, 2))
        return bad(msg, msglen, param, "presence_penalty", "%s",
                   "'presence_penalty' must be between -2 and 2");
    if (!range_ok(f[C_FREQUENCY_PENALTY], -2, 2))
        return bad(msg, msglen, param, "frequency_penalty", "%s",
                   "'frequency_penalty' must be between -2 and 2");
    if (!int_ok(f[C_MAX_TOKENS], 1, 1e9))
        return bad(msg, msglen, param, "max_tokens", "%s", "'max_tokens' must be a positive integer");
    if (!int_ok(f[C_MAX_COMPLETION_TOKENS], 1, 1e9))
        return bad(msg, msglen, param, "max_completion_tokens", "%s",
                   "'max_completion_tokens' must be a positive integer");
    if (!int_ok(f[C_N], 1, 128))
        return bad(msg, msglen, param, "n", "%s", "'n' must be an integer between 1 and 128");
    if (!type_ok(f[C_TOOLS], is_array))
        return bad(msg, msglen, param, "tools", "%s", "'tools' must be an array");
    if (!type_ok(f[C_TOOL_CHOICE], is_string_or_object))
        return bad(msg, msglen, param, "tool_choice", "%s", "'tool_choice' must be a string or an object");
    if (!type_ok(f[C_RESPONSE_FORMAT], is_object))
        return bad(msg, msglen, param, "response_format", "%s", "'response_format' must be an object");
    r->stream = cJSON_IsTrue(f[C_STREAM]);
    const cJSON *so = f[C_STREAM_OPTIONS];
    r->client_wants_usage =
        cJSON_IsObject(so) && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(so, "include_usage"));
    const cJSON *mt[2] = {f[C_MAX_TOKENS], f[C_MAX_COMPLETION_TOKENS]};
    for (size_t i = 0; i < 2 && r->max_tokens == 0; i++) {
        if (cJSON_IsNumber(mt[i]) && mt[i]->valuedouble >= 1)
            r->max_tokens = mt[i]->valuedouble > 1e12 ? (int64_t)1e12 : (int64_t)mt[i]->valuedouble;
    }
    return SY_E_OK;
}

static sy_err_t check_embeddings(cJSON *b, char *msg, size_t msglen, const char **param)
{
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(b, "input");
    if (in == NULL)
        return bad(msg, msglen, param, "input", "%s", "'input' is a required property");
    if (!is_string_or_array(in) || (cJSON_IsArray(in) && cJSON_GetArraySize(in) == 0))
        return bad(msg, msglen, param, "input", "%s", "'input' must be a string or a non-empty array");
    if (!int_ok(cJSON_GetObjectItemCaseSensitive(b, "dimensions"), 1, 65536))
        return bad(msg, msglen, param, "dimensions", "%s", "'dimensions' must be a positive integer");
    return SY_E_OK;
}

sy_err_t dp_body_parse(dp_req_t *r, char *msg, size_t msglen, const char **param)
{
    h2o_iovec_t body = r->body_src;
    *param = NULL;
    if (body.len > r->snap->limits.max_body_bytes) {
        snprintf(msg, msglen, "request body is larger than %u bytes", r->snap->limits.max_body_bytes);
        return SY_E_REQUEST_TOO_LARGE;
    }
    if (body.base == NULL || body.len == 0) {
        snprintf(msg, msglen, "the request body must be a JSON object");
        return SY_E_BAD_JSON;
    }
    size_t at;
    switch (sy_json_precheck(body.base, body.len, r->snap->limits.max_json_depth, &at)) {
    case SY_JSON_OK:
        break;
    case SY_JSON_BAD_UTF8:
        snprintf(msg, msglen, "the request body is not valid UTF-8 (byte %zu)", at);
        return SY_E_BAD_JSON;
    case SY_JSON_TOO_DEEP:
        snprintf(msg, msglen, "JSON nesting deeper than %u levels", r->snap->limits.max_json_depth);
        return SY_E_BAD_JSON;
    default:
        snprintf(msg, msglen, "malformed JSON (byte %zu)", at);
        return SY_E_BAD_JSON;
    }
    const char *end = NULL;
    sy_json_arena_begin(&r->arena);
    r->body = cJSON_ParseWithLengthOpts(body.base, body.len, &end, 0);
    sy_json_arena_end();
    if (r->body == NULL) {
        snprintf(msg, msglen, "malformed JSON (byte %ld)", end ? (long)(end - body.base) : -1L);
        return SY_E_BAD_JSON;
    }
    while (end != NULL && end < body.base + body.len &&
           (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
        end++;
    if (end != body.base + body.len) {
        snprintf(msg, msglen, "unexpected data after the JSON value (byte %ld)", (long)(end - body.base));
        return SY_E_BAD_JSON;
    }
    if (!cJSON_IsObject(r->body)) {
        snprintf(msg, msglen, "the request body must be a JSON object");
        return SY_E_BAD_JSON;
    }
    /* one value per field: never check, reserve or price one value while forwarding another */
    const char *dup = sy_json_duplicate_key(r->body);
    if (dup != NULL) {
        snprintf(msg, msglen, "duplicate field '%.64s' in a JSON object", dup);
        return SY_E_BAD_JSON;
    }
    cJSON *b = r->body;
    /* listed on the stack, kept at their exact size: a request lives as long as its stream, and
     * room for DP_MAX_TOP_MEMBERS (10 KiB) in each held stream was a third of its memory */
    sy_json_member_t all[DP_MAX_TOP_MEMBERS];
    r->nmembers = sy_json_members(body.base, body.len, all, DP_MAX_TOP_MEMBERS);
    if (r->nmembers < 0) {
        snprintf(msg, msglen, "the request body must be a JSON object with at most %d fields",
                 DP_MAX_TOP_MEMBERS);
        return SY_E_BAD_JSON;
    }
    r->members = sy_arena_alloc(&r->arena, (r->nmembers ? (size_t)r->nmembers : 1) * sizeof(*r->members));
    if (r->members == NULL) {
        snprintf(msg, msglen, "out of memory");
        return SY_E_INTERNAL;
    }
    memcpy(r->members, all, (size_t)r->nmembers * sizeof(*r->members));
    for (int i = 0; i < r->nmembers; i++) {
        const sy_json_member_t *m = &r->members[i];
        /* keys are matched as raw bytes when the body is spliced for the upstream, so a key
         * spelled with escapes ("mod\u0065l") could smuggle a second model past routing */
        if (memchr(m->key, '\\', m->key_len) != NULL) {
            snprintf(msg, msglen, "top-level field names must not contain escape sequences");
            return SY_E_BAD_JSON;
        }
        /* model names never need escapes; refusing them keeps "m\u0000x" (which the parser
         * would cut at the NUL) from routing as "m" */
        int is_model = m->key_len == 5 && memcmp(m->key, "model", 5) == 0;
        int is_models = m->key_len == 6 && memcmp(m->key, "models", 6) == 0;
        if ((is_model || is_models) && memchr(m->value, '\\', m->value_len) != NULL)
            return bad(msg, msglen, param, is_model ? "model" : "models", "%s",
                       "model names must not contain escape sequences or control characters");
    }
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(b, "model");
    if (model == NULL)
        return bad(msg, msglen, param, "model", "%s", "'model' is a required property");
    if (!is_model_name(model))
        return bad(msg, msglen, param, "model", "%s",
                   "'model' must be a non-empty string without control characters");
    const cJSON *models = cJSON_GetObjectItemCaseSensitive(b, "models");
    if (models != NULL && !cJSON_IsNull(models)) {
        if (!cJSON_IsArray(models) || cJSON_GetArraySize(models) > MAX_FALLBACKS)
            return bad(msg, msglen, param, "models", "%s",
                       "'models' must be an array of at most 7 model names");
        const cJSON *m;
        cJSON_ArrayForEach(m, models) if (!is_model_name(m)) return bad(
            msg, msglen, param, "models", "%s", "'models' entries must be model names");
    }
    return r->ep == DP_EP_CHAT ? check_chat(r, b, msg, msglen, param)
                               : check_embeddings(b, msg, msglen, param);
}
