/*
 * Reservations against balances and budgets: node-wide striped table. See dp_reserve.h and
 * docs/admission.md.
 */
#include "dp_reserve.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "dp_stripe.h"

/* Own spend double-counted after a rotation stops counting after this long: the records it
 * stands for were sent within milliseconds (or spooled), and a snapshot that bumped the
 * baseline is at least this fresh about everything acked before it. Without the expiry a
 * workspace whose baseline already includes our spend could stay refused until someone else
 * changes its balance. */
#define PREV_TTL_NS (5ull * 1000000000ull)

typedef struct {
    uint64_t id;        /* 0 = never used; key: SHA-256 prefix (top bit 0), workspace: hash (top bit 1) */
    uint64_t ver;       /* snapshot version the baseline came from */
    sy_nano_t base;     /* baseline: the workspace balance, or the key's spent, at `ver` */
    sy_nano_t cur;      /* own settled spend since the baseline */
    sy_nano_t prev;     /* own spend under the previous baseline, still counted until prev_until */
    sy_nano_t reserved; /* open reservations */
    int64_t nopen;      /* how many */
    int based;          /* a baseline was taken */
    uint64_t prev_until, last_ns;
} slot_t;

typedef struct {
    pthread_mutex_t mu;
    slot_t s[DP_RESERVE_SLOTS_PER_STRIPE];
} __attribute__((aligned(64))) stripe_t;

static stripe_t g_tab[DP_RESERVE_STRIPES] = {
    [0 ... DP_RESERVE_STRIPES - 1] = {.mu = PTHREAD_MUTEX_INITIALIZER}};

static struct {
    atomic_ullong reserved, settled, released, refused[DP_RESERVE__COUNT], table_full;
    atomic_llong open;
} g_m;

static stripe_t *stripe_of(uint64_t id)
{
    return &g_tab[(id ^ (id >> 29)) % DP_RESERVE_STRIPES];
}

/* Under the stripe's lock. Reuse only an entry with nothing open whose last settlement is old
 * enough that the control plane's figures include it. */
static slot_t *find(stripe_t *st, uint64_t id, uint64_t now, int create)
{
    size_t start = (size_t)(id >> 7) % DP_RESERVE_SLOTS_PER_STRIPE;
    slot_t *reuse = NULL;
    for (size_t i = 0; i < DP_RESERVE_PROBE; i++) {
        slot_t *s = &st->s[(start + i) % DP_RESERVE_SLOTS_PER_STRIPE];
        if (s->id == id)
            return s;
        if (s->id == 0) {
            if (reuse == NULL)
                reuse = s;
            break;
        }
        if (reuse == NULL && s->nopen == 0 && now > s->last_ns && now - s->last_ns > DP_RESERVE_IDLE_NS)
            reuse = s;
    }
    if (!create || reuse == NULL)
        return NULL;
    memset(reuse, 0, sizeof(*reuse));
    reuse->id = id;
    reuse->last_ns = now;
    return reuse;
}

/* Takes the baseline of a newer snapshot (see dp_reserve.h: rotation only when the value moved). */
static void rebase(slot_t *s, uint64_t version, sy_nano_t value, uint64_t now)
{
    if (s->based && version <= s->ver)
        return; /* an older or the same snapshot: the entry already knows better */
    if (s->based && value != s->base) {
        s->prev = s->cur + (now < s->prev_until ? s->prev : 0);
        s->prev_until = now + PREV_TTL_NS;
        s->cur = 0;
    }
    s->based = 1;
    s->ver = version;
    s->base = value;
}

/* This node's own spend against the entry's baseline: since it (`cur`) plus, for PREV_TTL_NS
 * after a rotation, what it spent under the previous one (`prev`). Wide: sums never overflow. */
static __int128 spend_of(const slot_t *s, uint64_t now)
{
    return (__int128)s->cur + (now < s->prev_until ? s->prev : 0);
}

