/*
 * dp_authfail — the per-client limit on failed authentications (docs/admission.md, "Failed
 * authentication: per-client limit"; issue 13, matrix row G1).
 *
 * A client (the TCP peer: an IPv4 address, or the /64 of an IPv6 address) that presents
 * `limit` wrong API keys within `window` gets 429 for every further wrong key until that
 * window ends (a fixed window that starts at its first failure). Only presented keys that
 * match nothing count: a request without any key, and a known key that is revoked, expired or
 * over a limit, do not. A valid key from a blocked address is still served: the limit stops
 * guessing, it must not let a guesser lock out everybody behind the same NAT.
 *
 * State: one table per event-loop thread (DP_AUTHFAIL_SLOTS entries of {client, window start,
 * count}, allocated once when the thread starts). Only that thread touches it: no lock, no
 * atomic, no allocation per request. A client's connections that land on different threads
 * are counted by each thread separately, so a node admits at most threads × limit wrong keys
 * per client and window. Bounded: a probe of DP_AUTHFAIL_PROBE slots; a slot whose window is
 * over is free; when none is, the entry with the oldest window is replaced (counted in
 * switchyard_auth_fail_evictions_total).
 *
 * Configuration: dp_authfail_configure at start (--auth-fail-limit, --auth-fail-window),
 * before the loop threads run; read-only afterwards. limit 0 turns the limit off.
 */
#ifndef DP_AUTHFAIL_H
#define DP_AUTHFAIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define DP_AUTHFAIL_DEFAULT_LIMIT 20
#define DP_AUTHFAIL_DEFAULT_WINDOW_S 10
#define DP_AUTHFAIL_SLOTS 2048 /* per loop thread, 40 B each */
#define DP_AUTHFAIL_PROBE 8

typedef struct dp_authfail dp_authfail_t;

/* Sets the limit (0 = off) and the window (seconds, >= 1). Main thread, before the loops. */
void dp_authfail_configure(uint32_t limit, uint32_t window_s);
uint32_t dp_authfail_limit(void);

/* One table for one loop thread (NULL on out of memory: the limit is then off on that
 * thread). Freed by dp_authfail_destroy on the same thread's exit. */
dp_authfail_t *dp_authfail_create(void);
void dp_authfail_destroy(dp_authfail_t *t);

/* A wrong key presented by the peer `sa` (len bytes; AF_INET or AF_INET6, anything else is
 * one shared "unknown" client) at monotonic time now_ns. Returns 0 when the failure is within
 * the limit (answer 401), else the seconds (ceil, >= 1) until the client's window ends
 * (answer 429 with that retry-after); *first (may be NULL) is set to 1 on the failure that
 * went over the limit (once per client and window: the caller logs it). Owner thread only;
 * no syscall, no allocation. */
uint32_t dp_authfail_note(dp_authfail_t *t, const struct sockaddr *sa, socklen_t len, uint64_t now_ns,
                          int *first);

/* Prometheus text of the node-wide counters; appends to buf (at most cap bytes,
 * NUL-terminated); returns the length written. Any thread. */
size_t dp_authfail_metrics_render(char *buf, size_t cap);

#endif
