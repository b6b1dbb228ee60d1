/* Unit tests for the money modules: the Stripe signature check (known vectors, header parsing,
 * tolerance), the ledger (signs, idempotent references, append-only triggers, invariants and
 * their detection of a tampered balance), usage ingestion (all-or-nothing, duplicates) and
 * Stripe event effects (credit once per session, refund deltas, replays, unknown workspaces). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cp_ledger.h"
#include "cp_store.h"
#include "cp_stripe.h"
#include "cp_usage.h"
#include "sy_test.h"

static char dir[] = "/tmp/test_cp_ledger.XXXXXX";
static char db_path[PATH_MAX];

#define SECRET "whsec_test_secret"
#define BODY "{\"id\":\"evt_1\",\"object\":\"event\"}"
/* HMAC-SHA256("whsec_test_secret", "1700000000." BODY), computed with Python's hmac module */
#define SIG "0c8670ed117751cc551a20e35839447075c42800ea3cf3e8a2fbda99cd1e6edd"
#define OTHER "1111111111111111111111111111111111111111111111111111111111111111"

static cp_stripe_sig_rc_t verify(const char *h, int64_t now)
{
    return cp_stripe_verify(h, h ? strlen(h) : 0, BODY, strlen(BODY), SECRET, now, CP_STRIPE_TOLERANCE_S);
}

static void test_signature(void)
{
    char hex[65];
    CHECK(cp_stripe_sign(SECRET, 1700000000, BODY, strlen(BODY), hex) == 0);
    CHECK_STR(hex, SIG);

    const int64_t now = 1700000000;
    CHECK(verify("t=1700000000,v1=" SIG, now) == CP_STRIPE_SIG_OK);
    CHECK(verify("t=1700000000,v1=" OTHER ",v1=" SIG, now) == CP_STRIPE_SIG_OK); /* any v1 matches */
    CHECK(verify("t=1700000000,v1=" SIG ",v0=" OTHER, now) == CP_STRIPE_SIG_OK);
    CHECK(verify("v1=" SIG ",t=1700000000", now) == CP_STRIPE_SIG_OK); /* order is free */
    CHECK(verify("t=1700000000, v1=" SIG, now) == CP_STRIPE_SIG_OK);   /* space after comma */
    CHECK(verify("t=1700000000,v1=0C8670ED117751CC551A20E35839447075C42800EA3CF3E8A2FBDA99CD1E6EDD", now) ==
          CP_STRIPE_SIG_OK);
    CHECK(verify("t=1700000000,v1=" OTHER, now) == CP_STRIPE_SIG_MISMATCH);
    CHECK(verify("t=1700000001,v1=" SIG, now) == CP_STRIPE_SIG_MISMATCH); /* t is signed */
    CHECK(verify("t=1700000000,v0=" SIG, now) == CP_STRIPE_SIG_NO_V1);
    CHECK(verify("t=1700000000", now) == CP_STRIPE_SIG_NO_V1);
    /* tolerance: 300 s both ways */
    CHECK(verify("t=1700000000,v1=" SIG, now + 300) == CP_STRIPE_SIG_OK);
    CHECK(verify("t=1700000000,v1=" SIG, now + 301) == CP_STRIPE_SIG_STALE);
    CHECK(verify("t=1700000000,v1=" SIG, now - 300) == CP_STRIPE_SIG_OK);
    CHECK(verify("t=1700000000,v1=" SIG, now - 301) == CP_STRIPE_SIG_STALE);
    /* malformed */
    const char *bad[] = {"",
                         "garbage",
                         "t=1700000000,,v1=" SIG,
                         "t=1700000000,v1=" SIG ",",
                         ",t=1700000000,v1=" SIG,
                         "t=,v1=" SIG,
                         "t=17000x0000,v1=" SIG,
                         "t=1700000000,t=1700000000,v1=" SIG,
                         "t=1700000000,v1=" SIG "0",
                         "t=1700000000,v1="
                         "0c8670ed117751cc551a20e35839447075c42800ea3cf3e8a2fbda99cd1e6ed",
                         "t=1700000000,v1=zz8670ed117751cc551a20e35839447075c42800ea3cf3e8a2fbda99cd1e6edd",
                         "t=1700000000,=x,v1=" SIG,
                         "t=1700000000,v1" SIG,
                         "t=1234567890123,v1=" SIG,
                         "v1=" SIG,
                         "t=1700000000,V1=" SIG};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cp_stripe_sig_rc_t rc = verify(bad[i], now);
        if (rc != CP_STRIPE_SIG_MALFORMED)
            fprintf(stderr, "bad header %zu ('%s') gave %d\n", i, bad[i], rc);
        CHECK(rc == CP_STRIPE_SIG_MALFORMED);
    }
    CHECK(verify(NULL, now) == CP_STRIPE_SIG_MALFORMED);
    CHECK(cp_stripe_verify("t=1700000000,v1=" SIG, 16 + 64, BODY, strlen(BODY), "", now, 300) ==
          CP_STRIPE_SIG_MALFORMED); /* no secret: nothing verifies */
    /* at most 8 v1 */
    char many[2048] = "t=1700000000";
    for (int i = 0; i < 9; i++)
        strcat(many, ",v1=" OTHER);
    CHECK(verify(many, now) == CP_STRIPE_SIG_MALFORMED);
    /* an altered body */
    CHECK(cp_stripe_verify("t=1700000000,v1=" SIG, 16 + 64, BODY " ", strlen(BODY) + 1, SECRET, now, 300) ==
          CP_STRIPE_SIG_MISMATCH);
}

