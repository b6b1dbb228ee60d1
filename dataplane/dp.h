/*
 * dp — types shared by the data plane's request stages.
 *
 * A request meets the stages in file order:
 *   dp_accept.c   request id, CORS, method/path dispatch            (stage 1)
 *   dp_auth.c     API key → key record                               (stage 2)
 *   dp_admit.c    workspace/key state, rate limits                   (stage 3)
 *   dp_body.c     parse and validate the JSON body                   (stage 4)
 *   dp_route.c    model form → ordered candidate list                (stage 5)
 *   dp_admit.c    worst case reserved against balance and key budget (stage 3b,
 *                 dp_admit_reserve: needs the candidates; dp_reserve.h)
 *   providers/    adapt the request to the candidate's dialect       (stage 6)
 *   dp_upstream.c HTTP/1.1 client on h2o sockets, keep-alive pools  (stage 7)
 *   dp_relay.c    response/stream back to the client, failover       (stage 8)
 *   dp_meter.c    usage, cost, access log, metrics                   (stage 9)
 * Any stage may end the request through dp_respond_error (dp_respond.c), the only place an
 * error becomes a response.
 *
 * Threading: each event-loop thread owns a dp_thread_t; a dp_req_t lives on exactly one
 * thread. Nothing here is shared between threads except the snapshot (dp_snapshot.h).
 *
 * Lifetime of a request: dp_req_t is malloc'ed when the request arrives and anchored to the
 * h2o request pool. When h2o disposes the request (response done or client gone) the anchor
 * clears `r->req` and cancels any upstream transfer; the dp_req_t is freed once neither
 * the h2o request nor a transfer refers to it (dp_req_release).
 */
#ifndef DP_H
#define DP_H

#include <cjson/cJSON.h>
#include <h2o.h>
#include <stdint.h>

#include "dp_breaker.h"
#include "dp_classify.h"
#include "dp_limit.h"
#include "providers/dp_provider.h"
#include "dp_reserve.h"
#include "dp_snapshot.h"
#include "sy_arena.h"
#include "sy_json.h"
#include "sy_log.h"
#include "sy_error.h"
#include "sy_sse.h"

#define DP_MAX_CANDIDATES 8
#define DP_REQUEST_ID_MAX 64
#define DP_STREAM_PENDING_CAP (32 * 1024)    /* bytes queued for a slow client before pausing upstream */
#define DP_MAX_RESPONSE_BYTES (32u << 20)    /* non-streamed upstream answer cap */
#define DP_MAX_SSE_EVENT (1u << 20)          /* one upstream SSE event cap */
#define DP_MAX_TOP_MEMBERS 256               /* top-level fields in a request body */
#define DP_WATCH_DELAY_MS 100                /* a request waits this long before its client is watched */
#define DP_UPSTREAM_POOL_CAP 128             /* idle keep-alive connections per upstream origin and thread */
#define DP_UPSTREAM_KEEPALIVE_MS 30000       /* an idle upstream connection is closed after this */
#define DP_UP_EXTRA_HEADERS 4                /* per-attempt header lines in front of the provider's block */

typedef struct dp_thread dp_thread_t;
typedef struct dp_upstream dp_upstream_t;
typedef struct dp_metrics dp_metrics_t;
typedef struct dp_engine dp_engine_t;
typedef struct dp_watch dp_watch_t;

/* OTHER: health checks and scrapes (no access log line); UNKNOWN: a path we do not serve (logged). */
typedef enum { DP_EP_OTHER = 0, DP_EP_CHAT, DP_EP_EMBEDDINGS, DP_EP_MODELS, DP_EP_UNKNOWN, DP_EP__COUNT } dp_endpoint_t;

/* How the candidate list was ordered (docs/routing.md). */
typedef enum { DP_OBJ_EXPLICIT, DP_OBJ_COST, DP_OBJ_QUALITY, DP_OBJ_BALANCED, DP_OBJ_LATENCY } dp_objective_t;
const char *dp_objective_name(dp_objective_t o);

