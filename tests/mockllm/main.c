/* switchyard-mockllm: command line, listener, event-loop threads, shutdown.
 *
 * Shutdown: SIGTERM/SIGINT are blocked in every thread and taken by sigwait() in main. Main
 * raises a flag and wakes each loop through its multithread receiver; each loop thread leaves
 * h2o_evloop_run, reports and parks (it stays alive, so everything it owns stays reachable
 * for LeakSanitizer), and main exits with status 0. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "sy_util.h"
#include "mockllm.h"

static h2o_globalconf_t g_config;
static SSL_CTX *g_ssl_ctx;
static thread_ctx_t *g_threads;
static int g_nthreads = 1;
static volatile int g_stop;
static sem_t g_sem;

static void on_accept(h2o_socket_t *listener, const char *err)
{
    thread_ctx_t *tc = listener->data;
    if (err != NULL)
        return;
    for (int i = 0; i != 16; ++i) {
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL)
            return;
        h2o_accept(&tc->accept_ctx, sock);
    }
}

static void on_wake(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    /* nothing to do: the wakeup itself makes h2o_evloop_run return */
}

static void *worker_main(void *arg)
{
    thread_ctx_t *tc = arg;
    tc->loop = h2o_evloop_create();
    h2o_context_init(&tc->ctx, tc->loop, &g_config);
    tc->accept_ctx.ctx = &tc->ctx;
    tc->accept_ctx.hosts = g_config.hosts;
    tc->accept_ctx.ssl_ctx = g_ssl_ctx;
    h2o_linklist_init_anchor(&tc->watches);
    h2o_multithread_register_receiver(tc->ctx.queue, &tc->wake, on_wake);
    tc->listener = h2o_evloop_socket_create(tc->loop, tc->listen_fd, H2O_SOCKET_FLAG_DONT_READ);
    tc->listener->data = tc;
    h2o_socket_read_start(tc->listener, on_accept);
    sem_post(&g_sem);

    while (!__atomic_load_n(&g_stop, __ATOMIC_ACQUIRE))
        h2o_evloop_run(tc->loop, INT32_MAX);

    h2o_socket_read_stop(tc->listener);
    sem_post(&g_sem);
    for (;;)
        pause(); /* signals are blocked here: parks until the process exits */
    return NULL;
}

static void usage(FILE *fp)
{
    fprintf(fp, "usage: switchyard-mockllm --listen HOST:PORT [--threads N] [--log FILE]\n"
                "                          [--tls-cert FILE --tls-key FILE] [--blackhole]\n"
                "  PORT 0 picks a free port; the chosen address is printed as 'listening HOST:PORT'.\n"
                "  --blackhole also opens a port where connects never complete ('blackhole HOST:PORT').\n");
}

/* A port on `host` where a TCP connect never completes (a connect timeout on loopback): a
 * listening socket with a backlog of 0 that is never accepted, its accept queue filled by two
 * connections of our own; Linux then drops every further SYN, so the client retransmits until
 * it gives up. The descriptors stay open until the process exits. Returns the port, 0 on error. */
static unsigned open_blackhole(struct sockaddr_in host)
{
    host.sin_port = 0;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    socklen_t len = sizeof(host);
    if (fd == -1 || bind(fd, (struct sockaddr *)&host, sizeof(host)) != 0 || listen(fd, 0) != 0 ||
        getsockname(fd, (struct sockaddr *)&host, &len) != 0)
        return 0;
    for (int i = 0; i != 2; ++i) {
        int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (c == -1 || (connect(c, (struct sockaddr *)&host, sizeof(host)) != 0 && errno != EINPROGRESS))
            return 0;
    }
    usleep(100 * 1000); /* the first handshake completes into the (then full) queue */
    return ntohs(host.sin_port);
}

/* HOST:PORT (an IPv4 address or "localhost"); ":PORT" or "PORT" alone means 127.0.0.1 */
static int parse_listen(const char *s, struct sockaddr_in *sin)
{
    char host[64];
    uint16_t port;
    if (s[0] == ':' || strchr(s, ':') == NULL) {
        char buf[80];
        snprintf(buf, sizeof(buf), "127.0.0.1:%s", s[0] == ':' ? s + 1 : s);
        return parse_listen(buf, sin);
    }
    if (sy_parse_hostport(s, host, sizeof(host), &port) != 0)
        return -1;
    if (strcmp(host, "localhost") == 0)
        strcpy(host, "127.0.0.1");
    memset(sin, 0, sizeof(*sin));
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    return inet_pton(AF_INET, host, &sin->sin_addr) == 1 ? 0 : -1;
}

