/*
 * The catalog side of cp_admin: providers (with what the probes found), models and aliases.
 * The database is the catalog (cp_catalog.h): the file is imported into it, and these writers
 * edit it in place, e.g. a price change, without a file round trip. An edit is a normal
 * versioned write: the fleet sees it with the next snapshot. Every edited field is marked in
 * catalog_edits in the same transaction, so a later import that would change it again is
 * refused unless forced (it never reverts an edit silently, and a restart applies nothing).
 */
#include "cp_admin.h"

#include <stdio.h>
#include <string.h>

#include "cp_catalog.h"
#include "sy_catalog.h"
#include "sy_money.h"
#include "sy_util.h"

static const char *const health_names[] = {"unknown", "healthy", "degraded", "down"};

static const char PROVIDER_COLS[] = "SELECT id, kind, base_url, api_key_env, ca_file, health, probe_path, "
                                    "probe_interval_ms, probe_timeout_ms, "
                                    "health_changed_ms, last_probe_ms, last_probe_latency_ms, "
                                    "last_probe_error, stream_usage FROM providers ORDER BY id";

static const char MODEL_COLS[] =
    "SELECT id, provider_id, upstream, input_per_m_nano, output_per_m_nano, context_window, "
    "caps, tiers, quality, cache_read_per_m_nano, cache_write_per_m_nano FROM models";

static const char *text(sqlite3_stmt *st, int col)
{
    const char *t = (const char *)sqlite3_column_text(st, col);
    return t ? t : "";
}

cJSON *cp_admin_list_providers(cp_store_t *s, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    if (cp_store_prepare(s, PROVIDER_COLS, &st, err, errlen) != 0)
        return NULL;
    cJSON *arr = cJSON_CreateArray();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *o = cJSON_CreateObject();
        int h = sqlite3_column_int(st, 5);
        cJSON_AddStringToObject(o, "id", text(st, 0));
        cJSON_AddStringToObject(o, "kind", text(st, 1));
        cJSON_AddStringToObject(o, "base_url", text(st, 2));
        /* the NAME of the variable only: the credential never leaves the process environment */
        cJSON_AddStringToObject(o, "api_key_env", text(st, 3));
        cJSON_AddStringToObject(o, "ca_file", text(st, 4));
        cJSON_AddStringToObject(o, "health", health_names[h >= 0 && h < 4 ? h : 0]);
        cJSON *probe = cJSON_AddObjectToObject(o, "probe");
        cJSON_AddStringToObject(probe, "path", text(st, 6));
        cJSON_AddNumberToObject(probe, "interval_ms", (double)sqlite3_column_int64(st, 7));
        cJSON_AddNumberToObject(probe, "timeout_ms", (double)sqlite3_column_int64(st, 8));
        cJSON_AddNumberToObject(o, "health_changed_ms", (double)sqlite3_column_int64(st, 9));
        cJSON *last = cJSON_AddObjectToObject(o, "last_probe");
        cJSON_AddNumberToObject(last, "at_ms", (double)sqlite3_column_int64(st, 10));
        cJSON_AddNumberToObject(last, "latency_ms", (double)sqlite3_column_int64(st, 11));
        cJSON_AddStringToObject(last, "error", text(st, 12));
        cJSON_AddBoolToObject(o, "stream_usage", sqlite3_column_int(st, 13) != 0);
        cJSON_AddItemToArray(arr, o);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        sy_errf(err, errlen, "providers: %s", sqlite3_errmsg(cp_store_db(s)));
        cJSON_Delete(arr);
        return NULL;
    }
    return arr;
}

static cJSON *model_row(sqlite3_stmt *st)
{
    char usd[32];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", text(st, 0));
    cJSON_AddStringToObject(o, "provider", text(st, 1));
    cJSON_AddStringToObject(o, "upstream", text(st, 2));
    sy_money_format_usd(sqlite3_column_int64(st, 3), usd);
    cJSON_AddStringToObject(o, "input_per_m", usd);
    sy_money_format_usd(sqlite3_column_int64(st, 4), usd);
    cJSON_AddStringToObject(o, "output_per_m", usd);
    /* cache prices: only when the model has them (else those tokens are billed at input_per_m) */
    for (int c = 9; c <= 10; c++) {
        if (sqlite3_column_type(st, c) != SQLITE_NULL) {
            sy_money_format_usd(sqlite3_column_int64(st, c), usd);
            cJSON_AddStringToObject(o, c == 9 ? "cache_read_per_m" : "cache_write_per_m", usd);
        }
    }
    cJSON_AddNumberToObject(o, "context_window", (double)sqlite3_column_int64(st, 5));
    cJSON_AddItemToObject(o, "capabilities", cp_catalog_caps_json((uint32_t)sqlite3_column_int64(st, 6)));
    cJSON *tiers = cJSON_Parse(text(st, 7));
    cJSON_AddItemToObject(o, "tiers", tiers ? tiers : cJSON_CreateArray());
    cJSON *q = sqlite3_column_type(st, 8) == SQLITE_NULL ? NULL : cJSON_Parse(text(st, 8));
    cJSON_AddItemToObject(o, "quality", q ? q : cJSON_CreateNull());
    return o;
}