/* Growable byte buffer with a hard cap (malloc-backed; dp_buf_free releases). */
typedef struct dp_buf {
    char *base;
    size_t len, cap;
} dp_buf_t;
int dp_buf_append(dp_buf_t *b, const void *p, size_t n, size_t limit);
void dp_buf_free(dp_buf_t *b);

/* The upstream request headers of one attempt: `extra` lines of its own (each "Name: value\r\n",
 * in the request arena), then `fixed`, the provider's block built once per snapshot
 * (dp_provider_t.headers_json/_sse: CRLF-terminated lines). The engine adds the request line,
 * Host and Content-Length. */
typedef struct dp_up_headers {
    h2o_iovec_t extra[DP_UP_EXTRA_HEADERS];
    size_t nextra;
    h2o_iovec_t fixed;
} dp_up_headers_t;

typedef struct dp_req {
    h2o_req_t *req; /* NULL once h2o disposed the request */
    dp_thread_t *th;
    dp_snapshot_t *snap; /* borrowed from th's holder */
    h2o_linklist_t link; /* in th->active while the request is in flight */
    uint64_t t_start_ns, t_up_ns, t_up_end_ns, t_first_byte_ns;
    int64_t t_wall_s; /* arrival, unix seconds (the `created` of answers the gateway writes) */
    uint64_t t_attempt_ns, t_attempt_fb_ns; /* the current attempt's start and first byte */
    uint64_t t_client_fb_ns; /* the response started to the client (stream: first content chunk) */
    char id[DP_REQUEST_ID_MAX + 1];
    dp_endpoint_t ep;
    const dp_inbound_ops_t *in; /* the client's dialect (set by dispatch, stage 1) */
    h2o_iovec_t body_src;       /* what stage 4 parses: the entity, or the inbound dialect's canonical
                                 * translation of it (r->in->parse, in the arena) */
    unsigned char in_state[64]; /* the inbound writer's own (dp_provider.h) */
    const char *path_note; /* DP_EP_UNKNOWN: " method=… path=…" for the access log (arena) */
    const dp_key_t *key;
    dp_limit_view_t rl; /* stage 3: rate-limit outcome, for the x-ratelimit-* headers and settlement */
    dp_reserve_t rsv;   /* stage 3b (after routing): the worst case held against balance/budget; closed in dp_meter_finish */

    /* request-lifetime memory: the parsed body and the parsed upstream answer live here */
    sy_arena_t arena;

    /* stage 4: the request body (a tree in `arena`; never cJSON_Delete'd) */
    cJSON *body;
    sy_json_member_t *members; /* top-level members of the body, for splicing */
    int nmembers;
    int stream, client_wants_usage;
    int64_t max_tokens; /* the output bound the client set (max_tokens or its dialect's name); 0 none */
    int count_only;     /* a token count (count_tokens): nothing will be generated */

    /* stage 5: candidates, and why (dp_route.c) */
    const dp_model_t *cand[DP_MAX_CANDIDATES];
    size_t ncand, next_cand, attempts;
    const dp_model_t *model; /* candidate of the current attempt */
    dp_objective_t objective;
    int task, difficulty; /* sy_task_t / sy_difficulty_t; -1 when not classified (embeddings). difficulty
                           * is the one routing used: one level above the classifier's when it leaned */
    float task_conf, diff_conf; /* the classifier's probabilities of its task and difficulty; < 0 when it did
                                 * not run (no model, no text, embeddings) */
    int diff_leaned;            /* 1: the classifier was unsure and routing took the next harder level */
    size_t considered;       /* catalog models the router looked at */
    const char *reason;      /* in `arena` */
    const char *tag;         /* the override tag found in the last user message, or NULL */
    char *messages_override; /* the `messages` member re-printed without the tag (arena), or NULL */
    uint32_t max_latency_ms;

    /* stage 6/7: the current upstream attempt */
    _Alignas(8) unsigned char up_state[DP_UPSTREAM_STATE_BYTES]; /* the dialect reader's (dp_provider.h) */
    dp_upstream_t *up;
    char *up_body; /* upstream request body, owned (free) */
    size_t up_body_len;
    const char *up_url;
    dp_up_headers_t up_headers; /* the attempt's own lines (arena) + the provider's prebuilt block */
    int up_status;
    int up_retry_after; /* seconds, -1 when none */
    sy_err_t last_err;
    char last_msg[200];
    char failed[256]; /* failed attempts "provider/model:why,..." for the access log (dp_relay.c) */
    size_t failed_len;

    /* stage 8: relay */
    h2o_generator_t gen;
    int started, inflight, final_sent, up_done, up_paused, done_seen;
    int gated; /* counted in th->admitted (dp_accept.c's in-flight gate) until the request ends */
    dp_buf_t sending, pending; /* stream double buffer; non-stream: pending collects the body */
    sy_sse_t sse;

    /* stage 9 */
    dp_usage_t usage;
    sy_err_t end; /* why the request ended */
    int status;
    int anchored; /* the h2o pool still refers to us */
    int busy;     /* a relay callback is on the stack: do not free */
    int overflow; /* upstream answer exceeded DP_MAX_RESPONSE_BYTES */
    h2o_timeout_entry_t retry_entry; /* next attempt, deferred out of the engine's callbacks */
    h2o_timeout_entry_t watch_entry; /* dp_watch.c: delay before watching the client */
    int watch_fd;                    /* client fd in the watch set, or -1 */
    h2o_socket_t *hold_sock;         /* dp_watch_hold: the client socket we keep watched, or NULL */

    /* stage 9: the usage record — one per upstream attempt (dp_meter_attempt_end, dp_usage.h) */
    int ua_open;               /* an attempt started and its record is not submitted yet */
    uint64_t ua_content_bytes; /* string content relayed in this attempt's stream (the estimate) */
    sy_nano_t billed;          /* sum of the attempts' billed cost: what the ledger will debit */
    int64_t billed_in, billed_out; /* and their tokens (provider counts or estimates) */
    int billed_estimated;          /* some attempt was billed an estimate */
    int usage_invalid_logged;      /* a provider's absurd usage was logged for this request */
} dp_req_t;

