#include "sy_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sy_log_level_t g_level = SY_LOG_INFO;
static const char *const names[] = {"debug", "info", "warn", "error", "off"};

void sy_log_set_level(sy_log_level_t lvl)
{
    g_level = lvl;
}

sy_log_level_t sy_log_get_level(void)
{
    return g_level;
}

int sy_log_parse_level(const char *s, sy_log_level_t *out)
{
    for (int i = 0; i <= SY_LOG_OFF; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (sy_log_level_t)i;
            return 0;
        }
    }
    return -1;
}

size_t sy_log_vformat(sy_log_level_t lvl, char *line, size_t cap, const char *fmt, va_list ap)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, cap, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
                     names[lvl]);
    if (n < 0 || (size_t)n >= cap - 1)
        n = 0;
    int m = vsnprintf(line + n, cap - (size_t)n - 1, fmt, ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > cap - 2)
        len = cap - 2; /* truncated lines still end in a newline */
    line[len++] = '\n';
    return len;
}

size_t sy_log_format(sy_log_level_t lvl, char *line, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t len = sy_log_vformat(lvl, line, cap, fmt, ap);
    va_end(ap);
    return len;
}

void sy_log_write(const char *lines, size_t len)
{
    ssize_t w = write(STDERR_FILENO, lines, len);
    (void)w;
}

void sy_log(sy_log_level_t lvl, const char *fmt, ...)
{
    if (lvl < g_level)
        return;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    size_t len = sy_log_vformat(lvl, line, sizeof(line), fmt, ap);
    va_end(ap);
    sy_log_write(line, len);
}
