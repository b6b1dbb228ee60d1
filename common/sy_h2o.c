#include "sy_h2o.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "sy_error.h"
#include "sy_linger.h"

typedef struct {
    h2o_filter_t super;
    sy_h2o_decorate_cb decorate;
} json_err_filter_t;

typedef struct {
    h2o_ostream_t super;
    h2o_iovec_t body;
} json_err_ostream_t;

static void json_err_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *inbufs, size_t inbufcnt,
                          h2o_send_state_t state)
{
    json_err_ostream_t *o = (void *)self;
    h2o_iovec_t b = o->body;
    o->body.len = 0; /* h2o's body is replaced by ours, sent once */
    h2o_ostream_send_next(&o->super, req, b.len ? &b : NULL, b.len ? 1 : 0, state);
}

static void json_err_setup(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    json_err_filter_t *f = (void *)self;
    ssize_t i;
    /* our handlers never answer an error in text/plain: one that is comes from h2o itself */
    if (req->res.status >= 400 && (i = h2o_find_header(&req->res.headers, H2O_TOKEN_CONTENT_TYPE, -1)) >= 0 &&
        h2o_memis(req->res.headers.entries[i].value.base, req->res.headers.entries[i].value.len,
                  H2O_STRLIT("text/plain; charset=utf-8"))) {
        sy_err_t e = req->res.status == 413   ? SY_E_REQUEST_TOO_LARGE
                     : req->res.status == 404 ? SY_E_NOT_FOUND
                     : req->res.status == 405 ? SY_E_METHOD_NOT_ALLOWED
                     : req->res.status < 500  ? SY_E_BAD_REQUEST
                                              : SY_E_INTERNAL;
        char *j = sy_err_json(e, req->res.reason, NULL);
        if (j != NULL) {
            h2o_iovec_t body = h2o_strdup(&req->pool, j, SIZE_MAX);
            free(j);
            req->res.headers.entries[i].value = h2o_iovec_init(H2O_STRLIT("application/json"));
            req->res.content_length = body.len;
            if (f->decorate)
                f->decorate(req);
            /* h2o closes the connection after its own 413 while the client may still be sending
             * the body: linger, so the client reads this answer instead of a reset */
            if (req->res.status == 413 && !req->http1_is_persistent)
                sy_linger_start(sy_linger_self, req);
            json_err_ostream_t *o = (void *)h2o_add_ostream(req, sizeof(*o), slot);
            o->super.do_send = json_err_send;
            o->body = body;
            slot = &o->super.next;
        }
    }
    h2o_setup_next_ostream(req, slot);
}

void sy_h2o_json_errors(h2o_hostconf_t *host, h2o_pathconf_t *path, sy_h2o_decorate_cb decorate)
{
    h2o_pathconf_t *paths[2] = {path, &host->fallback_path};
    for (int k = 0; k < 2; k++) {
        json_err_filter_t *f = (void *)h2o_create_filter(paths[k], sizeof(*f));
        f->super.on_setup_ostream = json_err_setup;
        f->decorate = decorate;
    }
}

/* h2o 2.2.5's http1.c answers a request it cannot parse (request line or headers) from a fixed
 * buffer written straight to the socket (send_bad_request), bypassing every filter. This
 * definition interposes the library's h2o_socket_write (it calls it through its PLT) and swaps
 * exactly that buffer for the same answer in JSON. Every other write is passed on untouched;
 * the cost is one length compare per write. */
static const char h2o_bad_request[] = "HTTP/1.1 400 Bad Request\r\n"
                                      "Content-Type: text/plain; charset=utf-8\r\n"
                                      "Connection: close\r\n"
                                      "Content-Length: 11\r\n"
                                      "\r\n"
                                      "Bad Request";
#define SY_BAD_REQUEST_BODY                                                                                      \
    "{\"error\":{\"message\":\"malformed HTTP request\",\"type\":\"invalid_request_error\",\"param\":null,"   \
    "\"code\":\"invalid_request_error\"}}"
