/*
 * Dashboard accounts: users, memberships, sessions, invitations (cp_accounts.h).
 */
#include "cp_accounts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sqlite3.h>

#include "sy_hash.h"
#include "sy_util.h"

#define PW_LOG_N 15
#define PW_R 8
#define PW_P 1
#define PW_SALT 16
#define PW_KEY 32
#define PW_MAXMEM (64u * 1024 * 1024)

static int scrypt(const char *pw, size_t len, const uint8_t *salt, size_t saltlen, int log_n, int r, int p,
                  uint8_t key[PW_KEY])
{
    return EVP_PBE_scrypt(pw, len, salt, saltlen, (uint64_t)1 << log_n, (uint64_t)r, (uint64_t)p, PW_MAXMEM,
                          key, PW_KEY) == 1
               ? 0
               : -1;
}

int cp_pw_hash(const char *pw, size_t len, char out[CP_PW_HASH_MAX])
{
    uint8_t salt[PW_SALT], key[PW_KEY];
    char salt_hex[2 * PW_SALT + 1], key_hex[2 * PW_KEY + 1];
    if (RAND_bytes(salt, sizeof(salt)) != 1 ||
        scrypt(pw, len, salt, sizeof(salt), PW_LOG_N, PW_R, PW_P, key) != 0)
        return -1;
    sy_hex(salt, sizeof(salt), salt_hex);
    sy_hex(key, sizeof(key), key_hex);
    OPENSSL_cleanse(key, sizeof(key));
    snprintf(out, CP_PW_HASH_MAX, "scrypt$%d$%d$%d$%s$%s", PW_LOG_N, PW_R, PW_P, salt_hex, key_hex);
    return 0;
}

int cp_pw_verify(const char *pw, size_t len, const char *stored)
{
    int log_n, r, p, used = 0;
    char salt_hex[2 * PW_SALT + 1], key_hex[2 * PW_KEY + 1];
    if (sscanf(stored, "scrypt$%2d$%2d$%2d$%32[0-9a-f]$%64[0-9a-f]%n", &log_n, &r, &p, salt_hex, key_hex,
               &used) != 5 ||
        stored[used] != '\0' || log_n < 10 || log_n > 22 || r < 1 || r > 32 || p < 1 || p > 4 ||
        strlen(salt_hex) != 2 * PW_SALT || strlen(key_hex) != 2 * PW_KEY)
        return 0;
    uint8_t salt[PW_SALT], want[PW_KEY], got[PW_KEY];
    if (sy_unhex(salt_hex, 2 * PW_SALT, salt, PW_SALT) != 0 ||
        sy_unhex(key_hex, 2 * PW_KEY, want, PW_KEY) != 0)
        return 0;
    if (scrypt(pw, len, salt, sizeof(salt), log_n, r, p, got) != 0)
        return 0;
    int ok = sy_ct_equal(got, want, PW_KEY);
    OPENSSL_cleanse(got, sizeof(got));
    return ok;
}

void cp_pw_burn(const char *pw, size_t len)
{
    static const uint8_t salt[PW_SALT] = {0};
    uint8_t key[PW_KEY];
    (void)scrypt(pw, len, salt, sizeof(salt), PW_LOG_N, PW_R, PW_P, key);
    OPENSSL_cleanse(key, sizeof(key));
}

int cp_email_normalize(const char *email, char out[CP_EMAIL_MAX + 1])
{
    size_t n = strlen(email), at = 0, ats = 0;
    if (n < 3 || n > CP_EMAIL_MAX)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)email[i];
        if (c <= 0x20 || c == 0x7f || c == '"' || c == '\'' || c == '<' || c == '>' || c == '\\')
            return -1;
        if (c == '@') {
            ats++;
            at = i;
        }
        out[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    out[n] = '\0';
    return ats == 1 && at > 0 && at < n - 1 ? 0 : -1;
}

/* ------------------------------------------------------------------------------ store */

static cp_admin_rc_t fail(cp_store_t *s, sqlite3_stmt *st, char *err, size_t errlen, const char *what)
{
    sy_errf(err, errlen, "%s: %s", what, sqlite3_errmsg(cp_store_db(s)));
    if (st)
        sqlite3_finalize(st);
    cp_store_rollback(s);
    return CP_ADMIN_ERROR;
}

