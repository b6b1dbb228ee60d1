#include "dp_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dp.h"
#include "dp_authfail.h"
#include "sy_h2o.h"
#include "sy_linger.h"
#include "sy_log.h"
#include "sy_util.h"

__thread dp_thread_t *dp_self;
dp_runtime_t dp_rt = {.drain_ms = 10000, .node_id = "dp"};

static struct {
    h2o_globalconf_t conf;
    SSL_CTX *ssl_ctx;
    int listen_fd;
    dp_thread_t **threads;
    size_t nthreads;
    atomic_int shutting;
    pthread_mutex_t ready_mu;
    pthread_cond_t ready_cv;
    size_t ready;
} g;

enum { MSG_SNAPSHOT = 1, MSG_SHUTDOWN };
typedef struct {
    h2o_multithread_message_t super;
    int type;
} dp_msg_t;

uint64_t dp_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int dp_shutting_down(void)
{
    return atomic_load_explicit(&g.shutting, memory_order_relaxed);
}

/* Errors h2o answers by itself still carry a request id and CORS, like every response. */
static void decorate_h2o_error(h2o_req_t *req)
{
    /* the request never reached dp_on_req: mint its id here */
    static __thread uint64_t seq;
    char id[48];
    int n =
        snprintf(id, sizeof(id), "req_h2o_%zu_%llu", dp_self ? dp_self->index : 0, (unsigned long long)++seq);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0, NULL,
                          h2o_strdup(&req->pool, id, (size_t)n).base, (size_t)n);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ACCESS_CONTROL_ALLOW_ORIGIN, NULL,
                   H2O_STRLIT("*"));
}

size_t dp_server_admitted(void)
{
    size_t n = 0;
    for (size_t i = 0; i < g.nthreads; i++)
        n += __atomic_load_n(&g.threads[i]->admitted, __ATOMIC_RELAXED);
    return n;
}

/* ---- per-thread ---- */

static void on_accept(h2o_socket_t *listener, const char *err);

static void on_accept_resume(h2o_timeout_entry_t *entry)
{
    dp_thread_t *th = H2O_STRUCT_FROM_MEMBER(dp_thread_t, accept_entry, entry);
    if (th->listener != NULL && !th->draining)
        h2o_socket_read_start(th->listener, on_accept);
}

/* accept(2) failed for want of a descriptor or memory. The connection stays in the kernel's
 * backlog and the listener stays readable, so retrying at once would spin the loop at 100% CPU
 * until something closes (measured: both threads of a node at 256 descriptors burnt 2 s of CPU
 * per second). Instead this thread stops accepting for DP_ACCEPT_PAUSE_MS (nginx does the same
 * for 500 ms); its open connections are served meanwhile, which is what frees descriptors. One
 * warning per thread every 10 s at most, with the count of those not logged. */
static void accept_pause(dp_thread_t *th, int err)
{
    __atomic_store_n(&th->accept_errors, th->accept_errors + 1, __ATOMIC_RELAXED);
    h2o_socket_read_stop(th->listener);
    if (!h2o_timeout_is_linked(&th->accept_entry))
        h2o_timeout_link(th->loop, &th->accept_pause, &th->accept_entry);
    uint64_t now = dp_now_ns();
    if (th->accept_warned_ns == 0 || now - th->accept_warned_ns >= 10000000000u) {
        SY_WARN("msg=\"accept failed; not accepting for %d ms\" thread=%zu err=\"%s\" not_logged=%llu",
                DP_ACCEPT_PAUSE_MS, th->index, strerror(err), (unsigned long long)th->accept_unlogged);
        th->accept_warned_ns = now;
        th->accept_unlogged = 0;
    } else {
        th->accept_unlogged++;
    }
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    dp_thread_t *th = listener->data;
    if (err != NULL || th->draining)
        return;
    for (int i = 0; i < 32; i++) {
        errno = 0;
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL) {
            int e = errno; /* h2o returns right after accept4 fails: errno is its */
            if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM)
                accept_pause(th, e);
            break;
        }
        h2o_accept(&th->accept_ctx, sock);
    }
}

