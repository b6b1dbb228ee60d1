/*
 * dp_snapshot — the immutable routing and key table a data plane serves from.
 *
 * Built whole from a `Switchyard__Snapshot` protobuf (which the config file loader produces
 * in standalone mode and the control plane will push over the bus), then never modified.
 * Publishing a new one is a pointer swap: `dp_snapshot_publish` stores it in the one global
 * atomic slot and each event-loop thread picks it up through its own holder.
 *
 * Lifetime: a snapshot is reference counted. The global slot holds one reference, each loop
 * thread's holder one (`dp_snapshot_holder_t`), and a request borrows from its thread's holder
 * without touching the shared counter (the holder counts its borrowers privately, so the hot
 * path never writes a cache line another thread reads). The last release frees the snapshot.
 *
 * Thread-safety: a published snapshot is read-only and may be read from any thread.
 * dp_snapshot_ref/unref are atomic. A holder belongs to one thread.
 */
#ifndef DP_SNAPSHOT_H
#define DP_SNAPSHOT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <h2o/memory.h>

#include "snapshot.pb-c.h"
#include "sy_catalog.h"
#include "sy_hash.h"
#include "sy_money.h"

enum { DP_CAP_TOOLS = 1, DP_CAP_JSON = 2, DP_CAP_VISION = 4, DP_CAP_EMBEDDINGS = 8, DP_CAP_CHAT = 16 };
struct dp_upstream_ops;

typedef struct {
    const char *id, *base_url;
    const struct dp_upstream_ops *ops; /* its dialect (providers/dp_provider.h), from `kind` */
    const char *credential;            /* from the environment; NULL when unset. Secret: never log. */
    const char *chat_url;              /* base_url + "/chat/completions" */
    const char *embeddings_url;        /* base_url + "/embeddings" */
    const char *ca_file;               /* NULL = the system's CA store */
    /* The upstream header lines that are the same for every request to this provider, one
     * CRLF-terminated block per accept kind (JSON and SSE answers), built once with the snapshot
     * (in its pool, read-only); a request puts its own lines (X-Request-Id, …) in front. */
    h2o_iovec_t headers_json, headers_sse;
    unsigned health;
    int stream_usage; /* add stream_options.include_usage to streams (catalog "stream_usage", default 1) */
} dp_provider_t;

typedef struct {
    const char *id;
    const char *qualified; /* "provider/id" */
    const dp_provider_t *provider;
    const char *upstream;
    sy_nano_t input_per_m, output_per_m;
    sy_nano_t cache_read_per_m, cache_write_per_m; /* -1: no cache price (billed at input_per_m) */
    uint32_t context_window, caps;
    const char **tiers;
    size_t ntiers;
    uint16_t quality[SY_TASK__COUNT]; /* thousandths per task class; 0 = unscored */
    uint32_t index;                   /* position in dp_snapshot_t.models */
} dp_model_t;

/* Another name for a catalog model (catalog `aliases`): resolved wherever a model id is
 * accepted; responses and logs name the model's own id. */
typedef struct {
    const char *alias;
    const dp_model_t *model;
} dp_alias_t;

typedef struct {
    const char *id;
    int active;
    int has_balance;   /* 0: no prepaid balance enforced (standalone mode) */
    sy_nano_t balance; /* the ledger balance when the snapshot was built */
    uint32_t rpm, tpm; /* fleet-wide workspace rate limits; 0 = none (dp_limit.h) */
    uint64_t tid;      /* dp_workspace_tid(id): its entry in the node-wide limit/reservation tables */
    uint32_t
        share_ppm;      /* this node's share of the balance and of its keys' budgets, parts per million
                           (docs/admission.md "Fleet shares of a balance"); 1e6 / live_nodes unless weighted */
    int share_weighted; /* the control plane sent demand-weighted shares for this workspace */
} dp_workspace_t;

typedef struct {
    const char *id;
    uint8_t sha256[SY_SHA256_LEN];
    const dp_workspace_t *workspace;
    const dp_model_t **allowed; /* NULL when every model is allowed */
    size_t nallowed;
    int revoked;
    int64_t expires_at;
    sy_nano_t budget;  /* 0 = no budget of its own */
    sy_nano_t spent;   /* spend the control plane knew of at snapshot time */
    uint32_t rpm, tpm; /* 0 = no per-key limit */
    uint64_t tid;      /* dp_key_id_tid(id): its entry in the node-wide limit/reservation tables, so a
                          rotated key keeps its rate-limit and reservation state */
    /* Rotation: the secret the current one replaced (SY_SHA256_LEN bytes in the pool, NULL =
     * none) authenticates as this key until prev_valid_until_ms, wall-clock unix ms, checked
     * at every lookup (dp_snapshot_find_key). */
    const uint8_t *prev_sha256;
    int64_t prev_valid_until_ms;
} dp_key_t;

