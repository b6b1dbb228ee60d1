/*
 * cp_metrics — counters in static storage, rendered as Prometheus text (cp_metrics.h).
 */
#include "cp_metrics.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cp_ledger.h"

/* ------------------------------------------------------------------------ HTTP requests */

/* Every path the API answers, as a template: "{id}" stands for any one segment. Keep in step
 * with cp_api.c's on_req (docs/controlplane.md lists them). */
static const char *const routes[] = {
    "/healthz",
    "/metrics",
    "/stripe/webhook",
    "/api/snapshot/version",
    "/api/nodes",
    "/api/ledger/check",
    "/api/workspaces",
    "/api/workspaces/{id}",
    "/api/workspaces/{id}/disable",
    "/api/workspaces/{id}/keys",
    "/api/workspaces/{id}/balance",
    "/api/workspaces/{id}/ledger",
    "/api/workspaces/{id}/credits",
    "/api/workspaces/{id}/usage",
    "/api/workspaces/{id}/usage/records",
    "/api/workspaces/{id}/checkout",
    "/api/keys/{id}",
    "/api/keys/{id}/revoke",
    "/api/keys/{id}/rotate",
    "/api/providers",
    "/api/models",
    "/api/models/{id}",
    "/api/catalog/reload",
    "/api/catalog/import",
    "/api/catalog/status",
    "/api/aliases",
    "/api/aliases/{id}",
    "other", /* anything else (404s, probes of random paths): one series, whatever the path */
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))
static const char *const methods[] = {"GET", "POST", "PATCH", "OTHER"};
#define NMETHODS (sizeof(methods) / sizeof(methods[0]))
#define STATUS_MIN 100
#define STATUS_MAX 599
#define NSTATUS (STATUS_MAX - STATUS_MIN + 1)

/* Dense: routes × methods × status codes, 8 bytes each (~350 KiB of zero pages, touched only
 * where a request was counted); a scrape walks it in microseconds. */
static atomic_ullong g_http[NROUTES][NMETHODS][NSTATUS];

/* One path segment: [*p, *p + *n); advances past it. 0 when no segment is left. */
static int next_seg(const char **p, const char *end, const char **seg, size_t *n)
{
    while (*p < end && **p == '/')
        (*p)++;
    if (*p >= end)
        return 0;
    *seg = *p;
    while (*p < end && **p != '/')
        (*p)++;
    *n = (size_t)(*p - *seg);
    return 1;
}

static int route_matches(const char *tmpl, const char *path, size_t len)
{
    const char *tp = tmpl, *tend = tmpl + strlen(tmpl), *pp = path, *pend = path + len;
    const char *ts, *ps;
    size_t tn, pn;
    for (;;) {
        int ht = next_seg(&tp, tend, &ts, &tn), hp = next_seg(&pp, pend, &ps, &pn);
        if (!ht || !hp)
            return ht == hp;
        if (tn == 4 && memcmp(ts, "{id}", 4) == 0)
            continue;
        if (tn != pn || memcmp(ts, ps, tn) != 0)
            return 0;
    }
}

int cp_metrics_route(const char *path, size_t len)
{
    for (size_t i = 0; i + 1 < NROUTES; i++)
        if (route_matches(routes[i], path, len))
            return (int)i;
    return (int)NROUTES - 1;
}

void cp_metrics_http(int route, const char *method, size_t mlen, int status)
{
    size_t m = NMETHODS - 1;
    for (size_t i = 0; i + 1 < NMETHODS; i++)
        if (mlen == strlen(methods[i]) && memcmp(method, methods[i], mlen) == 0)
            m = i;
    if (route < 0 || (size_t)route >= NROUTES)
        route = (int)NROUTES - 1;
    if (status < STATUS_MIN || status > STATUS_MAX)
        return; /* h2o sends only valid codes; nothing else has a series */
    atomic_fetch_add_explicit(&g_http[route][m][status - STATUS_MIN], 1, memory_order_relaxed);
}

/* ------------------------------------------------------------------------------ Stripe */

