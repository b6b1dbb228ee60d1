/*
 * The admin API on h2o: one event-loop thread serves every request.
 *
 * SQLite work happens right on the loop thread. That is a deliberate simplification for this
 * slice: the admin API's writes are small local transactions (a few hundred microseconds in
 * WAL mode), admin traffic is light, and the fleet never waits on this service. Usage
 * ingestion (bus thread) now shares the write lock: a batch is one transaction of at most 1000
 * records, so the loop waits at most that long for it; if batches or their rate grow, move the
 * store calls to a worker thread (the 5 s busy timeout would otherwise stall the loop). The
 * Stripe checkout call also blocks the loop, bounded by stripe_timeout_ms (docs/billing.md).
 */
#include "sy_util.h"
#include "sy_h2o.h"
#include "cp_api.h"
#include "cp_bus.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <h2o.h>

#include "cp_admin.h"
#include "sy_error.h"
#include "sy_hash.h"
#include "sy_json.h"
#include "sy_linger.h"
#include "sy_log.h"
#include "sy_money.h"
#include "cp_catalog.h"
#include "cp_ledger.h"
#include "cp_metrics.h"
#include "cp_stripe.h"
#include "cp_usage.h"
#include "sy_catalog.h"

#define MAX_NAME_BYTES 256
#define MAX_ALLOWED_MODELS 1024
#define MAX_SEGMENTS 6
#define MAX_SEGMENT 129 /* 128-byte ids + NUL */
#define KEY_RANDOM_BYTES 32
#define KEY_PREFIX "sk-sy-"
#define DISPLAY_PREFIX_CHARS 10

static struct {
    h2o_globalconf_t conf;
    const cp_api_opts_t *opts;
    uint8_t token_sha[SY_SHA256_LEN];
    int listen_fd;
    pthread_t tid;
    h2o_evloop_t *loop;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    h2o_socket_t *listener;
    h2o_multithread_receiver_t receiver;
    int stop;
    pthread_mutex_t ready_mu;
    pthread_cond_t ready_cv;
    int ready;
    size_t max_body; /* request bodies over this get 413 (except the Stripe webhook's) */
} g;

/* ---------------------------------------------------------------------------- responses */

static h2o_generator_t inline_gen = {NULL, NULL};

/* Sends `text` (JSON, owned by the caller; NULL = out of memory) as the whole response. */
static void send_text(h2o_req_t *req, int status, const char *text)
{
    static const char oom[] =
        "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"param\":null,"
        "\"code\":\"internal_error\"}}";
    h2o_iovec_t buf =
        text ? h2o_strdup(&req->pool, text, strlen(text)) : h2o_iovec_init(oom, sizeof(oom) - 1);
    if (text == NULL)
        status = 500;
    req->res.status = status;
    req->res.reason = status < 300 ? "OK" : "Error";
    req->res.content_length = buf.len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("application/json"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
    SY_INFO("msg=request method=%.*s path=\"%.*s\" status=%d", (int)req->method.len, req->method.base,
            (int)(req->path_normalized.len > 200 ? 200 : req->path_normalized.len), req->path_normalized.base,
            status);
    h2o_start_response(req, &inline_gen);
    h2o_send(req, &buf, 1, H2O_SEND_STATE_FINAL);
}

static void send_json(h2o_req_t *req, int status, cJSON *body)
{
    char *text = body ? cJSON_PrintUnformatted(body) : NULL;
    send_text(req, status, text);
    cJSON_free(text);
}

static int send_error(h2o_req_t *req, sy_err_t e, const char *msg, const char *param)
{
    char *text = sy_err_json(e, msg, param);
    if (sy_err_status(e) == 401)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL, H2O_STRLIT("Bearer"));
    send_text(req, sy_err_status(e), text);
    free(text);
    return 0;
}

static int send_owned(h2o_req_t *req, int status, cJSON *body)
{
    send_json(req, status, body);
    cJSON_Delete(body);
    return 0;
}

static int send_store_error(h2o_req_t *req, const char *err)
{
    SY_ERROR("msg=\"store error\" err=\"%s\"", err);
    return send_error(req, SY_E_INTERNAL, "the control plane's store failed; see its log", NULL);
}

/* ------------------------------------------------------------------------------ helpers */

static int is_method(h2o_req_t *req, const char *m)
{
    return h2o_memis(req->method.base, req->method.len, m, strlen(m));
}

static int authorized(h2o_req_t *req)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (i < 0)
        return 0;
    h2o_iovec_t v = req->headers.entries[i].value;
    static const char bearer[] = "Bearer ";
    if (v.len <= sizeof(bearer) - 1 || strncasecmp(v.base, bearer, sizeof(bearer) - 1) != 0)
        return 0;
    uint8_t sha[SY_SHA256_LEN];
    sy_sha256(v.base + sizeof(bearer) - 1, v.len - (sizeof(bearer) - 1), sha);
    return sy_ct_equal(sha, g.token_sha, sizeof(sha));
}

/* Parses the request body as a JSON object; on failure sends the error and returns NULL. */
static cJSON *parse_body(h2o_req_t *req)
{
    const char *s = req->entity.base;
    size_t len = s ? req->entity.len : 0;
    if (len == 0) {
        send_error(req, SY_E_BAD_JSON, "the request body must be a JSON object", NULL);
        return NULL;
    }
    if (sy_json_precheck(s, len, 16, NULL) != SY_JSON_OK) {
        send_error(req, SY_E_BAD_JSON, "the request body is not valid UTF-8 JSON (or nests too deeply)",
                   NULL);
        return NULL;
    }
    if (sy_json_has_nul_escape(s, len)) {
        send_error(req, SY_E_BAD_JSON, "JSON strings must not contain NUL (\\u0000)", NULL);
        return NULL;
    }
    cJSON *root = cJSON_ParseWithLength(s, len);
    if (root == NULL || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        send_error(req, SY_E_BAD_JSON, "the request body must be a JSON object", NULL);
        return NULL;
    }
    const char *dup = sy_json_duplicate_key(root); /* one value per field */
    if (dup != NULL) {
        char m[128];
        snprintf(m, sizeof(m), "duplicate field '%.64s' in a JSON object", dup);
        cJSON_Delete(root);
        send_error(req, SY_E_BAD_JSON, m, NULL);
        return NULL;
    }
    return root;
}

/* Rejects members not in `allowed` (NULL-terminated): 400 naming the first unknown one. */
static int reject_unknown(h2o_req_t *req, const cJSON *root, const char *const *allowed)
{
    const cJSON *m;
    cJSON_ArrayForEach(m, root)
    {
        int ok = 0;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = m->string && strcmp(m->string, *a) == 0;
        if (!ok) {
            char msg[200];
            snprintf(msg, sizeof(msg), "unknown field '%.64s'", m->string ? m->string : "");
            send_error(req, SY_E_BAD_PARAM, msg, m->string);
            return -1;
        }
    }
    return 0;
}

/* An optional string member of at most MAX_NAME_BYTES; *out = "" when absent. */
static int get_name(h2o_req_t *req, const cJSON *root, const char *field, const char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, field);
    *out = "";
    if (v == NULL || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsString(v) || strlen(v->valuestring) > MAX_NAME_BYTES) {
        char msg[128];
        snprintf(msg, sizeof(msg), "'%s' must be a string of at most %d bytes", field, MAX_NAME_BYTES);
        send_error(req, SY_E_BAD_PARAM, msg, field);
        return -1;
    }
    *out = v->valuestring;
    return 0;
}

static void send_admin_rc(h2o_req_t *req, cp_admin_rc_t rc, const char *param, const char *err)
{
    if (rc == CP_ADMIN_NOT_FOUND)
        send_error(req, SY_E_NOT_FOUND, err, NULL);
    else if (rc == CP_ADMIN_INVALID)
        send_error(req, SY_E_BAD_PARAM, err, param);
    else
        send_store_error(req, err);
}

