/*
 * Stage 5: route — turn the request's model form into an ordered candidate list, and say why.
 *
 * Forms (docs/routing.md has the table and the precedence):
 *   "model": "<catalog id>" | "<provider>/<id>"   explicit
 *   "model": "auto"                                 objective balanced
 *   "model": "strategy:cost|quality|latency|balanced"
 *   "model": "industry:<tag>", or metadata.industry  auto among models whose tiers include <tag>
 *   "route": {"objective", "fallbacks", "max_latency_ms", "task_class"}
 *   "models": [...]                                 explicit fallbacks
 *   "@think" … in the last user message             the operator's tag → tier map; stripped
 * Precedence: an override tag beats the model form (the explicit model, if any, becomes the
 * first fallback) and orders its tier by what the tag promises — tier "cheap": the cheapest
 * model that can serve the request; tier "fast": the fastest; any other tier (@think, @opus, …):
 * the most capable for the task; route.objective beats the objective a form or tag implies, but
 * never turns an explicit model into auto; then `models`, then route.fallbacks, de-duplicated,
 * at most DP_MAX_CANDIDATES. Every candidate passes the key's scope; auto never picks outside it.
 *
 * Auto selection filters the catalog by scope, the capabilities the request needs (chat or
 * embeddings; tools, JSON mode, vision), the context window against the estimated prompt, and
 * health (down only as a last resort), then orders by the objective:
 *   cost      cheapest (estimated cost of this request) whose quality for the task clears the
 *             bar for the difficulty; the rest by quality
 *   quality   highest quality for the task
 *   balanced  highest quality per dollar among those clearing the bar; the rest by quality
 *   latency   lowest observed time to first byte on this thread (unknown last), within
 *             route.max_latency_ms
 * The classifier (dp_classify.c) gives task and difficulty in microseconds, locally, from the last
 * user message with the system prompt and up to three earlier turns as context, with calibrated
 * probabilities. When it is unsure about difficulty (the levels above its answer together have
 * probability >= DP_LEAN_UP) the cost and balanced objectives use the next harder level's quality
 * bar — the stronger choice — and the reason says so.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dp.h"
#include "sy_catalog.h"

_Static_assert((int)DP_TASK_COUNT == (int)SY_TASK__COUNT, "classifier and catalog task classes differ");
_Static_assert((int)DP_DIFFICULTY_COUNT == (int)SY_DIFF__COUNT, "classifier and catalog difficulties differ");

#define AUTO_PICKS 5         /* candidates auto routing contributes; fallbacks fill the rest */
#define TEXT_CAP (16 * 1024) /* bytes of the last user message the classifier sees */
#define OUT_TOKENS_GUESS 500 /* output tokens assumed for cost ordering when max_tokens is absent */
/* Lean to the harder difficulty when the classifier gives the harder levels together at least
 * this probability (its probabilities are calibrated: docs/routing.md). Chosen a priori — a 40 %
 * chance that the prompt needs a stronger model is worth the stronger model's price — not tuned
 * on any evaluation data. */
#define DP_LEAN_UP 0.40f

const dp_classify_model_t *dp_router_classifier;

static const char *const objective_names[] = {"explicit", "cost", "quality", "balanced", "latency"};

const char *dp_objective_name(dp_objective_t o)
{
    return (unsigned)o < sizeof(objective_names) / sizeof(objective_names[0]) ? objective_names[o]
                                                                              : "explicit";
}

/* "quality-per-dollar" (Neural Router's name for it) is the balanced objective. */
static int parse_objective(const char *s, dp_objective_t *o)
{
    if (strcmp(s, "quality-per-dollar") == 0) {
        *o = DP_OBJ_BALANCED;
        return 0;
    }
    for (int i = DP_OBJ_COST; i <= DP_OBJ_LATENCY; i++)
        if (strcmp(s, objective_names[i]) == 0) {
            *o = (dp_objective_t)i;
            return 0;
        }
    return -1;
}

static sy_err_t fail(char *msg, size_t msglen, const char **param, const char *p, sy_err_t e, const char *fmt,
                     const char *arg)
{
    snprintf(msg, msglen, fmt, arg);
    *param = p;
    return e;
}

/* ------------------------------------------------------------------ the request's text */

