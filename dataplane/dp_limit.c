/*
 * Rate limits: GCRA per bucket, node-wide striped table. See dp_limit.h and docs/admission.md.
 *
 * GCRA in one paragraph: each bucket keeps a theoretical arrival time (TAT). A bucket whose
 * share is s per minute charges c units as c * W / s nanoseconds of "debt" (W = one minute):
 * new = max(TAT, now) + c*W/s, and the request conforms when new - now <= W, i.e. while the
 * debt stays within one minute — a burst of the whole share, then one unit every W/s. Keeping
 * debt in time rather than in units makes a change of share (live nodes changed) keep the
 * fraction of the bucket in use, with nothing to migrate.
 */
#include "dp_limit.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "dp_stripe.h"
#include "sy_json.h"
#include "sy_util.h"

typedef struct {
    uint64_t id;     /* 0 = never used; key: SHA-256 prefix, workspace: hash of its id */
    uint64_t tat[2]; /* [0] requests, [1] tokens; absolute monotonic ns; <= now means full */
} slot_t;

typedef struct {
    pthread_mutex_t mu;
    slot_t s[DP_LIMIT_SLOTS_PER_STRIPE];
} __attribute__((aligned(64))) stripe_t;

/* In BSS: pages are touched only as entries are used. All-zero is a valid unlocked glibc
 * mutex, but say so explicitly. */
static stripe_t g_tab[DP_LIMIT_STRIPES] = {[0 ... DP_LIMIT_STRIPES - 1] = {.mu = PTHREAD_MUTEX_INITIALIZER}};

static struct {
    atomic_ullong refused_req, refused_tok, table_full, admitted;
    atomic_uint nodes;
    atomic_uint used; /* slots ever claimed (a reused slot is not counted twice) */
} g_m;

uint64_t dp_limit_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static stripe_t *stripe_of(uint64_t id)
{
    return &g_tab[(id ^ (id >> 29)) % DP_LIMIT_STRIPES];
}

/* Under the stripe's lock. The entry for id, or a claimed free/idle one when `create`; NULL
 * when absent (!create) or when the probe window holds only active entries (table full).
 * Empty slots never reappear (reuse overwrites the id), so the first empty slot ends a search. */
static slot_t *find(stripe_t *st, uint64_t id, uint64_t now, int create)
{
    size_t start = (size_t)(id >> 7) % DP_LIMIT_SLOTS_PER_STRIPE;
    slot_t *reuse = NULL;
    for (size_t i = 0; i < DP_LIMIT_PROBE; i++) {
        slot_t *s = &st->s[(start + i) % DP_LIMIT_SLOTS_PER_STRIPE];
        if (s->id == id)
            return s;
        if (s->id == 0) {
            if (reuse == NULL)
                reuse = s;
            break;
        }
        if (reuse == NULL && s->tat[0] <= now && s->tat[1] <= now)
            reuse = s; /* both buckets full again: same as a fresh entry */
    }
    if (!create || reuse == NULL)
        return NULL;
    if (reuse->id == 0)
        atomic_fetch_add_explicit(&g_m.used, 1, memory_order_relaxed);
    reuse->id = id;
    reuse->tat[0] = reuse->tat[1] = 0;
    return reuse;
}

static uint32_t share_of(uint32_t limit, uint32_t nodes)
{
    return (uint32_t)(((uint64_t)limit + nodes - 1) / nodes);
}

/* Nanoseconds of debt for `units` at `share` per minute. Rounded down: rounding up would
 * make `share` charges add up to a little more than the window (7 rpm: 7 x 8571428572 ns >
 * 60 s) and refuse the last request of a burst; down, the client gains under one nanosecond
 * per charge. Callers clamp units, so the 128-bit product never overflows. */
static uint64_t debt_ns(uint64_t units, uint32_t share)
{
    return (uint64_t)((unsigned __int128)units * DP_LIMIT_WINDOW_NS / share);
}

typedef struct {
    slot_t *slot;
    int kind;       /* 0 requests, 1 tokens */
    uint32_t limit; /* configured */
    uint32_t share; /* this node's */
    uint64_t cost;  /* units charged (clamped to the share) */
    uint64_t base, next;
    int ok;
} bucket_t;

