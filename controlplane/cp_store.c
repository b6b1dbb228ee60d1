#include "cp_store.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <fcntl.h>
#include <unistd.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cp_metrics.h"
#include "sy_log.h"
#include "sy_util.h"

/* How long a connection waits for another writer before giving up with SQLITE_BUSY. Writes
 * are short (one catalog load or one key change), so seconds mean something is wrong. */
#define CP_BUSY_TIMEOUT_MS 5000

#define CP_STORE_CACHED 32

struct cp_store {
    sqlite3 *db;
    int gated;        /* this handle holds g_write_gate (its write transaction is open) */
    unsigned relaxed; /* what its open write transaction relaxed (RELAX_*): put back when it ends */
    struct {
        const char *sql; /* the caller's static text: the cache key is its address */
        sqlite3_stmt *st;
    } cached[CP_STORE_CACHED];
    size_t ncached;
};

/* Writers of this process (the API loop thread, the bus thread, the probe thread: one handle
 * each) take turns on this mutex before BEGIN IMMEDIATE and hold it until COMMIT or ROLLBACK.
 * SQLite's busy handler alone polls the write lock with sleeps growing to 100 ms, so a waiting
 * writer lost nearly every race against a thread that commits and begins again within a
 * millisecond — the bus thread ingesting usage batches back to back: admin writes and Stripe
 * webhooks waited up to 1.7 s (sqlite_contention.test.mjs), one step from the 5 s busy timeout
 * and an SQLITE_BUSY answered as a 500. A mutex wakes its waiter on release instead. The wait
 * is bounded by the same CP_BUSY_TIMEOUT_MS; the busy timeout still covers other processes on
 * the file (--check-db, the sqlite3 CLI). */
static pthread_mutex_t g_write_gate = PTHREAD_MUTEX_INITIALIZER;

static void gate_leave(cp_store_t *s)
{
    if (s->gated) {
        s->gated = 0;
        pthread_mutex_unlock(&g_write_gate);
    }
}

/*
 * The migrations. Entry i takes the schema from user_version i to i+1. Never edit an entry that
 * has shipped: append a new one. Tables are STRICT so a money column can never silently hold
 * a float or a string.
 */