/* The last message with role "user". */
static cJSON *last_user(const dp_req_t *r)
{
    cJSON *msgs = cJSON_GetObjectItemCaseSensitive(r->body, "messages"), *m, *last = NULL;
    cJSON_ArrayForEach(m, msgs)
    {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        if (cJSON_IsString(role) && strcmp(role->valuestring, "user") == 0)
            last = m;
    }
    return last;
}

/* The text the classifier sees: the last user message (its text parts joined), capped. */
static const char *user_text(dp_req_t *r, cJSON *msg, size_t *len)
{
    *len = 0;
    const cJSON *c = msg ? cJSON_GetObjectItemCaseSensitive(msg, "content") : NULL;
    if (cJSON_IsString(c)) {
        *len = strlen(c->valuestring);
        return c->valuestring;
    }
    if (!cJSON_IsArray(c))
        return "";
    char *buf = sy_arena_alloc(&r->arena, TEXT_CAP);
    if (buf == NULL)
        return "";
    const cJSON *part;
    cJSON_ArrayForEach(part, c)
    {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (!cJSON_IsString(t))
            continue;
        size_t n = strlen(t->valuestring);
        if (*len + n + 1 > TEXT_CAP)
            n = TEXT_CAP - *len - 1;
        memcpy(buf + *len, t->valuestring, n);
        *len += n;
        if (*len + 1 < TEXT_CAP)
            buf[(*len)++] = '\n';
        if (*len + 1 >= TEXT_CAP)
            break;
    }
    return buf;
}

/* The text of a context message: its string content, or its first text part. */
static void span_of(const cJSON *msg, dp_classify_span_t *sp)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(msg, "content"), *part;
    sp->text = NULL;
    sp->len = 0;
    if (cJSON_IsString(c)) {
        sp->text = c->valuestring;
    } else if (cJSON_IsArray(c)) {
        cJSON_ArrayForEach(part, c)
        {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
            if (cJSON_IsString(t)) {
                sp->text = t->valuestring;
                break;
            }
        }
    }
    /* the classifier reads at most DP_CLASSIFY_CTX_BYTES: no need to measure further */
    if (sp->text != NULL)
        sp->len = strnlen(sp->text, DP_CLASSIFY_CTX_BYTES);
}

static int is_system_role(const cJSON *role)
{
    return cJSON_IsString(role) &&
           (strcmp(role->valuestring, "system") == 0 || strcmp(role->valuestring, "developer") == 0);
}

/* The classifier's context (dp_classify.h): the first system (or developer) message before the
 * last user message, then at most the three other messages right before it, oldest first. The
 * spans point into the request's JSON tree; nothing is copied. */
static size_t context_spans(const dp_req_t *r, const cJSON *last, dp_classify_span_t *out)
{
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(r->body, "messages"), *m;
    const cJSON *sys = NULL, *prev[3] = {NULL, NULL, NULL};
    size_t nprev = 0, n = 0;
    cJSON_ArrayForEach(m, msgs)
    {
        if (m == last)
            break;
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        if (is_system_role(role)) {
            if (sys == NULL)
                sys = m;
            continue;
        }
        prev[nprev % 3] = m;
        nprev++;
    }
    if (sys != NULL) {
        span_of(sys, &out[n]);
        out[n++].role = DP_CLASSIFY_ROLE_SYSTEM;
    }
    for (size_t k = nprev > 3 ? nprev - 3 : 0; k < nprev; k++) {
        const cJSON *pm = prev[k % 3];
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(pm, "role");
        span_of(pm, &out[n]);
        out[n++].role = cJSON_IsString(role) && strcmp(role->valuestring, "assistant") == 0
                            ? DP_CLASSIFY_ROLE_ASSISTANT
                            : DP_CLASSIFY_ROLE_USER;
    }
    return n;
}

static int word_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '@';
}

/* The configured tag (every one starts with '@', dp_snapshot.c) that occurs first in s as a
 * whole word, or -1; one pass over the text, whatever the number of tags. At one position at
 * most one tag is a whole word (a longer tag continues with a word character), so "first" is
 * well defined: the earliest position, and the table order among equal tags. */
static int first_tag(const dp_snapshot_t *snap, const char *s, size_t n)
{
    for (const char *p = s; (p = memchr(p, '@', (size_t)(s + n - p))) != NULL; p++) {
        if (p != s && word_char((unsigned char)p[-1]))
            continue;
        size_t left = (size_t)(s + n - p);
        for (size_t t = 0; t < snap->routing.ntags; t++) {
            size_t tl = snap->routing.tags[t].tag_len;
            if (tl <= left && memcmp(p, snap->routing.tags[t].tag, tl) == 0 &&
                (tl == left || !word_char((unsigned char)p[tl])))
                return (int)t;
        }
    }
    return -1;
}

