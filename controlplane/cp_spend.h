/*
 * cp_spend — what `auto` routing saved a workspace (the dashboard's Spend page).
 *
 * A request counts as routed when the client asked for a routing form — "auto", "strategy:…",
 * "industry:…" — rather than a model (usage.model_asked, recorded since migration 11). For the
 * successful routed attempts of [from_ms, to_ms) grouped by the classifier's task, the baseline
 * is what the same tokens (prompt, completion, cache reads and writes) would have cost on the
 * STRONGEST model the workspace used in that period for that task: the highest catalog quality
 * score for the task among the models of all its successful records (ties: the higher output
 * price), at its current catalog prices (sy_money_usage_cost, once per task over the summed
 * tokens, so the baseline may differ from a per-request sum by rounding: under a nano-USD per
 * request). saved = baseline − what was billed; it can be negative (routing picked a model
 * dearer than the strongest one used).
 *
 * Threading: the caller's store (the admin API's loop thread).
 */
#ifndef CP_SPEND_H
#define CP_SPEND_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "cp_store.h"

/* {"from_ms","to_ms","routed_requests","cost_usd","baseline_usd","saved_usd",(the *_nano too),
 *  "by_task":[{"task","baseline_model","requests","cost_usd","baseline_usd","saved_usd",…}]}.
 * 0; 1 for an unknown workspace (*out NULL); -1 with err. */
int cp_spend_savings_json(cp_store_t *s, const char *workspace_id, int64_t from_ms, int64_t to_ms,
                          cJSON **out, char *err, size_t errlen);

#endif
