/*
 * cp_ledger — see cp_ledger.h. The schema (migration 3 in cp_store.c) is the last line of
 * defence: signs, unique references and append-only triggers hold even if this code is wrong.
 */
#include "cp_ledger.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cp_metrics.h"
#include "sy_util.h"

#define MAX_REF 200
#define MAX_NOTE 512
#define CHECK_MAX_ROWS 100 /* problems reported per check query; the count is still exact up to it */

static const char *const kind_names[] = {"credit", "grant", "debit", "refund", "dispute"};

const char *cp_ledger_kind_name(cp_ledger_kind_t k)
{
    return (unsigned)k < sizeof(kind_names) / sizeof(kind_names[0]) ? kind_names[k] : "?";
}

static cp_ledger_kind_t kind_of(const char *s)
{
    for (unsigned i = 0; i < sizeof(kind_names) / sizeof(kind_names[0]); i++)
        if (s != NULL && strcmp(s, kind_names[i]) == 0)
            return (cp_ledger_kind_t)i;
    return CP_LEDGER_DEBIT;
}

void cp_ledger_add_int(cJSON *obj, const char *name, int64_t v)
{
    char b[24];
    snprintf(b, sizeof(b), "%" PRId64, v);
    cJSON_AddRawToObject(obj, name, b);
}

void cp_ledger_add_usd(cJSON *obj, const char *name, sy_nano_t v)
{
    char b[32];
    sy_money_format_usd(v, b);
    cJSON_AddStringToObject(obj, name, b);
}

static cp_ledger_rc_t db_fail(cp_store_t *s, char *err, size_t errlen, const char *what)
{
    sy_errf(err, errlen, "%s: %s", what, sqlite3_errmsg(cp_store_db(s)));
    return CP_LEDGER_ERROR;
}

/* The ledger's statements, prepared once per store handle (cp_store_cached). */
static const char SQL_SAVEPOINT[] = "SAVEPOINT ledger_append";
static const char SQL_RELEASE[] = "RELEASE ledger_append";
static const char SQL_ROLLBACK_TO[] = "ROLLBACK TO ledger_append";
static const char SQL_FIND_REF[] =
    "SELECT id, workspace_id, kind, amount_nano, balance_after_nano FROM ledger WHERE ref = ?1";
static const char SQL_BALANCE[] = "SELECT 1, b.balance_nano FROM workspaces w LEFT JOIN balances b"
                                  " ON b.workspace_id = w.id WHERE w.id = ?1";
static const char SQL_INSERT[] =
    "INSERT INTO ledger (workspace_id, kind, amount_nano, balance_after_nano, ref, note, created_ms)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
static const char SQL_SET_BALANCE[] =
    "INSERT INTO balances (workspace_id, balance_nano, last_entry) VALUES (?1, ?2, ?3)"
    " ON CONFLICT (workspace_id) DO UPDATE SET balance_nano = excluded.balance_nano,"
    " last_entry = excluded.last_entry";

/* Runs one statement without a result (SAVEPOINT, RELEASE, ...). */
static int exec1(cp_store_t *s, const char *sql, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    if (cp_store_cached(s, sql, &st, err, errlen) != 0)
        return -1;
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return sy_errf(err, errlen, "%s: %s", sql, sqlite3_errmsg(cp_store_db(s)));
    return 0;
}

/* Reads an entry by reference; 1 found (into *e), 0 none, -1 error. */
static int find_ref(cp_store_t *s, const char *ref, cp_ledger_entry_t *e, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    if (cp_store_cached(s, SQL_FIND_REF, &st, err, errlen) != 0)
        return -1;
    sqlite3_bind_text(st, 1, ref, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st), found = 0;
    if (rc == SQLITE_ROW) {
        found = 1;
        if (e != NULL) {
            memset(e, 0, sizeof(*e));
            e->id = sqlite3_column_int64(st, 0);
            snprintf(e->workspace_id, sizeof(e->workspace_id), "%s",
                     (const char *)sqlite3_column_text(st, 1));
            e->kind = kind_of((const char *)sqlite3_column_text(st, 2));
            e->amount_nano = sqlite3_column_int64(st, 3);
            e->balance_after_nano = sqlite3_column_int64(st, 4);
        }
    } else if (rc != SQLITE_DONE) {
        sy_errf(err, errlen, "ledger lookup: %s", sqlite3_errmsg(cp_store_db(s)));
        found = -1;
    }
    sqlite3_reset(st);
    return found;
}

