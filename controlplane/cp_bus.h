/*
 * cp_bus — the control plane's side of the fleet bus (nng).
 *
 *   PUB  (pub_url): 8-byte big-endian snapshot version notices. One after every successful
 *        admin write (cp_bus_notify) and the current version every 500 ms, so a lost notice
 *        is repaired quickly. A notice is a hint only; nodes fetch by REQ. After a change the
 *        bus thread builds the new version at once and, when the delta from the version before
 *        it is at most 64 KiB, pushes it first ("delta" + SnapshotDelta, the bytes a fetch
 *        would get): a node serving that version applies it without a fetch (docs/controlplane.md,
 *        "Delta updates"). Not while a node without Heartbeat.push_ok was heard within
 *        CP_LIVE_NODE_MS (nng would disconnect it), nor with cp_bus_set_push(0).
 *   REP  (rep_url, a raw REP socket: replies are routed by each request's backtrace header, so
 *        many requests are outstanding at once): requests are Switchyard__BusRequest
 *        (proto/bus.proto). A `fetch` — and,
 *        for compatibility, an empty or unparsable request — is answered with the current
 *        packed Switchyard__Snapshot (built once per version and kept: patched from the last
 *        one with the key and workspace rows the watched writes named, or built whole; see
 *        cp_bus_watch_writes and cp_delta.h), with "delta" + a SnapshotDelta when the fetch
 *        asked for one and the control plane can make one from its version (docs/controlplane.md,
 *        "Delta updates"; a history of 1,024 versions and the digests of the last 6), or
 *        with "unchanged" when the fetch's have_version is the current version. A `heartbeat` upserts the node's
 *        dp_nodes row (last_seen_ms = wall-clock now) WITHOUT bumping the snapshot version
 *        (cp_admin_record_heartbeat; the heartbeats of one turn of the loop share one
 *        transaction) and is answered "ok" after its commit ("error" if not recorded).
 *        A `usage` batch is gathered with the other batches already queued (group commit, at
 *        most 32) and applied with them in one transaction (cp_usage_ingest_group); each is
 *        answered with a packed Switchyard__UsageAck only after that commit (format in
 *        proto/bus.proto); requests up to CP_USAGE_MAX_BATCH_BYTES + 16 KiB are received.
 *        Requests are idempotent (REQ may resend; usage records are applied once by id).
 *
 * Threading: cp_bus_start spawns one bus thread that opens its OWN store handle on `db_path`
 * (WAL lets it read while the admin API's handle writes) and serves REP in a loop with a
 * 100 ms receive timeout; the thread has SIGTERM/SIGINT/SIGHUP blocked. cp_bus_notify may be
 * called from any thread (nng sockets are thread-safe) and is a no-op when the bus is not
 * running. cp_bus_stop joins the thread and closes both sockets; call it once after
 * cp_api_run returns. The bus is a process-wide singleton.
 */
#ifndef CP_BUS_H
#define CP_BUS_H

#include <stddef.h>
#include <stdint.h>

#include "cp_store.h"

/* Authenticates the bus (docs/controlplane.md, "Bus authentication"; sy_busauth.h): both
 * listeners then take only tls+tcp:// URLs and require a client certificate from ca_file (PEM,
 * may hold several CAs), and heartbeats and usage batches are accepted only inside a
 * SignedRequest whose certificate's CN is the request's node id (refusals are logged as
 * msg="bus request refused" and write nothing). Fetches need the TLS session only. Call once,
 * before cp_bus_start; the bus owns what it loads and frees it in cp_bus_stop (or when
 * cp_bus_start fails). Without it the bus is plain (tcp://, ipc:// made mode 0600) and
 * cp_bus_start logs msg="bus is not authenticated: …". 0, or -1 with err. */
int cp_bus_set_tls(const char *ca_file, const char *cert_file, const char *key_file, char *err, size_t errlen);
/* Listens on both URLs and starts the bus thread. 0, or -1 with err (nothing left running). */
int cp_bus_start(const char *pub_url, const char *rep_url, const char *db_path, char *err, size_t errlen);
/* Publishes a "version exists" notice. Never blocks (PUB drops rather than waits). When deltas
 * are pushed it only records the version and wakes the bus thread (an inproc message to the REP
 * socket), which builds the version and publishes the delta and the notice. */
void cp_bus_notify(uint64_t version);
/* Pushed deltas on (default) or off (switchyard-cp --bus-no-push: plain notices only). Any time. */
void cp_bus_set_push(int on);
/* Test-only fault injection (switchyard-cp --bus-drop-notices): when set, cp_bus_notify and the
 * periodic republish send nothing, so nodes converge only through their own periodic fetch.
 * Call before cp_bus_start. */
void cp_bus_set_drop_notices(int on);
/* How often balances changed by quietly committed usage reach the fleet (default 5000 ms;
 * switchyard-cp --balance-refresh-ms). Call before cp_bus_start. */
void cp_bus_set_balance_refresh_ms(uint32_t ms);
/* Versions whose only changes are key and workspace rows are built by patching the last one
 * (docs/controlplane.md, "Delta updates"): every store handle that writes those tables at run
 * time must report its writes — call this once per such handle (the admin API's, SIGHUP's), any
 * thread, before it writes; the bus's own handle is watched by cp_bus_start. Until it is called
 * once, and after any failure, every version is built whole. 0, or -1 (logged). */
int cp_bus_watch_writes(cp_store_t *s);
/* Stops and joins the bus thread, closes the sockets. No-op when not started. */
void cp_bus_stop(void);

#endif
