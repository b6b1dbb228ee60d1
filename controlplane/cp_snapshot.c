#include "cp_snapshot.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "snapshot.pb-c.h"
#include "sy_arena.h"
#include "sy_catalog.h"
#include "sy_hash.h"
#include "sy_util.h"

/* The unpacked message lives in an arena for the duration of one build: hundreds of small
 * strings and structs, all released at once after packing. */
typedef struct {
    cp_store_t *store;
    sy_arena_t arena;
    int oom;
    char *err;
    size_t errlen;
    /* cp_snapshot_build_partial: JSON arrays of the key and workspace ids to read (NULL: all) */
    const char *kf, *wf;
} build_t;

static void *zalloc(build_t *b, size_t n)
{
    void *p = sy_arena_alloc(&b->arena, n ? n : 1);
    if (p == NULL) {
        b->oom = 1;
        return NULL;
    }
    memset(p, 0, n ? n : 1);
    return p;
}

static char *col_str(build_t *b, sqlite3_stmt *st, int col)
{
    const char *s = (const char *)sqlite3_column_text(st, col);
    size_t n = s ? (size_t)sqlite3_column_bytes(st, col) : 0;
    char *d = zalloc(b, n + 1);
    if (d && n)
        memcpy(d, s, n);
    return d;
}

/* A stored JSON array of strings (tiers, allowed_models) into a protobuf repeated string. */
static int col_strings(build_t *b, sqlite3_stmt *st, int col, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    const char *txt = (const char *)sqlite3_column_text(st, col);
    if (txt == NULL)
        return 0;
    cJSON *arr = cJSON_ParseWithLength(txt, (size_t)sqlite3_column_bytes(st, col));
    if (!cJSON_IsArray(arr)) {
        cJSON_Delete(arr);
        return sy_errf(b->err, b->errlen, "stored value is not a JSON array: %.60s", txt);
    }
    size_t cnt = (size_t)cJSON_GetArraySize(arr);
    *out = zalloc(b, cnt * sizeof(char *));
    const cJSON *e;
    cJSON_ArrayForEach(e, arr)
    {
        if (*out == NULL || !cJSON_IsString(e))
            continue;
        size_t len = strlen(e->valuestring);
        char *d = zalloc(b, len + 1);
        if (d == NULL)
            break;
        memcpy(d, e->valuestring, len);
        (*out)[(*n)++] = d;
    }
    cJSON_Delete(arr);
    return b->oom ? sy_errf(b->err, b->errlen, "out of memory") : 0;
}

