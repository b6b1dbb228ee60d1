/*
 * sy_sse — incremental parser for Server-Sent Events coming from an upstream.
 *
 * Bytes arrive in arbitrary pieces; the parser hands out whole events: the raw bytes of the
 * event (so a relay can pass them on unchanged), its `event:` name and its joined `data:`
 * lines. An event that grows past `max_event` bytes is an error (the stream is broken or
 * hostile), so memory per stream is bounded by construction.
 *
 * Lines end in LF or CRLF; an event ends at an empty line. Comment lines (":" …) and other
 * fields (id, retry) are kept in `raw` but not interpreted.
 *
 * Lifetime: sy_sse_init, any number of sy_sse_feed, sy_sse_dispose. The event passed to the
 * callback points into the parser's buffer and is valid only during the callback.
 * Thread-safety: one parser per stream, used by one thread.
 */
#ifndef SY_SSE_H
#define SY_SSE_H

#include <stddef.h>

typedef struct {
    const char *raw; /* whole event, including its terminating blank line */
    size_t raw_len;
    const char *event; /* value of the `event:` field, or NULL */
    size_t event_len;
    const char *data; /* `data:` lines joined with '\n'; NULL when the event had none */
    size_t data_len;
} sy_sse_event_t;

typedef struct {
    char *buf; /* pending bytes of the event being assembled */
    size_t len, cap, scanned;
    char *data; /* scratch for the joined data lines */
    size_t data_cap;
    size_t max_event;
} sy_sse_t;

/* Returns non-zero to stop parsing; that value is returned by sy_sse_feed. */
typedef int (*sy_sse_cb)(void *ctx, const sy_sse_event_t *ev);

enum { SY_SSE_OK = 0, SY_SSE_ETOOBIG = -1, SY_SSE_ENOMEM = -2 };

void sy_sse_init(sy_sse_t *p, size_t max_event);
/* Feeds bytes; calls cb once per complete event. Returns SY_SSE_OK, a negative SY_SSE_E*, or the
 * callback's non-zero value. After an error the parser must not be fed again. */
int sy_sse_feed(sy_sse_t *p, const char *bytes, size_t n, sy_sse_cb cb, void *ctx);
/* Bytes of an incomplete event still held (non-zero at end of stream = truncated event). */
size_t sy_sse_pending(const sy_sse_t *p);
void sy_sse_dispose(sy_sse_t *p);

#endif
