/*
 * cp_admin — the store writers and readers behind the admin API (cp_api): workspaces and API
 * keys.
 *
 * Every writer runs in one `BEGIN IMMEDIATE` transaction opened with cp_store_begin_write and
 * closed with cp_store_commit_write, so a successful write bumps the snapshot version and a
 * failed one changes nothing. Checks that depend on stored rows (the workspace exists, every
 * allowed model is in the catalog) run inside that same transaction, so they cannot race a
 * concurrent writer on another handle. Prepared statements only.
 *
 * Keys: the caller passes the SHA-256 and a display prefix; the key itself never reaches this
 * module, so it can never reach the database.
 *
 * Results: CP_ADMIN_OK, or CP_ADMIN_NOT_FOUND / CP_ADMIN_INVALID (with *param naming the
 * offending request field and a message in err) for caller mistakes, or CP_ADMIN_ERROR for a
 * store failure (message in err).
 *
 * Thread-safety: uses the store's connection; same rules as cp_store. Call with no transaction
 * open on the handle.
 */
#ifndef CP_ADMIN_H
#define CP_ADMIN_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "cp_store.h"
#include "sy_hash.h"

typedef enum { CP_ADMIN_OK = 0, CP_ADMIN_NOT_FOUND, CP_ADMIN_INVALID, CP_ADMIN_ERROR } cp_admin_rc_t;

/* Same identifier rule as the catalog (printable ASCII, no space, quote or backslash,
 * 1..128 bytes), and additionally no '/', since admin ids appear as URL path segments. */
int cp_admin_valid_id(const char *s);

/* Creates an active workspace. An existing id is CP_ADMIN_INVALID with param "id". On success
 * *out (may be NULL) gets the workspace as a JSON object (caller frees with cJSON_Delete). */
cp_admin_rc_t cp_admin_create_workspace(cp_store_t *s, const char *id, const char *name, cJSON **out,
                                        uint64_t *version, const char **param, char *err, size_t errlen);
/* Marks a workspace inactive (idempotent). Unknown id: CP_ADMIN_NOT_FOUND. */
cp_admin_rc_t cp_admin_disable_workspace(cp_store_t *s, const char *id, uint64_t *version, char *err,
                                         size_t errlen);
/* All workspaces in id order, as a JSON array (NULL with err on failure). A workspace is
 * {"id","name","active","created_at","rpm","tpm"}; rpm/tpm are null when there is no limit. */
cJSON *cp_admin_list_workspaces(cp_store_t *s, char *err, size_t errlen);
/* One workspace; unknown id: CP_ADMIN_NOT_FOUND. */
cp_admin_rc_t cp_admin_get_workspace(cp_store_t *s, const char *id, cJSON **out, char *err, size_t errlen);

/* A change to a workspace. Fields left NULL / with set_* = 0 keep their value. An rpm or tpm
 * of 0 or below (with its set flag) clears that limit (stored NULL, like a catalog 0). */
typedef struct {
    const char *name;
    int set_active, active;
    int set_rpm, set_tpm;
    int64_t rpm, tpm;
} cp_admin_ws_patch_t;

/* Applies the patch in one transaction and returns the workspace in *out. Unknown id:
 * CP_ADMIN_NOT_FOUND. Range checks of the numbers are the caller's (the API). */
cp_admin_rc_t cp_admin_update_workspace(cp_store_t *s, const char *id, const cp_admin_ws_patch_t *p,
                                        cJSON **out, uint64_t *version, char *err, size_t errlen);

typedef struct {
    const char *id;           /* key id, valid per cp_admin_valid_id */
    const char *workspace_id; /* must exist: else CP_ADMIN_NOT_FOUND */
    const uint8_t *sha256;    /* SY_SHA256_LEN bytes */
    const char *prefix;       /* display prefix */
    const char *name;         /* may be "" */
    const cJSON
        *allowed_models; /* array of strings: "*" or catalog model ids (else INVALID, param allowed_models) */
    int64_t expires_at;  /* unix seconds, 0 = never */
} cp_admin_new_key_t;

/* Inserts a key. On success *out (may be NULL) gets the key's public view (no key material). */
cp_admin_rc_t cp_admin_create_key(cp_store_t *s, const cp_admin_new_key_t *k, cJSON **out, uint64_t *version,
                                  const char **param, char *err, size_t errlen);
/* Marks a key revoked (idempotent; revocation is one-way). Unknown id: CP_ADMIN_NOT_FOUND. */
cp_admin_rc_t cp_admin_revoke_key(cp_store_t *s, const char *id, uint64_t *version, char *err, size_t errlen);
/* The keys of one workspace in id order, as a JSON array without any key material (no hash
 * either). Unknown workspace: CP_ADMIN_NOT_FOUND. */
cp_admin_rc_t cp_admin_list_keys(cp_store_t *s, const char *workspace_id, cJSON **out, char *err,
                                 size_t errlen);

/* One key's public view; unknown id: CP_ADMIN_NOT_FOUND. Besides the key's fields it has
 * "rotated_at" (unix seconds, null if never rotated), "previous_prefix" and
 * "previous_valid_until_ms" (the replaced secret's grace, null when none was given; a time in
 * the past means it has ended). */
cp_admin_rc_t cp_admin_get_key(cp_store_t *s, const char *id, cJSON **out, char *err, size_t errlen);

/* A change to a key's scope and limits. Fields left NULL / with set_* = 0 keep their value. A
 * negative budget_nano, rpm or tpm (with its set flag) clears that limit. */
typedef struct {
    const char *name;
    const cJSON *allowed_models; /* as for cp_admin_create_key */
    int set_budget, set_rpm, set_tpm, set_expires;
    int64_t budget_nano, rpm, tpm, expires_at;
} cp_admin_key_patch_t;

