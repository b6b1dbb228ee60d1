/*
 * Admin API: dashboard accounts — sign-up, log in and out, who am I, invitations
 * (docs/dashboard.md). Handlers run on the loop thread (cp_routes.h).
 *
 * The KDF (cp_accounts.h: scrypt, tens of milliseconds) runs on the loop thread on sign-up and
 * log-in: the admin API's traffic is light, and the failed-login limit below bounds how much
 * of it an attacker can cause.
 */
#include "cp_accounts.h"
#include "cp_http.h"
#include "cp_routes.h"

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/crypto.h>

#include "cp_bus.h"
#include "sy_hash.h"
#include "sy_log.h"

#define SESSION_COOKIE "sy_session"
#define DEFAULT_SESSION_TTL_S 43200
#define INVITE_TTL_MS (7LL * 24 * 3600 * 1000)

/* ------------------------------------------------------------- failed-login limit */

/* Failed logins are counted per email and per client address in a fixed table (loop thread
 * only): at most LOGIN_MAX_PER_EMAIL failures per email and LOGIN_MAX_PER_ADDR per address
 * within LOGIN_WINDOW_MS; past that every login attempt for it is 429 until the window ends.
 * A successful login clears its email's count. When the table is full the oldest window is
 * reused (an attacker can at worst reset others' counts by filling it from many addresses). */
#define LOGIN_SLOTS 1024
#define LOGIN_WINDOW_MS (15 * 60 * 1000)
#define LOGIN_MAX_PER_EMAIL 10
#define LOGIN_MAX_PER_ADDR 50

static struct {
    uint8_t key[16];
    int64_t start_ms;
    uint32_t fails;
} slots[LOGIN_SLOTS];

static void slot_key(const char *kind, const void *v, size_t n, uint8_t out[16])
{
    uint8_t buf[300], sha[SY_SHA256_LEN];
    size_t k = strlen(kind);
    if (n > sizeof(buf) - k)
        n = sizeof(buf) - k;
    memcpy(buf, kind, k);
    memcpy(buf + k, v, n);
    sy_sha256(buf, k + n, sha);
    memcpy(out, sha, 16);
}

static size_t slot_find(const uint8_t key[16], int64_t now, int create)
{
    size_t oldest = 0;
    for (size_t i = 0; i < LOGIN_SLOTS; i++) {
        if (slots[i].fails && now - slots[i].start_ms < LOGIN_WINDOW_MS && memcmp(slots[i].key, key, 16) == 0)
            return i;
        if (!slots[i].fails || now - slots[i].start_ms >= LOGIN_WINDOW_MS) {
            if (create) {
                memcpy(slots[i].key, key, 16);
                slots[i].start_ms = now;
                slots[i].fails = 0;
                return i;
            }
            continue;
        }
        if (slots[i].start_ms < slots[oldest].start_ms)
            oldest = i;
    }
    if (!create)
        return SIZE_MAX;
    memcpy(slots[oldest].key, key, 16);
    slots[oldest].start_ms = now;
    slots[oldest].fails = 0;
    return oldest;
}

/* Seconds until `key` may try again, or 0 when it may now. */
static int64_t slot_blocked(const uint8_t key[16], uint32_t max, int64_t now)
{
    size_t i = slot_find(key, now, 0);
    if (i == SIZE_MAX || slots[i].fails < max)
        return 0;
    return (slots[i].start_ms + LOGIN_WINDOW_MS - now + 999) / 1000;
}

static void slot_fail(const uint8_t key[16], int64_t now)
{
    size_t i = slot_find(key, now, 1);
    slots[i].fails++;
}

static void slot_clear(const uint8_t key[16], int64_t now)
{
    size_t i = slot_find(key, now, 0);
    if (i != SIZE_MAX)
        slots[i].fails = 0;
}

