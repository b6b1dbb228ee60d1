/*
 * dp_bus — the data plane's side of the fleet bus (nng): follows the control plane.
 *
 *   SUB (sub_url): 8-byte big-endian "version V exists" notices, and deltas pushed by the
 *       control plane ("delta" + a packed SnapshotDelta; subscribed to everything, receive size
 *       capped at DP_BUS_PUB_MAX: nng drops the connection on a larger message). A notice newer
 *       than the published snapshot triggers a fetch. A pushed delta whose base is exactly the
 *       version in use (version and created_at_ms) is applied like a fetched one, without a
 *       fetch; on another base it is ignored (the notice sent behind it decides); refused
 *       otherwise (corrupt, invalid, overlay full) it triggers a fetch. Heartbeats carry
 *       push_ok = 1 so the control plane knows this node takes them.
 *   REQ (req_url): fetches the packed Switchyard__Snapshot (receive cap 64 MiB), asking for a
 *       delta on top of the version in use (FetchSnapshot.delta_ok; dp_snapshot_apply_delta —
 *       a refused delta is followed at once by a fetch of the whole snapshot). Fetched on
 *       start, on a newer notice, and every 1 s as a safety net against lost notices.
 *       Requests are Switchyard__BusRequest (proto/bus.proto): `fetch` for the snapshot.
 *   REQ (req_url, a second socket): every 1 s (and within 50 ms of a change of the served
 *       version) a `heartbeat` carrying the node id, build "switchyard-dp/0.1" and
 *       dp_snapshot_current_version(); the control plane records it in dp_nodes (GET
 *       /api/nodes) and counts the live nodes by it. Its own socket and thread, so a slow fetch
 *       (a big snapshot to a whole fleet at once) never makes a live node look dead.
 *
 * A fetched snapshot is unpacked and built with dp_snapshot_build; one that is corrupt,
 * invalid or not newer than the published one is rejected (logged) and the current one kept.
 * An accepted one goes through dp_snapshot_publish and dp_server_snapshot_changed, and then,
 * when a cache directory is set, its exact packed bytes are written there (dp_cache.h) on the
 * bus thread — for a delta, the merged deltas over the cached snapshot (delta.pb); a failed
 * write is logged and the snapshot stays applied.
 * All three sockets dial non-blocking, so the node may start before the control plane.
 *
 * Threading: dp_bus_start spawns the bus thread and the heartbeat thread (they inherit the
 * caller's signal mask: call it from a thread with SIGTERM/SIGINT/SIGHUP blocked, e.g.
 * dp_server's on_ready hook, once the loop threads exist). dp_bus_stop asks both to end, joins
 * them (within ~100 ms; at most one request timeout, 2 s, when a fetch or heartbeat is
 * waiting), then closes the three sockets and frees everything; call it once, from the thread
 * that started it. Process-wide singleton.
 */
#ifndef DP_BUS_H
#define DP_BUS_H

#include <stddef.h>
#include <stdint.h>

#include <nng/nng.h>

#include "bus.pb-c.h"
#include "sy_busauth.h"

/* Authenticates the bus (docs/controlplane.md, "Bus authentication"): dials tls+tcp:// with
 * `tls` (mutual TLS, the control plane checked as SY_BUSAUTH_CP_NAME) and signs heartbeats with
 * `signer` (whose CN must be node_id). Both borrowed: they must outlive dp_bus_stop. Call before
 * dp_bus_start; without it the bus is plain. */
void dp_bus_set_auth(const sy_busauth_tls_t *tls, const sy_busauth_signer_t *signer);
/* Packs `br` into a new nng message (caller owns it), wrapped in a SignedRequest signed now by
 * `signer` when it is non-NULL. NULL on failure (logged). Any thread. */
nng_msg *dp_bus_msg(const Switchyard__BusRequest *br, const sy_busauth_signer_t *signer);

/* The largest PUB message received (a pushed delta; the control plane pushes at most 64 KiB). */
#define DP_BUS_PUB_MAX ((size_t)256 << 10)
typedef enum { DP_BUS_NOTICE_OTHER, DP_BUS_NOTICE_VERSION, DP_BUS_NOTICE_DELTA } dp_bus_notice_t;
/* Classifies one PUB message (outside bytes, len <= any): exactly 8 bytes -> a version notice
 * (*version, big-endian); more than 8 bytes, at most DP_BUS_PUB_MAX, starting "delta" -> a pushed
 * delta (*delta, *dlen: the packed SnapshotDelta after the prefix, pointing into b); anything
 * else -> OTHER (ignored). Pure; any thread. */
dp_bus_notice_t dp_bus_parse_notice(const uint8_t *b, size_t len, uint64_t *version, const uint8_t **delta,
                                    size_t *dlen);

/* Opens both sockets, dials, starts the thread. 0, or -1 with err (nothing left running).
 * cache_dir may be NULL (no on-disk cache); node_id is the heartbeat identity (non-NULL).
 * The strings must outlive the bus. */
int dp_bus_start(const char *sub_url, const char *req_url, const char *cache_dir, const char *node_id,
                 char *err, size_t errlen);
/* No-op when not started. */
void dp_bus_stop(void);

/* Closes `n` (≤ 4) nng sockets on a helper thread and waits at most `timeout_ms`: nng 1.5.2 can
 * hang in nng_close (seen in CI: the SUB socket, then every later close in the process), and a
 * node must still exit on SIGTERM. After one timeout every later call skips the wait (nng is
 * wedged; the sockets die with the process). 0 closed, -1 given up (logged with `what`). */
int dp_nng_close_bounded(const nng_socket *socks, size_t n, unsigned timeout_ms, const char *what);

#endif
