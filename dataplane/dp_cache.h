/*
 * dp_cache — the data plane's on-disk copy of its last control-plane snapshot, so a node
 * restarted while the control plane is away still serves what it last knew.
 *
 *   DIR/snapshot.pb   the exact packed Switchyard__Snapshot bytes the bus last applied whole.
 *   DIR/delta.pb      the deltas applied over it since, merged: one packed SnapshotDelta from
 *                     snapshot.pb's version (dp_snapshot_t.merged); removed when a whole snapshot
 *                     is written. At load it is applied over snapshot.pb (a delta for another
 *                     base — a crash between the two files — is refused and logged: the node
 *                     serves snapshot.pb alone and catches up over the bus).
 *
 * Writes go to DIR/snapshot.pb.tmp, which is fsynced, renamed over DIR/snapshot.pb, and then
 * the directory is fsynced: a crash leaves either the old file or the new one, never a torn
 * one. A file that fails to read, unpack or build is reported to the caller (which logs and
 * ignores it); it is never fatal.
 *
 * Ownership/threading: no global state. dp_cache_write does blocking file I/O and fsyncs —
 * call it only from the bus thread, never from an event loop. dp_cache_load is called once
 * from main before the loops start. Only one writer per DIR (one node per cache directory).
 */
#ifndef DP_CACHE_H
#define DP_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "dp_snapshot.h"

/* Largest cache file accepted (the bus's receive cap). */
#define DP_CACHE_MAX ((size_t)64 << 20)

/* Atomically replaces DIR/snapshot.pb with buf and removes DIR/delta.pb. 0, or -1 with err (the
 * old file is kept). */
/* Creates `dir` (one level, mode 0700) when missing and checks the node can write there, so a
 * typo fails at start instead of on every snapshot. 0, or -1 with err. */
int dp_cache_prepare(const char *dir, char *err, size_t errlen);
int dp_cache_write(const char *dir, const uint8_t *buf, size_t len, char *err, size_t errlen);
/* Atomically replaces DIR/delta.pb with buf (a packed SnapshotDelta over DIR/snapshot.pb). */
int dp_cache_write_delta(const char *dir, const uint8_t *buf, size_t len, char *err, size_t errlen);

/* Reads, unpacks and builds DIR/snapshot.pb, and applies DIR/delta.pb over it when present. 1 with *out (one
 * reference, the caller's); 0 when there is no file; DP_CACHE_CORRUPT with err when it is unreadable or does
 * not unpack; DP_CACHE_INVALID with err when it unpacks but the snapshot builder refuses it. */
enum { DP_CACHE_CORRUPT = -1, DP_CACHE_INVALID = -2 };
int dp_cache_load(const char *dir, dp_snapshot_t **out, char *err, size_t errlen);

#endif
