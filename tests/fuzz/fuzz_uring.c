/* libFuzzer: the usage ring's recovery parser (dp_uring_scan), i.e. a ring file as a crash or
 * corruption can leave it (dataplane/dp_uring.h). Properties: it never reads past what it was
 * given; every payload it hands out lies inside one whole slot of the input (of the slot size its
 * header states: rings of older nodes have smaller slots), has a length in 1..slot - header and
 * the CRC its slot states; its count equals the callbacks made (or
 * -1 with none made); a callback that stops early stops exactly there; payloads go through the
 * UsageRecord unpack the start-up recovery uses. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bus.pb-c.h"
#include "dp_uring.h"
#include "dp_usage.h"

typedef struct {
    const uint8_t *base;
    size_t size, calls, stop_at, slot;
} ctx_t;

static int on_slot(void *p, const uint8_t *payload, size_t n)
{
    ctx_t *c = p;
    if (c->calls == c->stop_at)
        return 1;
    if (n == 0 || n > c->slot - DP_URING_SLOT_HDR || payload < c->base + DP_URING_HDR + DP_URING_SLOT_HDR ||
        payload + n > c->base + c->size)
        abort();
    size_t off = (size_t)(payload - c->base) - DP_URING_HDR;
    if (off % c->slot != DP_URING_SLOT_HDR || off - DP_URING_SLOT_HDR + c->slot > c->size - DP_URING_HDR)
        abort(); /* not the payload of a whole slot */
    uint32_t crc;
    memcpy(&crc, payload - DP_URING_SLOT_HDR + 8, 4);
    if (dp_usage_crc32c(payload, n) != crc)
        abort();
    c->calls++;
    Switchyard__UsageRecord *r = switchyard__usage_record__unpack(NULL, n, payload);
    if (r != NULL)
        switchyard__usage_record__free_unpacked(r, NULL);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    /* the first byte picks where the callback stops (255: never); the rest is the file, whose
     * header is forced valid half the time so that the slots get explored */
    size_t stop_at = data[0] == 255 ? SIZE_MAX : data[0];
    int fix = data[0] & 1;
    data++;
    size--;
    uint8_t *buf = malloc(size ? size : 1);
    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    if (fix && size >= DP_URING_HDR) {
        /* this node's slot size, or an older node's 1 KiB one (data[0] bit 1) */
        uint32_t slot = (data[-1] & 2) ? 1024u : DP_URING_SLOT;
        memcpy(buf, DP_URING_MAGIC, 8);
        uint32_t geo[2] = {slot, 1u + (uint32_t)(size / slot)};
        memcpy(buf + 8, geo, sizeof(geo));
    }
    uint32_t geo_slot = 0;
    if (size >= DP_URING_HDR)
        memcpy(&geo_slot, buf + 8, 4);
    ctx_t c = {buf, size, 0, stop_at, geo_slot ? geo_slot : 1};
    size_t bad = 0;
    long n = dp_uring_scan(buf, size, on_slot, &c, &bad);
    if (n < 0 ? c.calls != 0 : (size_t)n != c.calls)
        abort();
    if (n >= 0 && bad > (size - DP_URING_HDR) / c.slot)
        abort();
    free(buf);
    return 0;
}
