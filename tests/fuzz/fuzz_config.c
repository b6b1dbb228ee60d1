/* libFuzzer: the config/catalog file → snapshot path (the same builder the bus will use). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dp_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    char err[256];
    dp_snapshot_t *s = dp_config_parse(copy, size, 1, err, sizeof(err));
    if (s != NULL) {
        for (size_t i = 0; i < s->nmodels; i++)
            if (dp_snapshot_find_model(s, s->models[i].id, strlen(s->models[i].id)) != &s->models[i])
                abort();
        for (size_t i = 0; i < s->nkeys; i++)
            if (dp_snapshot_find_key(s, s->keys[i].sha256) != &s->keys[i])
                abort();
    }
    dp_snapshot_unref(s);
    free(copy);
    return 0;
}