static void on_drain_tick(h2o_timeout_entry_t *entry)
{
    dp_thread_t *th = H2O_STRUCT_FROM_MEMBER(dp_thread_t, drain_entry, entry);
    uint64_t now = dp_now_ns();
    static __thread uint64_t deadline;
    static __thread int aborted;
    if (deadline == 0)
        deadline = now + dp_rt.drain_ms * 1000000u;
    /* every loop keeps serving (503 on its open keep-alive connections) until the whole
     * node is idle: a thread that left early would cut its idle clients while a sibling still
     * drains a stream */
    size_t open = 0;
    for (size_t i = 0; i < g.nthreads; i++)
        open += __atomic_load_n(&g.threads[i]->inflight, __ATOMIC_RELAXED);
    if (open == 0) {
        th->stop = 1;
        return;
    }
    if (now >= deadline && !aborted) {
        aborted = 1;
        SY_WARN("msg=\"drain deadline reached\" thread=%zu open=%zu", th->index, th->inflight);
        h2o_linklist_t *l = th->active.next;
        while (l != &th->active) {
            h2o_linklist_t *next = l->next;
            dp_relay_abort(H2O_STRUCT_FROM_MEMBER(dp_req_t, link, l), SY_E_SHUTTING_DOWN,
                           "the gateway is shutting down; this stream was cut at the drain deadline");
            l = next;
        }
    }
    if (now >= deadline + 2000000000u) {
        th->stop = 1; /* clients that never read their error event do not hold the exit */
        return;
    }
    h2o_timeout_link(th->loop, &th->drain_tick, &th->drain_entry);
}

/* h2o's own entity cap follows the snapshot's body limit, so that h2o never reads (buffers) a
 * body the handler would refuse: over the limit it answers 413 by itself, with a lingering
 * close. The one word shared besides the snapshot pointer: every loop writes the same value
 * with a relaxed atomic store; h2o reads it when it parses a request head. One byte over the
 * limit passes h2o so that dp_body_parse, not h2o, decides a body of exactly the limit. */
static void body_ceiling_follow(dp_thread_t *th)
{
    dp_snapshot_t *s = dp_holder_borrow(&th->holder);
    if (s == NULL)
        return;
    __atomic_store_n(&g.conf.max_request_entity_size, (size_t)s->limits.max_body_bytes + 1, __ATOMIC_RELAXED);
    dp_holder_return(&th->holder, s);
}

static void on_message(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    dp_thread_t *th = H2O_STRUCT_FROM_MEMBER(dp_thread_t, receiver, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        dp_msg_t *m = H2O_STRUCT_FROM_MEMBER(dp_msg_t, super.link, messages->next);
        h2o_linklist_unlink(&m->super.link);
        if (m->type == MSG_SNAPSHOT) {
            dp_holder_refresh(&th->holder);
            body_ceiling_follow(th);
        } else if (m->type == MSG_SHUTDOWN && !th->draining) {
            th->draining = 1;
            if (h2o_timeout_is_linked(&th->accept_entry))
                h2o_timeout_unlink(&th->accept_entry);
            if (th->listener != NULL) {
                h2o_socket_read_stop(th->listener);
                h2o_socket_close(th->listener);
                th->listener = NULL;
            }
            th->drain_entry.cb = on_drain_tick;
            on_drain_tick(&th->drain_entry);
        }
        free(m);
    }
}

