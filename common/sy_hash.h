/*
 * sy_hash — SHA-256 for API keys, and constant-time comparison.
 *
 * Keys are looked up by their SHA-256; the key itself is never stored or logged.
 * Thread-safety: pure functions (OpenSSL's one-shot SHA256 is thread-safe).
 */
#ifndef SY_HASH_H
#define SY_HASH_H

#include <stddef.h>
#include <stdint.h>

#define SY_SHA256_LEN 32

void sy_sha256(const void *data, size_t len, uint8_t out[SY_SHA256_LEN]);
/* Constant-time equality of two byte strings of the same length: 1 when equal. */
int sy_ct_equal(const void *a, const void *b, size_t len);
/* Lowercase hex of `len` bytes into `out` (2*len+1 bytes). */
void sy_hex(const uint8_t *in, size_t len, char *out);
/* Parses exactly 2*len hex chars; returns 0 on success, -1 on a bad digit or length. */
int sy_unhex(const char *hex, size_t hexlen, uint8_t *out, size_t len);

#endif
