#include "sy_json.h"

#include <stdint.h>

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when it is invalid. */
static size_t utf8_seq(const unsigned char *s, size_t avail)
{
    unsigned c = s[0];
    if (c < 0x80)
        return c == 0 ? 0 : 1;
    if (c < 0xC2 || c > 0xF4)
        return 0; /* continuation byte, overlong 2-byte lead, or beyond U+10FFFF */
    size_t n = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (avail < n)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    if (n == 3) {
        if (c == 0xE0 && s[1] < 0xA0)
            return 0; /* overlong */
        if (c == 0xED && s[1] >= 0xA0)
            return 0; /* UTF-16 surrogate */
    } else if (n == 4) {
        if (c == 0xF0 && s[1] < 0x90)
            return 0; /* overlong */
        if (c == 0xF4 && s[1] >= 0x90)
            return 0; /* > U+10FFFF */
    }
    return n;
}

int sy_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        if (*p < 0x80 && *p != 0) {
            p++;
            continue;
        }
        size_t n = utf8_seq(p, (size_t)(end - p));
        if (n == 0)
            return 0;
        p += n;
    }
    return 1;
}

sy_json_check_t sy_json_precheck(const char *s, size_t len, unsigned max_depth, size_t *offset)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    unsigned depth = 0;
    int in_str = 0;
    sy_json_check_t rc = SY_JSON_OK;
    while (p < end) {
        unsigned c = *p;
        if (c >= 0x80 || c == 0) {
            size_t n = utf8_seq(p, (size_t)(end - p));
            if (n == 0) {
                rc = SY_JSON_BAD_UTF8;
                goto out;
            }
            p += n;
            continue;
        }
        if (in_str) {
            if (c == '\\') {
                if (p + 1 < end && p[1] != 0 && p[1] < 0x80) {
                    p += 2;
                    continue;
                }
                if (p + 1 < end) {
                    p++; /* let the UTF-8 check judge the escaped byte */
                    continue;
                }
                rc = SY_JSON_UNBALANCED;
                goto out;
            }
            if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > max_depth) {
                rc = SY_JSON_TOO_DEEP;
                goto out;
            }
        } else if (c == '}' || c == ']') {
            if (depth == 0) {
                rc = SY_JSON_UNBALANCED;
                goto out;
            }
            depth--;
        }
        p++;
    }
    if (in_str)
        rc = SY_JSON_UNBALANCED;
out:
    if (offset)
        *offset = (size_t)(p - (const unsigned char *)s);
    return rc;
}

int sy_has_ctl(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0')
            return 1;
    return 0;
}