static void *thread_main(void *arg)
{
    dp_thread_t *th = arg;
    dp_self = th;
    th->loop = h2o_evloop_create();
    h2o_context_init(&th->ctx, th->loop, &g.conf);
    th->accept_ctx.ctx = &th->ctx;
    th->accept_ctx.hosts = g.conf.hosts;
    th->accept_ctx.ssl_ctx = g.ssl_ctx;
    h2o_linklist_init_anchor(&th->active);
    h2o_timeout_init(th->loop, &th->drain_tick, 100);
    h2o_timeout_init(th->loop, &th->accept_pause, DP_ACCEPT_PAUSE_MS);
    th->accept_entry.cb = on_accept_resume;
    th->metrics = dp_metrics_create();
    th->breakers = dp_breakers_create();
    th->engine = dp_engine_create(th->loop, &th->ctx);
    th->watch = dp_watch_create(th->loop);
    th->linger = sy_linger_thread_init(th->loop, NULL);
    th->authfail = dp_authfail_create(); /* NULL (out of memory): no failed-auth limit on this thread */
    h2o_multithread_register_receiver(th->ctx.queue, &th->receiver, on_message);
    int fd = dup(g.listen_fd);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    th->listener = h2o_evloop_socket_create(th->loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    th->listener->data = th;
    h2o_socket_read_start(th->listener, on_accept);
    dp_holder_refresh(&th->holder);
    body_ceiling_follow(th);

    pthread_mutex_lock(&g.ready_mu);
    g.ready++;
    pthread_cond_broadcast(&g.ready_cv);
    pthread_mutex_unlock(&g.ready_mu);

    while (!th->stop)
        h2o_evloop_run(th->loop, INT32_MAX);
    dp_meter_log_flush(th);

    if (h2o_timeout_is_linked(&th->drain_entry))
        h2o_timeout_unlink(&th->drain_entry);
    if (h2o_timeout_is_linked(&th->accept_entry))
        h2o_timeout_unlink(&th->accept_entry);
    h2o_multithread_unregister_receiver(th->ctx.queue, &th->receiver);
    dp_engine_destroy(th->engine);
    dp_breakers_destroy(th->breakers);
    dp_authfail_destroy(th->authfail);
    th->authfail = NULL;
    dp_watch_destroy(th->loop, th->watch);
    sy_linger_thread_dispose();
    th->linger = NULL;
    dp_holder_dispose(&th->holder);
    return NULL;
}

static void broadcast(int type)
{
    for (size_t i = 0; i < g.nthreads; i++) {
        dp_msg_t *m = calloc(1, sizeof(*m));
        m->type = type;
        h2o_multithread_send_message(&g.threads[i]->receiver, &m->super);
    }
}

void dp_server_snapshot_changed(void)
{
    broadcast(MSG_SNAPSHOT);
}

int dp_server_run(const dp_server_opts_t *o, void (*reload)(void))
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* loop threads inherit the mask: only we get signals */
    signal(SIGPIPE, SIG_IGN);

    char err[256];
    if (o->tls_cert != NULL &&
        (g.ssl_ctx = sy_tls_server_ctx(o->tls_cert, o->tls_key, err, sizeof(err))) == NULL) {
        SY_ERROR("msg=\"%s\"", err);
        return -1;
    }
    uint16_t bound;
    if ((g.listen_fd = sy_listen_tcp(o->host, o->port, 4096, &bound, err, sizeof(err))) < 0) {
        SY_ERROR("msg=\"%s\"", err);
        return -1;
    }

    h2o_config_init(&g.conf);
    g.conf.server_name = h2o_iovec_init(H2O_STRLIT("switchyard"));
    g.conf.max_request_entity_size = o->max_body_bytes;
    h2o_hostconf_t *host = h2o_config_register_host(&g.conf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    h2o_handler_t *h = h2o_create_handler(path, sizeof(*h));
    h->on_req = dp_on_req;
    sy_h2o_json_errors(host, path, decorate_h2o_error);

    pthread_mutex_init(&g.ready_mu, NULL);
    pthread_cond_init(&g.ready_cv, NULL);
    g.nthreads = o->threads;
    g.threads = calloc(g.nthreads, sizeof(*g.threads));
    for (size_t i = 0; i < g.nthreads; i++) {
        g.threads[i] = calloc(1, sizeof(dp_thread_t));
        g.threads[i]->index = i;
    }
    dp_metrics_register(g.threads, g.nthreads);
    for (size_t i = 0; i < g.nthreads; i++)
        h2o_multithread_create_thread(&g.threads[i]->tid, NULL, thread_main, g.threads[i]);
    pthread_mutex_lock(&g.ready_mu);
    while (g.ready < g.nthreads)
        pthread_cond_wait(&g.ready_cv, &g.ready_mu);
    pthread_mutex_unlock(&g.ready_mu);

    if (o->on_ready != NULL)
        o->on_ready();
    SY_INFO("msg=listening addr=%s:%u threads=%zu tls=%s", o->host, bound, g.nthreads,
            g.ssl_ctx ? "on" : "off");
    if (o->port_file != NULL)
        sy_write_port_file(o->port_file, bound);

    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            reload();
            broadcast(MSG_SNAPSHOT);
            continue;
        }
        break;
    }
    if (o->on_stop != NULL)
        o->on_stop();
    SY_INFO("msg=\"draining\" deadline_ms=%llu", (unsigned long long)dp_rt.drain_ms);
    atomic_store(&g.shutting, 1);
    broadcast(MSG_SHUTDOWN);
    /* every thread's listener is a dup of this socket: shutting it down stops the kernel from
     * completing new connections for all of them at once (they would wait in the backlog) */
    shutdown(g.listen_fd, SHUT_RDWR);
    for (size_t i = 0; i < g.nthreads; i++)
        pthread_join(g.threads[i]->tid, NULL);
    close(g.listen_fd);
    if (g.ssl_ctx)
        SSL_CTX_free(g.ssl_ctx);
    SY_INFO("msg=\"stopped\"");
    return 0;
}
