/* Unit tests for key rotation (cp_admin_rotate_key): the stored rows, the bounds of the grace,
 * a revoked or unknown key refused without a write, and what a data plane builds from the
 * snapshot (both secrets during the grace, only the newest after it, at most one previous). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cp_admin.h"
#include "cp_snapshot.h"
#include "cp_store.h"
#include "dp_snapshot.h"
#include "sy_test.h"

static char dir[] = "/tmp/test_cp_keys.XXXXXX";
static char db_path[PATH_MAX];

static uint64_t version_of(cp_store_t *s)
{
    uint64_t v = UINT64_MAX;
    char err[256];
    if (cp_store_snapshot_version(s, &v, err, sizeof(err)) != 0)
        fprintf(stderr, "  version: %s\n", err);
    return v;
}

static int64_t count(cp_store_t *s, const char *sql, const char *arg)
{
    sqlite3_stmt *st;
    char err[256];
    if (cp_store_prepare(s, sql, &st, err, sizeof(err)) != 0)
        return -1;
    if (arg)
        sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
    int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    return n;
}

/* 1 when the blob column `col` of the one row `sql` selects equals h */
static int blob_is(cp_store_t *s, const char *sql, const char *arg, const uint8_t h[SY_SHA256_LEN])
{
    sqlite3_stmt *st;
    char err[256];
    if (cp_store_prepare(s, sql, &st, err, sizeof(err)) != 0)
        return 0;
    sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
    int ok = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 0) == SY_SHA256_LEN &&
             memcmp(sqlite3_column_blob(st, 0), h, SY_SHA256_LEN) == 0;
    sqlite3_finalize(st);
    return ok;
}

static dp_snapshot_t *to_dp(cp_store_t *s)
{
    char err[256] = "";
    uint8_t *bytes = NULL;
    size_t len = 0;
    uint64_t v;
    if (cp_snapshot_build(s, &bytes, &len, &v, err, sizeof(err)) != 0) {
        fprintf(stderr, "  cp_snapshot_build: %s\n", err);
        return NULL;
    }
    Switchyard__Snapshot *pb = switchyard__snapshot__unpack(NULL, len, bytes);
    free(bytes);
    if (pb == NULL)
        return NULL;
    dp_snapshot_t *d = dp_snapshot_build(pb, err, sizeof(err));
    if (d == NULL)
        fprintf(stderr, "  dp_snapshot_build: %s\n", err);
    switchyard__snapshot__free_unpacked(pb, NULL);
    return d;
}

