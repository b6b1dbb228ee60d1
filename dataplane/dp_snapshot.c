#include "dp_snapshot.h"
#include "providers/dp_provider.h"

#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "sy_json.h"
#include "sy_util.h"

static _Atomic(dp_snapshot_t *) g_current;
/* Serialises publish with acquire: between loading the pointer and taking a reference, the
 * publisher must not drop the global reference. Taken only when the pointer changed. */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t fnv1a(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

static uint64_t key_slot(const uint8_t sha[SY_SHA256_LEN])
{
    uint64_t h;
    memcpy(&h, sha, sizeof(h)); /* SHA-256 output is already uniformly distributed */
    return h;
}

static size_t pow2_at_least(size_t n)
{
    size_t c = 16;
    while (c < n * 2)
        c <<= 1;
    return c;
}

static char *pool_strdup(h2o_mem_pool_t *pool, const char *s)
{
    size_t n = strlen(s);
    char *d = h2o_mem_alloc_pool(pool, n + 1);
    memcpy(d, s, n + 1);
    return d;
}

static char *pool_concat(h2o_mem_pool_t *pool, const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *d = h2o_mem_alloc_pool(pool, na + nb + 1);
    memcpy(d, a, na);
    memcpy(d + na, b, nb + 1);
    return d;
}

static void *pool_calloc(h2o_mem_pool_t *pool, size_t n, size_t sz)
{
    size_t total = n * sz;
    if (total == 0)
        total = 1;
    void *p = h2o_mem_alloc_pool(pool, total);
    memset(p, 0, total);
    return p;
}

/* An identifier that may appear in URLs, headers and logs: printable ASCII without spaces,
 * quotes or control bytes, 1..128 bytes. */
static int valid_ident(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\')
            return 0;
    }
    return 1;
}

static const dp_provider_t *find_provider(const dp_snapshot_t *s, const char *id)
{
    for (size_t i = 0; i < s->nproviders; i++)
        if (strcmp(s->providers[i].id, id) == 0)
            return &s->providers[i];
    return NULL;
}

static const dp_workspace_t *find_workspace(const dp_snapshot_t *s, const char *id)
{
    for (size_t i = 0; i < s->nworkspaces; i++)
        if (strcmp(s->workspaces[i].id, id) == 0)
            return &s->workspaces[i];
    return NULL;
}

static int index_model(dp_snapshot_t *s, const char *name, const dp_model_t *m)
{
    size_t len = strlen(name);
    for (size_t i = fnv1a(name, len) & s->model_mask;; i = (i + 1) & s->model_mask) {
        const dp_model_t *o = s->model_index[i];
        if (o == NULL) {
            s->model_index[i] = m;
            return 0;
        }
        if (o != m && (strcmp(o->id, name) == 0 || strcmp(o->qualified, name) == 0))
            return -1;
    }
}

uint32_t dp_max_inflight_default(void)
{
    struct rlimit rl;
    uint64_t n = DP_MAX_INFLIGHT_DEFAULT;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        uint64_t room = rl.rlim_cur > 64 ? (rl.rlim_cur - 64) / 2 : 0;
        if (room < n)
            n = room;
    }
    return n < DP_MAX_INFLIGHT_FLOOR ? DP_MAX_INFLIGHT_FLOOR : (uint32_t)n;
}

static const char *g_node_id = "";

void dp_snapshot_set_node_id(const char *node_id)
{
    g_node_id = node_id ? node_id : "";
}

/* This node's share of a workspace's balance: its entry in the control plane's weighted list,
 * other_share_ppm when the list leaves it out (it joined after the build), else 1 / nodes. */
