/*
 * What auto routing saved (cp_spend.h).
 */
#include "cp_spend.h"

#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "cp_ledger.h"
#include "cp_usage.h"
#include "sy_catalog.h"
#include "sy_money.h"
#include "sy_util.h"

#define MAX_USED_MODELS 1024

typedef struct {
    char id[129];
    uint32_t quality[SY_TASK__COUNT];
    sy_money_prices_t prices;
} used_model_t;

#define ROUTED "(model_asked = 'auto' OR model_asked LIKE 'strategy:%' OR model_asked LIKE 'industry:%')"

/* The catalog entry of each model the workspace's successful records of the period name. */
static int used_models(cp_store_t *s, const char *ws, int64_t from, int64_t to, used_model_t *m, size_t *n,
                       char *err, size_t errlen)
{
    sqlite3_stmt *st;
    *n = 0;
    /* the records of the partial edge days and the rollup of the whole days (cp_usage_split) */
    if (cp_store_prepare(
            s,
            "SELECT m.id, m.quality, m.input_per_m_nano, m.output_per_m_nano, m.cache_read_per_m_nano,"
            " m.cache_write_per_m_nano FROM models m WHERE m.id IN (SELECT model FROM usage"
            " WHERE workspace_id = ?1 AND outcome = 'ok' AND ((created_ms >= ?2 AND created_ms < ?4) OR"
            " (created_ms >= ?5 AND created_ms < ?3)) UNION SELECT model FROM usage_daily"
            " WHERE workspace_id = ?1 AND ok = 1 AND day >= ?6 AND day < ?7) ORDER BY m.id",
            &st, err, errlen) != 0)
        return -1;
    cp_usage_bind_period(st, ws, from, to);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < MAX_USED_MODELS) {
        used_model_t *u = &m[*n];
        snprintf(u->id, sizeof(u->id), "%s", (const char *)sqlite3_column_text(st, 0));
        memset(u->quality, 0, sizeof(u->quality));
        const unsigned char *q = sqlite3_column_text(st, 1);
        if (q != NULL) {
            cJSON *qj = cJSON_Parse((const char *)q);
            sy_catalog_quality_milli(qj, u->quality);
            cJSON_Delete(qj);
        }
        u->prices.input_per_m = sqlite3_column_int64(st, 2);
        u->prices.output_per_m = sqlite3_column_int64(st, 3);
        u->prices.cache_read_per_m =
            sqlite3_column_type(st, 4) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 4);
        u->prices.cache_write_per_m =
            sqlite3_column_type(st, 5) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 5);
        (*n)++;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        sy_errf(err, errlen, "used models: %s", sqlite3_errmsg(cp_store_db(s)));
        return -1;
    }
    return 0;
}

/* The strongest of the used models for `task` (< 0: the best mean over every task). */
static const used_model_t *strongest(const used_model_t *m, size_t n, int task)
{
    const used_model_t *best = NULL;
    uint64_t best_q = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t q = 0;
        if (task >= 0)
            q = m[i].quality[task];
        else
            for (int t = 0; t < SY_TASK__COUNT; t++)
                q += m[i].quality[t];
        if (best == NULL || q > best_q ||
            (q == best_q && m[i].prices.output_per_m > best->prices.output_per_m)) {
            best = &m[i];
            best_q = q;
        }
    }
    return best;
}

static void add_money(cJSON *o, const char *name, sy_nano_t v)
{
    char k[48];
    snprintf(k, sizeof(k), "%s_nano", name);
    cp_ledger_add_int(o, k, v);
    snprintf(k, sizeof(k), "%s_usd", name);
    cp_ledger_add_usd(o, k, v);
}

