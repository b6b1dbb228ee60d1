/* libFuzzer: the upstream answer readers of every dialect (providers/: a streamed event or a
 * whole answer) on arbitrary provider bytes, and every inbound writer on what they read. The
 * first byte picks the dialect (bits 0 and 5), the mode (event / answer), the client's dialect and whether
 * the stream has started; the rest is the provider's bytes. Several events are fed in turn when
 * the input holds NUL separators (a reader keeps state between events). */
#include <stdlib.h>
#include <string.h>

#include "dp.h"
#include "dp_config.h"

static dp_snapshot_t *snap;

static void init(void)
{
    static const char cfg[] =
        "{\"providers\":[{\"id\":\"p\",\"kind\":\"openai\",\"base_url\":\"http://127.0.0.1:9/v1\"},"
        "{\"id\":\"a\",\"kind\":\"anthropic\",\"base_url\":\"http://127.0.0.1:9/v1\"},"
        "{\"id\":\"g\",\"kind\":\"gemini\",\"base_url\":\"http://127.0.0.1:9/v1beta\"}],"
        "\"models\":[{\"id\":\"small\",\"provider\":\"p\"},{\"id\":\"claude\",\"provider\":\"a\"},"
        "{\"id\":\"gem\",\"provider\":\"g\"}],"
        "\"workspaces\":[{\"id\":\"w\"}],"
        "\"keys\":[{\"id\":\"k\",\"workspace\":\"w\",\"allowed_models\":[\"*\"],"
        "\"sha256\":\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"}]}";
    char err[256];
    snap = dp_config_parse(cfg, sizeof(cfg) - 1, 1, err, sizeof(err));
    if (snap == NULL)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (snap == NULL) {
        sy_json_hooks_install();
        init();
    }
    if (size < 1)
        return 0;
    static const dp_inbound_ops_t *const ins[] = {&dp_openai_inbound, &dp_anthropic_inbound};
    dp_req_t r;
    memset(&r, 0, sizeof(r));
    r.snap = snap;
    r.key = &snap->keys[0];
    r.ep = DP_EP_CHAT;
    r.model = &snap->models[((data[0] & 1) | ((data[0] >> 4) & 2)) % snap->nmodels];
    int answer = data[0] & 2;
    r.in = ins[(data[0] >> 2) & 1];
    r.started = (data[0] >> 3) & 1;
    r.client_wants_usage = (data[0] >> 4) & 1;
    r.stream = !answer;
    strcpy(r.id, "fuzz");
    const dp_upstream_ops_t *up = r.model->provider->ops;
    dp_buf_t out = {0};
    const uint8_t *p = data + 1, *end = data + size;
    while (p <= end) {
        const uint8_t *nul = memchr(p, 0, (size_t)(end - p));
        size_t n = nul ? (size_t)(nul - p) : (size_t)(end - p);
        char *chunk = malloc(n ? n : 1); /* a private copy: ASan sees reads past the end */
        memcpy(chunk, p, n);
        dp_event_t ev;
        memset(&ev, 0, sizeof(ev));
        if (answer) {
            if (up->answer(&r, chunk, n, &ev) == 0) {
                const char *o;
                size_t ol;
                (void)r.in->answer_write(&r, up, &ev, &o, &ol);
            }
            char m[128];
            up->error_message(chunk, n, m, sizeof(m));
        } else if (up->stream_event(&r, chunk, n, &ev) == 0) {
            if (ev.has_usage)
                r.usage = ev.usage;
            (void)r.in->stream_write(&r, up, &ev, &out);
            if (out.len > (1u << 20))
                out.len = 0;
        }
        free(chunk);
        if (nul == NULL)
            break;
        p = nul + 1;
    }
    (void)r.in->stream_error(&r, SY_E_UPSTREAM_ERROR, "cut", &out);
    dp_buf_free(&out);
    sy_arena_free(&r.arena);
    return 0;
}
