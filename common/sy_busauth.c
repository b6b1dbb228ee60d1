#include "sy_busauth.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/supplemental/tls/tls.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "sy_util.h"

#define SY_BUSAUTH_CONTEXT "switchyard-bus-v1\n"
enum { SY_BUSAUTH_PEM_MAX = 1 << 20 };

struct sy_busauth_tls {
    nng_tls_config *cfg;
};

struct sy_busauth_signer {
    EVP_PKEY *key;
    uint8_t *der;
    size_t der_len;
    char cn[SY_BUSAUTH_CN_MAX + 1];
};

struct sy_busauth_verifier {
    X509_STORE *store;
};

static const char *ossl_err(void)
{
    static _Thread_local char buf[160];
    unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (e == 0)
        return "unknown";
    ERR_error_string_n(e, buf, sizeof(buf));
    return buf;
}

/* Reads a whole (small) file into a NUL-terminated malloc'd string. */
static char *read_text(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        sy_errf(err, errlen, "%s: cannot open", path);
        return NULL;
    }
    char *buf = malloc(SY_BUSAUTH_PEM_MAX + 1);
    size_t n = buf ? fread(buf, 1, SY_BUSAUTH_PEM_MAX + 1, f) : 0;
    int bad = ferror(f);
    fclose(f);
    if (buf == NULL || bad || n > SY_BUSAUTH_PEM_MAX) {
        free(buf);
        sy_errf(err, errlen, "%s: %s", path,
                buf == NULL ? "out of memory"
                : bad       ? "read error"
                            : "too large");
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

int sy_busauth_url_is_tls(const char *url)
{
    return url != NULL && strncmp(url, "tls+", 4) == 0;
}

int sy_busauth_tls_load(int server, const char *ca_file, const char *cert_file, const char *key_file,
                        sy_busauth_tls_t **out, char *err, size_t errlen)
{
    *out = NULL;
    char *cert = read_text(cert_file, err, errlen);
    if (cert == NULL)
        return -1;
    char *key = read_text(key_file, err, errlen);
    if (key == NULL) {
        free(cert);
        return -1;
    }
    sy_busauth_tls_t *t = calloc(1, sizeof(*t));
    int rv =
        t ? nng_tls_config_alloc(&t->cfg, server ? NNG_TLS_MODE_SERVER : NNG_TLS_MODE_CLIENT) : NNG_ENOMEM;
    const char *what = "tls config";
    if (rv == 0) {
        what = ca_file;
        rv = nng_tls_config_ca_file(t->cfg, ca_file);
    }
    if (rv == 0) {
        what = cert_file;
        rv = nng_tls_config_own_cert(t->cfg, cert, key, NULL);
    }
    if (rv == 0) {
        what = "tls auth mode";
        rv = nng_tls_config_auth_mode(t->cfg, NNG_TLS_AUTH_MODE_REQUIRED);
    }
    if (rv == 0 && !server) {
        what = "tls server name";
        rv = nng_tls_config_server_name(t->cfg, SY_BUSAUTH_CP_NAME);
    }
    if (rv == 0) {
        what = "tls version";
        rv = nng_tls_config_version(t->cfg, NNG_TLS_1_2, NNG_TLS_1_2);
    }
    OPENSSL_cleanse(key, strlen(key));
    free(key);
    free(cert);
    if (rv != 0) {
        if (t != NULL && t->cfg != NULL)
            nng_tls_config_free(t->cfg);
        free(t);
        return sy_errf(err, errlen, "%s: %s", what, nng_strerror(rv));
    }
    *out = t;
    return 0;
}

void sy_busauth_tls_free(sy_busauth_tls_t *t)
{
    if (t == NULL)
        return;
    nng_tls_config_free(t->cfg);
    free(t);
}

static int check_url(const char *url, const sy_busauth_tls_t *tls, char *err, size_t errlen)
{
    if (sy_busauth_url_is_tls(url) && tls == NULL)
        return sy_errf(err, errlen, "%s: a tls+tcp:// address needs the bus TLS options", url);
    if (!sy_busauth_url_is_tls(url) && tls != NULL)
        return sy_errf(err, errlen, "%s: the bus TLS options need a tls+tcp:// address", url);
    return 0;
}

int sy_busauth_listen(nng_socket s, const char *url, const sy_busauth_tls_t *tls, char *err, size_t errlen)
{
    if (check_url(url, tls, err, errlen) != 0)
        return -1;
    nng_listener l;
    int rv = nng_listener_create(&l, s, url);
    if (rv == 0 && tls != NULL)
        rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, tls->cfg);
    if (rv == 0 && strncmp(url, "ipc://", 6) == 0)
        rv = nng_listener_set_int(l, NNG_OPT_IPC_PERMISSIONS, 0600);
    if (rv == 0)
        rv = nng_listener_start(l, 0);
    if (rv != 0)
        return sy_errf(err, errlen, "%s: %s", url, nng_strerror(rv));
    return 0;
}

