/*
 * The dashboard's static files, from memory (cp_web.h).
 */
#include "cp_web.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sy_hash.h"
#include "sy_util.h"

typedef struct {
    char name[128]; /* "index.html", "assets/app.js" */
    char *body;
    size_t len;
    const char *type;
    char etag[24]; /* a quoted 16-hex-digit tag */
} web_file_t;

static struct {
    web_file_t files[CP_WEB_MAX_FILES];
    size_t n, bytes;
} w;

static const struct {
    const char *ext, *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".txt", "text/plain; charset=utf-8"},
    {".woff2", "font/woff2"},
};

static const char *type_of(const char *name)
{
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return NULL; /* not served */
}

static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 100 || s[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-'))
            return 0;
    }
    return strstr(s, "..") == NULL;
}

static int load_dir(const char *dir, const char *prefix, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        if (prefix[0] != '\0' && errno == ENOENT)
            return 0; /* no assets/ is fine */
        sy_errf(err, errlen, "cannot open %s: %s", dir, strerror(errno));
        return -1;
    }
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (!valid_name(e->d_name) || type_of(e->d_name) == NULL)
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (w.n == CP_WEB_MAX_FILES || w.bytes + (size_t)st.st_size > CP_WEB_MAX_BYTES) {
            sy_errf(err, errlen, "%s: more than %d files or %u bytes", dir, CP_WEB_MAX_FILES,
                    CP_WEB_MAX_BYTES);
            rc = -1;
            break;
        }
        FILE *f = fopen(path, "rb");
        web_file_t *wf = &w.files[w.n];
        wf->body = malloc((size_t)st.st_size + 1);
        if (f == NULL || wf->body == NULL ||
            fread(wf->body, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
            sy_errf(err, errlen, "cannot read %s", path);
            free(wf->body);
            wf->body = NULL;
            if (f)
                fclose(f);
            rc = -1;
            break;
        }
        fclose(f);
        wf->len = (size_t)st.st_size;
        wf->body[wf->len] = '\0';
        snprintf(wf->name, sizeof(wf->name), "%s%.100s", prefix,
                 e->d_name); /* names are <= 100 (valid_name) */
        wf->type = type_of(e->d_name);
        uint8_t sha[SY_SHA256_LEN];
        char hex[2 * SY_SHA256_LEN + 1];
        sy_sha256(wf->body, wf->len, sha);
        sy_hex(sha, 8, hex);
        snprintf(wf->etag, sizeof(wf->etag), "\"%.16s\"", hex);
        w.bytes += wf->len;
        w.n++;
    }
    closedir(d);
    return rc;
}

/* The Content-Security-Policy of every page: this origin only, plus the data plane's origin for
 * the Playground's fetches when --public-api-url names another one (built once at load). */
#define CSP_HEAD                                                                                             \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'"
#define CSP_TAIL "; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
static char csp[512];
static size_t csp_len;

/* The origin ("scheme://host[:port]") of an http(s) URL, when it has only characters an origin
 * may have; 0 on success. */
static int origin_of(const char *url, char *out, size_t outlen)
{
    const char *p = strstr(url, "://");
    if (p == NULL || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0))
        return -1;
    size_t n = (size_t)(p + 3 - url);
    while (url[n] != '\0' && url[n] != '/' && url[n] != '?' && url[n] != '#') {
        char c = url[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '-' || c == ':' || c == '[' || c == ']'))
            return -1;
        n++;
    }
    if (n == (size_t)(p + 3 - url) || n >= outlen)
        return -1;
    memcpy(out, url, n);
    out[n] = '\0';
    return 0;
}

