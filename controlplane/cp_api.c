/*
 * The admin API's server on h2o: one event-loop thread serves every request; the routes
 * and their handlers are in cp_routes.c and a file per resource (cp_api_*.c).
 *
 * SQLite work happens right on the loop thread. That is a deliberate simplification for this
 * slice: the admin API's writes are small local transactions (a few hundred microseconds in
 * WAL mode), admin traffic is light, and the fleet never waits on this service. Usage
 * ingestion (bus thread) now shares the write lock: a batch is one transaction of at most 1000
 * records, so the loop waits at most that long for it; if batches or their rate grow, move the
 * store calls to a worker thread (the 5 s busy timeout would otherwise stall the loop). The
 * Stripe checkout call also blocks the loop, bounded by stripe_timeout_ms (docs/billing.md).
 */
#include "cp_api.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <h2o.h>

#include "cp_bus.h"
#include "cp_catalog.h"
#include "cp_metrics.h"
#include "cp_http.h"
#include "cp_routes.h"
#include "cp_stripe.h"
#include "cp_web.h"
#include "sy_h2o.h"
#include "sy_linger.h"
#include "sy_log.h"
#include "sy_util.h"

static struct {
    h2o_globalconf_t conf;
    int listen_fd;
    pthread_t tid;
    h2o_evloop_t *loop;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    h2o_socket_t *listener;
    h2o_multithread_receiver_t receiver;
    int stop;
    pthread_mutex_t ready_mu;
    pthread_cond_t ready_cv;
    int ready;
} g;

/* Every handler answers before it returns (the checkout call blocks), so the status is known
 * here: counted by route template, never by the raw path. */
static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    int rc;
    if (sy_h2o_ambiguous_framing(req)) {
        /* two Content-Length headers (or one with Transfer-Encoding): refuse and close, the rest
         * of the connection may be a smuggled request (sy_h2o.h) */
        req->http1_is_persistent = 0;
        rc = cp_send_error(
            req, SY_E_BAD_REQUEST,
            "ambiguous request framing: more than one Content-Length header, or Content-Length with "
            "Transfer-Encoding (RFC 9112)",
            NULL);
    } else {
        rc = cp_routes_dispatch(req);
    }
    cp_metrics_http(cp_metrics_route(req->path_normalized.base, req->path_normalized.len), req->method.base,
                    req->method.len, req->res.status);
    return rc;
}

/* --------------------------------------------------------------------------- the loop */

static void on_accept(h2o_socket_t *listener, const char *err)
{
    if (err != NULL || g.stop)
        return;
    for (int i = 0; i < 32; i++) {
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL)
            break;
        h2o_accept(&g.accept_ctx, sock);
    }
}

static void on_message(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *m =
            H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&m->link);
        free(m);
    }
    /* the only message is "stop" */
    g.stop = 1;
    if (g.listener != NULL) {
        h2o_socket_read_stop(g.listener);
        h2o_socket_close(g.listener);
        g.listener = NULL;
    }
}