static void peer_key(h2o_req_t *req, uint8_t out[16])
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    socklen_t n =
        req->conn->callbacks->get_peername ? req->conn->callbacks->get_peername(req->conn, (void *)&ss) : 0;
    /* the address bytes, without the port */
    const void *a = &ss;
    size_t len = n;
    if (ss.ss_family == AF_INET) {
        a = &((struct sockaddr_in *)&ss)->sin_addr;
        len = 4;
    } else if (ss.ss_family == AF_INET6) {
        a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
        len = 16;
    }
    slot_key("addr:", a, len, out);
}

/* --------------------------------------------------------------------------- cookies */

static void set_cookie(h2o_req_t *req, const cp_call_t *c, const char *secret, long max_age)
{
    char v[256];
    int n = snprintf(v, sizeof(v), SESSION_COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%ld%s",
                     secret, max_age, c->o->cookie_secure ? "; Secure" : "");
    h2o_iovec_t copy = h2o_strdup(&req->pool, v, (size_t)n); /* h2o keeps the pointer until it sends */
    OPENSSL_cleanse(v, sizeof(v));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_SET_COOKIE, NULL, copy.base, copy.len);
}

static long session_ttl_s(const cp_call_t *c)
{
    return c->o->session_ttl_s > 0 ? c->o->session_ttl_s : DEFAULT_SESSION_TTL_S;
}

/* A new session for user_id: the cookie, and the answer {user…, csrf} with `status`. */
static int start_session(h2o_req_t *req, const cp_call_t *c, const char *user_id, int status, cJSON *extra)
{
    char err[256], secret[CP_SECRET_HEX], csrf[CP_CSRF_HEX];
    int64_t now = cp_wall_ms();
    cJSON *me = NULL;
    if (cp_session_create(c->o->store, user_id, now, (int64_t)session_ttl_s(c) * 1000, secret, err,
                          sizeof(err)) != CP_ADMIN_OK ||
        cp_accounts_me(c->o->store, user_id, &me, err, sizeof(err)) != CP_ADMIN_OK) {
        cJSON_Delete(extra);
        return cp_send_store_error(req, err);
    }
    cp_session_csrf(secret, 64, csrf);
    cJSON_AddStringToObject(me, "csrf_token", csrf);
    cJSON_AddBoolToObject(me, "operator", strcmp(user_id, CP_OPERATOR_USER) == 0);
    if (extra != NULL)
        cJSON_AddItemToObject(me, "created", extra);
    set_cookie(req, c, secret, session_ttl_s(c));
    OPENSSL_cleanse(secret, sizeof(secret));
    return cp_send_owned(req, status, me);
}

/* ---------------------------------------------------------------------------- handlers */

/* The email and password members of a sign-up or log-in body: 400 naming the field. */
static int get_credentials(h2o_req_t *req, const cJSON *root, char email[CP_EMAIL_MAX + 1], const char **pw,
                           size_t *pwlen)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "email");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "password");
    if (!cJSON_IsString(e) || cp_email_normalize(e->valuestring, email) != 0) {
        cp_send_error(req, SY_E_BAD_PARAM, "'email' must be an email address", "email");
        return -1;
    }
    if (!cJSON_IsString(p)) {
        cp_send_error(req, SY_E_BAD_PARAM, "'password' must be a string", "password");
        return -1;
    }
    *pw = p->valuestring;
    *pwlen = strlen(p->valuestring);
    return 0;
}

