/*
 * The Gemini dialect, upstream side (dp_provider.h): Google's Generative Language API
 * (base_url like https://generativelanguage.googleapis.com/v1beta, `x-goog-api-key`).
 *
 * The URL is per model, built by prepare in the request arena:
 *   {base}/models/{upstream}:generateContent             chat
 *   {base}/models/{upstream}:streamGenerateContent?alt=sse  chat, streamed
 *   {base}/models/{upstream}:embedContent                embeddings, one string input
 *   {base}/models/{upstream}:batchEmbedContents          embeddings, an array of strings
 * ({upstream} percent-encoded outside [A-Za-z0-9._~+=-]).
 *
 * Request (stage 6): the client's OpenAI chat request, translated (docs/providers.md has the
 * rules and what is lost):
 *   - system and developer messages → systemInstruction.parts[].text;
 *   - user → role "user", assistant → role "model"; text parts; `image_url` (a data: URL →
 *     inlineData, any other URL → fileData); an assistant's `tool_calls` → functionCall parts
 *     (arguments parsed into `args`); `tool` messages → functionResponse parts in a user turn
 *     (the function's name comes from the assistant tool call with that tool_call_id);
 *     consecutive turns of one role are merged;
 *   - generationConfig: maxOutputTokens, temperature, topP, stopSequences, presencePenalty,
 *     frequencyPenalty, seed, responseMimeType application/json for JSON mode;
 *   - tools → functionDeclarations; tool_choice → toolConfig.functionCallingConfig.
 * Embeddings: `input` (a string, or an array of strings; token arrays cannot be translated)
 * → embedContent / batchEmbedContents; `dimensions` → outputDimensionality.
 *
 * Answer (stage 8): GenerateContentResponse objects — one per SSE event (no [DONE]: the event
 * whose candidate has a finishReason is the end), or one whole answer. Parts: text, thought
 * text (thinking), functionCall (whole: a TOOL_START and one TOOL_ARGS). usageMetadata is
 * cumulative in every event. Embeddings answers become dp_event_t.embeddings.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dp.h"
#include "dp_provider.h"

/* What the stream reader keeps between events (r->up_state). */
typedef struct {
    int32_t next_tool; /* index of the next functionCall */
    uint8_t saw_tool;  /* a functionCall arrived: STOP means tool_calls */
    uint8_t ended;     /* a finishReason arrived: later events carry usage at most */
} gem_state_t;
_Static_assert(sizeof(gem_state_t) <= DP_UPSTREAM_STATE_BYTES, "dialect state too big");

/* ---- request ---- */

/* A copy of b's bytes as a string in the arena ("" when out of memory). */
static const char *arena_str(dp_req_t *r, const char *p, size_t n)
{
    char *s = sy_arena_alloc(&r->arena, n + 1);
    if (s == NULL)
        return "";
    if (n)
        memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

/* A message's content as text (a string, or its text parts joined). */
static const char *content_text(dp_req_t *r, const cJSON *content)
{
    if (cJSON_IsString(content))
        return content->valuestring;
    dp_buf_t b = {0};
    const cJSON *p;
    cJSON_ArrayForEach(p, content)
    {
        const char *t = dp_json_str(p, "text");
        if (t != NULL)
            dp_buf_append(&b, t, strlen(t), SIZE_MAX);
    }
    const char *s = arena_str(r, b.base, b.len);
    dp_buf_free(&b);
    return s;
}

static void add_text_part(cJSON *parts, const char *text)
{
    if (text == NULL || text[0] == '\0')
        return; /* the API refuses empty parts */
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "text", text);
    cJSON_AddItemToArray(parts, p);
}

