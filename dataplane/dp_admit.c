/*
 * Stage 3: admit — is this key allowed to spend right now? Key revoked or expired → 401,
 * workspace deactivated → 403, a rate limit (requests or tokens per minute, key or
 * workspace; dp_limit.h, docs/admission.md) → 429 `rate_limited` with `retry-after`.
 * (Balance and budgets join here.) The model scope is checked in dp_route, once the body says
 * which model.
 */
#include <stdio.h>
#include <time.h>

#include "dp.h"

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
        snprintf(msg, msglen, "Rate limit reached for requests per minute (limit %u). Please try again in %us.",
                 r->rl.req_limit, r->rl.retry_after_s);
    else
        snprintf(msg, msglen,
                 "Rate limit reached for tokens per minute (limit %u, requested about %lld). Please try again in %us.",
                 r->rl.tok_limit, (long long)est, r->rl.retry_after_s);
    return SY_E_RATE_LIMITED; /* dp_respond_error adds retry-after from r->rl */
}