static void evaluate(bucket_t *b, uint64_t now)
{
    uint64_t tat = b->slot ? b->slot->tat[b->kind] : 0;
    b->base = tat > now ? tat : now;
    b->next = b->base + debt_ns(b->cost, b->share);
    b->ok = b->next - now <= DP_LIMIT_WINDOW_NS;
}

/* Units left after `tat` (what the bucket would still admit now), floor. */
static uint64_t remaining(const bucket_t *b, uint64_t tat, uint64_t now)
{
    uint64_t debt = tat > now ? tat - now : 0;
    if (debt >= DP_LIMIT_WINDOW_NS)
        return 0;
    return (uint64_t)((unsigned __int128)(DP_LIMIT_WINDOW_NS - debt) * b->share / DP_LIMIT_WINDOW_NS);
}

dp_limit_reason_t dp_limit_admit(const dp_key_t *k, uint32_t nodes, int charge, int64_t est_tokens,
                                 uint64_t now_ns, dp_limit_view_t *v)
{
    memset(v, 0, sizeof(*v));
    v->set = 1;
    if (nodes == 0)
        nodes = 1;
    v->nodes = nodes;
    atomic_store_explicit(&g_m.nodes, nodes, memory_order_relaxed);
    const dp_workspace_t *w = k->workspace;
    uint32_t lim[2][2] = {{k->rpm, k->tpm}, {w ? w->rpm : 0, w ? w->tpm : 0}}; /* [key|ws][req|tok] */
    int need[2] = {lim[0][0] || lim[0][1], lim[1][0] || lim[1][1]};
    if (!need[0] && !need[1])
        return DP_LIMIT_OK;
    uint64_t ids[2] = {need[0] ? k->tid : 0, need[1] ? w->tid : 0};
    stripe_t *st[2] = {need[0] ? stripe_of(ids[0]) : NULL, need[1] ? stripe_of(ids[1]) : NULL};
    uint64_t tok = est_tokens > 0 ? (uint64_t)est_tokens : 0;
    if (charge) {
        v->est_tokens = (int64_t)tok;
    }

    bucket_t b[4];
    size_t nb = 0;
    int full = 0;
    dp_stripe_lock2(st[0] ? &st[0]->mu : NULL, st[1] ? &st[1]->mu : NULL);
    for (int e = 0; e < 2; e++) {
        if (!need[e])
            continue;
        /* a look (charge 0) never claims an entry: an absent one is a full bucket */
        slot_t *s = find(st[e], ids[e], now_ns, charge);
        if (s == NULL && charge)
            full = 1;
        for (int kind = 0; kind < 2; kind++) {
            if (lim[e][kind] == 0)
                continue;
            bucket_t *x = &b[nb++];
            x->slot = s;
            x->kind = kind;
            x->limit = lim[e][kind];
            x->share = share_of(x->limit, nodes);
            /* a request bigger than the whole share is admitted when the bucket is full and
             * empties it (rather than never); settlement charges the rest */
            uint64_t c = charge ? (kind == 0 ? 1 : tok) : 0;
            x->cost = c > x->share ? x->share : c;
            evaluate(x, now_ns);
        }
    }
    int all_ok = 1;
    for (size_t i = 0; i < nb; i++)
        all_ok &= b[i].ok;
    if (full) {
        all_ok = 1; /* fail open for this request; counted below */
    } else if (all_ok && charge) {
        for (size_t i = 0; i < nb; i++)
            b[i].slot->tat[b[i].kind] = b[i].next;
    }
    dp_stripe_unlock2(st[0] ? &st[0]->mu : NULL, st[1] ? &st[1]->mu : NULL);

    dp_limit_reason_t why = DP_LIMIT_OK;
    uint64_t retry_ns = 0;
    for (size_t i = 0; i < nb; i++) {
        const bucket_t *x = &b[i];
        uint64_t tat = all_ok && charge && !full ? x->next : x->base;
        uint64_t rem = remaining(x, tat, now_ns);
        uint64_t reset_ms = (tat > now_ns ? tat - now_ns + 999999 : 0) / 1000000;
        /* the binding limit of each kind: least remaining; on a tie the smaller limit */
        if (x->kind == 0) {
            if (!v->has_req || rem < v->req_remaining ||
                (rem == v->req_remaining && x->limit < v->req_limit)) {
                v->has_req = 1;
                v->req_limit = x->limit;
                v->req_remaining = rem;
                v->req_reset_ms = reset_ms;
            }
        } else {
            if (!v->has_tok || rem < v->tok_remaining ||
                (rem == v->tok_remaining && x->limit < v->tok_limit)) {
                v->has_tok = 1;
                v->tok_limit = x->limit;
                v->tok_remaining = rem;
                v->tok_reset_ms = reset_ms;
            }
        }
        if (!all_ok && !x->ok) {
            if (x->kind == 0 || why == DP_LIMIT_OK)
                why = x->kind == 0 ? DP_LIMIT_REQUESTS : DP_LIMIT_TOKENS;
            uint64_t wait = x->next - DP_LIMIT_WINDOW_NS - now_ns;
            if (wait > retry_ns)
                retry_ns = wait;
        }
    }
    if (full)
        atomic_fetch_add_explicit(&g_m.table_full, 1, memory_order_relaxed);
    if (why != DP_LIMIT_OK) {
        uint64_t s = (retry_ns + 999999999ull) / 1000000000ull;
        v->retry_after_s = s < 1 ? 1 : s > 3600 ? 3600 : (uint32_t)s;
        v->refused = why;
        v->est_tokens = 0;
        atomic_fetch_add_explicit(why == DP_LIMIT_REQUESTS ? &g_m.refused_req : &g_m.refused_tok, 1,
                                  memory_order_relaxed);
    } else if (charge) {
        atomic_fetch_add_explicit(&g_m.admitted, 1, memory_order_relaxed);
    }
    return why;
}

