#include "dp_config.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sy_hash.h"
#include "sy_catalog.h"
#include "sy_money.h"
#include "sy_util.h"

#define MAX_CONFIG_BYTES (64u << 20)

/* The protobuf message is assembled in a pool and only lives until the snapshot is built. */
typedef struct {
    h2o_mem_pool_t pool;
    char *err;
    size_t errlen;
} ctx_t;

static void *cz(ctx_t *c, size_t n)
{
    void *p = h2o_mem_alloc_pool(&c->pool, n ? n : 1);
    memset(p, 0, n ? n : 1);
    return p;
}

static char *cstr(ctx_t *c, const char *s)
{
    size_t n = strlen(s);
    char *d = h2o_mem_alloc_pool(&c->pool, n + 1);
    memcpy(d, s, n + 1);
    return d;
}

/* Fetches an optional string member; -1 (and err) when present but not a string. */
static int get_str(ctx_t *c, const cJSON *o, const char *name, const char *where, int required, char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (v == NULL || cJSON_IsNull(v)) {
        if (required)
            return sy_errf(c->err, c->errlen, "%s: missing \"%s\"", where, name);
        *out = cstr(c, "");
        return 0;
    }
    if (!cJSON_IsString(v))
        return sy_errf(c->err, c->errlen, "%s: \"%s\" must be a string", where, name);
    *out = cstr(c, v->valuestring);
    return 0;
}

static int get_uint(ctx_t *c, const cJSON *o, const char *name, const char *where, uint64_t max,
                    uint64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (v == NULL)
        return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > (double)max ||
        v->valuedouble != (double)(uint64_t)v->valuedouble)
        return sy_errf(c->err, c->errlen, "%s: \"%s\" must be a whole number 0..%llu", where, name,
                       (unsigned long long)max);
    *out = (uint64_t)v->valuedouble;
    return 0;
}

static int get_bool(ctx_t *c, const cJSON *o, const char *name, const char *where, int dflt,
                    protobuf_c_boolean *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (v == NULL) {
        *out = dflt;
        return 0;
    }
    if (!cJSON_IsBool(v))
        return sy_errf(c->err, c->errlen, "%s: \"%s\" must be true or false", where, name);
    *out = cJSON_IsTrue(v);
    return 0;
}

static int get_strings(ctx_t *c, const cJSON *o, const char *name, const char *where, char ***out, size_t *n)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    *n = 0;
    *out = NULL;
    if (v == NULL)
        return 0;
    if (!cJSON_IsArray(v))
        return sy_errf(c->err, c->errlen, "%s: \"%s\" must be an array of strings", where, name);
    size_t cnt = (size_t)cJSON_GetArraySize(v);
    *out = cz(c, cnt * sizeof(char *));
    const cJSON *e;
    cJSON_ArrayForEach(e, v)
    {
        if (!cJSON_IsString(e))
            return sy_errf(c->err, c->errlen, "%s: \"%s\" must be an array of strings", where, name);
        (*out)[(*n)++] = cstr(c, e->valuestring);
    }
    return 0;
}

static int check_keys(ctx_t *c, const cJSON *o, const char *where, const char *const *allowed)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, o)
    {
        int ok = 0;
        for (const char *const *a = allowed; *a; a++)
            if (strcmp(e->string, *a) == 0)
                ok = 1;
        if (!ok)
            return sy_errf(c->err, c->errlen, "%s: unknown field \"%s\"", where, e->string);
    }
    return 0;
}

static const cJSON *get_array(ctx_t *c, const cJSON *root, const char *name, int *bad)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
    if (v != NULL && !cJSON_IsArray(v)) {
        sy_errf(c->err, c->errlen, "\"%s\" must be an array", name);
        *bad = 1;
    }
    return v;
}