static const char *const migrations[] = {
    /* 1: accounts, keys, catalog, fleet, meta */
    "CREATE TABLE workspaces ("
    "  id TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL DEFAULT '',"
    "  active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),"
    "  created_at INTEGER NOT NULL"
    ") STRICT;"
    "CREATE TABLE users ("
    "  id TEXT PRIMARY KEY,"
    "  workspace_id TEXT NOT NULL REFERENCES workspaces(id),"
    "  email TEXT NOT NULL UNIQUE,"
    "  role TEXT NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'admin', 'member')),"
    "  created_at INTEGER NOT NULL"
    ") STRICT;"
    "CREATE INDEX users_workspace ON users(workspace_id);"
    /* The key itself is never stored: only its SHA-256 (the lookup the data plane does) and a
     * short display prefix so a person can tell keys apart. NULL budget/rpm/tpm = no limit. */
    "CREATE TABLE api_keys ("
    "  id TEXT PRIMARY KEY,"
    "  workspace_id TEXT NOT NULL REFERENCES workspaces(id),"
    "  sha256 BLOB NOT NULL UNIQUE CHECK (length(sha256) = 32),"
    "  prefix TEXT,"
    "  name TEXT NOT NULL DEFAULT '',"
    "  allowed_models TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(allowed_models)),"
    "  budget_nano INTEGER CHECK (budget_nano >= 0),"
    "  rpm INTEGER CHECK (rpm >= 0),"
    "  tpm INTEGER CHECK (tpm >= 0),"
    "  expires_at INTEGER NOT NULL DEFAULT 0,"
    "  revoked INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1)),"
    "  created_at INTEGER NOT NULL"
    ") STRICT;"
    "CREATE INDEX api_keys_workspace ON api_keys(workspace_id);"
    "CREATE TABLE providers ("
    "  id TEXT PRIMARY KEY,"
    "  kind TEXT NOT NULL,"
    "  base_url TEXT NOT NULL,"
    "  api_key_env TEXT NOT NULL DEFAULT '',"
    "  ca_file TEXT NOT NULL DEFAULT '',"
    "  health INTEGER NOT NULL DEFAULT 0 CHECK (health BETWEEN 0 AND 3)"
    ") STRICT;"
    "CREATE TABLE models ("
    "  id TEXT PRIMARY KEY,"
    "  provider_id TEXT NOT NULL REFERENCES providers(id),"
    "  upstream TEXT NOT NULL,"
    "  input_per_m_nano INTEGER NOT NULL DEFAULT 0 CHECK (input_per_m_nano >= 0),"
    "  output_per_m_nano INTEGER NOT NULL DEFAULT 0 CHECK (output_per_m_nano >= 0),"
    "  context_window INTEGER NOT NULL DEFAULT 0 CHECK (context_window BETWEEN 0 AND 4294967295),"
    "  caps INTEGER NOT NULL DEFAULT 16,"
    "  tiers TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(tiers)),"
    "  quality TEXT CHECK (quality IS NULL OR json_valid(quality))"
    ") STRICT;"
    "CREATE INDEX models_provider ON models(provider_id);"
    "CREATE TABLE dp_nodes ("
    "  id TEXT PRIMARY KEY,"
    "  build TEXT NOT NULL DEFAULT '',"
    "  snapshot_version INTEGER NOT NULL DEFAULT 0,"
    "  last_seen_ms INTEGER NOT NULL DEFAULT 0,"
    "  load REAL NOT NULL DEFAULT 0"
    ") STRICT;"
    "CREATE TABLE meta ("
    "  key TEXT PRIMARY KEY,"
    "  value ANY"
    ") STRICT;"
    "INSERT INTO meta (key, value) VALUES ('snapshot_version', 0);",
    /* 2: active health probes. The probe settings come from the catalog file; health itself
     * (column `health`, from migration 1) and what the last probe saw are the prober's. */
    "ALTER TABLE providers ADD COLUMN probe_path TEXT NOT NULL DEFAULT '/models';"
    "ALTER TABLE providers ADD COLUMN probe_interval_ms INTEGER NOT NULL DEFAULT 10000"
    "  CHECK (probe_interval_ms >= 0);"
    "ALTER TABLE providers ADD COLUMN probe_timeout_ms INTEGER NOT NULL DEFAULT 3000 CHECK (probe_timeout_ms "
    "> 0);"
    "ALTER TABLE providers ADD COLUMN health_changed_ms INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE providers ADD COLUMN last_probe_ms INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE providers ADD COLUMN last_probe_latency_ms INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE providers ADD COLUMN last_probe_error TEXT NOT NULL DEFAULT '';",
    /* 3: money (docs/billing.md). The ledger is append-only: triggers refuse UPDATE and DELETE,
     * so a balance can only move by appending an entry. Each entry has a UNIQUE external
     * reference (stripe:cs_..., stripe:evt_..., usage:<id>, grant:<ref>): applying the same
     * event twice hits the constraint instead of counting twice. The balance lives in its own
     * table (not a column of workspaces, which the catalog loader upserts) and is written in the
     * same transaction as the entry; balance_after_nano chains the entries so a check can prove
     * that nothing was lost or reordered. Signs by kind: credits and grants add, the rest
     * subtract (a zero debit is a free request). */
    "CREATE TABLE ledger ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  workspace_id TEXT NOT NULL REFERENCES workspaces(id),"
    "  kind TEXT NOT NULL CHECK (kind IN ('credit', 'grant', 'debit', 'refund', 'dispute')),"
    "  amount_nano INTEGER NOT NULL CHECK ((kind IN ('credit', 'grant') AND amount_nano > 0) OR"
    "                                      (kind IN ('debit', 'refund', 'dispute') AND amount_nano <= 0)),"
    "  balance_after_nano INTEGER NOT NULL,"
    "  ref TEXT NOT NULL UNIQUE CHECK (length(ref) BETWEEN 1 AND 200),"
    "  note TEXT NOT NULL DEFAULT '',"
    "  created_ms INTEGER NOT NULL"
    ") STRICT;"
    "CREATE INDEX ledger_workspace ON ledger(workspace_id, id);"
    "CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger"
    "  BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;"
    "CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger"
    "  BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;"
    "CREATE TABLE balances ("
    "  workspace_id TEXT PRIMARY KEY REFERENCES workspaces(id),"
    "  balance_nano INTEGER NOT NULL DEFAULT 0,"
    "  last_entry INTEGER NOT NULL DEFAULT 0"
    ") STRICT;"
    /* Usage records as the data planes report them, one row per id (the id is the idempotency
     * key of ingestion); each has its ledger debit `usage:<id>` written in the same transaction. */
    "CREATE TABLE usage ("
    "  id TEXT PRIMARY KEY,"
    "  workspace_id TEXT NOT NULL REFERENCES workspaces(id),"
    "  key_id TEXT NOT NULL,"
    "  model TEXT NOT NULL,"
    "  provider TEXT NOT NULL,"
    "  tokens_in INTEGER NOT NULL CHECK (tokens_in >= 0),"
    "  tokens_out INTEGER NOT NULL CHECK (tokens_out >= 0),"
    "  cost_nano INTEGER NOT NULL CHECK (cost_nano >= 0),"
    "  latency_ms INTEGER NOT NULL CHECK (latency_ms >= 0),"
    "  ttft_ms INTEGER NOT NULL CHECK (ttft_ms >= 0),"
    "  outcome TEXT NOT NULL,"
    "  streamed INTEGER NOT NULL CHECK (streamed IN (0, 1)),"
    "  estimated INTEGER NOT NULL CHECK (estimated IN (0, 1)),"
    "  node TEXT NOT NULL DEFAULT '',"
    "  created_ms INTEGER NOT NULL,"
    "  batch_id TEXT NOT NULL DEFAULT '',"
    "  received_ms INTEGER NOT NULL"
    ") STRICT;"
    "CREATE INDEX usage_workspace_time ON usage(workspace_id, created_ms);"
    /* Every Stripe event that passed the signature check, recorded in the transaction of its
     * effect (or of its being ignored): a replay finds its id here and changes nothing. */
    "CREATE TABLE stripe_events ("
    "  id TEXT PRIMARY KEY,"
    "  type TEXT NOT NULL,"
    "  outcome TEXT NOT NULL,"
    "  workspace_id TEXT,"
    "  received_ms INTEGER NOT NULL"
    ") STRICT;"
    /* Per charge: how much Stripe said was refunded so far (cents), so each charge.refunded
     * event debits only the growth of amount_refunded. */
    "CREATE TABLE stripe_charges ("
    "  id TEXT PRIMARY KEY,"
    "  workspace_id TEXT NOT NULL REFERENCES workspaces(id),"
    "  refunded_cents INTEGER NOT NULL DEFAULT 0 CHECK (refunded_cents >= 0)"
    ") STRICT;"
    /* Checkout payments we credited, so a refund of their charge finds the workspace through
     * the payment intent when the charge carries no metadata. */
    "CREATE TABLE stripe_payments ("
    "  payment_intent TEXT PRIMARY KEY,"
    "  session_id TEXT NOT NULL,"
    "  workspace_id TEXT NOT NULL REFERENCES workspaces(id)"
    ") STRICT;",
    /* 4: what each key has spent, kept with each usage record's debit (cp_usage.c), so the
     * snapshot can carry it without summing the usage table for every key */
    "CREATE TABLE key_spend ("
    "  key_id TEXT PRIMARY KEY,"
    "  spent_nano INTEGER NOT NULL DEFAULT 0 CHECK (spent_nano >= 0)"
    ") STRICT;"
    "INSERT INTO key_spend (key_id, spent_nano) SELECT key_id, SUM(cost_nano) FROM usage GROUP BY key_id;",
    /* 5: workspace rate limits (docs/admission.md), fleet-wide per minute; NULL = no limit.
     * The live-node count the bus publishes for per-node shares is meta 'fleet.live_nodes'. */
    /* (one literal: clang's -Wstring-concatenation flags a two-piece array element) */
    "ALTER TABLE workspaces ADD COLUMN rpm INTEGER CHECK (rpm >= 0); ALTER TABLE workspaces ADD COLUMN tpm "
    "INTEGER CHECK (tpm >= 0);",
    /* 6: per-node shares of a balance (cp_snapshot.c) sum each node's recent spend by arrival
     * time at every snapshot build; without this index that is a scan of the whole table. */
    "CREATE INDEX usage_received ON usage(received_ms);",
    /* 7: the database is the catalog's source of truth (docs/controlplane.md, "Catalog: the
     * database is the truth"). catalog_imports is the append-only record of every import of the
     * catalog file (what, when, the version it produced, what it changed or overwrote);
     * catalog_edits marks each catalog field an admin changed through the API since the last
     * import that covered it, so a re-import can refuse to overwrite it silently; model_aliases
     * are other names for catalog models. */
    "CREATE TABLE catalog_imports ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  at_ms INTEGER NOT NULL,"
    "  sha256 TEXT NOT NULL CHECK (length(sha256) = 64),"
    "  source TEXT NOT NULL,"
    "  forced INTEGER NOT NULL DEFAULT 0 CHECK (forced IN (0, 1)),"
    "  version INTEGER NOT NULL,"
    "  summary TEXT NOT NULL CHECK (json_valid(summary))"
    ") STRICT;"
    "CREATE TABLE catalog_edits ("
    "  kind TEXT NOT NULL CHECK (kind IN ('provider', 'model', 'alias')),"
    "  id TEXT NOT NULL,"
    "  field TEXT NOT NULL,"
    "  edited_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (kind, id, field)"
    ") STRICT;"
    "CREATE TABLE model_aliases ("
    "  alias TEXT PRIMARY KEY,"
    "  model_id TEXT NOT NULL REFERENCES models(id)"
    ") STRICT;"
    "CREATE INDEX model_aliases_model ON model_aliases(model_id);",
    /* 8: key rotation (POST /api/keys/{id}/rotate). api_keys.sha256/prefix always hold the
     * newest secret; the one it replaced lives here (at most one per key) with the wall-clock
     * ms until which it still authenticates (valid_until_ms = rotated_ms: no grace). A second
     * rotation overwrites the row. Like api_keys, only the SHA-256 and display prefix. (One
     * literal, as for 5; this file is not run through clang-format, which would split it.) */
    "CREATE TABLE api_key_prev (key_id TEXT PRIMARY KEY REFERENCES api_keys(id), sha256 BLOB NOT NULL UNIQUE "
    "CHECK (length(sha256) = 32), prefix TEXT NOT NULL DEFAULT '', rotated_ms INTEGER NOT NULL CHECK "
    "(rotated_ms > 0), valid_until_ms INTEGER NOT NULL CHECK (valid_until_ms >= rotated_ms)) STRICT;",
    /* 9: cache prices and cache tokens (docs/billing.md, "Cost"). models: the catalog's
     * cache_read_per_m / cache_write_per_m in nano-USD, NULL = the model has no such price (those
     * tokens are billed at input_per_m). providers: stream_usage (catalog "stream_usage", 0 = an
     * OpenAI-compatible server that ignores stream_options.include_usage). usage: the prompt
     * tokens each record billed as cache reads / writes, so a debit can be audited against tokens
     * x prices. (One literal, as for 5 and 8.) */
    "ALTER TABLE models ADD COLUMN cache_read_per_m_nano INTEGER CHECK (cache_read_per_m_nano >= 0); ALTER "
    "TABLE models ADD COLUMN cache_write_per_m_nano INTEGER CHECK (cache_write_per_m_nano >= 0); ALTER TABLE "
    "providers ADD COLUMN stream_usage INTEGER NOT NULL DEFAULT 1 CHECK (stream_usage IN (0, 1)); ALTER "
    "TABLE usage ADD COLUMN cache_read_tokens INTEGER NOT NULL DEFAULT 0 CHECK (cache_read_tokens >= 0); "
    "ALTER TABLE usage ADD COLUMN cache_write_tokens INTEGER NOT NULL DEFAULT 0 CHECK (cache_write_tokens >= "
    "0);",
    /* 10: dashboard accounts (cp_accounts.h, docs/dashboard.md). Users log in with an email
     * (stored lower-cased) and a scrypt hash; a membership gives a user a role in a workspace;
     * sessions and invitations are kept as the SHA-256 of their secret, with an expiry (an
     * invitation's created_by is NULL when the operator made it). None of
     * this is in the snapshot. Migration 1's placeholder `users` table (one workspace per user,
     * never written by any version) is replaced. (One literal, as for 5, 8 and 9.) */
    "DROP INDEX users_workspace; DROP TABLE users; CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT NOT "
    "NULL UNIQUE, pw_hash TEXT NOT NULL, created_ms INTEGER NOT NULL, active INTEGER NOT NULL DEFAULT 1 "
    "CHECK (active IN (0, 1))) STRICT; CREATE TABLE memberships (user_id TEXT NOT NULL REFERENCES users(id), "
    "workspace_id TEXT NOT NULL REFERENCES workspaces(id), role TEXT NOT NULL CHECK (role IN ('owner', "
    "'member')), created_ms INTEGER NOT NULL, PRIMARY KEY (user_id, workspace_id)) STRICT; CREATE INDEX "
    "memberships_ws ON memberships(workspace_id); CREATE TABLE sessions (sha256 BLOB PRIMARY KEY CHECK "
    "(length(sha256) = 32), user_id TEXT NOT NULL REFERENCES users(id), created_ms INTEGER NOT NULL, "
    "expires_ms INTEGER NOT NULL) STRICT; CREATE INDEX sessions_user ON sessions(user_id); CREATE TABLE "
    "invites (sha256 BLOB PRIMARY KEY CHECK (length(sha256) = 32), workspace_id TEXT NOT NULL REFERENCES "
    "workspaces(id), role TEXT NOT NULL CHECK (role IN ('owner', 'member')), created_by TEXT REFERENCES "
    "users(id), created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL, used_by TEXT REFERENCES users(id), "
    "used_ms INTEGER) STRICT;",
    /* 11: the request log (GET /api/workspaces/{id}/usage/records): each usage record names the
     * request it belongs to, its attempt number, the model the client asked for, and the
     * classifier's task and difficulty ("" / 0 for records from older nodes). The indexes serve a
     * request's attempts and a key's last use. (One literal, as for 5 and 8-10.) */
    "ALTER TABLE usage ADD COLUMN request_id TEXT NOT NULL DEFAULT ''; ALTER TABLE usage ADD COLUMN attempt "
    "INTEGER NOT NULL DEFAULT 0 CHECK (attempt >= 0); ALTER TABLE usage ADD COLUMN model_asked TEXT NOT NULL "
    "DEFAULT ''; ALTER TABLE usage ADD COLUMN task TEXT NOT NULL DEFAULT ''; ALTER TABLE usage ADD COLUMN "
    "difficulty TEXT NOT NULL DEFAULT ''; CREATE INDEX usage_request ON usage(workspace_id, request_id); "
    "CREATE INDEX usage_key_time ON usage(key_id, created_ms);",
    /* 12: the request log's page query (cp_usage_records_json: one workspace's records by rowid,
     * newest first). An index on workspace_id alone is ordered by (workspace_id, rowid), so a page
     * reads limit + 1 index entries instead of sorting the workspace's whole log through
     * usage_workspace_time (tests/bench/dashboard.mjs: 100,000 records, first page 118 ms -> ~1 ms). */
    "CREATE INDEX usage_workspace_log ON usage(workspace_id);",
    /* 13: the per-day rollup of the usage records (cp_usage.c, cp_spend.c): one row per
     * workspace, UTC day (days since the epoch), model, key, task, routed (the client asked for a
     * routing form) and ok (outcome 'ok'), kept in the ingestion transaction of each record, so
     * totals over long periods read days, not records. The ledger check compares it with the
     * records. Backfilled from the records already there. (One literal, as for 5 and 8-12.) */
    "CREATE TABLE usage_daily (workspace_id TEXT NOT NULL, day INTEGER NOT NULL, model TEXT NOT NULL, key_id "
    "TEXT NOT NULL, task TEXT NOT NULL, routed INTEGER NOT NULL CHECK (routed IN (0, 1)), ok INTEGER NOT "
    "NULL CHECK (ok IN (0, 1)), requests INTEGER NOT NULL, tokens_in INTEGER NOT NULL, tokens_out INTEGER "
    "NOT NULL, cache_read_tokens INTEGER NOT NULL, cache_write_tokens INTEGER NOT NULL, cost_nano INTEGER "
    "NOT NULL, PRIMARY KEY (workspace_id, day, model, key_id, task, routed, ok)) STRICT, WITHOUT ROWID; "
    "INSERT INTO usage_daily SELECT workspace_id, created_ms / 86400000, model, key_id, task, (model_asked = "
    "'auto' OR model_asked LIKE 'strategy:%' OR model_asked LIKE 'industry:%'), outcome = 'ok', COUNT(*), "
    "SUM(tokens_in), SUM(tokens_out), SUM(cache_read_tokens), SUM(cache_write_tokens), SUM(cost_nano) FROM "
    "usage GROUP BY 1, 2, 3, 4, 5, 6, 7;",
    /* 14: one ledger debit per workspace per usage batch instead of one per record (cp_usage_ingest.c;
     * docs/billing.md): the debit `usage:<id>` is named after the first new record of its run, and
     * every other record of the run points at that record's rowid here (0: the record names its own
     * debit, as all records before this migration did). The ledger check proves each debit equals
     * the sum of the records that point at it. */
    "ALTER TABLE usage ADD COLUMN debit_row INTEGER NOT NULL DEFAULT 0 CHECK (debit_row >= 0);",
    /* 15: a key's last use kept with its spend (cp_usage_ingest.c: one upsert per key per batch)
     * instead of read from an index on usage(key_id, created_ms) — that index had an insertion
     * point per key and cost every usage record a b-tree insert (tests/bench/ingest.mjs). */
    "ALTER TABLE key_spend ADD COLUMN last_used_ms INTEGER NOT NULL DEFAULT 0; UPDATE key_spend SET "
    "last_used_ms = COALESCE((SELECT MAX(created_ms) FROM usage u WHERE u.key_id = key_spend.key_id), 0); "
    "DROP INDEX usage_key_time;",
    /* 16: the ledger's CHECKs without IN lists. SQLite evaluates `x IN (<3 or more constants>)`
     * by building a temporary b-tree of the constants, every time the statement runs: the two
     * lists made each ledger insert ~80,000 instructions, 18 % of usage ingestion's CPU
     * (tests/bench/ingest.mjs, callgrind). The same rules as ORs of equalities; the table is
     * rebuilt (a CHECK cannot be altered) with its ids, its AUTOINCREMENT sequence, its index
     * and its append-only triggers. (One literal, as for 5 and 8-12.) */
    "DROP TRIGGER ledger_no_update; DROP TRIGGER ledger_no_delete; CREATE TABLE ledger_new (id INTEGER "
    "PRIMARY KEY AUTOINCREMENT, workspace_id TEXT NOT NULL REFERENCES workspaces(id), kind TEXT NOT NULL "
    "CHECK (kind = 'credit' OR kind = 'grant' OR kind = 'debit' OR kind = 'refund' OR kind = 'dispute'), "
    "amount_nano INTEGER NOT NULL CHECK (((kind = 'credit' OR kind = 'grant') AND amount_nano > 0) OR "
    "((kind = 'debit' OR kind = 'refund' OR kind = 'dispute') AND amount_nano <= 0)), balance_after_nano "
    "INTEGER NOT NULL, ref TEXT NOT NULL UNIQUE CHECK (length(ref) BETWEEN 1 AND 200), note TEXT NOT "
    "NULL DEFAULT '', created_ms INTEGER NOT NULL) STRICT; INSERT INTO ledger_new (id, workspace_id, "
    "kind, amount_nano, balance_after_nano, ref, note, created_ms) SELECT id, workspace_id, kind, "
    "amount_nano, balance_after_nano, ref, note, created_ms FROM ledger ORDER BY id; UPDATE "
    "sqlite_sequence SET seq = MAX(seq, COALESCE((SELECT seq FROM sqlite_sequence WHERE name = "
    "'ledger'), 0)) WHERE name = 'ledger_new'; DROP TABLE ledger; ALTER TABLE ledger_new RENAME TO "
    "ledger; CREATE INDEX ledger_workspace ON ledger(workspace_id, id); CREATE TRIGGER ledger_no_update "
    "BEFORE UPDATE ON ledger BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END; CREATE "
    "TRIGGER ledger_no_delete BEFORE DELETE ON ledger BEGIN SELECT RAISE(ABORT, 'ledger entries are "
    "append-only'); END;",
};

