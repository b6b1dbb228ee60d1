/* Table-driven tests of stage 5 (dp_route.c): every model form, their conflicts and the
 * documented precedence, candidate filtering and the objectives, with the real classifier and
 * a catalog built for the purpose (cheap/strong/free models with quality scores). Then what each
 * override tag promises (@cheap the cheapest, @fast the fastest, @think/@opus the most capable),
 * leaning to the harder difficulty when the classifier is unsure (with a constructed model whose
 * probabilities are known), the confidence fields, the classifier's context, and the industry
 * tiers of the shipped catalog. The breaker walk (dp_route_next) is tested at the end with a
 * thread-less breaker table. */
#include <math.h>
#include <stdlib.h>

#include "dp.h"
#include "dp_config.h"
#include "sy_test.h"

/* sha256 hex of the two keys, computed in main */
static char hex_all[65], hex_scoped[65];

static const char *catalog(void)
{
    static char buf[8192];
    snprintf(
        buf, sizeof(buf),
        "{\"routing\":{\"tags\":{\"@think\":\"think\",\"@cheap\":\"cheap\",\"@legal\":\"legal\",\"@fast\":"
        "\"fast\","
        "  \"@opus\":\"opus\"},"
        "  \"quality_bar\":{\"easy\":0.6,\"medium\":0.75,\"hard\":0.85}},"
        " \"providers\":[{\"id\":\"p\",\"kind\":\"openai\",\"base_url\":\"http://127.0.0.1:9/v1\"},"
        "  {\"id\":\"q\",\"kind\":\"openai\",\"base_url\":\"http://127.0.0.1:9/v1\"}],"
        " \"models\":["
        "  "
        "{\"id\":\"tiny\",\"provider\":\"p\",\"input_per_m\":\"0.05\",\"output_per_m\":\"0.40\",\"context_"
        "window\":8000,"
        "   \"capabilities\":[\"chat\"],\"tiers\":[\"cheap\",\"fast\"],"
        "   \"quality\":{\"code\":0.55,\"math\":0.6,\"chat\":0.8,\"research\":0.7,\"writing\":0.7}},"
        "  "
        "{\"id\":\"mid\",\"provider\":\"p\",\"input_per_m\":\"0.40\",\"output_per_m\":\"1.60\",\"context_"
        "window\":128000,"
        "   \"capabilities\":[\"chat\",\"tools\",\"json\"],\"tiers\":[\"cheap\",\"legal\"],"
        "   \"quality\":{\"code\":0.8,\"math\":0.85,\"chat\":0.85,\"research\":0.8,\"writing\":0.82}},"
        "  "
        "{\"id\":\"strong\",\"provider\":\"q\",\"input_per_m\":\"3.00\",\"output_per_m\":\"15.00\",\"context_"
        "window\":200000,"
        "   "
        "\"capabilities\":[\"chat\",\"tools\",\"json\",\"vision\"],\"tiers\":[\"think\",\"fast\",\"opus\"],"
        "   \"quality\":{\"code\":0.95,\"math\":0.93,\"chat\":0.9,\"research\":0.92,\"writing\":0.93}},"
        "  "
        "{\"id\":\"pricey\",\"provider\":\"q\",\"input_per_m\":\"15.00\",\"output_per_m\":\"75.00\","
        "\"context_window\":200000,"
        "   \"capabilities\":[\"chat\",\"tools\",\"json\",\"vision\"],\"tiers\":[\"think\",\"opus\"],"
        "   \"quality\":{\"code\":0.96,\"math\":0.95,\"chat\":0.92,\"research\":0.94,\"writing\":0.95}},"
        "  {\"id\":\"emb\",\"provider\":\"p\",\"input_per_m\":\"0.02\",\"capabilities\":[\"embeddings\"]},"
        "  "
        "{\"id\":\"emb-big\",\"provider\":\"q\",\"input_per_m\":\"0.13\",\"capabilities\":[\"embeddings\"]}],"
        " \"workspaces\":[{\"id\":\"ws\"}],"
        " \"keys\":[{\"id\":\"k_all\",\"sha256\":\"%s\",\"workspace\":\"ws\"},"
        "  "
        "{\"id\":\"k_scoped\",\"sha256\":\"%s\",\"workspace\":\"ws\",\"allowed_models\":[\"tiny\",\"mid\","
        "\"emb\"]}]}",
        hex_all, hex_scoped);
    return buf;
}

#define EASY "What is the capital of France?"
#define HARD_CODE                                                                                            \
    "Implement a lock-free multi-producer multi-consumer queue in C11 using atomics. Handle the ABA "        \
    "problem with "                                                                                          \
    "tagged pointers or hazard pointers, explain the memory orderings you choose for each operation, "       \
    "provide a "                                                                                             \
    "stress test with 16 threads, and analyse the throughput compared with a mutex-based queue. The code "   \
    "must "                                                                                                  \
    "compile with -Wall -Wextra and pass ThreadSanitizer."