struct dp_thread {
    size_t index;
    pthread_t tid;
    h2o_evloop_t *loop;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    h2o_socket_t *listener;
    h2o_multithread_receiver_t receiver;
    dp_snapshot_holder_t holder;
    dp_engine_t *engine; /* dp_upstream.c: this thread's upstream connections */
    dp_watch_t *watch;
    struct sy_linger *linger; /* sy_linger.h: lingering closes after h2o's own 413 */
    struct dp_authfail *authfail; /* dp_authfail.h: failed authentications per client (this thread's) */
    dp_metrics_t *metrics;
    dp_breakers_t *breakers; /* dp_breaker.h: this thread's view of each upstream model */
    h2o_linklist_t active;
    size_t inflight, streams;
    /* the node-wide in-flight cap (limits.max_inflight; dp_accept.c): this thread's model
     * requests past the gate, and its refusals. Written only by this thread (relaxed atomic
     * stores), read by the gate on every thread and by /metrics. */
    size_t admitted;
    uint64_t overload_refused;
    /* accept(2) failing for lack of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM):
     * this thread stops accepting for DP_ACCEPT_PAUSE_MS instead of spinning on a listener that
     * stays readable (dp_server.c). */
    h2o_timeout_t accept_pause;
    h2o_timeout_entry_t accept_entry;
    uint64_t accept_errors, accept_warned_ns, accept_unlogged;
    int draining, stop;
    h2o_timeout_t drain_tick;
    h2o_timeout_entry_t drain_entry;
    uint64_t req_seq;
    /* dp_meter.c: access-log lines of this iteration, written as one batch (SY_LOG_BATCH) */
    char log_buf[SY_LOG_BATCH];
    size_t log_len;
    h2o_timeout_entry_t log_entry;
};