#define NMIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

int cp_store_schema_latest(void)
{
    return NMIGRATIONS;
}

sqlite3 *cp_store_db(cp_store_t *s)
{
    return s->db;
}

static int db_err(cp_store_t *s, char *err, size_t errlen, const char *what)
{
    return sy_errf(err, errlen, "%s: %s", what, sqlite3_errmsg(s->db));
}

int cp_store_prepare(cp_store_t *s, const char *sql, sqlite3_stmt **st, char *err, size_t errlen)
{
    *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK)
        return db_err(s, err, errlen, "prepare");
    return 0;
}

static struct {
    pthread_t tid;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int running, stop;
    sqlite3 *db;
} g_ckpt = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void *checkpointer_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&g_ckpt.mu);
    while (!g_ckpt.stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&g_ckpt.cv, &g_ckpt.mu, &ts);
        if (g_ckpt.stop)
            break;
        pthread_mutex_unlock(&g_ckpt.mu);
        int logged = 0, ckpt = 0;
        int rc = sqlite3_wal_checkpoint_v2(g_ckpt.db, NULL, SQLITE_CHECKPOINT_PASSIVE, &logged, &ckpt);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY)
            SY_WARN("msg=\"wal checkpoint failed\" err=\"%s\"", sqlite3_errmsg(g_ckpt.db));
        pthread_mutex_lock(&g_ckpt.mu);
    }
    pthread_mutex_unlock(&g_ckpt.mu);
    return NULL;
}