static void add_image_part(cJSON *parts, const cJSON *part)
{
    const cJSON *iu = cJSON_GetObjectItemCaseSensitive(part, "image_url");
    const char *url = cJSON_IsString(iu) ? iu->valuestring : dp_json_str(iu, "url");
    if (url == NULL)
        return;
    cJSON *p = cJSON_CreateObject();
    const char *comma = strchr(url, ',');
    if (strncmp(url, "data:", 5) == 0 && comma != NULL && comma - url > 12 &&
        memcmp(comma - 7, ";base64", 7) == 0) {
        char mime[128];
        snprintf(mime, sizeof(mime), "%.*s", (int)(comma - 7 - (url + 5)), url + 5);
        cJSON *d = cJSON_AddObjectToObject(p, "inlineData");
        cJSON_AddStringToObject(d, "mimeType", mime);
        cJSON_AddStringToObject(d, "data", comma + 1);
    } else {
        cJSON *d = cJSON_AddObjectToObject(p, "fileData");
        cJSON_AddStringToObject(d, "fileUri", url);
    }
    cJSON_AddItemToArray(parts, p);
}

static void add_content_parts(cJSON *parts, const cJSON *content)
{
    if (cJSON_IsString(content)) {
        add_text_part(parts, content->valuestring);
        return;
    }
    const cJSON *p;
    cJSON_ArrayForEach(p, content)
    {
        const char *type = dp_json_str(p, "type");
        if (type == NULL)
            continue;
        if (strcmp(type, "text") == 0)
            add_text_part(parts, dp_json_str(p, "text"));
        else if (strcmp(type, "image_url") == 0)
            add_image_part(parts, p);
    }
}

/* The parts array of the turn to add to: the last one when it has this role. */
static cJSON *turn(cJSON *contents, const char *role)
{
    cJSON *last = cJSON_GetArrayItem(contents, cJSON_GetArraySize(contents) - 1);
    const char *lr = last ? dp_json_str(last, "role") : NULL;
    if (lr != NULL && strcmp(lr, role) == 0)
        return cJSON_GetObjectItemCaseSensitive(last, "parts");
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "role", role);
    cJSON *parts = cJSON_AddArrayToObject(c, "parts");
    cJSON_AddItemToArray(contents, c);
    return parts;
}

/* The function name of the assistant tool call `id`, looked up backwards from message `upto`
 * (ids may repeat across turns: the nearest earlier one wins). */
static const char *tool_name(const cJSON *messages, const cJSON *upto, const char *id)
{
    const char *found = NULL;
    const cJSON *m;
    if (id == NULL)
        return NULL;
    cJSON_ArrayForEach(m, messages)
    {
        if (m == upto)
            break;
        const char *role = dp_json_str(m, "role");
        if (role == NULL || strcmp(role, "assistant") != 0)
            continue;
        const cJSON *tc;
        cJSON_ArrayForEach(tc, cJSON_GetObjectItemCaseSensitive(m, "tool_calls"))
        {
            const char *tid = dp_json_str(tc, "id");
            if (tid != NULL && strcmp(tid, id) == 0)
                found = dp_json_str(cJSON_GetObjectItemCaseSensitive(tc, "function"), "name");
        }
    }
    return found;
}

