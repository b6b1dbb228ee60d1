/*
 * sy_json — checks on untrusted JSON text before it reaches the parser (cJSON).
 *
 * cJSON does not validate UTF-8 and its nesting limit is a compile-time 1000; both are
 * policy here, so one linear pass over the bytes enforces them first. The pass is also
 * where a body is rejected cheaply before any allocation.
 *
 * Thread-safety: pure functions.
 */
#ifndef SY_JSON_H
#define SY_JSON_H

#include <stddef.h>

typedef enum {
    SY_JSON_OK = 0,
    SY_JSON_BAD_UTF8,  /* invalid, overlong or surrogate UTF-8 sequence, or a NUL byte */
    SY_JSON_TOO_DEEP,  /* more than max_depth nested arrays/objects */
    SY_JSON_UNBALANCED /* a closing bracket without its opener, or an unterminated string */
} sy_json_check_t;

/* Validates UTF-8 and nesting depth of `len` bytes. `*offset` gets the byte where a problem was
 * found (may be NULL). Does not validate the JSON grammar: cJSON does that afterwards. */
sy_json_check_t sy_json_precheck(const char *s, size_t len, unsigned max_depth, size_t *offset);

/* Validates UTF-8 only (no NUL allowed). Returns 1 when valid. */
int sy_utf8_valid(const char *s, size_t len);

/* 1 if `s` contains CR, LF or NUL in its first `len` bytes — the bytes that must never reach an
 * upstream header or URL. */
int sy_has_ctl(const char *s, size_t len);

#endif
