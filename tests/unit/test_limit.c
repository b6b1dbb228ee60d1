/*
 * dp_limit: GCRA arithmetic with an injected clock (every call takes `now`), fleet shares,
 * all-or-nothing charging across key and workspace, settlement, table reuse, the estimate and
 * the header duration format.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "dp_limit.h"
#include "dp_test_key.h"
#include "sy_test.h"

#define SEC 1000000000ull
#define T0 (1000 * SEC) /* an arbitrary monotonic origin */

static dp_workspace_t ws = {.id = "ws_a", .active = 1};
static dp_workspace_t ws2 = {.id = "ws_b", .active = 1};

static dp_key_t mkkey(uint8_t tag, const dp_workspace_t *w, uint32_t rpm, uint32_t tpm)
{
    dp_key_t k = dp_test_key(tag, (dp_workspace_t *)w);
    k.rpm = rpm;
    k.tpm = tpm;
    return k;
}

static int burst(const dp_key_t *k, uint32_t nodes, int n, int64_t tok, uint64_t now)
{
    int ok = 0;
    dp_limit_view_t v;
    for (int i = 0; i < n; i++)
        ok += dp_limit_admit(k, nodes, 1, tok, now, &v) == DP_LIMIT_OK;
    return ok;
}

static void test_gcra(void)
{
    dp_limit_reset_all();
    dp_key_t k = mkkey(1, &ws, 60, 0);
    dp_limit_view_t v;
    /* burst = the whole per-minute limit, at one instant */
    CHECK(dp_limit_admit(&k, 1, 1, 0, T0, &v) == DP_LIMIT_OK);
    CHECK(v.has_req && v.req_limit == 60 && v.req_remaining == 59 && v.req_reset_ms == 1000);
    CHECK(!v.has_tok);
    CHECK(burst(&k, 1, 100, 0, T0) == 59);
    CHECK(dp_limit_admit(&k, 1, 1, 0, T0, &v) == DP_LIMIT_REQUESTS);
    CHECK(v.refused == DP_LIMIT_REQUESTS && v.retry_after_s == 1 && v.req_remaining == 0);
    CHECK(v.req_reset_ms == 60000);
    /* one request per second refills: at +999 ms still refused, at +1 s one passes */
    CHECK(dp_limit_admit(&k, 1, 1, 0, T0 + SEC - 1000000, &v) == DP_LIMIT_REQUESTS);
    CHECK(dp_limit_admit(&k, 1, 1, 0, T0 + SEC, &v) == DP_LIMIT_OK);
    CHECK(dp_limit_admit(&k, 1, 1, 0, T0 + SEC, &v) == DP_LIMIT_REQUESTS);
    /* 10 s later: 10 more */
    CHECK(burst(&k, 1, 20, 0, T0 + 11 * SEC) == 10);
    /* a full minute idle: the whole burst again */
    CHECK(burst(&k, 1, 100, 0, T0 + 80 * SEC) == 60);
    /* a look (charge 0) never consumes */
    dp_key_t k2 = mkkey(2, &ws, 10, 0);
    for (int i = 0; i < 50; i++)
        CHECK(dp_limit_admit(&k2, 1, 0, 0, T0, &v) == DP_LIMIT_OK);
    CHECK(v.req_remaining == 10 && v.req_reset_ms == 0);
    CHECK(burst(&k2, 1, 20, 0, T0) == 10);
    /* retry-after is the ceiling of the wait: 7 rpm -> one per 8.57 s -> 9 s */
    dp_key_t k3 = mkkey(3, &ws, 7, 0);
    CHECK(burst(&k3, 1, 7, 0, T0) == 7);
    CHECK(dp_limit_admit(&k3, 1, 1, 0, T0, &v) == DP_LIMIT_REQUESTS && v.retry_after_s == 9);
    /* unlimited key: nothing applies, nothing stored */
    dp_key_t k4 = mkkey(4, &ws, 0, 0);
    CHECK(dp_limit_admit(&k4, 1, 1, 1000, T0, &v) == DP_LIMIT_OK && !v.has_req && !v.has_tok && v.set);
}