/* Removes every configured tag word from a string (and one space next to it). Returns a new
 * arena string, or NULL when nothing was removed. */
static char *strip_tags(dp_req_t *r, const char *s)
{
    size_t n = strlen(s);
    char *out = sy_arena_alloc(&r->arena, n + 1);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    int removed = 0;
    for (size_t i = 0; i < n;) {
        size_t hit = 0;
        if (s[i] == '@' && (i == 0 || !word_char((unsigned char)s[i - 1]))) {
            for (size_t t = 0; t < r->snap->routing.ntags && !hit; t++) {
                size_t tl = r->snap->routing.tags[t].tag_len;
                if (i + tl <= n && memcmp(s + i, r->snap->routing.tags[t].tag, tl) == 0 &&
                    (i + tl == n || !word_char((unsigned char)s[i + tl])))
                    hit = tl;
            }
        }
        if (hit) {
            removed = 1;
            i += hit;
            if (i < n && s[i] == ' ')
                i++;
            else if (o > 0 && out[o - 1] == ' ' && (i == n || s[i] == '\n'))
                o--;
            continue;
        }
        out[o++] = s[i++];
    }
    out[o] = '\0';
    return removed ? out : NULL;
}

/* Finds the first override tag in the last user message; strips every tag from it and
 * re-prints `messages` for the upstream. Returns the tier, or NULL. */
static const char *take_tag(dp_req_t *r, cJSON *msg)
{
    size_t len;
    const char *text = user_text(r, msg, &len);
    int t = first_tag(r->snap, text, len);
    if (t < 0)
        return NULL;
    const char *tier = r->snap->routing.tags[t].tier;
    r->tag = r->snap->routing.tags[t].tag;
    cJSON *c = cJSON_GetObjectItemCaseSensitive(msg, "content");
    cJSON *part;
    if (cJSON_IsString(c)) {
        char *s = strip_tags(r, c->valuestring);
        if (s)
            cJSON_SetValuestring(c, s);
    } else {
        cJSON_ArrayForEach(part, c)
        {
            cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
            char *s = cJSON_IsString(t) ? strip_tags(r, t->valuestring) : NULL;
            if (s)
                cJSON_SetValuestring(t, s);
        }
    }
    r->messages_override = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(r->body, "messages"));
    return tier;
}

/* ------------------------------------------------------------------ what the request needs */

static uint32_t needed_caps(const dp_req_t *r)
{
    if (r->ep == DP_EP_EMBEDDINGS)
        return DP_CAP_EMBEDDINGS;
    uint32_t need = DP_CAP_CHAT;
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(r->body, "tools");
    if (cJSON_IsArray(tools) && tools->child != NULL)
        need |= DP_CAP_TOOLS;
    const cJSON *rf = cJSON_GetObjectItemCaseSensitive(r->body, "response_format");
    const cJSON *type = cJSON_IsObject(rf) ? cJSON_GetObjectItemCaseSensitive(rf, "type") : NULL;
    if (cJSON_IsString(type) &&
        (strcmp(type->valuestring, "json_object") == 0 || strcmp(type->valuestring, "json_schema") == 0))
        need |= DP_CAP_JSON;
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(r->body, "messages"), *m, *part;
    cJSON_ArrayForEach(m, msgs)
    {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (!cJSON_IsArray(c))
            continue;
        cJSON_ArrayForEach(part, c)
        {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "type");
            if (cJSON_IsString(t) && strcmp(t->valuestring, "image_url") == 0)
                need |= DP_CAP_VISION;
        }
    }
    return need;
}

/* Prompt tokens, estimated from the request's bytes (about four per token). */
static uint64_t prompt_tokens(const dp_req_t *r)
{
    for (int i = 0; i < r->nmembers; i++) {
        const sy_json_member_t *m = &r->members[i];
        if ((m->key_len == 8 && memcmp(m->key, "messages", 8) == 0) ||
            (m->key_len == 5 && memcmp(m->key, "input", 5) == 0))
            return m->value_len / 4 + 1;
    }
    return 1;
}