int cp_web_load(const char *dir, const char *api_url, char *err, size_t errlen)
{
    if (dir == NULL)
        return 0;
    char origin[256] = "";
    if (api_url != NULL && origin_of(api_url, origin, sizeof(origin)) != 0) {
        sy_errf(err, errlen, "--public-api-url %s: not an http(s) URL with a plain host", api_url);
        return -1;
    }
    int n = snprintf(csp, sizeof(csp), "%s%s%s%s", CSP_HEAD, origin[0] ? " " : "", origin, CSP_TAIL);
    csp_len = n > 0 && (size_t)n < sizeof(csp) ? (size_t)n : 0;
    char assets[4096];
    snprintf(assets, sizeof(assets), "%s/assets", dir);
    if (load_dir(dir, "", err, errlen) != 0 || load_dir(assets, "assets/", err, errlen) != 0) {
        cp_web_free();
        return -1;
    }
    if (cp_web_file("index.html", NULL) == NULL) {
        sy_errf(err, errlen, "%s has no index.html", dir);
        cp_web_free();
        return -1;
    }
    return 0;
}

void cp_web_free(void)
{
    for (size_t i = 0; i < w.n; i++)
        free(w.files[i].body);
    memset(&w, 0, sizeof(w));
}

static const web_file_t *find(const char *name, size_t len)
{
    for (size_t i = 0; i < w.n; i++)
        if (strlen(w.files[i].name) == len && memcmp(w.files[i].name, name, len) == 0)
            return &w.files[i];
    return NULL;
}

const char *cp_web_file(const char *name, size_t *len)
{
    const web_file_t *f = find(name, strlen(name));
    if (f && len)
        *len = f->len;
    return f ? f->body : NULL;
}

static const char *const pages[] = {"/",       "/keys",  "/credits",    "/billing",  "/requests", "/spend",
                                    "/models", "/login", "/playground", "/operator", "/signup",   "/invite"};

static h2o_generator_t gen = {NULL, NULL};

int cp_web_serve(h2o_req_t *req)
{
    if (w.n == 0)
        return -1;
    int head = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"));
    if (!head && !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")))
        return -1;
    h2o_iovec_t p = req->path_normalized;
    const web_file_t *f = NULL;
    if (p.len > 8 && memcmp(p.base, "/assets/", 8) == 0)
        f = find(p.base + 1, p.len - 1);
    else
        for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]) && f == NULL; i++)
            if (h2o_memis(p.base, p.len, pages[i], strlen(pages[i])))
                f = find("index.html", 10);
    if (f == NULL)
        return -1;
    h2o_headers_t *h = &req->res.headers;
    h2o_add_header(&req->pool, h, H2O_TOKEN_CONTENT_TYPE, NULL, f->type, strlen(f->type));
    h2o_add_header(&req->pool, h, H2O_TOKEN_ETAG, NULL, f->etag, strlen(f->etag));
    h2o_add_header(&req->pool, h, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-cache"));
    h2o_add_header_by_str(&req->pool, h, H2O_STRLIT("content-security-policy"), 0, NULL, csp, csp_len);
    h2o_add_header_by_str(&req->pool, h, H2O_STRLIT("x-content-type-options"), 0, NULL,
                          H2O_STRLIT("nosniff"));
    h2o_add_header_by_str(&req->pool, h, H2O_STRLIT("x-frame-options"), 0, NULL, H2O_STRLIT("DENY"));
    h2o_add_header_by_str(&req->pool, h, H2O_STRLIT("referrer-policy"), 0, NULL, H2O_STRLIT("no-referrer"));
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_IF_NONE_MATCH, -1);
    if (i >= 0 && h2o_memis(req->headers.entries[i].value.base, req->headers.entries[i].value.len, f->etag,
                            strlen(f->etag))) {
        req->res.status = 304;
        req->res.reason = "Not Modified";
        h2o_start_response(req, &gen);
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
        return 0;
    }
    req->res.status = 200;
    req->res.reason = "OK";
    req->res.content_length = f->len;
    h2o_start_response(req, &gen);
    h2o_iovec_t body = h2o_iovec_init(f->body, head ? 0 : f->len);
    h2o_send(req, &body, 1, H2O_SEND_STATE_FINAL);
    return 0;
}