typedef struct {
    const char *name;
    int ep;     /* DP_EP_CHAT or DP_EP_EMBEDDINGS */
    int scoped; /* use the scoped key */
    const char *body;
    sy_err_t want;
    const char *param;  /* expected error param, or NULL */
    const char *cands;  /* expected candidates, comma-separated ("" = do not check) */
    const char *first;  /* expected first candidate when cands is "" (NULL = do not check) */
    int objective;      /* expected dp_objective_t, -1 = do not check */
    const char *tag;    /* expected tag, NULL = none */
    const char *reason; /* substring of the reason, NULL = do not check */
} route_case_t;

static char *fmt(const char *model, const char *content, const char *extra)
{
    /* every case's body is formatted before the first runs: one buffer each */
    static char buf[64][2048];
    static int i;
    i = (i + 1) % 64;
    snprintf(buf[i], sizeof(buf[i]),
             "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}]%s}", model, content,
             extra ? extra : "");
    return buf[i];
}

static void run_case(dp_snapshot_t *s, const dp_key_t *all, const dp_key_t *scoped, const route_case_t *c)
{
    dp_req_t r;
    h2o_req_t req;
    memset(&r, 0, sizeof(r));
    memset(&req, 0, sizeof(req));
    req.entity = h2o_iovec_init(c->body, strlen(c->body));
    r.body_src = req.entity; /* stage 4 parses body_src (dp.h) */
    r.req = &req;
    r.body_src = req.entity; /* stage 4 parses body_src (dp_accept.c sets it) */
    r.in = &dp_openai_inbound;
    r.snap = s;
    r.ep = (dp_endpoint_t)c->ep;
    r.key = c->scoped ? scoped : all;
    char msg[512];
    const char *param = NULL;
    sy_err_t e = dp_body_parse(&r, msg, sizeof(msg), &param);
    if (e == SY_E_OK)
        e = dp_route(&r, msg, sizeof(msg), &param);
    char got[256] = "";
    for (size_t i = 0; e == SY_E_OK && i < r.ncand; i++) {
        strcat(got, i ? "," : "");
        strcat(got, r.cand[i]->id);
    }
    int ok = e == c->want;
    if (ok && c->param)
        ok = param && strcmp(param, c->param) == 0;
    if (ok && e == SY_E_OK && c->cands[0])
        ok = strcmp(got, c->cands) == 0;
    if (ok && e == SY_E_OK && c->first)
        ok = r.ncand > 0 && strcmp(r.cand[0]->id, c->first) == 0;
    if (ok && e == SY_E_OK && c->objective >= 0)
        ok = (int)r.objective == c->objective;
    if (ok && e == SY_E_OK)
        ok = (c->tag == NULL) == (r.tag == NULL) && (c->tag == NULL || strcmp(c->tag, r.tag) == 0);
    if (ok && e == SY_E_OK && c->reason)
        ok = r.reason && strstr(r.reason, c->reason) != NULL;
    if (ok) {
        sy_test_pass++;
    } else {
        sy_test_fail++;
        fprintf(stderr,
                "route case '%s': got %s param=%s cands=[%s] objective=%s tag=%s task=%s/%s reason=\"%s\" "
                "msg=\"%s\"\n",
                c->name, sy_strerror(e), param ? param : "-", got, dp_objective_name(r.objective),
                r.tag ? r.tag : "-", r.task >= 0 ? sy_task_name((sy_task_t)r.task) : "-",
                r.difficulty >= 0 ? sy_difficulty_name((sy_difficulty_t)r.difficulty) : "-",
                r.reason ? r.reason : "", e == SY_E_OK ? "" : msg);
    }
    sy_arena_free(&r.arena);
}

