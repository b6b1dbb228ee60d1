/* Unit tests for the data plane's pure stages: config → snapshot, lookups, the per-thread
 * snapshot holder, body validation (stage 4) and routing (stage 5). */
#include <stdlib.h>
#include <sys/resource.h>

#include "dp.h"
#include "dp_config.h"
#include "sy_test.h"

/* sha256("sk-test-alpha-0001") and sha256("sk-test-beta-00002"), computed in main */
static char hex_alpha[65], hex_beta[65];

static char *config_text(const char *extra_key_fields)
{
    static char buf[4096];
    snprintf(buf, sizeof(buf),
             "{\"timeouts_ms\":{\"connect\":500,\"first_byte\":700},"
             " \"limits\":{\"max_body_bytes\":2048,\"max_json_depth\":8,\"max_attempts\":3},"
             " \"providers\":[{\"id\":\"mock\",\"kind\":\"openai\",\"base_url\":\"http://127.0.0.1:9/v1/\","
             "\"api_key_env\":\"SY_UNIT_KEY\"}],"
             " \"models\":[{\"id\":\"small\",\"provider\":\"mock\",\"upstream\":\"up-small\",\"input_per_m\":\"0.15\","
             "\"output_per_m\":\"0.60\",\"context_window\":128000,\"capabilities\":[\"chat\",\"tools\"]},"
             "{\"id\":\"big\",\"provider\":\"mock\",\"input_per_m\":\"2.5\",\"output_per_m\":\"10\"},"
             "{\"id\":\"emb\",\"provider\":\"mock\",\"capabilities\":[\"embeddings\"]}],"
             " \"workspaces\":[{\"id\":\"ws1\"},{\"id\":\"ws_off\",\"active\":false}],"
             " \"keys\":[{\"id\":\"k_alpha\",\"sha256\":\"%s\",\"workspace\":\"ws1\"%s},"
             "{\"id\":\"k_beta\",\"sha256\":\"%s\",\"workspace\":\"ws_off\",\"allowed_models\":[\"small\"]}],"
             " \"ignored_section\":{\"x\":1}}",
             hex_alpha, extra_key_fields, hex_beta);
    return buf;
}

static dp_snapshot_t *load(const char *text, char *err)
{
    return dp_config_parse(text, strlen(text), 7, err, 256);
}