/* Rows of `sql` (with an optional id bound as ?1) as an array. */
static cJSON *models(cp_store_t *s, const char *id, char *err, size_t errlen)
{
    char sql[256];
    snprintf(sql, sizeof(sql), "%s%s ORDER BY id", MODEL_COLS, id ? " WHERE id = ?1" : "");
    sqlite3_stmt *st;
    if (cp_store_prepare(s, sql, &st, err, errlen) != 0)
        return NULL;
    if (id)
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    cJSON *arr = cJSON_CreateArray();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        cJSON_AddItemToArray(arr, model_row(st));
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        sy_errf(err, errlen, "models: %s", sqlite3_errmsg(cp_store_db(s)));
        cJSON_Delete(arr);
        return NULL;
    }
    return arr;
}

cp_admin_rc_t cp_admin_get_models(cp_store_t *s, const char *id, cJSON **out, char *err, size_t errlen)
{
    *out = NULL;
    if (cp_store_begin_read(s, err, errlen) != 0)
        return CP_ADMIN_ERROR;
    cJSON *arr = models(s, id, err, errlen);
    cp_store_end_read(s);
    if (arr == NULL)
        return CP_ADMIN_ERROR;
    if (id == NULL) {
        *out = arr;
        return CP_ADMIN_OK;
    }
    *out = cJSON_DetachItemFromArray(arr, 0);
    cJSON_Delete(arr);
    if (*out == NULL) {
        sy_errf(err, errlen, "model '%.128s' not found", id);
        return CP_ADMIN_NOT_FOUND;
    }
    return CP_ADMIN_OK;
}

/* Marks (kind, id, field) as edited through the API, inside the caller's write transaction. */
static int mark_edit(cp_store_t *s, const char *kind, const char *id, const char *field, char *err,
                     size_t errlen)
{
    sqlite3_stmt *st;
    if (cp_store_prepare(s,
                         "INSERT INTO catalog_edits (kind, id, field, edited_ms) VALUES (?1, ?2, ?3, ?4) "
                         "ON CONFLICT (kind, id, field) DO UPDATE SET edited_ms = excluded.edited_ms",
                         &st, err, errlen) != 0)
        return -1;
    sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, field, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, cp_catalog_now_ms());
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : sy_errf(err, errlen, "mark edit: %s", sqlite3_errmsg(cp_store_db(s)));
}