static const char sy_bad_request[] = "HTTP/1.1 400 Bad Request\r\n"
                                     "Content-Type: application/json\r\n"
                                     "Connection: close\r\n"
                                     "Content-Length: 121\r\n"
                                     "\r\n" SY_BAD_REQUEST_BODY;
_Static_assert(sizeof(SY_BAD_REQUEST_BODY) - 1 == 121, "Content-Length of the JSON 400");

typedef void (*socket_write_fn)(h2o_socket_t *, h2o_iovec_t *, size_t, h2o_socket_cb);

void h2o_socket_write(h2o_socket_t *sock, h2o_iovec_t *bufs, size_t bufcnt, h2o_socket_cb cb)
{
    static socket_write_fn real;
    socket_write_fn f = __atomic_load_n(&real, __ATOMIC_ACQUIRE);
    if (f == NULL) {
        f = (socket_write_fn)dlsym(RTLD_NEXT, "h2o_socket_write");
        if (f == NULL)
            abort(); /* cannot happen with h2o linked: no way to write at all */
        __atomic_store_n(&real, f, __ATOMIC_RELEASE);
    }
    if (bufcnt == 1 && bufs[0].len == sizeof(h2o_bad_request) - 1 &&
        memcmp(bufs[0].base, h2o_bad_request, sizeof(h2o_bad_request) - 1) == 0) {
        h2o_iovec_t json = h2o_iovec_init(sy_bad_request, sizeof(sy_bad_request) - 1);
        f(sock, &json, 1, cb);
        return;
    }
    f(sock, bufs, bufcnt, cb);
}

static int name_is(const char *p, size_t n, const char *want, size_t wn)
{
    return n == wn && h2o_lcstris(p, n, want, wn);
}

/* h2o 2.2.5's HTTP/1 parser takes Content-Length and Transfer-Encoding out of the header list
 * (lib/http1.c, init_headers: both are "init header special"; only the first Content-Length's
 * index is kept, Transfer-Encoding overrides it) and never shows them to a handler. But while
 * a request is processed its head is still at the start of the connection's input buffer
 * (h2o consumes it only when the response is done, cleanup_connection), reachable through the
 * public get_socket callback: that is what is scanned here. */
int sy_h2o_ambiguous_framing(h2o_req_t *req)
{
    if (req == NULL || req->version >= 0x200 || req->conn == NULL || req->conn->callbacks->get_socket == NULL)
        return 0;
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    if (sock == NULL || sock->input == NULL)
        return 0;
    const char *p = sock->input->bytes;
    size_t n = sock->input->size < H2O_MAX_REQLEN ? sock->input->size : H2O_MAX_REQLEN;
    /* picohttpparser skips an empty line before the request line (clients that send CRLF
     * after a POST body): so must we, or a leading CRLF would hide the head from this check */
    while (n > 0 && (*p == '\r' || *p == '\n')) {
        p++;
        n--;
    }
    /* the buffer must start with this request's method and a space, else it is not the head */
    h2o_iovec_t m = req->input.method;
    if (m.len == 0 || n <= m.len || memcmp(p, m.base, m.len) != 0 || p[m.len] != ' ')
        return 0;
    const char *nl = memchr(p, '\n', n);
    if (nl == NULL)
        return 0;
    size_t i = (size_t)(nl - p) + 1;
    int cl = 0, te = 0;
    while (i < n) {
        const char *line = p + i;
        const char *e = memchr(line, '\n', n - i);
        if (e == NULL)
            return 0; /* not a complete head: h2o would not have called us */
        size_t len = (size_t)(e - line);
        if (len > 0 && line[len - 1] == '\r')
            len--;
        if (len == 0)
            return cl > 1 || (cl > 0 && te > 0); /* the blank line: end of the head */
        if (line[0] != ' ' && line[0] != '\t') { /* not an obsolete line folding */
            const char *colon = memchr(line, ':', len);
            if (colon != NULL) {
                size_t nlen = (size_t)(colon - line);
                if (name_is(line, nlen, H2O_STRLIT("content-length")))
                    cl++;
                else if (name_is(line, nlen, H2O_STRLIT("transfer-encoding")))
                    te++;
            }
        }
        i = (size_t)(e - p) + 1;
    }
    return 0;
}
