/*
 * cp_store — the control plane's source of truth: one SQLite database in WAL mode.
 *
 * `cp_store_open` configures the connection (WAL, synchronous=FULL, foreign keys, a busy
 * timeout) and brings the schema up to date with the numbered migrations kept in cp_store.c.
 * `PRAGMA user_version` records how many have been applied; each runs in its own
 * `BEGIN IMMEDIATE` transaction, so a crash mid-migration leaves the previous version intact
 * and reopening applies nothing twice. A database whose user_version is newer than this build
 * knows is refused rather than guessed at.
 *
 * The snapshot version (`meta.snapshot_version`) is the fleet's change counter: every write
 * that changes what a data plane serves bumps it inside the same transaction, so a snapshot
 * read in one transaction always carries the version of exactly the data it contains, and the
 * version only ever increases. Writers go through cp_store_begin_write/cp_store_commit_write,
 * which enforce that pairing.
 *
 * Ownership and lifetime: cp_store_open returns a handle the caller owns and releases with
 * cp_store_close. `cp_store_db` lends the underlying connection to other controlplane modules
 * (cp_catalog, cp_snapshot) for prepared statements; it lives as long as the handle.
 *
 * Thread-safety: a handle (one SQLite connection, with its open transaction) belongs to one
 * thread at a time. Threads that need the store concurrently open their own handles on the
 * same file: WAL lets readers proceed while one writer commits. Writers of one process take
 * turns on an in-process mutex held from cp_store_begin_write to the commit or rollback (woken
 * on release, so a thread that commits and begins again at once cannot starve the others); the
 * busy timeout makes a writer of another process wait instead of failing. Both waits are
 * bounded by 5 s, then the write fails ("busy"). A handle must end its write transaction on the
 * thread that began it.
 */
#ifndef CP_STORE_H
#define CP_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

typedef struct cp_store cp_store_t;

/* Provider health, as in proto/snapshot.proto. */
enum { CP_HEALTH_UNKNOWN = 0, CP_HEALTH_HEALTHY = 1, CP_HEALTH_DEGRADED = 2, CP_HEALTH_DOWN = 3 };

/* Process-wide SQLite settings; call once at start, before any other cp_store call and before
 * any thread: no memory statistics (SQLite otherwise takes a global mutex around every
 * allocation — ~3 % of usage ingestion's CPU). */
void cp_store_global_init(void);
/* Background WAL checkpoints: a thread with its own connection on db_path runs a PASSIVE
 * checkpoint every 100 ms (it never blocks readers or the writer), so the writers — the bus
 * thread ingesting usage above all — do not copy pages back and fsync the database file inside
 * their commits; a writer still checkpoints itself if the WAL ever passes 16,384 pages. Start
 * once after the database exists; stop joins the thread and closes its connection (no-op when
 * not started). 0, or -1 with err. */
int cp_store_checkpointer_start(const char *db_path, char *err, size_t errlen);
void cp_store_checkpointer_stop(void);
/* Opens (creating if needed) the database at `path` and applies pending migrations.
 * Returns 0 and a new handle in *out, or -1 with a message in err. */
int cp_store_open(const char *path, cp_store_t **out, char *err, size_t errlen);
/* Rolls back any transaction left open and closes. NULL is a no-op. */
void cp_store_close(cp_store_t *s);

/* The number of migrations this build knows (the user_version of an up-to-date database). */
int cp_store_schema_latest(void);
/* The database's PRAGMA user_version; -1 with err on failure. */
int cp_store_schema_version(cp_store_t *s, char *err, size_t errlen);

/* The borrowed connection, for prepared statements in other controlplane modules. */
sqlite3 *cp_store_db(cp_store_t *s);

/* The committed snapshot version (0 on a fresh database). Reads in the caller's transaction
 * when one is open. */
int cp_store_snapshot_version(cp_store_t *s, uint64_t *out, char *err, size_t errlen);

/* --backup: copies the database at db_path into dest with SQLite's online backup API — one
 * consistent snapshot, safe while the control plane runs and writes — as a plain file written
 * to dest.tmp, fsynced, then renamed over dest. 0, or -1 with err (dest untouched). Opens its
 * own connections; any thread. */
int cp_store_backup(const char *db_path, const char *dest, char *err, size_t errlen);

/* --restore: puts the backup at src in place of the database at db_path (the control plane
 * must be stopped): removes db_path's -wal and -shm, copies src with the online backup API
 * (cp_store_backup: dest.tmp, fsync, rename), then raises the snapshot version to
 * max(version + 1, now_ms) so every node — which refuses a version older than the one it serves
 * — takes the restored state at its next fetch. Versions count writes from 0, so a wall-clock
 * floor is above any version served before, as long as fewer than 1,000 versioned writes a
 * second were made on average since the last floor. *version gets the new version. 0, or -1
 * with err. */