cp_admin_rc_t cp_admin_update_model(cp_store_t *s, const char *id, const cp_admin_model_patch_t *p, cJSON **out,
                                    uint64_t *version, char *err, size_t errlen)
{
    *out = NULL;
    char *tiers = p->tiers ? cJSON_PrintUnformatted(p->tiers) : NULL;
    int clear_quality = p->quality && cJSON_IsNull(p->quality);
    char *quality = p->quality && !clear_quality ? cJSON_PrintUnformatted(p->quality) : NULL;
    cp_admin_rc_t rc = CP_ADMIN_ERROR;
    sqlite3_stmt *st = NULL;
    if (cp_store_begin_write(s, err, errlen) != 0)
        goto out;
    if (cp_store_prepare(
            s,
            "UPDATE models SET upstream = COALESCE(?2, upstream), "
            "input_per_m_nano = CASE WHEN ?3 THEN ?4 ELSE input_per_m_nano END, "
            "output_per_m_nano = CASE WHEN ?5 THEN ?6 ELSE output_per_m_nano END, "
            "context_window = CASE WHEN ?7 THEN ?8 ELSE context_window END, "
            "caps = CASE WHEN ?9 THEN ?10 ELSE caps END, tiers = COALESCE(?11, tiers), "
            "quality = CASE WHEN ?12 THEN NULL ELSE COALESCE(?13, quality) END, "
            "cache_read_per_m_nano = CASE WHEN ?14 THEN ?15 ELSE cache_read_per_m_nano END, "
            "cache_write_per_m_nano = CASE WHEN ?16 THEN ?17 ELSE cache_write_per_m_nano END WHERE id = ?1",
            &st, err, errlen) != 0)
        goto out;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    if (p->upstream)
        sqlite3_bind_text(st, 2, p->upstream, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 3, p->set_input);
    sqlite3_bind_int64(st, 4, p->input_per_m_nano);
    sqlite3_bind_int(st, 5, p->set_output);
    sqlite3_bind_int64(st, 6, p->output_per_m_nano);
    sqlite3_bind_int(st, 7, p->set_context);
    sqlite3_bind_int64(st, 8, p->context_window);
    sqlite3_bind_int(st, 9, p->set_caps);
    sqlite3_bind_int64(st, 10, p->caps);
    if (tiers)
        sqlite3_bind_text(st, 11, tiers, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 12, clear_quality);
    if (quality)
        sqlite3_bind_text(st, 13, quality, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 14, p->set_cache_read);
    if (p->cache_read_per_m_nano >= 0) /* else NULL: no cache-read price */
        sqlite3_bind_int64(st, 15, p->cache_read_per_m_nano);
    sqlite3_bind_int(st, 16, p->set_cache_write);
    if (p->cache_write_per_m_nano >= 0)
        sqlite3_bind_int64(st, 17, p->cache_write_per_m_nano);
    if (sqlite3_step(st) != SQLITE_DONE) {
        sy_errf(err, errlen, "update model: %s", sqlite3_errmsg(cp_store_db(s)));
        goto out;
    }
    if (sqlite3_changes(cp_store_db(s)) == 0) {
        sy_errf(err, errlen, "model '%.128s' not found", id);
        rc = CP_ADMIN_NOT_FOUND;
        goto out;
    }
    const struct {
        int set;
        const char *field;
    } marks[] = {{p->upstream != NULL, "upstream"},
                 {p->set_input, "input_per_m"},
                 {p->set_output, "output_per_m"},
                 {p->set_context, "context_window"},
                 {p->set_caps, "capabilities"},
                 {p->tiers != NULL, "tiers"},
                 {p->quality != NULL, "quality"},
                 {p->set_cache_read, "cache_read_per_m"},
                 {p->set_cache_write, "cache_write_per_m"}};
    for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
        if (marks[i].set && mark_edit(s, "model", id, marks[i].field, err, errlen) != 0)
            goto out;
    cJSON *arr = models(s, id, err, errlen);
    cJSON *o = arr ? cJSON_DetachItemFromArray(arr, 0) : NULL;
    cJSON_Delete(arr);
    if (o == NULL)
        goto out;
    if (cp_store_commit_write(s, version, err, errlen) != 0) {
        cJSON_Delete(o);
        goto out;
    }
    *out = o;
    rc = CP_ADMIN_OK;
out:
    sqlite3_finalize(st);
    if (rc != CP_ADMIN_OK)
        cp_store_rollback(s);
    cJSON_free(tiers);
    cJSON_free(quality);
    return rc;
}

/* ---------------------------------------------------------------------------- aliases */

static cJSON *aliases(cp_store_t *s, const char *alias, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    if (cp_store_prepare(s,
                         alias ? "SELECT alias, model_id FROM model_aliases WHERE alias = ?1"
                               : "SELECT alias, model_id FROM model_aliases ORDER BY alias",
                         &st, err, errlen) != 0)
        return NULL;
    if (alias)
        sqlite3_bind_text(st, 1, alias, -1, SQLITE_TRANSIENT);
    cJSON *arr = cJSON_CreateArray();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "alias", text(st, 0));
        cJSON_AddStringToObject(o, "model", text(st, 1));
        cJSON_AddItemToArray(arr, o);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        sy_errf(err, errlen, "aliases: %s", sqlite3_errmsg(cp_store_db(s)));
        cJSON_Delete(arr);
        return NULL;
    }
    return arr;
}

cp_admin_rc_t cp_admin_get_aliases(cp_store_t *s, const char *alias, cJSON **out, char *err, size_t errlen)
{
    *out = NULL;
    if (cp_store_begin_read(s, err, errlen) != 0)
        return CP_ADMIN_ERROR;
    cJSON *arr = aliases(s, alias, err, errlen);
    cp_store_end_read(s);
    if (arr == NULL)
        return CP_ADMIN_ERROR;
    if (alias == NULL) {
        *out = arr;
        return CP_ADMIN_OK;
    }
    *out = cJSON_DetachItemFromArray(arr, 0);
    cJSON_Delete(arr);
    if (*out == NULL) {
        sy_errf(err, errlen, "alias '%.128s' not found", alias);
        return CP_ADMIN_NOT_FOUND;
    }
    return CP_ADMIN_OK;
}