/* Runs one statement with text arguments (NULL = SQL NULL) and a blob; SQLITE_DONE expected. */
static int exec(cp_store_t *s, const char *sql, const uint8_t *blob, size_t bloblen, int64_t n1, int64_t n2,
                const char *t1, const char *t2, const char *t3, const char *t4, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    if (cp_store_prepare(s, sql, &st, err, errlen) != 0)
        return -1;
    if (blob)
        sqlite3_bind_blob(st, 1, blob, (int)bloblen, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, n1);
    sqlite3_bind_int64(st, 3, n2);
    const char *t[4] = {t1, t2, t3, t4};
    for (int i = 0; i < 4; i++)
        if (t[i])
            sqlite3_bind_text(st, 4 + i, t[i], -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
        sy_errf(err, errlen, "%s", sqlite3_errmsg(cp_store_db(s)));
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_finalize(st);
    return 0;
}

static int random_hex(char *out, size_t bytes)
{
    uint8_t b[32];
    if (bytes > sizeof(b) || RAND_bytes(b, (int)bytes) != 1)
        return -1;
    sy_hex(b, bytes, out);
    return 0;
}

static const char *role_name(cp_role_t r)
{
    return r == CP_ROLE_OWNER ? "owner" : "member";
}

/* Inside an open write transaction: the invitation's workspace and role when usable at now_ms,
 * and marks it used by user_id. NOT_FOUND (rolled back) when not. */
static cp_admin_rc_t take_invite(cp_store_t *s, const char *secret, const char *user_id, int64_t now_ms,
                                 char ws_id[CP_WS_ID_MAX], char role[8], char *err, size_t errlen)
{
    uint8_t sha[SY_SHA256_LEN];
    sy_sha256(secret, strlen(secret), sha);
    sqlite3_stmt *st;
    if (cp_store_prepare(s,
                         "SELECT workspace_id, role FROM invites WHERE sha256 = ?1 AND used_ms IS NULL AND "
                         "expires_ms > ?2",
                         &st, err, errlen) != 0) {
        cp_store_rollback(s);
        return CP_ADMIN_ERROR;
    }
    sqlite3_bind_blob(st, 1, sha, sizeof(sha), SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, now_ms);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        if (rc != SQLITE_DONE)
            return fail(s, st, err, errlen, "read invitation");
        sqlite3_finalize(st);
        cp_store_rollback(s);
        sy_errf(err, errlen, "this invitation is unknown, used or expired");
        return CP_ADMIN_NOT_FOUND;
    }
    snprintf(ws_id, CP_WS_ID_MAX, "%s", (const char *)sqlite3_column_text(st, 0));
    snprintf(role, 8, "%s", (const char *)sqlite3_column_text(st, 1));
    sqlite3_finalize(st);
    if (exec(s, "UPDATE invites SET used_ms = ?2, used_by = ?4 WHERE sha256 = ?1", sha, sizeof(sha), now_ms,
             0, user_id, NULL, NULL, NULL, err, errlen) != 0) {
        cp_store_rollback(s);
        return CP_ADMIN_ERROR;
    }
    return CP_ADMIN_OK;
}

cp_admin_rc_t cp_accounts_signup(cp_store_t *s, const char *email, const char *pw_hash, const char *ws_name,
                                 const char *invite_secret, int64_t now_ms, char user_id[CP_USER_ID_MAX],
                                 char ws_id[CP_WS_ID_MAX], uint64_t *version, const char **param, char *err,
                                 size_t errlen)
{
    char hex[33], role[8] = "owner";
    if (random_hex(hex, 16) != 0) {
        sy_errf(err, errlen, "random number generator failed");
        return CP_ADMIN_ERROR;
    }
    snprintf(user_id, CP_USER_ID_MAX, "usr_%s", hex);
    if (cp_store_begin_write(s, err, errlen) != 0)
        return CP_ADMIN_ERROR;
    int found = cp_store_exists(s, "SELECT 1 FROM users WHERE email = ?1", email, err, errlen);
    if (found != 0) {
        cp_store_rollback(s);
        if (found < 0)
            return CP_ADMIN_ERROR;
        *param = "email";
        sy_errf(err, errlen, "an account with this email exists; log in instead");
        return CP_ADMIN_INVALID;
    }
    if (exec(s, "INSERT INTO users (id, email, pw_hash, created_ms) VALUES (?4, ?5, ?6, ?2)", NULL, 0, now_ms,
             0, user_id, email, pw_hash, NULL, err, errlen) != 0) {
        cp_store_rollback(s);
        return CP_ADMIN_ERROR;
    }
    if (invite_secret != NULL) {
        cp_admin_rc_t rc = take_invite(s, invite_secret, user_id, now_ms, ws_id, role, err, errlen);
        if (rc != CP_ADMIN_OK) {
            if (rc == CP_ADMIN_NOT_FOUND)
                *param = "invite";
            return rc;
        }
    } else {
        if (random_hex(hex, 8) != 0) {
            cp_store_rollback(s);
            sy_errf(err, errlen, "random number generator failed");
            return CP_ADMIN_ERROR;
        }
        snprintf(ws_id, CP_WS_ID_MAX, "ws_%s", hex);
        if (exec(s, "INSERT INTO workspaces (id, name, active, created_at) VALUES (?4, ?5, 1, ?2)", NULL, 0,
                 now_ms / 1000, 0, ws_id, ws_name ? ws_name : "", NULL, NULL, err, errlen) != 0) {
            cp_store_rollback(s);
            return CP_ADMIN_ERROR;
        }
    }
    if (exec(s, "INSERT INTO memberships (user_id, workspace_id, role, created_ms) VALUES (?4, ?5, ?6, ?2)",
             NULL, 0, now_ms, 0, user_id, ws_id, role, NULL, err, errlen) != 0) {
        cp_store_rollback(s);
        return CP_ADMIN_ERROR;
    }
    /* a new workspace is part of the snapshot; a membership alone is not, but one commit path
     * keeps this simple (a version bump the fleet fetches as "unchanged" data) */
    if (cp_store_commit_write(s, version, err, errlen) != 0)
        return CP_ADMIN_ERROR;
    return CP_ADMIN_OK;
}

