/*
 * Stage 7: the one upstream engine — libcurl multi driven by the thread's h2o event loop.
 *
 * Every curl socket lives in a per-thread epoll set; that epoll fd is itself one h2o socket,
 * so the loop wakes when any upstream socket is ready and we hand each ready fd to
 * curl_multi_socket_action. curl's timer and our first-byte/idle timers are h2o timeouts, so
 * every curl call happens inside an h2o callback (STACK.md: h2o I/O outside callbacks stalls).
 * Provider dialects never see curl: they fill a dp_upstream_spec_t and get callbacks.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "dp.h"
#include "sy_log.h"

#define MAX_TIMERS 32
#define MAX_FREE_EASY 64

struct dp_curl {
    h2o_evloop_t *loop;
    h2o_context_t *ctx;
    CURLM *multi;
    int epfd;
    h2o_socket_t *epsock;
    h2o_timeout_entry_t timer_entry; /* curl's own timer */
    uint64_t timer_deadline_ms;
    int in_timer_cb;
    struct {
        uint32_t ms;
        h2o_timeout_t t;
    } timers[MAX_TIMERS];
    size_t ntimers;
    CURL *free_easy[MAX_FREE_EASY];
    size_t nfree;
};

struct dp_upstream {
    dp_curl_t *c;
    CURL *easy;
    dp_upstream_cb_t cb;
    void *ctx;
    h2o_timeout_entry_t timer; /* first byte, then idle between chunks */
    h2o_timeout_t *fb_timeout, *idle_timeout;
    int got_response, retry_after, paused, cancelled, in_cb;
    char errbuf[CURL_ERROR_SIZE];
};

static h2o_timeout_t *timer_for(dp_curl_t *c, uint32_t ms)
{
    for (size_t i = 0; i < c->ntimers; i++)
        if (c->timers[i].ms == ms)
            return &c->timers[i].t;
    if (c->ntimers == MAX_TIMERS) {
        /* more distinct durations than slots: use the closest shorter one (fires early, callers
         * re-check their deadline) */
        size_t best = 0;
        for (size_t i = 1; i < c->ntimers; i++)
            if (c->timers[i].ms <= ms && c->timers[i].ms > c->timers[best].ms)
                best = i;
        return &c->timers[best].t;
    }
    c->timers[c->ntimers].ms = ms;
    h2o_timeout_init(c->loop, &c->timers[c->ntimers].t, ms);
    return &c->timers[c->ntimers++].t;
}

static uint64_t now_ms(dp_curl_t *c)
{
    return h2o_now(c->loop);
}

static void recycle_easy(dp_curl_t *c, CURL *easy)
{
    curl_multi_remove_handle(c->multi, easy);
    if (c->nfree < MAX_FREE_EASY) {
        /* no curl_easy_reset: the per-transfer options are all set again by the next start, the
         * rest (set once in new_easy) stay */
        curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, NULL);
        c->free_easy[c->nfree++] = easy;
    } else {
        curl_easy_cleanup(easy);
    }
}

static void finish(dp_upstream_t *u, sy_err_t err, const char *why)
{
    dp_curl_t *c = u->c;
    if (sy_log_enabled(SY_LOG_DEBUG)) {
        curl_off_t pre = 0, start = 0, total = 0;
        curl_easy_getinfo(u->easy, CURLINFO_PRETRANSFER_TIME_T, &pre);
        curl_easy_getinfo(u->easy, CURLINFO_STARTTRANSFER_TIME_T, &start);
        curl_easy_getinfo(u->easy, CURLINFO_TOTAL_TIME_T, &total);
        SY_DEBUG("msg=upstream_timing pretransfer_us=%lld starttransfer_us=%lld total_us=%lld",
                 (long long)pre, (long long)start, (long long)total);
    }
    if (h2o_timeout_is_linked(&u->timer))
        h2o_timeout_unlink(&u->timer);
    recycle_easy(c, u->easy);
    int cancelled = u->cancelled;
    dp_upstream_cb_t cb = u->cb;
    void *ctx = u->ctx;
    free(u);
    if (!cancelled)
        cb.on_done(ctx, err, why);
}

