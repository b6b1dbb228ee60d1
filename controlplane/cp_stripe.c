/*
 * cp_stripe — the webhook side: signature check and event effects. See cp_stripe.h.
 */
#include "cp_stripe.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "cp_ledger.h"
#include "sy_hash.h"
#include "sy_json.h"
#include "sy_log.h"
#include "sy_util.h"

/* ------------------------------------------------------------------------- signature */


int cp_stripe_parse_sig(const char *h, size_t len, cp_stripe_sig_t *out)
{
    memset(out, 0, sizeof(*out));
    if (h == NULL || len == 0 || len > CP_STRIPE_MAX_HEADER)
        return -1;
    int have_t = 0;
    size_t i = 0;
    for (;;) {
        size_t start = i;
        while (i < len && h[i] != ',')
            i++;
        size_t end = i; /* element is h[start, end) */
        while (start < end && h[start] == ' ')
            start++; /* tolerate "t=1, v1=..." */
        size_t eq = start;
        while (eq < end && h[eq] != '=')
            eq++;
        if (eq == start || eq == end) /* empty element, empty key or no '=' */
            return -1;
        const char *k = h + start, *v = h + eq + 1;
        size_t kl = eq - start, vl = end - eq - 1;
        if (kl == 1 && k[0] == 't') {
            if (have_t || vl == 0 || vl > 12)
                return -1;
            int64_t t = 0;
            for (size_t j = 0; j < vl; j++) {
                if (v[j] < '0' || v[j] > '9')
                    return -1;
                t = t * 10 + (v[j] - '0');
            }
            out->t = t;
            have_t = 1;
        } else if (kl == 2 && k[0] == 'v' && k[1] == '1') {
            if (vl != 64 || out->nv1 == CP_STRIPE_MAX_V1)
                return -1;
            if (sy_unhex(v, vl, out->v1[out->nv1], 32) != 0)
                return -1;
            out->nv1++;
        } else {
            /* v0 (Stripe's test-mode legacy scheme) and anything newer: not used, but the key
             * must still look like a key */
            for (size_t j = 0; j < kl; j++)
                if (!((k[j] >= 'a' && k[j] <= 'z') || (k[j] >= '0' && k[j] <= '9') || k[j] == '_'))
                    return -1;
        }
        if (i == len)
            break;
        i++; /* past ',' */
        if (i == len) /* trailing comma */
            return -1;
    }
    return have_t ? 0 : -1;
}

const char *cp_stripe_sig_reason(cp_stripe_sig_rc_t rc)
{
    switch (rc) {
    case CP_STRIPE_SIG_OK:
        return "ok";
    case CP_STRIPE_SIG_MALFORMED:
        return "malformed or missing Stripe-Signature header";
    case CP_STRIPE_SIG_NO_V1:
        return "no v1 signature in the Stripe-Signature header";
    case CP_STRIPE_SIG_STALE:
        return "Stripe-Signature timestamp outside the tolerance";
    case CP_STRIPE_SIG_MISMATCH:
        return "no signature matches the payload";
    }
    return "?";
}

static int hmac_sha256(const char *secret, int64_t t, const void *body, size_t blen, uint8_t out[32])
{
    char prefix[32];
    int pl = snprintf(prefix, sizeof(prefix), "%" PRId64 ".", t);
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
                           OSSL_PARAM_construct_end()};
    size_t outl = 0;
    int ok = ctx != NULL && EVP_MAC_init(ctx, (const unsigned char *)secret, strlen(secret), params) == 1 &&
             EVP_MAC_update(ctx, (const unsigned char *)prefix, (size_t)pl) == 1 &&
             (blen == 0 || EVP_MAC_update(ctx, body, blen) == 1) && EVP_MAC_final(ctx, out, &outl, 32) == 1 &&
             outl == 32;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    return ok ? 0 : -1;
}

int cp_stripe_sign(const char *secret, int64_t t, const void *body, size_t blen, char out[65])
{
    uint8_t mac[32];
    if (hmac_sha256(secret, t, body, blen, mac) != 0)
        return -1;
    static const char hx[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hx[mac[i] >> 4];
        out[2 * i + 1] = hx[mac[i] & 15];
    }
    out[64] = '\0';
    return 0;
}

