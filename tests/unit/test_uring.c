/* The usage ring (dataplane/dp_uring.h): put, drain, release, wrap-around, and the recovery
 * parser on what a crash can leave in the file — committed-not-consumed slots, a slot torn by a
 * kill before its commit, a bad CRC, a length out of range, garbage state, a short file. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dp_uring.h"
#include "dp_usage.h"
#include "sy_test.h"

typedef struct {
    int seen[64];
    size_t n;
} got_t;

/* payloads are "rec-<k>" */
static int on_rec(void *ctx, const uint8_t *p, size_t n)
{
    got_t *g = ctx;
    char s[32];
    if (n >= sizeof(s))
        return 0;
    memcpy(s, p, n);
    s[n] = '\0';
    int k = atoi(s + 4);
    if (k >= 0 && k < 64)
        g->seen[k]++;
    g->n++;
    return 0;
}

static void put(dp_uring_t *r, int k)
{
    uint8_t *p = dp_uring_reserve(r);
    CHECK(p != NULL);
    if (p == NULL)
        return;
    int n = snprintf((char *)p, DP_URING_PAYLOAD_MAX, "rec-%d", k);
    dp_uring_commit(r, (size_t)n);
}

static uint8_t *read_all(int dirfd, const char *name, size_t *len)
{
    int fd = openat(dirfd, name, O_RDONLY);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0)
        return NULL;
    uint8_t *b = malloc((size_t)sb.st_size);
    *len = b ? (size_t)pread(fd, b, (size_t)sb.st_size, 0) : 0;
    close(fd);
    return b;
}

static void test_ring(void)
{
    char dir[] = "/tmp/sy-uring-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY);
    dp_uring_t r;
    CHECK(dp_uring_open(&r, dirfd, "ring-00.usr", 4) == 0);
    size_t n;
    CHECK(dp_uring_peek(&r, &n) == NULL);

    /* wrap-around: 3 laps of put, drain, release on a 4-slot ring */
    int k = 0;
    for (int lap = 0; lap < 3; lap++) {
        for (int i = 0; i < 3; i++)
            put(&r, k++);
        int drained = 0;
        const uint8_t *p;
        while ((p = dp_uring_peek(&r, &n)) != NULL) {
            CHECK(n >= 5 && memcmp(p, "rec-", 4) == 0);
            dp_uring_advance(&r);
            drained++;
        }
        CHECK(drained == 3);
        CHECK(dp_uring_release(&r) == 3);
    }
    /* full: 4 committed, a 5th has no slot; drained but not released: still full, and a drained
     * slot is not handed out twice */
    for (int i = 0; i < 4; i++)
        put(&r, 20 + i);
    CHECK(dp_uring_reserve(&r) == NULL);
    int drained = 0;
    while (dp_uring_peek(&r, &n) != NULL) {
        dp_uring_advance(&r);
        drained++;
    }
    CHECK(drained == 4);
    CHECK(dp_uring_reserve(&r) == NULL);

    /* a crash now: all four are committed-not-consumed (read but not released counts) */
    size_t len, bad;
    uint8_t *b = read_all(dirfd, "ring-00.usr", &len);
    CHECK(b != NULL && len == DP_URING_HDR + 4 * DP_URING_SLOT);
    got_t g = {{0}, 0};
    CHECK(dp_uring_scan(b, len, on_rec, &g, &bad) == 4);
    CHECK(bad == 0 && g.seen[20] == 1 && g.seen[23] == 1 && g.seen[0] == 0);
    free(b);

    /* two released, one put after the wrap: 2 old + 1 new committed */
    CHECK(dp_uring_release(&r) == 4);
    put(&r, 30);
    put(&r, 31);
    b = read_all(dirfd, "ring-00.usr", &len);
    memset(&g, 0, sizeof(g));
    CHECK(dp_uring_scan(b, len, on_rec, &g, &bad) == 2);
    CHECK(g.seen[30] == 1 && g.seen[31] == 1 && g.seen[20] == 0);

    /* 9 + 4 puts on 4 slots: rec-30 and rec-31 are in slots 1 and 2. What a crash can leave:
     * slot 1 (rec-30) with a bad CRC, slot 2 (rec-31) with a length out of range, slot 0 torn
     * before its commit (payload written, state still free), slot 3 a garbage state */
    uint8_t *s0 = b + DP_URING_HDR, *s1 = s0 + DP_URING_SLOT, *s2 = s1 + DP_URING_SLOT,
            *s3 = s2 + DP_URING_SLOT;
    s1[DP_URING_SLOT_HDR] ^= 0x40;
    uint32_t big = DP_URING_PAYLOAD_MAX + 1;
    memcpy(s2 + 4, &big, 4);
    memcpy(s0 + DP_URING_SLOT_HDR, "rec-9", 5);
    memcpy(s3, "\x01\x02\x03\x04", 4);
    memset(&g, 0, sizeof(g));
    CHECK(dp_uring_scan(b, len, on_rec, &g, &bad) == 0);
    CHECK(bad == 3 && g.n == 0);

    /* a short file: only whole slots are read; not a ring: -1 */
    s1[DP_URING_SLOT_HDR] ^= 0x40; /* rec-30 intact again */
    memset(&g, 0, sizeof(g));
    CHECK(dp_uring_scan(b, DP_URING_HDR + 2 * DP_URING_SLOT + 100, on_rec, &g, &bad) == 1 && g.seen[30] == 1);
    CHECK(dp_uring_scan(b, DP_URING_HDR - 1, on_rec, &g, &bad) == -1);
    b[0] = 'X';
    CHECK(dp_uring_scan(b, len, on_rec, &g, &bad) == -1);
    free(b);

    dp_uring_close(&r);
    unlinkat(dirfd, "ring-00.usr", 0);
    close(dirfd);
    rmdir(dir);
}