static void test_config(void)
{
    char err[256] = "";
    setenv("SY_UNIT_KEY", "sk-upstream-secret", 1);
    dp_snapshot_t *s = load(config_text(""), err);
    CHECK(s != NULL);
    if (s == NULL) {
        fprintf(stderr, "  config error: %s\n", err);
        return;
    }
    CHECK(s->version == 7);
    CHECK(s->nmodels == 3 && s->nkeys == 2 && s->nproviders == 1);
    CHECK(s->timeouts.connect_ms == 500 && s->timeouts.first_byte_ms == 700);
    CHECK(s->timeouts.idle_ms == 60000); /* default kept */
    CHECK(s->limits.max_body_bytes == 2048);
    CHECK(s->limits.max_inflight == dp_max_inflight_default()); /* not set: the default */
    CHECK(dp_max_inflight_default() >= DP_MAX_INFLIGHT_FLOOR &&
          dp_max_inflight_default() <= DP_MAX_INFLIGHT_DEFAULT);
    CHECK_STR(s->providers[0].chat_url, "http://127.0.0.1:9/v1/chat/completions"); /* trailing slash trimmed */
    CHECK_STR(s->providers[0].credential, "sk-upstream-secret");
    const dp_model_t *m = dp_snapshot_find_model(s, "small", 5);
    CHECK(m != NULL && m->input_per_m == 150000000 && m->output_per_m == 600000000);
    CHECK(m && (m->caps & DP_CAP_TOOLS) && (m->caps & DP_CAP_CHAT));
    CHECK(dp_snapshot_find_model(s, "mock/small", 10) == m);
    CHECK(dp_snapshot_find_model(s, "mock/smal", 9) == NULL);
    CHECK(dp_snapshot_find_model(s, "nope", 4) == NULL);
    const dp_model_t *big = dp_snapshot_find_model(s, "big", 3);
    CHECK(big && strcmp(big->upstream, "big") == 0); /* upstream defaults to the id */
    CHECK(big && big->input_per_m == 2500000000 && big->output_per_m == 10000000000);
    uint8_t h[32];
    sy_sha256("sk-test-alpha-0001", 18, h);
    const dp_key_t *k = dp_snapshot_find_key(s, h);
    CHECK(k != NULL && strcmp(k->id, "k_alpha") == 0 && k->allowed == NULL);
    sy_sha256("sk-test-beta-00002", 18, h);
    const dp_key_t *kb = dp_snapshot_find_key(s, h);
    CHECK(kb != NULL && kb->nallowed == 1 && !kb->workspace->active);
    CHECK(kb && dp_key_allows(kb, m) && !dp_key_allows(kb, big));
    sy_sha256("sk-unknown", 10, h);
    CHECK(dp_snapshot_find_key(s, h) == NULL);
    dp_snapshot_unref(s);

    /* rejected files: each names what is wrong */
    static const char *const bad[] = {
        "{",
        "[]",
        "{\"providers\":{}}",
        "{\"providers\":[{\"id\":\"p\",\"kind\":\"openai\",\"base_url\":\"ftp://x\"}]}",
        "{\"providers\":[{\"id\":\"p\",\"kind\":\"martian\",\"base_url\":\"http://x\"}]}",
        "{\"providers\":[{\"id\":\"p\",\"kind\":\"openai\",\"base_url\":\"http://x\"}],"
        "\"models\":[{\"id\":\"m\",\"provider\":\"q\"}]}",
        "{\"providers\":[{\"id\":\"p\",\"kind\":\"openai\",\"base_url\":\"http://x\"}],"
        "\"models\":[{\"id\":\"m\",\"provider\":\"p\",\"input_per_m\":0.15}]}",
        "{\"providers\":[{\"id\":\"p\",\"kind\":\"openai\",\"base_url\":\"http://x\"}],"
        "\"models\":[{\"id\":\"m\",\"provider\":\"p\",\"upstream\":\"a\\r\\nX-Evil: 1\"}]}",
        "{\"providers\":[{\"id\":\"p\",\"kind\":\"openai\",\"base_url\":\"http://x\"}],"
        "\"models\":[{\"id\":\"m\",\"provider\":\"p\"},{\"id\":\"m\",\"provider\":\"p\"}]}",
        "{\"providers\":[{\"id\":\"p\",\"kind\":\"openai\",\"base_url\":\"http://x\",\"surprise\":1}]}",
        "{\"workspaces\":[{\"id\":\"w\"}],\"keys\":[{\"id\":\"k\",\"sha256\":\"abc\",\"workspace\":\"w\"}]}",
        "{\"workspaces\":[{\"id\":\"w\"}],\"keys\":[{\"id\":\"k\",\"sha256\":"
        "\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\",\"workspace\":\"nope\"}]}",
        "{\"limits\":{\"max_attempts\":99}}",
        "{\"limits\":{\"max_inflight\":1000001}}",
        "{\"limits\":{\"max_inflight\":-1}}",
        "{\"timeouts_ms\":{\"connect\":-1}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        dp_snapshot_t *b = load(bad[i], err);
        CHECK(b == NULL);
        CHECK(err[0] != '\0');
        if (b)
            fprintf(stderr, "  accepted bad config %zu\n", i);
        dp_snapshot_unref(b);
    }
    /* limits.max_inflight: the node's in-flight cap, from the file */
    {
        static const char one[] = "{\"limits\":{\"max_inflight\":37}}";
        dp_snapshot_t *c = load(one, err);
        CHECK(c != NULL && c->limits.max_inflight == 37);
        dp_snapshot_unref(c);
    }
    /* its default follows RLIMIT_NOFILE: two descriptors per request, 64 kept aside */
    {
        struct rlimit old, low = {.rlim_cur = 256, .rlim_max = 0};
        if (getrlimit(RLIMIT_NOFILE, &old) == 0) {
            low.rlim_max = old.rlim_max;
            if (old.rlim_max >= 256 && setrlimit(RLIMIT_NOFILE, &low) == 0) {
                CHECK(dp_max_inflight_default() == (256 - 64) / 2);
                low.rlim_cur = 70; /* a floor, not zero */
                if (setrlimit(RLIMIT_NOFILE, &low) == 0)
                    CHECK(dp_max_inflight_default() == DP_MAX_INFLIGHT_FLOOR);
                setrlimit(RLIMIT_NOFILE, &old);
            }
        }
    }
    /* a credential with CR/LF would inject headers upstream: rejected */
    setenv("SY_UNIT_KEY", "sk-x\r\nX-Evil: 1", 1);
    CHECK(load(config_text(""), err) == NULL);
    setenv("SY_UNIT_KEY", "sk-upstream-secret", 1);
}