cp_admin_rc_t cp_accounts_find(cp_store_t *s, const char *email, char user_id[CP_USER_ID_MAX],
                               char pw_hash[CP_PW_HASH_MAX], char *err, size_t errlen)
{
    sqlite3_stmt *st;
    if (cp_store_prepare(s, "SELECT id, pw_hash FROM users WHERE email = ?1 AND active = 1", &st, err,
                         errlen) != 0)
        return CP_ADMIN_ERROR;
    sqlite3_bind_text(st, 1, email, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        snprintf(user_id, CP_USER_ID_MAX, "%s", (const char *)sqlite3_column_text(st, 0));
        snprintf(pw_hash, CP_PW_HASH_MAX, "%s", (const char *)sqlite3_column_text(st, 1));
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW)
        return CP_ADMIN_OK;
    if (rc != SQLITE_DONE) {
        sy_errf(err, errlen, "read user: %s", sqlite3_errmsg(cp_store_db(s)));
        return CP_ADMIN_ERROR;
    }
    return CP_ADMIN_NOT_FOUND;
}

cp_admin_rc_t cp_session_create(cp_store_t *s, const char *user_id, int64_t now_ms, int64_t ttl_ms,
                                char secret[CP_SECRET_HEX], char *err, size_t errlen)
{
    uint8_t sha[SY_SHA256_LEN];
    if (random_hex(secret, 32) != 0) {
        sy_errf(err, errlen, "random number generator failed");
        return CP_ADMIN_ERROR;
    }
    sy_sha256(secret, 64, sha);
    /* sessions are not in the snapshot: a quiet commit, no version bump */
    if (cp_store_begin_write(s, err, errlen) != 0)
        return CP_ADMIN_ERROR;
    /* expired sessions of this user go when a new one is made (the table stays small) */
    if ((strcmp(user_id, CP_OPERATOR_USER) == 0 &&
         exec(s, "INSERT OR IGNORE INTO users (id, email, pw_hash, created_ms) VALUES (?4, ?4, '!', ?2)",
              NULL, 0, now_ms, 0, user_id, NULL, NULL, NULL, err, errlen) != 0) ||
        exec(s, "DELETE FROM sessions WHERE user_id = ?4 AND expires_ms <= ?2", NULL, 0, now_ms, 0, user_id,
             NULL, NULL, NULL, err, errlen) != 0 ||
        exec(s, "INSERT INTO sessions (sha256, user_id, created_ms, expires_ms) VALUES (?1, ?4, ?2, ?3)", sha,
             sizeof(sha), now_ms, now_ms + ttl_ms, user_id, NULL, NULL, NULL, err, errlen) != 0) {
        cp_store_rollback(s);
        return CP_ADMIN_ERROR;
    }
    return cp_store_commit_quiet(s, err, errlen) == 0 ? CP_ADMIN_OK : CP_ADMIN_ERROR;
}

