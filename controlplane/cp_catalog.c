#include "cp_catalog.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sy_catalog.h"
#include "sy_hash.h"
#include "sy_log.h"
#include "sy_json.h"
#include "sy_money.h"
#include "sy_util.h"

#define MAX_CATALOG_BYTES (64u << 20)

/* The prepared statements of one load, and where its errors go. */
enum {
    ST_PROVIDER,
    ST_PROVIDER_EXISTS,
    ST_MODEL,
    ST_MODEL_EXISTS,
    ST_WORKSPACE,
    ST_WORKSPACE_EXISTS,
    ST_KEY,
    ST_KEY_BY_HASH,
    ST_META,
    ST_MODEL_ROW,
    ST_MODEL_ID,
    ST_EDITS,
    ST_EDITS_CLEAR,
    ST_ALIAS,
    ST_ALIAS_GET,
    ST_COUNT
};

static const char *const sql[ST_COUNT] = {
    [ST_PROVIDER] = "INSERT INTO providers (id, kind, base_url, api_key_env, ca_file, probe_path, probe_interval_ms, "
                    "probe_timeout_ms, stream_usage) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
                    "ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, base_url = excluded.base_url, "
                    "api_key_env = excluded.api_key_env, ca_file = excluded.ca_file, probe_path = excluded.probe_path, "
                    "probe_interval_ms = excluded.probe_interval_ms, probe_timeout_ms = excluded.probe_timeout_ms, "
                    "stream_usage = excluded.stream_usage",
    [ST_PROVIDER_EXISTS] = "SELECT 1 FROM providers WHERE id = ?1",
    [ST_MODEL] = "INSERT INTO models (id, provider_id, upstream, input_per_m_nano, output_per_m_nano, context_window, "
                 "caps, tiers, quality, cache_read_per_m_nano, cache_write_per_m_nano) "
                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) "
                 "ON CONFLICT (id) DO UPDATE SET provider_id = excluded.provider_id, upstream = excluded.upstream, "
                 "input_per_m_nano = excluded.input_per_m_nano, output_per_m_nano = excluded.output_per_m_nano, "
                 "context_window = excluded.context_window, caps = excluded.caps, tiers = excluded.tiers, "
                 "quality = excluded.quality, cache_read_per_m_nano = excluded.cache_read_per_m_nano, "
                 "cache_write_per_m_nano = excluded.cache_write_per_m_nano",
    /* the data plane resolves a catalog id or a provider-qualified one, so scopes may use both */
    [ST_MODEL_EXISTS] = "SELECT 1 FROM models WHERE id = ?1 OR provider_id || '/' || id = ?1",
    /* NULL parameters are fields the entry omitted: defaults for a new row, kept for an old one */
    [ST_WORKSPACE] = "INSERT INTO workspaces (id, name, active, created_at, rpm, tpm) VALUES (?1, COALESCE(?2, ''), "
                     "COALESCE(?3, 1), ?4, NULLIF(?5, 0), NULLIF(?6, 0)) "
                     "ON CONFLICT (id) DO UPDATE SET name = COALESCE(?2, name), active = COALESCE(?3, active), "
                     "rpm = CASE WHEN ?5 IS NULL THEN rpm ELSE NULLIF(?5, 0) END, "
                     "tpm = CASE WHEN ?6 IS NULL THEN tpm ELSE NULLIF(?6, 0) END",
    [ST_WORKSPACE_EXISTS] = "SELECT 1 FROM workspaces WHERE id = ?1",
    [ST_KEY] = "INSERT INTO api_keys (id, workspace_id, sha256, name, allowed_models, expires_at, revoked, created_at, "
               "rpm, tpm) "
               "VALUES (?1, ?2, ?3, COALESCE(?4, ''), COALESCE(?5, '[]'), COALESCE(?6, 0), COALESCE(?7, 0), ?8, "
               "NULLIF(?9, 0), NULLIF(?10, 0)) "
               "ON CONFLICT (id) DO UPDATE SET workspace_id = excluded.workspace_id, sha256 = excluded.sha256, "
               "name = COALESCE(?4, name), allowed_models = COALESCE(?5, allowed_models), "
               "expires_at = COALESCE(?6, expires_at), revoked = MAX(revoked, COALESCE(?7, 0)), "
               "rpm = CASE WHEN ?9 IS NULL THEN rpm ELSE NULLIF(?9, 0) END, "
               "tpm = CASE WHEN ?10 IS NULL THEN tpm ELSE NULLIF(?10, 0) END",
    [ST_KEY_BY_HASH] = "SELECT id FROM api_keys WHERE sha256 = ?1",
    [ST_META] = "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    [ST_MODEL_ROW] =
        "SELECT upstream, input_per_m_nano, output_per_m_nano, context_window, caps, tiers, quality, provider_id, cache_read_per_m_nano, cache_write_per_m_nano FROM models WHERE id = ?1",
    [ST_MODEL_ID] = "SELECT 1 FROM models WHERE id = ?1",
    [ST_EDITS] = "SELECT field FROM catalog_edits WHERE kind = ?1 AND id = ?2 ORDER BY field",
    [ST_EDITS_CLEAR] = "DELETE FROM catalog_edits WHERE kind = ?1 AND id = ?2",
    [ST_ALIAS] =
        "INSERT INTO model_aliases (alias, model_id) VALUES (?1, ?2) ON CONFLICT (alias) DO UPDATE SET model_id = excluded.model_id",
    [ST_ALIAS_GET] = "SELECT model_id FROM model_aliases WHERE alias = ?1",
};

/* What one import did, per section: rows it created, rows whose stored values it changed, and
 * rows it named without changing anything. */
typedef struct {
    unsigned created, changed, unchanged;
} count_t;

typedef struct {
    cp_store_t *store;
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
    int64_t now;
    char *err;
    size_t errlen;
    /* ids seen in the section being loaded (open addressing; the strings belong to the parsed
     * file, which outlives the load): duplicate detection in O(n), not O(n^2) */
    const char **seen;
    size_t seen_mask;
    /* conflicts with admin edits: [{"kind","id","fields":[{"field","db","file"}]}] */
    cJSON *conflicts;
    count_t providers, models, aliases, workspaces, keys;
} load_t;

/* Same rule as the data plane's identifiers: they appear in URLs, headers and logs, so
 * printable ASCII without spaces, quotes or backslashes, 1..128 bytes. */
static int valid_ident(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128)
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f || *p == '"' || *p == '\\')
            return 0;
    return 1;
}

/* Runs a bound statement to completion and resets it for the next entry. */
static int run(load_t *l, int which, const char *where)
{
    sqlite3_stmt *st = l->st[which];
    int rc = sqlite3_step(st);
    int ok = rc == SQLITE_DONE;
    if (!ok)
        sy_errf(l->err, l->errlen, "%s: %s", where, sqlite3_errmsg(l->db));
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return ok ? 0 : -1;
}

