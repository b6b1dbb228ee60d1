/* The deterministic answer. A reply is a sequence of "units"; each unit is one streamed
 * content chunk and counts as one completion token.
 *   text:  unit i is vocab[i % 12] followed by a space ("mock reply alpha ...")
 *   json:  the units concatenate to {"mock":true,"words":["mock","reply",...]}
 *   tool:  three units, the argument fragments  {"arg":"  mock  "}  (Gemini: one unit, the
 *          whole call); the scripted Read call: {"file_path":"  <path>  "}
 *   answer (to a tool result): "mock answer: <the result>", one unit per word (with the
 *          whitespace that follows it)
 * body_bytes pads every text/json unit with 'x' bytes (inside the word), so the non-stream
 * content and the concatenated stream content are always identical. */
#include <string.h>

#include "mockllm.h"

static const char *const vocab[] = {"mock", "reply",   "alpha", "bravo", "charlie", "delta",
                                    "echo", "foxtrot", "golf",  "hotel", "india",   "juliet"};
#define VOCAB_N (sizeof(vocab) / sizeof(vocab[0]))

#define ANSWER_PREFIX "mock answer: "
#define ANSWER_MAX 200

void content_answer(mock_req_t *mr, const char *text, size_t len)
{
    if (len > ANSWER_MAX) {
        len = ANSWER_MAX;
        while (len > 0 && ((unsigned char)text[len] & 0xC0) == 0x80) /* not inside a UTF-8 sequence */
            --len;
    }
    sbuf_t a;
    sb_init(&a, &mr->req->pool, sizeof(ANSWER_PREFIX) + len);
    sb_lit(&a, ANSWER_PREFIX);
    sb_add(&a, text, len);
    mr->answer = h2o_iovec_init(a.buf, a.len);
    /* a unit starts at every word start after the first (the first one starts at 0) */
    unsigned n = (unsigned)count_words(a.buf, a.len);
    mr->ans_off = h2o_mem_alloc_pool(&mr->req->pool, sizeof(unsigned) * (n + 2));
    unsigned k = 0;
    int prev_space = 0;
    mr->ans_off[k++] = 0;
    for (size_t i = 1; i < a.len; ++i) {
        int sp = a.buf[i] == ' ' || a.buf[i] == '\t' || a.buf[i] == '\n' || a.buf[i] == '\r' ||
                 a.buf[i] == '\v' || a.buf[i] == '\f';
        if (prev_space && !sp && k <= n)
            mr->ans_off[k++] = (unsigned)i;
        prev_space = sp;
    }
    mr->ans_count = k;
    mr->ans_off[k] = (unsigned)a.len;
    mr->ck = CK_ANSWER;
}

static int path_char(char c)
{
    return c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '"' && c != '\'' && c != '`' && c != '(' &&
           c != ')' && c != '<' && c != '>' && c != '[' && c != ']' && c != ',';
}

/* the first "\S+\.txt" in s (without surrounding quotes, brackets or trailing punctuation) */
static int find_txt(const char *s, size_t n, size_t *start, size_t *len)
{
    for (size_t i = 0; i + 4 <= n; ++i) {
        if (memcmp(s + i, ".txt", 4) != 0)
            continue;
        size_t end = i + 4;
        if (end < n && (s[end] == '_' || s[end] == '-' || (s[end] >= '0' && s[end] <= '9') ||
                        ((s[end] | 0x20) >= 'a' && (s[end] | 0x20) <= 'z')))
            continue; /* .txtfoo */
        size_t b = i;
        while (b > 0 && path_char(s[b - 1]))
            --b;
        if (b == i)
            continue; /* nothing before ".txt" */
        *start = b;
        *len = end - b;
        return 1;
    }
    return 0;
}

void content_plan_tool(mock_req_t *mr, const char *chosen, const char *first_name, int has_read,
                       const char *user_text, size_t user_len)
{
    size_t fs = 0, fl = 0;
    int file = user_text != NULL && find_txt(user_text, user_len, &fs, &fl);
    const char *name = chosen != NULL ? chosen : file && has_read ? "Read" : first_name;
    if (name == NULL)
        name = "mock_tool";
    mr->ck = CK_TOOL;
    mr->tool_name = h2o_strdup(&mr->req->pool, name, strlen(name));
    if (file && strcmp(name, "Read") == 0) {
        mr->tool_arg_name = "file_path";
        mr->tool_arg_value = h2o_strdup(&mr->req->pool, user_text + fs, fl);
    } else {
        mr->tool_arg_name = "arg";
        mr->tool_arg_value = h2o_iovec_init(H2O_STRLIT("mock"));
    }
}

/* tool piece i (0..2) of {"<name>":"<value>"}: raw JSON (escape 0) or as a JSON string's
 * content (escape 1) */
static void tool_piece(mock_req_t *mr, unsigned i, sbuf_t *out, int escape)
{
    const char *q = escape ? "\\\"" : "\"";
    size_t ql = strlen(q);
    switch (i % 3) {
    case 0:
        sb_addc(out, '{');
        sb_add(out, q, ql);
        sb_add(out, mr->tool_arg_name, strlen(mr->tool_arg_name));
        sb_add(out, q, ql);
        sb_addc(out, ':');
        sb_add(out, q, ql);
        break;
    case 1:
        if (!escape) {
            sb_json_esc(out, mr->tool_arg_value.base, mr->tool_arg_value.len);
        } else {
            sbuf_t once;
            sb_init(&once, NULL, mr->tool_arg_value.len + 16);
            sb_json_esc(&once, mr->tool_arg_value.base, mr->tool_arg_value.len);
            sb_json_esc(out, once.buf, once.len);
            sb_free(&once);
        }
        break;
    default:
        sb_add(out, q, ql);
        sb_addc(out, '}');
        break;
    }
}