cp_admin_rc_t cp_session_user(cp_store_t *s, const char *secret, size_t len, int64_t now_ms,
                              char user_id[CP_USER_ID_MAX], char *err, size_t errlen)
{
    uint8_t sha[SY_SHA256_LEN];
    sy_sha256(secret, len, sha);
    sqlite3_stmt *st;
    if (cp_store_prepare(s,
                         "SELECT s.user_id, s.expires_ms FROM sessions s JOIN users u ON u.id = s.user_id "
                         "WHERE s.sha256 = ?1 AND u.active = 1",
                         &st, err, errlen) != 0)
        return CP_ADMIN_ERROR;
    sqlite3_bind_blob(st, 1, sha, sizeof(sha), SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    int64_t expires = 0;
    if (rc == SQLITE_ROW) {
        snprintf(user_id, CP_USER_ID_MAX, "%s", (const char *)sqlite3_column_text(st, 0));
        expires = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        sy_errf(err, errlen, "read session: %s", sqlite3_errmsg(cp_store_db(s)));
        return CP_ADMIN_ERROR;
    }
    if (rc == SQLITE_ROW && expires > now_ms)
        return CP_ADMIN_OK;
    if (rc == SQLITE_ROW)
        (void)cp_session_delete(s, secret, len, err, errlen);
    return CP_ADMIN_NOT_FOUND;
}

cp_admin_rc_t cp_session_delete(cp_store_t *s, const char *secret, size_t len, char *err, size_t errlen)
{
    uint8_t sha[SY_SHA256_LEN];
    sy_sha256(secret, len, sha);
    if (cp_store_begin_write(s, err, errlen) != 0)
        return CP_ADMIN_ERROR;
    if (exec(s, "DELETE FROM sessions WHERE sha256 = ?1", sha, sizeof(sha), 0, 0, NULL, NULL, NULL, NULL, err,
             errlen) != 0) {
        cp_store_rollback(s);
        return CP_ADMIN_ERROR;
    }
    return cp_store_commit_quiet(s, err, errlen) == 0 ? CP_ADMIN_OK : CP_ADMIN_ERROR;
}

void cp_session_csrf(const char *secret, size_t len, char out[CP_CSRF_HEX])
{
    char buf[5 + 256];
    uint8_t sha[SY_SHA256_LEN];
    size_t n = len > 256 ? 256 : len;
    memcpy(buf, "csrf:", 5);
    memcpy(buf + 5, secret, n);
    sy_sha256(buf, 5 + n, sha);
    sy_hex(sha, 16, out);
}

int cp_accounts_role(cp_store_t *s, const char *user_id, const char *ws, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    if (cp_store_prepare(s, "SELECT role FROM memberships WHERE user_id = ?1 AND workspace_id = ?2", &st, err,
                         errlen) != 0)
        return -1;
    sqlite3_bind_text(st, 1, user_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, ws, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st), role = CP_ROLE_NONE;
    if (rc == SQLITE_ROW)
        role =
            strcmp((const char *)sqlite3_column_text(st, 0), "owner") == 0 ? CP_ROLE_OWNER : CP_ROLE_MEMBER;
    else if (rc != SQLITE_DONE) {
        sy_errf(err, errlen, "read membership: %s", sqlite3_errmsg(cp_store_db(s)));
        role = -1;
    }
    sqlite3_finalize(st);
    return role;
}

cp_admin_rc_t cp_accounts_key_workspace(cp_store_t *s, const char *key_id, char ws[CP_WS_ID_MAX], char *err,
                                        size_t errlen)
{
    sqlite3_stmt *st;
    if (cp_store_prepare(s, "SELECT workspace_id FROM api_keys WHERE id = ?1", &st, err, errlen) != 0)
        return CP_ADMIN_ERROR;
    sqlite3_bind_text(st, 1, key_id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        snprintf(ws, CP_WS_ID_MAX, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW)
        return CP_ADMIN_OK;
    if (rc != SQLITE_DONE) {
        sy_errf(err, errlen, "read key: %s", sqlite3_errmsg(cp_store_db(s)));
        return CP_ADMIN_ERROR;
    }
    return CP_ADMIN_NOT_FOUND;
}

cp_admin_rc_t cp_accounts_me(cp_store_t *s, const char *user_id, cJSON **out, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    *out = NULL;
    if (cp_store_prepare(
            s,
            "SELECT u.email, m.workspace_id, w.name, m.role FROM users u LEFT JOIN memberships m ON "
            "m.user_id = u.id LEFT JOIN workspaces w ON w.id = m.workspace_id WHERE u.id = ?1 "
            "ORDER BY m.created_ms, m.workspace_id",
            &st, err, errlen) != 0)
        return CP_ADMIN_ERROR;
    sqlite3_bind_text(st, 1, user_id, -1, SQLITE_TRANSIENT);
    cJSON *me = cJSON_CreateObject(), *wss = cJSON_CreateArray();
    int rc, rows = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (rows++ == 0) {
            cJSON_AddStringToObject(me, "id", user_id);
            cJSON_AddStringToObject(me, "email", (const char *)sqlite3_column_text(st, 0));
        }
        if (sqlite3_column_type(st, 1) == SQLITE_NULL)
            continue;
        cJSON *w = cJSON_CreateObject();
        cJSON_AddStringToObject(w, "id", (const char *)sqlite3_column_text(st, 1));
        cJSON_AddStringToObject(w, "name",
                                sqlite3_column_text(st, 2) ? (const char *)sqlite3_column_text(st, 2) : "");
        cJSON_AddStringToObject(w, "role", (const char *)sqlite3_column_text(st, 3));
        cJSON_AddItemToArray(wss, w);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE || rows == 0) {
        cJSON_Delete(me);
        cJSON_Delete(wss);
        if (rc != SQLITE_DONE) {
            sy_errf(err, errlen, "read user: %s", sqlite3_errmsg(cp_store_db(s)));
            return CP_ADMIN_ERROR;
        }
        sy_errf(err, errlen, "no such user");
        return CP_ADMIN_NOT_FOUND;
    }
    cJSON_AddItemToObject(me, "workspaces", wss);
    *out = me;
    return CP_ADMIN_OK;
}

cp_admin_rc_t cp_invite_create(cp_store_t *s, const char *ws, cp_role_t role, const char *user_id,
                               int64_t now_ms, int64_t ttl_ms, char secret[CP_SECRET_HEX], char *err,
                               size_t errlen)
{
    uint8_t sha[SY_SHA256_LEN];
    if (random_hex(secret, 32) != 0) {
        sy_errf(err, errlen, "random number generator failed");
        return CP_ADMIN_ERROR;
    }
    sy_sha256(secret, 64, sha);
    if (cp_store_begin_write(s, err, errlen) != 0)
        return CP_ADMIN_ERROR;
    int found = cp_store_exists(s, "SELECT 1 FROM workspaces WHERE id = ?1", ws, err, errlen);
    if (found != 1) {
        cp_store_rollback(s);
        if (found < 0)
            return CP_ADMIN_ERROR;
        sy_errf(err, errlen, "no such workspace");
        return CP_ADMIN_NOT_FOUND;
    }
    if (exec(s,
             "INSERT INTO invites (sha256, workspace_id, role, created_by, created_ms, expires_ms) VALUES "
             "(?1, ?4, "
             "?5, ?6, ?2, ?3)",
             sha, sizeof(sha), now_ms, now_ms + ttl_ms, ws, role_name(role), user_id, NULL, err,
             errlen) != 0) {
        cp_store_rollback(s);
        return CP_ADMIN_ERROR;
    }
    return cp_store_commit_quiet(s, err, errlen) == 0 ? CP_ADMIN_OK : CP_ADMIN_ERROR;
}

cp_admin_rc_t cp_invite_accept(cp_store_t *s, const char *secret, const char *user_id, int64_t now_ms,
                               char ws_id[CP_WS_ID_MAX], char *err, size_t errlen)
{
    char role[8];
    if (cp_store_begin_write(s, err, errlen) != 0)
        return CP_ADMIN_ERROR;
    cp_admin_rc_t rc = take_invite(s, secret, user_id, now_ms, ws_id, role, err, errlen);
    if (rc != CP_ADMIN_OK)
        return rc;
    /* already a member: the stronger of the two roles stays */
    if (exec(s,
             "INSERT INTO memberships (user_id, workspace_id, role, created_ms) VALUES (?4, ?5, ?6, ?2) ON "
             "CONFLICT "
             "(user_id, workspace_id) DO UPDATE SET role = CASE WHEN role = 'owner' THEN 'owner' ELSE "
             "excluded.role END",
             NULL, 0, now_ms, 0, user_id, ws_id, role, NULL, err, errlen) != 0) {
        cp_store_rollback(s);
        return CP_ADMIN_ERROR;
    }
    return cp_store_commit_quiet(s, err, errlen) == 0 ? CP_ADMIN_OK : CP_ADMIN_ERROR;
}
