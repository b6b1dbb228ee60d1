#include "cp_probe.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "cp_bus.h"
#include "cp_store.h"
#include "sy_log.h"
#include "sy_util.h"

enum { SYNC_EVERY_MS = 1000, MAX_TARGETS = 4096, MAX_URL = 2400, MAX_WAIT_MS = 250 };

static const char *const health_names[] = {"unknown", "healthy", "degraded", "down"};

/* How each provider kind is probed: its credential header (a format with one %s) and the fixed
 * headers its API wants — the same as the data plane's dialect (dataplane/providers/). The
 * path is the provider's probe.path (default /models: every kind lists its models there —
 * OpenAI GET /v1/models, Anthropic GET /v1/models, Gemini GET /v1beta/models). A probe in the
 * wrong dialect would be refused (401/400) and mark a healthy provider down. */
static const char *const anthropic_fixed[] = {"anthropic-version: 2023-06-01", NULL};
static const struct {
    const char *kind, *auth;
    const char *const *fixed;
} dialects[] = {
    {"openai", "Authorization: Bearer %s", NULL},
    {"anthropic", "x-api-key: %s", anthropic_fixed},
    {"gemini", "x-goog-api-key: %s", NULL},
};

typedef struct {
    char id[129];
    char url[MAX_URL];
    char ca_file[1024];
    char env[256];
    size_t dialect; /* index in dialects[] */
    uint32_t interval_ms, timeout_ms;
    unsigned health, ok_streak, fail_streak;
    uint64_t next_due_ms, started_ms;
    int seen; /* still in the store at the last sync */
    CURL *easy; /* non-NULL while a probe is in flight */
    struct curl_slist *headers;
} target_t;

static struct {
    cp_probe_opts_t opts;
    atomic_int stop;
    int started;
    pthread_t tid;
    CURLM *multi;
    cp_store_t *store;
    target_t *t;
    size_t n;
} g;

unsigned cp_probe_next_health(unsigned health, int ok, unsigned ok_streak, unsigned fail_streak, unsigned rise,
                              unsigned fall)
{
    if (ok) {
        if (health == CP_HEALTH_UNKNOWN || health == CP_HEALTH_HEALTHY)
            return CP_HEALTH_HEALTHY;
        /* from degraded or down: partly back at once, healthy only after `rise` in a row */
        return ok_streak >= rise ? CP_HEALTH_HEALTHY : CP_HEALTH_DEGRADED;
    }
    if (fail_streak >= fall)
        return CP_HEALTH_DOWN;
    return health == CP_HEALTH_DOWN ? CP_HEALTH_DOWN : CP_HEALTH_DEGRADED;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    return size * n; /* the answer's body does not matter, and is never buffered */
}

static target_t *find(const char *id)
{
    for (size_t i = 0; i < g.n; i++)
        if (strcmp(g.t[i].id, id) == 0)
            return &g.t[i];
    return NULL;
}

static void cancel(target_t *t)
{
    if (t->easy) {
        curl_multi_remove_handle(g.multi, t->easy);
        curl_easy_cleanup(t->easy);
        t->easy = NULL;
    }
    curl_slist_free_all(t->headers);
    t->headers = NULL;
}

static void copy(char *dst, size_t cap, const unsigned char *src)
{
    snprintf(dst, cap, "%s", src ? (const char *)src : "");
}

/* Re-reads the provider list: new providers are probed at once, edited ones from their next
 * probe, vanished ones are dropped. */