cp_admin_rc_t cp_admin_put_alias(cp_store_t *s, const char *alias, const char *model, cJSON **out,
                                 int *created, uint64_t *version, const char **param, char *err,
                                 size_t errlen)
{
    *out = NULL;
    *param = NULL;
    if (!sy_catalog_alias_name_ok(alias)) {
        *param = "alias";
        sy_errf(err, errlen,
                "invalid alias: 1..128 printable characters without space, quote, backslash or '/', and not "
                "auto, "
                "strategy:* or industry:*");
        return CP_ADMIN_INVALID;
    }
    if (cp_store_begin_write(s, err, errlen) != 0)
        return CP_ADMIN_ERROR;
    cp_admin_rc_t rc = CP_ADMIN_ERROR;
    int clash = cp_store_exists(s, "SELECT 1 FROM models WHERE id = ?1", alias, err, errlen);
    int target =
        clash < 0 ? -1 : cp_store_exists(s, "SELECT 1 FROM models WHERE id = ?1", model, err, errlen);
    int had = target < 0
                  ? -1
                  : cp_store_exists(s, "SELECT 1 FROM model_aliases WHERE alias = ?1", alias, err, errlen);
    if (had < 0)
        goto fail;
    if (clash) {
        *param = "alias";
        sy_errf(err, errlen, "'%.128s' is a model id: an alias may not shadow a model", alias);
        rc = CP_ADMIN_INVALID;
        goto fail;
    }
    if (!target) {
        *param = "model";
        sy_errf(err, errlen, "model '%.128s' is not in the catalog", model);
        rc = CP_ADMIN_INVALID;
        goto fail;
    }
    sqlite3_stmt *st;
    if (cp_store_prepare(s,
                         "INSERT INTO model_aliases (alias, model_id) VALUES (?1, ?2) "
                         "ON CONFLICT (alias) DO UPDATE SET model_id = excluded.model_id",
                         &st, err, errlen) != 0)
        goto fail;
    sqlite3_bind_text(st, 1, alias, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, model, -1, SQLITE_TRANSIENT);
    int step = sqlite3_step(st);
    sqlite3_finalize(st);
    if (step != SQLITE_DONE) {
        sy_errf(err, errlen, "put alias: %s", sqlite3_errmsg(cp_store_db(s)));
        goto fail;
    }
    if (mark_edit(s, "alias", alias, "model", err, errlen) != 0 ||
        cp_store_commit_write(s, version, err, errlen) != 0)
        goto fail;
    *created = !had;
    *out = cJSON_CreateObject();
    cJSON_AddStringToObject(*out, "alias", alias);
    cJSON_AddStringToObject(*out, "model", model);
    return CP_ADMIN_OK;
fail:
    cp_store_rollback(s);
    return rc;
}

cp_admin_rc_t cp_admin_delete_alias(cp_store_t *s, const char *alias, uint64_t *version, char *err,
                                    size_t errlen)
{
    if (cp_store_begin_write(s, err, errlen) != 0)
        return CP_ADMIN_ERROR;
    sqlite3_stmt *st;
    if (cp_store_prepare(s, "DELETE FROM model_aliases WHERE alias = ?1", &st, err, errlen) != 0)
        goto fail;
    sqlite3_bind_text(st, 1, alias, -1, SQLITE_TRANSIENT);
    int step = sqlite3_step(st);
    sqlite3_finalize(st);
    if (step != SQLITE_DONE) {
        sy_errf(err, errlen, "delete alias: %s", sqlite3_errmsg(cp_store_db(s)));
        goto fail;
    }
    if (sqlite3_changes(cp_store_db(s)) == 0) {
        cp_store_rollback(s);
        sy_errf(err, errlen, "alias '%.128s' not found", alias);
        return CP_ADMIN_NOT_FOUND;
    }
    /* the mark stays with the deleted row: a file that still names the alias conflicts */
    if (mark_edit(s, "alias", alias, "model", err, errlen) != 0 ||
        cp_store_commit_write(s, version, err, errlen) != 0)
        goto fail;
    return CP_ADMIN_OK;
fail:
    cp_store_rollback(s);
    return CP_ADMIN_ERROR;
}