static void secret(const char *key, uint8_t h[SY_SHA256_LEN])
{
    sy_sha256(key, strlen(key), h);
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static cp_admin_rc_t rotate(cp_store_t *s, const char *id, const uint8_t *sha, const char *prefix,
                            int64_t grace, int64_t now_ms, cJSON **out, const char **param)
{
    char err[256] = "";
    uint64_t v;
    cp_admin_rotation_t r = {
        .id = id, .sha256 = sha, .prefix = prefix, .grace_seconds = grace, .now_ms = now_ms};
    cp_admin_rc_t rc = cp_admin_rotate_key(s, &r, out, &v, param, err, sizeof(err));
    if (rc == CP_ADMIN_ERROR)
        fprintf(stderr, "  rotate: %s\n", err);
    return rc;
}

static void create_key(cp_store_t *s, const char *id, const uint8_t *sha, const char *prefix)
{
    char err[256] = "";
    uint64_t v;
    const char *param = NULL;
    cJSON *all = cJSON_CreateStringArray((const char *const[]){"*"}, 1);
    cp_admin_new_key_t k = {.id = id,
                            .workspace_id = "ws_rot",
                            .sha256 = sha,
                            .prefix = prefix,
                            .name = "",
                            .allowed_models = all,
                            .expires_at = 0};
    cp_admin_rc_t rc = cp_admin_create_key(s, &k, NULL, &v, &param, err, sizeof(err));
    CHECK(rc == CP_ADMIN_OK);
    if (rc != CP_ADMIN_OK)
        fprintf(stderr, "  create key: %s\n", err);
    cJSON_Delete(all);
}

static void test_rotation(cp_store_t *s)
{
    uint8_t a[SY_SHA256_LEN], b[SY_SHA256_LEN], c[SY_SHA256_LEN], d[SY_SHA256_LEN];
    secret("sk-sy-rotate-secret-a", a);
    secret("sk-sy-rotate-secret-b", b);
    secret("sk-sy-rotate-secret-c", c);
    secret("sk-sy-rotate-secret-d", d);
    create_key(s, "key_rot", a, "sk-sy-aaaa\xe2\x80\xa6");

    dp_snapshot_t *before = to_dp(s);
    uint64_t tid_before = 0;
    if (before) {
        const dp_key_t *k = dp_snapshot_find_key(before, a);
        CHECK(k && strcmp(k->id, "key_rot") == 0 && k->prev_sha256 == NULL);
        tid_before = k ? k->tid : 0;
        CHECK(dp_snapshot_find_key(before, b) == NULL);
        dp_snapshot_unref(before);
    }

    /* rotate with a 60 s grace: the row holds B, the previous row A until now + 60 s */
    int64_t now = wall_ms();
    uint64_t v0 = version_of(s);
    cJSON *out = NULL;
    const char *param = NULL;
    CHECK(rotate(s, "key_rot", b, "sk-sy-bbbb\xe2\x80\xa6", 60, now, &out, &param) == CP_ADMIN_OK);
    CHECK(version_of(s) == v0 + 1);
    CHECK(out != NULL);
    if (out) {
        CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(out, "id")), "key_rot");
        CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(out, "prefix")), "sk-sy-bbbb\xe2\x80\xa6");
        CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(out, "previous_prefix")),
                  "sk-sy-aaaa\xe2\x80\xa6");
        CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(out, "previous_valid_until_ms")) ==
              (double)(now + 60000));
        CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(out, "rotated_at")) == (double)(now / 1000));
        CHECK(cJSON_GetObjectItem(out, "key") == NULL && cJSON_GetObjectItem(out, "sha256") == NULL);
        cJSON_Delete(out);
    }
    CHECK(blob_is(s, "SELECT sha256 FROM api_keys WHERE id = ?1", "key_rot", b));
    CHECK(blob_is(s, "SELECT sha256 FROM api_key_prev WHERE key_id = ?1", "key_rot", a));
    CHECK(count(s, "SELECT valid_until_ms - rotated_ms FROM api_key_prev WHERE key_id = ?1", "key_rot") ==
          60000);
    CHECK(count(s, "SELECT count(*) FROM api_key_prev WHERE key_id = ?1", "key_rot") == 1);

    dp_snapshot_t *dp = to_dp(s);
    CHECK(dp != NULL);
    if (dp) {
        const dp_key_t *kb = dp_snapshot_find_key(dp, b);
        const dp_key_t *ka = dp_snapshot_find_key(dp, a);
        CHECK(kb && ka && ka == kb && strcmp(kb->id, "key_rot") == 0);
        CHECK(kb && kb->tid == tid_before); /* limits and reservations stay with the key id */
        /* the grace ends by the wall clock alone, in this same snapshot */
        CHECK(dp_snapshot_find_key_at(dp, a, now + 59999) == kb);
        CHECK(dp_snapshot_find_key_at(dp, a, now + 60000) == NULL);
        CHECK(dp_snapshot_find_key_at(dp, b, now + 10000000) == kb);
        CHECK(dp_snapshot_find_key(dp, c) == NULL);
        dp_snapshot_unref(dp);
    }

    /* a second rotation with a grace: only C and B; A is gone at once (at most one previous) */
    now = wall_ms();
    CHECK(rotate(s, "key_rot", c, "sk-sy-cccc\xe2\x80\xa6", 30, now, NULL, &param) == CP_ADMIN_OK);
    CHECK(count(s, "SELECT count(*) FROM api_key_prev WHERE key_id = ?1", "key_rot") == 1);
    CHECK(blob_is(s, "SELECT sha256 FROM api_key_prev WHERE key_id = ?1", "key_rot", b));
    dp = to_dp(s);
    CHECK(dp != NULL);
    if (dp) {
        CHECK(dp_snapshot_find_key(dp, c) != NULL);
        CHECK(dp_snapshot_find_key(dp, b) != NULL);
        CHECK(dp_snapshot_find_key(dp, a) == NULL);
        dp_snapshot_unref(dp);
    }

    /* no grace: the old secret stops with this snapshot */
    CHECK(rotate(s, "key_rot", d, "sk-sy-dddd\xe2\x80\xa6", 0, wall_ms(), &out, &param) == CP_ADMIN_OK);
    if (out) {
        CHECK(cJSON_IsNull(cJSON_GetObjectItem(out, "previous_prefix")));
        CHECK(cJSON_IsNull(cJSON_GetObjectItem(out, "previous_valid_until_ms")));
        cJSON_Delete(out);
    }
    dp = to_dp(s);
    if (dp) {
        const dp_key_t *kd = dp_snapshot_find_key(dp, d);
        CHECK(kd && kd->prev_sha256 == NULL && kd->tid == tid_before);
        CHECK(dp_snapshot_find_key(dp, c) == NULL);
        CHECK(dp_snapshot_find_key(dp, b) == NULL);
        dp_snapshot_unref(dp);
    }
}

