/*
 * cp_http — what every admin API handler uses: JSON responses and errors, the API's rules for
 * request bodies (a JSON object, one value per field, no unknown field, no NUL inside a string),
 * field validators, and query parameters.
 *
 * Conventions: every cp_send_* answers the request (h2o copies what it needs into the request's
 * pool) and returns 0 — a handler ends with `return cp_send_...`. A validator that refuses has
 * already sent its 400 naming the field and returns -1 (or NULL); on success it has sent nothing.
 * Bodies (cJSON) passed to cp_send_owned/cp_send_list/cp_send_written are taken and freed.
 *
 * Threading: the control plane's loop thread only; no state of its own.
 */
#ifndef CP_HTTP_H
#define CP_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <h2o.h>

#include "cp_admin.h"
#include "cp_api.h"
#include "sy_error.h"

#define CP_MAX_NAME_BYTES 256

/* One call of a route's handler (cp_routes.h): the service's options, the path's parameter
 * (the `:id` segment, NUL-terminated, NULL when the pattern has none), the route's constant
 * argument (NULL when none), and who calls: the operator (token), or a dashboard user (session
 * cookie: user id, the session's secret, and the user's role in the route's workspace when the
 * route has one). Valid for the handler's duration. */
typedef struct {
    const cp_api_opts_t *o;
    const char *id;
    const char *arg;
    int is_operator;     /* 1: the operator (its token, or its dashboard session) */
    const char *user;    /* the session's user id, or NULL */
    const char *session; /* the session cookie's secret (session_len bytes), or NULL */
    size_t session_len;
    int role; /* cp_role_t in the route's workspace (CP_ROLE_NONE without one or for the operator) */
} cp_call_t;

void cp_send_json(h2o_req_t *req, int status, cJSON *body);

int cp_send_error(h2o_req_t *req, sy_err_t e, const char *msg, const char *param);

int cp_send_owned(h2o_req_t *req, int status, cJSON *body);

int cp_send_store_error(h2o_req_t *req, const char *err);

/* {"object":"list","data":arr} — takes arr. */
int cp_send_list(h2o_req_t *req, cJSON *arr);

int cp_send_ok_version(h2o_req_t *req, uint64_t version);

void cp_send_admin_rc(h2o_req_t *req, cp_admin_rc_t rc, const char *param, const char *err);

/* The end of a versioned write: the error, or the bus notice, the log line and `out`. */
void cp_send_written(h2o_req_t *req, cp_admin_rc_t rc, const char *param, const char *err, cJSON *out,
                     uint64_t version, int status, const char *what, const char *id);

int cp_method_not_allowed(h2o_req_t *req);

int cp_is_method(h2o_req_t *req, const char *m);

/* Parses the request body as a JSON object; on failure sends the error and returns NULL. */
cJSON *cp_parse_body(h2o_req_t *req);

/* Rejects members not in `allowed` (NULL-terminated): 400 naming the first unknown one. */
int cp_reject_unknown(h2o_req_t *req, const cJSON *root, const char *const *allowed);

/* The start of every PATCH: a JSON object that names at least one field, every one of them in
 * `allowed`. With `name` != NULL, an optional "name" string (*name = NULL when not named, ""
 * for null). NULL after sending the 400. */
cJSON *cp_patch_body(h2o_req_t *req, const char *const *allowed, const char **name);

/* An optional string member of at most CP_MAX_NAME_BYTES; *out = "" when absent. */
int cp_get_name(h2o_req_t *req, const cJSON *root, const char *field, const char **out);

/* An optional whole number in lo..hi, or null (*out = -1: clear). *set says it was present. */
int cp_get_limit(h2o_req_t *req, const cJSON *root, const char *field, double lo, double hi, int *set,
                 int64_t *out);

/* An optional price or budget: a decimal USD string, parsed exactly. null clears (*out = -1)
 * when `nullable`. */
int cp_get_usd(h2o_req_t *req, const cJSON *root, const char *field, int nullable, int positive, int *set,
               int64_t *out);

/* `rpm` and `tpm`, each optional: a whole number from `lo` to the catalog's maximum
 * (SY_LIMIT_RPM_MAX, SY_LIMIT_TPM_MAX), or null (*out = -1: clear). */
int cp_get_rate_limits(h2o_req_t *req, const cJSON *root, double lo, int *set_rpm, int64_t *rpm, int *set_tpm,
                       int64_t *tpm);

/* An optional boolean member; *set says it was present. */
int cp_get_bool(h2o_req_t *req, const cJSON *root, const char *field, int *set, int *out);

int64_t cp_wall_ms(void);

/* The raw value of query parameter `name` (not percent-decoded: every parameter here is a
 * number, a date or a word). 1 found, 0 absent, -1 longer than outlen-1 or given more than
 * once (one value per field, as in JSON bodies). */
int cp_query_param(h2o_req_t *req, const char *name, char *out, size_t outlen);

/* An optional whole number lo..hi from the query string; 0 ok (*out = def when absent), -1 sent 400. */
int cp_query_int(h2o_req_t *req, const char *name, int64_t lo, int64_t hi, int64_t def, int64_t *out);

/* A time bound: unix milliseconds, or a UTC date YYYY-MM-DD (its midnight). */
int cp_query_time(h2o_req_t *req, const char *name, int64_t def, int64_t *out);

/* 1 when query parameter `name` is "true" or "1"; 0 when absent or "false"/"0"; -1 sent 400. */
int cp_query_bool(h2o_req_t *req, const char *name);

/* `from` and `to` (cp_query_time; absent: 0 and INT64_MAX), `to` after `from`; -1 sent 400. */
int cp_query_period(h2o_req_t *req, int64_t *from, int64_t *to);
/* The end of a workspace query returning 0 (out, taken), 1 (unknown workspace: 404) or -1 (err). */
int cp_send_ws_result(h2o_req_t *req, int rc, cJSON *out, const char *err);

#endif
