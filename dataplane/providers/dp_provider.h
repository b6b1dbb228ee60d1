/*
 * dp_provider — the provider seam: one ops table per dialect, the only code in the data plane
 * that knows a dialect's field names (docs/providers.md says how to add one).
 *
 * Two sides:
 *   - an UPSTREAM dialect (dp_upstream_ops_t, one per catalog provider `kind`) builds the
 *     request for a candidate model and reads what the provider answers: each streamed event
 *     and each whole answer becomes one dp_event_t, the gateway's canonical event;
 *   - an INBOUND dialect (dp_inbound_ops_t, one per client API the gateway serves) writes
 *     those events back in the client's wire format, and the final error event of a cut
 *     stream.
 * The relay (dp_relay.c), the meter (dp_meter.c) and the router act only on dp_event_t's
 * flags and numbers, never on a dialect's bytes.
 *
 * The fast path. When the client speaks the upstream's dialect (OpenAI client, OpenAI
 * server), an event carries `raw` — the provider's own bytes — and the inbound writer relays
 * them unchanged (a byte splice; only an event with usage the client asked for is re-printed,
 * to add `usage.cost`). The upstream reader then parses only what the gateway needs (usage,
 * errors; whether a held-back stream has content yet), never the whole stream. A translating
 * pair fills `parts` (text, thinking, tool-call deltas) and `finish`, and the inbound writer
 * encodes them.
 *
 * Lifetime: an event and everything it points to (raw, parts' strings) are valid only during
 * the call that passes it (the relay's SSE callback, or the finish of a non-streamed answer);
 * strings a reader makes live in the request arena (r->arena, inside sy_json_arena_begin/end
 * when cJSON allocates them). Ops tables are static and immutable.
 *
 * Threading: every op runs on the request's event-loop thread and must not block.
 */
#ifndef DP_PROVIDER_H
#define DP_PROVIDER_H

#include <stddef.h>
#include <stdint.h>

#include "sy_error.h"

typedef struct dp_req dp_req_t;
struct cJSON;
struct dp_buf;

/* Why the model stopped, in the gateway's words (each dialect maps its own). */
typedef enum {
    DP_FINISH_NONE = 0, /* not in this event */
    DP_FINISH_STOP,
    DP_FINISH_LENGTH,
    DP_FINISH_TOOL_CALLS,
    DP_FINISH_CONTENT_FILTER,
} dp_finish_t;

/* Token counts as the provider reported them. Cache counts are zero where a dialect has none. */
typedef struct {
    int64_t prompt_tokens, completion_tokens;
    int64_t cache_read_tokens, cache_write_tokens;
    int have; /* usage came from the provider */
} dp_usage_t;

#define DP_EVENT_MAX_PARTS 32 /* a whole answer: its text and up to 15 tool calls; more are dropped */
typedef enum { DP_PART_TEXT, DP_PART_THINKING, DP_PART_TOOL_START, DP_PART_TOOL_ARGS } dp_part_kind_t;
typedef struct {
    dp_part_kind_t kind;
    int index;             /* tool call index (TOOL_*), else 0 */
    const char *id, *name; /* TOOL_START: the call's id and function name */
    const char *text;      /* TEXT / THINKING: the delta; TOOL_ARGS: a fragment of the JSON arguments */
    size_t len;
} dp_part_t;

/* One embedding vector a translating reader produced (values in the request arena). */
typedef struct {
    const double *values;
    size_t n;
} dp_embedding_t;

/* One upstream event (a streamed SSE event, or a whole non-streamed answer). */
typedef struct {
    const char *raw; /* the provider's own bytes (NULL when there are none to relay) */
    size_t raw_len;
    unsigned end : 1;        /* the dialect's end-of-stream marker ([DONE], message_stop) */
    unsigned content : 1;    /* something the client must see: a held-back stream starts on it. Only
                              * computed while the stream has not started (r->started == 0). */
    unsigned usage_only : 1; /* it carries nothing but usage the gateway asked for on the client's behalf */
    unsigned error : 1;      /* the provider's own error event */
    unsigned has_usage : 1;  /* `usage` below is set (the whole count so far, not a delta) */
    dp_usage_t usage;
    dp_finish_t finish;
    uint64_t content_bytes; /* string content in it: the token estimate when no usage arrives */
    const char *error_msg;  /* with `error`: the provider's message (NULL: none) */
    const char *raw_name;   /* the SSE `event:` name the provider gave it (NULL: none) */
    unsigned usage_invalid : 1; /* the provider's usage had absurd numbers: ignored (dp_usage_sane) */
    /* A whole embeddings answer from a translating dialect (raw is then NULL): one vector per
     * input, in input order; the inbound writer encodes them (float or base64). NULL otherwise. */
    const dp_embedding_t *embeddings;
    size_t nembeddings;
    dp_part_t parts[DP_EVENT_MAX_PARTS];
    size_t nparts;
} dp_event_t;

