#include "cp_admin.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "sy_money.h"
#include "sy_util.h"

int cp_admin_valid_id(const char *s)
{
    return sy_valid_word(s, 128);
}

static cp_admin_rc_t db_fail(cp_store_t *s, sqlite3_stmt *st, char *err, size_t errlen, const char *what)
{
    sy_errf(err, errlen, "%s: %s", what, sqlite3_errmsg(cp_store_db(s)));
    if (st)
        sqlite3_finalize(st);
    cp_store_rollback(s);
    return CP_ADMIN_ERROR;
}

static const char WS_COLS[] = "SELECT id, name, active, created_at, rpm, tpm FROM workspaces";
/* (unqualified `id` and `workspace_id` in the WHERE clauses appended below exist only in
 * api_keys, so they stay unambiguous under the join) */
static const char KEY_COLS[] =
    "SELECT k.id, k.workspace_id, k.name, k.prefix, k.allowed_models, k.expires_at, k.revoked, k.created_at, "
    "k.budget_nano, k.rpm, k.tpm, p.rotated_ms, p.prefix, p.valid_until_ms, "
    "(SELECT NULLIF(ks.last_used_ms, 0) FROM key_spend ks WHERE ks.key_id = k.id), "
    "(SELECT ks.spent_nano FROM key_spend ks WHERE ks.key_id = k.id) FROM api_keys k "
    "LEFT JOIN api_key_prev p ON p.key_id = k.id";

/* "rpm" and "tpm" from columns `col` and `col` + 1; NULL (no limit) is JSON null. */
static void add_rate_limits(cJSON *o, sqlite3_stmt *st, int col)
{
    for (int c = col; c <= col + 1; c++) {
        const char *name = c == col ? "rpm" : "tpm";
        if (sqlite3_column_type(st, c) == SQLITE_NULL)
            cJSON_AddNullToObject(o, name);
        else
            cJSON_AddNumberToObject(o, name, (double)sqlite3_column_int64(st, c));
    }
}

static cJSON *ws_row(sqlite3_stmt *st)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", (const char *)sqlite3_column_text(st, 0));
    cJSON_AddStringToObject(o, "name", (const char *)sqlite3_column_text(st, 1));
    cJSON_AddBoolToObject(o, "active", sqlite3_column_int(st, 2));
    cJSON_AddNumberToObject(o, "created_at", (double)sqlite3_column_int64(st, 3));
    add_rate_limits(o, st, 4);
    return o;
}

static cJSON *key_row(sqlite3_stmt *st)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", (const char *)sqlite3_column_text(st, 0));
    cJSON_AddStringToObject(o, "workspace_id", (const char *)sqlite3_column_text(st, 1));
    cJSON_AddStringToObject(o, "name", (const char *)sqlite3_column_text(st, 2));
    if (sqlite3_column_type(st, 3) == SQLITE_NULL)
        cJSON_AddNullToObject(o, "prefix");
    else
        cJSON_AddStringToObject(o, "prefix", (const char *)sqlite3_column_text(st, 3));
    cJSON *models = cJSON_Parse((const char *)sqlite3_column_text(st, 4));
    if (models == NULL)
        models = cJSON_CreateArray();
    cJSON_AddItemToObject(o, "allowed_models", models);
    cJSON_AddNumberToObject(o, "expires_at", (double)sqlite3_column_int64(st, 5));
    cJSON_AddBoolToObject(o, "revoked", sqlite3_column_int(st, 6));
    cJSON_AddNumberToObject(o, "created_at", (double)sqlite3_column_int64(st, 7));
    /* money leaves as an exact decimal string; NULL limits are "none" */
    if (sqlite3_column_type(st, 8) == SQLITE_NULL) {
        cJSON_AddNullToObject(o, "budget_usd");
    } else {
        char usd[32];
        sy_money_format_usd(sqlite3_column_int64(st, 8), usd);
        cJSON_AddStringToObject(o, "budget_usd", usd);
    }
    add_rate_limits(o, st, 9);
    /* rotation: when, and the previous secret's prefix and end of grace (null: none given) */
    if (sqlite3_column_type(st, 11) == SQLITE_NULL)
        cJSON_AddNullToObject(o, "rotated_at");
    else
        cJSON_AddNumberToObject(o, "rotated_at", (double)(sqlite3_column_int64(st, 11) / 1000));
    int grace = sqlite3_column_type(st, 11) != SQLITE_NULL &&
                sqlite3_column_int64(st, 13) > sqlite3_column_int64(st, 11);
    if (grace) {
        cJSON_AddStringToObject(o, "previous_prefix", (const char *)sqlite3_column_text(st, 12));
        cJSON_AddNumberToObject(o, "previous_valid_until_ms", (double)sqlite3_column_int64(st, 13));
    } else {
        cJSON_AddNullToObject(o, "previous_prefix");
        cJSON_AddNullToObject(o, "previous_valid_until_ms");
    }
    /* what the key has spent (all time, as debited) and, under a budget, what is left */
    int64_t spent = sqlite3_column_type(st, 15) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, 15);
    char usd[32];
    sy_money_format_usd(spent, usd);
    cJSON_AddStringToObject(o, "spent_usd", usd);
    if (sqlite3_column_type(st, 8) == SQLITE_NULL) {
        cJSON_AddNullToObject(o, "budget_left_usd");
    } else {
        int64_t left = sqlite3_column_int64(st, 8) - spent;
        sy_money_format_usd(left, usd);
        cJSON_AddStringToObject(o, "budget_left_usd", usd);
    }
    /* the key's last use, kept with its spend by usage ingestion (key_spend.last_used_ms) */
    if (sqlite3_column_type(st, 14) == SQLITE_NULL)
        cJSON_AddNullToObject(o, "last_used_ms");
    else
        cJSON_AddNumberToObject(o, "last_used_ms", (double)sqlite3_column_int64(st, 14));
    return o;
}

