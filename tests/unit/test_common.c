/* Unit tests for common/: error table, JSON pre-check, money, SSE parser, hashing. */
#include <stdint.h>
#include <stdlib.h>

#include "sy_error.h"
#include "sy_hash.h"
#include "sy_json.h"
#include "sy_money.h"
#include "sy_sse.h"
#include "sy_test.h"
#include "sy_util.h"

static void test_error_table(void)
{
    CHECK(sy_err_status(SY_E_BAD_JSON) == 400);
    CHECK(sy_err_status(SY_E_INVALID_API_KEY) == 401);
    CHECK(sy_err_status(SY_E_INSUFFICIENT_QUOTA) == 402);
    CHECK(sy_err_status(SY_E_MODEL_NOT_ALLOWED) == 403);
    CHECK(sy_err_status(SY_E_MODEL_NOT_FOUND) == 404);
    CHECK(sy_err_status(SY_E_REQUEST_TOO_LARGE) == 413);
    CHECK(sy_err_status(SY_E_RATE_LIMITED) == 429);
    CHECK(sy_err_status(SY_E_UPSTREAM_ERROR) == 502);
    CHECK(sy_err_status(SY_E_NO_PROVIDER) == 503);
    CHECK(sy_err_status(SY_E_UPSTREAM_TIMEOUT) == 504);
    CHECK_STR(sy_err_code(SY_E_INVALID_API_KEY), "invalid_api_key");
    CHECK_STR(sy_err_code(SY_E_ACCOUNT_DISABLED), "account_disabled");
    CHECK_STR(sy_err_code(SY_E_NO_PROVIDER), "no_provider_available");
    CHECK_STR(sy_strerror(SY_E_UPSTREAM_TIMEOUT), "upstream_timeout");
    /* out-of-range values fall back to the internal error row rather than reading past the table */
    CHECK(sy_err_status((sy_err_t)9999) == 500);
    /* every row has a non-empty reason word */
    for (int e = 0; e < SY_E__COUNT; e++)
        CHECK(sy_strerror((sy_err_t)e)[0] != '\0');
}

static void test_json_precheck(void)
{
    size_t at;
    CHECK(sy_json_precheck("{\"a\":[1,2,{\"b\":\"c\"}]}", 21, 8, &at) == SY_JSON_OK);
    CHECK(sy_json_precheck("[[[1]]]", 7, 2, &at) == SY_JSON_TOO_DEEP);
    CHECK(sy_json_precheck("[[[1]]]", 7, 3, &at) == SY_JSON_OK);
    /* brackets inside strings do not count */
    CHECK(sy_json_precheck("{\"a\":\"[[[[[[\"}", 13, 1, &at) == SY_JSON_OK);
    /* an escaped quote does not end the string */
    CHECK(sy_json_precheck("{\"a\":\"x\\\"[[[\"}", 14, 1, &at) == SY_JSON_OK);
    CHECK(sy_json_precheck("]", 1, 8, &at) == SY_JSON_UNBALANCED);
    CHECK(sy_json_precheck("\"abc", 4, 8, &at) == SY_JSON_UNBALANCED);
    /* UTF-8: valid multi-byte, then invalid continuation, overlong, surrogate, > U+10FFFF, NUL */
    CHECK(sy_json_precheck("\"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80\"", 17, 8, &at) == SY_JSON_OK);
    CHECK(sy_json_precheck("\"\xc3\x28\"", 4, 8, &at) == SY_JSON_BAD_UTF8);
    CHECK(at == 1);
    CHECK(sy_json_precheck("\"\xc0\xaf\"", 4, 8, &at) == SY_JSON_BAD_UTF8);
    CHECK(sy_json_precheck("\"\xed\xa0\x80\"", 5, 8, &at) == SY_JSON_BAD_UTF8);
    CHECK(sy_json_precheck("\"\xf4\x90\x80\x80\"", 6, 8, &at) == SY_JSON_BAD_UTF8);
    CHECK(sy_json_precheck("\"a\0b\"", 5, 8, &at) == SY_JSON_BAD_UTF8);
    CHECK(sy_json_precheck("\"\xe2\x82\"", 4, 8, &at) == SY_JSON_BAD_UTF8); /* truncated sequence */
    /* 100k-deep nesting stops at the limit without recursion */
    size_t n = 100000;
    char *deep = malloc(n);
    memset(deep, '[', n);
    CHECK(sy_json_precheck(deep, n, 64, &at) == SY_JSON_TOO_DEEP);
    CHECK(at == 64);
    free(deep);
    CHECK(sy_has_ctl("gpt\r\nx", 6));
    CHECK(sy_has_ctl("gpt\0x", 5));
    CHECK(!sy_has_ctl("gpt-4o", 6));
}