static uint64_t output_tokens(const dp_req_t *r)
{
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(r->body, "max_tokens");
    if (!cJSON_IsNumber(mt))
        mt = cJSON_GetObjectItemCaseSensitive(r->body, "max_completion_tokens");
    return cJSON_IsNumber(mt) && mt->valuedouble >= 1 ? (uint64_t)mt->valuedouble : 0;
}

/* ------------------------------------------------------------------ ordering */

typedef struct {
    const dp_model_t *m;
    uint64_t cost; /* estimated nano-USD of this request */
    uint32_t q;    /* quality for the task, thousandths */
    int clears;    /* q >= the bar for the difficulty */
    int health;    /* 0 healthy/unknown, 1 degraded, 2 down */
    uint64_t ttft; /* observed, µs; 0 unknown */
} scored_t;

static int cmp_u64(uint64_t a, uint64_t b)
{
    return a < b ? -1 : a > b;
}

static int compare(const void *pa, const void *pb, void *ctx)
{
    const scored_t *a = pa, *b = pb;
    dp_objective_t o = *(const dp_objective_t *)ctx;
    if (a->health != b->health)
        return a->health - b->health;
    int c = 0;
    switch (o) {
    case DP_OBJ_COST:
    case DP_OBJ_BALANCED:
        if (a->clears != b->clears)
            return b->clears - a->clears;
        if (!a->clears) { /* nobody clears the bar: the best there is */
            c = cmp_u64(b->q, a->q);
            break;
        }
        if (o == DP_OBJ_COST) {
            c = cmp_u64(a->cost, b->cost);
        } else {
            /* quality per dollar: q/cost, compared as q_a * cost_b vs q_b * cost_a (+1 nano so a free
             * model's score is finite and the better free model still wins) */
            unsigned __int128 x = (unsigned __int128)a->q * (b->cost + 1),
                              y = (unsigned __int128)b->q * (a->cost + 1);
            c = x > y ? -1 : x < y;
        }
        break;
    case DP_OBJ_QUALITY:
        c = cmp_u64(b->q, a->q);
        break;
    case DP_OBJ_LATENCY:
        if ((a->ttft == 0) != (b->ttft == 0))
            return a->ttft == 0 ? 1 : -1;
        c = cmp_u64(a->ttft, b->ttft);
        break;
    default:
        break;
    }
    if (c == 0)
        c = cmp_u64(a->cost, b->cost);
    if (c == 0)
        c = cmp_u64(b->q, a->q);
    return c ? c : (a->m->index < b->m->index ? -1 : a->m->index > b->m->index);
}

static int has_tier(const dp_model_t *m, const char *tier)
{
    for (size_t i = 0; i < m->ntiers; i++)
        if (strcmp(m->tiers[i], tier) == 0)
            return 1;
    return 0;
}

static void add_cand(dp_req_t *r, const dp_model_t *m)
{
    for (size_t i = 0; i < r->ncand; i++)
        if (r->cand[i] == m)
            return;
    if (r->ncand < DP_MAX_CANDIDATES)
        r->cand[r->ncand++] = m;
}

/* What the classifier said about difficulty, for leaning (see DP_LEAN_UP). */
typedef struct {
    int want;           /* the harder levels together reach DP_LEAN_UP */
    int to;             /* the level routing uses then */
    float p_at, p_over; /* probability of the classifier's level, of the harder ones */
} lean_t;

/* Auto selection: picks up to AUTO_PICKS models (restricted to `tier` when not NULL) and writes
 * the reason. strict_cost: the cheapest model that can serve the request, whatever its quality
 * (the @cheap promise), else the objective's order. 0 picked = nothing in the catalog fits (the
 * reason says what was missing). */