static cp_store_t *open_store(void)
{
    char err[256];
    cp_store_t *s = NULL;
    if (cp_store_open(db_path, &s, err, sizeof(err)) != 0)
        fprintf(stderr, "open: %s\n", err);
    return s;
}

static int exec(cp_store_t *s, const char *sql)
{
    return sqlite3_exec(cp_store_db(s), sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

/* cp_ledger emits integers as raw JSON numbers (exact past 2^53): read the text */
static int64_t jint(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItem(o, name);
    if (cJSON_IsRaw(v))
        return strtoll(v->valuestring, NULL, 10);
    return v && cJSON_IsNumber(v) ? (int64_t)v->valuedouble : INT64_MIN;
}

static int64_t balance(cp_store_t *s, const char *ws)
{
    char err[256];
    cJSON *b = NULL;
    if (cp_ledger_balance_json(s, ws, &b, err, sizeof(err)) != CP_LEDGER_OK)
        return INT64_MIN;
    int64_t v = jint(b, "balance_nano");
    cJSON_Delete(b);
    return v;
}

static int problems(cp_store_t *s)
{
    char err[256];
    return cp_ledger_check(s, NULL, NULL, err, sizeof(err));
}

static void test_ledger(cp_store_t *s)
{
    char err[256];
    cp_ledger_entry_t e;
    uint64_t v0 = 0, v1 = 0;
    CHECK(
        exec(s, "INSERT INTO workspaces (id, name, created_at) VALUES ('ws_a', 'A', 0), ('ws_b', 'B', 0)") ==
        0);
    CHECK(problems(s) == 0);
    cp_store_snapshot_version(s, &v0, err, sizeof(err));
    CHECK(cp_ledger_grant(s, "ws_a", 5 * SY_NANO_PER_USD, "r1", "first", 1, &e, &v1, err, sizeof(err)) ==
          CP_LEDGER_OK);
    CHECK(v1 == v0 + 1); /* a grant is a versioned write */
    CHECK(e.balance_after_nano == 5 * SY_NANO_PER_USD);
    CHECK(cp_ledger_grant(s, "ws_a", 5 * SY_NANO_PER_USD, "r1", "again", 2, &e, NULL, err, sizeof(err)) ==
          CP_LEDGER_DUPLICATE);
    CHECK(cp_ledger_grant(s, "ws_a", 6 * SY_NANO_PER_USD, "r1", "", 2, &e, NULL, err, sizeof(err)) ==
          CP_LEDGER_INVALID);
    CHECK(cp_ledger_grant(s, "ws_b", 5 * SY_NANO_PER_USD, "r1", "", 2, &e, NULL, err, sizeof(err)) ==
          CP_LEDGER_INVALID);
    CHECK(cp_ledger_grant(s, "ws_zz", 1, "r2", "", 2, &e, NULL, err, sizeof(err)) == CP_LEDGER_NO_WORKSPACE);
    CHECK(cp_ledger_grant(s, "ws_a", 0, "r3", "", 2, &e, NULL, err, sizeof(err)) == CP_LEDGER_INVALID);
    CHECK(cp_ledger_grant(s, "ws_a", -1, "r3", "", 2, &e, NULL, err, sizeof(err)) == CP_LEDGER_INVALID);
    CHECK(balance(s, "ws_a") == 5 * SY_NANO_PER_USD);
    CHECK(balance(s, "ws_b") == 0);
    CHECK(balance(s, "ws_zz") == INT64_MIN);

    /* appends need the caller's transaction; a debit may take the balance below zero */
    CHECK(cp_ledger_append(s, "ws_a", CP_LEDGER_DEBIT, -1, "x:1", "", 3, NULL, err, sizeof(err)) ==
          CP_LEDGER_ERROR);
    CHECK(sqlite3_get_autocommit(cp_store_db(s))); /* and opened none (no stray savepoint) */
    CHECK(cp_store_begin_write(s, err, sizeof(err)) == 0);
    CHECK(cp_ledger_append(s, "ws_a", CP_LEDGER_DEBIT, -7 * SY_NANO_PER_USD, "x:1", "", 3, &e, err,
                           sizeof(err)) == CP_LEDGER_OK);
    CHECK(e.balance_after_nano == -2 * SY_NANO_PER_USD);
    /* a refused append leaves the caller's transaction open, with what it held */
    CHECK(cp_ledger_append(s, "ws_a", CP_LEDGER_DEBIT, -1, "x:1", "", 3, &e, err, sizeof(err)) ==
          CP_LEDGER_DUPLICATE);
    CHECK(e.amount_nano == -7 * SY_NANO_PER_USD && strcmp(e.workspace_id, "ws_a") == 0);
    CHECK(cp_ledger_append(s, "ws_zz", CP_LEDGER_DEBIT, -1, "x:9", "", 3, NULL, err, sizeof(err)) ==
          CP_LEDGER_NO_WORKSPACE);
    CHECK(!sqlite3_get_autocommit(cp_store_db(s)));
    sqlite3_stmt *bst = NULL;
    CHECK(sqlite3_prepare_v2(cp_store_db(s), "SELECT balance_nano FROM balances WHERE workspace_id = 'ws_a'",
                             -1, &bst, NULL) == SQLITE_OK);
    CHECK(sqlite3_step(bst) == SQLITE_ROW && sqlite3_column_int64(bst, 0) == -2 * SY_NANO_PER_USD);
    sqlite3_finalize(bst);
    CHECK(cp_ledger_append(s, "ws_a", CP_LEDGER_DEBIT, 1, "x:2", "", 3, NULL, err, sizeof(err)) ==
          CP_LEDGER_INVALID);
    CHECK(cp_ledger_append(s, "ws_a", CP_LEDGER_REFUND, 0, "x:3", "", 3, NULL, err, sizeof(err)) ==
          CP_LEDGER_OK);
    CHECK(cp_ledger_append(s, "ws_a", CP_LEDGER_CREDIT, INT64_MAX, "x:4", "", 3, NULL, err, sizeof(err)) ==
          CP_LEDGER_OK);
    CHECK(cp_ledger_append(s, "ws_a", CP_LEDGER_CREDIT, INT64_MAX, "x:5", "", 3, NULL, err, sizeof(err)) ==
          CP_LEDGER_INVALID); /* overflow refused, not wrapped */
    cp_store_rollback(s);     /* none of it happened */
    CHECK(balance(s, "ws_a") == 5 * SY_NANO_PER_USD);
    CHECK(problems(s) == 0);

    /* append-only, whatever the code above does */
    CHECK(exec(s, "UPDATE ledger SET amount_nano = 1") != 0);
    CHECK(exec(s, "DELETE FROM ledger") != 0);
    CHECK(exec(s, "INSERT INTO ledger (workspace_id, kind, amount_nano, balance_after_nano, ref, created_ms)"
                  " VALUES ('ws_a', 'grant', 1, 1, 'grant:r1', 0)") != 0); /* unique reference */
    CHECK(exec(s, "INSERT INTO ledger (workspace_id, kind, amount_nano, balance_after_nano, ref, created_ms)"
                  " VALUES ('ws_a', 'debit', 1.5, 1, 'y:1', 0)") != 0); /* STRICT: no float money */

    /* the check sees tampering: a balance moved without an entry, an entry without its balance */
    CHECK(exec(s, "UPDATE balances SET balance_nano = balance_nano + 1 WHERE workspace_id = 'ws_a'") == 0);
    CHECK(problems(s) >= 1);
    CHECK(exec(s, "UPDATE balances SET balance_nano = balance_nano - 1 WHERE workspace_id = 'ws_a'") == 0);
    CHECK(problems(s) == 0);
    CHECK(exec(s, "PRAGMA foreign_keys = OFF") == 0);
    CHECK(exec(s, "INSERT INTO ledger (workspace_id, kind, amount_nano, balance_after_nano, ref, created_ms)"
                  " VALUES ('ws_gone', 'grant', 1, 1, 'grant:orphan', 0)") == 0);
    CHECK(problems(s) >= 1); /* an entry of no workspace */
    CHECK(exec(s, "DROP TRIGGER ledger_no_delete") == 0);
    CHECK(exec(s, "DELETE FROM ledger WHERE ref = 'grant:orphan'") == 0);
    CHECK(exec(s, "CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger"
                  "  BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END") == 0);
    CHECK(exec(s, "PRAGMA foreign_keys = ON") == 0);
    CHECK(problems(s) == 0);

    cJSON *page = NULL;
    CHECK(cp_ledger_list_json(s, "ws_a", 10, 0, &page, err, sizeof(err)) == CP_LEDGER_OK);
    CHECK(page && cJSON_GetArraySize(cJSON_GetObjectItem(page, "data")) == 1);
    cJSON_Delete(page);
}

static int usage_exists(cp_store_t *s, const char *id);

static Switchyard__UsageRecord *rec(const char *id, const char *ws, int64_t cost)
{
    static Switchyard__UsageRecord r[16];
    static int n;
    Switchyard__UsageRecord *u = &r[n++ % 16];
    switchyard__usage_record__init(u);
    u->id = (char *)id;
    u->workspace = (char *)ws;
    u->key_id = (char *)"key_1";
    u->model = (char *)"m-ok";
    u->provider = (char *)"mock";
    u->tokens_in = 10;
    u->tokens_out = 20;
    u->cost_nano = cost;
    u->outcome = (char *)"ok";
    u->node = (char *)"dp-1";
    u->created_ms = 1700000000000;
    return u;
}

static void test_usage(cp_store_t *s)
{
    cp_usage_result_t r;
    uint64_t v = 0;
    int64_t before = balance(s, "ws_b");
    Switchyard__UsageRecord *ok[3] = {rec("u1", "ws_b", 100), rec("u2", "ws_b", 200), rec("u1", "ws_b", 100)};
    Switchyard__UsageBatch b = SWITCHYARD__USAGE_BATCH__INIT;
    b.batch_id = (char *)"b1";
    b.node_id = (char *)"dp-1";
    b.records = ok;
    b.n_records = 3;
    CHECK(cp_usage_ingest(s, &b, 100, 5, &r, &v) == 0);
    CHECK(r.applied == 2 && r.duplicates == 1);
    CHECK(balance(s, "ws_b") == before - 300);
    uint64_t v2 = v;
    CHECK(cp_usage_ingest(s, &b, 100, 6, &r, &v2) == 0); /* replay: nothing, no version bump */
    CHECK(r.applied == 0 && r.duplicates == 3 && v2 == v);
    CHECK(balance(s, "ws_b") == before - 300);

    Switchyard__UsageRecord *bad[2] = {rec("u3", "ws_b", 5), rec("u4", "ws_nope", 5)};
    b.records = bad;
    b.n_records = 2;
    CHECK(cp_usage_ingest(s, &b, 100, 7, &r, NULL) == -1);
    CHECK(r.bad_record == 1 && r.param && strcmp(r.param, "workspace") == 0 && !r.retry);
    /* two unknown workspaces: the refusal names the first record in batch order, though the
     * other's name sorts first; nothing written */
    Switchyard__UsageRecord *bad3[3] = {rec("u5", "ws_b", 5), rec("u6", "ws_zz", 5), rec("u7", "ws_aa", 5)};
    b.records = bad3;
    b.n_records = 3;
    CHECK(cp_usage_ingest(s, &b, 100, 7, &r, NULL) == -1);
    CHECK(r.bad_record == 1 && strcmp(r.param, "workspace") == 0 && strstr(r.error, "'ws_zz'") != NULL);
    CHECK(usage_exists(s, "u5") == 0);
    b.records = bad;
    b.n_records = 2;
    bad[1] = rec("u4", "ws_b", -5);
    CHECK(cp_usage_ingest(s, &b, 100, 7, &r, NULL) == -1);
    CHECK(r.bad_record == 1 && strcmp(r.param, "cost_nano") == 0);
    bad[1] = rec("u 4", "ws_b", 5);
    CHECK(cp_usage_ingest(s, &b, 100, 7, &r, NULL) == -1 && strcmp(r.param, "id") == 0);
    bad[1] = rec("u4", "ws_b", 5);
    bad[1]->outcome = (char *)"Not-OK";
    CHECK(cp_usage_ingest(s, &b, 100, 7, &r, NULL) == -1 && strcmp(r.param, "outcome") == 0);
    bad[1]->outcome = (char *)"ok";
    CHECK(cp_usage_ingest(s, &b, CP_USAGE_MAX_BATCH_BYTES + 1, 7, &r, NULL) == -1);
    CHECK(balance(s, "ws_b") == before - 300); /* nothing of the refused batches */
    CHECK(cp_usage_ingest(s, &b, 100, 7, &r, NULL) == 0 && r.applied == 2);
    CHECK(balance(s, "ws_b") == before - 310);

    cJSON *q = NULL;
    char err[256];
    CHECK(cp_usage_query_json(s, "ws_b", 0, INT64_MAX, CP_USAGE_GROUP_DAY, &q, err, sizeof(err)) == 0);
    cJSON *t = cJSON_GetObjectItem(q, "total");
    CHECK(t && jint(t, "requests") == 4);
    CHECK(t && jint(t, "cost_nano") == 310);
    CHECK_STR(cJSON_GetObjectItem(t, "cost_usd")->valuestring, "0.000000310");
    CHECK_STR(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(q, "data"), 0), "day")->valuestring,
              "2023-11-14");
    cJSON_Delete(q);
    CHECK(cp_usage_query_json(s, "ws_nope", 0, INT64_MAX, CP_USAGE_GROUP_NONE, &q, err, sizeof(err)) == 1);
    CHECK(problems(s) == 0);
}