static sy_err_t map_curl(CURLcode rc, const char **why)
{
    switch (rc) {
    case CURLE_OK:
        *why = "ok";
        return SY_E_OK;
    case CURLE_OPERATION_TIMEDOUT:
        *why = "upstream timed out";
        return SY_E_UPSTREAM_TIMEOUT;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
        *why = "could not connect to upstream";
        return SY_E_UPSTREAM_ERROR;
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
        *why = "upstream connection broke";
        return SY_E_UPSTREAM_ERROR;
    default:
        *why = curl_easy_strerror(rc);
        return SY_E_UPSTREAM_ERROR;
    }
}

static void report_response(dp_upstream_t *u)
{
    long status = 0;
    curl_easy_getinfo(u->easy, CURLINFO_RESPONSE_CODE, &status);
    u->got_response = 1;
    u->cb.on_response(u->ctx, (int)status, u->retry_after);
}

static void check_done(dp_curl_t *c)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(c->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        dp_upstream_t *u;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&u);
        CURLcode rc = msg->data.result;
        const char *why;
        sy_err_t err = map_curl(rc, &why);
        if (err == SY_E_OK && !u->got_response && !u->cancelled) {
            u->in_cb = 1; /* a cancel from inside on_response only marks */
            report_response(u); /* a response without a body */
            u->in_cb = 0;
        }
        if (err != SY_E_OK && u->errbuf[0] != '\0')
            SY_DEBUG("msg=upstream_curl_error detail=\"%s\"", u->errbuf); /* curl's words stay in the log */
        finish(u, err, why);
    }
}

static void on_timer_entry(h2o_timeout_entry_t *entry);

static void arm_curl_timer(dp_curl_t *c, uint64_t delay)
{
    static const uint32_t buckets[] = {1, 4, 16, 64, 256, 1024};
    uint32_t ms = 1;
    for (size_t i = 0; i < sizeof(buckets) / sizeof(buckets[0]); i++)
        if (buckets[i] <= delay)
            ms = buckets[i];
    if (h2o_timeout_is_linked(&c->timer_entry))
        h2o_timeout_unlink(&c->timer_entry);
    h2o_timeout_link(c->loop, timer_for(c, ms), &c->timer_entry);
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    dp_curl_t *c = userp;
    if (h2o_timeout_is_linked(&c->timer_entry))
        h2o_timeout_unlink(&c->timer_entry);
    if (timeout_ms < 0)
        return 0;
    c->timer_deadline_ms = now_ms(c) + (uint64_t)timeout_ms;
    if (timeout_ms == 0 && !c->in_timer_cb)
        h2o_timeout_link(c->loop, &c->ctx->zero_timeout, &c->timer_entry);
    else
        arm_curl_timer(c, (uint64_t)timeout_ms); /* never re-link the zero timeout from its own run */
    return 0;
}

static void on_timer_entry(h2o_timeout_entry_t *entry)
{
    dp_curl_t *c = H2O_STRUCT_FROM_MEMBER(dp_curl_t, timer_entry, entry);
    uint64_t now = now_ms(c);
    if (now < c->timer_deadline_ms) {
        arm_curl_timer(c, c->timer_deadline_ms - now);
        return;
    }
    int running;
    c->in_timer_cb = 1;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    c->in_timer_cb = 0;
    check_done(c);
}