/* ---- dp_server.c ---- */
extern __thread dp_thread_t *dp_self;
typedef struct {
    uint64_t drain_ms;
    const char *node_id;
} dp_runtime_t;
extern dp_runtime_t dp_rt;
uint64_t dp_now_ns(void);
int dp_shutting_down(void);
/* Model requests past the in-flight gate on the whole node: the sum of every loop thread's
 * `admitted`, read with relaxed loads (a recent value; any thread). */
size_t dp_server_admitted(void);
#define DP_ACCEPT_PAUSE_MS 100

/* ---- dp_accept.c (stage 1) ---- */
int dp_on_req(h2o_handler_t *self, h2o_req_t *req);
/* Drops one owner of r (the h2o anchor or the upstream transfer); frees r with the last. */
void dp_req_maybe_free(dp_req_t *r);

/* ---- dp_auth.c (stage 2) ---- */
/* SY_E_OK (r->key set), SY_E_INVALID_API_KEY, or SY_E_AUTH_THROTTLED (429: the client is over
 * its failed-authentication limit, dp_authfail.h; r->rl.retry_after_s set). On refusal msg gets
 * the client-facing message. */
sy_err_t dp_auth(dp_req_t *r, char *msg, size_t msglen);
/* ---- dp_admit.c (stage 3) ---- */
/* On refusal, msg gets the client-facing message (the caller answers with it). */
sy_err_t dp_admit(dp_req_t *r, char *msg, size_t msglen);
/* Stage 3b, run right after routing (the candidates are known): reserves the request's worst
 * case against the workspace balance and the key budget (dp_reserve.h). On refusal
 * SY_E_INSUFFICIENT_QUOTA with the client's message in msg. dp_meter_finish closes it. */
sy_err_t dp_admit_reserve(dp_req_t *r, char *msg, size_t msglen);
/* ---- dp_body.c (stage 4) ---- */
sy_err_t dp_body_parse(dp_req_t *r, char *msg, size_t msglen, const char **param);
/* ---- dp_route.c (stage 5) ---- */
/* The classifier the router uses (NULL: every prompt is chat/medium). Set once at start,
 * before the loops run; read-only afterwards. */
extern const dp_classify_model_t *dp_router_classifier;
sy_err_t dp_route(dp_req_t *r, char *msg, size_t msglen, const char **param);
/* Next candidate the breakers allow (advancing r->next_cand), or NULL when none is left. When
 * every remaining candidate's breaker is open, the least recently failed one is tried anyway
 * (never eject every candidate). */
const dp_model_t *dp_route_next(dp_req_t *r);
/* ---- providers/ (stages 6 and 8): each dialect's ops, behind providers/dp_provider.h; the
 * candidate's dialect is r->model->provider->ops, the client's r->in ---- */

/* ---- dp_upstream.c (stage 7): the one upstream engine ---- */
typedef struct {
    /* First bytes of the body arrived (status and headers known). */
    void (*on_response)(void *ctx, int status, int retry_after);
    /* Body bytes. Return 0 to accept all of them, 1 to pause (the same bytes come again after
     * dp_upstream_resume). */
    int (*on_data)(void *ctx, const char *p, size_t n);
    /* The transfer ended; `err` is SY_E_OK, SY_E_UPSTREAM_ERROR or SY_E_UPSTREAM_TIMEOUT. No
     * callback follows. The handle is gone after this returns. */
    void (*on_done)(void *ctx, sy_err_t err, const char *why);
} dp_upstream_cb_t;
typedef struct {
    const char *url; /* http(s)://authority/path?query */
    dp_up_headers_t headers;
    const char *body;
    size_t body_len;
    const char *ca_file; /* NULL = system CAs; verification is always on */
    uint32_t connect_ms, first_byte_ms, idle_ms, total_ms;
} dp_upstream_spec_t;
/* One engine per loop thread (created and destroyed on it): keep-alive pools per origin
 * (scheme, host:port, ca_file), DP_UPSTREAM_POOL_CAP idle connections each, closed after
 * DP_UPSTREAM_KEEPALIVE_MS idle. */