/* The tag is removed from what goes upstream, and only the messages member changes. */
static void test_tag_stripping(dp_snapshot_t *s, const dp_key_t *all)
{
    const char *body =
        "{\"model\":\"auto\",\"messages\":[{\"role\":\"system\",\"content\":\"be brief @think\"},"
        "{\"role\":\"user\",\"content\":\"@think prove that sqrt 2 is irrational @think\"}],\"n\":1}";
    dp_req_t r;
    h2o_req_t req;
    memset(&r, 0, sizeof(r));
    memset(&req, 0, sizeof(req));
    req.entity = h2o_iovec_init(body, strlen(body));
    r.body_src = req.entity; /* stage 4 parses body_src (dp.h) */
    r.req = &req;
    r.body_src = req.entity;
    r.in = &dp_openai_inbound;
    r.snap = s;
    r.ep = DP_EP_CHAT;
    r.key = all;
    char msg[256];
    const char *param;
    CHECK(dp_body_parse(&r, msg, sizeof(msg), &param) == SY_E_OK);
    CHECK(dp_route(&r, msg, sizeof(msg), &param) == SY_E_OK);
    CHECK(r.tag && strcmp(r.tag, "@think") == 0);
    CHECK(r.ncand >= 1 && (strcmp(r.cand[0]->id, "strong") == 0 || strcmp(r.cand[0]->id, "pricey") == 0));
    CHECK(r.messages_override != NULL);
    if (r.messages_override) {
        /* the system message is not the user's: left alone; both tags in the user message gone */
        CHECK(strstr(r.messages_override, "be brief @think") != NULL);
        CHECK(strstr(r.messages_override, "\"prove that sqrt 2 is irrational\"") != NULL);
    }
    r.model = r.cand[0];
    CHECK(r.model->provider->ops->prepare(&r) == 0);
    if (r.up_body) {
        CHECK(strstr(r.up_body, "prove that sqrt 2 is irrational") != NULL);
        CHECK(strstr(r.up_body, "@think prove") == NULL);
        CHECK(strstr(r.up_body, "\"n\":1") != NULL);
    }
    free(r.up_body);
    sy_arena_free(&r.arena);

    /* an address is not a tag; a tag glued to a word is not a tag */
    body =
        "{\"model\":\"mid\",\"messages\":[{\"role\":\"user\",\"content\":\"mail bob@think.io or x@cheap\"}]}";
    memset(&r, 0, sizeof(r));
    req.entity = h2o_iovec_init(body, strlen(body));
    r.body_src = req.entity; /* stage 4 parses body_src (dp.h) */
    r.req = &req;
    r.body_src = req.entity;
    r.in = &dp_openai_inbound;
    r.snap = s;
    r.ep = DP_EP_CHAT;
    r.key = all;
    CHECK(dp_body_parse(&r, msg, sizeof(msg), &param) == SY_E_OK);
    CHECK(dp_route(&r, msg, sizeof(msg), &param) == SY_E_OK);
    CHECK(r.tag == NULL && r.messages_override == NULL && r.ncand == 1);
    sy_arena_free(&r.arena);
}

/* dp_route_next with breakers: open ones are skipped; when all are open the least recently
 * failed is tried anyway. */
static void test_breaker_walk(dp_snapshot_t *s)
{
    dp_thread_t th;
    memset(&th, 0, sizeof(th));
    th.breakers = dp_breakers_create();
    dp_req_t r;
    memset(&r, 0, sizeof(r));
    r.th = &th;
    r.snap = s;
    r.cand[0] = dp_snapshot_find_model(s, "tiny", 4);
    r.cand[1] = dp_snapshot_find_model(s, "mid", 3);
    r.cand[2] = dp_snapshot_find_model(s, "strong", 6);
    r.ncand = 3;
    uint64_t now = dp_now_ns();
    /* tiny fails twice (threshold 2): open */
    dp_breaker_failure(th.breakers, "tiny", 2, 5000, now);
    CHECK(dp_breaker_allows(th.breakers, "tiny", now));
    dp_breaker_failure(th.breakers, "tiny", 2, 5000, now + 1);
    CHECK(!dp_breaker_allows(th.breakers, "tiny", now + 2));
    CHECK(dp_route_next(&r) == r.cand[1] && r.next_cand == 2);
    /* mid and strong open too: the least recently failed of the rest (strong failed earlier) */
    dp_breaker_failure(th.breakers, "strong", 1, 5000, now + 3);
    dp_breaker_failure(th.breakers, "mid", 1, 5000, now + 4);
    r.next_cand = 0;
    const dp_model_t *m = dp_route_next(&r);
    CHECK(m != NULL && strcmp(m->id, "tiny") == 0); /* tiny's last failure (now+1) is the oldest */
    CHECK(dp_route_next(&r) != NULL && r.next_cand == 2);
    CHECK(dp_route_next(&r) != NULL && r.next_cand == 3);
    CHECK(dp_route_next(&r) == NULL);
    /* half-open after the cooldown: one trial, then closed on success */
    uint64_t later = now + 6000ull * 1000000ull;
    CHECK(dp_breaker_allows(th.breakers, "mid", later));
    dp_breaker_attempt(th.breakers, "mid", later);
    CHECK(dp_breaker_state(th.breakers, "mid", later) == DP_BREAKER_HALF_OPEN);
    CHECK(!dp_breaker_allows(th.breakers, "mid", later)); /* the trial is out */
    dp_breaker_success(th.breakers, "mid", 1200, later + 1);
    CHECK(dp_breaker_state(th.breakers, "mid", later + 2) == DP_BREAKER_CLOSED);
    CHECK(dp_breaker_ttft_us(th.breakers, "mid") == 1200);
    /* a failed trial opens for twice as long */
    CHECK(dp_breaker_allows(th.breakers, "strong", later));
    dp_breaker_attempt(th.breakers, "strong", later);
    dp_breaker_failure(th.breakers, "strong", 1, 5000, later + 1);
    CHECK(!dp_breaker_allows(th.breakers, "strong", later + 9000ull * 1000000ull));
    CHECK(dp_breaker_allows(th.breakers, "strong", later + 10001ull * 1000000ull));
    /* a 429's retry-after cools a closed model */
    dp_breaker_cool(th.breakers, "mid", 2, later + 10);
    CHECK(!dp_breaker_allows(th.breakers, "mid", later + 1000000000ull));
    CHECK(dp_breaker_allows(th.breakers, "mid", later + 2100000000ull));
    dp_breakers_destroy(th.breakers);
}

