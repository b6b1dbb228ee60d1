#include "sy_hash.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>

/* OpenSSL 3's one-shot digests look the algorithm up on every call; the hot path (one hash
 * per request) fetches it once and keeps a digest context per thread. */
static EVP_MD *g_sha256;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static __thread EVP_MD_CTX *t_ctx;

static void fetch_sha256(void)
{
    g_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (g_sha256 == NULL)
        abort();
}

static void free_ctx(void *p)
{
    EVP_MD_CTX_free(p);
}

static pthread_key_t g_ctx_key;
static pthread_once_t g_key_once = PTHREAD_ONCE_INIT;

static void make_key(void)
{
    pthread_key_create(&g_ctx_key, free_ctx); /* frees each thread's context when it exits */
}

void sy_sha256(const void *data, size_t len, uint8_t out[SY_SHA256_LEN])
{
    pthread_once(&g_once, fetch_sha256);
    if (t_ctx == NULL) {
        pthread_once(&g_key_once, make_key);
        if ((t_ctx = EVP_MD_CTX_new()) == NULL)
            abort();
        pthread_setspecific(g_ctx_key, t_ctx);
    }
    unsigned int n = 0;
    if (EVP_DigestInit_ex(t_ctx, g_sha256, NULL) != 1 || EVP_DigestUpdate(t_ctx, data, len) != 1 ||
        EVP_DigestFinal_ex(t_ctx, out, &n) != 1)
        abort();
}

int sy_ct_equal(const void *a, const void *b, size_t len)
{
    return CRYPTO_memcmp(a, b, len) == 0;
}

void sy_hex(const uint8_t *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int sy_unhex(const char *hex, size_t hexlen, uint8_t *out, size_t len)
{
    if (hexlen != 2 * len)
        return -1;
    for (size_t i = 0; i < len; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}