static int parse_caps(ctx_t *c, const cJSON *o, const char *where, uint32_t *caps)
{
    char **names;
    size_t n;
    if (get_strings(c, o, "capabilities", where, &names, &n) != 0)
        return -1;
    static const struct {
        const char *name;
        uint32_t bit;
    } map[] = {{"chat", DP_CAP_CHAT},
               {"tools", DP_CAP_TOOLS},
               {"json", DP_CAP_JSON},
               {"vision", DP_CAP_VISION},
               {"embeddings", DP_CAP_EMBEDDINGS}};
    *caps = n == 0 ? DP_CAP_CHAT : 0;
    for (size_t i = 0; i < n; i++) {
        size_t j;
        for (j = 0; j < sizeof(map) / sizeof(map[0]); j++)
            if (strcmp(names[i], map[j].name) == 0)
                break;
        if (j == sizeof(map) / sizeof(map[0]))
            return sy_errf(c->err, c->errlen, "%s: unknown capability \"%s\"", where, names[i]);
        *caps |= map[j].bit;
    }
    return 0;
}

static int parse_price(ctx_t *c, const cJSON *o, const char *name, const char *where, int64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    *out = 0;
    if (v == NULL)
        return 0;
    if (!cJSON_IsString(v) || sy_money_parse_usd(v->valuestring, out) != 0)
        return sy_errf(c->err, c->errlen, "%s: \"%s\" must be a decimal string of USD, e.g. \"0.15\"", where,
                       name);
    return 0;
}

/* An optional price (cache_read_per_m, cache_write_per_m): absent or null = none (*has 0). */
static int parse_opt_price(ctx_t *c, const cJSON *o, const char *name, const char *where, int64_t *out,
                           protobuf_c_boolean *has)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    *has = v != NULL && !cJSON_IsNull(v);
    *out = 0;
    return *has ? parse_price(c, o, name, where, out) : 0;
}

