/*
 * Admin API: API keys — create (the secret is shown once), read, edit scope, budget and limits,
 * revoke, rotate with a grace (docs/controlplane.md). Only the SHA-256 of a secret is stored.
 * Handlers run on the loop thread (cp_routes.h).
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

#include <openssl/crypto.h>
#include <openssl/rand.h>

#define MAX_ALLOWED_MODELS 1024
#define KEY_RANDOM_BYTES 32
#define KEY_PREFIX "sk-sy-"
#define DISPLAY_PREFIX_CHARS 10
#define KEY_SECRET_SIZE (sizeof(KEY_PREFIX) + 2 * KEY_RANDOM_BYTES)

/* A key's scope: a non-empty array of non-empty strings ("*" or catalog ids; the store checks
 * that they exist). */
static int check_scope(h2o_req_t *req, const cJSON *models)
{
    int n = cJSON_IsArray(models) ? cJSON_GetArraySize(models) : -1;
    if (n < 1 || n > MAX_ALLOWED_MODELS) {
        cp_send_error(
            req, SY_E_BAD_PARAM,
            "'allowed_models' is required: a non-empty array of catalog model ids, or [\"*\"] for all",
            "allowed_models");
        return -1;
    }
    const cJSON *m;
    cJSON_ArrayForEach(m, models)
    {
        if (!cJSON_IsString(m) || m->valuestring[0] == '\0' || strlen(m->valuestring) > 256) {
            cp_send_error(req, SY_E_BAD_PARAM, "'allowed_models' must contain non-empty strings",
                          "allowed_models");
            return -1;
        }
    }
    return 0;
}

/* `expires_at`: absent or null = 0 (never); else whole unix seconds in the future. */
static int get_expires(h2o_req_t *req, const cJSON *root, int64_t *out)
{
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(root, "expires_at");
    *out = 0;
    if (exp == NULL || cJSON_IsNull(exp))
        return 0;
    double d = cJSON_IsNumber(exp) ? exp->valuedouble : -1;
    if (!(d >= 0 && d <= 9007199254740992.0) || (double)(int64_t)d != d) {
        cp_send_error(req, SY_E_BAD_PARAM, "'expires_at' must be a whole number of unix seconds (0 = never)",
                      "expires_at");
        return -1;
    }
    *out = (int64_t)d;
    if (*out != 0 && *out <= (int64_t)time(NULL)) {
        cp_send_error(req, SY_E_BAD_PARAM, "'expires_at' is in the past", "expires_at");
        return -1;
    }
    return 0;
}

/* A fresh secret (`sk-sy-` + 64 hex digits from RAND_bytes) in key (KEY_SECRET_SIZE bytes),
 * its display prefix (32 bytes) and SHA-256. The caller cleanses key after use. -1 when the
 * random number generator fails. */
static int new_secret(char *key, char *prefix, uint8_t sha[SY_SHA256_LEN])
{
    uint8_t rnd[KEY_RANDOM_BYTES];
    key[0] = '\0';
    if (RAND_bytes(rnd, sizeof(rnd)) != 1)
        return -1;
    memcpy(key, KEY_PREFIX, sizeof(KEY_PREFIX) - 1);
    sy_hex(rnd, sizeof(rnd), key + sizeof(KEY_PREFIX) - 1);
    OPENSSL_cleanse(rnd, sizeof(rnd));
    snprintf(prefix, 32, "%.*s\xe2\x80\xa6", DISPLAY_PREFIX_CHARS, key);
    sy_sha256(key, strlen(key), sha);
    return 0;
}

int cp_h_list_keys(h2o_req_t *req, const cp_call_t *c)
{
    const char *ws = c->id;
    char err[256];
    cJSON *arr;
    cp_admin_rc_t rc = cp_admin_list_keys(c->o->store, ws, &arr, err, sizeof(err));
    if (rc != CP_ADMIN_OK) {
        cp_send_admin_rc(req, rc, NULL, err);
        return 0;
    }
    return cp_send_list(req, arr);
}