/* 1 when the one-parameter lookup finds a row, 0 when not, -1 on a database error. */
static int exists(load_t *l, int which, const char *key, const char *where)
{
    sqlite3_stmt *st = l->st[which];
    sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    return sy_errf(l->err, l->errlen, "%s: %s", where, sqlite3_errmsg(l->db));
}

static int fields_known(load_t *l, const cJSON *o, const char *where, const char *const *allowed)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, o)
    {
        const char *const *a = allowed;
        while (*a && strcmp(*a, e->string) != 0)
            a++;
        if (*a == NULL)
            return sy_errf(l->err, l->errlen, "%s: unknown field \"%s\"", where, e->string);
    }
    return 0;
}

/* A string member: *out points into the JSON tree, NULL when absent (or JSON null). */
static int get_str(load_t *l, const cJSON *o, const char *name, const char *where, int required, const char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    *out = NULL;
    if (v == NULL || cJSON_IsNull(v))
        return required ? sy_errf(l->err, l->errlen, "%s: missing \"%s\"", where, name) : 0;
    if (!cJSON_IsString(v))
        return sy_errf(l->err, l->errlen, "%s: \"%s\" must be a string", where, name);
    *out = v->valuestring;
    return 0;
}

/* A whole number in 0..max; *present says whether the member was there. */
static int get_uint(load_t *l, const cJSON *o, const char *name, const char *where, uint64_t max, uint64_t *out,
                    int *present)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    *out = 0;
    *present = v != NULL;
    if (v == NULL)
        return 0;
    /* cJSON keeps numbers as doubles: reject fractions and anything past max before converting */
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) || v->valuedouble > (double)max ||
        v->valuedouble != (double)(uint64_t)v->valuedouble)
        return sy_errf(l->err, l->errlen, "%s: \"%s\" must be a whole number 0..%llu", where, name,
                       (unsigned long long)max);
    *out = (uint64_t)v->valuedouble;
    return 0;
}

/* -1 absent, 0 false, 1 true; error when present but not a boolean. */
static int get_bool(load_t *l, const cJSON *o, const char *name, const char *where, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    *out = -1;
    if (v == NULL)
        return 0;
    if (!cJSON_IsBool(v))
        return sy_errf(l->err, l->errlen, "%s: \"%s\" must be true or false", where, name);
    *out = cJSON_IsTrue(v) ? 1 : 0;
    return 0;
}

/* An array of strings: *arr is the member (NULL when absent). */
static int get_strings(load_t *l, const cJSON *o, const char *name, const char *where, const cJSON **arr)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    *arr = NULL;
    if (v == NULL)
        return 0;
    const cJSON *e;
    if (cJSON_IsArray(v)) {
        cJSON_ArrayForEach(e, v)
        {
            if (!cJSON_IsString(e))
                goto bad;
        }
        *arr = v;
        return 0;
    }
bad:
    return sy_errf(l->err, l->errlen, "%s: \"%s\" must be an array of strings", where, name);
}

static int get_price(load_t *l, const cJSON *o, const char *name, const char *where, sy_nano_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    *out = 0;
    if (v == NULL)
        return 0;
    if (!cJSON_IsString(v) || sy_money_parse_usd(v->valuestring, out) != 0)
        return sy_errf(l->err, l->errlen, "%s: \"%s\" must be a decimal string of USD, e.g. \"0.15\"", where, name);
    return 0;
}

/* An optional price (cache_read_per_m, cache_write_per_m): absent or null = none (-1). */
static int get_opt_price(load_t *l, const cJSON *o, const char *name, const char *where, sy_nano_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (v == NULL || cJSON_IsNull(v)) {
        *out = -1;
        return 0;
    }
    return get_price(l, o, name, where, out);
}

/* Binds an optional price: NULL for none (-1). */
static void bind_opt_price(sqlite3_stmt *st, int idx, sy_nano_t v)
{
    if (v < 0)
        sqlite3_bind_null(st, idx);
    else
        sqlite3_bind_int64(st, idx, v);
}

static const struct {
    const char *name;
    uint32_t bit;
} cap_names[] = {{"chat", CP_CAP_CHAT},
                 {"tools", CP_CAP_TOOLS},
                 {"json", CP_CAP_JSON},
                 {"vision", CP_CAP_VISION},
                 {"embeddings", CP_CAP_EMBEDDINGS}};
#define N_CAPS (sizeof(cap_names) / sizeof(cap_names[0]))

int cp_catalog_caps_parse(const cJSON *arr, uint32_t *caps, char *err, size_t errlen)
{
    const cJSON *e;
    *caps = 0;
    if (arr != NULL && !cJSON_IsArray(arr))
        return sy_errf(err, errlen, "\"capabilities\" must be an array of strings");
    cJSON_ArrayForEach(e, arr)
    {
        size_t j = 0;
        while (cJSON_IsString(e) && j < N_CAPS && strcmp(cap_names[j].name, e->valuestring) != 0)
            j++;
        if (!cJSON_IsString(e) || j == N_CAPS)
            return sy_errf(err, errlen, "unknown capability \"%.64s\"", cJSON_IsString(e) ? e->valuestring : "?");
        *caps |= cap_names[j].bit;
    }
    if (*caps == 0) /* none listed: a chat model, as the data plane assumes */
        *caps = CP_CAP_CHAT;
    return 0;
}

cJSON *cp_catalog_caps_json(uint32_t caps)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t j = 0; j < N_CAPS; j++)
        if (caps & cap_names[j].bit)
            cJSON_AddItemToArray(arr, cJSON_CreateString(cap_names[j].name));
    return arr;
}

static int get_caps(load_t *l, const cJSON *o, const char *where, uint32_t *caps)
{
    const cJSON *arr;
    char why[128];
    if (get_strings(l, o, "capabilities", where, &arr) != 0)
        return -1;
    if (cp_catalog_caps_parse(arr, caps, why, sizeof(why)) != 0)
        return sy_errf(l->err, l->errlen, "%s: %s", where, why);
    return 0;
}

/* Starts duplicate detection for a section of `n` entries. */
static int seen_reset(load_t *l, const cJSON *arr)
{
    size_t n = (size_t)cJSON_GetArraySize(arr), cap = 16;
    while (cap < n * 2)
        cap <<= 1;
    free(l->seen);
    l->seen = calloc(cap, sizeof(*l->seen));
    l->seen_mask = cap - 1;
    return l->seen ? 0 : sy_errf(l->err, l->errlen, "out of memory");
}

/* 1 when an earlier entry of the section had the same "id" (the data plane rejects such a file;
 * an upsert would silently keep the last one), else records it and returns 0. */
static int seen_before(load_t *l, const char *id)
{
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    for (size_t i = h & l->seen_mask;; i = (i + 1) & l->seen_mask) {
        if (l->seen[i] == NULL) {
            l->seen[i] = id;
            return 0;
        }
        if (strcmp(l->seen[i], id) == 0)
            return 1;
    }
}

