#include "sy_linger.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sy_log.h"

#define SY_LINGER_TICK_MS 50
#define SY_LINGER_SCRATCH (64 * 1024)
#define SY_LINGER_READS_PER_EVENT 16 /* then the next epoll round: other sockets get their turn */

typedef struct sy_linger_conn {
    struct sy_linger_conn *next, **pprev;
    int fd;      /* our descriptor of the connection */
    int orig_fd; /* h2o's, while it has it: same socket as long as (dev, ino) match */
    dev_t dev;
    ino_t ino;
    int shut; /* write side shut down (h2o's answer is out) */
    uint64_t start_ms, last_read_ms, bytes;
} sy_linger_conn_t;

struct sy_linger {
    sy_linger_conf_t conf;
    int epfd;
    h2o_evloop_t *loop;
    h2o_socket_t *sock; /* epfd, as an h2o socket */
    h2o_timeout_t tick;
    h2o_timeout_entry_t tick_entry;
    sy_linger_conn_t *conns;
    size_t nconns;
    sy_linger_stats_t st; /* written by the owner thread only; read with relaxed loads */
    char scratch[SY_LINGER_SCRATCH];
};

__thread sy_linger_t *sy_linger_self;

enum { END_EOF, END_TIME, END_IDLE, END_BYTES, END_ERROR };

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

#define BUMP(field, n) __atomic_store_n(&(field), (field) + (n), __ATOMIC_RELAXED)

static void conn_end(sy_linger_t *l, sy_linger_conn_t *c, int why)
{
    static const char *const names[] = {"eof", "time", "idle", "bytes", "error"};
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    *c->pprev = c->next;
    if (c->next != NULL)
        c->next->pprev = c->pprev;
    l->nconns--;
    __atomic_store_n(&l->st.active, l->nconns, __ATOMIC_RELAXED);
    switch (why) {
    case END_EOF:
        BUMP(l->st.ended_eof, 1);
        break;
    case END_TIME:
        BUMP(l->st.ended_time, 1);
        break;
    case END_IDLE:
        BUMP(l->st.ended_idle, 1);
        break;
    case END_BYTES:
        BUMP(l->st.ended_bytes, 1);
        break;
    default:
        BUMP(l->st.ended_error, 1);
        break;
    }
    SY_DEBUG("msg=\"lingering close ended\" why=%s discarded=%llu ms=%llu", names[why], (unsigned long long)c->bytes,
             (unsigned long long)(now_ms() - c->start_ms));
    free(c);
}

/* h2o has closed its descriptor once that number no longer names our socket. */
static int orig_closed(const sy_linger_conn_t *c)
{
    struct stat st;
    return fstat(c->orig_fd, &st) != 0 || st.st_dev != c->dev || st.st_ino != c->ino;
}

