/*
 * Stage 3: admit — is this key allowed to spend right now? Key revoked or expired → 401,
 * workspace deactivated → 403, a rate limit (requests or tokens per minute, key or
 * workspace; dp_limit.h, docs/admission.md) → 429 `rate_limited` with `retry-after`.
 * The model scope is checked in dp_route, once the body says which model.
 *
 * Stage 3b, dp_admit_reserve, runs after routing because the worst case depends on the
 * candidates' prices: the prepaid balance and the key budget (dp_reserve.h) → 402
 * `insufficient_quota` (dp_respond_error adds x-should-retry: false).
 */
#include <stdio.h>
#include <time.h>

#include "dp.h"
#include "sy_money.h"

sy_err_t dp_admit(dp_req_t *r, char *msg, size_t msglen)
{
    const dp_key_t *k = r->key;
    if (k->revoked || (k->expires_at != 0 && (int64_t)time(NULL) >= k->expires_at)) {
        snprintf(msg, msglen, "this API key is revoked or expired");
        return SY_E_INVALID_API_KEY;
    }
    if (!k->workspace->active) {
        snprintf(msg, msglen, "this workspace is deactivated");
        return SY_E_ACCOUNT_DISABLED;
    }

    /* Only model calls count; a models listing just reports the buckets in its headers. The
     * token estimate scans the raw body only when a token limit applies. */
    int charge = r->ep == DP_EP_CHAT || r->ep == DP_EP_EMBEDDINGS;
    int64_t est = 0;
    if (charge && (k->tpm != 0 || k->workspace->tpm != 0) && r->req != NULL)
        est = dp_limit_estimate(r->req->entity.base, r->req->entity.len, r->ep == DP_EP_EMBEDDINGS);
    dp_limit_reason_t why = dp_limit_admit(k, r->snap->live_nodes, charge, est, dp_limit_now_ns(), &r->rl);
    if (why == DP_LIMIT_OK)
        return SY_E_OK;

    if (why == DP_LIMIT_REQUESTS)
        snprintf(msg, msglen,
                 "Rate limit reached for requests per minute (limit %u). Please try again in %us.",
                 r->rl.req_limit, r->rl.retry_after_s);
    else
        snprintf(msg, msglen,
                 "Rate limit reached for tokens per minute (limit %u, requested about %lld). Please try "
                 "again in %us.",
                 r->rl.tok_limit, (long long)est, r->rl.retry_after_s);
    return SY_E_RATE_LIMITED; /* dp_respond_error adds retry-after from r->rl */
}

/* max_tokens or max_completion_tokens from the parsed body; 0 when neither is a positive number. */
static int64_t body_max_tokens(const dp_req_t *r)
{
    static const char *const names[] = {"max_tokens", "max_completion_tokens"};
    for (size_t i = 0; i < 2; i++) {
        const cJSON *v = r->body ? cJSON_GetObjectItemCaseSensitive(r->body, names[i]) : NULL;
        if (cJSON_IsNumber(v) && v->valuedouble >= 1)
            return v->valuedouble > 1e12 ? (int64_t)1e12 : (int64_t)v->valuedouble;
    }
    return 0;
}

sy_err_t dp_admit_reserve(dp_req_t *r, char *msg, size_t msglen)
{
    const dp_key_t *k = r->key;
    if (k == NULL || r->snap == NULL || r->req == NULL || (!k->workspace->has_balance && k->budget <= 0))
        return SY_E_OK;
    /* the worst case over the candidates: failover may land on the most expensive one */
    uint64_t bytes = r->req->entity.len;
    int64_t max_tokens = body_max_tokens(r);
    sy_nano_t worst = 0;
    for (size_t i = 0; i < r->ncand; i++) {
        const dp_model_t *m = r->cand[i];
        sy_nano_t c =
            dp_reserve_worst_case(bytes, max_tokens, r->ep == DP_EP_EMBEDDINGS, m->input_per_m,
                                  m->output_per_m, m->context_window, r->snap->limits.reserve_output_tokens);
        if (c > worst)
            worst = c;
    }
    dp_reserve_why_t why;
    dp_reserve_reason_t res = dp_reserve_take(k, r->snap->version, worst, dp_limit_now_ns(), &r->rsv, &why);
    if (res == DP_RESERVE_OK)
        return SY_E_OK;
    int budget = res == DP_RESERVE_BUDGET;
    const char *what = budget ? "key budget" : "balance", *What = budget ? "Key budget" : "Balance";
    char w[32], left[32], held[32], share[32];
    sy_money_format_usd(worst, w);
    sy_money_format_usd(why.remaining > 0 ? why.remaining : 0, left);
    sy_money_format_usd(why.reserved, held);
    sy_money_format_usd(why.share > 0 ? why.share : 0, share);
    if (why.remaining <= 0)
        snprintf(msg, msglen, "%s exhausted. Add credits to continue.", What);
    else if (worst > why.remaining)
        /* even alone this request could overspend: a smaller max_tokens may pass */
        snprintf(
            msg, msglen,
            "this request's worst case ($%s) exceeds the remaining %s ($%s); lower max_tokens or add credits",
            w, what, left);
    else if (why.share < why.remaining)
        /* a fleet: the rest is the other nodes' to spend until the next rebalance */
        snprintf(
            msg, msglen,
            "%s exhausted on this node: its share of the remaining $%s is $%s, of which requests in flight "
            "hold $%s; shares follow spending within seconds",
            What, left, share, held);
    else
        snprintf(msg, msglen, "%s exhausted: the remaining $%s is held by requests in flight ($%s)", What,
                 left, held);
    return SY_E_INSUFFICIENT_QUOTA;
}
