/*
 * Stage 3: admit — is this key allowed to spend right now? Key revoked or expired → 401,
 * workspace deactivated → 403. (Balance, budgets and rate limits join here.) The model scope
 * is checked in dp_route, once the body says which model.
 */
#include <time.h>

#include "dp.h"

sy_err_t dp_admit(dp_req_t *r)
{
    const dp_key_t *k = r->key;
    if (k->revoked)
        return SY_E_INVALID_API_KEY;
    if (k->expires_at != 0 && (int64_t)time(NULL) >= k->expires_at)
        return SY_E_INVALID_API_KEY;
    if (!k->workspace->active)
        return SY_E_ACCOUNT_DISABLED;
    return SY_E_OK;
}