int sy_busauth_dial(nng_socket s, const char *url, const sy_busauth_tls_t *tls, char *err, size_t errlen)
{
    if (check_url(url, tls, err, errlen) != 0)
        return -1;
    nng_dialer d;
    int rv = nng_dialer_create(&d, s, url);
    if (rv == 0 && tls != NULL)
        rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, tls->cfg);
    if (rv == 0)
        rv = nng_dialer_start(d, NNG_FLAG_NONBLOCK);
    if (rv != 0)
        return sy_errf(err, errlen, "%s: %s", url, nng_strerror(rv));
    return 0;
}

/* The CN of a certificate, checked as a node id: 1..SY_BUSAUTH_CN_MAX printable ASCII, no
 * space, quote or backslash. */
static int cert_cn(X509 *x, char *cn, size_t cnlen, char *err, size_t errlen)
{
    X509_NAME *name = X509_get_subject_name(x);
    int i = name ? X509_NAME_get_index_by_NID(name, NID_commonName, -1) : -1;
    if (i < 0)
        return sy_errf(err, errlen, "certificate has no CN");
    ASN1_STRING *d = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
    int n = ASN1_STRING_length(d);
    const unsigned char *p = ASN1_STRING_get0_data(d);
    if (n < 1 || n > SY_BUSAUTH_CN_MAX || (size_t)n >= cnlen)
        return sy_errf(err, errlen, "certificate CN length %d", n);
    for (int k = 0; k < n; k++)
        if (p[k] <= 0x20 || p[k] >= 0x7f || p[k] == '"' || p[k] == '\\')
            return sy_errf(err, errlen, "certificate CN has a character not allowed in a node id");
    memcpy(cn, p, (size_t)n);
    cn[n] = '\0';
    return 0;
}

static const EVP_MD *digest_for(EVP_PKEY *k)
{
    int id = EVP_PKEY_get_base_id(k);
    return id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448 ? NULL : EVP_sha256();
}

/* context || ts (8 bytes big-endian) || body, malloc'd. */
static uint8_t *signed_bytes(int64_t ts_ms, const uint8_t *body, size_t len, size_t *outlen)
{
    size_t clen = sizeof(SY_BUSAUTH_CONTEXT) - 1;
    uint8_t *m = malloc(clen + 8 + len + 1);
    if (m == NULL)
        return NULL;
    memcpy(m, SY_BUSAUTH_CONTEXT, clen);
    for (int i = 0; i < 8; i++)
        m[clen + (size_t)i] = (uint8_t)((uint64_t)ts_ms >> (56 - 8 * i));
    if (len > 0)
        memcpy(m + clen + 8, body, len);
    *outlen = clen + 8 + len;
    return m;
}

int sy_busauth_signer_load(const char *cert_file, const char *key_file, sy_busauth_signer_t **out, char *err,
                           size_t errlen)
{
    *out = NULL;
    sy_busauth_signer_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return sy_errf(err, errlen, "out of memory");
    X509 *x = NULL;
    FILE *f = fopen(cert_file, "rb");
    if (f != NULL) {
        x = PEM_read_X509(f, NULL, NULL, NULL);
        fclose(f);
    }
    if (x == NULL) {
        free(s);
        return sy_errf(err, errlen, "%s: no PEM certificate (%s)", cert_file, ossl_err());
    }
    f = fopen(key_file, "rb");
    if (f != NULL) {
        s->key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
        fclose(f);
    }
    int rc = -1;
    unsigned char *der = NULL;
    int dlen = 0;
    if (s->key == NULL)
        sy_errf(err, errlen, "%s: no PEM private key (%s)", key_file, ossl_err());
    else if (X509_check_private_key(x, s->key) != 1)
        sy_errf(err, errlen, "%s does not match the key in %s", cert_file, key_file);
    else if (cert_cn(x, s->cn, sizeof(s->cn), err, errlen) != 0)
        ;
    else if ((dlen = i2d_X509(x, &der)) <= 0)
        sy_errf(err, errlen, "%s: cannot encode (%s)", cert_file, ossl_err());
    else {
        s->der = malloc((size_t)dlen);
        if (s->der == NULL)
            sy_errf(err, errlen, "out of memory");
        else {
            memcpy(s->der, der, (size_t)dlen);
            s->der_len = (size_t)dlen;
            rc = 0;
        }
    }
    OPENSSL_free(der);
    X509_free(x);
    if (rc != 0) {
        sy_busauth_signer_free(s);
        return -1;
    }
    *out = s;
    return 0;
}

void sy_busauth_signer_free(sy_busauth_signer_t *s)
{
    if (s == NULL)
        return;
    EVP_PKEY_free(s->key);
    free(s->der);
    free(s);
}

