/*
 * Stage 7: the one upstream engine — a small HTTP/1.1 client on h2o's own sockets
 * (h2o_socket_t, picohttpparser), one per event-loop thread, with a keep-alive pool per
 * upstream origin. docs/dataplane.md ("The upstream engine") says why this and not h2o 2.2.5's
 * http1client + socketpool: that pool detaches every idle socket from the loop (h2o_socket_export:
 * an epoll_ctl to leave and one to come back per request) and probes it with recv(MSG_PEEK)
 * before reuse, the very per-request syscalls this engine exists to avoid; it has a single I/O
 * timeout and no way to stop reading a body for a slow client.
 *
 * A pooled connection stays in the loop, read-watched: a peer that closes it while idle is
 * noticed by the loop and the connection dropped, no probe needed. The race that remains (the
 * peer closes just as we reuse it) is covered by one retry on a fresh connection when a reused
 * connection fails before any byte of the answer came.
 *
 * Everything here runs inside h2o callbacks of the owning thread; nothing is shared between
 * threads and nothing is locked. Provider dialects never see the engine: they fill a
 * dp_upstream_spec_t and get callbacks.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dp.h"
#include "sy_log.h"

/* picohttpparser as h2o 2.2.5 ships it inside libh2o-evloop (no header is installed) */
struct phr_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};
struct phr_chunked_decoder {
    size_t bytes_left_in_chunk;
    char consume_trailer;
    char _hex_count;
    char _state;
};
int phr_parse_response(const char *buf, size_t len, int *minor_version, int *status, const char **msg,
                       size_t *msg_len, struct phr_header *headers, size_t *num_headers, size_t last_len);
ssize_t phr_decode_chunked(struct phr_chunked_decoder *decoder, char *buf, size_t *bufsz);

#define MAX_TIMERS 32
#define MAX_RESPONSE_HEAD (64 * 1024) /* status line + headers of one answer */
#define MAX_RESPONSE_HEADERS 100
#define MAX_ORIGINS 256
#define MAX_ADDRS 4       /* addresses of one name tried before giving up */
#define READ_MAX 65536    /* bytes one read(2) of a plain upstream connection takes */
#define DELIVER_MAX 16384 /* body bytes per on_data call: the relay's pause check runs between them */

typedef struct dp_origin dp_origin_t;

/* One connection to an origin: while idle it sits in its origin's pool, read-watched. */
typedef struct dp_conn {
    h2o_socket_t *sock;
    dp_origin_t *o;
    h2o_linklist_t link;            /* in o->idle while idle */
    h2o_timeout_entry_t idle_entry; /* keep-alive idle timeout */
} dp_conn_t;

struct dp_origin {
    int tls;
    char *authority; /* host[:port] exactly as in the URL (the Host header) */
    size_t authority_len;
    char *host; /* for DNS, SNI and the certificate check (IPv6 without brackets) */
    char port[8];
    char *ca_file;                /* NULL: the system's CA store */
    SSL_CTX *ssl_ctx;             /* tls: made at the first connection */
    struct sockaddr_storage addr; /* an IP literal's address (addrlen 0: resolve the name) */
    socklen_t addrlen;
    h2o_iovec_t hostline; /* "Host: <authority>\r\n" */
    h2o_linklist_t idle;  /* dp_conn_t, most recently used first */
    size_t nidle;
};

struct dp_engine {
    h2o_evloop_t *loop;
    h2o_context_t *ctx;
    h2o_multithread_receiver_t resolver; /* h2o's getaddrinfo thread pool answers here */
    struct {
        uint32_t ms;
        h2o_timeout_t t;
    } timers[MAX_TIMERS];
    size_t ntimers;
    h2o_timeout_t keepalive; /* DP_UPSTREAM_KEEPALIVE_MS */
    dp_origin_t *origins[MAX_ORIGINS];
    size_t norigins;
};

enum { HEAD, BODY_LENGTH, BODY_CHUNKED, BODY_CLOSE };

struct dp_upstream {
    dp_engine_t *e;
    dp_origin_t *o;
    dp_conn_t *conn;
    h2o_hostinfo_getaddr_req_t *resolve;
    dp_upstream_cb_t cb;
    void *ctx;
    h2o_timeout_entry_t timer;  /* first byte, then idle between chunks */
    h2o_timeout_entry_t ctimer; /* connect (TCP + TLS) */
    h2o_timeout_entry_t ttimer; /* total; also carries a deferred start failure */
    h2o_timeout_t *fb_timeout, *idle_timeout, *connect_timeout;
    const char *deferred_why;
    h2o_iovec_t body;
    /* the addresses a name resolved to, tried in order until one connects */
    struct sockaddr_storage addrs[MAX_ADDRS];
    socklen_t addrlens[MAX_ADDRS];
    size_t naddrs, next_addr;
    /* the attempt */
    int reused, retried, written, got_bytes, got_response, keepalive, paused, cancelled, in_cb, state;
    int status, retry_after;
    uint64_t remaining;     /* BODY_LENGTH: bytes still to come */
    size_t held;            /* decoded body bytes at the front of the input, offered but not taken */
    int complete_after;     /* the held bytes end the answer */
    const char *fail_after; /* the held bytes are followed by broken framing: fail after them */
    struct phr_chunked_decoder dec;
    size_t headlen;
    char head[]; /* request line, Host, the attempt's own lines, the provider's block, Content-Length */
};