/* The end of a versioned write: the error, or the bus notice, the log line and `out`. */
static void send_written(h2o_req_t *req, cp_admin_rc_t rc, const char *param, const char *err, cJSON *out,
                         uint64_t version, int status, const char *what, const char *id)
{
    if (rc != CP_ADMIN_OK) {
        send_admin_rc(req, rc, param, err);
        return;
    }
    cp_bus_notify(version);
    SY_INFO("msg=\"%s\" id=%s version=%llu", what, id, (unsigned long long)version);
    send_owned(req, status, out);
}

/* {"object":"list","data":arr} — takes arr. */
static int send_list(h2o_req_t *req, cJSON *arr)
{
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "object", "list");
    cJSON_AddItemToObject(b, "data", arr);
    return send_owned(req, 200, b);
}

static int send_ok_version(h2o_req_t *req, uint64_t version)
{
    cJSON *b = cJSON_CreateObject();
    cJSON_AddBoolToObject(b, "ok", 1);
    cJSON_AddNumberToObject(b, "version", (double)version);
    return send_owned(req, 200, b);
}

/* A key's scope: a non-empty array of non-empty strings ("*" or catalog ids; the store checks
 * that they exist). */
static int check_scope(h2o_req_t *req, const cJSON *models)
{
    int n = cJSON_IsArray(models) ? cJSON_GetArraySize(models) : -1;
    if (n < 1 || n > MAX_ALLOWED_MODELS) {
        send_error(req, SY_E_BAD_PARAM,
                   "'allowed_models' is required: a non-empty array of catalog model ids, or [\"*\"] for all",
                   "allowed_models");
        return -1;
    }
    const cJSON *m;
    cJSON_ArrayForEach(m, models)
    {
        if (!cJSON_IsString(m) || m->valuestring[0] == '\0' || strlen(m->valuestring) > 256) {
            send_error(req, SY_E_BAD_PARAM, "'allowed_models' must contain non-empty strings",
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
        send_error(req, SY_E_BAD_PARAM, "'expires_at' must be a whole number of unix seconds (0 = never)",
                   "expires_at");
        return -1;
    }
    *out = (int64_t)d;
    if (*out != 0 && *out <= (int64_t)time(NULL)) {
        send_error(req, SY_E_BAD_PARAM, "'expires_at' is in the past", "expires_at");
        return -1;
    }
    return 0;
}

/* An optional whole number in lo..hi, or null (*out = -1: clear). *set says it was present. */
static int get_limit(h2o_req_t *req, const cJSON *root, const char *field, double lo, double hi, int *set,
                     int64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, field);
    *set = v != NULL;
    *out = -1;
    if (v == NULL || cJSON_IsNull(v))
        return 0;
    double d = cJSON_IsNumber(v) ? v->valuedouble : -1;
    if (!(d >= lo && d <= hi) || (double)(int64_t)d != d) {
        char msg[160];
        snprintf(msg, sizeof(msg), "'%s' must be a whole number %.0f..%.0f, or null for none", field, lo, hi);
        send_error(req, SY_E_BAD_PARAM, msg, field);
        return -1;
    }
    *out = (int64_t)d;
    return 0;
}

/* An optional price or budget: a decimal USD string, parsed exactly. null clears (*out = -1)
 * when `nullable`. */
static int get_usd(h2o_req_t *req, const cJSON *root, const char *field, int nullable, int positive, int *set,
                   int64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, field);
    *set = v != NULL;
    *out = -1;
    if (v == NULL || (nullable && cJSON_IsNull(v)))
        return 0;
    sy_nano_t n;
    if (!cJSON_IsString(v) || sy_money_parse_usd(v->valuestring, &n) != 0 || (positive && n == 0)) {
        char msg[200];
        snprintf(msg, sizeof(msg), "'%s' must be a decimal string of USD%s, e.g. \"12.50\"%s", field,
                 positive ? " above zero" : "", nullable ? ", or null for none" : "");
        send_error(req, SY_E_BAD_PARAM, msg, field);
        return -1;
    }
    *out = n;
    return 0;
}

/* `rpm` and `tpm`, each optional: a whole number from `lo` to the catalog's maximum
 * (SY_LIMIT_RPM_MAX, SY_LIMIT_TPM_MAX), or null (*out = -1: clear). */
static int get_rate_limits(h2o_req_t *req, const cJSON *root, double lo, int *set_rpm, int64_t *rpm,
                           int *set_tpm, int64_t *tpm)
{
    if (get_limit(req, root, "rpm", lo, SY_LIMIT_RPM_MAX, set_rpm, rpm) != 0)
        return -1;
    return get_limit(req, root, "tpm", lo, SY_LIMIT_TPM_MAX, set_tpm, tpm);
}

/* An optional boolean member; *set says it was present. */
static int get_bool(h2o_req_t *req, const cJSON *root, const char *field, int *set, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, field);
    *set = v != NULL;
    *out = cJSON_IsTrue(v);
    if (v == NULL || cJSON_IsBool(v))
        return 0;
    char msg[128];
    snprintf(msg, sizeof(msg), "'%s' must be true or false", field);
    send_error(req, SY_E_BAD_PARAM, msg, field);
    return -1;
}

/* The start of every PATCH: a JSON object that names at least one field, every one of them in
 * `allowed`. With `name` != NULL, an optional "name" string (*name = NULL when not named, ""
 * for null). NULL after sending the 400. */
static cJSON *patch_body(h2o_req_t *req, const char *const *allowed, const char **name)
{
    cJSON *root = parse_body(req);
    if (root == NULL)
        return NULL;
    const char *n = NULL;
    if (reject_unknown(req, root, allowed) != 0)
        goto bad;
    if (cJSON_GetArraySize(root) == 0) {
        send_error(req, SY_E_BAD_PARAM, "the request names no field to change", NULL);
        goto bad;
    }
    if (name != NULL) {
        if (get_name(req, root, "name", &n) != 0)
            goto bad;
        *name = cJSON_GetObjectItemCaseSensitive(root, "name") ? n : NULL;
    }
    return root;
bad:
    cJSON_Delete(root);
    return NULL;
}

/* ----------------------------------------------------------------------------- handlers */

static int h_snapshot_version(h2o_req_t *req)
{
    char err[256];
    uint64_t v;
    if (cp_store_snapshot_version(g.opts->store, &v, err, sizeof(err)) != 0)
        return send_store_error(req, err);
    cJSON *b = cJSON_CreateObject();
    cJSON_AddNumberToObject(b, "version", (double)v);
    return send_owned(req, 200, b);
}

static int h_list_nodes(h2o_req_t *req)
{
    char err[256];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    cJSON *arr = cp_admin_list_nodes(g.opts->store, now, err, sizeof(err));
    if (arr == NULL)
        return send_store_error(req, err);
    cJSON *b = cJSON_CreateObject();
    cJSON_AddItemToObject(b, "nodes", arr);
    return send_owned(req, 200, b);
}

static int h_list_workspaces(h2o_req_t *req)
{
    char err[256];
    cJSON *arr = cp_admin_list_workspaces(g.opts->store, err, sizeof(err));
    if (arr == NULL)
        return send_store_error(req, err);
    return send_list(req, arr);
}

static int h_create_workspace(h2o_req_t *req)
{
    static const char *const allowed[] = {"id", "name", NULL};
    cJSON *root = parse_body(req);
    if (root == NULL)
        return 0;
    const char *name;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "id");
    if (reject_unknown(req, root, allowed) != 0 || get_name(req, root, "name", &name) != 0)
        goto done;
    if (!cJSON_IsString(id)) {
        send_error(req, SY_E_BAD_PARAM, "'id' is required and must be a string", "id");
        goto done;
    }
    char err[256];
    const char *param = NULL;
    cJSON *ws;
    uint64_t version;
    cp_admin_rc_t rc = cp_admin_create_workspace(g.opts->store, id->valuestring, name, &ws, &version, &param,
                                                 err, sizeof(err));
    send_written(req, rc, param, err, ws, version, 201, "workspace created", id->valuestring);
done:
    cJSON_Delete(root);
    return 0;
}

