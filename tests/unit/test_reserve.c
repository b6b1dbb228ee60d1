/*
 * dp_reserve: worst-case arithmetic, all-or-nothing reservations against balance and key
 * budget, release/settle exactly once, snapshot baselines (rotation, the double count and its
 * expiry), thousands of entries, and many threads reserving against one workspace never overshooting.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "dp_reserve.h"
#include "dp_test_key.h"
#include "sy_test.h"

#define SEC 1000000000ull
#define T0 (1000 * SEC)
#define USD SY_NANO_PER_USD
#define CENT (USD / 100)

static dp_workspace_t ws = {.id = "ws_r", .active = 1, .has_balance = 1, .balance = USD};

static dp_key_t mkkey(uint8_t tag, const dp_workspace_t *w, sy_nano_t budget, sy_nano_t spent)
{
    dp_key_t k = dp_test_key(tag, (dp_workspace_t *)w);
    k.budget = budget;
    k.spent = spent;
    return k;
}

static void test_worst_case(void)
{
    /* 400 bytes = 100 input tokens at $1/M; max_tokens 1000 at $2/M */
    CHECK(dp_reserve_worst_case(400, 1000, 0, USD, 2 * USD, 8000, 4096) == 100 * 1000 + 1000 * 2000);
    /* max_tokens past the model's room is clamped to context window − input */
    CHECK(dp_reserve_worst_case(400, 100000, 0, USD, 2 * USD, 8000, 4096) == 100 * 1000 + 7900 * 2000);
    /* no max_tokens: the default output, within the context window */
    CHECK(dp_reserve_worst_case(400, 0, 0, USD, 2 * USD, 128000, 4096) == 100 * 1000 + 4096 * 2000);
    CHECK(dp_reserve_worst_case(400, 0, 0, USD, 2 * USD, 2100, 4096) == 100 * 1000 + 2000 * 2000);
    CHECK(dp_reserve_worst_case(400, 0, 0, USD, 2 * USD, 128000, 1u << 30) == 100 * 1000 + 127900 * 2000);
    /* no context window (or input larger): the default as it is */
    CHECK(dp_reserve_worst_case(400, 0, 0, USD, 2 * USD, 0, DP_RESERVE_OUTPUT_TOKENS) ==
          100 * 1000 + DP_RESERVE_OUTPUT_TOKENS * 2000);
    CHECK(dp_reserve_worst_case(400, 0, 0, USD, 2 * USD, 50, 4096) == 100 * 1000 + 4096 * 2000);
    /* embeddings: input only; ceil(bytes/4) */
    CHECK(dp_reserve_worst_case(401, 1000, 1, USD, 2 * USD, 8000, 4096) == 101 * 1000);
    /* saturates instead of overflowing */
    CHECK(dp_reserve_worst_case(UINT64_MAX, INT64_MAX, 0, INT64_MAX, INT64_MAX, 0, 4096) == INT64_MAX);
}

static void test_balance(void)
{
    dp_reserve_reset_all();
    dp_key_t k = mkkey(1, &ws, 0, 0);
    dp_reserve_t r[12];
    dp_reserve_why_t why;
    int ok = 0;
    for (int i = 0; i < 12; i++)
        ok += dp_reserve_take(&k, 5, 10 * CENT, T0, &r[i], &why) == DP_RESERVE_OK;
    CHECK(ok == 10); /* $1 / $0.10 */
    CHECK(why.remaining == USD && why.reserved == USD);
    CHECK(dp_reserve_open_count() == 10);
    /* a failed request releases its whole reservation and settles nothing */
    dp_reserve_close(&r[0], 0, T0);
    dp_reserve_close(&r[0], 0, T0); /* twice is a no-op */
    CHECK(dp_reserve_open_count() == 9);
    CHECK(dp_reserve_take(&k, 5, 10 * CENT, T0, &r[10], &why) == DP_RESERVE_OK);
    /* a successful one settles its real cost: 3 cents spent leaves 7 for the next */
    dp_reserve_close(&r[1], 3 * CENT, T0);
    CHECK(dp_reserve_take(&k, 5, 10 * CENT, T0, &r[11], &why) == DP_RESERVE_BALANCE);
    CHECK(why.remaining == 97 * CENT);
    CHECK(dp_reserve_take(&k, 5, 7 * CENT, T0, &r[11], &why) == DP_RESERVE_OK);
    for (int i = 2; i < 12; i++)
        dp_reserve_close(&r[i], 0, T0);
    CHECK(dp_reserve_open_count() == 0);
    /* a single request larger than everything left */
    CHECK(dp_reserve_take(&k, 5, 98 * CENT, T0, &r[0], &why) == DP_RESERVE_BALANCE);
    CHECK(why.remaining == 97 * CENT && why.reserved == 0);
    /* no balance enforced (standalone) and no budget: nothing to reserve */
    dp_workspace_t free_ws = {.id = "ws_free", .active = 1};
    dp_key_t kf = mkkey(2, &free_ws, 0, 0);
    CHECK(dp_reserve_take(&kf, 5, INT64_MAX, T0, &r[0], &why) == DP_RESERVE_OK && !r[0].open);
}

