/*
 * Prometheus metrics. Each loop thread writes only its own dp_metrics_t (under its own,
 * uncontended mutex); a scrape locks each in turn and sums. The token and cost series are
 * lock-free instead (single writer, relaxed atomic stores; the scrape loads them atomically):
 * they are counted once per upstream attempt. Label values come from the snapshot's catalog
 * (bounded), never from request text.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dp.h"
#include "dp_usage.h"

#define MAX_SERIES 512
static const double buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                 0.25,   0.5,     1,      2.5,   5,      10,    30,   60,    120};
#define NB (sizeof(buckets) / sizeof(buckets[0]))
static const char *const uperr_names[DP_UPERR__COUNT] = {"connect",    "timeout", "status_5xx", "status_429",
                                                         "status_4xx", "reset",   "malformed",  "other"};

typedef struct {
    uint64_t count[NB + 1];
    uint64_t sum_ns, n;
} hist_t;

/* Tokens and cost of one (model, provider) on one thread. The labels are copies made when the
 * series is created (a snapshot may be freed long before the scrape) and never change; the
 * counters are written by the owning thread only. */
typedef struct {
    char *model, *provider;
    uint64_t prompt, completion, cost_nano;
} useries_t;
#define USAGE_HASH (2 * DP_METRICS_USAGE_SERIES) /* open addressing, at most half full */
#define OVERFLOW_LABEL "_overflow"

struct dp_metrics {
    pthread_mutex_t mu;
    hist_t ttfb[2]; /* by stream: 0 non-streamed, 1 streamed */
    /* usage series: `useries[0..nuseries)` published by a release store of nuseries */
    useries_t *useries[DP_METRICS_USAGE_SERIES + 1]; /* + the overflow series */
    size_t nuseries;
    uint16_t uhash[USAGE_HASH]; /* index + 1 into useries, 0 = empty */
    useries_t *uoverflow;
    struct {
        int status;
        char model[64], provider[64];
        uint64_t n;
    } series[MAX_SERIES];
    size_t nseries;
    hist_t total, overhead;
    uint64_t uperr[DP_UPERR__COUNT];
};

static const char *const snap_src_names[DP_SNAP_SRC__COUNT] = {"bus", "cache", "file"};
static const char *const snap_rej_names[DP_SNAP_REJ__COUNT] = {"corrupt", "stale", "invalid"};
/* written by the bus thread (and main at start), read by scrapes: process-wide atomics */
static atomic_ullong g_snap_applied[DP_SNAP_SRC__COUNT];
static atomic_ullong g_snap_rejected[DP_SNAP_REJ__COUNT];

static dp_thread_t **g_threads;
static size_t g_nthreads;

dp_metrics_t *dp_metrics_create(void)
{
    dp_metrics_t *m = calloc(1, sizeof(*m));
    if (m)
        pthread_mutex_init(&m->mu, NULL);
    return m;
}

static void useries_free(useries_t *u)
{
    if (u == NULL)
        return;
    free(u->model);
    free(u->provider);
    free(u);
}

void dp_metrics_destroy(dp_metrics_t *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->nuseries; i++)
        useries_free(m->useries[i]);
    useries_free(m->uoverflow);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

void dp_metrics_register(dp_thread_t **threads, size_t n)
{
    g_threads = threads;
    g_nthreads = n;
}

void dp_metrics_snapshot_applied(dp_snap_src_t src)
{
    if ((unsigned)src < DP_SNAP_SRC__COUNT)
        atomic_fetch_add_explicit(&g_snap_applied[src], 1, memory_order_relaxed);
}

static atomic_ullong g_bus_updates[2]; /* whole, delta */
static atomic_ullong g_delta_refused[DP_DELTA__COUNT];
static atomic_ullong g_overlay_rows;
static atomic_ullong g_pushed[DP_DELTA__COUNT]; /* pushed deltas by result (0: applied) */
static const char *const delta_rej_names[DP_DELTA__COUNT] = {"", "wrong_base", "corrupt", "invalid",
                                                             "overlay_full"};

