#include "dp_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snapshot.pb-c.h"
#include "sy_log.h"
#include "sy_util.h"

#define DP_CACHE_FILE "snapshot.pb"
#define DP_CACHE_TMP "snapshot.pb.tmp"
#define DP_CACHE_DELTA "delta.pb"
#define DP_CACHE_DELTA_TMP "delta.pb.tmp"

static int path_of(char *out, size_t outlen, const char *dir, const char *name)
{
    int n = snprintf(out, outlen, "%s/%s", dir, name);
    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

int dp_cache_prepare(const char *dir, char *err, size_t errlen)
{
    struct stat sb;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return sy_errf(err, errlen, "%s: %s", dir, strerror(errno));
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return sy_errf(err, errlen, "%s: not a directory", dir);
    if (access(dir, W_OK | X_OK) != 0)
        return sy_errf(err, errlen, "%s: not writable: %s", dir, strerror(errno));
    return 0;
}

/* Atomically replaces DIR/name with buf (through DIR/tmpname); with `drop`, DIR/drop is removed
 * before the directory is fsynced. */
static int write_file(const char *dir, const char *name, const char *tmpname, const char *drop,
                      const uint8_t *buf, size_t len, char *err, size_t errlen)
{
    char tmp[4096], dst[4096], gone[4096];
    if (path_of(tmp, sizeof(tmp), dir, tmpname) != 0 || path_of(dst, sizeof(dst), dir, name) != 0 ||
        path_of(gone, sizeof(gone), dir, drop ? drop : name) != 0)
        return sy_errf(err, errlen, "cache directory path too long");
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return sy_errf(err, errlen, "open %s: %s", tmp, strerror(errno));
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, buf + off, len - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close(fd);
            unlink(tmp);
            return sy_errf(err, errlen, "write %s: %s", tmp, strerror(e));
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return sy_errf(err, errlen, "fsync %s: %s", tmp, strerror(e));
    }
    if (close(fd) != 0) {
        int e = errno;
        unlink(tmp);
        return sy_errf(err, errlen, "close %s: %s", tmp, strerror(e));
    }
    if (rename(tmp, dst) != 0) {
        int e = errno;
        unlink(tmp);
        return sy_errf(err, errlen, "rename %s: %s", dst, strerror(e));
    }
    if (drop != NULL && unlink(gone) != 0 && errno != ENOENT)
        return sy_errf(err, errlen, "unlink %s: %s", gone, strerror(errno));
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return sy_errf(err, errlen, "open directory %s: %s", dir, strerror(errno));
    if (fsync(dfd) != 0) {
        int e = errno;
        close(dfd);
        return sy_errf(err, errlen, "fsync directory %s: %s", dir, strerror(e));
    }
    close(dfd);
    return 0;
}

int dp_cache_write(const char *dir, const uint8_t *buf, size_t len, char *err, size_t errlen)
{
    /* a whole snapshot is the new base: the deltas over the old one go */
    return write_file(dir, DP_CACHE_FILE, DP_CACHE_TMP, DP_CACHE_DELTA, buf, len, err, errlen);
}

int dp_cache_write_delta(const char *dir, const uint8_t *buf, size_t len, char *err, size_t errlen)
{
    return write_file(dir, DP_CACHE_DELTA, DP_CACHE_DELTA_TMP, NULL, buf, len, err, errlen);
}

/* Reads DIR/name whole (1..DP_CACHE_MAX bytes) into *out (malloc'd). 1, 0 when absent, -1 with err. */
static int read_file(const char *dir, const char *name, uint8_t **out, size_t *out_len, char *err,
                     size_t errlen)
{
    *out = NULL;
    char p[4096];
    if (path_of(p, sizeof(p), dir, name) != 0)
        return sy_errf(err, errlen, "cache directory path too long");
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        return sy_errf(err, errlen, "open %s: %s", p, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return sy_errf(err, errlen, "stat %s: %s", p, strerror(e));
    }
    if (!S_ISREG(st.st_mode) || st.st_size <= 0 || (uint64_t)st.st_size > DP_CACHE_MAX) {
        close(fd);
        return sy_errf(err, errlen, "%s: not a regular file of 1..%zu bytes", p, DP_CACHE_MAX);
    }
    size_t len = (size_t)st.st_size;
    uint8_t *buf = malloc(len);
    if (buf == NULL) {
        close(fd);
        return sy_errf(err, errlen, "out of memory reading %s", p);
    }
    size_t off = 0;
    while (off < len) {
        ssize_t r = read(fd, buf + off, len - off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int e = r < 0 ? errno : EIO;
            close(fd);
            free(buf);
            return sy_errf(err, errlen, "read %s: %s", p, r < 0 ? strerror(e) : "file shrank");
        }
        off += (size_t)r;
    }
    close(fd);
    *out = buf;
    *out_len = len;
    return 1;
}

int dp_cache_load(const char *dir, dp_snapshot_t **out, char *err, size_t errlen)
{
    *out = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;
    int rr = read_file(dir, DP_CACHE_FILE, &buf, &len, err, errlen);
    if (rr <= 0)
        return rr;
    Switchyard__Snapshot *pb = switchyard__snapshot__unpack(NULL, len, buf);
    free(buf);
    if (pb == NULL)
        return sy_errf(err, errlen, "%s/%s: does not unpack as a snapshot", dir, DP_CACHE_FILE);
    char berr[512];
    dp_snapshot_t *s = dp_snapshot_build(pb, berr, sizeof(berr));
    switchyard__snapshot__free_unpacked(pb, NULL);
    if (s == NULL) {
        sy_errf(err, errlen, "%s/%s: %s", dir, DP_CACHE_FILE, berr);
        return DP_CACHE_INVALID;
    }
    /* the deltas the node applied over that snapshot, merged (one SnapshotDelta from its version) */
    char derr[512];
    if ((rr = read_file(dir, DP_CACHE_DELTA, &buf, &len, derr, sizeof(derr))) > 0) {
        dp_delta_result_t r;
        dp_snapshot_t *d = dp_snapshot_apply_delta(s, buf, len, &r, derr, sizeof(derr));
        free(buf);
        if (d != NULL) {
            dp_snapshot_unref(s); /* d holds its base */
            s = d;
        } else {
            SY_WARN(
                "msg=\"cached delta not applied; serving the cached snapshot without it\" dir=%s err=\"%s\"",
                dir, derr);
        }
    } else if (rr < 0) {
        SY_WARN("msg=\"cached delta not read\" dir=%s err=\"%s\"", dir, derr);
    }
    *out = s;
    return 1;
}