static void add_generation_config(dp_req_t *r, cJSON *out)
{
    const cJSON *b = r->body, *v;
    cJSON *gc = cJSON_CreateObject();
    if (r->max_tokens > 0)
        cJSON_AddNumberToObject(gc, "maxOutputTokens", (double)r->max_tokens);
    if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(b, "temperature")))
        cJSON_AddNumberToObject(gc, "temperature", v->valuedouble);
    if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(b, "top_p")))
        cJSON_AddNumberToObject(gc, "topP", v->valuedouble);
    if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(b, "presence_penalty")))
        cJSON_AddNumberToObject(gc, "presencePenalty", v->valuedouble);
    if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(b, "frequency_penalty")))
        cJSON_AddNumberToObject(gc, "frequencyPenalty", v->valuedouble);
    if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(b, "seed")))
        cJSON_AddNumberToObject(gc, "seed", v->valuedouble);
    v = cJSON_GetObjectItemCaseSensitive(b, "stop");
    if (cJSON_IsString(v)) {
        cJSON *a = cJSON_AddArrayToObject(gc, "stopSequences");
        cJSON_AddItemToArray(a, cJSON_CreateString(v->valuestring));
    } else if (cJSON_IsArray(v) && cJSON_GetArraySize(v) > 0) {
        cJSON_AddItemToObject(gc, "stopSequences", cJSON_Duplicate(v, 1));
    }
    const char *rf = dp_json_str(cJSON_GetObjectItemCaseSensitive(b, "response_format"), "type");
    if (rf != NULL && (strcmp(rf, "json_object") == 0 || strcmp(rf, "json_schema") == 0))
        cJSON_AddStringToObject(gc, "responseMimeType", "application/json");
    if (gc->child != NULL)
        cJSON_AddItemToObject(out, "generationConfig", gc);
    else
        cJSON_Delete(gc);
}

static void add_tools(dp_req_t *r, cJSON *out)
{
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(r->body, "tools"), *t;
    cJSON *decls = cJSON_CreateArray();
    cJSON_ArrayForEach(t, tools)
    {
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(t, "function");
        if (!cJSON_IsObject(fn) || dp_json_str(fn, "name") == NULL)
            continue;
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "name", dp_json_str(fn, "name"));
        if (dp_json_str(fn, "description"))
            cJSON_AddStringToObject(d, "description", dp_json_str(fn, "description"));
        const cJSON *params = cJSON_GetObjectItemCaseSensitive(fn, "parameters");
        if (cJSON_IsObject(params))
            cJSON_AddItemToObject(d, "parameters", cJSON_Duplicate(params, 1));
        cJSON_AddItemToArray(decls, d);
    }
    if (cJSON_GetArraySize(decls) == 0) {
        cJSON_Delete(decls);
        return;
    }
    cJSON *arr = cJSON_AddArrayToObject(out, "tools"), *one = cJSON_CreateObject();
    cJSON_AddItemToObject(one, "functionDeclarations", decls);
    cJSON_AddItemToArray(arr, one);
    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(r->body, "tool_choice");
    if (tc == NULL)
        return;
    cJSON *fcc = cJSON_CreateObject();
    const char *named = dp_json_str(cJSON_GetObjectItemCaseSensitive(tc, "function"), "name");
    if (cJSON_IsString(tc) && strcmp(tc->valuestring, "none") == 0) {
        cJSON_AddStringToObject(fcc, "mode", "NONE");
    } else if (cJSON_IsString(tc) && strcmp(tc->valuestring, "required") == 0) {
        cJSON_AddStringToObject(fcc, "mode", "ANY");
    } else if (cJSON_IsObject(tc) && named != NULL) {
        cJSON_AddStringToObject(fcc, "mode", "ANY");
        cJSON *names = cJSON_AddArrayToObject(fcc, "allowedFunctionNames");
        cJSON_AddItemToArray(names, cJSON_CreateString(named));
    } else {
        cJSON_AddStringToObject(fcc, "mode", "AUTO");
    }
    cJSON *cfg = cJSON_AddObjectToObject(out, "toolConfig");
    cJSON_AddItemToObject(cfg, "functionCallingConfig", fcc);
}