static size_t auto_pick(dp_req_t *r, const char *tier, const char *why_prefix, int strict_cost,
                        const lean_t *lean)
{
    const dp_snapshot_t *s = r->snap;
    /* unsure about difficulty: the objectives that use the quality bar take the stronger choice */
    if (lean != NULL && lean->want && !r->diff_leaned && !strict_cost &&
        (r->objective == DP_OBJ_COST || r->objective == DP_OBJ_BALANCED)) {
        r->difficulty = lean->to;
        r->diff_leaned = 1;
    }
    uint32_t need = needed_caps(r);
    uint64_t in = prompt_tokens(r), out = output_tokens(r);
    uint64_t out_guess = out ? (out < 4096 ? out : 4096) : OUT_TOKENS_GUESS;
    uint32_t bar = r->difficulty >= 0 ? s->routing.bar_milli[r->difficulty] : 0;
    scored_t *sc = sy_arena_alloc(&r->arena, (s->nmodels ? s->nmodels : 1) * sizeof(*sc));
    size_t n = 0, out_of_scope = 0, no_caps = 0, too_small = 0, too_slow = 0;
    uint64_t now = dp_now_ns();
    if (sc == NULL)
        return 0;
    for (size_t i = 0; i < s->nmodels; i++) {
        const dp_model_t *m = &s->models[i];
        if (tier != NULL && !has_tier(m, tier))
            continue;
        r->considered++;
        if (!dp_key_allows(r->key, m)) {
            out_of_scope++;
            continue;
        }
        if ((m->caps & need) != need) {
            no_caps++;
            continue;
        }
        if (m->context_window != 0 && in + out > m->context_window) {
            too_small++;
            continue;
        }
        scored_t *x = &sc[n];
        x->m = m;
        x->q = r->task >= 0 ? m->quality[r->task] : 0;
        x->clears = strict_cost || x->q >= bar;
        x->cost = (uint64_t)sy_money_cost((int64_t)in, m->input_per_m) +
                  (uint64_t)sy_money_cost((int64_t)out_guess, m->output_per_m);
        x->health = m->provider->health == 3 ? 2 : m->provider->health == 2 ? 1 : 0;
        x->ttft = dp_breaker_ttft_us(r->th ? r->th->breakers : NULL, m->id);
        if (r->max_latency_ms && x->ttft > (uint64_t)r->max_latency_ms * 1000) {
            too_slow++;
            continue;
        }
        (void)now;
        n++;
    }
    char *reason = sy_arena_alloc(&r->arena, 400);
    if (n == 0) {
        if (reason)
            snprintf(
                reason, 400,
                "%s: no catalog model fits (%zu considered; outside the key's scope %zu, missing a needed "
                "capability %zu, context too small %zu, slower than max_latency_ms %zu)",
                why_prefix, r->considered, out_of_scope, no_caps, too_small, too_slow);
        r->reason = reason;
        return 0;
    }
    qsort_r(sc, n, sizeof(*sc), compare, &r->objective);
    size_t picked = 0;
    for (size_t i = 0; i < n && picked < AUTO_PICKS; i++, picked++)
        add_cand(r, sc[i].m);
    if (reason) {
        const scored_t *b = &sc[0];
        char cost[32], q[16];
        sy_money_format_usd((sy_nano_t)b->cost, cost);
        snprintf(q, sizeof(q), "%u.%03u", b->q / 1000, b->q % 1000);
        const char *task = r->task >= 0 ? sy_task_name((sy_task_t)r->task) : "-";
        const char *diff = r->difficulty >= 0 ? sy_difficulty_name((sy_difficulty_t)r->difficulty) : "-";
        switch (r->objective) {
        case DP_OBJ_COST:
            if (strict_cost)
                snprintf(reason, 400,
                         "%s: cheapest of %zu eligible models, whatever their quality; estimated %s USD",
                         why_prefix, n, cost);
            else if (b->clears)
                snprintf(reason, 400,
                         "%s: cheapest of %zu eligible models whose %s quality (%s) clears the %s bar "
                         "(%u.%03u); estimated %s USD",
                         why_prefix, n, task, q, diff, bar / 1000, bar % 1000, cost);
            else
                snprintf(reason, 400,
                         "%s: no eligible model clears the %s bar for %s; the best %s quality (%s) "
                         "of %zu",
                         why_prefix, diff, task, task, q, n);
            break;
        case DP_OBJ_QUALITY:
            snprintf(reason, 400, "%s: highest %s quality (%s) of %zu eligible models", why_prefix, task, q,
                     n);
            break;
        case DP_OBJ_LATENCY:
            if (b->ttft)
                snprintf(reason, 400,
                         "%s: lowest observed time to first byte (%llu us) of %zu eligible models",
                         why_prefix, (unsigned long long)b->ttft, n);
            else
                snprintf(reason, 400,
                         "%s: no time to first byte observed yet for %zu eligible models; the cheapest first "
                         "(estimated %s USD)",
                         why_prefix, n, cost);
            break;
        default:
            snprintf(reason, 400,
                     "%s: best %s quality per dollar (%s at an estimated %s USD) of %zu eligible models%s",
                     why_prefix, task, q, cost, n, b->clears ? "" : " (none clears the bar)");
            break;
        }
        if (r->diff_leaned && lean != NULL) {
            size_t l = strlen(reason);
            snprintf(reason + l, 400 - l, "; difficulty uncertain (%s %.2f, harder %.2f): routed as %s",
                     sy_difficulty_name((sy_difficulty_t)(lean->to - 1)), (double)lean->p_at,
                     (double)lean->p_over, sy_difficulty_name((sy_difficulty_t)lean->to));
        }
    }
    r->reason = reason;
    return picked;
}