int cp_h_signup(h2o_req_t *req, const cp_call_t *c)
{
    static const char *const allowed[] = {"email", "password", "workspace_name", "invite", NULL};
    char email[CP_EMAIL_MAX + 1], err[256], hash[CP_PW_HASH_MAX], user_id[CP_USER_ID_MAX],
        ws_id[CP_WS_ID_MAX];
    const char *pw, *ws_name = "", *param = NULL;
    size_t pwlen;
    cJSON *root = cp_parse_body(req);
    if (root == NULL)
        return 0;
    int rc = -1;
    if (cp_reject_unknown(req, root, allowed) != 0 || get_credentials(req, root, email, &pw, &pwlen) != 0 ||
        cp_get_name(req, root, "workspace_name", &ws_name) != 0)
        goto done;
    if (pwlen < CP_PASSWORD_MIN || pwlen > CP_PASSWORD_MAX) {
        char m[128];
        snprintf(m, sizeof(m), "'password' must be %d..%d bytes", CP_PASSWORD_MIN, CP_PASSWORD_MAX);
        cp_send_error(req, SY_E_BAD_PARAM, m, "password");
        goto done;
    }
    const cJSON *inv = cJSON_GetObjectItemCaseSensitive(root, "invite");
    const char *invite = NULL;
    if (inv != NULL && !cJSON_IsNull(inv)) {
        if (!cJSON_IsString(inv) || strlen(inv->valuestring) != 64) {
            cp_send_error(req, SY_E_BAD_PARAM, "'invite' must be the 64-character code of an invitation",
                          "invite");
            goto done;
        }
        invite = inv->valuestring;
    }
    if (invite == NULL && !c->o->signup_open) {
        cp_send_error(req, SY_E_FORBIDDEN, "sign-up is by invitation only on this gateway", "invite");
        goto done;
    }
    if (cp_pw_hash(pw, pwlen, hash) != 0) {
        cp_send_error(req, SY_E_INTERNAL, "cannot hash the password", NULL);
        goto done;
    }
    uint64_t version = 0;
    cp_admin_rc_t arc = cp_accounts_signup(c->o->store, email, hash, ws_name, invite, cp_wall_ms(), user_id,
                                           ws_id, &version, &param, err, sizeof(err));
    OPENSSL_cleanse(hash, sizeof(hash));
    if (arc != CP_ADMIN_OK) {
        if (arc == CP_ADMIN_INVALID && param != NULL && strcmp(param, "email") == 0)
            cp_send_error(req, SY_E_CONFLICT, err, "email");
        else if (arc == CP_ADMIN_NOT_FOUND)
            cp_send_error(req, SY_E_NOT_FOUND, err, "invite");
        else
            cp_send_admin_rc(req, arc, param, err);
        goto done;
    }
    cp_bus_notify(version);
    SY_INFO("msg=\"user signed up\" user=%s workspace=%s invited=%d", user_id, ws_id, invite != NULL);
    cJSON *created = cJSON_CreateObject();
    cJSON_AddStringToObject(created, "workspace", ws_id);
    rc = start_session(req, c, user_id, 201, created);
done:
    cJSON_Delete(root);
    return rc < 0 ? 0 : rc;
}

int cp_h_login(h2o_req_t *req, const cp_call_t *c)
{
    static const char *const allowed[] = {"email", "password", NULL};
    char email[CP_EMAIL_MAX + 1], err[256], hash[CP_PW_HASH_MAX], user_id[CP_USER_ID_MAX];
    const char *pw;
    size_t pwlen;
    int64_t now = cp_wall_ms();
    cJSON *root = cp_parse_body(req);
    if (root == NULL)
        return 0;
    if (cp_reject_unknown(req, root, allowed) != 0 || get_credentials(req, root, email, &pw, &pwlen) != 0) {
        cJSON_Delete(root);
        return 0;
    }
    uint8_t ekey[16], akey[16];
    slot_key("email:", email, strlen(email), ekey);
    peer_key(req, akey);
    int64_t wait = slot_blocked(ekey, LOGIN_MAX_PER_EMAIL, now);
    int64_t wait2 = slot_blocked(akey, LOGIN_MAX_PER_ADDR, now);
    if (wait2 > wait)
        wait = wait2;
    if (wait > 0) {
        cJSON_Delete(root);
        char v[32];
        int n = snprintf(v, sizeof(v), "%lld", (long long)wait);
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL,
                       h2o_strdup(&req->pool, v, n).base, n);
        SY_WARN("msg=\"login refused: too many failures\" retry_after_s=%lld", (long long)wait);
        return cp_send_error(req, SY_E_RATE_LIMITED, "too many failed logins; try again later", NULL);
    }
    cp_admin_rc_t arc = cp_accounts_find(c->o->store, email, user_id, hash, err, sizeof(err));
    if (arc == CP_ADMIN_ERROR) {
        cJSON_Delete(root);
        return cp_send_store_error(req, err);
    }
    int ok = 0;
    if (arc == CP_ADMIN_OK)
        ok = cp_pw_verify(pw, pwlen, hash);
    else
        cp_pw_burn(pw, pwlen); /* the same cost whether or not the email has an account */
    OPENSSL_cleanse(hash, sizeof(hash));
    cJSON_Delete(root);
    if (!ok) {
        slot_fail(ekey, now);
        slot_fail(akey, now);
        SY_INFO("msg=\"login failed\"");
        return cp_send_error(req, SY_E_INVALID_API_KEY, "wrong email or password", NULL);
    }
    slot_clear(ekey, now);
    SY_INFO("msg=\"user logged in\" user=%s", user_id);
    return start_session(req, c, user_id, 200, NULL);
}