void dp_metrics_bus_update(int delta)
{
    atomic_fetch_add_explicit(&g_bus_updates[delta ? 1 : 0], 1, memory_order_relaxed);
}

void dp_metrics_delta_refused(int result)
{
    if (result > 0 && result < DP_DELTA__COUNT)
        atomic_fetch_add_explicit(&g_delta_refused[result], 1, memory_order_relaxed);
}

void dp_metrics_bus_pushed(int result)
{
    if (result >= 0 && result < DP_DELTA__COUNT)
        atomic_fetch_add_explicit(&g_pushed[result], 1, memory_order_relaxed);
}

void dp_metrics_overlay_rows(size_t rows)
{
    atomic_store_explicit(&g_overlay_rows, rows, memory_order_relaxed);
}

void dp_metrics_snapshot_rejected(dp_snap_rej_t reason)
{
    if ((unsigned)reason < DP_SNAP_REJ__COUNT)
        atomic_fetch_add_explicit(&g_snap_rejected[reason], 1, memory_order_relaxed);
}

static void observe(hist_t *h, uint64_t ns)
{
    double s = (double)ns / 1e9;
    size_t i = 0;
    while (i < NB && s > buckets[i])
        i++;
    h->count[i]++;
    h->sum_ns += ns;
    h->n++;
}

void dp_metrics_request(dp_metrics_t *m, int status, const char *model, const char *provider,
                        uint64_t total_ns, uint64_t overhead_ns, int ttfb, int stream, uint64_t ttfb_ns)
{
    pthread_mutex_lock(&m->mu);
    size_t i;
    for (i = 0; i < m->nseries; i++)
        if (m->series[i].status == status && strcmp(m->series[i].model, model) == 0 &&
            strcmp(m->series[i].provider, provider) == 0)
            break;
    if (i == m->nseries) {
        if (i == MAX_SERIES) {
            i = MAX_SERIES - 1; /* overflow bucket: keeps counts right, labels of the last series */
        } else {
            m->series[i].status = status;
            snprintf(m->series[i].model, sizeof(m->series[i].model), "%s", model);
            snprintf(m->series[i].provider, sizeof(m->series[i].provider), "%s", provider);
            m->nseries++;
        }
    }
    m->series[i].n++;
    observe(&m->total, total_ns);
    observe(&m->overhead, overhead_ns);
    if (ttfb)
        observe(&m->ttfb[stream ? 1 : 0], ttfb_ns);
    pthread_mutex_unlock(&m->mu);
}

static useries_t *useries_new(const char *model, const char *provider)
{
    useries_t *u = calloc(1, sizeof(*u));
    if (u == NULL)
        return NULL;
    u->model = strdup(model);
    u->provider = strdup(provider);
    if (u->model == NULL || u->provider == NULL) {
        useries_free(u);
        return NULL;
    }
    return u;
}

/* The thread's series for (model, provider); created on first sight. NULL only when out of
 * memory (the attempt is then not counted). */
static useries_t *useries_find(dp_metrics_t *m, const char *model, const char *provider)
{
    uint32_t h = 2166136261u; /* FNV-1a over "model\0provider" */
    for (const char *p = model;; p++) {
        h = (h ^ (unsigned char)*p) * 16777619u;
        if (*p == '\0')
            break;
    }
    for (const char *p = provider; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    size_t i = h & (USAGE_HASH - 1);
    for (; m->uhash[i] != 0; i = (i + 1) & (USAGE_HASH - 1)) {
        useries_t *u = m->useries[m->uhash[i] - 1];
        if (strcmp(u->model, model) == 0 && strcmp(u->provider, provider) == 0)
            return u;
    }
    if (m->nuseries == DP_METRICS_USAGE_SERIES) {
        if (m->uoverflow == NULL) {
            useries_t *u = useries_new(OVERFLOW_LABEL, OVERFLOW_LABEL);
            __atomic_store_n(&m->uoverflow, u, __ATOMIC_RELEASE);
        }
        return m->uoverflow;
    }
    useries_t *u = useries_new(model, provider);
    if (u == NULL)
        return NULL;
    m->useries[m->nuseries] = u;
    m->uhash[i] = (uint16_t)(m->nuseries + 1);
    __atomic_store_n(&m->nuseries, m->nuseries + 1, __ATOMIC_RELEASE); /* publishes the filled slot */
    return u;
}

static void add_relaxed(uint64_t *c, int64_t v)
{
    if (v > 0)
        __atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + (uint64_t)v, __ATOMIC_RELAXED);
}

