/*
 * cp_accounts — dashboard users, their workspaces and roles, login sessions and invitations
 * (docs/dashboard.md), in the control plane's SQLite store.
 *
 * Passwords: scrypt (OpenSSL 3's EVP_PBE_scrypt; N = 2^15, r = 8, p = 1: 32 MiB and tens of
 * milliseconds per hash) with a 16-byte random salt, stored as
 * "scrypt$<log2 N>$<r>$<p>$<salt hex>$<hash hex>" so the cost can rise without a migration.
 * Sessions and invitations are 32 random bytes shown once (the cookie, the invite link) and
 * stored as their SHA-256 only. A session's CSRF token is derived from its secret
 * (cp_session_csrf), so it needs no storage and dies with the session.
 *
 * Every function takes the store the caller owns (the admin API's loop thread) and returns
 * CP_ADMIN_OK / CP_ADMIN_NOT_FOUND / CP_ADMIN_INVALID (err says why; *param names the field
 * when given) / CP_ADMIN_ERROR (a store failure). Strings written to caller buffers are
 * NUL-terminated and bounded by the sizes below.
 */
#ifndef CP_ACCOUNTS_H
#define CP_ACCOUNTS_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "cp_admin.h"
#include "cp_store.h"

#define CP_PW_HASH_MAX 160  /* the stored form above */
#define CP_SECRET_HEX 65    /* a session or invitation secret: 64 hex digits + NUL */
#define CP_CSRF_HEX 33      /* 32 hex digits + NUL */
#define CP_USER_ID_MAX 40   /* "usr_" + 32 hex + NUL */
#define CP_PASSWORD_MIN 10  /* bytes */
#define CP_PASSWORD_MAX 256 /* bytes: bounds the KDF's input */
#define CP_EMAIL_MAX 254
#define CP_WS_ID_MAX 129 /* workspace ids: 1..128 bytes + NUL */

/* The user id of the operator's dashboard session (POST /api/auth/operator): a users row that
 * cannot log in with a password (its email is not an address, its hash is not a hash). */
#define CP_OPERATOR_USER "operator"

typedef enum { CP_ROLE_NONE = 0, CP_ROLE_MEMBER = 1, CP_ROLE_OWNER = 2 } cp_role_t;

/* Hashes `pw` (len bytes) into out; -1 when the RNG or the KDF fails. */
int cp_pw_hash(const char *pw, size_t len, char out[CP_PW_HASH_MAX]);
/* 1 when `pw` matches `stored` (constant-time compare of the derived keys), 0 when not or
 * when `stored` is not a hash this code wrote. */
int cp_pw_verify(const char *pw, size_t len, const char *stored);
/* Runs the KDF on a fixed dummy hash: a login for an unknown email costs what a wrong password
 * for a known one costs, so timing does not tell which emails have accounts. */
void cp_pw_burn(const char *pw, size_t len);

/* Lower-cases `email` into out (ASCII) after checking its form: 3..254 bytes, one '@' with
 * something on each side, no space, quote or control character. -1 when invalid. */
int cp_email_normalize(const char *email, char out[CP_EMAIL_MAX + 1]);

/* A new user with `pw_hash`. With invite_secret: joins that invitation's workspace in its role
 * (the invitation must be unused and unexpired; it is marked used). Without: a new workspace
 * named ws_name (id "ws_" + 16 hex) with the user as its owner. The snapshot version is bumped
 * when a workspace is created (*version). *user_id / *ws_id receive the ids. An email already
 * registered is CP_ADMIN_INVALID with *param "email"; a bad invitation CP_ADMIN_NOT_FOUND. */
cp_admin_rc_t cp_accounts_signup(cp_store_t *s, const char *email, const char *pw_hash, const char *ws_name,
                                 const char *invite_secret, int64_t now_ms, char user_id[CP_USER_ID_MAX],
                                 char ws_id[CP_WS_ID_MAX], uint64_t *version, const char **param, char *err,
                                 size_t errlen);

/* The user with `email` (normalized): id and stored hash. CP_ADMIN_NOT_FOUND when none or
 * deactivated. */
cp_admin_rc_t cp_accounts_find(cp_store_t *s, const char *email, char user_id[CP_USER_ID_MAX],
                               char pw_hash[CP_PW_HASH_MAX], char *err, size_t errlen);

/* A new session for user_id valid until now_ms + ttl_ms: the secret for the cookie (shown
 * once) in secret. */
cp_admin_rc_t cp_session_create(cp_store_t *s, const char *user_id, int64_t now_ms, int64_t ttl_ms,
                                char secret[CP_SECRET_HEX], char *err, size_t errlen);
/* The user of the session whose secret is `secret` (len bytes), when it exists and has not
 * expired at now_ms (an expired one is deleted). CP_ADMIN_NOT_FOUND otherwise. */
cp_admin_rc_t cp_session_user(cp_store_t *s, const char *secret, size_t len, int64_t now_ms,
                              char user_id[CP_USER_ID_MAX], char *err, size_t errlen);
/* Deletes the session (logout); deleting one that does not exist is OK. */
cp_admin_rc_t cp_session_delete(cp_store_t *s, const char *secret, size_t len, char *err, size_t errlen);
/* The CSRF token of a session: the first 32 hex digits of SHA-256("csrf:" + secret). */
void cp_session_csrf(const char *secret, size_t len, char out[CP_CSRF_HEX]);

/* The user's role in workspace ws (CP_ROLE_NONE when not a member; -1 on a store error). */
int cp_accounts_role(cp_store_t *s, const char *user_id, const char *ws, char *err, size_t errlen);

/* The workspace of API key key_id; CP_ADMIN_NOT_FOUND when there is no such key. */
cp_admin_rc_t cp_accounts_key_workspace(cp_store_t *s, const char *key_id, char ws[CP_WS_ID_MAX], char *err,
                                        size_t errlen);

/* {"id","email","workspaces":[{"id","name","role"}]} for the user (caller frees). */
cp_admin_rc_t cp_accounts_me(cp_store_t *s, const char *user_id, cJSON **out, char *err, size_t errlen);

/* A one-time invitation to ws in `role`, valid until now_ms + ttl_ms, created by user_id (an
 * owner: the caller checks; NULL for the operator). The secret (shown once) in secret. */
cp_admin_rc_t cp_invite_create(cp_store_t *s, const char *ws, cp_role_t role, const char *user_id,
                               int64_t now_ms, int64_t ttl_ms, char secret[CP_SECRET_HEX], char *err,
                               size_t errlen);
/* Adds an existing user to the invitation's workspace (marks it used). NOT_FOUND for an
 * unknown, used or expired invitation; *ws_id receives the workspace. */
cp_admin_rc_t cp_invite_accept(cp_store_t *s, const char *secret, const char *user_id, int64_t now_ms,
                               char ws_id[CP_WS_ID_MAX], char *err, size_t errlen);

#endif