/* Binds a JSON value as its compact text, or NULL. */
static int bind_json(load_t *l, sqlite3_stmt *st, int idx, const cJSON *v)
{
    if (v == NULL || cJSON_IsNull(v))
        return sqlite3_bind_null(st, idx) == SQLITE_OK ? 0 : sy_errf(l->err, l->errlen, "out of memory");
    char *txt = cJSON_PrintUnformatted(v);
    if (txt == NULL)
        return sy_errf(l->err, l->errlen, "out of memory");
    int rc = sqlite3_bind_text(st, idx, txt, -1, SQLITE_TRANSIENT);
    cJSON_free(txt);
    return rc == SQLITE_OK ? 0 : sy_errf(l->err, l->errlen, "out of memory");
}

static int load_settings(load_t *l, const cJSON *root)
{
    static const struct {
        const char *section, *field;
        uint64_t max;
    } settings[] = {
        /* the data plane's ranges */
        {"timeouts_ms", "connect", 3600000},       {"timeouts_ms", "first_byte", 3600000},
        {"timeouts_ms", "idle", 3600000},          {"timeouts_ms", "total", 86400000},
        {"limits", "max_body_bytes", 1u << 30},    {"limits", "max_json_depth", 10000},
        {"limits", "max_attempts", 8},             {"limits", "reserve_output_tokens", 1u << 30},
        {"limits", "max_inflight", 1000000},
    };
    static const char *const timeouts_allowed[] = {"connect", "first_byte", "idle", "total", NULL};
    static const char *const limits_allowed[] = {"max_body_bytes",        "max_json_depth", "max_attempts",
                                                 "reserve_output_tokens", "max_inflight",   NULL};
    for (int sec = 0; sec < 2; sec++) {
        const char *name = sec ? "limits" : "timeouts_ms";
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(root, name);
        if (o == NULL)
            continue;
        if (!cJSON_IsObject(o))
            return sy_errf(l->err, l->errlen, "\"%s\" must be an object", name);
        if (fields_known(l, o, name, sec ? limits_allowed : timeouts_allowed) != 0)
            return -1;
        for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
            if (strcmp(settings[i].section, name) != 0)
                continue;
            uint64_t v;
            int present;
            if (get_uint(l, o, settings[i].field, name, settings[i].max, &v, &present) != 0)
                return -1;
            if (!present)
                continue;
            char key[64];
            snprintf(key, sizeof(key), "%s.%s", name, settings[i].field);
            sqlite3_bind_text(l->st[ST_META], 1, key, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(l->st[ST_META], 2, (int64_t)v);
            if (run(l, ST_META, key) != 0)
                return -1;
        }
    }
    return 0;
}

/* The `routing` section, checked by the rule the data plane uses, kept whole in meta.routing
 * (cp_snapshot turns it into Snapshot.routing). Absent: the stored one (or the defaults) stays. */
static int load_routing(load_t *l, const cJSON *root)
{
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(root, "routing");
    sy_routing_conf_t conf;
    if (r == NULL)
        return 0;
    if (sy_catalog_routing(r, &conf, l->err, l->errlen) != 0)
        return -1;
    char *txt = cJSON_PrintUnformatted(r);
    if (txt == NULL)
        return sy_errf(l->err, l->errlen, "out of memory");
    sqlite3_bind_text(l->st[ST_META], 1, "routing", -1, SQLITE_STATIC);
    sqlite3_bind_text(l->st[ST_META], 2, txt, -1, SQLITE_TRANSIENT);
    cJSON_free(txt);
    return run(l, ST_META, "routing");
}

/* The compact JSON text of v, "" for none (cJSON_PrintUnformatted, as every writer stores it). */
static char *json_text(const cJSON *v)
{
    return v == NULL || cJSON_IsNull(v) ? NULL : cJSON_PrintUnformatted(v);
}

/* Adds {"field","db","file"} to `fields` (created on first use). */
static void diff_add(cJSON **fields, const char *field, const char *db, const char *file)
{
    if (*fields == NULL)
        *fields = cJSON_CreateArray();
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "field", field);
    if (db)
        cJSON_AddStringToObject(f, "db", db);
    else
        cJSON_AddNullToObject(f, "db");
    if (file)
        cJSON_AddStringToObject(f, "file", file);
    else
        cJSON_AddNullToObject(f, "file");
    cJSON_AddItemToArray(*fields, f);
}

/* Adds a diff for an optional price (db column `col` of st, NULL = none) when it differs. */
static void diff_opt_price(cJSON **diffs, sqlite3_stmt *st, int col, const char *field, sy_nano_t file)
{
    sy_nano_t db = sqlite3_column_type(st, col) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, col);
    if (db == file)
        return;
    char a[32], b[32];
    if (db >= 0)
        sy_money_format_usd(db, a);
    if (file >= 0)
        sy_money_format_usd(file, b);
    diff_add(diffs, field, db >= 0 ? a : NULL, file >= 0 ? b : NULL);
}

/* The fields of (kind, id) an admin edited through the API since the last import that named
 * the row, as a NULL-terminated list of strdup'ed names in *out (free with free_fields). */
static int edited_fields(load_t *l, const char *kind, const char *id, char ***out)
{
    sqlite3_stmt *st = l->st[ST_EDITS];
    size_t n = 0, cap = 8;
    char **v = calloc(cap + 1, sizeof(*v));
    *out = NULL;
    if (v == NULL)
        return sy_errf(l->err, l->errlen, "out of memory");
    sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            char **w = realloc(v, (cap * 2 + 1) * sizeof(*v));
            if (w == NULL)
                break;
            v = w;
            cap *= 2;
        }
        v[n++] = strdup((const char *)sqlite3_column_text(st, 0));
        v[n] = NULL;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    *out = v;
    if (rc != SQLITE_DONE)
        return sy_errf(l->err, l->errlen, "catalog edits: %s", sqlite3_errmsg(l->db));
    return 0;
}

static void free_fields(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

static int has_field(char *const *v, const char *f)
{
    for (size_t i = 0; v && v[i]; i++)
        if (strcmp(v[i], f) == 0)
            return 1;
    return 0;
}

/* After comparing a row the file names: counts it, records a conflict when a field an admin
 * edited differs from the file (`diffs` = every differing field), and clears the row's edit
 * marks (the file covers the row from now on; without force a conflict rolls all of it back). */
static int settle_row(load_t *l, const char *kind, const char *id, int existed, cJSON *diffs, count_t *c)
{
    char **edited = NULL;
    int rc = edited_fields(l, kind, id, &edited);
    cJSON *conflict_fields = NULL;
    const cJSON *d;
    cJSON_ArrayForEach(d, diffs)
    {
        const char *f = cJSON_GetObjectItemCaseSensitive(d, "field")->valuestring;
        if (has_field(edited, f))
            cJSON_AddItemToArray(conflict_fields ? conflict_fields : (conflict_fields = cJSON_CreateArray()),
                                 cJSON_Duplicate(d, 1));
    }
    free_fields(edited);
    if (conflict_fields != NULL) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "kind", kind);
        cJSON_AddStringToObject(o, "id", id);
        cJSON_AddItemToObject(o, "fields", conflict_fields);
        cJSON_AddItemToArray(l->conflicts, o);
    }
    if (!existed)
        c->created++;
    else if (cJSON_GetArraySize(diffs) > 0)
        c->changed++;
    else
        c->unchanged++;
    if (rc != 0)
        return -1;
    sqlite3_stmt *st = l->st[ST_EDITS_CLEAR];
    sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
    return run(l, ST_EDITS_CLEAR, "catalog edits");
}