int cp_h_create_key(h2o_req_t *req, const cp_call_t *c)
{
    const char *ws = c->id;
    static const char *const allowed[] = {"name", "allowed_models", "expires_at", NULL};
    cJSON *root = cp_parse_body(req);
    if (root == NULL)
        return 0;
    const char *name;
    if (cp_reject_unknown(req, root, allowed) != 0 || cp_get_name(req, root, "name", &name) != 0)
        goto done;
    const cJSON *models = cJSON_GetObjectItemCaseSensitive(root, "allowed_models");
    int64_t expires_at = 0;
    if (check_scope(req, models) != 0 || get_expires(req, root, &expires_at) != 0)
        goto done;

    /* the key: shown once, in this response; only its SHA-256 and a display prefix are kept */
    uint8_t idrnd[8], sha[SY_SHA256_LEN];
    char key[KEY_SECRET_SIZE], key_id[4 + 2 * sizeof(idrnd) + 1], prefix[32];
    if (new_secret(key, prefix, sha) != 0 || RAND_bytes(idrnd, sizeof(idrnd)) != 1) {
        OPENSSL_cleanse(key, sizeof(key));
        cp_send_error(req, SY_E_INTERNAL, "the random number generator failed", NULL);
        goto done;
    }
    memcpy(key_id, "key_", 4);
    sy_hex(idrnd, sizeof(idrnd), key_id + 4);

    cp_admin_new_key_t k = {.id = key_id,
                            .workspace_id = ws,
                            .sha256 = sha,
                            .prefix = prefix,
                            .name = name,
                            .allowed_models = models,
                            .expires_at = expires_at};
    char err[256];
    const char *param = NULL;
    cJSON *out;
    uint64_t version;
    cp_admin_rc_t rc = cp_admin_create_key(c->o->store, &k, &out, &version, &param, err, sizeof(err));
    if (rc != CP_ADMIN_OK) {
        OPENSSL_cleanse(key, sizeof(key));
        cp_send_admin_rc(req, rc, param, err);
        goto done;
    }
    cJSON_AddStringToObject(out, "key", key);
    OPENSSL_cleanse(key, sizeof(key));
    cp_bus_notify(version);
    SY_INFO("msg=\"key created\" id=%s workspace=%s prefix=\"%s\" version=%llu", key_id, ws, prefix,
            (unsigned long long)version);
    cp_send_owned(req, 201, out);
done:
    cJSON_Delete(root);
    return 0;
}

int cp_h_revoke_key(h2o_req_t *req, const cp_call_t *c)
{
    const char *id = c->id;
    char err[256];
    uint64_t version;
    cp_admin_rc_t rc = cp_admin_revoke_key(c->o->store, id, &version, err, sizeof(err));
    if (rc != CP_ADMIN_OK) {
        cp_send_admin_rc(req, rc, NULL, err);
        return 0;
    }
    cp_bus_notify(version);
    SY_INFO("msg=\"key revoked\" id=%s version=%llu", id, (unsigned long long)version);
    return cp_send_ok_version(req, version);
}