typedef struct dp_upstream_ops {
    const char *kind; /* the catalog's provider `kind` */
    /* Built once per provider with the snapshot (dp_snapshot.c): the URL paths after base_url
     * (NULL: prepare builds the URL itself, e.g. per model), the credential's header line
     * (a format with one %s), and fixed header lines (NULL-terminated; may be NULL). */
    const char *chat_path, *embeddings_path;
    const char *auth_header;
    const char *const *fixed_headers;
    /* Stage 6: fills r->up_url, r->up_body (malloc'ed, the request frees it) and r->up_headers
     * for r->model. 0, or -1 when the request cannot be built. */
    int (*prepare)(dp_req_t *r);
    /* One SSE event's data (trailing blanks trimmed by the caller). 0, or -1 when it is not a
     * well-formed event of this dialect (the relay treats that as a malformed upstream). */
    int (*stream_event)(dp_req_t *r, const char *data, size_t len, dp_event_t *ev);
    /* A whole 200 answer (capped at DP_MAX_RESPONSE_BYTES). 0, or -1 when malformed. */
    int (*answer)(dp_req_t *r, const char *body, size_t len, dp_event_t *ev);
    /* The message of an error answer (4xx passed through to the client), into msg. */
    void (*error_message)(const char *body, size_t len, char *msg, size_t cap);
} dp_upstream_ops_t;

typedef struct dp_inbound_ops {
    const char *name; /* the access log's ep= for chat requests in this dialect */
    /* Stage 4, before dp_body.c: turns the client's body (r->body_src, the request entity) into
     * the canonical request — OpenAI Chat Completions JSON, the one shape the stages after it
     * read — in the request arena, and points r->body_src at it. NULL when the dialect's body
     * is canonical already (OpenAI). On refusal the error, with msg/param for the client. */
    sy_err_t (*parse)(dp_req_t *r, char *msg, size_t msglen, const char **param);
    /* An error body in this dialect (malloc'ed; NULL when out of memory): dp_respond_error's
     * words for this client. */
    char *(*error_json)(sy_err_t e, const char *msg, const char *param);
    /* Appends one streamed event to `out` in the client's wire format. 0, or -1 when out of
     * memory. `up` is the dialect that produced it (same dialect: relay ev->raw). */
    int (*stream_write)(dp_req_t *r, const dp_upstream_ops_t *up, const dp_event_t *ev, struct dp_buf *out);
    /* Appends the error event that ends a cut stream. */
    int (*stream_error)(dp_req_t *r, sy_err_t e, const char *msg, struct dp_buf *out);
    /* The body of a non-streamed answer: from ev (and `up`'s raw body). *out in r->arena or
     * pointing into ev->raw; -1 when out of memory. */
    int (*answer_write)(dp_req_t *r, const dp_upstream_ops_t *up, const dp_event_t *ev, const char **out,
                        size_t *out_len);
} dp_inbound_ops_t;

/* The dialects (providers/dp_openai.c, …). */
extern const dp_upstream_ops_t dp_openai_upstream;
extern const dp_upstream_ops_t dp_anthropic_upstream;
extern const dp_upstream_ops_t dp_gemini_upstream;
extern const dp_inbound_ops_t dp_openai_inbound;
extern const dp_inbound_ops_t dp_anthropic_inbound;

/* Scratch state an upstream reader keeps across one attempt's events (block indexes, tool
 * counters); zeroed before each attempt. A dialect casts it to its own struct. */
#define DP_UPSTREAM_STATE_BYTES 64

/* The upstream ops of a catalog provider kind, or NULL for an unknown kind. */
#define DP_PROVIDER_KINDS "openai, anthropic, gemini" /* for messages: every kind with ops */
const dp_upstream_ops_t *dp_upstream_ops_by_kind(const char *kind);

/* ---- shared by the dialects (dp_provider.c) ---- */
/* The upstream headers of r's attempt (r->up_headers): a request-id line (in the arena) in
 * front of the provider's prebuilt block (JSON or SSE). 0, or -1 when out of memory. */
int dp_provider_headers(dp_req_t *r);
/* One more line of the attempt's own ("name: value", CR/LF-free, in the arena), after
 * dp_provider_headers. 0, or -1 (out of memory, or DP_UP_EXTRA_HEADERS lines already). */
int dp_provider_header_add(dp_req_t *r, const char *name, size_t nlen, const char *value, size_t vlen);
/* r->up_body = a malloc'ed copy of s (the printed upstream request). 0, or -1. */
int dp_provider_body(dp_req_t *r, const char *s);
/* o[k] when it is a string, else NULL; o[k] when it is a count in 0..1e12, else 0. */
const char *dp_json_str(const struct cJSON *o, const char *k);
int64_t dp_json_count(const struct cJSON *o, const char *k);
/* Appends a part to ev (its strings must outlive the event: arena or the event's tree); counts
 * text toward content_bytes. -1 when the event is full. */
int dp_event_part(dp_event_t *ev, dp_part_kind_t kind, int index, const char *text);
/* 1 when every number in a provider's usage object (nested objects and arrays included) is a
 * token count (an integer in 0..1e12); a reader that gets anything else sets usage_invalid and
 * reports no usage, so the request is billed the estimate (and the relay logs it). */
int dp_usage_sane(const struct cJSON *u);

#endif