/* The workspace's balance: CP_LEDGER_OK, CP_LEDGER_NO_WORKSPACE or CP_LEDGER_ERROR. */
static cp_ledger_rc_t read_balance(cp_store_t *s, const char *ws, sy_nano_t *balance, char *err,
                                   size_t errlen)
{
    sqlite3_stmt *st;
    if (cp_store_cached(s, SQL_BALANCE, &st, err, errlen) != 0)
        return CP_LEDGER_ERROR;
    sqlite3_bind_text(st, 1, ws, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    *balance = rc == SQLITE_ROW ? sqlite3_column_int64(st, 1) : 0; /* NULL (no entry yet) reads as 0 */
    sqlite3_reset(st);
    if (rc == SQLITE_DONE) {
        sy_errf(err, errlen, "workspace '%s' not found", ws);
        return CP_LEDGER_NO_WORKSPACE;
    }
    return rc == SQLITE_ROW ? CP_LEDGER_OK : db_fail(s, err, errlen, "balance");
}

/* Inserts one entry whose balance_after is `after`; its id into *id. */
static cp_ledger_rc_t insert_entry(cp_store_t *s, const char *ws, cp_ledger_kind_t kind, sy_nano_t amount,
                                   sy_nano_t after, const char *ref, const char *note, int64_t now_ms,
                                   int64_t *id, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    if (cp_store_cached(s, SQL_INSERT, &st, err, errlen) != 0)
        return CP_LEDGER_ERROR;
    sqlite3_bind_text(st, 1, ws, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, cp_ledger_kind_name(kind), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, amount);
    sqlite3_bind_int64(st, 4, after);
    sqlite3_bind_text(st, 5, ref, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 6, note, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 7, now_ms);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        if (sqlite3_extended_errcode(cp_store_db(s)) == SQLITE_CONSTRAINT_UNIQUE) {
            sy_errf(err, errlen, "ledger reference '%s' exists", ref);
            return CP_LEDGER_DUPLICATE;
        }
        return db_fail(s, err, errlen, "ledger insert");
    }
    *id = sqlite3_last_insert_rowid(cp_store_db(s));
    return CP_LEDGER_OK;
}

static cp_ledger_rc_t set_balance(cp_store_t *s, const char *ws, sy_nano_t balance, int64_t last_entry,
                                  char *err, size_t errlen)
{
    sqlite3_stmt *st;
    if (cp_store_cached(s, SQL_SET_BALANCE, &st, err, errlen) != 0)
        return CP_LEDGER_ERROR;
    sqlite3_bind_text(st, 1, ws, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, balance);
    sqlite3_bind_int64(st, 3, last_entry);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? CP_LEDGER_OK : db_fail(s, err, errlen, "balance update");
}

/* The body of an append, between SAVEPOINT and RELEASE. */
static cp_ledger_rc_t append_in(cp_store_t *s, const char *ws, cp_ledger_kind_t kind, sy_nano_t amount,
                                const char *ref, const char *note, int64_t now_ms, cp_ledger_entry_t *out,
                                char *err, size_t errlen)
{
    int r = find_ref(s, ref, out, err, errlen);
    if (r < 0)
        return CP_LEDGER_ERROR;
    if (r == 1) {
        sy_errf(err, errlen, "ledger reference '%s' exists (entry %" PRId64 ")", ref, out->id);
        return CP_LEDGER_DUPLICATE;
    }
    sy_nano_t balance, after;
    cp_ledger_rc_t rc = read_balance(s, ws, &balance, err, errlen);
    if (rc != CP_LEDGER_OK)
        return rc;
    /* integers only, and never a silent wrap: an overflowing balance is refused */
    if (__builtin_add_overflow(balance, amount, &after)) {
        sy_errf(err, errlen, "balance of workspace '%s' would overflow", ws);
        return CP_LEDGER_INVALID;
    }
    int64_t id;
    if ((rc = insert_entry(s, ws, kind, amount, after, ref, note, now_ms, &id, err, errlen)) !=
            CP_LEDGER_OK ||
        (rc = set_balance(s, ws, after, id, err, errlen)) != CP_LEDGER_OK)
        return rc;
    if (out != NULL) {
        memset(out, 0, sizeof(*out));
        out->id = id;
        snprintf(out->workspace_id, sizeof(out->workspace_id), "%s", ws);
        out->kind = kind;
        out->amount_nano = amount;
        out->balance_after_nano = after;
    }
    cp_metrics_ledger_staged((int)kind); /* counted when the caller's transaction commits */
    return CP_LEDGER_OK;
}

