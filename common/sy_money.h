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
/* Formats nano-USD as a decimal USD string with 9 fractional digits ("0.000001500").
 * `out` needs 32 bytes. */
void sy_money_format_usd(sy_nano_t v, char out[32]);

#endif
