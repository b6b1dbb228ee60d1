/*
 * sy_money — integer nano-USD. No floating point touches money anywhere in Switchyard.
 *
 * Prices are nano-USD per million tokens. Thread-safety: pure functions.
 */
#ifndef SY_MONEY_H
#define SY_MONEY_H

#include <stdint.h>

typedef int64_t sy_nano_t;
#define SY_NANO_PER_USD INT64_C(1000000000)

/* Parses a non-negative decimal USD string ("0.15", "12", "0.000001") into nano-USD exactly.
 * More than 9 fractional digits, signs, exponents, junk or overflow → -1. */
int sy_money_parse_usd(const char *s, sy_nano_t *out);
/* Cost of `tokens` at `per_m` nano-USD per million tokens, rounded half up to a whole nano-USD.
 * Saturates at INT64_MAX instead of overflowing. */
sy_nano_t sy_money_cost(int64_t tokens, sy_nano_t per_m);
/* A model's prices, nano-USD per million tokens. A cache price of -1 means the catalog gives
 * none: those tokens are billed at input_per_m, as any other prompt token. */
typedef struct {
    sy_nano_t input_per_m, output_per_m;
    sy_nano_t cache_read_per_m, cache_write_per_m; /* -1: none */
} sy_money_prices_t;

/* The cost of one request's usage (docs/billing.md, "Cost"): the ONE place a request's token
 * counts become money (the meter, the usage record, x-switchyard-cost, usage.cost).
 * `prompt` includes the cache counts (OpenAI's convention). The cache counts are clamped so
 * that cache_read <= prompt and cache_read + cache_write <= prompt; the rest of the prompt
 * (prompt - cache_read - cache_write) is billed at input_per_m, cache-read tokens at
 * cache_read_per_m and cache-write tokens at cache_write_per_m when the model has that price
 * (else at input_per_m), completion tokens at output_per_m. Each price's share is rounded
 * half up on its own (sy_money_cost) and the shares are added, saturating at INT64_MAX.
 * Without cache prices this is sy_money_cost(prompt, input) + sy_money_cost(completion,
 * output) exactly. Negative counts count as 0. The clamped cache counts go to *billed_read /
 * *billed_write when those are not NULL. */
sy_nano_t sy_money_usage_cost(const sy_money_prices_t *p, int64_t prompt, int64_t completion,
                              int64_t cache_read, int64_t cache_write, int64_t *billed_read,
                              int64_t *billed_write);
/* Formats nano-USD as a decimal USD string with 9 fractional digits ("0.000001500").
 * `out` needs 32 bytes. */
void sy_money_format_usd(sy_nano_t v, char out[32]);

#endif
