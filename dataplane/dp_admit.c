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
/* USD with 6 decimals (truncated toward zero; a negative balance keeps its sign), for
 * messages: "-0.000123". */
static void usd6(sy_nano_t v, char out[32])
{
    uint64_t a = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    snprintf(out, 32, "%s%llu.%06llu", v < 0 ? "-" : "", (unsigned long long)(a / 1000000000u),
             (unsigned long long)(a % 1000000000u / 1000u));
}

sy_err_t dp_admit_reserve(dp_req_t *r, char *msg, size_t msglen)
{
    const dp_key_t *k = r->key;
    if (k == NULL || r->snap == NULL || r->req == NULL || (!k->workspace->has_balance && k->budget <= 0))
        return SY_E_OK;
    /* the worst case over the candidates: failover may land on the most expensive one */
    uint64_t bytes = r->req->entity.len;
    int64_t max_tokens = r->max_tokens;
    sy_nano_t worst = 0;
    for (size_t i = 0; i < r->ncand; i++) {
        const dp_model_t *m = r->cand[i];
        /* a prompt token costs at most the dearest of the input and cache prices (a cache write
         * is usually dearer than an uncached input token) */
        sy_nano_t in = m->input_per_m;
        if (m->cache_read_per_m > in)
            in = m->cache_read_per_m;
        if (m->cache_write_per_m > in)
            in = m->cache_write_per_m;
        sy_nano_t c = dp_reserve_worst_case(bytes, max_tokens, r->ep == DP_EP_EMBEDDINGS, in, m->output_per_m,
                                            m->context_window, r->snap->limits.reserve_output_tokens);
        if (c > worst)
            worst = c;
    }
    dp_reserve_why_t why;
    dp_reserve_reason_t res = dp_reserve_take(k, r->snap->version, worst, dp_limit_now_ns(), &r->rsv, &why);
    if (res == DP_RESERVE_OK)
        return SY_E_OK;
    /* The first sentence says what ran out and how much is left, as NexoRouter's does
     * ("Insufficient prepaid balance. Current balance: $0.000000."); the rest says why. */
    int budget = res == DP_RESERVE_BUDGET;
    const char *head = budget ? "Key budget exhausted. Remaining budget" : "Insufficient prepaid balance. Current balance";
    const char *what = budget ? "budget" : "balance";
    char w[32], left[32], held[32], share[32];
    usd6(worst, w);
    usd6(why.remaining, left);
    usd6(why.reserved, held);
    usd6(why.share > 0 ? why.share : 0, share);
    if (why.remaining <= 0)
        snprintf(msg, msglen, "%s: $%s. Add credits to continue.", head, left);
    else if (worst > why.remaining)
        /* even alone this request could overspend: a smaller max_tokens may pass */
        snprintf(msg, msglen,
                 "%s: $%s. This request's worst case ($%s) exceeds the remaining %s; lower max_tokens or add "
                 "credits.",
                 head, left, w, what);
    else if (why.share < why.remaining)
        /* a fleet: the rest is the other nodes' to spend until the next rebalance */
        snprintf(msg, msglen,
                 "%s: $%s. This node's share of it is $%s, of which requests in flight hold $%s; shares follow "
                 "spending within seconds.",
                 head, left, share, held);
    else
        snprintf(msg, msglen, "%s: $%s, all of it held by requests in flight ($%s).", head, left, held);
    return SY_E_INSUFFICIENT_QUOTA;
}