cp_stripe_sig_rc_t cp_stripe_verify(const char *header, size_t hlen, const void *body, size_t blen,
                                    const char *secret, int64_t now_s, int64_t tolerance_s)
{
    cp_stripe_sig_t sig;
    if (header == NULL || secret == NULL || secret[0] == '\0' || cp_stripe_parse_sig(header, hlen, &sig) != 0)
        return CP_STRIPE_SIG_MALFORMED;
    if (sig.nv1 == 0)
        return CP_STRIPE_SIG_NO_V1;
    if (sig.t < now_s - tolerance_s || sig.t > now_s + tolerance_s)
        return CP_STRIPE_SIG_STALE;
    uint8_t mac[32];
    if (hmac_sha256(secret, sig.t, body, blen, mac) != 0)
        return CP_STRIPE_SIG_MISMATCH;
    /* every entry is compared, in constant time each, and the results ORed: the time taken
     * does not say which entry (or which byte) was close */
    int match = 0;
    for (size_t i = 0; i < sig.nv1; i++)
        match |= CRYPTO_memcmp(mac, sig.v1[i], 32) == 0;
    OPENSSL_cleanse(mac, sizeof(mac));
    return match ? CP_STRIPE_SIG_OK : CP_STRIPE_SIG_MISMATCH;
}

/* ---------------------------------------------------------------------------- events */


static const char *str_member(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A whole number of cents in 0..CP_STRIPE_MAX_CENTS; -1 when absent or anything else. */
static int64_t cents_member(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsNumber(v))
        return -1;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= (double)CP_STRIPE_MAX_CENTS) || (double)(int64_t)d != d)
        return -1;
    return (int64_t)d;
}

/* The workspace an object names: client_reference_id, else metadata.workspace_id. */
static const char *workspace_of(const cJSON *obj, int use_client_ref)
{
    const char *ws = use_client_ref ? str_member(obj, "client_reference_id") : NULL;
    if (ws == NULL || ws[0] == '\0')
        ws = str_member(cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "workspace_id");
    return ws;
}


/* Runs a write whose parameters are `ntext` texts (?1..?ntext) and then one integer. */
static int exec_bind(cp_store_t *s, const char *sql, const char *const *text, int ntext, int64_t num, char *err,
                     size_t errlen)
{
    sqlite3_stmt *st;
    if (cp_store_prepare(s, sql, &st, err, errlen) != 0)
        return -1;
    for (int i = 0; i < ntext; i++)
        sqlite3_bind_text(st, i + 1, text[i], -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, ntext + 1, num);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return sy_errf(err, errlen, "stripe: %s", sqlite3_errmsg(cp_store_db(s)));
    return 0;
}

/* checkout.session.completed (paid) / async_payment_succeeded: credit amount_total once per
 * session (ledger ref stripe:<session id>, so both paths credit once). */
static cp_stripe_ev_rc_t on_checkout(cp_store_t *s, const cJSON *obj, int async_ok, int64_t now_ms,
                                     cp_stripe_ev_result_t *res, char *err, size_t errlen)
{
    const char *sid = str_member(obj, "id");
    const char *status = str_member(obj, "payment_status");
    const char *cur = str_member(obj, "currency");
    int64_t cents = cents_member(obj, "amount_total");
    if (!sy_valid_word(sid, 200) || cents < 0) {
        sy_errf(err, errlen, "checkout session without a valid id or amount_total");
        return CP_STRIPE_EV_INVALID;
    }
    if (!async_ok && (status == NULL || strcmp(status, "paid") != 0)) {
        res->outcome = "unpaid"; /* async methods: credited by async_payment_succeeded */
        return CP_STRIPE_EV_IGNORED;
    }
    if (cur == NULL || strcasecmp(cur, "usd") != 0) {
        res->outcome = "currency";
        return CP_STRIPE_EV_IGNORED;
    }
    if (cents == 0) {
        res->outcome = "ignored_type";
        return CP_STRIPE_EV_IGNORED;
    }
    const char *ws = workspace_of(obj, 1);
    if (!sy_valid_word(ws, 128)) {
        res->outcome = "unknown_workspace";
        return CP_STRIPE_EV_IGNORED;
    }
    snprintf(res->workspace, sizeof(res->workspace), "%s", ws);
    char ref[256], note[320];
    snprintf(ref, sizeof(ref), "stripe:%s", sid);
    snprintf(note, sizeof(note), "stripe %s", res->event_id);
    cp_ledger_entry_t e;
    int64_t amount = cents * CP_STRIPE_NANO_PER_CENT;
    cp_ledger_rc_t lr = cp_ledger_append(s, ws, CP_LEDGER_CREDIT, amount, ref, note, now_ms, &e, err, errlen);
    if (lr == CP_LEDGER_NO_WORKSPACE) {
        res->outcome = "unknown_workspace";
        return CP_STRIPE_EV_IGNORED;
    }
    if (lr == CP_LEDGER_DUPLICATE) {
        res->outcome = "already_credited";
        return CP_STRIPE_EV_IGNORED;
    }
    if (lr != CP_LEDGER_OK)
        return lr == CP_LEDGER_INVALID ? CP_STRIPE_EV_INVALID : CP_STRIPE_EV_ERROR;
    /* remember which workspace this payment credited: refunds of its charge may carry no
     * metadata */
    const char *pi = str_member(obj, "payment_intent");
    if (sy_valid_word(pi, 200) &&
        exec_bind(s,
                  "INSERT INTO stripe_payments (payment_intent, session_id, workspace_id) VALUES (?1, ?2, ?3)"
                  " ON CONFLICT (payment_intent) DO NOTHING",
                  (const char *const[]){pi, sid, ws}, 3, 0, err, errlen) != 0)
        return CP_STRIPE_EV_ERROR;
    res->amount_nano = amount;
    res->outcome = "credited";
    return CP_STRIPE_EV_APPLIED;
}