/* Routes one chat body with the snapshot and key; the caller frees r->arena. */
static sy_err_t route_body(dp_req_t *r, h2o_req_t *req, dp_snapshot_t *s, const dp_key_t *key,
                           const char *body, dp_thread_t *th)
{
    memset(r, 0, sizeof(*r));
    memset(req, 0, sizeof(*req));
    req->entity = h2o_iovec_init(body, strlen(body));
    r->body_src = req->entity;
    r->req = req;
    r->in = &dp_openai_inbound;
    r->snap = s;
    r->ep = DP_EP_CHAT;
    r->key = key;
    r->th = th;
    char msg[512];
    const char *param;
    sy_err_t e = dp_body_parse(r, msg, sizeof(msg), &param);
    return e == SY_E_OK ? dp_route(r, msg, sizeof(msg), &param) : e;
}

/* @fast with observed times to first byte: the fastest of the tier first, though it costs more. */
static void test_fast_observed(dp_snapshot_t *s, const dp_key_t *all)
{
    dp_thread_t th;
    memset(&th, 0, sizeof(th));
    th.breakers = dp_breakers_create();
    uint64_t now = dp_now_ns();
    dp_breaker_success(th.breakers, "tiny", 900, now);
    dp_breaker_success(th.breakers, "strong", 300, now);
    dp_req_t r;
    h2o_req_t req;
    CHECK(route_body(&r, &req, s, all, fmt("auto", "@fast " EASY, NULL), &th) == SY_E_OK);
    CHECK(r.objective == DP_OBJ_LATENCY && r.ncand == 2);
    CHECK(r.ncand >= 1 && strcmp(r.cand[0]->id, "strong") == 0);
    CHECK(r.reason && strstr(r.reason, "lowest observed time to first byte (300 us)") != NULL);
    sy_arena_free(&r.arena);
    dp_breakers_destroy(th.breakers);
}

/* A model with zero weights: every prompt gets the biases' probabilities. */
static dp_classify_model_t *fixed_model(float p_easy, float p_medium, float p_hard)
{
    size_t rows = 1u << 10;
    float *w = calloc(rows * DP_CLASSIFY_OUTPUTS, sizeof *w);
    float b[DP_CLASSIFY_OUTPUTS] = {0};
    b[DP_TASK_CODE] = 5.0f;
    b[DP_TASK_COUNT + 0] = logf(p_easy);
    b[DP_TASK_COUNT + 1] = logf(p_medium);
    b[DP_TASK_COUNT + 2] = logf(p_hard);
    void *buf;
    size_t len;
    dp_classify_model_t *m = NULL;
    if (w && dp_classify_model_serialize(10, w, b, &buf, &len) == 0) {
        dp_classify_model_parse(buf, len, &m, NULL, 0);
        free(buf);
    }
    free(w);
    return m;
}

/* Unsure about difficulty: cost and balanced take the next harder level's bar, and say so; the
 * confidence fields carry the classifier's probabilities. */
