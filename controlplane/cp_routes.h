/*
 * cp_routes — the admin API's routes as one table: method, path pattern, handler, and who may
 * call it (docs/controlplane.md lists them). cp_routes_dispatch matches a request against the
 * table and answers it: the handler's answer, 401 before anything else under /api without the
 * operator token (the API's shape is not discoverable without it), 405 when the path exists
 * with other methods, 404 otherwise; bodies over the API's limit are 413 (the Stripe webhook
 * has its own, larger one).
 *
 * Handlers live in a file per resource (cp_api_ops.c, cp_api_workspaces.c, cp_api_keys.c,
 * cp_api_catalog.c, cp_api_billing.c); each answers before it returns.
 *
 * Threading: cp_routes_init at start-up, before the loop runs; the rest on the loop thread.
 */
#ifndef CP_ROUTES_H
#define CP_ROUTES_H

#include <h2o.h>

#include "cp_http.h"

typedef int (*cp_handler_fn)(h2o_req_t *req, const cp_call_t *c);

/* Keeps `o` (borrowed for the service's life) and the operator token's SHA-256. */
void cp_routes_init(const cp_api_opts_t *o);
/* Answers `req` (always): see above. Returns 0. */
int cp_routes_dispatch(h2o_req_t *req);

/* cp_api_auth.c */
int cp_h_signup(h2o_req_t *req, const cp_call_t *c);
int cp_h_login(h2o_req_t *req, const cp_call_t *c);
int cp_h_operator_login(h2o_req_t *req, const cp_call_t *c);
int cp_h_logout(h2o_req_t *req, const cp_call_t *c);
int cp_h_config(h2o_req_t *req, const cp_call_t *c);
int cp_h_me(h2o_req_t *req, const cp_call_t *c);
int cp_h_create_invite(h2o_req_t *req, const cp_call_t *c);
int cp_h_accept_invite(h2o_req_t *req, const cp_call_t *c);
/* cp_api_ops.c */
int cp_h_openapi(h2o_req_t *req, const cp_call_t *c);
int cp_h_healthz(h2o_req_t *req, const cp_call_t *c);
int cp_h_snapshot_version(h2o_req_t *req, const cp_call_t *c);
int cp_h_list_nodes(h2o_req_t *req, const cp_call_t *c);
int cp_h_metrics(h2o_req_t *req, const cp_call_t *c);
/* cp_api_workspaces.c */
int cp_h_list_workspaces(h2o_req_t *req, const cp_call_t *c);
int cp_h_create_workspace(h2o_req_t *req, const cp_call_t *c);
int cp_h_disable_workspace(h2o_req_t *req, const cp_call_t *c);
int cp_h_get_workspace(h2o_req_t *req, const cp_call_t *c);
int cp_h_patch_workspace(h2o_req_t *req, const cp_call_t *c);
/* cp_api_keys.c */
int cp_h_list_keys(h2o_req_t *req, const cp_call_t *c);
int cp_h_create_key(h2o_req_t *req, const cp_call_t *c);
int cp_h_revoke_key(h2o_req_t *req, const cp_call_t *c);
int cp_h_rotate_key(h2o_req_t *req, const cp_call_t *c);
int cp_h_get_key(h2o_req_t *req, const cp_call_t *c);
int cp_h_patch_key(h2o_req_t *req, const cp_call_t *c);
/* cp_api_catalog.c */
/* One log line per catalog import outcome (also used by the SIGHUP reload). */
void cp_log_import(int rc, const cJSON *rep, const char *source, const char *path, const char *err);
int cp_h_list_providers(h2o_req_t *req, const cp_call_t *c);
int cp_h_get_models(h2o_req_t *req, const cp_call_t *c);
int cp_h_patch_model(h2o_req_t *req, const cp_call_t *c);
int cp_h_import_catalog(h2o_req_t *req, const cp_call_t *c);
int cp_h_catalog_status(h2o_req_t *req, const cp_call_t *c);
int cp_h_get_aliases(h2o_req_t *req, const cp_call_t *c);
int cp_h_put_alias(h2o_req_t *req, const cp_call_t *c);
int cp_h_delete_alias(h2o_req_t *req, const cp_call_t *c);
/* cp_api_billing.c */
int cp_h_balance(h2o_req_t *req, const cp_call_t *c);
int cp_h_ledger(h2o_req_t *req, const cp_call_t *c);
int cp_h_ledger_check(h2o_req_t *req, const cp_call_t *c);
int cp_h_credits(h2o_req_t *req, const cp_call_t *c);
int cp_h_usage(h2o_req_t *req, const cp_call_t *c);
int cp_h_usage_records(h2o_req_t *req, const cp_call_t *c);
int cp_h_usage_savings(h2o_req_t *req, const cp_call_t *c);
int cp_h_checkout(h2o_req_t *req, const cp_call_t *c);
int cp_h_stripe_webhook(h2o_req_t *req, const cp_call_t *c);

#endif