static uint32_t node_share(const Switchyard__Workspace *w, uint32_t live_nodes, int *weighted)
{
    uint32_t ppm = 0;
    *weighted = w->n_shares > 0;
    for (size_t i = 0; i < w->n_shares && ppm == 0; i++)
        if (w->shares[i]->node && strcmp(w->shares[i]->node, g_node_id) == 0)
            ppm = w->shares[i]->ppm;
    if (w->n_shares > 0 && ppm == 0)
        ppm = w->other_share_ppm;
    /* the control plane never sends 0 (its floor is > 0); a snapshot that does gets the equal
     * share rather than a node that can never reserve */
    if (ppm == 0) {
        *weighted = 0;
        ppm = 1000000u / (live_nodes ? live_nodes : 1);
    }
    return ppm > 1000000u ? 1000000u : ppm;
}

static const dp_key_t *find_current(const dp_snapshot_t *s, const uint8_t sha256[SY_SHA256_LEN]);
static int index_prev(dp_snapshot_t *s, size_t nprev, char *err, size_t errlen);

static int build(dp_snapshot_t *s, const Switchyard__Snapshot *pb, char *err, size_t errlen)
{
    h2o_mem_pool_t *pool = &s->pool;
    s->version = pb->version;
    s->created_at_ms = pb->created_at_ms;
    s->live_nodes = pb->live_nodes ? pb->live_nodes : 1;
    s->timeouts.connect_ms = 2000;
    s->timeouts.first_byte_ms = 60000;
    s->timeouts.idle_ms = 60000;
    s->timeouts.total_ms = 600000;
    if (pb->timeouts) {
        if (pb->timeouts->connect_ms)
            s->timeouts.connect_ms = pb->timeouts->connect_ms;
        if (pb->timeouts->first_byte_ms)
            s->timeouts.first_byte_ms = pb->timeouts->first_byte_ms;
        if (pb->timeouts->idle_ms)
            s->timeouts.idle_ms = pb->timeouts->idle_ms;
        if (pb->timeouts->total_ms)
            s->timeouts.total_ms = pb->timeouts->total_ms;
    }
    sy_routing_conf_t rc;
    sy_catalog_routing(NULL, &rc, err, errlen); /* the defaults */
    for (size_t i = 0; i < rc.ntags; i++) {
        s->routing.tags[i].tag = rc.tags[i].tag;
        s->routing.tags[i].tier = rc.tags[i].tier;
        s->routing.tags[i].tag_len = strlen(rc.tags[i].tag);
    }
    s->routing.ntags = rc.ntags;
    memcpy(s->routing.bar_milli, rc.bar_milli, sizeof(rc.bar_milli));
    s->routing.breaker_failures = rc.breaker_failures;
    s->routing.breaker_cooldown_ms = rc.breaker_cooldown_ms;
    if (pb->routing && pb->routing->present) {
        const Switchyard__Routing *pr = pb->routing;
        s->routing.ntags = 0;
        for (size_t i = 0; i < pr->n_tags && i < SY_ROUTING_MAX_TAGS; i++) {
            if (pr->tags[i]->tag == NULL || pr->tags[i]->tier == NULL || pr->tags[i]->tag[0] != '@' ||
                sy_has_ctl(pr->tags[i]->tag, strlen(pr->tags[i]->tag)))
                return sy_errf(err, errlen, "routing: invalid tag");
            s->routing.tags[s->routing.ntags].tag = pool_strdup(&s->pool, pr->tags[i]->tag);
            s->routing.tags[s->routing.ntags].tier = pool_strdup(&s->pool, pr->tags[i]->tier);
            s->routing.tags[s->routing.ntags].tag_len = strlen(pr->tags[i]->tag);
            s->routing.ntags++;
        }
        uint32_t bars[SY_DIFF__COUNT] = {pr->bar_easy_milli, pr->bar_medium_milli, pr->bar_hard_milli};
        for (int d = 0; d < SY_DIFF__COUNT; d++)
            s->routing.bar_milli[d] = bars[d] > 1000 ? 1000 : bars[d];
        if (pr->breaker_failures)
            s->routing.breaker_failures = pr->breaker_failures;
        if (pr->breaker_cooldown_ms)
            s->routing.breaker_cooldown_ms = pr->breaker_cooldown_ms;
        s->routing.classify_all = pr->classify_all;
    }
    s->limits.max_body_bytes = 4u << 20;
    s->limits.max_json_depth = 64;
    s->limits.max_attempts = 3;
    s->limits.reserve_output_tokens = DP_RESERVE_OUTPUT_TOKENS;
    s->limits.max_inflight = dp_max_inflight_default();
    if (pb->limits) {
        if (pb->limits->max_inflight)
            s->limits.max_inflight = pb->limits->max_inflight;
        if (pb->limits->reserve_output_tokens)
            s->limits.reserve_output_tokens = pb->limits->reserve_output_tokens;
        if (pb->limits->max_body_bytes)
            s->limits.max_body_bytes = pb->limits->max_body_bytes;
        if (pb->limits->max_json_depth)
            s->limits.max_json_depth = pb->limits->max_json_depth;
        if (pb->limits->max_attempts)
            s->limits.max_attempts = pb->limits->max_attempts;
    }
    if (s->limits.max_attempts > 8)
        return sy_errf(err, errlen, "limits.max_attempts must be 1..8");
    if (s->limits.max_inflight > DP_MAX_INFLIGHT_MAX)
        return sy_errf(err, errlen, "limits.max_inflight must be 1..%u", DP_MAX_INFLIGHT_MAX);

    s->providers = pool_calloc(pool, pb->n_providers, sizeof(dp_provider_t));
    for (size_t i = 0; i < pb->n_providers; i++) {
        const Switchyard__Provider *p = pb->providers[i];
        dp_provider_t *d = &s->providers[i];
        if (!valid_ident(p->id))
            return sy_errf(err, errlen, "provider %zu: invalid id", i);
        if (find_provider(s, p->id))
            return sy_errf(err, errlen, "provider %s: duplicate id", p->id);
        if ((d->ops = dp_upstream_ops_by_kind(p->kind)) == NULL)
            return sy_errf(err, errlen, "provider %s: unknown kind '%s' (supported: " DP_PROVIDER_KINDS ")",
                           p->id, p->kind);
        size_t bl = strlen(p->base_url);
        if ((strncmp(p->base_url, "http://", 7) != 0 && strncmp(p->base_url, "https://", 8) != 0) ||
            sy_has_ctl(p->base_url, bl) || !valid_ident(p->base_url))
            return sy_errf(err, errlen, "provider %s: base_url must be an http:// or https:// URL", p->id);
        d->id = pool_strdup(pool, p->id);
        char *base = pool_strdup(pool, p->base_url);
        while (bl > 0 && base[bl - 1] == '/')
            base[--bl] = '\0';
        d->base_url = base;
        d->chat_url = d->ops->chat_path ? pool_concat(pool, base, d->ops->chat_path) : NULL;
        d->embeddings_url = d->ops->embeddings_path ? pool_concat(pool, base, d->ops->embeddings_path) : NULL;
        d->health = p->health;
        d->stream_usage = !p->no_stream_usage;
        if (p->ca_file[0] != '\0') {
            if (sy_has_ctl(p->ca_file, strlen(p->ca_file)))
                return sy_errf(err, errlen, "provider %s: invalid ca_file", p->id);
            d->ca_file = pool_strdup(pool, p->ca_file);
        }
        s->nproviders++;
        /* The header lines every request to this provider sends, as one CRLF-terminated block
         * per accept kind: the engine copies it behind the request line, Host and the request's
         * own lines (dp.h dp_up_headers_t). No Expect: the engine never waits for 100-continue. */
        const char *cred_line = NULL;
        size_t cred_len = 0;
        if (p->api_key_env[0] != '\0') {
            const char *v = getenv(p->api_key_env);
            if (v != NULL) {
                if (sy_has_ctl(v, strlen(v)) || strlen(v) > 4096)
                    return sy_errf(err, errlen,
                                   "provider %s: credential in %s contains CR/LF or is over 4 KiB", p->id,
                                   p->api_key_env);
                d->credential = pool_strdup(pool, v);
                char *line = h2o_mem_alloc_pool(pool, strlen(v) + strlen(d->ops->auth_header) + 3);
                cred_len = (size_t)sprintf(line, d->ops->auth_header, v); /* a format with one %s (dp_provider.h) */
                memcpy(line + cred_len, "\r\n", 3);
                cred_len += 2;
                cred_line = line;
            }
        }
        static const char common[] = "Content-Type: application/json\r\nUser-Agent: switchyard/0.1\r\n";
        for (int v = 0; v < 2; v++) {
            const char *accept = v ? "Accept: text/event-stream\r\n" : "Accept: application/json\r\n";
            size_t len = strlen(accept) + sizeof(common) - 1 + cred_len;
            for (const char *const *h = d->ops->fixed_headers; h && *h; h++)
                len += strlen(*h) + 2;
            char *b = h2o_mem_alloc_pool(pool, len + 1), *q = b;
            q += sprintf(q, "%s%s", accept, common);
            for (const char *const *h = d->ops->fixed_headers; h && *h; h++)
                q += sprintf(q, "%s\r\n", *h);
            if (cred_line != NULL)
                memcpy(q, cred_line, cred_len), q += cred_len;
            *q = '\0';
            *(v ? &d->headers_sse : &d->headers_json) = h2o_iovec_init(b, (size_t)(q - b));
        }
    }

    s->model_mask = pow2_at_least(pb->n_models * 2) - 1;
    s->model_index = pool_calloc(pool, s->model_mask + 1, sizeof(*s->model_index));
    s->models = pool_calloc(pool, pb->n_models, sizeof(dp_model_t));
    for (size_t i = 0; i < pb->n_models; i++) {
        const Switchyard__Model *m = pb->models[i];
        dp_model_t *d = &s->models[i];
        d->index = (uint32_t)i;
        if (!valid_ident(m->id) || strchr(m->id, '/'))
            return sy_errf(err, errlen, "model %zu: invalid id", i);
        if ((d->provider = find_provider(s, m->provider)) == NULL)
            return sy_errf(err, errlen, "model %s: unknown provider '%s'", m->id, m->provider);
        if (!valid_ident(m->upstream))
            return sy_errf(err, errlen, "model %s: invalid upstream name", m->id);
        if (m->input_per_m_nano < 0 || m->output_per_m_nano < 0 ||
            (m->has_cache_read_price && m->cache_read_per_m_nano < 0) ||
            (m->has_cache_write_price && m->cache_write_per_m_nano < 0))
            return sy_errf(err, errlen, "model %s: negative price", m->id);
        d->id = pool_strdup(pool, m->id);
        char q[300];
        snprintf(q, sizeof(q), "%s/%s", m->provider, m->id);
        d->qualified = pool_strdup(pool, q);
        d->upstream = pool_strdup(pool, m->upstream);
        d->input_per_m = m->input_per_m_nano;
        d->output_per_m = m->output_per_m_nano;
        d->cache_read_per_m = m->has_cache_read_price ? m->cache_read_per_m_nano : -1;
        d->cache_write_per_m = m->has_cache_write_price ? m->cache_write_per_m_nano : -1;
        d->context_window = m->context_window;
        d->caps = m->caps ? m->caps : DP_CAP_CHAT;
        d->tiers = pool_calloc(pool, m->n_tiers, sizeof(char *));
        for (size_t t = 0; t < m->n_tiers; t++)
            d->tiers[t] = pool_strdup(pool, m->tiers[t]);
        d->ntiers = m->n_tiers;
        for (size_t q = 0; q < SY_TASK__COUNT && q < m->n_quality_milli; q++)
            d->quality[q] = (uint16_t)(m->quality_milli[q] > 1000 ? 1000 : m->quality_milli[q]);
        if (index_model(s, d->id, d) != 0 || index_model(s, d->qualified, d) != 0)
            return sy_errf(err, errlen, "model %s: duplicate id", m->id);
        s->nmodels++;
    }

    /* aliases: other names of catalog models (never of another alias, never a model's own name) */
    s->alias_mask = pow2_at_least(pb->n_aliases * 2) - 1;
    s->alias_index = pool_calloc(pool, s->alias_mask + 1, sizeof(*s->alias_index));
    s->aliases = pool_calloc(pool, pb->n_aliases, sizeof(dp_alias_t));
    for (size_t i = 0; i < pb->n_aliases; i++) {
        const Switchyard__ModelAlias *a = pb->aliases[i];
        dp_alias_t *d = &s->aliases[i];
        if (!sy_catalog_alias_name_ok(a->alias))
            return sy_errf(err, errlen, "alias %zu: invalid name", i);
        size_t len = strlen(a->alias);
        if (dp_snapshot_find_alias(s, a->alias, len) != NULL)
            return sy_errf(err, errlen, "alias %s: duplicate", a->alias);
        if (dp_snapshot_find_model(s, a->alias, len) != NULL)
            return sy_errf(err, errlen, "alias %s: collides with a model id", a->alias);
        const dp_model_t *m = dp_snapshot_find_model(s, a->model, strlen(a->model));
        if (m == NULL || strcmp(m->id, a->model) != 0)
            return sy_errf(err, errlen, "alias %s: unknown model '%.128s'", a->alias, a->model);
        d->alias = pool_strdup(pool, a->alias);
        d->model = m;
        for (size_t j = fnv1a(d->alias, len) & s->alias_mask;; j = (j + 1) & s->alias_mask) {
            if (s->alias_index[j] == NULL) {
                s->alias_index[j] = d;
                break;
            }
        }
        s->naliases++;
    }

    s->workspaces = pool_calloc(pool, pb->n_workspaces, sizeof(dp_workspace_t));
    for (size_t i = 0; i < pb->n_workspaces; i++) {
        const Switchyard__Workspace *w = pb->workspaces[i];
        if (!valid_ident(w->id))
            return sy_errf(err, errlen, "workspace %zu: invalid id", i);
        if (find_workspace(s, w->id))
            return sy_errf(err, errlen, "workspace %s: duplicate id", w->id);
        s->workspaces[i].id = pool_strdup(pool, w->id);
        s->workspaces[i].tid = dp_workspace_tid(s->workspaces[i].id);
        s->workspaces[i].active = w->active;
        s->workspaces[i].has_balance = w->has_balance;
        s->workspaces[i].balance = w->balance_nano;
        s->workspaces[i].rpm = w->rpm;
        s->workspaces[i].tpm = w->tpm;
        s->workspaces[i].share_ppm = node_share(w, s->live_nodes, &s->workspaces[i].share_weighted);
        s->nweighted += s->workspaces[i].share_weighted != 0;
        s->nworkspaces++;
    }

    size_t nprev = 0;
    s->key_mask = pow2_at_least(pb->n_keys) - 1;
    s->key_index = pool_calloc(pool, s->key_mask + 1, sizeof(*s->key_index));
    s->keys = pool_calloc(pool, pb->n_keys, sizeof(dp_key_t));
    for (size_t i = 0; i < pb->n_keys; i++) {
        const Switchyard__ApiKey *k = pb->keys[i];
        dp_key_t *d = &s->keys[i];
        if (!valid_ident(k->id))
            return sy_errf(err, errlen, "key %zu: invalid id", i);
        if (k->sha256.len != SY_SHA256_LEN)
            return sy_errf(err, errlen, "key %s: sha256 must be 32 bytes", k->id);
        if ((d->workspace = find_workspace(s, k->workspace)) == NULL)
            return sy_errf(err, errlen, "key %s: unknown workspace '%s'", k->id, k->workspace);
        d->id = pool_strdup(pool, k->id);
        memcpy(d->sha256, k->sha256.data, SY_SHA256_LEN);
        d->tid = dp_key_id_tid(d->id);
        d->revoked = k->revoked;
        d->expires_at = k->expires_at;
        d->budget = k->budget_nano > 0 ? k->budget_nano : 0;
        d->spent = k->spent_nano > 0 ? k->spent_nano : 0;
        d->rpm = k->rpm;
        d->tpm = k->tpm;
        int all = k->n_allowed_models == 0;
        for (size_t a = 0; a < k->n_allowed_models; a++)
            if (strcmp(k->allowed_models[a], "*") == 0)
                all = 1;
        if (!all) {
            d->allowed = pool_calloc(pool, k->n_allowed_models, sizeof(dp_model_t *));
            for (size_t a = 0; a < k->n_allowed_models; a++) {
                const char *name = k->allowed_models[a];
                const dp_model_t *m = dp_snapshot_find_model(s, name, strlen(name));
                if (m == NULL)
                    return sy_errf(err, errlen, "key %s: allowed model '%s' is not in the catalog", k->id,
                                   name);
                d->allowed[d->nallowed++] = m;
            }
        }
        size_t slot = key_slot(d->sha256) & s->key_mask;
        for (;; slot = (slot + 1) & s->key_mask) {
            if (s->key_index[slot] == NULL)
                break;
            if (memcmp(s->key_index[slot]->sha256, d->sha256, SY_SHA256_LEN) == 0)
                return sy_errf(err, errlen, "key %s: duplicate key hash", k->id);
        }
        s->key_index[slot] = d;
        s->nkeys++;
        if (k->prev_sha256.len != 0) {
            if (k->prev_sha256.len != SY_SHA256_LEN)
                return sy_errf(err, errlen, "key %s: prev_sha256 must be 32 bytes", k->id);
            uint8_t *p = h2o_mem_alloc_pool(pool, SY_SHA256_LEN);
            memcpy(p, k->prev_sha256.data, SY_SHA256_LEN);
            d->prev_sha256 = p;
            d->prev_valid_until_ms = k->prev_valid_until_ms;
            nprev++;
        }
    }
    return index_prev(s, nprev, err, errlen);
}

