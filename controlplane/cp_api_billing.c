/*
 * Admin API: money — balances, the ledger and its check, grants, usage queries, Stripe Checkout
 * sessions and the Stripe webhook (docs/billing.md). Handlers run on the loop thread
 * (cp_routes.h); the checkout call to Stripe blocks it, bounded by stripe_timeout_ms.
 */

#include "cp_http.h"
#include "cp_routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <h2o.h>

#include "cp_admin.h"
#include "cp_bus.h"
#include "sy_error.h"
#include "sy_hash.h"
#include "sy_json.h"
#include "sy_log.h"
#include "sy_money.h"
#include "sy_util.h"

#include "cp_ledger.h"
#include "cp_metrics.h"
#include "cp_spend.h"
#include "cp_stripe.h"
#include "cp_usage.h"

#define CHECKOUT_MIN_CENTS 50       /* Stripe's own minimum for USD */
#define CHECKOUT_MAX_CENTS 10000000 /* 100,000 USD per session */

static int send_ledger_rc(h2o_req_t *req, cp_ledger_rc_t rc, const char *param, const char *err)
{
    if (rc == CP_LEDGER_NO_WORKSPACE)
        return cp_send_error(req, SY_E_NOT_FOUND, err, NULL);
    if (rc == CP_LEDGER_INVALID)
        return cp_send_error(req, SY_E_BAD_PARAM, err, param);
    return cp_send_store_error(req, err);
}

static int valid_url(const char *s)
{
    size_t n = strlen(s);
    return n > 8 && n <= 2048 && (strncmp(s, "https://", 8) == 0 || strncmp(s, "http://", 7) == 0) &&
           !sy_has_ctl(s, n) && strchr(s, ' ') == NULL;
}

int cp_h_balance(h2o_req_t *req, const cp_call_t *c)
{
    const char *ws = c->id;
    char err[256];
    cJSON *out;
    cp_ledger_rc_t rc = cp_ledger_balance_json(c->o->store, ws, &out, err, sizeof(err));
    if (rc != CP_LEDGER_OK)
        return send_ledger_rc(req, rc, NULL, err);
    return cp_send_owned(req, 200, out);
}

int cp_h_ledger(h2o_req_t *req, const cp_call_t *c)
{
    const char *ws = c->id;
    int64_t limit, before;
    if (cp_query_int(req, "limit", 1, 500, 50, &limit) != 0 ||
        cp_query_int(req, "before", 1, INT64_MAX, 0, &before) != 0)
        return 0;
    char err[256];
    cJSON *out;
    cp_ledger_rc_t rc = cp_ledger_list_json(c->o->store, ws, (int)limit, before, &out, err, sizeof(err));
    if (rc != CP_LEDGER_OK)
        return send_ledger_rc(req, rc, "limit", err);
    return cp_send_owned(req, 200, out);
}

int cp_h_ledger_check(h2o_req_t *req, const cp_call_t *c)
{
    char err[256];
    cJSON *problems = cJSON_CreateArray();
    int n = cp_ledger_check(c->o->store, NULL, problems, err, sizeof(err));
    if (n < 0) {
        cJSON_Delete(problems);
        return cp_send_store_error(req, err);
    }
    cJSON *b = cJSON_CreateObject();
    cJSON_AddBoolToObject(b, "ok", n == 0);
    cJSON_AddItemToObject(b, "problems", problems);
    return cp_send_owned(req, 200, b);
}

/* An admin grant. The client's `reference` is the idempotency key: the same reference again
 * (same workspace and amount) answers 200 with the original entry and "duplicate": true. */