static void sync_targets(uint64_t now)
{
    char err[256];
    sqlite3_stmt *st;
    if (cp_store_prepare(g.store,
                         "SELECT id, base_url, api_key_env, ca_file, probe_path, probe_interval_ms, probe_timeout_ms, "
                         "health, kind FROM providers ORDER BY id",
                         &st, err, sizeof(err)) != 0) {
        SY_WARN("msg=\"probe: cannot read providers\" err=\"%s\"", err);
        return;
    }
    for (size_t i = 0; i < g.n; i++)
        g.t[i].seen = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        target_t *t = find(id);
        if (t == NULL) {
            if (g.n == MAX_TARGETS)
                continue;
            t = &g.t[g.n++];
            memset(t, 0, sizeof(*t));
            copy(t->id, sizeof(t->id), (const unsigned char *)id);
            t->health = (unsigned)sqlite3_column_int(st, 7);
            t->next_due_ms = now;
        }
        t->seen = 1;
        /* base_url is stored as written; one trailing '/' would double with the path's */
        char base[MAX_URL];
        copy(base, sizeof(base), sqlite3_column_text(st, 1));
        size_t bl = strlen(base);
        while (bl > 0 && base[bl - 1] == '/')
            base[--bl] = '\0';
        snprintf(t->url, sizeof(t->url), "%s%s", base, (const char *)sqlite3_column_text(st, 4));
        copy(t->env, sizeof(t->env), sqlite3_column_text(st, 2));
        const char *kind = (const char *)sqlite3_column_text(st, 8);
        t->dialect = 0; /* the catalog accepts only known kinds; anything else is probed as OpenAI */
        for (size_t k = 0; kind != NULL && k < sizeof(dialects) / sizeof(dialects[0]); k++)
            if (strcmp(kind, dialects[k].kind) == 0)
                t->dialect = k;
        copy(t->ca_file, sizeof(t->ca_file), sqlite3_column_text(st, 3));
        uint32_t interval = (uint32_t)sqlite3_column_int64(st, 5);
        if (interval != t->interval_ms && interval != 0 && t->interval_ms == 0)
            t->next_due_ms = now; /* probing just switched on */
        t->interval_ms = interval;
        t->timeout_ms = (uint32_t)sqlite3_column_int64(st, 6);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        SY_WARN("msg=\"probe: cannot read providers\" err=\"%s\"", sqlite3_errmsg(cp_store_db(g.store)));
    for (size_t i = 0; i < g.n;) {
        if (g.t[i].seen) {
            i++;
            continue;
        }
        cancel(&g.t[i]);
        g.t[i] = g.t[--g.n];
    }
}

static void start_probe(target_t *t, uint64_t now)
{
    CURL *e = curl_easy_init();
    if (e == NULL)
        return;
    const char *cred = t->env[0] ? getenv(t->env) : NULL;
    if (cred && cred[0]) {
        char h[4200];
        snprintf(h, sizeof(h), dialects[t->dialect].auth, cred);
        t->headers = curl_slist_append(NULL, h);
    }
    for (const char *const *f = dialects[t->dialect].fixed; f && *f; f++) {
        struct curl_slist *l = curl_slist_append(t->headers, *f);
        if (l != NULL)
            t->headers = l;
    }
    curl_easy_setopt(e, CURLOPT_URL, t->url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)t->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)t->timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROXY, ""); /* never a proxy from the environment, as the data plane */
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "switchyard-cp-probe");
    if (t->ca_file[0])
        curl_easy_setopt(e, CURLOPT_CAINFO, t->ca_file);
    if (curl_multi_add_handle(g.multi, e) != CURLM_OK) {
        curl_easy_cleanup(e);
        curl_slist_free_all(t->headers);
        t->headers = NULL;
        return;
    }
    t->easy = e;
    t->started_ms = now;
}

/* Records one result: always what the probe saw (no version bump), and the new health in a
 * versioned write when it changed. */
static void record(target_t *t, int ok, uint64_t latency_ms, const char *why)
{
    char err[256];
    if (ok) {
        t->ok_streak++;
        t->fail_streak = 0;
    } else {
        t->fail_streak++;
        t->ok_streak = 0;
    }
    unsigned next = cp_probe_next_health(t->health, ok, t->ok_streak, t->fail_streak, g.opts.rise, g.opts.fall);
    int64_t at = wall_ms();
    int changed = next != t->health;
    if (changed && cp_store_begin_write(g.store, err, sizeof(err)) != 0) {
        SY_WARN("msg=\"probe: cannot record health\" provider=%s err=\"%s\"", t->id, err);
        return;
    }
    sqlite3_stmt *st;
    if (cp_store_prepare(g.store,
                         "UPDATE providers SET last_probe_ms = ?2, last_probe_latency_ms = ?3, last_probe_error = ?4, "
                         "health = CASE WHEN ?5 THEN ?6 ELSE health END, "
                         "health_changed_ms = CASE WHEN ?5 THEN ?2 ELSE health_changed_ms END WHERE id = ?1",
                         &st, err, sizeof(err)) != 0) {
        cp_store_rollback(g.store);
        SY_WARN("msg=\"probe: cannot record\" provider=%s err=\"%s\"", t->id, err);
        return;
    }
    sqlite3_bind_text(st, 1, t->id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, at);
    sqlite3_bind_int64(st, 3, (int64_t)latency_ms);
    sqlite3_bind_text(st, 4, ok ? "" : why, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 5, changed);
    sqlite3_bind_int(st, 6, (int)next);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        SY_WARN("msg=\"probe: cannot record\" provider=%s err=\"%s\"", t->id, sqlite3_errmsg(cp_store_db(g.store)));
        cp_store_rollback(g.store);
        return;
    }
    if (!changed)
        return;
    uint64_t version;
    if (cp_store_commit_write(g.store, &version, err, sizeof(err)) != 0) {
        SY_WARN("msg=\"probe: cannot record health\" provider=%s err=\"%s\"", t->id, err);
        return;
    }
    SY_INFO("msg=\"provider health\" provider=%s from=%s to=%s reason=\"%s\" version=%llu", t->id,
            health_names[t->health & 3], health_names[next & 3], ok ? "probe ok" : why, (unsigned long long)version);
    t->health = next;
    cp_bus_notify(version);
}

