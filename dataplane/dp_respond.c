/*
 * The only place an error becomes a response, and the headers every response carries.
 */
#include <stdlib.h>
#include <string.h>

#include "dp.h"
#include "sy_catalog.h"

static h2o_generator_t inline_gen = {NULL, NULL};

static const char expose[] = "x-request-id, x-ratelimit-limit, x-ratelimit-remaining, x-ratelimit-reset, retry-after, "
                             "x-switchyard-model, x-switchyard-provider, x-switchyard-task, x-switchyard-difficulty, "
                             "x-switchyard-cost, x-switchyard-attempts";

void dp_add_common_headers(dp_req_t *r)
{
    h2o_req_t *req = r->req;
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0, NULL, r->id, strlen(r->id));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ACCESS_CONTROL_ALLOW_ORIGIN, NULL, H2O_STRLIT("*"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("access-control-expose-headers"), 0, NULL, H2O_STRLIT(expose));
}

void dp_add_routing_headers(dp_req_t *r)
{
    if (r->model == NULL)
        return;
    h2o_req_t *req = r->req;
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-switchyard-model"), 0, NULL, r->model->id,
                          strlen(r->model->id));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-switchyard-provider"), 0, NULL, r->model->provider->id, strlen(r->model->provider->id));
    char n[16];
    int l = snprintf(n, sizeof(n), "%zu", r->attempts);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-switchyard-attempts"), 0, NULL, h2o_strdup(&req->pool, n, (size_t)l).base, (size_t)l);
    if (r->task >= 0) {
        const char *t = sy_task_name((sy_task_t)r->task), *d = sy_difficulty_name((sy_difficulty_t)r->difficulty);
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-switchyard-task"), 0, NULL, t, strlen(t));
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-switchyard-difficulty"), 0, NULL, d,
                              strlen(d));
    }
}

void dp_respond_body(dp_req_t *r, int status, const char *content_type, const char *body, size_t len)
{
    h2o_req_t *req = r->req;
    if (req == NULL || r->started || r->status != 0)
        return;
    r->status = status;
    if (dp_shutting_down())
        req->http1_is_persistent = 0; /* draining: send the client elsewhere for its next request */
    req->res.status = status;
    req->res.reason = status < 300 ? "OK" : "Error";
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type, strlen(content_type));
    dp_add_common_headers(r);
    h2o_iovec_t buf = h2o_strdup(&req->pool, body, len);
    dp_watch_disarm(r);
    r->started = 1;
    r->final_sent = 1;
    h2o_start_response(req, &inline_gen);
    if (h2o_memis(req->input.method.base, req->input.method.len, H2O_STRLIT("HEAD")))
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
    else
        h2o_send(req, &buf, 1, H2O_SEND_STATE_FINAL);
}

void dp_respond_error(dp_req_t *r, sy_err_t e, const char *msg, const char *param)
{
    if (r->req == NULL || r->started)
        return;
    if (r->end == SY_E_OK)
        r->end = e;
    char *j = sy_err_json(e, msg, param);
    if (j == NULL) {
        static const char oom[] = "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"param\":null,"
                                  "\"code\":\"internal_error\"}}";
        dp_respond_body(r, 500, "application/json", oom, sizeof(oom) - 1);
        return;
    }
    if (sy_err_status(e) == 402)
        h2o_add_header_by_str(&r->req->pool, &r->req->res.headers, H2O_STRLIT("x-should-retry"), 0, NULL, H2O_STRLIT("false"));
    dp_respond_body(r, sy_err_status(e), "application/json", j, strlen(j));
    free(j);
}
