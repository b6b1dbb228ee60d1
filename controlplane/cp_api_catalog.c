/*
 * Admin API: the catalog — providers, models and their edits, file imports, aliases
 * (docs/controlplane.md, "Catalog"). Handlers run on the loop thread (cp_routes.h).
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

#include "cp_catalog.h"
#include "sy_catalog.h"

/* One log line per import outcome: what, from where, and what it changed or overwrote. */
void cp_log_import(int rc, const cJSON *rep, const char *source, const char *path, const char *err)
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

int cp_h_list_providers(h2o_req_t *req, const cp_call_t *c)
{
    char err[256];
    cJSON *arr = cp_admin_list_providers(c->o->store, err, sizeof(err));
    if (arr == NULL)
        return cp_send_store_error(req, err);
    return cp_send_list(req, arr);
}

int cp_h_get_models(h2o_req_t *req, const cp_call_t *c)
{
    const char *id = c->id;
    char err[256];
    cJSON *out;
    cp_admin_rc_t rc = cp_admin_get_models(c->o->store, id, &out, err, sizeof(err));
    if (rc != CP_ADMIN_OK) {
        cp_send_admin_rc(req, rc, NULL, err);
        return 0;
    }
    if (id != NULL)
        return cp_send_owned(req, 200, out);
    return cp_send_list(req, out);
}

int cp_h_patch_model(h2o_req_t *req, const cp_call_t *c)
{
    const char *id = c->id;
    static const char *const allowed[] = {
        "upstream",       "input_per_m",  "output_per_m", "cache_read_per_m", "cache_write_per_m",
        "context_window", "capabilities", "tiers",        "quality",          NULL};
    cJSON *root = cp_patch_body(req, allowed, NULL);
    if (root == NULL)
        return 0;
    cp_admin_model_patch_t p = {0};
    char why[200];
    if (cp_get_usd(req, root, "input_per_m", 0, 0, &p.set_input, &p.input_per_m_nano) != 0 ||
        cp_get_usd(req, root, "output_per_m", 0, 0, &p.set_output, &p.output_per_m_nano) != 0 ||
        /* null: the model has no such cache price any more */
        cp_get_usd(req, root, "cache_read_per_m", 1, 0, &p.set_cache_read, &p.cache_read_per_m_nano) != 0 ||
        cp_get_usd(req, root, "cache_write_per_m", 1, 0, &p.set_cache_write, &p.cache_write_per_m_nano) != 0)
        goto done;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "upstream");
    if (v != NULL) {
        if (!cJSON_IsString(v) || !sy_valid_word(v->valuestring, 128)) {
            cp_send_error(req, SY_E_BAD_PARAM,
                          "'upstream' must be a model name of 1..128 printable characters", "upstream");
            goto done;
        }
        p.upstream = v->valuestring;
    }
    int64_t cw;
    if (cp_get_limit(req, root, "context_window", 0, 4294967295.0, &p.set_context, &cw) != 0)
        goto done;
    if (p.set_context && cw < 0) {
        cp_send_error(req, SY_E_BAD_PARAM, "'context_window' must be a whole number 0..4294967295",
                      "context_window");
        goto done;
    }
    p.context_window = (uint32_t)cw;
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "capabilities")) != NULL) {
        if (!cJSON_IsArray(v) || cp_catalog_caps_parse(v, &p.caps, why, sizeof(why)) != 0) {
            cp_send_error(req, SY_E_BAD_PARAM,
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
            cp_send_error(req, SY_E_BAD_PARAM, "'tiers' must be an array of at most 32 tier names", "tiers");
            goto done;
        }
    }
    if ((p.quality = cJSON_GetObjectItemCaseSensitive(root, "quality")) != NULL &&
        sy_catalog_quality(p.quality, "quality", why, sizeof(why)) != 0) {
        cp_send_error(req, SY_E_BAD_PARAM, why, "quality");
        goto done;
    }

    char err[256];
    cJSON *out;
    uint64_t version;
    cp_admin_rc_t rc = cp_admin_update_model(c->o->store, id, &p, &out, &version, err, sizeof(err));
    cp_send_written(req, rc, NULL, err, out, version, 200, "model updated", id);
done:
    cJSON_Delete(root);
    return 0;
}

/* POST /api/catalog/import [?force=true&dry_run=true] [{"force","dry_run","catalog"}] and
 * POST /api/catalog/reload (the same, from the file only): an explicit, logged, versioned
 * import with the conflict check of cp_catalog.h. 200 {"ok","version","import":report}; a bad
 * file 400 (nothing changes); a conflict 409 with "conflicts" beside the error. */