static void test_holder(void)
{
    char err[256];
    dp_snapshot_holder_t h = {0};
    CHECK(dp_holder_borrow(&h) == NULL); /* nothing published yet */
    dp_snapshot_t *a = load(config_text(""), err);
    dp_snapshot_ref(a); /* keep a test reference to observe the count */
    dp_snapshot_publish(a);
    dp_snapshot_t *b1 = dp_holder_borrow(&h);
    dp_snapshot_t *b2 = dp_holder_borrow(&h);
    CHECK(b1 == a && b2 == a);
    CHECK(atomic_load(&a->refs) == 3); /* test + global + holder: borrowing does not touch it */
    dp_snapshot_t *n = load(config_text(""), err);
    dp_snapshot_publish(n);
    CHECK(atomic_load(&a->refs) == 2); /* global dropped; holder still has it for two requests */
    dp_snapshot_t *b3 = dp_holder_borrow(&h);
    CHECK(b3 == n);
    dp_holder_return(&h, b1);
    CHECK(atomic_load(&a->refs) == 2);
    dp_holder_return(&h, b2); /* last borrower of the old one: released */
    CHECK(atomic_load(&a->refs) == 1);
    dp_holder_return(&h, b3);
    dp_holder_dispose(&h);
    dp_snapshot_unref(a);
    dp_snapshot_publish(NULL);
}

/* ---- stage 4 and 5 with a request that has no network behind it ---- */

static sy_err_t parse(dp_snapshot_t *s, dp_endpoint_t ep, const char *body, const char **param, dp_req_t *r,
                      h2o_req_t *req)
{
    memset(r, 0, sizeof(*r));
    memset(req, 0, sizeof(*req));
    req->entity = h2o_iovec_init(body, strlen(body));
    r->body_src = req->entity; /* stage 4 parses body_src (dp.h) */
    r->in = &dp_openai_inbound;
    r->req = req;
    r->body_src = req->entity; /* stage 4 parses body_src (dp_accept.c sets it) */
    r->in = &dp_openai_inbound;
    r->snap = s;
    r->ep = ep;
    char msg[256];
    return dp_body_parse(r, msg, sizeof(msg), param);
}