/* Ends the savepoint an append opened: released when `rc` is CP_LEDGER_OK, else rolled back to
 * (the caller's transaction as it was before the append); returns the append's outcome. */
static cp_ledger_rc_t in_savepoint(cp_store_t *s, cp_ledger_rc_t rc, char *err, size_t errlen)
{
    char ignored[128];
    if (rc != CP_LEDGER_OK)
        exec1(s, SQL_ROLLBACK_TO, ignored, sizeof(ignored));
    if (exec1(s, SQL_RELEASE, rc == CP_LEDGER_OK ? err : ignored,
              rc == CP_LEDGER_OK ? errlen : sizeof(ignored)) != 0 &&
        rc == CP_LEDGER_OK)
        return CP_LEDGER_ERROR;
    return rc;
}

/* 1 (with the message in err) when no transaction is open: an append is part of the caller's. */
static int outside_txn(cp_store_t *s, char *err, size_t errlen)
{
    if (!sqlite3_get_autocommit(cp_store_db(s)))
        return 0;
    sy_errf(err, errlen, "ledger: append outside a write transaction");
    return 1;
}

/* The checks of an append's arguments, before anything is written. */
static cp_ledger_rc_t check_args(cp_store_t *s, const char *workspace_id, cp_ledger_kind_t kind,
                                 sy_nano_t amount, const char *ref, const char *note, char *err,
                                 size_t errlen)
{
    if (outside_txn(s, err, errlen))
        return CP_LEDGER_ERROR;
    size_t rl = ref ? strlen(ref) : 0;
    if (rl == 0 || rl > MAX_REF || workspace_id == NULL || strlen(workspace_id) > 128) {
        sy_errf(err, errlen, "ledger: reference must be 1..%d bytes", MAX_REF);
        return CP_LEDGER_INVALID;
    }
    if (strlen(note) > MAX_NOTE) {
        sy_errf(err, errlen, "ledger: note longer than %d bytes", MAX_NOTE);
        return CP_LEDGER_INVALID;
    }
    int positive = kind == CP_LEDGER_CREDIT || kind == CP_LEDGER_GRANT;
    if ((unsigned)kind > CP_LEDGER_DISPUTE || (positive ? amount <= 0 : amount > 0)) {
        sy_errf(err, errlen, "ledger: amount %" PRId64 " has the wrong sign for a %s", amount,
                cp_ledger_kind_name(kind));
        return CP_LEDGER_INVALID;
    }
    return CP_LEDGER_OK;
}

cp_ledger_rc_t cp_ledger_append_bare(cp_store_t *s, const char *workspace_id, cp_ledger_kind_t kind,
                                     sy_nano_t amount, const char *ref, const char *note, int64_t now_ms,
                                     cp_ledger_entry_t *out, char *err, size_t errlen)
{
    cp_ledger_entry_t tmp;
    if (out == NULL)
        out = &tmp;
    if (note == NULL)
        note = "";
    cp_ledger_rc_t rc = check_args(s, workspace_id, kind, amount, ref, note, err, errlen);
    return rc != CP_LEDGER_OK ? rc
                              : append_in(s, workspace_id, kind, amount, ref, note, now_ms, out, err, errlen);
}

cp_ledger_rc_t cp_ledger_append(cp_store_t *s, const char *workspace_id, cp_ledger_kind_t kind,
                                sy_nano_t amount, const char *ref, const char *note, int64_t now_ms,
                                cp_ledger_entry_t *out, char *err, size_t errlen)
{
    /* the bare append inside a savepoint, so that a failure half-way (entry written, balance
     * not) leaves the caller's transaction exactly as it was; checked first because outside a
     * transaction SAVEPOINT would open one */
    if (outside_txn(s, err, errlen) || exec1(s, SQL_SAVEPOINT, err, errlen) != 0)
        return CP_LEDGER_ERROR;
    return in_savepoint(
        s, cp_ledger_append_bare(s, workspace_id, kind, amount, ref, note, now_ms, out, err, errlen), err,
        errlen);
}

