/*
 * cp_http — responses, request-body rules, validators and query parameters shared by every
 * admin API handler (cp_http.h).
 */
#include "cp_http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <h2o.h>

#include "cp_bus.h"
#include "sy_error.h"
#include "sy_json.h"
#include "sy_log.h"
#include "sy_money.h"
#include "sy_catalog.h"
#include "sy_util.h"

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

void cp_send_json(h2o_req_t *req, int status, cJSON *body)
{
    char *text = body ? cJSON_PrintUnformatted(body) : NULL;
    send_text(req, status, text);
    cJSON_free(text);
}

int cp_send_error(h2o_req_t *req, sy_err_t e, const char *msg, const char *param)
{
    char *text = sy_err_json(e, msg, param);
    if (sy_err_status(e) == 401)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL, H2O_STRLIT("Bearer"));
    send_text(req, sy_err_status(e), text);
    free(text);
    return 0;
}

int cp_send_owned(h2o_req_t *req, int status, cJSON *body)
{
    cp_send_json(req, status, body);
    cJSON_Delete(body);
    return 0;
}

int cp_send_store_error(h2o_req_t *req, const char *err)
{
    SY_ERROR("msg=\"store error\" err=\"%s\"", err);
    return cp_send_error(req, SY_E_INTERNAL, "the control plane's store failed; see its log", NULL);
}

/* {"object":"list","data":arr} — takes arr. */
int cp_send_list(h2o_req_t *req, cJSON *arr)
{
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "object", "list");
    cJSON_AddItemToObject(b, "data", arr);
    return cp_send_owned(req, 200, b);
}

int cp_send_ok_version(h2o_req_t *req, uint64_t version)
{
    cJSON *b = cJSON_CreateObject();
    cJSON_AddBoolToObject(b, "ok", 1);
    cJSON_AddNumberToObject(b, "version", (double)version);
    return cp_send_owned(req, 200, b);
}

void cp_send_admin_rc(h2o_req_t *req, cp_admin_rc_t rc, const char *param, const char *err)
{
    if (rc == CP_ADMIN_NOT_FOUND)
        cp_send_error(req, SY_E_NOT_FOUND, err, NULL);
    else if (rc == CP_ADMIN_INVALID)
        cp_send_error(req, SY_E_BAD_PARAM, err, param);
    else
        cp_send_store_error(req, err);
}

/* The end of a versioned write: the error, or the bus notice, the log line and `out`. */
void cp_send_written(h2o_req_t *req, cp_admin_rc_t rc, const char *param, const char *err, cJSON *out,
                     uint64_t version, int status, const char *what, const char *id)
{
    if (rc != CP_ADMIN_OK) {
        cp_send_admin_rc(req, rc, param, err);
        return;
    }
    cp_bus_notify(version);
    SY_INFO("msg=\"%s\" id=%s version=%llu", what, id, (unsigned long long)version);
    cp_send_owned(req, status, out);
}

int cp_method_not_allowed(h2o_req_t *req)
{
    return cp_send_error(req, SY_E_METHOD_NOT_ALLOWED, "method not allowed on this path", NULL);
}

int cp_is_method(h2o_req_t *req, const char *m)
{
    return h2o_memis(req->method.base, req->method.len, m, strlen(m));
}

/* Parses the request body as a JSON object; on failure sends the error and returns NULL. */
cJSON *cp_parse_body(h2o_req_t *req)
{
    const char *s = req->entity.base;
    size_t len = s ? req->entity.len : 0;
    if (len == 0) {
        cp_send_error(req, SY_E_BAD_JSON, "the request body must be a JSON object", NULL);
        return NULL;
    }
    if (sy_json_precheck(s, len, 16, NULL) != SY_JSON_OK) {
        cp_send_error(req, SY_E_BAD_JSON, "the request body is not valid UTF-8 JSON (or nests too deeply)",
                      NULL);
        return NULL;
    }
    if (sy_json_has_nul_escape(s, len)) {
        cp_send_error(req, SY_E_BAD_JSON, "JSON strings must not contain NUL (\\u0000)", NULL);
        return NULL;
    }
    cJSON *root = cJSON_ParseWithLength(s, len);
    if (root == NULL || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        cp_send_error(req, SY_E_BAD_JSON, "the request body must be a JSON object", NULL);
        return NULL;
    }
    const char *dup = sy_json_duplicate_key(root); /* one value per field */
    if (dup != NULL) {
        char m[128];
        snprintf(m, sizeof(m), "duplicate field '%.64s' in a JSON object", dup);
        cJSON_Delete(root);
        cp_send_error(req, SY_E_BAD_JSON, m, NULL);
        return NULL;
    }
    return root;
}

