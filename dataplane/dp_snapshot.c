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

/* A workspace of a whole snapshot by id (its ws_index). */
static const dp_workspace_t *find_workspace(const dp_snapshot_t *s, const char *id)
{
    if (s->ws_index == NULL)
        return NULL;
    for (size_t i = fnv1a(id, strlen(id)) & s->ws_mask;; i = (i + 1) & s->ws_mask) {
        const dp_workspace_t *w = s->ws_index[i];
        if (w == NULL)
            return NULL;
        if (strcmp(w->id, id) == 0)
            return w;
    }
}

static void index_workspace(const dp_workspace_t **idx, size_t mask, const dp_workspace_t *w)
{
    for (size_t i = fnv1a(w->id, strlen(w->id)) & mask;; i = (i + 1) & mask)
        if (idx[i] == NULL) {
            idx[i] = w;
            return;
        }
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

static void ws_fill(dp_workspace_t *d, h2o_mem_pool_t *pool, const Switchyard__Workspace *w,
                    uint32_t live_nodes)
{
    d->id = pool_strdup(pool, w->id);
    d->tid = dp_workspace_tid(d->id);
    d->active = w->active;
    d->has_balance = w->has_balance;
    d->balance = w->balance_nano;
    d->rpm = w->rpm;
    d->tpm = w->tpm;
    d->share_ppm = node_share(w, live_nodes, &d->share_weighted);
}

/* One key row (id already checked) of workspace `ws`; its allowed models are looked up in `s`. */
static int key_fill(const dp_snapshot_t *s, h2o_mem_pool_t *pool, const Switchyard__ApiKey *k,
                    const dp_workspace_t *ws, dp_key_t *d, char *err, size_t errlen)
{
    if (k->sha256.len != SY_SHA256_LEN)
        return sy_errf(err, errlen, "key %s: sha256 must be 32 bytes", k->id);
    d->workspace = ws;
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
                return sy_errf(err, errlen, "key %s: allowed model '%s' is not in the catalog", k->id, name);
            d->allowed[d->nallowed++] = m;
        }
    }
    if (k->prev_sha256.len != 0) {
        if (k->prev_sha256.len != SY_SHA256_LEN)
            return sy_errf(err, errlen, "key %s: prev_sha256 must be 32 bytes", k->id);
        uint8_t *p = h2o_mem_alloc_pool(pool, SY_SHA256_LEN);
        memcpy(p, k->prev_sha256.data, SY_SHA256_LEN);
        d->prev_sha256 = p;
        d->prev_valid_until_ms = k->prev_valid_until_ms;
    }
    return 0;
}

