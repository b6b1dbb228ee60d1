/*
 * Client-departure watch. h2o 2.2.5 does not read a connection while its request is being
 * handled, so a client that leaves before the response starts is noticed only when we write
 * — for a slow upstream that could be minutes of paid generation. A request still waiting
 * for its upstream after DP_WATCH_DELAY_MS has its client socket added (EPOLLRDHUP) to a
 * per-thread epoll set, itself one h2o socket; when the peer hangs up, the upstream transfer
 * is cancelled and the connection closed. Fast requests never pay the two epoll_ctl calls.
 *
 * A client that half-closes its sending side while waiting is treated as gone (as nginx does).
 *
 * Holding (dp_watch_hold): the same h2o behaviour costs two syscalls per proxied HTTP/1
 * request — h2o stops reading the client when the request is read and starts again when the
 * response is done, one loop iteration or more later, so epoll sees EPOLL_CTL_DEL and then
 * EPOLL_CTL_ADD. While the upstream works we keep the client socket read-watched with
 * H2O_SOCKET_FLAG_DONT_READ (h2o is told it is readable, reads nothing: the request's headers
 * point into its input buffer, which must not move), and give it back (dp_watch_release, from
 * the request's dispose, right before h2o restarts reading) in the same iteration. A client
 * that sends or hangs up meanwhile wakes us once: watching stops (a rare DEL); a hang-up
 * before the response started ends the request as above.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "dp.h"
#include "sy_log.h"

struct dp_watch {
    dp_req_t **held; /* by client fd: the request holding that socket */
    size_t nheld;
    int epfd;
    h2o_socket_t *sock;
    h2o_timeout_t delay;
};

static void on_ready(h2o_socket_t *sock, const char *err)
{
    dp_watch_t *w = sock->data;
    struct epoll_event evs[32];
    int n;
    do {
        n = epoll_wait(w->epfd, evs, 32, 0);
        for (int i = 0; i < n; i++) {
            dp_req_t *r = evs[i].data.ptr;
            if (evs[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
                dp_relay_client_gone(r);
        }
    } while (n == 32);
}

static void on_delay(h2o_timeout_entry_t *entry)
{
    dp_req_t *r = H2O_STRUCT_FROM_MEMBER(dp_req_t, watch_entry, entry);
    dp_watch_t *w = r->th->watch;
    if (r->req == NULL || r->started || r->watch_fd >= 0 || r->req->conn->callbacks->get_socket == NULL)
        return;
    h2o_socket_t *cs = r->req->conn->callbacks->get_socket(r->req->conn);
    if (cs == NULL)
        return;
    int fd = h2o_socket_get_fd(cs);
    struct epoll_event ev = {.events = EPOLLRDHUP, .data.ptr = r};
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) == 0)
        r->watch_fd = fd;
}

dp_watch_t *dp_watch_create(h2o_evloop_t *loop)
{
    dp_watch_t *w = calloc(1, sizeof(*w));
    if (w == NULL || (w->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
        SY_ERROR("msg=\"cannot create the client watch\"");
        abort();
    }
    h2o_timeout_init(loop, &w->delay, DP_WATCH_DELAY_MS);
    w->sock = h2o_evloop_socket_create(loop, w->epfd, H2O_SOCKET_FLAG_DONT_READ);
    w->sock->data = w;
    h2o_socket_read_start(w->sock, on_ready);
    return w;
}

void dp_watch_destroy(h2o_evloop_t *loop, dp_watch_t *w)
{
    if (w == NULL)
        return;
    h2o_socket_read_stop(w->sock);
    h2o_socket_close(w->sock); /* closes epfd */
    free(w->held);
    h2o_timeout_dispose(loop, &w->delay);
    free(w);
}

void dp_watch_arm(dp_req_t *r)
{
    if (h2o_timeout_is_linked(&r->watch_entry) || r->watch_fd >= 0)
        return;
    r->watch_entry.cb = on_delay;
    h2o_timeout_link(r->th->ctx.loop, &r->th->watch->delay, &r->watch_entry);
}

static void on_client_ready(h2o_socket_t *sock, const char *err)
{
    dp_watch_t *w = dp_self->watch;
    int fd = h2o_socket_get_fd(sock);
    dp_req_t *r = fd >= 0 && (size_t)fd < w->nheld ? w->held[fd] : NULL;
    h2o_socket_read_stop(sock); /* level-triggered: be told once */
    if (r == NULL || r->hold_sock != sock || r->started)
        return;
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT); /* rare path: pipelined bytes, or gone? */
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
        dp_relay_client_gone(r);
}

void dp_watch_hold(dp_req_t *r)
{
    dp_watch_t *w = r->th->watch;
    if (r->req == NULL || r->hold_sock != NULL || r->req->version >= 0x200 ||
        r->req->conn->callbacks->get_socket == NULL)
        return;
    h2o_socket_t *cs = r->req->conn->callbacks->get_socket(r->req->conn);
    if (cs == NULL || h2o_socket_is_reading(cs))
        return;
    int fd = h2o_socket_get_fd(cs);
    if (fd < 0)
        return;
    if ((size_t)fd >= w->nheld) {
        size_t n = w->nheld ? w->nheld : 256;
        while (n <= (size_t)fd)
            n *= 2;
        dp_req_t **nh = realloc(w->held, n * sizeof(*nh));
        if (nh == NULL)
            return;
        memset(nh + w->nheld, 0, (n - w->nheld) * sizeof(*nh));
        w->held = nh;
        w->nheld = n;
    }
    w->held[fd] = r;
    r->hold_sock = cs;
    h2o_socket_dont_read(cs, 1);
    h2o_socket_read_start(cs, on_client_ready);
}

void dp_watch_release(dp_req_t *r)
{
    h2o_socket_t *cs = r->hold_sock;
    if (cs == NULL)
        return;
    dp_watch_t *w = r->th->watch;
    int fd = h2o_socket_get_fd(cs);
    if (fd >= 0 && (size_t)fd < w->nheld && w->held[fd] == r)
        w->held[fd] = NULL;
    r->hold_sock = NULL;
    h2o_socket_dont_read(cs, 0);
    if (cs->_cb.read == on_client_ready)
        h2o_socket_read_stop(cs); /* h2o starts its own reading right after, in this iteration */
}

void dp_watch_disarm(dp_req_t *r)
{
    if (h2o_timeout_is_linked(&r->watch_entry))
        h2o_timeout_unlink(&r->watch_entry);
    if (r->watch_fd >= 0) {
        epoll_ctl(r->th->watch->epfd, EPOLL_CTL_DEL, r->watch_fd, NULL);
        r->watch_fd = -1;
    }
}