static const char *const stripe_outcomes[] = {
    /* cp_stripe_handle_event's outcomes */
    "credited", "refunded", "ignored_type", "unpaid", "currency", "unknown_workspace", "already_credited",
    "no_new_refund", "replay", "invalid",
    /* refused by the API before or around it */
    "not_configured", "too_large", "signature_malformed", "signature_no_v1", "signature_stale",
    "signature_mismatch", "store_error", "other"};
#define NSTRIPE (sizeof(stripe_outcomes) / sizeof(stripe_outcomes[0]))
static atomic_ullong g_stripe[NSTRIPE];

void cp_metrics_stripe(const char *outcome)
{
    size_t i = 0;
    while (i + 1 < NSTRIPE && (outcome == NULL || strcmp(outcome, stripe_outcomes[i]) != 0))
        i++;
    atomic_fetch_add_explicit(&g_stripe[i], 1, memory_order_relaxed);
}

/* ------------------------------------------------------------------------------- usage */

enum { BATCH_COMMITTED, BATCH_REFUSED, BATCH_FAILED, NBATCH };
static const char *const batch_results[NBATCH] = {"committed", "refused", "failed"};
static atomic_ullong g_batches[NBATCH];
static atomic_ullong g_records_applied, g_records_duplicate;

void cp_metrics_usage_batch(int committed, int retry, uint32_t applied, uint32_t duplicates)
{
    int r = committed ? BATCH_COMMITTED : retry ? BATCH_FAILED : BATCH_REFUSED;
    atomic_fetch_add_explicit(&g_batches[r], 1, memory_order_relaxed);
    if (committed) {
        atomic_fetch_add_explicit(&g_records_applied, applied, memory_order_relaxed);
        atomic_fetch_add_explicit(&g_records_duplicate, duplicates, memory_order_relaxed);
    }
}

/* ------------------------------------------------------------------------------ ledger */

#define NKINDS (CP_LEDGER_DISPUTE + 1)
static atomic_ullong g_ledger[NKINDS];
static _Thread_local uint32_t t_staged[NKINDS];

void cp_metrics_ledger_staged(int kind)
{
    if (kind >= 0 && kind < NKINDS)
        t_staged[kind]++;
}

void cp_metrics_txn_end(int committed)
{
    for (int k = 0; k < NKINDS; k++) {
        if (committed && t_staged[k])
            atomic_fetch_add_explicit(&g_ledger[k], t_staged[k], memory_order_relaxed);
        t_staged[k] = 0;
    }
}

/* ------------------------------------------------------------------------ bus, snapshots */

static const double build_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                       0.25,  0.5,    1,     2.5,  5,     10};
#define NBB (sizeof(build_buckets) / sizeof(build_buckets[0]))
static atomic_ullong g_build_bucket[NBB + 1]; /* not cumulative; the last is +Inf */
static atomic_ullong g_build_sum_ns;
static atomic_ullong g_builds_failed;
static atomic_ullong g_patched;       /* versions built by patching the previous one */
static atomic_ullong g_fetch[3];      /* snapshot, unchanged, delta */
static atomic_ullong g_pushed[2];     /* delta pushed on PUB, plain notice only */
static atomic_ullong g_bus_refused;   /* unauthenticated or mis-attributed requests */
static atomic_ullong g_heartbeats[2]; /* refused, recorded */
static atomic_llong g_live_nodes;

void cp_metrics_snapshot_build(int ok, uint64_t ns)
{
    if (!ok) {
        atomic_fetch_add_explicit(&g_builds_failed, 1, memory_order_relaxed);
        return;
    }
    double s = (double)ns / 1e9;
    size_t i = 0;
    while (i < NBB && s > build_buckets[i])
        i++;
    atomic_fetch_add_explicit(&g_build_sum_ns, ns, memory_order_relaxed);
    atomic_fetch_add_explicit(&g_build_bucket[i], 1, memory_order_relaxed);
}

void cp_metrics_snapshot_patched(void)
{
    atomic_fetch_add_explicit(&g_patched, 1, memory_order_relaxed);
}