static void test_lean(dp_snapshot_t *s, const dp_key_t *all)
{
    const dp_classify_model_t *real = dp_router_classifier;
    dp_req_t r;
    h2o_req_t req;

    /* easy 0.50, medium 0.35, hard 0.15: the harder levels have 0.50 >= 0.40 -> medium's bar */
    dp_classify_model_t *unsure = fixed_model(0.50f, 0.35f, 0.15f);
    CHECK(unsure != NULL);
    dp_router_classifier = unsure;
    CHECK(route_body(&r, &req, s, all, fmt("strategy:cost", "anything", NULL), NULL) == SY_E_OK);
    CHECK(r.task == SY_TASK_CODE && r.difficulty == SY_DIFF_MEDIUM && r.diff_leaned == 1);
    CHECK(r.task_conf > 0.9f && r.diff_conf > 0.49f && r.diff_conf < 0.51f);
    /* code bar for medium is 0.75: tiny (0.55) no longer clears it, mid (0.80) does */
    CHECK(r.ncand >= 1 && strcmp(r.cand[0]->id, "mid") == 0);
    CHECK(r.reason &&
          strstr(r.reason, "difficulty uncertain (easy 0.50, harder 0.50): routed as medium") != NULL);
    sy_arena_free(&r.arena);

    /* the quality objective and an explicit model do not lean: difficulty stays the classifier's */
    CHECK(route_body(&r, &req, s, all, fmt("strategy:quality", "anything", NULL), NULL) == SY_E_OK);
    CHECK(r.difficulty == SY_DIFF_EASY && r.diff_leaned == 0);
    sy_arena_free(&r.arena);
    /* a named model is not classified by default (routing.classify "routed") ... */
    CHECK(route_body(&r, &req, s, all, fmt("mid", "anything", NULL), NULL) == SY_E_OK);
    CHECK(r.task == -1 && r.difficulty == -1 && r.task_conf < 0 && r.diff_leaned == 0);
    CHECK(r.ncand == 1 && strcmp(r.cand[0]->id, "mid") == 0);
    sy_arena_free(&r.arena);
    /* ... with "all" it is, and does not lean */
    s->routing.classify_all = 1;
    CHECK(route_body(&r, &req, s, all, fmt("mid", "anything", NULL), NULL) == SY_E_OK);
    CHECK(r.difficulty == SY_DIFF_EASY && r.diff_leaned == 0 && r.task_conf > 0.9f);
    sy_arena_free(&r.arena);
    s->routing.classify_all = 0;
    /* @cheap promises the cheapest whatever the difficulty: no lean either */
    CHECK(route_body(&r, &req, s, all, fmt("auto", "@cheap anything", NULL), NULL) == SY_E_OK);
    CHECK(r.diff_leaned == 0 && r.ncand >= 1 && strcmp(r.cand[0]->id, "tiny") == 0);
    sy_arena_free(&r.arena);
    dp_classify_model_free(unsure);

    /* confident (easy 0.80): no lean, the cheapest that clears the easy bar */
    dp_classify_model_t *sure = fixed_model(0.80f, 0.15f, 0.05f);
    dp_router_classifier = sure;
    CHECK(route_body(&r, &req, s, all, fmt("strategy:cost", "anything", NULL), NULL) == SY_E_OK);
    CHECK(r.difficulty == SY_DIFF_EASY && r.diff_leaned == 0);
    CHECK(r.reason && strstr(r.reason, "uncertain") == NULL);
    sy_arena_free(&r.arena);
    /* hard is the top: nothing harder to lean to */
    dp_classify_model_free(sure);
    dp_classify_model_t *top = fixed_model(0.05f, 0.45f, 0.50f);
    dp_router_classifier = top;
    CHECK(route_body(&r, &req, s, all, fmt("strategy:cost", "anything", NULL), NULL) == SY_E_OK);
    CHECK(r.difficulty == SY_DIFF_HARD && r.diff_leaned == 0);
    sy_arena_free(&r.arena);
    dp_classify_model_free(top);

    /* no classifier: chat/medium, no confidence */
    dp_router_classifier = NULL;
    CHECK(route_body(&r, &req, s, all, fmt("strategy:cost", "anything", NULL), NULL) == SY_E_OK);
    CHECK(r.task == SY_TASK_CHAT && r.difficulty == SY_DIFF_MEDIUM && r.task_conf < 0 && r.diff_conf < 0);
    sy_arena_free(&r.arena);
    dp_router_classifier = real;
}

/* The classifier sees the system prompt and earlier turns as context, the last user message as
 * the request: a translator persona and an earlier chat do not make a code request translation. */
static void test_context(dp_snapshot_t *s, const dp_key_t *all)
{
    const char *body =
        "{\"model\":\"auto\",\"messages\":[{\"role\":\"system\",\"content\":\"You are a professional "
        "translator.\"},"
        "{\"role\":\"user\",\"content\":\"Translate 'good night' into "
        "Italian.\"},{\"role\":\"assistant\",\"content\":"
        "\"Buona notte.\"},{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Thanks! Different "
        "thing: write "
        "a Python function that removes duplicate rows from a CSV file and keeps the header.\"}]}]}";
    dp_req_t r;
    h2o_req_t req;
    CHECK(route_body(&r, &req, s, all, body, NULL) == SY_E_OK);
    CHECK(r.task == SY_TASK_CODE);
    CHECK(r.task_conf > 0 && r.task_conf <= 1 && r.diff_conf > 0 && r.diff_conf <= 1);
    sy_arena_free(&r.arena);
    /* and a follow-up that asks for a translation of earlier text is translation */
    const char *follow =
        "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"Write a short welcome note for "
        "our new volunteers.\"},{\"role\":\"assistant\",\"content\":\"Welcome aboard! We are so glad you "
        "joined.\"},{\"role\":\"user\",\"content\":\"Now translate that into Spanish.\"}]}";
    CHECK(route_body(&r, &req, s, all, follow, NULL) == SY_E_OK);
    CHECK(r.task == SY_TASK_TRANSLATION);
    sy_arena_free(&r.arena);
}