/* Compares a model of the file with its stored row (if any) field by field, under the names the
 * admin API uses, then settles it (settle_row). */
static int model_compare(load_t *l, const char *id, const char *provider, const char *upstream, sy_nano_t in,
                         sy_nano_t out, sy_nano_t cache_read, sy_nano_t cache_write, uint32_t cw,
                         uint32_t caps, const cJSON *tiers, const cJSON *quality, const char *where)
{
    sqlite3_stmt *st = l->st[ST_MODEL_ROW];
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    cJSON *diffs = cJSON_CreateArray();
    int existed = rc == SQLITE_ROW;
    if (existed) {
        char a[32], b[32];
        const char *db_up = (const char *)sqlite3_column_text(st, 0);
        if (strcmp(db_up ? db_up : "", upstream) != 0)
            diff_add(&diffs, "upstream", db_up, upstream);
        if (sqlite3_column_int64(st, 1) != in) {
            sy_money_format_usd(sqlite3_column_int64(st, 1), a);
            sy_money_format_usd(in, b);
            diff_add(&diffs, "input_per_m", a, b);
        }
        if (sqlite3_column_int64(st, 2) != out) {
            sy_money_format_usd(sqlite3_column_int64(st, 2), a);
            sy_money_format_usd(out, b);
            diff_add(&diffs, "output_per_m", a, b);
        }
        if (sqlite3_column_int64(st, 3) != (int64_t)cw) {
            snprintf(a, sizeof(a), "%lld", (long long)sqlite3_column_int64(st, 3));
            snprintf(b, sizeof(b), "%u", cw);
            diff_add(&diffs, "context_window", a, b);
        }
        if (sqlite3_column_int64(st, 4) != (int64_t)caps) {
            cJSON *x = cp_catalog_caps_json((uint32_t)sqlite3_column_int64(st, 4)),
                  *y = cp_catalog_caps_json(caps);
            char *xs = cJSON_PrintUnformatted(x), *ys = cJSON_PrintUnformatted(y);
            diff_add(&diffs, "capabilities", xs, ys);
            cJSON_free(xs);
            cJSON_free(ys);
            cJSON_Delete(x);
            cJSON_Delete(y);
        }
        char *t = json_text(tiers);
        const char *db_t = (const char *)sqlite3_column_text(st, 5);
        if (strcmp(db_t ? db_t : "[]", t ? t : "[]") != 0)
            diff_add(&diffs, "tiers", db_t ? db_t : "[]", t ? t : "[]");
        cJSON_free(t);
        char *q = json_text(quality);
        const char *db_q = (const char *)sqlite3_column_text(st, 6);
        if ((db_q == NULL) != (q == NULL) || (q && strcmp(db_q, q) != 0))
            diff_add(&diffs, "quality", db_q, q);
        cJSON_free(q);
        const char *db_p = (const char *)sqlite3_column_text(st, 7);
        if (strcmp(db_p ? db_p : "", provider) != 0)
            diff_add(&diffs, "provider", db_p, provider);
        diff_opt_price(&diffs, st, 8, "cache_read_per_m", cache_read);
        diff_opt_price(&diffs, st, 9, "cache_write_per_m", cache_write);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        cJSON_Delete(diffs);
        return sy_errf(l->err, l->errlen, "%s: %s", where, sqlite3_errmsg(l->db));
    }
    rc = settle_row(l, "model", id, existed, diffs, &l->models);
    cJSON_Delete(diffs);
    return rc;
}

/* The top-level `aliases` object: {"alias": "model id"}. Loaded after the models, so a target
 * may be a model of the same file or one stored earlier; an alias may not equal a model id. */
static int load_aliases(load_t *l, const cJSON *obj)
{
    if (obj == NULL || cJSON_IsNull(obj))
        return 0;
    if (sy_catalog_aliases(obj, l->err, l->errlen) != 0 || seen_reset(l, obj) != 0)
        return -1;
    const cJSON *e;
    cJSON_ArrayForEach(e, obj)
    {
        char where[200];
        const char *alias = e->string, *target = e->valuestring;
        snprintf(where, sizeof(where), "alias %.128s", alias);
        if (seen_before(l, alias))
            return sy_errf(l->err, l->errlen, "%s: duplicate alias", where);
        int found = exists(l, ST_MODEL_ID, alias, where);
        if (found != 0)
            return found < 0 ? -1 : sy_errf(l->err, l->errlen, "%s: collides with a model id", where);
        found = exists(l, ST_MODEL_ID, target, where);
        if (found <= 0)
            return found < 0 ? -1 : sy_errf(l->err, l->errlen, "%s: unknown model '%.128s'", where, target);
        sqlite3_stmt *st = l->st[ST_ALIAS_GET];
        sqlite3_bind_text(st, 1, alias, -1, SQLITE_TRANSIENT);
        int rc = sqlite3_step(st);
        char *db = rc == SQLITE_ROW ? strdup((const char *)sqlite3_column_text(st, 0)) : NULL;
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return sy_errf(l->err, l->errlen, "%s: %s", where, sqlite3_errmsg(l->db));
        cJSON *diffs = cJSON_CreateArray();
        if (db == NULL || strcmp(db, target) != 0)
            diff_add(&diffs, "model", db, target);
        /* an alias an admin deleted has no row but keeps its mark: the file re-creating it is a
         * conflict like any other edit */
        rc = settle_row(l, "alias", alias, db != NULL, diffs, &l->aliases);
        free(db);
        cJSON_Delete(diffs);
        if (rc != 0)
            return -1;
        st = l->st[ST_ALIAS];
        sqlite3_bind_text(st, 1, alias, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, target, -1, SQLITE_TRANSIENT);
        if (run(l, ST_ALIAS, where) != 0)
            return -1;
    }
    return 0;
}