int cp_h_credits(h2o_req_t *req, const cp_call_t *c)
{
    const char *ws = c->id;
    static const char *const allowed[] = {"amount_usd", "reference", "note", NULL};
    cJSON *root = cp_parse_body(req);
    if (root == NULL)
        return 0;
    int set;
    int64_t amount;
    const char *note;
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(root, "reference");
    if (cp_reject_unknown(req, root, allowed) != 0 ||
        cp_get_usd(req, root, "amount_usd", 0, 1, &set, &amount) != 0 ||
        cp_get_name(req, root, "note", &note) != 0)
        goto done;
    if (!set) {
        cp_send_error(req, SY_E_BAD_PARAM, "'amount_usd' is required: a decimal string of USD above zero",
                      "amount_usd");
        goto done;
    }
    if (!cJSON_IsString(ref) || !cp_admin_valid_id(ref->valuestring)) {
        cp_send_error(
            req, SY_E_BAD_PARAM,
            "'reference' is required: your idempotency key, 1..128 printable ASCII characters without "
            "spaces, quotes, '\\' or '/'",
            "reference");
        goto done;
    }
    char err[256];
    cp_ledger_entry_t e;
    uint64_t version = 0;
    cp_ledger_rc_t rc = cp_ledger_grant(c->o->store, ws, amount, ref->valuestring, note, cp_wall_ms(), &e,
                                        &version, err, sizeof(err));
    if (rc != CP_LEDGER_OK && rc != CP_LEDGER_DUPLICATE) {
        send_ledger_rc(req, rc, "reference", err);
        goto done;
    }
    cJSON *b = cJSON_CreateObject();
    cJSON_AddBoolToObject(b, "duplicate", rc == CP_LEDGER_DUPLICATE);
    cJSON_AddItemToObject(b, "entry", cp_ledger_entry_json(&e));
    if (rc == CP_LEDGER_OK) {
        cp_bus_notify(version);
        SY_INFO("msg=\"credit granted\" workspace=%s entry=%lld amount_nano=%lld version=%llu", ws,
                (long long)e.id, (long long)amount, (unsigned long long)version);
    }
    cp_send_owned(req, rc == CP_LEDGER_OK ? 201 : 200, b);
done:
    cJSON_Delete(root);
    return 0;
}

int cp_h_usage(h2o_req_t *req, const cp_call_t *c)
{
    const char *ws = c->id;
    char gb[16];
    cp_usage_group_t group = CP_USAGE_GROUP_NONE;
    int r = cp_query_param(req, "group_by", gb, sizeof(gb));
    if (r != 0) {
        if (r > 0 && strcmp(gb, "day") == 0)
            group = CP_USAGE_GROUP_DAY;
        else if (r > 0 && strcmp(gb, "model") == 0)
            group = CP_USAGE_GROUP_MODEL;
        else if (r > 0 && strcmp(gb, "key") == 0)
            group = CP_USAGE_GROUP_KEY;
        else
            return cp_send_error(req, SY_E_BAD_PARAM, "'group_by' must be day, model or key", "group_by");
    }
    int64_t from, to;
    if (cp_query_period(req, &from, &to) != 0)
        return 0;
    char err[256];
    cJSON *out;
    int rc = cp_usage_query_json(c->o->store, ws, from, to, group, &out, err, sizeof(err));
    return cp_send_ws_result(req, rc, out, err);
}

/* GET /api/workspaces/{id}/usage/savings?from&to: what auto routing saved (cp_spend.h). */
int cp_h_usage_savings(h2o_req_t *req, const cp_call_t *c)
{
    int64_t from, to;
    if (cp_query_period(req, &from, &to) != 0)
        return 0;
    char err[256];
    cJSON *out;
    int rc = cp_spend_savings_json(c->o->store, c->id, from, to, &out, err, sizeof(err));
    return cp_send_ws_result(req, rc, out, err);
}

/* GET /api/workspaces/{id}/usage/records: the request log, usage records one by one, newest
 * first (cp_usage_records_json). */
int cp_h_usage_records(h2o_req_t *req, const cp_call_t *c)
{
    const char *ws = c->id;
    int64_t limit, before;
    if (cp_query_int(req, "limit", 1, 500, 50, &limit) != 0 ||
        cp_query_int(req, "before", 1, INT64_MAX, 0, &before) != 0)
        return 0;
    /* filters: a key, a model, an outcome, a request (each a word), a period */
    static const char *const names[4] = {"key", "model", "outcome", "request_id"};
    char vals[4][129];
    const char *set[4] = {NULL, NULL, NULL, NULL};
    for (int i = 0; i < 4; i++) {
        int r = cp_query_param(req, names[i], vals[i], sizeof(vals[i]));
        if (r < 0 || (r > 0 && !sy_valid_word(vals[i], 128))) {
            char m[128];
            snprintf(m, sizeof(m), "'%s' must be given once, 1..128 characters without spaces or quotes",
                     names[i]);
            return cp_send_error(req, SY_E_BAD_PARAM, m, names[i]);
        }
        if (r > 0)
            set[i] = vals[i];
    }
    cp_usage_filter_t f = {set[0], set[1], set[2], set[3], 0, INT64_MAX};
    if (cp_query_period(req, &f.from_ms, &f.to_ms) != 0)
        return 0;
    char err[256];
    cJSON *out;
    int rc = cp_usage_records_json(c->o->store, ws, (int)limit, before, &f, &out, err, sizeof(err));
    return cp_send_ws_result(req, rc, out, err);
}

