/* Unit tests for delta updates on the data plane (dp_snapshot_apply_delta): a delta applies only
 * on its exact base, overlays merge over one base, a changed workspace re-points its base keys,
 * removals hide base keys, and refusals (wrong base, corrupt, invalid, full) leave nothing
 * behind. Run under ASan too: the derived snapshots keep their base alive. */
#include <stdlib.h>

#include "dp_bus.h"
#include "dp_snapshot.h"
#include "sy_test.h"

static uint8_t sha[8][SY_SHA256_LEN];

static Switchyard__Workspace *ws(const char *id, int64_t bal)
{
    Switchyard__Workspace *w = calloc(1, sizeof(*w));
    switchyard__workspace__init(w);
    w->id = (char *)id;
    w->active = 1;
    w->has_balance = 1;
    w->balance_nano = bal;
    return w;
}

static Switchyard__ApiKey *key(const char *id, int n, const char *w, int revoked)
{
    Switchyard__ApiKey *k = calloc(1, sizeof(*k));
    switchyard__api_key__init(k);
    k->id = (char *)id;
    k->sha256.data = sha[n];
    k->sha256.len = SY_SHA256_LEN;
    k->workspace = (char *)w;
    k->revoked = revoked;
    return k;
}

/* A packed delta; frees the rows it was given. */
static uint8_t *pack(uint64_t from, int64_t from_created, uint64_t to, Switchyard__Workspace **w, size_t nw,
                     Switchyard__ApiKey **k, size_t nk, char **rk, size_t nrk, char **rw, size_t nrw,
                     size_t *len)
{
    Switchyard__SnapshotDelta d = SWITCHYARD__SNAPSHOT_DELTA__INIT;
    d.version = to;
    d.created_at_ms = 1000 + (int64_t)to;
    d.from_version = from;
    d.from_created_at_ms = from_created;
    d.workspaces = w;
    d.n_workspaces = nw;
    d.keys = k;
    d.n_keys = nk;
    d.removed_keys = rk;
    d.n_removed_keys = nrk;
    d.removed_workspaces = rw;
    d.n_removed_workspaces = nrw;
    *len = switchyard__snapshot_delta__get_packed_size(&d);
    uint8_t *b = malloc(*len ? *len : 1);
    switchyard__snapshot_delta__pack(&d, b);
    for (size_t i = 0; i < nw; i++)
        free(w[i]);
    for (size_t i = 0; i < nk; i++)
        free(k[i]);
    return b;
}

static dp_snapshot_t *apply(dp_snapshot_t *cur, uint8_t *b, size_t len, dp_delta_result_t *r)
{
    char err[256] = "";
    dp_snapshot_t *s = dp_snapshot_apply_delta(cur, b, len, r, err, sizeof(err));
    if (s == NULL && *r != DP_DELTA_WRONG_BASE && *r != DP_DELTA_FULL)
        fprintf(stderr, "  (refused: %s)\n", err);
    free(b);
    return s;
}