/* Applies the patch in one transaction and returns the key's new public view in *out. Unknown
 * id: CP_ADMIN_NOT_FOUND; a revoked key or an unknown model: CP_ADMIN_INVALID. Range checks of
 * the numbers are the caller's (the API). */
cp_admin_rc_t cp_admin_update_key(cp_store_t *s, const char *id, const cp_admin_key_patch_t *p, cJSON **out,
                                  uint64_t *version, const char **param, char *err, size_t errlen);

/* Key rotation: a new secret for the same key id (usage, spend, budget, limits and scope stay
 * with the id). The secret it replaces keeps authenticating until now_ms + grace_seconds
 * (wall clock; the data planes enforce the end themselves); at most one previous secret is
 * kept, so a second rotation ends the first one's grace at once. */
#define CP_ADMIN_ROTATE_GRACE_MAX_S (7 * 24 * 3600) /* 7 days */

typedef struct {
    const char *id;        /* the key */
    const uint8_t *sha256; /* SY_SHA256_LEN bytes: the new secret's hash */
    const char *prefix;    /* the new secret's display prefix */
    int64_t grace_seconds; /* 0..CP_ADMIN_ROTATE_GRACE_MAX_S, else CP_ADMIN_INVALID (param grace_seconds) */
    int64_t now_ms;        /* wall-clock ms of the rotation */
} cp_admin_rotation_t;

/* Rotates in one transaction and returns the key's new public view in *out (may be NULL).
 * Unknown id: CP_ADMIN_NOT_FOUND; a revoked key: CP_ADMIN_INVALID (param NULL) and nothing
 * changes. */
cp_admin_rc_t cp_admin_rotate_key(cp_store_t *s, const cp_admin_rotation_t *r, cJSON **out, uint64_t *version,
                                  const char **param, char *err, size_t errlen);

/* ---------------------------------------------------------------------------- catalog */

/* The providers in id order, each with its health ("unknown", "healthy", "degraded", "down"),
 * probe settings and what the last probe saw. NULL with err on failure. */
cJSON *cp_admin_list_providers(cp_store_t *s, char *err, size_t errlen);
/* The models in id order (or the one with `id`, when id != NULL: CP_ADMIN_NOT_FOUND if none),
 * prices as exact decimal strings. */
cp_admin_rc_t cp_admin_get_models(cp_store_t *s, const char *id, cJSON **out, char *err, size_t errlen);

/* A change to a catalog model. NULL pointers / set_* = 0 keep the stored value. */
typedef struct {
    const char *upstream;
    int set_input, set_output, set_context, set_caps, set_cache_read, set_cache_write;
    int64_t input_per_m_nano, output_per_m_nano;
    int64_t cache_read_per_m_nano, cache_write_per_m_nano; /* with set_cache_*: -1 clears (no cache price) */
    uint32_t context_window, caps;
    const cJSON *tiers;   /* array of strings */
    const cJSON *quality; /* object, validated by sy_catalog_quality; JSON null clears */
} cp_admin_model_patch_t;

/* Applies the patch and marks every field it sets as edited (catalog_edits: a later import
 * that would change it is refused unless forced, cp_catalog.h). */
cp_admin_rc_t cp_admin_update_model(cp_store_t *s, const char *id, const cp_admin_model_patch_t *p,
                                    cJSON **out, uint64_t *version, char *err, size_t errlen);

/* Model aliases ({"alias","model"}): all in alias order (alias NULL) or one (CP_ADMIN_NOT_FOUND). */
cp_admin_rc_t cp_admin_get_aliases(cp_store_t *s, const char *alias, cJSON **out, char *err, size_t errlen);
/* Creates or repoints an alias (*created says which). An invalid name or one that is a model id
 * is CP_ADMIN_INVALID with param "alias"; an unknown target, param "model". Marks the alias
 * edited. */
cp_admin_rc_t cp_admin_put_alias(cp_store_t *s, const char *alias, const char *model, cJSON **out,
                                 int *created, uint64_t *version, const char **param, char *err,
                                 size_t errlen);
/* Deletes an alias (unknown: CP_ADMIN_NOT_FOUND); the edit mark stays, so an import that would
 * bring the alias back conflicts. */
cp_admin_rc_t cp_admin_delete_alias(cp_store_t *s, const char *alias, uint64_t *version, char *err,
                                    size_t errlen);

/* Data-plane nodes (table dp_nodes), fed by bus heartbeats. */
typedef struct {
    const char *id;            /* valid per cp_admin_valid_id, else CP_ADMIN_INVALID (param "node_id") */
    const char *build;         /* at most 128 bytes, else CP_ADMIN_INVALID (param "build") */
    uint64_t snapshot_version; /* the version the node serves */
    double load;
    int64_t now_ms; /* wall-clock ms: stored as last_seen_ms */
} cp_admin_heartbeat_t;

/* Upserts the node's row: inside the caller's write transaction when one is open (the bus
 * records the heartbeats it received together in one, cp_store_commit_quiet), else as one
 * single-statement (autocommit) transaction. Unlike every other writer here it does NOT bump the
 * snapshot version: heartbeats do not change what nodes serve. */
cp_admin_rc_t cp_admin_record_heartbeat(cp_store_t *s, const cp_admin_heartbeat_t *hb, const char **param,
                                        char *err, size_t errlen);
/* All nodes in id order as a JSON array of {"id","build","snapshot_version","last_seen_ms",
 * "age_ms"}, age_ms = now_ms - last_seen_ms (never negative). NULL with err on failure. */
cJSON *cp_admin_list_nodes(cp_store_t *s, int64_t now_ms, char *err, size_t errlen);

#endif