static void test_shares(void)
{
    dp_limit_reset_all();
    /* 60 rpm on 2 nodes: each admits 30 at once; on 3 nodes ceil(60/3)=20; 7 nodes ceil -> 9 */
    dp_key_t k = mkkey(10, &ws, 60, 0);
    CHECK(burst(&k, 2, 100, 0, T0) == 30);
    dp_key_t k2 = mkkey(11, &ws, 60, 0);
    CHECK(burst(&k2, 3, 100, 0, T0) == 20);
    dp_key_t k3 = mkkey(12, &ws, 60, 0);
    CHECK(burst(&k3, 7, 100, 0, T0) == 9);
    /* the share grows (a node left): the debt is kept in time, so the used fraction is kept.
     * k used its whole share of 30 at T0 (60 s of debt); 4 s later with 1 node the debt is
     * 56 s = 56 of 60 units: 4 left. After a minute: all 60. */
    CHECK(burst(&k, 1, 100, 0, T0 + 4 * SEC) == 4);
    CHECK(burst(&k, 1, 100, 0, T0 + 4 * SEC + 60 * SEC) == 60);
    /* nodes 0 reads as 1 */
    dp_key_t k4 = mkkey(13, &ws, 5, 0);
    CHECK(burst(&k4, 0, 10, 0, T0) == 5);
}

static void test_tokens_and_workspace(void)
{
    dp_limit_reset_all();
    dp_workspace_t w = {.id = "ws_tok", .active = 1, .rpm = 100, .tpm = 1000};
    dp_key_t a = mkkey(20, &w, 0, 600), b = mkkey(21, &w, 0, 0);
    dp_limit_view_t v;
    /* a: key tpm 600 binds before the workspace's 1000 */
    CHECK(dp_limit_admit(&a, 1, 1, 250, T0, &v) == DP_LIMIT_OK);
    CHECK(v.has_tok && v.tok_limit == 600 && v.tok_remaining == 350 && v.est_tokens == 250);
    CHECK(v.has_req && v.req_limit == 100 && v.req_remaining == 99); /* the workspace's rpm */
    CHECK(dp_limit_admit(&a, 1, 1, 250, T0, &v) == DP_LIMIT_OK);
    /* 100 left on the key: refused for tokens, and nothing charged anywhere (all or none) */
    CHECK(dp_limit_admit(&a, 1, 1, 250, T0, &v) == DP_LIMIT_TOKENS);
    CHECK(v.refused == DP_LIMIT_TOKENS && v.est_tokens == 0 && v.retry_after_s == 15);
    CHECK(dp_limit_admit(&b, 1, 0, 0, T0, &v) == DP_LIMIT_OK);
    CHECK(v.tok_remaining == 500 && v.req_remaining == 98 && v.tok_limit == 1000);
    /* b shares the workspace bucket: 500 left */
    CHECK(dp_limit_admit(&b, 1, 1, 400, T0, &v) == DP_LIMIT_OK && v.tok_remaining == 100);
    CHECK(dp_limit_admit(&b, 1, 1, 200, T0, &v) == DP_LIMIT_TOKENS);
    /* settlement: b's 400-token estimate was really 100 -> 300 credited to the workspace */
    dp_limit_settle(&b, 1, 400, 100, T0);
    CHECK(dp_limit_admit(&b, 1, 0, 0, T0, &v) == DP_LIMIT_OK && v.tok_remaining == 400);
    /* a debit beyond the bucket: 2000 more than estimated -> the workspace waits */
    dp_limit_settle(&b, 1, 0, 2000, T0);
    CHECK(dp_limit_admit(&b, 1, 1, 1, T0, &v) == DP_LIMIT_TOKENS);
    CHECK(v.retry_after_s > 60);
    /* a request bigger than the whole share passes on a full bucket and empties it */
    dp_workspace_t w2 = {.id = "ws_big", .active = 1};
    dp_key_t c = mkkey(22, &w2, 0, 100);
    CHECK(dp_limit_admit(&c, 1, 1, 5000, T0, &v) == DP_LIMIT_OK && v.tok_remaining == 0);
    CHECK(dp_limit_admit(&c, 1, 1, 1, T0, &v) == DP_LIMIT_TOKENS);
    /* the request limit wins the reason when both refuse */
    dp_key_t d = mkkey(23, &w2, 1, 10);
    CHECK(dp_limit_admit(&d, 1, 1, 10, T0, &v) == DP_LIMIT_OK);
    CHECK(dp_limit_admit(&d, 1, 1, 10, T0, &v) == DP_LIMIT_REQUESTS);
    (void)ws2;
}

