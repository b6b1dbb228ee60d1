/*
 * switchyard-mockllm: a mock LLM provider (OpenAI + Anthropic wire formats) with
 * per-request fault injection, used by Switchyard's integration tests and benchmarks.
 *
 * Threading: every event-loop thread owns its h2o context; a mock_req_t lives in the
 * request's pool and is only touched from the loop thread that accepted it. The only
 * shared state is the log file (mutex), the fail_first counters (mutex) and a few
 * atomic counters.
 */
#ifndef SWITCHYARD_MOCKLLM_H
#define SWITCHYARD_MOCKLLM_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <poll.h>
#include <h2o.h>
#include <cjson/cJSON.h>

/* ---------------------------------------------------------------- util.c */

/* Growable byte buffer. Backed by the request pool when pool != NULL (memory is freed with
 * the pool), else by malloc/realloc (call sb_free). */
typedef struct {
    char *buf;
    size_t len, cap;
    h2o_mem_pool_t *pool;
} sbuf_t;

void sb_init(sbuf_t *sb, h2o_mem_pool_t *pool, size_t cap);
void sb_reserve(sbuf_t *sb, size_t extra);
void sb_add(sbuf_t *sb, const char *s, size_t n);
#define sb_lit(sb, s) sb_add((sb), (s), sizeof(s) - 1)
void sb_addc(sbuf_t *sb, char c);
void sb_addn(sbuf_t *sb, char c, size_t n); /* n copies of c */
void sb_u64(sbuf_t *sb, uint64_t v);
void sb_i64(sbuf_t *sb, int64_t v);
void sb_printf(sbuf_t *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_json_esc(sbuf_t *sb, const char *s, size_t n); /* JSON-escaped, no quotes */
void sb_json_str(sbuf_t *sb, const char *s, size_t n); /* "JSON-escaped" */
void sb_free(sbuf_t *sb);

size_t count_words(const char *s, size_t n); /* whitespace-separated words */
void json_arena_init(void);  /* once, before threads: cJSON allocates from a per-thread arena */
void json_arena_reset(void); /* after a request's cJSON objects are all deleted */
uint64_t now_ms(void);       /* wall clock, ms since the epoch */
uint64_t fnv1a(const void *p, size_t n, uint64_t h);
#define FNV_OFFSET 0xcbf29ce484222325ULL

/* ------------------------------------------------------------ scenario.c */

enum {
    SC_TTFT_MS,
    SC_DELAY_MS,
    SC_CHUNKS,
    SC_BODY_BYTES,
    SC_STATUS,
    SC_RETRY_AFTER,
    SC_HANG,
    SC_STALL_AFTER,
    SC_RESET_AFTER,
    SC_MALFORMED,
    SC_TRUNCATE_AFTER,
    SC_NO_USAGE,
    SC_FAIL_FIRST,
    SC_OVERLOADED,
    SC_SAFETY,
    SC_THINKING,
    SC_CACHE,
    SC_HUGE_LINE,
    SC__COUNT
};

typedef struct {
    long v[SC__COUNT];
    unsigned set; /* bit k set when key k was given */
} scenario_t;

extern const char *const scenario_keys[SC__COUNT];

static inline int sc_has(const scenario_t *sc, int k)
{
    return (sc->set >> k) & 1;
}
static inline long sc_get(const scenario_t *sc, int k, long dflt)
{
    return sc_has(sc, k) ? sc->v[k] : dflt;
}
/* Parses "k=v" pairs separated by '+' (and ',' when allow_comma). When skip_name is set the
 * text before the first '+' is a model name and is skipped. Later pairs override earlier. */
void scenario_parse(scenario_t *sc, const char *s, size_t n, int skip_name, int allow_comma);
/* Overlays b's keys onto a. */
void scenario_merge(scenario_t *a, const scenario_t *b);
cJSON *scenario_to_json(const scenario_t *sc);
/* fail_first: increments the process-wide counter of this model name and returns 1 while
 * it is <= limit. */
int failfirst_hit(const char *model, size_t n, long limit);

/* ---------------------------------------------------------------- mlog.c */

int mlog_open(const char *path);
int mlog_enabled(void);
void mlog_write(const char *line, size_t len); /* appends '\n', one write(2) under a mutex */

/* ------------------------------------------------------------- engine */

typedef struct st_thread_ctx_t {
    int index;
    int listen_fd;
    pthread_t tid;
    h2o_evloop_t *loop;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    h2o_socket_t *listener;
    h2o_multithread_receiver_t wake;
    h2o_linklist_t watches;          /* mock_req_t.watch_link: waiting requests, polled for client EOF */
    h2o_timeout_entry_t watch_entry; /* the periodic poll of the watched sockets */
    struct pollfd *pfds;             /* scratch array for that poll */
    size_t pfds_cap;
    struct st_timeout_cache *timeouts; /* one h2o_timeout_t per distinct duration */
} thread_ctx_t;

typedef enum { API_CHAT = 1, API_EMBEDDINGS, API_MODELS, API_MESSAGES, API_GENERATE, API_OTHER } api_t;
typedef enum { DIALECT_OPENAI, DIALECT_ANTHROPIC, DIALECT_GEMINI } dialect_t;
/* CK_ANSWER: the text answer to a tool result ("mock answer: <the result>"), see content_answer */
typedef enum { CK_TEXT, CK_JSON, CK_TOOL, CK_ANSWER } content_kind_t;
typedef enum { FAULT_NONE, FAULT_STALL, FAULT_RESET, FAULT_TRUNCATE } fault_t;

/* stream event codes */
enum {
    EV_OAI_ROLE = 1,
    EV_OAI_CONTENT,
    EV_OAI_MALFORMED,
    EV_OAI_FINISH,
    EV_OAI_USAGE,
    EV_OAI_DONE,
    EV_ANT_MSG_START,
    EV_ANT_BLOCK_START,
    EV_ANT_PING,
    EV_ANT_CONTENT,
    EV_ANT_MALFORMED,
    EV_ANT_BLOCK_STOP,
    EV_ANT_MSG_DELTA,
    EV_ANT_MSG_STOP,
    EV_ANT_THINK_START,
    EV_ANT_THINK_DELTA1,
    EV_ANT_THINK_DELTA2,
    EV_ANT_SIG_DELTA,
    EV_ANT_THINK_STOP,
    EV_GEM_CONTENT,
    EV_GEM_MALFORMED,
    EV_GEM_FINISH,
};

typedef struct st_mock_req_t mock_req_t;

struct st_mock_req_t {
    h2o_generator_t gen;
    h2o_req_t *req;
    thread_ctx_t *tc;
    uint64_t seq;
    char id[32]; /* "mock-<seq>" */
    api_t api;
    dialect_t dialect;
    scenario_t sc;
    time_t created;

    /* what was asked */
    h2o_iovec_t model; /* as received (pool copy) */
    int stream, include_usage, no_usage, malformed;
    content_kind_t ck;
    h2o_iovec_t tool_name;      /* pool copy */
    const char *tool_arg_name;  /* "arg", or "file_path" for the scripted Read call */
    h2o_iovec_t tool_arg_value; /* "mock", or the file path (pool copy) */
    h2o_iovec_t answer;         /* CK_ANSWER: the whole answer text (pool) */
    unsigned *ans_off;          /* CK_ANSWER: n_units + 1 offsets of the units in answer */
    unsigned ans_count;         /* CK_ANSWER: units of the whole answer (before a max_tokens cap) */
    unsigned prompt_tokens;
    unsigned n_units;  /* content units (= completion tokens, except below) */
    unsigned n_tokens; /* completion tokens: n_units, + thinking tokens; 3 for a Gemini tool call (1 unit) */
    int safety, thinking;
    long cache_read, cache_create;    /* cache=N */
    unsigned char block;              /* Anthropic: index of the text/tool_use block (1 after thinking) */
    unsigned char gem_sse, gem_first; /* Gemini stream: SSE (alt=sse) or JSON array; first element sent */
    unsigned units_sent;
    unsigned pad_per_unit, pad_last; /* body_bytes padding ('x' bytes) */
    int finish_length;
    fault_t fault;
    unsigned fault_at;

    /* planned answer */
    int status;  /* != 200: error answer in err body */
    sbuf_t body; /* non-stream body (pool) */
    size_t cut;  /* non-stream: body offset after fault_at units (for faults) */
    int usage_sent;
    int billed; /* emit a billed event when the answer is produced */

    /* stream */
    sbuf_t ev;                /* current event (malloc, reused; freed on dispose) */
    h2o_iovec_t chunk_prefix; /* OpenAI: 'data: {"id":...,"choices":[' */
    unsigned char pre[12], post[8], n_pre, n_post, stage, idx;
    unsigned char delay_done;

    /* lifecycle */
    h2o_timeout_entry_t timer;
    void (*timer_cb)(mock_req_t *mr);
    h2o_linklist_t watch_link;
    h2o_socket_t *watch_sock;
    unsigned started : 1, waiting : 1, ended : 1, closed : 1, done_logged : 1, client_gone : 1,
        reset_on_proceed : 1, gone_pending : 1;
};

/* engine.c */
int mock_on_req(h2o_handler_t *self, h2o_req_t *req);
void engine_stats(long *requests, long *closed, long *in_flight);

/* content.c: the deterministic answer */
void content_setup(mock_req_t *mr, long chunks, long max_tokens);
void content_piece(mock_req_t *mr, unsigned i, sbuf_t *out, int escape);
void content_all(mock_req_t *mr, sbuf_t *out, int escape);       /* records mr->cut */
void content_tool_args(mock_req_t *mr, sbuf_t *out, int escape); /* the whole tool input object */
/* CK_ANSWER: "mock answer: " + the first 200 bytes of text (cut at a UTF-8 boundary) */
void content_answer(mock_req_t *mr, const char *text, size_t len);
/* The tool call: tool_choice's name (or NULL), else "Read" when has_read and user_text names a
 * *.txt file, else first_name. Read gets {"file_path":"<that file>"}, all others {"arg":"mock"}. */
void content_plan_tool(mock_req_t *mr, const char *chosen, const char *first_name, int has_read,
                       const char *user_text, size_t user_len);
void log_done(mock_req_t *mr, const char *outcome);
void log_billed(mock_req_t *mr, unsigned completion_tokens);

/* openai.c */
/* code: NULL = the usual code for the status, "" = null */
void oai_error_body(sbuf_t *sb, int status, const char *message, const char *code);
void oai_chat(mock_req_t *mr, cJSON *body);
void oai_embeddings(mock_req_t *mr, cJSON *body);
void oai_models(mock_req_t *mr, const char *id, size_t id_len);
void oai_render_event(mock_req_t *mr, int code);
void embed_vector(uint64_t seed, unsigned dims, float *out);

/* gemini.c */
/* routes /v1beta/models[/{model}[:method]] (and /v1/models/{model}:method); returns 0 when the
 * path is not Gemini's. Sets dialect, api, model; *json is the POST body handler or NULL. */
int gem_route(mock_req_t *mr, h2o_iovec_t path, void (**json)(mock_req_t *, cJSON *));
void gem_error_body(sbuf_t *sb, int status, const char *message, long retry_after);
void gem_render_event(mock_req_t *mr, int code);

/* anthropic.c */
void ant_error_body(sbuf_t *sb, int status, const char *message);
void ant_messages(mock_req_t *mr, cJSON *body);
void ant_render_event(mock_req_t *mr, int code);

/* helpers shared by the dialects (engine.c) */
void mr_fail(mock_req_t *mr, int status, const char *message); /* plan an error answer */
void mr_fail_code(mock_req_t *mr, int status, const char *message, const char *code);
/* records the model name (pool copy) and overlays the scenario pairs it carries */
void mr_set_model(mock_req_t *mr, const char *model, size_t len);
/* plans the error answer asked by status= or fail_first=; returns 1 when the request fails */
int mr_scenario_error(mock_req_t *mr);
const char *status_reason(int status);
unsigned prompt_words_of_content(const cJSON *content);
/* appends the text of a content (string, or the text of its parts / tool_result parts) to out,
 * up to max bytes in total */
void text_of_content(const cJSON *content, sbuf_t *out, size_t max);

#endif