static int h_disable_workspace(h2o_req_t *req, const char *id)
{
    char err[256];
    uint64_t version;
    cp_admin_rc_t rc = cp_admin_disable_workspace(g.opts->store, id, &version, err, sizeof(err));
    if (rc != CP_ADMIN_OK) {
        send_admin_rc(req, rc, NULL, err);
        return 0;
    }
    cp_bus_notify(version);
    SY_INFO("msg=\"workspace disabled\" id=%s version=%llu", id, (unsigned long long)version);
    return send_ok_version(req, version);
}

static int h_get_workspace(h2o_req_t *req, const char *id)
{
    char err[256];
    cJSON *ws;
    cp_admin_rc_t rc = cp_admin_get_workspace(g.opts->store, id, &ws, err, sizeof(err));
    if (rc != CP_ADMIN_OK) {
        send_admin_rc(req, rc, NULL, err);
        return 0;
    }
    return send_owned(req, 200, ws);
}

/* The workspace's name, active flag and fleet-wide rate limits. Unlike a key's, a workspace
 * limit of 0 is accepted and means "no limit" (stored NULL), as in the catalog file. */
static int h_patch_workspace(h2o_req_t *req, const char *id)
{
    static const char *const allowed[] = {"name", "active", "rpm", "tpm", NULL};
    cp_admin_ws_patch_t p = {0};
    cJSON *root = patch_body(req, allowed, &p.name);
    if (root == NULL)
        return 0;
    if (get_bool(req, root, "active", &p.set_active, &p.active) != 0 ||
        get_rate_limits(req, root, 0, &p.set_rpm, &p.rpm, &p.set_tpm, &p.tpm) != 0)
        goto done;

    char err[256];
    cJSON *out;
    uint64_t version;
    cp_admin_rc_t rc = cp_admin_update_workspace(g.opts->store, id, &p, &out, &version, err, sizeof(err));
    send_written(req, rc, NULL, err, out, version, 200, "workspace updated", id);
done:
    cJSON_Delete(root);
    return 0;
}

static int h_list_keys(h2o_req_t *req, const char *ws)
{
    char err[256];
    cJSON *arr;
    cp_admin_rc_t rc = cp_admin_list_keys(g.opts->store, ws, &arr, err, sizeof(err));
    if (rc != CP_ADMIN_OK) {
        send_admin_rc(req, rc, NULL, err);
        return 0;
    }
    return send_list(req, arr);
}

#define KEY_SECRET_SIZE (sizeof(KEY_PREFIX) + 2 * KEY_RANDOM_BYTES)

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

static int h_create_key(h2o_req_t *req, const char *ws)
{
    static const char *const allowed[] = {"name", "allowed_models", "expires_at", NULL};
    cJSON *root = parse_body(req);
    if (root == NULL)
        return 0;
    const char *name;
    if (reject_unknown(req, root, allowed) != 0 || get_name(req, root, "name", &name) != 0)
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
        send_error(req, SY_E_INTERNAL, "the random number generator failed", NULL);
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
    cp_admin_rc_t rc = cp_admin_create_key(g.opts->store, &k, &out, &version, &param, err, sizeof(err));
    if (rc != CP_ADMIN_OK) {
        OPENSSL_cleanse(key, sizeof(key));
        send_admin_rc(req, rc, param, err);
        goto done;
    }
    cJSON_AddStringToObject(out, "key", key);
    OPENSSL_cleanse(key, sizeof(key));
    cp_bus_notify(version);
    SY_INFO("msg=\"key created\" id=%s workspace=%s prefix=\"%s\" version=%llu", key_id, ws, prefix,
            (unsigned long long)version);
    send_owned(req, 201, out);
done:
    cJSON_Delete(root);
    return 0;
}

static int h_revoke_key(h2o_req_t *req, const char *id)
{
    char err[256];
    uint64_t version;
    cp_admin_rc_t rc = cp_admin_revoke_key(g.opts->store, id, &version, err, sizeof(err));
    if (rc != CP_ADMIN_OK) {
        send_admin_rc(req, rc, NULL, err);
        return 0;
    }
    cp_bus_notify(version);
    SY_INFO("msg=\"key revoked\" id=%s version=%llu", id, (unsigned long long)version);
    return send_ok_version(req, version);
}

/* POST /api/keys/{id}/rotate {"grace_seconds": N}: the body is optional (no body: no grace). */
static int h_rotate_key(h2o_req_t *req, const char *id)
{
    static const char *const allowed[] = {"grace_seconds", NULL};
    cJSON *root = NULL;
    int64_t grace = 0;
    if (req->entity.base != NULL && req->entity.len > 0) {
        if ((root = parse_body(req)) == NULL)
            return 0;
        if (reject_unknown(req, root, allowed) != 0)
            goto done;
        const cJSON *gs = cJSON_GetObjectItemCaseSensitive(root, "grace_seconds");
        if (gs != NULL && !cJSON_IsNull(gs)) {
            double d = cJSON_IsNumber(gs) ? gs->valuedouble : -1;
            if (!(d >= 0 && d <= CP_ADMIN_ROTATE_GRACE_MAX_S) || (double)(int64_t)d != d) {
                char msg[128];
                snprintf(msg, sizeof(msg), "'grace_seconds' must be a whole number from 0 to %d (7 days)",
                         CP_ADMIN_ROTATE_GRACE_MAX_S);
                send_error(req, SY_E_BAD_PARAM, msg, "grace_seconds");
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
        send_error(req, SY_E_INTERNAL, "the random number generator failed", NULL);
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
    cp_admin_rc_t rc = cp_admin_rotate_key(g.opts->store, &r, &out, &version, &param, err, sizeof(err));
    if (rc != CP_ADMIN_OK) {
        OPENSSL_cleanse(key, sizeof(key));
        send_admin_rc(req, rc, param, err);
        goto done;
    }
    cJSON_AddStringToObject(out, "key", key);
    OPENSSL_cleanse(key, sizeof(key));
    cp_bus_notify(version);
    SY_INFO("msg=\"key rotated\" id=%s prefix=\"%s\" grace_seconds=%lld version=%llu", id, prefix,
            (long long)grace, (unsigned long long)version);
    send_owned(req, 200, out);
done:
    cJSON_Delete(root);
    return 0;
}

static int h_get_key(h2o_req_t *req, const char *id)
{
    char err[256];
    cJSON *k;
    cp_admin_rc_t rc = cp_admin_get_key(g.opts->store, id, &k, err, sizeof(err));
    if (rc != CP_ADMIN_OK) {
        send_admin_rc(req, rc, NULL, err);
        return 0;
    }
    return send_owned(req, 200, k);
}

static int h_patch_key(h2o_req_t *req, const char *id)
{
    static const char *const allowed[] = {"name", "allowed_models", "budget_usd", "rpm",
                                          "tpm",  "expires_at",     NULL};
    cp_admin_key_patch_t p = {0};
    cJSON *root = patch_body(req, allowed, &p.name);
    if (root == NULL)
        return 0;
    p.allowed_models = cJSON_GetObjectItemCaseSensitive(root, "allowed_models");
    if ((p.allowed_models && check_scope(req, p.allowed_models) != 0) ||
        get_usd(req, root, "budget_usd", 1, 1, &p.set_budget, &p.budget_nano) != 0 ||
        get_rate_limits(req, root, 1, &p.set_rpm, &p.rpm, &p.set_tpm, &p.tpm) != 0 ||
        get_expires(req, root, &p.expires_at) != 0)
        goto done;
    p.set_expires = cJSON_GetObjectItemCaseSensitive(root, "expires_at") != NULL;

    char err[256];
    const char *param = NULL;
    cJSON *out;
    uint64_t version;
    cp_admin_rc_t rc = cp_admin_update_key(g.opts->store, id, &p, &out, &version, &param, err, sizeof(err));
    send_written(req, rc, param, err, out, version, 200, "key updated", id);
done:
    cJSON_Delete(root);
    return 0;
}

static int h_list_providers(h2o_req_t *req)
{
    char err[256];
    cJSON *arr = cp_admin_list_providers(g.opts->store, err, sizeof(err));
    if (arr == NULL)
        return send_store_error(req, err);
    return send_list(req, arr);
}

static int h_get_models(h2o_req_t *req, const char *id)
{
    char err[256];
    cJSON *out;
    cp_admin_rc_t rc = cp_admin_get_models(g.opts->store, id, &out, err, sizeof(err));
    if (rc != CP_ADMIN_OK) {
        send_admin_rc(req, rc, NULL, err);
        return 0;
    }
    if (id != NULL)
        return send_owned(req, 200, out);
    return send_list(req, out);
}

static int h_patch_model(h2o_req_t *req, const char *id)
{
    static const char *const allowed[] = {
        "upstream",       "input_per_m",  "output_per_m", "cache_read_per_m", "cache_write_per_m",
        "context_window", "capabilities", "tiers",        "quality",          NULL};
    cJSON *root = patch_body(req, allowed, NULL);
    if (root == NULL)
        return 0;
    cp_admin_model_patch_t p = {0};
    char why[200];
    if (get_usd(req, root, "input_per_m", 0, 0, &p.set_input, &p.input_per_m_nano) != 0 ||
        get_usd(req, root, "output_per_m", 0, 0, &p.set_output, &p.output_per_m_nano) != 0 ||
        /* null: the model has no such cache price any more */
        get_usd(req, root, "cache_read_per_m", 1, 0, &p.set_cache_read, &p.cache_read_per_m_nano) != 0 ||
        get_usd(req, root, "cache_write_per_m", 1, 0, &p.set_cache_write, &p.cache_write_per_m_nano) != 0)
        goto done;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "upstream");
    if (v != NULL) {
        if (!cJSON_IsString(v) || !sy_valid_word(v->valuestring, 128)) {
            send_error(req, SY_E_BAD_PARAM, "'upstream' must be a model name of 1..128 printable characters",
                       "upstream");
            goto done;
        }
        p.upstream = v->valuestring;
    }
    int64_t cw;
    if (get_limit(req, root, "context_window", 0, 4294967295.0, &p.set_context, &cw) != 0)
        goto done;
    if (p.set_context && cw < 0) {
        send_error(req, SY_E_BAD_PARAM, "'context_window' must be a whole number 0..4294967295",
                   "context_window");
        goto done;
    }
    p.context_window = (uint32_t)cw;
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "capabilities")) != NULL) {
        if (!cJSON_IsArray(v) || cp_catalog_caps_parse(v, &p.caps, why, sizeof(why)) != 0) {
            send_error(req, SY_E_BAD_PARAM,
                       "'capabilities' must be an array of: chat, tools, json, vision, embeddings",
                       "capabilities");
            goto done;
        }
        p.set_caps = 1;
    }
    if ((p.tiers = cJSON_GetObjectItemCaseSensitive(root, "tiers")) != NULL) {
        int ok = cJSON_IsArray(p.tiers) && cJSON_GetArraySize(p.tiers) <= 32;
        const cJSON *t;
        cJSON_ArrayForEach(t, p.tiers) ok = ok && cJSON_IsString(t) && sy_valid_word(t->valuestring, 64);
        if (!ok) {
            send_error(req, SY_E_BAD_PARAM, "'tiers' must be an array of at most 32 tier names", "tiers");
            goto done;
        }
    }
    if ((p.quality = cJSON_GetObjectItemCaseSensitive(root, "quality")) != NULL &&
        sy_catalog_quality(p.quality, "quality", why, sizeof(why)) != 0) {
        send_error(req, SY_E_BAD_PARAM, why, "quality");
        goto done;
    }

    char err[256];
    cJSON *out;
    uint64_t version;
    cp_admin_rc_t rc = cp_admin_update_model(g.opts->store, id, &p, &out, &version, err, sizeof(err));
    send_written(req, rc, NULL, err, out, version, 200, "model updated", id);
