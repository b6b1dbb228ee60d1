#include "cp_catalog.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sy_catalog.h"
#include "sy_hash.h"
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
    ST_COUNT
};

static const char *const sql[ST_COUNT] = {
    [ST_PROVIDER] = "INSERT INTO providers (id, kind, base_url, api_key_env, ca_file, probe_path, probe_interval_ms, "
                    "probe_timeout_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
                    "ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, base_url = excluded.base_url, "
                    "api_key_env = excluded.api_key_env, ca_file = excluded.ca_file, probe_path = excluded.probe_path, "
                    "probe_interval_ms = excluded.probe_interval_ms, probe_timeout_ms = excluded.probe_timeout_ms",
    [ST_PROVIDER_EXISTS] = "SELECT 1 FROM providers WHERE id = ?1",
    [ST_MODEL] = "INSERT INTO models (id, provider_id, upstream, input_per_m_nano, output_per_m_nano, context_window, "
                 "caps, tiers, quality) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
                 "ON CONFLICT (id) DO UPDATE SET provider_id = excluded.provider_id, upstream = excluded.upstream, "
                 "input_per_m_nano = excluded.input_per_m_nano, output_per_m_nano = excluded.output_per_m_nano, "
                 "context_window = excluded.context_window, caps = excluded.caps, tiers = excluded.tiers, "
                 "quality = excluded.quality",
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
};

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
    };
    static const char *const timeouts_allowed[] = {"connect", "first_byte", "idle", "total", NULL};
    static const char *const limits_allowed[] = {"max_body_bytes", "max_json_depth", "max_attempts",
                                                 "reserve_output_tokens", NULL};
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

static int load_providers(load_t *l, const cJSON *arr)
{
    if (seen_reset(l, arr) != 0)
        return -1;
    static const char *const allowed[] = {"id", "kind", "base_url", "api_key_env", "ca_file", "probe", NULL};
    const cJSON *e;
    size_t i = 0;
    cJSON_ArrayForEach(e, arr)
    {
        char where[200];
        const char *id, *kind, *base_url, *env, *ca;
        sy_probe_conf_t probe;
        snprintf(where, sizeof(where), "providers[%zu]", i++);
        if (!cJSON_IsObject(e))
            return sy_errf(l->err, l->errlen, "%s: must be an object", where);
        if (fields_known(l, e, where, allowed) || get_str(l, e, "id", where, 1, &id) ||
            get_str(l, e, "kind", where, 1, &kind) || get_str(l, e, "base_url", where, 1, &base_url) ||
            get_str(l, e, "api_key_env", where, 0, &env) || get_str(l, e, "ca_file", where, 0, &ca) ||
            sy_catalog_probe(cJSON_GetObjectItemCaseSensitive(e, "probe"), where, &probe, l->err, l->errlen))
            return -1;
        if (!valid_ident(id))
            return sy_errf(l->err, l->errlen, "%s: invalid id", where);
        snprintf(where, sizeof(where), "provider %s", id);
        if (seen_before(l, id))
            return sy_errf(l->err, l->errlen, "%s: duplicate id", where);
        if (strcmp(kind, "openai") != 0)
            return sy_errf(l->err, l->errlen, "%s: unknown kind '%s' (supported: openai)", where, kind);
        if ((strncmp(base_url, "http://", 7) != 0 && strncmp(base_url, "https://", 8) != 0) || !valid_ident(base_url))
            return sy_errf(l->err, l->errlen, "%s: base_url must be an http:// or https:// URL", where);
        if (ca && sy_has_ctl(ca, strlen(ca)))
            return sy_errf(l->err, l->errlen, "%s: invalid ca_file", where);
        if (env && sy_has_ctl(env, strlen(env)))
            return sy_errf(l->err, l->errlen, "%s: invalid api_key_env", where);
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
        if (run(l, ST_PROVIDER, where) != 0)
            return -1;
    }
    return 0;
}

static int load_models(load_t *l, const cJSON *arr)
{
    if (seen_reset(l, arr) != 0)
        return -1;
    static const char *const allowed[] = {"id",    "provider", "upstream", "input_per_m", "output_per_m", "context_window",
                                          "capabilities", "tiers", "quality", "description", NULL};
    const cJSON *e;
    size_t i = 0;
    cJSON_ArrayForEach(e, arr)
    {
        char where[200];
        const char *id, *provider, *upstream;
        sy_nano_t in, out;
        uint64_t cw;
        int cw_present;
        uint32_t caps;
        const cJSON *tiers;
        snprintf(where, sizeof(where), "models[%zu]", i++);
        if (!cJSON_IsObject(e))
            return sy_errf(l->err, l->errlen, "%s: must be an object", where);
        if (fields_known(l, e, where, allowed) || get_str(l, e, "id", where, 1, &id) ||
            get_str(l, e, "provider", where, 1, &provider) || get_str(l, e, "upstream", where, 0, &upstream) ||
            get_price(l, e, "input_per_m", where, &in) || get_price(l, e, "output_per_m", where, &out) ||
            get_uint(l, e, "context_window", where, UINT32_MAX, &cw, &cw_present) || get_caps(l, e, where, &caps) ||
            get_strings(l, e, "tiers", where, &tiers))
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
        const cJSON *quality = cJSON_GetObjectItemCaseSensitive(e, "quality");
        if (sy_catalog_quality(quality, where, l->err, l->errlen) != 0 || bind_json(l, st, 9, quality) != 0 ||
            run(l, ST_MODEL, where) != 0)
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

int cp_catalog_load_json(cp_store_t *s, const char *json, size_t len, char *err, size_t errlen)
{
    load_t l = {.store = s, .db = cp_store_db(s), .now = (int64_t)time(NULL), .err = err, .errlen = errlen};
    int rc = -1, bad = 0;
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

    if (cp_store_begin_write(s, err, errlen) != 0)
        goto out;
    for (int i = 0; i < ST_COUNT; i++)
        if (cp_store_prepare(s, sql[i], &l.st[i], err, errlen) != 0)
            goto rollback;
    /* Order matters: each section may reference the ones before it. */
    if (load_settings(&l, root) != 0 || load_routing(&l, root) != 0 || load_providers(&l, providers) != 0 || load_models(&l, models) != 0 ||
        load_workspaces(&l, workspaces) != 0 || load_keys(&l, keys) != 0)
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
    cJSON_Delete(root);
    return rc;
}

int cp_catalog_load_file(cp_store_t *s, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return sy_errf(err, errlen, "%s: %s", path, strerror(errno));
    char *buf = malloc(MAX_CATALOG_BYTES + 1);
    size_t n = buf ? fread(buf, 1, MAX_CATALOG_BYTES + 1, f) : 0;
    int rerr = ferror(f);
    fclose(f);
    int rc = -1;
    if (buf == NULL)
        sy_errf(err, errlen, "out of memory");
    else if (rerr)
        sy_errf(err, errlen, "%s: read error", path);
    else if (n > MAX_CATALOG_BYTES)
        sy_errf(err, errlen, "%s: larger than %u bytes", path, MAX_CATALOG_BYTES);
    else if ((rc = cp_catalog_load_json(s, buf, n, err, errlen)) != 0) {
        char why[512];
        snprintf(why, sizeof(why), "%s", err);
        sy_errf(err, errlen, "%s: %s", path, why);
    }
    free(buf);
    return rc;
}