dp_engine_t *dp_engine_create(h2o_evloop_t *loop, h2o_context_t *ctx);
void dp_engine_destroy(dp_engine_t *e);
/* Starts a POST. The spec's strings are copied except `body`, which must stay valid until
 * on_done or dp_upstream_cancel. NULL when the URL cannot be used (nothing was started);
 * failures after that (connect, TLS, name resolution) come through on_done, never from inside
 * this call. A reused keep-alive connection found closed before any byte of the answer is
 * retried once on a fresh connection, invisibly. */
dp_upstream_t *dp_upstream_start(dp_engine_t *e, const dp_upstream_spec_t *spec, const dp_upstream_cb_t *cb,
                                 void *ctx);
void dp_upstream_resume(dp_upstream_t *u);
/* Cancels a transfer; no callback is called afterwards. Safe from any callback. */
void dp_upstream_cancel(dp_upstream_t *u);

/* ---- dp_relay.c (stage 8) ---- */
/* Starts (or continues with the next candidate) the upstream attempts. */
void dp_relay_forward(dp_req_t *r);
/* Ends an in-flight request now (drain deadline): error event on a started stream, else an
 * error response. */
void dp_relay_abort(dp_req_t *r, sy_err_t err, const char *msg);

/* The client left before the response started: cancel the upstream, close the connection. */
void dp_relay_client_gone(dp_req_t *r);

/* ---- dp_watch.c: noticing clients that leave while their request waits ---- */
dp_watch_t *dp_watch_create(h2o_evloop_t *loop);
void dp_watch_destroy(h2o_evloop_t *loop, dp_watch_t *w);
void dp_watch_arm(dp_req_t *r);
void dp_watch_disarm(dp_req_t *r);
/* HTTP/1: keeps the client socket read-watched (without reading) while the upstream works,
 * saving h2o's epoll_ctl DEL + ADD per request; release gives it back (from the request's
 * dispose, before h2o reads the next request). */
void dp_watch_hold(dp_req_t *r);
void dp_watch_release(dp_req_t *r);

/* ---- dp_meter.c (stage 9) ---- */
sy_nano_t dp_meter_cost(const dp_req_t *r);
/* Access log line and metrics, once per request; submits the last attempt's usage record. */
void dp_meter_finish(dp_req_t *r);
/* The access log's batch: a whole line appended (written at the end of the loop iteration);
 * flush writes what is pending now (thread exit). th may be NULL (written at once). */
void dp_meter_log(dp_thread_t *th, const char *line, size_t len);
void dp_meter_log_flush(dp_thread_t *th);
/* Starts the usage record of a new attempt (r->model set); submits a previous one still open. */
void dp_meter_attempt_begin(dp_req_t *r);
/* Submits the current attempt's usage record (no-op when none is open). Outcome from `err`
 * (the attempt's failure, or how the request ended); tokens from the provider's usage, else an
 * estimate for an attempt that delivered content, else 0. The same tokens and cost go to the
 * metrics (dp_metrics_usage), in bus and standalone mode. Loop thread; never blocks. */
void dp_meter_attempt_end(dp_req_t *r, sy_err_t err);
/* The answer succeeded and its end is about to be handed to the kernel: ends the current attempt
 * with outcome ok, its record made durable first (the loop thread's usage ring, dp_usage_commit:
 * a kill -9 after this cannot lose it). Call right before the h2o_send that carries the answer's
 * end; no-op when no attempt is open. Loop thread; no syscall, lock or allocation (unless the
 * ring is full or absent: then dp_meter_attempt_end's queue). */
