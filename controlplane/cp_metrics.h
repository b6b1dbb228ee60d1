/*
 * cp_metrics — the control plane's Prometheus counters and `GET /metrics` text
 * (docs/controlplane.md, "Metrics").
 *
 * Every series is a process-wide counter, gauge or histogram in static storage (no allocation
 * when counting; nothing to create or destroy). Label values come only from fixed tables
 * here — route templates, method names, outcome words, ledger kinds — or from HTTP status
 * codes (100..599): never from a path, an id, a key, a workspace or any other text from
 * outside, so the label cardinality is bounded by this file.
 *
 * Threading: every counting function may be called from any thread (the API's loop thread,
 * the bus thread, the SIGHUP reloader): the counters are C11 atomics (relaxed; a scrape sees
 * each counter's recent value, not one instant of all of them). The ledger counter is the
 * exception that proves the rule: an entry is *staged* in the calling thread's thread-local
 * tally when cp_ledger_append writes it and counted only when that thread's write transaction
 * commits (cp_store calls cp_metrics_txn_end), so a rolled-back entry is never counted.
 * cp_metrics_render may be called from any thread and returns malloc'ed text the caller frees.
 */
#ifndef CP_METRICS_H
#define CP_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* The route template of a normalized request path (no query): an index into the fixed table
 * of templates (`/api/keys/{id}`, …); paths that match none share the template "other". */
int cp_metrics_route(const char *path, size_t len);
/* One answered HTTP request: route index from cp_metrics_route, the request's method (any bytes:
 * mapped to GET, POST, PATCH or OTHER), the status sent. */
void cp_metrics_http(int route, const char *method, size_t mlen, int status);

/* One POST /stripe/webhook: `outcome` is a word from cp_stripe (cp_stripe_ev_result_t.outcome:
 * credited, refunded, replay, …) or one of the API's own refusals: "not_configured",
 * "too_large", "signature_malformed", "signature_no_v1", "signature_stale",
 * "signature_mismatch", "store_error". A word not in the table counts as "other". */
void cp_metrics_stripe(const char *outcome);

/* One usage batch from the bus: committed (applied/duplicate records counted), or refused —
 * `retry` 1 for a store failure (the node resends), 0 for a permanent refusal. */
void cp_metrics_usage_batch(int committed, int retry, uint32_t applied, uint32_t duplicates);

/* cp_ledger_append wrote an entry of kind `kind` (cp_ledger_kind_t) in the calling thread's
 * open write transaction: staged until that transaction ends. */
void cp_metrics_ledger_staged(int kind);
/* The calling thread's write transaction ended (cp_store): committed → the staged entries are
 * counted; rolled back → they are dropped. */
void cp_metrics_txn_end(int committed);

/* One snapshot build by the bus: ok or failed, and how long it took (monotonic ns). */
void cp_metrics_snapshot_build(int ok, uint64_t ns);
/* One version built by patching the previous one (cp_delta_patch). */
void cp_metrics_snapshot_patched(void);
/* One fetch answered: with the whole snapshot (0), "unchanged" (1) or a delta (2). */
void cp_metrics_bus_fetch(int answer);
/* One version published on PUB after a change (cp_bus): with its delta pushed (1) or as the
 * plain notice only (0). */
void cp_metrics_bus_publish(int delta);
/* One heartbeat or usage batch refused by bus authentication (cp_bus_set_tls). */
void cp_metrics_bus_refused(void);
/* One heartbeat received: recorded (1) or refused (0). */
void cp_metrics_heartbeat(int recorded);
/* The live-node count the bus last computed (gauge). */
void cp_metrics_live_nodes(int64_t n);

/* The whole exposition (text format 0.0.4). `snapshot_version` is shown as a gauge. NULL when
 * out of memory; otherwise malloc'ed, *len bytes. */
char *cp_metrics_render(uint64_t snapshot_version, size_t *len);

#endif