/* Looks up text by one text parameter; 1 found (copied to out), 0 none, -1 error. */
static int lookup_text(cp_store_t *s, const char *sql, const char *arg, char *out, size_t outlen, int64_t *num,
                       char *err, size_t errlen)
{
    sqlite3_stmt *st;
    if (cp_store_prepare(s, sql, &st, err, errlen) != 0)
        return -1;
    sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st), found = 0;
    if (rc == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        snprintf(out, outlen, "%s", t ? (const char *)t : "");
        if (num != NULL)
            *num = sqlite3_column_int64(st, 1);
        found = 1;
    } else if (rc != SQLITE_DONE) {
        found = sy_errf(err, errlen, "stripe: %s", sqlite3_errmsg(cp_store_db(s)));
    }
    sqlite3_finalize(st);
    return found;
}

/* charge.refunded: debit the growth of amount_refunded since the last refund seen for the charge
 * (per-charge row in stripe_charges), once per event (ledger ref stripe:<event id>). */
static cp_stripe_ev_rc_t on_refund(cp_store_t *s, const cJSON *obj, int64_t now_ms, cp_stripe_ev_result_t *res,
                                   char *err, size_t errlen)
{
    const char *cid = str_member(obj, "id");
    const char *cur = str_member(obj, "currency");
    int64_t refunded = cents_member(obj, "amount_refunded");
    if (!sy_valid_word(cid, 200) || refunded < 0) {
        sy_errf(err, errlen, "charge without a valid id or amount_refunded");
        return CP_STRIPE_EV_INVALID;
    }
    if (cur == NULL || strcasecmp(cur, "usd") != 0) {
        res->outcome = "currency";
        return CP_STRIPE_EV_IGNORED;
    }
    char ws[129] = "";
    int64_t seen = 0;
    int r = lookup_text(s, "SELECT workspace_id, refunded_cents FROM stripe_charges WHERE id = ?1", cid, ws,
                        sizeof(ws), &seen, err, errlen);
    if (r < 0)
        return CP_STRIPE_EV_ERROR;
    if (r == 0) {
        const char *m = workspace_of(obj, 0);
        const char *pi = str_member(obj, "payment_intent");
        if (sy_valid_word(m, 128))
            snprintf(ws, sizeof(ws), "%s", m);
        else if (sy_valid_word(pi, 200) &&
                 (r = lookup_text(s, "SELECT workspace_id, 0 FROM stripe_payments WHERE payment_intent = ?1", pi, ws,
                                  sizeof(ws), NULL, err, errlen)) < 0)
            return CP_STRIPE_EV_ERROR;
        if (ws[0] == '\0' || (r = cp_store_exists(s, "SELECT 1 FROM workspaces WHERE id = ?1", ws, err, errlen)) == 0) {
            res->outcome = "unknown_workspace";
            return CP_STRIPE_EV_IGNORED;
        }
        if (r < 0)
            return CP_STRIPE_EV_ERROR;
    }
    snprintf(res->workspace, sizeof(res->workspace), "%s", ws);
    if (refunded <= seen) { /* an older or repeated state of the charge (events may arrive out of order) */
        res->outcome = "no_new_refund";
        return CP_STRIPE_EV_IGNORED;
    }
    int64_t amount = -(refunded - seen) * CP_STRIPE_NANO_PER_CENT;
    char ref[300], note[256];
    snprintf(ref, sizeof(ref), "stripe:%s", res->event_id);
    snprintf(note, sizeof(note), "stripe refund of %s", cid);
    cp_ledger_rc_t lr = cp_ledger_append(s, ws, CP_LEDGER_REFUND, amount, ref, note, now_ms, NULL, err, errlen);
    if (lr != CP_LEDGER_OK)
        return lr == CP_LEDGER_INVALID ? CP_STRIPE_EV_INVALID : CP_STRIPE_EV_ERROR;
    if (exec_bind(s,
                  "INSERT INTO stripe_charges (id, workspace_id, refunded_cents) VALUES (?1, ?2, ?3)"
                  " ON CONFLICT (id) DO UPDATE SET refunded_cents = excluded.refunded_cents",
                  (const char *const[]){cid, ws}, 2, refunded, err, errlen) != 0)
        return CP_STRIPE_EV_ERROR;
    res->amount_nano = amount;
    res->outcome = "refunded";
    return CP_STRIPE_EV_APPLIED;
}