/* Reads and discards; returns -1 (and ends c) when the connection is done. */
static int drain(sy_linger_t *l, sy_linger_conn_t *c, uint64_t now)
{
    for (int i = 0; i < SY_LINGER_READS_PER_EVENT; i++) {
        ssize_t n = read(c->fd, l->scratch, sizeof(l->scratch));
        if (n > 0) {
            c->bytes += (uint64_t)n;
            c->last_read_ms = now;
            BUMP(l->st.bytes_discarded, (uint64_t)n);
            if (c->bytes > l->conf.max_bytes) {
                conn_end(l, c, END_BYTES);
                return -1;
            }
            continue;
        }
        if (n == 0) {
            conn_end(l, c, END_EOF);
            return -1;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        conn_end(l, c, END_ERROR);
        return -1;
    }
    return 0;
}

static void on_ready(h2o_socket_t *sock, const char *err)
{
    sy_linger_t *l = sock->data;
    struct epoll_event evs[64];
    uint64_t now = now_ms();
    int n = epoll_wait(l->epfd, evs, 64, 0);
    for (int i = 0; i < n; i++) {
        sy_linger_conn_t *c = evs[i].data.ptr;
        if (drain(l, c, now) == 0 && (evs[i].events & (EPOLLHUP | EPOLLERR)) != 0)
            conn_end(l, c, (evs[i].events & EPOLLERR) ? END_ERROR : END_EOF);
    }
}

static void on_tick(h2o_timeout_entry_t *entry)
{
    sy_linger_t *l = H2O_STRUCT_FROM_MEMBER(sy_linger_t, tick_entry, entry);
    uint64_t now = now_ms();
    sy_linger_conn_t *c = l->conns, *next;
    for (; c != NULL; c = next) {
        next = c->next;
        if (!c->shut && orig_closed(c)) {
            shutdown(c->fd, SHUT_WR); /* after h2o's answer: the client reads it, then EOF */
            c->shut = 1;
        }
        if (now - c->start_ms >= l->conf.time_ms)
            conn_end(l, c, END_TIME);
        else if (now - c->last_read_ms >= l->conf.idle_ms)
            conn_end(l, c, END_IDLE);
    }
    if (l->conns != NULL)
        h2o_timeout_link(l->loop, &l->tick, &l->tick_entry);
}

sy_linger_t *sy_linger_thread_init(h2o_evloop_t *loop, const sy_linger_conf_t *conf)
{
    sy_linger_t *l = calloc(1, sizeof(*l));
    if (l == NULL || (l->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
        SY_ERROR("msg=\"cannot create the lingering-close set\"");
        abort();
    }
    l->conf = conf != NULL ? *conf
                           : (sy_linger_conf_t){.time_ms = 30000, .idle_ms = 5000, .max_bytes = 256u << 20,
                                                .max_conns = 1024};
    l->loop = loop;
    h2o_timeout_init(loop, &l->tick, SY_LINGER_TICK_MS);
    l->tick_entry.cb = on_tick;
    l->sock = h2o_evloop_socket_create(loop, l->epfd, H2O_SOCKET_FLAG_DONT_READ);
    l->sock->data = l;
    h2o_socket_read_start(l->sock, on_ready);
    sy_linger_self = l;
    return l;
}

void sy_linger_thread_dispose(void)
{
    sy_linger_t *l = sy_linger_self;
    if (l == NULL)
        return;
    while (l->conns != NULL)
        conn_end(l, l->conns, END_TIME);
    if (h2o_timeout_is_linked(&l->tick_entry))
        h2o_timeout_unlink(&l->tick_entry);
    h2o_evloop_t *loop = l->loop;
    h2o_socket_read_stop(l->sock);
    h2o_socket_close(l->sock); /* closes epfd */
    h2o_timeout_dispose(loop, &l->tick);
    free(l);
    sy_linger_self = NULL;
}

int sy_linger_start(sy_linger_t *l, h2o_req_t *req)
{
    if (l == NULL || req->version >= 0x200 || req->conn->callbacks->get_socket == NULL)
        return -1;
    if (l->nconns >= l->conf.max_conns) {
        BUMP(l->st.refused, 1);
        return -1;
    }
    h2o_socket_t *cs = req->conn->callbacks->get_socket(req->conn);
    if (cs == NULL)
        return -1;
    int orig = h2o_socket_get_fd(cs);
    struct stat st;
    sy_linger_conn_t *c = calloc(1, sizeof(*c));
    if (c == NULL || orig < 0 || fstat(orig, &st) != 0) {
        free(c);
        return -1;
    }
    if ((c->fd = fcntl(orig, F_DUPFD_CLOEXEC, 0)) < 0) {
        free(c);
        BUMP(l->st.refused, 1);
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        close(c->fd);
        free(c);
        BUMP(l->st.refused, 1);
        return -1;
    }
    c->orig_fd = orig;
    c->dev = st.st_dev;
    c->ino = st.st_ino;
    c->start_ms = c->last_read_ms = now_ms();
    c->next = l->conns;
    c->pprev = &l->conns;
    if (l->conns != NULL)
        l->conns->pprev = &c->next;
    l->conns = c;
    l->nconns++;
    __atomic_store_n(&l->st.active, l->nconns, __ATOMIC_RELAXED);
    BUMP(l->st.started, 1);
    if (!h2o_timeout_is_linked(&l->tick_entry))
        h2o_timeout_link(l->loop, &l->tick, &l->tick_entry);
    return 0;
}

void sy_linger_stats(const sy_linger_t *l, sy_linger_stats_t *out)
{
    if (l == NULL) {
        *out = (sy_linger_stats_t){0};
        return;
    }
    out->active = __atomic_load_n(&l->st.active, __ATOMIC_RELAXED);
    out->started = __atomic_load_n(&l->st.started, __ATOMIC_RELAXED);
    out->refused = __atomic_load_n(&l->st.refused, __ATOMIC_RELAXED);
    out->bytes_discarded = __atomic_load_n(&l->st.bytes_discarded, __ATOMIC_RELAXED);
    out->ended_eof = __atomic_load_n(&l->st.ended_eof, __ATOMIC_RELAXED);
    out->ended_time = __atomic_load_n(&l->st.ended_time, __ATOMIC_RELAXED);
    out->ended_idle = __atomic_load_n(&l->st.ended_idle, __ATOMIC_RELAXED);
    out->ended_bytes = __atomic_load_n(&l->st.ended_bytes, __ATOMIC_RELAXED);
    out->ended_error = __atomic_load_n(&l->st.ended_error, __ATOMIC_RELAXED);
}
