/*
 * cp_routes — the admin API's route table and its dispatch (cp_routes.h).
 */
#include "cp_routes.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cp_accounts.h"
#include "cp_web.h"
#include "sy_error.h"
#include "sy_hash.h"

#define MAX_SEGMENTS 6
#define MAX_SEGMENT 129 /* 128-byte ids + NUL */

/* Who may call a route. Under /api the operator token may call every route; a dashboard
 * session (cookie) only the routes marked for it, and only for its own workspaces. */
typedef enum {
    CP_WHO_ANYONE,   /* health and metrics: the operator's internal port, no secret in them */
    CP_WHO_STRIPE,   /* the webhook: its handler checks the Stripe signature over the raw body */
    CP_WHO_PUBLIC,   /* sign-up and log-in: no credential (JSON bodies only: no cross-site form) */
    CP_WHO_SESSION,  /* a dashboard session only (who am I, log out, accept an invitation) */
    CP_WHO_USER,     /* the operator or any session (the catalog) */
    CP_WHO_MEMBER,   /* the operator or a member of the route's workspace */
    CP_WHO_OWNER,    /* the operator or an owner of the route's workspace */
    CP_WHO_OPERATOR, /* the operator token only */
} cp_who_t;

/* What the path's :id names, for the membership check of CP_WHO_MEMBER / CP_WHO_OWNER. */
typedef enum { CP_SCOPE_NONE, CP_SCOPE_WS, CP_SCOPE_KEY } cp_scope_t;

typedef struct {
    const char *method;
    const char *pattern; /* "/api/keys/:id/revoke": ":id" matches one segment, given as c->id */
    cp_handler_fn fn;
    cp_who_t who;
    const char *arg; /* c->arg */
    cp_scope_t scope;
} cp_route_t;

