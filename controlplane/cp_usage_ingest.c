/*
 * cp_usage_ingest — usage batches from the data planes into the store (cp_usage.h: ingestion).
 *
 * Per batch: every record validated (no store access); then, inside the write transaction
 * (one per batch, or one per group of batches the bus received together; no savepoint — a
 * batch refused after writing rolls the transaction back and the group runs again without it):
 * the workspaces checked, and the records taken workspace by workspace — one INSERT
 * per record (its id is the idempotency key: a stored id is a duplicate, skipped), then ONE
 * ledger debit for the run's new records, `usage:<id of the run's first new record>`, with every
 * other record of the run pointing at that record (usage.debit_row). Then, aggregated over the
 * group of batches (the transaction): key spend and last use (one upsert per key, then its budget
 * checked) and the daily rollup (one upsert per rollup row). Grouping sorts the records; every
 * statement is prepared once per store handle (cp_store_cached). Measured by
 * tests/bench/ingest.mjs (docs/controlplane.md, "Fleet scale").
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cp_ledger.h"
#include "cp_usage.h"
#include "sy_util.h"

#define MAX_TOKENS (INT64_C(1) << 40)
#define MAX_COST_NANO INT64_C(1000000000000000) /* one million USD for one request is not real */
#define MAX_MS INT64_C(86400000)

static int valid_outcome(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 32)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return 0;
    return 1;
}

/* NULL-safe: 0..max bytes of printable ASCII. */
static int printable(const char *s, size_t max)
{
    if (s == NULL || strlen(s) > max)
        return 0;
    for (; *s; s++)
        if (*s < 0x20 || *s > 0x7e)
            return 0;
    return 1;
}

static int refuse(cp_usage_result_t *r, int index, const char *param, int retry, const char *msg)
{
    r->bad_record = index;
    r->param = param;
    r->retry = retry;
    snprintf(r->error, sizeof(r->error), "%s", msg);
    r->applied = r->duplicates = 0;
    return -1;
}

/* The checks that need no store. Returns the offending field's name, or NULL when valid. */
static const char *check_record(const Switchyard__UsageRecord *u)
{
    if (!sy_valid_word(u->id, 128))
        return "id";
    if (!sy_valid_word(u->workspace, 128))
        return "workspace";
    if (!sy_valid_word(u->key_id, 128))
        return "key_id";
    if (!sy_valid_word(u->model, 128))
        return "model";
    if (!sy_valid_word(u->provider, 128))
        return "provider";
    if (u->tokens_in < 0 || u->tokens_in > MAX_TOKENS)
        return "tokens_in";
    if (u->tokens_out < 0 || u->tokens_out > MAX_TOKENS)
        return "tokens_out";
    /* the cache counts are part of the prompt: together at most tokens_in */
    if (u->cache_read_tokens < 0 || u->cache_read_tokens > u->tokens_in)
        return "cache_read_tokens";
    if (u->cache_write_tokens < 0 || u->cache_write_tokens > u->tokens_in - u->cache_read_tokens)
        return "cache_write_tokens";
    if (u->cost_nano < 0 || u->cost_nano > MAX_COST_NANO)
        return "cost_nano";
    if (u->latency_ms < 0 || u->latency_ms > MAX_MS)
        return "latency_ms";
    if (u->ttft_ms < 0 || u->ttft_ms > MAX_MS)
        return "ttft_ms";
    if (!valid_outcome(u->outcome))
        return "outcome";
    if (u->node == NULL || strlen(u->node) > 128 || (u->node[0] != '\0' && !sy_valid_word(u->node, 128)))
        return "node";
    if (u->created_ms <= 0)
        return "created_ms";
    /* the request-log fields (absent from older nodes: "" and 0) */
    if (!printable(u->request_id, 64))
        return "request_id";
    if (u->attempt < 0 || u->attempt > 1000)
        return "attempt";
    if (!printable(u->model_asked, 128))
        return "model_asked";
    if (u->task == NULL || strlen(u->task) > 32 || (u->task[0] != '\0' && !valid_outcome(u->task)))
        return "task";
    if (u->difficulty == NULL || strlen(u->difficulty) > 8 ||
        (u->difficulty[0] != '\0' && !valid_outcome(u->difficulty)))
        return "difficulty";
    return NULL;
}