static void on_read(h2o_socket_t *sock, const char *err);
static void connect_fresh(dp_upstream_t *u);

static h2o_timeout_t *timer_for(dp_engine_t *e, uint32_t ms)
{
    for (size_t i = 0; i < e->ntimers; i++)
        if (e->timers[i].ms == ms)
            return &e->timers[i].t;
    if (e->ntimers == MAX_TIMERS) {
        /* more distinct durations than slots: the closest shorter one (fires early; the caller
         * treats it as the deadline, which only ever shortens a timeout) */
        size_t best = 0;
        for (size_t i = 1; i < e->ntimers; i++)
            if (e->timers[i].ms <= ms && e->timers[i].ms > e->timers[best].ms)
                best = i;
        return &e->timers[best].t;
    }
    e->timers[e->ntimers].ms = ms;
    h2o_timeout_init(e->loop, &e->timers[e->ntimers].t, ms);
    return &e->timers[e->ntimers++].t;
}

static void unlink_timer(h2o_timeout_entry_t *t)
{
    if (h2o_timeout_is_linked(t))
        h2o_timeout_unlink(t);
}

/* ---- origins and their pools ---- */

/* The certificate check OpenSSL runs for each certificate of the chain: the leaf must name the
 * host we connect to (RFC 6125 via X509_check_host; an IP literal via its iPAddress SAN). h2o
 * 2.2.5's own after-handshake check knows DNS names only, so this one is authoritative (see
 * on_handshake). */
static int verify_cb(int ok, X509_STORE_CTX *x)
{
    if (!ok || X509_STORE_CTX_get_error_depth(x) != 0)
        return ok;
    SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
    const char *name = ssl ? SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name) : NULL;
    X509 *cert = X509_STORE_CTX_get_current_cert(x);
    if (name == NULL || cert == NULL)
        return 0;
    unsigned char bin[16];
    int match = inet_pton(AF_INET, name, bin) == 1 || inet_pton(AF_INET6, name, bin) == 1
                    ? X509_check_ip_asc(cert, name, 0) == 1
                    : X509_check_host(cert, name, 0, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) == 1;
    if (!match)
        X509_STORE_CTX_set_error(x, X509_V_ERR_HOSTNAME_MISMATCH);
    return match;
}