/* The second index, of the previous secrets of rotated keys still within their grace at build
 * time (one whose grace has ended is left out; one that ends later is refused at lookup). A
 * previous hash equal to any current or other previous hash is refused like a duplicate. */
static int index_prev(dp_snapshot_t *s, size_t nprev, char *err, size_t errlen)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    if (nprev == 0)
        return 0;
    s->prev_mask = pow2_at_least(nprev) - 1;
    s->prev_index = pool_calloc(&s->pool, s->prev_mask + 1, sizeof(*s->prev_index));
    for (size_t i = 0; i < s->nkeys; i++) {
        const dp_key_t *d = &s->keys[i];
        if (d->prev_sha256 == NULL || d->prev_valid_until_ms <= now_ms)
            continue;
        if (find_current(s, d->prev_sha256) != NULL)
            return sy_errf(err, errlen, "key %s: previous key hash duplicates a current one", d->id);
        size_t slot = key_slot(d->prev_sha256) & s->prev_mask;
        for (;; slot = (slot + 1) & s->prev_mask) {
            if (s->prev_index[slot] == NULL)
                break;
            if (memcmp(s->prev_index[slot]->prev_sha256, d->prev_sha256, SY_SHA256_LEN) == 0)
                return sy_errf(err, errlen, "key %s: duplicate previous key hash", d->id);
        }
        s->prev_index[slot] = d;
    }
    return 0;
}