void dp_metrics_usage(dp_metrics_t *m, const char *model, const char *provider, int64_t prompt_tokens,
                      int64_t completion_tokens, int64_t cost_nano)
{
    useries_t *u = useries_find(m, model, provider);
    if (u == NULL)
        return;
    add_relaxed(&u->prompt, prompt_tokens);
    add_relaxed(&u->completion, completion_tokens);
    add_relaxed(&u->cost_nano, cost_nano);
}

void dp_metrics_upstream_error(dp_metrics_t *m, dp_uperr_t kind)
{
    pthread_mutex_lock(&m->mu);
    m->uperr[kind]++;
    pthread_mutex_unlock(&m->mu);
}

typedef struct {
    char *b;
    size_t len, cap;
} out_t;

static void put(out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(out_t *o, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(o->b + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if ((size_t)n < o->cap - o->len) {
            o->len += (size_t)n;
            return;
        }
        size_t ncap = o->cap * 2 + (size_t)n;
        char *nb = realloc(o->b, ncap);
        if (nb == NULL)
            return;
        o->b = nb;
        o->cap = ncap;
    }
}

static void put_hist(out_t *o, const char *name, const char *help, hist_t *h)
{
    put(o, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (size_t i = 0; i < NB; i++) {
        cum += h->count[i];
        put(o, "%s_bucket{le=\"%g\"} %llu\n", name, buckets[i], (unsigned long long)cum);
    }
    cum += h->count[NB];
    put(o, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name, (unsigned long long)cum, name,
        (double)h->sum_ns / 1e9, name, (unsigned long long)h->n);
}

/* The TTFB histogram: one metric family, a series per `stream` value. */
static void put_ttfb(out_t *o, const hist_t h[2])
{
    static const char name[] = "switchyard_time_to_first_byte_seconds";
    put(o,
        "# HELP %s Time from request arrival to the first byte sent to the client (streams: the first "
        "content chunk), for requests that reached an upstream.\n# TYPE %s histogram\n",
        name, name);
    for (int k = 0; k < 2; k++) {
        const char *st = k ? "true" : "false";
        uint64_t cum = 0;
        for (size_t i = 0; i < NB; i++) {
            cum += h[k].count[i];
            put(o, "%s_bucket{stream=\"%s\",le=\"%g\"} %llu\n", name, st, buckets[i],
                (unsigned long long)cum);
        }
        cum += h[k].count[NB];
        put(o,
            "%s_bucket{stream=\"%s\",le=\"+Inf\"} %llu\n%s_sum{stream=\"%s\"} %.6f\n%s_count{stream=\"%s\"} "
            "%llu\n",
            name, st, (unsigned long long)cum, name, st, (double)h[k].sum_ns / 1e9, name, st,
            (unsigned long long)h[k].n);
    }
}

/* Tokens and cost: every thread's series summed by (model, provider). The label strings
 * belong to the threads' series, which live until shutdown. */
static void put_usage(out_t *o)
{
    size_t cap = 0;
    for (size_t t = 0; t < g_nthreads; t++)
        cap += __atomic_load_n(&g_threads[t]->metrics->nuseries, __ATOMIC_ACQUIRE) + 1;
    useries_t *sum = calloc(cap ? cap : 1, sizeof(*sum));
    size_t n = 0;
    if (sum == NULL)
        return;
    for (size_t t = 0; t < g_nthreads; t++) {
        dp_metrics_t *m = g_threads[t]->metrics;
        size_t k = __atomic_load_n(&m->nuseries, __ATOMIC_ACQUIRE);
        useries_t *ovf = __atomic_load_n(&m->uoverflow, __ATOMIC_ACQUIRE);
        for (size_t i = 0; i <= k; i++) {
            const useries_t *u = i < k ? m->useries[i] : ovf;
            if (u == NULL)
                continue;
            size_t j;
            for (j = 0; j < n; j++)
                if (strcmp(sum[j].model, u->model) == 0 && strcmp(sum[j].provider, u->provider) == 0)
                    break;
            if (j == n) {
                if (n == cap) /* a thread published series since we counted: next scrape */
                    continue;
                sum[n].model = u->model;
                sum[n].provider = u->provider;
                n++;
            }
            sum[j].prompt += __atomic_load_n(&u->prompt, __ATOMIC_RELAXED);
            sum[j].completion += __atomic_load_n(&u->completion, __ATOMIC_RELAXED);
            sum[j].cost_nano += __atomic_load_n(&u->cost_nano, __ATOMIC_RELAXED);
        }
    }
    put(o, "# HELP switchyard_tokens_total Tokens of upstream attempts by model, provider and type (provider "
           "usage, else the ~4 bytes per token estimate of the usage record).\n"
           "# TYPE switchyard_tokens_total counter\n");
    for (size_t j = 0; j < n; j++)
        put(o,
            "switchyard_tokens_total{model=\"%s\",provider=\"%s\",type=\"prompt\"} %llu\n"
            "switchyard_tokens_total{model=\"%s\",provider=\"%s\",type=\"completion\"} %llu\n",
            sum[j].model, sum[j].provider, (unsigned long long)sum[j].prompt, sum[j].model, sum[j].provider,
            (unsigned long long)sum[j].completion);
    put(o, "# HELP switchyard_cost_nano_usd_total Cost of upstream attempts in nano-USD (1e-9 USD, exact "
           "integers) by model and provider.\n# TYPE switchyard_cost_nano_usd_total counter\n");
    for (size_t j = 0; j < n; j++)
        put(o, "switchyard_cost_nano_usd_total{model=\"%s\",provider=\"%s\"} %llu\n", sum[j].model,
            sum[j].provider, (unsigned long long)sum[j].cost_nano);
    free(sum);
}

char *dp_metrics_render(size_t *len)
{
    out_t o = {malloc(16384), 0, 16384};
    if (o.b == NULL)
        return NULL;
    dp_metrics_t *sum = calloc(1, sizeof(*sum));
    if (sum == NULL) {
        free(o.b);
        return NULL;
    }
    size_t inflight = 0, streams = 0, admitted = 0;
    uint64_t overload_refused = 0, accept_errors = 0;
    put(&o, "# HELP switchyard_requests_total Requests by final status, model and provider.\n"
            "# TYPE switchyard_requests_total counter\n");
    for (size_t t = 0; t < g_nthreads; t++) {
        dp_metrics_t *m = g_threads[t]->metrics;
        pthread_mutex_lock(&m->mu);
        for (size_t i = 0; i < m->nseries; i++) {
            size_t j;
            for (j = 0; j < sum->nseries; j++)
                if (sum->series[j].status == m->series[i].status &&
                    !strcmp(sum->series[j].model, m->series[i].model) &&
                    !strcmp(sum->series[j].provider, m->series[i].provider))
                    break;
            if (j == sum->nseries) {
                if (j == MAX_SERIES)
                    j--;
                else
                    sum->series[sum->nseries++] = m->series[i];
                sum->series[j].n = 0;
            }
            sum->series[j].n += m->series[i].n;
        }
        for (size_t i = 0; i <= NB; i++) {
            sum->total.count[i] += m->total.count[i];
            sum->overhead.count[i] += m->overhead.count[i];
            sum->ttfb[0].count[i] += m->ttfb[0].count[i];
            sum->ttfb[1].count[i] += m->ttfb[1].count[i];
        }
        for (int k = 0; k < 2; k++) {
            sum->ttfb[k].sum_ns += m->ttfb[k].sum_ns;
            sum->ttfb[k].n += m->ttfb[k].n;
        }
        sum->total.sum_ns += m->total.sum_ns;
        sum->total.n += m->total.n;
        sum->overhead.sum_ns += m->overhead.sum_ns;
        sum->overhead.n += m->overhead.n;
        for (size_t i = 0; i < DP_UPERR__COUNT; i++)
            sum->uperr[i] += m->uperr[i];
        pthread_mutex_unlock(&m->mu);
        /* gauges are plain word-sized counters owned by each thread: a scrape reads a recent value */
        inflight += __atomic_load_n(&g_threads[t]->inflight, __ATOMIC_RELAXED);
        streams += __atomic_load_n(&g_threads[t]->streams, __ATOMIC_RELAXED);
        admitted += __atomic_load_n(&g_threads[t]->admitted, __ATOMIC_RELAXED);
        overload_refused += __atomic_load_n(&g_threads[t]->overload_refused, __ATOMIC_RELAXED);
        accept_errors += __atomic_load_n(&g_threads[t]->accept_errors, __ATOMIC_RELAXED);
    }
    for (size_t j = 0; j < sum->nseries; j++)
        put(&o, "switchyard_requests_total{status=\"%d\",model=\"%s\",provider=\"%s\"} %llu\n",
            sum->series[j].status, sum->series[j].model, sum->series[j].provider,
            (unsigned long long)sum->series[j].n);
    put_hist(&o, "switchyard_request_duration_seconds", "Time from request arrival to response end.",
             &sum->total);
    put_hist(&o, "switchyard_gateway_overhead_seconds",
             "Request duration minus time spent waiting on upstreams.", &sum->overhead);
    put_ttfb(&o, sum->ttfb);
    put_usage(&o);
    put(&o, "# HELP switchyard_upstream_errors_total Failed upstream attempts by kind.\n"
            "# TYPE switchyard_upstream_errors_total counter\n");
    for (size_t i = 0; i < DP_UPERR__COUNT; i++)
        put(&o, "switchyard_upstream_errors_total{kind=\"%s\"} %llu\n", uperr_names[i],
            (unsigned long long)sum->uperr[i]);
    put(&o,
        "# HELP switchyard_inflight_requests Requests in flight.\n# TYPE switchyard_inflight_requests gauge\n"
        "switchyard_inflight_requests %zu\n",
        inflight);
    put(&o,
        "# HELP switchyard_inflight_streams Streamed responses in flight.\n# TYPE "
        "switchyard_inflight_streams gauge\n"
        "switchyard_inflight_streams %zu\n",
        streams);
    dp_snapshot_t *s = dp_snapshot_acquire();
    put(&o,
        "# HELP switchyard_inflight_admitted Model requests in flight past the in-flight cap's gate.\n"
        "# TYPE switchyard_inflight_admitted gauge\nswitchyard_inflight_admitted %zu\n",
        admitted);
    put(&o,
        "# HELP switchyard_inflight_limit The node's cap on model requests in flight (limits.max_inflight).\n"
        "# TYPE switchyard_inflight_limit gauge\nswitchyard_inflight_limit %u\n",
        s ? s->limits.max_inflight : 0);
    put(&o,
        "# HELP switchyard_overload_refused_total Requests refused with 503 overloaded at the in-flight "
        "cap.\n"
        "# TYPE switchyard_overload_refused_total counter\nswitchyard_overload_refused_total %llu\n",
        (unsigned long long)overload_refused);
    put(&o,
        "# HELP switchyard_accept_errors_total accept() failures for lack of descriptors or memory (each "
        "pauses "
        "accepting on its thread for 100 ms).\n"
        "# TYPE switchyard_accept_errors_total counter\nswitchyard_accept_errors_total %llu\n",
        (unsigned long long)accept_errors);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    put(&o,
        "# HELP switchyard_config_version Version of the routing snapshot in use.\n"
        "# TYPE switchyard_config_version gauge\nswitchyard_config_version %llu\n",
        (unsigned long long)(s ? s->version : 0));
    put(&o,
        "# HELP switchyard_config_age_seconds Age of the routing snapshot in use.\n"
        "# TYPE switchyard_config_age_seconds gauge\nswitchyard_config_age_seconds %.3f\n",
        s ? (double)(now_ms - s->created_at_ms) / 1000.0 : -1.0);
    put(&o,
        "# HELP switchyard_config_built_timestamp_seconds Wall-clock time the routing snapshot in use was "
        "built "
        "on this node (put in use right after).\n"
        "# TYPE switchyard_config_built_timestamp_seconds gauge\nswitchyard_config_built_timestamp_seconds "
        "%.3f\n",
        s ? (double)s->built_at_ms / 1000.0 : 0.0);
    dp_snapshot_unref(s);
    put(&o, "# HELP switchyard_snapshot_applied_total Routing snapshots put in use, by source.\n"
            "# TYPE switchyard_snapshot_applied_total counter\n");
    for (size_t i = 0; i < DP_SNAP_SRC__COUNT; i++)
        put(&o, "switchyard_snapshot_applied_total{source=\"%s\"} %llu\n", snap_src_names[i],
            (unsigned long long)atomic_load_explicit(&g_snap_applied[i], memory_order_relaxed));
    put(&o,
        "# HELP switchyard_snapshot_bus_updates_total Snapshots from the bus put in use, by kind: a whole "
        "snapshot built, or a delta applied on top of the one in use (docs/controlplane.md, \"Delta "
        "updates\").\n"
        "# TYPE switchyard_snapshot_bus_updates_total counter\n"
        "switchyard_snapshot_bus_updates_total{kind=\"whole\"} %llu\n"
        "switchyard_snapshot_bus_updates_total{kind=\"delta\"} %llu\n",
        (unsigned long long)atomic_load_explicit(&g_bus_updates[0], memory_order_relaxed),
        (unsigned long long)atomic_load_explicit(&g_bus_updates[1], memory_order_relaxed));
    put(&o,
        "# HELP switchyard_snapshot_deltas_refused_total Deltas from the bus refused (the node then fetches "
        "the whole snapshot), by reason.\n"
        "# TYPE switchyard_snapshot_deltas_refused_total counter\n");
    for (size_t i = 1; i < DP_DELTA__COUNT; i++)
        put(&o, "switchyard_snapshot_deltas_refused_total{reason=\"%s\"} %llu\n", delta_rej_names[i],
            (unsigned long long)atomic_load_explicit(&g_delta_refused[i], memory_order_relaxed));
    put(&o,
        "# HELP switchyard_snapshot_bus_pushed_total Deltas the control plane pushed on PUB, by result: "
        "applied (also counted in switchyard_snapshot_bus_updates_total{kind=\"delta\"}, without a fetch), "
        "or refused — wrong_base (this node serves another version: the notice behind it decides), "
        "corrupt, invalid, overlay_full (the node fetches).\n"
        "# TYPE switchyard_snapshot_bus_pushed_total counter\n");
    for (size_t i = 0; i < DP_DELTA__COUNT; i++)
        put(&o, "switchyard_snapshot_bus_pushed_total{result=\"%s\"} %llu\n",
            i ? delta_rej_names[i] : "applied",
            (unsigned long long)atomic_load_explicit(&g_pushed[i], memory_order_relaxed));
    put(&o,
        "# HELP switchyard_snapshot_overlay_rows Rows (keys, workspaces, removals) the snapshot in use "
        "carries on top of its base table; 0 for a whole snapshot.\n"
        "# TYPE switchyard_snapshot_overlay_rows gauge\nswitchyard_snapshot_overlay_rows %llu\n",
        (unsigned long long)atomic_load_explicit(&g_overlay_rows, memory_order_relaxed));
    put(&o, "# HELP switchyard_snapshot_rejected_total Routing snapshots refused, by reason.\n"
            "# TYPE switchyard_snapshot_rejected_total counter\n");
    for (size_t i = 0; i < DP_SNAP_REJ__COUNT; i++)
        put(&o, "switchyard_snapshot_rejected_total{reason=\"%s\"} %llu\n", snap_rej_names[i],
            (unsigned long long)atomic_load_explicit(&g_snap_rejected[i], memory_order_relaxed));
    char usage[4096]; /* dp_usage.h: spool and sending counters */
    dp_usage_metrics_text(usage, sizeof(usage));
    put(&o, "%s", usage);
    free(sum);
    *len = o.len;
    return o.b;
}
