/*
 * dp_limit — per-node rate limits (requests and tokens per minute, per key and per workspace),
 * enforced with GCRA on CLOCK_MONOTONIC. docs/admission.md has the model, bounds and choices.
 *
 * The limit a node enforces is its share of the fleet-wide limit: ceil(limit / live_nodes),
 * where live_nodes comes from the snapshot (the control plane counts heartbeats). Burst = the
 * whole share: the bucket holds one minute of the share and refills continuously.
 *
 * State: one node-wide fixed table (DP_LIMIT_SLOTS entries, in BSS, no init call) of
 * {id, request TAT, token TAT}, split into DP_LIMIT_STRIPES stripes, each guarded by its own
 * mutex held for a few dozen instructions (lookup + arithmetic, no syscall, no allocation).
 * It is the one piece of shared mutable state on the hot path besides the snapshot pointer:
 * a client's requests land on any loop thread and must draw from the same bucket.
 * Bounded memory: an entry whose buckets are full again (TAT <= now) carries no information
 * and is reused; when a probe window is full of active entries the request is admitted
 * unlimited (fail open) and counted (switchyard_ratelimit_table_full_total).
 *
 * Threading: every function is safe from any thread. Nothing here blocks (mutexes are held
 * only across arithmetic). Lifetime: the table lives for the process.
 */
#ifndef DP_LIMIT_H
#define DP_LIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "dp_snapshot.h"

#define DP_LIMIT_WINDOW_NS 60000000000ull /* limits are per minute; burst = one minute of share */
#define DP_LIMIT_STRIPES 64
#define DP_LIMIT_SLOTS_PER_STRIPE 512
#define DP_LIMIT_PROBE 32                 /* slots probed in a stripe before giving up */
#define DP_LIMIT_DEFAULT_COMPLETION 512   /* tokens assumed for a chat request without max_tokens */

typedef enum { DP_LIMIT_OK = 0, DP_LIMIT_REQUESTS, DP_LIMIT_TOKENS } dp_limit_reason_t;

/* What a request saw, for its headers (dp_respond.c) and for settlement. Plain data, lives in
 * the request. `limit` is the configured per-minute limit (fleet-wide); `remaining` and the
 * resets are this node's (its share), after this request was counted. */
typedef struct {
    int set;                  /* dp_limit_admit ran for this request */
    int has_req, has_tok;     /* a request / token limit applies (key or workspace) */
    uint32_t req_limit, tok_limit;
    uint64_t req_remaining, tok_remaining;
    uint64_t req_reset_ms, tok_reset_ms; /* until the binding bucket is full again */
    uint32_t retry_after_s;   /* on refusal: seconds (ceil, >= 1) until the request would pass */
    dp_limit_reason_t refused;
    int64_t est_tokens;       /* what admission charged to the token buckets (0 when none) */
    uint32_t nodes;           /* the divisor used (live nodes, >= 1) */
} dp_limit_view_t;

/* Admission. `nodes` = live nodes from the snapshot (0 is read as 1). `charge` 0 only looks
 * (e.g. GET /v1/models fills headers without counting); 1 counts one request and
 * `est_tokens` tokens against every applicable bucket — all of them or none (a refused
 * request consumes nothing). `now_ns` is CLOCK_MONOTONIC (dp_limit_now_ns) or a test clock.
 * Returns DP_LIMIT_OK or the reason of the refusal; fills *v either way. */
dp_limit_reason_t dp_limit_admit(const dp_key_t *k, uint32_t nodes, int charge, int64_t est_tokens, uint64_t now_ns,
                                 dp_limit_view_t *v);

/* Settlement: once the real token count is known, credit (actual < estimated) or debit
 * (actual > estimated) the difference on the key's and workspace's token buckets. A debit may
 * push a bucket past full: later requests then wait longer, so the long-run rate holds even
 * when estimates are low. Meant to be called by metering (dp_meter.c) at the end of a request
 * with the view's est_tokens; safe from any thread; no-op when no token limit applies. */
void dp_limit_settle(const dp_key_t *k, uint32_t nodes, int64_t estimated_tokens, int64_t actual_tokens,
                     uint64_t now_ns);

/* Token estimate for admission: prompt bytes / 4 plus max_tokens (top-level `max_tokens` or
 * `max_completion_tokens`, else DP_LIMIT_DEFAULT_COMPLETION; 0 for embeddings). `body` is the
 * raw request body, not yet validated: a body that does not scan gets the default. */
int64_t dp_limit_estimate(const char *body, size_t len, int embeddings);

uint64_t dp_limit_now_ns(void);

/* Prometheus text: refusals by reason, table-full events, entries in use, the live-node
 * divisor last seen. Appends to buf (at most cap bytes, NUL-terminated); returns the length
 * written. */
size_t dp_limit_metrics_render(char *buf, size_t cap);

/* Formats a duration in OpenAI's x-ratelimit-reset-* style ("0s", "250ms", "1.5s", "6m0s").
 * out must hold 32 bytes. Returns the length. */
int dp_limit_format_duration(uint64_t ms, char *out);

/* Tests only: forget every entry and counter. */
void dp_limit_reset_all(void);

#endif
