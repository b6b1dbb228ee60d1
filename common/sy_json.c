#include "sy_json.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

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

/* Byte classes: non-zero stops the fast scan. Inside strings only the quote, the backslash,
 * NUL and non-ASCII bytes matter; outside them, quotes, brackets, NUL and non-ASCII. */
static unsigned char str_stop[256], out_stop[256];

__attribute__((constructor)) static void init_classes(void)
{
    for (int c = 0; c < 256; c++) {
        str_stop[c] = c == 0 || c >= 0x80 || c == '"' || c == '\\';
        out_stop[c] = c == 0 || c >= 0x80 || c == '"' || c == '{' || c == '[' || c == '}' || c == ']';
    }
}

sy_json_check_t sy_json_precheck(const char *s, size_t len, unsigned max_depth, size_t *offset)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    unsigned depth = 0;
    int in_str = 0;
    sy_json_check_t rc = SY_JSON_OK;
    for (;;) {
        const unsigned char *stop = in_str ? str_stop : out_stop;
        while (p < end && !stop[*p])
            p++;
        if (p == end)
            break;
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
            if (c == '"') {
                in_str = 0;
            } else { /* backslash: skip the escaped byte unless the UTF-8 check must judge it */
                if (p + 1 == end) {
                    rc = SY_JSON_UNBALANCED;
                    goto out;
                }
                if (p[1] != 0 && p[1] < 0x80)
                    p++;
            }
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > max_depth) {
                rc = SY_JSON_TOO_DEEP;
                goto out;
            }
        } else { /* '}' or ']' */
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

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* p at an opening quote; returns just past the closing quote, or NULL. */
static const char *skip_string(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        const char *q = memchr(p, '"', (size_t)(end - p));
        if (q == NULL)
            return NULL;
        /* the quote ends the string unless an odd number of backslashes precede it */
        size_t bs = 0;
        while (q - bs > p && q[-1 - (ptrdiff_t)bs] == '\\')
            bs++;
        if ((bs & 1) == 0)
            return q + 1;
        p = q;
    }
    return NULL;
}

static const char *skip_value(const char *p, const char *end)
{
    if (p >= end)
        return NULL;
    if (*p == '"')
        return skip_string(p, end);
    if (*p == '{' || *p == '[') {
        size_t depth = 0;
        while (p < end) {
            while (p < end && !out_stop[(unsigned char)*p])
                p++; /* valid JSON: nothing but quotes and brackets matters here */
            if (p == end)
                return NULL;
            char c = *p;
            if (c == '"') {
                if ((p = skip_string(p, end)) == NULL)
                    return NULL;
                continue;
            }
            if (c == '{' || c == '[')
                depth++;
            else if ((c == '}' || c == ']') && --depth == 0)
                return p + 1;
            p++;
        }
        return NULL;
    }
    while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
        p++;
    return p;
}

int sy_json_members(const char *s, size_t len, sy_json_member_t *out, int max)
{
    const char *p = skip_ws(s, s + len), *end = s + len;
    if (p >= end || *p != '{')
        return -1;
    p = skip_ws(p + 1, end);
    int n = 0;
    if (p < end && *p == '}')
        return 0;
    while (p < end) {
        if (*p != '"' || n == max)
            return -1;
        const char *kend = skip_string(p, end);
        if (kend == NULL)
            return -1;
        out[n].start = p;
        out[n].key = p + 1;
        out[n].key_len = (size_t)(kend - p - 2);
        p = skip_ws(kend, end);
        if (p >= end || *p != ':')
            return -1;
        p = skip_ws(p + 1, end);
        const char *vend = skip_value(p, end);
        if (vend == NULL)
            return -1;
        out[n].value = p;
        out[n].value_len = (size_t)(vend - p);
        n++;
        p = skip_ws(vend, end);
        if (p < end && *p == ',') {
            p = skip_ws(p + 1, end);
            continue;
        }
        if (p < end && *p == '}')
            return n;
        return -1;
    }
    return -1;
}

static int cmp_key(const void *a, const void *b)
{
    return strcmp((*(const cJSON *const *)a)->string, (*(const cJSON *const *)b)->string);
}

const char *sy_json_duplicate_key(const cJSON *item)
{
    if (item == NULL)
        return NULL;
    if (cJSON_IsObject(item)) {
        size_t n = 0;
        for (const cJSON *c = item->child; c != NULL; c = c->next)
            n++;
        if (n > 1 && n <= 16) {
            for (const cJSON *a = item->child; a != NULL; a = a->next)
                for (const cJSON *b = a->next; b != NULL; b = b->next)
                    if (a->string && b->string && strcmp(a->string, b->string) == 0)
                        return a->string;
        } else if (n > 16) {
            const cJSON **v = malloc(n * sizeof(*v));
            if (v == NULL)
                return "(out of memory)"; /* refuse rather than let an unchecked body through */
            size_t i = 0;
            for (const cJSON *c = item->child; c != NULL; c = c->next)
                v[i++] = c;
            const char *dup = NULL;
            for (i = 0; i < n && dup == NULL; i++)
                if (v[i]->string == NULL)
                    dup = "";
            if (dup == NULL) {
                qsort(v, n, sizeof(*v), cmp_key);
                for (i = 1; i < n && dup == NULL; i++)
                    if (strcmp(v[i - 1]->string, v[i]->string) == 0)
                        dup = v[i]->string;
            }
            free(v);
            if (dup != NULL)
                return dup;
        }
    }
    if (cJSON_IsObject(item) || cJSON_IsArray(item))
        for (const cJSON *c = item->child; c != NULL; c = c->next) {
            const char *d = sy_json_duplicate_key(c);
            if (d != NULL)
                return d;
        }
    return NULL;
}

int sy_json_has_nul_escape(const char *s, size_t len)
{
    for (size_t i = 0; i + 6 <= len; i++) {
        if (s[i] != '\\')
            continue;
        /* an escape starts here; the next byte is what it escapes */
        if (memcmp(s + i + 1, "u0000", 5) == 0)
            return 1;
        i++; /* skip the escaped byte (so "\\\\u0000" is a backslash and text) */
    }
    return 0;
}