static void test_body_and_route(void)
{
    char err[256];
    dp_snapshot_t *s = load(config_text(""), err);
    dp_req_t r;
    h2o_req_t req;
    const char *param;
    static const struct {
        const char *body;
        sy_err_t want;
        const char *param;
    } cases[] = {
        {"{\"model\":\"small\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", SY_E_OK, NULL},
        {"{\"model\":\"small\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}  \n", SY_E_OK, NULL},
        {"", SY_E_BAD_JSON, NULL},
        {"{", SY_E_BAD_JSON, NULL},
        {"{\"model\":\"small\"} trailing", SY_E_BAD_JSON, NULL},
        {"[1,2]", SY_E_BAD_JSON, NULL},
        {"{\"model\":\"small\",\"messages\":[[[[[[[[[[1]]]]]]]]]]}", SY_E_BAD_JSON, NULL},
        {"{\"model\":\"sm\xff\",\"messages\":[]}", SY_E_BAD_JSON, NULL},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", SY_E_BAD_PARAM, "model"},
        {"{\"model\":5,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", SY_E_BAD_PARAM, "model"},
        {"{\"model\":\"a\\r\\nb\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", SY_E_BAD_PARAM, "model"},
        {"{\"model\":\"small\"}", SY_E_BAD_PARAM, "messages"},
        {"{\"model\":\"small\",\"messages\":[]}", SY_E_BAD_PARAM, "messages"},
        {"{\"model\":\"small\",\"messages\":\"x\"}", SY_E_BAD_PARAM, "messages"},
        {"{\"model\":\"small\",\"messages\":[{\"role\":\"wizard\",\"content\":\"hi\"}]}", SY_E_BAD_PARAM,
         "messages.role"},
        {"{\"model\":\"small\",\"messages\":[{\"role\":\"user\",\"content\":5}]}", SY_E_BAD_PARAM, "messages.content"},
        {"{\"model\":\"small\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"temperature\":2.5}", SY_E_BAD_PARAM,
         "temperature"},
        {"{\"model\":\"small\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"temperature\":\"hot\"}", SY_E_BAD_PARAM,
         "temperature"},
        {"{\"model\":\"small\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"top_p\":1.5}", SY_E_BAD_PARAM, "top_p"},
        {"{\"model\":\"small\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":0}", SY_E_BAD_PARAM, "max_tokens"},
        {"{\"model\":\"small\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":1.5}", SY_E_BAD_PARAM,
         "max_tokens"},
        {"{\"model\":\"small\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":\"yes\"}", SY_E_BAD_PARAM, "stream"},
        {"{\"model\":\"small\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"tools\":{}}", SY_E_BAD_PARAM, "tools"},
        {"{\"model\":\"small\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"models\":[1]}", SY_E_BAD_PARAM, "models"},
        {"{\"model\":\"small\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"mod\\u0065l\":\"big\"}", SY_E_BAD_JSON, NULL},
        {"{\"model\":\"small\\u0000x\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", SY_E_BAD_PARAM, "model"},
        {"{\"model\":\"small\",\"models\":[\"big\\u0000\"],\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", SY_E_BAD_PARAM, "models"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sy_err_t e = parse(s, DP_EP_CHAT, cases[i].body, &param, &r, &req);
        if (e != cases[i].want || (cases[i].param && (!param || strcmp(param, cases[i].param) != 0))) {
            sy_test_fail++;
            fprintf(stderr, "body case %zu: got %s param %s, want %s param %s\n", i, sy_strerror(e),
                    param ? param : "-", sy_strerror(cases[i].want), cases[i].param ? cases[i].param : "-");
        } else {
            sy_test_pass++;
        }
        sy_arena_free(&r.arena);
    }
    /* over the body limit */
    char *huge = malloc(4096);
    memset(huge, ' ', 4095);
    huge[4095] = '\0';
    CHECK(parse(s, DP_EP_CHAT, huge, &param, &r, &req) == SY_E_REQUEST_TOO_LARGE);
    free(huge);

    /* stream flags */
    CHECK(parse(s, DP_EP_CHAT,
                "{\"model\":\"small\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":true,"
                "\"stream_options\":{\"include_usage\":true}}",
                &param, &r, &req) == SY_E_OK);
    CHECK(r.stream == 1 && r.client_wants_usage == 1);
    sy_arena_free(&r.arena);

    /* routing: primary then fallbacks, de-duplicated; scope and capability checked */
    uint8_t h[32];
    sy_sha256("sk-test-alpha-0001", 18, h);
    const dp_key_t *alpha = dp_snapshot_find_key(s, h);
    sy_sha256("sk-test-beta-00002", 18, h);
    const dp_key_t *beta = dp_snapshot_find_key(s, h);
    char msg[256];
    CHECK(parse(s, DP_EP_CHAT,
                "{\"model\":\"mock/small\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"models\":[\"big\",\"small\"]}", &param,
                &r, &req) == SY_E_OK);
    r.key = alpha;
    CHECK(dp_route(&r, msg, sizeof(msg), &param) == SY_E_OK);
    CHECK(r.ncand == 2 && strcmp(r.cand[0]->id, "small") == 0 && strcmp(r.cand[1]->id, "big") == 0);
    sy_arena_free(&r.arena);

    /* stage 6: the upstream body is the client's bytes with model rewritten, extensions removed */
    CHECK(parse(s, DP_EP_CHAT,
                "{ \"temperature\" : 0.5, \"model\":\"small\",\"models\":[\"big\"],"
                "\"messages\":[{\"role\":\"user\",\"content\":\"a\\\"}b\"}],\"route\":{\"fallbacks\":[\"big\"]},\"n\":1 }",
                &param, &r, &req) == SY_E_OK);
    r.key = alpha;
    CHECK(dp_route(&r, msg, sizeof(msg), &param) == SY_E_OK);
    r.model = r.cand[0];
    CHECK(r.model->provider->ops->prepare(&r) == 0);
    CHECK_STR(r.up_body, "{\"model\":\"up-small\",\"temperature\" : 0.5,"
                         "\"messages\":[{\"role\":\"user\",\"content\":\"a\\\"}b\"}],\"n\":1}");
    CHECK(r.up_body_len == strlen(r.up_body));
    CHECK_STR(r.up_url, "http://127.0.0.1:9/v1/chat/completions");
    /* the headers: the request's own X-Request-Id line, then the provider's prebuilt block
     * (every line CRLF-terminated, the credential in it) */
    CHECK(r.up_headers.nextra == 1);
    CHECK(r.up_headers.extra[0].len >= 16 && memcmp(r.up_headers.extra[0].base, "X-Request-Id: ", 14) == 0 &&
          memcmp(r.up_headers.extra[0].base + r.up_headers.extra[0].len - 2, "\r\n", 2) == 0);
    CHECK(r.up_headers.fixed.len > 0 && r.up_headers.fixed.base[r.up_headers.fixed.len] == '\0' &&
          strstr(r.up_headers.fixed.base, "\r\nAuthorization: Bearer sk-upstream-secret\r\n") != NULL &&
          strncmp(r.up_headers.fixed.base, "Accept: application/json\r\n", 26) == 0 &&
          memcmp(r.up_headers.fixed.base + r.up_headers.fixed.len - 2, "\r\n", 2) == 0);
    free(r.up_body);
    sy_arena_free(&r.arena);

    CHECK(parse(s, DP_EP_CHAT, "{\"model\":\"nope\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", &param, &r, &req) ==
          SY_E_OK);
    r.key = alpha;
    CHECK(dp_route(&r, msg, sizeof(msg), &param) == SY_E_MODEL_NOT_FOUND);
    sy_arena_free(&r.arena);

    CHECK(parse(s, DP_EP_CHAT, "{\"model\":\"big\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", &param, &r, &req) == SY_E_OK);
    r.key = beta;
    CHECK(dp_route(&r, msg, sizeof(msg), &param) == SY_E_MODEL_NOT_ALLOWED);
    sy_arena_free(&r.arena);

    CHECK(parse(s, DP_EP_CHAT, "{\"model\":\"small\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"models\":[\"big\"]}",
                &param, &r, &req) == SY_E_OK);
    r.key = beta; /* a fallback outside the scope is refused too, before any upstream call */
    CHECK(dp_route(&r, msg, sizeof(msg), &param) == SY_E_MODEL_NOT_ALLOWED);
    CHECK(param && strcmp(param, "models") == 0);
    sy_arena_free(&r.arena);

    CHECK(parse(s, DP_EP_EMBEDDINGS, "{\"model\":\"small\",\"input\":\"x\"}", &param, &r, &req) == SY_E_OK);
    r.key = alpha;
    CHECK(dp_route(&r, msg, sizeof(msg), &param) == SY_E_BAD_PARAM); /* chat model on the embeddings endpoint */
    sy_arena_free(&r.arena);
    CHECK(parse(s, DP_EP_EMBEDDINGS, "{\"model\":\"emb\"}", &param, &r, &req) == SY_E_BAD_PARAM);
    sy_arena_free(&r.arena);
    dp_snapshot_unref(s);
}


