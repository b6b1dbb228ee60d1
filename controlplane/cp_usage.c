/*
 * cp_usage — see cp_usage.h.
 */
#include "cp_usage.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cp_ledger.h"
#include "sy_log.h"
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

int cp_usage_routed(const char *model_asked)
{
    return model_asked != NULL &&
           (strcmp(model_asked, "auto") == 0 || strncmp(model_asked, "strategy:", 9) == 0 ||
            strncmp(model_asked, "industry:", 9) == 0);
}

/* Adds a newly applied record to its day's rollup row (usage_daily). */
static int add_daily(sqlite3_stmt *st, const Switchyard__UsageRecord *u)
{
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, u->workspace, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, u->created_ms / CP_USAGE_DAY_MS);
    sqlite3_bind_text(st, 3, u->model, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, u->key_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, u->task ? u->task : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 6, cp_usage_routed(u->model_asked));
    sqlite3_bind_int(st, 7, strcmp(u->outcome, "ok") == 0);
    sqlite3_bind_int64(st, 8, u->tokens_in);
    sqlite3_bind_int64(st, 9, u->tokens_out);
    sqlite3_bind_int64(st, 10, u->cache_read_tokens);
    sqlite3_bind_int64(st, 11, u->cache_write_tokens);
    sqlite3_bind_int64(st, 12, u->cost_nano);
    return sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
}