/* Rejects members not in `allowed` (NULL-terminated): 400 naming the first unknown one. */
int cp_reject_unknown(h2o_req_t *req, const cJSON *root, const char *const *allowed)
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
            cp_send_error(req, SY_E_BAD_PARAM, msg, m->string);
            return -1;
        }
    }
    return 0;
}

/* The start of every PATCH: a JSON object that names at least one field, every one of them in
 * `allowed`. With `name` != NULL, an optional "name" string (*name = NULL when not named, ""
 * for null). NULL after sending the 400. */
cJSON *cp_patch_body(h2o_req_t *req, const char *const *allowed, const char **name)
{
    cJSON *root = cp_parse_body(req);
    if (root == NULL)
        return NULL;
    const char *n = NULL;
    if (cp_reject_unknown(req, root, allowed) != 0)
        goto bad;
    if (cJSON_GetArraySize(root) == 0) {
        cp_send_error(req, SY_E_BAD_PARAM, "the request names no field to change", NULL);
        goto bad;
    }
    if (name != NULL) {
        if (cp_get_name(req, root, "name", &n) != 0)
            goto bad;
        *name = cJSON_GetObjectItemCaseSensitive(root, "name") ? n : NULL;
    }
    return root;
bad:
    cJSON_Delete(root);
    return NULL;
}

/* An optional string member of at most CP_MAX_NAME_BYTES; *out = "" when absent. */
int cp_get_name(h2o_req_t *req, const cJSON *root, const char *field, const char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, field);
    *out = "";
    if (v == NULL || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsString(v) || strlen(v->valuestring) > CP_MAX_NAME_BYTES) {
        char msg[128];
        snprintf(msg, sizeof(msg), "'%s' must be a string of at most %d bytes", field, CP_MAX_NAME_BYTES);
        cp_send_error(req, SY_E_BAD_PARAM, msg, field);
        return -1;
    }
    *out = v->valuestring;
    return 0;
}

/* An optional whole number in lo..hi, or null (*out = -1: clear). *set says it was present. */
int cp_get_limit(h2o_req_t *req, const cJSON *root, const char *field, double lo, double hi, int *set,
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
        cp_send_error(req, SY_E_BAD_PARAM, msg, field);
        return -1;
    }
    *out = (int64_t)d;
    return 0;
}

/* An optional price or budget: a decimal USD string, parsed exactly. null clears (*out = -1)
 * when `nullable`. */
int cp_get_usd(h2o_req_t *req, const cJSON *root, const char *field, int nullable, int positive, int *set,
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
        cp_send_error(req, SY_E_BAD_PARAM, msg, field);
        return -1;
    }
    *out = n;
    return 0;
}

/* `rpm` and `tpm`, each optional: a whole number from `lo` to the catalog's maximum
 * (SY_LIMIT_RPM_MAX, SY_LIMIT_TPM_MAX), or null (*out = -1: clear). */
int cp_get_rate_limits(h2o_req_t *req, const cJSON *root, double lo, int *set_rpm, int64_t *rpm, int *set_tpm,
                       int64_t *tpm)
{
    if (cp_get_limit(req, root, "rpm", lo, SY_LIMIT_RPM_MAX, set_rpm, rpm) != 0)
        return -1;
    return cp_get_limit(req, root, "tpm", lo, SY_LIMIT_TPM_MAX, set_tpm, tpm);
}

/* An optional boolean member; *set says it was present. */
int cp_get_bool(h2o_req_t *req, const cJSON *root, const char *field, int *set, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, field);
    *set = v != NULL;
    *out = cJSON_IsTrue(v);
    if (v == NULL || cJSON_IsBool(v))
        return 0;
    char msg[128];
    snprintf(msg, sizeof(msg), "'%s' must be true or false", field);
    cp_send_error(req, SY_E_BAD_PARAM, msg, field);
    return -1;
}

