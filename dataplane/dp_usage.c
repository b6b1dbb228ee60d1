/*
 * dp_usage — usage records: hand-off queue, on-disk spool, sending to the control plane.
 * The contract is in dp_usage.h; the operator's view in docs/billing.md ("Data plane").
 */
#include "dp_usage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <openssl/rand.h>

#include "bus.pb-c.h"
#include "dp_bus.h"
#include "dp_uring.h"
#include "sy_log.h"
#include "sy_util.h"

enum {
    BATCH_MAX_RECORDS = 1000,          /* the control plane's cap */
    BATCH_MAX_BYTES = 900 * 1024,      /* under its 1 MiB cap, with room for the envelope */
    READ_CHUNK = 1024 * 1024 + 8192,   /* one read of a segment: more than one batch */
    SEG_MAX = 16 * 1024 * 1024,        /* an active segment this large is closed, a new one opened */
    SEG_ROTATE_ACKED = 1024 * 1024,    /* a fully acknowledged active segment this large is replaced */
    WAKE_MS = 50,                      /* the spooler's idle tick (timers, retries) */
    DISK_RETRY_MS = 500,               /* a failing spool is tried again this often */
    SEND_BACKOFF_MS = 500,             /* after a failed send or a retryable refusal */
    SEND_TIMEOUT_MS = 1000,            /* nng send: no pipe to the control plane within this */
    SEND_MIN_INTERVAL_MS = 50,         /* after a partial batch: each batch is one durable SQLite
                                        * commit on the control plane, so a trickle of tiny batches
                                        * is gathered for this long (<= 20 commits/s per node).
                                        * Short, because the batch that uses a balance up is what
                                        * makes the fleet refuse (docs/admission.md, "Exhaustion").
                                        * Full batches (a backlog) go back to back. */
    STOP_GRACE_MS = 2000,              /* at stop: time to get pending batches acknowledged */
    DEFAULT_MEM_MAX = 10000,
    DEFAULT_ACK_TIMEOUT_MS = 10000,
};

/* ---------------------------------------------------------------- CRC-32C (Castagnoli) */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[i] = c;
    }
}

