/*
 * sy_util — small helpers both services (and the test tools) share.
 *
 * Thread-safety: all functions are reentrant.
 */
#ifndef SY_UTIL_H
#define SY_UTIL_H

#include <stddef.h>
#include <stdint.h>

typedef struct ssl_ctx_st SSL_CTX;

/* Formats a message into err (if errlen > 0) and returns -1, for `return sy_errf(…)`. */
int sy_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Splits "HOST:PORT" (HOST may be "[v6]"); host gets the bare host. Port 0..65535.
 * Returns 0, or -1 on a malformed address or a host longer than hostlen-1. */
/* An identifier that may appear in URLs, logs and SQL parameters: 1..max printable ASCII
 * bytes, no space, quote, backslash or '/'. */
int sy_valid_word(const char *s, size_t max);
int sy_parse_hostport(const char *s, char *host, size_t hostlen, uint16_t *port);

/* A listening TCP socket on host:port (port 0 = any free port; SO_REUSEADDR, TCP_NODELAY
 * inherited by accepted sockets, CLOEXEC). Returns the fd and the bound port in *bound, or -1
 * with err set. */
int sy_listen_tcp(const char *host, uint16_t port, int backlog, uint16_t *bound, char *err, size_t errlen);

/* v in decimal into out (at least SY_FMT_U64_MAX bytes), NUL-terminated; returns the length.
 * For the hot path: printf's format parsing is a visible share of a request's CPU. */
#define SY_FMT_U64_MAX 21
size_t sy_fmt_u64(char *out, uint64_t v);

/* Writes "PORT\n" to path (for tests and supervisors that started us on port 0); best effort. */
void sy_write_port_file(const char *path, uint16_t port);

/* A TLS server context (TLS 1.2+) with a PEM certificate chain and key. NULL with err set on
 * failure. The caller owns the result (SSL_CTX_free). */
SSL_CTX *sy_tls_server_ctx(const char *cert, const char *key, char *err, size_t errlen);

#endif