cp_ledger_rc_t cp_ledger_grant(cp_store_t *s, const char *workspace_id, sy_nano_t amount,
                               const char *reference, const char *note, int64_t now_ms,
                               cp_ledger_entry_t *out, uint64_t *version, char *err, size_t errlen)
{
    char ref[MAX_REF + 8];
    if (reference == NULL || strlen(reference) == 0 || strlen(reference) > 128) {
        sy_errf(err, errlen, "reference must be 1..128 bytes");
        return CP_LEDGER_INVALID;
    }
    snprintf(ref, sizeof(ref), "grant:%s", reference);
    if (cp_store_begin_write(s, err, errlen) != 0)
        return CP_LEDGER_ERROR;
    cp_ledger_rc_t rc =
        cp_ledger_append(s, workspace_id, CP_LEDGER_GRANT, amount, ref, note, now_ms, out, err, errlen);
    if (rc == CP_LEDGER_DUPLICATE && (out->kind != CP_LEDGER_GRANT || out->amount_nano != amount ||
                                      strcmp(out->workspace_id, workspace_id) != 0)) {
        sy_errf(err, errlen, "reference '%s' was already used for a different grant", reference);
        rc = CP_LEDGER_INVALID;
    }
    if (rc != CP_LEDGER_OK) {
        cp_store_rollback(s);
        return rc;
    }
    if (cp_store_commit_write(s, version, err, errlen) != 0)
        return CP_LEDGER_ERROR;
    return CP_LEDGER_OK;
}

cJSON *cp_ledger_entry_json(const cp_ledger_entry_t *e)
{
    cJSON *o = cJSON_CreateObject();
    cp_ledger_add_int(o, "id", e->id);
    cJSON_AddStringToObject(o, "workspace", e->workspace_id);
    cJSON_AddStringToObject(o, "kind", cp_ledger_kind_name(e->kind));
    cp_ledger_add_int(o, "amount_nano", e->amount_nano);
    cp_ledger_add_usd(o, "amount_usd", e->amount_nano);
    cp_ledger_add_int(o, "balance_after_nano", e->balance_after_nano);
    cp_ledger_add_usd(o, "balance_after_usd", e->balance_after_nano);
    return o;
}

cp_ledger_rc_t cp_ledger_balance_json(cp_store_t *s, const char *workspace_id, cJSON **out, char *err,
                                      size_t errlen)
{
    *out = NULL;
    if (cp_store_begin_read(s, err, errlen) != 0)
        return CP_LEDGER_ERROR;
    cp_ledger_rc_t ret = CP_LEDGER_ERROR;
    int r = cp_store_exists(s, "SELECT 1 FROM workspaces WHERE id = ?1", workspace_id, err, errlen);
    if (r <= 0) {
        if (r == 0) {
            sy_errf(err, errlen, "workspace '%s' not found", workspace_id);
            ret = CP_LEDGER_NO_WORKSPACE;
        }
        goto done;
    }
    sqlite3_stmt *st;
    if (cp_store_prepare(s,
                         "SELECT COALESCE((SELECT balance_nano FROM balances WHERE workspace_id = ?1), 0),"
                         " COALESCE((SELECT last_entry FROM balances WHERE workspace_id = ?1), 0),"
                         " (SELECT COUNT(*) FROM ledger WHERE workspace_id = ?1)",
                         &st, err, errlen) != 0)
        goto done;
    sqlite3_bind_text(st, 1, workspace_id, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_ROW) {
        db_fail(s, err, errlen, "balance");
        sqlite3_finalize(st);
        goto done;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "workspace", workspace_id);
    cp_ledger_add_int(o, "balance_nano", sqlite3_column_int64(st, 0));
    cp_ledger_add_usd(o, "balance_usd", sqlite3_column_int64(st, 0));
    cp_ledger_add_int(o, "entries", sqlite3_column_int64(st, 2));
    cp_ledger_add_int(o, "last_entry", sqlite3_column_int64(st, 1));
    sqlite3_finalize(st);
    *out = o;
    ret = CP_LEDGER_OK;
done:
    cp_store_end_read(s);
    return ret;
}

