/* libFuzzer: the request parser (stage 4) and router (stage 5) on arbitrary client bytes.
 * The first byte picks the endpoint; the rest is the body. */
#include <stdlib.h>
#include <string.h>

#include "dp.h"
#include "dp_config.h"

static dp_snapshot_t *snap;
static const dp_key_t *key;

static void init(void)
{
    static const char cfg[] =
        "{\"limits\":{\"max_body_bytes\":65536,\"max_json_depth\":32},"
        "\"providers\":[{\"id\":\"p\",\"kind\":\"openai\",\"base_url\":\"http://127.0.0.1:9/v1\"}],"
        "\"models\":[{\"id\":\"small\",\"provider\":\"p\"},{\"id\":\"e\",\"provider\":\"p\",\"capabilities\":[\"embeddings\"]}],"
        "\"workspaces\":[{\"id\":\"w\"}],"
        "\"keys\":[{\"id\":\"k\",\"workspace\":\"w\",\"allowed_models\":[\"small\"],"
        "\"sha256\":\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"}]}";
    char err[256];
    snap = dp_config_parse(cfg, sizeof(cfg) - 1, 1, err, sizeof(err));
    if (snap == NULL)
        abort();
    key = &snap->keys[0];
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
    /* a private copy so reads past the end are caught by ASan */
    char *body = malloc(size - 1 ? size - 1 : 1);
    memcpy(body, data + 1, size - 1);
    req.entity = h2o_iovec_init(body, size - 1);
    r.body_src = req.entity; /* stage 4 parses body_src (dp.h) */
    r.req = &req;
    r.snap = snap;
    r.key = key;
    r.ep = data[0] & 1 ? DP_EP_EMBEDDINGS : DP_EP_CHAT;
    char msg[256];
    const char *param;
    if (dp_body_parse(&r, msg, sizeof(msg), &param) == SY_E_OK)
        (void)dp_route(&r, msg, sizeof(msg), &param);
    sy_arena_free(&r.arena);
    free(body);
    return 0;
}