static void test_table(void)
{
    dp_limit_reset_all();
    /* many distinct keys: entries are reused once their buckets are full again, so a long run
     * of one-off keys never fills the table */
    dp_limit_view_t v;
    char buf[2048];
    int refused = 0;
    for (uint32_t i = 0; i < 200000; i++) {
        dp_key_t k = mkkey(0, &ws, 1000, 0);
        memcpy(k.sha256, &i, sizeof(i));
        k.sha256[7] = (uint8_t)(i >> 3);
        k.tid = dp_key_tid(k.sha256);
        /* each key used once, 1 s apart in the injected clock: a 1000-rpm bucket refills 60 ms
         * of debt well within that */
        refused += dp_limit_admit(&k, 1, 1, 0, T0 + (uint64_t)i * SEC, &v) != DP_LIMIT_OK;
    }
    CHECK(refused == 0);
    dp_limit_metrics_render(buf, sizeof(buf));
    CHECK(strstr(buf, "switchyard_ratelimit_table_full_total 0\n") != NULL);
    /* all active at one instant: the window fills and the table fails open, counted */
    dp_limit_reset_all();
    for (uint32_t i = 0; i < 40000; i++) {
        dp_key_t k = mkkey(0, &ws, 1, 0);
        memcpy(k.sha256 + 1, &i, sizeof(i)); /* not byte 0: its top bit is the key/workspace domain */
        k.tid = dp_key_tid(k.sha256);
        (void)dp_limit_admit(&k, 1, 1, 0, T0, &v);
    }
    dp_limit_metrics_render(buf, sizeof(buf));
    CHECK(strstr(buf, "switchyard_ratelimit_table_full_total 0\n") == NULL);
    CHECK(strstr(buf, "switchyard_ratelimit_refused_total{reason=\"rate_limited_requests\"} 0\n") != NULL);
}

static void test_estimate_and_format(void)
{
    const char b1[] =
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":50}";
    CHECK(dp_limit_estimate(b1, sizeof(b1) - 1, 0) == (int64_t)(sizeof(b1) - 1) / 4 + 50);
    const char b2[] = "{\"model\":\"m\",\"messages\":[{\"content\":\"\\\"max_tokens\\\":9\"}]}";
    CHECK(dp_limit_estimate(b2, sizeof(b2) - 1, 0) ==
          (int64_t)(sizeof(b2) - 1) / 4 + DP_LIMIT_DEFAULT_COMPLETION);
    const char b3[] = "{\"max_completion_tokens\":7,\"x\":[1,2";
    CHECK(dp_limit_estimate(b3, sizeof(b3) - 1, 0) ==
          (int64_t)(sizeof(b3) - 1) / 4 + DP_LIMIT_DEFAULT_COMPLETION);
    CHECK(dp_limit_estimate(b1, sizeof(b1) - 1, 1) == (int64_t)(sizeof(b1) - 1) / 4);
    CHECK(dp_limit_estimate(NULL, 0, 0) == DP_LIMIT_DEFAULT_COMPLETION);
    char d[32];
    dp_limit_format_duration(0, d);
    CHECK_STR(d, "0ms");
    dp_limit_format_duration(250, d);
    CHECK_STR(d, "250ms");
    dp_limit_format_duration(1000, d);
    CHECK_STR(d, "1s");
    dp_limit_format_duration(1500, d);
    CHECK_STR(d, "1.5s");
    dp_limit_format_duration(2050, d);
    CHECK_STR(d, "2.05s");
    dp_limit_format_duration(360000, d);
    CHECK_STR(d, "6m0s");
    CHECK(dp_limit_format_duration(59999, d) == 7);
    CHECK_STR(d, "59.999s");
    dp_limit_format_duration(1005, d);
    CHECK_STR(d, "1.005s");
    dp_limit_format_duration(1100, d);
    CHECK_STR(d, "1.1s");
    CHECK(dp_limit_format_duration(999, d) == 5);
    CHECK_STR(d, "999ms");
    dp_limit_format_duration(61500, d);
    CHECK_STR(d, "1m1s");
    dp_limit_format_duration(UINT64_MAX, d); /* no overflow of the 32-byte buffer */
    CHECK(strlen(d) < 32 && d[strlen(d) - 1] == 's');
}

/* Two threads hammering one key at one instant admit exactly the burst: the stripe lock makes
 * check-and-charge atomic. */
static dp_key_t shared_key;
static int admitted[2];
static void *hammer(void *p)
{
    int *out = p;
    dp_limit_view_t v;
    for (int i = 0; i < 5000; i++)
        *out += dp_limit_admit(&shared_key, 1, 1, 0, T0, &v) == DP_LIMIT_OK;
    return NULL;
}

static void test_threads(void)
{
    dp_limit_reset_all();
    shared_key = mkkey(40, &ws, 1000, 0);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, hammer, &admitted[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    CHECK(admitted[0] + admitted[1] == 1000);
}

int main(void)
{
    test_gcra();
    test_shares();
    test_tokens_and_workspace();
    test_table();
    test_estimate_and_format();
    test_threads();
    SY_TEST_MAIN_END();
}