static void test_budget(void)
{
    dp_reserve_reset_all();
    dp_workspace_t rich = {.id = "ws_rich", .active = 1, .has_balance = 1, .balance = 1000 * USD};
    dp_key_t k = mkkey(3, &rich, 50 * CENT, 20 * CENT); /* 30 cents left */
    dp_key_t other = mkkey(4, &rich, 0, 0);
    dp_reserve_t a, b, c;
    dp_reserve_why_t why;
    CHECK(dp_reserve_take(&k, 1, 20 * CENT, T0, &a, &why) == DP_RESERVE_OK);
    CHECK(dp_reserve_take(&k, 1, 20 * CENT, T0, &b, &why) == DP_RESERVE_BUDGET);
    CHECK(why.remaining == 30 * CENT && why.reserved == 20 * CENT);
    /* all or nothing: the refused request holds nothing on the workspace either */
    CHECK(dp_reserve_take(&other, 1, 1000 * USD - 20 * CENT, T0, &c, &why) == DP_RESERVE_OK);
    dp_reserve_close(&c, 0, T0);
    /* the key's spend also counts against the workspace */
    dp_reserve_close(&a, 25 * CENT, T0);
    CHECK(dp_reserve_take(&other, 1, 1000 * USD - 20 * CENT, T0, &c, &why) == DP_RESERVE_BALANCE);
    CHECK(dp_reserve_take(&k, 1, 6 * CENT, T0, &b, &why) == DP_RESERVE_BUDGET); /* 5 cents left */
    CHECK(dp_reserve_take(&k, 1, 5 * CENT, T0, &b, &why) == DP_RESERVE_OK);
    dp_reserve_close(&b, 0, T0);
}

static void test_baselines(void)
{
    dp_reserve_reset_all();
    dp_workspace_t w = {.id = "ws_base", .active = 1, .has_balance = 1, .balance = USD};
    dp_key_t k = mkkey(5, &w, 0, 0);
    dp_reserve_t r;
    dp_reserve_why_t why;
    CHECK(dp_reserve_take(&k, 10, 60 * CENT, T0, &r, &why) == DP_RESERVE_OK);
    dp_reserve_close(&r, 60 * CENT, T0); /* spent 60 cents: 40 left */
    CHECK(dp_reserve_take(&k, 10, 41 * CENT, T0, &r, &why) == DP_RESERVE_BALANCE);
    /* a newer snapshot with the same balance (our records not ingested yet): nothing changes */
    CHECK(dp_reserve_take(&k, 11, 41 * CENT, T0, &r, &why) == DP_RESERVE_BALANCE);
    /* an older snapshot never moves the baseline back */
    w.balance = 5 * USD;
    CHECK(dp_reserve_take(&k, 9, 41 * CENT, T0, &r, &why) == DP_RESERVE_BALANCE);
    /* the control plane included our 60 cents: balance 40 cents. For PREV_TTL the 60 cents are
     * counted twice (stricter), then only the snapshot's figure counts */
    w.balance = 40 * CENT;
    CHECK(dp_reserve_take(&k, 12, 1, T0 + SEC, &r, &why) == DP_RESERVE_BALANCE);
    CHECK(why.remaining == -20 * CENT);
    CHECK(dp_reserve_take(&k, 12, 40 * CENT, T0 + 7 * SEC, &r, &why) == DP_RESERVE_OK);
    CHECK(dp_reserve_take(&k, 12, 1, T0 + 7 * SEC, &r, &why) == DP_RESERVE_BALANCE);
    dp_reserve_close(&r, 0, T0 + 7 * SEC);
    /* a credit bumps the balance: usable at once */
    w.balance = 10 * USD + 40 * CENT;
    CHECK(dp_reserve_take(&k, 13, 10 * USD, T0 + 8 * SEC, &r, &why) == DP_RESERVE_OK);
    dp_reserve_close(&r, 0, T0 + 8 * SEC);
}

