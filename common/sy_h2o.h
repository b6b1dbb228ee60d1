/*
 * sy_h2o — what both HTTP services need from h2o beyond the library itself.
 *
 * sy_h2o_json_errors registers an output filter that rewrites the errors h2o produces on its
 * own (413 before a handler runs, 400 on a broken request — text/plain in h2o 2.2.5) into the
 * OpenAI error shape, so that no response of ours is ever plain text. After h2o's own 413 the
 * connection gets a lingering close (sy_linger.h) on threads that set one up. `decorate` (may be NULL)
 * adds headers the service puts on every response (request id, CORS).
 *
 * A request h2o cannot parse at all (request line or headers) never reaches a filter: h2o
 * writes a fixed text/plain 400 to the socket. sy_h2o.c defines h2o_socket_write, which
 * interposes the library's (linked into the executable, it takes precedence over the shared
 * library's definition) and swaps that one buffer for the same 400 in JSON (code
 * invalid_request_error); every other write passes through unchanged.
 *
 * Threading: call at configuration time, before loops start. The filter runs on loop threads.
 */
#ifndef SY_H2O_H
#define SY_H2O_H

#include <h2o.h>

typedef void (*sy_h2o_decorate_cb)(h2o_req_t *req);

void sy_h2o_json_errors(h2o_hostconf_t *host, h2o_pathconf_t *path, sy_h2o_decorate_cb decorate);

/* 1 when an HTTP/1 request's head, as received, frames its body ambiguously: more than one
 * Content-Length header, or Content-Length together with Transfer-Encoding (RFC 9112 §6.3;
 * the request-smuggling shapes). h2o 2.2.5 uses the first Content-Length (or the
 * Transfer-Encoding) and drops the others before a handler runs, so this re-reads the head
 * from the connection's input buffer (sy_h2o.c says why that is safe). The caller answers 400
 * and closes the connection (req->http1_is_persistent = 0): the bytes after the body h2o chose
 * may be a smuggled request. 0 for HTTP/2 and whenever the head cannot be found. Handler
 * (loop) thread; reads only, no allocation. */
int sy_h2o_ambiguous_framing(h2o_req_t *req);

#endif