static cJSON *translate_chat(dp_req_t *r)
{
    cJSON *out = cJSON_CreateObject();
    cJSON *contents = cJSON_AddArrayToObject(out, "contents");
    cJSON *sys = cJSON_CreateArray();
    const cJSON *messages = cJSON_GetObjectItemCaseSensitive(r->body, "messages"), *m;
    if (r->messages_override != NULL)
        messages = cJSON_Parse(r->messages_override); /* the router stripped an override tag (arena) */
    cJSON_ArrayForEach(m, messages)
    {
        const char *role = dp_json_str(m, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (role == NULL)
            continue;
        if (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0) {
            add_text_part(sys, content_text(r, content));
        } else if (strcmp(role, "user") == 0) {
            add_content_parts(turn(contents, "user"), content);
        } else if (strcmp(role, "assistant") == 0) {
            cJSON *parts = turn(contents, "model");
            add_content_parts(parts, content);
            const cJSON *tc;
            cJSON_ArrayForEach(tc, cJSON_GetObjectItemCaseSensitive(m, "tool_calls"))
            {
                const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tc, "function");
                const char *args = dp_json_str(fn, "arguments");
                cJSON *input = args ? cJSON_Parse(args) : NULL;
                if (!cJSON_IsObject(input))
                    input = cJSON_CreateObject();
                cJSON *p = cJSON_CreateObject(), *call = cJSON_AddObjectToObject(p, "functionCall");
                cJSON_AddStringToObject(call, "name", dp_json_str(fn, "name") ? dp_json_str(fn, "name") : "");
                cJSON_AddItemToObject(call, "args", input);
                cJSON_AddItemToArray(parts, p);
            }
        } else if (strcmp(role, "tool") == 0) {
            const char *name = tool_name(messages, m, dp_json_str(m, "tool_call_id"));
            cJSON *p = cJSON_CreateObject(), *fr = cJSON_AddObjectToObject(p, "functionResponse");
            cJSON_AddStringToObject(fr, "name",
                                    name ? name : (dp_json_str(m, "name") ? dp_json_str(m, "name") : ""));
            cJSON *resp = cJSON_AddObjectToObject(fr, "response");
            cJSON_AddStringToObject(resp, "content", content_text(r, content));
            cJSON_AddItemToArray(turn(contents, "user"), p);
        }
    }
    /* a turn left with no parts (an empty message) would be refused */
    for (int i = cJSON_GetArraySize(contents) - 1; i >= 0; i--)
        if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(contents, i), "parts")) ==
            0)
            cJSON_DeleteItemFromArray(contents, i);
    if (cJSON_GetArraySize(sys) > 0) {
        cJSON *si = cJSON_AddObjectToObject(out, "systemInstruction");
        cJSON_AddItemToObject(si, "parts", sys);
    } else {
        cJSON_Delete(sys);
    }
    add_generation_config(r, out);
    add_tools(r, out);
    return out;
}

static cJSON *embed_request(dp_req_t *r, const char *text, int with_model)
{
    cJSON *q = cJSON_CreateObject();
    if (with_model) {
        char *mname = sy_arena_alloc(&r->arena, strlen(r->model->upstream) + 8);
        if (mname != NULL) {
            sprintf(mname, "models/%s", r->model->upstream);
            cJSON_AddStringToObject(q, "model", mname);
        }
    }
    cJSON *content = cJSON_AddObjectToObject(q, "content");
    cJSON *parts = cJSON_AddArrayToObject(content, "parts"), *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "text", text);
    cJSON_AddItemToArray(parts, p);
    const cJSON *dims = cJSON_GetObjectItemCaseSensitive(r->body, "dimensions");
    if (cJSON_IsNumber(dims) && dims->valuedouble >= 1)
        cJSON_AddNumberToObject(q, "outputDimensionality", dims->valuedouble);
    return q;
}

/* embedContent for one string, batchEmbedContents for an array of strings; NULL for inputs
 * Gemini cannot take (token arrays). *batch says which. */
static cJSON *translate_embeddings(dp_req_t *r, int *batch)
{
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(r->body, "input"), *x;
    if (cJSON_IsString(in)) {
        *batch = 0;
        return embed_request(r, in->valuestring, 0);
    }
    if (!cJSON_IsArray(in) || cJSON_GetArraySize(in) == 0)
        return NULL;
    *batch = 1;
    cJSON *out = cJSON_CreateObject(), *reqs = cJSON_AddArrayToObject(out, "requests");
    cJSON_ArrayForEach(x, in)
    {
        if (!cJSON_IsString(x)) {
            cJSON_Delete(out);
            return NULL;
        }
        cJSON_AddItemToArray(reqs, embed_request(r, x->valuestring, 1));
    }
    return out;
}

