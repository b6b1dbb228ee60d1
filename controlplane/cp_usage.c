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

int cp_usage_routed(const char *model_asked)
{
    return model_asked != NULL &&
           (strcmp(model_asked, "auto") == 0 || strncmp(model_asked, "strategy:", 9) == 0 ||
            strncmp(model_asked, "industry:", 9) == 0);
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
