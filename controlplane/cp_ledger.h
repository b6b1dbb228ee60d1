/*
 * cp_ledger — the append-only credit ledger and the balances it keeps (docs/billing.md).
 *
 * An entry is (workspace, kind, signed nano-USD amount, balance after it, unique external
 * reference, note, time). Credits (Stripe) and grants (admin) are positive; debits (usage),
 * refunds and disputes are zero or negative. The schema (migration 3) enforces the signs, the
 * uniqueness of the reference and — with triggers — that entries are never updated or deleted.
 * A workspace's balance (table `balances`) changes only together with an entry, in the same
 * transaction, and may go negative (usage is metered after the fact).
 *
 * Writers: cp_ledger_append (and _bare) run INSIDE a write transaction the caller
 * opened with cp_store_begin_write (and commits with cp_store_commit_write, which bumps the
 * snapshot version: balances travel to the data planes). cp_ledger_grant is a whole transaction
 * of its own. Prepared statements only, cached on the store handle (cp_store_cached).
 *
 * Readers allocate cJSON the caller frees. Money in JSON: `*_nano` members are exact integers
 * (emitted as raw JSON numbers, exact even beyond 2^53), `*_usd` members exact decimal strings.
 *
 * Thread-safety: uses the store's connection; the same rules as cp_store (one thread per handle).
 */
#ifndef CP_LEDGER_H
#define CP_LEDGER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "cp_store.h"
#include "sy_money.h"

typedef enum { CP_LEDGER_CREDIT = 0, CP_LEDGER_GRANT, CP_LEDGER_DEBIT, CP_LEDGER_REFUND, CP_LEDGER_DISPUTE } cp_ledger_kind_t;

typedef enum {
    CP_LEDGER_OK = 0,
    CP_LEDGER_DUPLICATE,    /* an entry with this reference exists: nothing written, *out describes it */
    CP_LEDGER_NO_WORKSPACE, /* unknown workspace: nothing written */
    CP_LEDGER_INVALID,      /* amount of the wrong sign, overflow, bad reference: nothing written */
    CP_LEDGER_ERROR         /* store failure (message in err) */
} cp_ledger_rc_t;

/* What an append wrote (or, for CP_LEDGER_DUPLICATE, the entry already there). Strings are
 * copies owned by the struct. */
typedef struct {
    int64_t id;
    char workspace_id[129];
    cp_ledger_kind_t kind;
    sy_nano_t amount_nano;
    sy_nano_t balance_after_nano;
} cp_ledger_entry_t;

const char *cp_ledger_kind_name(cp_ledger_kind_t k);

/* Appends one entry and moves the workspace's balance, inside the caller's open write
 * transaction. `ref` is the unique external reference (1..200 bytes), `note` may be "" (at most
 * 512 bytes). On anything but CP_LEDGER_OK the transaction is left as it was before the call
 * (the caller decides whether to roll back). */
cp_ledger_rc_t cp_ledger_append(cp_store_t *s, const char *workspace_id, cp_ledger_kind_t kind, sy_nano_t amount,
                                const char *ref, const char *note, int64_t now_ms, cp_ledger_entry_t *out, char *err,
                                size_t errlen);
/* The same append without the savepoint — for a caller that rolls its WHOLE transaction back on
 * any failure (usage ingestion: a savepoint costs a copy of every page it touches). On anything
 * but CP_LEDGER_OK the transaction may hold half an append and must be rolled back. */
cp_ledger_rc_t cp_ledger_append_bare(cp_store_t *s, const char *workspace_id, cp_ledger_kind_t kind, sy_nano_t amount,
                                     const char *ref, const char *note, int64_t now_ms, cp_ledger_entry_t *out,
                                     char *err, size_t errlen);

/* An admin grant as one transaction: ref "grant:<reference>". A reference used before with the
 * same workspace and amount is CP_LEDGER_DUPLICATE (nothing written, *out = the original); with a
 * different workspace or amount it is CP_LEDGER_INVALID. *version (may be NULL) gets the new
 * snapshot version on CP_LEDGER_OK. */
cp_ledger_rc_t cp_ledger_grant(cp_store_t *s, const char *workspace_id, sy_nano_t amount, const char *reference,
                               const char *note, int64_t now_ms, cp_ledger_entry_t *out, uint64_t *version, char *err,
                               size_t errlen);

/* The balance of a workspace: {"workspace","balance_nano","balance_usd","entries","last_entry"}.
 * Unknown workspace: CP_LEDGER_NO_WORKSPACE. */
cp_ledger_rc_t cp_ledger_balance_json(cp_store_t *s, const char *workspace_id, cJSON **out, char *err, size_t errlen);

/* One page of a workspace's entries, newest first: ids below `before` (0 = from the newest),
 * at most `limit` (1..500). {"object":"list","data":[entry...],"has_more","next_before"}. */
cp_ledger_rc_t cp_ledger_list_json(cp_store_t *s, const char *workspace_id, int limit, int64_t before, cJSON **out,
                                   char *err, size_t errlen);

/* An entry as JSON (the shape of the list's items). */
cJSON *cp_ledger_entry_json(const cp_ledger_entry_t *e);

/* Adds `name` to `obj` as an exact integer (a raw JSON number). */
void cp_ledger_add_int(cJSON *obj, const char *name, int64_t v);
/* A cursor-paged list, {"object":"list","data":data,"has_more","next_before": last or null};
 * takes data. Shared by the ledger and the request log. */
cJSON *cp_ledger_page(cJSON *data, int more, int64_t last);
/* Adds `name` as the exact decimal USD string of nano-USD `v`. */
void cp_ledger_add_usd(cJSON *obj, const char *name, sy_nano_t v);

/* The ledger invariants, over the whole database, in one read transaction:
 *   1. every workspace's stored balance equals the sum of its entries (and one without entries
 *      has balance 0);
 *   2. each entry's balance_after equals the previous entry's (of that workspace, by id) plus its
 *      amount, starting from 0, and the last one equals the stored balance;
 *   3. no entry and no balance row without its workspace;
 *   4. every usage record has its debit `usage:<id>` of -cost_nano in the same workspace.
 * Returns the number of problems (0 = clean), each described as one line on `out` (may be
 * NULL) and, when `problems` is not NULL, appended to it as strings; -1 with err on a store
 * failure. Call with no transaction open. */
int cp_ledger_check(cp_store_t *s, FILE *out, cJSON *problems, char *err, size_t errlen);

#endif