static const char SQL_WORKSPACE[] = "SELECT 1 FROM workspaces WHERE id = ?1";
static const char SQL_USAGE[] =
    "INSERT INTO usage (id, workspace_id, key_id, model, provider, tokens_in, tokens_out, cost_nano, "
    "latency_ms,"
    " ttft_ms, outcome, streamed, estimated, node, created_ms, batch_id, received_ms, cache_read_tokens,"
    " cache_write_tokens, request_id, attempt, model_asked, task, difficulty, debit_row) VALUES (?1, ?2, ?3, "
    "?4,"
    " ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25)"
    " ON CONFLICT (id) DO NOTHING";
static const char SQL_DAILY[] =
    "INSERT INTO usage_daily (workspace_id, day, model, key_id, task, routed, ok, requests, tokens_in, "
    "tokens_out,"
    " cache_read_tokens, cache_write_tokens, cost_nano) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
    "?11, ?12,"
    " ?13) ON CONFLICT (workspace_id, day, model, key_id, task, routed, ok) DO UPDATE SET"
    " requests = requests + excluded.requests, tokens_in = tokens_in + excluded.tokens_in,"
    " tokens_out = tokens_out + excluded.tokens_out,"
    " cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,"
    " cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,"
    " cost_nano = cost_nano + excluded.cost_nano";
static const char SQL_SPEND[] =
    "INSERT INTO key_spend (key_id, spent_nano, last_used_ms) VALUES (?1, ?2, ?3) ON CONFLICT (key_id)"
    " DO UPDATE SET spent_nano = spent_nano + excluded.spent_nano,"
    " last_used_ms = MAX(last_used_ms, excluded.last_used_ms)";
static const char SQL_BUDGET[] = "SELECT COALESCE(k.budget_nano, 0), s.spent_nano FROM key_spend s"
                                 " LEFT JOIN api_keys k ON k.id = s.key_id WHERE s.key_id = ?1";

/* A record of the batch, with what grouping compares. The sorts only have to bring equal keys
 * together, so they compare 64-bit hashes of the strings first and the strings only on a tie:
 * still a total order (a collision falls through to strcmp), and most comparisons are one
 * integer compare instead of a chain of strcmp (those were ~10 % of the bus thread's samples). */
typedef struct {
    const Switchyard__UsageRecord *u;
    size_t index; /* in the batch: the order of the ledger entries within a workspace */
    int64_t day;
    int routed, ok;
    uint64_t h_ws, h_key, h_row; /* hashes of the workspace, the key, the rest of the rollup row */
} rec_t;

/* FNV-1a, continued from h. */
static uint64_t hash_str(uint64_t h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * UINT64_C(0x100000001b3);
    return (h ^ 0xff) * UINT64_C(0x100000001b3); /* a separator: ("ab","c") != ("a","bc") */
}

static void rec_hash(rec_t *r)
{
    const uint64_t basis = UINT64_C(0xcbf29ce484222325);
    const Switchyard__UsageRecord *u = r->u;
    r->h_ws = hash_str(basis, u->workspace);
    r->h_key = hash_str(basis, u->key_id);
    uint64_t h = hash_str(hash_str(r->h_ws, u->model), u->task);
    r->h_row = (h ^ (uint64_t)r->day ^ ((uint64_t)r->routed << 62) ^ ((uint64_t)r->ok << 63)) *
               UINT64_C(0x100000001b3);
}

static int cmp_u64(uint64_t a, uint64_t b)
{
    return (a > b) - (a < b);
}

/* By workspace (hash, then name), then batch order: a workspace's records are contiguous and
 * in the order they were sent. */
static int by_workspace(const void *pa, const void *pb)
{
    const rec_t *a = pa, *b = pb;
    int c = cmp_u64(a->h_ws, b->h_ws);
    if (c == 0 && (c = strcmp(a->u->workspace, b->u->workspace)) == 0)
        c = (a->index > b->index) - (a->index < b->index);
    return c;
}

/* The order key spend and the rollup read the group's new records in: by key, then by rollup
 * row (a key's records are contiguous, and so are a rollup row's — its key is part of it). */