static const cp_route_t routes[] = {
    {"GET", "/healthz", cp_h_healthz, CP_WHO_ANYONE, NULL},
    {"GET", "/metrics", cp_h_metrics, CP_WHO_ANYONE, NULL},
    {"POST", "/stripe/webhook", cp_h_stripe_webhook, CP_WHO_STRIPE, NULL},

    {"POST", "/api/auth/signup", cp_h_signup, CP_WHO_PUBLIC, NULL},
    {"POST", "/api/auth/login", cp_h_login, CP_WHO_PUBLIC, NULL},
    {"POST", "/api/auth/operator", cp_h_operator_login, CP_WHO_PUBLIC, NULL},
    {"POST", "/api/auth/logout", cp_h_logout, CP_WHO_SESSION, NULL},
    {"GET", "/api/config", cp_h_config, CP_WHO_USER, NULL},
    {"GET", "/api/auth/me", cp_h_me, CP_WHO_SESSION, NULL},
    {"POST", "/api/auth/accept-invite", cp_h_accept_invite, CP_WHO_SESSION, NULL},
    {"POST", "/api/workspaces/:id/invites", cp_h_create_invite, CP_WHO_OWNER, NULL, CP_SCOPE_WS},

    {"GET", "/api/openapi.json", cp_h_openapi, CP_WHO_USER, NULL},
    {"GET", "/api/snapshot/version", cp_h_snapshot_version, CP_WHO_OPERATOR, NULL},
    {"GET", "/api/nodes", cp_h_list_nodes, CP_WHO_OPERATOR, NULL},

    {"GET", "/api/workspaces", cp_h_list_workspaces, CP_WHO_OPERATOR, NULL},
    {"POST", "/api/workspaces", cp_h_create_workspace, CP_WHO_OPERATOR, NULL},
    {"GET", "/api/workspaces/:id", cp_h_get_workspace, CP_WHO_MEMBER, NULL, CP_SCOPE_WS},
    {"PATCH", "/api/workspaces/:id", cp_h_patch_workspace, CP_WHO_OPERATOR, NULL},
    {"POST", "/api/workspaces/:id/disable", cp_h_disable_workspace, CP_WHO_OPERATOR, NULL},

    {"GET", "/api/workspaces/:id/keys", cp_h_list_keys, CP_WHO_MEMBER, NULL, CP_SCOPE_WS},
    {"POST", "/api/workspaces/:id/keys", cp_h_create_key, CP_WHO_MEMBER, NULL, CP_SCOPE_WS},
    {"GET", "/api/keys/:id", cp_h_get_key, CP_WHO_MEMBER, NULL, CP_SCOPE_KEY},
    {"PATCH", "/api/keys/:id", cp_h_patch_key, CP_WHO_MEMBER, NULL, CP_SCOPE_KEY},
    {"POST", "/api/keys/:id/revoke", cp_h_revoke_key, CP_WHO_MEMBER, NULL, CP_SCOPE_KEY},
    {"POST", "/api/keys/:id/rotate", cp_h_rotate_key, CP_WHO_MEMBER, NULL, CP_SCOPE_KEY},

    {"GET", "/api/workspaces/:id/balance", cp_h_balance, CP_WHO_MEMBER, NULL, CP_SCOPE_WS},
    {"GET", "/api/workspaces/:id/ledger", cp_h_ledger, CP_WHO_MEMBER, NULL, CP_SCOPE_WS},
    {"POST", "/api/workspaces/:id/credits", cp_h_credits, CP_WHO_OPERATOR, NULL},
    {"GET", "/api/workspaces/:id/usage", cp_h_usage, CP_WHO_MEMBER, NULL, CP_SCOPE_WS},
    {"GET", "/api/workspaces/:id/usage/records", cp_h_usage_records, CP_WHO_MEMBER, NULL, CP_SCOPE_WS},
    {"GET", "/api/workspaces/:id/usage/savings", cp_h_usage_savings, CP_WHO_MEMBER, NULL, CP_SCOPE_WS},
    {"POST", "/api/workspaces/:id/checkout", cp_h_checkout, CP_WHO_OWNER, NULL, CP_SCOPE_WS},
    {"GET", "/api/ledger/check", cp_h_ledger_check, CP_WHO_OPERATOR, NULL},

    {"GET", "/api/providers", cp_h_list_providers, CP_WHO_USER, NULL},
    {"GET", "/api/models", cp_h_get_models, CP_WHO_USER, NULL},
    {"GET", "/api/models/:id", cp_h_get_models, CP_WHO_USER, NULL},
    {"PATCH", "/api/models/:id", cp_h_patch_model, CP_WHO_OPERATOR, NULL},
    {"POST", "/api/catalog/reload", cp_h_import_catalog, CP_WHO_OPERATOR, "reload"},
    {"POST", "/api/catalog/import", cp_h_import_catalog, CP_WHO_OPERATOR, "import"},
    {"GET", "/api/catalog/status", cp_h_catalog_status, CP_WHO_OPERATOR, NULL},
    {"GET", "/api/aliases", cp_h_get_aliases, CP_WHO_USER, NULL},
    {"GET", "/api/aliases/:id", cp_h_get_aliases, CP_WHO_USER, NULL},
    {"PUT", "/api/aliases/:id", cp_h_put_alias, CP_WHO_OPERATOR, NULL},
    {"DELETE", "/api/aliases/:id", cp_h_delete_alias, CP_WHO_OPERATOR, NULL},
};

static struct {
    const cp_api_opts_t *o;
    uint8_t token_sha[SY_SHA256_LEN];
    size_t max_body; /* request bodies over this get 413 (except the Stripe webhook's) */
} rt;

void cp_routes_init(const cp_api_opts_t *o)
{
    rt.o = o;
    sy_sha256(o->token, strlen(o->token), rt.token_sha);
    rt.max_body = o->max_body_bytes ? o->max_body_bytes : CP_API_DEFAULT_MAX_BODY;
}

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
    return sy_ct_equal(sha, rt.token_sha, sizeof(sha));
}

/* 1 when the request's content-type is application/json (with or without parameters): a
 * cross-site HTML form cannot send that without a CORS preflight, which this service never
 * grants. */
static int json_body(h2o_req_t *req)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
    if (i < 0)
        return 0;
    h2o_iovec_t v = req->headers.entries[i].value;
    return v.len >= 16 && strncasecmp(v.base, "application/json", 16) == 0 &&
           (v.len == 16 || v.base[16] == ';');
}

/* 0 when an Origin header names another site than the Host the request was sent to (browsers
 * send Origin on every cross-origin POST); 1 when it matches or is absent (not a browser). */
static int same_origin(h2o_req_t *req)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("origin"), -1);
    if (i < 0)
        return 1;
    h2o_iovec_t o = req->headers.entries[i].value, host = req->input.authority;
    const char *p = memchr(o.base, ':', o.len);
    if (p == NULL || (size_t)(o.base + o.len - p) < 3 || p[1] != '/' || p[2] != '/')
        return 0;
    size_t off = (size_t)(p + 3 - o.base);
    return o.len - off == host.len && strncasecmp(o.base + off, host.base, host.len) == 0;
}