static void test_money(void)
{
    sy_nano_t v;
    CHECK(sy_money_parse_usd("0.15", &v) == 0 && v == 150000000);
    CHECK(sy_money_parse_usd("12", &v) == 0 && v == 12000000000);
    CHECK(sy_money_parse_usd("0.000000001", &v) == 0 && v == 1);
    CHECK(sy_money_parse_usd("2.5", &v) == 0 && v == 2500000000);
    CHECK(sy_money_parse_usd("0.0000000001", &v) == -1); /* finer than a nano-dollar */
    CHECK(sy_money_parse_usd("-1", &v) == -1);
    CHECK(sy_money_parse_usd("1e3", &v) == -1);
    CHECK(sy_money_parse_usd("", &v) == -1);
    CHECK(sy_money_parse_usd(".", &v) == -1);
    CHECK(sy_money_parse_usd("99999999999999999999", &v) == -1);
    /* 1000 tokens at $0.15/M = $0.00015 = 150000 nano */
    CHECK(sy_money_cost(1000, 150000000) == 150000);
    /* rounding half up: 1 token at $0.0000015/M = 0.0015 nano → 0; at $0.5/M = 0.5 nano → 1 */
    CHECK(sy_money_cost(1, 1500) == 0);
    CHECK(sy_money_cost(1, 500000000) == 500);
    CHECK(sy_money_cost(3, 500000) == 2);                    /* 1.5 nano rounds up */
    CHECK(sy_money_cost(INT64_MAX, INT64_MAX) == INT64_MAX); /* saturates, no overflow */
    CHECK(sy_money_cost(-5, 100) == 0);
    /* a request's cost with cache prices ($3/M in, $15/M out, $0.30/M cache read, $3.75/M cache
     * write): 1150 prompt tokens of which 100 cache-read and 50 cache-write, 200 completion */
    sy_money_prices_t pr = {.input_per_m = 3000000000,
                            .output_per_m = 15000000000,
                            .cache_read_per_m = 300000000,
                            .cache_write_per_m = 3750000000};
    int64_t br = -1, bw = -1;
    /* 1000 x 3000 + 100 x 300 + 50 x 3750 + 200 x 15000 */
    CHECK(sy_money_usage_cost(&pr, 1150, 200, 100, 50, &br, &bw) == 3000000 + 30000 + 187500 + 3000000);
    CHECK(br == 100 && bw == 50);
    /* no cache prices: every prompt token at the input price, exactly as before */
    sy_money_prices_t plain = {.input_per_m = 3000000000,
                               .output_per_m = 15000000000,
                               .cache_read_per_m = -1,
                               .cache_write_per_m = -1};
    CHECK(sy_money_usage_cost(&plain, 1150, 200, 100, 50, NULL, NULL) == 1150 * 3000 + 200 * 15000);
    CHECK(sy_money_usage_cost(&plain, 1150, 200, 100, 50, NULL, NULL) ==
          sy_money_cost(1150, 3000000000) + sy_money_cost(200, 15000000000));
    /* a read price only: cache-write tokens go at the input price */
    sy_money_prices_t ronly = pr;
    ronly.cache_write_per_m = -1;
    CHECK(sy_money_usage_cost(&ronly, 1150, 200, 100, 50, NULL, NULL) ==
          1050 * 3000 + 100 * 300 + 200 * 15000);
    /* a free cache read (price 0) is a price, not "none" */
    sy_money_prices_t free_read = ronly;
    free_read.cache_read_per_m = 0;
    CHECK(sy_money_usage_cost(&free_read, 1150, 0, 100, 50, NULL, NULL) == 1050 * 3000);
    /* cache counts past the prompt are clamped: never more tokens billed than the prompt */
    CHECK(sy_money_usage_cost(&pr, 100, 0, 80, 50, &br, &bw) == 80 * 300 + 20 * 3750);
    CHECK(br == 80 && bw == 20);
    CHECK(sy_money_usage_cost(&pr, 100, 0, 500, 50, &br, &bw) == 100 * 300);
    CHECK(br == 100 && bw == 0);
    CHECK(sy_money_usage_cost(&pr, -5, -5, -1, -1, &br, &bw) == 0);
    CHECK(br == 0 && bw == 0);
    /* each price's share rounds on its own: 3 tokens at 0.5 nano = 2, 1 at 0.0015 nano = 0 */
    sy_money_prices_t tiny = {.input_per_m = 500000, .cache_read_per_m = 1500, .cache_write_per_m = -1};
    CHECK(sy_money_usage_cost(&tiny, 4, 0, 1, 0, NULL, NULL) == 2);
    /* saturates instead of overflowing, whichever share is huge */
    sy_money_prices_t huge = {.input_per_m = INT64_MAX,
                              .output_per_m = INT64_MAX,
                              .cache_read_per_m = INT64_MAX,
                              .cache_write_per_m = INT64_MAX};
    CHECK(sy_money_usage_cost(&huge, INT64_MAX, INT64_MAX, INT64_MAX / 2, INT64_MAX / 2, NULL, NULL) ==
          INT64_MAX);
    CHECK(sy_money_usage_cost(&pr, INT64_MAX, 0, INT64_MAX, 0, NULL, NULL) ==
          sy_money_cost(INT64_MAX, 300000000));
    char buf[32];
    sy_money_format_usd(150000, buf);
    CHECK_STR(buf, "0.000150000");
    sy_money_format_usd(12000000001, buf);
    CHECK_STR(buf, "12.000000001");
    sy_money_format_usd(-1, buf);
    CHECK_STR(buf, "-0.000000001");
    sy_money_format_usd(0, buf);
    CHECK_STR(buf, "0.000000000");
    sy_money_format_usd(INT64_MIN, buf);
    CHECK_STR(buf, "-9223372036.854775808");
    sy_money_format_usd(INT64_MAX, buf);
    CHECK_STR(buf, "9223372036.854775807");
    char d[SY_FMT_U64_MAX];
    CHECK(sy_fmt_u64(d, 0) == 1);
    CHECK_STR(d, "0");
    CHECK(sy_fmt_u64(d, 1234567890) == 10);
    CHECK_STR(d, "1234567890");
    CHECK(sy_fmt_u64(d, UINT64_MAX) == 20);
    CHECK_STR(d, "18446744073709551615");
}