void cp_metrics_bus_fetch(int answer)
{
    atomic_fetch_add_explicit(&g_fetch[answer >= 0 && answer <= 2 ? answer : 0], 1, memory_order_relaxed);
}

void cp_metrics_bus_publish(int delta)
{
    atomic_fetch_add_explicit(&g_pushed[delta ? 0 : 1], 1, memory_order_relaxed);
}

void cp_metrics_bus_refused(void)
{
    atomic_fetch_add_explicit(&g_bus_refused, 1, memory_order_relaxed);
}

void cp_metrics_heartbeat(int recorded)
{
    atomic_fetch_add_explicit(&g_heartbeats[recorded ? 1 : 0], 1, memory_order_relaxed);
}

void cp_metrics_live_nodes(int64_t n)
{
    atomic_store_explicit(&g_live_nodes, n, memory_order_relaxed);
}

/* ------------------------------------------------------------------------------ render */

typedef struct {
    char *b;
    size_t len, cap;
    int oom;
} out_t;

static void put(out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(out_t *o, const char *fmt, ...)
{
    while (!o->oom) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(o->b + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            o->oom = 1;
            return;
        }
        if ((size_t)n < o->cap - o->len) {
            o->len += (size_t)n;
            return;
        }
        size_t ncap = o->cap * 2 + (size_t)n;
        char *nb = realloc(o->b, ncap);
        if (nb == NULL) {
            o->oom = 1;
            return;
        }
        o->b = nb;
        o->cap = ncap;
    }
}

static unsigned long long ld(atomic_ullong *a)
{
    return atomic_load_explicit(a, memory_order_relaxed);
}