/* The shipped catalog has a tier for every industry docs/routing.md names, on chat models, and
 * industry:<name> routes within it. */
static void test_shipped_industries(void)
{
    char path[1024], err[512];
    snprintf(path, sizeof(path), "%s/deploy/catalog.json", SY_REPO_DIR);
    FILE *fp = fopen(path, "rb");
    CHECK(fp != NULL);
    if (fp == NULL)
        return;
    static char text[1 << 16];
    size_t n = fread(text, 1, sizeof(text) - 1, fp);
    fclose(fp);
    text[n] = 0;
    dp_snapshot_t *s = dp_config_parse(text, n, 1, err, sizeof(err));
    CHECK(s != NULL);
    if (s == NULL) {
        fprintf(stderr, "deploy/catalog.json: %s\n", err);
        return;
    }
    static const char *const industries[] = {"legal", "healthcare", "finance"};
    for (size_t i = 0; i < sizeof(industries) / sizeof(industries[0]); i++) {
        size_t tagged = 0;
        for (size_t k = 0; k < s->nmodels; k++)
            for (size_t t = 0; t < s->models[k].ntiers; t++)
                if (strcmp(s->models[k].tiers[t], industries[i]) == 0 && (s->models[k].caps & DP_CAP_CHAT))
                    tagged++;
        CHECK(tagged >= 2);
    }
    dp_snapshot_unref(s);
}