/* Creates a Stripe Checkout Session for a top-up. Blocks the loop thread for at most
 * stripe_timeout_ms (see cp_stripe_checkout.c for why that is acceptable here). */
int cp_h_checkout(h2o_req_t *req, const cp_call_t *c)
{
    const char *ws = c->id;
    static const char *const allowed[] = {"amount_usd", "success_url", "cancel_url", NULL};
    if (c->o->stripe_secret_key == NULL || c->o->stripe_secret_key[0] == '\0')
        return cp_send_error(req, SY_E_NOT_READY, "Stripe checkout is not configured (STRIPE_SECRET_KEY)",
                             NULL);
    cJSON *root = cp_parse_body(req);
    if (root == NULL)
        return 0;
    int set;
    int64_t amount;
    const cJSON *su = cJSON_GetObjectItemCaseSensitive(root, "success_url");
    const cJSON *cu = cJSON_GetObjectItemCaseSensitive(root, "cancel_url");
    if (cp_reject_unknown(req, root, allowed) != 0 ||
        cp_get_usd(req, root, "amount_usd", 0, 1, &set, &amount) != 0)
        goto done;
    if (!set || amount % CP_STRIPE_NANO_PER_CENT != 0 ||
        amount / CP_STRIPE_NANO_PER_CENT < CHECKOUT_MIN_CENTS ||
        amount / CP_STRIPE_NANO_PER_CENT > CHECKOUT_MAX_CENTS) {
        cp_send_error(req, SY_E_BAD_PARAM, "'amount_usd' must be whole cents from \"0.50\" to \"100000.00\"",
                      "amount_usd");
        goto done;
    }
    if (!cJSON_IsString(su) || !valid_url(su->valuestring)) {
        cp_send_error(req, SY_E_BAD_PARAM, "'success_url' must be an http(s) URL of at most 2048 bytes",
                      "success_url");
        goto done;
    }
    if (!cJSON_IsString(cu) || !valid_url(cu->valuestring)) {
        cp_send_error(req, SY_E_BAD_PARAM, "'cancel_url' must be an http(s) URL of at most 2048 bytes",
                      "cancel_url");
        goto done;
    }
    char err[256];
    cJSON *bal;
    cp_ledger_rc_t lr =
        cp_ledger_balance_json(c->o->store, ws, &bal, err, sizeof(err)); /* 404 before Stripe */
    if (lr != CP_LEDGER_OK) {
        send_ledger_rc(req, lr, NULL, err);
        goto done;
    }
    cJSON_Delete(bal);
    cp_stripe_api_t api = {.api_base = c->o->stripe_api_base,
                           .secret_key = c->o->stripe_secret_key,
                           .timeout_ms = c->o->stripe_timeout_ms > 0 ? c->o->stripe_timeout_ms : 10000};
    char id[256], url[2048];
    cp_stripe_co_rc_t rc =
        cp_stripe_checkout_create(&api, ws, amount / CP_STRIPE_NANO_PER_CENT, su->valuestring,
                                  cu->valuestring, id, sizeof(id), url, sizeof(url), err, sizeof(err));
    if (rc != CP_STRIPE_CO_OK) {
        SY_WARN("msg=\"checkout session failed\" workspace=%s err=\"%s\"", ws, err);
        cp_send_error(req,
                      rc == CP_STRIPE_CO_TIMEOUT    ? SY_E_UPSTREAM_TIMEOUT
                      : rc == CP_STRIPE_CO_UPSTREAM ? SY_E_UPSTREAM_ERROR
                                                    : SY_E_INTERNAL,
                      err, NULL);
        goto done;
    }
    SY_INFO("msg=\"checkout session\" workspace=%s session=%s amount_cents=%lld", ws, id,
            (long long)(amount / CP_STRIPE_NANO_PER_CENT));
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "id", id);
    cJSON_AddStringToObject(b, "url", url);
    cp_send_owned(req, 200, b);