void dp_limit_settle(const dp_key_t *k, uint32_t nodes, int64_t estimated_tokens, int64_t actual_tokens,
                     uint64_t now_ns)
{
    if (k == NULL || estimated_tokens == actual_tokens)
        return;
    if (nodes == 0)
        nodes = 1;
    const dp_workspace_t *w = k->workspace;
    uint32_t lim[2] = {k->tpm, w ? w->tpm : 0};
    int64_t delta = actual_tokens - estimated_tokens;
    for (int e = 0; e < 2; e++) {
        if (lim[e] == 0)
            continue;
        uint64_t id = e == 0 ? k->tid : w->tid;
        stripe_t *st = stripe_of(id);
        uint32_t share = share_of(lim[e], nodes);
        uint64_t units = (uint64_t)(delta < 0 ? -delta : delta);
        if (units > (uint64_t)share * 60) /* at most an hour of debt or credit per settlement */
            units = (uint64_t)share * 60;
        uint64_t d = debt_ns(units, share);
        pthread_mutex_lock(&st->mu);
        /* a debit may need a fresh entry (the old one was reused once full); a credit to an
         * absent entry is moot: the bucket is already full */
        slot_t *s = find(st, id, now_ns, delta > 0);
        if (s != NULL) {
            uint64_t tat = s->tat[1];
            if (delta > 0)
                s->tat[1] = (tat > now_ns ? tat : now_ns) + d;
            else
                s->tat[1] = tat > d ? tat - d : 0; /* at or below now means full */
        }
        pthread_mutex_unlock(&st->mu);
    }
}

