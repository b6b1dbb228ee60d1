/* libFuzzer: the usage spool reader (dp_usage_frames_scan), i.e. bytes found on disk after a
 * crash or corruption. Properties: it consumes only whole frames, never more than it was
 * given; every frame it hands out has a valid length and CRC; re-framing the payloads it
 * accepted reproduces the consumed prefix byte for byte; a callback that stops early stops
 * exactly there; payloads go through the same UsageRecord unpack the sender uses. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bus.pb-c.h"
#include "dp_usage.h"

typedef struct {
    uint8_t *out; /* re-framed payloads */
    size_t len, frames, stop_at;
} ctx_t;

static int on_frame(void *p, const uint8_t *payload, size_t n)
{
    ctx_t *c = p;
    if (c->frames == c->stop_at)
        return 1;
    if (n == 0 || n > DP_USAGE_FRAME_MAX)
        abort();
    c->len += dp_usage_frame_put(c->out + c->len, payload, n);
    c->frames++;
    Switchyard__UsageRecord *r = switchyard__usage_record__unpack(NULL, n, payload);
    if (r != NULL)
        switchyard__usage_record__free_unpacked(r, NULL);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    /* the first byte picks where the callback stops (255: never), the rest is the spool */
    size_t stop_at = data[0] == 255 ? SIZE_MAX : data[0];
    data++;
    size--;
    ctx_t c = {malloc(size + 8), 0, 0, stop_at};
    if (c.out == NULL)
        return 0;
    int bad = 0;
    size_t used = dp_usage_frames_scan(data, size, on_frame, &c, &bad);
    if (used > size || used != c.len || memcmp(c.out, data, used) != 0)
        abort();
    if (c.frames < stop_at && used < size && !bad)
        abort(); /* it stopped without a reason */
    /* (frames are checked before the callback sees them, so a bad frame right where the
     * callback would have stopped is reported as bad: both are fine) */
    free(c.out);
    return 0;
}