static dp_origin_t *origin_new(int tls, const char *auth, size_t alen, const char *ca_file)
{
    dp_origin_t *o = calloc(1, sizeof(*o));
    if (o == NULL)
        return NULL;
    o->tls = tls;
    o->authority = h2o_strdup(NULL, auth, alen).base;
    o->authority_len = alen;
    o->ca_file = ca_file ? strdup(ca_file) : NULL;
    h2o_linklist_init_anchor(&o->idle);
    /* host and port */
    const char *hb = auth, *he = auth + alen, *pp = NULL;
    if (alen > 0 && auth[0] == '[') {
        const char *rb = memchr(auth, ']', alen);
        if (rb == NULL)
            goto Bad;
        hb = auth + 1;
        he = rb;
        if (rb + 1 < auth + alen) {
            if (rb[1] != ':')
                goto Bad;
            pp = rb + 2;
        }
    } else {
        const char *c = memchr(auth, ':', alen);
        if (c != NULL) {
            he = c;
            pp = c + 1;
        }
    }
    if (he == hb)
        goto Bad;
    o->host = h2o_strdup(NULL, hb, (size_t)(he - hb)).base;
    size_t plen = pp ? (size_t)(auth + alen - pp) : 0;
    if (pp != NULL) {
        if (plen == 0 || plen > 5)
            goto Bad;
        for (size_t i = 0; i < plen; i++)
            if (pp[i] < '0' || pp[i] > '9')
                goto Bad;
        memcpy(o->port, pp, plen);
    } else {
        strcpy(o->port, tls ? "443" : "80");
    }
    long port = strtol(o->port, NULL, 10);
    if (port <= 0 || port > 65535)
        goto Bad;
    struct sockaddr_in *s4 = (struct sockaddr_in *)&o->addr;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&o->addr;
    if (inet_pton(AF_INET, o->host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        o->addrlen = sizeof(*s4);
    } else if (inet_pton(AF_INET6, o->host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        o->addrlen = sizeof(*s6);
    }
    o->hostline.len = alen + sizeof("Host: \r\n") - 1;
    o->hostline.base = malloc(o->hostline.len);
    if (o->hostline.base == NULL)
        goto Bad;
    memcpy(o->hostline.base, "Host: ", 6);
    memcpy(o->hostline.base + 6, auth, alen);
    memcpy(o->hostline.base + 6 + alen, "\r\n", 2);
    return o;
Bad:
    free(o->authority);
    free(o->ca_file);
    free(o->host);
    free(o);
    return NULL;
}

static void conn_close(dp_conn_t *c)
{
    if (h2o_linklist_is_linked(&c->link)) {
        h2o_linklist_unlink(&c->link);
        c->o->nidle--;
    }
    unlink_timer(&c->idle_entry);
    h2o_socket_close(c->sock);
    free(c);
}

static void origin_free(dp_origin_t *o)
{
    while (!h2o_linklist_is_empty(&o->idle))
        conn_close(H2O_STRUCT_FROM_MEMBER(dp_conn_t, link, o->idle.next));
    if (o->ssl_ctx)
        SSL_CTX_free(o->ssl_ctx);
    free(o->hostline.base);
    free(o->authority);
    free(o->ca_file);
    free(o->host);
    free(o);
}

static dp_origin_t *origin_get(dp_engine_t *e, int tls, const char *auth, size_t alen, const char *ca_file)
{
    for (size_t i = 0; i < e->norigins; i++) {
        dp_origin_t *o = e->origins[i];
        if (o->tls == tls && o->authority_len == alen && memcmp(o->authority, auth, alen) == 0 &&
            (o->ca_file == ca_file || (o->ca_file && ca_file && strcmp(o->ca_file, ca_file) == 0)))
            return o;
    }
    if (e->norigins == MAX_ORIGINS) {
        /* a node that met this many origins (reloads that keep changing base_url): forget the
         * oldest one's idle connections and its slot */
        origin_free(e->origins[0]);
        memmove(e->origins, e->origins + 1, (MAX_ORIGINS - 1) * sizeof(e->origins[0]));
        e->norigins--;
    }
    dp_origin_t *o = origin_new(tls, auth, alen, ca_file);
    if (o != NULL)
        e->origins[e->norigins++] = o;
    return o;
}

static SSL_CTX *origin_ssl(dp_origin_t *o)
{
    if (o->ssl_ctx != NULL)
        return o->ssl_ctx;
    SSL_CTX *s = SSL_CTX_new(TLS_client_method());
    if (s == NULL)
        return NULL;
    SSL_CTX_set_min_proto_version(s, TLS1_2_VERSION);
    SSL_CTX_set_verify(s, SSL_VERIFY_PEER, verify_cb);
    /* once per origin and thread: the CA file (or the system store) is read here */
    int ok =
        o->ca_file ? SSL_CTX_load_verify_locations(s, o->ca_file, NULL) : SSL_CTX_set_default_verify_paths(s);
    if (ok != 1) {
        SY_WARN("msg=\"cannot load the CA certificates for an upstream\" origin=%s ca_file=%s", o->authority,
                o->ca_file ? o->ca_file : "(system)");
        ERR_clear_error();
        SSL_CTX_free(s);
        return NULL;
    }
    o->ssl_ctx = s;
    return s;
}

static void on_idle_read(h2o_socket_t *sock, const char *err)
{
    dp_conn_t *c = sock->data;
    /* TLS: h2o read something that decrypted to nothing (a session ticket, a partial record):
     * not a reason to drop the connection */
    if (c->o->tls && err == NULL && sock->input->size == 0)
        return;
    /* an idle connection has nothing to say: EOF, an error, or stray bytes all end it (a plain
     * one is DONT_READ: readable at all means one of these) */
    conn_close(c);
}

static void on_idle_timeout(h2o_timeout_entry_t *entry)
{
    conn_close(H2O_STRUCT_FROM_MEMBER(dp_conn_t, idle_entry, entry));
}

static void pool_put(dp_engine_t *e, dp_conn_t *c)
{
    dp_origin_t *o = c->o;
    if (o->nidle >= DP_UPSTREAM_POOL_CAP || c->sock->input->size != 0 || dp_shutting_down()) {
        conn_close(c);
        return;
    }
    c->sock->data = c;
    h2o_socket_read_start(c->sock, on_idle_read); /* still watched: a peer's close is seen at once */
    h2o_linklist_insert(o->idle.next, &c->link);
    o->nidle++;
    c->idle_entry.cb = on_idle_timeout;
    h2o_timeout_link(e->loop, &e->keepalive, &c->idle_entry);
}

static dp_conn_t *pool_take(dp_origin_t *o)
{
    if (h2o_linklist_is_empty(&o->idle))
        return NULL;
    dp_conn_t *c = H2O_STRUCT_FROM_MEMBER(dp_conn_t, link, o->idle.next);
    h2o_linklist_unlink(&c->link);
    o->nidle--;
    unlink_timer(&c->idle_entry);
    return c;
}

/* ---- one transfer ---- */

static void release_conn(dp_upstream_t *u, int reusable)
{
    dp_conn_t *c = u->conn;
    if (c == NULL)
        return;
    u->conn = NULL;
    if (reusable) {
        pool_put(u->e, c);
    } else {
        conn_close(c);
    }
}

static void destroy(dp_upstream_t *u, int reusable)
{
    unlink_timer(&u->timer);
    unlink_timer(&u->ctimer);
    unlink_timer(&u->ttimer);
    if (u->resolve != NULL) {
        h2o_hostinfo_getaddr_cancel(u->resolve);
        u->resolve = NULL;
    }
    release_conn(u, reusable);
    free(u);
}

static void finish(dp_upstream_t *u, sy_err_t err, const char *why)
{
    int reusable = err == SY_E_OK && u->keepalive && u->written && u->held == 0;
    dp_upstream_cb_t cb = u->cb;
    void *ctx = u->ctx;
    int cancelled = u->cancelled;
    destroy(u, reusable);
    if (!cancelled)
        cb.on_done(ctx, err, why);
}

/* The connection failed. A reused keep-alive connection that fails before any byte of the
 * answer was closed by the peer meanwhile: the request goes once more, on a fresh one. */
static void conn_failed(dp_upstream_t *u, const char *why)
{
    if (u->reused && !u->retried && !u->got_bytes) {
        SY_DEBUG("msg=upstream_reused_closed origin=%s", u->o->authority);
        u->retried = 1;
        u->reused = 0;
        u->written = 0;
        release_conn(u, 0);
        connect_fresh(u);
        return;
    }
    finish(u, SY_E_UPSTREAM_ERROR, why);
}

static void on_timer(h2o_timeout_entry_t *entry)
{
    dp_upstream_t *u = H2O_STRUCT_FROM_MEMBER(dp_upstream_t, timer, entry);
    finish(u, SY_E_UPSTREAM_TIMEOUT,
           u->got_response ? "upstream went silent mid-answer (idle timeout)"
                           : "no answer from upstream (first-byte timeout)");
}

static void on_connect_timer(h2o_timeout_entry_t *entry)
{
    dp_upstream_t *u = H2O_STRUCT_FROM_MEMBER(dp_upstream_t, ctimer, entry);
    finish(u, SY_E_UPSTREAM_TIMEOUT, "upstream connect timed out");
}

static void on_total_timer(h2o_timeout_entry_t *entry)
{
    dp_upstream_t *u = H2O_STRUCT_FROM_MEMBER(dp_upstream_t, ttimer, entry);
    if (u->deferred_why != NULL)
        finish(u, SY_E_UPSTREAM_ERROR, u->deferred_why);
    else
        finish(u, SY_E_UPSTREAM_TIMEOUT, "upstream timed out (total timeout)");
}

/* A failure found while starting: reported from the loop, never from inside dp_upstream_start. */
static void fail_later(dp_upstream_t *u, const char *why)
{
    unlink_timer(&u->ttimer);
    u->deferred_why = why;
    h2o_timeout_link(u->e->loop, &u->e->ctx->zero_timeout, &u->ttimer);
}

static void on_written(h2o_socket_t *sock, const char *err)
{
    dp_upstream_t *u = sock->data;
    if (err != NULL) {
        conn_failed(u, "upstream connection broke");
        return;
    }
    u->written = 1;
}

static void send_request(dp_upstream_t *u)
{
    h2o_socket_t *sock = u->conn->sock;
    sock->data = u;
    h2o_iovec_t bufs[2] = {h2o_iovec_init(u->head, u->headlen), u->body};
    h2o_socket_write(sock, bufs, u->body.len ? 2 : 1, on_written);
    h2o_socket_read_start(sock, on_read);
}

static void on_handshake(h2o_socket_t *sock, const char *err)
{
    dp_upstream_t *u = sock->data;
    /* verify_cb already checked the chain and the name; h2o's own name check (DNS names only)
     * is superseded by it, so its "name mismatch" is not a failure here */
    if (err != NULL && err != h2o_socket_error_ssl_cert_name_mismatch) {
        SY_DEBUG("msg=upstream_tls_failed origin=%s err=\"%s\"", u->o->authority, err);
        finish(u, SY_E_UPSTREAM_ERROR, "could not connect to upstream (TLS)");
        return;
    }
    unlink_timer(&u->ctimer);
    send_request(u);
}

static void start_connect(dp_upstream_t *u, struct sockaddr *sa, socklen_t salen);

static void on_connect(h2o_socket_t *sock, const char *err)
{
    dp_upstream_t *u = sock->data;
    if (err != NULL) {
        if (u->next_addr < u->naddrs) {
            /* the name has another address (e.g. localhost: ::1 refused, 127.0.0.1 next) */
            release_conn(u, 0);
            size_t i = u->next_addr++;
            start_connect(u, (struct sockaddr *)&u->addrs[i], u->addrlens[i]);
            return;
        }
        finish(u, SY_E_UPSTREAM_ERROR, "could not connect to upstream");
        return;
    }
    /* h2o_socket_connect set TCP_NODELAY. A plain connection is read by us (read_bounded), not
     * by h2o, whose read loop keeps reading while the peer keeps writing: a fast upstream could
     * fill any amount of memory before the relay's first chance to pause it. */
    if (!u->o->tls)
        h2o_socket_dont_read(sock, 1);
    if (u->o->tls) {
        SSL_CTX *ssl = origin_ssl(u->o);
        if (ssl == NULL) {
            finish(u, SY_E_UPSTREAM_ERROR, "could not connect to upstream (CA certificates)");
            return;
        }
        h2o_socket_ssl_handshake(sock, ssl, u->o->host, on_handshake);
        return;
    }
    unlink_timer(&u->ctimer);
    send_request(u);
}

static void start_connect(dp_upstream_t *u, struct sockaddr *sa, socklen_t salen)
{
    dp_conn_t *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        fail_later(u, "could not connect to upstream (out of memory)");
        return;
    }
    c->o = u->o;
    c->sock = h2o_socket_connect(u->e->loop, sa, salen, on_connect);
    if (c->sock == NULL) {
        free(c);
        fail_later(u, "could not connect to upstream");
        return;
    }
    c->sock->data = u;
    u->conn = c;
}

static void on_resolved(h2o_hostinfo_getaddr_req_t *req, const char *errstr, struct addrinfo *res,
                        void *cbdata)
{
    dp_upstream_t *u = cbdata;
    u->resolve = NULL;
    if (errstr != NULL || res == NULL) {
        SY_DEBUG("msg=upstream_resolve_failed host=%s err=\"%s\"", u->o->host,
                 errstr ? errstr : "no address");
        finish(u, SY_E_UPSTREAM_ERROR, "could not connect to upstream (name resolution)");
        return;
    }
    u->naddrs = 0;
    for (struct addrinfo *ai = res; ai != NULL && u->naddrs < MAX_ADDRS; ai = ai->ai_next) {
        if (ai->ai_addrlen > sizeof(u->addrs[0]))
            continue;
        memcpy(&u->addrs[u->naddrs], ai->ai_addr, ai->ai_addrlen);
        u->addrlens[u->naddrs++] = ai->ai_addrlen;
    }
    if (u->naddrs == 0) {
        finish(u, SY_E_UPSTREAM_ERROR, "could not connect to upstream (name resolution)");
        return;
    }
    u->next_addr = 1;
    start_connect(u, (struct sockaddr *)&u->addrs[0], u->addrlens[0]);
}

static void connect_fresh(dp_upstream_t *u)
{
    dp_origin_t *o = u->o;
    unlink_timer(&u->ctimer);
    if (u->connect_timeout != NULL)
        h2o_timeout_link(u->e->loop, u->connect_timeout, &u->ctimer);
    u->state = HEAD;
    u->keepalive = 0;
    if (o->addrlen != 0) {
        start_connect(u, (struct sockaddr *)&o->addr, o->addrlen);
    } else {
        u->resolve = h2o_hostinfo_getaddr(&u->e->resolver, h2o_iovec_init(o->host, strlen(o->host)),
                                          h2o_iovec_init(o->port, strlen(o->port)), AF_UNSPEC, SOCK_STREAM,
                                          IPPROTO_TCP, AI_ADDRCONFIG | AI_NUMERICSERV, on_resolved, u);
    }
}

/* Parses the answer's head in `in`; 1 done (consumed), 0 need more, -1 malformed. */
static int parse_head(dp_upstream_t *u, h2o_socket_t *sock)
{
    for (;;) {
        h2o_buffer_t *in = sock->input;
        struct phr_header hs[MAX_RESPONSE_HEADERS];
        size_t nh = MAX_RESPONSE_HEADERS, msglen;
        const char *msg;
        int minor, status;
        int rc = phr_parse_response(in->bytes, in->size, &minor, &status, &msg, &msglen, hs, &nh, 0);
        if (rc == -2)
            return in->size > MAX_RESPONSE_HEAD ? -1 : 0;
        if (rc < 0)
            return -1;
        if (status >= 100 && status < 200) {
            h2o_buffer_consume(&sock->input,
                               (size_t)rc); /* 1xx (we send no Expect): the real answer follows */
            continue;
        }
        int chunked = 0, has_len = 0, close = minor == 0, ka = 0;
        uint64_t len = 0;
        u->retry_after = -1;
        for (size_t i = 0; i < nh; i++) {
            const struct phr_header *h = &hs[i];
            if (h->name_len == 14 && h2o_lcstris(h->name, 14, H2O_STRLIT("content-length"))) {
                if (h->value_len == 0 || h->value_len > 15)
                    return -1;
                uint64_t v = 0;
                for (size_t j = 0; j < h->value_len; j++) {
                    if (h->value[j] < '0' || h->value[j] > '9')
                        return -1;
                    v = v * 10 + (uint64_t)(h->value[j] - '0');
                }
                if (has_len && v != len)
                    return -1;
                has_len = 1;
                len = v;
            } else if (h->name_len == 17 && h2o_lcstris(h->name, 17, H2O_STRLIT("transfer-encoding"))) {
                if (h2o_contains_token(h->value, h->value_len, H2O_STRLIT("chunked"), ','))
                    chunked = 1;
                else
                    return -1; /* gzip alone or an unknown coding: nothing we can frame */
            } else if (h->name_len == 10 && h2o_lcstris(h->name, 10, H2O_STRLIT("connection"))) {
                if (h2o_contains_token(h->value, h->value_len, H2O_STRLIT("close"), ','))
                    close = 1;
                else if (h2o_contains_token(h->value, h->value_len, H2O_STRLIT("keep-alive"), ','))
                    ka = 1;
            } else if (h->name_len == 11 && h2o_lcstris(h->name, 11, H2O_STRLIT("retry-after"))) {
                int v = 0;
                size_t j = 0;
                for (; j < h->value_len && j < 6 && h->value[j] >= '0' && h->value[j] <= '9'; j++)
                    v = v * 10 + (h->value[j] - '0');
                if (j > 0 && j == h->value_len && v < 86400)
                    u->retry_after = v;
            }
        }
        h2o_buffer_consume(&sock->input, (size_t)rc);
        u->status = status;
        u->keepalive = minor == 0 ? ka && !close : !close;
        if (status == 204 || status == 304) {
            u->state = BODY_LENGTH;
            u->remaining = 0;
        } else if (chunked) {
            u->state = BODY_CHUNKED; /* wins over a Content-Length (RFC 9112 6.3) */
            memset(&u->dec, 0, sizeof(u->dec));
            u->dec.consume_trailer = 1;
        } else if (has_len) {
            u->state = BODY_LENGTH;
            u->remaining = len;
        } else {
            u->state = BODY_CLOSE;
            u->keepalive = 0;
        }
        return 1;
    }
}

static void report_response(dp_upstream_t *u)
{
    u->got_response = 1;
    unlink_timer(&u->timer);
    u->cb.on_response(u->ctx, u->status, u->retry_after);
}

/* Offers the body bytes in the input to the callback, decoding as they come; ends the transfer
 * when the answer is complete. Returns with reading stopped while the callback holds back. */
static void deliver(dp_upstream_t *u)
{
    h2o_socket_t *sock = u->conn->sock;
    for (;;) {
        h2o_buffer_t *in = sock->input;
        if (u->held == 0 && !u->complete_after && u->fail_after == NULL) {
            if (u->state == BODY_LENGTH && u->remaining == 0) {
                u->complete_after = 1;
            } else if (in->size == 0) {
                break;
            } else if (u->state == BODY_CHUNKED) {
                size_t sz = in->size;
                ssize_t rc = phr_decode_chunked(&u->dec, in->bytes, &sz);
                in->size = sz; /* the decoder took every byte; the decoded ones are at the front */
                u->held = sz;
                if (rc == -1) /* what came before the bad framing still counts (a cut stream) */
                    u->fail_after = "upstream connection broke (malformed chunked framing)";
                if (rc >= 0) {
                    u->complete_after = 1;
                    if (rc > 0)
                        u->keepalive = 0; /* bytes after the last chunk: the connection is not clean */
                }
            } else if (u->state == BODY_LENGTH) {
                u->held = in->size < u->remaining ? in->size : (size_t)u->remaining;
                u->remaining -= u->held;
                if (u->remaining == 0) {
                    u->complete_after = 1;
                    if (in->size > u->held)
                        u->keepalive = 0;
                }
            } else {
                u->held = in->size;
            }
        }
        if (u->held > 0) {
            if (!u->got_response) {
                u->in_cb = 1;
                report_response(u);
                u->in_cb = 0;
                if (u->cancelled) {
                    finish(u, SY_E_OK, "cancelled");
                    return;
                }
            }
            unlink_timer(&u->timer);
            u->in_cb = 1;
            size_t n = u->held < DELIVER_MAX ? u->held : DELIVER_MAX;
            int rc = u->cb.on_data(u->ctx, in->bytes, n);
            u->in_cb = 0;
            if (u->cancelled) {
                finish(u, SY_E_OK, "cancelled");
                return;
            }
            if (rc == 1) {
                /* a slow client is not an idle upstream: no idle timer while paused */
                u->paused = 1;
                h2o_socket_read_stop(sock);
                return;
            }
            h2o_buffer_consume(&sock->input, n);
            u->held -= n;
            if (u->held > 0)
                continue;
        }
        if (u->fail_after != NULL) {
            finish(u, SY_E_UPSTREAM_ERROR, u->fail_after);
            return;
        }
        if (u->complete_after) {
            if (!u->got_response) {
                u->in_cb = 1;
                report_response(u); /* an answer without a body */
                u->in_cb = 0;
            }
            if (sock->input->size != 0)
                u->keepalive = 0;
            finish(u, SY_E_OK, "ok");
            return;
        }
        if (u->idle_timeout != NULL && !h2o_timeout_is_linked(&u->timer))
            h2o_timeout_link(u->e->loop, u->idle_timeout, &u->timer);
        if (sock->input->size == 0)
            break;
    }
}

/* One read(2) of at most READ_MAX into the input of a plain connection (h2o only told us it is
 * readable). NULL, or h2o's error for EOF / a failed read; EAGAIN is NULL with nothing added. */
static const char *read_bounded(h2o_socket_t *sock)
{
    h2o_iovec_t buf = h2o_buffer_reserve(&sock->input, READ_MAX);
    if (buf.base == NULL)
        return h2o_socket_error_out_of_memory;
    ssize_t n;
    while ((n = read(h2o_socket_get_fd(sock), buf.base, buf.len < READ_MAX ? buf.len : READ_MAX)) == -1 &&
           errno == EINTR)
        ;
    if (n > 0) {
        sock->input->size += (size_t)n;
        return NULL;
    }
    if (n == 0)
        return h2o_socket_error_closed;
    return errno == EAGAIN || errno == EWOULDBLOCK ? NULL : h2o_socket_error_io;
}

static void on_read(h2o_socket_t *sock, const char *err)
{
    dp_upstream_t *u = sock->data;
    if (!u->o->tls && err == NULL) {
        size_t before = sock->input->size;
        err = read_bounded(sock);
        if (err == NULL && sock->input->size == before)
            return; /* spurious wake-up */
    }
    if (sock->input->size != 0)
        u->got_bytes = 1;
    if (u->state == HEAD && sock->input->size != 0) {
        int rc = parse_head(u, sock);
        if (rc < 0) {
            finish(u, SY_E_UPSTREAM_ERROR, "malformed response from upstream");
            return;
        }
        if (rc == 0 && err == NULL)
            return;
    }
    if (u->state != HEAD &&
        (sock->input->size != 0 || u->held != 0 || (u->state == BODY_LENGTH && u->remaining == 0))) {
        deliver(u);
        return;
    }
    if (err != NULL) {
        if (u->state == BODY_CLOSE) {
            finish(u, SY_E_OK, "ok"); /* the end of a close-delimited answer */
        } else if (u->state == HEAD && u->got_bytes) {
            finish(u, SY_E_UPSTREAM_ERROR, "upstream connection broke");
        } else if (u->state == HEAD) {
            conn_failed(u, "upstream connection broke");
        } else {
            finish(u, SY_E_UPSTREAM_ERROR, "upstream connection broke");
        }
    }
}

dp_upstream_t *dp_upstream_start(dp_engine_t *e, const dp_upstream_spec_t *spec, const dp_upstream_cb_t *cb,
                                 void *ctx)
{
    /* the URL: http(s)://authority/path?query — validated when the snapshot was built */
    const char *url = spec->url;
    int tls;
    if (strncmp(url, "https://", 8) == 0)
        tls = 1, url += 8;
    else if (strncmp(url, "http://", 7) == 0)
        tls = 0, url += 7;
    else
        return NULL;
    size_t alen = strcspn(url, "/?#");
    const char *path = url + alen;
    size_t plen = strlen(path);
    if (alen == 0)
        return NULL;
    dp_origin_t *o = origin_get(e, tls, url, alen, spec->ca_file);
    if (o == NULL)
        return NULL;

    /* the head: one contiguous block, so it is one write and (TLS) one record */
    char cl[40];
    size_t cll = 0;
    {
        char digits[24];
        size_t nd = 0;
        uint64_t v = spec->body_len;
        do
            digits[nd++] = (char)('0' + v % 10);
        while ((v /= 10) != 0);
        memcpy(cl, "Content-Length: ", 16);
        cll = 16;
        while (nd > 0)
            cl[cll++] = digits[--nd];
        memcpy(cl + cll, "\r\n\r\n", 4);
        cll += 4;
    }
    size_t headlen = 5 + (plen ? plen : 1) + 11 + o->hostline.len + cll;
    for (size_t i = 0; i < spec->headers.nextra; i++)
        headlen += spec->headers.extra[i].len;
    headlen += spec->headers.fixed.len;
    dp_upstream_t *u = malloc(offsetof(dp_upstream_t, head) + headlen);
    if (u == NULL)
        return NULL;
    memset(u, 0, offsetof(dp_upstream_t, head));
    char *p = u->head;
    memcpy(p, "POST ", 5), p += 5;
    if (plen)
        memcpy(p, path, plen), p += plen;
    else
        *p++ = '/';
    memcpy(p, " HTTP/1.1\r\n", 11), p += 11;
    memcpy(p, o->hostline.base, o->hostline.len), p += o->hostline.len;
    for (size_t i = 0; i < spec->headers.nextra; i++)
        memcpy(p, spec->headers.extra[i].base, spec->headers.extra[i].len), p += spec->headers.extra[i].len;
    if (spec->headers.fixed.len)
        memcpy(p, spec->headers.fixed.base, spec->headers.fixed.len), p += spec->headers.fixed.len;
    memcpy(p, cl, cll), p += cll;
    u->headlen = (size_t)(p - u->head);

    u->e = e;
    u->o = o;
    u->cb = *cb;
    u->ctx = ctx;
    u->retry_after = -1;
    u->body = h2o_iovec_init(spec->body, spec->body_len);
    u->timer.cb = on_timer;
    u->ctimer.cb = on_connect_timer;
    u->ttimer.cb = on_total_timer;
    if (spec->first_byte_ms) {
        u->fb_timeout = timer_for(e, spec->first_byte_ms);
        h2o_timeout_link(e->loop, u->fb_timeout, &u->timer);
    }
    if (spec->idle_ms)
        u->idle_timeout = timer_for(e, spec->idle_ms);
    if (spec->connect_ms)
        u->connect_timeout = timer_for(e, spec->connect_ms);
    if (spec->total_ms)
        h2o_timeout_link(e->loop, timer_for(e, spec->total_ms), &u->ttimer);

    dp_conn_t *c = pool_take(o);
    if (c != NULL) {
        u->conn = c;
        u->reused = 1;
        u->state = HEAD;
        send_request(u);
    } else {
        connect_fresh(u);
    }
    return u;
}

void dp_upstream_resume(dp_upstream_t *u)
{
    if (!u->paused || u->cancelled || u->conn == NULL)
        return;
    u->paused = 0;
    h2o_socket_read_start(u->conn->sock, on_read);
    deliver(u); /* the bytes held back come again now */
}

void dp_upstream_cancel(dp_upstream_t *u)
{
    if (u->cancelled)
        return;
    u->cancelled = 1;
    if (u->in_cb)
        return;    /* the engine ends it when the callback returns */
    destroy(u, 0); /* the answer was not read to its end: the connection is closed, never pooled */
}

dp_engine_t *dp_engine_create(h2o_evloop_t *loop, h2o_context_t *ctx)
{
    dp_engine_t *e = calloc(1, sizeof(*e));
    if (e == NULL) {
        SY_ERROR("msg=\"cannot create the upstream engine\"");
        abort();
    }
    e->loop = loop;
    e->ctx = ctx;
    h2o_multithread_register_receiver(ctx->queue, &e->resolver, h2o_hostinfo_getaddr_receiver);
    h2o_timeout_init(loop, &e->keepalive, DP_UPSTREAM_KEEPALIVE_MS);
    return e;
}

void dp_engine_destroy(dp_engine_t *e)
{
    if (e == NULL)
        return;
    for (size_t i = 0; i < e->norigins; i++)
        origin_free(e->origins[i]);
    h2o_timeout_dispose(e->loop, &e->keepalive);
    for (size_t i = 0; i < e->ntimers; i++)
        h2o_timeout_dispose(e->loop, &e->timers[i].t);
    h2o_multithread_unregister_receiver(e->ctx->queue, &e->resolver);
    free(e);
}