/* Runs `sql` (bound with at most one text parameter) and collects rows through `row`. */
static cJSON *collect(cp_store_t *s, const char *sql, const char *arg, cJSON *(*row)(sqlite3_stmt *),
                      char *err, size_t errlen)
{
    sqlite3_stmt *st;
    if (cp_store_prepare(s, sql, &st, err, errlen) != 0)
        return NULL;
    if (arg)
        sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
    cJSON *arr = cJSON_CreateArray();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        cJSON_AddItemToArray(arr, row(st));
    if (rc != SQLITE_DONE) {
        sy_errf(err, errlen, "list: %s", sqlite3_errmsg(cp_store_db(s)));
        cJSON_Delete(arr);
        arr = NULL;
    }
    sqlite3_finalize(st);
    return arr;
}

/* The one row `sql` selects by id, inside the caller's transaction. */
static cJSON *one(cp_store_t *s, const char *sql, const char *id, cJSON *(*row)(sqlite3_stmt *), char *err,
                  size_t errlen)
{
    cJSON *arr = collect(s, sql, id, row, err, errlen);
    if (arr == NULL)
        return NULL;
    cJSON *o = cJSON_DetachItemFromArray(arr, 0);
    cJSON_Delete(arr);
    if (o == NULL)
        sy_errf(err, errlen, "row '%s' vanished", id);
    return o;
}

/* The end of a write that answers with the row it wrote: reads the row `id` of `cols` (when
 * out != NULL) inside the caller's transaction, then commits (or rolls back on failure). */
static cp_admin_rc_t commit_with_row(cp_store_t *s, const char *cols, const char *id,
                                     cJSON *(*row)(sqlite3_stmt *), cJSON **out, uint64_t *version, char *err,
                                     size_t errlen)
{
    cJSON *o = NULL;
    if (out) {
        char sql[512];
        snprintf(sql, sizeof(sql), "%s WHERE id = ?1", cols);
        if ((o = one(s, sql, id, row, err, errlen)) == NULL) {
            cp_store_rollback(s);
            return CP_ADMIN_ERROR;
        }
    }
    if (cp_store_commit_write(s, version, err, errlen) != 0) {
        cJSON_Delete(o);
        return CP_ADMIN_ERROR;
    }
    if (out)
        *out = o;
    return CP_ADMIN_OK;
}