static int by_key_then_day_group(const void *pa, const void *pb)
{
    const rec_t *a = pa, *b = pb;
    int c;
    if ((c = cmp_u64(a->h_key, b->h_key)) != 0 || (c = strcmp(a->u->key_id, b->u->key_id)) != 0 ||
        (c = cmp_u64(a->h_row, b->h_row)) != 0 || (c = strcmp(a->u->workspace, b->u->workspace)) != 0)
        return c;
    if (a->day != b->day)
        return a->day < b->day ? -1 : 1;
    if ((c = strcmp(a->u->model, b->u->model)) != 0 || (c = strcmp(a->u->task, b->u->task)) != 0)
        return c;
    if (a->routed != b->routed)
        return a->routed - b->routed;
    return a->ok - b->ok;
}

static int db_refuse(cp_store_t *s, cp_usage_result_t *r)
{
    return refuse(r, -1, NULL, 1, sqlite3_errmsg(cp_store_db(s)));
}

/* Step 1: every workspace named exists (before anything is inserted: the refusal names the
 * first record, in batch order, with an unknown one). `recs` is the batch sorted by_workspace:
 * one lookup per workspace, not per record. */
static int check_workspaces(cp_store_t *s, const rec_t *recs, size_t n, cp_usage_result_t *r)
{
    char err[256], msg[256];
    sqlite3_stmt *st;
    if (cp_store_cached(s, SQL_WORKSPACE, &st, err, sizeof(err)) != 0)
        return refuse(r, -1, NULL, 1, err);
    const rec_t *bad = NULL;
    for (size_t i = 0; i < n; i++) {
        const char *ws = recs[i].u->workspace;
        if (i > 0 && strcmp(ws, recs[i - 1].u->workspace) == 0)
            continue; /* the run's first record has its lowest index */
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, ws, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc == SQLITE_DONE && (bad == NULL || recs[i].index < bad->index))
            bad = &recs[i];
        else if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return db_refuse(s, r);
    }
    if (bad != NULL) {
        snprintf(msg, sizeof(msg), "record %zu: unknown workspace '%s'", bad->index, bad->u->workspace);
        return refuse(r, (int)bad->index, "workspace", 0, msg);
    }
    return 0;
}

static int insert_one(sqlite3_stmt *st, const Switchyard__UsageRecord *u, const char *batch_id,
                      int64_t now_ms, int64_t debit_row)
{
    sqlite3_reset(st);
    /* SQLITE_STATIC: the batch outlives every step of this transaction */
    sqlite3_bind_text(st, 1, u->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, u->workspace, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, u->key_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, u->model, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, u->provider, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, u->tokens_in);
    sqlite3_bind_int64(st, 7, u->tokens_out);
    sqlite3_bind_int64(st, 8, u->cost_nano);
    sqlite3_bind_int64(st, 9, u->latency_ms);
    sqlite3_bind_int64(st, 10, u->ttft_ms);
    sqlite3_bind_text(st, 11, u->outcome, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 12, u->streamed ? 1 : 0);
    sqlite3_bind_int(st, 13, u->estimated ? 1 : 0);
    sqlite3_bind_text(st, 14, u->node, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 15, u->created_ms);
    sqlite3_bind_text(st, 16, batch_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 17, now_ms);
    sqlite3_bind_int64(st, 18, u->cache_read_tokens);
    sqlite3_bind_int64(st, 19, u->cache_write_tokens);
    sqlite3_bind_text(st, 20, u->request_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 21, u->attempt);
    sqlite3_bind_text(st, 22, u->model_asked, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 23, u->task, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 24, u->difficulty, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 25, debit_row);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc;
}

/* Step 2, workspace by workspace: the records (recs[0..n), sorted by workspace then batch order)
 * inserted, and one debit for each run's new records. The new records are compacted to the
 * front of recs; their count into *applied, the others counted in *dups. */