typedef struct {
    int n;
    char data[8][64];
    char event[8][32];
} sse_seen_t;

static int sse_cb(void *ctx, const sy_sse_event_t *ev)
{
    sse_seen_t *s = ctx;
    if (s->n < 8) {
        snprintf(s->data[s->n], 64, "%.*s", ev->data ? (int)ev->data_len : 6, ev->data ? ev->data : "(none)");
        snprintf(s->event[s->n], 32, "%.*s", ev->event ? (int)ev->event_len : 0, ev->event ? ev->event : "");
    }
    s->n++;
    return 0;
}

static void test_sse(void)
{
    const char *stream = "data: {\"a\":1}\n\n"
                         ": keep-alive comment\n\n"
                         "event: message_start\r\ndata: {\"b\":2}\r\n\r\n"
                         "data: line1\ndata: line2\n\n"
                         "data: [DONE]\n\n";
    size_t len = strlen(stream);
    /* every split point gives the same events */
    for (size_t cut = 0; cut <= len; cut++) {
        sy_sse_t p;
        sse_seen_t seen = {0};
        sy_sse_init(&p, 1024);
        CHECK(sy_sse_feed(&p, stream, cut, sse_cb, &seen) == 0);
        CHECK(sy_sse_feed(&p, stream + cut, len - cut, sse_cb, &seen) == 0);
        if (seen.n != 5) {
            CHECK(seen.n == 5);
            fprintf(stderr, "  split at %zu gave %d events\n", cut, seen.n);
        } else if (cut % 7 == 0) {
            CHECK_STR(seen.data[0], "{\"a\":1}");
            CHECK_STR(seen.data[1], "(none)");
            CHECK_STR(seen.event[2], "message_start");
            CHECK_STR(seen.data[2], "{\"b\":2}");
            CHECK_STR(seen.data[3], "line1\nline2");
            CHECK_STR(seen.data[4], "[DONE]");
        }
        CHECK(sy_sse_pending(&p) == 0);
        sy_sse_dispose(&p);
    }
    /* byte by byte */
    sy_sse_t p;
    sse_seen_t seen = {0};
    sy_sse_init(&p, 1024);
    for (size_t i = 0; i < len; i++)
        sy_sse_feed(&p, stream + i, 1, sse_cb, &seen);
    CHECK(seen.n == 5);
    sy_sse_dispose(&p);
    /* an event over the cap is an error, and the buffer never grows past cap + one feed */
    sy_sse_init(&p, 64);
    char big[200];
    memset(big, 'x', sizeof(big));
    memcpy(big, "data: ", 6);
    seen.n = 0;
    CHECK(sy_sse_feed(&p, big, sizeof(big), sse_cb, &seen) == SY_SSE_ETOOBIG);
    CHECK(seen.n == 0);
    sy_sse_dispose(&p);
    /* truncated last event stays pending */
    sy_sse_init(&p, 1024);
    seen.n = 0;
    sy_sse_feed(&p, "data: {\"a\":1}\n\ndata: {\"partial", 30, sse_cb, &seen);
    CHECK(seen.n == 1);
    CHECK(sy_sse_pending(&p) > 0);
    sy_sse_dispose(&p);
}

static void test_hash(void)
{
    uint8_t h[32];
    char hex[65];
    sy_sha256("abc", 3, h);
    sy_hex(h, 32, hex);
    CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    uint8_t back[32];
    CHECK(sy_unhex(hex, 64, back, 32) == 0 && memcmp(back, h, 32) == 0);
    CHECK(sy_unhex(hex, 63, back, 32) == -1);
    CHECK(sy_unhex("zz", 2, back, 1) == -1);
    CHECK(sy_ct_equal("abc", "abc", 3));
    CHECK(!sy_ct_equal("abc", "abd", 3));
}

int main(void)
{
    test_error_table();
    test_json_precheck();
    test_money();
    test_sse();
    test_hash();
    SY_TEST_MAIN_END();
}