static int load_providers(load_t *l, const cJSON *arr)
{
    if (seen_reset(l, arr) != 0)
        return -1;
    static const char *const allowed[] = {"id",      "kind",  "base_url",     "api_key_env",
                                          "ca_file", "probe", "stream_usage", NULL};
    const cJSON *e;
    size_t i = 0;
    cJSON_ArrayForEach(e, arr)
    {
        char where[200];
        const char *id, *kind, *base_url, *env, *ca;
        sy_probe_conf_t probe;
        int stream_usage;
        snprintf(where, sizeof(where), "providers[%zu]", i++);
        if (!cJSON_IsObject(e))
            return sy_errf(l->err, l->errlen, "%s: must be an object", where);
        if (fields_known(l, e, where, allowed) || get_str(l, e, "id", where, 1, &id) ||
            get_str(l, e, "kind", where, 1, &kind) || get_str(l, e, "base_url", where, 1, &base_url) ||
            get_str(l, e, "api_key_env", where, 0, &env) || get_str(l, e, "ca_file", where, 0, &ca) ||
            get_bool(l, e, "stream_usage", where, &stream_usage) ||
            sy_catalog_probe(cJSON_GetObjectItemCaseSensitive(e, "probe"), where, &probe, l->err, l->errlen))
            return -1;
        if (!valid_ident(id))
            return sy_errf(l->err, l->errlen, "%s: invalid id", where);
        snprintf(where, sizeof(where), "provider %s", id);
        if (seen_before(l, id))
            return sy_errf(l->err, l->errlen, "%s: duplicate id", where);
        /* the data plane's dialects (dataplane/providers/dp_provider.h); cp_probe.c speaks each */
        if (strcmp(kind, "openai") != 0 && strcmp(kind, "anthropic") != 0 && strcmp(kind, "gemini") != 0)
            return sy_errf(l->err, l->errlen, "%s: unknown kind '%s' (supported: openai, anthropic, gemini)", where,
                           kind);
        if ((strncmp(base_url, "http://", 7) != 0 && strncmp(base_url, "https://", 8) != 0) || !valid_ident(base_url))
            return sy_errf(l->err, l->errlen, "%s: base_url must be an http:// or https:// URL", where);
        if (ca && sy_has_ctl(ca, strlen(ca)))
            return sy_errf(l->err, l->errlen, "%s: invalid ca_file", where);
        if (env && sy_has_ctl(env, strlen(env)))
            return sy_errf(l->err, l->errlen, "%s: invalid api_key_env", where);
        int existed = exists(l, ST_PROVIDER_EXISTS, id, where);
        if (existed < 0)
            return -1;
        if (existed)
            l->providers.changed++;
        else
            l->providers.created++;
        /* stored as written (trailing slashes included): the data plane normalises it */
        sqlite3_stmt *st = l->st[ST_PROVIDER];
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, kind, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, base_url, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 4, env ? env : "", -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 5, ca ? ca : "", -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 6, probe.path, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 7, probe.interval_ms);
        sqlite3_bind_int64(st, 8, probe.timeout_ms);
        sqlite3_bind_int(st, 9, stream_usage != 0); /* absent (-1): true */
        if (run(l, ST_PROVIDER, where) != 0)
            return -1;
    }
    return 0;
}

static int load_models(load_t *l, const cJSON *arr)
{
    if (seen_reset(l, arr) != 0)
        return -1;
    static const char *const allowed[] = {"id",
                                          "provider",
                                          "upstream",
                                          "input_per_m",
                                          "output_per_m",
                                          "cache_read_per_m",
                                          "cache_write_per_m",
                                          "context_window",
                                          "capabilities",
                                          "tiers",
                                          "quality",
                                          "description",
                                          NULL};
    const cJSON *e;
    size_t i = 0;
    cJSON_ArrayForEach(e, arr)
    {
        char where[200];
        const char *id, *provider, *upstream;
        sy_nano_t in, out, cache_read, cache_write;
        uint64_t cw;
        int cw_present;
        uint32_t caps;
        const cJSON *tiers;
        snprintf(where, sizeof(where), "models[%zu]", i++);
        if (!cJSON_IsObject(e))
            return sy_errf(l->err, l->errlen, "%s: must be an object", where);
        if (fields_known(l, e, where, allowed) || get_str(l, e, "id", where, 1, &id) ||
            get_str(l, e, "provider", where, 1, &provider) ||
            get_str(l, e, "upstream", where, 0, &upstream) || get_price(l, e, "input_per_m", where, &in) ||
            get_price(l, e, "output_per_m", where, &out) ||
            get_opt_price(l, e, "cache_read_per_m", where, &cache_read) ||
            get_opt_price(l, e, "cache_write_per_m", where, &cache_write) ||
            get_uint(l, e, "context_window", where, UINT32_MAX, &cw, &cw_present) ||
            get_caps(l, e, where, &caps) || get_strings(l, e, "tiers", where, &tiers))
            return -1;
        /* a '/' would make "provider/id" ambiguous */
        if (!valid_ident(id) || strchr(id, '/'))
            return sy_errf(l->err, l->errlen, "%s: invalid id", where);
        snprintf(where, sizeof(where), "model %s", id);
        if (seen_before(l, id))
            return sy_errf(l->err, l->errlen, "%s: duplicate id", where);
        if (upstream == NULL || upstream[0] == '\0')
            upstream = id;
        if (!valid_ident(upstream))
            return sy_errf(l->err, l->errlen, "%s: invalid upstream name", where);
        int found = exists(l, ST_PROVIDER_EXISTS, provider, where);
        if (found < 0)
            return -1;
        if (!found)
            return sy_errf(l->err, l->errlen, "%s: unknown provider '%s'", where, provider);
        const cJSON *quality = cJSON_GetObjectItemCaseSensitive(e, "quality");
        if (sy_catalog_quality(quality, where, l->err, l->errlen) != 0 ||
            model_compare(l, id, provider, upstream, in, out, cache_read, cache_write, (uint32_t)cw, caps,
                          tiers, quality, where) != 0)
            return -1;
        sqlite3_stmt *st = l->st[ST_MODEL];
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, provider, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, upstream, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 4, in);
        sqlite3_bind_int64(st, 5, out);
        sqlite3_bind_int64(st, 6, (int64_t)cw);
        sqlite3_bind_int64(st, 7, caps);
        if (tiers != NULL && bind_json(l, st, 8, tiers) != 0)
            return -1;
        if (tiers == NULL)
            sqlite3_bind_text(st, 8, "[]", -1, SQLITE_STATIC);
        bind_opt_price(st, 10, cache_read);
        bind_opt_price(st, 11, cache_write);
        if (bind_json(l, st, 9, quality) != 0 || run(l, ST_MODEL, where) != 0)
            return -1;
    }
    return 0;
}

