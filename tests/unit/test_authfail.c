/* Unit tests for dataplane/dp_authfail.c: the per-client failed-authentication limit. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>

#include "dp_authfail.h"
#include "sy_test.h"

#define S 1000000000ull

static struct sockaddr_in v4(const char *ip)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(1234)};
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

static struct sockaddr_in6 v6(const char *ip)
{
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(1234)};
    inet_pton(AF_INET6, ip, &a.sin6_addr);
    return a;
}

#define NOTE(t, a, now, first) dp_authfail_note((t), (const struct sockaddr *)&(a), sizeof(a), (now), (first))

static void test_window(void)
{
    dp_authfail_configure(3, 10);
    dp_authfail_t *t = dp_authfail_create();
    struct sockaddr_in a = v4("192.0.2.1"), b = v4("192.0.2.2");
    uint64_t t0 = 5 * S;
    int first = -1;
    for (int i = 0; i < 3; i++) {
        CHECK(NOTE(t, a, t0 + (uint64_t)i * S, &first) == 0); /* within the limit: 401 */
        CHECK(first == 0);
    }
    CHECK(NOTE(t, a, t0 + 3 * S, &first) == 7); /* the 4th: 429 until t0 + 10 s */
    CHECK(first == 1);
    CHECK(NOTE(t, a, t0 + 3 * S + 1, &first) == 7); /* ceil */
    CHECK(first == 0);                              /* logged once per window */
    CHECK(NOTE(t, a, t0 + 10 * S - 1, NULL) == 1);  /* at least 1 s */
    CHECK(NOTE(t, b, t0 + 4 * S, NULL) == 0);       /* another client: its own count */
    /* the window is over: a new one starts at this failure */
    CHECK(NOTE(t, a, t0 + 10 * S, &first) == 0);
    CHECK(NOTE(t, a, t0 + 11 * S, NULL) == 0);
    CHECK(NOTE(t, a, t0 + 12 * S, NULL) == 0);
    CHECK(NOTE(t, a, t0 + 13 * S, &first) == 7);
    CHECK(first == 1);
    dp_authfail_destroy(t);
}

static void test_addresses(void)
{
    dp_authfail_configure(2, 10);
    dp_authfail_t *t = dp_authfail_create();
    /* an IPv6 client is its /64: rotating the interface id does not escape the count */
    struct sockaddr_in6 x1 = v6("2001:db8:1:2::1"), x2 = v6("2001:db8:1:2:ffff::9"),
                        y = v6("2001:db8:1:3::1");
    CHECK(NOTE(t, x1, S, NULL) == 0);
    CHECK(NOTE(t, x2, S, NULL) == 0);
    CHECK(NOTE(t, x1, S, NULL) > 0);
    CHECK(NOTE(t, y, S, NULL) == 0); /* the next /64 is another client */
    /* an IPv4-mapped IPv6 peer is its IPv4 address */
    struct sockaddr_in p = v4("198.51.100.7");
    struct sockaddr_in6 pm = v6("::ffff:198.51.100.7");
    CHECK(NOTE(t, p, S, NULL) == 0);
    CHECK(NOTE(t, pm, S, NULL) == 0);
    CHECK(NOTE(t, p, S, NULL) > 0);
    /* an unknown peer (no address) is one shared client */
    CHECK(dp_authfail_note(t, NULL, 0, S, NULL) == 0);
    CHECK(dp_authfail_note(t, NULL, 0, S, NULL) == 0);
    CHECK(dp_authfail_note(t, NULL, 0, S, NULL) > 0);
    /* no table (out of memory) or limit 0: never throttled */
    CHECK(NOTE(NULL, p, S, NULL) == 0);
    dp_authfail_configure(0, 10);
    for (int i = 0; i < 100; i++)
        CHECK(NOTE(t, p, S, NULL) == 0);
    dp_authfail_destroy(t);
}

/* Far more blocked clients than slots: bounded, entries are replaced (counted), and a client
 * still in the table keeps its block. */
static void test_full(void)
{
    dp_authfail_configure(1, 10);
    dp_authfail_t *t = dp_authfail_create();
    struct sockaddr_in keep = v4("203.0.113.1");
    CHECK(NOTE(t, keep, S, NULL) == 0);
    CHECK(NOTE(t, keep, S, NULL) > 0);
    char ip[32];
    for (int i = 0; i < 4 * DP_AUTHFAIL_SLOTS; i++) {
        snprintf(ip, sizeof(ip), "10.%d.%d.%d", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        struct sockaddr_in a = v4(ip);
        NOTE(t, a, 2 * S, NULL);
    }
    char m[2048];
    size_t n = dp_authfail_metrics_render(m, sizeof(m));
    CHECK(n > 0 && n < sizeof(m));
    CHECK(strstr(m, "switchyard_auth_fail_evictions_total 0\n") == NULL); /* the table filled and replaced */
    CHECK(strstr(m, "switchyard_auth_fail_limit 1\n") != NULL);
    /* after the window everything is free again */
    CHECK(NOTE(t, keep, 12 * S, NULL) == 0);
    dp_authfail_destroy(t);
}

int main(void)
{
    test_window();
    test_addresses();
    test_full();
    SY_TEST_MAIN_END();
}