/* Puts `d` in an index by its current hash; -1 when that hash is there already. */
static int index_key(const dp_key_t **idx, size_t mask, const dp_key_t *d)
{
    size_t slot = key_slot(d->sha256) & mask;
    for (;; slot = (slot + 1) & mask) {
        if (idx[slot] == NULL)
            break;
        if (memcmp(idx[slot]->sha256, d->sha256, SY_SHA256_LEN) == 0)
            return -1;
    }
    idx[slot] = d;
    return 0;
}

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
                cred_len =
                    (size_t)sprintf(line, d->ops->auth_header, v); /* a format with one %s (dp_provider.h) */
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
    s->ws_mask = pow2_at_least(pb->n_workspaces) - 1;
    s->ws_index = pool_calloc(pool, s->ws_mask + 1, sizeof(*s->ws_index));
    for (size_t i = 0; i < pb->n_workspaces; i++) {
        const Switchyard__Workspace *w = pb->workspaces[i];
        if (!valid_ident(w->id))
            return sy_errf(err, errlen, "workspace %zu: invalid id", i);
        if (find_workspace(s, w->id))
            return sy_errf(err, errlen, "workspace %s: duplicate id", w->id);
        ws_fill(&s->workspaces[i], pool, w, s->live_nodes);
        index_workspace(s->ws_index, s->ws_mask, &s->workspaces[i]);
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
        const dp_workspace_t *ws = find_workspace(s, k->workspace);
        if (ws == NULL)
            return sy_errf(err, errlen, "key %s: unknown workspace '%s'", k->id, k->workspace);
        if (key_fill(s, pool, k, ws, d, err, errlen) != 0)
            return -1;
        if (index_key(s->key_index, s->key_mask, d) != 0)
            return sy_errf(err, errlen, "key %s: duplicate key hash", k->id);
        s->nkeys++;
        nprev += d->prev_sha256 != NULL;
    }
    /* the keys of each workspace, for deltas that change a workspace */
    s->ws_first_key = pool_calloc(pool, s->nworkspaces, sizeof(uint32_t));
    s->key_next = pool_calloc(pool, s->nkeys, sizeof(uint32_t));
    for (size_t w = 0; w < s->nworkspaces; w++)
        s->ws_first_key[w] = UINT32_MAX;
    for (size_t i = s->nkeys; i-- > 0;) {
        size_t w = (size_t)(s->keys[i].workspace - s->workspaces);
        s->key_next[i] = s->ws_first_key[w];
        s->ws_first_key[w] = (uint32_t)i;
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

static int64_t wall_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Frees one snapshot; one made from a delta lets go of its base (which, with the reaper on, is
 * queued and freed at the next dp_snapshot_reap). 1 when it was a whole table. */
static int snapshot_free(dp_snapshot_t *s)
{
    dp_snapshot_t *base = s->base;
    h2o_mem_clear_pool(&s->pool);
    free(s->merged);
    free(s);
    if (base != NULL)
        dp_snapshot_unref(base);
    return base == NULL;
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
    s->built_at_ms = wall_now_ms();
    if (s->created_at_ms == 0)
        s->created_at_ms = s->built_at_ms;
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
    int whole = 0;
    while (s != NULL) {
        dp_snapshot_t *next = s->next_dead;
        whole |= snapshot_free(s);
        s = next;
    }
    /* a big table leaves big holes; without this the heap only grows across swaps (an overlay
     * is small: not worth walking the heap for) */
    if (whole)
        malloc_trim(0);
}

static const dp_key_t *probe(const dp_key_t *const *idx, size_t mask, const uint8_t sha256[SY_SHA256_LEN],
                             int prev)
{
    if (idx == NULL)
        return NULL;
    for (size_t i = key_slot(sha256) & mask;; i = (i + 1) & mask) {
        const dp_key_t *k = idx[i];
        if (k == NULL)
            return NULL;
        if (sy_ct_equal(prev ? k->prev_sha256 : k->sha256, sha256, SY_SHA256_LEN))
            return k;
    }
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
    return probe(s->prev_index, s->prev_mask, sha256, 1);
}

/* What a delta changed on top of its base (dp_snapshot_t.ov), in the derived snapshot's pool. */
typedef struct dp_overlay {
    dp_key_t *keys; /* added and changed keys, and base keys re-pointed to a changed workspace */
    size_t nkeys;
    const dp_key_t **key_index, **prev_index; /* by current / previous hash (prev_index NULL: none) */
    size_t key_mask, prev_mask;
    const char **hidden; /* ids of base keys not to be found in the base (changed or removed) */
    size_t hidden_mask;
    dp_workspace_t *ws; /* added and changed workspaces */
    size_t nws;
    const dp_workspace_t **ws_index;
    size_t ws_mask;
    const char **ws_removed; /* ids of removed workspaces */
    size_t ws_removed_mask;
} dp_overlay_t;

/* A set of NUL-terminated strings (open addressing; the strings are borrowed). 1 when `id` was
 * in it already. */
static int strset_add(const char **set, size_t mask, const char *id)
{
    for (size_t i = fnv1a(id, strlen(id)) & mask;; i = (i + 1) & mask) {
        if (set[i] == NULL) {
            set[i] = id;
            return 0;
        }
        if (strcmp(set[i], id) == 0)
            return 1;
    }
}

static int strset_has(const char *const *set, size_t mask, const char *id)
{
    if (set == NULL)
        return 0;
    for (size_t i = fnv1a(id, strlen(id)) & mask;; i = (i + 1) & mask) {
        if (set[i] == NULL)
            return 0;
        if (strcmp(set[i], id) == 0)
            return 1;
    }
}

/* Current and previous hashes, the overlay's first; a base key the overlay hides is not found.
 * now_ms < 0: read the clock, and only when a previous secret matched. */
static const dp_key_t *lookup(const dp_snapshot_t *s, const uint8_t sha256[SY_SHA256_LEN], int64_t now_ms)
{
    const dp_overlay_t *ov = s->ov;
    const dp_key_t *k;
    if (ov != NULL && (k = probe(ov->key_index, ov->key_mask, sha256, 0)) != NULL)
        return k;
    if ((k = find_current(s, sha256)) != NULL &&
        (ov == NULL || !strset_has(ov->hidden, ov->hidden_mask, k->id)))
        return k;
    k = NULL;
    if (ov != NULL)
        k = probe(ov->prev_index, ov->prev_mask, sha256, 1);
    if (k == NULL && (k = find_previous(s, sha256)) != NULL && ov != NULL &&
        strset_has(ov->hidden, ov->hidden_mask, k->id))
        k = NULL;
    if (k == NULL)
        return NULL;
    if (now_ms < 0)
        now_ms = wall_now_ms();                        /* the clock is read only for a previous secret */
    return now_ms < k->prev_valid_until_ms ? k : NULL; /* the grace ends on its own */
}

const dp_key_t *dp_snapshot_find_key_at(const dp_snapshot_t *s, const uint8_t sha256[SY_SHA256_LEN],
                                        int64_t now_ms)
{
    return lookup(s, sha256, now_ms < 0 ? 0 : now_ms);
}

const dp_key_t *dp_snapshot_find_key(const dp_snapshot_t *s, const uint8_t sha256[SY_SHA256_LEN])
{
    return lookup(s, sha256, -1);
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

/* ------------------------------------------------------------------ delta updates */

/* The deltas since the base, merged: `d` over `old` (NULL: cur is whole). A row d names (as
 * changed or removed) replaces whatever old says about that id. Arrays in `tmp`. */
static int merge(h2o_mem_pool_t *tmp, const Switchyard__SnapshotDelta *old,
                 const Switchyard__SnapshotDelta *d, Switchyard__SnapshotDelta *m)
{
    size_t nw = d->n_workspaces + d->n_removed_workspaces, nk = d->n_keys + d->n_removed_keys;
    size_t wmask = pow2_at_least(nw) - 1, kmask = pow2_at_least(nk) - 1;
    const char **wset = pool_calloc(tmp, wmask + 1, sizeof(char *)),
               **kset = pool_calloc(tmp, kmask + 1, sizeof(char *));
    for (size_t i = 0; i < d->n_workspaces; i++)
        strset_add(wset, wmask, d->workspaces[i]->id);
    for (size_t i = 0; i < d->n_removed_workspaces; i++)
        strset_add(wset, wmask, d->removed_workspaces[i]);
    for (size_t i = 0; i < d->n_keys; i++)
        strset_add(kset, kmask, d->keys[i]->id);
    for (size_t i = 0; i < d->n_removed_keys; i++)
        strset_add(kset, kmask, d->removed_keys[i]);
    size_t ow = old ? old->n_workspaces : 0, orw = old ? old->n_removed_workspaces : 0;
    size_t ok = old ? old->n_keys : 0, ork = old ? old->n_removed_keys : 0;
    m->workspaces = pool_calloc(tmp, d->n_workspaces + ow, sizeof(void *));
    m->removed_workspaces = pool_calloc(tmp, d->n_removed_workspaces + orw, sizeof(char *));
    m->keys = pool_calloc(tmp, d->n_keys + ok, sizeof(void *));
    m->removed_keys = pool_calloc(tmp, d->n_removed_keys + ork, sizeof(char *));
#define TAKE(dst, n, src, cnt, idof, set, mask, filter)                                                      \
    for (size_t i = 0; i < (cnt); i++)                                                                       \
        if (!(filter) || !strset_has(set, mask, idof))                                                       \
            dst[(n)++] = (src)[i];
    TAKE(m->workspaces, m->n_workspaces, d->workspaces, d->n_workspaces, d->workspaces[i]->id, wset, wmask, 0)
    TAKE(m->removed_workspaces, m->n_removed_workspaces, d->removed_workspaces, d->n_removed_workspaces,
         d->removed_workspaces[i], wset, wmask, 0)
    TAKE(m->keys, m->n_keys, d->keys, d->n_keys, d->keys[i]->id, kset, kmask, 0)
    TAKE(m->removed_keys, m->n_removed_keys, d->removed_keys, d->n_removed_keys, d->removed_keys[i], kset,
         kmask, 0)
    if (old != NULL) {
        TAKE(m->workspaces, m->n_workspaces, old->workspaces, ow, old->workspaces[i]->id, wset, wmask, 1)
        TAKE(m->removed_workspaces, m->n_removed_workspaces, old->removed_workspaces, orw,
             old->removed_workspaces[i], wset, wmask, 1)
        TAKE(m->keys, m->n_keys, old->keys, ok, old->keys[i]->id, kset, kmask, 1)
        TAKE(m->removed_keys, m->n_removed_keys, old->removed_keys, ork, old->removed_keys[i], kset, kmask, 1)
    }
#undef TAKE
    m->version = d->version;
    m->created_at_ms = d->created_at_ms;
    return 0;
}

/* The overlay of `s` (a copy of base b's header) from the merged deltas m. */
static dp_delta_result_t build_overlay(dp_snapshot_t *s, const dp_snapshot_t *b,
                                       const Switchyard__SnapshotDelta *m, char *err, size_t errlen)
{
    h2o_mem_pool_t *pool = &s->pool;
    dp_overlay_t *ov = pool_calloc(pool, 1, sizeof(*ov));
    s->ov = ov;
    /* every row the overlay may hold: the named ones plus the base keys of changed workspaces */
    size_t rows = m->n_keys + m->n_removed_keys + m->n_workspaces + m->n_removed_workspaces, repointed = 0;
    for (size_t i = 0; i < m->n_workspaces; i++) {
        if (m->workspaces[i]->id == NULL || !valid_ident(m->workspaces[i]->id)) {
            sy_errf(err, errlen, "delta workspace %zu: invalid id", i);
            return DP_DELTA_INVALID;
        }
        const dp_workspace_t *bw = find_workspace(b, m->workspaces[i]->id);
        for (uint32_t k = bw ? b->ws_first_key[bw - b->workspaces] : UINT32_MAX;
             k != UINT32_MAX && rows + repointed <= DP_OVERLAY_MAX; k = b->key_next[k])
            repointed++;
    }
    if (rows + repointed > DP_OVERLAY_MAX) {
        sy_errf(err, errlen, "overlay over %u rows", DP_OVERLAY_MAX);
        return DP_DELTA_FULL;
    }
    size_t nkeys = m->n_keys + repointed;
    ov->ws = pool_calloc(pool, m->n_workspaces, sizeof(dp_workspace_t));
    ov->ws_mask = pow2_at_least(m->n_workspaces) - 1;
    ov->ws_index = pool_calloc(pool, ov->ws_mask + 1, sizeof(*ov->ws_index));
    ov->ws_removed_mask = pow2_at_least(m->n_removed_workspaces) - 1;
    ov->ws_removed = pool_calloc(pool, ov->ws_removed_mask + 1, sizeof(char *));
    ov->hidden_mask = pow2_at_least(nkeys + m->n_removed_keys) - 1;
    ov->hidden = pool_calloc(pool, ov->hidden_mask + 1, sizeof(char *));
    ov->keys = pool_calloc(pool, nkeys, sizeof(dp_key_t));
    ov->key_mask = pow2_at_least(nkeys) - 1;
    ov->key_index = pool_calloc(pool, ov->key_mask + 1, sizeof(*ov->key_index));
    s->nweighted = b->nweighted;
    for (size_t i = 0; i < m->n_removed_workspaces; i++) {
        const char *id = m->removed_workspaces[i] ? pool_strdup(pool, m->removed_workspaces[i]) : NULL;
        if (id == NULL || strset_add(ov->ws_removed, ov->ws_removed_mask, id)) {
            sy_errf(err, errlen, "delta: removed workspace %zu named twice", i);
            return DP_DELTA_INVALID;
        }
        const dp_workspace_t *bw = find_workspace(b, id);
        s->nweighted -= bw != NULL && bw->share_weighted;
    }
    for (size_t i = 0; i < m->n_workspaces; i++) {
        const Switchyard__Workspace *w = m->workspaces[i];
        if (strset_has(ov->ws_removed, ov->ws_removed_mask, w->id)) {
            sy_errf(err, errlen, "delta workspace %s: both changed and removed", w->id);
            return DP_DELTA_INVALID;
        }
        for (size_t j = 0; j < ov->nws; j++) /* small: the overlay is capped */
            if (strcmp(ov->ws[j].id, w->id) == 0) {
                sy_errf(err, errlen, "delta workspace %s: duplicate id", w->id);
                return DP_DELTA_INVALID;
            }
        dp_workspace_t *d = &ov->ws[ov->nws++];
        ws_fill(d, pool, w, s->live_nodes);
        index_workspace(ov->ws_index, ov->ws_mask, d);
        const dp_workspace_t *bw = find_workspace(b, w->id);
        s->nweighted += (d->share_weighted != 0) - (bw != NULL && bw->share_weighted);
    }
    for (size_t i = 0; i < m->n_keys; i++) {
        const Switchyard__ApiKey *k = m->keys[i];
        if (k->id == NULL || !valid_ident(k->id)) {
            sy_errf(err, errlen, "delta key %zu: invalid id", i);
            return DP_DELTA_INVALID;
        }
        const dp_workspace_t *ws = NULL;
        if (k->workspace != NULL) {
            for (size_t j = fnv1a(k->workspace, strlen(k->workspace)) & ov->ws_mask;;
                 j = (j + 1) & ov->ws_mask) {
                if (ov->ws_index[j] == NULL)
                    break;
                if (strcmp(ov->ws_index[j]->id, k->workspace) == 0) {
                    ws = ov->ws_index[j];
                    break;
                }
            }
            if (ws == NULL && !strset_has(ov->ws_removed, ov->ws_removed_mask, k->workspace))
                ws = find_workspace(b, k->workspace);
        }
        if (ws == NULL) {
            sy_errf(err, errlen, "delta key %s: unknown workspace '%.128s'", k->id,
                    k->workspace ? k->workspace : "");
            return DP_DELTA_INVALID;
        }
        dp_key_t *d = &ov->keys[ov->nkeys];
        if (key_fill(b, pool, k, ws, d, err, errlen) != 0)
            return DP_DELTA_INVALID;
        if (strset_add(ov->hidden, ov->hidden_mask, d->id) ||
            index_key(ov->key_index, ov->key_mask, d) != 0) {
            sy_errf(err, errlen, "delta key %s: duplicate id or key hash", k->id);
            return DP_DELTA_INVALID;
        }
        ov->nkeys++;
    }
    for (size_t i = 0; i < m->n_removed_keys; i++)
        if (m->removed_keys[i] == NULL ||
            strset_add(ov->hidden, ov->hidden_mask, pool_strdup(pool, m->removed_keys[i]))) {
            sy_errf(err, errlen, "delta: removed key %zu is also changed or named twice", i);
            return DP_DELTA_INVALID;
        }
    /* the base's keys of a changed workspace now point to its new row */
    for (size_t i = 0; i < ov->nws; i++) {
        const dp_workspace_t *bw = find_workspace(b, ov->ws[i].id);
        for (uint32_t k = bw ? b->ws_first_key[bw - b->workspaces] : UINT32_MAX; k != UINT32_MAX;
             k = b->key_next[k]) {
            const dp_key_t *bk = &b->keys[k];
            if (strset_has(ov->hidden, ov->hidden_mask, bk->id))
                continue;
            dp_key_t *d = &ov->keys[ov->nkeys];
            *d = *bk; /* its strings and arrays stay in the base's pool, which s keeps alive */
            d->workspace = &ov->ws[i];
            strset_add(ov->hidden, ov->hidden_mask, d->id);
            if (index_key(ov->key_index, ov->key_mask, d) != 0) {
                sy_errf(err, errlen, "delta: key %s: duplicate key hash", d->id);
                return DP_DELTA_INVALID;
            }
            ov->nkeys++;
        }
    }
    /* no key left pointing to a removed workspace */
    for (size_t i = 0; i < m->n_removed_workspaces; i++) {
        const dp_workspace_t *bw = find_workspace(b, m->removed_workspaces[i]);
        for (uint32_t k = bw ? b->ws_first_key[bw - b->workspaces] : UINT32_MAX; k != UINT32_MAX;
             k = b->key_next[k])
            if (!strset_has(ov->hidden, ov->hidden_mask, b->keys[k].id)) {
                sy_errf(err, errlen, "delta: key %s of removed workspace %s is still there", b->keys[k].id,
                        bw->id);
                return DP_DELTA_INVALID;
            }
    }
    /* hashes stay unique across what is visible, and the previous secrets get their index */
    int64_t now_ms = wall_now_ms();
    size_t nprev = 0;
    for (size_t i = 0; i < ov->nkeys; i++) {
        const dp_key_t *d = &ov->keys[i], *bk = find_current(b, d->sha256);
        if (bk != NULL && !strset_has(ov->hidden, ov->hidden_mask, bk->id)) {
            sy_errf(err, errlen, "delta key %s: duplicate key hash", d->id);
            return DP_DELTA_INVALID;
        }
        nprev += d->prev_sha256 != NULL && d->prev_valid_until_ms > now_ms;
    }
    if (nprev > 0) {
        ov->prev_mask = pow2_at_least(nprev) - 1;
        ov->prev_index = pool_calloc(pool, ov->prev_mask + 1, sizeof(*ov->prev_index));
        for (size_t i = 0; i < ov->nkeys; i++) {
            const dp_key_t *d = &ov->keys[i];
            if (d->prev_sha256 == NULL || d->prev_valid_until_ms <= now_ms)
                continue;
            const dp_key_t *c = probe(ov->key_index, ov->key_mask, d->prev_sha256, 0);
            if (c == NULL && (c = find_current(b, d->prev_sha256)) != NULL &&
                strset_has(ov->hidden, ov->hidden_mask, c->id))
                c = NULL;
            size_t slot = key_slot(d->prev_sha256) & ov->prev_mask;
            while (ov->prev_index[slot] != NULL &&
                   memcmp(ov->prev_index[slot]->prev_sha256, d->prev_sha256, SY_SHA256_LEN) != 0)
                slot = (slot + 1) & ov->prev_mask;
            if (c != NULL || ov->prev_index[slot] != NULL) {
                sy_errf(err, errlen, "delta key %s: previous key hash duplicates another", d->id);
                return DP_DELTA_INVALID;
            }
            ov->prev_index[slot] = d;
        }
    }
    s->noverlay = ov->nkeys + ov->nws + m->n_removed_keys + m->n_removed_workspaces;
    return DP_DELTA_OK;
}

dp_snapshot_t *dp_snapshot_apply_delta(dp_snapshot_t *cur, const uint8_t *buf, size_t len,
                                       dp_delta_result_t *result, char *err, size_t errlen)
{
    *result = DP_DELTA_CORRUPT;
    if (len > DP_DELTA_MAX_BYTES) {
        sy_errf(err, errlen, "delta of %zu bytes (cap %zu)", len, DP_DELTA_MAX_BYTES);
        return NULL;
    }
    Switchyard__SnapshotDelta *d = switchyard__snapshot_delta__unpack(NULL, len, buf);
    if (d == NULL) {
        sy_errf(err, errlen, "delta does not unpack");
        return NULL;
    }
    dp_snapshot_t *b = cur->base ? cur->base : cur, *s = NULL;
    Switchyard__SnapshotDelta *old = NULL;
    h2o_mem_pool_t tmp;
    h2o_mem_init_pool(&tmp);
    if (d->from_version != cur->version || d->from_created_at_ms != cur->created_at_ms) {
        *result = DP_DELTA_WRONG_BASE;
        sy_errf(err, errlen, "delta from version %llu (created %lld), this node serves %llu (created %lld)",
                (unsigned long long)d->from_version, (long long)d->from_created_at_ms,
                (unsigned long long)cur->version, (long long)cur->created_at_ms);
        goto out;
    }
    *result = DP_DELTA_INVALID;
    if (d->version <= d->from_version) {
        sy_errf(err, errlen, "delta to version %llu is not after %llu", (unsigned long long)d->version,
                (unsigned long long)d->from_version);
        goto out;
    }
    *result = DP_DELTA_FULL;
    if (d->n_keys + d->n_removed_keys + d->n_workspaces + d->n_removed_workspaces > DP_OVERLAY_MAX) {
        sy_errf(err, errlen, "delta over %u rows", DP_OVERLAY_MAX);
        goto out;
    }
    if (cur->merged != NULL &&
        (old = switchyard__snapshot_delta__unpack(NULL, cur->merged_len, cur->merged)) == NULL) {
        *result = DP_DELTA_INVALID; /* cannot happen: we packed it */
        sy_errf(err, errlen, "the node's own merged delta does not unpack");
        goto out;
    }
    Switchyard__SnapshotDelta m = SWITCHYARD__SNAPSHOT_DELTA__INIT;
    merge(&tmp, old, d, &m);
    m.from_version = b->version;
    m.from_created_at_ms = b->created_at_ms;
    if (m.n_keys + m.n_removed_keys + m.n_workspaces + m.n_removed_workspaces > DP_OVERLAY_MAX) {
        sy_errf(err, errlen, "overlay over %u rows", DP_OVERLAY_MAX);
        goto out;
    }
    if ((s = malloc(sizeof(*s))) == NULL) {
        sy_errf(err, errlen, "out of memory");
        goto out;
    }
    memcpy(s, b, sizeof(*s));
    atomic_init(&s->refs, 1);
    h2o_mem_init_pool(&s->pool);
    dp_snapshot_ref(b);
    s->base = b;
    s->ov = NULL;
    s->merged = NULL;
    s->next_dead = NULL;
    s->ws_index = NULL;
    s->ws_first_key = s->key_next = NULL;
    s->version = d->version;
    s->built_at_ms = wall_now_ms();
    s->created_at_ms = d->created_at_ms ? d->created_at_ms : s->built_at_ms;
    s->merged_len = switchyard__snapshot_delta__get_packed_size(&m);
    if ((s->merged = malloc(s->merged_len ? s->merged_len : 1)) == NULL) {
        sy_errf(err, errlen, "out of memory");
        goto fail;
    }
    switchyard__snapshot_delta__pack(&m, s->merged);
    if ((*result = build_overlay(s, b, &m, err, errlen)) != DP_DELTA_OK)
        goto fail;
    goto out;
fail:
    snapshot_free(s);
    s = NULL;
out:
    h2o_mem_clear_pool(&tmp);
    if (old != NULL)
        switchyard__snapshot_delta__free_unpacked(old, NULL);
    switchyard__snapshot_delta__free_unpacked(d, NULL);
    return s;
}