static int load_workspaces(load_t *l, const cJSON *arr)
{
    if (seen_reset(l, arr) != 0)
        return -1;
    static const char *const allowed[] = {"id", "active", "name", "rpm", "tpm", NULL};
    const cJSON *e;
    size_t i = 0;
    cJSON_ArrayForEach(e, arr)
    {
        char where[200];
        const char *id, *name;
        int active, rpm_present, tpm_present;
        uint64_t rpm, tpm;
        snprintf(where, sizeof(where), "workspaces[%zu]", i++);
        if (!cJSON_IsObject(e))
            return sy_errf(l->err, l->errlen, "%s: must be an object", where);
        if (fields_known(l, e, where, allowed) || get_str(l, e, "id", where, 1, &id) ||
            get_bool(l, e, "active", where, &active) || get_str(l, e, "name", where, 0, &name) ||
            get_uint(l, e, "rpm", where, SY_LIMIT_RPM_MAX, &rpm, &rpm_present) ||
            get_uint(l, e, "tpm", where, SY_LIMIT_TPM_MAX, &tpm, &tpm_present))
            return -1;
        if (!valid_ident(id))
            return sy_errf(l->err, l->errlen, "%s: invalid id", where);
        snprintf(where, sizeof(where), "workspace %s", id);
        if (seen_before(l, id))
            return sy_errf(l->err, l->errlen, "%s: duplicate id", where);
        int existed = exists(l, ST_WORKSPACE_EXISTS, id, where);
        if (existed < 0)
            return -1;
        if (existed)
            l->workspaces.changed++;
        else
            l->workspaces.created++;
        sqlite3_stmt *st = l->st[ST_WORKSPACE];
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        if (name)
            sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
        if (active >= 0)
            sqlite3_bind_int(st, 3, active);
        sqlite3_bind_int64(st, 4, l->now);
        if (rpm_present)
            sqlite3_bind_int64(st, 5, (int64_t)rpm);
        if (tpm_present)
            sqlite3_bind_int64(st, 6, (int64_t)tpm);
        if (run(l, ST_WORKSPACE, where) != 0)
            return -1;
    }
    return 0;
}

static int load_keys(load_t *l, const cJSON *arr)
{
    if (seen_reset(l, arr) != 0)
        return -1;
    static const char *const allowed[] = {"id",      "sha256",     "workspace", "allowed_models",
                                          "revoked", "expires_at", "name",      "rpm", "tpm", NULL};
    const cJSON *e;
    size_t i = 0;
    cJSON_ArrayForEach(e, arr)
    {
        char where[200];
        const char *id, *hex, *ws, *name;
        const cJSON *models, *m;
        int revoked, exp_present, rpm_present, tpm_present;
        uint64_t exp, rpm, tpm;
        uint8_t sha[SY_SHA256_LEN];
        snprintf(where, sizeof(where), "keys[%zu]", i++);
        if (!cJSON_IsObject(e))
            return sy_errf(l->err, l->errlen, "%s: must be an object", where);
        if (fields_known(l, e, where, allowed) || get_str(l, e, "id", where, 1, &id) ||
            get_str(l, e, "sha256", where, 1, &hex) || get_str(l, e, "workspace", where, 1, &ws) ||
            get_strings(l, e, "allowed_models", where, &models) || get_bool(l, e, "revoked", where, &revoked) ||
            get_uint(l, e, "expires_at", where, INT64_MAX / 2, &exp, &exp_present) ||
            get_str(l, e, "name", where, 0, &name) || get_uint(l, e, "rpm", where, SY_LIMIT_RPM_MAX, &rpm, &rpm_present) ||
            get_uint(l, e, "tpm", where, SY_LIMIT_TPM_MAX, &tpm, &tpm_present))
            return -1;
        if (!valid_ident(id))
            return sy_errf(l->err, l->errlen, "%s: invalid id", where);
        snprintf(where, sizeof(where), "key %s", id);
        if (seen_before(l, id))
            return sy_errf(l->err, l->errlen, "%s: duplicate id", where);
        if (sy_unhex(hex, strlen(hex), sha, sizeof(sha)) != 0)
            return sy_errf(l->err, l->errlen, "%s: \"sha256\" must be 64 hex digits", where);
        int found = exists(l, ST_WORKSPACE_EXISTS, ws, where);
        if (found <= 0)
            return found < 0 ? -1 : sy_errf(l->err, l->errlen, "%s: unknown workspace '%s'", where, ws);
        cJSON_ArrayForEach(m, models)
        {
            if (strcmp(m->valuestring, "*") == 0)
                continue;
            found = exists(l, ST_MODEL_EXISTS, m->valuestring, where);
            if (found <= 0)
                return found < 0 ? -1
                                 : sy_errf(l->err, l->errlen, "%s: allowed model '%s' is not in the catalog", where,
                                           m->valuestring);
        }
        /* Another key with this hash would make authentication ambiguous; say so by name rather
         * than by the UNIQUE constraint's message. */
        sqlite3_stmt *st = l->st[ST_KEY_BY_HASH];
        sqlite3_bind_blob(st, 1, sha, sizeof(sha), SQLITE_TRANSIENT);
        int rc = sqlite3_step(st);
        int clash = rc == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(st, 0), id) != 0;
        if (rc == SQLITE_ROW && !clash)
            l->keys.changed++;
        else if (rc == SQLITE_DONE)
            l->keys.created++;
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return sy_errf(l->err, l->errlen, "%s: %s", where, sqlite3_errmsg(l->db));
        if (clash)
            return sy_errf(l->err, l->errlen, "%s: duplicate key hash", where);

        st = l->st[ST_KEY];
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, ws, -1, SQLITE_TRANSIENT);
        sqlite3_bind_blob(st, 3, sha, sizeof(sha), SQLITE_TRANSIENT);
        if (name)
            sqlite3_bind_text(st, 4, name, -1, SQLITE_TRANSIENT);
        if (models && bind_json(l, st, 5, models) != 0)
            return -1;
        if (exp_present)
            sqlite3_bind_int64(st, 6, (int64_t)exp);
        if (revoked >= 0)
            sqlite3_bind_int(st, 7, revoked);
        sqlite3_bind_int64(st, 8, l->now);
        if (rpm_present)
            sqlite3_bind_int64(st, 9, (int64_t)rpm);
        if (tpm_present)
            sqlite3_bind_int64(st, 10, (int64_t)tpm);
        if (run(l, ST_KEY, where) != 0)
            return -1;
    }
    return 0;
}

static const cJSON *section(load_t *l, const cJSON *root, const char *name, int *bad)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
    if (v != NULL && !cJSON_IsArray(v) && !*bad) {
        sy_errf(l->err, l->errlen, "\"%s\" must be an array", name);
        *bad = 1;
    }
    return v;
}

static cJSON *count_json(const count_t *c)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "created", c->created);
    cJSON_AddNumberToObject(o, "changed", c->changed);
    cJSON_AddNumberToObject(o, "unchanged", c->unchanged);
    return o;
}

/* Appends the import's record (catalog_imports) inside the open transaction; the version it
 * names is the one cp_store_commit_write is about to produce. */
