/* Small helpers: growable buffers, JSON escaping, word counting, clocks. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mockllm.h"

void sb_init(sbuf_t *sb, h2o_mem_pool_t *pool, size_t cap)
{
    sb->pool = pool;
    sb->len = 0;
    sb->cap = 0;
    sb->buf = NULL;
    if (cap != 0)
        sb_reserve(sb, cap);
}

void sb_reserve(sbuf_t *sb, size_t extra)
{
    if (sb->len + extra <= sb->cap)
        return;
    size_t ncap = sb->cap != 0 ? sb->cap * 2 : 256;
    while (ncap < sb->len + extra)
        ncap *= 2;
    if (sb->pool != NULL) {
        char *n = h2o_mem_alloc_pool(sb->pool, ncap);
        if (sb->len != 0)
            memcpy(n, sb->buf, sb->len);
        sb->buf = n;
    } else {
        char *n = realloc(sb->buf, ncap);
        if (n == NULL)
            abort();
        sb->buf = n;
    }
    sb->cap = ncap;
}

void sb_add(sbuf_t *sb, const char *s, size_t n)
{
    sb_reserve(sb, n);
    memcpy(sb->buf + sb->len, s, n);
    sb->len += n;
}

void sb_addc(sbuf_t *sb, char c)
{
    sb_reserve(sb, 1);
    sb->buf[sb->len++] = c;
}

void sb_addn(sbuf_t *sb, char c, size_t n)
{
    sb_reserve(sb, n);
    memset(sb->buf + sb->len, c, n);
    sb->len += n;
}

void sb_u64(sbuf_t *sb, uint64_t v)
{
    char tmp[24];
    size_t i = sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    sb_add(sb, tmp + i, sizeof(tmp) - i);
}

void sb_i64(sbuf_t *sb, int64_t v)
{
    if (v < 0) {
        sb_addc(sb, '-');
        sb_u64(sb, (uint64_t)0 - (uint64_t)v);
    } else {
        sb_u64(sb, (uint64_t)v);
    }
}

void sb_printf(sbuf_t *sb, const char *fmt, ...)
{
    va_list ap;
    sb_reserve(sb, 64);
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(sb->buf + sb->len, sb->cap - sb->len, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if ((size_t)n < sb->cap - sb->len) {
            sb->len += (size_t)n;
            return;
        }
        sb_reserve(sb, (size_t)n + 1);
    }
}

void sb_json_esc(sbuf_t *sb, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    sb_reserve(sb, n + 8);
    for (size_t i = 0; i != n; ++i) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            if (sb->len == sb->cap)
                sb_reserve(sb, n - i + 8);
            sb->buf[sb->len++] = (char)c;
            continue;
        }
        sb_reserve(sb, 6 + (n - i));
        char *p = sb->buf + sb->len;
        switch (c) {
        case '"':
            memcpy(p, "\\\"", 2), sb->len += 2;
            break;
        case '\\':
            memcpy(p, "\\\\", 2), sb->len += 2;
            break;
        case '\n':
            memcpy(p, "\\n", 2), sb->len += 2;
            break;
        case '\r':
            memcpy(p, "\\r", 2), sb->len += 2;
            break;
        case '\t':
            memcpy(p, "\\t", 2), sb->len += 2;
            break;
        default:
            p[0] = '\\', p[1] = 'u', p[2] = '0', p[3] = '0', p[4] = hex[c >> 4], p[5] = hex[c & 15];
            sb->len += 6;
            break;
        }
    }
}

void sb_json_str(sbuf_t *sb, const char *s, size_t n)
{
    sb_addc(sb, '"');
    sb_json_esc(sb, s, n);
    sb_addc(sb, '"');
}

void sb_free(sbuf_t *sb)
{
    if (sb->pool == NULL)
        free(sb->buf);
    sb->buf = NULL;
    sb->len = sb->cap = 0;
}

static const unsigned char is_space[256] = {
    [' '] = 1, ['\t'] = 1, ['\n'] = 1, ['\r'] = 1, ['\v'] = 1, ['\f'] = 1};

size_t count_words(const char *s, size_t n)
{
    /* a word starts at every non-space byte that follows a space (or the start) */
    size_t words = 0;
    unsigned prev_space = 1;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i != n; ++i) {
        unsigned sp = is_space[p[i]];
        words += prev_space & (sp ^ 1);
        prev_space = sp;
    }
    return words;
}

/* cJSON allocations come from a per-thread bump arena that is reset after each request, so
 * parsing a request costs no malloc/free per node. Blocks that do not fit fall back to malloc;
 * free() of arena memory is a no-op. */
static __thread struct {
    char *buf;
    size_t used, cap;
} arena;

static void *arena_malloc(size_t sz)
{
    if (arena.buf == NULL) {
        arena.cap = 256 * 1024;
        arena.buf = malloc(arena.cap);
        if (arena.buf == NULL)
            abort();
    }
    sz = (sz + 15) & ~(size_t)15;
    if (sz <= arena.cap - arena.used) {
        void *p = arena.buf + arena.used;
        arena.used += sz;
        return p;
    }
    return malloc(sz);
}

static void arena_free(void *p)
{
    if (p == NULL || ((char *)p >= arena.buf && (char *)p < arena.buf + arena.cap))
        return;
    free(p);
}

void json_arena_init(void)
{
    cJSON_Hooks hooks = {arena_malloc, arena_free};
    cJSON_InitHooks(&hooks);
}

void json_arena_reset(void)
{
    arena.used = 0;
}

uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t fnv1a(const void *p, size_t n, uint64_t h)
{
    const unsigned char *s = p;
    for (size_t i = 0; i != n; ++i) {
        h ^= s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}
