/* Unit tests for the control plane's store, catalog loader and snapshot builder. The snapshot
 * is checked the way a data plane would see it: unpacked and fed to dp_snapshot_build. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cp_admin.h"
#include "cp_catalog.h"
#include "cp_snapshot.h"
#include "cp_store.h"
#include "dp_config.h"
#include "dp_snapshot.h"
#include "cp_probe.h"
#include "sy_catalog.h"
#include "sy_test.h"

/* (int) casts: the two are distinct anonymous enums */
_Static_assert((int)CP_CAP_TOOLS == (int)DP_CAP_TOOLS && (int)CP_CAP_JSON == (int)DP_CAP_JSON &&
                   (int)CP_CAP_VISION == (int)DP_CAP_VISION &&
                   (int)CP_CAP_EMBEDDINGS == (int)DP_CAP_EMBEDDINGS && (int)CP_CAP_CHAT == (int)DP_CAP_CHAT,
               "capability bits must match the data plane's");

static char dir[] = "/tmp/test_cp_store.XXXXXX";
static char db_path[PATH_MAX];
static char hex_alpha[65], hex_beta[65];

#define KEY_ALPHA "sk-sy-alpha-000000000001"
#define KEY_BETA "sk-sy-beta-0000000000002"

static void hex_of(const char *key, char out[65])
{
    uint8_t h[SY_SHA256_LEN];
    sy_sha256(key, strlen(key), h);
    sy_hex(h, sizeof(h), out);
}

static const char *catalog(void)
{
    static char buf[4096];
    snprintf(
        buf, sizeof(buf),
        "{\"timeouts_ms\":{\"connect\":1500,\"first_byte\":20000},"
        " \"limits\":{\"max_attempts\":2},"
        " \"providers\":["
        "  {\"id\":\"openai\",\"kind\":\"openai\",\"base_url\":\"https://api.openai.com/v1\","
        "   \"api_key_env\":\"SY_CP_TEST_OPENAI\"},"
        "  {\"id\":\"local\",\"kind\":\"openai\",\"base_url\":\"http://127.0.0.1:9/v1/\"}],"
        " \"models\":["
        "  {\"id\":\"gpt-4o-mini\",\"provider\":\"openai\",\"upstream\":\"gpt-4o-mini-2024\","
        "   \"input_per_m\":\"0.15\",\"output_per_m\":\"0.60\",\"context_window\":128000,"
        "   \"capabilities\":[\"chat\",\"tools\",\"json\",\"vision\"],\"tiers\":[\"cheap\",\"fast\"],"
        "   \"quality\":{\"code\":0.7}},"
        "  "
        "{\"id\":\"big\",\"provider\":\"openai\",\"input_per_m\":\"2.5\",\"output_per_m\":\"10.000000001\"},"
        "  "
        "{\"id\":\"embed\",\"provider\":\"local\",\"input_per_m\":\"0.000000001\",\"capabilities\":["
        "\"embeddings\"],"
        "   \"description\":\"ignored\"}],"
        " \"workspaces\":[{\"id\":\"ws_demo\",\"name\":\"Demo\",\"active\":true}],"
        " \"keys\":["
        "  "
        "{\"id\":\"k_alpha\",\"name\":\"alpha\",\"sha256\":\"%s\",\"workspace\":\"ws_demo\",\"allowed_"
        "models\":[\"*\"]},"
        "  {\"id\":\"k_beta\",\"sha256\":\"%s\",\"workspace\":\"ws_demo\","
        "   \"allowed_models\":[\"gpt-4o-mini\",\"local/embed\"],\"expires_at\":4102444800}],"
        " \"extra_section\":{\"ignored\":1}}",
        hex_alpha, hex_beta);
    return buf;
}

/* Removes a database file and its -wal and -shm. */
static void remove_db(const char *path)
{
    static const char *const sfx[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        char p[PATH_MAX + 32];
        snprintf(p, sizeof(p), "%s%s", path, sfx[i]);
        unlink(p);
    }
}

static int64_t count(cp_store_t *s, const char *sql)
{
    sqlite3_stmt *st;
    char err[256];
    if (cp_store_prepare(s, sql, &st, err, sizeof(err)) != 0)
        return -1;
    int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    return n;
}

static uint64_t version_of(cp_store_t *s)
{
    uint64_t v = UINT64_MAX;
    char err[256];
    if (cp_store_snapshot_version(s, &v, err, sizeof(err)) != 0)
        fprintf(stderr, "  version: %s\n", err);
    return v;
}

/* Builds the snapshot and turns it into the data plane's table, as a node would. */
static dp_snapshot_t *to_dp(cp_store_t *s, uint64_t *version)
{
    char err[256] = "";
    uint8_t *bytes = NULL;
    size_t len = 0;
    if (cp_snapshot_build(s, &bytes, &len, version, err, sizeof(err)) != 0) {
        fprintf(stderr, "  cp_snapshot_build: %s\n", err);
        return NULL;
    }
    Switchyard__Snapshot *pb = switchyard__snapshot__unpack(NULL, len, bytes);
    free(bytes);
    if (pb == NULL) {
        fprintf(stderr, "  unpack failed\n");
        return NULL;
    }
    dp_snapshot_t *d = dp_snapshot_build(pb, err, sizeof(err));
    if (d == NULL)
        fprintf(stderr, "  dp_snapshot_build: %s\n", err);
    switchyard__snapshot__free_unpacked(pb, NULL);
    return d;
}