int cp_store_checkpointer_start(const char *db_path, char *err, size_t errlen)
{
    if (g_ckpt.running)
        return 0;
    if (sqlite3_open_v2(db_path, &g_ckpt.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        sy_errf(err, errlen, "checkpointer: %s", g_ckpt.db ? sqlite3_errmsg(g_ckpt.db) : "out of memory");
        sqlite3_close(g_ckpt.db);
        g_ckpt.db = NULL;
        return -1;
    }
    sqlite3_busy_timeout(g_ckpt.db, CP_BUSY_TIMEOUT_MS);
    /* a connection opens the file (and finds the WAL) at its first statement: until then a
     * checkpoint call does nothing */
    if (sqlite3_exec(g_ckpt.db, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL) != SQLITE_OK) {
        sy_errf(err, errlen, "checkpointer: %s", sqlite3_errmsg(g_ckpt.db));
        sqlite3_close(g_ckpt.db);
        g_ckpt.db = NULL;
        return -1;
    }
    g_ckpt.stop = 0;
    if (pthread_create(&g_ckpt.tid, NULL, checkpointer_main, NULL) != 0) {
        sqlite3_close(g_ckpt.db);
        g_ckpt.db = NULL;
        return sy_errf(err, errlen, "checkpointer: cannot start its thread");
    }
    g_ckpt.running = 1;
    return 0;
}

void cp_store_checkpointer_stop(void)
{
    if (!g_ckpt.running)
        return;
    pthread_mutex_lock(&g_ckpt.mu);
    g_ckpt.stop = 1;
    pthread_cond_signal(&g_ckpt.cv);
    pthread_mutex_unlock(&g_ckpt.mu);
    pthread_join(g_ckpt.tid, NULL);
    sqlite3_close(g_ckpt.db);
    g_ckpt.db = NULL;
    g_ckpt.running = 0;
}

void cp_store_global_init(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int cp_store_cached(cp_store_t *s, const char *sql, sqlite3_stmt **st, char *err, size_t errlen)
{
    for (size_t i = 0; i < s->ncached; i++) {
        if (s->cached[i].sql == sql) {
            *st = s->cached[i].st;
            sqlite3_reset(*st);
            sqlite3_clear_bindings(*st);
            return 0;
        }
    }
    *st = NULL;
    if (s->ncached == CP_STORE_CACHED)
        return sy_errf(err, errlen, "prepare: more than %d cached statements", CP_STORE_CACHED);
    if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK)
        return db_err(s, err, errlen, "prepare");
    s->cached[s->ncached].sql = sql;
    s->cached[s->ncached++].st = *st;
    return 0;
}

int cp_store_exists(cp_store_t *s, const char *sql, const char *arg, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    if (cp_store_prepare(s, sql, &st, err, errlen) != 0)
        return -1;
    sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    return db_err(s, err, errlen, "lookup");
}

/* Runs every statement of a constant script, one prepared statement at a time (no string
 * from outside ever reaches here). */
static int run_script(cp_store_t *s, const char *sql, char *err, size_t errlen)
{
    const char *p = sql;
    while (*p) {
        sqlite3_stmt *st = NULL;
        const char *tail = NULL;
        if (sqlite3_prepare_v2(s->db, p, -1, &st, &tail) != SQLITE_OK)
            return db_err(s, err, errlen, "sql");
        if (st == NULL) /* only whitespace or a comment left */
            break;
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            ;
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE)
            return db_err(s, err, errlen, "sql");
        p = tail;
    }
    return 0;
}

