/*
 * Informational endpoints: the model list (OpenAI shape plus catalog fields; each alias is an
 * entry of its own with "alias_of" naming the catalog id) and /metrics.
 */
#include <stdlib.h>
#include <string.h>

#include "dp.h"
#include "dp_authfail.h"

static const char *const health_names[] = {"unknown", "healthy", "degraded", "down"};

static cJSON *model_json(const dp_model_t *m)
{
    char price[32];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", m->id);
    cJSON_AddStringToObject(o, "object", "model");
    cJSON_AddNumberToObject(o, "created", 0);
    cJSON_AddStringToObject(o, "owned_by", m->provider->id);
    cJSON_AddStringToObject(o, "provider", m->provider->id);
    cJSON_AddNumberToObject(o, "context_window", m->context_window);
    sy_money_format_usd(m->input_per_m, price);
    cJSON_AddStringToObject(o, "input_per_m", price);
    sy_money_format_usd(m->output_per_m, price);
    cJSON_AddStringToObject(o, "output_per_m", price);
    if (m->cache_read_per_m >= 0) {
        sy_money_format_usd(m->cache_read_per_m, price);
        cJSON_AddStringToObject(o, "cache_read_per_m", price);
    }
    if (m->cache_write_per_m >= 0) {
        sy_money_format_usd(m->cache_write_per_m, price);
        cJSON_AddStringToObject(o, "cache_write_per_m", price);
    }
    cJSON_AddStringToObject(o, "health", health_names[m->provider->health < 4 ? m->provider->health : 0]);
    return o;
}

/* An alias is listed as a model of its own, with the target's fields and "alias_of". */
static cJSON *alias_json(const dp_alias_t *a)
{
    cJSON *o = model_json(a->model);
    cJSON_ReplaceItemInObjectCaseSensitive(o, "id", cJSON_CreateString(a->alias));
    cJSON_AddStringToObject(o, "alias_of", a->model->id);
    return o;
}

static void respond_json(dp_req_t *r, cJSON *o)
{
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (s == NULL) {
        dp_respond_error(r, SY_E_INTERNAL, "out of memory", NULL);
        return;
    }
    dp_respond_body(r, 200, "application/json", s, strlen(s));
    free(s);
}

/* ---- routing forms: what a client may put in `model` besides a catalog id (docs/routing.md) */

static const struct {
    const char *id, *objective, *what;
} route_forms[] = {
    {"auto", "balanced", "Switchyard picks the model per request from the prompt's task and difficulty"},
    {"strategy:balanced", "balanced", "auto, best quality per dollar among the models that clear the quality bar"},
    {"strategy:quality-per-dollar", "balanced", "the same objective as strategy:balanced"},
    {"strategy:cost", "cost", "auto, the cheapest model whose quality clears the bar"},
    {"strategy:quality", "quality", "auto, the highest quality for the task"},
    {"strategy:latency", "latency", "auto, the lowest observed time to first byte"},
};

static cJSON *form_json(const char *id, const char *objective, const char *what, const char *industry)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddStringToObject(o, "object", "model");
    cJSON_AddNumberToObject(o, "created", 0);
    cJSON_AddStringToObject(o, "owned_by", "switchyard");
    cJSON *rt = cJSON_AddObjectToObject(o, "routing");
    cJSON_AddStringToObject(rt, "form", industry ? "industry" : strncmp(id, "strategy:", 9) == 0 ? "strategy" : "auto");
    cJSON_AddStringToObject(rt, "objective", objective);
    if (industry)
        cJSON_AddStringToObject(rt, "industry", industry);
    cJSON_AddStringToObject(o, "description", what);
    return o;
}

/* A tier that an override tag points at is the tag's, not an industry. */
static int is_tag_tier(const dp_snapshot_t *s, const char *tier)
{
    for (size_t i = 0; i < s->routing.ntags; i++)
        if (strcmp(s->routing.tags[i].tier, tier) == 0)
            return 1;
    return 0;
}

/* Every industry tier of a model the key may use, once each, in catalog order. */
static void add_industries(dp_req_t *r, cJSON *data)
{
    const dp_snapshot_t *s = r->snap;
    for (size_t i = 0; i < s->nmodels; i++) {
        const dp_model_t *m = &s->models[i];
        if (!dp_key_allows(r->key, m))
            continue;
        for (size_t t = 0; t < m->ntiers; t++) {
            const char *tier = m->tiers[t];
            if (is_tag_tier(s, tier))
                continue;
            int seen = 0;
            for (size_t j = 0; j < i && !seen; j++)
                if (dp_key_allows(r->key, &s->models[j]))
                    for (size_t u = 0; u < s->models[j].ntiers && !seen; u++)
                        seen = strcmp(s->models[j].tiers[u], tier) == 0;
            for (size_t u = 0; u < t && !seen; u++)
                seen = strcmp(m->tiers[u], tier) == 0;
            if (seen)
                continue;
            char id[96];
            snprintf(id, sizeof(id), "industry:%.80s", tier);
            cJSON_AddItemToArray(data, form_json(id, "balanced", "auto among the models of this industry tier", tier));
        }
    }
}