static int record_event(cp_store_t *s, const char *id, const char *type, const char *outcome, const char *ws,
                        int64_t now_ms, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    if (cp_store_prepare(s,
                         "INSERT INTO stripe_events (id, type, outcome, workspace_id, received_ms)"
                         " VALUES (?1, ?2, ?3, ?4, ?5)",
                         &st, err, errlen) != 0)
        return -1;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, type, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, outcome, -1, SQLITE_STATIC);
    if (ws[0] != '\0')
        sqlite3_bind_text(st, 4, ws, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, 4);
    sqlite3_bind_int64(st, 5, now_ms);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return sy_errf(err, errlen, "stripe event: %s", sqlite3_errmsg(cp_store_db(s)));
    return 0;
}

cp_stripe_ev_rc_t cp_stripe_handle_event(cp_store_t *s, const char *body, size_t len, int64_t now_ms,
                                         cp_stripe_ev_result_t *res, char *err, size_t errlen)
{
    memset(res, 0, sizeof(*res));
    res->outcome = "invalid";
    if (len == 0 || len > CP_STRIPE_MAX_BODY || sy_json_precheck(body, len, 64, NULL) != SY_JSON_OK) {
        sy_errf(err, errlen, "the event is not valid UTF-8 JSON");
        return CP_STRIPE_EV_INVALID;
    }
    cJSON *root = cJSON_ParseWithLength(body, len);
    const char *id = str_member(root, "id"), *type = str_member(root, "type");
    const cJSON *obj = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "data"), "object");
    if (!cJSON_IsObject(root) || !sy_valid_word(id, 200) || type == NULL || strlen(type) == 0 || strlen(type) > 100 ||
        !cJSON_IsObject(obj)) {
        cJSON_Delete(root);
        sy_errf(err, errlen, "not a Stripe event (id, type, data.object)");
        return CP_STRIPE_EV_INVALID;
    }
    snprintf(res->event_id, sizeof(res->event_id), "%s", id);
    snprintf(res->type, sizeof(res->type), "%s", type);

    cp_stripe_ev_rc_t rc = CP_STRIPE_EV_ERROR;
    if (cp_store_begin_write(s, err, errlen) != 0)
        goto out;
    int seen = cp_store_exists(s, "SELECT 1 FROM stripe_events WHERE id = ?1", id, err, errlen);
    if (seen != 0) {
        cp_store_rollback(s);
        if (seen > 0) {
            res->outcome = "replay";
            rc = CP_STRIPE_EV_REPLAY;
        }
        goto out;
    }
    if (strcmp(type, "checkout.session.completed") == 0)
        rc = on_checkout(s, obj, 0, now_ms, res, err, errlen);
    else if (strcmp(type, "checkout.session.async_payment_succeeded") == 0)
        rc = on_checkout(s, obj, 1, now_ms, res, err, errlen);
    else if (strcmp(type, "charge.refunded") == 0)
        rc = on_refund(s, obj, now_ms, res, err, errlen);
    else {
        res->outcome = "ignored_type";
        rc = CP_STRIPE_EV_IGNORED;
    }
    if (rc != CP_STRIPE_EV_APPLIED && rc != CP_STRIPE_EV_IGNORED) {
        cp_store_rollback(s);
        goto out;
    }
    /* the event id goes in with its effect (or with the decision to ignore it): a replay finds it */
    if (record_event(s, id, type, res->outcome, res->workspace, now_ms, err, errlen) != 0 ||
        cp_store_commit_write(s, &res->version, err, errlen) != 0) {
        cp_store_rollback(s);
        rc = CP_STRIPE_EV_ERROR;
    }
out:
    cJSON_Delete(root);
    return rc;
}
