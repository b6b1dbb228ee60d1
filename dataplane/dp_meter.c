/*
 * Stage 9: meter — tokens from the provider's usage, cost from the prices captured with the
 * request's snapshot (integer nano-USD), one access-log line and the metrics, once per
 * request, whatever way it ended.
 */
#include <string.h>

#include "dp.h"
#include "sy_log.h"

static int64_t get_int(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e12)
        return 0;
    return (int64_t)v->valuedouble;
}

void dp_meter_take_usage(dp_req_t *r, const cJSON *obj)
{
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(obj, "usage");
    if (!cJSON_IsObject(u))
        return;
    r->usage.prompt_tokens = get_int(u, "prompt_tokens");
    r->usage.completion_tokens = get_int(u, "completion_tokens");
    r->usage.have = 1;
}

sy_nano_t dp_meter_cost(const dp_req_t *r)
{
    if (r->model == NULL)
        return 0;
    sy_nano_t a = sy_money_cost(r->usage.prompt_tokens, r->model->input_per_m);
    sy_nano_t b = sy_money_cost(r->usage.completion_tokens, r->model->output_per_m);
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

void dp_meter_finish(dp_req_t *r)
{
    uint64_t now = dp_now_ns();
    uint64_t total = now - r->t_start_ns;
    uint64_t up = r->t_up_ns && r->t_up_end_ns > r->t_up_ns ? r->t_up_end_ns - r->t_up_ns : 0;
    if (r->t_up_ns && r->t_up_end_ns == 0)
        up = now - r->t_up_ns;
    int status = r->status ? r->status : 499;
    if (r->ep == DP_EP_OTHER)
        return; /* health checks and scrapes are neither API traffic nor worth a log line */
    dp_metrics_request(r->th->metrics, status, r->model ? r->model->id : "", r->model ? r->model->provider->id : "",
                       total, total > up ? total - up : 0);
    if (!sy_log_enabled(SY_LOG_INFO))
        return;
    char cost[32];
    sy_money_format_usd(dp_meter_cost(r), cost);
    SY_INFO("msg=access id=%s ep=%s status=%d end=%s model=%s provider=%s key=%s attempts=%zu stream=%d "
            "tokens_in=%lld tokens_out=%lld usage=%s cost_usd=%s total_us=%llu upstream_us=%llu ttfb_us=%llu",
            r->id, r->ep == DP_EP_EMBEDDINGS ? "embeddings" : r->ep == DP_EP_MODELS ? "models" : "chat", status,
            sy_strerror(r->end), r->model ? r->model->id : "-", r->model ? r->model->provider->id : "-",
            r->key ? r->key->id : "-", r->attempts, r->stream, (long long)r->usage.prompt_tokens,
            (long long)r->usage.completion_tokens, r->usage.have ? "provider" : "none", cost,
            (unsigned long long)(total / 1000), (unsigned long long)(up / 1000),
            (unsigned long long)(r->t_first_byte_ns ? (r->t_first_byte_ns - r->t_start_ns) / 1000 : 0));
}
