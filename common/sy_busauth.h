/*
 * sy_busauth — authentication of the fleet bus (docs/controlplane.md, "Bus authentication").
 *
 * Two layers, both from one credential per process (a certificate and key issued by the fleet
 * CA, scripts/fleet-certs.sh):
 *   - mutual TLS on nng's tls+tcp:// transport (libnng's mbedTLS engine): the control plane's
 *     listeners require a client certificate from the fleet CA, so only fleet members connect
 *     (and read snapshots); nodes verify the control plane's certificate against the same CA
 *     and the name SY_BUSAUTH_CP_NAME.
 *   - per-request signatures: libnng 1.5 exposes only "tls-verified" on a pipe, not the peer's
 *     certificate, so a heartbeat or usage batch is signed by the node's key and carries the
 *     node's certificate (proto/bus.proto SignedRequest); the control plane verifies it against
 *     the CA (OpenSSL) and binds the request's node id to the certificate's CN.
 *
 * Ownership: every *_load returns an object the caller frees with the matching *_free; the
 * objects are immutable after load. Threading: sy_busauth_sign, sy_busauth_verify and the
 * dial/listen helpers may be called from any thread concurrently on the same object (OpenSSL
 * 3 objects used read-only; nng TLS configs are reference-counted and held by each endpoint).
 */
#ifndef SY_BUSAUTH_H
#define SY_BUSAUTH_H

#include <stddef.h>
#include <stdint.h>

#include <nng/nng.h>

/* The control plane's certificate name (CN / SAN DNS) that nodes check. */
#define SY_BUSAUTH_CP_NAME "switchyard-cp"
/* A signed request's timestamp may be this far from the verifier's wall clock. */
#define SY_BUSAUTH_WINDOW_MS ((int64_t)300000)
/* The longest CN accepted as a node id. */
#define SY_BUSAUTH_CN_MAX 128

/* A TLS configuration for one side of the bus (nng_tls_config with CA, own certificate and key,
 * peer authentication required). */
typedef struct sy_busauth_tls sy_busauth_tls_t;
/* server != 0: the control plane's listeners; 0: a node's dialers. Files are PEM; the CA file
 * may hold several CAs (rotation). 0, or -1 with err. */
int sy_busauth_tls_load(int server, const char *ca_file, const char *cert_file, const char *key_file,
                        sy_busauth_tls_t **out, char *err, size_t errlen);
void sy_busauth_tls_free(sy_busauth_tls_t *t);

/* Listens on url (tls may be NULL: plain tcp:// or ipc://; an ipc:// socket file is created
 * mode 0600). A tls+tcp:// url needs tls and a plain one refuses it. 0, or -1 with err. */
int sy_busauth_listen(nng_socket s, const char *url, const sy_busauth_tls_t *tls, char *err, size_t errlen);
/* Dials url without blocking (the peer may come later). Same url/tls rules. 0, or -1 with err. */
int sy_busauth_dial(nng_socket s, const char *url, const sy_busauth_tls_t *tls, char *err, size_t errlen);
/* 1 when url uses the TLS transport. */
int sy_busauth_url_is_tls(const char *url);

/* A node's signing credential: its certificate (DER) and private key, and the certificate's CN. */
typedef struct sy_busauth_signer sy_busauth_signer_t;
int sy_busauth_signer_load(const char *cert_file, const char *key_file, sy_busauth_signer_t **out, char *err,
                           size_t errlen);
void sy_busauth_signer_free(sy_busauth_signer_t *s);
/* The certificate's CN (valid while s lives). */
const char *sy_busauth_signer_cn(const sy_busauth_signer_t *s);
/* The certificate, DER (valid while s lives). */
const uint8_t *sy_busauth_signer_cert(const sy_busauth_signer_t *s, size_t *len);
/* Signs ts_ms || body; *sig is malloc'd (caller frees). 0, or -1 with err. */
int sy_busauth_sign(const sy_busauth_signer_t *s, int64_t ts_ms, const uint8_t *body, size_t len,
                    uint8_t **sig, size_t *siglen, char *err, size_t errlen);

/* The control plane's verifier: the fleet CA(s). */
typedef struct sy_busauth_verifier sy_busauth_verifier_t;
int sy_busauth_verifier_load(const char *ca_file, sy_busauth_verifier_t **out, char *err, size_t errlen);
void sy_busauth_verifier_free(sy_busauth_verifier_t *v);
/* Verifies a signed request: cert (DER) chains to the CA and allows clientAuth, its CN is a
 * plausible node id, sig verifies over ts_ms || body, |ts_ms - now_ms| <= SY_BUSAUTH_WINDOW_MS.
 * On success writes the CN into cn (cnlen >= SY_BUSAUTH_CN_MAX + 1) and returns 0; else -1
 * with err (and *stale = 1 when only the timestamp was out of the window). */
int sy_busauth_verify(const sy_busauth_verifier_t *v, const uint8_t *cert, size_t certlen, int64_t ts_ms,
                      const uint8_t *body, size_t len, const uint8_t *sig, size_t siglen, int64_t now_ms,
                      char *cn, size_t cnlen, int *stale, char *err, size_t errlen);

#endif