done:
    cJSON_Delete(root);
    return 0;
}

/* ------------------------------------------------------------------ money (billing.md) */

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The raw value of query parameter `name` (not percent-decoded: every parameter here is a
 * number, a date or a word). 1 found, 0 absent, -1 longer than outlen-1. */
static int query_param(h2o_req_t *req, const char *name, char *out, size_t outlen)
{
    if (req->query_at == SIZE_MAX)
        return 0;
    const char *q = req->path.base + req->query_at + 1, *end = req->path.base + req->path.len;
    size_t nl = strlen(name);
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(q, '=', (size_t)(stop - q));
        const char *kend = eq ? eq : stop;
        if ((size_t)(kend - q) == nl && memcmp(q, name, nl) == 0) {
            const char *v = eq ? eq + 1 : stop;
            size_t vl = (size_t)(stop - v);
            if (vl >= outlen)
                return -1;
            memcpy(out, v, vl);
            out[vl] = '\0';
            return 1;
        }
        q = stop + 1;
    }
    return 0;
}

/* An optional whole number lo..hi from the query string; 0 ok (*out = def when absent), -1 sent 400. */
static int query_int(h2o_req_t *req, const char *name, int64_t lo, int64_t hi, int64_t def, int64_t *out)
{
    char v[32], *end;
    int r = query_param(req, name, v, sizeof(v));
    *out = def;
    if (r == 0)
        return 0;
    long long n = r > 0 && v[0] >= '0' && v[0] <= '9' ? strtoll(v, &end, 10) : -1;
    if (r < 0 || v[0] < '0' || v[0] > '9' || *end != '\0' || n < lo || n > hi) {
        char msg[160];
        snprintf(msg, sizeof(msg), "'%s' must be a whole number %lld..%lld", name, (long long)lo,
                 (long long)hi);
        send_error(req, SY_E_BAD_PARAM, msg, name);
        return -1;
    }
    *out = n;
    return 0;
}

/* A time bound: unix milliseconds, or a UTC date YYYY-MM-DD (its midnight). */
static int query_time(h2o_req_t *req, const char *name, int64_t def, int64_t *out)
{
    char v[32];
    int r = query_param(req, name, v, sizeof(v));
    *out = def;
    if (r == 0)
        return 0;
    struct tm tm = {0};
    char *end = NULL;
    if (r > 0 && strlen(v) == 10 && v[4] == '-' && v[7] == '-' &&
        (end = strptime(v, "%Y-%m-%d", &tm)) != NULL && *end == '\0') {
        *out = (int64_t)timegm(&tm) * 1000;
        return 0;
    }
    if (r > 0 && strlen(v) <= 15 && v[0] >= '0' && v[0] <= '9') {
        long long n = strtoll(v, &end, 10);
        if (*end == '\0') {
            *out = n;
            return 0;
        }
    }
    char msg[160];
    snprintf(msg, sizeof(msg), "'%s' must be unix milliseconds or a UTC date YYYY-MM-DD", name);
    send_error(req, SY_E_BAD_PARAM, msg, name);
    return -1;
}

static int send_ledger_rc(h2o_req_t *req, cp_ledger_rc_t rc, const char *param, const char *err)
{
    if (rc == CP_LEDGER_NO_WORKSPACE)
        return send_error(req, SY_E_NOT_FOUND, err, NULL);
    if (rc == CP_LEDGER_INVALID)
        return send_error(req, SY_E_BAD_PARAM, err, param);
    return send_store_error(req, err);
}

static int h_balance(h2o_req_t *req, const char *ws)
{
    char err[256];
    cJSON *out;
    cp_ledger_rc_t rc = cp_ledger_balance_json(g.opts->store, ws, &out, err, sizeof(err));
    if (rc != CP_LEDGER_OK)
        return send_ledger_rc(req, rc, NULL, err);
    return send_owned(req, 200, out);
}

static int h_ledger(h2o_req_t *req, const char *ws)
{
    int64_t limit, before;
    if (query_int(req, "limit", 1, 500, 50, &limit) != 0 ||
        query_int(req, "before", 1, INT64_MAX, 0, &before) != 0)
        return 0;
    char err[256];
    cJSON *out;
    cp_ledger_rc_t rc = cp_ledger_list_json(g.opts->store, ws, (int)limit, before, &out, err, sizeof(err));
    if (rc != CP_LEDGER_OK)
        return send_ledger_rc(req, rc, "limit", err);
    return send_owned(req, 200, out);
}

