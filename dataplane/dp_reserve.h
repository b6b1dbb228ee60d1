/*
 * dp_reserve — reservations against the prepaid workspace balance and the key budget
 * (docs/admission.md, "Balances and budgets: reservations").
 *
 * Before a request calls an upstream, its worst-case cost is reserved against
 *   (a) the workspace balance as this node knows it: this node's share (share_ppm, from the
 *       snapshot) of the newest snapshot balance seen, minus this node's own settled spend
 *       since that baseline, minus open reservations;
 *   (b) the key budget: the same share of (budget − the snapshot's spent) − own settled spend
 *       − open reservations.
 * At the end of the request the reservation is closed exactly once: released, and the real
 * cost (possibly 0) settled into the node's own spend.
 *
 * Baselines. Each entry remembers the snapshot version and value (balance, or key spent) it
 * counts from. When a request brings a newer snapshot whose value differs, the entry rotates:
 * own spend since the old baseline moves to `prev` and keeps counting for PREV_TTL_NS (5 s),
 * because usage records still in flight to the control plane are not in the new value yet.
 * Spend is therefore counted twice for up to 5 s — the node is stricter, never looser. A newer snapshot with the same value (nothing ingested for this workspace) does not
 * rotate at all.
 *
 * State: one node-wide fixed table in BSS (DP_RESERVE_STRIPES × DP_RESERVE_SLOTS_PER_STRIPE),
 * striped mutexes held only for a bounded probe and arithmetic (no syscall, no allocation), the
 * same shape as dp_limit. An entry is reusable once it holds no open reservation and its last
 * settlement is older than DP_RESERVE_IDLE_NS (by then the control plane has long ingested its
 * records). When a probe window holds only live entries the request is admitted without a
 * reservation (fail open) and counted (switchyard_reserve_table_full_total).
 *
 * Money is int64 nano-USD. Threading: every function is safe from any thread; nothing blocks.
 */
#ifndef DP_RESERVE_H
#define DP_RESERVE_H

#include <stdint.h>

#include "dp_snapshot.h"

#define DP_RESERVE_STRIPES 64
#define DP_RESERVE_SLOTS_PER_STRIPE 256
#define DP_RESERVE_PROBE 32
#define DP_RESERVE_IDLE_NS (60ull * 1000000000ull) /* an idle entry older than this carries nothing */

/* BALANCE: the workspace balance as the node knows it cannot take the request (nothing left,
 * the request alone is bigger, or this node's requests in flight hold the rest); SHARE: it
 * could, but this node's share of it cannot (the rest belongs to the other nodes' shares);
 * BUDGET: the key budget, either way. */
typedef enum {
    DP_RESERVE_OK = 0,
    DP_RESERVE_BALANCE,
    DP_RESERVE_SHARE,
    DP_RESERVE_BUDGET,
    DP_RESERVE__COUNT
} dp_reserve_reason_t;

/* A request's open reservation (lives in the request; plain data). */
typedef struct {
    int open;               /* 1 between a successful dp_reserve_take and dp_reserve_close */
    sy_nano_t amount;       /* the worst case reserved */
    uint64_t ws_id, key_id; /* table ids; 0 = that side not reserved */
} dp_reserve_t;

/* What a refusal saw, for the client's message. */
typedef struct {
    sy_nano_t remaining; /* value − own spend (what is left before counting open reservations) */
    sy_nano_t share;    /* this node's share of the value − own spend (== remaining on a node of its own) */
    sy_nano_t reserved; /* open reservations on that entry */
} dp_reserve_why_t;

/* Worst-case cost of a request: ceil(body_bytes / 4) input tokens at `in_per_m`, plus output
 * tokens at `out_per_m`: `max_tokens` when > 0, else `default_output`; either clamped to the
 * model's room (`context_window` − the input estimate) when that is known and positive;
 * `embeddings` has no output. Saturating. */
sy_nano_t dp_reserve_worst_case(uint64_t body_bytes, int64_t max_tokens, int embeddings, sy_nano_t in_per_m,
                                sy_nano_t out_per_m, uint32_t context_window, uint32_t default_output);

/* Reserves `amount` against key k's workspace balance (when the workspace has_balance) and
 * its budget (when budget > 0), all or nothing, as of snapshot `version`. Each is limited to
 * this node's share (k->workspace->share_ppm) of the value − own spend − open reservations;
 * a request bigger than the whole share may still take the whole value when this node holds
 * nothing for that entry (no open reservation, no own spend since the baseline), so a small
 * balance is never unusable — once per baseline per node (docs/admission.md, bound). `now_ns`
 * is CLOCK_MONOTONIC or a test clock. On DP_RESERVE_OK *res is open (or left closed when
 * nothing applies / the table is full); otherwise *why tells the refusal's numbers. */
dp_reserve_reason_t dp_reserve_take(const dp_key_t *k, uint64_t version, sy_nano_t amount, uint64_t now_ns,
                                    dp_reserve_t *res, dp_reserve_why_t *why);

/* Closes an open reservation once: releases its amount and adds `cost` (the real cost, >= 0)
 * to the node's own spend. No-op when res is not open. */
void dp_reserve_close(dp_reserve_t *res, sy_nano_t cost, uint64_t now_ns);

/* Prometheus text: reserved / settled / released nano-USD, open reservations, refusals by
 * reason, table-full events, and the shares of snapshot `s` (may be NULL): this node's default
 * share and how many workspaces have a weighted one. Appends at most cap bytes
 * (NUL-terminated); returns the length. */
size_t dp_reserve_metrics_render(char *buf, size_t cap, const dp_snapshot_t *s);

/* Open reservations on this node (the gauge). */
int64_t dp_reserve_open_count(void);

/* Tests only: forget every entry and counter. */
void dp_reserve_reset_all(void);

#endif