static int64_t parse_uint(const char *p, size_t n)
{
    if (n == 0 || n > 12)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

int64_t dp_limit_estimate(const char *body, size_t len, int embeddings)
{
    int64_t prompt = (int64_t)(len / 4);
    if (embeddings)
        return prompt;
    int64_t completion = DP_LIMIT_DEFAULT_COMPLETION;
    sy_json_member_t m[256];
    int n = body != NULL ? sy_json_members(body, len, m, 256) : -1;
    for (int i = 0; i < n; i++) {
        if ((m[i].key_len == 10 && memcmp(m[i].key, "max_tokens", 10) == 0) ||
            (m[i].key_len == 21 && memcmp(m[i].key, "max_completion_tokens", 21) == 0)) {
            int64_t v = parse_uint(m[i].value, m[i].value_len);
            if (v >= 0)
                completion = v;
        }
    }
    return prompt + completion;
}

size_t dp_limit_metrics_render(char *buf, size_t cap)
{
    /* the divisor of the published snapshot (what the next request will use), else the last
     * one a request used */
    unsigned nodes = atomic_load(&g_m.nodes);
    dp_snapshot_t *s = dp_snapshot_acquire();
    if (s != NULL) {
        nodes = s->live_nodes;
        dp_snapshot_unref(s);
    }
    int n = snprintf(
        buf, cap,
        "# HELP switchyard_ratelimit_refused_total Requests refused with 429 rate_limited, by the limit "
        "that refused them.\n"
        "# TYPE switchyard_ratelimit_refused_total counter\n"
        "switchyard_ratelimit_refused_total{reason=\"rate_limited_requests\"} %llu\n"
        "switchyard_ratelimit_refused_total{reason=\"rate_limited_tokens\"} %llu\n"
        "# HELP switchyard_ratelimit_admitted_total Requests admitted under at least one rate limit.\n"
        "# TYPE switchyard_ratelimit_admitted_total counter\n"
        "switchyard_ratelimit_admitted_total %llu\n"
        "# HELP switchyard_ratelimit_table_full_total Requests admitted unlimited because the limiter "
        "table had no free entry (fail open).\n"
        "# TYPE switchyard_ratelimit_table_full_total counter\n"
        "switchyard_ratelimit_table_full_total %llu\n"
        "# HELP switchyard_ratelimit_entries Limiter table entries ever claimed (of %u).\n"
        "# TYPE switchyard_ratelimit_entries gauge\n"
        "switchyard_ratelimit_entries %u\n"
        "# HELP switchyard_ratelimit_live_nodes Live data planes this node divides fleet limits by "
        "(its share is ceil(limit / this)).\n"
        "# TYPE switchyard_ratelimit_live_nodes gauge\n"
        "switchyard_ratelimit_live_nodes %u\n",
        (unsigned long long)atomic_load(&g_m.refused_req), (unsigned long long)atomic_load(&g_m.refused_tok),
        (unsigned long long)atomic_load(&g_m.admitted), (unsigned long long)atomic_load(&g_m.table_full),
        (unsigned)(DP_LIMIT_STRIPES * DP_LIMIT_SLOTS_PER_STRIPE), atomic_load(&g_m.used), nodes);
    if (n < 0)
        return 0;
    return (size_t)n < cap ? (size_t)n : cap ? cap - 1 : 0;
}

int dp_limit_format_duration(uint64_t ms, char *out)
{
    size_t n;
    if (ms < 1000) {
        n = sy_fmt_u64(out, ms);
        memcpy(out + n, "ms", 3);
        return (int)n + 2;
    }
    uint64_t s = ms / 1000, frac = ms % 1000;
    if (s >= 60) {
        n = sy_fmt_u64(out, s / 60);
        out[n++] = 'm';
        n += sy_fmt_u64(out + n, s % 60);
    } else {
        n = sy_fmt_u64(out, s);
        if (frac != 0) { /* ".5", ".25", ".125": no trailing zeros */
            out[n++] = '.';
            char f[3] = {(char)('0' + frac / 100), (char)('0' + frac / 10 % 10), (char)('0' + frac % 10)};
            size_t fl = f[2] != '0' ? 3 : f[1] != '0' ? 2 : 1;
            memcpy(out + n, f, fl);
            n += fl;
        }
    }
    out[n++] = 's';
    out[n] = '\0';
    return (int)n;
}

void dp_limit_reset_all(void)
{
    for (size_t i = 0; i < DP_LIMIT_STRIPES; i++) {
        pthread_mutex_lock(&g_tab[i].mu);
        memset(g_tab[i].s, 0, sizeof(g_tab[i].s));
        pthread_mutex_unlock(&g_tab[i].mu);
    }
    atomic_store(&g_m.refused_req, 0);
    atomic_store(&g_m.refused_tok, 0);
    atomic_store(&g_m.table_full, 0);
    atomic_store(&g_m.admitted, 0);
    atomic_store(&g_m.used, 0);
    atomic_store(&g_m.nodes, 0);
}
