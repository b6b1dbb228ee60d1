#include "sy_money.h"

#include "sy_util.h"

#include <stdio.h>

int sy_money_parse_usd(const char *s, sy_nano_t *out)
{
    if (s == NULL || *s == '\0')
        return -1;
    int64_t whole = 0, frac = 0;
    int frac_digits = 0, any = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++, any = 1) {
        if (whole > (INT64_MAX / SY_NANO_PER_USD) / 10)
            return -1;
        whole = whole * 10 + (*p - '0');
    }
    if (*p == '.') {
        p++;
        for (; *p >= '0' && *p <= '9'; p++, any = 1) {
            if (++frac_digits > 9)
                return -1;
            frac = frac * 10 + (*p - '0');
        }
    }
    if (*p != '\0' || !any)
        return -1;
    for (int i = frac_digits; i < 9; i++)
        frac *= 10;
    *out = whole * SY_NANO_PER_USD + frac;
    return 0;
}

sy_nano_t sy_money_cost(int64_t tokens, sy_nano_t per_m)
{
    if (tokens <= 0 || per_m <= 0)
        return 0;
    __int128 v = (__int128)tokens * per_m + 500000;
    v /= 1000000;
    return v > INT64_MAX ? INT64_MAX : (sy_nano_t)v;
}

static sy_nano_t add_sat(sy_nano_t a, sy_nano_t b)
{
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

sy_nano_t sy_money_usage_cost(const sy_money_prices_t *p, int64_t prompt, int64_t completion,
                              int64_t cache_read, int64_t cache_write, int64_t *billed_read,
                              int64_t *billed_write)
{
    prompt = prompt > 0 ? prompt : 0;
    int64_t cr = cache_read > 0 ? cache_read : 0, cw = cache_write > 0 ? cache_write : 0;
    if (cr > prompt)
        cr = prompt;
    if (cw > prompt - cr)
        cw = prompt - cr;
    if (billed_read)
        *billed_read = cr;
    if (billed_write)
        *billed_write = cw;
    /* tokens at the input price: the uncached rest, and each cache count without a price of its own
     * (all of it: no cache price at all bills the whole prompt at input_per_m, as before) */
    int64_t at_input = prompt - cr - cw;
    if (p->cache_read_per_m < 0)
        at_input += cr;
    if (p->cache_write_per_m < 0)
        at_input += cw;
    sy_nano_t cost = sy_money_cost(at_input, p->input_per_m);
    if (p->cache_read_per_m >= 0)
        cost = add_sat(cost, sy_money_cost(cr, p->cache_read_per_m));
    if (p->cache_write_per_m >= 0)
        cost = add_sat(cost, sy_money_cost(cw, p->cache_write_per_m));
    return add_sat(cost, sy_money_cost(completion, p->output_per_m));
}

void sy_money_format_usd(sy_nano_t v, char out[32])
{
    const char *sign = "";
    uint64_t u = (uint64_t)v;
    if (v < 0) {
        sign = "-";
        u = (uint64_t)0 - u;
    }
    size_t n = 0;
    if (*sign)
        out[n++] = '-';
    n += sy_fmt_u64(out + n, u / 1000000000u); /* at most 11 digits: fits 32 with the rest */
    out[n++] = '.';
    uint64_t frac = u % 1000000000u;
    for (int i = 8; i >= 0; i--, frac /= 10)
        out[n + (size_t)i] = (char)('0' + frac % 10);
    out[n + 9] = '\0';
}
