/*
 * cp_usage — usage records from the data planes: ingestion (the bus's `usage` request) and the
 * dashboard's usage/spend queries (docs/billing.md).
 *
 * Ingestion is all or nothing per batch: every record of a batch is validated first (format,
 * ranges, caps), then the write transaction checks the workspaces, inserts each record whose id
 * is new, appends ONE ledger debit per workspace for the batch's new records of that workspace
 * (`usage:<id of the first of them>`, -sum of their cost_nano; the others point at that record,
 * usage.debit_row), and commits. A record whose id is already stored is a duplicate and is
 * skipped (a batch resent after a lost ack is counted once). One invalid record refuses the
 * whole batch and nothing of it is written. A batch that contains only duplicates writes
 * nothing and does not bump the snapshot version. Several batches may share one transaction
 * (cp_usage_ingest_group: the bus's group commit): a batch refused after it wrote rolls the
 * transaction back and the group runs again without it, so a refused batch leaves the others
 * applied. Key spend and the daily rollup are added once per transaction.
 *
 * Thread-safety: uses the store's connection; the same rules as cp_store. The bus thread calls
 * cp_usage_ingest on its own handle, the API thread the queries on another.
 */
#ifndef CP_USAGE_H
#define CP_USAGE_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "bus.pb-c.h"
#include <sqlite3.h>

#include "cp_store.h"

enum {
    CP_USAGE_MAX_RECORDS = 1000,           /* per batch */
    CP_USAGE_MAX_BATCH_BYTES = 1024 * 1024 /* packed BusRequest bytes per batch */
};

typedef struct {
    uint32_t applied;    /* new records written (and debited) */
    uint32_t duplicates; /* records whose id was already stored */
    int bad_record;      /* index of the first invalid record, -1 = none / the batch as a whole */
    const char *param;   /* the offending field of that record (static string), or NULL */
    int retry;           /* on refusal: 1 = a store failure (sending again may work), 0 = permanent */
    int quiet;           /* committed without a version bump (no balance or budget ran out) */
    char error[256];     /* "" on success */
} cp_usage_result_t;

/* Validates and applies one batch (see above). `packed_len` is the size of the request it came
 * in, checked against CP_USAGE_MAX_BATCH_BYTES. Returns 0 when committed (or all duplicates),
 * -1 when refused (r->error says why; nothing written). A batch that exhausts a workspace
 * balance or a key budget is a versioned write (*version, may be NULL, gets the new version);
 * any other is committed without a bump (r->quiet = 1), and the caller refreshes the fleet's
 * balances later (cp_bus). */
/* Group commit: n batches (packed_len[i] each) in ONE write transaction, each applied whole or
 * refused on its own (results[i] as cp_usage_ingest's *r; results[i].error "" when applied or
 * all duplicates). One commit — versioned when any batch exhausted a balance or a key budget,
 * else quiet — and one fsync for all. If the transaction cannot begin or commit, every batch not
 * refused on its own gets a retry refusal and -1 is returned; else 0. Batches and their records
 * are borrowed for the call. */
int cp_usage_ingest_group(cp_store_t *s, size_t n, const Switchyard__UsageBatch *const *batches,
                          const size_t *packed_len, int64_t now_ms, cp_usage_result_t *results, uint64_t *version);
int cp_usage_ingest(cp_store_t *s, const Switchyard__UsageBatch *b, size_t packed_len, int64_t now_ms,
                    cp_usage_result_t *r, uint64_t *version);

typedef enum {
    CP_USAGE_GROUP_NONE = 0,
    CP_USAGE_GROUP_DAY,
    CP_USAGE_GROUP_MODEL,
    CP_USAGE_GROUP_KEY
} cp_usage_group_t;

/* Sums of a workspace's usage with from_ms <= created_ms < to_ms, grouped:
 *   {"workspace","from_ms","to_ms","group_by","data":[{"day"|"model"|"key_id", "requests",
 *    "errors","tokens_in","tokens_out","cost_nano","cost_usd"}...],"total":{...same sums}}
 * Days are UTC (YYYY-MM-DD). Returns 0; 1 for an unknown workspace (*out NULL); -1 with err. */
int cp_usage_query_json(cp_store_t *s, const char *workspace_id, int64_t from_ms, int64_t to_ms,
                        cp_usage_group_t g, cJSON **out, char *err, size_t errlen);

/* The workspace's usage records one by one (the request log: one record per upstream attempt),
 * newest first, `limit` (1..500) per page, `before` a cursor from a previous page's
 * "next_before" (0: from the newest):
 *   {"object":"list","data":[{"id","key_id","model","provider","outcome","tokens_in","tokens_out",
 *    "cache_read_tokens","cache_write_tokens","cost_nano","cost_usd","latency_ms","ttft_ms",
 *    "streamed","estimated","node","created_ms","received_ms","request_id","attempt","model_asked",
 *    "task","difficulty"}...],"has_more","next_before"}
 * `f` (may be NULL) keeps only the records of a key, a model, an outcome, a request, a period.
 * Returns 0; 1 for an unknown workspace (*out NULL); -1 with err. */
typedef struct {
    const char *key_id, *model, *outcome, *request_id; /* NULL: any */
    int64_t from_ms, to_ms;                            /* created_ms in [from, to) (0, INT64_MAX: any) */
} cp_usage_filter_t;
int cp_usage_records_json(cp_store_t *s, const char *workspace_id, int limit, int64_t before,
                          const cp_usage_filter_t *f, cJSON **out, char *err, size_t errlen);

/* Usage is kept per record (usage) and per UTC day (usage_daily, maintained with ingestion). */
#define CP_USAGE_DAY_MS INT64_C(86400000)
/* A period [from, to) split for reading: the whole UTC days [day_from, day_to) from the
 * per-day rollup, the records of the partial edges [from, raw1_to) and [raw2_from, to); when the
 * period holds no whole day, day_from == day_to and the records cover it all. */
typedef struct {
    int64_t raw1_to, raw2_from, day_from, day_to;
} cp_usage_split_t;
void cp_usage_split(int64_t from_ms, int64_t to_ms, cp_usage_split_t *sp);
/* Binds a period query's parameters: ?1 workspace, ?2 from, ?3 to, ?4 raw1_to, ?5 raw2_from,
 * ?6 day_from, ?7 day_to (cp_usage_split). */
void cp_usage_bind_period(sqlite3_stmt *st, const char *ws, int64_t from_ms, int64_t to_ms);
/* 1 when the client asked for a routing form ("auto", "strategy:...", "industry:..."). */
int cp_usage_routed(const char *model_asked);

#endif