/* The row `id` of `cols` in a read transaction of its own; none is CP_ADMIN_NOT_FOUND. */
static cp_admin_rc_t get_by_id(cp_store_t *s, const char *cols, const char *what, const char *id,
                               cJSON *(*row)(sqlite3_stmt *), cJSON **out, char *err, size_t errlen)
{
    char sql[512];
    *out = NULL;
    snprintf(sql, sizeof(sql), "%s WHERE id = ?1", cols);
    if (cp_store_begin_read(s, err, errlen) != 0)
        return CP_ADMIN_ERROR;
    cJSON *arr = collect(s, sql, id, row, err, errlen);
    cp_store_end_read(s);
    if (arr == NULL)
        return CP_ADMIN_ERROR;
    *out = cJSON_DetachItemFromArray(arr, 0);
    cJSON_Delete(arr);
    if (*out == NULL) {
        sy_errf(err, errlen, "%s '%.128s' not found", what, id);
        return CP_ADMIN_NOT_FOUND;
    }
    return CP_ADMIN_OK;
}

cp_admin_rc_t cp_admin_create_workspace(cp_store_t *s, const char *id, const char *name, cJSON **out,
                                        uint64_t *version, const char **param, char *err, size_t errlen)
{
    if (out)
        *out = NULL;
    if (!cp_admin_valid_id(id)) {
        *param = "id";
        sy_errf(err, errlen,
                "'id' must be 1..128 printable ASCII characters without spaces, quotes, '\\' or '/'");
        return CP_ADMIN_INVALID;
    }
    if (cp_store_begin_write(s, err, errlen) != 0)
        return CP_ADMIN_ERROR;
    int found = cp_store_exists(s, "SELECT 1 FROM workspaces WHERE id = ?1", id, err, errlen);
    if (found != 0) {
        cp_store_rollback(s);
        if (found < 0)
            return CP_ADMIN_ERROR;
        *param = "id";
        sy_errf(err, errlen, "workspace '%s' already exists", id);
        return CP_ADMIN_INVALID;
    }
    sqlite3_stmt *st;
    if (cp_store_prepare(s, "INSERT INTO workspaces (id, name, active, created_at) VALUES (?1, ?2, 1, ?3)",
                         &st, err, errlen) != 0) {
        cp_store_rollback(s);
        return CP_ADMIN_ERROR;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, name ? name : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, (int64_t)time(NULL));
    if (sqlite3_step(st) != SQLITE_DONE)
        return db_fail(s, st, err, errlen, "insert workspace");
    sqlite3_finalize(st);
    return commit_with_row(s, WS_COLS, id, ws_row, out, version, err, errlen);
}

/* One UPDATE by id; no matching row is CP_ADMIN_NOT_FOUND and changes nothing. */
static cp_admin_rc_t update_by_id(cp_store_t *s, const char *sql, const char *what, const char *id,
                                  uint64_t *version, char *err, size_t errlen)
{
    if (cp_store_begin_write(s, err, errlen) != 0)
        return CP_ADMIN_ERROR;
    sqlite3_stmt *st;
    if (cp_store_prepare(s, sql, &st, err, errlen) != 0) {
        cp_store_rollback(s);
        return CP_ADMIN_ERROR;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_DONE)
        return db_fail(s, st, err, errlen, what);
    sqlite3_finalize(st);
    if (sqlite3_changes(cp_store_db(s)) == 0) {
        cp_store_rollback(s);
        sy_errf(err, errlen, "%s '%s' not found", what, id);
        return CP_ADMIN_NOT_FOUND;
    }
    return cp_store_commit_write(s, version, err, errlen) == 0 ? CP_ADMIN_OK : CP_ADMIN_ERROR;
}

cp_admin_rc_t cp_admin_disable_workspace(cp_store_t *s, const char *id, uint64_t *version, char *err,
                                         size_t errlen)
{
    return update_by_id(s, "UPDATE workspaces SET active = 0 WHERE id = ?1", "workspace", id, version, err,
                        errlen);
}

cp_admin_rc_t cp_admin_revoke_key(cp_store_t *s, const char *id, uint64_t *version, char *err, size_t errlen)
{
    return update_by_id(s, "UPDATE api_keys SET revoked = 1 WHERE id = ?1", "key", id, version, err, errlen);
}

cJSON *cp_admin_list_workspaces(cp_store_t *s, char *err, size_t errlen)
{
    char sql[128];
    snprintf(sql, sizeof(sql), "%s ORDER BY id", WS_COLS);
    if (cp_store_begin_read(s, err, errlen) != 0)
        return NULL;
    cJSON *arr = collect(s, sql, NULL, ws_row, err, errlen);
    cp_store_end_read(s);
    return arr;
}

