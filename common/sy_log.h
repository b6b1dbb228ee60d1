/*
 * sy_log — one-line structured logs to stderr: `ts=… level=… msg="…" k=v …`.
 *
 * Each call formats into a stack buffer and issues one write(2), so lines from different
 * threads never interleave. Secrets must never be passed here: callers log key ids and
 * display prefixes, never keys or credentials.
 *
 * Thread-safety: every function may be called from any thread. sy_log_set_level is meant
 * for start-up.
 */
#ifndef SY_LOG_H
#define SY_LOG_H

#include <stdarg.h>
#include <stddef.h>

typedef enum { SY_LOG_DEBUG = 0, SY_LOG_INFO, SY_LOG_WARN, SY_LOG_ERROR, SY_LOG_OFF } sy_log_level_t;

void sy_log_set_level(sy_log_level_t lvl);
sy_log_level_t sy_log_get_level(void);
/* Parses "debug|info|warn|error|off"; returns -1 on an unknown word. */
int sy_log_parse_level(const char *s, sy_log_level_t *out);
void sy_log(sy_log_level_t lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same line sy_log would write (timestamp, level, text, '\n'; cut to fit), into `line`
 * (cap >= 64); returns its length. For callers that batch lines and write them with
 * sy_log_write (whole lines, at most SY_LOG_BATCH bytes per call, so that a batch is one
 * atomic write to a pipe and never interleaves with other threads' lines). */
#define SY_LOG_BATCH 4096
size_t sy_log_format(sy_log_level_t lvl, char *line, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void sy_log_write(const char *lines, size_t len);

#define sy_log_enabled(lvl) ((lvl) >= sy_log_get_level())
#define SY_DEBUG(...) sy_log(SY_LOG_DEBUG, __VA_ARGS__)
#define SY_INFO(...) sy_log(SY_LOG_INFO, __VA_ARGS__)
#define SY_WARN(...) sy_log(SY_LOG_WARN, __VA_ARGS__)
#define SY_ERROR(...) sy_log(SY_LOG_ERROR, __VA_ARGS__)

#endif