cp_ledger_rc_t cp_ledger_list_json(cp_store_t *s, const char *workspace_id, int limit, int64_t before,
                                   cJSON **out, char *err, size_t errlen)
{
    *out = NULL;
    if (limit < 1 || limit > 500) {
        sy_errf(err, errlen, "limit must be 1..500");
        return CP_LEDGER_INVALID;
    }
    if (cp_store_begin_read(s, err, errlen) != 0)
        return CP_LEDGER_ERROR;
    cp_ledger_rc_t ret = CP_LEDGER_ERROR;
    cJSON *data = NULL;
    int r = cp_store_exists(s, "SELECT 1 FROM workspaces WHERE id = ?1", workspace_id, err, errlen);
    if (r <= 0) {
        if (r == 0) {
            sy_errf(err, errlen, "workspace '%s' not found", workspace_id);
            ret = CP_LEDGER_NO_WORKSPACE;
        }
        goto done;
    }
    sqlite3_stmt *st;
    if (cp_store_prepare(s,
                         "SELECT id, kind, amount_nano, balance_after_nano, ref, note, created_ms FROM ledger"
                         " WHERE workspace_id = ?1 AND (?2 <= 0 OR id < ?2) ORDER BY id DESC LIMIT ?3",
                         &st, err, errlen) != 0)
        goto done;
    sqlite3_bind_text(st, 1, workspace_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, before);
    sqlite3_bind_int(st, 3, limit + 1); /* one more tells whether there is a next page */
    data = cJSON_CreateArray();
    int n = 0, rc, more = 0;
    int64_t last = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == limit) {
            more = 1;
            break;
        }
        cp_ledger_entry_t e = {.id = sqlite3_column_int64(st, 0),
                               .kind = kind_of((const char *)sqlite3_column_text(st, 1)),
                               .amount_nano = sqlite3_column_int64(st, 2),
                               .balance_after_nano = sqlite3_column_int64(st, 3)};
        snprintf(e.workspace_id, sizeof(e.workspace_id), "%s", workspace_id);
        cJSON *o = cp_ledger_entry_json(&e);
        cJSON_AddStringToObject(o, "ref", (const char *)sqlite3_column_text(st, 4));
        cJSON_AddStringToObject(o, "note", (const char *)sqlite3_column_text(st, 5));
        cp_ledger_add_int(o, "created_ms", sqlite3_column_int64(st, 6));
        cJSON_AddItemToArray(data, o);
        last = e.id;
        n++;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        db_fail(s, err, errlen, "ledger list");
        goto done;
    }
    *out = cp_ledger_page(data, more, last);
    data = NULL;
    ret = CP_LEDGER_OK;
done:
    cJSON_Delete(data);
    cp_store_end_read(s);
    return ret;
}

/* ------------------------------------------------------------------------- invariants */

typedef struct {
    const char *sql;
    const char *fmt; /* printf with the row's columns as text, in order (up to 5) */
} check_query_t;

