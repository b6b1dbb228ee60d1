#include "dp_breaker.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    char id[129]; /* "" = free slot */
    uint32_t consecutive;
    uint32_t cooldown_ms; /* the current open period */
    dp_breaker_state_t state;
    int trial_taken;
    uint64_t open_until_ns, cool_until_ns, last_failure_ns;
    uint64_t ttft_us; /* EWMA, alpha 1/4 */
} entry_t;

struct dp_breakers {
    entry_t e[DP_BREAKER_SLOTS];
};

dp_breakers_t *dp_breakers_create(void)
{
    return calloc(1, sizeof(dp_breakers_t));
}

void dp_breakers_destroy(dp_breakers_t *b)
{
    free(b);
}

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* The model's entry; created when `create` (NULL when the table is full or the id too long). */
static entry_t *find(dp_breakers_t *b, const char *id, int create)
{
    if (b == NULL || strlen(id) >= sizeof(b->e[0].id))
        return NULL;
    for (size_t n = 0, i = hash(id) & (DP_BREAKER_SLOTS - 1); n < DP_BREAKER_SLOTS;
         n++, i = (i + 1) & (DP_BREAKER_SLOTS - 1)) {
        entry_t *e = &b->e[i];
        if (e->id[0] == '\0') {
            if (!create)
                return NULL;
            strcpy(e->id, id);
            return e;
        }
        if (strcmp(e->id, id) == 0)
            return e;
    }
    return NULL;
}

/* Moves an open breaker whose time is up to half-open. */
static void tick(entry_t *e, uint64_t now)
{
    if (e->state == DP_BREAKER_OPEN && now >= e->open_until_ns) {
        e->state = DP_BREAKER_HALF_OPEN;
        e->trial_taken = 0;
    }
}

int dp_breaker_allows(dp_breakers_t *b, const char *model, uint64_t now_ns)
{
    entry_t *e = find(b, model, 0);
    if (e == NULL)
        return 1;
    if (now_ns < e->cool_until_ns)
        return 0;
    tick(e, now_ns);
    if (e->state == DP_BREAKER_OPEN)
        return 0;
    if (e->state == DP_BREAKER_HALF_OPEN)
        return !e->trial_taken;
    return 1;
}

void dp_breaker_attempt(dp_breakers_t *b, const char *model, uint64_t now_ns)
{
    entry_t *e = find(b, model, 0);
    if (e == NULL)
        return;
    tick(e, now_ns);
    if (e->state == DP_BREAKER_HALF_OPEN)
        e->trial_taken = 1;
}

void dp_breaker_release(dp_breakers_t *b, const char *model)
{
    entry_t *e = find(b, model, 0);
    if (e != NULL && e->state == DP_BREAKER_HALF_OPEN)
        e->trial_taken = 0;
}

void dp_breaker_success(dp_breakers_t *b, const char *model, uint64_t ttft_us, uint64_t now_ns)
{
    entry_t *e = find(b, model, 1);
    if (e == NULL)
        return;
    e->consecutive = 0;
    e->state = DP_BREAKER_CLOSED;
    e->trial_taken = 0;
    e->cooldown_ms = 0;
    if (ttft_us > 0)
        e->ttft_us = e->ttft_us == 0 ? ttft_us : (e->ttft_us * 3 + ttft_us) / 4;
}

void dp_breaker_failure(dp_breakers_t *b, const char *model, uint32_t failures_to_open, uint32_t cooldown_ms,
                        uint64_t now_ns)
{
    entry_t *e = find(b, model, 1);
    if (e == NULL)
        return;
    tick(e, now_ns);
    e->last_failure_ns = now_ns;
    e->consecutive++;
    if (e->state == DP_BREAKER_HALF_OPEN) {
        /* the trial failed: open again, for longer */
        uint64_t next = e->cooldown_ms ? (uint64_t)e->cooldown_ms * 2 : cooldown_ms;
        e->cooldown_ms = (uint32_t)(next > DP_BREAKER_MAX_COOLDOWN_MS ? DP_BREAKER_MAX_COOLDOWN_MS : next);
    } else if (e->state == DP_BREAKER_CLOSED && e->consecutive >= failures_to_open) {
        e->cooldown_ms = cooldown_ms;
    } else {
        return;
    }
    e->state = DP_BREAKER_OPEN;
    e->trial_taken = 0;
    e->open_until_ns = now_ns + (uint64_t)e->cooldown_ms * 1000000u;
}

void dp_breaker_cool(dp_breakers_t *b, const char *model, uint32_t seconds, uint64_t now_ns)
{
    entry_t *e = find(b, model, 1);
    if (e == NULL)
        return;
    if (seconds > 3600)
        seconds = 3600; /* a provider's header is not allowed to park a model for a day */
    uint64_t until = now_ns + (uint64_t)seconds * 1000000000u;
    if (until > e->cool_until_ns)
        e->cool_until_ns = until;
}

dp_breaker_state_t dp_breaker_state(dp_breakers_t *b, const char *model, uint64_t now_ns)
{
    entry_t *e = find(b, model, 0);
    if (e == NULL)
        return DP_BREAKER_CLOSED;
    tick(e, now_ns);
    return e->state;
}

uint64_t dp_breaker_last_failure(dp_breakers_t *b, const char *model)
{
    entry_t *e = find(b, model, 0);
    return e ? e->last_failure_ns : 0;
}

uint64_t dp_breaker_ttft_us(dp_breakers_t *b, const char *model)
{
    entry_t *e = find(b, model, 0);
    return e ? e->ttft_us : 0;
}
