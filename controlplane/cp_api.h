/*
 * cp_api — the control plane's admin HTTP API (HTTP/1.1, h2o, one event-loop thread).
 *
 *   GET  /healthz                          no auth
 *   GET  /metrics                          no auth: Prometheus text (cp_metrics.h)
 *   GET  /api/snapshot/version
 *   GET  /api/workspaces                   POST /api/workspaces {"id","name"}
 *   POST /api/workspaces/{id}/disable
 *   GET  /api/workspaces/{id}/keys         POST /api/workspaces/{id}/keys
 * {"name","allowed_models","expires_at"} POST /api/keys/{id}/revoke             POST /api/keys/{id}/rotate
 * {"grace_seconds"} (0..604800) GET  /api/keys/{id}                    PATCH /api/keys/{id}
 * {"name","allowed_models","budget_usd","rpm","tpm","expires_at"} GET  /api/providers (health and last probe
 * included) GET  /api/models                       GET|PATCH /api/models/{id} GET  /api/catalog/status the
 * file vs the last import, fields edited since POST /api/catalog/import[?force=true&dry_run=true]
 * {"force","dry_run","catalog"}  (re-)import POST /api/catalog/reload[?force=true]  the same import from the
 * configured file GET  /api/aliases                      GET|PUT {"model"}|DELETE /api/aliases/{alias} GET
 * /api/nodes GET  /api/workspaces/{id}/balance      GET /api/workspaces/{id}/ledger?limit=&before= POST
 * /api/workspaces/{id}/credits {"amount_usd","reference","note"}   (admin grant, idempotent) GET
 * /api/workspaces/{id}/usage?from=&to=&group_by=day|model|key POST /api/workspaces/{id}/checkout
 * {"amount_usd","success_url","cancel_url"} (Stripe Checkout) GET  /api/ledger/check                 the
 * ledger invariants (cp_ledger_check) POST /stripe/webhook                   NOT under the operator token:
 * Stripe-Signature instead
 *
 * Every /api/ request needs `Authorization: Bearer <operator token>`, compared in constant time
 * over the SHA-256 of both sides. Every error is the OpenAI shape
 * {"error":{"message","type","code","param"}} with a code from common/sy_error.h.
 *
 * A new API key (`sk-sy-` + 64 hex digits from RAND_bytes) appears only in the response that
 * creates it; the store keeps its SHA-256 and a display prefix. A rotation's new secret likewise
 * appears only in the rotate response.
 *
 * cp_api_run blocks: it blocks SIGTERM/SIGINT/SIGHUP in the calling thread (the loop thread
 * inherits the mask), runs the loop on its own thread, re-imports the catalog on SIGHUP (on a
 * store handle of its own) and returns 0 after SIGTERM or SIGINT,
 * or -1 if it could not start. The store handle is used only from the loop thread while
 * cp_api_run runs.
 */
#ifndef CP_API_H
#define CP_API_H

#define CP_API_DEFAULT_MAX_BODY (64 * 1024) /* the admin API's request bodies, unless configured */

#include <stdint.h>

#include "cp_store.h"

typedef struct {
    const char *host;
    uint16_t port;         /* 0 = any free port */
    const char *port_file; /* the bound port is written here once listening (may be NULL) */
    const char *token;     /* operator token, non-empty */
    size_t max_body_bytes; /* request bodies over this get 413 (0: CP_API_DEFAULT_MAX_BODY) */
    cp_store_t *store;
    const char *catalog_path; /* re-read by POST /api/catalog/reload and SIGHUP (may be NULL) */
    const char *db_path;      /* for SIGHUP's own store handle */
    /* Stripe (docs/billing.md). Borrowed strings that must outlive cp_api_run; never logged. */
    const char *stripe_webhook_secret; /* NULL/"": POST /stripe/webhook answers 503 */
    const char *stripe_secret_key;     /* NULL/"": POST .../checkout answers 503 */
    const char *stripe_api_base;       /* e.g. https://api.stripe.com */
    long stripe_timeout_ms;            /* bound on the blocking checkout call (default 10000) */
    /* Dashboard accounts (docs/dashboard.md). */
    int signup_open;     /* 1: anyone may sign up; 0: only with an invitation */
    long session_ttl_s;  /* session lifetime (0: 43200) */
    int cookie_secure;   /* the session cookie is marked Secure */
    const char *web_dir;        /* the dashboard's pages (cp_web.h), or NULL */
    const char *public_api_url; /* the data plane's /v1 base URL as users reach it (GET /api/config), or NULL */
} cp_api_opts_t;

int cp_api_run(const cp_api_opts_t *o);

#endif