static int usage_exists(cp_store_t *s, const char *id)
{
    char err[256];
    return cp_store_exists(s, "SELECT 1 FROM usage WHERE id = ?1", id, err, sizeof(err));
}

static int64_t one_int(cp_store_t *s, const char *sql, const char *arg)
{
    sqlite3_stmt *st;
    int64_t v = -1;
    if (sqlite3_prepare_v2(cp_store_db(s), sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int64_t key_spent(cp_store_t *s, const char *key)
{
    return one_int(s, "SELECT COALESCE(SUM(spent_nano), 0) FROM key_spend WHERE key_id = ?1", key);
}

static int64_t daily_cost(cp_store_t *s, const char *ws)
{
    return one_int(s, "SELECT COALESCE(SUM(cost_nano), 0) FROM usage_daily WHERE workspace_id = ?1", ws);
}

/* Group commit: five batches in one transaction — applied, refused after writing (the group runs
 * again without it), applied, refused before writing, all duplicates. */
static void test_usage_group(cp_store_t *s)
{
    char sql[256];
    int64_t a0 = balance(s, "ws_a"), b0 = balance(s, "ws_b");
    /* ws_a one debit away from an int64 overflow (restored below) */
    snprintf(sql, sizeof(sql), "UPDATE balances SET balance_nano = %lld WHERE workspace_id = 'ws_a'",
             (long long)(INT64_MIN + 50));
    CHECK(exec(s, sql) == 0);
    Switchyard__UsageRecord *ra[2] = {rec("g1", "ws_b", 10), rec("g2", "ws_b", 20)};
    Switchyard__UsageRecord *rb[2] = {rec("g3", "ws_b", 7), rec("g4", "ws_a", 100)};
    Switchyard__UsageRecord *rc[1] = {rec("g5", "ws_b", 30)};
    Switchyard__UsageRecord *rd[1] = {rec("g6", "ws_nope", 1)};
    Switchyard__UsageBatch b[5];
    Switchyard__UsageRecord **recs[5] = {ra, rb, rc, rd, ra};
    size_t n[5] = {2, 2, 1, 1, 2}, lens[5] = {100, 100, 100, 100, 100};
    const Switchyard__UsageBatch *pb[5];
    for (int i = 0; i < 5; i++) {
        switchyard__usage_batch__init(&b[i]);
        b[i].batch_id = (char *)"g";
        b[i].node_id = (char *)"dp-1";
        b[i].records = recs[i];
        b[i].n_records = n[i];
        pb[i] = &b[i];
    }
    cp_usage_result_t r[5];
    uint64_t v = 0;
    int64_t k0 = key_spent(s, "key_1"), d0 = daily_cost(s, "ws_b");
    CHECK(cp_usage_ingest_group(s, 5, pb, lens, 8, r, &v) == 0);
    /* key spend and the rollup are added once for the group: the applied batches' records, not
     * the refused batch's, not the duplicates' */
    CHECK(key_spent(s, "key_1") == k0 + 60);
    CHECK(daily_cost(s, "ws_b") == d0 + 60);
    CHECK(r[0].error[0] == '\0' && r[0].applied == 2 && r[0].duplicates == 0);
    CHECK(r[1].error[0] != '\0' && !r[1].retry && r[1].bad_record == 1 &&
          strcmp(r[1].param, "cost_nano") == 0);
    CHECK(r[2].error[0] == '\0' && r[2].applied == 1);
    CHECK(r[3].error[0] != '\0' && !r[3].retry && r[3].bad_record == 0 &&
          strcmp(r[3].param, "workspace") == 0);
    CHECK(r[4].error[0] == '\0' && r[4].applied == 0 && r[4].duplicates == 2);
    CHECK(balance(s, "ws_b") == b0 - 60);
    CHECK(balance(s, "ws_a") == INT64_MIN + 50);
    CHECK(usage_exists(s, "g1") == 1 && usage_exists(s, "g5") == 1);
    CHECK(usage_exists(s, "g3") == 0 && usage_exists(s, "g4") == 0); /* nothing of the refused batch */
    snprintf(sql, sizeof(sql), "UPDATE balances SET balance_nano = %lld WHERE workspace_id = 'ws_a'",
             (long long)a0);
    CHECK(exec(s, sql) == 0);
    CHECK(problems(s) == 0);
}

static cp_stripe_ev_rc_t event(cp_store_t *s, const char *json, cp_stripe_ev_result_t *r)
{
    char err[256];
    return cp_stripe_handle_event(s, json, strlen(json), 9, r, err, sizeof(err));
}

static void test_stripe_events(cp_store_t *s)
{
    cp_stripe_ev_result_t r;
    int64_t b0 = balance(s, "ws_b");
    const char *paid =
        "{\"id\":\"evt_c1\",\"type\":\"checkout.session.completed\",\"data\":{\"object\":{"
        "\"id\":\"cs_1\",\"payment_status\":\"paid\",\"amount_total\":1250,\"currency\":\"usd\","
        "\"client_reference_id\":\"ws_b\",\"payment_intent\":\"pi_1\"}}}";
    CHECK(event(s, paid, &r) == CP_STRIPE_EV_APPLIED && strcmp(r.outcome, "credited") == 0);
    CHECK(balance(s, "ws_b") == b0 + 1250 * CP_STRIPE_NANO_PER_CENT);
    CHECK(event(s, paid, &r) == CP_STRIPE_EV_REPLAY);
    /* the same session through the async path: credited once */
    const char *async =
        "{\"id\":\"evt_c2\",\"type\":\"checkout.session.async_payment_succeeded\",\"data\":{\"object\":{"
        "\"id\":\"cs_1\",\"payment_status\":\"paid\",\"amount_total\":1250,\"currency\":\"usd\","
        "\"client_reference_id\":\"ws_b\"}}}";
    CHECK(event(s, async, &r) == CP_STRIPE_EV_IGNORED && strcmp(r.outcome, "already_credited") == 0);
    CHECK(balance(s, "ws_b") == b0 + 1250 * CP_STRIPE_NANO_PER_CENT);
    /* refunds: metadata-less charge found through the payment intent; deltas once */
    const char *rf1 = "{\"id\":\"evt_r1\",\"type\":\"charge.refunded\",\"data\":{\"object\":{\"id\":\"ch_1\","
                      "\"amount_refunded\":250,\"currency\":\"usd\",\"payment_intent\":\"pi_1\"}}}";
    const char *rf2 = "{\"id\":\"evt_r2\",\"type\":\"charge.refunded\",\"data\":{\"object\":{\"id\":\"ch_1\","
                      "\"amount_refunded\":1000,\"currency\":\"usd\",\"payment_intent\":\"pi_1\"}}}";
    CHECK(event(s, rf1, &r) == CP_STRIPE_EV_APPLIED && r.amount_nano == -250 * CP_STRIPE_NANO_PER_CENT);
    CHECK(event(s, rf1, &r) == CP_STRIPE_EV_REPLAY);
    CHECK(event(s, rf2, &r) == CP_STRIPE_EV_APPLIED && r.amount_nano == -750 * CP_STRIPE_NANO_PER_CENT);
    CHECK(balance(s, "ws_b") == b0 + 250 * CP_STRIPE_NANO_PER_CENT);
    const char *unknown =
        "{\"id\":\"evt_u\",\"type\":\"checkout.session.completed\",\"data\":{\"object\":{"
        "\"id\":\"cs_2\",\"payment_status\":\"paid\",\"amount_total\":100,\"currency\":\"usd\","
        "\"client_reference_id\":\"ws_nope\"}}}";
    CHECK(event(s, unknown, &r) == CP_STRIPE_EV_IGNORED && strcmp(r.outcome, "unknown_workspace") == 0);
    const char *eur = "{\"id\":\"evt_e\",\"type\":\"checkout.session.completed\",\"data\":{\"object\":{"
                      "\"id\":\"cs_3\",\"payment_status\":\"paid\",\"amount_total\":100,\"currency\":\"eur\","
                      "\"client_reference_id\":\"ws_b\"}}}";
    CHECK(event(s, eur, &r) == CP_STRIPE_EV_IGNORED && strcmp(r.outcome, "currency") == 0);
    CHECK(event(s, "{\"id\":\"evt_x\",\"type\":\"invoice.paid\",\"data\":{\"object\":{}}}", &r) ==
          CP_STRIPE_EV_IGNORED);
    CHECK(event(s, "{\"id\":\"evt_y\"}", &r) == CP_STRIPE_EV_INVALID);
    CHECK(event(s, "[1,2", &r) == CP_STRIPE_EV_INVALID);
    const char *frac =
        "{\"id\":\"evt_f\",\"type\":\"checkout.session.completed\",\"data\":{\"object\":{"
        "\"id\":\"cs_4\",\"payment_status\":\"paid\",\"amount_total\":1.5,\"currency\":\"usd\","
        "\"client_reference_id\":\"ws_b\"}}}";
    CHECK(event(s, frac, &r) == CP_STRIPE_EV_INVALID);
    CHECK(balance(s, "ws_b") == b0 + 250 * CP_STRIPE_NANO_PER_CENT);
    CHECK(problems(s) == 0);
}

/* Migration 16 (the ledger rebuilt with its CHECKs as ORs, no IN lists): an insert builds no
 * temporary b-tree; run again over a ledger with entries (user_version set back one), it keeps
 * every entry, id and the AUTOINCREMENT sequence, and the rules still hold: signs by kind, known
 * kinds, unique references, append-only, the ledger check clean. */
static cp_store_t *test_ledger_rebuild(cp_store_t *s)
{
    char err[256], sql[128];
    sqlite3_stmt *st;
    int ephemeral = 0;
    CHECK(sqlite3_prepare_v2(
              cp_store_db(s),
              "EXPLAIN INSERT INTO ledger (workspace_id, kind, amount_nano, balance_after_nano, ref,"
              " note, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
              -1, &st, NULL) == SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW)
        ephemeral += strcmp((const char *)sqlite3_column_text(st, 1), "OpenEphemeral") == 0;
    sqlite3_finalize(st);
    CHECK(ephemeral == 0);

    int64_t n0 = one_int(s, "SELECT COUNT(*) FROM ledger WHERE ?1 IS NOT NULL", "x");
    int64_t sum0 = one_int(s, "SELECT SUM(amount_nano) + SUM(id) FROM ledger WHERE ?1 IS NOT NULL", "x");
    int64_t seq0 = one_int(s, "SELECT seq FROM sqlite_sequence WHERE name = ?1", "ledger");
    CHECK(n0 > 0 && seq0 >= n0);
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", cp_store_schema_latest() - 1);
    CHECK(exec(s, sql) == 0);
    cp_store_close(s);
    s = open_store();
    CHECK(s != NULL);
    if (s == NULL)
        return NULL;
    CHECK(cp_store_schema_version(s, err, sizeof(err)) == cp_store_schema_latest());
    CHECK(one_int(s, "SELECT COUNT(*) FROM ledger WHERE ?1 IS NOT NULL", "x") == n0);
    CHECK(one_int(s, "SELECT SUM(amount_nano) + SUM(id) FROM ledger WHERE ?1 IS NOT NULL", "x") == sum0);
    CHECK(one_int(s, "SELECT seq FROM sqlite_sequence WHERE name = ?1", "ledger") == seq0);
    CHECK(one_int(s, "SELECT COUNT(*) FROM sqlite_sequence WHERE name = ?1", "ledger_new") == 0);
    CHECK(problems(s) == 0);
    cp_ledger_entry_t e;
    CHECK(cp_ledger_grant(s, "ws_a", 1, "after-rebuild", "", 9, &e, NULL, err, sizeof(err)) == CP_LEDGER_OK);
    CHECK(e.id == seq0 + 1);
    /* the schema's rules, whatever the code does */
    CHECK(exec(s, "INSERT INTO ledger (workspace_id, kind, amount_nano, balance_after_nano, ref, created_ms)"
                  " VALUES ('ws_a', 'debit', 5, 0, 'r16:1', 0)") != 0); /* a positive debit */
    CHECK(exec(s, "INSERT INTO ledger (workspace_id, kind, amount_nano, balance_after_nano, ref, created_ms)"
                  " VALUES ('ws_a', 'grant', -5, 0, 'r16:2', 0)") != 0); /* a negative grant */
    CHECK(exec(s, "INSERT INTO ledger (workspace_id, kind, amount_nano, balance_after_nano, ref, created_ms)"
                  " VALUES ('ws_a', 'gift', 5, 0, 'r16:3', 0)") != 0); /* no such kind */
    CHECK(exec(s, "INSERT INTO ledger (workspace_id, kind, amount_nano, balance_after_nano, ref, created_ms)"
                  " VALUES ('ws_a', 'grant', 5, 0, 'grant:after-rebuild', 0)") != 0); /* reference used */
    CHECK(exec(s, "UPDATE ledger SET amount_nano = 1") != 0);
    CHECK(exec(s, "DELETE FROM ledger") != 0);
    CHECK(one_int(s, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = ?1",
                  "ledger_workspace") == 1);
    CHECK(problems(s) == 0);
    return s;
}

int main(void)
{
    test_signature();
    if (mkdtemp(dir) == NULL)
        return 1;
    snprintf(db_path, sizeof(db_path), "%s/ledger.db", dir);
    cp_store_t *s = open_store();
    CHECK(s != NULL);
    if (s != NULL) {
        test_ledger(s);
        test_usage(s);
        test_usage_group(s);
        test_stripe_events(s);
        s = test_ledger_rebuild(s);
        cp_store_close(s);
    }
    char p[PATH_MAX];
    const char *sfx[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s%s", db_path, sfx[i]);
        unlink(p);
    }
    rmdir(dir);
    SY_TEST_MAIN_END();
}