static void test_open_and_migrate(void)
{
    char err[256] = "";
    cp_store_t *s = NULL;
    CHECK(cp_store_open(db_path, &s, err, sizeof(err)) == 0);
    if (s == NULL) {
        fprintf(stderr, "  open: %s\n", err);
        return;
    }
    CHECK(cp_store_schema_latest() >= 1);
    CHECK(cp_store_schema_version(s, err, sizeof(err)) == cp_store_schema_latest());
    CHECK(version_of(s) == 0);
    sqlite3_stmt *st;
    CHECK(cp_store_prepare(s, "PRAGMA journal_mode", &st, err, sizeof(err)) == 0);
    CHECK(sqlite3_step(st) == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0);
    sqlite3_finalize(st);
    CHECK(count(s, "PRAGMA foreign_keys") == 1);
    CHECK(count(s, "PRAGMA synchronous") == 2); /* FULL */
    cp_store_close(s);

    /* reopening applies nothing twice: the migration would fail on existing tables, and the
     * meta row it inserts stays single */
    s = NULL;
    CHECK(cp_store_open(db_path, &s, err, sizeof(err)) == 0);
    if (s == NULL) {
        fprintf(stderr, "  reopen: %s\n", err);
        return;
    }
    CHECK(cp_store_schema_version(s, err, sizeof(err)) == cp_store_schema_latest());
    CHECK(count(s, "SELECT count(*) FROM meta WHERE key = 'snapshot_version'") == 1);
    CHECK(count(s,
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('workspaces', 'users', "
                "'api_keys', 'providers', 'models', 'dp_nodes', 'meta')") == 7);
    cp_store_close(s);
}

/* Soft transactions (heartbeats): synchronous NORMAL inside, FULL again after the commit or a
 * rollback; no snapshot version bump; the data is committed. */
static void test_soft_commit(void)
{
    char err[256] = "";
    cp_store_t *s = NULL;
    CHECK(cp_store_open(db_path, &s, err, sizeof(err)) == 0);
    if (s == NULL)
        return;
    uint64_t v0 = version_of(s);
    CHECK(cp_store_begin_soft(s, err, sizeof(err)) == 0);
    CHECK(count(s, "PRAGMA synchronous") == 1);            /* NORMAL */
    CHECK(cp_store_begin_soft(s, err, sizeof(err)) == -1); /* one transaction at a time */
    sqlite3_stmt *st;
    CHECK(cp_store_prepare(s, "INSERT INTO meta (key, value) VALUES ('soft_probe', 7)", &st, err,
                           sizeof(err)) == 0);
    CHECK(sqlite3_step(st) == SQLITE_DONE);
    sqlite3_finalize(st);
    CHECK(cp_store_commit_soft(s, err, sizeof(err)) == 0);
    CHECK(count(s, "PRAGMA synchronous") == 2); /* FULL again */
    CHECK(count(s, "SELECT value FROM meta WHERE key = 'soft_probe'") == 7);
    CHECK(version_of(s) == v0);
    /* a rolled-back soft transaction also ends at FULL, and writes nothing */
    CHECK(cp_store_begin_soft(s, err, sizeof(err)) == 0);
    CHECK(cp_store_prepare(s, "DELETE FROM meta WHERE key = 'soft_probe'", &st, err, sizeof(err)) == 0);
    CHECK(sqlite3_step(st) == SQLITE_DONE);
    sqlite3_finalize(st);
    cp_store_rollback(s);
    CHECK(count(s, "PRAGMA synchronous") == 2);
    CHECK(count(s, "SELECT value FROM meta WHERE key = 'soft_probe'") == 7);
    /* a normal write transaction after them is FULL */
    CHECK(cp_store_begin_write(s, err, sizeof(err)) == 0);
    CHECK(count(s, "PRAGMA synchronous") == 2);
    CHECK(cp_store_prepare(s, "DELETE FROM meta WHERE key = 'soft_probe'", &st, err, sizeof(err)) == 0);
    CHECK(sqlite3_step(st) == SQLITE_DONE);
    sqlite3_finalize(st);
    CHECK(cp_store_commit_quiet(s, err, sizeof(err)) == 0);
    cp_store_close(s);
}

/* Usage ingestion's transaction: foreign key enforcement off inside (the writer checked the
 * parents), back on after the commit or a rollback. */
static void test_parents_checked(void)
{
    char err[256] = "", path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/fk.db", dir); /* its own file: commit_write bumps the version */
    cp_store_t *s = NULL;
    CHECK(cp_store_open(path, &s, err, sizeof(err)) == 0);
    if (s == NULL)
        return;
    CHECK(cp_store_begin_write_parents_checked(s, err, sizeof(err)) == 0);
    CHECK(count(s, "PRAGMA foreign_keys") == 0);
    CHECK(count(s, "PRAGMA synchronous") == 2); /* durability untouched */
    CHECK(cp_store_commit_quiet(s, err, sizeof(err)) == 0);
    CHECK(count(s, "PRAGMA foreign_keys") == 1);
    CHECK(cp_store_begin_write_parents_checked(s, err, sizeof(err)) == 0);
    cp_store_rollback(s);
    CHECK(count(s, "PRAGMA foreign_keys") == 1);
    CHECK(cp_store_begin_write_parents_checked(s, err, sizeof(err)) == 0);
    CHECK(cp_store_commit_write(s, NULL, err, sizeof(err)) == 0);
    CHECK(count(s, "PRAGMA foreign_keys") == 1);
    /* enforced again: a usage row of no workspace is refused */
    sqlite3_stmt *st;
    CHECK(cp_store_begin_write(s, err, sizeof(err)) == 0);
    CHECK(cp_store_prepare(
              s,
              "INSERT INTO usage (id, workspace_id, key_id, model, provider, tokens_in, tokens_out,"
              " cost_nano, latency_ms, ttft_ms, outcome, streamed, estimated, created_ms, received_ms)"
              " VALUES ('fk1', 'ws_none', 'k', 'm', 'p', 0, 0, 0, 0, 0, 'ok', 0, 0, 1, 1)",
              &st, err, sizeof(err)) == 0);
    CHECK(sqlite3_step(st) == SQLITE_CONSTRAINT_FOREIGNKEY); /* extended result codes are on */
    sqlite3_finalize(st);
    cp_store_rollback(s);
    cp_store_close(s);
    remove_db(path);
}

static void test_newer_schema_refused(void)
{
    char path[PATH_MAX + 16], err[256] = "";
    snprintf(path, sizeof(path), "%s/future.db", dir);
    sqlite3 *db;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    sqlite3_stmt *st;
    CHECK(sqlite3_prepare_v2(db, "PRAGMA user_version = 999", -1, &st, NULL) == SQLITE_OK);
    sqlite3_step(st);
    sqlite3_finalize(st);
    sqlite3_close(db);
    cp_store_t *s = NULL;
    CHECK(cp_store_open(path, &s, err, sizeof(err)) == -1 && s == NULL);
    CHECK(strstr(err, "newer") != NULL);
    char side[PATH_MAX + 32];
    unlink(path);
    snprintf(side, sizeof(side), "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof(side), "%s-shm", path);
    unlink(side);
}

static void test_catalog_and_snapshot(void)
{
    char err[256] = "";
    cp_store_t *s = NULL;
    if (cp_store_open(db_path, &s, err, sizeof(err)) != 0) {
        CHECK(!"open");
        return;
    }
    setenv("SY_CP_TEST_OPENAI", "sk-upstream-secret", 1);

    const char *cat = catalog();
    CHECK(cp_catalog_load_json(s, cat, strlen(cat), err, sizeof(err)) == 0);
    if (err[0])
        fprintf(stderr, "  load: %s\n", err);
    uint64_t v1 = version_of(s);
    CHECK(v1 == 1);
    CHECK(count(s, "SELECT count(*) FROM providers") == 2);
    CHECK(count(s, "SELECT count(*) FROM models") == 3);
    CHECK(count(s, "SELECT count(*) FROM workspaces") == 1);
    CHECK(count(s, "SELECT count(*) FROM api_keys") == 2);
    CHECK(count(s, "SELECT output_per_m_nano FROM models WHERE id = 'big'") == 10000000001);
    CHECK(count(s, "SELECT length(sha256) FROM api_keys WHERE id = 'k_alpha'") == 32);

    /* Bad catalogs: each is rejected whole. The first valid entries come before the bad one,
     * so a partial write would show. */
    static const struct {
        const char *json, *expect;
        int alpha; /* the %s (if any) is k_alpha's hash, else a well-formed unused one */
    } bad[] = {
        {"{\"providers\":[{\"id\":\"p_new\",\"kind\":\"openai\",\"base_url\":\"http://x\"}],"
         "\"models\":[{\"id\":\"m_new\",\"provider\":\"p_new\"},{\"id\":\"m_bad\",\"provider\":\"nowhere\"}]"
         "}",
         "unknown provider"},
        {"{\"providers\":[{\"id\":\"p_new\",\"kind\":\"openai\",\"base_url\":\"http://x\"}],"
         "\"models\":[{\"id\":\"m_new\",\"provider\":\"p_new\",\"input_per_m\":\"1e-3\"}]}",
         "decimal string"},
        {"{\"models\":[{\"id\":\"m_new\",\"provider\":\"openai\",\"input_per_m\":0.15}]}", "decimal string"},
        {"{\"workspaces\":[{\"id\":\"ws_new\"}],"
         "\"keys\":[{\"id\":\"k_new\",\"sha256\":\"abcd\",\"workspace\":\"ws_new\"}]}",
         "64 hex"},
        {"{\"keys\":[{\"id\":\"k_new\",\"sha256\":\"" /* k_alpha's hash under another id */
         "%s\",\"workspace\":\"ws_demo\"}]}",
         "duplicate key hash", 1},
        {"{\"keys\":[{\"id\":\"k_new\",\"sha256\":\"%s\",\"workspace\":\"ws_nowhere\"}]}",
         "unknown workspace"},
        {"{\"keys\":[{\"id\":\"k_new\",\"sha256\":\"%s\",\"workspace\":\"ws_demo\",\"allowed_models\":["
         "\"nope\"]}]}",
         "not in the catalog"},
        {"{\"providers\":[{\"id\":\"p\",\"kind\":\"openai\",\"base_url\":\"ftp://x\"}]}", "base_url"},
        {"{\"providers\":[{\"id\":\"p\",\"kind\":\"martian\",\"base_url\":\"http://x\"}]}", "unknown kind"},
        {"{\"models\":[{\"id\":\"m\",\"provider\":\"openai\",\"capabilities\":[\"telepathy\"]}]}",
         "capability"},
        {"{\"models\":[{\"id\":\"m\",\"provider\":\"openai\",\"colour\":\"red\"}]}", "unknown field"},
        {"{\"models\":[{\"id\":\"m\",\"provider\":\"openai\"},{\"id\":\"m\",\"provider\":\"openai\"}]}",
         "duplicate id"},
        {"{\"models\":[{\"id\":\"a/b\",\"provider\":\"openai\"}]}", "invalid id"},
        {"{\"limits\":{\"max_attempts\":9}}", "max_attempts"},
        {"{\"providers\":{}}", "must be an array"},
        {"[1,2]", "JSON object"},
        {"{\"providers\":[", "not valid JSON"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[1024];
        snprintf(text, sizeof(text), bad[i].json,
                 bad[i].alpha ? hex_alpha
                              : "0000000000000000000000000000000000000000000000000000000000000001");
        err[0] = '\0';
        int rc = cp_catalog_load_json(s, text, strlen(text), err, sizeof(err));
        CHECK(rc == -1);
        if (strstr(err, bad[i].expect) == NULL)
            fprintf(stderr, "  bad[%zu]: expected \"%s\" in \"%s\"\n", i, bad[i].expect, err);
        CHECK(strstr(err, bad[i].expect) != NULL);
    }
    CHECK(version_of(s) == v1);
    CHECK(count(s, "SELECT count(*) FROM providers") == 2);
    CHECK(count(s, "SELECT count(*) FROM models") == 3);
    CHECK(count(s, "SELECT count(*) FROM workspaces") == 1);
    CHECK(count(s, "SELECT count(*) FROM api_keys") == 2);
    CHECK(count(s, "SELECT count(*) FROM meta WHERE key = 'limits.max_attempts' AND value = 2") == 1);

    /* the snapshot, as a data plane builds it */
    uint64_t sv = 0;
    dp_snapshot_t *d = to_dp(s, &sv);
    CHECK(d != NULL);
    if (d != NULL) {
        CHECK(sv == v1 && d->version == v1);
        CHECK(d->nproviders == 2 && d->nmodels == 3 && d->nworkspaces == 1 && d->nkeys == 2);
        CHECK(d->timeouts.connect_ms == 1500 && d->timeouts.first_byte_ms == 20000);
        CHECK(d->timeouts.idle_ms == 60000); /* the data plane's default: not in the catalog */
        CHECK(d->limits.max_attempts == 2 && d->limits.max_body_bytes == 4u << 20);
        const dp_model_t *m = dp_snapshot_find_model(d, "gpt-4o-mini", 11);
        CHECK(m != NULL);
        if (m) {
            CHECK(m->input_per_m == 150000000 && m->output_per_m == 600000000);
            CHECK(m->caps == (DP_CAP_CHAT | DP_CAP_TOOLS | DP_CAP_JSON | DP_CAP_VISION));
            CHECK_STR(m->upstream, "gpt-4o-mini-2024");
            CHECK(m->context_window == 128000);
            CHECK(m->ntiers == 2 && strcmp(m->tiers[0], "cheap") == 0 && strcmp(m->tiers[1], "fast") == 0);
            CHECK_STR(m->provider->credential, "sk-upstream-secret");
        }
        const dp_model_t *big = dp_snapshot_find_model(d, "openai/big", 10);
        CHECK(big && big->input_per_m == 2500000000 && big->output_per_m == 10000000001);
        CHECK(big && strcmp(big->upstream, "big") == 0 && big->caps == DP_CAP_CHAT);
        const dp_model_t *emb = dp_snapshot_find_model(d, "embed", 5);
        CHECK(emb && emb->input_per_m == 1 && emb->output_per_m == 0 && emb->caps == DP_CAP_EMBEDDINGS);
        CHECK(emb && strcmp(emb->provider->chat_url, "http://127.0.0.1:9/v1/chat/completions") == 0);

        uint8_t h[SY_SHA256_LEN];
        sy_sha256(KEY_ALPHA, strlen(KEY_ALPHA), h);
        const dp_key_t *ka = dp_snapshot_find_key(d, h);
        CHECK(ka && strcmp(ka->id, "k_alpha") == 0 && ka->allowed == NULL && !ka->revoked &&
              ka->expires_at == 0);
        CHECK(ka && ka->workspace->active && strcmp(ka->workspace->id, "ws_demo") == 0);
        sy_sha256(KEY_BETA, strlen(KEY_BETA), h);
        const dp_key_t *kb = dp_snapshot_find_key(d, h);
        CHECK(kb && kb->nallowed == 2 && kb->expires_at == 4102444800);
        CHECK(kb && m && big && emb && dp_key_allows(kb, m) && dp_key_allows(kb, emb) &&
              !dp_key_allows(kb, big));
        sy_sha256("sk-sy-unknown", 13, h);
        CHECK(dp_snapshot_find_key(d, h) == NULL);
        dp_snapshot_unref(d);
    }

    /* versions only increase, and every write shows in the next snapshot */
    uint64_t v2 = 0, v3 = 0, v4 = 0;
    CHECK(cp_store_revoke_key(s, "k_beta", &v2, err, sizeof(err)) == 0 && v2 > v1);
    CHECK(cp_store_revoke_key(s, "k_nowhere", NULL, err, sizeof(err)) == -1 && version_of(s) == v2);
    CHECK(cp_store_set_provider_health(s, "local", CP_HEALTH_DOWN, &v3, err, sizeof(err)) == 0 && v3 > v2);
    CHECK(cp_store_set_provider_health(s, "local", 7, NULL, err, sizeof(err)) == -1 && version_of(s) == v3);
    CHECK(cp_store_set_workspace_active(s, "ws_demo", 0, &v4, err, sizeof(err)) == 0 && v4 > v3);
    /* reloading the catalog: a new version, the revocation kept (one-way), the workspace
     * explicitly re-activated by the file, the probes' health kept */
    CHECK(cp_catalog_load_json(s, cat, strlen(cat), err, sizeof(err)) == 0);
    uint64_t v5 = version_of(s);
    CHECK(v5 > v4);
    CHECK(count(s, "SELECT count(*) FROM models") == 3);
    d = to_dp(s, &sv);
    CHECK(d != NULL);
    if (d != NULL) {
        CHECK(sv == v5 && d->version == v5);
        uint8_t h[SY_SHA256_LEN];
        sy_sha256(KEY_BETA, strlen(KEY_BETA), h);
        const dp_key_t *kb = dp_snapshot_find_key(d, h);
        CHECK(kb && kb->revoked);
        CHECK(kb && kb->workspace->active);
        const dp_model_t *emb = dp_snapshot_find_model(d, "embed", 5);
        CHECK(emb && emb->provider->health == CP_HEALTH_DOWN);
        dp_snapshot_unref(d);
    }

    /* the file form, and an unreadable path */
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/catalog.json", dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(cat, f);
        fclose(f);
        CHECK(cp_catalog_load_file(s, path, err, sizeof(err)) == 0 && version_of(s) > v5);
        unlink(path);
    }
    CHECK(cp_catalog_load_file(s, path, err, sizeof(err)) == -1 && strstr(err, "catalog.json") != NULL);
    cp_store_close(s);

    /* a second handle sees the committed state */
    s = NULL;
    CHECK(cp_store_open(db_path, &s, err, sizeof(err)) == 0);
    if (s) {
        CHECK(version_of(s) > v5);
        cp_store_close(s);
    }
}

/* The probe hysteresis: a walk through a provider's life with rise 2, fall 3. */
static void test_probe_hysteresis(void)
{
    static const struct {
        int ok;
        unsigned expect;
    } walk[] = {
        {1, CP_HEALTH_HEALTHY}, /* unknown: first answer is enough */
        {0, CP_HEALTH_DEGRADED}, {1, CP_HEALTH_DEGRADED}, {1, CP_HEALTH_HEALTHY}, /* one blip, back after 2 */
        {0, CP_HEALTH_DEGRADED}, {0, CP_HEALTH_DEGRADED}, {0, CP_HEALTH_DOWN},    /* fall = 3 */
        {0, CP_HEALTH_DOWN},     {1, CP_HEALTH_DEGRADED}, /* down: one answer is partly back */
        {0, CP_HEALTH_DEGRADED}, /* flaky: degraded, not down, until `fall` in a row */
        {1, CP_HEALTH_DEGRADED}, {1, CP_HEALTH_HEALTHY}, /* rise = 2 */
    };
    unsigned h = CP_HEALTH_UNKNOWN, oks = 0, fails = 0;
    for (size_t i = 0; i < sizeof(walk) / sizeof(walk[0]); i++) {
        oks = walk[i].ok ? oks + 1 : 0;
        fails = walk[i].ok ? 0 : fails + 1;
        h = cp_probe_next_health(h, walk[i].ok, oks, fails, 2, 3);
        if (h != walk[i].expect)
            fprintf(stderr, "hysteresis step %zu: got %u, want %u\n", i, h, walk[i].expect);
        CHECK(h == walk[i].expect);
    }
    /* unknown and failing: degraded at once, down at `fall` */
    CHECK(cp_probe_next_health(CP_HEALTH_UNKNOWN, 0, 0, 1, 2, 3) == CP_HEALTH_DEGRADED);
    CHECK(cp_probe_next_health(CP_HEALTH_UNKNOWN, 0, 0, 1, 2, 1) == CP_HEALTH_DOWN);
    CHECK(cp_probe_next_health(CP_HEALTH_DOWN, 1, 1, 0, 1, 3) == CP_HEALTH_HEALTHY); /* rise 1 */
}

static void test_catalog_rules(void)
{
    char err[256];
    sy_probe_conf_t pc;
    static const char *const bad_probes[] = {
        "[]",
        "{\"path\":\"models\"}",
        "{\"path\":\"/a b\"}",
        "{\"path\":\"\"}",
        "{\"path\":7}",
        "{\"interval_ms\":50}",
        "{\"interval_ms\":-1}",
        "{\"interval_ms\":1.5}",
        "{\"interval_ms\":3600001}",
        "{\"timeout_ms\":0}",
        "{\"timeout_ms\":60001}",
        "{\"every\":5}",
        "{\"path\":\"/x#y\"}",
    };
    for (size_t i = 0; i < sizeof(bad_probes) / sizeof(bad_probes[0]); i++) {
        cJSON *j = cJSON_Parse(bad_probes[i]);
        int rc = sy_catalog_probe(j, "providers[0]", &pc, err, sizeof(err));
        if (rc != -1)
            fprintf(stderr, "probe accepted: %s\n", bad_probes[i]);
        CHECK(rc == -1 && strncmp(err, "providers[0]", 12) == 0);
        cJSON_Delete(j);
    }
    CHECK(sy_catalog_probe(NULL, "p", &pc, err, sizeof(err)) == 0);
    CHECK_STR(pc.path, "/models");
    CHECK(pc.interval_ms == SY_PROBE_DEFAULT_INTERVAL_MS && pc.timeout_ms == SY_PROBE_DEFAULT_TIMEOUT_MS);
    cJSON *j = cJSON_Parse("{\"path\":\"/health?deep=1\",\"interval_ms\":0,\"timeout_ms\":250}");
    CHECK(sy_catalog_probe(j, "p", &pc, err, sizeof(err)) == 0);
    CHECK_STR(pc.path, "/health?deep=1");
    CHECK(pc.interval_ms == 0 && pc.timeout_ms == 250);
    cJSON_Delete(j);

    static const char *const bad_quality[] = {
        "[]", "{\"poetry\":0.5}", "{\"code\":1.5}", "{\"code\":-0.1}", "{\"code\":\"high\"}", "5"};
    for (size_t i = 0; i < sizeof(bad_quality) / sizeof(bad_quality[0]); i++) {
        j = cJSON_Parse(bad_quality[i]);
        CHECK(sy_catalog_quality(j, "models[3]", err, sizeof(err)) == -1 &&
              strncmp(err, "models[3]", 9) == 0);
        cJSON_Delete(j);
    }
    j = cJSON_Parse("{\"code\":0,\"math\":1,\"chat\":0.5,\"translation\":0.25}");
    CHECK(sy_catalog_quality(j, "m", err, sizeof(err)) == 0);
    CHECK(sy_catalog_quality(NULL, "m", err, sizeof(err)) == 0);
    cJSON_Delete(j);
}

/* Balances and key spend travel in the snapshot (admission control reads them on the node). */
static void test_money_in_snapshot(void)
{
    char err[512], db[PATH_MAX + 16], cat[1024];
    snprintf(db, sizeof(db), "%s/money.db", dir);
    cp_store_t *s = NULL;
    CHECK(cp_store_open(db, &s, err, sizeof(err)) == 0);
    if (s == NULL)
        return;
    snprintf(
        cat, sizeof(cat),
        "{\"providers\":[{\"id\":\"p\",\"kind\":\"openai\",\"base_url\":\"http://127.0.0.1:9/v1\"}],"
        "\"models\":[{\"id\":\"m\",\"provider\":\"p\"}],\"workspaces\":[{\"id\":\"rich\"},{\"id\":\"poor\"}],"
        "\"keys\":[{\"id\":\"k1\",\"sha256\":\"%s\",\"workspace\":\"rich\"}]}",
        hex_alpha);
    CHECK(cp_catalog_load_json(s, cat, strlen(cat), err, sizeof(err)) == 0);
    sqlite3_stmt *st;
    static const char *const writes[] = {
        "INSERT INTO balances (workspace_id, balance_nano) VALUES ('rich', 12500000000)",
        "INSERT INTO key_spend (key_id, spent_nano) VALUES ('k1', 750000000)",
        "UPDATE api_keys SET budget_nano = 2000000000, rpm = 60, tpm = 90000 WHERE id = 'k1'",
    };
    for (size_t i = 0; i < 3; i++) {
        CHECK(cp_store_prepare(s, writes[i], &st, err, sizeof(err)) == 0 && sqlite3_step(st) == SQLITE_DONE);
        sqlite3_finalize(st);
    }
    uint64_t v;
    dp_snapshot_t *d = to_dp(s, &v);
    CHECK(d != NULL);
    if (d) {
        const dp_workspace_t *rich = NULL, *poor = NULL;
        for (size_t i = 0; i < d->nworkspaces; i++) {
            if (strcmp(d->workspaces[i].id, "rich") == 0)
                rich = &d->workspaces[i];
            if (strcmp(d->workspaces[i].id, "poor") == 0)
                poor = &d->workspaces[i];
        }
        CHECK(rich && rich->has_balance && rich->balance == INT64_C(12500000000));
        CHECK(poor && poor->has_balance && poor->balance == 0);
        const dp_key_t *k = d->nkeys == 1 ? &d->keys[0] : NULL;
        CHECK(k && k->budget == 2000000000 && k->spent == 750000000 && k->rpm == 60 && k->tpm == 90000);
        dp_snapshot_unref(d);
    }

    /* Per-node shares: three live nodes and a dead one; 'rich' spent 300 on n1 and 100 on n2
     * within the window (n_dead's spend and an old record on n3 do not count). Each live node
     * gets 200000/3 ppm, the rest in proportion: n1 3/4, n2 1/4, n3 (not listed) the floor;
     * 'poor' spent nothing recently: an equal third everywhere. */
    char sql[1024];
    int64_t now = (int64_t)time(NULL) * 1000;
    snprintf(sql, sizeof(sql),
             "INSERT INTO dp_nodes (id, last_seen_ms) VALUES ('n1', %lld), ('n2', %lld), ('n3', %lld), "
             "('n_dead', %lld); INSERT INTO meta (key, value) VALUES ('fleet.live_nodes', 3)",
             (long long)now, (long long)now, (long long)now, (long long)(now - 10000));
    for (const char *p = sql; *p;) {
        const char *tail = NULL;
        CHECK(sqlite3_prepare_v2(cp_store_db(s), p, -1, &st, &tail) == SQLITE_OK && st != NULL);
        CHECK(sqlite3_step(st) == SQLITE_DONE);
        sqlite3_finalize(st);
        p = tail;
    }
    static const struct {
        const char *id, *node;
        int64_t cost, age_ms;
    } use[] = {{"u1", "n1", 200, 0},
               {"u2", "n1", 100, 1000},
               {"u3", "n2", 100, 0},
               {"u4", "n_dead", 1000, 0},
               {"u5", "n3", 5000, 120000}};
    for (size_t i = 0; i < sizeof(use) / sizeof(use[0]); i++) {
        CHECK(cp_store_prepare(
                  s,
                  "INSERT INTO usage (id, workspace_id, key_id, model, provider, tokens_in, tokens_out, "
                  "cost_nano, latency_ms, ttft_ms, outcome, streamed, estimated, node, created_ms, "
                  "received_ms) VALUES (?1, 'rich', 'k1', 'm', 'p', 1, 1, ?2, 1, 1, 'ok', 0, 0, ?3, ?4, ?4)",
                  &st, err, sizeof(err)) == 0);
        sqlite3_bind_text(st, 1, use[i].id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, use[i].cost);
        sqlite3_bind_text(st, 3, use[i].node, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, now - use[i].age_ms);
        CHECK(sqlite3_step(st) == SQLITE_DONE);
        sqlite3_finalize(st);
    }
    static const struct {
        const char *node;
        uint32_t rich, poor;
    } want[] = {{"n1", 66666 + 600001, 333333},
                {"n2", 66666 + 200000, 333333},
                {"n3", 66666, 333333},
                {"n_new", 66666, 333333}};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        dp_snapshot_set_node_id(want[i].node);
        d = to_dp(s, &v);
        CHECK(d != NULL);
        for (size_t j = 0; d && j < d->nworkspaces; j++) {
            const dp_workspace_t *w = &d->workspaces[j];
            int rich = strcmp(w->id, "rich") == 0;
            CHECK(w->share_ppm == (rich ? want[i].rich : want[i].poor));
            CHECK(w->share_weighted == rich);
            if (w->share_ppm != (rich ? want[i].rich : want[i].poor))
                fprintf(stderr, "  node %s workspace %s: share %u\n", want[i].node, w->id, w->share_ppm);
        }
        if (d)
            dp_snapshot_unref(d);
    }
    dp_snapshot_set_node_id(NULL);
    cp_store_close(s);
    remove_db(db);
}

/* The shipped catalog (deploy/catalog.json) loads in both modes: into the control plane's
 * store, and as a data plane's config file; both agree on the model count. */
static void test_deploy_catalog(void)
{
    char err[512], path[PATH_MAX + 64], db[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/deploy/catalog.json", SY_REPO_DIR);
    snprintf(db, sizeof(db), "%s/deploy.db", dir);
    cp_store_t *s = NULL;
    CHECK(cp_store_open(db, &s, err, sizeof(err)) == 0);
    if (s == NULL)
        return;
    int rc = cp_catalog_load_file(s, path, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "deploy catalog (control plane): %s\n", err);
    CHECK(rc == 0);
    sqlite3_stmt *st;
    int64_t models = -1, providers = -1;
    if (cp_store_prepare(s, "SELECT (SELECT count(*) FROM models), (SELECT count(*) FROM providers)", &st,
                         err, sizeof(err)) == 0) {
        if (sqlite3_step(st) == SQLITE_ROW) {
            models = sqlite3_column_int64(st, 0);
            providers = sqlite3_column_int64(st, 1);
        }
        sqlite3_finalize(st);
    }
    CHECK(providers == 5 && models >= 15);
    cp_store_close(s);
    remove_db(db);

    dp_snapshot_t *d = dp_config_load(path, 1, err, sizeof(err));
    if (d == NULL)
        fprintf(stderr, "deploy catalog (data plane): %s\n", err);
    CHECK(d != NULL);
    if (d) {
        CHECK(dp_snapshot_find_model(d, "claude-sonnet-4-5", strlen("claude-sonnet-4-5")) != NULL);
        CHECK(dp_snapshot_find_model(d, "deepseek/deepseek-chat", strlen("deepseek/deepseek-chat")) != NULL);
        dp_snapshot_unref(d);
    }
}

/* Imports: a first import is recorded; aliases are validated against the catalog; an admin edit
 * makes a re-import that would change it a conflict (store unchanged) unless forced; the
 * snapshot carries the aliases and the data plane resolves them. */
static void test_imports_and_aliases(void)
{
    char err[256] = "", path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/imports.db", dir);
    cp_store_t *s = NULL;
    if (cp_store_open(path, &s, err, sizeof(err)) != 0) {
        CHECK(!"open");
        return;
    }
    static const char base[] =
        "{\"providers\":[{\"id\":\"p\",\"kind\":\"openai\",\"base_url\":\"http://127.0.0.1:9/v1\"}],"
        "\"models\":[{\"id\":\"m1\",\"provider\":\"p\",\"input_per_m\":\"1\",\"output_per_m\":\"2\"},"
        "{\"id\":\"m2\",\"provider\":\"p\"}],"
        "\"aliases\":{\"fast\":\"m1\",\"llama3.1\":\"m2\"}}";
    cJSON *rep = NULL;
    cp_catalog_import_opts_t o = {.source = "start"};
    CHECK(cp_catalog_import(s, base, strlen(base), &o, &rep, err, sizeof(err)) == 0);
    if (err[0])
        fprintf(stderr, "  import: %s\n", err);
    CHECK(rep != NULL &&
          cJSON_GetNumberValue(cJSON_GetObjectItem(
              cJSON_GetObjectItem(cJSON_GetObjectItem(rep, "counts"), "aliases"), "created")) == 2);
    cJSON_Delete(rep);
    CHECK(count(s, "SELECT count(*) FROM catalog_imports") == 1);
    CHECK(count(s, "SELECT count(*) FROM model_aliases") == 2);

    /* alias validation: each file is refused whole */
    static const struct {
        const char *aliases, *expect;
    } bad[] = {
        {"{\"m1\":\"m2\"}", "collides with a model id"}, {"{\"x\":\"nope\"}", "unknown model"},
        {"{\"has space\":\"m1\"}", "invalid name"},      {"{\"a/b\":\"m1\"}", "invalid name"},
        {"{\"auto\":\"m1\"}", "invalid name"},           {"{\"strategy:x\":\"m1\"}", "invalid name"},
        {"{\"x\":1}", "must name a catalog model id"},   {"[\"x\"]", "must be an object"},
        {"{\"x\":\"fast\"}", "unknown model"}, /* an alias of an alias */
    };
    uint64_t v = version_of(s);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[512];
        snprintf(text, sizeof(text), "{\"models\":[{\"id\":\"m3\",\"provider\":\"p\"}],\"aliases\":%s}",
                 bad[i].aliases);
        err[0] = '\0';
        int rc = cp_catalog_load_json(s, text, strlen(text), err, sizeof(err));
        CHECK(rc == -1 && strstr(err, bad[i].expect) != NULL);
        if (rc != -1 || strstr(err, bad[i].expect) == NULL)
            fprintf(stderr, "  alias case %zu: rc=%d err=%s\n", i, rc, err);
    }
    /* a model may not take an alias's name */
    static const char clash[] = "{\"models\":[{\"id\":\"fast\",\"provider\":\"p\"}]}";
    CHECK(cp_catalog_load_json(s, clash, strlen(clash), err, sizeof(err)) == -1 &&
          strstr(err, "collides") != NULL);
    CHECK(version_of(s) == v && count(s, "SELECT count(*) FROM models WHERE id = 'm3'") == 0);

    /* an admin edit, then the same file again: a conflict naming the field, nothing changes */
    cp_admin_model_patch_t p = {.set_input = 1, .input_per_m_nano = 5000000000};
    cJSON *out = NULL;
    CHECK(cp_admin_update_model(s, "m1", &p, &out, &v, err, sizeof(err)) == CP_ADMIN_OK);
    cJSON_Delete(out);
    const char *param = NULL;
    int created = 0;
    CHECK(cp_admin_put_alias(s, "fast", "m2", &out, &created, &v, &param, err, sizeof(err)) == CP_ADMIN_OK &&
          !created);
    cJSON_Delete(out);
    CHECK(cp_admin_put_alias(s, "m1", "m2", &out, &created, &v, &param, err, sizeof(err)) ==
              CP_ADMIN_INVALID &&
          strcmp(param, "alias") == 0);
    CHECK(cp_admin_put_alias(s, "new", "zz", &out, &created, &v, &param, err, sizeof(err)) ==
              CP_ADMIN_INVALID &&
          strcmp(param, "model") == 0);
    CHECK(count(s, "SELECT count(*) FROM catalog_edits") == 2);
    v = version_of(s);
    o.source = "reload";
    CHECK(cp_catalog_import(s, base, strlen(base), &o, &rep, err, sizeof(err)) == CP_CATALOG_CONFLICT);
    char *txt = rep ? cJSON_PrintUnformatted(cJSON_GetObjectItem(rep, "conflicts")) : NULL;
    CHECK(txt && strstr(txt, "\"id\":\"m1\"") && strstr(txt, "\"field\":\"input_per_m\"") &&
          strstr(txt, "\"id\":\"fast\"") && !strstr(txt, "m2\",\"fields"));
    cJSON_free(txt);
    cJSON_Delete(rep);
    CHECK(version_of(s) == v &&
          count(s, "SELECT input_per_m_nano FROM models WHERE id = 'm1'") == 5000000000);
    CHECK(count(s, "SELECT count(*) FROM catalog_imports") == 1);

    /* forced: the file wins, the record lists what it overwrote, the marks are gone */
    o.force = 1;
    CHECK(cp_catalog_import(s, base, strlen(base), &o, &rep, err, sizeof(err)) == 0);
    txt = rep ? cJSON_PrintUnformatted(cJSON_GetObjectItem(rep, "overwritten")) : NULL;
    CHECK(txt && strstr(txt, "input_per_m"));
    cJSON_free(txt);
    cJSON_Delete(rep);
    CHECK(version_of(s) == v + 1);
    CHECK(count(s, "SELECT input_per_m_nano FROM models WHERE id = 'm1'") == 1000000000);
    CHECK(count(s, "SELECT count(*) FROM catalog_edits") == 0);
    CHECK(count(s, "SELECT forced FROM catalog_imports ORDER BY id DESC LIMIT 1") == 1);

    /* the snapshot carries the aliases; the data plane resolves them to the model */
    uint8_t *buf = NULL;
    size_t len = 0;
    uint64_t sv;
    CHECK(cp_snapshot_build(s, &buf, &len, &sv, err, sizeof(err)) == 0);
    Switchyard__Snapshot *pb = buf ? switchyard__snapshot__unpack(NULL, len, buf) : NULL;
    CHECK(pb != NULL && pb->n_aliases == 2);
    dp_snapshot_t *d = pb ? dp_snapshot_build(pb, err, sizeof(err)) : NULL;
    CHECK(d != NULL);
    if (d) {
        const dp_model_t *m = dp_snapshot_find_model(d, "fast", 4);
        CHECK(m != NULL && strcmp(m->id, "m1") == 0);
        CHECK(dp_snapshot_find_alias(d, "m1", 2) == NULL);
        CHECK(dp_snapshot_find_model(d, "p/fast", 6) == NULL);
        dp_snapshot_unref(d);
    }
    if (pb)
        switchyard__snapshot__free_unpacked(pb, NULL);
    free(buf);

    /* a deleted alias keeps its mark: the file bringing it back is a conflict */
    CHECK(cp_admin_delete_alias(s, "llama3.1", &v, err, sizeof(err)) == CP_ADMIN_OK);
    o.force = 0;
    CHECK(cp_catalog_import(s, base, strlen(base), &o, &rep, err, sizeof(err)) == CP_CATALOG_CONFLICT);
    cJSON_Delete(rep);
    cp_store_close(s);
    static const char *const suffix[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        char q[PATH_MAX + 32];
        snprintf(q, sizeof(q), "%s%s", path, suffix[i]);
        unlink(q);
    }
}

int main(void)
{
    hex_of(KEY_ALPHA, hex_alpha);
    hex_of(KEY_BETA, hex_beta);
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(db_path, sizeof(db_path), "%s/cp.db", dir);

    test_open_and_migrate();
    test_soft_commit();
    test_parents_checked();
    test_newer_schema_refused();
    test_catalog_and_snapshot();
    test_probe_hysteresis();
    test_catalog_rules();
    test_deploy_catalog();
    test_money_in_snapshot();
    test_imports_and_aliases();

    static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
        char p[PATH_MAX + 16];
        snprintf(p, sizeof(p), "%s%s", db_path, suffix[i]);
        unlink(p);
    }
    CHECK(rmdir(dir) == 0);
    SY_TEST_MAIN_END();
}
