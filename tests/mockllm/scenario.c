/* Scenario parameters ("k=v" pairs from the model name and the x-mock-scenario header) and
 * the process-wide fail_first counters. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "mockllm.h"

const char *const scenario_keys[SC__COUNT] = {
    [SC_TTFT_MS] = "ttft_ms",
    [SC_DELAY_MS] = "delay_ms",
    [SC_CHUNKS] = "chunks",
    [SC_BODY_BYTES] = "body_bytes",
    [SC_STATUS] = "status",
    [SC_RETRY_AFTER] = "retry_after",
    [SC_HANG] = "hang",
    [SC_STALL_AFTER] = "stall_after",
    [SC_RESET_AFTER] = "reset_after",
    [SC_MALFORMED] = "malformed",
    [SC_TRUNCATE_AFTER] = "truncate_after",
    [SC_NO_USAGE] = "no_usage",
    [SC_FAIL_FIRST] = "fail_first",
    [SC_OVERLOADED] = "overloaded",
    [SC_SAFETY] = "safety",
    [SC_THINKING] = "thinking",
    [SC_CACHE] = "cache",
    [SC_HUGE_LINE] = "huge_line",
};

/* upper bounds, so that a typo cannot make the mock allocate gigabytes or sleep for days */
static const long scenario_max[SC__COUNT] = {
    [SC_TTFT_MS] = 3600000,
    [SC_DELAY_MS] = 3600000,
    [SC_CHUNKS] = 10000000,
    [SC_BODY_BYTES] = 256 << 20,
    [SC_STATUS] = 599,
    [SC_RETRY_AFTER] = 86400,
    [SC_HANG] = 1,
    [SC_STALL_AFTER] = 10000000,
    [SC_RESET_AFTER] = 10000000,
    [SC_MALFORMED] = 1,
    [SC_TRUNCATE_AFTER] = 10000000,
    [SC_NO_USAGE] = 1,
    [SC_FAIL_FIRST] = 1000000000,
    [SC_OVERLOADED] = 1,
    [SC_SAFETY] = 1,
    [SC_THINKING] = 1,
    [SC_CACHE] = 1000000000,
    [SC_HUGE_LINE] = 256 << 20,
};

static void apply_pair(scenario_t *sc, const char *s, size_t n)
{
    while (n != 0 && (*s == ' ' || *s == '\t'))
        ++s, --n;
    while (n != 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        --n;
    const char *eq = memchr(s, '=', n);
    if (eq == NULL)
        return;
    size_t klen = (size_t)(eq - s);
    const char *v = eq + 1;
    size_t vlen = n - klen - 1;
    if (vlen == 0 || vlen > 12)
        return;
    long val = 0;
    for (size_t i = 0; i != vlen; ++i) {
        if (v[i] < '0' || v[i] > '9')
            return;
        val = val * 10 + (v[i] - '0');
    }
    for (int k = 0; k != SC__COUNT; ++k) {
        if (strlen(scenario_keys[k]) == klen && memcmp(scenario_keys[k], s, klen) == 0) {
            if (val > scenario_max[k])
                val = scenario_max[k];
            if (k == SC_STATUS && val < 100)
                return;
            sc->v[k] = val;
            sc->set |= 1u << k;
            return;
        }
    }
}

void scenario_parse(scenario_t *sc, const char *s, size_t n, int skip_name, int allow_comma)
{
    size_t i = 0;
    if (skip_name) {
        while (i != n && s[i] != '+')
            ++i;
        if (i == n)
            return;
        ++i;
    }
    size_t start = i;
    for (; i <= n; ++i) {
        if (i == n || s[i] == '+' || (allow_comma && s[i] == ',')) {
            if (i > start)
                apply_pair(sc, s + start, i - start);
            start = i + 1;
        }
    }
}

void scenario_merge(scenario_t *a, const scenario_t *b)
{
    for (int k = 0; k != SC__COUNT; ++k) {
        if (sc_has(b, k)) {
            a->v[k] = b->v[k];
            a->set |= 1u << k;
        }
    }
}

cJSON *scenario_to_json(const scenario_t *sc)
{
    cJSON *o = cJSON_CreateObject();
    for (int k = 0; k != SC__COUNT; ++k)
        if (sc_has(sc, k))
            cJSON_AddNumberToObject(o, scenario_keys[k], (double)sc->v[k]);
    return o;
}

/* fail_first counters: a small chained hash table, process-wide, never shrinks. */
struct ff_entry {
    struct ff_entry *next;
    long count;
    size_t len;
    char name[];
};
#define FF_BUCKETS 256
static struct ff_entry *ff_table[FF_BUCKETS];
static pthread_mutex_t ff_mutex = PTHREAD_MUTEX_INITIALIZER;

int failfirst_hit(const char *model, size_t n, long limit)
{
    uint64_t h = fnv1a(model, n, FNV_OFFSET) % FF_BUCKETS;
    long count;
    pthread_mutex_lock(&ff_mutex);
    struct ff_entry *e;
    for (e = ff_table[h]; e != NULL; e = e->next)
        if (e->len == n && memcmp(e->name, model, n) == 0)
            break;
    if (e == NULL) {
        e = malloc(sizeof(*e) + n + 1);
        if (e == NULL)
            abort();
        e->count = 0;
        e->len = n;
        memcpy(e->name, model, n);
        e->name[n] = '\0';
        e->next = ff_table[h];
        ff_table[h] = e;
    }
    count = ++e->count;
    pthread_mutex_unlock(&ff_mutex);
    return count <= limit;
}