/* What a tag promises: tier "cheap" the cheapest model that can serve the request, "fast" the
 * fastest, any other tier (think, opus, research, …) the most capable for the task. */
static dp_objective_t tag_objective(const char *tier, int *strict_cost)
{
    *strict_cost = 0;
    if (strcmp(tier, "cheap") == 0) {
        *strict_cost = 1;
        return DP_OBJ_COST;
    }
    if (strcmp(tier, "fast") == 0)
        return DP_OBJ_LATENCY;
    return DP_OBJ_QUALITY;
}

/* An explicitly named model (the `model` form or a fallback): it must exist, be in scope
 * and serve the endpoint. */
static sy_err_t add_named(dp_req_t *r, const char *n, const char *param, char *msg, size_t msglen,
                          const char **perr)
{
    const dp_model_t *m = dp_snapshot_find_model(r->snap, n, strlen(n));
    if (m == NULL || !dp_key_allows(r->key, m))
        /* a model outside the key's scope is reported as such only when it exists */
        return fail(msg, msglen, perr, param, m ? SY_E_MODEL_NOT_ALLOWED : SY_E_MODEL_NOT_FOUND,
                    m ? "this API key may not use the model '%.200s'" : "The model '%.200s' does not exist",
                    n);
    uint32_t need = r->ep == DP_EP_EMBEDDINGS ? DP_CAP_EMBEDDINGS : DP_CAP_CHAT;
    if ((m->caps & need) == 0) {
        snprintf(msg, msglen, "the model '%.200s' does not support %s", n,
                 r->ep == DP_EP_EMBEDDINGS ? "embeddings" : "chat completions");
        *perr = param;
        return SY_E_BAD_PARAM;
    }
    add_cand(r, m);
    return SY_E_OK;
}

/* ------------------------------------------------------------------ the stage */