/* Standalone aliases: resolved like the model; names and targets checked like the control
 * plane's import. */
static void test_aliases(void)
{
    char err[256] = "", text[4096];
    static const char head[] = "{\"providers\":[{\"id\":\"p\",\"kind\":\"openai\",\"base_url\":\"http://127.0.0.1:9/v1\"}],"
                               "\"models\":[{\"id\":\"m1\",\"provider\":\"p\"},{\"id\":\"m2\",\"provider\":\"p\"}],"
                               "\"aliases\":";
    snprintf(text, sizeof(text), "%s{\"claude-3-5-sonnet\":\"m1\",\"llama3.1\":\"m2\"}}", head);
    dp_snapshot_t *s = load(text, err);
    CHECK(s != NULL && s->naliases == 2);
    if (s) {
        const dp_model_t *m = dp_snapshot_find_model(s, "claude-3-5-sonnet", 17);
        CHECK(m != NULL && strcmp(m->id, "m1") == 0);
        CHECK(dp_snapshot_find_model(s, "llama3.1", 8) == dp_snapshot_find_model(s, "m2", 2));
        CHECK(dp_snapshot_find_alias(s, "llama3.1", 8) != NULL && dp_snapshot_find_alias(s, "m2", 2) == NULL);
        CHECK(dp_snapshot_find_model(s, "llama3", 6) == NULL);
        dp_snapshot_unref(s);
    }
    static const struct {
        const char *aliases, *expect;
    } bad[] = {
        {"{\"m1\":\"m2\"}", "collides with a model id"},
        {"{\"p/m1\":\"m2\"}", "invalid name"},
        {"{\"x\":\"nope\"}", "unknown model"},
        {"{\"x\":\"p/m1\"}", "unknown model"},
        {"{\"a\":\"m1\",\"b\":\"a\"}", "unknown model"},
        {"{\"a\":\"m1\",\"a\":\"m2\"}", "duplicate"},
        {"{\"auto\":\"m1\"}", "invalid name"},
        {"{\"industry:legal\":\"m1\"}", "invalid name"},
        {"{\"\":\"m1\"}", "invalid name"},
        {"{\"x\":true}", "must name a catalog model id"},
        {"[]", "must be an object"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text), "%s%s}", head, bad[i].aliases);
        err[0] = '\0';
        s = load(text, err);
        CHECK(s == NULL && strstr(err, bad[i].expect) != NULL);
        if (s != NULL || strstr(err, bad[i].expect) == NULL)
            fprintf(stderr, "  alias case %zu: %s\n", i, err);
        if (s)
            dp_snapshot_unref(s);
    }
}