/* `filter`, when the SQL has a ?1: bound to it (a JSON array of ids for json_each). */
static int count_rows_f(build_t *b, const char *table_sql, const char *filter, size_t *n)
{
    sqlite3_stmt *st;
    if (cp_store_prepare(b->store, table_sql, &st, b->err, b->errlen) != 0)
        return -1;
    if (filter != NULL)
        sqlite3_bind_text(st, 1, filter, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *n = rc == SQLITE_ROW ? (size_t)sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0
                            : sy_errf(b->err, b->errlen, "count: %s", sqlite3_errmsg(cp_store_db(b->store)));
}

/* Runs `sql`, calling `row` per result; `row` appends to its array in pb, whose count is *n.
 * More rows than `cap` cannot happen inside one read transaction (the counts came from the
 * same view); the bound only keeps a broken invariant from writing out of bounds. */
typedef int (*row_fn)(build_t *b, sqlite3_stmt *st, Switchyard__Snapshot *pb);

static int count_rows(build_t *b, const char *table_sql, size_t *n)
{
    return count_rows_f(b, table_sql, NULL, n);
}

static int each_row_f(build_t *b, Switchyard__Snapshot *pb, const char *sql, const char *filter, size_t cap,
                      const size_t *n, row_fn row)
{
    sqlite3_stmt *st;
    if (cp_store_prepare(b->store, sql, &st, b->err, b->errlen) != 0)
        return -1;
    if (filter != NULL)
        sqlite3_bind_text(st, 1, filter, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < cap) {
        if (row(b, st, pb) != 0 || b->oom) {
            sqlite3_finalize(st);
            return b->oom ? sy_errf(b->err, b->errlen, "out of memory") : -1;
        }
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        sy_errf(b->err, b->errlen, "read: %s", sqlite3_errmsg(cp_store_db(b->store)));
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_finalize(st);
    return 0;
}

static int each_row(build_t *b, Switchyard__Snapshot *pb, const char *sql, size_t cap, const size_t *n,
                    row_fn row)
{
    return each_row_f(b, pb, sql, NULL, cap, n, row);
}

static int provider_row(build_t *b, sqlite3_stmt *st, Switchyard__Snapshot *pb)
{
    Switchyard__Provider *p = zalloc(b, sizeof(*p));
    if (p == NULL)
        return -1;
    switchyard__provider__init(p);
    p->id = col_str(b, st, 0);
    p->kind = col_str(b, st, 1);
    p->base_url = col_str(b, st, 2);
    p->api_key_env = col_str(b, st, 3);
    p->ca_file = col_str(b, st, 4);
    p->health = (uint32_t)sqlite3_column_int(st, 5);
    p->no_stream_usage = sqlite3_column_int(st, 6) == 0;
    pb->providers[pb->n_providers++] = p;
    return 0;
}

static int model_row(build_t *b, sqlite3_stmt *st, Switchyard__Snapshot *pb)
{
    Switchyard__Model *m = zalloc(b, sizeof(*m));
    if (m == NULL)
        return -1;
    switchyard__model__init(m);
    m->id = col_str(b, st, 0);
    m->provider = col_str(b, st, 1);
    m->upstream = col_str(b, st, 2);
    m->input_per_m_nano = sqlite3_column_int64(st, 3);
    m->output_per_m_nano = sqlite3_column_int64(st, 4);
    m->context_window = (uint32_t)sqlite3_column_int64(st, 5);
    m->caps = (uint32_t)sqlite3_column_int64(st, 6);
    if ((m->has_cache_read_price = sqlite3_column_type(st, 9) != SQLITE_NULL))
        m->cache_read_per_m_nano = sqlite3_column_int64(st, 9);
    if ((m->has_cache_write_price = sqlite3_column_type(st, 10) != SQLITE_NULL))
        m->cache_write_per_m_nano = sqlite3_column_int64(st, 10);
    pb->models[pb->n_models++] = m;
    if (sqlite3_column_type(st, 8) != SQLITE_NULL) {
        /* stored only after sy_catalog_quality accepted it */
        cJSON *q = cJSON_ParseWithLength((const char *)sqlite3_column_text(st, 8),
                                         (size_t)sqlite3_column_bytes(st, 8));
        if (cJSON_IsObject(q) && q->child != NULL) {
            m->quality_milli = zalloc(b, SY_TASK__COUNT * sizeof(uint32_t));
            if (m->quality_milli != NULL) {
                sy_catalog_quality_milli(q, m->quality_milli);
                m->n_quality_milli = SY_TASK__COUNT;
            }
        }
        cJSON_Delete(q);
    }
    return col_strings(b, st, 7, &m->tiers, &m->n_tiers);
}

static int alias_row(build_t *b, sqlite3_stmt *st, Switchyard__Snapshot *pb)
{
    Switchyard__ModelAlias *a = zalloc(b, sizeof(*a));
    if (a == NULL)
        return -1;
    switchyard__model_alias__init(a);
    a->alias = col_str(b, st, 0);
    a->model = col_str(b, st, 1);
    pb->aliases[pb->n_aliases++] = a;
    return b->oom ? -1 : 0;
}

/* meta.routing (the catalog's `routing` section as stored by cp_catalog) into the snapshot. */
static int routing(build_t *b, Switchyard__Snapshot *pb)
{
    sqlite3_stmt *st;
    if (cp_store_prepare(b->store, "SELECT value FROM meta WHERE key = 'routing'", &st, b->err, b->errlen) !=
        0)
        return -1;
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(st);
        return rc == SQLITE_DONE
                   ? 0
                   : sy_errf(b->err, b->errlen, "read routing: %s", sqlite3_errmsg(cp_store_db(b->store)));
    }
    cJSON *j =
        cJSON_ParseWithLength((const char *)sqlite3_column_text(st, 0), (size_t)sqlite3_column_bytes(st, 0));
    sqlite3_finalize(st);
    sy_routing_conf_t conf;
    char why[200];
    if (j == NULL || sy_catalog_routing(j, &conf, why, sizeof(why)) != 0) {
        cJSON_Delete(j);
        return sy_errf(b->err, b->errlen, "stored routing section is invalid");
    }
    Switchyard__Routing *r = zalloc(b, sizeof(*r));
    if (r == NULL) {
        cJSON_Delete(j);
        return -1;
    }
    switchyard__routing__init(r);
    r->present = 1;
    r->tags = zalloc(b, (conf.ntags ? conf.ntags : 1) * sizeof(*r->tags));
    for (size_t i = 0; r->tags && i < conf.ntags; i++) {
        Switchyard__TagRoute *t = zalloc(b, sizeof(*t));
        if (t == NULL)
            break;
        switchyard__tag_route__init(t);
        size_t tl = strlen(conf.tags[i].tag), vl = strlen(conf.tags[i].tier);
        t->tag = zalloc(b, tl + 1);
        t->tier = zalloc(b, vl + 1);
        if (t->tag && t->tier) {
            memcpy(t->tag, conf.tags[i].tag, tl);
            memcpy(t->tier, conf.tags[i].tier, vl);
        }
        r->tags[r->n_tags++] = t;
    }
    r->bar_easy_milli = conf.bar_milli[SY_DIFF_EASY];
    r->bar_medium_milli = conf.bar_milli[SY_DIFF_MEDIUM];
    r->bar_hard_milli = conf.bar_milli[SY_DIFF_HARD];
    r->breaker_failures = conf.breaker_failures;
    r->breaker_cooldown_ms = conf.breaker_cooldown_ms;
    r->classify_all = conf.classify_all != 0;
    pb->routing = r;
    cJSON_Delete(j);
    return b->oom ? sy_errf(b->err, b->errlen, "out of memory") : 0;
}

static int workspace_row(build_t *b, sqlite3_stmt *st, Switchyard__Snapshot *pb)
{
    Switchyard__Workspace *w = zalloc(b, sizeof(*w));
    if (w == NULL)
        return -1;
    switchyard__workspace__init(w);
    w->id = col_str(b, st, 0);
    w->active = sqlite3_column_int(st, 1) != 0;
    w->has_balance =
        1; /* the control plane keeps a ledger: every workspace has a balance (0 to begin with) */
    w->balance_nano = sqlite3_column_int64(st, 2);
    w->rpm = (uint32_t)sqlite3_column_int64(st, 3); /* NULL reads as 0: no limit */
    w->tpm = (uint32_t)sqlite3_column_int64(st, 4);
    pb->workspaces[pb->n_workspaces++] = w;
    return 0;
}

static int key_row(build_t *b, sqlite3_stmt *st, Switchyard__Snapshot *pb)
{
    Switchyard__ApiKey *k = zalloc(b, sizeof(*k));
    if (k == NULL)
        return -1;
    switchyard__api_key__init(k);
    k->id = col_str(b, st, 0);
    size_t n = (size_t)sqlite3_column_bytes(st, 1);
    k->sha256.len = n;
    k->sha256.data = zalloc(b, n);
    if (k->sha256.data && n)
        memcpy(k->sha256.data, sqlite3_column_blob(st, 1), n);
    k->workspace = col_str(b, st, 2);
    k->revoked = sqlite3_column_int(st, 4) != 0;
    k->expires_at = sqlite3_column_int64(st, 5);
    k->budget_nano = sqlite3_column_int64(st, 6); /* NULL reads as 0: no cap */
    k->rpm = (uint32_t)sqlite3_column_int64(st, 7);
    k->tpm = (uint32_t)sqlite3_column_int64(st, 8);
    k->spent_nano = sqlite3_column_int64(st, 9);
    if (sqlite3_column_type(st, 10) == SQLITE_BLOB && sqlite3_column_bytes(st, 10) == SY_SHA256_LEN) {
        k->prev_sha256.len = SY_SHA256_LEN; /* a rotation's previous secret, with its grace */
        k->prev_sha256.data = zalloc(b, SY_SHA256_LEN);
        if (k->prev_sha256.data)
            memcpy(k->prev_sha256.data, sqlite3_column_blob(st, 10), SY_SHA256_LEN);
        k->prev_valid_until_ms = sqlite3_column_int64(st, 11);
    }
    pb->keys[pb->n_keys++] = k;
    return col_strings(b, st, 3, &k->allowed_models, &k->n_allowed_models);
}

/* timeouts_ms.* and limits.* from meta; absent settings stay 0, which the data plane reads as
 * "use the default". */
static int settings(build_t *b, Switchyard__Snapshot *pb)
{
    pb->timeouts = zalloc(b, sizeof(*pb->timeouts));
    pb->limits = zalloc(b, sizeof(*pb->limits));
    if (pb->timeouts == NULL || pb->limits == NULL)
        return sy_errf(b->err, b->errlen, "out of memory");
    switchyard__timeouts__init(pb->timeouts);
    switchyard__limits__init(pb->limits);
    const struct {
        const char *key;
        uint32_t *dst;
    } map[] = {
        {"timeouts_ms.connect", &pb->timeouts->connect_ms},
        {"timeouts_ms.first_byte", &pb->timeouts->first_byte_ms},
        {"timeouts_ms.idle", &pb->timeouts->idle_ms},
        {"timeouts_ms.total", &pb->timeouts->total_ms},
        {"limits.max_body_bytes", &pb->limits->max_body_bytes},
        {"limits.max_json_depth", &pb->limits->max_json_depth},
        {"limits.max_attempts", &pb->limits->max_attempts},
        {"limits.reserve_output_tokens", &pb->limits->reserve_output_tokens},
        {"limits.max_inflight", &pb->limits->max_inflight},
        {"fleet.live_nodes", &pb->live_nodes}, /* cp_bus.c keeps it; shares in docs/admission.md */
    };
    sqlite3_stmt *st;
    if (cp_store_prepare(b->store,
                         "SELECT key, value FROM meta WHERE key LIKE 'timeouts_ms.%' OR key LIKE 'limits.%' "
                         "OR key = 'fleet.live_nodes'",
                         &st, b->err, b->errlen) != 0)
        return -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(st, 0);
        for (size_t i = 0; key && i < sizeof(map) / sizeof(map[0]); i++)
            if (strcmp(key, map[i].key) == 0)
                *map[i].dst = (uint32_t)sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE
               ? 0
               : sy_errf(b->err, b->errlen, "read meta: %s", sqlite3_errmsg(cp_store_db(b->store)));
}

static int ws_cmp(const void *key, const void *elem)
{
    return strcmp((const char *)key, (*(Switchyard__Workspace *const *)elem)->id);
}

/* Fills `shares` for the group of rows [0, n) of one workspace (node, recent spend). */
static int share_group(build_t *b, Switchyard__Snapshot *pb, const char *ws, char **node,
                       const int64_t *spent, size_t n, uint32_t floor_each, uint32_t nlive)
{
    __int128 total = 0;
    for (size_t i = 0; i < n; i++)
        total += spent[i];
    Switchyard__Workspace **w =
        bsearch(ws, pb->workspaces, pb->n_workspaces, sizeof(*pb->workspaces), ws_cmp);
    if (total <= 0 || w == NULL)
        return 0; /* free models only: nothing to weigh by, the equal share stands */
    (*w)->shares = zalloc(b, n * sizeof(void *));
    if ((*w)->shares == NULL)
        return -1;
    uint32_t rest = 1000000u - floor_each * nlive;
    for (size_t i = 0; i < n; i++) {
        Switchyard__NodeShare *sh = zalloc(b, sizeof(*sh));
        if (sh == NULL)
            return -1;
        switchyard__node_share__init(sh);
        sh->node = node[i];
        sh->ppm = floor_each +
                  (uint32_t)((__int128)rest * spent[i] / total); /* rounds down: the sum stays <= 1e6 */
        (*w)->shares[(*w)->n_shares++] = sh;
    }
    (*w)->other_share_ppm = floor_each;
    return 0;
}

/* Demand-weighted shares (cp_snapshot.h): one grouped read of the recent usage of live nodes. */
static int shares(build_t *b, Switchyard__Snapshot *pb, int64_t now_ms)
{
    sqlite3_stmt *st;
    int64_t nlive = 0;
    if (cp_store_prepare(b->store, "SELECT count(*) FROM dp_nodes WHERE last_seen_ms >= ?1", &st, b->err,
                         b->errlen) != 0)
        return -1;
    sqlite3_bind_int64(st, 1, now_ms - CP_LIVE_NODE_MS);
    if (sqlite3_step(st) == SQLITE_ROW)
        nlive = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (nlive < 2)
        return 0; /* one node (or none yet) holds the whole balance */
    /* The window's rows by usage_received, whatever the planner would rather do: left to itself
     * it walked usage_workspace_log (every usage row ever, to save the GROUP BY's sort) — 0.7 s
     * per build at 3 million rows, i.e. per revocation, against 5 ms through the time index.
     * A partial build (cp_snapshot_build_partial) weighs only the workspaces it reads. */
#define SHARES_SQL                                                                                           \
    "SELECT u.workspace_id, u.node, SUM(u.cost_nano) FROM usage u INDEXED BY usage_received "                \
    "JOIN dp_nodes d ON d.id = u.node WHERE u.received_ms >= ?1 AND d.last_seen_ms >= ?2 "
#define SHARES_GROUP " GROUP BY u.workspace_id, u.node ORDER BY u.workspace_id, u.node"
    if (cp_store_prepare(b->store,
                         b->wf ? SHARES_SQL "AND u.workspace_id IN (SELECT value FROM json_each(?3))" SHARES_GROUP
                               : SHARES_SQL SHARES_GROUP,
                         &st, b->err, b->errlen) != 0)
        return -1;
#undef SHARES_SQL
#undef SHARES_GROUP
    sqlite3_bind_int64(st, 1, now_ms - CP_SHARE_WINDOW_MS);
    sqlite3_bind_int64(st, 2, now_ms - CP_LIVE_NODE_MS);
    if (b->wf)
        sqlite3_bind_text(st, 3, b->wf, -1, SQLITE_STATIC);
    uint32_t floor_each = CP_SHARE_FLOOR_PPM / (uint32_t)nlive;
    /* one workspace's rows at a time; at most one row per live node (same read transaction) */
    char **node = zalloc(b, (size_t)nlive * sizeof(char *)), *ws = NULL;
    int64_t *spent = zalloc(b, (size_t)nlive * sizeof(int64_t));
    size_t n = 0;
    int rc = SQLITE_DONE, bad = node == NULL || spent == NULL;
    while (!bad && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        if (ws != NULL && (id == NULL || strcmp(id, ws) != 0)) {
            bad = share_group(b, pb, ws, node, spent, n, floor_each, (uint32_t)nlive) != 0;
            n = 0;
        }
        if (n == 0)
            ws = col_str(b, st, 0);
        if (n < (size_t)nlive) {
            node[n] = col_str(b, st, 1);
            spent[n++] = sqlite3_column_int64(st, 2);
        }
        bad |= b->oom;
    }
    if (!bad && rc != SQLITE_DONE) {
        sqlite3_finalize(st);
        return sy_errf(b->err, b->errlen, "read usage shares: %s", sqlite3_errmsg(cp_store_db(b->store)));
    }
    sqlite3_finalize(st);
    if (!bad && n > 0)
        bad = share_group(b, pb, ws, node, spent, n, floor_each, (uint32_t)nlive) != 0;
    return bad || b->oom ? sy_errf(b->err, b->errlen, "out of memory") : 0;
}

#define WS_SQL                                                                                               \
    "SELECT w.id, w.active, COALESCE(b.balance_nano, 0), w.rpm, w.tpm FROM workspaces w "                    \
    "LEFT JOIN balances b ON b.workspace_id = w.id"
/* a previous secret only when its rotation gave it a grace (revoked: none) */
#define KEY_SQL                                                                                              \
    "SELECT k.id, k.sha256, k.workspace_id, k.allowed_models, k.revoked, k.expires_at, k.budget_nano, "      \
    "k.rpm, "                                                                                                \
    "k.tpm, COALESCE(s.spent_nano, 0), p.sha256, p.valid_until_ms FROM api_keys k "                          \
    "LEFT JOIN key_spend s ON s.key_id = k.id "                                                              \
    "LEFT JOIN api_key_prev p ON p.key_id = k.id AND p.valid_until_ms > p.rotated_ms AND k.revoked = 0"

static int read_all(build_t *b, Switchyard__Snapshot *pb)
{
    size_t np, nm, nw, nk, na;
    if (cp_store_snapshot_version(b->store, &pb->version, b->err, b->errlen) != 0 ||
        count_rows(b, "SELECT count(*) FROM providers", &np) != 0 ||
        count_rows(b, "SELECT count(*) FROM models", &nm) != 0 ||
        count_rows_f(b,
                     b->wf ? "SELECT count(*) FROM workspaces WHERE id IN (SELECT value FROM json_each(?1))"
                           : "SELECT count(*) FROM workspaces",
                     b->wf, &nw) != 0 ||
        count_rows_f(b,
                     b->kf ? "SELECT count(*) FROM api_keys WHERE id IN (SELECT value FROM json_each(?1))"
                           : "SELECT count(*) FROM api_keys",
                     b->kf, &nk) != 0 ||
        count_rows(b, "SELECT count(*) FROM model_aliases", &na) != 0)
        return -1;
    pb->providers = zalloc(b, np * sizeof(void *));
    pb->models = zalloc(b, nm * sizeof(void *));
    pb->workspaces = zalloc(b, nw * sizeof(void *));
    pb->keys = zalloc(b, nk * sizeof(void *));
    pb->aliases = zalloc(b, na * sizeof(void *));
    if (b->oom)
        return sy_errf(b->err, b->errlen, "out of memory");
    if (each_row(b, pb,
                 "SELECT id, kind, base_url, api_key_env, ca_file, health, stream_usage "
                 "FROM providers ORDER BY id",
                 np, &pb->n_providers, provider_row) != 0 ||
        each_row(
            b, pb,
            "SELECT id, provider_id, upstream, input_per_m_nano, output_per_m_nano, context_window, "
            "caps, tiers, quality, cache_read_per_m_nano, cache_write_per_m_nano FROM models ORDER BY id",
            nm, &pb->n_models, model_row) != 0 ||
        each_row_f(b, pb,
                   b->wf ? WS_SQL " WHERE w.id IN (SELECT value FROM json_each(?1)) ORDER BY w.id"
                         : WS_SQL " ORDER BY w.id",
                   b->wf, nw, &pb->n_workspaces, workspace_row) != 0 ||
        each_row_f(b, pb,
                   b->kf ? KEY_SQL " WHERE k.id IN (SELECT value FROM json_each(?1)) ORDER BY k.id"
                         : KEY_SQL " ORDER BY k.id",
                   b->kf, nk, &pb->n_keys, key_row) != 0 ||
        each_row(b, pb, "SELECT alias, model_id FROM model_aliases ORDER BY alias", na, &pb->n_aliases,
                 alias_row) != 0)
        return -1;
    if (settings(b, pb) != 0 || shares(b, pb, pb->created_at_ms) != 0)
        return -1;
    return routing(b, pb);
}

static int build_any(cp_store_t *s, const char *kf, const char *wf, uint8_t **out, size_t *out_len,
                     uint64_t *version, char *err, size_t errlen)
{
    build_t b = {.store = s, .err = err, .errlen = errlen, .kf = kf, .wf = wf};
    *out = NULL;
    *out_len = 0;
    Switchyard__Snapshot pb;
    switchyard__snapshot__init(&pb);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    pb.created_at_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;

    int rc = -1;
    if (cp_store_begin_read(s, err, errlen) != 0)
        return -1;
    int read_rc = read_all(&b, &pb);
    cp_store_end_read(s);
    if (read_rc == 0) {
        size_t n = switchyard__snapshot__get_packed_size(&pb);
        uint8_t *buf = malloc(n ? n : 1);
        if (buf == NULL) {
            sy_errf(err, errlen, "out of memory");
        } else {
            *out_len = switchyard__snapshot__pack(&pb, buf);
            *out = buf;
            if (version)
                *version = pb.version;
            rc = 0;
        }
    }
    sy_arena_free(&b.arena);
    return rc;
}

int cp_snapshot_build(cp_store_t *s, uint8_t **out, size_t *out_len, uint64_t *version, char *err,
                      size_t errlen)
{
    return build_any(s, NULL, NULL, out, out_len, version, err, errlen);
}

int cp_snapshot_build_partial(cp_store_t *s, const char *key_ids, const char *ws_ids, uint8_t **out,
                              size_t *out_len, uint64_t *version, char *err, size_t errlen)
{
    return build_any(s, key_ids ? key_ids : "[]", ws_ids ? ws_ids : "[]", out, out_len, version, err, errlen);
}
