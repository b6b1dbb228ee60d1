/*
 * cp_stripe — Stripe, both directions (docs/billing.md):
 *
 *  - the webhook's signature check (`Stripe-Signature: t=<unix>,v1=<hex>[,v1=...][,v0=...]`):
 *    HMAC-SHA256(secret, "<t>.<raw body>") compared in constant time with EVERY v1 entry (any
 *    match passes: Stripe sends several while a secret is being rolled), and t within
 *    CP_STRIPE_TOLERANCE_S of now in BOTH directions (Stripe's libraries check only age; a
 *    timestamp from the future is refused too, so a clock-skewed or forged t cannot extend a
 *    captured request's life);
 *  - the verified event's effect on the ledger, in one transaction with the event id
 *    (`stripe_events`), so a replayed event changes nothing;
 *  - creating a Checkout Session through the Stripe API (libcurl, cp_stripe_checkout.c).
 *
 * The header and the body are bytes from outside: the parsers here are pure, bounded, and
 * fuzzed (tests/fuzz/fuzz_stripe_sig.c). The secrets are passed in by the caller (from the
 * environment) and never logged, stored or echoed.
 *
 * Thread-safety: the signature functions are pure. cp_stripe_handle_event uses the store's
 * connection (cp_store rules). cp_stripe_checkout_create blocks for at most the API timeout and
 * may be called from any thread (call curl_global_init first).
 */
#ifndef CP_STRIPE_H
#define CP_STRIPE_H

#include <stddef.h>
#include <stdint.h>

#include "cp_store.h"

#define CP_STRIPE_TOLERANCE_S 300
#define CP_STRIPE_MAX_BODY (256 * 1024) /* webhook bodies over this are refused (413) */
#define CP_STRIPE_MAX_HEADER 4096
#define CP_STRIPE_MAX_V1 8
/* Stripe amounts are in the smallest currency unit; for USD cents. 1 cent = 10^7 nano-USD. */
#define CP_STRIPE_NANO_PER_CENT INT64_C(10000000)
/* The largest amount accepted from Stripe: one billion USD, far from int64 overflow. */
#define CP_STRIPE_MAX_CENTS INT64_C(100000000000)

typedef struct {
    int64_t t;
    size_t nv1;
    uint8_t v1[CP_STRIPE_MAX_V1][32];
} cp_stripe_sig_t;

/* Parses a Stripe-Signature header of `len` bytes (not NUL-terminated). Elements are
 * `key=value` separated by ','; exactly one `t` (1..12 decimal digits), `v1` values of exactly 64
 * hex digits (at most CP_STRIPE_MAX_V1), other keys (v0, ...) ignored. Returns 0, or -1 when
 * malformed (empty element, no '=', duplicate or bad t, bad v1, too long, too many v1). */
int cp_stripe_parse_sig(const char *h, size_t len, cp_stripe_sig_t *out);

typedef enum {
    CP_STRIPE_SIG_OK = 0,
    CP_STRIPE_SIG_MALFORMED, /* absent, unparsable */
    CP_STRIPE_SIG_NO_V1,     /* parsed, but no v1 signature */
    CP_STRIPE_SIG_STALE,     /* t further than the tolerance from now */
    CP_STRIPE_SIG_MISMATCH   /* no v1 matches */
} cp_stripe_sig_rc_t;

const char *cp_stripe_sig_reason(cp_stripe_sig_rc_t rc);

/* The whole check. `header` may be NULL (absent: MALFORMED). */
cp_stripe_sig_rc_t cp_stripe_verify(const char *header, size_t hlen, const void *body, size_t blen,
                                    const char *secret, int64_t now_s, int64_t tolerance_s);

/* The v1 signature of (t, body) under `secret` as 64 lowercase hex digits + NUL (for tests). */
int cp_stripe_sign(const char *secret, int64_t t, const void *body, size_t blen, char out[65]);

typedef enum {
    CP_STRIPE_EV_APPLIED = 0, /* the ledger changed (credit or refund) */
    CP_STRIPE_EV_IGNORED,     /* recorded without a ledger effect (see outcome) */
    CP_STRIPE_EV_REPLAY,      /* the event id was seen before: nothing changed */
    CP_STRIPE_EV_INVALID,     /* not a Stripe event we can read: nothing written (400) */
    CP_STRIPE_EV_ERROR        /* store failure: nothing written (500, Stripe retries) */
} cp_stripe_ev_rc_t;

typedef struct {
    char event_id[256];
    char type[128];
    const char *outcome; /* static: "credited", "refunded", "ignored_type", "unpaid", "currency",
                          * "unknown_workspace", "already_credited", "no_new_refund", "replay" */
    char workspace[129];
    int64_t amount_nano; /* the ledger amount written (signed), 0 when none */
    uint64_t version;    /* the new snapshot version when something was committed */
} cp_stripe_ev_result_t;

/* Applies one VERIFIED event body (see docs/billing.md for the policy per type). */
cp_stripe_ev_rc_t cp_stripe_handle_event(cp_store_t *s, const char *body, size_t len, int64_t now_ms,
                                         cp_stripe_ev_result_t *res, char *err, size_t errlen);

/* ------------------------------------------------------------------ Checkout Session */

typedef struct {
    const char *api_base;   /* e.g. https://api.stripe.com (no trailing /v1) */
    const char *secret_key; /* sk_... ; never logged */
    long timeout_ms;        /* whole request */
} cp_stripe_api_t;

typedef enum {
    CP_STRIPE_CO_OK = 0,
    CP_STRIPE_CO_UPSTREAM, /* Stripe answered an error or garbage, or could not be reached (502) */
    CP_STRIPE_CO_TIMEOUT,  /* no answer within timeout_ms (504) */
    CP_STRIPE_CO_ERROR     /* local failure (500) */
} cp_stripe_co_rc_t;

/* POSTs a form to {api_base}/v1/checkout/sessions (mode=payment, one USD line item of `cents`,
 * client_reference_id and metadata[workspace_id] = workspace, payment_intent_data metadata too so
 * refunds find the workspace) and returns the session's id and url. `err` gets a message safe to
 * show to the operator (no key, no upstream body). */
cp_stripe_co_rc_t cp_stripe_checkout_create(const cp_stripe_api_t *api, const char *workspace, int64_t cents,
                                            const char *success_url, const char *cancel_url, char *id, size_t idlen,
                                            char *url, size_t urllen, char *err, size_t errlen);

#endif