static int insert_and_debit(cp_store_t *s, const Switchyard__UsageBatch *b, int64_t now_ms, rec_t *recs,
                            size_t n, size_t *applied, uint32_t *dups, int *crossed, cp_usage_result_t *r)
{
    char err[256], note[192];
    sqlite3_stmt *st;
    if (cp_store_cached(s, SQL_USAGE, &st, err, sizeof(err)) != 0)
        return refuse(r, -1, NULL, 1, err);
    sqlite3 *db = cp_store_db(s);
    size_t out = 0;
    for (size_t i = 0, j; i < n; i = j) {
        const char *ws = recs[i].u->workspace;
        const rec_t *head = NULL;
        int64_t head_row = 0;
        sy_nano_t sum = 0;
        size_t run = 0;
        for (j = i; j < n && strcmp(recs[j].u->workspace, ws) == 0; j++) {
            int rc = insert_one(st, recs[j].u, b->batch_id, now_ms, head_row);
            if (rc != SQLITE_DONE)
                return db_refuse(s, r);
            if (sqlite3_changes(db) == 0) {
                (*dups)++;
                continue;
            }
            if (head == NULL) {
                head = &recs[out];
                head_row = sqlite3_last_insert_rowid(db);
            }
            sum += recs[j].u->cost_nano; /* <= 1000 x MAX_COST_NANO: no overflow */
            recs[out++] = recs[j];
            run++;
        }
        if (run == 0)
            continue;
        snprintf(note, sizeof(note), "%zu request%s (batch %s from %s)", run, run == 1 ? "" : "s",
                 b->batch_id[0] ? b->batch_id : "-", b->node_id && b->node_id[0] ? b->node_id : "-");
        char ref[160];
        snprintf(ref, sizeof(ref), "usage:%s", head->u->id);
        cp_ledger_entry_t e;
        cp_ledger_rc_t lr =
            cp_ledger_append_bare(s, ws, CP_LEDGER_DEBIT, -sum, ref, note, now_ms, &e, err, sizeof(err));
        if (lr != CP_LEDGER_OK) {
            /* a debit named after a new record that exists (DUPLICATE) means the store is
             * inconsistent: refuse and let --check-db say more; an overflowing balance is permanent */
            return refuse(r, lr == CP_LEDGER_INVALID ? (int)head->index : -1,
                          lr == CP_LEDGER_INVALID ? "cost_nano" : NULL, lr == CP_LEDGER_ERROR, err);
        }
        /* the balance ran out with this batch: the fleet must know now, not at the next refresh */
        if (e.balance_after_nano <= 0 && e.balance_after_nano + sum > 0)
            *crossed = 1;
    }
    *applied = out;
    return 0;
}

/* Step 4: key spend, one upsert per key, and whether a key's budget ran out with this group;
 * recs sorted by by_key_then_day_group. */
static int add_key_spend(cp_store_t *s, rec_t *recs, size_t n, int *crossed, cp_usage_result_t *r)
{
    char err[256];
    sqlite3_stmt *spend, *budget;
    if (cp_store_cached(s, SQL_SPEND, &spend, err, sizeof(err)) != 0 ||
        cp_store_cached(s, SQL_BUDGET, &budget, err, sizeof(err)) != 0)
        return refuse(r, -1, NULL, 1, err);
    for (size_t i = 0, j; i < n; i = j) {
        int64_t sum = recs[i].u->cost_nano, last = recs[i].u->created_ms;
        /* a group holds up to 32,000 records of MAX_COST_NANO: a sum that would overflow is
         * written in more than one upsert */
        for (j = i + 1; j < n && strcmp(recs[j].u->key_id, recs[i].u->key_id) == 0 &&
                        sum <= INT64_MAX - recs[j].u->cost_nano;
             j++) {
            sum += recs[j].u->cost_nano;
            if (recs[j].u->created_ms > last)
                last = recs[j].u->created_ms;
        }
        sqlite3_reset(spend);
        sqlite3_bind_text(spend, 1, recs[i].u->key_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(spend, 2, sum);
        sqlite3_bind_int64(spend, 3, last);
        int rc = sqlite3_step(spend);
        sqlite3_reset(spend);
        if (rc != SQLITE_DONE)
            return db_refuse(s, r);
        sqlite3_reset(budget);
        sqlite3_bind_text(budget, 1, recs[i].u->key_id, -1, SQLITE_STATIC);
        if ((rc = sqlite3_step(budget)) == SQLITE_ROW) {
            int64_t cap = sqlite3_column_int64(budget, 0), spent = sqlite3_column_int64(budget, 1);
            if (cap > 0 && spent >= cap && spent - sum < cap)
                *crossed = 1; /* the key's budget ran out with this batch */
        }
        sqlite3_reset(budget);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return db_refuse(s, r);
    }
    return 0;
}

/* Step 5: the daily rollup, one upsert per rollup row; recs sorted by by_key_then_day_group. */
static int add_daily(cp_store_t *s, rec_t *recs, size_t n, cp_usage_result_t *r)
{
    char err[256];
    sqlite3_stmt *st;
    if (cp_store_cached(s, SQL_DAILY, &st, err, sizeof(err)) != 0)
        return refuse(r, -1, NULL, 1, err);
    for (size_t i = 0, j; i < n; i = j) {
        int64_t sum[5] = {0};
        /* tokens are < 2^40 a record, so only the cost can overflow (as in add_key_spend) */
        for (j = i; j < n && (j == i || (by_key_then_day_group(&recs[j], &recs[i]) == 0 &&
                                         sum[4] <= INT64_MAX - recs[j].u->cost_nano));
             j++) {
            const Switchyard__UsageRecord *u = recs[j].u;
            sum[0] += u->tokens_in;
            sum[1] += u->tokens_out;
            sum[2] += u->cache_read_tokens;
            sum[3] += u->cache_write_tokens;
            sum[4] += u->cost_nano;
        }
        const Switchyard__UsageRecord *u = recs[i].u;
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, u->workspace, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, recs[i].day);
        sqlite3_bind_text(st, 3, u->model, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, u->key_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, u->task ? u->task : "", -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 6, recs[i].routed);
        sqlite3_bind_int(st, 7, recs[i].ok);
        sqlite3_bind_int64(st, 8, (int64_t)(j - i));
        for (int k = 0; k < 5; k++)
            sqlite3_bind_int64(st, 9 + k, sum[k]);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            return db_refuse(s, r);
    }
    return 0;
}