static int h_ledger_check(h2o_req_t *req)
{
    char err[256];
    cJSON *problems = cJSON_CreateArray();
    int n = cp_ledger_check(g.opts->store, NULL, problems, err, sizeof(err));
    if (n < 0) {
        cJSON_Delete(problems);
        return send_store_error(req, err);
    }
    cJSON *b = cJSON_CreateObject();
    cJSON_AddBoolToObject(b, "ok", n == 0);
    cJSON_AddItemToObject(b, "problems", problems);
    return send_owned(req, 200, b);
}

/* An admin grant. The client's `reference` is the idempotency key: the same reference again
 * (same workspace and amount) answers 200 with the original entry and "duplicate": true. */
static int h_credits(h2o_req_t *req, const char *ws)
{
    static const char *const allowed[] = {"amount_usd", "reference", "note", NULL};
    cJSON *root = parse_body(req);
    if (root == NULL)
        return 0;
    int set;
    int64_t amount;
    const char *note;
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(root, "reference");
    if (reject_unknown(req, root, allowed) != 0 ||
        get_usd(req, root, "amount_usd", 0, 1, &set, &amount) != 0 || get_name(req, root, "note", &note) != 0)
        goto done;
    if (!set) {
        send_error(req, SY_E_BAD_PARAM, "'amount_usd' is required: a decimal string of USD above zero",
                   "amount_usd");
        goto done;
    }
    if (!cJSON_IsString(ref) || !cp_admin_valid_id(ref->valuestring)) {
        send_error(req, SY_E_BAD_PARAM,
                   "'reference' is required: your idempotency key, 1..128 printable ASCII characters without "
                   "spaces, quotes, '\\' or '/'",
                   "reference");
        goto done;
    }
    char err[256];
    cp_ledger_entry_t e;
    uint64_t version = 0;
    cp_ledger_rc_t rc = cp_ledger_grant(g.opts->store, ws, amount, ref->valuestring, note, wall_ms(), &e,
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
    send_owned(req, rc == CP_LEDGER_OK ? 201 : 200, b);
done:
    cJSON_Delete(root);
    return 0;
}

static int h_usage(h2o_req_t *req, const char *ws)
{
    char gb[16];
    cp_usage_group_t group = CP_USAGE_GROUP_NONE;
    int r = query_param(req, "group_by", gb, sizeof(gb));
    if (r != 0) {
        if (r > 0 && strcmp(gb, "day") == 0)
            group = CP_USAGE_GROUP_DAY;
        else if (r > 0 && strcmp(gb, "model") == 0)
            group = CP_USAGE_GROUP_MODEL;
        else if (r > 0 && strcmp(gb, "key") == 0)
            group = CP_USAGE_GROUP_KEY;
        else
            return send_error(req, SY_E_BAD_PARAM, "'group_by' must be day, model or key", "group_by");
    }
    int64_t from, to;
    if (query_time(req, "from", 0, &from) != 0 || query_time(req, "to", INT64_MAX, &to) != 0)
        return 0;
    if (to <= from)
        return send_error(req, SY_E_BAD_PARAM, "'to' must be after 'from'", "to");
    char err[256];
    cJSON *out;
    int rc = cp_usage_query_json(g.opts->store, ws, from, to, group, &out, err, sizeof(err));
    if (rc == 1)
        return send_error(req, SY_E_NOT_FOUND, "no such workspace", NULL);
    if (rc != 0)
        return send_store_error(req, err);
    return send_owned(req, 200, out);
}

/* The request log: usage records one by one, newest first (cp_usage_records_json). */
static int h_usage_records(h2o_req_t *req, const char *ws)
{
    int64_t limit, before;
    if (query_int(req, "limit", 1, 500, 50, &limit) != 0 ||
        query_int(req, "before", 1, INT64_MAX, 0, &before) != 0)
        return 0;
    char err[256];
    cJSON *out;
    int rc = cp_usage_records_json(g.opts->store, ws, (int)limit, before, &out, err, sizeof(err));
    if (rc == 1)
        return send_error(req, SY_E_NOT_FOUND, "no such workspace", NULL);
    if (rc != 0)
        return send_store_error(req, err);
    return send_owned(req, 200, out);
}

static int valid_url(const char *s)
{
    size_t n = strlen(s);
    return n > 8 && n <= 2048 && (strncmp(s, "https://", 8) == 0 || strncmp(s, "http://", 7) == 0) &&
           !sy_has_ctl(s, n) && strchr(s, ' ') == NULL;
}

#define CHECKOUT_MIN_CENTS 50       /* Stripe's own minimum for USD */
#define CHECKOUT_MAX_CENTS 10000000 /* 100,000 USD per session */

/* Creates a Stripe Checkout Session for a top-up. Blocks the loop thread for at most
 * stripe_timeout_ms (see cp_stripe_checkout.c for why that is acceptable here). */
static int h_checkout(h2o_req_t *req, const char *ws)
{
    static const char *const allowed[] = {"amount_usd", "success_url", "cancel_url", NULL};
    if (g.opts->stripe_secret_key == NULL || g.opts->stripe_secret_key[0] == '\0')
        return send_error(req, SY_E_NOT_READY, "Stripe checkout is not configured (STRIPE_SECRET_KEY)", NULL);
    cJSON *root = parse_body(req);
    if (root == NULL)
        return 0;
    int set;
    int64_t amount;
    const cJSON *su = cJSON_GetObjectItemCaseSensitive(root, "success_url");
    const cJSON *cu = cJSON_GetObjectItemCaseSensitive(root, "cancel_url");
    if (reject_unknown(req, root, allowed) != 0 || get_usd(req, root, "amount_usd", 0, 1, &set, &amount) != 0)
        goto done;
    if (!set || amount % CP_STRIPE_NANO_PER_CENT != 0 ||
        amount / CP_STRIPE_NANO_PER_CENT < CHECKOUT_MIN_CENTS ||
        amount / CP_STRIPE_NANO_PER_CENT > CHECKOUT_MAX_CENTS) {
        send_error(req, SY_E_BAD_PARAM, "'amount_usd' must be whole cents from \"0.50\" to \"100000.00\"",
                   "amount_usd");
        goto done;
    }
    if (!cJSON_IsString(su) || !valid_url(su->valuestring)) {
        send_error(req, SY_E_BAD_PARAM, "'success_url' must be an http(s) URL of at most 2048 bytes",
                   "success_url");
        goto done;
    }
    if (!cJSON_IsString(cu) || !valid_url(cu->valuestring)) {
        send_error(req, SY_E_BAD_PARAM, "'cancel_url' must be an http(s) URL of at most 2048 bytes",
                   "cancel_url");
        goto done;
    }
    char err[256];
    cJSON *bal;
    cp_ledger_rc_t lr =
        cp_ledger_balance_json(g.opts->store, ws, &bal, err, sizeof(err)); /* 404 before Stripe */
    if (lr != CP_LEDGER_OK) {
        send_ledger_rc(req, lr, NULL, err);
        goto done;
    }
    cJSON_Delete(bal);
    cp_stripe_api_t api = {.api_base = g.opts->stripe_api_base,
                           .secret_key = g.opts->stripe_secret_key,
                           .timeout_ms = g.opts->stripe_timeout_ms > 0 ? g.opts->stripe_timeout_ms : 10000};
    char id[256], url[2048];
    cp_stripe_co_rc_t rc =
        cp_stripe_checkout_create(&api, ws, amount / CP_STRIPE_NANO_PER_CENT, su->valuestring,
                                  cu->valuestring, id, sizeof(id), url, sizeof(url), err, sizeof(err));
    if (rc != CP_STRIPE_CO_OK) {
        SY_WARN("msg=\"checkout session failed\" workspace=%s err=\"%s\"", ws, err);
        send_error(req,
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
    send_owned(req, 200, b);
done:
    cJSON_Delete(root);
    return 0;
}

/* POST /stripe/webhook: authenticated by the Stripe-Signature over the raw body, never by the
 * operator token. Anything that fails the check is 400 and writes nothing; a verified event is
 * applied once (cp_stripe_handle_event) and answered 200 — also when it is ignored or a replay,
 * so Stripe stops retrying. Only a store failure answers 500 (Stripe retries later). */
static int h_stripe_webhook(h2o_req_t *req)
{
    const char *secret = g.opts->stripe_webhook_secret;
    if (secret == NULL || secret[0] == '\0') {
        cp_metrics_stripe("not_configured");
        return send_error(req, SY_E_NOT_READY, "the Stripe webhook is not configured (STRIPE_WEBHOOK_SECRET)",
                          NULL);
    }
    size_t len = req->entity.base ? req->entity.len : 0;
    if (len > CP_STRIPE_MAX_BODY) {
        cp_metrics_stripe("too_large");
        return send_error(req, SY_E_REQUEST_TOO_LARGE, "webhook body over 256 KiB", NULL);
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
        return send_error(req, SY_E_BAD_REQUEST, cp_stripe_sig_reason(sr), "Stripe-Signature");
    }
    char err[256];
    cp_stripe_ev_result_t res;
    cp_stripe_ev_rc_t rc =
        cp_stripe_handle_event(g.opts->store, req->entity.base, len, wall_ms(), &res, err, sizeof(err));
    cp_metrics_stripe(rc == CP_STRIPE_EV_ERROR ? "store_error" : res.outcome);
    if (rc == CP_STRIPE_EV_INVALID) {
        SY_WARN("msg=\"stripe event refused\" err=\"%s\"", err);
        return send_error(req, SY_E_BAD_REQUEST, err, NULL);
    }
    if (rc == CP_STRIPE_EV_ERROR)
        return send_store_error(req, err);
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
    return send_owned(req, 200, b);
}

/* ----------------------------------------------------------------------------- routing */

/* Splits the normalized path into segments; -1 when there are too many or one is too long. */
static int split_path(h2o_iovec_t p, char seg[MAX_SEGMENTS][MAX_SEGMENT])
{
    int n = 0;
    size_t i = 0;
    while (i < p.len) {
        while (i < p.len && p.base[i] == '/')
            i++;
        if (i >= p.len)
            break;
        size_t start = i;
        while (i < p.len && p.base[i] != '/')
            i++;
        if (n == MAX_SEGMENTS || i - start >= MAX_SEGMENT)
            return -1;
        memcpy(seg[n], p.base + start, i - start);
        seg[n][i - start] = '\0';
        n++;
    }
    return n;
}

/* ------------------------------------------------------------- catalog imports */

/* One log line per import outcome: what, from where, and what it changed or overwrote. */
static void log_import(int rc, const cJSON *rep, const char *source, const char *path, const char *err)
{
    if (rc == -1) {
        SY_WARN("msg=\"catalog rejected\" source=%s file=%s err=\"%s\"", source, path ? path : "-", err);
        return;
    }
    char *counts = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(rep, "counts"));
    const cJSON *conf = cJSON_GetObjectItemCaseSensitive(rep, rc == 0 ? "overwritten" : "conflicts");
    char *list = cJSON_PrintUnformatted(conf);
    const cJSON *sha = cJSON_GetObjectItemCaseSensitive(rep, "sha256");
    if (rc == CP_CATALOG_CONFLICT)
        SY_WARN("msg=\"catalog import refused: it would overwrite admin edits\" source=%s file=%s sha256=%s "
                "conflicts=%s",
                source, path ? path : "-", sha ? sha->valuestring : "-", list ? list : "[]");
    else if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rep, "dry_run")))
        SY_INFO("msg=\"catalog import dry run\" source=%s file=%s counts=%s", source, path ? path : "-",
                counts ? counts : "{}");
    else
        SY_INFO("msg=\"catalog imported\" source=%s file=%s sha256=%s version=%.0f forced=%s counts=%s "
                "overwritten=%s",
                source, path ? path : "-", sha ? sha->valuestring : "-",
                cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(rep, "version")),
                cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rep, "forced")) ? "true" : "false",
                counts ? counts : "{}", list ? list : "[]");
    cJSON_free(counts);
    cJSON_free(list);
}