void dp_meter_attempt_commit(dp_req_t *r);

/* ---- dp_respond.c ---- */
void dp_respond_error(dp_req_t *r, sy_err_t e, const char *msg, const char *param);
void dp_respond_body(dp_req_t *r, int status, const char *content_type, const char *body, size_t len);
/* Headers every response carries: request id, CORS exposure. */
void dp_add_common_headers(dp_req_t *r);
void dp_add_routing_headers(dp_req_t *r);

/* ---- dp_info.c ---- */
void dp_info_models(dp_req_t *r, const char *id, size_t idlen);
void dp_info_metrics(dp_req_t *r);

/* ---- dp_metrics.c ---- */
dp_metrics_t *dp_metrics_create(void);
void dp_metrics_destroy(dp_metrics_t *m);
void dp_metrics_register(dp_thread_t **threads, size_t n);
/* One finished request: its series (status, model, provider), duration and overhead; with
 * `ttfb` set (it reached an upstream and sent the client something) also its time to first
 * byte, by `stream`. Loop thread (the owner of m). */
void dp_metrics_request(dp_metrics_t *m, int status, const char *model, const char *provider,
                        uint64_t total_ns, uint64_t overhead_ns, int ttfb, int stream, uint64_t ttfb_ns);
/* Tokens and cost (nano-USD) of one upstream attempt, added to its (model, provider) series —
 * the figures of its usage record (dp_meter_attempt_end). Lock-free: only the owning loop
 * thread writes m; a scrape reads with atomic loads. Allocates only the first time a thread
 * sees a (model, provider) pair (at most DP_METRICS_USAGE_SERIES per thread, then one
 * overflow series). */
#define DP_METRICS_USAGE_SERIES 512
void dp_metrics_usage(dp_metrics_t *m, const char *model, const char *provider, int64_t prompt_tokens,
                      int64_t completion_tokens, int64_t cost_nano);
typedef enum { DP_UPERR_CONNECT, DP_UPERR_TIMEOUT, DP_UPERR_STATUS_5XX, DP_UPERR_STATUS_429, DP_UPERR_STATUS_4XX,
               DP_UPERR_RESET, DP_UPERR_MALFORMED, DP_UPERR_OTHER, DP_UPERR__COUNT } dp_uperr_t;
void dp_metrics_upstream_error(dp_metrics_t *m, dp_uperr_t kind);
/* Process-wide snapshot counters (atomics; any thread, e.g. the bus thread or main at start). */
typedef enum { DP_SNAP_SRC_BUS, DP_SNAP_SRC_CACHE, DP_SNAP_SRC_FILE, DP_SNAP_SRC__COUNT } dp_snap_src_t;
typedef enum { DP_SNAP_REJ_CORRUPT, DP_SNAP_REJ_STALE, DP_SNAP_REJ_INVALID, DP_SNAP_REJ__COUNT } dp_snap_rej_t;
void dp_metrics_snapshot_applied(dp_snap_src_t src);
void dp_metrics_snapshot_rejected(dp_snap_rej_t reason);
/* Bus updates put in use by kind — a whole snapshot built (kind 0) or a delta applied (1) — a
 * delta refused (dp_delta_result_t from dp_snapshot.h, != DP_DELTA_OK), and the rows in the
 * overlay of the snapshot in use (0 for a whole one). Bus thread. */
void dp_metrics_bus_update(int delta);
void dp_metrics_delta_refused(int result);
void dp_metrics_overlay_rows(size_t rows);
/* A delta pushed on PUB: applied (DP_DELTA_OK) or refused (dp_delta_result_t). Bus thread. */
void dp_metrics_bus_pushed(int result);
/* Renders Prometheus text for every thread into a malloc'ed buffer. */
char *dp_metrics_render(size_t *len);

#endif