/* {base}/models/{upstream, percent-encoded}{suffix} in the arena */
static char *model_url(dp_req_t *r, const char *suffix)
{
    const char *base = r->model->provider->base_url, *u = r->model->upstream;
    size_t bl = strlen(base), ul = strlen(u), sl = strlen(suffix);
    char *s = sy_arena_alloc(&r->arena, bl + 8 + 3 * ul + sl + 1);
    if (s == NULL)
        return NULL;
    size_t n = 0;
    memcpy(s, base, bl), n += bl;
    memcpy(s + n, "/models/", 8), n += 8;
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < ul; i++) {
        unsigned char c = (unsigned char)u[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            strchr("._~+=-", c)) {
            s[n++] = (char)c;
        } else {
            s[n++] = '%';
            s[n++] = hex[c >> 4];
            s[n++] = hex[c & 15];
        }
    }
    memcpy(s + n, suffix, sl + 1);
    return s;
}

static int gemini_prepare(dp_req_t *r)
{
    int batch = 0;
    const char *suffix;
    sy_json_arena_begin(&r->arena);
    cJSON *req = NULL;
    if (r->ep == DP_EP_CHAT) {
        req = translate_chat(r);
        suffix = r->stream ? ":streamGenerateContent?alt=sse" : ":generateContent";
    } else if (r->ep == DP_EP_EMBEDDINGS) {
        req = translate_embeddings(r, &batch);
        suffix = batch ? ":batchEmbedContents" : ":embedContent";
    } else {
        suffix = "";
    }
    char *s = req ? cJSON_PrintUnformatted(req) : NULL;
    sy_json_arena_end();
    if (s == NULL)
        return -1;
    r->up_url = model_url(r, suffix);
    if (r->up_url == NULL || dp_provider_body(r, s) != 0)
        return -1;
    return dp_provider_headers(r);
}

/* ---- answers ---- */

/* usageMetadata — cumulative: the whole count so far. promptTokenCount already includes the
 * cached tokens; the thoughts are billed as output. */
static void take_usage(const cJSON *u, dp_event_t *ev)
{
    if (!cJSON_IsObject(u))
        return;
    if (!dp_usage_sane(u)) {
        ev->usage_invalid = 1;
        return;
    }
    ev->usage.prompt_tokens =
        dp_json_count(u, "promptTokenCount") + dp_json_count(u, "toolUsePromptTokenCount");
    ev->usage.cache_read_tokens = dp_json_count(u, "cachedContentTokenCount");
    ev->usage.cache_write_tokens = 0;
    ev->usage.completion_tokens =
        dp_json_count(u, "candidatesTokenCount") + dp_json_count(u, "thoughtsTokenCount");
    ev->usage.have = 1;
    ev->has_usage = 1;
}

static dp_finish_t finish_of(const char *s, int saw_tool)
{
    static const char *const filtered[] = {"SAFETY", "RECITATION",  "BLOCKLIST", "PROHIBITED_CONTENT",
                                           "SPII",   "IMAGE_SAFETY"};
    if (s == NULL)
        return DP_FINISH_NONE;
    if (strcmp(s, "MAX_TOKENS") == 0)
        return DP_FINISH_LENGTH;
    for (size_t i = 0; i < sizeof(filtered) / sizeof(filtered[0]); i++)
        if (strcmp(s, filtered[i]) == 0)
            return DP_FINISH_CONTENT_FILTER;
    return saw_tool ? DP_FINISH_TOOL_CALLS : DP_FINISH_STOP; /* STOP, OTHER, LANGUAGE, … */
}

/* One GenerateContentResponse (a stream event or a whole answer) into ev: the first
 * candidate's text (joined), thought text (joined) and function calls; its finish; usage. */
