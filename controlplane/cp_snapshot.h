/*
 * cp_snapshot — the store's current state as one packed `Switchyard__Snapshot`
 * (proto/snapshot.proto), the message the control plane publishes to the fleet.
 *
 * Everything (version, providers, models, workspaces, keys, timeouts, limits) is read inside
 * one read transaction, so the snapshot is a consistent cut and its version is exactly the
 * `meta.snapshot_version` of the data it carries. Rows are emitted in id order so the same
 * state always packs to the same bytes (apart from `created_at_ms`).
 *
 * Every key is included — revoked and expired ones and those of inactive workspaces too — so
 * a data plane answers them with the precise error rather than "unknown key".
 *
 * Thread-safety: uses the store's connection; same rules as cp_store. Must be called with no
 * transaction open on that handle.
 */
#ifndef CP_SNAPSHOT_H
#define CP_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "cp_store.h"

/* A data plane counts as live while its last heartbeat (dp_nodes.last_seen_ms, wall clock) is
 * at most this old; heartbeats come every second. The live-node count (cp_bus.c) and the
 * per-node balance shares (below) both use it. */
#define CP_LIVE_NODE_MS 3000

/* Per-node shares of a workspace balance (docs/admission.md, "Fleet shares of a balance"). At
 * every build, for each workspace that spent on a live node in the last CP_SHARE_WINDOW_MS
 * (usage.received_ms), with n live nodes: every live node gets CP_SHARE_FLOOR_PPM / n, and the
 * rest of the million is split in proportion to each node's spend in the window. Workspaces
 * without recent spend carry no list: each node's share is 1 / live_nodes. */
#define CP_SHARE_WINDOW_MS 60000
#define CP_SHARE_FLOOR_PPM 200000

/* On success returns 0, *out (malloc'd, owned by the caller: free()) and *out_len hold the
 * packed message, and *version its version. On failure returns -1 with err set and *out NULL. */
int cp_snapshot_build(cp_store_t *s, uint8_t **out, size_t *out_len, uint64_t *version, char *err,
                      size_t errlen);

/* The same, but with only the keys and workspaces whose ids are in the JSON arrays key_ids and
 * ws_ids (NULL: none) — everything else (version, providers, models, aliases, settings, routing,
 * live_nodes) as in a whole build. An id with no row is simply absent. Used to patch the last
 * whole snapshot with the rows a write changed (cp_delta_patch). */
int cp_snapshot_build_partial(cp_store_t *s, const char *key_ids, const char *ws_ids, uint8_t **out,
                              size_t *out_len, uint64_t *version, char *err, size_t errlen);

#endif