/* 1 when query parameter `name` is "true" or "1"; 0 when absent or "false"/"0"; -1 sent 400. */
static int query_bool(h2o_req_t *req, const char *name)
{
    char v[8];
    int r = query_param(req, name, v, sizeof(v));
    if (r == 0)
        return 0;
    if (r > 0 && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0))
        return 1;
    if (r > 0 && (strcmp(v, "false") == 0 || strcmp(v, "0") == 0))
        return 0;
    char msg[96];
    snprintf(msg, sizeof(msg), "'%s' must be true or false", name);
    send_error(req, SY_E_BAD_PARAM, msg, name);
    return -1;
}

/* POST /api/catalog/import [?force=true&dry_run=true] [{"force","dry_run","catalog"}] and
 * POST /api/catalog/reload (the same, from the file only): an explicit, logged, versioned
 * import with the conflict check of cp_catalog.h. 200 {"ok","version","import":report}; a bad
 * file 400 (nothing changes); a conflict 409 with "conflicts" beside the error. */
static int h_import_catalog(h2o_req_t *req, const char *source)
{
    cp_catalog_import_opts_t o = {.source = source};
    int qf = query_bool(req, "force"), qd = qf < 0 ? -1 : query_bool(req, "dry_run");
    if (qf < 0 || qd < 0)
        return 0;
    o.force = qf;
    o.dry_run = qd;
    cJSON *root = NULL;
    const cJSON *body_catalog = NULL;
    if (req->entity.base != NULL && req->entity.len > 0) {
        static const char *const allowed[] = {"force", "dry_run", "catalog", NULL};
        if ((root = parse_body(req)) == NULL)
            return 0;
        if (reject_unknown(req, root, allowed) != 0)
            goto done;
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(root, "force"),
                    *d = cJSON_GetObjectItemCaseSensitive(root, "dry_run");
        if ((f && !cJSON_IsBool(f)) || (d && !cJSON_IsBool(d))) {
            send_error(req, SY_E_BAD_PARAM, "'force' and 'dry_run' must be true or false",
                       f && !cJSON_IsBool(f) ? "force" : "dry_run");
            goto done;
        }
        o.force |= cJSON_IsTrue(f);
        o.dry_run |= cJSON_IsTrue(d);
        body_catalog = cJSON_GetObjectItemCaseSensitive(root, "catalog");
        if (body_catalog != NULL && (!cJSON_IsObject(body_catalog) || strcmp(source, "import") != 0)) {
            send_error(req, SY_E_BAD_PARAM,
                       "'catalog' must be a catalog object (POST /api/catalog/import only)", "catalog");
            goto done;
        }
    }
    if (body_catalog == NULL && g.opts->catalog_path == NULL) {
        send_error(req, SY_E_BAD_PARAM, "no catalog file configured", NULL);
        goto done;
    }
    char err[512];
    cJSON *rep = NULL;
    int rc;
    if (body_catalog != NULL) {
        char *txt = cJSON_PrintUnformatted(body_catalog);
        if (txt == NULL) {
            send_text(req, 500, NULL);
            goto done;
        }
        o.source = "import-body";
        rc = cp_catalog_import(g.opts->store, txt, strlen(txt), &o, &rep, err, sizeof(err));
        cJSON_free(txt);
    } else {
        rc = cp_catalog_import_file(g.opts->store, g.opts->catalog_path, &o, &rep, err, sizeof(err));
    }
    log_import(rc, rep, o.source, body_catalog ? NULL : g.opts->catalog_path, err);
    if (rc == -1) {
        send_error(req, SY_E_BAD_PARAM, err, NULL);
    } else if (rc == CP_CATALOG_CONFLICT) {
        char *e = sy_err_json(
            SY_E_CONFLICT,
            "the import would overwrite catalog fields edited through the admin API; fix the file "
            "or repeat with force=true (see conflicts)",
            NULL);
        cJSON *b = e ? cJSON_Parse(e) : NULL;
        free(e);
        if (b != NULL)
            cJSON_AddItemToObject(b, "conflicts", cJSON_DetachItemFromObject(rep, "conflicts"));
        send_json(req, 409, b);
        cJSON_Delete(b);
    } else {
        uint64_t version = 0;
        if (cp_store_snapshot_version(g.opts->store, &version, err, sizeof(err)) != 0) {
            send_store_error(req, err);
        } else {
            if (!o.dry_run)
                cp_bus_notify(version);
            cJSON *b = cJSON_CreateObject();
            cJSON_AddBoolToObject(b, "ok", 1);
            cJSON_AddNumberToObject(b, "version", (double)version);
            cJSON_AddItemToObject(b, "import", rep);
            rep = NULL;
            send_owned(req, 200, b);
        }
    }
    cJSON_Delete(rep);
done:
    cJSON_Delete(root);
    return 0;
}