int main(void)
{
    sy_json_hooks_install();
    uint8_t h[32];
    sy_sha256("sk-route-all-0001", 17, h);
    sy_hex(h, 32, hex_all);
    sy_sha256("sk-route-scoped-2", 17, h);
    sy_hex(h, 32, hex_scoped);
    char err[512];
    dp_classify_model_t *clf = NULL;
    if (dp_classify_model_load(SY_CLASSIFIER_MODEL, &clf, err, sizeof(err)) != 0) {
        fprintf(stderr, "classifier: %s\n", err);
        return 1;
    }
    dp_router_classifier = clf;
    const char *text = catalog();
    dp_snapshot_t *s = dp_config_parse(text, strlen(text), 1, err, sizeof(err));
    if (s == NULL) {
        fprintf(stderr, "catalog: %s\n", err);
        return 1;
    }
    sy_sha256("sk-route-all-0001", 17, h);
    const dp_key_t *all = dp_snapshot_find_key(s, h);
    sy_sha256("sk-route-scoped-2", 17, h);
    const dp_key_t *scoped = dp_snapshot_find_key(s, h);

    const route_case_t cases[] = {
        /* explicit forms */
        {"catalog id", DP_EP_CHAT, 0, fmt("mid", EASY, NULL), SY_E_OK, NULL, "mid", NULL, DP_OBJ_EXPLICIT,
         NULL, "requested"},
        {"provider-qualified id", DP_EP_CHAT, 0, fmt("q/strong", EASY, NULL), SY_E_OK, NULL, "strong", NULL,
         DP_OBJ_EXPLICIT, NULL, NULL},
        {"unknown model", DP_EP_CHAT, 0, fmt("nope", EASY, NULL), SY_E_MODEL_NOT_FOUND, "model", "", NULL, -1,
         NULL, NULL},
        {"out of scope", DP_EP_CHAT, 1, fmt("strong", EASY, NULL), SY_E_MODEL_NOT_ALLOWED, "model", "", NULL,
         -1, NULL, NULL},
        {"models fallbacks", DP_EP_CHAT, 0, fmt("mid", EASY, ",\"models\":[\"strong\",\"mid\",\"tiny\"]"),
         SY_E_OK, NULL, "mid,strong,tiny", NULL, DP_OBJ_EXPLICIT, NULL, NULL},
        {"models and route.fallbacks together: models first, de-duplicated", DP_EP_CHAT, 0,
         fmt("mid", EASY, ",\"models\":[\"strong\"],\"route\":{\"fallbacks\":[\"tiny\",\"strong\"]}"),
         SY_E_OK, NULL, "mid,strong,tiny", NULL, DP_OBJ_EXPLICIT, NULL, NULL},
        {"route.fallbacks outside the scope", DP_EP_CHAT, 1,
         fmt("mid", EASY, ",\"route\":{\"fallbacks\":[\"strong\"]}"), SY_E_MODEL_NOT_ALLOWED,
         "route.fallbacks", "", NULL, -1, NULL, NULL},
        {"route.objective does not turn an explicit model into auto", DP_EP_CHAT, 0,
         fmt("pricey", EASY, ",\"route\":{\"objective\":\"cost\"}"), SY_E_OK, NULL, "pricey", NULL,
         DP_OBJ_EXPLICIT, NULL, NULL},
        /* auto forms */
        {"auto, easy chat: balanced", DP_EP_CHAT, 0, fmt("auto", EASY, NULL), SY_E_OK, NULL, "", NULL,
         DP_OBJ_BALANCED, NULL, "quality per dollar"},
        {"strategy:cost, easy: the cheapest that clears the bar", DP_EP_CHAT, 0,
         fmt("strategy:cost", EASY, NULL), SY_E_OK, NULL, "", "tiny", DP_OBJ_COST, NULL, "cheapest"},
        {"strategy:cost, hard code: a strong model", DP_EP_CHAT, 0, fmt("strategy:cost", HARD_CODE, NULL),
         SY_E_OK, NULL, "", "strong", DP_OBJ_COST, NULL, "clears the hard bar"},
        {"strategy:quality", DP_EP_CHAT, 0, fmt("strategy:quality", EASY, NULL), SY_E_OK, NULL, "", "pricey",
         DP_OBJ_QUALITY, NULL, "highest"},
        {"strategy:latency (nothing observed: all unknown, ties by cost)", DP_EP_CHAT, 0,
         fmt("strategy:latency", EASY, NULL), SY_E_OK, NULL, "", "tiny", DP_OBJ_LATENCY, NULL,
         "time to first byte"},
        {"strategy:bogus", DP_EP_CHAT, 0, fmt("strategy:fastest", EASY, NULL), SY_E_BAD_PARAM, "model", "",
         NULL, -1, NULL, NULL},
        {"route.objective beats the strategy", DP_EP_CHAT, 0,
         fmt("strategy:cost", EASY, ",\"route\":{\"objective\":\"quality\"}"), SY_E_OK, NULL, "", "pricey",
         DP_OBJ_QUALITY, NULL, NULL},
        {"route.task_class overrides the classifier", DP_EP_CHAT, 0,
         fmt("strategy:cost", EASY, ",\"route\":{\"task_class\":\"code\"}"), SY_E_OK, NULL, "", "mid",
         DP_OBJ_COST, NULL, "code quality"},
        {"auto never leaves the key's scope", DP_EP_CHAT, 1, fmt("strategy:quality", HARD_CODE, NULL),
         SY_E_OK, NULL, "mid,tiny", NULL, DP_OBJ_QUALITY, NULL, NULL},
        {"auto filters by capability (tools)", DP_EP_CHAT, 0,
         fmt("strategy:cost", EASY, ",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]"),
         SY_E_OK, NULL, "", "mid", DP_OBJ_COST, NULL, NULL},
        {"auto filters by capability (vision)", DP_EP_CHAT, 0,
         "{\"model\":\"strategy:cost\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
         "\"text\":\"what is "
         "this?\"},{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,AA==\"}}]}]}",
         SY_E_OK, NULL, "strong,pricey", NULL, DP_OBJ_COST, NULL, NULL},
        {"auto filters by context window", DP_EP_CHAT, 0,
         fmt("strategy:cost", EASY, ",\"max_tokens\":100000"), SY_E_OK, NULL, "", "mid", DP_OBJ_COST, NULL,
         NULL},
        {"auto with nothing in scope that fits", DP_EP_CHAT, 1, fmt("auto", EASY, ",\"max_tokens\":150000"),
         SY_E_NO_PROVIDER, NULL, "", NULL, -1, NULL, NULL},
        {"industry: form", DP_EP_CHAT, 0, fmt("industry:legal", EASY, NULL), SY_E_OK, NULL, "mid", NULL,
         DP_OBJ_BALANCED, NULL, "industry"},
        {"metadata.industry with auto", DP_EP_CHAT, 0,
         fmt("auto", EASY, ",\"metadata\":{\"industry\":\"legal\"}"), SY_E_OK, NULL, "mid", NULL,
         DP_OBJ_BALANCED, NULL, NULL},
        {"industry nobody serves: plain auto", DP_EP_CHAT, 0, fmt("industry:mining", EASY, NULL), SY_E_OK,
         NULL, "", NULL, DP_OBJ_BALANCED, NULL, "no model tagged"},
        {"embeddings auto: cheapest embedding model", DP_EP_EMBEDDINGS, 0,
         "{\"model\":\"auto\",\"input\":\"hello\"}", SY_E_OK, NULL, "emb,emb-big", NULL, DP_OBJ_COST, NULL,
         NULL},
        /* tags */
        {"tag picks its tier", DP_EP_CHAT, 0, fmt("auto", "@think what is 2+2", NULL), SY_E_OK, NULL, "",
         NULL, -1, "@think", "tag @think"},
        {"tag and an explicit model: the tag wins, the model is the first fallback", DP_EP_CHAT, 0,
         fmt("tiny", "@think explain monads", NULL), SY_E_OK, NULL, "pricey,strong,tiny", NULL,
         DP_OBJ_QUALITY, "@think", NULL},
        {"tag whose tier is outside the scope: the named model serves", DP_EP_CHAT, 1,
         fmt("tiny", "@think hi", NULL), SY_E_OK, NULL, "tiny", NULL, DP_OBJ_EXPLICIT, "@think", NULL},
        {"first tag in the text wins", DP_EP_CHAT, 0, fmt("auto", "@cheap then @think", NULL), SY_E_OK, NULL,
         "", NULL, -1, "@cheap", NULL},
        {"a tag not configured is text", DP_EP_CHAT, 0, fmt("mid", "@gemini hello", NULL), SY_E_OK, NULL,
         "mid", NULL, DP_OBJ_EXPLICIT, NULL, NULL},
        /* what each tag promises */
        {"@cheap: the cheapest model that can serve the request, whatever its quality (hard code: tiny is "
         "below the bar)",
         DP_EP_CHAT, 0, fmt("auto", "@cheap " HARD_CODE, NULL), SY_E_OK, NULL, "tiny,mid", NULL, DP_OBJ_COST,
         "@cheap", "cheapest of 2 eligible models, whatever their quality"},
        {"@cheap with strategy:quality: the tag's promise beats the form's objective", DP_EP_CHAT, 0,
         fmt("strategy:quality", "@cheap " HARD_CODE, NULL), SY_E_OK, NULL, "", "tiny", DP_OBJ_COST, "@cheap",
         NULL},
        {"@cheap still filters what cannot serve the request (tools: tiny cannot)", DP_EP_CHAT, 0,
         fmt("auto", "@cheap " EASY, ",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]"),
         SY_E_OK, NULL, "mid", NULL, DP_OBJ_COST, "@cheap", NULL},
        {"route.objective beats what a tag implies", DP_EP_CHAT, 0,
         fmt("auto", "@cheap " EASY, ",\"route\":{\"objective\":\"quality\"}"), SY_E_OK, NULL, "mid,tiny",
         NULL, DP_OBJ_QUALITY, "@cheap", NULL},
        {"@fast: latency order within the fast tier (nothing observed: the cheaper first, and the reason "
         "says so)",
         DP_EP_CHAT, 0, fmt("auto", "@fast " EASY, NULL), SY_E_OK, NULL, "tiny,strong", NULL, DP_OBJ_LATENCY,
         "@fast", "no time to first byte observed yet"},
        {"@think: the most capable for the task, even with auto (balanced) as the form", DP_EP_CHAT, 0,
         fmt("auto", "@think " EASY, NULL), SY_E_OK, NULL, "pricey,strong", NULL, DP_OBJ_QUALITY, "@think",
         "highest"},
        {"@opus: the most capable of its tier", DP_EP_CHAT, 0, fmt("strategy:cost", "@opus " HARD_CODE, NULL),
         SY_E_OK, NULL, "pricey,strong", NULL, DP_OBJ_QUALITY, "@opus", "highest code quality"},
        /* route validation */
        {"route not an object", DP_EP_CHAT, 0, fmt("auto", EASY, ",\"route\":[]"), SY_E_BAD_PARAM, "route",
         "", NULL, -1, NULL, NULL},
        {"route unknown field", DP_EP_CHAT, 0, fmt("auto", EASY, ",\"route\":{\"speed\":1}"), SY_E_BAD_PARAM,
         "route", "", NULL, -1, NULL, NULL},
        {"route.objective invalid", DP_EP_CHAT, 0, fmt("auto", EASY, ",\"route\":{\"objective\":\"fast\"}"),
         SY_E_BAD_PARAM, "route.objective", "", NULL, -1, NULL, NULL},
        {"route.max_latency_ms invalid", DP_EP_CHAT, 0,
         fmt("auto", EASY, ",\"route\":{\"max_latency_ms\":0}"), SY_E_BAD_PARAM, "route.max_latency_ms", "",
         NULL, -1, NULL, NULL},
        {"route.task_class invalid", DP_EP_CHAT, 0,
         fmt("auto", EASY, ",\"route\":{\"task_class\":\"poetry\"}"), SY_E_BAD_PARAM, "route.task_class", "",
         NULL, -1, NULL, NULL},
        {"route.fallbacks not names", DP_EP_CHAT, 0, fmt("auto", EASY, ",\"route\":{\"fallbacks\":[1]}"),
         SY_E_BAD_PARAM, "route.fallbacks", "", NULL, -1, NULL, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        run_case(s, all, scoped, &cases[i]);
    test_tag_stripping(s, all);
    test_fast_observed(s, all);
    test_lean(s, all);
    test_context(s, all);
    test_shipped_industries();
    test_breaker_walk(s);

    dp_snapshot_unref(s);
    dp_router_classifier = NULL;
    dp_classify_model_free(clf);
    SY_TEST_MAIN_END();
}