static int load_fails(const char *text)
{
    char err[256];
    dp_snapshot_t *s = load(text, err);
    if (s != NULL)
        dp_snapshot_unref(s);
    return s == NULL;
}

/* Cache prices and stream_usage in a standalone config: absent = none / true. */
static void test_config_cache_prices(void)
{
    char err[256] = "";
    static const char text[] =
        "{\"providers\":[{\"id\":\"a\",\"kind\":\"anthropic\",\"base_url\":\"http://127.0.0.1:9/v1\"},"
        "{\"id\":\"o\",\"kind\":\"openai\",\"base_url\":\"http://127.0.0.1:9/v1\",\"stream_usage\":false}],"
        " \"models\":[{\"id\":\"c\",\"provider\":\"a\",\"input_per_m\":\"3\",\"output_per_m\":\"15\","
        "\"cache_read_per_m\":\"0.3\",\"cache_write_per_m\":\"3.75\"},"
        "{\"id\":\"r\",\"provider\":\"a\",\"cache_read_per_m\":\"0\",\"cache_write_per_m\":null},"
        "{\"id\":\"p\",\"provider\":\"o\",\"input_per_m\":\"1\"}]}";
    dp_snapshot_t *s = load(text, err);
    CHECK(s != NULL);
    if (s == NULL) {
        fprintf(stderr, "  config error: %s\n", err);
        return;
    }
    const dp_model_t *c = dp_snapshot_find_model(s, "c", 1), *r = dp_snapshot_find_model(s, "r", 1),
                     *p = dp_snapshot_find_model(s, "p", 1);
    CHECK(c && c->cache_read_per_m == 300000000 && c->cache_write_per_m == 3750000000);
    CHECK(r && r->cache_read_per_m == 0 && r->cache_write_per_m == -1); /* "0" is a price, null is none */
    CHECK(p && p->cache_read_per_m == -1 && p->cache_write_per_m == -1);
    CHECK(c && c->provider->stream_usage == 1);
    CHECK(p && p->provider->stream_usage == 0);
    dp_snapshot_unref(s);
    /* a bool must be a bool; a price a decimal string of USD (not a number, not negative) */
    CHECK(load_fails("{\"providers\":[{\"id\":\"o\",\"kind\":\"openai\",\"base_url\":\"http://x/v1\","
                     "\"stream_usage\":0}]}"));
    CHECK(load_fails("{\"providers\":[{\"id\":\"o\",\"kind\":\"openai\",\"base_url\":\"http://x/v1\"}],"
                     "\"models\":[{\"id\":\"m\",\"provider\":\"o\",\"cache_read_per_m\":0.3}]}"));
    CHECK(load_fails("{\"providers\":[{\"id\":\"o\",\"kind\":\"openai\",\"base_url\":\"http://x/v1\"}],"
                     "\"models\":[{\"id\":\"m\",\"provider\":\"o\",\"cache_write_per_m\":\"-1\"}]}"));
}

int main(void)
{
    sy_json_hooks_install();
    uint8_t h[32];
    sy_sha256("sk-test-alpha-0001", 18, h);
    sy_hex(h, 32, hex_alpha);
    sy_sha256("sk-test-beta-00002", 18, h);
    sy_hex(h, 32, hex_beta);
    test_config();
    test_config_cache_prices();
    test_holder();
    test_body_and_route();
    test_aliases();
    SY_TEST_MAIN_END();
}
