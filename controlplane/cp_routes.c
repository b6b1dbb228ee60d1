/*
 * cp_routes — the admin API's route table and its dispatch (cp_routes.h).
 */
#include "cp_routes.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "sy_error.h"
#include "sy_hash.h"

#define MAX_SEGMENTS 6
#define MAX_SEGMENT 129 /* 128-byte ids + NUL */

/* Who may call a route. */
typedef enum {
    CP_WHO_ANYONE,   /* health and metrics: the operator's internal port, no secret in them */
    CP_WHO_STRIPE,   /* the webhook: its handler checks the Stripe signature over the raw body */
    CP_WHO_OPERATOR, /* everything under /api: the operator token */
} cp_who_t;

typedef struct {
    const char *method;
    const char *pattern; /* "/api/keys/:id/revoke": ":id" matches one segment, given as c->id */
    cp_handler_fn fn;
    cp_who_t who;
    const char *arg; /* c->arg */
} cp_route_t;

static const cp_route_t routes[] = {
    {"GET", "/healthz", cp_h_healthz, CP_WHO_ANYONE, NULL},
    {"GET", "/metrics", cp_h_metrics, CP_WHO_ANYONE, NULL},
    {"POST", "/stripe/webhook", cp_h_stripe_webhook, CP_WHO_STRIPE, NULL},

    {"GET", "/api/snapshot/version", cp_h_snapshot_version, CP_WHO_OPERATOR, NULL},
    {"GET", "/api/nodes", cp_h_list_nodes, CP_WHO_OPERATOR, NULL},

    {"GET", "/api/workspaces", cp_h_list_workspaces, CP_WHO_OPERATOR, NULL},
    {"POST", "/api/workspaces", cp_h_create_workspace, CP_WHO_OPERATOR, NULL},
    {"GET", "/api/workspaces/:id", cp_h_get_workspace, CP_WHO_OPERATOR, NULL},
    {"PATCH", "/api/workspaces/:id", cp_h_patch_workspace, CP_WHO_OPERATOR, NULL},
    {"POST", "/api/workspaces/:id/disable", cp_h_disable_workspace, CP_WHO_OPERATOR, NULL},

    {"GET", "/api/workspaces/:id/keys", cp_h_list_keys, CP_WHO_OPERATOR, NULL},
    {"POST", "/api/workspaces/:id/keys", cp_h_create_key, CP_WHO_OPERATOR, NULL},
    {"GET", "/api/keys/:id", cp_h_get_key, CP_WHO_OPERATOR, NULL},
    {"PATCH", "/api/keys/:id", cp_h_patch_key, CP_WHO_OPERATOR, NULL},
    {"POST", "/api/keys/:id/revoke", cp_h_revoke_key, CP_WHO_OPERATOR, NULL},
    {"POST", "/api/keys/:id/rotate", cp_h_rotate_key, CP_WHO_OPERATOR, NULL},

    {"GET", "/api/workspaces/:id/balance", cp_h_balance, CP_WHO_OPERATOR, NULL},
    {"GET", "/api/workspaces/:id/ledger", cp_h_ledger, CP_WHO_OPERATOR, NULL},
    {"POST", "/api/workspaces/:id/credits", cp_h_credits, CP_WHO_OPERATOR, NULL},
    {"GET", "/api/workspaces/:id/usage", cp_h_usage, CP_WHO_OPERATOR, NULL},
    {"POST", "/api/workspaces/:id/checkout", cp_h_checkout, CP_WHO_OPERATOR, NULL},
    {"GET", "/api/ledger/check", cp_h_ledger_check, CP_WHO_OPERATOR, NULL},

    {"GET", "/api/providers", cp_h_list_providers, CP_WHO_OPERATOR, NULL},
    {"GET", "/api/models", cp_h_get_models, CP_WHO_OPERATOR, NULL},
    {"GET", "/api/models/:id", cp_h_get_models, CP_WHO_OPERATOR, NULL},
    {"PATCH", "/api/models/:id", cp_h_patch_model, CP_WHO_OPERATOR, NULL},
    {"POST", "/api/catalog/reload", cp_h_import_catalog, CP_WHO_OPERATOR, "reload"},
    {"POST", "/api/catalog/import", cp_h_import_catalog, CP_WHO_OPERATOR, "import"},
    {"GET", "/api/catalog/status", cp_h_catalog_status, CP_WHO_OPERATOR, NULL},
    {"GET", "/api/aliases", cp_h_get_aliases, CP_WHO_OPERATOR, NULL},
    {"GET", "/api/aliases/:id", cp_h_get_aliases, CP_WHO_OPERATOR, NULL},
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
    if (!api && path_known && hit == NULL)
        return cp_method_not_allowed(req);
    /* h2o's own limit is raised to the webhook's; every other path keeps the API's */
    if ((hit == NULL || hit->who != CP_WHO_STRIPE) && req->entity.base != NULL &&
        req->entity.len > rt.max_body)
        return cp_send_error(req, SY_E_REQUEST_TOO_LARGE, "request body too large", NULL);
    if (!api && hit == NULL)
        return cp_send_error(req, SY_E_NOT_FOUND, "no such endpoint", NULL);
    /* everything under /api (including unknown paths) needs the operator token first, so the
     * API's shape is not discoverable without it */
    if (api && !authorized(req))
        return cp_send_error(req, SY_E_INVALID_API_KEY, "missing or invalid operator token", NULL);
    if (hit == NULL)
        return path_known ? cp_method_not_allowed(req)
                          : cp_send_error(req, SY_E_NOT_FOUND, "no such endpoint", NULL);
    cp_call_t c = {.o = rt.o, .id = id, .arg = hit->arg};
    return hit->fn(req, &c);
}