static void test_refusals(cp_store_t *s)
{
    uint8_t a[SY_SHA256_LEN], b[SY_SHA256_LEN], e[SY_SHA256_LEN];
    secret("sk-sy-refuse-secret-a", a);
    secret("sk-sy-refuse-secret-b", b);
    secret("sk-sy-refuse-secret-e", e);
    create_key(s, "key_ref", a, "sk-sy-rrrr\xe2\x80\xa6");
    const char *param = NULL;
    cJSON *out = NULL;
    uint64_t v0 = version_of(s);

    /* grace bounds: 0..7 days; outside is INVALID naming grace_seconds, and nothing changes */
    CHECK(rotate(s, "key_ref", b, "x", -1, wall_ms(), &out, &param) == CP_ADMIN_INVALID && out == NULL);
    CHECK(param && strcmp(param, "grace_seconds") == 0);
    param = NULL;
    CHECK(rotate(s, "key_ref", b, "x", CP_ADMIN_ROTATE_GRACE_MAX_S + 1, wall_ms(), &out, &param) ==
          CP_ADMIN_INVALID);
    CHECK(param && strcmp(param, "grace_seconds") == 0);
    CHECK(version_of(s) == v0);
    CHECK(blob_is(s, "SELECT sha256 FROM api_keys WHERE id = ?1", "key_ref", a));
    CHECK(count(s, "SELECT count(*) FROM api_key_prev WHERE key_id = ?1", "key_ref") == 0);
    CHECK(CP_ADMIN_ROTATE_GRACE_MAX_S == 604800);

    /* the maximum itself is allowed */
    int64_t now = wall_ms();
    CHECK(rotate(s, "key_ref", b, "sk-sy-r2r2\xe2\x80\xa6", CP_ADMIN_ROTATE_GRACE_MAX_S, now, NULL, &param) ==
          CP_ADMIN_OK);
    CHECK(count(s, "SELECT valid_until_ms - rotated_ms FROM api_key_prev WHERE key_id = ?1", "key_ref") ==
          604800000);

    /* unknown key: NOT_FOUND, no write */
    uint64_t v1 = version_of(s);
    CHECK(rotate(s, "key_nowhere", e, "x", 0, wall_ms(), &out, &param) == CP_ADMIN_NOT_FOUND && out == NULL);
    CHECK(version_of(s) == v1);

    /* revoked key: INVALID, stays revoked, secret unchanged, no write; and its previous secret
     * (still within its grace in the store) leaves the snapshot with the revocation */
    char err[256];
    uint64_t v2;
    CHECK(cp_admin_revoke_key(s, "key_ref", &v2, err, sizeof(err)) == CP_ADMIN_OK);
    param = NULL;
    CHECK(rotate(s, "key_ref", e, "x", 10, wall_ms(), &out, &param) == CP_ADMIN_INVALID && out == NULL);
    CHECK(param == NULL);
    CHECK(version_of(s) == v2);
    CHECK(blob_is(s, "SELECT sha256 FROM api_keys WHERE id = ?1", "key_ref", b));
    CHECK(count(s, "SELECT revoked FROM api_keys WHERE id = ?1", "key_ref") == 1);
    dp_snapshot_t *dp = to_dp(s);
    if (dp) {
        const dp_key_t *kb = dp_snapshot_find_key(dp, b);
        CHECK(kb && kb->revoked && kb->prev_sha256 == NULL);
        CHECK(dp_snapshot_find_key(dp, a) == NULL);
        CHECK(dp_snapshot_find_key(dp, e) == NULL);
        dp_snapshot_unref(dp);
    }
}

int main(void)
{
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(db_path, sizeof(db_path), "%s/cp.db", dir);
    char err[256] = "";
    cp_store_t *s = NULL;
    CHECK(cp_store_open(db_path, &s, err, sizeof(err)) == 0);
    if (s == NULL) {
        fprintf(stderr, "  open: %s\n", err);
        SY_TEST_MAIN_END();
    }
    CHECK(count(s, "SELECT count(*) FROM sqlite_master WHERE name = 'api_key_prev'", NULL) == 1);
    uint64_t v;
    const char *param = NULL;
    CHECK(cp_admin_create_workspace(s, "ws_rot", "Rotation", NULL, &v, &param, err, sizeof(err)) ==
          CP_ADMIN_OK);

    test_rotation(s);
    test_refusals(s);

    cp_store_close(s);
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
        char p[PATH_MAX + 16];
        snprintf(p, sizeof(p), "%s%s", db_path, suffix[i]);
        unlink(p);
    }
    CHECK(rmdir(dir) == 0);
    SY_TEST_MAIN_END();
}
