/* The deterministic answer. A reply is a sequence of "units"; each unit is one streamed
 * content chunk and counts as one completion token.
 *   text:  unit i is vocab[i % 12] followed by a space ("mock reply alpha ...")
 *   json:  the units concatenate to {"mock":true,"words":["mock","reply",...]}
 *   tool:  three units, the argument fragments  {"arg":"  mock  "}
 * body_bytes pads every text/json unit with 'x' bytes (inside the word), so the non-stream
 * content and the concatenated stream content are always identical. */
#include <string.h>

#include "mockllm.h"

static const char *const vocab[] = {"mock", "reply",   "alpha", "bravo", "charlie", "delta",
                                    "echo", "foxtrot", "golf",  "hotel", "india",   "juliet"};
#define VOCAB_N (sizeof(vocab) / sizeof(vocab[0]))

static const char *const tool_raw[3] = {"{\"arg\":\"", "mock", "\"}"};
static const char *const tool_esc[3] = {"{\\\"arg\\\":\\\"", "mock", "\\\"}"};

void content_setup(mock_req_t *mr, long chunks, long max_tokens)
{
    mr->finish_length = 0;
    mr->pad_per_unit = mr->pad_last = 0;
    if (mr->ck == CK_TOOL) {
        mr->n_units = 3;
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
    }
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
        const char *p = (escape ? tool_esc : tool_raw)[i % 3];
        sb_add(out, p, strlen(p));
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