/* The checks that need no store; 0, or -1 with *r filled. */
static int validate(const Switchyard__UsageBatch *b, size_t packed_len, cp_usage_result_t *r)
{
    char msg[256];
    if (packed_len > CP_USAGE_MAX_BATCH_BYTES)
        return refuse(r, -1, NULL, 0, "batch over 1 MiB: split it");
    if (b->n_records > CP_USAGE_MAX_RECORDS)
        return refuse(r, -1, "records", 0, "batch over 1000 records: split it");
    if (b->batch_id == NULL || strlen(b->batch_id) > 128 ||
        (b->batch_id[0] != '\0' && !sy_valid_word(b->batch_id, 128)))
        return refuse(r, -1, "batch_id", 0,
                      "batch_id must be at most 128 printable ASCII bytes without spaces or quotes");
    for (size_t i = 0; i < b->n_records; i++) {
        const char *bad = check_record(b->records[i]);
        if (bad != NULL) {
            snprintf(msg, sizeof(msg), "record %zu: invalid '%s'", i, bad);
            return refuse(r, (int)i, bad, 0, msg);
        }
    }
    return 0;
}

/* One validated batch inside the open write transaction: its records inserted and debited.
 * `recs` has room for the batch's records; its new records end up at the front of it, their
 * count in r->applied (the group adds their key spend and rollup: apply_group). 0 applied; 1
 * refused before writing anything (an unknown workspace: the transaction is as it was); -1
 * refused after writing (the caller must roll the whole transaction back). *r says why. */
static int apply_batch(cp_store_t *s, const Switchyard__UsageBatch *b, int64_t now_ms, rec_t *recs,
                       cp_usage_result_t *r, int *crossed)
{
    if (b->n_records == 0)
        return 0;
    for (size_t i = 0; i < b->n_records; i++) {
        const Switchyard__UsageRecord *u = b->records[i];
        recs[i] = (rec_t){.u = u,
                          .index = i,
                          .day = u->created_ms / CP_USAGE_DAY_MS,
                          .routed = cp_usage_routed(u->model_asked),
                          .ok = strcmp(u->outcome, "ok") == 0};
        rec_hash(&recs[i]);
    }
    qsort(recs, b->n_records, sizeof(*recs), by_workspace);
    if (check_workspaces(s, recs, b->n_records, r) != 0)
        return r->retry ? -1 : 1;
    size_t n = 0;
    uint32_t dups = 0;
    int x = 0;
    if (insert_and_debit(s, b, now_ms, recs, b->n_records, &n, &dups, &x, r) != 0)
        return -1;
    *crossed |= x;
    r->applied = (uint32_t)n;
    r->duplicates = dups;
    return 0;
}

/* Applies every batch not yet refused in one transaction and commits: 0 committed (or nothing
 * to commit), 1 a batch was refused after it wrote (the transaction was rolled back: run the
 * group again without it), -1 the store failed (rolled back; err says why). No savepoint per
 * batch: a savepoint copies every page it touches, and a refusal after writing is rare (an
 * overflowing balance, an inconsistent store). Key spend and the daily rollup are added once for
 * the whole group (one upsert per key and per rollup row, not per batch: with 32 batches of
 * 1,000 records most of a batch's rows were another batch's too). */