static int record_import(load_t *l, const char *sha_hex, const cp_catalog_import_opts_t *o, cJSON *report,
                         uint64_t version)
{
    char *summary = cJSON_PrintUnformatted(report);
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (summary == NULL) {
        sy_errf(l->err, l->errlen, "out of memory");
        goto out;
    }
    if (cp_store_prepare(l->store,
                         "INSERT INTO catalog_imports (at_ms, sha256, source, forced, version, summary) "
                         "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                         &st, l->err, l->errlen) != 0)
        goto out;
    sqlite3_bind_int64(st, 1, cp_catalog_now_ms());
    sqlite3_bind_text(st, 2, sha_hex, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, o->source ? o->source : "load", -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, o->force ? 1 : 0);
    sqlite3_bind_int64(st, 5, (int64_t)version);
    sqlite3_bind_text(st, 6, summary, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        sy_errf(l->err, l->errlen, "record import: %s", sqlite3_errmsg(l->db));
    else
        rc = 0;
out:
    sqlite3_finalize(st);
    cJSON_free(summary);
    return rc;
}

int64_t cp_catalog_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int cp_catalog_import(cp_store_t *s, const char *json, size_t len, const cp_catalog_import_opts_t *o,
                      cJSON **report, char *err, size_t errlen)
{
    static const cp_catalog_import_opts_t defaults = {.source = "load"};
    load_t l = {.store = s, .db = cp_store_db(s), .now = (int64_t)time(NULL), .err = err, .errlen = errlen};
    int rc = -1, bad = 0;
    cJSON *rep = NULL;
    if (o == NULL)
        o = &defaults;
    if (report)
        *report = NULL;
    uint8_t sha[SY_SHA256_LEN];
    char sha_hex[2 * SY_SHA256_LEN + 1];
    sy_sha256(json, len, sha);
    sy_hex(sha, sizeof(sha), sha_hex);
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (root == NULL) {
        const char *at = cJSON_GetErrorPtr();
        sy_errf(err, errlen, "not valid JSON (near byte %ld)", at ? (long)(at - json) : -1L);
        return -1;
    }
    if (!cJSON_IsObject(root)) {
        sy_errf(err, errlen, "the catalog must be a JSON object");
        goto out;
    }
    const cJSON *providers = section(&l, root, "providers", &bad), *models = section(&l, root, "models", &bad),
                *workspaces = section(&l, root, "workspaces", &bad), *keys = section(&l, root, "keys", &bad);
    if (bad)
        goto out;
    l.conflicts = cJSON_CreateArray();

    if (cp_store_begin_write(s, err, errlen) != 0)
        goto out;
    for (int i = 0; i < ST_COUNT; i++)
        if (cp_store_prepare(s, sql[i], &l.st[i], err, errlen) != 0)
            goto rollback;
    /* Order matters: each section may reference the ones before it. */
    if (load_settings(&l, root) != 0 || load_routing(&l, root) != 0 || load_providers(&l, providers) != 0 ||
        load_models(&l, models) != 0 ||
        load_aliases(&l, cJSON_GetObjectItemCaseSensitive(root, "aliases")) != 0 ||
        load_workspaces(&l, workspaces) != 0 || load_keys(&l, keys) != 0)
        goto rollback;
    /* a model of this file may have taken the name of an alias stored earlier */
    sqlite3_stmt *st;
    if (cp_store_prepare(s, "SELECT a.alias FROM model_aliases a JOIN models m ON m.id = a.alias LIMIT 1",
                         &st, err, errlen) != 0)
        goto rollback;
    if (sqlite3_step(st) == SQLITE_ROW) {
        sy_errf(err, errlen, "model %.128s: collides with an alias of the same name",
                sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        goto rollback;
    }
    sqlite3_finalize(st);

    uint64_t version = 0;
    if (cp_store_snapshot_version(s, &version, err, errlen) != 0)
        goto rollback;
    version++; /* what cp_store_commit_write will make it */
    rep = cJSON_CreateObject();
    cJSON_AddStringToObject(rep, "sha256", sha_hex);
    cJSON_AddStringToObject(rep, "source", o->source ? o->source : "load");
    if (o->path)
        cJSON_AddStringToObject(rep, "file", o->path);
    cJSON_AddBoolToObject(rep, "forced", o->force != 0);
    cJSON *counts = cJSON_AddObjectToObject(rep, "counts");
    cJSON_AddItemToObject(counts, "providers", count_json(&l.providers));
    cJSON_AddItemToObject(counts, "models", count_json(&l.models));
    cJSON_AddItemToObject(counts, "aliases", count_json(&l.aliases));
    cJSON_AddItemToObject(counts, "workspaces", count_json(&l.workspaces));
    cJSON_AddItemToObject(counts, "keys", count_json(&l.keys));
    int nconf = cJSON_GetArraySize(l.conflicts);
    cJSON_AddItemToObject(rep, o->force ? "overwritten" : "conflicts", l.conflicts);
    l.conflicts = NULL;
    if (nconf > 0 && !o->force) {
        sy_errf(err, errlen, "%d catalog row(s) edited through the admin API differ from the file", nconf);
        rc = CP_CATALOG_CONFLICT;
        goto rollback;
    }
    if (o->dry_run) {
        cJSON_AddBoolToObject(rep, "dry_run", 1);
        rc = 0;
        goto rollback;
    }
    cJSON_AddNumberToObject(rep, "version", (double)version);
    if (record_import(&l, sha_hex, o, rep, version) != 0)
        goto rollback;
    for (int i = 0; i < ST_COUNT; i++) { /* finalized before COMMIT, which they would not block anyway */
        sqlite3_finalize(l.st[i]);
        l.st[i] = NULL;
    }
    rc = cp_store_commit_write(s, NULL, err, errlen);
    goto out;
rollback:
    cp_store_rollback(s);
out:
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(l.st[i]);
    free(l.seen);
    cJSON_Delete(l.conflicts);
    cJSON_Delete(root);
    if (rc == -1) {
        cJSON_Delete(rep);
        rep = NULL;
    }
    if (report)
        *report = rep;
    else
        cJSON_Delete(rep);
    return rc;
}

int cp_catalog_load_json(cp_store_t *s, const char *json, size_t len, char *err, size_t errlen)
{
    int rc = cp_catalog_import(s, json, len, NULL, NULL, err, errlen);
    return rc == 0 ? 0 : -1;
}

int cp_catalog_read_file(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return sy_errf(err, errlen, "%s: %s", path, strerror(errno));
    char *buf = malloc(MAX_CATALOG_BYTES + 1);
    size_t n = buf ? fread(buf, 1, MAX_CATALOG_BYTES + 1, f) : 0;
    int rerr = ferror(f);
    fclose(f);
    if (buf == NULL)
        return sy_errf(err, errlen, "out of memory");
    if (rerr || n > MAX_CATALOG_BYTES) {
        free(buf);
        return rerr ? sy_errf(err, errlen, "%s: read error", path)
                    : sy_errf(err, errlen, "%s: larger than %u bytes", path, MAX_CATALOG_BYTES);
    }
    *out = buf;
    *len = n;
    return 0;
}

int cp_catalog_import_file(cp_store_t *s, const char *path, const cp_catalog_import_opts_t *o, cJSON **report,
                           char *err, size_t errlen)
{
    char *buf;
    size_t n;
    if (report)
        *report = NULL;
    if (cp_catalog_read_file(path, &buf, &n, err, errlen) != 0)
        return -1;
    cp_catalog_import_opts_t oo = o ? *o : (cp_catalog_import_opts_t){.source = "load"};
    oo.path = path;
    int rc = cp_catalog_import(s, buf, n, &oo, report, err, errlen);
    if (rc == -1) {
        char why[512];
        snprintf(why, sizeof(why), "%s", err);
        sy_errf(err, errlen, "%s: %s", path, why);
    }
    free(buf);
    return rc;
}

/* The newest catalog_imports row as {"id","at_ms","sha256","source","forced","version","summary"}
 * into *out (NULL when the database has none). Inside a read or write transaction or not. */
int cp_catalog_last_import(cp_store_t *s, cJSON **out, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    *out = NULL;
    if (cp_store_prepare(s,
                         "SELECT id, at_ms, sha256, source, forced, version, summary FROM catalog_imports "
                         "ORDER BY id DESC LIMIT 1",
                         &st, err, errlen) != 0)
        return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "id", (double)sqlite3_column_int64(st, 0));
        cJSON_AddNumberToObject(o, "at_ms", (double)sqlite3_column_int64(st, 1));
        cJSON_AddStringToObject(o, "sha256", (const char *)sqlite3_column_text(st, 2));
        cJSON_AddStringToObject(o, "source", (const char *)sqlite3_column_text(st, 3));
        cJSON_AddBoolToObject(o, "forced", sqlite3_column_int(st, 4));
        cJSON_AddNumberToObject(o, "version", (double)sqlite3_column_int64(st, 5));
        cJSON *sum = cJSON_Parse((const char *)sqlite3_column_text(st, 6));
        cJSON_AddItemToObject(o, "summary", sum ? sum : cJSON_CreateNull());
        *out = o;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return sy_errf(err, errlen, "catalog imports: %s", sqlite3_errmsg(cp_store_db(s)));
    return 0;
}

int cp_catalog_status(cp_store_t *s, const char *path, cJSON **out, char *err, size_t errlen)
{
    cJSON *last = NULL, *o = cJSON_CreateObject();
    *out = NULL;
    if (cp_store_begin_read(s, err, errlen) != 0)
        goto fail;
    if (cp_catalog_last_import(s, &last, err, errlen) != 0) {
        cp_store_end_read(s);
        goto fail;
    }
    sqlite3_stmt *st;
    if (cp_store_prepare(s, "SELECT kind, id, field, edited_ms FROM catalog_edits ORDER BY kind, id, field",
                         &st, err, errlen) != 0) {
        cp_store_end_read(s);
        goto fail;
    }
    cJSON *edits = cJSON_CreateArray();
    while (sqlite3_step(st) == SQLITE_ROW) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "kind", (const char *)sqlite3_column_text(st, 0));
        cJSON_AddStringToObject(e, "id", (const char *)sqlite3_column_text(st, 1));
        cJSON_AddStringToObject(e, "field", (const char *)sqlite3_column_text(st, 2));
        cJSON_AddNumberToObject(e, "edited_ms", (double)sqlite3_column_int64(st, 3));
        cJSON_AddItemToArray(edits, e);
    }
    sqlite3_finalize(st);
    cp_store_end_read(s);

    cJSON_AddStringToObject(o, "source_of_truth", "database");
    if (path) {
        cJSON_AddStringToObject(o, "file", path);
        char *buf, why[512];
        size_t n;
        if (cp_catalog_read_file(path, &buf, &n, why, sizeof(why)) == 0) {
            uint8_t sha[SY_SHA256_LEN];
            char hex[2 * SY_SHA256_LEN + 1];
            sy_sha256(buf, n, sha);
            sy_hex(sha, sizeof(sha), hex);
            free(buf);
            cJSON_AddStringToObject(o, "file_sha256", hex);
            const cJSON *ls = last ? cJSON_GetObjectItemCaseSensitive(last, "sha256") : NULL;
            cJSON_AddBoolToObject(o, "file_matches_last_import", ls && strcmp(ls->valuestring, hex) == 0);
        } else {
            cJSON_AddNullToObject(o, "file_sha256");
            cJSON_AddStringToObject(o, "file_error", why);
            cJSON_AddBoolToObject(o, "file_matches_last_import", 0);
        }
    } else {
        cJSON_AddNullToObject(o, "file");
    }
    cJSON_AddItemToObject(o, "last_import", last ? last : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "edited_since_import", edits);
    *out = o;
    return 0;
fail:
    cJSON_Delete(o);
    return -1;
}

int cp_catalog_start(cp_store_t *s, const char *path, char *err, size_t errlen)
{
    cJSON *last = NULL;
    if (cp_catalog_last_import(s, &last, err, errlen) != 0)
        return -1;
    char *buf = NULL;
    size_t n = 0;
    char why[512];
    if (cp_catalog_read_file(path, &buf, &n, why, sizeof(why)) != 0) {
        if (last == NULL)
            return sy_errf(err, errlen, "%s", why);
        /* the database is the catalog: an unreadable file is worth a warning, not an outage */
        SY_WARN("msg=\"catalog file unreadable; the database's catalog is served\" file=%s err=\"%s\"", path,
                why);
        cJSON_Delete(last);
        return 0;
    }
    if (last == NULL) {
        /* a fresh database (or one from before catalog imports were recorded): the initial import */
        cJSON *rep = NULL;
        cp_catalog_import_opts_t o = {.source = "start", .path = path};
        int rc = cp_catalog_import(s, buf, n, &o, &rep, err, errlen);
        free(buf);
        if (rc != 0) {
            cJSON_Delete(rep);
            if (rc == -1) {
                snprintf(why, sizeof(why), "%s", err);
                sy_errf(err, errlen, "%s: %s", path, why);
            }
            return -1;
        }
        char *txt = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(rep, "counts"));
        SY_INFO("msg=\"catalog imported\" source=start file=%s sha256=%s version=%.0f counts=%s", path,
                cJSON_GetObjectItemCaseSensitive(rep, "sha256")->valuestring,
                cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(rep, "version")), txt ? txt : "{}");
        cJSON_free(txt);
        cJSON_Delete(rep);
        return 0;
    }
    uint8_t sha[SY_SHA256_LEN];
    char hex[2 * SY_SHA256_LEN + 1];
    sy_sha256(buf, n, sha);
    sy_hex(sha, sizeof(sha), hex);
    free(buf);
    const char *imported = cJSON_GetObjectItemCaseSensitive(last, "sha256")->valuestring;
    double at = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(last, "at_ms"));
    double ver = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(last, "version"));
    if (strcmp(imported, hex) == 0)
        SY_INFO(
            "msg=\"catalog file unchanged since the last import; the database's catalog is served\" file=%s "
            "sha256=%s imported_at_ms=%.0f import_version=%.0f",
            path, hex, at, ver);
    else
        SY_WARN("msg=\"catalog file differs from the last import; not applied\" file=%s sha256=%s "
                "imported_sha256=%s imported_at_ms=%.0f import_version=%.0f "
                "hint=\"POST /api/catalog/import to apply it (GET /api/catalog/status)\"",
                path, hex, imported, at, ver);
    cJSON_Delete(last);
    return 0;
}

int cp_catalog_load_file(cp_store_t *s, const char *path, char *err, size_t errlen)
{
    int rc = cp_catalog_import_file(s, path, NULL, NULL, err, errlen);
    return rc == 0 ? 0 : -1;
}