static int h_catalog_status(h2o_req_t *req)
{
    char err[512];
    cJSON *out;
    if (cp_catalog_status(g.opts->store, g.opts->catalog_path, &out, err, sizeof(err)) != 0)
        return send_store_error(req, err);
    return send_owned(req, 200, out);
}

static int h_get_aliases(h2o_req_t *req, const char *alias)
{
    char err[256];
    cJSON *out;
    cp_admin_rc_t rc = cp_admin_get_aliases(g.opts->store, alias, &out, err, sizeof(err));
    if (rc != CP_ADMIN_OK) {
        send_admin_rc(req, rc, NULL, err);
        return 0;
    }
    return alias ? send_owned(req, 200, out) : send_list(req, out);
}

/* PUT /api/aliases/{alias} {"model": "<catalog id>"}: creates (201) or repoints (200). */
static int h_put_alias(h2o_req_t *req, const char *alias)
{
    static const char *const allowed[] = {"model", NULL};
    cJSON *root = parse_body(req);
    if (root == NULL)
        return 0;
    if (reject_unknown(req, root, allowed) != 0)
        goto done;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsString(m) || !sy_valid_word(m->valuestring, 128)) {
        send_error(req, SY_E_BAD_PARAM, "'model' must be a catalog model id", "model");
        goto done;
    }
    char err[256];
    const char *param = NULL;
    cJSON *out;
    uint64_t version;
    int created = 0;
    cp_admin_rc_t rc = cp_admin_put_alias(g.opts->store, alias, m->valuestring, &out, &created, &version,
                                          &param, err, sizeof(err));
    send_written(req, rc, param, err, out, version, created ? 201 : 200,
                 created ? "alias created" : "alias updated", alias);
done:
    cJSON_Delete(root);
    return 0;
}

static int h_delete_alias(h2o_req_t *req, const char *alias)
{
    char err[256];
    uint64_t version;
    cp_admin_rc_t rc = cp_admin_delete_alias(g.opts->store, alias, &version, err, sizeof(err));
    if (rc != CP_ADMIN_OK) {
        send_admin_rc(req, rc, NULL, err);
        return 0;
    }
    cp_bus_notify(version);
    SY_INFO("msg=\"alias deleted\" id=%s version=%llu", alias, (unsigned long long)version);
    return send_ok_version(req, version);
}

static int method_not_allowed(h2o_req_t *req)
{
    return send_error(req, SY_E_METHOD_NOT_ALLOWED, "method not allowed on this path", NULL);
}

/* GET /metrics (docs/controlplane.md, "Metrics"): no operator token, like /healthz — the
 * listener is the operator's internal port, and no series carries a secret, a key, an id or a
 * workspace (cp_metrics.h). */
static int h_metrics(h2o_req_t *req)
{
    char err[256];
    uint64_t version = 0;
    if (cp_store_snapshot_version(g.opts->store, &version, err, sizeof(err)) != 0)
        SY_WARN("msg=\"metrics: cannot read the snapshot version\" err=\"%s\"", err);
    size_t len = 0;
    char *text = cp_metrics_render(version, &len);
    if (text == NULL)
        return send_error(req, SY_E_INTERNAL, "out of memory", NULL);
    req->res.status = 200;
    req->res.reason = "OK";
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("text/plain; version=0.0.4; charset=utf-8"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
    h2o_iovec_t buf = h2o_strdup(&req->pool, text, len);
    free(text);
    h2o_start_response(req, &inline_gen);
    h2o_send(req, &buf, 1, H2O_SEND_STATE_FINAL);
    return 0;
}

static int dispatch(h2o_req_t *req)
{
    char seg[MAX_SEGMENTS][MAX_SEGMENT];
    int n = split_path(req->path_normalized, seg);
    int get = is_method(req, "GET"), post = is_method(req, "POST"), patch = is_method(req, "PATCH");

    if (n == 1 && strcmp(seg[0], "healthz") == 0) {
        if (!get)
            return method_not_allowed(req);
        cJSON *b = cJSON_CreateObject();
        cJSON_AddStringToObject(b, "status", "ok");
        return send_owned(req, 200, b);
    }
    if (n == 1 && strcmp(seg[0], "metrics") == 0)
        return get ? h_metrics(req) : method_not_allowed(req);
    if (n == 2 && strcmp(seg[0], "stripe") == 0 && strcmp(seg[1], "webhook") == 0)
        return post ? h_stripe_webhook(req) : method_not_allowed(req);
    /* h2o's own limit is raised to the webhook's; every other path keeps --max-body */
    if (req->entity.base != NULL && req->entity.len > g.max_body)
        return send_error(req, SY_E_REQUEST_TOO_LARGE, "request body too large", NULL);
    if (n < 1 || strcmp(seg[0], "api") != 0)
        return send_error(req, SY_E_NOT_FOUND, "no such endpoint", NULL);
    /* everything under /api (including unknown paths) needs the operator token first, so the
     * API's shape is not discoverable without it */
    if (!authorized(req))
        return send_error(req, SY_E_INVALID_API_KEY, "missing or invalid operator token", NULL);

    if (n == 3 && strcmp(seg[1], "snapshot") == 0 && strcmp(seg[2], "version") == 0)
        return get ? h_snapshot_version(req) : method_not_allowed(req);
    if (n == 2 && strcmp(seg[1], "nodes") == 0)
        return get ? h_list_nodes(req) : method_not_allowed(req);
    if (n == 3 && strcmp(seg[1], "ledger") == 0 && strcmp(seg[2], "check") == 0)
        return get ? h_ledger_check(req) : method_not_allowed(req);
    if (n >= 2 && strcmp(seg[1], "workspaces") == 0) {
        if (n == 2)
            return get ? h_list_workspaces(req) : post ? h_create_workspace(req) : method_not_allowed(req);
        if (n == 3)
            return get     ? h_get_workspace(req, seg[2])
                   : patch ? h_patch_workspace(req, seg[2])
                           : method_not_allowed(req);
        if (n == 4 && strcmp(seg[3], "disable") == 0)
            return post ? h_disable_workspace(req, seg[2]) : method_not_allowed(req);
        if (n == 4 && strcmp(seg[3], "keys") == 0)
            return get    ? h_list_keys(req, seg[2])
                   : post ? h_create_key(req, seg[2])
                          : method_not_allowed(req);
        if (n == 4 && strcmp(seg[3], "balance") == 0)
            return get ? h_balance(req, seg[2]) : method_not_allowed(req);
        if (n == 4 && strcmp(seg[3], "ledger") == 0)
            return get ? h_ledger(req, seg[2]) : method_not_allowed(req);
        if (n == 4 && strcmp(seg[3], "credits") == 0)
            return post ? h_credits(req, seg[2]) : method_not_allowed(req);
        if (n == 4 && strcmp(seg[3], "usage") == 0)
            return get ? h_usage(req, seg[2]) : method_not_allowed(req);
        if (n == 5 && strcmp(seg[3], "usage") == 0 && strcmp(seg[4], "records") == 0)
            return get ? h_usage_records(req, seg[2]) : method_not_allowed(req);
        if (n == 4 && strcmp(seg[3], "checkout") == 0)
            return post ? h_checkout(req, seg[2]) : method_not_allowed(req);
    }
    if (n == 4 && strcmp(seg[1], "keys") == 0 && strcmp(seg[3], "revoke") == 0)
        return post ? h_revoke_key(req, seg[2]) : method_not_allowed(req);
    if (n == 4 && strcmp(seg[1], "keys") == 0 && strcmp(seg[3], "rotate") == 0)
        return post ? h_rotate_key(req, seg[2]) : method_not_allowed(req);
    if (n == 3 && strcmp(seg[1], "keys") == 0)
        return get ? h_get_key(req, seg[2]) : patch ? h_patch_key(req, seg[2]) : method_not_allowed(req);
    if (n == 2 && strcmp(seg[1], "providers") == 0)
        return get ? h_list_providers(req) : method_not_allowed(req);
    if (n == 2 && strcmp(seg[1], "models") == 0)
        return get ? h_get_models(req, NULL) : method_not_allowed(req);
    if (n == 3 && strcmp(seg[1], "models") == 0)
        return get ? h_get_models(req, seg[2]) : patch ? h_patch_model(req, seg[2]) : method_not_allowed(req);
    if (n == 3 && strcmp(seg[1], "catalog") == 0 && strcmp(seg[2], "reload") == 0)
        return post ? h_import_catalog(req, "reload") : method_not_allowed(req);
    if (n == 3 && strcmp(seg[1], "catalog") == 0 && strcmp(seg[2], "import") == 0)
        return post ? h_import_catalog(req, "import") : method_not_allowed(req);
    if (n == 3 && strcmp(seg[1], "catalog") == 0 && strcmp(seg[2], "status") == 0)
        return get ? h_catalog_status(req) : method_not_allowed(req);
    if (n == 2 && strcmp(seg[1], "aliases") == 0)
        return get ? h_get_aliases(req, NULL) : method_not_allowed(req);
    if (n == 3 && strcmp(seg[1], "aliases") == 0)
        return get                        ? h_get_aliases(req, seg[2])
               : is_method(req, "PUT")    ? h_put_alias(req, seg[2])
               : is_method(req, "DELETE") ? h_delete_alias(req, seg[2])
                                          : method_not_allowed(req);
    return send_error(req, SY_E_NOT_FOUND, "no such endpoint", NULL);
}

/* Every handler answers before it returns (the checkout call blocks), so the status is known
 * here: counted by route template, never by the raw path. */
static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    int rc = dispatch(req);
    cp_metrics_http(cp_metrics_route(req->path_normalized.base, req->path_normalized.len), req->method.base,
                    req->method.len, req->res.status);
    return rc;
}

