/*
 * Stage 6, OpenAI dialect: any OpenAI-compatible server (OpenAI, vLLM, Ollama, the mock).
 *
 * The client's body is forwarded with these changes: `model` becomes the catalog's upstream
 * name, Switchyard's own extensions (`models`, `route`) are removed, `messages` is replaced
 * by the router's copy when it stripped an override tag (@think …), and a stream always asks
 * for `stream_options.include_usage` — metering needs the provider's count even when the
 * client did not ask (the relay then hides the usage chunk from that client). It is rebuilt by
 * splicing the original bytes (the top-level member spans found in stage 4), not by
 * re-printing a parsed tree: the bytes the client sent are the bytes the provider gets.
 * Headers are an allow-list — the provider's fixed list built with the snapshot (content type,
 * accept, user agent, an empty Expect, the credential from the provider's environment
 * variable) plus the request id — the client's headers never reach the upstream. Values that reach a header or the URL were validated for CR/LF/NUL when the
 * snapshot was built (ids, upstream names, credentials, URLs) or when the request was
 * accepted (request id).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dp.h"

static int key_is(const sy_json_member_t *m, const char *k)
{
    size_t n = strlen(k);
    return m->key_len == n && memcmp(m->key, k, n) == 0;
}

/* The stream_options member to send, or NULL to keep the client's as it is. */
static const char *stream_options(dp_req_t *r)
{
    if (!r->stream || r->ep != DP_EP_CHAT || r->client_wants_usage)
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
    size_t ul = strlen(upstream), sl = so ? strlen(so) : 0, cap = r->req->entity.len + ul + sl + ol + 40, n = 0;
    char *b = malloc(cap);
    if (b == NULL)
        return NULL;
    memcpy(b + n, "{\"model\":\"", 10), n += 10;
    memcpy(b + n, upstream, ul), n += ul; /* validated at snapshot build: no quotes or escapes */
    b[n++] = '"';
    for (int i = 0; i < r->nmembers; i++) {
        const sy_json_member_t *m = &r->members[i];
        if (key_is(m, "model") || key_is(m, "models") || key_is(m, "route") || (so && key_is(m, "stream_options")))
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

int dp_openai_prepare(dp_req_t *r)
{
    const dp_model_t *m = r->model;
    const dp_provider_t *p = m->provider;
    r->up_body = splice_body(r, m->upstream, &r->up_body_len);
    if (r->up_body == NULL)
        return -1;
    r->up_url = r->ep == DP_EP_EMBEDDINGS ? p->embeddings_url : p->chat_url;

    /* one node of our own in front of the provider's shared, read-only list: no per-request
     * formatting of the fixed headers and credential */
    struct curl_slist *node = sy_arena_alloc(&r->arena, sizeof(*node));
    char *line = sy_arena_alloc(&r->arena, sizeof("X-Request-Id: ") + DP_REQUEST_ID_MAX);
    if (node == NULL || line == NULL)
        return -1;
    memcpy(line, "X-Request-Id: ", 14);
    strcpy(line + 14, r->id); /* validated or minted in stage 1: [A-Za-z0-9._:-]{1,64} */
    node->data = line;
    node->next = r->stream ? p->headers_sse : p->headers_json;
    r->up_headers = node;
    return 0;
}