int cp_h_logout(h2o_req_t *req, const cp_call_t *c)
{
    char err[256];
    if (cp_session_delete(c->o->store, c->session, c->session_len, err, sizeof(err)) != CP_ADMIN_OK)
        return cp_send_store_error(req, err);
    set_cookie(req, c, "", 0);
    cJSON *b = cJSON_CreateObject();
    cJSON_AddBoolToObject(b, "ok", 1);
    return cp_send_owned(req, 200, b);
}

int cp_h_me(h2o_req_t *req, const cp_call_t *c)
{
    char err[256], csrf[CP_CSRF_HEX];
    cJSON *me = NULL;
    cp_admin_rc_t rc = cp_accounts_me(c->o->store, c->user, &me, err, sizeof(err));
    if (rc != CP_ADMIN_OK) {
        cp_send_admin_rc(req, rc, NULL, err);
        return 0;
    }
    cp_session_csrf(c->session, c->session_len, csrf);
    cJSON_AddStringToObject(me, "csrf_token", csrf);
    cJSON_AddBoolToObject(me, "operator", c->is_operator);
    return cp_send_owned(req, 200, me);
}

int cp_h_create_invite(h2o_req_t *req, const cp_call_t *c)
{
    static const char *const allowed[] = {"role", NULL};
    char err[256], secret[CP_SECRET_HEX];
    cJSON *root = cp_parse_body(req);
    if (root == NULL)
        return 0;
    if (cp_reject_unknown(req, root, allowed) != 0) {
        cJSON_Delete(root);
        return 0;
    }
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(root, "role");
    cp_role_t role = CP_ROLE_MEMBER;
    if (r != NULL &&
        !(cJSON_IsString(r) && (strcmp(r->valuestring, "member") == 0 ||
                                (strcmp(r->valuestring, "owner") == 0 && (role = CP_ROLE_OWNER))))) {
        cJSON_Delete(root);
        return cp_send_error(req, SY_E_BAD_PARAM, "'role' must be \"member\" or \"owner\"", "role");
    }
    cJSON_Delete(root);
    /* the operator's invitations are how a workspace gets its first owner when sign-up is by
     * invitation only (docs/dashboard.md, "Bootstrap") */
    int64_t now = cp_wall_ms();
    cp_admin_rc_t rc =
        cp_invite_create(c->o->store, c->id, role, c->user, now, INVITE_TTL_MS, secret, err, sizeof(err));
    if (rc != CP_ADMIN_OK) {
        cp_send_admin_rc(req, rc, NULL, err);
        return 0;
    }
    SY_INFO("msg=\"invitation created\" workspace=%s role=%s by=%s", c->id,
            role == CP_ROLE_OWNER ? "owner" : "member", c->user ? c->user : "operator");
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "invite", secret);
    cJSON_AddStringToObject(b, "workspace", c->id);
    cJSON_AddStringToObject(b, "role", role == CP_ROLE_OWNER ? "owner" : "member");
    cJSON_AddNumberToObject(b, "expires_ms", (double)(now + INVITE_TTL_MS));
    OPENSSL_cleanse(secret, sizeof(secret));
    return cp_send_owned(req, 201, b);
}

