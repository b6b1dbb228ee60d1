#include "sy_sse.h"

#include <stdlib.h>
#include <string.h>

void sy_sse_init(sy_sse_t *p, size_t max_event)
{
    memset(p, 0, sizeof(*p));
    p->max_event = max_event;
}

void sy_sse_dispose(sy_sse_t *p)
{
    free(p->buf);
    free(p->data);
    memset(p, 0, sizeof(*p));
}

size_t sy_sse_pending(const sy_sse_t *p)
{
    return p->len;
}

static int reserve(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 256;
    while (ncap < need)
        ncap *= 2;
    char *nb = realloc(*buf, ncap);
    if (nb == NULL)
        return -1;
    *buf = nb;
    *cap = ncap;
    return 0;
}

/* Interprets the fields of one complete event held in raw[0..len) and calls cb. */
static int emit(sy_sse_t *p, const char *raw, size_t len, sy_sse_cb cb, void *ctx)
{
    sy_sse_event_t ev = {.raw = raw, .raw_len = len};
    size_t dlen = 0;
    int have_data = 0;
    const char *line = raw, *end = raw + len;
    while (line < end) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        const char *le = nl ? nl : end;
        size_t ll = (size_t)(le - line);
        if (ll > 0 && line[ll - 1] == '\r')
            ll--;
        if (ll >= 5 && memcmp(line, "data:", 5) == 0) {
            const char *v = line + 5;
            size_t vl = ll - 5;
            if (vl > 0 && *v == ' ')
                v++, vl--;
            if (reserve(&p->data, &p->data_cap, dlen + vl + 2) != 0)
                return SY_SSE_ENOMEM;
            if (have_data)
                p->data[dlen++] = '\n';
            memcpy(p->data + dlen, v, vl);
            dlen += vl;
            have_data = 1;
        } else if (ll >= 6 && memcmp(line, "event:", 6) == 0) {
            ev.event = line + 6;
            ev.event_len = ll - 6;
            if (ev.event_len > 0 && *ev.event == ' ')
                ev.event++, ev.event_len--;
        }
        line = nl ? nl + 1 : end;
    }
    if (have_data) {
        p->data[dlen] = '\0';
        ev.data = p->data;
        ev.data_len = dlen;
    }
    return cb(ctx, &ev);
}

/* Finds the end of the first event (just past its blank line) in b[from..len), or 0. */
static size_t find_event_end(const char *b, size_t len, size_t from)
{
    for (size_t i = from; i < len; i++) {
        if (b[i] != '\n')
            continue;
        /* b[i] ends a line; the event ends if the next line is empty */
        if (i + 1 < len && b[i + 1] == '\n')
            return i + 2;
        if (i + 2 < len && b[i + 1] == '\r' && b[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

int sy_sse_feed(sy_sse_t *p, const char *bytes, size_t n, sy_sse_cb cb, void *ctx)
{
    if (n == 0)
        return SY_SSE_OK;
    if (reserve(&p->buf, &p->cap, p->len + n) != 0)
        return SY_SSE_ENOMEM;
    memcpy(p->buf + p->len, bytes, n);
    p->len += n;
    size_t start = 0;
    /* rescan two bytes back so a terminator split across feeds is found */
    size_t from = p->scanned > 2 ? p->scanned - 2 : 0;
    for (;;) {
        size_t end = find_event_end(p->buf, p->len, from);
        if (end == 0)
            break;
        /* skip leading blank lines between events (keep-alive newlines) */
        int rc = emit(p, p->buf + start, end - start, cb, ctx);
        if (rc != 0)
            return rc;
        start = from = end;
    }
    if (start > 0) {
        memmove(p->buf, p->buf + start, p->len - start);
        p->len -= start;
    }
    p->scanned = p->len;
    if (p->len > p->max_event)
        return SY_SSE_ETOOBIG;
    return SY_SSE_OK;
}
