/*
 * Stage 5: route — turn the request's model form into an ordered candidate list.
 *
 * Today: the named model (catalog id or provider-qualified id) followed by the `models`
 * fallback array, de-duplicated, each checked against the key's scope and the endpoint's
 * capability. The router issue extends this file with auto routing, objectives and tags.
 * Precedence: `model` first, then `models` in the order given.
 */
#include <stdio.h>
#include <string.h>

#include "dp.h"

static sy_err_t add(dp_req_t *r, const cJSON *name, int primary, char *msg, size_t msglen, const char **param)
{
    const char *n = name->valuestring;
    const dp_model_t *m = dp_snapshot_find_model(r->snap, n, strlen(n));
    *param = primary ? "model" : "models";
    if (m == NULL || !dp_key_allows(r->key, m)) {
        /* a model outside the key's scope is reported as such only when it exists */
        snprintf(msg, msglen, m ? "this API key may not use the model '%.200s'" : "The model '%.200s' does not exist",
                 n);
        return m ? SY_E_MODEL_NOT_ALLOWED : SY_E_MODEL_NOT_FOUND;
    }
    uint32_t need = r->ep == DP_EP_EMBEDDINGS ? DP_CAP_EMBEDDINGS : DP_CAP_CHAT;
    if ((m->caps & need) == 0) {
        snprintf(msg, msglen, "the model '%.200s' does not support %s", n,
                 r->ep == DP_EP_EMBEDDINGS ? "embeddings" : "chat completions");
        return SY_E_BAD_PARAM;
    }
    for (size_t i = 0; i < r->ncand; i++)
        if (r->cand[i] == m)
            return SY_E_OK;
    if (r->ncand < DP_MAX_CANDIDATES)
        r->cand[r->ncand++] = m;
    return SY_E_OK;
}

sy_err_t dp_route(dp_req_t *r, char *msg, size_t msglen, const char **param)
{
    sy_err_t e = add(r, cJSON_GetObjectItemCaseSensitive(r->body, "model"), 1, msg, msglen, param);
    if (e != SY_E_OK)
        return e;
    const cJSON *models = cJSON_GetObjectItemCaseSensitive(r->body, "models");
    const cJSON *m;
    if (cJSON_IsArray(models))
        cJSON_ArrayForEach(m, models) if ((e = add(r, m, 0, msg, msglen, param)) != SY_E_OK) return e;
    *param = NULL;
    return SY_E_OK;
}