static int read_response(dp_req_t *r, const cJSON *o, dp_event_t *ev)
{
    gem_state_t *st = (gem_state_t *)r->up_state;
    int rc = 0;
    take_usage(cJSON_GetObjectItemCaseSensitive(o, "usageMetadata"), ev);
    if (st->ended)
        return 0; /* after the finish: usage at most (already taken) */
    const cJSON *cand = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "candidates"), 0);
    const cJSON *parts =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cand, "content"), "parts");
    dp_buf_t text = {0}, thought = {0};
    const cJSON *p;
    cJSON_ArrayForEach(p, parts)
    {
        const char *t = dp_json_str(p, "text");
        if (t != NULL && t[0] != '\0')
            dp_buf_append(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "thought")) ? &thought : &text, t,
                          strlen(t), DP_MAX_RESPONSE_BYTES);
    }
    if (thought.len && dp_event_part(ev, DP_PART_THINKING, 0, arena_str(r, thought.base, thought.len)) != 0)
        rc = -1;
    if (text.len && dp_event_part(ev, DP_PART_TEXT, 0, arena_str(r, text.base, text.len)) != 0)
        rc = -1;
    dp_buf_free(&text);
    dp_buf_free(&thought);
    cJSON_ArrayForEach(p, parts)
    {
        const cJSON *call = cJSON_GetObjectItemCaseSensitive(p, "functionCall");
        if (rc != 0 || !cJSON_IsObject(call))
            continue;
        if (st->next_tool >= 1000)
            return -1;
        int ti = st->next_tool++;
        st->saw_tool = 1;
        const cJSON *args = cJSON_GetObjectItemCaseSensitive(call, "args");
        char *a = args ? cJSON_PrintUnformatted(args) : NULL;
        char id[32];
        snprintf(id, sizeof(id), "call_%d", ti);
        const char *name = dp_json_str(call, "name") ? dp_json_str(call, "name") : "";
        if (dp_event_part(ev, DP_PART_TOOL_START, ti, NULL) != 0) {
            rc = -1;
        } else {
            ev->parts[ev->nparts - 1].id = arena_str(r, id, strlen(id));
            ev->parts[ev->nparts - 1].name = arena_str(r, name, strlen(name));
            const char *as = a ? a : "{}";
            if (dp_event_part(ev, DP_PART_TOOL_ARGS, ti, arena_str(r, as, strlen(as))) != 0)
                rc = -1;
        }
        free(a);
    }
    ev->finish = finish_of(dp_json_str(cand, "finishReason"), st->saw_tool);
    /* a prompt blocked before any candidate: promptFeedback.blockReason */
    if (cand == NULL &&
        dp_json_str(cJSON_GetObjectItemCaseSensitive(o, "promptFeedback"), "blockReason") != NULL)
        ev->finish = DP_FINISH_CONTENT_FILTER;
    if (ev->finish != DP_FINISH_NONE) {
        ev->end = 1;
        st->ended = 1;
    }
    ev->content = ev->nparts > 0 || ev->finish != DP_FINISH_NONE;
    return rc;
}

static int error_event(dp_req_t *r, const cJSON *o, dp_event_t *ev)
{
    const char *msg = dp_json_str(cJSON_GetObjectItemCaseSensitive(o, "error"), "message");
    ev->error = 1;
    ev->content = 1;
    ev->error_msg = msg ? arena_str(r, msg, strlen(msg)) : "upstream error";
    return 0;
}

static int gemini_stream_event(dp_req_t *r, const char *d, size_t dl, dp_event_t *ev)
{
    if (dl < 2 || d[0] != '{' || sy_json_precheck(d, dl, 64, NULL) != SY_JSON_OK)
        return -1;
    cJSON *o =
        cJSON_ParseWithLength(d, dl); /* malloc'ed: deleted below; kept strings are copied to the arena */
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return -1;
    }
    int rc = cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(o, "error")) ? error_event(r, o, ev)
                                                                          : read_response(r, o, ev);
    cJSON_Delete(o);
    return rc;
}

