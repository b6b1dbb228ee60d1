/*
 * What every dialect of the seam shares (dp_provider.h): the registry of upstream dialects, the
 * request-id header in front of a provider's fixed headers, the upstream body, and small
 * readers of cJSON trees and canonical events.
 */
#include <stdlib.h>
#include <string.h>

#include "dp.h"
#include "dp_provider.h"

const dp_upstream_ops_t *dp_upstream_ops_by_kind(const char *kind)
{
    static const dp_upstream_ops_t *const all[] = {&dp_openai_upstream, &dp_anthropic_upstream,
                                                   &dp_gemini_upstream};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (strcmp(kind, all[i]->kind) == 0)
            return all[i];
    return NULL;
}

int dp_provider_headers(dp_req_t *r)
{
    const dp_provider_t *p = r->model->provider;
    size_t idl = strlen(r->id); /* validated or minted in stage 1: [A-Za-z0-9._:-]{1,64} */
    char *line = sy_arena_alloc(&r->arena, sizeof("X-Request-Id: \r\n") + idl);
    if (line == NULL)
        return -1;
    memcpy(line, "X-Request-Id: ", 14);
    memcpy(line + 14, r->id, idl);
    memcpy(line + 14 + idl, "\r\n", 2);
    r->up_headers.extra[0] = h2o_iovec_init(line, 16 + idl);
    r->up_headers.nextra = 1;
    r->up_headers.fixed = r->stream ? p->headers_sse : p->headers_json;
    return 0;
}

int dp_provider_header_add(dp_req_t *r, const char *name, size_t nlen, const char *value, size_t vlen)
{
    if (r->up_headers.nextra == DP_UP_EXTRA_HEADERS)
        return -1;
    char *line = sy_arena_alloc(&r->arena, nlen + vlen + 4);
    if (line == NULL)
        return -1;
    memcpy(line, name, nlen);
    memcpy(line + nlen, ": ", 2);
    memcpy(line + nlen + 2, value, vlen);
    memcpy(line + nlen + 2 + vlen, "\r\n", 2);
    r->up_headers.extra[r->up_headers.nextra++] = h2o_iovec_init(line, nlen + vlen + 4);
    return 0;
}

int dp_provider_body(dp_req_t *r, const char *s)
{
    if (s == NULL)
        return -1;
    r->up_body_len = strlen(s);
    r->up_body = malloc(r->up_body_len + 1);
    if (r->up_body == NULL)
        return -1;
    memcpy(r->up_body, s, r->up_body_len + 1);
    return 0;
}

const char *dp_json_str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int64_t dp_json_count(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1e12 ? (int64_t)v->valuedouble : 0;
}

int dp_event_part(dp_event_t *ev, dp_part_kind_t kind, int index, const char *text)
{
    if (ev->nparts >= DP_EVENT_MAX_PARTS)
        return -1;
    dp_part_t *p = &ev->parts[ev->nparts++];
    memset(p, 0, sizeof(*p));
    p->kind = kind;
    p->index = index;
    p->text = text;
    p->len = text ? strlen(text) : 0;
    if (kind != DP_PART_TOOL_START)
        ev->content_bytes += p->len;
    return 0;
}

int dp_usage_sane(const cJSON *u)
{
    for (const cJSON *c = u ? u->child : NULL; c != NULL; c = c->next) {
        if (cJSON_IsNumber(c)) {
            double v = c->valuedouble;
            if (!(v >= 0 && v <= 1e12) || v != (double)(int64_t)v)
                return 0;
        } else if ((cJSON_IsObject(c) || cJSON_IsArray(c)) && !dp_usage_sane(c)) {
            return 0;
        }
    }
    return 1;
}