int cp_spend_savings_json(cp_store_t *s, const char *workspace_id, int64_t from_ms, int64_t to_ms,
                          cJSON **out, char *err, size_t errlen)
{
    static used_model_t models[MAX_USED_MODELS]; /* the loop thread's; 1 request at a time */
    *out = NULL;
    int r = cp_store_exists(s, "SELECT 1 FROM workspaces WHERE id = ?1", workspace_id, err, errlen);
    if (r <= 0)
        return r == 0 ? 1 : -1;
    if (cp_store_begin_read(s, err, errlen) != 0)
        return -1;
    size_t n = 0;
    sqlite3_stmt *st = NULL;
    cJSON *o = NULL, *tasks = NULL;
    int ret = -1;
    if (used_models(s, workspace_id, from_ms, to_ms, models, &n, err, errlen) != 0)
        goto done;
    if (cp_store_prepare(
            s,
            "SELECT task, SUM(n), SUM(ti), SUM(tt), SUM(cr), SUM(cw), SUM(c) FROM ("
            "SELECT task, COUNT(*) AS n, SUM(tokens_in) AS ti, SUM(tokens_out) AS tt,"
            " SUM(cache_read_tokens) AS cr, SUM(cache_write_tokens) AS cw, SUM(cost_nano) AS c FROM usage"
            " WHERE workspace_id = ?1 AND outcome = 'ok' AND " ROUTED " AND ((created_ms >= ?2 AND"
            " created_ms < ?4) OR (created_ms >= ?5 AND created_ms < ?3)) GROUP BY task"
            " UNION ALL SELECT task, SUM(requests), SUM(tokens_in), SUM(tokens_out), SUM(cache_read_tokens),"
            " SUM(cache_write_tokens), SUM(cost_nano) FROM usage_daily WHERE workspace_id = ?1 AND ok = 1"
            " AND routed = 1 AND day >= ?6 AND day < ?7 GROUP BY task) GROUP BY task ORDER BY task",
            &st, err, errlen) != 0)
        goto done;
    cp_usage_bind_period(st, workspace_id, from_ms, to_ms);
    o = cJSON_CreateObject();
    tasks = cJSON_CreateArray();
    int64_t requests = 0;
    sy_nano_t cost = 0, baseline = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *task = (const char *)sqlite3_column_text(st, 0);
        int t = task != NULL && task[0] ? sy_task_parse(task, strlen(task)) : -1;
        int64_t count = sqlite3_column_int64(st, 1), tin = sqlite3_column_int64(st, 2),
                tout = sqlite3_column_int64(st, 3), tcr = sqlite3_column_int64(st, 4),
                tcw = sqlite3_column_int64(st, 5);
        sy_nano_t c = sqlite3_column_int64(st, 6);
        const used_model_t *b = strongest(models, n, t);
        sy_nano_t base = b != NULL ? sy_money_usage_cost(&b->prices, tin, tout, tcr, tcw, NULL, NULL) : c;
        cJSON *row = cJSON_CreateObject();
        cJSON_AddStringToObject(row, "task", task ? task : "");
        cJSON_AddStringToObject(row, "baseline_model", b ? b->id : "");
        cp_ledger_add_int(row, "requests", count);
        cp_ledger_add_int(row, "tokens_in", tin);
        cp_ledger_add_int(row, "tokens_out", tout);
        add_money(row, "cost", c);
        add_money(row, "baseline", base);
        add_money(row, "saved", base - c);
        cJSON_AddItemToArray(tasks, row);
        requests += count;
        cost += c;
        baseline += base;
    }
    if (rc != SQLITE_DONE) {
        sy_errf(err, errlen, "savings: %s", sqlite3_errmsg(cp_store_db(s)));
        goto done;
    }
    cp_ledger_add_int(o, "from_ms", from_ms);
    cp_ledger_add_int(o, "to_ms", to_ms);
    cp_ledger_add_int(o, "routed_requests", requests);
    add_money(o, "cost", cost);
    add_money(o, "baseline", baseline);
    add_money(o, "saved", baseline - cost);
    cJSON_AddItemToObject(o, "by_task", tasks);
    tasks = NULL;
    *out = o;
    o = NULL;
    ret = 0;
done:
    sqlite3_finalize(st);
    cJSON_Delete(o);
    cJSON_Delete(tasks);
    cp_store_end_read(s);
    return ret;
}