static int on_curl_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    dp_curl_t *c = userp;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(c->epfd, EPOLL_CTL_DEL, s, NULL); /* curl may already have closed it: ignore errors */
        return 0;
    }
    struct epoll_event ev = {.events = 0, .data.fd = s};
    if (what & CURL_POLL_IN)
        ev.events |= EPOLLIN;
    if (what & CURL_POLL_OUT)
        ev.events |= EPOLLOUT;
    /* curl keeps a per-socket pointer for us: non-NULL once the fd is in our epoll set, so
     * each change is one epoll_ctl, not a failed MOD then an ADD */
    if (socketp != NULL) {
        epoll_ctl(c->epfd, EPOLL_CTL_MOD, s, &ev);
    } else {
        int rc = epoll_ctl(c->epfd, EPOLL_CTL_ADD, s, &ev);
        if (rc != 0 && errno == EEXIST)
            rc = epoll_ctl(c->epfd, EPOLL_CTL_MOD, s, &ev);
        if (rc == 0)
            curl_multi_assign(c->multi, s, c);
    }
    return 0;
}

static void on_epoll_ready(h2o_socket_t *sock, const char *err)
{
    dp_curl_t *c = sock->data;
    struct epoll_event evs[64];
    int n;
    do {
        n = epoll_wait(c->epfd, evs, 64, 0);
        for (int i = 0; i < n; i++) {
            int flags = 0, running;
            if (evs[i].events & EPOLLIN)
                flags |= CURL_CSELECT_IN;
            if (evs[i].events & EPOLLOUT)
                flags |= CURL_CSELECT_OUT;
            if (evs[i].events & (EPOLLERR | EPOLLHUP))
                flags |= CURL_CSELECT_ERR;
            curl_multi_socket_action(c->multi, evs[i].data.fd, flags, &running);
        }
        check_done(c);
    } while (n == 64);
}

static void on_upstream_timer(h2o_timeout_entry_t *entry)
{
    dp_upstream_t *u = H2O_STRUCT_FROM_MEMBER(dp_upstream_t, timer, entry);
    finish(u, SY_E_UPSTREAM_TIMEOUT,
           u->got_response ? "upstream went silent mid-answer (idle timeout)" : "no answer from upstream (first-byte timeout)");
}

static size_t on_header(char *p, size_t sz, size_t nm, void *ud)
{
    dp_upstream_t *u = ud;
    size_t n = sz * nm;
    if (n >= 5 && strncmp(p, "HTTP/", 5) == 0) {
        u->retry_after = -1; /* new status line (after a 1xx): forget earlier headers */
    } else if (n > 12 && strncasecmp(p, "retry-after:", 12) == 0) {
        char tmp[32];
        size_t l = n - 12 < sizeof(tmp) - 1 ? n - 12 : sizeof(tmp) - 1;
        memcpy(tmp, p + 12, l);
        tmp[l] = '\0';
        char *end;
        long v = strtol(tmp, &end, 10);
        if (end != tmp && v >= 0 && v < 86400)
            u->retry_after = (int)v;
    }
    return n;
}

static size_t on_write(char *p, size_t sz, size_t nm, void *ud)
{
    dp_upstream_t *u = ud;
    size_t n = sz * nm;
    if (u->cancelled)
        return 0; /* ends the transfer with CURLE_WRITE_ERROR; finish() stays silent */
    u->in_cb = 1;
    if (!u->got_response) {
        if (h2o_timeout_is_linked(&u->timer))
            h2o_timeout_unlink(&u->timer);
        report_response(u);
    }
    int rc = u->cancelled ? 0 : u->cb.on_data(u->ctx, p, n);
    u->in_cb = 0;
    if (u->cancelled)
        return 0;
    if (h2o_timeout_is_linked(&u->timer))
        h2o_timeout_unlink(&u->timer);
    if (rc == 1) {
        u->paused = 1; /* a slow client is not an idle upstream: no idle timer while paused */
        return CURL_WRITEFUNC_PAUSE;
    }
    if (u->idle_timeout)
        h2o_timeout_link(u->c->loop, u->idle_timeout, &u->timer);
    return n;
}

/* Options that never change for a handle, set once when it is created. */
static CURL *new_easy(void)
{
    CURL *e = curl_easy_init();
    if (e == NULL)
        return NULL;
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 16384L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_PROXY, ""); /* no proxy, and no getenv("*_proxy") per transfer */
    return e;
}