int main(int argc, char **argv)
{
    const char *listen_arg = "127.0.0.1:0", *log_path = NULL, *tls_cert = NULL, *tls_key = NULL;
    int blackhole = 0;
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},  {"threads", required_argument, NULL, 't'},
        {"log", required_argument, NULL, 'L'},     {"tls-cert", required_argument, NULL, 'c'},
        {"tls-key", required_argument, NULL, 'k'}, {"blackhole", no_argument, NULL, 'B'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'l':
            listen_arg = optarg;
            break;
        case 't':
            g_nthreads = atoi(optarg);
            if (g_nthreads < 1 || g_nthreads > 256) {
                fprintf(stderr, "mockllm: --threads must be 1..256\n");
                return 2;
            }
            break;
        case 'L':
            log_path = optarg;
            break;
        case 'c':
            tls_cert = optarg;
            break;
        case 'k':
            tls_key = optarg;
            break;
        case 'B':
            blackhole = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc || (tls_cert == NULL) != (tls_key == NULL)) {
        usage(stderr);
        return 2;
    }

    struct sockaddr_in sin;
    if (parse_listen(listen_arg, &sin) != 0) {
        fprintf(stderr, "mockllm: bad --listen address '%s' (want IPv4:PORT)\n", listen_arg);
        return 2;
    }
    if (log_path != NULL && mlog_open(log_path) != 0) {
        fprintf(stderr, "mockllm: cannot open log %s: %s\n", log_path, strerror(errno));
        return 1;
    }
    char err[256];
    if (tls_cert != NULL && (g_ssl_ctx = sy_tls_server_ctx(tls_cert, tls_key, err, sizeof(err))) == NULL) {
        fprintf(stderr, "mockllm: %s\n", err);
        return 1;
    }

    /* signals: SIGPIPE ignored; SIGTERM/SIGINT blocked everywhere and taken by sigwait */
    signal(SIGPIPE, SIG_IGN);
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int on = 1;
    if (fd == -1 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 || listen(fd, SOMAXCONN) != 0) {
        fprintf(stderr, "mockllm: cannot listen on %s: %s\n", listen_arg, strerror(errno));
        return 1;
    }
    socklen_t slen = sizeof(sin);
    getsockname(fd, (struct sockaddr *)&sin, &slen);

    json_arena_init();
    h2o_config_init(&g_config);
    g_config.server_name = h2o_iovec_init(H2O_STRLIT("switchyard-mockllm"));
    g_config.max_request_entity_size = 64 * 1024 * 1024;
    g_config.http1.upgrade_to_http2 = 0;
    h2o_hostconf_t *hostconf =
        h2o_config_register_host(&g_config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *pathconf = h2o_config_register_path(hostconf, "/", 0);
    h2o_handler_t *handler = h2o_create_handler(pathconf, sizeof(*handler));
    handler->on_req = mock_on_req;

    sem_init(&g_sem, 0, 0);
    g_threads = calloc((size_t)g_nthreads, sizeof(*g_threads));
    if (g_threads == NULL)
        return 1;
    for (int i = 0; i != g_nthreads; ++i) {
        thread_ctx_t *tc = &g_threads[i];
        tc->index = i;
        tc->listen_fd = i == 0 ? fd : dup(fd);
        if (tc->listen_fd == -1 || pthread_create(&tc->tid, NULL, worker_main, tc) != 0) {
            fprintf(stderr, "mockllm: cannot start thread %d\n", i);
            return 1;
        }
    }
    for (int i = 0; i != g_nthreads; ++i)
        while (sem_wait(&g_sem) != 0 && errno == EINTR)
            ;

    char addr[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &sin.sin_addr, addr, sizeof(addr));
    if (blackhole) {
        unsigned bh = open_blackhole(sin);
        if (bh == 0) {
            fprintf(stderr, "mockllm: cannot open the blackhole port: %s\n", strerror(errno));
            return 1;
        }
        printf("blackhole %s:%u\n", addr, bh);
    }
    printf("listening %s:%u\n", addr, (unsigned)ntohs(sin.sin_port));
    fflush(stdout);

    int sig = 0;
    while (sigwait(&sigs, &sig) != 0)
        ;

    __atomic_store_n(&g_stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i != g_nthreads; ++i)
        h2o_multithread_send_message(&g_threads[i].wake, NULL);
    for (int i = 0; i != g_nthreads; ++i)
        while (sem_wait(&g_sem) != 0 && errno == EINTR)
            ;
    exit(0);
}