static int workspace_exists(cp_store_t *s, sqlite3_stmt *st, const char *ws)
{
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, ws, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    (void)s;
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int cp_usage_ingest(cp_store_t *s, const Switchyard__UsageBatch *b, size_t packed_len, int64_t now_ms,
                    cp_usage_result_t *r, uint64_t *version)
{
    memset(r, 0, sizeof(*r));
    r->bad_record = -1;
    char err[256], msg[256];
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
    if (b->n_records == 0)
        return 0;

    if (cp_store_begin_write(s, err, sizeof(err)) != 0)
        return refuse(r, -1, NULL, 1, err);
    sqlite3_stmt *ws_st = NULL, *ins = NULL, *spend = NULL, *budget = NULL, *daily = NULL;
    int crossed = 0;
    if (cp_store_prepare(s, "SELECT 1 FROM workspaces WHERE id = ?1", &ws_st, err, sizeof(err)) != 0 ||
        cp_store_prepare(
            s,
            "INSERT INTO usage (id, workspace_id, key_id, model, provider, tokens_in, tokens_out,"
            " cost_nano, latency_ms, ttft_ms, outcome, streamed, estimated, node, created_ms, batch_id,"
            " received_ms, cache_read_tokens, cache_write_tokens, request_id, attempt, model_asked, task,"
            " difficulty) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,"
            " ?18, ?19, ?20, ?21, ?22, ?23, ?24) ON CONFLICT (id) DO NOTHING",
            &ins, err, sizeof(err)) != 0) {
        refuse(r, -1, NULL, 1, err);
        goto fail;
    }
    if (cp_store_prepare(
            s,
            "INSERT INTO usage_daily (workspace_id, day, model, key_id, task, routed, ok, requests, "
            "tokens_in,"
            " tokens_out, cache_read_tokens, cache_write_tokens, cost_nano) VALUES (?1, ?2, ?3, ?4, ?5, ?6,"
            " ?7, 1, ?8, ?9, ?10, ?11, ?12) ON CONFLICT (workspace_id, day, model, key_id, task, routed, ok)"
            " DO UPDATE SET requests = requests + 1, tokens_in = tokens_in + excluded.tokens_in,"
            " tokens_out = tokens_out + excluded.tokens_out,"
            " cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,"
            " cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,"
            " cost_nano = cost_nano + excluded.cost_nano",
            &daily, err, sizeof(err)) != 0) {
        refuse(r, -1, NULL, 1, err);
        goto fail;
    }
    if (cp_store_prepare(
            s,
            "INSERT INTO key_spend (key_id, spent_nano) VALUES (?1, ?2) ON CONFLICT (key_id) DO UPDATE "
            "SET spent_nano = spent_nano + excluded.spent_nano",
            &spend, err, sizeof(err)) != 0) {
        refuse(r, -1, NULL, 1, err);
        goto fail;
    }
    if (cp_store_prepare(s,
                         "SELECT COALESCE(k.budget_nano, 0), s.spent_nano FROM key_spend s "
                         "LEFT JOIN api_keys k ON k.id = s.key_id WHERE s.key_id = ?1",
                         &budget, err, sizeof(err)) != 0) {
        refuse(r, -1, NULL, 1, err);
        goto fail;
    }
    /* workspaces first, so an unknown one refuses the batch before anything is inserted */
    const char *last_ws = NULL;
    for (size_t i = 0; i < b->n_records; i++) {
        const char *ws = b->records[i]->workspace;
        if (last_ws != NULL && strcmp(ws, last_ws) == 0)
            continue;
        int e = workspace_exists(s, ws_st, ws);
        if (e <= 0) {
            if (e < 0)
                refuse(r, -1, NULL, 1, sqlite3_errmsg(cp_store_db(s)));
            else {
                snprintf(msg, sizeof(msg), "record %zu: unknown workspace '%s'", i, ws);
                refuse(r, (int)i, "workspace", 0, msg);
            }
            goto fail;
        }
        last_ws = ws;
    }
    uint32_t applied = 0, dups = 0;
    for (size_t i = 0; i < b->n_records; i++) {
        const Switchyard__UsageRecord *u = b->records[i];
        sqlite3_reset(ins);
        sqlite3_bind_text(ins, 1, u->id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ins, 2, u->workspace, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ins, 3, u->key_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ins, 4, u->model, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ins, 5, u->provider, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(ins, 6, u->tokens_in);
        sqlite3_bind_int64(ins, 7, u->tokens_out);
        sqlite3_bind_int64(ins, 8, u->cost_nano);
        sqlite3_bind_int64(ins, 9, u->latency_ms);
        sqlite3_bind_int64(ins, 10, u->ttft_ms);
        sqlite3_bind_text(ins, 11, u->outcome, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(ins, 12, u->streamed ? 1 : 0);
        sqlite3_bind_int(ins, 13, u->estimated ? 1 : 0);
        sqlite3_bind_text(ins, 14, u->node, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(ins, 15, u->created_ms);
        sqlite3_bind_text(ins, 16, b->batch_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(ins, 17, now_ms);
        sqlite3_bind_int64(ins, 18, u->cache_read_tokens);
        sqlite3_bind_int64(ins, 19, u->cache_write_tokens);
        sqlite3_bind_text(ins, 20, u->request_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(ins, 21, u->attempt);
        sqlite3_bind_text(ins, 22, u->model_asked, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ins, 23, u->task, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ins, 24, u->difficulty, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(ins) != SQLITE_DONE) {
            refuse(r, -1, NULL, 1, sqlite3_errmsg(cp_store_db(s)));
            goto fail;
        }
        if (sqlite3_changes(cp_store_db(s)) == 0) {
            dups++;
            continue;
        }
        if (add_daily(daily, u) != 0) {
            refuse(r, -1, NULL, 1, sqlite3_errmsg(cp_store_db(s)));
            goto fail;
        }
        sqlite3_reset(spend);
        sqlite3_bind_text(spend, 1, u->key_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(spend, 2, u->cost_nano);
        if (sqlite3_step(spend) != SQLITE_DONE) {
            refuse(r, -1, NULL, 1, sqlite3_errmsg(cp_store_db(s)));
            goto fail;
        }
        sqlite3_reset(budget);
        sqlite3_bind_text(budget, 1, u->key_id, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(budget) == SQLITE_ROW) {
            int64_t cap = sqlite3_column_int64(budget, 0), spent = sqlite3_column_int64(budget, 1);
            if (cap > 0 && spent >= cap && spent - u->cost_nano < cap)
                crossed = 1; /* the key's budget ran out with this record */
        }
        char ref[160];
        snprintf(ref, sizeof(ref), "usage:%s", u->id);
        cp_ledger_entry_t entry;
        cp_ledger_rc_t lr = cp_ledger_append(s, u->workspace, CP_LEDGER_DEBIT, -u->cost_nano, ref, "", now_ms,
                                             &entry, err, sizeof(err));
        /* the balance ran out with this record: the fleet must know now, not at the next refresh */
        if (lr == CP_LEDGER_OK && entry.balance_after_nano <= 0 &&
            entry.balance_after_nano + u->cost_nano > 0)
            crossed = 1;
        if (lr != CP_LEDGER_OK) {
            /* a debit without its usage row (DUPLICATE) means the store is inconsistent: refuse
             * and let --check-db say more; an overflowing balance is permanent */
            refuse(r, lr == CP_LEDGER_INVALID ? (int)i : -1, lr == CP_LEDGER_INVALID ? "cost_nano" : NULL,
                   lr == CP_LEDGER_ERROR, err);
            goto fail;
        }
        applied++;
    }
    sqlite3_finalize(ws_st);
    sqlite3_finalize(ins);
    sqlite3_finalize(spend);
    sqlite3_finalize(budget);
    sqlite3_finalize(daily);
    if (applied == 0) { /* a pure replay: nothing to commit, no version to bump */
        cp_store_rollback(s);
        r->duplicates = dups;
        return 0;
    }
    /* Balances reach the fleet in snapshots. A bump per batch would make every node refetch the
     * whole table several times a second under traffic, so only a batch that exhausts a balance
     * or a key budget bumps the version; the others commit quietly and the bus refreshes the
     * fleet's balances periodically (cp_bus.h, docs/billing.md). */
    if ((crossed ? cp_store_commit_write(s, version, err, sizeof(err))
                 : cp_store_commit_quiet(s, err, sizeof(err))) != 0)
        return refuse(r, -1, NULL, 1, err);
    r->quiet = !crossed;
    r->applied = applied;
    r->duplicates = dups;
    return 0;
fail:
    sqlite3_finalize(ws_st);
    sqlite3_finalize(ins);
    sqlite3_finalize(spend);
    sqlite3_finalize(budget);
    sqlite3_finalize(daily);
    cp_store_rollback(s);
    return -1;
}

/* ---------------------------------------------------------------------------- queries */

static void add_sums(cJSON *o, sqlite3_stmt *st, int col)
{
    cp_ledger_add_int(o, "requests", sqlite3_column_int64(st, col));
    cp_ledger_add_int(o, "errors", sqlite3_column_int64(st, col + 1));
    cp_ledger_add_int(o, "tokens_in", sqlite3_column_int64(st, col + 2));
    cp_ledger_add_int(o, "tokens_out", sqlite3_column_int64(st, col + 3));
    cp_ledger_add_int(o, "cost_nano", sqlite3_column_int64(st, col + 4));
    cp_ledger_add_usd(o, "cost_usd", sqlite3_column_int64(st, col + 4));
    cp_ledger_add_int(o, "cache_read_tokens", sqlite3_column_int64(st, col + 5));
    cp_ledger_add_int(o, "cache_write_tokens", sqlite3_column_int64(st, col + 6));
}

void cp_usage_split(int64_t from_ms, int64_t to_ms, cp_usage_split_t *sp)
{
    int64_t first = from_ms <= 0 ? 0 : (from_ms - 1) / CP_USAGE_DAY_MS + 1; /* the first whole day */
    int64_t last = to_ms / CP_USAGE_DAY_MS;                                 /* the day `to` falls in */
    if (first < last) {
        sp->day_from = first;
        sp->day_to = last;
        sp->raw1_to = first * CP_USAGE_DAY_MS;
        sp->raw2_from = last * CP_USAGE_DAY_MS;
    } else {
        sp->day_from = sp->day_to = 0;
        sp->raw1_to = sp->raw2_from = to_ms;
    }
}

/* The sums of a period, grouped by `graw` (over records) / `gday` (over the rollup): the records
 * of the partial edge days and the rollup rows of the whole days, added up (cp_usage_split).
 * Parameters: ?1 workspace, ?2 from, ?3 to, ?4 raw1_to, ?5 raw2_from, ?6 day_from, ?7 day_to. */
#define PERIOD_SUMS(graw, gday)                                                                              \
    "SELECT g, COALESCE(SUM(n), 0), COALESCE(SUM(e), 0), COALESCE(SUM(ti), 0), COALESCE(SUM(tt), 0),"        \
    " COALESCE(SUM(c), 0), COALESCE(SUM(cr), 0), COALESCE(SUM(cw), 0) FROM ("                                \
    "SELECT " graw                                                                                           \
    " AS g, COUNT(*) AS n, SUM(outcome != 'ok') AS e, SUM(tokens_in) AS ti, SUM(tokens_out) AS tt,"          \
    " SUM(cost_nano) AS c, SUM(cache_read_tokens) AS cr, SUM(cache_write_tokens) AS cw FROM usage"           \
    " WHERE workspace_id = ?1 AND ((created_ms >= ?2 AND created_ms < ?4) OR (created_ms >= ?5 AND "         \
    "created_ms < ?3))"                                                                                      \
    " GROUP BY 1 UNION ALL SELECT " gday                                                                     \
    " AS g, SUM(requests), SUM(CASE WHEN ok = 0 THEN requests ELSE 0 END),"                                  \
    " SUM(tokens_in), SUM(tokens_out), SUM(cost_nano), SUM(cache_read_tokens), SUM(cache_write_tokens)"      \
    " FROM usage_daily WHERE workspace_id = ?1 AND day >= ?6 AND day < ?7 GROUP BY 1)"

void cp_usage_bind_period(sqlite3_stmt *st, const char *ws, int64_t from_ms, int64_t to_ms)
{
    cp_usage_split_t sp;
    cp_usage_split(from_ms, to_ms, &sp);
    sqlite3_bind_text(st, 1, ws, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, from_ms);
    sqlite3_bind_int64(st, 3, to_ms);
    sqlite3_bind_int64(st, 4, sp.raw1_to);
    sqlite3_bind_int64(st, 5, sp.raw2_from);
    sqlite3_bind_int64(st, 6, sp.day_from);
    sqlite3_bind_int64(st, 7, sp.day_to);
}

int cp_usage_query_json(cp_store_t *s, const char *workspace_id, int64_t from_ms, int64_t to_ms,
                        cp_usage_group_t g, cJSON **out, char *err, size_t errlen)
{
    static const char *const group_sql[] = {
        [CP_USAGE_GROUP_NONE] = NULL,
        [CP_USAGE_GROUP_DAY] =
            PERIOD_SUMS("strftime('%Y-%m-%d', created_ms / 1000, 'unixepoch')",
                        "strftime('%Y-%m-%d', day * 86400, 'unixepoch')") " GROUP BY g ORDER BY g",
        [CP_USAGE_GROUP_MODEL] = PERIOD_SUMS("model", "model") " GROUP BY g ORDER BY g",
        [CP_USAGE_GROUP_KEY] = PERIOD_SUMS("key_id", "key_id") " GROUP BY g ORDER BY g",
    };
    static const char *const group_name[] = {"none", "day", "model", "key"};
    static const char *const group_field[] = {NULL, "day", "model", "key_id"};
    *out = NULL;
    if ((unsigned)g > CP_USAGE_GROUP_KEY)
        return sy_errf(err, errlen, "bad group");
    if (cp_store_begin_read(s, err, errlen) != 0)
        return -1;
    int ret = -1;
    cJSON *o = NULL;
    sqlite3_stmt *st = NULL;
    if (cp_store_prepare(s, "SELECT 1 FROM workspaces WHERE id = ?1", &st, err, errlen) != 0)
        goto done;
    sqlite3_bind_text(st, 1, workspace_id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    st = NULL;
    if (rc == SQLITE_DONE) {
        ret = 1;
        goto done;
    }
    if (rc != SQLITE_ROW) {
        sy_errf(err, errlen, "usage: %s", sqlite3_errmsg(cp_store_db(s)));
        goto done;
    }
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "workspace", workspace_id);
    cp_ledger_add_int(o, "from_ms", from_ms);
    cp_ledger_add_int(o, "to_ms", to_ms);
    cJSON_AddStringToObject(o, "group_by", group_name[g]);
    cJSON *data = cJSON_AddArrayToObject(o, "data");
    if (g != CP_USAGE_GROUP_NONE) {
        if (cp_store_prepare(s, group_sql[g], &st, err, errlen) != 0)
            goto done;
        cp_usage_bind_period(st, workspace_id, from_ms, to_ms);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            cJSON *row = cJSON_CreateObject();
            const unsigned char *k = sqlite3_column_text(st, 0);
            cJSON_AddStringToObject(row, group_field[g], k ? (const char *)k : "");
            add_sums(row, st, 1);
            cJSON_AddItemToArray(data, row);
        }
        sqlite3_finalize(st);
        st = NULL;
        if (rc != SQLITE_DONE) {
            sy_errf(err, errlen, "usage: %s", sqlite3_errmsg(cp_store_db(s)));
            goto done;
        }
    }
    if (cp_store_prepare(s, PERIOD_SUMS("''", "''"), &st, err, errlen) != 0)
        goto done;
    cp_usage_bind_period(st, workspace_id, from_ms, to_ms);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sy_errf(err, errlen, "usage: %s", sqlite3_errmsg(cp_store_db(s)));
        goto done;
    }
    add_sums(cJSON_AddObjectToObject(o, "total"), st, 1);
    *out = o;
    o = NULL;
    ret = 0;
done:
    sqlite3_finalize(st);
    cJSON_Delete(o);
    cp_store_end_read(s);
    return ret;
}

int cp_usage_records_json(cp_store_t *s, const char *workspace_id, int limit, int64_t before,
                          const cp_usage_filter_t *f, cJSON **out, char *err, size_t errlen)
{
    static const cp_usage_filter_t any = {NULL, NULL, NULL, NULL, 0, INT64_MAX};
    if (f == NULL)
        f = &any;
    *out = NULL;
    if (limit < 1 || limit > 500)
        return sy_errf(err, errlen, "limit must be 1..500");
    if (cp_store_begin_read(s, err, errlen) != 0)
        return -1;
    int ret = -1;
    cJSON *data = NULL;
    sqlite3_stmt *st = NULL;
    int r = cp_store_exists(s, "SELECT 1 FROM workspaces WHERE id = ?1", workspace_id, err, errlen);
    if (r <= 0) {
        ret = r == 0 ? 1 : -1;
        goto done;
    }
    /* rowid order is ingestion order. The WHERE clause names only the filters that are set (each a
     * constant fragment; every value is bound), so SQLite can use the index that fits: a page
     * with no period reads usage_workspace_log (workspace_id, rowid) in order and stops after
     * limit + 1 rows; a request id uses usage_request, a period usage_workspace_time. Binding a
     * parameter the text does not name is a harmless SQLITE_RANGE. */
    char sql[1024];
    snprintf(sql, sizeof(sql),
             "SELECT rowid, id, key_id, model, provider, outcome, tokens_in, tokens_out, cache_read_tokens,"
             " cache_write_tokens, cost_nano, latency_ms, ttft_ms, streamed, estimated, node, created_ms,"
             " received_ms, request_id, attempt, model_asked, task, difficulty FROM usage"
             " WHERE workspace_id = ?1%s%s%s%s%s%s%s ORDER BY rowid DESC LIMIT ?3",
             before > 0 ? " AND rowid < ?2" : "", f->key_id ? " AND key_id = ?4" : "",
             f->model ? " AND model = ?5" : "", f->outcome ? " AND outcome = ?6" : "",
             f->request_id ? " AND request_id = ?7" : "", f->from_ms > 0 ? " AND created_ms >= ?8" : "",
             f->to_ms < INT64_MAX ? " AND created_ms < ?9" : "");
    if (cp_store_prepare(s, sql, &st, err, errlen) != 0)
        goto done;
    sqlite3_bind_text(st, 1, workspace_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, before);
    sqlite3_bind_int(st, 3, limit + 1); /* one more tells whether there is a next page */
    const char *text[4] = {f->key_id, f->model, f->outcome, f->request_id};
    for (int i = 0; i < 4; i++)
        if (text[i] != NULL)
            sqlite3_bind_text(st, 4 + i, text[i], -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 8, f->from_ms);
    sqlite3_bind_int64(st, 9, f->to_ms);
    data = cJSON_CreateArray();
    int n = 0, rc, more = 0;
    int64_t last = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == limit) {
            more = 1;
            break;
        }
        cJSON *o = cJSON_CreateObject();
        static const char *const text_cols[] = {"id", "key_id", "model", "provider", "outcome"};
        for (int i = 0; i < 5; i++) {
            const unsigned char *v = sqlite3_column_text(st, 1 + i);
            cJSON_AddStringToObject(o, text_cols[i], v ? (const char *)v : "");
        }
        cp_ledger_add_int(o, "tokens_in", sqlite3_column_int64(st, 6));
        cp_ledger_add_int(o, "tokens_out", sqlite3_column_int64(st, 7));
        cp_ledger_add_int(o, "cache_read_tokens", sqlite3_column_int64(st, 8));
        cp_ledger_add_int(o, "cache_write_tokens", sqlite3_column_int64(st, 9));
        cp_ledger_add_int(o, "cost_nano", sqlite3_column_int64(st, 10));
        cp_ledger_add_usd(o, "cost_usd", sqlite3_column_int64(st, 10));
        cp_ledger_add_int(o, "latency_ms", sqlite3_column_int64(st, 11));
        cp_ledger_add_int(o, "ttft_ms", sqlite3_column_int64(st, 12));
        cJSON_AddBoolToObject(o, "streamed", sqlite3_column_int64(st, 13) != 0);
        cJSON_AddBoolToObject(o, "estimated", sqlite3_column_int64(st, 14) != 0);
        const unsigned char *node = sqlite3_column_text(st, 15);
        cJSON_AddStringToObject(o, "node", node ? (const char *)node : "");
        cp_ledger_add_int(o, "created_ms", sqlite3_column_int64(st, 16));
        cp_ledger_add_int(o, "received_ms", sqlite3_column_int64(st, 17));
        static const char *const req_cols[] = {"request_id", NULL, "model_asked", "task", "difficulty"};
        for (int i = 0; i < 5; i++) {
            if (req_cols[i] == NULL) {
                cp_ledger_add_int(o, "attempt", sqlite3_column_int64(st, 18 + i));
                continue;
            }
            const unsigned char *v = sqlite3_column_text(st, 18 + i);
            cJSON_AddStringToObject(o, req_cols[i], v ? (const char *)v : "");
        }
        cJSON_AddItemToArray(data, o);
        last = sqlite3_column_int64(st, 0);
        n++;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        sy_errf(err, errlen, "usage records: %s", sqlite3_errmsg(cp_store_db(s)));
        goto done;
    }
    *out = cp_ledger_page(data, more, last);
    data = NULL;
    ret = 0;
done:
    sqlite3_finalize(st);
    cJSON_Delete(data);
    cp_store_end_read(s);
    return ret;
}