int64_t cp_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The raw value of query parameter `name` (not percent-decoded: every parameter here is a
 * number, a date or a word). 1 found, 0 absent, -1 longer than outlen-1 or given more than
 * once (one value per field, as in JSON bodies: `?limit=1&limit=600` is refused, not read as
 * either). */
int cp_query_param(h2o_req_t *req, const char *name, char *out, size_t outlen)
{
    if (req->query_at == SIZE_MAX)
        return 0;
    const char *q = req->path.base + req->query_at + 1, *end = req->path.base + req->path.len;
    size_t nl = strlen(name);
    int found = 0;
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(q, '=', (size_t)(stop - q));
        const char *kend = eq ? eq : stop;
        if ((size_t)(kend - q) == nl && memcmp(q, name, nl) == 0) {
            const char *v = eq ? eq + 1 : stop;
            size_t vl = (size_t)(stop - v);
            if (found || vl >= outlen)
                return -1;
            memcpy(out, v, vl);
            out[vl] = '\0';
            found = 1;
        }
        q = stop + 1;
    }
    return found;
}

/* An optional whole number lo..hi from the query string; 0 ok (*out = def when absent), -1 sent 400. */
int cp_query_int(h2o_req_t *req, const char *name, int64_t lo, int64_t hi, int64_t def, int64_t *out)
{
    char v[32], *end;
    int r = cp_query_param(req, name, v, sizeof(v));
    *out = def;
    if (r == 0)
        return 0;
    errno = 0;
    long long n = r > 0 && v[0] >= '0' && v[0] <= '9' ? strtoll(v, &end, 10) : -1;
    /* ERANGE: 9223372036854775808 must not be read as INT64_MAX */
    if (r < 0 || v[0] < '0' || v[0] > '9' || *end != '\0' || errno == ERANGE || n < lo || n > hi) {
        char msg[160];
        snprintf(msg, sizeof(msg), "'%s' must be a whole number %lld..%lld", name, (long long)lo,
                 (long long)hi);
        cp_send_error(req, SY_E_BAD_PARAM, msg, name);
        return -1;
    }
    *out = n;
    return 0;
}

/* A time bound: unix milliseconds, or a UTC date YYYY-MM-DD (its midnight). */
int cp_query_time(h2o_req_t *req, const char *name, int64_t def, int64_t *out)
{
    char v[32];
    int r = cp_query_param(req, name, v, sizeof(v));
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
    cp_send_error(req, SY_E_BAD_PARAM, msg, name);
    return -1;
}

/* 1 when query parameter `name` is "true" or "1"; 0 when absent or "false"/"0"; -1 sent 400. */
int cp_query_bool(h2o_req_t *req, const char *name)
{
    char v[8];
    int r = cp_query_param(req, name, v, sizeof(v));
    if (r == 0)
        return 0;
    if (r > 0 && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0))
        return 1;
    if (r > 0 && (strcmp(v, "false") == 0 || strcmp(v, "0") == 0))
        return 0;
    char msg[96];
    snprintf(msg, sizeof(msg), "'%s' must be true or false", name);
    cp_send_error(req, SY_E_BAD_PARAM, msg, name);
    return -1;
}

int cp_query_period(h2o_req_t *req, int64_t *from, int64_t *to)
{
    if (cp_query_time(req, "from", 0, from) != 0 || cp_query_time(req, "to", INT64_MAX, to) != 0)
        return -1;
    if (*to <= *from) {
        cp_send_error(req, SY_E_BAD_PARAM, "'to' must be after 'from'", "to");
        return -1;
    }
    return 0;
}

int cp_send_ws_result(h2o_req_t *req, int rc, cJSON *out, const char *err)
{
    if (rc == 1)
        return cp_send_error(req, SY_E_NOT_FOUND, "no such workspace", NULL);
    if (rc != 0)
        return cp_send_store_error(req, err);
    return cp_send_owned(req, 200, out);
}
