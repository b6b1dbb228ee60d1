/*
 * dp_uring — the usage ring (contract and format in dp_uring.h).
 */
#include "dp_uring.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dp_usage.h"

static uint32_t *slot_word(const dp_uring_t *r, uint32_t i, unsigned w)
{
    return (uint32_t *)(void *)(r->map + DP_URING_HDR + (size_t)i * DP_URING_SLOT + 4u * w);
}

int dp_uring_open(dp_uring_t *r, int dirfd, const char *name, uint32_t nslots)
{
    memset(r, 0, sizeof(*r));
    if (nslots == 0) {
        errno = EINVAL;
        return -1;
    }
    size_t len = DP_URING_HDR + (size_t)nslots * DP_URING_SLOT;
    int fd = openat(dirfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    int rc = posix_fallocate(fd, 0, (off_t)len); /* blocks now: no SIGBUS on a full disk later */
    if (rc != 0) {
        close(fd);
        unlinkat(dirfd, name, 0);
        errno = rc;
        return -1;
    }
    void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int e = errno;
    close(fd); /* the mapping keeps the file */
    if (m == MAP_FAILED) {
        unlinkat(dirfd, name, 0);
        errno = e;
        return -1;
    }
    uint8_t *h = m;
    memcpy(h, DP_URING_MAGIC, 8);
    uint32_t geo[2] = {DP_URING_SLOT, nslots};
    memcpy(h + 8, geo, sizeof(geo));
    /* touch every page now (the blocks read back as zeros: all slots free), so the first puts do
     * not take the faults */
    for (size_t off = DP_URING_HDR; off < len; off += 4096)
        h[off] = 0;
    r->map = h;
    r->map_len = len;
    r->nslots = nslots;
    return 0;
}

void dp_uring_close(dp_uring_t *r)
{
    if (r->map != NULL)
        munmap(r->map, r->map_len);
    memset(r, 0, sizeof(*r));
}

uint8_t *dp_uring_reserve(dp_uring_t *r)
{
    if (r->map == NULL || __atomic_load_n(slot_word(r, r->head, 0), __ATOMIC_ACQUIRE) != 0)
        return NULL;
    return r->map + DP_URING_HDR + (size_t)r->head * DP_URING_SLOT + DP_URING_SLOT_HDR;
}

void dp_uring_commit(dp_uring_t *r, size_t len)
{
    uint8_t *payload = r->map + DP_URING_HDR + (size_t)r->head * DP_URING_SLOT + DP_URING_SLOT_HDR;
    *slot_word(r, r->head, 1) = (uint32_t)len;
    *slot_word(r, r->head, 2) = dp_usage_crc32c(payload, len);
    __atomic_store_n(slot_word(r, r->head, 0), DP_URING_COMMITTED, __ATOMIC_RELEASE);
    r->head = r->head + 1 == r->nslots ? 0 : r->head + 1;
}

const uint8_t *dp_uring_peek(const dp_uring_t *r, size_t *len)
{
    if (r->map == NULL || __atomic_load_n(slot_word(r, r->tail, 0), __ATOMIC_ACQUIRE) != DP_URING_COMMITTED)
        return NULL;
    /* a stepped-past slot stays committed until released: after a full lap, that is the end */
    if (*slot_word(r, r->tail, 3) == 1u)
        return NULL;
    *len = *slot_word(r, r->tail, 1);
    return r->map + DP_URING_HDR + (size_t)r->tail * DP_URING_SLOT + DP_URING_SLOT_HDR;
}

void dp_uring_advance(dp_uring_t *r)
{
    *slot_word(r, r->tail, 3) = 1u; /* read: only the consumer writes this word */
    r->tail = r->tail + 1 == r->nslots ? 0 : r->tail + 1;
}

size_t dp_uring_release(dp_uring_t *r)
{
    size_t n = 0;
    while (r->map != NULL && *slot_word(r, r->rel, 3) == 1u) {
        *slot_word(r, r->rel, 3) = 0;
        __atomic_store_n(slot_word(r, r->rel, 0), 0u, __ATOMIC_RELEASE);
        r->rel = r->rel + 1 == r->nslots ? 0 : r->rel + 1;
        n++;
    }
    return n;
}

long dp_uring_scan(const uint8_t *buf, size_t len, int (*cb)(void *ctx, const uint8_t *p, size_t n),
                   void *ctx, size_t *bad)
{
    *bad = 0;
    if (len < DP_URING_HDR || memcmp(buf, DP_URING_MAGIC, 8) != 0)
        return -1;
    uint32_t geo[2];
    memcpy(geo, buf + 8, sizeof(geo));
    /* the slot size is the writer's: a ring left by an older node (1024-byte slots) is read with
     * its own geometry, so an upgrade loses nothing */
    size_t slot = geo[0];
    if (slot < DP_URING_SLOT_HDR + 64 || slot > 65536 || slot % 8 != 0 || geo[1] == 0)
        return -1;
    size_t whole = (len - DP_URING_HDR) / slot;
    if (whole > geo[1])
        whole = geo[1];
    long n = 0;
    for (size_t i = 0; i < whole; i++) {
        const uint8_t *s = buf + DP_URING_HDR + i * slot;
        uint32_t w[3];
        memcpy(w, s, sizeof(w));
        if (w[0] == 0)
            continue;
        if (w[0] != DP_URING_COMMITTED || w[1] == 0 || w[1] > slot - DP_URING_SLOT_HDR ||
            dp_usage_crc32c(s + DP_URING_SLOT_HDR, w[1]) != w[2]) {
            (*bad)++;
            continue;
        }
        if (cb != NULL && cb(ctx, s + DP_URING_SLOT_HDR, w[1]) != 0)
            break;
        n++;
    }
    return n;
}
