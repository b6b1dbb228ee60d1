/*
 * cp_stripe_checkout — creates a Stripe Checkout Session with one blocking libcurl request
 * (see cp_stripe.h). Blocking is acceptable on the admin API's loop thread only because the
 * request is bounded by a short timeout (cp_api passes 10 s) and checkout creation is a rare,
 * operator-driven call; docs/billing.md says so.
 */
#include "cp_stripe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <openssl/crypto.h>

#include "sy_log.h"
#include "sy_util.h"

#define MAX_RESPONSE (64 * 1024)

typedef struct {
    char *buf;
    size_t len;
    int overflow;
} resp_t;

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    resp_t *r = ud;
    size_t add = size * n;
    if (r->len + add > MAX_RESPONSE) {
        r->overflow = 1;
        return 0; /* aborts the transfer */
    }
    char *nb = realloc(r->buf, r->len + add + 1);
    if (nb == NULL)
        return 0;
    memcpy(nb + r->len, p, add);
    r->buf = nb;
    r->len += add;
    r->buf[r->len] = '\0';
    return add;
}

/* Appends "&name=escaped(value)" to the form. */
static int form_add(CURL *c, char **form, size_t *len, const char *name, const char *value)
{
    char *v = curl_easy_escape(c, value, 0);
    if (v == NULL)
        return -1;
    size_t add = strlen(name) + strlen(v) + 2;
    char *nf = realloc(*form, *len + add + 1);
    if (nf == NULL) {
        curl_free(v);
        return -1;
    }
    *form = nf;
    *len += (size_t)snprintf(nf + *len, add + 1, "%s%s=%s", *len ? "&" : "", name, v);
    curl_free(v);
    return 0;
}

cp_stripe_co_rc_t cp_stripe_checkout_create(const cp_stripe_api_t *api, const char *workspace, int64_t cents,
                                            const char *success_url, const char *cancel_url, char *id, size_t idlen,
                                            char *url, size_t urllen, char *err, size_t errlen)
{
    cp_stripe_co_rc_t ret = CP_STRIPE_CO_ERROR;
    CURL *c = curl_easy_init();
    char *form = NULL, endpoint[1024], amount[32], auth[512];
    size_t flen = 0;
    struct curl_slist *hdrs = NULL;
    resp_t r = {0};
    cJSON *root = NULL;
    if (c == NULL) {
        sy_errf(err, errlen, "curl_easy_init failed");
        goto done;
    }
    if (strlen(api->secret_key) > sizeof(auth) - 32) {
        sy_errf(err, errlen, "the Stripe secret key is too long");
        goto done;
    }
    snprintf(endpoint, sizeof(endpoint), "%s/v1/checkout/sessions", api->api_base);
    snprintf(amount, sizeof(amount), "%lld", (long long)cents);
    /* The workspace goes three ways: client_reference_id and metadata on the session (the
     * webhook credits it), and metadata on the payment intent (its charges, hence refunds,
     * carry it). */
    if (form_add(c, &form, &flen, "mode", "payment") != 0 ||
        form_add(c, &form, &flen, "success_url", success_url) != 0 ||
        form_add(c, &form, &flen, "cancel_url", cancel_url) != 0 ||
        form_add(c, &form, &flen, "client_reference_id", workspace) != 0 ||
        form_add(c, &form, &flen, "metadata[workspace_id]", workspace) != 0 ||
        form_add(c, &form, &flen, "payment_intent_data[metadata][workspace_id]", workspace) != 0 ||
        form_add(c, &form, &flen, "line_items[0][quantity]", "1") != 0 ||
        form_add(c, &form, &flen, "line_items[0][price_data][currency]", "usd") != 0 ||
        form_add(c, &form, &flen, "line_items[0][price_data][unit_amount]", amount) != 0 ||
        form_add(c, &form, &flen, "line_items[0][price_data][product_data][name]", "Switchyard credit") != 0) {
        sy_errf(err, errlen, "out of memory");
        goto done;
    }
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", api->secret_key);
    hdrs = curl_slist_append(hdrs, auth);
    OPENSSL_cleanse(auth, sizeof(auth));
    struct curl_slist *h2 = hdrs ? curl_slist_append(hdrs, "Content-Type: application/x-www-form-urlencoded") : NULL;
    if (h2 == NULL) {
        sy_errf(err, errlen, "out of memory");
        goto done;
    }
    hdrs = h2;
    curl_easy_setopt(c, CURLOPT_URL, endpoint);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, form);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)flen);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, api->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, api->timeout_ms < 3000 ? api->timeout_ms : 3000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROXY, ""); /* never a proxy from the environment, as the probes */
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_USERAGENT, "switchyard-cp");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        ret = cc == CURLE_OPERATION_TIMEDOUT ? CP_STRIPE_CO_TIMEOUT : CP_STRIPE_CO_UPSTREAM;
        sy_errf(err, errlen, "Stripe could not be reached: %s", r.overflow ? "answer too large" : curl_easy_strerror(cc));
        goto done;
    }
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    root = r.buf ? cJSON_ParseWithLength(r.buf, r.len) : NULL;
    if (status < 200 || status > 299) {
        /* Stripe's error message may quote a (masked) key: only its type and code are repeated */
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(e, "type"), *code = cJSON_GetObjectItemCaseSensitive(e, "code");
        sy_errf(err, errlen, "Stripe refused the checkout session: HTTP %ld, type %.64s, code %.64s", status,
                cJSON_IsString(type) ? type->valuestring : "-", cJSON_IsString(code) ? code->valuestring : "-");
        ret = CP_STRIPE_CO_UPSTREAM;
        goto done;
    }
    const cJSON *sid = cJSON_GetObjectItemCaseSensitive(root, "id"), *surl = cJSON_GetObjectItemCaseSensitive(root, "url");
    if (!cJSON_IsString(sid) || !cJSON_IsString(surl) || strlen(sid->valuestring) >= idlen ||
        strlen(surl->valuestring) >= urllen || sid->valuestring[0] == '\0') {
        sy_errf(err, errlen, "Stripe's answer has no session id and url");
        ret = CP_STRIPE_CO_UPSTREAM;
        goto done;
    }
    snprintf(id, idlen, "%s", sid->valuestring);
    snprintf(url, urllen, "%s", surl->valuestring);
    ret = CP_STRIPE_CO_OK;
done:
    cJSON_Delete(root);
    free(r.buf);
    free(form);
    curl_slist_free_all(hdrs); /* holds a copy of the Authorization line: curl frees it plainly */
    if (c)
        curl_easy_cleanup(c);
    return ret;
}
