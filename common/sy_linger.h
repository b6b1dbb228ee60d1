/*
 * sy_linger — a lingering close (as nginx's) for connections that h2o ends while the client is
 * still sending its request body.
 *
 * h2o 2.2.5 answers a body over `max_request_entity_size` with 413 at once and closes the
 * socket ("TODO use lingering close" in its http1.c). A client still sending then has unread
 * bytes in our receive queue, so the close becomes a TCP reset, and the reset makes the
 * client's kernel drop the 413 it had not read yet: Node's fetch reports `fetch failed`
 * (EPIPE / ECONNRESET) instead of the JSON error.
 *
 * sy_linger_start takes a second descriptor of such a connection (dup) before h2o writes the
 * answer. h2o's close then only drops its own descriptor: the connection stays open, h2o's
 * answer goes out, and this module reads and discards what the client still sends. Once h2o
 * has closed its descriptor (its answer is written), the write side is shut down (FIN after
 * the answer). The connection is closed when the client closes, on a read error, or at the
 * first bound reached: `time_ms` since the start, `idle_ms` without a byte, `max_bytes`
 * discarded. Nothing is buffered: every read goes to one 64 KiB scratch buffer per thread.
 * At most `max_conns` connections linger per thread; past that, the connection is closed as
 * h2o would (the old behaviour).
 *
 * Only HTTP/1.x connections linger (an HTTP/2 socket carries other streams).
 *
 * Threading: one sy_linger_t per event-loop thread, created, used and destroyed on that
 * thread. sy_linger_thread_init stores it in a thread-local (sy_linger_self) so that h2o
 * filters running on the loop (sy_h2o.c) can find it; threads that never call it do not
 * linger.
 */
#ifndef SY_LINGER_H
#define SY_LINGER_H

#include <h2o.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t time_ms;   /* whole lingering time (default 30000, as nginx's lingering_time) */
    uint32_t idle_ms;   /* longest wait for the next byte (default 5000, lingering_timeout) */
    uint64_t max_bytes; /* bytes discarded before giving up (default 256 MiB) */
    uint32_t max_conns; /* lingering connections per thread (default 1024) */
} sy_linger_conf_t;

typedef struct sy_linger sy_linger_t;

extern __thread sy_linger_t *sy_linger_self;

/* Creates this thread's lingering set on `loop` and makes it sy_linger_self. conf NULL: the
 * defaults above. Aborts on failure to create its epoll descriptor (start-up only). */
sy_linger_t *sy_linger_thread_init(h2o_evloop_t *loop, const sy_linger_conf_t *conf);
/* Closes every lingering connection and frees the set; clears sy_linger_self. */
void sy_linger_thread_dispose(void);

/* Lingers req's connection after its current response (h2o must be about to close it: call
 * only for a non-persistent HTTP/1 response). 0 when taken, -1 when not (HTTP/2, no socket,
 * the per-thread cap, dup failed): h2o's plain close happens then. */
int sy_linger_start(sy_linger_t *l, h2o_req_t *req);

/* Connections lingering on this thread now; the totals since start (for metrics and tests). */
typedef struct {
    size_t active;
    uint64_t started, refused, bytes_discarded;
    uint64_t ended_eof, ended_time, ended_idle, ended_bytes, ended_error;
} sy_linger_stats_t;
void sy_linger_stats(const sy_linger_t *l, sy_linger_stats_t *out);

#endif
