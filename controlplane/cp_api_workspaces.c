/*
 * Admin API: workspaces — list, create, read, edit limits, disable (docs/controlplane.md).
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

int cp_h_list_workspaces(h2o_req_t *req, const cp_call_t *c)
{
    char err[256];
    cJSON *arr = cp_admin_list_workspaces(c->o->store, err, sizeof(err));
    if (arr == NULL)
        return cp_send_store_error(req, err);
    return cp_send_list(req, arr);
}

int cp_h_create_workspace(h2o_req_t *req, const cp_call_t *c)
{
    static const char *const allowed[] = {"id", "name", NULL};
    cJSON *root = cp_parse_body(req);
    if (root == NULL)
        return 0;
    const char *name;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "id");
    if (cp_reject_unknown(req, root, allowed) != 0 || cp_get_name(req, root, "name", &name) != 0)
        goto done;
    if (!cJSON_IsString(id)) {
        cp_send_error(req, SY_E_BAD_PARAM, "'id' is required and must be a string", "id");
        goto done;
    }
    char err[256];
    const char *param = NULL;
    cJSON *ws;
    uint64_t version;
    cp_admin_rc_t rc = cp_admin_create_workspace(c->o->store, id->valuestring, name, &ws, &version, &param,
                                                 err, sizeof(err));
    cp_send_written(req, rc, param, err, ws, version, 201, "workspace created", id->valuestring);
done:
    cJSON_Delete(root);
    return 0;
}

int cp_h_disable_workspace(h2o_req_t *req, const cp_call_t *c)
{
    const char *id = c->id;
    char err[256];
    uint64_t version;
    cp_admin_rc_t rc = cp_admin_disable_workspace(c->o->store, id, &version, err, sizeof(err));
    if (rc != CP_ADMIN_OK) {
        cp_send_admin_rc(req, rc, NULL, err);
        return 0;
    }
    cp_bus_notify(version);
    SY_INFO("msg=\"workspace disabled\" id=%s version=%llu", id, (unsigned long long)version);
    return cp_send_ok_version(req, version);
}

int cp_h_get_workspace(h2o_req_t *req, const cp_call_t *c)
{
    const char *id = c->id;
    char err[256];
    cJSON *ws;
    cp_admin_rc_t rc = cp_admin_get_workspace(c->o->store, id, &ws, err, sizeof(err));
    if (rc != CP_ADMIN_OK) {
        cp_send_admin_rc(req, rc, NULL, err);
        return 0;
    }
    return cp_send_owned(req, 200, ws);
}

/* The workspace's name, active flag and fleet-wide rate limits. Unlike a key's, a workspace
 * limit of 0 is accepted and means "no limit" (stored NULL), as in the catalog file. */
int cp_h_patch_workspace(h2o_req_t *req, const cp_call_t *c)
{
    const char *id = c->id;
    static const char *const allowed[] = {"name", "active", "rpm", "tpm", NULL};
    cp_admin_ws_patch_t p = {0};
    cJSON *root = cp_patch_body(req, allowed, &p.name);
    if (root == NULL)
        return 0;
    if (cp_get_bool(req, root, "active", &p.set_active, &p.active) != 0 ||
        cp_get_rate_limits(req, root, 0, &p.set_rpm, &p.rpm, &p.set_tpm, &p.tpm) != 0)
        goto done;

    char err[256];
    cJSON *out;
    uint64_t version;
    cp_admin_rc_t rc = cp_admin_update_workspace(c->o->store, id, &p, &out, &version, err, sizeof(err));
    cp_send_written(req, rc, NULL, err, out, version, 200, "workspace updated", id);
done:
    cJSON_Delete(root);
    return 0;
}