cp_admin_rc_t cp_admin_get_workspace(cp_store_t *s, const char *id, cJSON **out, char *err, size_t errlen)
{
    return get_by_id(s, WS_COLS, "workspace", id, ws_row, out, err, errlen);
}

cp_admin_rc_t cp_admin_update_workspace(cp_store_t *s, const char *id, const cp_admin_ws_patch_t *p,
                                        cJSON **out, uint64_t *version, char *err, size_t errlen)
{
    *out = NULL;
    if (cp_store_begin_write(s, err, errlen) != 0)
        return CP_ADMIN_ERROR;
    sqlite3_stmt *st;
    /* one statement; each field is rewritten only when its flag says the request named it. A
     * limit of 0 is stored as NULL (no limit), as the catalog loader does. */
    if (cp_store_prepare(s,
                         "UPDATE workspaces SET name = CASE WHEN ?2 THEN ?3 ELSE name END, "
                         "active = CASE WHEN ?4 THEN ?5 ELSE active END, "
                         "rpm = CASE WHEN ?6 THEN NULLIF(?7, 0) ELSE rpm END, "
                         "tpm = CASE WHEN ?8 THEN NULLIF(?9, 0) ELSE tpm END WHERE id = ?1",
                         &st, err, errlen) != 0) {
        cp_store_rollback(s);
        return CP_ADMIN_ERROR;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, p->name != NULL);
    sqlite3_bind_text(st, 3, p->name ? p->name : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 4, p->set_active);
    sqlite3_bind_int(st, 5, p->active ? 1 : 0);
    sqlite3_bind_int(st, 6, p->set_rpm);
    if (p->rpm >= 0) /* negative = clear: stays NULL */
        sqlite3_bind_int64(st, 7, p->rpm);
    sqlite3_bind_int(st, 8, p->set_tpm);
    if (p->tpm >= 0)
        sqlite3_bind_int64(st, 9, p->tpm);
    if (sqlite3_step(st) != SQLITE_DONE)
        return db_fail(s, st, err, errlen, "update workspace");
    sqlite3_finalize(st);
    if (sqlite3_changes(cp_store_db(s)) == 0) {
        cp_store_rollback(s);
        sy_errf(err, errlen, "workspace '%.128s' not found", id);
        return CP_ADMIN_NOT_FOUND;
    }
    return commit_with_row(s, WS_COLS, id, ws_row, out, version, err, errlen);
}

cp_admin_rc_t cp_admin_list_keys(cp_store_t *s, const char *workspace_id, cJSON **out, char *err,
                                 size_t errlen)
{
    *out = NULL;
    if (cp_store_begin_read(s, err, errlen) != 0)
        return CP_ADMIN_ERROR;
    int found = cp_store_exists(s, "SELECT 1 FROM workspaces WHERE id = ?1", workspace_id, err, errlen);
    if (found <= 0) {
        cp_store_end_read(s);
        if (found == 0)
            sy_errf(err, errlen, "workspace '%s' not found", workspace_id);
        return found == 0 ? CP_ADMIN_NOT_FOUND : CP_ADMIN_ERROR;
    }
    char sql[512];
    snprintf(sql, sizeof(sql), "%s WHERE workspace_id = ?1 ORDER BY id", KEY_COLS);
    *out = collect(s, sql, workspace_id, key_row, err, errlen);
    cp_store_end_read(s);
    return *out ? CP_ADMIN_OK : CP_ADMIN_ERROR;
}

/* Every entry of a scope is "*" or a catalog model (by id or provider/id), checked inside the
 * caller's write transaction. */
static cp_admin_rc_t check_models(cp_store_t *s, const cJSON *models, const char **param, char *err,
                                  size_t errlen)
{
    const cJSON *m;
    cJSON_ArrayForEach(m, models)
    {
        if (!cJSON_IsString(m)) {
            *param = "allowed_models";
            sy_errf(err, errlen, "'allowed_models' must be an array of strings");
            return CP_ADMIN_INVALID;
        }
        if (strcmp(m->valuestring, "*") == 0)
            continue;
        int found = cp_store_exists(s, "SELECT 1 FROM models WHERE id = ?1 OR provider_id || '/' || id = ?1",
                                    m->valuestring, err, errlen);
        if (found <= 0) {
            if (found < 0)
                return CP_ADMIN_ERROR;
            *param = "allowed_models";
            sy_errf(err, errlen, "allowed model '%.128s' is not in the catalog", m->valuestring);
            return CP_ADMIN_INVALID;
        }
    }
    return CP_ADMIN_OK;
}