static int to_pb(ctx_t *c, const cJSON *root, Switchyard__Snapshot *pb)
{
    char where[200];
    int bad = 0;
    if (!cJSON_IsObject(root))
        return sy_errf(c->err, c->errlen, "the configuration must be a JSON object");

    const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "timeouts_ms");
    if (t != NULL) {
        static const char *const allowed[] = {"connect", "first_byte", "idle", "total", NULL};
        uint64_t v[4] = {0, 0, 0, 0};
        if (!cJSON_IsObject(t) || check_keys(c, t, "timeouts_ms", allowed) != 0 ||
            get_uint(c, t, "connect", "timeouts_ms", 3600000, &v[0]) ||
            get_uint(c, t, "first_byte", "timeouts_ms", 3600000, &v[1]) ||
            get_uint(c, t, "idle", "timeouts_ms", 3600000, &v[2]) ||
            get_uint(c, t, "total", "timeouts_ms", 86400000, &v[3]))
            return cJSON_IsObject(t) ? -1 : sy_errf(c->err, c->errlen, "\"timeouts_ms\" must be an object");
        pb->timeouts = cz(c, sizeof(*pb->timeouts));
        switchyard__timeouts__init(pb->timeouts);
        pb->timeouts->connect_ms = (uint32_t)v[0];
        pb->timeouts->first_byte_ms = (uint32_t)v[1];
        pb->timeouts->idle_ms = (uint32_t)v[2];
        pb->timeouts->total_ms = (uint32_t)v[3];
    }
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(root, "limits");
    if (l != NULL) {
        static const char *const allowed[] = {"max_body_bytes",        "max_json_depth", "max_attempts",
                                              "reserve_output_tokens", "max_inflight",   NULL};
        uint64_t v[5] = {0, 0, 0, 0, 0};
        if (!cJSON_IsObject(l) || check_keys(c, l, "limits", allowed) != 0 ||
            get_uint(c, l, "max_body_bytes", "limits", 1u << 30, &v[0]) ||
            get_uint(c, l, "max_json_depth", "limits", 10000, &v[1]) ||
            get_uint(c, l, "max_attempts", "limits", 8, &v[2]) ||
            get_uint(c, l, "reserve_output_tokens", "limits", 1u << 30, &v[3]) ||
            get_uint(c, l, "max_inflight", "limits", DP_MAX_INFLIGHT_MAX, &v[4]))
            return cJSON_IsObject(l) ? -1 : sy_errf(c->err, c->errlen, "\"limits\" must be an object");
        pb->limits = cz(c, sizeof(*pb->limits));
        switchyard__limits__init(pb->limits);
        pb->limits->max_body_bytes = (uint32_t)v[0];
        pb->limits->max_json_depth = (uint32_t)v[1];
        pb->limits->max_attempts = (uint32_t)v[2];
        pb->limits->reserve_output_tokens = (uint32_t)v[3];
        pb->limits->max_inflight = (uint32_t)v[4];
    }

    const cJSON *routing = cJSON_GetObjectItemCaseSensitive(root, "routing");
    if (routing != NULL) {
        sy_routing_conf_t rc;
        if (sy_catalog_routing(routing, &rc, c->err, c->errlen) != 0)
            return -1;
        Switchyard__Routing *pr = cz(c, sizeof(*pr));
        switchyard__routing__init(pr);
        pr->present = 1;
        pr->tags = cz(c, (rc.ntags ? rc.ntags : 1) * sizeof(*pr->tags));
        for (size_t i = 0; i < rc.ntags; i++) {
            Switchyard__TagRoute *t = cz(c, sizeof(*t));
            switchyard__tag_route__init(t);
            t->tag = cstr(c, rc.tags[i].tag);
            t->tier = cstr(c, rc.tags[i].tier);
            pr->tags[pr->n_tags++] = t;
        }
        pr->bar_easy_milli = rc.bar_milli[SY_DIFF_EASY];
        pr->bar_medium_milli = rc.bar_milli[SY_DIFF_MEDIUM];
        pr->bar_hard_milli = rc.bar_milli[SY_DIFF_HARD];
        pr->breaker_failures = rc.breaker_failures;
        pr->breaker_cooldown_ms = rc.breaker_cooldown_ms;
        pr->classify_all = rc.classify_all != 0;
        pb->routing = pr;
    }

    const cJSON *providers = get_array(c, root, "providers", &bad);
    const cJSON *models = get_array(c, root, "models", &bad);
    const cJSON *workspaces = get_array(c, root, "workspaces", &bad);
    const cJSON *keys = get_array(c, root, "keys", &bad);
    if (bad)
        return -1;

    pb->providers = cz(c, (size_t)cJSON_GetArraySize(providers) * sizeof(void *));
    const cJSON *e;
    cJSON_ArrayForEach(e, providers)
    {
        static const char *const allowed[] = {"id",      "kind",  "base_url",     "api_key_env",
                                              "ca_file", "probe", "stream_usage", NULL};
        snprintf(where, sizeof(where), "providers[%zu]", pb->n_providers);
        sy_probe_conf_t
            probe; /* checked so the file means the same in both modes; probes run on the control plane */
        protobuf_c_boolean stream_usage;
        Switchyard__Provider *p = cz(c, sizeof(*p));
        switchyard__provider__init(p);
        if (!cJSON_IsObject(e))
            return sy_errf(c->err, c->errlen, "%s: must be an object", where);
        if (check_keys(c, e, where, allowed) || get_str(c, e, "id", where, 1, &p->id) ||
            get_str(c, e, "kind", where, 1, &p->kind) || get_str(c, e, "base_url", where, 1, &p->base_url) ||
            get_str(c, e, "api_key_env", where, 0, &p->api_key_env) ||
            get_str(c, e, "ca_file", where, 0, &p->ca_file) ||
            get_bool(c, e, "stream_usage", where, 1, &stream_usage) ||
            sy_catalog_probe(cJSON_GetObjectItemCaseSensitive(e, "probe"), where, &probe, c->err, c->errlen))
            return -1;
        p->no_stream_usage = !stream_usage;
        pb->providers[pb->n_providers++] = p;
    }

    pb->models = cz(c, (size_t)cJSON_GetArraySize(models) * sizeof(void *));
    cJSON_ArrayForEach(e, models)
    {
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
        snprintf(where, sizeof(where), "models[%zu]", pb->n_models);
        Switchyard__Model *m = cz(c, sizeof(*m));
        switchyard__model__init(m);
        uint64_t cw = 0;
        if (!cJSON_IsObject(e))
            return sy_errf(c->err, c->errlen, "%s: must be an object", where);
        if (check_keys(c, e, where, allowed) || get_str(c, e, "id", where, 1, &m->id) ||
            get_str(c, e, "provider", where, 1, &m->provider) ||
            get_str(c, e, "upstream", where, 0, &m->upstream) ||
            parse_price(c, e, "input_per_m", where, &m->input_per_m_nano) ||
            parse_price(c, e, "output_per_m", where, &m->output_per_m_nano) ||
            parse_opt_price(c, e, "cache_read_per_m", where, &m->cache_read_per_m_nano,
                            &m->has_cache_read_price) ||
            parse_opt_price(c, e, "cache_write_per_m", where, &m->cache_write_per_m_nano,
                            &m->has_cache_write_price) ||
            get_uint(c, e, "context_window", where, UINT32_MAX, &cw) || parse_caps(c, e, where, &m->caps) ||
            get_strings(c, e, "tiers", where, &m->tiers, &m->n_tiers) ||
            sy_catalog_quality(cJSON_GetObjectItemCaseSensitive(e, "quality"), where, c->err, c->errlen))
            return -1;
        const cJSON *quality = cJSON_GetObjectItemCaseSensitive(e, "quality");
        if (cJSON_IsObject(quality) && quality->child != NULL) {
            m->quality_milli = cz(c, SY_TASK__COUNT * sizeof(uint32_t));
            sy_catalog_quality_milli(quality, m->quality_milli);
            m->n_quality_milli = SY_TASK__COUNT;
        }
        if (m->upstream[0] == '\0')
            m->upstream = m->id;
        m->context_window = (uint32_t)cw;
        pb->models[pb->n_models++] = m;
    }

    /* aliases: {"alias": "model id"}; names and targets are checked by dp_snapshot_build, the
     * same rules as the control plane's import (sy_catalog_alias_name_ok) */
    const cJSON *aliases = cJSON_GetObjectItemCaseSensitive(root, "aliases");
    if (sy_catalog_aliases(aliases, c->err, c->errlen) != 0)
        return -1;
    if (cJSON_IsObject(aliases)) {
        pb->aliases = cz(c, (size_t)cJSON_GetArraySize(aliases) * sizeof(void *));
        cJSON_ArrayForEach(e, aliases)
        {
            Switchyard__ModelAlias *a = cz(c, sizeof(*a));
            switchyard__model_alias__init(a);
            a->alias = cstr(c, e->string);
            a->model = cstr(c, e->valuestring);
            pb->aliases[pb->n_aliases++] = a;
        }
    }

    pb->workspaces = cz(c, (size_t)cJSON_GetArraySize(workspaces) * sizeof(void *));
    cJSON_ArrayForEach(e, workspaces)
    {
        static const char *const allowed[] = {"id", "active", "name", "rpm", "tpm", NULL};
        snprintf(where, sizeof(where), "workspaces[%zu]", pb->n_workspaces);
        Switchyard__Workspace *w = cz(c, sizeof(*w));
        switchyard__workspace__init(w);
        uint64_t rpm = 0, tpm = 0;
        if (!cJSON_IsObject(e))
            return sy_errf(c->err, c->errlen, "%s: must be an object", where);
        if (check_keys(c, e, where, allowed) || get_str(c, e, "id", where, 1, &w->id) ||
            get_bool(c, e, "active", where, 1, &w->active) ||
            get_uint(c, e, "rpm", where, SY_LIMIT_RPM_MAX, &rpm) ||
            get_uint(c, e, "tpm", where, SY_LIMIT_TPM_MAX, &tpm))
            return -1;
        w->rpm = (uint32_t)rpm;
        w->tpm = (uint32_t)tpm;
        pb->workspaces[pb->n_workspaces++] = w;
    }

    pb->keys = cz(c, (size_t)cJSON_GetArraySize(keys) * sizeof(void *));
    cJSON_ArrayForEach(e, keys)
    {
        static const char *const allowed[] = {"id",      "sha256",     "workspace", "allowed_models",
                                              "revoked", "expires_at", "name",      "rpm",
                                              "tpm",     NULL};
        snprintf(where, sizeof(where), "keys[%zu]", pb->n_keys);
        Switchyard__ApiKey *k = cz(c, sizeof(*k));
        switchyard__api_key__init(k);
        char *hex;
        uint64_t exp = 0, rpm = 0, tpm = 0;
        if (!cJSON_IsObject(e))
            return sy_errf(c->err, c->errlen, "%s: must be an object", where);
        if (check_keys(c, e, where, allowed) || get_str(c, e, "id", where, 1, &k->id) ||
            get_str(c, e, "sha256", where, 1, &hex) || get_str(c, e, "workspace", where, 1, &k->workspace) ||
            get_strings(c, e, "allowed_models", where, &k->allowed_models, &k->n_allowed_models) ||
            get_bool(c, e, "revoked", where, 0, &k->revoked) ||
            get_uint(c, e, "expires_at", where, INT64_MAX / 2, &exp) ||
            get_uint(c, e, "rpm", where, SY_LIMIT_RPM_MAX, &rpm) ||
            get_uint(c, e, "tpm", where, SY_LIMIT_TPM_MAX, &tpm))
            return -1;
        k->expires_at = (int64_t)exp;
        k->rpm = (uint32_t)rpm;
        k->tpm = (uint32_t)tpm;
        k->sha256.data = cz(c, SY_SHA256_LEN);
        k->sha256.len = SY_SHA256_LEN;
        if (sy_unhex(hex, strlen(hex), k->sha256.data, SY_SHA256_LEN) != 0)
            return sy_errf(c->err, c->errlen, "%s: \"sha256\" must be 64 hex digits", where);
        pb->keys[pb->n_keys++] = k;
    }
    return 0;
}

