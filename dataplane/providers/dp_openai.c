/*
 * Stage 6, OpenAI dialect: any OpenAI-compatible server (OpenAI, vLLM, Ollama, the mock).
 *
 * The client's body is forwarded with three changes: `model` becomes the catalog's upstream
 * name, Switchyard's own extensions (`models`, `route`) are removed. Headers are an allow-list
 * built here — the client's headers never reach the upstream, and the credential comes from
 * the snapshot (the provider's environment variable), never from the client. Values that
 * reach a header or the URL were validated for CR/LF/NUL when the snapshot was built
 * (ids, upstream names, credentials, URLs) or when the request was accepted (request id).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dp.h"

int dp_openai_prepare(dp_req_t *r)
{
    const dp_model_t *m = r->model;
    const dp_provider_t *p = m->provider;
    cJSON *b = r->body;
    cJSON_DeleteItemFromObjectCaseSensitive(b, "models");
    cJSON_DeleteItemFromObjectCaseSensitive(b, "route");
    cJSON *name = cJSON_CreateString(m->upstream);
    if (name == NULL || !cJSON_ReplaceItemInObjectCaseSensitive(b, "model", name)) {
        cJSON_Delete(name);
        return -1;
    }
    r->up_body = cJSON_PrintUnformatted(b);
    if (r->up_body == NULL)
        return -1;
    r->up_body_len = strlen(r->up_body);
    r->up_url = r->ep == DP_EP_EMBEDDINGS ? p->embeddings_url : p->chat_url;

    char line[4200]; /* credentials up to 4 KiB (validated at snapshot build) */
    struct curl_slist *h = NULL, *t;
#define ADD(...)                                                                                                       \
    do {                                                                                                               \
        snprintf(line, sizeof(line), __VA_ARGS__);                                                                     \
        if ((t = curl_slist_append(h, line)) == NULL)                                                                  \
            goto oom;                                                                                                  \
        h = t;                                                                                                         \
    } while (0)
    ADD("Content-Type: application/json");
    ADD("Accept: %s", r->stream ? "text/event-stream" : "application/json");
    ADD("Expect:"); /* curl would add 100-continue over 1 MiB: a 1 s stall on servers that ignore it */
    ADD("X-Request-Id: %s", r->id);
    ADD("User-Agent: switchyard/0.1");
    if (p->credential != NULL)
        ADD("Authorization: Bearer %s", p->credential);
#undef ADD
    r->up_headers = h;
    return 0;
oom:
    curl_slist_free_all(h);
    return -1;
}
