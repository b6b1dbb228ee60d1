/* libFuzzer: the upstream SSE parser, fed in pieces whose sizes come from the input, with
 * each event's data parsed as the relay does. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sy_sse.h"

static int on_event(void *ctx, const sy_sse_event_t *ev)
{
    size_t *count = ctx;
    (*count)++;
    if (ev->raw_len == 0)
        abort(); /* an event always has bytes */
    if (ev->data != NULL) {
        if (ev->data[ev->data_len] != '\0')
            abort(); /* data is NUL-terminated for the JSON parser */
        cJSON_Delete(cJSON_ParseWithLength(ev->data, ev->data_len));
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = (size_t)data[0] % 64 + 1;
    sy_sse_t p;
    sy_sse_init(&p, 4096);
    size_t count = 0;
    for (size_t off = 1; off < size; off += step) {
        size_t n = size - off < step ? size - off : step;
        char *piece = malloc(n);
        memcpy(piece, data + off, n);
        int rc = sy_sse_feed(&p, piece, n, on_event, &count);
        free(piece);
        if (rc != 0)
            break;
        if (sy_sse_pending(&p) > 4096 + step)
            abort(); /* the buffer is bounded by the cap plus one feed */
    }
    sy_sse_dispose(&p);
    return 0;
}