done:
    cJSON_Delete(root);
    return 0;
}

/* POST /stripe/webhook: authenticated by the Stripe-Signature over the raw body, never by the
 * operator token. Anything that fails the check is 400 and writes nothing; a verified event is
 * applied once (cp_stripe_handle_event) and answered 200 — also when it is ignored or a replay,
 * so Stripe stops retrying. Only a store failure answers 500 (Stripe retries later). */
int cp_h_stripe_webhook(h2o_req_t *req, const cp_call_t *c)
{
    const char *secret = c->o->stripe_webhook_secret;
    if (secret == NULL || secret[0] == '\0') {
        cp_metrics_stripe("not_configured");
        return cp_send_error(req, SY_E_NOT_READY,
                             "the Stripe webhook is not configured (STRIPE_WEBHOOK_SECRET)", NULL);
    }
    size_t len = req->entity.base ? req->entity.len : 0;
    if (len > CP_STRIPE_MAX_BODY) {
        cp_metrics_stripe("too_large");
        return cp_send_error(req, SY_E_REQUEST_TOO_LARGE, "webhook body over 256 KiB", NULL);
    }
    ssize_t hi = h2o_find_header_by_str(&req->headers, H2O_STRLIT("stripe-signature"), -1);
    const char *hv = hi >= 0 ? req->headers.entries[hi].value.base : NULL;
    size_t hl = hi >= 0 ? req->headers.entries[hi].value.len : 0;
    /* a second Stripe-Signature header is ambiguous: refuse rather than pick one */
    if (hi >= 0 && h2o_find_header_by_str(&req->headers, H2O_STRLIT("stripe-signature"), hi) >= 0)
        hv = NULL;
    cp_stripe_sig_rc_t sr =
        cp_stripe_verify(hv, hl, req->entity.base, len, secret, (int64_t)time(NULL), CP_STRIPE_TOLERANCE_S);
    if (sr != CP_STRIPE_SIG_OK) {
        SY_WARN("msg=\"stripe webhook refused\" reason=\"%s\" bytes=%zu", cp_stripe_sig_reason(sr), len);
        cp_metrics_stripe(sr == CP_STRIPE_SIG_NO_V1      ? "signature_no_v1"
                          : sr == CP_STRIPE_SIG_STALE    ? "signature_stale"
                          : sr == CP_STRIPE_SIG_MISMATCH ? "signature_mismatch"
                                                         : "signature_malformed");
        return cp_send_error(req, SY_E_BAD_REQUEST, cp_stripe_sig_reason(sr), "Stripe-Signature");
    }
    char err[256];
    cp_stripe_ev_result_t res;
    cp_stripe_ev_rc_t rc =
        cp_stripe_handle_event(c->o->store, req->entity.base, len, cp_wall_ms(), &res, err, sizeof(err));
    cp_metrics_stripe(rc == CP_STRIPE_EV_ERROR ? "store_error" : res.outcome);
    if (rc == CP_STRIPE_EV_INVALID) {
        SY_WARN("msg=\"stripe event refused\" err=\"%s\"", err);
        return cp_send_error(req, SY_E_BAD_REQUEST, err, NULL);
    }
    if (rc == CP_STRIPE_EV_ERROR)
        return cp_send_store_error(req, err);
    if (rc == CP_STRIPE_EV_APPLIED)
        cp_bus_notify(res.version);
    if (rc == CP_STRIPE_EV_IGNORED && strcmp(res.outcome, "ignored_type") != 0)
        SY_WARN("msg=\"stripe event not applied\" event=%s type=%s outcome=%s workspace=%s", res.event_id,
                res.type, res.outcome, res.workspace[0] ? res.workspace : "-");
    else
        SY_INFO("msg=\"stripe event\" event=%s type=%s outcome=%s workspace=%s amount_nano=%lld",
                res.event_id, res.type, res.outcome, res.workspace[0] ? res.workspace : "-",
                (long long)res.amount_nano);
    cJSON *b = cJSON_CreateObject();
    cJSON_AddBoolToObject(b, "received", 1);
    cJSON_AddStringToObject(b, "outcome", res.outcome);
    return cp_send_owned(req, 200, b);
}