static int apply_group(cp_store_t *s, size_t n, const Switchyard__UsageBatch *const *batches, int64_t now_ms,
                       cp_usage_result_t *results, uint64_t *version, char *err, size_t errlen)
{
    size_t room = 0;
    for (size_t i = 0; i < n; i++)
        if (results[i].error[0] == '\0')
            room += batches[i]->n_records; /* <= CP_USAGE_MAX_RECORDS each (validated) */
    rec_t *recs = malloc((room ? room : 1) * sizeof(*recs));
    if (recs == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* every workspace a record names is looked up before its batch's first insert
     * (check_workspaces), so SQLite need not look it up again for each row */
    if (cp_store_begin_write_parents_checked(s, err, errlen) != 0) {
        free(recs);
        return -1;
    }
    size_t used = 0; /* the new records of the batches applied so far: recs[0..used) */
    int crossed = 0;
    for (size_t i = 0; i < n; i++) {
        if (results[i].error[0] != '\0')
            continue;
        int rc = apply_batch(s, batches[i], now_ms, recs + used, &results[i], &crossed);
        if (rc < 0) {
            cp_store_rollback(s);
            free(recs);
            if (results[i].retry) { /* the store failed, not this batch */
                snprintf(err, errlen, "%s", results[i].error);
                return -1;
            }
            return 1;
        }
        if (rc == 0)
            used += results[i].applied;
    }
    if (used == 0) { /* pure replays (or refusals): nothing to commit, no version to bump */
        cp_store_rollback(s);
        free(recs);
        return 0;
    }
    cp_usage_result_t agg = {.bad_record = -1};
    qsort(recs, used, sizeof(*recs), by_key_then_day_group);
    int rc =
        add_key_spend(s, recs, used, &crossed, &agg) != 0 || add_daily(s, recs, used, &agg) != 0 ? -1 : 0;
    free(recs);
    if (rc != 0) {
        cp_store_rollback(s);
        snprintf(err, errlen, "%s", agg.error);
        return -1;
    }
    /* Balances reach the fleet in snapshots. A bump per batch would make every node refetch the
     * whole table several times a second under traffic, so only a group that exhausts a balance
     * or a key budget bumps the version; the others commit quietly and the bus refreshes the
     * fleet's balances periodically (cp_bus.h, docs/billing.md). */
    if ((crossed ? cp_store_commit_write(s, version, err, errlen) : cp_store_commit_quiet(s, err, errlen)) !=
        0)
        return -1;
    for (size_t i = 0; i < n; i++)
        results[i].quiet = !crossed;
    return 0;
}

int cp_usage_ingest_group(cp_store_t *s, size_t n, const Switchyard__UsageBatch *const *batches,
                          const size_t *packed_len, int64_t now_ms, cp_usage_result_t *results,
                          uint64_t *version)
{
    char err[256];
    size_t todo = 0;
    for (size_t i = 0; i < n; i++) {
        memset(&results[i], 0, sizeof(results[i]));
        results[i].bad_record = -1;
        if (validate(batches[i], packed_len[i], &results[i]) == 0 && batches[i]->n_records > 0)
            todo++;
    }
    int rc = 0;
    /* each round either commits or refuses one more batch: at most n + 1 rounds */
    for (size_t round = 0; todo > 0 && round <= n; round++) {
        rc = apply_group(s, n, batches, now_ms, results, version, err, sizeof(err));
        if (rc != 1)
            break;
        todo--;
        for (size_t i = 0; i < n; i++) /* the others run again from scratch */
            if (results[i].error[0] == '\0')
                results[i].applied = results[i].duplicates = 0;
    }
    if (rc >= 0)
        return 0;
    /* nothing was written: every batch not refused on its own is refused for a retry */
    for (size_t i = 0; i < n; i++)
        if (results[i].error[0] == '\0' && batches[i]->n_records > 0)
            refuse(&results[i], -1, NULL, 1, err);
    return -1;
}

int cp_usage_ingest(cp_store_t *s, const Switchyard__UsageBatch *b, size_t packed_len, int64_t now_ms,
                    cp_usage_result_t *r, uint64_t *version)
{
    const Switchyard__UsageBatch *one[1] = {b};
    cp_usage_ingest_group(s, 1, one, &packed_len, now_ms, r, version);
    return r->error[0] != '\0' ? -1 : 0;
}
