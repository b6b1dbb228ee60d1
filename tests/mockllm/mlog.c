/* The JSON Lines event log: one line per event, written with a single write(2) under a mutex
 * so that lines from different threads never interleave and each is on disk (in the page
 * cache) as soon as the event happened. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mockllm.h"

static int log_fd = -1;
static pthread_mutex_t log_mutex = PTHREAD_MUTEX_INITIALIZER;

int mlog_open(const char *path)
{
    log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    return log_fd == -1 ? -1 : 0;
}

int mlog_enabled(void)
{
    return log_fd != -1;
}

void mlog_write(const char *line, size_t len)
{
    if (log_fd == -1)
        return;
    char stackbuf[1024];
    char *buf = len + 1 <= sizeof(stackbuf) ? stackbuf : malloc(len + 1);
    if (buf == NULL)
        return;
    memcpy(buf, line, len);
    buf[len] = '\n';
    pthread_mutex_lock(&log_mutex);
    size_t off = 0;
    while (off < len + 1) {
        ssize_t r = write(log_fd, buf + off, len + 1 - off);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        off += (size_t)r;
    }
    pthread_mutex_unlock(&log_mutex);
    if (buf != stackbuf)
        free(buf);
}