int cp_store_restore(const char *src, const char *db_path, int64_t now_ms, uint64_t *version, char *err,
                     size_t errlen);
/* Write transactions: BEGIN IMMEDIATE takes the write lock up front, so the transaction never
 * fails half-way with SQLITE_BUSY on lock upgrade. commit bumps the snapshot version, commits,
 * and stores the new version in *version (may be NULL); if anything fails it rolls back and
 * returns -1. rollback is always safe to call (no-op without a transaction). Both end the
 * calling thread's staged ledger-entry count (cp_metrics_txn_end: counted on commit, dropped on
 * rollback). */
int cp_store_begin_write(cp_store_t *s, char *err, size_t errlen);
int cp_store_commit_write(cp_store_t *s, uint64_t *version, char *err, size_t errlen);
/* Commits WITHOUT bumping the snapshot version: only for writes the fleet may learn later
 * (usage debits that cross no limit — see cp_usage.h); -1 (rolled back) on failure. */
int cp_store_commit_quiet(cp_store_t *s, char *err, size_t errlen);
void cp_store_rollback(cp_store_t *s);
/* Soft state (node heartbeats: losing the last second of them costs nothing): a write
 * transaction whose commit does not wait for an fsync — synchronous NORMAL, which in WAL mode
 * may lose the last commits on power loss but never corrupts — so a request queued behind it is
 * not kept waiting either. begin_soft is cp_store_begin_write after switching the handle to
 * NORMAL (SQLite refuses that switch inside a transaction); commit_soft commits WITHOUT bumping
 * the snapshot version, like cp_store_commit_quiet. Whatever ends the transaction (these, or
 * cp_store_commit_write/commit_quiet/rollback) puts the handle back to synchronous FULL. 0, or
 * -1 with err. */
int cp_store_begin_soft(cp_store_t *s, char *err, size_t errlen);
int cp_store_commit_soft(cp_store_t *s, char *err, size_t errlen);
/* Usage ingestion: a write transaction without SQLite's foreign key enforcement, for a writer
 * that has checked, in the same transaction, every parent row its inserts name (cp_usage_ingest
 * looks up each workspace of a batch before its first insert) — SQLite would look the parent up
 * again for every inserted row. Ended as any write transaction (commit_write, commit_quiet,
 * rollback), which switches enforcement back on; --check-db's foreign_key_check still proves the
 * result. Switching the pragma (before BEGIN: not allowed inside a transaction) expires the
 * handle's prepared statements, which SQLite re-prepares on their next use. 0, or -1 with err. */
int cp_store_begin_write_parents_checked(cp_store_t *s, char *err, size_t errlen);

/* Read transactions: every statement between begin and end sees one consistent state. */
int cp_store_begin_read(cp_store_t *s, char *err, size_t errlen);
void cp_store_end_read(cp_store_t *s);

/* Runs a `SELECT 1 … WHERE … = ?1` with `arg` bound: 1 when it finds a row, 0 when not, -1
 * with the SQLite message in err. Reads in the caller's transaction when one is open. */
int cp_store_exists(cp_store_t *s, const char *sql, const char *arg, char *err, size_t errlen);
/* Prepares `sql` on the store's connection; -1 with the SQLite message in err. */
int cp_store_prepare(cp_store_t *s, const char *sql, sqlite3_stmt **st, char *err, size_t errlen);
/* The hot paths' statements (usage ingestion, ledger appends), prepared once per handle: `sql`
 * must be a string with static storage — its address is the cache key — and the statement
 * comes back reset with its bindings cleared. It stays owned by the handle (never finalize it;
 * cp_store_close does); reset it when stopping before SQLITE_DONE, so that it holds no read
 * open. At most 32 distinct statements per handle; -1 with err past that or on a bad SQL. */
int cp_store_cached(cp_store_t *s, const char *sql, sqlite3_stmt **st, char *err, size_t errlen);

/* Small writers, each its own transaction that bumps the snapshot version; *version (may be
 * NULL) gets the new one. Unknown ids are errors. */
int cp_store_revoke_key(cp_store_t *s, const char *key_id, uint64_t *version, char *err, size_t errlen);
int cp_store_set_workspace_active(cp_store_t *s, const char *ws_id, int active, uint64_t *version, char *err,
                                  size_t errlen);
int cp_store_set_provider_health(cp_store_t *s, const char *provider_id, unsigned health, uint64_t *version,
                                 char *err, size_t errlen);

#endif