dp_snapshot_t *dp_config_parse(const char *json, size_t len, uint64_t version, char *err, size_t errlen)
{
    ctx_t c = {.err = err, .errlen = errlen};
    h2o_mem_init_pool(&c.pool);
    dp_snapshot_t *s = NULL;
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (root == NULL) {
        const char *at = cJSON_GetErrorPtr();
        sy_errf(err, errlen, "not valid JSON (near byte %ld)", at ? (long)(at - json) : -1L);
        goto out;
    }
    Switchyard__Snapshot pb;
    switchyard__snapshot__init(&pb);
    pb.version = version;
    if (to_pb(&c, root, &pb) == 0)
        s = dp_snapshot_build(&pb, err, errlen);
out:
    cJSON_Delete(root);
    h2o_mem_clear_pool(&c.pool);
    return s;
}

dp_snapshot_t *dp_config_load(const char *path, uint64_t version, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        sy_errf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(MAX_CONFIG_BYTES + 1);
    size_t n = buf ? fread(buf, 1, MAX_CONFIG_BYTES + 1, f) : 0;
    int rerr = ferror(f);
    fclose(f);
    dp_snapshot_t *s = NULL;
    if (buf == NULL)
        sy_errf(err, errlen, "out of memory");
    else if (rerr)
        sy_errf(err, errlen, "%s: read error", path);
    else if (n > MAX_CONFIG_BYTES)
        sy_errf(err, errlen, "%s: larger than %u bytes", path, MAX_CONFIG_BYTES);
    else
        s = dp_config_parse(buf, n, version, err, errlen);
    free(buf);
    return s;
}