/* A ring written by an older node (1 KiB slots) is read with the geometry its header states,
 * so an upgrade delivers what the old node left; a slot size out of range is not a ring. */
static void test_older_geometry(void)
{
    enum { OLD = 1024 };
    size_t len = DP_URING_HDR + 3 * OLD, bad;
    uint8_t *b = calloc(1, len);
    CHECK(b != NULL);
    memcpy(b, DP_URING_MAGIC, 8);
    uint32_t geo[2] = {OLD, 3};
    memcpy(b + 8, geo, sizeof(geo));
    for (int i = 0; i < 3; i += 2) { /* slots 0 and 2 committed, 1 free */
        uint8_t *slot = b + DP_URING_HDR + (size_t)i * OLD;
        char rec[16];
        int n = snprintf(rec, sizeof(rec), "rec-%d", 40 + i);
        memcpy(slot + DP_URING_SLOT_HDR, rec, (size_t)n);
        uint32_t w[3] = {DP_URING_COMMITTED, (uint32_t)n, dp_usage_crc32c(slot + DP_URING_SLOT_HDR, (size_t)n)};
        memcpy(slot, w, sizeof(w));
    }
    got_t g = {{0}, 0};
    CHECK(dp_uring_scan(b, len, on_rec, &g, &bad) == 2);
    CHECK(bad == 0 && g.seen[40] == 1 && g.seen[42] == 1);
    geo[0] = 12; /* smaller than a slot header */
    memcpy(b + 8, geo, sizeof(geo));
    CHECK(dp_uring_scan(b, len, on_rec, &g, &bad) == -1);
    geo[0] = 1 << 20;
    memcpy(b + 8, geo, sizeof(geo));
    CHECK(dp_uring_scan(b, len, on_rec, &g, &bad) == -1);
    free(b);
}

int main(void)
{
    test_ring();
    test_older_geometry();
    SY_TEST_MAIN_END();
}