static const check_query_t checks[] = {
    {"SELECT w.id, b.balance_nano, s.total FROM workspaces w"
     " JOIN (SELECT workspace_id, SUM(amount_nano) AS total FROM ledger GROUP BY workspace_id) s"
     "   ON s.workspace_id = w.id"
     " LEFT JOIN balances b ON b.workspace_id = w.id"
     " WHERE b.balance_nano IS NULL OR b.balance_nano != s.total",
     "ledger: workspace %s stored balance %s != sum of its entries %s"},
    {"SELECT b.workspace_id, b.balance_nano FROM balances b"
     " WHERE b.balance_nano != 0 AND NOT EXISTS (SELECT 1 FROM ledger l WHERE l.workspace_id = "
     "b.workspace_id)",
     "ledger: workspace %s has balance %s but no entries"},
    {"SELECT id, workspace_id, amount_nano, balance_after_nano, prev FROM ("
     "  SELECT id, workspace_id, amount_nano, balance_after_nano,"
     "    LAG(balance_after_nano, 1, 0) OVER (PARTITION BY workspace_id ORDER BY id) AS prev FROM ledger)"
     " WHERE balance_after_nano != prev + amount_nano",
     "ledger: entry %s (workspace %s): amount %s, balance_after %s does not follow the previous balance %s"},
    {"SELECT b.workspace_id, b.balance_nano, l.balance_after_nano, b.last_entry, l.id FROM balances b"
     " JOIN ledger l ON l.id = (SELECT MAX(id) FROM ledger WHERE workspace_id = b.workspace_id)"
     " WHERE l.balance_after_nano != b.balance_nano OR l.id != b.last_entry",
     "ledger: workspace %s balance %s != last entry's balance_after %s (last_entry %s, newest entry %s)"},
    {"SELECT l.id, l.workspace_id FROM ledger l WHERE NOT EXISTS (SELECT 1 FROM workspaces w WHERE w.id = "
     "l.workspace_id)",
     "ledger: entry %s belongs to no workspace ('%s')"},
    {"SELECT b.workspace_id FROM balances b WHERE NOT EXISTS (SELECT 1 FROM workspaces w WHERE w.id = "
     "b.workspace_id)",
     "ledger: balance row of unknown workspace '%s'"},
    /* every usage record is charged by exactly one debit: the one named after the head of its run
     * (debit_row, migration 14; 0 = the record itself), which equals the sum of its run */
    {"SELECT h.id, h.workspace_id, g.cost, g.n, l.amount_nano FROM (SELECT CASE debit_row WHEN 0 THEN rowid"
     " ELSE debit_row END AS head, SUM(cost_nano) AS cost, COUNT(*) AS n, MIN(workspace_id) AS ws1,"
     " MAX(workspace_id) AS ws2 FROM usage GROUP BY 1) g LEFT JOIN usage h ON h.rowid = g.head"
     " LEFT JOIN ledger l ON l.ref = 'usage:' || h.id"
     " WHERE h.rowid IS NULL OR l.id IS NULL OR l.kind != 'debit' OR l.amount_nano != -g.cost"
     " OR l.workspace_id != h.workspace_id OR g.ws1 != g.ws2 OR g.ws1 != h.workspace_id",
     "ledger: usage run of record %s (workspace %s, cost %s over %s records) has no matching debit (%s)"},
    {"SELECT l.id, l.ref FROM ledger l WHERE l.ref LIKE 'usage:%' AND NOT EXISTS"
     " (SELECT 1 FROM usage u WHERE u.id = substr(l.ref, 7))",
     "ledger: debit %s (%s) names no usage record"},
    /* the per-day rollup (usage_daily) adds up to the records, per workspace and day */
    {"SELECT u.workspace_id, u.day, u.n, d.n, u.c FROM (SELECT workspace_id, created_ms / 86400000 AS day,"
     " COUNT(*) AS n, SUM(cost_nano) AS c, SUM(tokens_in) AS ti, SUM(tokens_out) AS tt FROM usage GROUP BY "
     "1, 2) u"
     " FULL JOIN (SELECT workspace_id, day, SUM(requests) AS n, SUM(cost_nano) AS c, SUM(tokens_in) AS ti,"
     " SUM(tokens_out) AS tt FROM usage_daily GROUP BY 1, 2) d ON d.workspace_id = u.workspace_id AND d.day "
     "= u.day"
     " WHERE u.n IS NULL OR d.n IS NULL OR u.n != d.n OR u.c != d.c OR u.ti != d.ti OR u.tt != d.tt",
     "ledger: usage of workspace %s on day %s: %s records but the daily rollup counts %s (cost %s)"},
};

static int run_check(cp_store_t *s, const check_query_t *q, FILE *out, cJSON *problems, int *count, char *err,
                     size_t errlen)
{
    sqlite3_stmt *st;
    if (cp_store_prepare(s, q->sql, &st, err, errlen) != 0)
        return -1;
    int rc, rows = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && rows < CHECK_MAX_ROWS) {
        const char *c[5] = {"", "", "", "", ""};
        for (int i = 0; i < 5 && i < sqlite3_column_count(st); i++) {
            const unsigned char *t = sqlite3_column_text(st, i);
            c[i] = t ? (const char *)t : "NULL";
        }
        char line[512];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        snprintf(line, sizeof(line), q->fmt, c[0], c[1], c[2], c[3], c[4]);
#pragma GCC diagnostic pop
        if (out != NULL)
            fprintf(out, "%s\n", line);
        if (problems != NULL)
            cJSON_AddItemToArray(problems, cJSON_CreateString(line));
        rows++;
        (*count)++;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return sy_errf(err, errlen, "ledger check: %s", sqlite3_errmsg(cp_store_db(s)));
    return 0;
}

int cp_ledger_check(cp_store_t *s, FILE *out, cJSON *problems, char *err, size_t errlen)
{
    if (cp_store_begin_read(s, err, errlen) != 0)
        return -1;
    int count = 0;
    for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
        if (run_check(s, &checks[i], out, problems, &count, err, errlen) != 0) {
            cp_store_end_read(s);
            return -1;
        }
    }
    cp_store_end_read(s);
    return count;
}

cJSON *cp_ledger_page(cJSON *data, int more, int64_t last)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "list");
    cJSON_AddItemToObject(o, "data", data);
    cJSON_AddBoolToObject(o, "has_more", more);
    if (more)
        cp_ledger_add_int(o, "next_before", last);
    else
        cJSON_AddNullToObject(o, "next_before");
    return o;
}
