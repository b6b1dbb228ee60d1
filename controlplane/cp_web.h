/*
 * cp_web — the dashboard's static files (`web/`), served by the control plane from memory.
 *
 * cp_web_load reads every regular file directly in DIR and in DIR/assets (names of letters,
 * digits, '.', '_' and '-' only; at most CP_WEB_MAX_FILES files and CP_WEB_MAX_BYTES in all) at
 * start-up; nothing is read from disk while serving, so a path can never reach outside the set
 * (no traversal, no symlink surprise after start). cp_web_serve answers GET/HEAD for:
 *   - the page paths (`/`, `/keys`, `/credits`, `/billing`, `/requests`, `/spend`, `/models`,
 *     `/playground`, `/operator`, `/login`, `/signup`, `/invite`): DIR/index.html;
 *   - `/assets/NAME`: that file;
 * with a content type from the extension, an ETag (304 on If-None-Match) and the security
 * headers every page carries: a Content-Security-Policy allowing only this origin's scripts,
 * styles and fetches — and fetches to the data plane's origin when one is configured — (no
 * inline script, no framing), nosniff, no referrer.
 * cp_web_file returns one loaded file by name (the OpenAPI document).
 *
 * Threading: load before the loop starts; serve on the loop thread (read-only after load).
 */
#ifndef CP_WEB_H
#define CP_WEB_H

#include <stddef.h>

#include <h2o.h>

#define CP_WEB_MAX_FILES 256
#define CP_WEB_MAX_BYTES (16u * 1024 * 1024)

/* Loads DIR (NULL: no pages). api_url (may be NULL): the data plane's public URL, whose origin
 * the CSP's connect-src allows (the Playground). -1 with err when DIR cannot be read or breaks
 * a bound, or api_url is not a plain http(s) URL. */
int cp_web_load(const char *dir, const char *api_url, char *err, size_t errlen);
/* Frees what cp_web_load read. */
void cp_web_free(void);
/* 0 when `req` was a page or asset path and has been answered; -1 when it is not one (nothing
 * sent). */
int cp_web_serve(h2o_req_t *req);
/* The loaded file `name` (top level or "assets/NAME"), or NULL. */
const char *cp_web_file(const char *name, size_t *len);

#endif