/* POST /api/keys/{id}/rotate {"grace_seconds": N}: the body is optional (no body: no grace). */
int cp_h_rotate_key(h2o_req_t *req, const cp_call_t *c)
{
    const char *id = c->id;
    static const char *const allowed[] = {"grace_seconds", NULL};
    cJSON *root = NULL;
    int64_t grace = 0;
    if (req->entity.base != NULL && req->entity.len > 0) {
        if ((root = cp_parse_body(req)) == NULL)
            return 0;
        if (cp_reject_unknown(req, root, allowed) != 0)
            goto done;
        const cJSON *gs = cJSON_GetObjectItemCaseSensitive(root, "grace_seconds");
        if (gs != NULL && !cJSON_IsNull(gs)) {
            double d = cJSON_IsNumber(gs) ? gs->valuedouble : -1;
            if (!(d >= 0 && d <= CP_ADMIN_ROTATE_GRACE_MAX_S) || (double)(int64_t)d != d) {
                char msg[128];
                snprintf(msg, sizeof(msg), "'grace_seconds' must be a whole number from 0 to %d (7 days)",
                         CP_ADMIN_ROTATE_GRACE_MAX_S);
                cp_send_error(req, SY_E_BAD_PARAM, msg, "grace_seconds");
                goto done;
            }
            grace = (int64_t)d;
        }
    }

    /* the new secret: shown once, in this response, like a new key's */
    uint8_t sha[SY_SHA256_LEN];
    char key[KEY_SECRET_SIZE], prefix[32];
    if (new_secret(key, prefix, sha) != 0) {
        OPENSSL_cleanse(key, sizeof(key));
        cp_send_error(req, SY_E_INTERNAL, "the random number generator failed", NULL);
        goto done;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    cp_admin_rotation_t r = {.id = id,
                             .sha256 = sha,
                             .prefix = prefix,
                             .grace_seconds = grace,
                             .now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000};
    char err[256];
    const char *param = NULL;
    cJSON *out;
    uint64_t version;
    cp_admin_rc_t rc = cp_admin_rotate_key(c->o->store, &r, &out, &version, &param, err, sizeof(err));
    if (rc != CP_ADMIN_OK) {
        OPENSSL_cleanse(key, sizeof(key));
        cp_send_admin_rc(req, rc, param, err);
        goto done;
    }
    cJSON_AddStringToObject(out, "key", key);
    OPENSSL_cleanse(key, sizeof(key));
    cp_bus_notify(version);
    SY_INFO("msg=\"key rotated\" id=%s prefix=\"%s\" grace_seconds=%lld version=%llu", id, prefix,
            (long long)grace, (unsigned long long)version);
    cp_send_owned(req, 200, out);
done:
    cJSON_Delete(root);
    return 0;
}

int cp_h_get_key(h2o_req_t *req, const cp_call_t *c)
{
    const char *id = c->id;
    char err[256];
    cJSON *k;
    cp_admin_rc_t rc = cp_admin_get_key(c->o->store, id, &k, err, sizeof(err));
    if (rc != CP_ADMIN_OK) {
        cp_send_admin_rc(req, rc, NULL, err);
        return 0;
    }
    return cp_send_owned(req, 200, k);
}

int cp_h_patch_key(h2o_req_t *req, const cp_call_t *c)
{
    const char *id = c->id;
    static const char *const allowed[] = {"name", "allowed_models", "budget_usd", "rpm",
                                          "tpm",  "expires_at",     NULL};
    cp_admin_key_patch_t p = {0};
    cJSON *root = cp_patch_body(req, allowed, &p.name);
    if (root == NULL)
        return 0;
    p.allowed_models = cJSON_GetObjectItemCaseSensitive(root, "allowed_models");
    if ((p.allowed_models && check_scope(req, p.allowed_models) != 0) ||
        cp_get_usd(req, root, "budget_usd", 1, 1, &p.set_budget, &p.budget_nano) != 0 ||
        cp_get_rate_limits(req, root, 1, &p.set_rpm, &p.rpm, &p.set_tpm, &p.tpm) != 0 ||
        get_expires(req, root, &p.expires_at) != 0)
        goto done;
    p.set_expires = cJSON_GetObjectItemCaseSensitive(root, "expires_at") != NULL;

    char err[256];
    const char *param = NULL;
    cJSON *out;
    uint64_t version;
    cp_admin_rc_t rc = cp_admin_update_key(c->o->store, id, &p, &out, &version, &param, err, sizeof(err));
    cp_send_written(req, rc, param, err, out, version, 200, "key updated", id);
done:
    cJSON_Delete(root);
    return 0;
}