/* The session cookie's value: 1 with *v / *len set when there is one of the right length. */
static int session_of(h2o_req_t *req, const char **v, size_t *len)
{
    static const char name[] = "sy_session=";
    for (ssize_t i = -1; (i = h2o_find_header(&req->headers, H2O_TOKEN_COOKIE, i)) >= 0;) {
        h2o_iovec_t c = req->headers.entries[i].value;
        size_t k = 0;
        while (k < c.len) {
            while (k < c.len && (c.base[k] == ' ' || c.base[k] == ';'))
                k++;
            size_t start = k;
            while (k < c.len && c.base[k] != ';')
                k++;
            if (k - start > sizeof(name) - 1 && memcmp(c.base + start, name, sizeof(name) - 1) == 0) {
                *v = c.base + start + sizeof(name) - 1;
                *len = k - start - (sizeof(name) - 1);
                return *len == CP_SECRET_HEX - 1;
            }
        }
    }
    return 0;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* The path as the client sent it (before h2o's normalisation) names its resources literally:
 * no segment that is "." or ".." and no '/' or '\' inside a segment, percent-encoded or not.
 * h2o decodes "%2F" and resolves dot segments, so without this check
 * "/api/workspaces/ws_a/..%2Fws_b/balance" would answer for ws_b — harmless behind the one
 * operator token, but a path that starts with one workspace must never reach another (a proxy
 * that authorises a tenant by its path prefix would be fooled). No id can hold those
 * characters (cp_admin_valid_id), so nothing legitimate is refused. */
static int raw_path_ok(const h2o_req_t *req)
{
    const char *p = req->path.base;
    size_t len = req->query_at != SIZE_MAX && req->query_at < req->path.len ? req->query_at : req->path.len;
    size_t dots = 0, chars = 0;
    for (size_t i = 0; i <= len; i++) {
        int c = i < len ? (unsigned char)p[i] : '/';
        if (c == '%' && i + 2 < len && hexval(p[i + 1]) >= 0 && hexval(p[i + 2]) >= 0) {
            c = hexval(p[i + 1]) * 16 + hexval(p[i + 2]);
            i += 2;
            if (c == '/' || c == '\\')
                return 0;
        } else if (c == '/') {
            if (chars > 0 && dots == chars && chars <= 2)
                return 0; /* "." or ".." */
            dots = chars = 0;
            continue;
        }
        if (c == '\\')
            return 0;
        chars++;
        dots += c == '.';
    }
    return 1;
}

/* 1 when the path's segments match `pattern`; *id is the segment matched by ":id". */
static int match(const char *pattern, char seg[MAX_SEGMENTS][MAX_SEGMENT], int n, const char **id)
{
    const char *p = pattern;
    int i = 0;
    *id = NULL;
    while (*p == '/') {
        p++;
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (i >= n)
            return 0;
        if (len == 3 && memcmp(p, ":id", 3) == 0)
            *id = seg[i];
        else if (strlen(seg[i]) != len || memcmp(seg[i], p, len) != 0)
            return 0;
        i++;
        p += len;
    }
    return i == n;
}

int cp_routes_dispatch(h2o_req_t *req)
{
    char seg[MAX_SEGMENTS][MAX_SEGMENT];
    if (!raw_path_ok(req))
        return cp_send_error(req, SY_E_NOT_FOUND,
                             "no such endpoint (dot segments and encoded slashes are not accepted)", NULL);
    int n = split_path(req->path_normalized, seg);
    const cp_route_t *hit = NULL;
    const char *id = NULL;
    int path_known = 0;
    for (size_t k = 0; n >= 1 && k < sizeof(routes) / sizeof(routes[0]) && hit == NULL; k++) {
        const char *rid;
        if (!match(routes[k].pattern, seg, n, &rid))
            continue;
        path_known = 1;
        if (cp_is_method(req, routes[k].method)) {
            hit = &routes[k];
            id = rid;
        }
    }
    int api = n >= 1 && strcmp(seg[0], "api") == 0;
    if (!api && hit == NULL && cp_web_serve(req) == 0) /* the dashboard's pages and assets */
        return 0;
    if (!api && path_known && hit == NULL)
        return cp_method_not_allowed(req);
    /* h2o's own limit is raised to the webhook's; every other path keeps the API's */
    if ((hit == NULL || hit->who != CP_WHO_STRIPE) && req->entity.base != NULL &&
        req->entity.len > rt.max_body)
        return cp_send_error(req, SY_E_REQUEST_TOO_LARGE, "request body too large", NULL);
    if (!api && hit == NULL)
        return cp_send_error(req, SY_E_NOT_FOUND, "no such endpoint", NULL);
    cp_call_t c = {.o = rt.o, .id = id, .arg = hit ? hit->arg : NULL};
    if (!api)
        return hit->fn(req, &c);
    if (hit != NULL && hit->who == CP_WHO_PUBLIC) {
        if (!json_body(req))
            return cp_send_error(req, SY_E_BAD_REQUEST, "the body must be sent as application/json", NULL);
        if (!same_origin(req))
            return cp_send_error(req, SY_E_FORBIDDEN, "cross-origin request refused", NULL);
        return hit->fn(req, &c);
    }
    /* everything else under /api (including unknown paths) needs a credential first — the
     * operator token or a dashboard session — so the API's shape is not discoverable without */
    char user[CP_USER_ID_MAX], err[256];
    int cookie = 0;
    c.is_operator = authorized(req);
    if (!c.is_operator) {
        if (session_of(req, &c.session, &c.session_len)) {
            cp_admin_rc_t arc =
                cp_session_user(rt.o->store, c.session, c.session_len, cp_wall_ms(), user, err, sizeof(err));
            if (arc == CP_ADMIN_ERROR)
                return cp_send_store_error(req, err);
            if (arc == CP_ADMIN_OK) {
                c.user = user;
                cookie = 1;
                /* the operator's dashboard session (POST /api/auth/operator) */
                c.is_operator = strcmp(user, CP_OPERATOR_USER) == 0;
            }
        }
        if (c.user == NULL)
            return cp_send_error(req, SY_E_INVALID_API_KEY, "missing or invalid operator token or session",
                                 NULL);
    }
    if (hit == NULL)
        return path_known ? cp_method_not_allowed(req)
                          : cp_send_error(req, SY_E_NOT_FOUND, "no such endpoint", NULL);
    /* a cookie is sent by the browser on its own: every change made with one needs the
     * session's CSRF token and a same-origin (or absent) Origin */
    if (cookie && !cp_is_method(req, "GET") && !cp_is_method(req, "HEAD")) {
        char want[CP_CSRF_HEX];
        cp_session_csrf(c.session, c.session_len, want);
        ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-csrf-token"), -1);
        if (!same_origin(req) || i < 0 || req->headers.entries[i].value.len != CP_CSRF_HEX - 1 ||
            !sy_ct_equal(req->headers.entries[i].value.base, want, CP_CSRF_HEX - 1))
            return cp_send_error(req, SY_E_FORBIDDEN,
                                 "missing or wrong x-csrf-token (or a cross-origin request)", NULL);
    }
    if (c.is_operator) {
        if (hit->who == CP_WHO_SESSION && !cookie)
            return cp_send_error(req, SY_E_FORBIDDEN, "this route is for a dashboard session", NULL);
        return hit->fn(req, &c);
    }
    /* a user's session */
    if (hit->who == CP_WHO_OPERATOR)
        return cp_send_error(req, SY_E_FORBIDDEN, "this route needs the operator token", NULL);
    if (hit->scope != CP_SCOPE_NONE) {
        char ws[CP_WS_ID_MAX];
        const char *w = id;
        if (hit->scope == CP_SCOPE_KEY) {
            cp_admin_rc_t arc = cp_accounts_key_workspace(rt.o->store, id, ws, err, sizeof(err));
            if (arc == CP_ADMIN_ERROR)
                return cp_send_store_error(req, err);
            if (arc == CP_ADMIN_NOT_FOUND)
                return cp_send_error(req, SY_E_NOT_FOUND, "no such key", NULL);
            w = ws;
        }
        int role = cp_accounts_role(rt.o->store, c.user, w, err, sizeof(err));
        if (role < 0)
            return cp_send_store_error(req, err);
        /* another workspace's ids answer as if they did not exist (404, not 403) */
        if (role == CP_ROLE_NONE)
            return cp_send_error(req, SY_E_NOT_FOUND,
                                 hit->scope == CP_SCOPE_KEY ? "no such key" : "no such workspace", NULL);
        if (hit->who == CP_WHO_OWNER && role != CP_ROLE_OWNER)
            return cp_send_error(req, SY_E_FORBIDDEN, "only a workspace owner may do this", NULL);
        c.role = role;
    }
    return hit->fn(req, &c);
}