static void *loop_main(void *arg)
{
    g.loop = h2o_evloop_create();
    h2o_context_init(&g.ctx, g.loop, &g.conf);
    g.accept_ctx.ctx = &g.ctx;
    g.accept_ctx.hosts = g.conf.hosts;
    h2o_multithread_register_receiver(g.ctx.queue, &g.receiver, on_message);
    int fd = dup(g.listen_fd);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    g.listener = h2o_evloop_socket_create(g.loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    h2o_socket_read_start(g.listener, on_accept);
    sy_linger_thread_init(g.loop, NULL); /* the webhook's 413 to a client still sending */

    pthread_mutex_lock(&g.ready_mu);
    g.ready = 1;
    pthread_cond_broadcast(&g.ready_cv);
    pthread_mutex_unlock(&g.ready_mu);

    while (!g.stop)
        h2o_evloop_run(g.loop, INT32_MAX);
    sy_linger_thread_dispose();
    h2o_evloop_run(g.loop, 0); /* let the listener's and the lingering set's deferred closes run */
    h2o_multithread_unregister_receiver(g.ctx.queue, &g.receiver);
    return NULL;
}

/* SIGHUP re-imports the catalog file like POST /api/catalog/reload (conflict check, no force),
 * on a handle of its own: the loop thread owns o->store. */
static void reload_on_hup(const cp_api_opts_t *o)
{
    char err[512];
    cp_store_t *s;
    uint64_t version = 0;
    if (o->catalog_path == NULL || o->db_path == NULL)
        return;
    if (cp_store_open(o->db_path, &s, err, sizeof(err)) != 0) {
        SY_WARN("msg=\"SIGHUP: cannot open the store\" err=\"%s\"", err);
        return;
    }
    cp_bus_watch_writes(s); /* its writes patch the next snapshot like the API's (cp_bus.h) */
    /* the same rule as POST /api/catalog/reload: an import with the conflict check, never forced */
    cp_catalog_import_opts_t io = {.source = "sighup"};
    cJSON *rep = NULL;
    int rc = cp_catalog_import_file(s, o->catalog_path, &io, &rep, err, sizeof(err));
    cp_log_import(rc, rep, "sighup", o->catalog_path, err);
    cJSON_Delete(rep);
    if (rc == 0 && cp_store_snapshot_version(s, &version, err, sizeof(err)) == 0)
        cp_bus_notify(version);
    cp_store_close(s);
}

int cp_api_run(const cp_api_opts_t *o)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* the loop thread inherits the mask */
    signal(SIGPIPE, SIG_IGN);

    if (o->token == NULL || o->token[0] == '\0') {
        SY_ERROR("msg=\"no operator token\"");
        return -1;
    }
    cp_routes_init(o);
    char werr[512];
    if (cp_web_load(o->web_dir, o->public_api_url, werr, sizeof(werr)) != 0) {
        SY_ERROR("msg=\"cannot load the dashboard's pages\" err=\"%s\"", werr);
        return -1;
    }
    char err[256];
    uint16_t bound;
    if ((g.listen_fd = sy_listen_tcp(o->host, o->port, 512, &bound, err, sizeof(err))) < 0) {
        SY_ERROR("msg=\"%s\"", err);
        return -1;
    }

    h2o_config_init(&g.conf);
    g.conf.server_name = h2o_iovec_init(H2O_STRLIT("switchyard-cp"));
    /* h2o's limit is per server: it is the larger of the API's and the Stripe webhook's, and
     * cp_routes_dispatch holds every non-webhook path to max_body_bytes itself */
    size_t max_body = o->max_body_bytes ? o->max_body_bytes : CP_API_DEFAULT_MAX_BODY;
    g.conf.max_request_entity_size = max_body > CP_STRIPE_MAX_BODY ? max_body : CP_STRIPE_MAX_BODY;
    h2o_hostconf_t *host = h2o_config_register_host(&g.conf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    h2o_create_handler(path, sizeof(h2o_handler_t))->on_req = on_req;
    sy_h2o_json_errors(host, path, NULL);

    pthread_mutex_init(&g.ready_mu, NULL);
    pthread_cond_init(&g.ready_cv, NULL);
    if (pthread_create(&g.tid, NULL, loop_main, NULL) != 0) {
        SY_ERROR("msg=\"cannot start the loop thread\"");
        close(g.listen_fd);
        return -1;
    }
    pthread_mutex_lock(&g.ready_mu);
    while (!g.ready)
        pthread_cond_wait(&g.ready_cv, &g.ready_mu);
    pthread_mutex_unlock(&g.ready_mu);

    SY_INFO("msg=listening addr=%s:%u", o->host, bound);
    if (o->port_file != NULL)
        sy_write_port_file(o->port_file, bound);

    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            reload_on_hup(o);
            continue;
        }
        break;
    }
    SY_INFO("msg=\"stopping\"");
    h2o_multithread_message_t *m = calloc(1, sizeof(*m));
    h2o_multithread_send_message(&g.receiver, m);
    shutdown(g.listen_fd, SHUT_RDWR);
    pthread_join(g.tid, NULL);
    close(g.listen_fd);
    cp_web_free();
    SY_INFO("msg=\"stopped\"");
    return 0;
}