int main(void)
{
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < SY_SHA256_LEN; j++)
            sha[i][j] = (uint8_t)(i * 37 + j * 11 + 1);
    /* the base: two workspaces, three keys */
    Switchyard__Provider p = SWITCHYARD__PROVIDER__INIT;
    p.id = "mock";
    p.kind = "openai";
    p.base_url = "http://127.0.0.1:9/v1";
    p.api_key_env = "";
    p.ca_file = "";
    Switchyard__Provider *pp = &p;
    Switchyard__Model m = SWITCHYARD__MODEL__INIT;
    m.id = "m";
    m.provider = "mock";
    m.upstream = "m";
    Switchyard__Model *mp = &m;
    Switchyard__Workspace *w[2] = {ws("ws1", 100), ws("ws2", 200)};
    Switchyard__ApiKey *k[3] = {key("k1", 1, "ws1", 0), key("k2", 2, "ws1", 0), key("k3", 3, "ws2", 0)};
    Switchyard__Snapshot pb = SWITCHYARD__SNAPSHOT__INIT;
    pb.version = 10;
    pb.created_at_ms = 5000;
    pb.providers = &pp;
    pb.n_providers = 1;
    pb.models = &mp;
    pb.n_models = 1;
    pb.workspaces = w;
    pb.n_workspaces = 2;
    pb.keys = k;
    pb.n_keys = 3;
    char err[256];
    dp_snapshot_t *s1 = dp_snapshot_build(&pb, err, sizeof(err));
    for (int i = 0; i < 2; i++)
        free(w[i]);
    for (int i = 0; i < 3; i++)
        free(k[i]);
    CHECK(s1 != NULL);
    if (s1 == NULL)
        SY_TEST_MAIN_END();
    dp_delta_result_t r;
    size_t len;
    uint8_t *b;

    /* a delta for another base: another version, or the same version with another created_at_ms */
    Switchyard__ApiKey *rev1[1] = {key("k1", 1, "ws1", 1)};
    b = pack(9, 5000, 11, NULL, 0, rev1, 1, NULL, 0, NULL, 0, &len);
    CHECK(apply(s1, b, len, &r) == NULL && r == DP_DELTA_WRONG_BASE);
    Switchyard__ApiKey *rev1b[1] = {key("k1", 1, "ws1", 1)};
    b = pack(10, 4999, 11, NULL, 0, rev1b, 1, NULL, 0, NULL, 0, &len);
    CHECK(apply(s1, b, len, &r) == NULL && r == DP_DELTA_WRONG_BASE);
    /* garbage */
    uint8_t junk[] = {0xff, 0xff, 0xff, 0x01, 0x02};
    char e2[128];
    CHECK(dp_snapshot_apply_delta(s1, junk, sizeof(junk), &r, e2, sizeof(e2)) == NULL &&
          r == DP_DELTA_CORRUPT);

    /* PUB messages (dp_bus_parse_notice): 8 bytes are a version; "delta" + more is a pushed delta */
    {
        uint8_t note[8] = {0, 0, 0, 0, 0, 0, 0x01, 0x02}, msg[512];
        uint64_t v = 0;
        const uint8_t *d = NULL;
        size_t dl = 0;
        CHECK(dp_bus_parse_notice(note, 8, &v, &d, &dl) == DP_BUS_NOTICE_VERSION && v == 0x102);
        CHECK(dp_bus_parse_notice((const uint8_t *)"deltaXYZ", 8, &v, &d, &dl) == DP_BUS_NOTICE_VERSION);
        CHECK(dp_bus_parse_notice((const uint8_t *)"delta", 5, &v, &d, &dl) == DP_BUS_NOTICE_OTHER);
        CHECK(dp_bus_parse_notice((const uint8_t *)"deltb123456", 11, &v, &d, &dl) == DP_BUS_NOTICE_OTHER);
        CHECK(dp_bus_parse_notice(note, DP_BUS_PUB_MAX + 1, &v, &d, &dl) == DP_BUS_NOTICE_OTHER);
        Switchyard__ApiKey *prev[1] = {key("k1", 1, "ws1", 1)};
        b = pack(10, 5000, 11, NULL, 0, prev, 1, NULL, 0, NULL, 0, &len);
        CHECK(len + 5 <= sizeof(msg));
        memcpy(msg, "delta", 5);
        memcpy(msg + 5, b, len);
        CHECK(dp_bus_parse_notice(msg, len + 5, &v, &d, &dl) == DP_BUS_NOTICE_DELTA && d == msg + 5 &&
              dl == len);
        free(b);
        char e3[128];
        dp_snapshot_t *p = dp_snapshot_apply_delta(s1, d, dl, &r, e3, sizeof(e3));
        CHECK(p != NULL && r == DP_DELTA_OK && p->version == 11);
        if (p != NULL)
            dp_snapshot_unref(p);
    }

    /* 10 -> 11: k1 revoked */
    Switchyard__ApiKey *rev[1] = {key("k1", 1, "ws1", 1)};
    b = pack(10, 5000, 11, NULL, 0, rev, 1, NULL, 0, NULL, 0, &len);
    dp_snapshot_t *s2 = apply(s1, b, len, &r);
    CHECK(s2 != NULL && r == DP_DELTA_OK);
    if (s2 == NULL)
        SY_TEST_MAIN_END();
    CHECK(s2->version == 11 && s2->base == s1 && s2->created_at_ms == 1011);
    const dp_key_t *f = dp_snapshot_find_key(s2, sha[1]);
    CHECK(f != NULL && f->revoked && strcmp(f->workspace->id, "ws1") == 0);
    CHECK(dp_snapshot_find_key(s2, sha[2]) ==
          dp_snapshot_find_key(s1, sha[2]));           /* untouched: the base's row */
    CHECK(!dp_snapshot_find_key(s1, sha[1])->revoked); /* the base never changes */

    /* 11 -> 13 on s2: k2 removed, ws1's balance changes (k? of ws1 follow), k3 rotated to sha[4] */
    Switchyard__Workspace *w1[1] = {ws("ws1", 7)};
    Switchyard__ApiKey *rot[1] = {key("k3", 4, "ws2", 0)};
    char *gone[1] = {"k2"};
    b = pack(11, 1011, 13, w1, 1, rot, 1, gone, 1, NULL, 0, &len);
    dp_snapshot_t *s3 = apply(s2, b, len, &r);
    CHECK(s3 != NULL && r == DP_DELTA_OK);
    if (s3 == NULL)
        SY_TEST_MAIN_END();
    CHECK(s3->base == s1); /* merged over the one base, never a chain */
    CHECK(dp_snapshot_find_key(s3, sha[2]) == NULL);
    CHECK(dp_snapshot_find_key(s3, sha[3]) == NULL); /* the rotated key's old hash is gone */
    f = dp_snapshot_find_key(s3, sha[4]);
    CHECK(f != NULL && strcmp(f->id, "k3") == 0 && f->workspace->balance == 200);
    f = dp_snapshot_find_key(s3, sha[1]);
    CHECK(f != NULL && f->revoked && f->workspace->balance == 7); /* still revoked (merged), new balance */
    /* the older snapshots are as they were */
    CHECK(dp_snapshot_find_key(s2, sha[2]) != NULL &&
          dp_snapshot_find_key(s2, sha[1])->workspace->balance == 100);

    /* a removed workspace whose key stays: refused */
    char *wgone[1] = {"ws2"};
    b = pack(13, 1013, 14, NULL, 0, NULL, 0, NULL, 0, wgone, 1, &len);
    CHECK(apply(s3, b, len, &r) == NULL && r == DP_DELTA_INVALID);
    /* ... and with its key removed too: applied */
    char *kgone[1] = {"k3"};
    char *wgone2[1] = {"ws2"};
    b = pack(13, 1013, 14, NULL, 0, NULL, 0, kgone, 1, wgone2, 1, &len);
    dp_snapshot_t *s4 = apply(s3, b, len, &r);
    CHECK(s4 != NULL && dp_snapshot_find_key(s4, sha[4]) == NULL && dp_snapshot_find_key(s4, sha[1]) != NULL);
    /* a key of an unknown workspace, a key hash that another visible key has: refused */
    Switchyard__ApiKey *bad[1] = {key("k9", 5, "nowhere", 0)};
    b = pack(13, 1013, 14, NULL, 0, bad, 1, NULL, 0, NULL, 0, &len);
    CHECK(apply(s3, b, len, &r) == NULL && r == DP_DELTA_INVALID);
    Switchyard__ApiKey *dup[1] = {key("k9", 1, "ws1", 0)};
    b = pack(13, 1013, 14, NULL, 0, dup, 1, NULL, 0, NULL, 0, &len);
    CHECK(apply(s3, b, len, &r) == NULL && r == DP_DELTA_INVALID);
    /* over the overlay cap: full (the node then builds the whole snapshot) */
    size_t n = DP_OVERLAY_MAX + 1;
    char **many = calloc(n, sizeof(char *));
    char(*names)[16] = calloc(n, 16);
    for (size_t i = 0; i < n; i++) {
        snprintf(names[i], 16, "x%zu", i);
        many[i] = names[i];
    }
    b = pack(13, 1013, 14, NULL, 0, NULL, 0, many, n, NULL, 0, &len);
    CHECK(apply(s3, b, len, &r) == NULL && r == DP_DELTA_FULL);
    free(many);
    free(names);

    /* lifetimes: the base goes last, whatever order the others are released in */
    dp_snapshot_unref(s1);
    dp_snapshot_unref(s3);
    CHECK(dp_snapshot_find_key(s4, sha[1]) != NULL);
    dp_snapshot_unref(s2);
    dp_snapshot_unref(s4);
    SY_TEST_MAIN_END();
}