cp_admin_rc_t cp_admin_create_key(cp_store_t *s, const cp_admin_new_key_t *k, cJSON **out, uint64_t *version,
                                  const char **param, char *err, size_t errlen)
{
    if (out)
        *out = NULL;
    if (cp_store_begin_write(s, err, errlen) != 0)
        return CP_ADMIN_ERROR;
    int found = cp_store_exists(s, "SELECT 1 FROM workspaces WHERE id = ?1", k->workspace_id, err, errlen);
    if (found <= 0) {
        cp_store_rollback(s);
        if (found == 0)
            sy_errf(err, errlen, "workspace '%s' not found", k->workspace_id);
        return found == 0 ? CP_ADMIN_NOT_FOUND : CP_ADMIN_ERROR;
    }
    cp_admin_rc_t mrc = check_models(s, k->allowed_models, param, err, errlen);
    if (mrc != CP_ADMIN_OK) {
        cp_store_rollback(s);
        return mrc;
    }
    found = cp_store_exists(s, "SELECT 1 FROM api_keys WHERE id = ?1", k->id, err, errlen);
    if (found != 0) { /* ids are random: a clash is practically impossible, but never overwrite */
        cp_store_rollback(s);
        if (found > 0)
            sy_errf(err, errlen, "key id clash; retry");
        return CP_ADMIN_ERROR;
    }
    char *models = cJSON_PrintUnformatted(k->allowed_models);
    sqlite3_stmt *st;
    if (models == NULL ||
        cp_store_prepare(s,
                         "INSERT INTO api_keys (id, workspace_id, sha256, prefix, name, allowed_models, "
                         "expires_at, revoked, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?8)",
                         &st, err, errlen) != 0) {
        if (models == NULL)
            sy_errf(err, errlen, "out of memory");
        cJSON_free(models);
        cp_store_rollback(s);
        return CP_ADMIN_ERROR;
    }
    sqlite3_bind_text(st, 1, k->id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, k->workspace_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_blob(st, 3, k->sha256, SY_SHA256_LEN, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, k->prefix, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, k->name ? k->name : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 6, models, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 7, k->expires_at);
    sqlite3_bind_int64(st, 8, (int64_t)time(NULL));
    cJSON_free(models);
    if (sqlite3_step(st) != SQLITE_DONE)
        return db_fail(s, st, err, errlen, "insert key");
    sqlite3_finalize(st);
    return commit_with_row(s, KEY_COLS, k->id, key_row, out, version, err, errlen);
}

cp_admin_rc_t cp_admin_get_key(cp_store_t *s, const char *id, cJSON **out, char *err, size_t errlen)
{
    return get_by_id(s, KEY_COLS, "key", id, key_row, out, err, errlen);
}

cp_admin_rc_t cp_admin_update_key(cp_store_t *s, const char *id, const cp_admin_key_patch_t *p, cJSON **out,
                                  uint64_t *version, const char **param, char *err, size_t errlen)
{
    *out = NULL;
    if (cp_store_begin_write(s, err, errlen) != 0)
        return CP_ADMIN_ERROR;
    sqlite3_stmt *st;
    if (cp_store_prepare(s, "SELECT revoked FROM api_keys WHERE id = ?1", &st, err, errlen) != 0) {
        cp_store_rollback(s);
        return CP_ADMIN_ERROR;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    int revoked = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW) {
        cp_store_rollback(s);
        if (rc != SQLITE_DONE)
            return CP_ADMIN_ERROR;
        sy_errf(err, errlen, "key '%.128s' not found", id);
        return CP_ADMIN_NOT_FOUND;
    }
    if (revoked) { /* revocation is final; editing a dead key would only suggest otherwise */
        cp_store_rollback(s);
        sy_errf(err, errlen, "key '%.128s' is revoked and cannot be changed", id);
        return CP_ADMIN_INVALID;
    }
    cp_admin_rc_t mrc =
        p->allowed_models ? check_models(s, p->allowed_models, param, err, errlen) : CP_ADMIN_OK;
    if (mrc != CP_ADMIN_OK) {
        cp_store_rollback(s);
        return mrc;
    }
    char *models = p->allowed_models ? cJSON_PrintUnformatted(p->allowed_models) : NULL;
    /* one statement; each field is rewritten only when its flag says the request named it */
    if (cp_store_prepare(s,
                         "UPDATE api_keys SET name = CASE WHEN ?2 THEN ?3 ELSE name END, "
                         "allowed_models = COALESCE(?4, allowed_models), "
                         "budget_nano = CASE WHEN ?5 THEN ?6 ELSE budget_nano END, "
                         "rpm = CASE WHEN ?7 THEN ?8 ELSE rpm END, tpm = CASE WHEN ?9 THEN ?10 ELSE tpm END, "
                         "expires_at = CASE WHEN ?11 THEN ?12 ELSE expires_at END WHERE id = ?1",
                         &st, err, errlen) != 0) {
        cJSON_free(models);
        cp_store_rollback(s);
        return CP_ADMIN_ERROR;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, p->name != NULL);
    sqlite3_bind_text(st, 3, p->name ? p->name : "", -1, SQLITE_TRANSIENT);
    if (models)
        sqlite3_bind_text(st, 4, models, -1, SQLITE_TRANSIENT);
    const struct {
        int set;
        int64_t v;
    } nums[] = {{p->set_budget, p->budget_nano}, {p->set_rpm, p->rpm}, {p->set_tpm, p->tpm}};
    for (int i = 0; i < 3; i++) {
        sqlite3_bind_int(st, 5 + 2 * i, nums[i].set);
        if (nums[i].v >= 0) /* negative = clear: stays NULL */
            sqlite3_bind_int64(st, 6 + 2 * i, nums[i].v);
    }
    sqlite3_bind_int(st, 11, p->set_expires);
    sqlite3_bind_int64(st, 12, p->expires_at);
    cJSON_free(models);
    if (sqlite3_step(st) != SQLITE_DONE)
        return db_fail(s, st, err, errlen, "update key");
    sqlite3_finalize(st);
    return commit_with_row(s, KEY_COLS, id, key_row, out, version, err, errlen);
}

cp_admin_rc_t cp_admin_rotate_key(cp_store_t *s, const cp_admin_rotation_t *r, cJSON **out, uint64_t *version,
                                  const char **param, char *err, size_t errlen)
{
    if (out)
        *out = NULL;
    *param = NULL;
    if (r->grace_seconds < 0 || r->grace_seconds > CP_ADMIN_ROTATE_GRACE_MAX_S) {
        *param = "grace_seconds";
        sy_errf(err, errlen, "'grace_seconds' must be a whole number from 0 to %d",
                CP_ADMIN_ROTATE_GRACE_MAX_S);
        return CP_ADMIN_INVALID;
    }
    if (r->now_ms <= 0) {
        sy_errf(err, errlen, "rotation needs the wall-clock time");
        return CP_ADMIN_ERROR;
    }
    if (cp_store_begin_write(s, err, errlen) != 0)
        return CP_ADMIN_ERROR;
    sqlite3_stmt *st;
    if (cp_store_prepare(s, "SELECT revoked FROM api_keys WHERE id = ?1", &st, err, errlen) != 0) {
        cp_store_rollback(s);
        return CP_ADMIN_ERROR;
    }
    sqlite3_bind_text(st, 1, r->id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    int revoked = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW) {
        if (rc != SQLITE_DONE)
            return db_fail(s, NULL, err, errlen, "rotate key");
        cp_store_rollback(s);
        sy_errf(err, errlen, "key '%.128s' not found", r->id);
        return CP_ADMIN_NOT_FOUND;
    }
    if (revoked) { /* as for edits: revocation is final, a new secret would only suggest otherwise */
        cp_store_rollback(s);
        sy_errf(err, errlen, "key '%.128s' is revoked and cannot be rotated", r->id);
        return CP_ADMIN_INVALID;
    }
    /* the current secret becomes the previous one (replacing any older previous one: at most
     * one), then the new one takes its place; both in this one transaction */
    if (cp_store_prepare(
            s,
            "INSERT INTO api_key_prev (key_id, sha256, prefix, rotated_ms, valid_until_ms) "
            "SELECT id, sha256, COALESCE(prefix, ''), ?2, ?3 FROM api_keys WHERE id = ?1 "
            "ON CONFLICT(key_id) DO UPDATE SET sha256 = excluded.sha256, prefix = excluded.prefix, "
            "rotated_ms = excluded.rotated_ms, valid_until_ms = excluded.valid_until_ms",
            &st, err, errlen) != 0) {
        cp_store_rollback(s);
        return CP_ADMIN_ERROR;
    }
    sqlite3_bind_text(st, 1, r->id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, r->now_ms);
    sqlite3_bind_int64(st, 3, r->now_ms + (int64_t)r->grace_seconds * 1000);
    if (sqlite3_step(st) != SQLITE_DONE)
        return db_fail(s, st, err, errlen, "rotate key (previous secret)");
    sqlite3_finalize(st);
    if (cp_store_prepare(s, "UPDATE api_keys SET sha256 = ?2, prefix = ?3 WHERE id = ?1", &st, err, errlen) !=
        0) {
        cp_store_rollback(s);
        return CP_ADMIN_ERROR;
    }
    sqlite3_bind_text(st, 1, r->id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_blob(st, 2, r->sha256, SY_SHA256_LEN, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, r->prefix, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_DONE)
        return db_fail(s, st, err, errlen, "rotate key (new secret)");
    sqlite3_finalize(st);
    return commit_with_row(s, KEY_COLS, r->id, key_row, out, version, err, errlen);
}

/* ------------------------------------------------------------------------------- nodes */

cp_admin_rc_t cp_admin_record_heartbeat(cp_store_t *s, const cp_admin_heartbeat_t *hb, const char **param,
                                        char *err, size_t errlen)
{
    *param = NULL;
    if (!cp_admin_valid_id(hb->id)) {
        *param = "node_id";
        sy_errf(err, errlen, "invalid node id");
        return CP_ADMIN_INVALID;
    }
    const char *build = hb->build ? hb->build : "";
    if (strlen(build) > 128) {
        *param = "build";
        sy_errf(err, errlen, "build longer than 128 bytes");
        return CP_ADMIN_INVALID;
    }
    /* one statement: in the caller's transaction (the bus's group of heartbeats) or, in
     * autocommit mode, its own; meta.snapshot_version untouched */
    static const char sql[] =
        "INSERT INTO dp_nodes (id, build, snapshot_version, last_seen_ms, load) VALUES (?1, ?2, ?3, ?4, ?5) "
        "ON CONFLICT(id) DO UPDATE SET build = excluded.build, snapshot_version = excluded.snapshot_version, "
        "last_seen_ms = excluded.last_seen_ms, load = excluded.load";
    sqlite3_stmt *st;
    if (cp_store_cached(s, sql, &st, err, errlen) != 0)
        return CP_ADMIN_ERROR;
    uint64_t v = hb->snapshot_version > (uint64_t)INT64_MAX ? (uint64_t)INT64_MAX : hb->snapshot_version;
    double load = hb->load == hb->load ? hb->load : 0; /* NaN cannot be stored in a REAL NOT NULL */
    sqlite3_bind_text(st, 1, hb->id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, build, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, (int64_t)v);
    sqlite3_bind_int64(st, 4, hb->now_ms);
    sqlite3_bind_double(st, 5, load);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        sy_errf(err, errlen, "upsert node: %s", sqlite3_errmsg(cp_store_db(s)));
        return CP_ADMIN_ERROR;
    }
    return CP_ADMIN_OK;
}

static cJSON *node_row(sqlite3_stmt *st)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", (const char *)sqlite3_column_text(st, 0));
    cJSON_AddStringToObject(o, "build", (const char *)sqlite3_column_text(st, 1));
    cJSON_AddNumberToObject(o, "snapshot_version", (double)sqlite3_column_int64(st, 2));
    cJSON_AddNumberToObject(o, "last_seen_ms", (double)sqlite3_column_int64(st, 3));
    return o;
}

cJSON *cp_admin_list_nodes(cp_store_t *s, int64_t now_ms, char *err, size_t errlen)
{
    cJSON *arr = collect(s, "SELECT id, build, snapshot_version, last_seen_ms FROM dp_nodes ORDER BY id",
                         NULL, node_row, err, errlen);
    if (arr == NULL)
        return NULL;
    cJSON *o;
    cJSON_ArrayForEach(o, arr)
    {
        double seen = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, "last_seen_ms"));
        double age = (double)now_ms - seen;
        cJSON_AddNumberToObject(o, "age_ms", age > 0 ? age : 0);
    }
    return arr;
}
