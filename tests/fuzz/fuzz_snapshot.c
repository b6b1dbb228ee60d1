/* libFuzzer: a snapshot as it will arrive over the bus (protobuf bytes) → dp_snapshot. */
#include <stdlib.h>
#include <string.h>

#include "dp_snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Switchyard__Snapshot *pb = switchyard__snapshot__unpack(NULL, size, data);
    if (pb == NULL)
        return 0;
    char err[256];
    dp_snapshot_t *s = dp_snapshot_build(pb, err, sizeof(err));
    if (s != NULL)
        for (size_t i = 0; i < s->nkeys; i++)
            if (dp_snapshot_find_key(s, s->keys[i].sha256) != &s->keys[i])
                abort();
    dp_snapshot_unref(s);
    switchyard__snapshot__free_unpacked(pb, NULL);
    return 0;
}