/* Output tokens a request without max_tokens reserves (limits.reserve_output_tokens). */
#define DP_RESERVE_OUTPUT_TOKENS 4096
/* limits.max_inflight: model requests in flight on the node (docs/dataplane.md, "Overload").
 * Its default is min(DP_MAX_INFLIGHT_DEFAULT, (RLIMIT_NOFILE soft limit - 64) / 2), at least
 * DP_MAX_INFLIGHT_FLOOR: each request in flight holds up to two descriptors (the client's and
 * the upstream's), so the default sheds load before the descriptors run out. */
#define DP_MAX_INFLIGHT_DEFAULT 4096
#define DP_MAX_INFLIGHT_FLOOR 16
#define DP_MAX_INFLIGHT_MAX 1000000
/* The default above for this process (reads RLIMIT_NOFILE; any thread). */
uint32_t dp_max_inflight_default(void);

struct dp_overlay;

typedef struct dp_snapshot {
    atomic_long refs;
    uint64_t version;
    int64_t created_at_ms; /* when the control plane (or the file loader) made this version */
    int64_t built_at_ms;   /* wall-clock ms this node built it (whole or by delta), right before use */
    uint32_t live_nodes;   /* fleet size for rate-limit shares (dp_limit.h); >= 1 */
    dp_provider_t *providers;
    size_t nproviders;
    dp_model_t *models;
    size_t nmodels;
    dp_alias_t *aliases; /* in snapshot order */
    size_t naliases;
    dp_workspace_t *workspaces;
    size_t nworkspaces;
    size_t nweighted; /* workspaces whose share_ppm is weighted by recent spend (a metric) */
    dp_key_t *keys;
    size_t nkeys;
    struct {
        uint32_t connect_ms, first_byte_ms, idle_ms, total_ms;
    } timeouts;
    struct {
        uint32_t max_body_bytes, max_json_depth, max_attempts;
        uint32_t reserve_output_tokens; /* output reserved without max_tokens (dp_reserve_worst_case) */
        uint32_t max_inflight;          /* model requests in flight on this node (dp_accept.c's gate) */
    } limits;
    /* the router's settings (catalog `routing` section, or the defaults) */
    struct {
        struct {
            const char *tag, *tier;
            size_t tag_len;
        } tags[SY_ROUTING_MAX_TAGS];
        size_t ntags;
        uint32_t bar_milli[SY_DIFF__COUNT];
        uint32_t breaker_failures, breaker_cooldown_ms;
        int classify_all; /* sy_routing_conf_t.classify_all */
    } routing;
    /* open-addressing indexes (power-of-two sizes) */
    const dp_key_t **key_index;
    size_t key_mask;
    const dp_key_t **prev_index; /* by prev_sha256, only keys within a rotation grace (NULL: none) */
    size_t prev_mask;
    const dp_model_t **model_index; /* by id and by qualified id */
    size_t model_mask;
    const dp_alias_t **alias_index; /* by alias */
    size_t alias_mask;
    /* Whole snapshots only (base == NULL): workspaces by id (open addressing), and the keys of
     * each workspace as a chain of indexes into `keys` (ws_first_key[w], key_next[k]; UINT32_MAX
     * ends it), so a delta finds a changed workspace's keys without a scan. */
    const dp_workspace_t **ws_index;
    size_t ws_mask;
    uint32_t *ws_first_key, *key_next;
    /* Delta updates (dp_snapshot_apply_delta; docs/controlplane.md, "Delta updates"): a snapshot
     * made from a delta shares every table above with `base` — a whole snapshot, of which it
     * holds one reference — and differs from it only by `ov`: the keys and workspaces changed,
     * added or removed since the base, looked up before the base's (a base key whose id the
     * overlay names is hidden). nkeys/nworkspaces/keys/workspaces are then the base's.
     * `merged` is the packed SnapshotDelta from the base's version to this one (malloc'd), from
     * which the next delta's overlay is made. NULL/0 in a whole snapshot. */
    struct dp_snapshot *base;
    struct dp_overlay *ov;
    size_t noverlay; /* rows in ov (keys, including those re-pointed to a changed workspace, + workspaces +
                        removals) */
    uint8_t *merged;
    size_t merged_len;
    h2o_mem_pool_t pool;           /* owns every string and array above (the base's when base != NULL) */
    struct dp_snapshot *next_dead; /* on the reaper's list once unreferenced (see dp_snapshot_reap) */
} dp_snapshot_t;

/* Builds a snapshot from its protobuf form. Validates references, ids and URLs; resolves
 * provider credentials from the environment. Returns NULL with a message in err on failure.
 * The result has one reference, owned by the caller. */
dp_snapshot_t *dp_snapshot_build(const Switchyard__Snapshot *pb, char *err, size_t errlen);

/* Delta updates. Caps on what comes off the bus: a packed delta over DP_DELTA_MAX_BYTES is
 * refused; an overlay (the deltas since the base merged, plus the base keys re-pointed to a
 * changed workspace) over DP_OVERLAY_MAX rows is refused as "full" — the node then fetches and
 * builds the whole snapshot, which becomes the new base. */