int cp_h_accept_invite(h2o_req_t *req, const cp_call_t *c)
{
    static const char *const allowed[] = {"invite", NULL};
    char err[256], ws[CP_WS_ID_MAX];
    cJSON *root = cp_parse_body(req);
    if (root == NULL)
        return 0;
    const cJSON *inv = cJSON_GetObjectItemCaseSensitive(root, "invite");
    if (cp_reject_unknown(req, root, allowed) != 0) {
        cJSON_Delete(root);
        return 0;
    }
    if (!cJSON_IsString(inv) || strlen(inv->valuestring) != 64) {
        cJSON_Delete(root);
        return cp_send_error(req, SY_E_BAD_PARAM, "'invite' must be the 64-character code of an invitation",
                             "invite");
    }
    cp_admin_rc_t rc =
        cp_invite_accept(c->o->store, inv->valuestring, c->user, cp_wall_ms(), ws, err, sizeof(err));
    cJSON_Delete(root);
    if (rc != CP_ADMIN_OK) {
        cp_send_admin_rc(req, rc, "invite", err);
        return 0;
    }
    SY_INFO("msg=\"invitation accepted\" workspace=%s user=%s", ws, c->user);
    return cp_h_me(req, c);
}

/* POST /api/auth/operator {"token"}: the operator's dashboard session (the Operator page). The
 * token is compared in constant time over SHA-256 of both sides; failures count against the
 * client address like failed log-ins (LOGIN_MAX_PER_ADDR). */
int cp_h_operator_login(h2o_req_t *req, const cp_call_t *c)
{
    static const char *const allowed[] = {"token", NULL};
    int64_t now = cp_wall_ms();
    uint8_t akey[16];
    peer_key(req, akey);
    int64_t wait = slot_blocked(akey, LOGIN_MAX_PER_ADDR, now);
    if (wait > 0) {
        char v[32];
        int n = snprintf(v, sizeof(v), "%lld", (long long)wait);
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL,
                       h2o_strdup(&req->pool, v, n).base, n);
        return cp_send_error(req, SY_E_RATE_LIMITED, "too many failed logins; try again later", NULL);
    }
    cJSON *root = cp_parse_body(req);
    if (root == NULL)
        return 0;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "token");
    if (cp_reject_unknown(req, root, allowed) != 0) {
        cJSON_Delete(root);
        return 0;
    }
    uint8_t a[SY_SHA256_LEN], b[SY_SHA256_LEN];
    int ok = 0;
    if (cJSON_IsString(t)) {
        sy_sha256(t->valuestring, strlen(t->valuestring), a);
        sy_sha256(c->o->token, strlen(c->o->token), b);
        ok = sy_ct_equal(a, b, sizeof(a));
    }
    cJSON_Delete(root);
    if (!ok) {
        slot_fail(akey, now);
        SY_WARN("msg=\"operator login failed\"");
        return cp_send_error(req, SY_E_INVALID_API_KEY, "wrong operator token", NULL);
    }
    SY_INFO("msg=\"operator logged in to the dashboard\"");
    return start_session(req, c, CP_OPERATOR_USER, 200, NULL);
}

/* GET /api/config: what the pages need to know about this gateway. */
int cp_h_config(h2o_req_t *req, const cp_call_t *c)
{
    cJSON *b = cJSON_CreateObject();
    if (c->o->public_api_url != NULL)
        cJSON_AddStringToObject(b, "api_base_url", c->o->public_api_url);
    else
        cJSON_AddNullToObject(b, "api_base_url");
    cJSON_AddStringToObject(b, "signup", c->o->signup_open ? "open" : "invite");
    cJSON_AddBoolToObject(b, "checkout",
                          c->o->stripe_secret_key != NULL && c->o->stripe_secret_key[0] != '\0');
    cJSON_AddBoolToObject(b, "operator", c->is_operator);
    return cp_send_owned(req, 200, b);
}