/* A one-value query (PRAGMA or SELECT) returning an integer. */
static int query_int(cp_store_t *s, const char *sql, int64_t *out, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    if (cp_store_prepare(s, sql, &st, err, errlen) != 0)
        return -1;
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(st);
        return rc == SQLITE_DONE ? sy_errf(err, errlen, "%s: no row", sql) : db_err(s, err, errlen, sql);
    }
    *out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return 0;
}

int cp_store_schema_version(cp_store_t *s, char *err, size_t errlen)
{
    int64_t v = 0;
    if (query_int(s, "PRAGMA user_version", &v, err, errlen) != 0)
        return -1;
    return (int)v;
}

int cp_store_snapshot_version(cp_store_t *s, uint64_t *out, char *err, size_t errlen)
{
    int64_t v = 0;
    if (query_int(s, "SELECT value FROM meta WHERE key = 'snapshot_version'", &v, err, errlen) != 0)
        return -1;
    *out = (uint64_t)v;
    return 0;
}

/* What a write transaction may relax, set before its BEGIN (SQLite refuses to change either
 * inside a transaction) and put back when it ends. */
enum { RELAX_SYNC = 1, RELAX_FK = 2 };

static void relax_end(cp_store_t *s)
{
    char ignored[64];
    if (s->relaxed & RELAX_SYNC)
        run_script(s, "PRAGMA synchronous = FULL", ignored, sizeof(ignored));
    if (s->relaxed & RELAX_FK)
        run_script(s, "PRAGMA foreign_keys = ON", ignored, sizeof(ignored));
    s->relaxed = 0;
}

