/*
 * dp_breaker — what one event-loop thread has learned about each upstream model: a circuit
 * breaker fed by the thread's own attempt outcomes, a cool-down from a 429's retry-after, and
 * the observed time to first byte (EWMA) for the latency objective.
 *
 * Breaker states (per upstream model, keyed by catalog id so it survives snapshot swaps):
 *   closed    -- `failures` consecutive failures -->            open until now + cooldown
 *   open      -- cooldown over -->                              half-open: one trial request
 *   half-open -- trial succeeds --> closed (cooldown reset);    trial fails --> open, cooldown x2
 *                                                               (capped at 60 s)
 * A 429 with retry-after cools the model for that long whatever the state.
 *
 * Threading: one dp_breakers_t per loop thread (dp_thread_t.breakers); never shared, so no
 * locks — each thread learns on its own (documented in docs/routing.md). Memory: a fixed
 * open-addressing table of DP_BREAKER_SLOTS entries; models beyond it are not tracked
 * (always "closed", no latency).
 */
#ifndef DP_BREAKER_H
#define DP_BREAKER_H

#include <stdint.h>

#define DP_BREAKER_SLOTS 2048
#define DP_BREAKER_MAX_COOLDOWN_MS 60000u

typedef struct dp_breakers dp_breakers_t;

typedef enum { DP_BREAKER_CLOSED, DP_BREAKER_OPEN, DP_BREAKER_HALF_OPEN } dp_breaker_state_t;

dp_breakers_t *dp_breakers_create(void);
void dp_breakers_destroy(dp_breakers_t *b);

/* 1 when a request may go to `model` now: closed, or open with its cooldown over (the caller
 * then holds the half-open trial until it reports the outcome). */
int dp_breaker_allows(dp_breakers_t *b, const char *model, uint64_t now_ns);
/* Marks the half-open trial taken (call when an attempt actually starts). */
void dp_breaker_attempt(dp_breakers_t *b, const char *model, uint64_t now_ns);
/* The attempt's outcome. ttft_us: time to the first response byte (0 = unknown). */
void dp_breaker_success(dp_breakers_t *b, const char *model, uint64_t ttft_us, uint64_t now_ns);
void dp_breaker_failure(dp_breakers_t *b, const char *model, uint32_t failures_to_open, uint32_t cooldown_ms,
                        uint64_t now_ns);
/* The attempt ended with no verdict on the model (the client left, the node is shutting
 * down): a half-open trial it held is given back, so the next request can be the trial. */
void dp_breaker_release(dp_breakers_t *b, const char *model);
/* A 429 with retry-after: no request to this model for `seconds`. */
void dp_breaker_cool(dp_breakers_t *b, const char *model, uint32_t seconds, uint64_t now_ns);

dp_breaker_state_t dp_breaker_state(dp_breakers_t *b, const char *model, uint64_t now_ns);
/* When the model last failed (0 = never), for "try the least recently failed" when every
 * candidate's breaker is open. */
uint64_t dp_breaker_last_failure(dp_breakers_t *b, const char *model);
/* Observed time to first byte in microseconds (EWMA), 0 when never observed. */
uint64_t dp_breaker_ttft_us(dp_breakers_t *b, const char *model);

#endif