int cp_h_import_catalog(h2o_req_t *req, const cp_call_t *c)
{
    const char *source = c->arg;
    cp_catalog_import_opts_t o = {.source = source};
    int qf = cp_query_bool(req, "force"), qd = qf < 0 ? -1 : cp_query_bool(req, "dry_run");
    if (qf < 0 || qd < 0)
        return 0;
    o.force = qf;
    o.dry_run = qd;
    cJSON *root = NULL;
    const cJSON *body_catalog = NULL;
    if (req->entity.base != NULL && req->entity.len > 0) {
        static const char *const allowed[] = {"force", "dry_run", "catalog", NULL};
        if ((root = cp_parse_body(req)) == NULL)
            return 0;
        if (cp_reject_unknown(req, root, allowed) != 0)
            goto done;
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(root, "force"),
                    *d = cJSON_GetObjectItemCaseSensitive(root, "dry_run");
        if ((f && !cJSON_IsBool(f)) || (d && !cJSON_IsBool(d))) {
            cp_send_error(req, SY_E_BAD_PARAM, "'force' and 'dry_run' must be true or false",
                          f && !cJSON_IsBool(f) ? "force" : "dry_run");
            goto done;
        }
        o.force |= cJSON_IsTrue(f);
        o.dry_run |= cJSON_IsTrue(d);
        body_catalog = cJSON_GetObjectItemCaseSensitive(root, "catalog");
        if (body_catalog != NULL && (!cJSON_IsObject(body_catalog) || strcmp(source, "import") != 0)) {
            cp_send_error(req, SY_E_BAD_PARAM,
                          "'catalog' must be a catalog object (POST /api/catalog/import only)", "catalog");
            goto done;
        }
    }
    if (body_catalog == NULL && c->o->catalog_path == NULL) {
        cp_send_error(req, SY_E_BAD_PARAM, "no catalog file configured", NULL);
        goto done;
    }
    char err[512];
    cJSON *rep = NULL;
    int rc;
    if (body_catalog != NULL) {
        char *txt = cJSON_PrintUnformatted(body_catalog);
        if (txt == NULL) {
            cp_send_error(req, SY_E_INTERNAL, "out of memory", NULL);
            goto done;
        }
        o.source = "import-body";
        rc = cp_catalog_import(c->o->store, txt, strlen(txt), &o, &rep, err, sizeof(err));
        cJSON_free(txt);
    } else {
        rc = cp_catalog_import_file(c->o->store, c->o->catalog_path, &o, &rep, err, sizeof(err));
    }
    cp_log_import(rc, rep, o.source, body_catalog ? NULL : c->o->catalog_path, err);
    if (rc == -1) {
        cp_send_error(req, SY_E_BAD_PARAM, err, NULL);
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
        cp_send_json(req, 409, b);
        cJSON_Delete(b);
    } else {
        uint64_t version = 0;
        if (cp_store_snapshot_version(c->o->store, &version, err, sizeof(err)) != 0) {
            cp_send_store_error(req, err);
        } else {
            if (!o.dry_run)
                cp_bus_notify(version);
            cJSON *b = cJSON_CreateObject();
            cJSON_AddBoolToObject(b, "ok", 1);
            cJSON_AddNumberToObject(b, "version", (double)version);
            cJSON_AddItemToObject(b, "import", rep);
            rep = NULL;
            cp_send_owned(req, 200, b);
        }
    }
    cJSON_Delete(rep);
done:
    cJSON_Delete(root);
    return 0;
}

int cp_h_catalog_status(h2o_req_t *req, const cp_call_t *c)
{
    char err[512];
    cJSON *out;
    if (cp_catalog_status(c->o->store, c->o->catalog_path, &out, err, sizeof(err)) != 0)
        return cp_send_store_error(req, err);
    return cp_send_owned(req, 200, out);
}

int cp_h_get_aliases(h2o_req_t *req, const cp_call_t *c)
{
    const char *alias = c->id;
    char err[256];
    cJSON *out;
    cp_admin_rc_t rc = cp_admin_get_aliases(c->o->store, alias, &out, err, sizeof(err));
    if (rc != CP_ADMIN_OK) {
        cp_send_admin_rc(req, rc, NULL, err);
        return 0;
    }
    return alias ? cp_send_owned(req, 200, out) : cp_send_list(req, out);
}

/* PUT /api/aliases/{alias} {"model": "<catalog id>"}: creates (201) or repoints (200). */
int cp_h_put_alias(h2o_req_t *req, const cp_call_t *c)
{
    const char *alias = c->id;
    static const char *const allowed[] = {"model", NULL};
    cJSON *root = cp_parse_body(req);
    if (root == NULL)
        return 0;
    if (cp_reject_unknown(req, root, allowed) != 0)
        goto done;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsString(m) || !sy_valid_word(m->valuestring, 128)) {
        cp_send_error(req, SY_E_BAD_PARAM, "'model' must be a catalog model id", "model");
        goto done;
    }
    char err[256];
    const char *param = NULL;
    cJSON *out;
    uint64_t version;
    int created = 0;
    cp_admin_rc_t rc = cp_admin_put_alias(c->o->store, alias, m->valuestring, &out, &created, &version,
                                          &param, err, sizeof(err));
    cp_send_written(req, rc, param, err, out, version, created ? 201 : 200,
                    created ? "alias created" : "alias updated", alias);
done:
    cJSON_Delete(root);
    return 0;
}

int cp_h_delete_alias(h2o_req_t *req, const cp_call_t *c)
{
    const char *alias = c->id;
    char err[256];
    uint64_t version;
    cp_admin_rc_t rc = cp_admin_delete_alias(c->o->store, alias, &version, err, sizeof(err));
    if (rc != CP_ADMIN_OK) {
        cp_send_admin_rc(req, rc, NULL, err);
        return 0;
    }
    cp_bus_notify(version);
    SY_INFO("msg=\"alias deleted\" id=%s version=%llu", alias, (unsigned long long)version);
    return cp_send_ok_version(req, version);
}
