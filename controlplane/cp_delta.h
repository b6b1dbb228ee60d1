/*
 * cp_delta — what changed between two packed snapshots, as a SnapshotDelta (proto/snapshot.proto;
 * docs/controlplane.md, "Delta updates").
 *
 * cp_rows_index scans one packed Switchyard__Snapshot (as cp_snapshot_build made it) without
 * unpacking it: per key and per workspace row its id, a 64-bit digest of its packed bytes and
 * where it lies in the buffer; for everything else (providers, models, aliases, routing,
 * timeouts, limits, live_nodes) one copy of those bytes, "the rest". Two versions whose rests are
 * equal differ only in key and workspace rows, and cp_delta_build packs the difference from a
 * merge walk of the two id-sorted row lists: the changed and new rows copied byte for byte from
 * the newer snapshot, the ids of the removed ones.
 *
 * Ownership: a cp_rows_t owns copies of the ids and the rest; it does NOT keep the packed
 * buffer, whose bytes cp_delta_build needs again (pass the same buffer for `to`).
 * Threading: no shared state; the bus thread uses it.
 */
#ifndef CP_DELTA_H
#define CP_DELTA_H

#include <stddef.h>
#include <stdint.h>

typedef struct cp_rows cp_rows_t;

/* Indexes a packed snapshot. NULL when it does not parse (or out of memory). */
cp_rows_t *cp_rows_index(const uint8_t *packed, size_t len);
void cp_rows_free(cp_rows_t *r);
uint64_t cp_rows_version(const cp_rows_t *r);
int64_t cp_rows_created(const cp_rows_t *r); /* the snapshot's created_at_ms */
size_t cp_rows_count(const cp_rows_t *r);    /* keys + workspaces */

/* The reply prefix of a delta on the bus (proto/bus.proto FetchSnapshot.delta_ok). */
#define CP_DELTA_MAGIC "delta"
#define CP_DELTA_MAGIC_LEN 5

/* Packs CP_DELTA_MAGIC + a SnapshotDelta from `from` to `to` (to_packed/to_len: the buffer `to`
 * was indexed from) into *out (malloc'd, the caller frees). 0 done; 1 no delta possible (the
 * versions are not in order, something besides keys and workspaces changed, or the delta would
 * exceed `cap` bytes): send the whole snapshot; -1 out of memory. */
int cp_delta_build(const cp_rows_t *from, const cp_rows_t *to, const uint8_t *to_packed, size_t to_len,
                   size_t cap, uint8_t **out, size_t *out_len);

/* ---- change tracking and patching (the control plane's side of a cheap version) ----
 *
 * cp_delta_watch installs, on one SQLite connection, TEMP triggers on the tables key and
 * workspace rows are made of (api_keys, key_spend, api_key_prev; workspaces, balances) that
 * report the id of every row they touch to a process-wide set (mutex). Every connection that
 * writes them at run time must be watched (cp_bus_watch_writes). A write rolled back leaves its
 * ids in the set: harmless, the row is read again and found unchanged. Past CP_DELTA_TRACK_MAX
 * ids the set overflows and the next version is built whole. */
#define CP_DELTA_TRACK_MAX 8192
struct sqlite3;
int cp_delta_watch(struct sqlite3 *db, char *err, size_t errlen);

typedef struct {
    char **ids; /* sorted (bytewise, as SQLite's BINARY collation), unique, malloc'd */
    size_t n;
} cp_idlist_t;
/* Moves the ids recorded since the last take into keys/ws (the caller frees them with
 * cp_idlist_free) and returns 0; 1 when the set overflowed since the last take (keys/ws empty). */
int cp_delta_take(cp_idlist_t *keys, cp_idlist_t *ws);
/* dst = dst ∪ src (both sorted unique); 0, or -1 out of memory (dst unchanged). */
int cp_idlist_union(cp_idlist_t *dst, const cp_idlist_t *src);
/* The ids as a JSON array (malloc'd), for cp_snapshot_build_partial. */
char *cp_idlist_json(const cp_idlist_t *l);
void cp_idlist_free(cp_idlist_t *l);

/* The next whole snapshot without reading the whole table: `prev` (indexed from prev_packed)
 * with every key and workspace row whose id is in keys/ws replaced by partial's row of that id
 * (cp_snapshot_build_partial of those ids), or dropped when partial has none, and version,
 * created_at_ms and everything that is not a key or workspace taken from partial. *out
 * (malloc'd) and *out_rows (its index) are the caller's. 0, or -1 (partial does not parse, out
 * of memory); 1 when partial's rest differs from prev's (a model, a setting, the live-node count —
 * which also changes every weighted balance share): build the version whole. */
int cp_delta_patch(const cp_rows_t *prev, const uint8_t *prev_packed, const uint8_t *partial,
                   size_t partial_len, const cp_idlist_t *keys, const cp_idlist_t *ws, uint8_t **out,
                   size_t *out_len, cp_rows_t **out_rows);

/* The ids of the key and workspace rows that differ between two indexed snapshots (changed,
 * added or removed), sorted: what a patch would have read. 0, 1 when more than `cap` ids, -1. */
int cp_rows_diff_ids(const cp_rows_t *from, const cp_rows_t *to, size_t cap, cp_idlist_t *keys,
                     cp_idlist_t *ws);

/* Whether two indexed snapshots have the same rest (everything but key and workspace rows). */
int cp_rows_rest_equal(const cp_rows_t *a, const cp_rows_t *b);

/* A delta from (from_version, from_created) to `to` made from the ids changed in between (the
 * union of the patches' id lists): each id's row in `to` (binary search), or its removal. Same
 * answers as cp_delta_build: 0, 1 (over `cap`), -1. */
int cp_delta_build_ids(const cp_rows_t *to, const uint8_t *to_packed, uint64_t from_version,
                       int64_t from_created, const cp_idlist_t *keys, const cp_idlist_t *ws, size_t cap,
                       uint8_t **out, size_t *out_len);

#endif