const char *sy_busauth_signer_cn(const sy_busauth_signer_t *s)
{
    return s->cn;
}

const uint8_t *sy_busauth_signer_cert(const sy_busauth_signer_t *s, size_t *len)
{
    *len = s->der_len;
    return s->der;
}

int sy_busauth_sign(const sy_busauth_signer_t *s, int64_t ts_ms, const uint8_t *body, size_t len,
                    uint8_t **sig, size_t *siglen, char *err, size_t errlen)
{
    *sig = NULL;
    *siglen = 0;
    size_t mlen = 0;
    uint8_t *m = signed_bytes(ts_ms, body, len, &mlen);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t n = 0;
    int ok = m != NULL && ctx != NULL &&
             EVP_DigestSignInit(ctx, NULL, digest_for(s->key), NULL, s->key) == 1 &&
             EVP_DigestSign(ctx, NULL, &n, m, mlen) == 1;
    uint8_t *out = ok ? malloc(n) : NULL;
    ok = out != NULL && EVP_DigestSign(ctx, out, &n, m, mlen) == 1;
    EVP_MD_CTX_free(ctx);
    free(m);
    if (!ok) {
        free(out);
        return sy_errf(err, errlen, "signing failed (%s)", ossl_err());
    }
    *sig = out;
    *siglen = n;
    return 0;
}

int sy_busauth_verifier_load(const char *ca_file, sy_busauth_verifier_t **out, char *err, size_t errlen)
{
    *out = NULL;
    sy_busauth_verifier_t *v = calloc(1, sizeof(*v));
    if (v == NULL)
        return sy_errf(err, errlen, "out of memory");
    v->store = X509_STORE_new();
    if (v->store == NULL || X509_STORE_load_file(v->store, ca_file) != 1) {
        sy_errf(err, errlen, "%s: cannot load the CA (%s)", ca_file, ossl_err());
        sy_busauth_verifier_free(v);
        return -1;
    }
    *out = v;
    return 0;
}

void sy_busauth_verifier_free(sy_busauth_verifier_t *v)
{
    if (v == NULL)
        return;
    X509_STORE_free(v->store);
    free(v);
}

int sy_busauth_verify(const sy_busauth_verifier_t *v, const uint8_t *cert, size_t certlen, int64_t ts_ms,
                      const uint8_t *body, size_t len, const uint8_t *sig, size_t siglen, int64_t now_ms,
                      char *cn, size_t cnlen, int *stale, char *err, size_t errlen)
{
    *stale = 0;
    const unsigned char *p = cert;
    X509 *x = certlen > 0 && certlen < (1u << 16) ? d2i_X509(NULL, &p, (long)certlen) : NULL;
    if (x == NULL || p != cert + certlen) {
        X509_free(x);
        ERR_clear_error();
        return sy_errf(err, errlen, "no valid certificate");
    }
    int rc = -1;
    X509_STORE_CTX *sc = X509_STORE_CTX_new();
    if (sc == NULL || X509_STORE_CTX_init(sc, v->store, x, NULL) != 1 ||
        X509_STORE_CTX_set_purpose(sc, X509_PURPOSE_SSL_CLIENT) != 1) {
        sy_errf(err, errlen, "certificate check setup failed (%s)", ossl_err());
        goto out;
    }
    if (X509_verify_cert(sc) != 1) {
        sy_errf(err, errlen, "certificate not from the fleet CA: %s",
                X509_verify_cert_error_string(X509_STORE_CTX_get_error(sc)));
        ERR_clear_error();
        goto out;
    }
    if (cert_cn(x, cn, cnlen, err, errlen) != 0)
        goto out;
    EVP_PKEY *k = X509_get0_pubkey(x);
    size_t mlen = 0;
    uint8_t *m = signed_bytes(ts_ms, body, len, &mlen);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = k != NULL && m != NULL && ctx != NULL &&
             EVP_DigestVerifyInit(ctx, NULL, digest_for(k), NULL, k) == 1 &&
             EVP_DigestVerify(ctx, sig, siglen, m, mlen) == 1;
    EVP_MD_CTX_free(ctx);
    free(m);
    ERR_clear_error();
    if (!ok) {
        sy_errf(err, errlen, "bad signature");
        goto out;
    }
    int64_t skew = ts_ms <= 0 ? INT64_MAX : ts_ms > now_ms ? ts_ms - now_ms : now_ms - ts_ms;
    if (skew > SY_BUSAUTH_WINDOW_MS) {
        *stale = 1;
        sy_errf(err, errlen, "timestamp %lld ms from now, outside the %lld ms window", (long long)skew,
                (long long)SY_BUSAUTH_WINDOW_MS);
        goto out;
    }
    rc = 0;
out:
    X509_STORE_CTX_free(sc);
    X509_free(x);
    if (rc != 0 && cnlen > 0)
        cn[0] = '\0';
    return rc;
}