uint32_t dp_usage_crc32c(const void *p, size_t n)
{
    pthread_once(&crc_once, crc_init);
    const uint8_t *b = p;
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++)
        c = crc_table[(c ^ b[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

/* ---------------------------------------------------------------- frames */

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

size_t dp_usage_frame_put(uint8_t *out, const uint8_t *payload, size_t n)
{
    put_le32(out, (uint32_t)n);
    put_le32(out + 4, dp_usage_crc32c(payload, n));
    memcpy(out + 8, payload, n);
    return n + 8;
}

size_t dp_usage_frames_scan(const uint8_t *buf, size_t len, int (*cb)(void *ctx, const uint8_t *p, size_t n),
                            void *ctx, int *stopped_bad)
{
    size_t off = 0;
    *stopped_bad = 0;
    while (off < len) {
        if (len - off < 8) {
            *stopped_bad = 1; /* a torn header */
            break;
        }
        uint32_t n = get_le32(buf + off), crc = get_le32(buf + off + 4);
        if (n == 0 || n > DP_USAGE_FRAME_MAX || n > len - off - 8 ||
            dp_usage_crc32c(buf + off + 8, n) != crc) {
            *stopped_bad = 1; /* torn payload, or bytes that were never a frame */
            break;
        }
        if (cb != NULL && cb(ctx, buf + off + 8, n) != 0)
            break;
        off += 8 + (size_t)n;
    }
    return off;
}

/* ---------------------------------------------------------------- ids */

static char boot_hex[25] = "000000000000000000000000";

void dp_usage_mint_id(char *out, unsigned thread_index)
{
    static __thread uint64_t seq;
    snprintf(out, 48, "u%s%02x%012" PRIx64, boot_hex, thread_index & 0xffu, (uint64_t)(++seq & 0xffffffffffffull));
}

/* ---------------------------------------------------------------- state */

typedef struct mrec {
    struct mrec *next;
    size_t len;
    uint8_t data[]; /* a packed UsageRecord */
} mrec_t;

typedef struct {
    uint64_t seq, end; /* segment number; end of its intact frames */
} seg_t;

enum { FL_IDLE, FL_SENDING, FL_RECEIVING };

static struct {
    /* shared with the loop threads: the queue (mu), flags and counters (atomics) */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    dp_usage_rec_t *qhead, *qtail;
    size_t qlen;
    int stop, aio_done;
    atomic_int enabled, refusing;
    atomic_size_t held; /* records in the spooler's memory list */
    atomic_ullong minted, spooled, sent, acked, rejected, write_errors, passed, disk_bytes, base_pending;

    /* fixed at start */
    dp_usage_opts_t o;
    pthread_t tid;

    /* the spooler thread's own */
    nng_socket req;
    nng_aio *aio;
    int dirfd, wfd, rfd;
    uint64_t rfd_seq;
    seg_t *segs;
    size_t nsegs, segcap;
    uint64_t cur_off;      /* acknowledged position inside segs[0] */
    int disk_ok;
    uint64_t next_disk_try, next_send;
    mrec_t *mhead, *mtail;
    size_t mn;
    uint64_t mem_gen; /* bumped when the memory list moves to disk */
    uint64_t batch_seq;
    dp_uring_t *rings; /* one per loop thread (opts.rings), filled by that thread, drained here */
    size_t nrings;
    size_t split_left; /* after a refused batch: send one record at a time for this many */
    uint8_t *rbuf;
    struct {
        int state, from_mem;
        size_t n;
        uint64_t end_off, mem_gen;
        uint8_t *one; /* the payload of a one-record batch, for quarantine */
        size_t one_len;
        char batch_id[64];
    } fl;
} g = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER, .dirfd = -1, .wfd = -1, .rfd = -1};

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int dp_usage_enabled(void)
{
    return atomic_load_explicit(&g.enabled, memory_order_relaxed);
}

int dp_usage_refusing(void)
{
    return atomic_load_explicit(&g.refusing, memory_order_relaxed);
}

void dp_usage_submit(dp_usage_rec_t *rec)
{
    if (!dp_usage_enabled()) {
        free(rec);
        return;
    }
    rec->next = NULL;
    atomic_fetch_add_explicit(&g.minted, 1, memory_order_relaxed);
    pthread_mutex_lock(&g.mu);
    int was_empty = g.qhead == NULL;
    if (g.qtail != NULL)
        g.qtail->next = rec;
    else
        g.qhead = rec;
    g.qtail = rec;
    size_t q = ++g.qlen;
    if (was_empty)
        pthread_cond_signal(&g.cv);
    pthread_mutex_unlock(&g.mu);
    /* past the bound the record is still kept; the next requests are refused instead */
    if (q + atomic_load_explicit(&g.held, memory_order_relaxed) >= g.o.mem_max)
        atomic_store_explicit(&g.refusing, 1, memory_order_relaxed);
}

/* ---------------------------------------------------------------- files */

static void seg_name(char *out, size_t n, uint64_t seq)
{
    snprintf(out, n, "seg-%016" PRIx64 ".usp", seq);
}

static int full_write(int fd, const uint8_t *b, size_t n, uint64_t off)
{
    while (n > 0) {
        ssize_t w = pwrite(fd, b, n, (off_t)off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (w == 0) {
            errno = ENOSPC;
            return -1;
        }
        b += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

/* Creates segment `seq` holding only the magic, fsynced with its directory. fd or -1. */
static int seg_create(uint64_t seq)
{
    char name[64];
    seg_name(name, sizeof(name), seq);
    int fd = openat(g.dirfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    if (full_write(fd, (const uint8_t *)DP_USAGE_MAGIC, DP_USAGE_MAGIC_LEN, 0) != 0 || fsync(fd) != 0 ||
        fsync(g.dirfd) != 0) {
        int e = errno;
        close(fd);
        unlinkat(g.dirfd, name, 0);
        errno = e;
        return -1;
    }
    return fd;
}

static int segs_push(uint64_t seq, uint64_t end)
{
    if (g.nsegs == g.segcap) {
        size_t nc = g.segcap ? g.segcap * 2 : 16;
        seg_t *ns = realloc(g.segs, nc * sizeof(*ns));
        if (ns == NULL)
            return -1;
        g.segs = ns;
        g.segcap = nc;
    }
    g.segs[g.nsegs].seq = seq;
    g.segs[g.nsegs].end = end;
    g.nsegs++;
    return 0;
}

/* Opens a new active segment after the last one. 0 or -1 (errno). */
static int open_new_active(void)
{
    uint64_t seq = g.nsegs ? g.segs[g.nsegs - 1].seq + 1 : 1;
    int fd = seg_create(seq);
    if (fd < 0)
        return -1;
    if (segs_push(seq, DP_USAGE_MAGIC_LEN) != 0) {
        close(fd);
        errno = ENOMEM;
        return -1;
    }
    if (g.wfd >= 0)
        close(g.wfd);
    g.wfd = fd;
    atomic_fetch_add(&g.disk_bytes, DP_USAGE_MAGIC_LEN);
    return 0;
}

/* Persists the acknowledged position. A failure is logged: the only cost is resending
 * records the control plane already has (it skips them by id). */
static void persist_ack(void)
{
    if (g.dirfd < 0 || g.nsegs == 0)
        return;
    char line[64];
    int n = snprintf(line, sizeof(line), "%016" PRIx64 " %" PRIu64 "\n", g.segs[0].seq, g.cur_off);
    const char *step = "open";
    int fd = openat(g.dirfd, "acked.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int ok = fd >= 0;
    if (ok && (step = "write", full_write(fd, (const uint8_t *)line, (size_t)n, 0) != 0))
        ok = 0;
    if (ok && (step = "fsync", fsync(fd) != 0))
        ok = 0;
    int e = errno;
    if (fd >= 0 && close(fd) != 0 && ok) {
        e = errno;
        step = "close";
        ok = 0;
    }
    if (ok && (step = "rename", renameat(g.dirfd, "acked.tmp", g.dirfd, "acked") != 0 || fsync(g.dirfd) != 0)) {
        e = errno;
        ok = 0;
    }
    if (!ok) {
        SY_WARN("msg=\"usage ack position not persisted; acknowledged records may be resent\" step=%s err=\"%s\"",
                step, strerror(e));
        atomic_fetch_add(&g.write_errors, 1);
    }
}

/* A record the control plane refuses for good is set aside in DIR/rejected.usp (same frame
 * format) so an operator can look at it; without a directory it is only logged. */
static void quarantine(const uint8_t *p, size_t n, const char *why)
{
    atomic_fetch_add(&g.rejected, 1);
    SY_ERROR("msg=\"usage record refused by the control plane; set aside\" bytes=%zu err=\"%s\" file=%s", n, why,
             g.dirfd >= 0 ? "rejected.usp" : "-");
    if (g.dirfd < 0 || n > DP_USAGE_FRAME_MAX)
        return;
    uint8_t fr[DP_USAGE_FRAME_MAX + 8];
    size_t fl = dp_usage_frame_put(fr, p, n);
    int fd = openat(g.dirfd, "rejected.usp", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    ssize_t w = write(fd, fr, fl);
    if (w != (ssize_t)fl || fsync(fd) != 0)
        atomic_fetch_add(&g.write_errors, 1);
    close(fd);
}

/* Reads segment bytes [off, end) in chunks, counting intact frames; returns where they stop. */
static uint64_t scan_file(int fd, uint64_t off, uint64_t end, uint64_t *count)
{
    while (off < end) {
        size_t want = end - off > READ_CHUNK ? READ_CHUNK : (size_t)(end - off);
        ssize_t r = pread(fd, g.rbuf, want, (off_t)off);
        if (r <= 0)
            break;
        int bad;
        size_t got = 0;
        size_t used = dp_usage_frames_scan(g.rbuf, (size_t)r, NULL, NULL, &bad);
        /* count the frames consumed */
        for (size_t p = 0; p < used; p += 8 + get_le32(g.rbuf + p))
            got++;
        *count += got;
        off += used;
        if (used == 0)
            break;
    }
    return off;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Start-up: finds the segments, drops acknowledged ones, truncates a torn tail, counts what
 * is pending and opens the active segment. Runs before the loops start. */
static int recover(char *err, size_t errlen)
{
    const char *dir = g.o.dir;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return sy_errf(err, errlen, "%s: %s", dir, strerror(errno));
    g.dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (g.dirfd < 0)
        return sy_errf(err, errlen, "%s: %s", dir, strerror(errno));
    uint64_t aseg = 0, aoff = 0;
    int afd = openat(g.dirfd, "acked", O_RDONLY | O_CLOEXEC);
    if (afd >= 0) {
        char line[80] = "";
        ssize_t r = read(afd, line, sizeof(line) - 1);
        close(afd);
        if (r <= 0 || sscanf(line, "%" SCNx64 " %" SCNu64, &aseg, &aoff) != 2) {
            SY_WARN("msg=\"usage ack file unreadable; resending the whole spool (the control plane skips duplicates)\"");
            aseg = aoff = 0;
        }
    }
    DIR *d = fdopendir(dup(g.dirfd));
    if (d == NULL)
        return sy_errf(err, errlen, "%s: %s", dir, strerror(errno));
    uint64_t *seqs = NULL;
    size_t ns = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        uint64_t s;
        char tail[8];
        if (strlen(e->d_name) != 24 || sscanf(e->d_name, "seg-%16" SCNx64 "%4s", &s, tail) != 2 ||
            strcmp(tail, ".usp") != 0)
            continue;
        if (ns == cap) {
            cap = cap ? cap * 2 : 16;
            uint64_t *n2 = realloc(seqs, cap * sizeof(*n2));
            if (n2 == NULL) {
                free(seqs);
                closedir(d);
                return sy_errf(err, errlen, "out of memory");
            }
            seqs = n2;
        }
        seqs[ns++] = s;
    }
    closedir(d);
    if (ns)
        qsort(seqs, ns, sizeof(*seqs), cmp_u64);
    uint64_t pending = 0, bytes = 0;
    for (size_t i = 0; i < ns; i++) {
        char name[64];
        seg_name(name, sizeof(name), seqs[i]);
        if (seqs[i] < aseg) {
            unlinkat(g.dirfd, name, 0); /* acknowledged before the last stop */
            continue;
        }
        int fd = openat(g.dirfd, name, O_RDWR | O_CLOEXEC);
        struct stat sb;
        if (fd < 0 || fstat(fd, &sb) != 0) {
            if (fd >= 0)
                close(fd);
            free(seqs);
            return sy_errf(err, errlen, "%s/%s: %s", dir, name, strerror(errno));
        }
        uint64_t size = (uint64_t)sb.st_size;
        char magic[DP_USAGE_MAGIC_LEN];
        int last = i + 1 == ns;
        if (pread(fd, magic, sizeof(magic), 0) != (ssize_t)sizeof(magic) ||
            memcmp(magic, DP_USAGE_MAGIC, DP_USAGE_MAGIC_LEN) != 0) {
            /* a segment torn while it was being created has nothing in it */
            SY_ERROR("msg=\"usage spool segment without header; removed\" file=%s bytes=%" PRIu64, name, size);
            close(fd);
            unlinkat(g.dirfd, name, 0);
            continue;
        }
        uint64_t from = DP_USAGE_MAGIC_LEN;
        if (seqs[i] == aseg && aoff > from)
            from = aoff;
        uint64_t count = 0;
        uint64_t end = from <= size ? scan_file(fd, from, size, &count) : size;
        if (end < size) {
            if (last) {
                /* a crash mid-write: the torn tail is cut so new frames follow intact ones */
                SY_WARN("msg=\"usage spool: torn tail cut\" file=%s bytes=%" PRIu64, name, size - end);
                if (ftruncate(fd, (off_t)end) != 0 || fsync(fd) != 0)
                    SY_ERROR("msg=\"usage spool: cannot cut the torn tail\" file=%s err=\"%s\"", name,
                             strerror(errno));
                size = end;
            } else {
                SY_ERROR("msg=\"usage spool: corrupt frame; the rest of this segment is skipped\" file=%s "
                         "offset=%" PRIu64 " bytes=%" PRIu64,
                         name, end, size - end);
            }
        }
        if (segs_push(seqs[i], end) != 0) {
            close(fd);
            free(seqs);
            return sy_errf(err, errlen, "out of memory");
        }
        if (g.nsegs == 1)
            g.cur_off = from > end ? end : from;
        pending += count;
        bytes += size;
        if (last && end < SEG_MAX) {
            g.wfd = fd;
        } else {
            close(fd);
        }
    }
    free(seqs);
    atomic_store(&g.disk_bytes, bytes);
    atomic_store(&g.base_pending, pending);
    if (g.wfd < 0 && open_new_active() != 0)
        SY_ERROR("msg=\"usage spool: cannot open a segment; records are held in memory\" dir=%s err=\"%s\"", dir,
                 strerror(errno));
    g.disk_ok = g.wfd >= 0;
    if (g.nsegs == 1 && g.cur_off < DP_USAGE_MAGIC_LEN)
        g.cur_off = DP_USAGE_MAGIC_LEN;
    if (pending)
        SY_INFO("msg=\"usage spool recovered; resending unacknowledged records\" dir=%s records=%" PRIu64
                " segments=%zu",
                dir, pending, g.nsegs);
    return 0;
}

/* ---------------------------------------------------------------- the spooler thread */

/* The wire form of r (pointers into r and the options). */
static void fill_pb(Switchyard__UsageRecord *pu, const dp_usage_rec_t *r)
{
    Switchyard__UsageRecord u = SWITCHYARD__USAGE_RECORD__INIT;
    u.id = (char *)r->id;
    u.workspace = (char *)r->workspace;
    u.key_id = (char *)r->key_id;
    u.model = (char *)r->model;
    u.provider = (char *)r->provider;
    u.tokens_in = r->tokens_in;
    u.tokens_out = r->tokens_out;
    u.cost_nano = r->cost_nano;
    u.latency_ms = r->latency_ms;
    u.ttft_ms = r->ttft_ms;
    u.outcome = (char *)r->outcome;
    u.streamed = r->streamed != 0;
    u.estimated = r->estimated != 0;
    u.node = (char *)g.o.node_id;
    u.created_ms = r->created_ms;
    u.cache_read_tokens = r->cache_read_tokens;
    u.cache_write_tokens = r->cache_write_tokens;
    u.request_id = (char *)r->request_id;
    u.attempt = r->attempt;
    u.model_asked = (char *)r->model_asked;
    u.task = (char *)r->task;
    u.difficulty = (char *)r->difficulty;
    *pu = u;
}

static mrec_t *pack_rec(const dp_usage_rec_t *r)
{
    Switchyard__UsageRecord u;
    fill_pb(&u, r);
    size_t n = switchyard__usage_record__get_packed_size(&u);
    if (n > DP_USAGE_FRAME_MAX) {
        SY_ERROR("msg=\"usage record too large; not spooled\" id=%s bytes=%zu", r->id, n);
        return NULL;
    }
    mrec_t *m = malloc(sizeof(*m) + n);
    if (m == NULL)
        return NULL;
    m->next = NULL;
    m->len = switchyard__usage_record__pack(&u, m->data);
    return m;
}

/* The largest packed record dp_usage_commit can meet: every string at its cap (the meter's
 * copy_str; the id and outcome at their array sizes), every integer a 10-byte varint. Checked
 * against the slot at start, so the loop thread packs without measuring first. */
enum {
    PB_STR_MAX = 3 + DP_USAGE_STR_MAX,
    PACKED_MAX = (2 + 47) + 5 * PB_STR_MAX + (2 + 32) + 10 * (2 + 10) + 2 * (2 + 1)
                 /* request_id, model_asked, task, difficulty, attempt */
                 + (2 + 64) + PB_STR_MAX + (2 + 32) + (2 + 8) + (2 + 10),
};

int dp_usage_commit(const dp_usage_rec_t *rec, unsigned thread_index)
{
    if (thread_index >= g.nrings)
        return -1;
    dp_uring_t *ring = &g.rings[thread_index];
    uint8_t *slot = dp_uring_reserve(ring);
    if (slot == NULL)
        return -1; /* no ring, or full: the caller queues it */
    Switchyard__UsageRecord u;
    fill_pb(&u, rec);
    size_t n = switchyard__usage_record__pack(&u, slot); /* <= PACKED_MAX <= the slot (start) */
    dp_uring_commit(ring, n);
    atomic_fetch_add_explicit(&g.minted, 1, memory_order_relaxed);
    return 0;
}

static void mem_push(mrec_t *m)
{
    if (g.mtail)
        g.mtail->next = m;
    else
        g.mhead = m;
    g.mtail = m;
    g.mn++;
}

static void mem_pop(size_t n)
{
    while (n-- > 0 && g.mhead != NULL) {
        mrec_t *m = g.mhead;
        g.mhead = m->next;
        if (g.mhead == NULL)
            g.mtail = NULL;
        free(m);
        g.mn--;
    }
}

/* Writes every record held in memory to the active segment as one batch, fsynced. On failure
 * the partial write is cut off and the records stay in memory. */
static void flush_to_disk(void)
{
    if (g.mn == 0 || g.o.dir == NULL)
        return;
    uint64_t now = mono_ms();
    if (!g.disk_ok && now < g.next_disk_try)
        return;
    if (g.wfd < 0 && open_new_active() != 0)
        goto fail;
    size_t total = 0;
    for (mrec_t *m = g.mhead; m; m = m->next)
        total += 8 + m->len;
    uint8_t *buf = malloc(total);
    if (buf == NULL) {
        errno = ENOMEM;
        goto fail;
    }
    size_t off = 0;
    for (mrec_t *m = g.mhead; m; m = m->next)
        off += dp_usage_frame_put(buf + off, m->data, m->len);
    seg_t *a = &g.segs[g.nsegs - 1];
    if (full_write(g.wfd, buf, total, a->end) != 0 || fdatasync(g.wfd) != 0) {
        int e = errno;
        free(buf);
        /* no partial frame may stay in front of the next batch */
        if (ftruncate(g.wfd, (off_t)a->end) != 0)
            SY_DEBUG("msg=\"usage spool: truncate after a failed write failed\" err=\"%s\"", strerror(errno));
        errno = e;
        goto fail;
    }
    free(buf);
    a->end += total;
    atomic_fetch_add(&g.disk_bytes, total);
    atomic_fetch_add(&g.spooled, g.mn);
    size_t n = g.mn;
    mem_pop(n);
    g.mem_gen++;
    if (!g.disk_ok)
        SY_INFO("msg=\"usage spool writable again\" records=%zu", n);
    g.disk_ok = 1;
    if (a->end >= SEG_MAX && open_new_active() != 0)
        SY_WARN("msg=\"usage spool: cannot open a new segment\" err=\"%s\"", strerror(errno));
    return;
fail:
    atomic_fetch_add(&g.write_errors, 1);
    if (g.disk_ok)
        SY_ERROR("msg=\"usage spool not writable; records held in memory, /v1 refused past the bound\" "
                 "held=%zu bound=%zu err=\"%s\"",
                 g.mn, g.o.mem_max, strerror(errno));
    g.disk_ok = 0;
    g.next_disk_try = now + DISK_RETRY_MS;
}

typedef struct {
    Switchyard__UsageRecord **recs;
    uint8_t **raw;
    size_t *rawlen;
    size_t n, max, bytes;
} collect_t;

static int collect_cb(void *ctx, const uint8_t *p, size_t n)
{
    collect_t *c = ctx;
    if (c->n >= c->max || c->bytes + n + 8 > BATCH_MAX_BYTES)
        return 1;
    c->raw[c->n] = (uint8_t *)p;
    c->rawlen[c->n] = n;
    c->recs[c->n] = switchyard__usage_record__unpack(NULL, n, p); /* NULL: quarantined below */
    c->n++;
    c->bytes += n + 8;
    return 0;
}

static void aio_cb(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&g.mu);
    g.aio_done = 1;
    pthread_cond_signal(&g.cv);
    pthread_mutex_unlock(&g.mu);
}

/* Packs and sends the collected records; returns 0 when a send started. */
static int send_batch(collect_t *c)
{
    Switchyard__UsageRecord **ok = calloc(c->n ? c->n : 1, sizeof(*ok));
    if (ok == NULL)
        return -1;
    size_t k = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (c->recs[i] == NULL)
            quarantine(c->raw[i], c->rawlen[i], "spooled bytes are not a usage record");
        else
            ok[k++] = c->recs[i];
    }
    Switchyard__UsageBatch b = SWITCHYARD__USAGE_BATCH__INIT;
    snprintf(g.fl.batch_id, sizeof(g.fl.batch_id), "b%s-%" PRIu64, boot_hex, ++g.batch_seq);
    b.node_id = (char *)g.o.node_id;
    b.batch_id = g.fl.batch_id;
    b.n_records = k;
    b.records = ok;
    Switchyard__BusRequest br = SWITCHYARD__BUS_REQUEST__INIT;
    br.kind_case = SWITCHYARD__BUS_REQUEST__KIND_USAGE;
    br.usage = &b;
    nng_msg *m = k == 0 ? NULL : dp_bus_msg(&br, g.o.signer);
    int rv = m == NULL ? -1 : 0;
    free(ok);
    free(g.fl.one);
    g.fl.one = NULL;
    if (rv == 0 && c->n == 1 && (g.fl.one = malloc(c->rawlen[0])) != NULL) {
        memcpy(g.fl.one, c->raw[0], c->rawlen[0]);
        g.fl.one_len = c->rawlen[0];
    }
    for (size_t i = 0; i < c->n; i++)
        if (c->recs[i])
            switchyard__usage_record__free_unpacked(c->recs[i], NULL);
    if (rv != 0)
        return k == 0 ? 1 : -1; /* 1: nothing sendable, only quarantined records */
    nng_aio_set_msg(g.aio, m);
    nng_aio_set_timeout(g.aio, SEND_TIMEOUT_MS);
    g.fl.state = FL_SENDING;
    g.fl.n = c->n;
    nng_send_aio(g.req, g.aio);
    atomic_fetch_add(&g.sent, k);
    return 0;
}

/* Moves the acknowledged position past the in-flight batch. */
static void batch_done(void)
{
    atomic_fetch_add(&g.passed, g.fl.n);
    if (g.fl.from_mem) {
        if (g.fl.mem_gen == g.mem_gen)
            mem_pop(g.fl.n);
        else
            atomic_fetch_sub(&g.passed, g.fl.n); /* they moved to disk meanwhile: passed there */
    } else {
        g.cur_off = g.fl.end_off;
        persist_ack();
    }
    if (g.split_left > 0)
        g.split_left -= g.fl.n < g.split_left ? g.fl.n : g.split_left;
}

/* Drops fully acknowledged segments and starts the next batch, if any. */
static void start_next(void)
{
    size_t max = g.split_left > 0 ? 1 : BATCH_MAX_RECORDS;
    Switchyard__UsageRecord *recs[BATCH_MAX_RECORDS];
    uint8_t *raw[BATCH_MAX_RECORDS];
    size_t rawlen[BATCH_MAX_RECORDS];
    collect_t c = {recs, raw, rawlen, 0, max, 0};
    while (g.nsegs > 0) {
        seg_t *s = &g.segs[0];
        if (g.cur_off < s->end) {
            if (g.rfd < 0 || g.rfd_seq != s->seq) {
                if (g.rfd >= 0)
                    close(g.rfd);
                char name[64];
                seg_name(name, sizeof(name), s->seq);
                g.rfd = openat(g.dirfd, name, O_RDONLY | O_CLOEXEC);
                g.rfd_seq = s->seq;
                if (g.rfd < 0) {
                    SY_ERROR("msg=\"usage spool segment unreadable\" file=%s err=\"%s\"", name, strerror(errno));
                    g.next_send = mono_ms() + SEND_BACKOFF_MS;
                    return;
                }
            }
            uint64_t want = s->end - g.cur_off;
            if (want > READ_CHUNK)
                want = READ_CHUNK;
            ssize_t r = pread(g.rfd, g.rbuf, (size_t)want, (off_t)g.cur_off);
            if (r <= 0) {
                g.next_send = mono_ms() + SEND_BACKOFF_MS;
                return;
            }
            int bad;
            size_t used = dp_usage_frames_scan(g.rbuf, (size_t)r, collect_cb, &c, &bad);
            if (used == 0 && c.n == 0) {
                SY_ERROR("msg=\"usage spool: corrupt frame; rest of segment skipped\" segment=%" PRIu64
                         " offset=%" PRIu64,
                         s->seq, g.cur_off);
                g.cur_off = s->end;
                persist_ack();
                continue;
            }
            g.fl.from_mem = 0;
            g.fl.end_off = g.cur_off + used;
            int rc = send_batch(&c);
            if (rc == 1) { /* only unreadable records: they are set aside, move on */
                g.cur_off = g.fl.end_off;
                persist_ack();
                atomic_fetch_add(&g.passed, c.n);
                c.n = 0;
                continue;
            }
            if (rc < 0)
                g.next_send = mono_ms() + SEND_BACKOFF_MS;
            return;
        }
        if (g.nsegs > 1) {
            /* a closed segment fully acknowledged: gone */
            char name[64];
            seg_name(name, sizeof(name), s->seq);
            struct stat sb;
            if (fstatat(g.dirfd, name, &sb, 0) == 0)
                atomic_fetch_sub(&g.disk_bytes, (unsigned long long)sb.st_size);
            if (g.rfd >= 0 && g.rfd_seq == s->seq) {
                close(g.rfd);
                g.rfd = -1;
            }
            memmove(g.segs, g.segs + 1, (g.nsegs - 1) * sizeof(*g.segs));
            g.nsegs--;
            g.cur_off = DP_USAGE_MAGIC_LEN;
            persist_ack(); /* first: a crash between the two resends, never skips */
            unlinkat(g.dirfd, name, 0);
            continue;
        }
        /* the active segment is fully acknowledged: replace a large one with a fresh one */
        if (s->end >= SEG_ROTATE_ACKED && g.disk_ok) {
            uint64_t old = s->seq, oldsize = s->end;
            if (open_new_active() == 0) {
                char name[64];
                seg_name(name, sizeof(name), old);
                if (g.rfd >= 0 && g.rfd_seq == old) {
                    close(g.rfd);
                    g.rfd = -1;
                }
                memmove(g.segs, g.segs + 1, (g.nsegs - 1) * sizeof(*g.segs));
                g.nsegs--;
                g.cur_off = DP_USAGE_MAGIC_LEN;
                persist_ack();
                unlinkat(g.dirfd, name, 0);
                atomic_fetch_sub(&g.disk_bytes, oldsize);
            }
        }
        break;
    }
    /* nothing on disk: records held in memory (no spool directory, or the disk refuses) */
    if (g.mn == 0)
        return;
    for (mrec_t *m = g.mhead; m && collect_cb(&c, m->data, m->len) == 0; m = m->next)
        ;
    g.fl.from_mem = 1;
    g.fl.mem_gen = g.mem_gen;
    int rc = send_batch(&c);
    if (rc == 1) {
        mem_pop(c.n);
        atomic_fetch_add(&g.passed, c.n);
    } else if (rc < 0) {
        g.next_send = mono_ms() + SEND_BACKOFF_MS;
    }
}

static void on_aio_done(void)
{
    int rv = nng_aio_result(g.aio);
    if (g.fl.state == FL_SENDING) {
        if (rv != 0) {
            nng_msg *m = nng_aio_get_msg(g.aio); /* a failed send leaves the message with us */
            if (m != NULL)
                nng_msg_free(m);
            nng_aio_set_msg(g.aio, NULL);
            g.fl.state = FL_IDLE;
            g.next_send = mono_ms() + SEND_BACKOFF_MS;
            SY_DEBUG("msg=\"usage batch not sent\" err=\"%s\"", nng_strerror(rv));
            return;
        }
        nng_aio_set_msg(g.aio, NULL); /* nng owns the sent message now */
        g.fl.state = FL_RECEIVING;
        nng_aio_set_timeout(g.aio, (nng_duration)g.o.ack_timeout_ms);
        nng_recv_aio(g.req, g.aio);
        return;
    }
    g.fl.state = FL_IDLE;
    if (rv != 0) {
        SY_WARN("msg=\"usage batch not acknowledged; will resend\" batch=%s records=%zu err=\"%s\"", g.fl.batch_id,
                g.fl.n, nng_strerror(rv));
        return; /* resend at once: the wait was the back-off */
    }
    nng_msg *m = nng_aio_get_msg(g.aio);
    nng_aio_set_msg(g.aio, NULL);
    Switchyard__UsageAck *ack = switchyard__usage_ack__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
    nng_msg_free(m);
    if (ack == NULL) {
        SY_WARN("msg=\"usage ack unreadable; will resend\" batch=%s", g.fl.batch_id);
        g.next_send = mono_ms() + SEND_BACKOFF_MS;
        return;
    }
    if (ack->error == NULL || ack->error[0] == '\0') {
        atomic_fetch_add(&g.acked, g.fl.n);
        SY_DEBUG("msg=\"usage batch acknowledged\" batch=%s records=%zu applied=%u duplicates=%u", g.fl.batch_id,
                 g.fl.n, ack->applied, ack->duplicates);
        batch_done();
        if (g.fl.n < BATCH_MAX_RECORDS)
            g.next_send = mono_ms() + SEND_MIN_INTERVAL_MS;
    } else if (ack->retry) {
        SY_WARN("msg=\"usage batch refused for now; will resend\" batch=%s err=\"%s\"", g.fl.batch_id, ack->error);
        g.next_send = mono_ms() + SEND_BACKOFF_MS;
    } else if (g.fl.n > 1) {
        /* all-or-nothing refusal: find the bad record(s) by sending one at a time */
        SY_WARN("msg=\"usage batch refused; resending its records one by one\" batch=%s bad_record=%d param=%s "
                "err=\"%s\"",
                g.fl.batch_id, ack->bad_record, ack->param ? ack->param : "", ack->error);
        g.split_left = g.fl.n;
    } else {
        quarantine(g.fl.one ? g.fl.one : (const uint8_t *)"", g.fl.one ? g.fl.one_len : 0, ack->error);
        batch_done();
    }
    switchyard__usage_ack__free_unpacked(ack, NULL);
}

static int nothing_pending(void)
{
    return g.mn == 0 && (g.nsegs == 0 || (g.nsegs == 1 && g.cur_off >= g.segs[0].end));
}

/* Takes the committed records of every ring into the memory list (their slots stay committed
 * until released). */
static void drain_rings(void)
{
    for (size_t i = 0; i < g.nrings; i++) {
        const uint8_t *p;
        size_t n;
        while ((p = dp_uring_peek(&g.rings[i], &n)) != NULL) {
            mrec_t *m = malloc(sizeof(*m) + n);
            if (m == NULL)
                break; /* left in the ring: taken on a later tick */
            m->next = NULL;
            m->len = n;
            memcpy(m->data, p, n);
            mem_push(m);
            dp_uring_advance(&g.rings[i]);
        }
    }
}

static int ring_name(char *out, size_t n, size_t i)
{
    return snprintf(out, n, "ring-%02zx.usr", i);
}

static int recover_ring_cb(void *ctx, const uint8_t *p, size_t n)
{
    size_t *count = ctx;
    Switchyard__UsageRecord *u = switchyard__usage_record__unpack(NULL, n, p);
    if (u == NULL) {
        SY_ERROR("msg=\"usage ring: a committed slot is not a usage record; skipped\" bytes=%zu", n);
        return 0;
    }
    switchyard__usage_record__free_unpacked(u, NULL);
    mrec_t *m = malloc(sizeof(*m) + n);
    if (m == NULL)
        return 1;
    m->next = NULL;
    m->len = n;
    memcpy(m->data, p, n);
    mem_push(m);
    (*count)++;
    return 0;
}

/* Start-up, after the spool's recovery: appends the committed records of every ring file in the
 * directory (a previous process's, whatever its thread count) to the spool, fsynced, removes
 * those files, then creates this process's rings. 0, or -1 with err (out of memory). */
static int rings_start(char *err, size_t errlen)
{
    DIR *d = fdopendir(dup(g.dirfd));
    if (d == NULL)
        return sy_errf(err, errlen, "%s: %s", g.o.dir, strerror(errno));
    rewinddir(d); /* the dup shares its offset with dirfd, which recover() read to the end */
    char **names = NULL;
    size_t nn = 0, recovered = 0;
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        unsigned idx;
        char tail[8];
        if (strlen(e->d_name) < 11 || sscanf(e->d_name, "ring-%x%4s", &idx, tail) != 2 || strcmp(tail, ".usr") != 0)
            continue;
        char **n2 = realloc(names, (nn + 1) * sizeof(*n2));
        if (n2 == NULL || (n2[nn] = strdup(e->d_name)) == NULL) {
            names = n2 ? n2 : names;
            rc = sy_errf(err, errlen, "out of memory");
            break;
        }
        names = n2;
        int fd = openat(g.dirfd, names[nn++], O_RDONLY | O_CLOEXEC);
        struct stat sb;
        if (fd < 0 || fstat(fd, &sb) != 0) {
            SY_ERROR("msg=\"usage ring unreadable\" file=%s err=\"%s\"", e->d_name, strerror(errno));
            if (fd >= 0)
                close(fd);
            continue;
        }
        uint8_t *buf = sb.st_size > 0 ? malloc((size_t)sb.st_size) : NULL;
        ssize_t got = buf ? pread(fd, buf, (size_t)sb.st_size, 0) : 0;
        close(fd);
        size_t bad = 0, before = recovered;
        long k = got > 0 ? dp_uring_scan(buf, (size_t)got, recover_ring_cb, &recovered, &bad) : -1;
        free(buf);
        if (k < 0)
            SY_ERROR("msg=\"usage ring: not a ring file; ignored\" file=%s bytes=%lld", e->d_name,
                     (long long)sb.st_size);
        if (bad > 0)
            SY_ERROR("msg=\"usage ring: torn or corrupt slots skipped\" file=%s slots=%zu", e->d_name, bad);
        if (recovered > before)
            SY_INFO("msg=\"usage ring: records of answers completed before a crash recovered\" file=%s records=%zu",
                    e->d_name, recovered - before);
    }
    closedir(d);
    if (rc == 0 && recovered > 0) {
        atomic_fetch_add(&g.base_pending, recovered); /* pending until acknowledged, like spooled ones */
        flush_to_disk();
    }
    /* the old files go only once what they held is in the spool (a kill before: recovered again) */
    for (size_t i = 0; i < nn; i++) {
        if (rc == 0 && g.mn == 0)
            unlinkat(g.dirfd, names[i], 0);
        else if (rc == 0)
            SY_ERROR("msg=\"usage ring: recovered records could not be spooled; held in memory\" file=%s",
                     names[i]);
        free(names[i]);
    }
    free(names);
    if (rc != 0)
        return rc;
    if (PACKED_MAX > DP_URING_PAYLOAD_MAX || strlen(g.o.node_id) > DP_USAGE_STR_MAX) {
        SY_WARN("msg=\"usage rings off: a record may not fit a slot; records are handed over in memory\"");
        return 0;
    }
    g.rings = calloc(g.o.rings, sizeof(*g.rings));
    if (g.rings == NULL)
        return sy_errf(err, errlen, "out of memory");
    g.nrings = g.o.rings;
    uint32_t slots = g.o.ring_slots ? g.o.ring_slots : DP_URING_SLOTS_DEFAULT;
    for (size_t i = 0; i < g.nrings; i++) {
        char name[32];
        ring_name(name, sizeof(name), i);
        if (dp_uring_open(&g.rings[i], g.dirfd, name, slots) != 0)
            SY_WARN("msg=\"usage ring not created; that loop thread hands records over in memory\" file=%s "
                    "err=\"%s\"",
                    name, strerror(errno));
    }
    if (fsync(g.dirfd) != 0)
        SY_WARN("msg=\"usage rings: directory fsync failed\" err=\"%s\"", strerror(errno));
    return 0;
}

static void *spooler_main(void *arg)
{
    (void)arg;
    uint64_t stop_deadline = 0;
    for (;;) {
        pthread_mutex_lock(&g.mu);
        /* idle: sleep a tick (also while stopping, so the grace period is not a busy loop) */
        if (g.qhead == NULL && !g.aio_done) {
            /* a monotonic deadline: a wall-clock step back must not stall the spooler */
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_nsec += WAKE_MS * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_clockwait(&g.cv, &g.mu, CLOCK_MONOTONIC, &ts);
        }
        dp_usage_rec_t *q = g.qhead;
        g.qhead = g.qtail = NULL;
        g.qlen = 0;
        int done = g.aio_done, stop = g.stop;
        g.aio_done = 0;
        pthread_mutex_unlock(&g.mu);

        while (q != NULL) {
            dp_usage_rec_t *next = q->next;
            mrec_t *m = pack_rec(q);
            if (m != NULL)
                mem_push(m);
            else
                atomic_fetch_add(&g.passed, 1); /* logged in pack_rec; cannot happen with capped fields */
            free(q);
            q = next;
        }
        drain_rings();
        flush_to_disk();
        if (done && g.fl.state != FL_IDLE)
            on_aio_done();
        if (g.fl.state == FL_IDLE && mono_ms() >= g.next_send)
            start_next();
        if (g.mn == 0) /* all taken is fsynced in the spool or acknowledged: free the slots */
            for (size_t i = 0; i < g.nrings; i++)
                dp_uring_release(&g.rings[i]);
        atomic_store(&g.held, g.mn);
        atomic_store(&g.refusing, g.mn >= g.o.mem_max);

        if (stop) {
            if (stop_deadline == 0)
                stop_deadline = mono_ms() + STOP_GRACE_MS;
            pthread_mutex_lock(&g.mu);
            int qempty = g.qhead == NULL;
            pthread_mutex_unlock(&g.mu);
            if (qempty && ((g.fl.state == FL_IDLE && nothing_pending()) || mono_ms() >= stop_deadline))
                break;
        }
    }
    return NULL;
}

/* ---------------------------------------------------------------- start, stop, metrics */

static void rings_free(void)
{
    for (size_t i = 0; i < g.nrings; i++)
        dp_uring_close(&g.rings[i]);
    free(g.rings);
    g.rings = NULL;
    g.nrings = 0;
}

int dp_usage_start(const dp_usage_opts_t *o, char *err, size_t errlen)
{
    g.o = *o;
    if (g.o.mem_max == 0)
        g.o.mem_max = DEFAULT_MEM_MAX;
    if (g.o.ack_timeout_ms == 0)
        g.o.ack_timeout_ms = DEFAULT_ACK_TIMEOUT_MS;
    uint8_t rnd[12];
    if (RAND_bytes(rnd, sizeof(rnd)) != 1)
        return sy_errf(err, errlen, "no randomness for usage record ids");
    for (size_t i = 0; i < sizeof(rnd); i++)
        snprintf(boot_hex + 2 * i, 3, "%02x", rnd[i]);
    /* a file-size limit (RLIMIT_FSIZE) must show up as a failed write (EFBIG), not a kill */
    signal(SIGXFSZ, SIG_IGN);
    g.rbuf = malloc(READ_CHUNK);
    if (g.rbuf == NULL)
        return sy_errf(err, errlen, "out of memory");
    if (g.o.dir != NULL) {
        if (recover(err, errlen) != 0 || (g.o.rings > 0 && rings_start(err, errlen) != 0))
            goto fail;
    } else {
        SY_WARN("msg=\"no spool directory: usage records are kept in memory only and are lost if the node "
                "stops or crashes before the control plane acknowledges them; set --spool-dir or --cache-dir\"");
    }
    int rv;
    if ((rv = nng_req0_open(&g.req)) != 0) {
        sy_errf(err, errlen, "usage req socket: %s", nng_strerror(rv));
        goto fail;
    }
    if ((rv = nng_socket_set_size(g.req, NNG_OPT_RECVMAXSZ, 64 * 1024)) != 0 ||
        (rv = nng_aio_alloc(&g.aio, aio_cb, NULL)) != 0) {
        nng_close(g.req);
        sy_errf(err, errlen, "usage req socket %s: %s", g.o.req_url, nng_strerror(rv));
        goto fail;
    }
    if (sy_busauth_dial(g.req, g.o.req_url, g.o.tls, err, errlen) != 0) {
        nng_aio_free(g.aio);
        nng_close(g.req);
        goto fail;
    }
    atomic_store(&g.enabled, 1);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old); /* the thread inherits it: signals stay with main */
    rv = pthread_create(&g.tid, NULL, spooler_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rv != 0) {
        atomic_store(&g.enabled, 0);
        nng_aio_free(g.aio);
        nng_close(g.req);
        sy_errf(err, errlen, "usage thread: %s", strerror(rv));
        goto fail;
    }
    SY_INFO("msg=\"usage spooler started\" dir=%s memory_bound=%zu boot=%s", g.o.dir ? g.o.dir : "(memory only)",
            g.o.mem_max, boot_hex);
    return 0;
fail:
    rings_free();
    mem_pop(g.mn);
    free(g.rbuf);
    g.rbuf = NULL;
    if (g.wfd >= 0)
        close(g.wfd);
    if (g.dirfd >= 0)
        close(g.dirfd);
    g.wfd = g.dirfd = -1;
    free(g.segs);
    g.segs = NULL;
    g.nsegs = g.segcap = 0;
    return -1;
}

void dp_usage_stop(void)
{
    if (!atomic_load(&g.enabled))
        return;
    pthread_mutex_lock(&g.mu);
    g.stop = 1;
    pthread_cond_signal(&g.cv);
    pthread_mutex_unlock(&g.mu);
    pthread_join(g.tid, NULL);
    atomic_store(&g.enabled, 0);
    nng_aio_stop(g.aio); /* cancels an unanswered batch; it stays pending on disk */
    nng_msg *m = nng_aio_get_msg(g.aio);
    if (m != NULL)
        nng_msg_free(m);
    nng_aio_free(g.aio);
    dp_nng_close_bounded(&g.req, 1, 2000, "usage"); /* nng 1.5.2 can hang in nng_close (dp_bus.h) */
    size_t pending_disk = g.nsegs > 0 && !nothing_pending() ? 1 : 0;
    if (g.mn > 0)
        SY_ERROR("msg=\"usage records not written to disk nor acknowledged at stop: lost\" records=%zu", g.mn);
    else if (pending_disk)
        SY_INFO("msg=\"usage records left in the spool; sent at next start\" dir=%s", g.o.dir);
    mem_pop(g.mn);
    rings_free(); /* what is still committed in them is recovered at the next start */
    free(g.fl.one);
    g.fl.one = NULL;
    free(g.rbuf);
    g.rbuf = NULL;
    if (g.wfd >= 0)
        close(g.wfd);
    if (g.rfd >= 0)
        close(g.rfd);
    if (g.dirfd >= 0)
        close(g.dirfd);
    g.wfd = g.rfd = g.dirfd = -1;
    free(g.segs);
    g.segs = NULL;
    g.nsegs = g.segcap = 0;
}

size_t dp_usage_metrics_text(char *buf, size_t cap)
{
    if (cap == 0)
        return 0;
    unsigned long long minted = atomic_load(&g.minted), passed = atomic_load(&g.passed),
                       base = atomic_load(&g.base_pending);
    unsigned long long pending = base + minted > passed ? base + minted - passed : 0;
    int n = snprintf(buf, cap,
                     "# HELP switchyard_usage_records_total Usage records by stage: minted (one per upstream "
                     "attempt), spooled (fsynced to the spool), sent (in batches, resends included), acked "
                     "(acknowledged by the control plane), rejected (refused for good, set aside).\n"
                     "# TYPE switchyard_usage_records_total counter\n"
                     "switchyard_usage_records_total{stage=\"minted\"} %llu\n"
                     "switchyard_usage_records_total{stage=\"spooled\"} %llu\n"
                     "switchyard_usage_records_total{stage=\"sent\"} %llu\n"
                     "switchyard_usage_records_total{stage=\"acked\"} %llu\n"
                     "switchyard_usage_records_total{stage=\"rejected\"} %llu\n"
                     "# HELP switchyard_usage_records_pending Usage records not yet acknowledged by the control "
                     "plane.\n# TYPE switchyard_usage_records_pending gauge\n"
                     "switchyard_usage_records_pending %llu\n"
                     "# HELP switchyard_usage_records_in_memory Usage records held in memory (not on disk).\n"
                     "# TYPE switchyard_usage_records_in_memory gauge\n"
                     "switchyard_usage_records_in_memory %zu\n"
                     "# HELP switchyard_usage_spool_bytes Bytes in the usage spool's segment files.\n"
                     "# TYPE switchyard_usage_spool_bytes gauge\nswitchyard_usage_spool_bytes %llu\n"
                     "# HELP switchyard_usage_spool_write_errors_total Failed spool writes (records kept in "
                     "memory).\n# TYPE switchyard_usage_spool_write_errors_total counter\n"
                     "switchyard_usage_spool_write_errors_total %llu\n"
                     "# HELP switchyard_usage_refusing 1 while /v1 requests are refused because usage records "
                     "cannot be spooled.\n# TYPE switchyard_usage_refusing gauge\nswitchyard_usage_refusing %d\n",
                     minted, (unsigned long long)atomic_load(&g.spooled), (unsigned long long)atomic_load(&g.sent),
                     (unsigned long long)atomic_load(&g.acked), (unsigned long long)atomic_load(&g.rejected), pending,
                     atomic_load(&g.held), (unsigned long long)atomic_load(&g.disk_bytes),
                     (unsigned long long)atomic_load(&g.write_errors), dp_usage_refusing());
    if (n < 0)
        return 0;
    return (size_t)n < cap ? (size_t)n : cap - 1;
}