static void snapshot_free(dp_snapshot_t *s)
{
    h2o_mem_clear_pool(&s->pool);
    free(s);
}

dp_snapshot_t *dp_snapshot_build(const Switchyard__Snapshot *pb, char *err, size_t errlen)
{
    dp_snapshot_t *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        sy_errf(err, errlen, "out of memory");
        return NULL;
    }
    h2o_mem_init_pool(&s->pool);
    atomic_init(&s->refs, 1);
    if (build(s, pb, err, errlen) != 0) {
        snapshot_free(s);
        return NULL;
    }
    if (s->created_at_ms == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        s->created_at_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    }
    return s;
}

uint64_t dp_key_tid(const uint8_t sha256[SY_SHA256_LEN])
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | sha256[i];
    v &= ~(1ull << 63); /* keys and workspaces never share an id */
    return v ? v : 1;
}

uint64_t dp_key_id_tid(const char *id)
{
    uint64_t h = 1469598103934665603ull; /* as dp_workspace_tid, with the other top bit */
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h &= ~(1ull << 63); /* keys and workspaces never share an id */
    return h ? h : 1;
}

uint64_t dp_workspace_tid(const char *id)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a, then a finalizer so stripes spread */
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h | (1ull << 63);
}

void dp_snapshot_ref(dp_snapshot_t *s)
{
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

static atomic_int g_reaper_on;
static pthread_mutex_t g_dead_lock = PTHREAD_MUTEX_INITIALIZER;
static dp_snapshot_t *g_dead;

void dp_snapshot_unref(dp_snapshot_t *s)
{
    if (s == NULL)
        return;
    if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (atomic_load_explicit(&g_reaper_on, memory_order_acquire)) {
        pthread_mutex_lock(&g_dead_lock);
        s->next_dead = g_dead;
        g_dead = s;
        pthread_mutex_unlock(&g_dead_lock);
        return;
    }
    snapshot_free(s);
}

void dp_snapshot_set_reaper(int on)
{
    atomic_store_explicit(&g_reaper_on, on != 0, memory_order_release);
}

void dp_snapshot_reap(void)
{
    pthread_mutex_lock(&g_dead_lock);
    dp_snapshot_t *s = g_dead;
    g_dead = NULL;
    pthread_mutex_unlock(&g_dead_lock);
    if (s == NULL)
        return;
    while (s != NULL) {
        dp_snapshot_t *next = s->next_dead;
        snapshot_free(s);
        s = next;
    }
    /* a big table leaves big holes; without this the heap only grows across swaps */
    malloc_trim(0);
}

static const dp_key_t *find_current(const dp_snapshot_t *s, const uint8_t sha256[SY_SHA256_LEN])
{
    for (size_t i = key_slot(sha256) & s->key_mask;; i = (i + 1) & s->key_mask) {
        const dp_key_t *k = s->key_index[i];
        if (k == NULL)
            return NULL;
        if (sy_ct_equal(k->sha256, sha256, SY_SHA256_LEN))
            return k;
    }
}

/* The key whose previous secret hashes to sha256, whatever its grace says (NULL: none). */
static const dp_key_t *find_previous(const dp_snapshot_t *s, const uint8_t sha256[SY_SHA256_LEN])
{
    if (s->prev_index == NULL)
        return NULL;
    for (size_t i = key_slot(sha256) & s->prev_mask;; i = (i + 1) & s->prev_mask) {
        const dp_key_t *k = s->prev_index[i];
        if (k == NULL)
            return NULL;
        if (sy_ct_equal(k->prev_sha256, sha256, SY_SHA256_LEN))
            return k;
    }
}

const dp_key_t *dp_snapshot_find_key_at(const dp_snapshot_t *s, const uint8_t sha256[SY_SHA256_LEN],
                                        int64_t now_ms)
{
    const dp_key_t *k = find_current(s, sha256);
    if (k != NULL)
        return k;
    k = find_previous(s, sha256);
    return k != NULL && now_ms < k->prev_valid_until_ms ? k : NULL; /* the grace ends on its own */
}

const dp_key_t *dp_snapshot_find_key(const dp_snapshot_t *s, const uint8_t sha256[SY_SHA256_LEN])
{
    const dp_key_t *k = find_current(s, sha256);
    if (k != NULL || s->prev_index == NULL)
        return k;
    if ((k = find_previous(s, sha256)) == NULL)
        return NULL;
    struct timespec ts; /* the clock is read only for a previous secret */
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 < k->prev_valid_until_ms ? k : NULL;
}

const dp_model_t *dp_snapshot_find_model(const dp_snapshot_t *s, const char *name, size_t len)
{
    for (size_t i = fnv1a(name, len) & s->model_mask;; i = (i + 1) & s->model_mask) {
        const dp_model_t *m = s->model_index[i];
        if (m == NULL)
            break;
        if ((strlen(m->id) == len && memcmp(m->id, name, len) == 0) ||
            (strlen(m->qualified) == len && memcmp(m->qualified, name, len) == 0))
            return m;
    }
    const dp_alias_t *a = dp_snapshot_find_alias(s, name, len);
    return a ? a->model : NULL;
}

const dp_alias_t *dp_snapshot_find_alias(const dp_snapshot_t *s, const char *name, size_t len)
{
    if (s->alias_index == NULL)
        return NULL;
    for (size_t i = fnv1a(name, len) & s->alias_mask;; i = (i + 1) & s->alias_mask) {
        const dp_alias_t *a = s->alias_index[i];
        if (a == NULL)
            return NULL;
        if (strlen(a->alias) == len && memcmp(a->alias, name, len) == 0)
            return a;
    }
}

int dp_key_allows(const dp_key_t *k, const dp_model_t *m)
{
    if (k->allowed == NULL)
        return 1;
    for (size_t i = 0; i < k->nallowed; i++)
        if (k->allowed[i] == m)
            return 1;
    return 0;
}

void dp_snapshot_publish(dp_snapshot_t *s)
{
    pthread_mutex_lock(&g_lock);
    dp_snapshot_t *old = atomic_exchange_explicit(&g_current, s, memory_order_acq_rel);
    pthread_mutex_unlock(&g_lock);
    dp_snapshot_unref(old);
}

dp_snapshot_t *dp_snapshot_acquire(void)
{
    pthread_mutex_lock(&g_lock);
    dp_snapshot_t *s = atomic_load_explicit(&g_current, memory_order_acquire);
    if (s)
        dp_snapshot_ref(s);
    pthread_mutex_unlock(&g_lock);
    return s;
}

uint64_t dp_snapshot_current_version(void)
{
    dp_snapshot_t *s = atomic_load_explicit(&g_current, memory_order_acquire);
    return s ? s->version : 0;
}

void dp_holder_refresh(dp_snapshot_holder_t *h)
{
    dp_snapshot_t *g = atomic_load_explicit(&g_current, memory_order_acquire);
    if (g == h->cur)
        return;
    size_t slot = 0;
    if (h->cur != NULL && h->borrowers > 0) {
        /* requests still use the old one: park it until they return it */
        for (slot = 0; slot < 8 && h->retired[slot].snap != NULL; slot++)
            ;
        if (slot == 8)
            return; /* eight generations in flight: keep serving the current one a bit longer */
    }
    dp_snapshot_t *n = dp_snapshot_acquire();
    if (h->cur != NULL) {
        if (h->borrowers > 0) {
            h->retired[slot].snap = h->cur;
            h->retired[slot].borrowers = h->borrowers;
        } else {
            dp_snapshot_unref(h->cur);
        }
    }
    h->cur = n;
    h->borrowers = 0;
}

dp_snapshot_t *dp_holder_borrow(dp_snapshot_holder_t *h)
{
    dp_holder_refresh(h);
    if (h->cur != NULL)
        h->borrowers++;
    return h->cur;
}

void dp_holder_return(dp_snapshot_holder_t *h, dp_snapshot_t *s)
{
    if (s == NULL)
        return;
    if (s == h->cur) {
        h->borrowers--;
        return;
    }
    for (size_t i = 0; i < 8; i++) {
        if (h->retired[i].snap == s) {
            if (--h->retired[i].borrowers == 0) {
                dp_snapshot_unref(s);
                h->retired[i].snap = NULL;
            }
            return;
        }
    }
}

void dp_holder_dispose(dp_snapshot_holder_t *h)
{
    for (size_t i = 0; i < 8; i++)
        dp_snapshot_unref(h->retired[i].snap);
    dp_snapshot_unref(h->cur);
    memset(h, 0, sizeof(*h));
}
