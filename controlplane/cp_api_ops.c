/*
 * Admin API: the service itself — snapshot version, fleet nodes, Prometheus metrics
 * (docs/controlplane.md). Handlers run on the loop thread (cp_routes.h).
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

#include "cp_metrics.h"
#include "cp_web.h"

static h2o_generator_t metrics_gen = {NULL, NULL};

int cp_h_snapshot_version(h2o_req_t *req, const cp_call_t *c)
{
    char err[256];
    uint64_t v;
    if (cp_store_snapshot_version(c->o->store, &v, err, sizeof(err)) != 0)
        return cp_send_store_error(req, err);
    cJSON *b = cJSON_CreateObject();
    cJSON_AddNumberToObject(b, "version", (double)v);
    return cp_send_owned(req, 200, b);
}

int cp_h_list_nodes(h2o_req_t *req, const cp_call_t *c)
{
    char err[256];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    cJSON *arr = cp_admin_list_nodes(c->o->store, now, err, sizeof(err));
    if (arr == NULL)
        return cp_send_store_error(req, err);
    cJSON *b = cJSON_CreateObject();
    cJSON_AddItemToObject(b, "nodes", arr);
    return cp_send_owned(req, 200, b);
}

/* GET /metrics (docs/controlplane.md, "Metrics"): no operator token, like /healthz — the
 * listener is the operator's internal port, and no series carries a secret, a key, an id or a
 * workspace (cp_metrics.h). */
int cp_h_metrics(h2o_req_t *req, const cp_call_t *c)
{
    char err[256];
    uint64_t version = 0;
    if (cp_store_snapshot_version(c->o->store, &version, err, sizeof(err)) != 0)
        SY_WARN("msg=\"metrics: cannot read the snapshot version\" err=\"%s\"", err);
    size_t len = 0;
    char *text = cp_metrics_render(version, &len);
    if (text == NULL)
        return cp_send_error(req, SY_E_INTERNAL, "out of memory", NULL);
    req->res.status = 200;
    req->res.reason = "OK";
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("text/plain; version=0.0.4; charset=utf-8"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
    h2o_iovec_t buf = h2o_strdup(&req->pool, text, len);
    free(text);
    h2o_start_response(req, &metrics_gen);
    h2o_send(req, &buf, 1, H2O_SEND_STATE_FINAL);
    return 0;
}

/* GET /healthz: no token; says the process serves. */
int cp_h_healthz(h2o_req_t *req, const cp_call_t *c)
{
    (void)c;
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "status", "ok");
    return cp_send_owned(req, 200, b);
}

/* GET /api/openapi.json: the API's OpenAPI 3.1 document (web/openapi.json, loaded by cp_web). */
int cp_h_openapi(h2o_req_t *req, const cp_call_t *c)
{
    (void)c;
    size_t len = 0;
    const char *doc = cp_web_file("openapi.json", &len);
    if (doc == NULL)
        return cp_send_error(req, SY_E_NOT_FOUND, "no OpenAPI document loaded (--web-dir)", NULL);
    req->res.status = 200;
    req->res.reason = "OK";
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("application/json"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-cache"));
    h2o_start_response(req, &metrics_gen);
    h2o_iovec_t body = h2o_iovec_init(doc, len);
    h2o_send(req, &body, 1, H2O_SEND_STATE_FINAL);
    return 0;
}