static void head(out_t *o, const char *name, const char *type, const char *help)
{
    put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

char *cp_metrics_render(uint64_t snapshot_version, size_t *len)
{
    out_t o = {malloc(8192), 0, 8192, 0};
    if (o.b == NULL)
        return NULL;

    head(&o, "switchyard_cp_http_requests_total", "counter",
         "Control-plane HTTP requests answered, by route template, method and status.");
    for (size_t r = 0; r < NROUTES; r++)
        for (size_t m = 0; m < NMETHODS; m++)
            for (size_t s = 0; s < NSTATUS; s++) {
                unsigned long long v = ld(&g_http[r][m][s]);
                if (v)
                    put(&o,
                        "switchyard_cp_http_requests_total{route=\"%s\",method=\"%s\",status=\"%zu\"} %llu\n",
                        routes[r], methods[m], s + STATUS_MIN, v);
            }

    head(&o, "switchyard_cp_stripe_webhooks_total", "counter", "Stripe webhook deliveries, by outcome.");
    for (size_t i = 0; i < NSTRIPE; i++)
        put(&o, "switchyard_cp_stripe_webhooks_total{outcome=\"%s\"} %llu\n", stripe_outcomes[i],
            ld(&g_stripe[i]));

    head(&o, "switchyard_cp_usage_batches_total", "counter",
         "Usage batches from data planes: committed, refused (invalid), failed (store error, resent).");
    for (size_t i = 0; i < NBATCH; i++)
        put(&o, "switchyard_cp_usage_batches_total{result=\"%s\"} %llu\n", batch_results[i],
            ld(&g_batches[i]));
    head(&o, "switchyard_cp_usage_records_total", "counter",
         "Usage records in committed batches: applied (new) or duplicate (already stored).");
    put(&o, "switchyard_cp_usage_records_total{result=\"applied\"} %llu\n", ld(&g_records_applied));
    put(&o, "switchyard_cp_usage_records_total{result=\"duplicate\"} %llu\n", ld(&g_records_duplicate));

    head(&o, "switchyard_cp_ledger_entries_total", "counter", "Ledger entries committed, by kind.");
    for (int k = 0; k < NKINDS; k++)
        put(&o, "switchyard_cp_ledger_entries_total{kind=\"%s\"} %llu\n",
            cp_ledger_kind_name((cp_ledger_kind_t)k), ld(&g_ledger[k]));

    head(&o, "switchyard_cp_snapshot_builds_total", "counter", "Snapshot builds for the bus, by result.");
    unsigned long long cum = 0, counts[NBB + 1];
    for (size_t i = 0; i <= NBB; i++) {
        counts[i] = ld(&g_build_bucket[i]);
        cum += counts[i];
    }
    put(&o, "switchyard_cp_snapshot_builds_total{result=\"ok\"} %llu\n", cum);
    put(&o, "switchyard_cp_snapshot_builds_total{result=\"error\"} %llu\n", ld(&g_builds_failed));
    head(&o, "switchyard_cp_snapshot_build_duration_seconds", "histogram",
         "Time to build (read and pack) one snapshot version.");
    cum = 0;
    for (size_t i = 0; i < NBB; i++) {
        cum += counts[i];
        put(&o, "switchyard_cp_snapshot_build_duration_seconds_bucket{le=\"%g\"} %llu\n", build_buckets[i],
            cum);
    }
    cum += counts[NBB];
    put(&o,
        "switchyard_cp_snapshot_build_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
        "switchyard_cp_snapshot_build_duration_seconds_sum %.6f\n"
        "switchyard_cp_snapshot_build_duration_seconds_count %llu\n",
        cum, (double)ld(&g_build_sum_ns) / 1e9, cum);
    head(&o, "switchyard_cp_snapshot_version", "gauge", "The store's current snapshot version.");
    put(&o, "switchyard_cp_snapshot_version %llu\n", (unsigned long long)snapshot_version);

    head(&o, "switchyard_cp_snapshot_patched_total", "counter",
         "Versions built by patching the previous one with the key and workspace rows the writes named "
         "(the others are built whole; docs/controlplane.md, \"Delta updates\").");
    put(&o, "switchyard_cp_snapshot_patched_total %llu\n", ld(&g_patched));
    head(&o, "switchyard_cp_bus_fetches_total", "counter",
         "Snapshot fetches answered: with the whole snapshot, with a delta (only keys and workspaces "
         "changed since the node's version), or unchanged (the node is current).");
    put(&o, "switchyard_cp_bus_fetches_total{answer=\"snapshot\"} %llu\n", ld(&g_fetch[0]));
    put(&o, "switchyard_cp_bus_fetches_total{answer=\"delta\"} %llu\n", ld(&g_fetch[2]));
    put(&o, "switchyard_cp_bus_fetches_total{answer=\"unchanged\"} %llu\n", ld(&g_fetch[1]));
    head(&o, "switchyard_cp_bus_publishes_total", "counter",
         "Versions published on PUB after a change: with the delta from the version before pushed "
         "(nodes serving that version apply it without a fetch), or as the plain version notice only. "
         "The periodic republish is not counted.");
    put(&o, "switchyard_cp_bus_publishes_total{kind=\"delta\"} %llu\n", ld(&g_pushed[0]));
    put(&o, "switchyard_cp_bus_publishes_total{kind=\"notice\"} %llu\n", ld(&g_pushed[1]));
    head(&o, "switchyard_cp_bus_refused_total", "counter",
         "Heartbeats and usage batches refused by bus authentication (unsigned, bad signature, "
         "or a node id that is not the certificate's).");
    put(&o, "switchyard_cp_bus_refused_total %llu\n", ld(&g_bus_refused));
    head(&o, "switchyard_cp_bus_heartbeats_total", "counter", "Data-plane heartbeats received, by result.");
    put(&o, "switchyard_cp_bus_heartbeats_total{result=\"recorded\"} %llu\n", ld(&g_heartbeats[1]));
    put(&o, "switchyard_cp_bus_heartbeats_total{result=\"refused\"} %llu\n", ld(&g_heartbeats[0]));
    head(&o, "switchyard_cp_bus_live_nodes", "gauge", "Data planes that sent a heartbeat recently.");
    put(&o, "switchyard_cp_bus_live_nodes %lld\n",
        (long long)atomic_load_explicit(&g_live_nodes, memory_order_relaxed));
    if (o.oom) {
        free(o.b);
        return NULL;
    }
    *len = o.len;
    return o.b;
}