/* --------------------------------------------------------------------------- the loop */

static void on_accept(h2o_socket_t *listener, const char *err)
{
    if (err != NULL || g.stop)
        return;
    for (int i = 0; i < 32; i++) {
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL)
            break;
        h2o_accept(&g.accept_ctx, sock);
    }
}

static void on_message(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *m =
            H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&m->link);
        free(m);
    }
    /* the only message is "stop" */
    g.stop = 1;
    if (g.listener != NULL) {
        h2o_socket_read_stop(g.listener);
        h2o_socket_close(g.listener);
        g.listener = NULL;
    }
}

static void *loop_main(void *arg)
{
    g.loop = h2o_evloop_create();
    h2o_context_init(&g.ctx, g.loop, &g.conf);
    g.accept_ctx.ctx = &g.ctx;
    g.accept_ctx.hosts = g.conf.hosts;
    h2o_multithread_register_receiver(g.ctx.queue, &g.receiver, on_message);
    int fd = dup(g.listen_fd);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    g.listener = h2o_evloop_socket_create(g.loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    h2o_socket_read_start(g.listener, on_accept);
    sy_linger_thread_init(g.loop, NULL); /* the webhook's 413 to a client still sending */

    pthread_mutex_lock(&g.ready_mu);
    g.ready = 1;
    pthread_cond_broadcast(&g.ready_cv);
    pthread_mutex_unlock(&g.ready_mu);

    while (!g.stop)
        h2o_evloop_run(g.loop, INT32_MAX);
    sy_linger_thread_dispose();
    h2o_evloop_run(g.loop, 0); /* let the listener's and the lingering set's deferred closes run */
    h2o_multithread_unregister_receiver(g.ctx.queue, &g.receiver);
    return NULL;
}

/* SIGHUP re-imports the catalog file like POST /api/catalog/reload (conflict check, no force),
 * on a handle of its own: the loop thread owns o->store. */
static void reload_on_hup(const cp_api_opts_t *o)
{
    char err[512];
    cp_store_t *s;
    uint64_t version = 0;
    if (o->catalog_path == NULL || o->db_path == NULL)
        return;
    if (cp_store_open(o->db_path, &s, err, sizeof(err)) != 0) {
        SY_WARN("msg=\"SIGHUP: cannot open the store\" err=\"%s\"", err);
        return;
    }
    /* the same rule as POST /api/catalog/reload: an import with the conflict check, never forced */
    cp_catalog_import_opts_t io = {.source = "sighup"};
    cJSON *rep = NULL;
    int rc = cp_catalog_import_file(s, o->catalog_path, &io, &rep, err, sizeof(err));
    log_import(rc, rep, "sighup", o->catalog_path, err);
    cJSON_Delete(rep);
    if (rc == 0 && cp_store_snapshot_version(s, &version, err, sizeof(err)) == 0)
        cp_bus_notify(version);
    cp_store_close(s);
}

int cp_api_run(const cp_api_opts_t *o)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* the loop thread inherits the mask */
    signal(SIGPIPE, SIG_IGN);

    if (o->token == NULL || o->token[0] == '\0') {
        SY_ERROR("msg=\"no operator token\"");
        return -1;
    }
    g.opts = o;
    sy_sha256(o->token, strlen(o->token), g.token_sha);
    char err[256];
    uint16_t bound;
    if ((g.listen_fd = sy_listen_tcp(o->host, o->port, 512, &bound, err, sizeof(err))) < 0) {
        SY_ERROR("msg=\"%s\"", err);
        return -1;
    }

    h2o_config_init(&g.conf);
    g.conf.server_name = h2o_iovec_init(H2O_STRLIT("switchyard-cp"));
    /* h2o's limit is per server: it is the larger of the API's and the Stripe webhook's, and
     * on_req holds every non-webhook path to max_body_bytes itself */
    g.max_body = o->max_body_bytes ? o->max_body_bytes : 64 * 1024;
    g.conf.max_request_entity_size = g.max_body > CP_STRIPE_MAX_BODY ? g.max_body : CP_STRIPE_MAX_BODY;
    h2o_hostconf_t *host = h2o_config_register_host(&g.conf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    h2o_create_handler(path, sizeof(h2o_handler_t))->on_req = on_req;
    sy_h2o_json_errors(host, path, NULL);

    pthread_mutex_init(&g.ready_mu, NULL);
    pthread_cond_init(&g.ready_cv, NULL);
    if (pthread_create(&g.tid, NULL, loop_main, NULL) != 0) {
        SY_ERROR("msg=\"cannot start the loop thread\"");
        close(g.listen_fd);
        return -1;
    }
    pthread_mutex_lock(&g.ready_mu);
    while (!g.ready)
        pthread_cond_wait(&g.ready_cv, &g.ready_mu);
    pthread_mutex_unlock(&g.ready_mu);

    SY_INFO("msg=listening addr=%s:%u", o->host, bound);
    if (o->port_file != NULL)
        sy_write_port_file(o->port_file, bound);

    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            reload_on_hup(o);
            continue;
        }
        break;
    }
    SY_INFO("msg=\"stopping\"");
    h2o_multithread_message_t *m = calloc(1, sizeof(*m));
    h2o_multithread_send_message(&g.receiver, m);
    shutdown(g.listen_fd, SHUT_RDWR);
    pthread_join(g.tid, NULL);
    close(g.listen_fd);
    SY_INFO("msg=\"stopped\"");
    return 0;
}
