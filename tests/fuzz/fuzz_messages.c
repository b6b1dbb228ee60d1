/* libFuzzer: the inbound Anthropic Messages parser (providers/dp_anthropic_in.c) on arbitrary
 * client bytes, then the stages after it (body checks, router) on its canonical output, and every
 * upstream dialect's request translation of that (providers/). The first byte
 * picks stream/count mode; the rest is the body. */
#include <stdlib.h>
#include <string.h>

#include "dp.h"
#include "dp_config.h"

static dp_snapshot_t *snap;

static void init(void)
{
    static const char cfg[] =
        "{\"limits\":{\"max_body_bytes\":65536,\"max_json_depth\":32},"
        "\"providers\":[{\"id\":\"p\",\"kind\":\"openai\",\"base_url\":\"http://127.0.0.1:9/v1\"},"
        "{\"id\":\"a\",\"kind\":\"anthropic\",\"base_url\":\"http://127.0.0.1:9/v1\"},"
        "{\"id\":\"g\",\"kind\":\"gemini\",\"base_url\":\"http://127.0.0.1:9/v1beta\"}],"
        "\"models\":[{\"id\":\"small\",\"provider\":\"p\",\"capabilities\":[\"chat\",\"tools\",\"vision\"]},"
        "{\"id\":\"claude\",\"provider\":\"a\",\"capabilities\":[\"chat\",\"tools\",\"vision\"]},"
        "{\"id\":\"gem\",\"provider\":\"g\",\"capabilities\":[\"chat\",\"tools\",\"vision\"]}],"
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
    dp_req_t r;
    h2o_req_t req;
    memset(&r, 0, sizeof(r));
    memset(&req, 0, sizeof(req));
    char *body = malloc(size - 1 ? size - 1 : 1); /* a private copy: ASan sees reads past the end */
    memcpy(body, data + 1, size - 1);
    req.entity = h2o_iovec_init(body, size - 1);
    r.req = &req;
    r.snap = snap;
    r.key = &snap->keys[0];
    r.ep = DP_EP_CHAT;
    r.in = &dp_anthropic_inbound;
    r.body_src = req.entity;
    r.count_only = data[0] & 1;
    strcpy(r.id, "fuzz");
    char msg[256];
    const char *param;
    if (r.in->parse(&r, msg, sizeof(msg), &param) == SY_E_OK &&
        dp_body_parse(&r, msg, sizeof(msg), &param) == SY_E_OK &&
        dp_route(&r, msg, sizeof(msg), &param) == SY_E_OK) {
        /* both upstream translations of what the router chose */
        for (size_t i = 0; i < snap->nmodels; i++) {
            r.model = &snap->models[i];
            if (r.model->provider->ops->prepare(&r) == 0) {
                free(r.up_body);
                r.up_body = NULL;
            }
        }
    }
    sy_arena_free(&r.arena);
    free(body);
    return 0;
}