/* {"embedding":{"values":[…]}} or {"embeddings":[{"values":[…]},…]} → ev->embeddings */
static int read_embeddings(dp_req_t *r, const cJSON *o, dp_event_t *ev)
{
    const cJSON *one = cJSON_GetObjectItemCaseSensitive(o, "embedding");
    const cJSON *many = cJSON_GetObjectItemCaseSensitive(o, "embeddings");
    size_t n = cJSON_IsObject(one) ? 1 : cJSON_IsArray(many) ? (size_t)cJSON_GetArraySize(many) : 0;
    if (n == 0)
        return -1;
    dp_embedding_t *e = sy_arena_alloc(&r->arena, n * sizeof(*e));
    if (e == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const cJSON *item = cJSON_IsObject(one) ? one : cJSON_GetArrayItem(many, (int)i);
        const cJSON *vals = cJSON_GetObjectItemCaseSensitive(item, "values"), *v;
        if (!cJSON_IsArray(vals))
            return -1;
        size_t dims = (size_t)cJSON_GetArraySize(vals), j = 0;
        double *x = sy_arena_alloc(&r->arena, (dims ? dims : 1) * sizeof(double));
        if (x == NULL)
            return -1;
        cJSON_ArrayForEach(v, vals)
        {
            if (!cJSON_IsNumber(v))
                return -1;
            x[j++] = v->valuedouble;
        }
        e[i].values = x;
        e[i].n = dims;
    }
    ev->embeddings = e;
    ev->nembeddings = n;
    return 0;
}

static int gemini_answer(dp_req_t *r, const char *body, size_t len, dp_event_t *ev)
{
    if (len < 2 || sy_json_precheck(body, len, 128, NULL) != SY_JSON_OK)
        return -1;
    cJSON *o = cJSON_ParseWithLength(body, len);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return -1;
    }
    int rc;
    ev->end = 1;
    ev->content = 1;
    if (r->ep == DP_EP_EMBEDDINGS) {
        rc = read_embeddings(r, o, ev);
    } else if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(o, "candidates")) &&
               !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(o, "promptFeedback"))) {
        rc = -1; /* neither an answer nor a blocked prompt */
    } else {
        rc = read_response(r, o, ev);
        if (ev->finish == DP_FINISH_NONE)
            ev->finish = ((gem_state_t *)r->up_state)->saw_tool ? DP_FINISH_TOOL_CALLS : DP_FINISH_STOP;
        ev->end = 1;
        ev->content = 1;
    }
    cJSON_Delete(o);
    return rc;
}

/* {"error":{"code":…,"message":…,"status":…}} (some proxies answer with a one-element array of it) */
static void gemini_error_message(const char *body, size_t len, char *msg, size_t cap)
{
    cJSON *o = cJSON_ParseWithLength(body, len);
    const cJSON *top = cJSON_IsArray(o) ? cJSON_GetArrayItem(o, 0) : o;
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(top, "error");
    const char *m = dp_json_str(e, "message"), *s = dp_json_str(e, "status");
    if (m != NULL && s != NULL)
        snprintf(msg, cap, "%s (%s)", m, s);
    else
        snprintf(msg, cap, "%s", m ? m : "no message");
    cJSON_Delete(o);
}

const dp_upstream_ops_t dp_gemini_upstream = {
    .kind = "gemini",
    .chat_path = NULL, /* per model: prepare builds the URL */
    .embeddings_path = NULL,
    .auth_header = "x-goog-api-key: %s",
    .fixed_headers = NULL,
    .prepare = gemini_prepare,
    .stream_event = gemini_stream_event,
    .answer = gemini_answer,
    .error_message = gemini_error_message,
};
