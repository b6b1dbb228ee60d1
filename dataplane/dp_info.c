/*
 * Informational endpoints: the model list (OpenAI shape plus catalog fields; each alias is an
 * entry of its own with "alias_of" naming the catalog id) and /metrics.
 */
#include <stdlib.h>
#include <string.h>

#include "dp.h"

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

void dp_info_models(dp_req_t *r, const char *id, size_t idlen)
{
    const dp_snapshot_t *s = r->snap;
    if (id != NULL) {
        const dp_model_t *m = dp_snapshot_find_model(s, id, idlen);
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
    respond_json(r, root);
}

void dp_info_metrics(dp_req_t *r)
{
    size_t len;
    char *text = dp_metrics_render(&len);
    /* the rate limiter's counters (dp_limit.c keeps its own: it is node-wide, not per thread) */
    char *more = text != NULL ? realloc(text, len + 2048 + 2048) : NULL;
    if (more == NULL) {
        free(text);
        dp_respond_error(r, SY_E_INTERNAL, "out of memory", NULL);
        return;
    }
    text = more;
    len += dp_limit_metrics_render(text + len, 2048);
    len += dp_reserve_metrics_render(text + len, 2048, r->snap); /* balance/budget reservations, node-wide too */
    dp_respond_body(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    free(text);
}