static void finish(CURLMsg *m, uint64_t now)
{
    target_t *t = NULL;
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&t);
    long status = 0;
    curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
    char why[160];
    int ok = m->data.result == CURLE_OK && status >= 200 && status < 300;
    if (m->data.result != CURLE_OK)
        snprintf(why, sizeof(why), "%s", curl_easy_strerror(m->data.result));
    else
        snprintf(why, sizeof(why), "HTTP %ld", status);
    uint64_t latency = now - t->started_ms;
    cancel(t);
    t->next_due_ms = t->started_ms + t->interval_ms;
    record(t, ok, latency, why);
}

static void *run(void *arg)
{
    uint64_t next_sync = 0;
    while (!atomic_load(&g.stop)) {
        uint64_t now = mono_ms();
        if (now >= next_sync) {
            sync_targets(now);
            next_sync = now + SYNC_EVERY_MS;
        }
        uint64_t wake = next_sync;
        for (size_t i = 0; i < g.n; i++) {
            target_t *t = &g.t[i];
            if (t->easy || t->interval_ms == 0)
                continue;
            if (now >= t->next_due_ms) {
                start_probe(t, now);
                if (t->easy == NULL)
                    t->next_due_ms = now + t->interval_ms; /* could not start: try next interval */
            } else if (t->next_due_ms < wake) {
                wake = t->next_due_ms;
            }
        }
        int running = 0;
        curl_multi_perform(g.multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(g.multi, &left)) != NULL)
            if (m->msg == CURLMSG_DONE)
                finish(m, mono_ms());
        now = mono_ms();
        int wait = wake > now ? (int)(wake - now) : 0;
        if (wait > MAX_WAIT_MS)
            wait = MAX_WAIT_MS;
        curl_multi_poll(g.multi, NULL, 0, wait, NULL);
    }
    for (size_t i = 0; i < g.n; i++)
        cancel(&g.t[i]);
    return NULL;
}

int cp_probe_start(const cp_probe_opts_t *o, char *err, size_t errlen)
{
    g.opts = *o;
    if (g.opts.rise == 0)
        g.opts.rise = 2;
    if (g.opts.fall == 0)
        g.opts.fall = 3;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return sy_errf(err, errlen, "curl_global_init failed");
    if (cp_store_open(o->db_path, &g.store, err, errlen) != 0)
        return -1;
    g.t = calloc(MAX_TARGETS, sizeof(*g.t));
    g.multi = curl_multi_init();
    if (g.t == NULL || g.multi == NULL) {
        sy_errf(err, errlen, "out of memory");
        goto fail;
    }
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    int rc = pthread_create(&g.tid, NULL, run, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        sy_errf(err, errlen, "cannot start the prober thread");
        goto fail;
    }
    g.started = 1;
    return 0;
fail:
    if (g.multi)
        curl_multi_cleanup(g.multi);
    free(g.t);
    cp_store_close(g.store);
    memset(&g, 0, sizeof(g));
    return -1;
}

void cp_probe_stop(void)
{
    if (!g.started)
        return;
    atomic_store(&g.stop, 1);
    curl_multi_wakeup(g.multi);
    pthread_join(g.tid, NULL);
    curl_multi_cleanup(g.multi);
    free(g.t);
    cp_store_close(g.store);
    curl_global_cleanup();
    memset(&g, 0, sizeof(g));
}