/* A node's share of the balance (two nodes: half each; weighted: 90 %), the refusal reasons,
 * the one-request escape hatch, and the same share applied to a key budget. */
static void test_shares(void)
{
    dp_reserve_reset_all();
    dp_workspace_t half = {
        .id = "ws_half", .active = 1, .has_balance = 1, .balance = USD, .share_ppm = 500000};
    dp_key_t k = mkkey(7, &half, 0, 0);
    dp_reserve_t r[8];
    dp_reserve_why_t why;
    int ok = 0;
    for (int i = 0; i < 7; i++)
        ok += dp_reserve_take(&k, 20, 10 * CENT, T0, &r[i], &why) == DP_RESERVE_OK;
    CHECK(ok == 5); /* $0.50 of $1 */
    CHECK(dp_reserve_take(&k, 20, 10 * CENT, T0, &r[7], &why) == DP_RESERVE_SHARE);
    CHECK(why.remaining == USD && why.share == 50 * CENT && why.reserved == 50 * CENT);
    for (int i = 0; i < 5; i++)
        dp_reserve_close(&r[i], i == 0 ? 40 * CENT : 0, T0); /* 40 cents spent: 10 left of the share */
    CHECK(dp_reserve_take(&k, 20, 11 * CENT, T0, &r[0], &why) == DP_RESERVE_SHARE);
    CHECK(why.remaining == 60 * CENT && why.share == 10 * CENT && why.reserved == 0);
    CHECK(dp_reserve_take(&k, 20, 10 * CENT, T0, &r[0], &why) == DP_RESERVE_OK);
    dp_reserve_close(&r[0], 0, T0);

    /* a request bigger than the whole share: once, on an idle entry with no spend, against
     * the whole balance */
    dp_workspace_t small = {
        .id = "ws_small", .active = 1, .has_balance = 1, .balance = USD, .share_ppm = 500000};
    dp_key_t ks = mkkey(8, &small, 0, 0);
    CHECK(dp_reserve_take(&ks, 20, 70 * CENT, T0, &r[0], &why) == DP_RESERVE_OK);
    CHECK(dp_reserve_take(&ks, 20, 70 * CENT, T0, &r[1], &why) == DP_RESERVE_BALANCE); /* 30 left, held */
    CHECK(dp_reserve_take(&ks, 20, 1 * CENT, T0, &r[1], &why) ==
          DP_RESERVE_SHARE); /* 30 left are the others' */
    dp_reserve_close(&r[0], 60 * CENT, T0);
    CHECK(dp_reserve_take(&ks, 20, 70 * CENT, T0, &r[1], &why) == DP_RESERVE_BALANCE); /* 40 left: too big */
    CHECK(why.remaining == 40 * CENT);
    CHECK(dp_reserve_take(&ks, 20, 30 * CENT, T0, &r[1], &why) ==
          DP_RESERVE_SHARE); /* share spent; others' part */
    /* 1 node of 1: a bigger share; a weighted 90 % share */
    dp_workspace_t most = {
        .id = "ws_most", .active = 1, .has_balance = 1, .balance = USD, .share_ppm = 900000};
    dp_key_t km = mkkey(9, &most, 0, 0);
    ok = 0;
    for (int i = 0; i < 8; i++)
        ok += dp_reserve_take(&km, 20, 11 * CENT, T0, &r[i], &why) == DP_RESERVE_OK;
    CHECK(ok == 8);
    dp_reserve_t extra;
    CHECK(dp_reserve_take(&km, 20, 11 * CENT, T0, &extra, &why) == DP_RESERVE_SHARE); /* 88 + 11 > 90 */
    for (int i = 0; i < 8; i++)
        dp_reserve_close(&r[i], 0, T0);

    /* the key budget takes the same share */
    dp_workspace_t rich = {
        .id = "ws_rich2", .active = 1, .has_balance = 1, .balance = 1000 * USD, .share_ppm = 250000};
    dp_key_t kb = mkkey(10, &rich, USD + 20 * CENT, 20 * CENT); /* $1 left for the fleet, 25 cents here */
    ok = 0;
    for (int i = 0; i < 4; i++)
        ok += dp_reserve_take(&kb, 20, 10 * CENT, T0, &r[i], &why) == DP_RESERVE_OK;
    CHECK(ok == 2);
    CHECK(why.remaining == USD && why.share == 25 * CENT);
    for (int i = 0; i < 2; i++)
        dp_reserve_close(&r[i], 0, T0);
    CHECK(dp_reserve_open_count() == 0);
    char buf[4096];
    dp_reserve_metrics_render(buf, sizeof(buf), NULL);
    CHECK(strstr(buf, "switchyard_reserve_refused_total{reason=\"insufficient_quota_share\"} 7\n") != NULL);
    CHECK(strstr(buf, "switchyard_reserve_refused_total{reason=\"insufficient_quota_balance\"} 2\n") != NULL);
    CHECK(strstr(buf, "switchyard_reserve_refused_total{reason=\"insufficient_quota_budget\"} 2\n") != NULL);
    CHECK(strstr(buf, "switchyard_reserve_share_ppm 1000000\n") != NULL);
}