dp_upstream_t *dp_upstream_start(dp_curl_t *c, const dp_upstream_spec_t *spec, const dp_upstream_cb_t *cb, void *ctx)
{
    dp_upstream_t *u = calloc(1, sizeof(*u));
    if (u == NULL)
        return NULL;
    u->c = c;
    u->cb = *cb;
    u->ctx = ctx;
    u->retry_after = -1;
    u->easy = c->nfree ? c->free_easy[--c->nfree] : new_easy();
    if (u->easy == NULL) {
        free(u);
        return NULL;
    }
    CURL *e = u->easy;
    curl_easy_setopt(e, CURLOPT_URL, spec->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, u);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, spec->headers);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, spec->body); /* every upstream call is a POST */
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)spec->body_len);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, u);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, u);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, u->errbuf);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)spec->connect_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)spec->total_ms);
    curl_easy_setopt(e, CURLOPT_CAINFO, spec->ca_file); /* NULL restores the built-in default */
    if (spec->first_byte_ms) {
        u->fb_timeout = timer_for(c, spec->first_byte_ms);
        h2o_timeout_link(c->loop, u->fb_timeout, &u->timer);
    }
    u->timer.cb = on_upstream_timer;
    if (spec->idle_ms)
        u->idle_timeout = timer_for(c, spec->idle_ms);
    if (curl_multi_add_handle(c->multi, e) != CURLM_OK) {
        if (h2o_timeout_is_linked(&u->timer))
            h2o_timeout_unlink(&u->timer);
        curl_easy_cleanup(e);
        free(u);
        return NULL;
    }
    return u;
}

void dp_upstream_resume(dp_upstream_t *u)
{
    if (!u->paused || u->cancelled)
        return;
    u->paused = 0;
    if (u->idle_timeout && !h2o_timeout_is_linked(&u->timer))
        h2o_timeout_link(u->c->loop, u->idle_timeout, &u->timer);
    dp_curl_t *c = u->c;
    curl_easy_pause(u->easy, CURLPAUSE_CONT); /* may call on_write right away */
    check_done(c);
}

void dp_upstream_cancel(dp_upstream_t *u)
{
    if (u->cancelled)
        return;
    u->cancelled = 1;
    if (u->in_cb) {
        /* inside curl's callback we may not remove the handle: on_write returns 0 and the
         * transfer ends by itself through check_done */
        return;
    }
    finish(u, SY_E_OK, "cancelled");
}

dp_curl_t *dp_curl_create(h2o_evloop_t *loop, h2o_context_t *ctx)
{
    dp_curl_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->loop = loop;
    c->ctx = ctx;
    c->multi = curl_multi_init();
    c->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (c->multi == NULL || c->epfd < 0) {
        SY_ERROR("msg=\"cannot create the upstream engine\"");
        abort();
    }
    c->timer_entry.cb = on_timer_entry;
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, 512L); /* idle keep-alive connections kept */
    c->epsock = h2o_evloop_socket_create(loop, c->epfd, H2O_SOCKET_FLAG_DONT_READ);
    c->epsock->data = c;
    h2o_socket_read_start(c->epsock, on_epoll_ready);
    return c;
}

void dp_curl_destroy(dp_curl_t *c)
{
    if (c == NULL)
        return;
    if (h2o_timeout_is_linked(&c->timer_entry))
        h2o_timeout_unlink(&c->timer_entry);
    for (size_t i = 0; i < c->nfree; i++)
        curl_easy_cleanup(c->free_easy[i]);
    curl_multi_cleanup(c->multi);
    h2o_socket_read_stop(c->epsock);
    h2o_socket_close(c->epsock); /* closes epfd */
    for (size_t i = 0; i < c->ntimers; i++)
        h2o_timeout_dispose(c->loop, &c->timers[i].t);
    free(c);
}