/* The routing form `id` names, as a models entry; NULL when it names none this key can use. */
static cJSON *form_lookup(dp_req_t *r, const char *id)
{
    for (size_t i = 0; i < sizeof(route_forms) / sizeof(route_forms[0]); i++)
        if (strcmp(id, route_forms[i].id) == 0)
            return form_json(route_forms[i].id, route_forms[i].objective, route_forms[i].what, NULL);
    if (strncmp(id, "industry:", 9) != 0)
        return NULL;
    cJSON *all = cJSON_CreateArray();
    add_industries(r, all);
    cJSON *hit = NULL, *e;
    cJSON_ArrayForEach(e, all)
    {
        if (strcmp(cJSON_GetObjectItemCaseSensitive(e, "id")->valuestring, id) == 0) {
            hit = cJSON_DetachItemViaPointer(all, e);
            break;
        }
    }
    cJSON_Delete(all);
    return hit;
}

static int key_may_route(const dp_req_t *r)
{
    for (size_t i = 0; i < r->snap->nmodels; i++)
        if (dp_key_allows(r->key, &r->snap->models[i]))
            return 1;
    return 0;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The id in /v1/models/{id}, percent-decoded (SDKs encode the ':' of "strategy:cost"); -1 on
 * a bad escape, a NUL or an id longer than cap - 1. */
static int decode_id(const char *p, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)p[i];
        if (c == '%') {
            int hi = i + 2 < n ? hexval(p[i + 1]) : -1, lo = i + 2 < n ? hexval(p[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return -1;
            c = hi << 4 | lo;
            i += 2;
        }
        if (c == 0 || o + 1 >= cap)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return 0;
}

void dp_info_models(dp_req_t *r, const char *id, size_t idlen)
{
    const dp_snapshot_t *s = r->snap;
    if (id != NULL) {
        char dec[256];
        if (decode_id(id, idlen, dec, sizeof(dec)) == 0) {
            id = dec;
            idlen = strlen(dec);
        }
        const dp_model_t *m = dp_snapshot_find_model(s, id, idlen);
        cJSON *form = m == NULL && id == dec && key_may_route(r) ? form_lookup(r, dec) : NULL;
        if (form != NULL) {
            respond_json(r, form);
            return;
        }
        if (m == NULL || !dp_key_allows(r->key, m)) {
            dp_respond_error(r, SY_E_MODEL_NOT_FOUND, "The model does not exist or this key may not use it", "model");
            return;
        }
        const dp_alias_t *a = dp_snapshot_find_alias(s, id, idlen);
        respond_json(r, a && a->model == m ? alias_json(a) : model_json(m));
        return;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(root, "data");
    for (size_t i = 0; i < s->nmodels; i++)
        if (dp_key_allows(r->key, &s->models[i]))
            cJSON_AddItemToArray(data, model_json(&s->models[i]));
    for (size_t i = 0; i < s->naliases; i++)
        if (dp_key_allows(r->key, s->aliases[i].model))
            cJSON_AddItemToArray(data, alias_json(&s->aliases[i]));
    if (key_may_route(r)) {
        for (size_t i = 0; i < sizeof(route_forms) / sizeof(route_forms[0]); i++)
            cJSON_AddItemToArray(data, form_json(route_forms[i].id, route_forms[i].objective, route_forms[i].what, NULL));
        add_industries(r, data);
    }
    respond_json(r, root);
}

void dp_info_metrics(dp_req_t *r)
{
    size_t len;
    char *text = dp_metrics_render(&len);
    /* the rate limiter's counters (dp_limit.c keeps its own: it is node-wide, not per thread) */
    char *more = text != NULL ? realloc(text, len + 2048 + 2048 + 2048) : NULL;
    if (more == NULL) {
        free(text);
        dp_respond_error(r, SY_E_INTERNAL, "out of memory", NULL);
        return;
    }
    text = more;
    len += dp_limit_metrics_render(text + len, 2048);
    len += dp_reserve_metrics_render(text + len, 2048, r->snap); /* balance/budget reservations, node-wide too */
    len += dp_authfail_metrics_render(text + len, 2048);         /* failed authentications per client */
    dp_respond_body(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    free(text);
}
