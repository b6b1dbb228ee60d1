/*
 * Failed authentications per client, per loop thread. See dp_authfail.h and
 * docs/admission.md ("Failed authentication: per-client limit").
 */
#include "dp_authfail.h"

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

typedef struct {
    uint64_t a, b;     /* the client: IPv4 as ::ffff:a.b.c.d, IPv6 its /64 (b = 0); a = b = 0 unused */
    uint64_t start_ns; /* the window began at this failure (monotonic) */
    uint32_t count;    /* failures in the window */
    uint32_t used;     /* 1 once claimed (an all-zero client is a valid key: "unknown peer") */
} slot_t;

struct dp_authfail {
    uint64_t seed; /* per table: an attacker cannot aim many addresses at one probe window */
    slot_t s[DP_AUTHFAIL_SLOTS];
};

static struct {
    uint32_t limit;
    uint64_t window_ns;
} g_conf = {DP_AUTHFAIL_DEFAULT_LIMIT, DP_AUTHFAIL_DEFAULT_WINDOW_S * 1000000000ull};

static struct {
    atomic_ullong failures, throttled, blocked, evictions;
} g_m;

void dp_authfail_configure(uint32_t limit, uint32_t window_s)
{
    g_conf.limit = limit;
    g_conf.window_ns = (uint64_t)(window_s ? window_s : 1) * 1000000000ull;
}

uint32_t dp_authfail_limit(void)
{
    return g_conf.limit;
}

dp_authfail_t *dp_authfail_create(void)
{
    dp_authfail_t *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    if (getrandom(&t->seed, sizeof(t->seed), GRND_NONBLOCK) != (ssize_t)sizeof(t->seed)) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        t->seed = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)t;
    }
    return t;
}

void dp_authfail_destroy(dp_authfail_t *t)
{
    free(t);
}

static uint64_t mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* The client an address stands for: IPv4 (also IPv4-mapped IPv6) whole, IPv6 by its /64 (one
 * subscriber usually holds a whole /64, so counting single IPv6 addresses would let one client
 * rotate through 2^64 of them). Anything else: the one "unknown" client (0, 0). */
static void client_of(const struct sockaddr *sa, socklen_t len, uint64_t *a, uint64_t *b)
{
    *a = *b = 0;
    if (sa == NULL)
        return;
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *v4 = (const void *)sa;
        uint32_t ip;
        memcpy(&ip, &v4->sin_addr, 4);
        *a = 0xffff00000000ull; /* ::ffff:0:0/96 */
        *b = ip;
    } else if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *v6 = (const void *)sa;
        const uint8_t *p = v6->sin6_addr.s6_addr;
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(p, mapped, 12) == 0) {
            uint32_t ip;
            memcpy(&ip, p + 12, 4);
            *a = 0xffff00000000ull;
            *b = ip;
        } else {
            *a = load64(p);
            *b = 1; /* the /64; never equal to an IPv4 client (whose a is ::ffff:0:0) */
        }
    }
}

uint32_t dp_authfail_note(dp_authfail_t *t, const struct sockaddr *sa, socklen_t len, uint64_t now_ns,
                          int *first)
{
    if (first != NULL)
        *first = 0;
    atomic_fetch_add_explicit(&g_m.failures, 1, memory_order_relaxed);
    if (t == NULL || g_conf.limit == 0)
        return 0;
    uint64_t a, b;
    client_of(sa, len, &a, &b);
    size_t start = (size_t)(mix(a ^ t->seed) ^ mix(b + t->seed)) % DP_AUTHFAIL_SLOTS;
    slot_t *hit = NULL, *free_slot = NULL, *oldest = NULL;
    for (size_t i = 0; i < DP_AUTHFAIL_PROBE; i++) {
        slot_t *s = &t->s[(start + i) % DP_AUTHFAIL_SLOTS];
        if (s->used && s->a == a && s->b == b) {
            hit = s;
            break;
        }
        int over = !s->used || now_ns - s->start_ns >= g_conf.window_ns;
        if (over && free_slot == NULL)
            free_slot = s;
        if (oldest == NULL || s->start_ns < oldest->start_ns)
            oldest = s;
    }
    if (hit == NULL) {
        hit = free_slot;
        if (hit == NULL) {
            /* every slot in reach holds a live window: replace the oldest (that client may
             * start a fresh window early; bounded by the table, counted) */
            hit = oldest;
            atomic_fetch_add_explicit(&g_m.evictions, 1, memory_order_relaxed);
        }
        hit->a = a;
        hit->b = b;
        hit->used = 1;
        hit->start_ns = now_ns;
        hit->count = 0;
    } else if (now_ns - hit->start_ns >= g_conf.window_ns) {
        hit->start_ns = now_ns; /* the previous window is over: a new one starts here */
        hit->count = 0;
    }
    if (hit->count < UINT32_MAX)
        hit->count++;
    if (hit->count <= g_conf.limit)
        return 0;
    if (hit->count == g_conf.limit + 1) {
        atomic_fetch_add_explicit(&g_m.blocked, 1, memory_order_relaxed);
        if (first != NULL)
            *first = 1;
    }
    atomic_fetch_add_explicit(&g_m.throttled, 1, memory_order_relaxed);
    uint64_t left = hit->start_ns + g_conf.window_ns - now_ns;
    uint64_t s = (left + 999999999ull) / 1000000000ull;
    return s < 1 ? 1 : (uint32_t)s;
}

size_t dp_authfail_metrics_render(char *buf, size_t cap)
{
    int n = snprintf(
        buf, cap,
        "# HELP switchyard_auth_failures_total Requests that presented an API key matching no key (401 or "
        "429).\n"
        "# TYPE switchyard_auth_failures_total counter\nswitchyard_auth_failures_total %llu\n"
        "# HELP switchyard_auth_throttled_total Wrong keys answered 429: the client was over the failed-"
        "authentication limit.\n"
        "# TYPE switchyard_auth_throttled_total counter\nswitchyard_auth_throttled_total %llu\n"
        "# HELP switchyard_auth_blocked_clients_total Times a client went over the failed-authentication "
        "limit "
        "(one per client, window and loop thread).\n"
        "# TYPE switchyard_auth_blocked_clients_total counter\nswitchyard_auth_blocked_clients_total %llu\n"
        "# HELP switchyard_auth_fail_evictions_total Live failed-authentication entries replaced because the "
        "table was full where the client hashed.\n"
        "# TYPE switchyard_auth_fail_evictions_total counter\nswitchyard_auth_fail_evictions_total %llu\n"
        "# HELP switchyard_auth_fail_limit Failed authentications a client may make per window and loop "
        "thread "
        "(0: no limit).\n"
        "# TYPE switchyard_auth_fail_limit gauge\nswitchyard_auth_fail_limit %u\n",
        (unsigned long long)atomic_load_explicit(&g_m.failures, memory_order_relaxed),
        (unsigned long long)atomic_load_explicit(&g_m.throttled, memory_order_relaxed),
        (unsigned long long)atomic_load_explicit(&g_m.blocked, memory_order_relaxed),
        (unsigned long long)atomic_load_explicit(&g_m.evictions, memory_order_relaxed), g_conf.limit);
    if (n < 0)
        return 0;
    return (size_t)n < cap ? (size_t)n : (cap ? cap - 1 : 0);
}