static void test_table(void)
{
    dp_reserve_reset_all();
    /* many workspaces: entries fill, then idle ones are reused after DP_RESERVE_IDLE_NS */
    static dp_workspace_t wss[4000];
    static char names[4000][16];
    dp_reserve_t r;
    dp_reserve_why_t why;
    for (int i = 0; i < 4000; i++) {
        snprintf(names[i], sizeof(names[i]), "ws_%d", i);
        wss[i] = (dp_workspace_t){.id = names[i], .active = 1, .has_balance = 1, .balance = USD};
        dp_key_t k = mkkey(6, &wss[i], 0, 0);
        CHECK(dp_reserve_take(&k, 1, CENT, T0, &r, &why) == DP_RESERVE_OK);
        dp_reserve_close(&r, CENT, T0);
    }
    /* a spent entry is remembered while recent */
    dp_key_t k0 = mkkey(6, &wss[0], 0, 0);
    CHECK(dp_reserve_take(&k0, 1, USD, T0 + SEC, &r, &why) == DP_RESERVE_BALANCE);
    CHECK(why.remaining == 99 * CENT);
}

#define NTHREADS 8
static dp_workspace_t race_ws = {.id = "ws_race", .active = 1, .has_balance = 1, .balance = USD};
static int race_ok[NTHREADS];

static void *racer(void *arg)
{
    int t = (int)(intptr_t)arg;
    dp_key_t k = mkkey((uint8_t)(10 + t), &race_ws, 0, 0);
    dp_reserve_t held[200];
    dp_reserve_why_t why;
    int n = 0;
    for (int i = 0; i < 200; i++)
        if (dp_reserve_take(&k, 1, CENT, T0, &held[n], &why) == DP_RESERVE_OK)
            n++;
    race_ok[t] = n;
    return NULL; /* reservations stay open: the total must not exceed the balance */
}

static void test_threads(void)
{
    dp_reserve_reset_all();
    pthread_t th[NTHREADS];
    for (int i = 0; i < NTHREADS; i++)
        pthread_create(&th[i], NULL, racer, (void *)(intptr_t)i);
    int total = 0;
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(th[i], NULL);
        total += race_ok[i];
    }
    CHECK(total == 100);
    CHECK(dp_reserve_open_count() == 100);
    char buf[4096];
    size_t n = dp_reserve_metrics_render(buf, sizeof(buf), NULL);
    CHECK(n > 0 && strstr(buf, "switchyard_reserve_open 100\n") != NULL);
    CHECK(strstr(buf, "switchyard_reserve_refused_total{reason=\"insufficient_quota_balance\"} 1500\n") !=
          NULL);
}

int main(void)
{
    test_worst_case();
    test_balance();
    test_budget();
    test_baselines();
    test_shares();
    test_table();
    test_threads();
    SY_TEST_MAIN_END();
}