#define DP_DELTA_MAX_BYTES ((size_t)1 << 20)
#define DP_OVERLAY_MAX 4096
typedef enum {
    DP_DELTA_OK = 0,
    DP_DELTA_WRONG_BASE, /* from_version is not the version of `cur` */
    DP_DELTA_CORRUPT,    /* does not unpack, or over a cap on bytes */
    DP_DELTA_INVALID,    /* a row the whole builder would refuse, or a key of a removed workspace */
    DP_DELTA_FULL,       /* the overlay would exceed DP_OVERLAY_MAX */
    DP_DELTA__COUNT
} dp_delta_result_t;
/* Applies a packed Switchyard__SnapshotDelta (without the bus's "delta" prefix) on top of `cur`
 * (borrowed; whole or itself made from a delta) and returns the new snapshot (one reference, the
 * caller's), sharing cur's base tables. NULL with *result and err when refused; `cur` is never
 * changed. Cost: O(rows in the merged overlay), never O(keys in the table). Any thread (the bus
 * thread in practice). */
dp_snapshot_t *dp_snapshot_apply_delta(dp_snapshot_t *cur, const uint8_t *buf, size_t len,
                                       dp_delta_result_t *result, char *err, size_t errlen);

/* Ids of keys and workspaces in the node-wide tables (dp_limit, dp_reserve), computed once at
 * snapshot build: stable across snapshots, never 0, and a key's never equals a workspace's. */
uint64_t dp_key_tid(const uint8_t sha256[SY_SHA256_LEN]);
/* What dp_snapshot_build uses for keys: from the key id, which survives a rotation (the hash
 * does not). Two keys with one id (possible only in a hand-written config file) share an
 * entry. dp_key_tid(sha256) stays for tests that build keys by hand. */
uint64_t dp_key_id_tid(const char *id);
uint64_t dp_workspace_tid(const char *id);

/* This node's identity, looked up in each workspace's per-node shares at build time. Set once
 * from main before the first snapshot is built (default "": the node is never listed). */
void dp_snapshot_set_node_id(const char *node_id);

void dp_snapshot_ref(dp_snapshot_t *s);
/* Drops a reference. The last one frees the table — which for 100,000 keys is thousands of
 * free() calls: with a reaper registered (bus mode) the snapshot is queued instead and the
 * reaper's thread frees it, so an event loop never pays for it. */
void dp_snapshot_unref(dp_snapshot_t *s);

/* The reaper: dp_snapshot_set_reaper(1) makes unref queue dead snapshots; dp_snapshot_reap
 * (from the reaper's own thread, e.g. the bus thread once per loop) frees the queue and hands
 * freed memory back to the system. set_reaper(0) stops queueing; reap once more after it. */
void dp_snapshot_set_reaper(int on);
void dp_snapshot_reap(void);

/* Lookups. NULL when absent. `name` need not be NUL-terminated. A key is found by its current
 * hash, or by the hash of the secret a rotation replaced while now_ms (wall-clock unix ms) is
 * before that secret's prev_valid_until_ms; find_key reads CLOCK_REALTIME itself, and only when
 * the current hash did not match. Both are O(1) and compare hashes in constant time. */
const dp_key_t *dp_snapshot_find_key(const dp_snapshot_t *s, const uint8_t sha256[SY_SHA256_LEN]);
const dp_key_t *dp_snapshot_find_key_at(const dp_snapshot_t *s, const uint8_t sha256[SY_SHA256_LEN],
                                        int64_t now_ms);
/* Resolves a catalog id, a provider-qualified id ("openai/gpt-4o") or an alias (ids first: an
 * alias never shadows a model; a provider-qualified alias is not a form). */
const dp_model_t *dp_snapshot_find_model(const dp_snapshot_t *s, const char *name, size_t len);
/* The alias entry named `name`, or NULL (a model id is not an alias). */
const dp_alias_t *dp_snapshot_find_alias(const dp_snapshot_t *s, const char *name, size_t len);
/* 1 when the key's scope includes the model. */
int dp_key_allows(const dp_key_t *k, const dp_model_t *m);

/* The global slot. publish takes over the caller's reference and releases the previous
 * snapshot's global reference; acquire returns a new reference (or NULL when none yet). */
void dp_snapshot_publish(dp_snapshot_t *s);
dp_snapshot_t *dp_snapshot_acquire(void);
/* Version of the published snapshot, 0 when none. */
uint64_t dp_snapshot_current_version(void);

/* Per-thread holder: the thread's view of the current snapshot plus a private count of the
 * requests that borrowed it. */
typedef struct dp_snapshot_holder {
    dp_snapshot_t *cur;
    struct dp_snapshot_retired {
        dp_snapshot_t *snap;
        size_t borrowers;
    } retired[8];
    size_t borrowers;
} dp_snapshot_holder_t;

/* Picks up the published snapshot if it is newer than the holder's (one atomic load). */
void dp_holder_refresh(dp_snapshot_holder_t *h);
/* Borrow for one request; NULL when no snapshot exists. Pair with dp_holder_return. */
dp_snapshot_t *dp_holder_borrow(dp_snapshot_holder_t *h);
void dp_holder_return(dp_snapshot_holder_t *h, dp_snapshot_t *s);
void dp_holder_dispose(dp_snapshot_holder_t *h);

#endif