sy_err_t dp_route(dp_req_t *r, char *msg, size_t msglen, const char **param)
{
    r->objective = DP_OBJ_EXPLICIT;
    r->task = r->difficulty = -1;
    r->task_conf = r->diff_conf = -1.0f;
    r->diff_leaned = 0;
    lean_t lean = {0, 0, 0, 0};
    *param = NULL;
    const char *model = cJSON_GetObjectItemCaseSensitive(r->body, "model")->valuestring;

    /* route: {objective, fallbacks, max_latency_ms, task_class} */
    const cJSON *route = cJSON_GetObjectItemCaseSensitive(r->body, "route");
    const cJSON *ro = NULL, *rfb = NULL, *rml = NULL, *rtc = NULL;
    dp_objective_t route_obj = DP_OBJ_EXPLICIT;
    if (route != NULL && !cJSON_IsNull(route)) {
        if (!cJSON_IsObject(route))
            return fail(msg, msglen, param, "route", SY_E_BAD_PARAM, "%s", "'route' must be an object");
        const cJSON *e;
        cJSON_ArrayForEach(e, route)
        {
            if (strcmp(e->string, "objective") && strcmp(e->string, "fallbacks") &&
                strcmp(e->string, "max_latency_ms") && strcmp(e->string, "task_class"))
                return fail(msg, msglen, param, "route", SY_E_BAD_PARAM, "unknown field 'route.%.64s'",
                            e->string);
        }
        ro = cJSON_GetObjectItemCaseSensitive(route, "objective");
        rfb = cJSON_GetObjectItemCaseSensitive(route, "fallbacks");
        rml = cJSON_GetObjectItemCaseSensitive(route, "max_latency_ms");
        rtc = cJSON_GetObjectItemCaseSensitive(route, "task_class");
        if (ro && (!cJSON_IsString(ro) || parse_objective(ro->valuestring, &route_obj) != 0))
            return fail(
                msg, msglen, param, "route.objective", SY_E_BAD_PARAM, "%s",
                "'route.objective' must be one of cost, quality, latency, balanced, quality-per-dollar");
        if (rfb && (!cJSON_IsArray(rfb) || cJSON_GetArraySize(rfb) > DP_MAX_CANDIDATES))
            return fail(msg, msglen, param, "route.fallbacks", SY_E_BAD_PARAM, "%s",
                        "'route.fallbacks' must be an array of at most 8 model names");
        const cJSON *f;
        cJSON_ArrayForEach(f, rfb) if (!cJSON_IsString(f) || f->valuestring[0] == '\0') return fail(
            msg, msglen, param, "route.fallbacks", SY_E_BAD_PARAM, "%s",
            "'route.fallbacks' entries must be model names");
        if (rml && (!cJSON_IsNumber(rml) || !(rml->valuedouble >= 1 && rml->valuedouble <= 3600000)))
            return fail(msg, msglen, param, "route.max_latency_ms", SY_E_BAD_PARAM, "%s",
                        "'route.max_latency_ms' must be a number of milliseconds 1..3600000");
        if (rtc && (!cJSON_IsString(rtc) || sy_task_parse(rtc->valuestring, strlen(rtc->valuestring)) < 0))
            return fail(msg, msglen, param, "route.task_class", SY_E_BAD_PARAM, "%s",
                        "'route.task_class' must be one of code, math, reasoning, writing, extraction, "
                        "summarization, translation, research, chat");
        if (rml)
            r->max_latency_ms = (uint32_t)rml->valuedouble;
    }

    /* the form */
    const char *industry = NULL;
    int is_auto = 0;
    dp_objective_t form_obj = DP_OBJ_BALANCED;
    if (strcmp(model, "auto") == 0) {
        is_auto = 1;
    } else if (strncmp(model, "strategy:", 9) == 0) {
        is_auto = 1;
        if (parse_objective(model + 9, &form_obj) != 0)
            return fail(
                msg, msglen, param, "model", SY_E_BAD_PARAM, "%s",
                "'strategy:' must be followed by cost, quality, latency, balanced or quality-per-dollar");
    } else if (strncmp(model, "industry:", 9) == 0) {
        is_auto = 1;
        industry = model + 9;
        if (industry[0] == '\0')
            return fail(msg, msglen, param, "model", SY_E_BAD_PARAM, "%s",
                        "'industry:' must name an industry tag");
    }
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(r->body, "metadata");
    const cJSON *mind = cJSON_IsObject(meta) ? cJSON_GetObjectItemCaseSensitive(meta, "industry") : NULL;
    if (is_auto && industry == NULL && cJSON_IsString(mind) && mind->valuestring[0])
        industry = mind->valuestring;
    if (r->ep == DP_EP_EMBEDDINGS && is_auto && form_obj == DP_OBJ_BALANCED && !ro)
        form_obj = DP_OBJ_COST; /* embeddings have no task quality: the cheapest fitting one */

    /* classify (chat): task and difficulty of the last user message; tags come out first so
     * the classifier sees what the model will see */
    const char *tier = NULL;
    if (r->ep == DP_EP_CHAT) {
        cJSON *last = last_user(r);
        sy_json_arena_begin(&r->arena);
        tier = last ? take_tag(r, last) : NULL;
        sy_json_arena_end();
        /* routing.classify "routed" (the default): a named model without an override tag does
         * not need the classifier's answer, so it does not pay for it (docs/routing.md) */
        int classify = is_auto || tier != NULL || r->snap->routing.classify_all;
        size_t len = 0;
        const char *text = classify ? user_text(r, last, &len) : NULL;
        if (classify) {
            r->task = SY_TASK_CHAT;
            r->difficulty = SY_DIFF_MEDIUM;
        }
        if (classify && dp_router_classifier != NULL && len > 0) {
            dp_classify_span_t ctx[DP_CLASSIFY_CTX_MAX];
            size_t nctx = context_spans(r, last, ctx);
            dp_classify_result_t cr;
            dp_classify_conv(dp_router_classifier, text, len, ctx, nctx, &cr);
            r->task = (int)cr.task;
            r->difficulty = (int)cr.difficulty;
            r->task_conf = cr.task_confidence;
            r->diff_conf = cr.difficulty_confidence;
            float over = 0;
            for (int k = (int)cr.difficulty + 1; k < DP_DIFFICULTY_COUNT; k++)
                over += cr.difficulty_prob[k];
            if ((int)cr.difficulty + 1 < DP_DIFFICULTY_COUNT && over >= DP_LEAN_UP)
                lean = (lean_t){1, (int)cr.difficulty + 1, cr.difficulty_confidence, over};
        }
        if (rtc)
            r->task = sy_task_parse(rtc->valuestring, strlen(rtc->valuestring));
    }

    sy_err_t e;
    if (tier != NULL) {
        int strict_cost;
        dp_objective_t tag_obj = tag_objective(tier, &strict_cost);
        if (ro)
            strict_cost = 0; /* route.objective is the caller's explicit choice */
        r->objective = ro ? route_obj : tag_obj;
        char why[96];
        snprintf(why, sizeof(why), "tag %s -> tier %s", r->tag, tier);
        char *w = sy_arena_alloc(&r->arena, strlen(why) + 1);
        if (w)
            strcpy(w, why);
        if (auto_pick(r, tier, w ? w : "tag", strict_cost, &lean) == 0 && !is_auto) {
            /* nothing in that tier for this key: the named model serves, and says so */
            r->objective = DP_OBJ_EXPLICIT;
        }
        if (!is_auto && (e = add_named(r, model, "model", msg, msglen, param)) != SY_E_OK)
            return e;
        if (is_auto && r->ncand == 0) {
            r->objective = ro ? route_obj : form_obj;
            auto_pick(r, NULL, "tag matched no eligible model; auto", 0, &lean);
        }
    } else if (is_auto) {
        r->objective = ro ? route_obj : form_obj;
        size_t got = 0;
        if (industry != NULL) {
            char tierbuf[80];
            snprintf(tierbuf, sizeof(tierbuf), "%.70s", industry);
            char *t = sy_arena_alloc(&r->arena, strlen(tierbuf) + 1);
            if (t) {
                strcpy(t, tierbuf);
                got = auto_pick(r, t, "industry", 0, &lean);
            }
        }
        if (got == 0)
            auto_pick(r, NULL, industry ? "no model tagged for the industry; auto" : model, 0, &lean);
    } else {
        if ((e = add_named(r, model, "model", msg, msglen, param)) != SY_E_OK)
            return e;
        r->reason = "requested model";
    }

    /* explicit fallbacks: `models`, then route.fallbacks */
    const cJSON *models = cJSON_GetObjectItemCaseSensitive(r->body, "models"), *m;
    cJSON_ArrayForEach(m, models) if ((e = add_named(r, m->valuestring, "models", msg, msglen, param)) !=
                                      SY_E_OK) return e;
    cJSON_ArrayForEach(m, rfb) if ((e = add_named(r, m->valuestring, "route.fallbacks", msg, msglen,
                                                  param)) != SY_E_OK) return e;

    if (r->ncand == 0) {
        snprintf(msg, msglen, "%s", r->reason ? r->reason : "no model can serve this request");
        *param = NULL;
        return SY_E_NO_PROVIDER;
    }
    *param = NULL;
    return SY_E_OK;
}

const dp_model_t *dp_route_next(dp_req_t *r)
{
    if (r->next_cand >= r->ncand)
        return NULL;
    uint64_t now = dp_now_ns();
    dp_breakers_t *b = r->th ? r->th->breakers : NULL;
    for (size_t i = r->next_cand; i < r->ncand; i++) {
        /* the control plane's probes say down: skipped like an open breaker */
        if (r->cand[i]->provider->health != 3 && dp_breaker_allows(b, r->cand[i]->id, now)) {
            /* the skipped ones stay skipped: their breakers are open */
            const dp_model_t *m = r->cand[i];
            r->next_cand = i + 1;
            return m;
        }
    }
    /* every remaining candidate is open or down: never eject them all — the least recently
     * failed */
    size_t best = r->next_cand;
    for (size_t i = r->next_cand + 1; i < r->ncand; i++)
        if (dp_breaker_last_failure(b, r->cand[i]->id) < dp_breaker_last_failure(b, r->cand[best]->id))
            best = i;
    const dp_model_t *m = r->cand[best];
    /* take it out of the list so the walk cannot return it twice */
    for (size_t i = best; i > r->next_cand; i--)
        r->cand[i] = r->cand[i - 1];
    r->cand[r->next_cand++] = m;
    return m;
}
