/*
 * Keys and workspaces built by hand for the data plane's admission tests (test_limit.c,
 * test_reserve.c): what dp_snapshot_build would set on them, without a snapshot.
 */
#ifndef DP_TEST_KEY_H
#define DP_TEST_KEY_H

#include <string.h>

#include "dp_snapshot.h"

/* A key of `w` whose SHA-256 is derived from `tag` (distinct tags, distinct keys), with its
 * table id; `w` gets its table id and, unless the test chose one, the share of a one-node
 * fleet. Limits, budget and spend are the caller's to set. */
static inline dp_key_t dp_test_key(uint8_t tag, dp_workspace_t *w)
{
    dp_key_t k;
    memset(&k, 0, sizeof(k));
    k.id = "key";
    for (int i = 0; i < 32; i++)
        k.sha256[i] = (uint8_t)(tag * 31 + i);
    k.workspace = w;
    k.tid = dp_key_tid(k.sha256);
    w->tid = dp_workspace_tid(w->id);
    if (w->share_ppm == 0)
        w->share_ppm = 1000000;
    return k;
}

#endif
