/*
 * cp_check — see cp_check.h.
 */
#include "cp_check.h"

#include <stdio.h>
#include <string.h>

#include "cp_ledger.h"

/* integrity_check answers one row "ok" when clean, else one row per problem (up to 100). */
static int run_integrity(cp_store_t *s, FILE *out, int *problems, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    if (cp_store_prepare(s, "PRAGMA integrity_check", &st, err, errlen) != 0)
        return -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *msg = sqlite3_column_text(st, 0);
        if (msg != NULL && strcmp((const char *)msg, "ok") == 0)
            continue;
        fprintf(out, "integrity_check: %s\n", msg != NULL ? (const char *)msg : "(null)");
        (*problems)++;
    }
    if (rc != SQLITE_DONE) {
        snprintf(err, errlen, "integrity_check: %s", sqlite3_errmsg(cp_store_db(s)));
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_finalize(st);
    return 0;
}

/* foreign_key_check answers no rows when clean, else (table, rowid, parent, fkid) per violation. */
static int run_fk(cp_store_t *s, FILE *out, int *problems, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    if (cp_store_prepare(s, "PRAGMA foreign_key_check", &st, err, errlen) != 0)
        return -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *table = sqlite3_column_text(st, 0);
        const unsigned char *parent = sqlite3_column_text(st, 2);
        if (sqlite3_column_type(st, 1) == SQLITE_NULL)
            fprintf(out, "foreign_key_check: table=%s rowid=NULL parent=%s fkid=%d\n",
                    table != NULL ? (const char *)table : "?", parent != NULL ? (const char *)parent : "?",
                    sqlite3_column_int(st, 3));
        else
            fprintf(out, "foreign_key_check: table=%s rowid=%lld parent=%s fkid=%d\n",
                    table != NULL ? (const char *)table : "?", (long long)sqlite3_column_int64(st, 1),
                    parent != NULL ? (const char *)parent : "?", sqlite3_column_int(st, 3));
        (*problems)++;
    }
    if (rc != SQLITE_DONE) {
        snprintf(err, errlen, "foreign_key_check: %s", sqlite3_errmsg(cp_store_db(s)));
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_finalize(st);
    return 0;
}

int cp_check_db(cp_store_t *s, FILE *out, char *err, size_t errlen)
{
    int problems = 0;
    if (run_integrity(s, out, &problems, err, errlen) != 0)
        return -1;
    if (run_fk(s, out, &problems, err, errlen) != 0)
        return -1;
    /* the money invariants (cp_ledger.h): balances equal their entries, the balance_after chain
     * holds, nothing is orphaned, every usage record has its debit */
    int ledger = cp_ledger_check(s, out, NULL, err, errlen);
    if (ledger < 0)
        return -1;
    problems += ledger;
    if (problems == 0)
        fprintf(out, "integrity ok\n");
    else
        fprintf(out, "integrity problems: %d\n", problems);
    fflush(out);
    return problems == 0 ? 0 : 1;
}
