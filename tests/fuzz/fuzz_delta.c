/* libFuzzer: a delta as it arrives over the bus (the bytes after "delta": a packed
 * Switchyard__SnapshotDelta) applied with dp_snapshot_apply_delta on a fixed base (version 1,
 * created_at_ms 1, workspaces w1 w2, keys k1 k2 k3), then — the first two input bytes give the first delta's
 * length — a second delta on the result (the merge path). Every visible key must be found by its hash.
 * The whole input is also read as a PUB message (dp_bus_parse_notice): a pushed delta ("delta" +
 * SnapshotDelta) is applied on the base the same way. */
#include <stdlib.h>
#include <string.h>

#include "dp_bus.h"
#include "dp_snapshot.h"

static dp_snapshot_t *base;

static void make_base(void)
{
    static uint8_t sha[3][SY_SHA256_LEN];
    static Switchyard__Workspace w[2];
    static Switchyard__ApiKey k[3];
    static Switchyard__Workspace *wp[2];
    static Switchyard__ApiKey *kp[3];
    static const char *kid[3] = {"k1", "k2", "k3"}, *kws[3] = {"w1", "w1", "w2"}, *wid[2] = {"w1", "w2"};
    for (int i = 0; i < 2; i++) {
        switchyard__workspace__init(&w[i]);
        w[i].id = (char *)wid[i];
        w[i].has_balance = 1;
        w[i].balance_nano = 1000;
        wp[i] = &w[i];
    }
    for (int i = 0; i < 3; i++) {
        memset(sha[i], 'a' + i, SY_SHA256_LEN);
        switchyard__api_key__init(&k[i]);
        k[i].id = (char *)kid[i];
        k[i].workspace = (char *)kws[i];
        k[i].sha256.data = sha[i];
        k[i].sha256.len = SY_SHA256_LEN;
        kp[i] = &k[i];
    }
    Switchyard__Provider p = SWITCHYARD__PROVIDER__INIT, *pp = &p;
    p.id = "p";
    p.kind = "openai";
    p.base_url = "http://127.0.0.1:9/v1";
    Switchyard__Model m = SWITCHYARD__MODEL__INIT, *mp = &m;
    m.id = "m";
    m.provider = "p";
    m.upstream = "m";
    Switchyard__Snapshot pb = SWITCHYARD__SNAPSHOT__INIT;
    pb.version = 1;
    pb.created_at_ms = 1;
    pb.providers = &pp;
    pb.n_providers = 1;
    pb.models = &mp;
    pb.n_models = 1;
    pb.workspaces = wp;
    pb.n_workspaces = 2;
    pb.keys = kp;
    pb.n_keys = 3;
    char err[256];
    base = dp_snapshot_build(&pb, err, sizeof(err));
    if (base == NULL)
        abort();
}

static void check(const dp_snapshot_t *s)
{
    const dp_snapshot_t *b = s->base ? s->base : s;
    for (size_t i = 0; i < b->nkeys; i++) {
        const dp_key_t *k = dp_snapshot_find_key(s, b->keys[i].sha256);
        if (k != NULL && memcmp(k->sha256, b->keys[i].sha256, SY_SHA256_LEN) != 0 &&
            (k->prev_sha256 == NULL || memcmp(k->prev_sha256, b->keys[i].sha256, SY_SHA256_LEN) != 0))
            abort();
        if (k != NULL && k->workspace == NULL)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (base == NULL)
        make_base();
    dp_delta_result_t r;
    char err[256];
    uint64_t nv = 0;
    const uint8_t *pd = NULL;
    size_t pl = 0;
    dp_bus_notice_t kind = dp_bus_parse_notice(data, size, &nv, &pd, &pl);
    if ((kind == DP_BUS_NOTICE_VERSION) != (size == 8))
        abort();
    if (kind == DP_BUS_NOTICE_DELTA) {
        if (size <= 8 || size > DP_BUS_PUB_MAX || pd != data + 5 || pl != size - 5 ||
            memcmp(data, "delta", 5) != 0)
            abort();
        dp_snapshot_t *p = dp_snapshot_apply_delta(base, pd, pl, &r, err, sizeof(err));
        if ((p == NULL) == (r == DP_DELTA_OK))
            abort();
        if (p != NULL) {
            check(p);
            dp_snapshot_unref(p);
        }
    }
    if (size < 2)
        return 0;
    size_t split = 2 + ((size_t)data[0] << 8 | data[1]); /* the first delta's length, big-endian */
    if (split > size)
        split = size;
    dp_snapshot_t *s1 = dp_snapshot_apply_delta(base, data + 2, split - 2, &r, err, sizeof(err));
    if ((s1 == NULL) == (r == DP_DELTA_OK))
        abort();
    if (s1 != NULL) {
        check(s1);
        dp_snapshot_t *s2 = dp_snapshot_apply_delta(s1, data + split, size - split, &r, err, sizeof(err));
        if (s2 != NULL) {
            if (s2->base != base)
                abort();
            check(s2);
        }
        dp_snapshot_unref(s1);
        dp_snapshot_unref(s2);
    }
    return 0;
}
