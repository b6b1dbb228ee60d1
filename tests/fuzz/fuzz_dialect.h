/* libFuzzer, shared by the translating upstream dialects (fuzz_gemini.c, fuzz_anthropic.c):
 * FUZZ_KIND names the provider kind. The first byte picks what the rest is fed to:
 *   0: SSE event data, one event per line, through one attempt's reader state — each event
 *      then written by the OpenAI inbound writer, as the relay does;
 *   1: a whole 200 answer (chat), then written as a chat.completion;
 *   2: a whole 200 answer to an embeddings request, then written (float, then base64);
 *   3: an error body (error_message);
 *   4, 5: a client request body (chat / embeddings) translated by prepare.
 * Checks: parts are well-formed (strings NUL-terminated with the stated length), at most
 * DP_EVENT_MAX_PARTS, and nothing leaks or reads out of bounds (ASan). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dp.h"
#include "dp_config.h"

static dp_snapshot_t *snap;

static void init(void)
{
    static const char cfg[] =
        "{\"providers\":[{\"id\":\"p\",\"kind\":\"" FUZZ_KIND "\",\"base_url\":\"http://127.0.0.1:9/v1\"}],"
        "\"models\":[{\"id\":\"m\",\"provider\":\"p\",\"upstream\":\"up-model+x=1\","
        "\"capabilities\":[\"chat\",\"tools\",\"json\",\"vision\",\"embeddings\"]}],"
        "\"workspaces\":[{\"id\":\"w\"}],\"keys\":[]}";
    char err[256];
    snap = dp_config_parse(cfg, sizeof(cfg) - 1, 1, err, sizeof(err));
    if (snap == NULL)
        abort();
}

static void check(const dp_event_t *ev)
{
    if (ev->nparts > DP_EVENT_MAX_PARTS)
        abort();
    for (size_t i = 0; i < ev->nparts; i++) {
        const dp_part_t *p = &ev->parts[i];
        if (p->text != NULL && strlen(p->text) != p->len)
            abort();
        if (p->kind == DP_PART_TOOL_START && (p->id == NULL || p->name == NULL))
            abort();
    }
    for (size_t i = 0; i < ev->nembeddings; i++)
        if (ev->embeddings[i].n && ev->embeddings[i].values == NULL)
            abort();
}

static void event_init(dp_event_t *e)
{
    memset(e, 0, offsetof(dp_event_t, parts));
    e->nparts = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (snap == NULL) {
        sy_json_hooks_install();
        init();
    }
    if (size < 1)
        return 0;
    const dp_upstream_ops_t *up = snap->models[0].provider->ops;
    dp_req_t r;
    h2o_req_t req;
    memset(&r, 0, sizeof(r));
    memset(&req, 0, sizeof(req));
    r.snap = snap;
    r.model = &snap->models[0];
    r.task = r.difficulty = -1;
    r.client_wants_usage = 1;
    strcpy(r.id, "fuzz-1");
    int mode = data[0] % 6;
    r.ep = mode == 2 || mode == 5 ? DP_EP_EMBEDDINGS : DP_EP_CHAT;
    r.stream = mode == 0 || (mode == 4 && (data[0] & 0x80));
    /* a private copy so reads past the end are caught by ASan */
    size_t n = size - 1;
    char *body = malloc(n + 1);
    memcpy(body, data + 1, n);
    body[n] = '\0';
    const char *out;
    size_t out_len;
    dp_event_t ev;
    if (mode == 0) {
        dp_buf_t o = {0};
        for (size_t off = 0; off < n;) {
            const char *nl = memchr(body + off, '\n', n - off);
            size_t len = nl ? (size_t)(nl - (body + off)) : n - off;
            char *line = malloc(len + 1); /* NUL-terminated, as sy_sse hands data over */
            memcpy(line, body + off, len);
            line[len] = '\0';
            event_init(&ev);
            if (up->stream_event(&r, line, len, &ev) == 0) {
                check(&ev);
                if (ev.has_usage)
                    r.usage = ev.usage;
                dp_openai_inbound.stream_write(&r, up, &ev, &o);
                r.started = 1;
            }
            free(line);
            off += len + 1;
        }
        dp_buf_free(&o);
    } else if (mode == 1 || mode == 2) {
        event_init(&ev);
        if (up->answer(&r, body, n, &ev) == 0) {
            check(&ev);
            if (ev.has_usage)
                r.usage = ev.usage;
            dp_openai_inbound.answer_write(&r, up, &ev, &out, &out_len);
            if (mode == 2) {
                sy_json_arena_begin(&r.arena);
                r.body = cJSON_Parse("{\"encoding_format\":\"base64\"}");
                sy_json_arena_end();
                dp_openai_inbound.answer_write(&r, up, &ev, &out, &out_len);
            }
        }
    } else if (mode == 3) {
        char msg[256];
        up->error_message(body, n, msg, sizeof(msg));
        if (memchr(msg, '\0', sizeof(msg)) == NULL)
            abort();
    } else {
        req.entity = h2o_iovec_init(body, n);
        r.req = &req;
        char msg[256];
        const char *param;
        if (dp_body_parse(&r, msg, sizeof(msg), &param) == SY_E_OK && up->prepare(&r) == 0) {
            if (r.up_body == NULL || strlen(r.up_body) != r.up_body_len || r.up_url == NULL)
                abort();
        }
        free(r.up_body);
    }
    sy_arena_free(&r.arena);
    free(body);
    return 0;
}