void content_tool_args(mock_req_t *mr, sbuf_t *out, int escape)
{
    for (unsigned i = 0; i != 3; ++i)
        tool_piece(mr, i, out, escape);
}

void content_setup(mock_req_t *mr, long chunks, long max_tokens)
{
    mr->finish_length = 0;
    mr->pad_per_unit = mr->pad_last = 0;
    if (mr->ck == CK_TOOL) {
        mr->n_units = mr->dialect == DIALECT_GEMINI ? 1 : 3; /* Gemini sends the call whole */
    } else if (mr->ck == CK_ANSWER) {
        unsigned n = mr->ans_count;
        if (max_tokens >= 0 && max_tokens < (long)n) {
            n = (unsigned)max_tokens;
            mr->finish_length = 1;
        }
        mr->n_units = n;
    } else {
        long n = chunks;
        if (max_tokens >= 0 && max_tokens < n) {
            n = max_tokens;
            mr->finish_length = 1;
        }
        mr->n_units = (unsigned)n;
        long body_bytes = sc_get(&mr->sc, SC_BODY_BYTES, 0);
        if (body_bytes > 0 && n > 0) {
            size_t cycle = 0, base = 0;
            for (size_t i = 0; i != VOCAB_N; ++i)
                cycle += strlen(vocab[i]) + 1;
            base = cycle * ((size_t)n / VOCAB_N);
            for (size_t i = 0; i != (size_t)n % VOCAB_N; ++i)
                base += strlen(vocab[i]) + 1;
            if (mr->ck == CK_JSON)
                base += 4 * (size_t)n + 24;
            size_t overhead = 400 + mr->model.len;
            size_t target = (size_t)body_bytes > overhead ? (size_t)body_bytes - overhead : 0;
            if (target > base) {
                size_t extra = target - base;
                mr->pad_per_unit = (unsigned)(extra / (size_t)n);
                mr->pad_last = (unsigned)(extra % (size_t)n);
            }
        }
        /* huge_line=N: the last unit alone carries N more bytes (one N-byte SSE line, after the
         * ordinary units) */
        if (n > 0)
            mr->pad_last += (unsigned)sc_get(&mr->sc, SC_HUGE_LINE, 0);
    }
    mr->n_tokens = mr->ck == CK_TOOL ? 3 : mr->n_units;
    /* a fault triggers after min(K, n) units */
    mr->fault = FAULT_NONE;
    long best = -1;
    static const struct {
        int key;
        fault_t f;
    } faults[] = {
        {SC_RESET_AFTER, FAULT_RESET}, {SC_TRUNCATE_AFTER, FAULT_TRUNCATE}, {SC_STALL_AFTER, FAULT_STALL}};
    for (size_t i = 0; i != sizeof(faults) / sizeof(faults[0]); ++i) {
        if (sc_has(&mr->sc, faults[i].key) && (best < 0 || mr->sc.v[faults[i].key] < best)) {
            best = mr->sc.v[faults[i].key];
            mr->fault = faults[i].f;
        }
    }
    if (mr->fault != FAULT_NONE)
        mr->fault_at = best < (long)mr->n_units ? (unsigned)best : mr->n_units;
}

void content_piece(mock_req_t *mr, unsigned i, sbuf_t *out, int escape)
{
    if (mr->ck == CK_TOOL) {
        if (mr->n_units == 1)
            content_tool_args(mr, out, escape);
        else
            tool_piece(mr, i, out, escape);
        return;
    }
    if (mr->ck == CK_ANSWER) {
        const char *p = mr->answer.base + mr->ans_off[i];
        size_t n = mr->ans_off[i + 1] - mr->ans_off[i];
        if (escape)
            sb_json_esc(out, p, n);
        else
            sb_add(out, p, n);
        return;
    }
    const char *w = vocab[i % VOCAB_N];
    size_t pad = mr->pad_per_unit + (i + 1 == mr->n_units ? mr->pad_last : 0);
    if (mr->ck == CK_TEXT) {
        sb_add(out, w, strlen(w));
        sb_addn(out, 'x', pad);
        sb_addc(out, ' ');
        return;
    }
    /* CK_JSON */
    if (i == 0) {
        if (escape)
            sb_lit(out, "{\\\"mock\\\":true,\\\"words\\\":[\\\"");
        else
            sb_lit(out, "{\"mock\":true,\"words\":[\"");
    } else {
        if (escape)
            sb_lit(out, ",\\\"");
        else
            sb_lit(out, ",\"");
    }
    sb_add(out, w, strlen(w));
    sb_addn(out, 'x', pad);
    if (escape)
        sb_lit(out, "\\\"");
    else
        sb_addc(out, '"');
    if (i + 1 == mr->n_units)
        sb_lit(out, "]}");
}

void content_all(mock_req_t *mr, sbuf_t *out, int escape)
{
    mr->cut = out->len;
    for (unsigned i = 0; i != mr->n_units; ++i) {
        if (mr->fault != FAULT_NONE && i == mr->fault_at)
            mr->cut = out->len;
        content_piece(mr, i, out, escape);
    }
    if (mr->fault != FAULT_NONE && mr->fault_at == mr->n_units)
        mr->cut = out->len;
}