void cp_store_rollback(cp_store_t *s)
{
    cp_metrics_txn_end(0); /* ledger entries staged in this transaction were not written */
    if (!sqlite3_get_autocommit(s->db)) {
        char ignored[64];
        run_script(s, "ROLLBACK", ignored, sizeof(ignored));
    }
    gate_leave(s);
    relax_end(s);
}

int cp_store_begin_write(cp_store_t *s, char *err, size_t errlen)
{
    if (!sqlite3_get_autocommit(s->db) || s->gated)
        return sy_errf(err, errlen, "store: a transaction is already open");
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += CP_BUSY_TIMEOUT_MS / 1000;
    until.tv_nsec += (long)(CP_BUSY_TIMEOUT_MS % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    if (pthread_mutex_clocklock(&g_write_gate, CLOCK_MONOTONIC, &until) != 0)
        return sy_errf(err, errlen,
                       "store: database is busy (another writer of this process held it for %d ms)",
                       CP_BUSY_TIMEOUT_MS);
    s->gated = 1;
    if (run_script(s, "BEGIN IMMEDIATE", err, errlen) != 0) {
        gate_leave(s);
        return -1;
    }
    return 0;
}

int cp_store_restore(const char *src, const char *db_path, int64_t now_ms, uint64_t *version, char *err,
                     size_t errlen)
{
    char side[PATH_MAX];
    for (int i = 0; i < 2; i++) { /* an old WAL beside the restored file would be replayed into it */
        if (snprintf(side, sizeof(side), "%s%s", db_path, i ? "-shm" : "-wal") >= (int)sizeof(side))
            return sy_errf(err, errlen, "restore: path too long");
        if (unlink(side) != 0 && errno != ENOENT)
            return sy_errf(err, errlen, "restore: cannot remove %s: %s", side, strerror(errno));
    }
    if (cp_store_backup(src, db_path, err, errlen) != 0)
        return -1;
    cp_store_t *s;
    if (cp_store_open(db_path, &s, err, errlen) != 0)
        return -1;
    int64_t v = 0;
    int rc = -1;
    if (cp_store_begin_write(s, err, errlen) == 0) {
        sqlite3_stmt *st;
        if (cp_store_prepare(s, "UPDATE meta SET value = MAX(value + 1, ?1) WHERE key = 'snapshot_version'",
                             &st, err, errlen) == 0) {
            sqlite3_bind_int64(st, 1, now_ms);
            int step = sqlite3_step(st);
            sqlite3_finalize(st);
            if (step == SQLITE_DONE &&
                query_int(s, "SELECT value FROM meta WHERE key = 'snapshot_version'", &v, err, errlen) == 0 &&
                run_script(s, "COMMIT", err, errlen) == 0)
                rc = 0;
            else if (step != SQLITE_DONE)
                db_err(s, err, errlen, "restore: version");
        }
        if (rc != 0)
            cp_store_rollback(s);
        else {
            gate_leave(s);
            cp_metrics_txn_end(1);
        }
    }
    cp_store_close(s);
    if (rc == 0 && version != NULL)
        *version = (uint64_t)v;
    return rc;
}

int cp_store_commit_write(cp_store_t *s, uint64_t *version, char *err, size_t errlen)
{
    int64_t v = 0;
    if (run_script(s, "UPDATE meta SET value = value + 1 WHERE key = 'snapshot_version'", err, errlen) != 0 ||
        query_int(s, "SELECT value FROM meta WHERE key = 'snapshot_version'", &v, err, errlen) != 0 ||
        run_script(s, "COMMIT", err, errlen) != 0) {
        cp_store_rollback(s);
        return -1;
    }
    gate_leave(s);
    relax_end(s);
    if (version)
        *version = (uint64_t)v;
    cp_metrics_txn_end(1);
    return 0;
}

int cp_store_commit_quiet(cp_store_t *s, char *err, size_t errlen)
{
    if (run_script(s, "COMMIT", err, errlen) != 0) {
        cp_store_rollback(s);
        return -1;
    }
    gate_leave(s);
    relax_end(s);
    cp_metrics_txn_end(1);
    return 0;
}

static int begin_relaxed(cp_store_t *s, unsigned relax, char *err, size_t errlen)
{
    if (!sqlite3_get_autocommit(s->db) || s->gated)
        return sy_errf(err, errlen, "store: a transaction is already open");
    s->relaxed = relax;
    if (((relax & RELAX_SYNC) && run_script(s, "PRAGMA synchronous = NORMAL", err, errlen) != 0) ||
        ((relax & RELAX_FK) && run_script(s, "PRAGMA foreign_keys = OFF", err, errlen) != 0) ||
        cp_store_begin_write(s, err, errlen) != 0) {
        relax_end(s);
        return -1;
    }
    return 0;
}

int cp_store_begin_soft(cp_store_t *s, char *err, size_t errlen)
{
    return begin_relaxed(s, RELAX_SYNC, err, errlen);
}

int cp_store_commit_soft(cp_store_t *s, char *err, size_t errlen)
{
    return cp_store_commit_quiet(s, err, errlen);
}

int cp_store_begin_write_parents_checked(cp_store_t *s, char *err, size_t errlen)
{
    return begin_relaxed(s, RELAX_FK, err, errlen);
}

int cp_store_begin_read(cp_store_t *s, char *err, size_t errlen)
{
    if (!sqlite3_get_autocommit(s->db))
        return sy_errf(err, errlen, "store: a transaction is already open");
    /* A deferred transaction: in WAL mode its first read fixes the view for the rest of it,
     * without blocking the writer. */
    return run_script(s, "BEGIN DEFERRED", err, errlen);
}

void cp_store_end_read(cp_store_t *s)
{
    /* Nothing was written, so rolling back and committing are the same; rollback cannot fail
     * on a busy writer. */
    cp_store_rollback(s);
}

static int migrate(cp_store_t *s, char *err, size_t errlen)
{
    for (;;) {
        /* user_version is read inside the write lock: another process opening the same file at
         * the same moment may have applied the migration already. */
        if (cp_store_begin_write(s, err, errlen) != 0)
            return -1;
        int have = cp_store_schema_version(s, err, errlen);
        if (have < 0)
            goto fail;
        if (have > NMIGRATIONS) {
            sy_errf(err, errlen, "database schema version %d is newer than this build's %d", have,
                    NMIGRATIONS);
            goto fail;
        }
        if (have == NMIGRATIONS) {
            cp_store_rollback(s);
            return 0;
        }
        char prefix[64], why[256];
        if (run_script(s, migrations[have], why, sizeof(why)) != 0) {
            sy_errf(err, errlen, "migration %d: %s", have + 1, why);
            goto fail;
        }
        /* PRAGMA takes no bound parameters; the number comes from this file, never from input. */
        snprintf(prefix, sizeof(prefix), "PRAGMA user_version = %d", have + 1);
        if (run_script(s, prefix, err, errlen) != 0 || run_script(s, "COMMIT", err, errlen) != 0)
            goto fail;
        gate_leave(s);
    }
fail:
    cp_store_rollback(s);
    return -1;
}

int cp_store_open(const char *path, cp_store_t **out, char *err, size_t errlen)
{
    *out = NULL;
    cp_store_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return sy_errf(err, errlen, "out of memory");
    int rc =
        sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        sy_errf(err, errlen, "%s: %s", path, s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, CP_BUSY_TIMEOUT_MS);

    /* journal_mode answers with the mode it ended up in; anything but WAL (e.g. a filesystem
     * without shared memory) would silently lose the concurrent-reader guarantee. */
    sqlite3_stmt *st;
    if (cp_store_prepare(s, "PRAGMA journal_mode = WAL", &st, err, errlen) != 0)
        goto fail;
    rc = sqlite3_step(st);
    const char *mode = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
    int wal = mode != NULL && strcmp(mode, "wal") == 0;
    sqlite3_finalize(st);
    if (!wal) {
        sy_errf(err, errlen, "%s: cannot switch to WAL journal mode", path);
        goto fail;
    }
    /* FULL: a committed ledger or key change survives power loss, not just a process crash.
     * cache_size: 64 MiB of page cache per handle (SQLite's default is 2 MiB): usage ingestion
     * writes six b-trees per record at random places (ids are random), and with the default
     * cache the rate fell by 5x as the table grew past a few MB (tests/bench/ingest.mjs). */
    if (run_script(s,
                   "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -65536; PRAGMA "
                   "wal_autocheckpoint = 16384; PRAGMA temp_store = MEMORY;",
                   err, errlen) != 0)
        goto fail;
    int64_t fk = 0;
    if (query_int(s, "PRAGMA foreign_keys", &fk, err, errlen) != 0 || fk != 1) {
        if (fk != 1)
            sy_errf(err, errlen, "%s: SQLite built without foreign key support", path);
        goto fail;
    }
    if (migrate(s, err, errlen) != 0)
        goto fail;
    *out = s;
    return 0;
fail:
    sqlite3_close(s->db);
    free(s);
    return -1;
}

void cp_store_close(cp_store_t *s)
{
    if (s == NULL)
        return;
    cp_store_rollback(s);
    for (size_t i = 0; i < s->ncached; i++)
        sqlite3_finalize(s->cached[i].st);
    sqlite3_close(s->db);
    free(s);
}

/* One UPDATE by id in its own write transaction; an id that matches nothing is an error (and
 * does not bump the version). */
static int update_one(cp_store_t *s, const char *sql, const char *what, const char *id, int64_t value,
                      uint64_t *version, char *err, size_t errlen)
{
    if (cp_store_begin_write(s, err, errlen) != 0)
        return -1;
    sqlite3_stmt *st;
    if (cp_store_prepare(s, sql, &st, err, errlen) != 0)
        goto fail;
    sqlite3_bind_int64(st, 1, value);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        db_err(s, err, errlen, what);
        goto fail;
    }
    if (sqlite3_changes(s->db) == 0) {
        sy_errf(err, errlen, "%s '%s' not found", what, id);
        goto fail;
    }
    return cp_store_commit_write(s, version, err, errlen);
fail:
    cp_store_rollback(s);
    return -1;
}