static sy_nano_t clamp(__int128 v)
{
    return v > INT64_MAX ? INT64_MAX : v < INT64_MIN ? INT64_MIN : (sy_nano_t)v;
}

sy_nano_t dp_reserve_worst_case(uint64_t body_bytes, int64_t max_tokens, int embeddings, sy_nano_t in_per_m,
                                sy_nano_t out_per_m, uint32_t context_window, uint32_t default_output)
{
    int64_t in =
        (int64_t)((body_bytes > (uint64_t)INT64_MAX - 3 ? (uint64_t)INT64_MAX - 3 : body_bytes) + 3) / 4;
    int64_t out = 0;
    if (!embeddings) {
        out = max_tokens > 0 ? max_tokens : (int64_t)default_output;
        /* the provider cannot write past the context window: the model's own limit */
        if (context_window > 0 && (int64_t)context_window > in && out > (int64_t)context_window - in)
            out = (int64_t)context_window - in;
    }
    sy_nano_t a = sy_money_cost(in, in_per_m), b = sy_money_cost(out, out_per_m);
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

/* ppm of v, rounded down (v may be negative: then the share is too). */
static __int128 share_of(__int128 v, uint32_t ppm)
{
    return ppm >= 1000000u ? v : v * ppm / 1000000;
}

/* One entry's verdict. `cap` is the balance, or budget − the snapshot's spent: what the
 * control plane says is left for the fleet. */
static dp_reserve_reason_t check(const slot_t *s, __int128 cap, uint32_t ppm, sy_nano_t amount, uint64_t now,
                                 dp_reserve_reason_t kind, dp_reserve_why_t *why)
{
    __int128 spend = spend_of(s, now);
    __int128 left = cap - spend;                      /* the whole value, as this node knows it */
    __int128 share_left = share_of(cap, ppm) - spend; /* this node's part of it */
    if ((__int128)amount <= share_left - s->reserved)
        return DP_RESERVE_OK;
    /* a request bigger than the whole share runs once per baseline on an idle entry, against
     * the whole value: otherwise a balance smaller than n × one request could never be spent */
    if ((__int128)amount > share_of(cap, ppm) && s->nopen == 0 && spend == 0 && (__int128)amount <= left)
        return DP_RESERVE_OK;
    why->remaining = clamp(left);
    why->share = clamp(share_left);
    why->reserved = s->reserved;
    if (kind == DP_RESERVE_BALANCE && share_left < left && (__int128)amount <= left - s->reserved)
        return DP_RESERVE_SHARE; /* the whole balance has room; this node's share has not */
    return kind;
}

dp_reserve_reason_t dp_reserve_take(const dp_key_t *k, uint64_t version, sy_nano_t amount, uint64_t now_ns,
                                    dp_reserve_t *res, dp_reserve_why_t *why)
{
    memset(res, 0, sizeof(*res));
    memset(why, 0, sizeof(*why));
    if (amount < 0)
        amount = 0;
    const dp_workspace_t *w = k->workspace;
    int need_ws = w != NULL && w->has_balance, need_key = k->budget > 0;
    if (!need_ws && !need_key)
        return DP_RESERVE_OK;
    uint64_t ids[2] = {need_ws ? w->tid : 0, need_key ? k->tid : 0};
    stripe_t *st[2] = {need_ws ? stripe_of(ids[0]) : NULL, need_key ? stripe_of(ids[1]) : NULL};

    dp_reserve_reason_t out = DP_RESERVE_OK;
    dp_stripe_lock2(st[0] ? &st[0]->mu : NULL, st[1] ? &st[1]->mu : NULL);
    slot_t *s[2] = {need_ws ? find(st[0], ids[0], now_ns, 1) : NULL,
                    need_key ? find(st[1], ids[1], now_ns, 1) : NULL};
    if ((need_ws && s[0] == NULL) || (need_key && s[1] == NULL)) {
        /* fail open: refusing would let unrelated busy workspaces deny service to this one */
        dp_stripe_unlock2(st[0] ? &st[0]->mu : NULL, st[1] ? &st[1]->mu : NULL);
        atomic_fetch_add_explicit(&g_m.table_full, 1, memory_order_relaxed);
        return DP_RESERVE_OK;
    }
    uint32_t ppm = w != NULL ? w->share_ppm : 1000000u;
    if (s[0] != NULL) {
        rebase(s[0], version, w->balance, now_ns);
        out = check(s[0], s[0]->base, ppm, amount, now_ns, DP_RESERVE_BALANCE, why);
    }
    if (s[1] != NULL) {
        rebase(s[1], version, k->spent, now_ns);
        if (out == DP_RESERVE_OK)
            out = check(s[1], (__int128)k->budget - s[1]->base, ppm, amount, now_ns, DP_RESERVE_BUDGET, why);
    }
    if (out == DP_RESERVE_OK) {
        for (int i = 0; i < 2; i++) {
            if (s[i] == NULL)
                continue;
            s[i]->reserved += amount; /* amount <= what is left <= INT64_MAX: no overflow */
            s[i]->nopen++;
            s[i]->last_ns = now_ns;
        }
    }
    dp_stripe_unlock2(st[0] ? &st[0]->mu : NULL, st[1] ? &st[1]->mu : NULL);

    if (out != DP_RESERVE_OK) {
        atomic_fetch_add_explicit(&g_m.refused[out], 1, memory_order_relaxed);
        return out;
    }
    res->open = 1;
    res->amount = amount;
    res->ws_id = ids[0];
    res->key_id = ids[1];
    atomic_fetch_add_explicit(&g_m.reserved, (unsigned long long)amount, memory_order_relaxed);
    atomic_fetch_add_explicit(&g_m.open, 1, memory_order_relaxed);
    return DP_RESERVE_OK;
}

void dp_reserve_close(dp_reserve_t *res, sy_nano_t cost, uint64_t now_ns)
{
    if (!res->open)
        return;
    res->open = 0;
    if (cost < 0)
        cost = 0;
    uint64_t ids[2] = {res->ws_id, res->key_id};
    stripe_t *st[2] = {ids[0] ? stripe_of(ids[0]) : NULL, ids[1] ? stripe_of(ids[1]) : NULL};
    dp_stripe_lock2(st[0] ? &st[0]->mu : NULL, st[1] ? &st[1]->mu : NULL);
    for (int i = 0; i < 2; i++) {
        if (st[i] == NULL)
            continue;
        /* an entry with an open reservation is never reused, so it is still there */
        slot_t *s = find(st[i], ids[i], now_ns, 0);
        if (s == NULL)
            continue;
        s->reserved -= res->amount;
        s->nopen--;
        s->cur = s->cur > INT64_MAX - cost ? INT64_MAX : s->cur + cost;
        s->last_ns = now_ns;
    }
    dp_stripe_unlock2(st[0] ? &st[0]->mu : NULL, st[1] ? &st[1]->mu : NULL);
    atomic_fetch_add_explicit(&g_m.released, (unsigned long long)res->amount, memory_order_relaxed);
    atomic_fetch_add_explicit(&g_m.settled, (unsigned long long)cost, memory_order_relaxed);
    atomic_fetch_sub_explicit(&g_m.open, 1, memory_order_relaxed);
}

int64_t dp_reserve_open_count(void)
{
    return atomic_load_explicit(&g_m.open, memory_order_relaxed);
}

size_t dp_reserve_metrics_render(char *buf, size_t cap, const dp_snapshot_t *snap)
{
    if (cap == 0)
        return 0;
    unsigned long long weighted = snap ? snap->nweighted : 0;
    unsigned long long share = 1000000u / (snap && snap->live_nodes ? snap->live_nodes : 1);
    int n = snprintf(
        buf, cap,
        "# HELP switchyard_reserve_reserved_nano_total Worst-case cost reserved before upstream calls "
        "(nano-USD).\n"
        "# TYPE switchyard_reserve_reserved_nano_total counter\n"
        "switchyard_reserve_reserved_nano_total %llu\n"
        "# HELP switchyard_reserve_settled_nano_total Real cost settled into this node's own spend "
        "(nano-USD).\n"
        "# TYPE switchyard_reserve_settled_nano_total counter\n"
        "switchyard_reserve_settled_nano_total %llu\n"
        "# HELP switchyard_reserve_released_nano_total Reservations released when their request ended "
        "(nano-USD).\n"
        "# TYPE switchyard_reserve_released_nano_total counter\n"
        "switchyard_reserve_released_nano_total %llu\n"
        "# HELP switchyard_reserve_open Reservations currently open on this node.\n"
        "# TYPE switchyard_reserve_open gauge\n"
        "switchyard_reserve_open %lld\n"
        "# HELP switchyard_reserve_refused_total Requests refused with 402 insufficient_quota, by reason.\n"
        "# TYPE switchyard_reserve_refused_total counter\n"
        "switchyard_reserve_refused_total{reason=\"insufficient_quota_balance\"} %llu\n"
        "switchyard_reserve_refused_total{reason=\"insufficient_quota_share\"} %llu\n"
        "switchyard_reserve_refused_total{reason=\"insufficient_quota_budget\"} %llu\n"
        "# HELP switchyard_reserve_table_full_total Requests admitted without a reservation (table full, "
        "fail open).\n"
        "# TYPE switchyard_reserve_table_full_total counter\n"
        "switchyard_reserve_table_full_total %llu\n"
        "# HELP switchyard_reserve_share_ppm This node's share of a balance without recent spend (1e6 / live "
        "nodes).\n"
        "# TYPE switchyard_reserve_share_ppm gauge\n"
        "switchyard_reserve_share_ppm %llu\n"
        "# HELP switchyard_reserve_weighted_workspaces Workspaces whose share on this node is weighted by "
        "recent spend.\n"
        "# TYPE switchyard_reserve_weighted_workspaces gauge\n"
        "switchyard_reserve_weighted_workspaces %llu\n",
        (unsigned long long)atomic_load_explicit(&g_m.reserved, memory_order_relaxed),
        (unsigned long long)atomic_load_explicit(&g_m.settled, memory_order_relaxed),
        (unsigned long long)atomic_load_explicit(&g_m.released, memory_order_relaxed),
        (long long)atomic_load_explicit(&g_m.open, memory_order_relaxed),
        (unsigned long long)atomic_load_explicit(&g_m.refused[DP_RESERVE_BALANCE], memory_order_relaxed),
        (unsigned long long)atomic_load_explicit(&g_m.refused[DP_RESERVE_SHARE], memory_order_relaxed),
        (unsigned long long)atomic_load_explicit(&g_m.refused[DP_RESERVE_BUDGET], memory_order_relaxed),
        (unsigned long long)atomic_load_explicit(&g_m.table_full, memory_order_relaxed), share, weighted);
    if (n < 0)
        return 0;
    return (size_t)n >= cap ? cap - 1 : (size_t)n;
}

void dp_reserve_reset_all(void)
{
    for (size_t i = 0; i < DP_RESERVE_STRIPES; i++) {
        pthread_mutex_lock(&g_tab[i].mu);
        memset(g_tab[i].s, 0, sizeof(g_tab[i].s));
        pthread_mutex_unlock(&g_tab[i].mu);
    }
    atomic_store(&g_m.reserved, 0);
    atomic_store(&g_m.settled, 0);
    atomic_store(&g_m.released, 0);
    for (int i = 0; i < DP_RESERVE__COUNT; i++)
        atomic_store(&g_m.refused[i], 0);
    atomic_store(&g_m.table_full, 0);
    atomic_store(&g_m.open, 0);
}
