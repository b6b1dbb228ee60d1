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


/* One member of a top-level JSON object, as spans into the original text. */
typedef struct {
    const char *key; /* raw key bytes between the quotes (escapes not decoded) */
    size_t key_len;
    const char *start; /* the key's opening quote */
    const char *value; /* first byte of the value */
    size_t value_len;
} sy_json_member_t;

/* Lists the members of the top-level object in `s` (which must already be valid JSON, e.g.
 * accepted by cJSON), so a relay can rewrite a body by splicing instead of re-printing it.
 * Returns the number of members, or -1 if `s` is not an object or has more than `max`. */
int sy_json_members(const char *s, size_t len, sy_json_member_t *out, int max);

/* One value per field (RELIABILITY F1, issue 13): the first key that appears twice in one
 * object anywhere in the parsed tree (keys compared as decoded, so "mod\u0065l" repeats
 * "model"), or NULL when every object's keys are distinct. A gateway that checks, reserves or
 * prices the first of two values while a provider uses the last must refuse such a body.
 * Linear in the tree for small objects; objects with many keys are sorted (O(n log n), one
 * malloc'ed index per such object). Recursion follows the tree's depth, which
 * sy_json_precheck has bounded. */
struct cJSON;
const char *sy_json_duplicate_key(const struct cJSON *item);

/* 1 when a JSON string in `s` holds an escaped NUL (\u0000): cJSON would cut the decoded C
 * string there, so "ws_a\u0000x" would be stored as "ws_a". Linear, no allocation. */
int sy_json_has_nul_escape(const char *s, size_t len);

#endif