int cp_store_revoke_key(cp_store_t *s, const char *key_id, uint64_t *version, char *err, size_t errlen)
{
    return update_one(s, "UPDATE api_keys SET revoked = ?1 WHERE id = ?2", "key", key_id, 1, version, err,
                      errlen);
}

int cp_store_set_workspace_active(cp_store_t *s, const char *ws_id, int active, uint64_t *version, char *err,
                                  size_t errlen)
{
    return update_one(s, "UPDATE workspaces SET active = ?1 WHERE id = ?2", "workspace", ws_id,
                      active ? 1 : 0, version, err, errlen);
}

int cp_store_set_provider_health(cp_store_t *s, const char *provider_id, unsigned health, uint64_t *version,
                                 char *err, size_t errlen)
{
    if (health > CP_HEALTH_DOWN)
        return sy_errf(err, errlen, "provider health must be 0..3");
    return update_one(s, "UPDATE providers SET health = ?1 WHERE id = ?2", "provider", provider_id, health,
                      version, err, errlen);
}

int cp_store_backup(const char *db_path, const char *dest, char *err, size_t errlen)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", dest) >= (int)sizeof(tmp))
        return sy_errf(err, errlen, "%s: path too long", dest);
    sqlite3 *src = NULL, *dst = NULL;
    int ret = -1;
    /* the source as the service opens it (WAL, a busy timeout): the copy is one consistent
     * snapshot even while the control plane writes; the source is never written */
    if (sqlite3_open_v2(db_path, &src, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        sy_errf(err, errlen, "%s: %s", db_path, src ? sqlite3_errmsg(src) : "cannot open");
        goto done;
    }
    sqlite3_busy_timeout(src, CP_BUSY_TIMEOUT_MS);
    unlink(tmp);
    if (sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        sy_errf(err, errlen, "%s: %s", tmp, dst ? sqlite3_errmsg(dst) : "cannot create");
        goto done;
    }
    sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
    if (b == NULL) {
        sy_errf(err, errlen, "backup: %s", sqlite3_errmsg(dst));
        goto done;
    }
    /* all pages in one step: a step that has to restart because the source changed starts over
     * by itself (SQLite's backup restarts on a write by another connection) */
    int rc;
    do {
        rc = sqlite3_backup_step(b, -1);
        if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
            sqlite3_sleep(50);
    } while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
    sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE) {
        sy_errf(err, errlen, "backup: %s", sqlite3_errstr(rc));
        goto done;
    }
    /* the copy is a plain (rollback-journal) file, durable before it takes the name */
    if (sqlite3_exec(dst, "PRAGMA journal_mode = DELETE", NULL, NULL, NULL) != SQLITE_OK) {
        sy_errf(err, errlen, "backup: %s", sqlite3_errmsg(dst));
        goto done;
    }
    sqlite3_close(dst);
    dst = NULL;
    int fd = open(tmp, O_RDONLY);
    if (fd < 0 || fsync(fd) != 0) {
        if (fd >= 0)
            close(fd);
        sy_errf(err, errlen, "%s: fsync: %s", tmp, strerror(errno));
        goto done;
    }
    close(fd);
    if (rename(tmp, dest) != 0) {
        sy_errf(err, errlen, "rename %s: %s", dest, strerror(errno));
        goto done;
    }
    ret = 0;
done:
    if (dst != NULL)
        sqlite3_close(dst);
    if (src != NULL)
        sqlite3_close(src);
    if (ret != 0)
        unlink(tmp);
    return ret;
}
