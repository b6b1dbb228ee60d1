#include "cp_delta.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Top-level field numbers of Switchyard__Snapshot and Switchyard__SnapshotDelta. */
enum {
    F_VERSION = 1,
    F_CREATED = 2,
    F_WORKSPACES = 5,
    F_KEYS = 6,
    F_FROM = 20,
    F_REMOVED_WS = 21,
    F_REMOVED_KEYS = 22,
    F_FROM_CREATED = 23
};

typedef struct {
    uint32_t id_off, id_len; /* in cp_rows.ids */
    uint32_t off, len;       /* the whole field (tag, length, body) in the packed buffer */
    uint64_t hash;           /* of those bytes */
} row_t;

typedef struct {
    row_t *v;
    size_t n, cap;
} rows_t;

struct cp_rows {
    uint64_t version;
    int64_t created_at_ms;
    uint8_t *rest; /* every other top-level field, in order */
    size_t rest_len, rest_cap;
    char *ids;
    size_t ids_len, ids_cap;
    rows_t keys, ws;
};

static int rd_varint(const uint8_t *p, size_t len, size_t *i, uint64_t *v)
{
    *v = 0;
    for (int sh = 0; sh < 64 && *i < len; sh += 7) {
        uint8_t b = p[(*i)++];
        *v |= (uint64_t)(b & 0x7f) << sh;
        if (!(b & 0x80))
            return 0;
    }
    return -1;
}

/* Skips the value of a field of wire type wt starting at *i; for length-delimited ones returns
 * the body's offset and length. */
static int skip_value(const uint8_t *p, size_t len, size_t *i, unsigned wt, size_t *body, size_t *blen)
{
    uint64_t v;
    switch (wt) {
    case 0:
        return rd_varint(p, len, i, &v);
    case 1:
        if (len - *i < 8)
            return -1;
        *i += 8;
        return 0;
    case 5:
        if (len - *i < 4)
            return -1;
        *i += 4;
        return 0;
    case 2:
        if (rd_varint(p, len, i, &v) != 0 || v > len - *i)
            return -1;
        *body = *i;
        *blen = (size_t)v;
        *i += (size_t)v;
        return 0;
    default:
        return -1;
    }
}

static uint64_t digest(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ull ^ n;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

static int grow(void **buf, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *n = realloc(*buf, c * elem);
    if (n == NULL)
        return -1;
    *buf = n;
    *cap = c;
    return 0;
}

static int cmp_id(const cp_rows_t *a, const row_t *x, const cp_rows_t *b, const row_t *y)
{
    size_t n = x->id_len < y->id_len ? x->id_len : y->id_len;
    int c = memcmp(a->ids + x->id_off, b->ids + y->id_off, n);
    if (c != 0)
        return c;
    return x->id_len < y->id_len ? -1 : x->id_len > y->id_len;
}

static const cp_rows_t *g_sort_rows; /* qsort context; bus thread only */

static int cmp_row(const void *a, const void *b)
{
    return cmp_id(g_sort_rows, a, g_sort_rows, b);
}

/* The id (field 1) of a packed Workspace or ApiKey; "" when absent. */
static int add_row(cp_rows_t *r, rows_t *t, const uint8_t *p, size_t field_off, size_t body, size_t blen,
                   size_t end)
{
    const uint8_t *id = (const uint8_t *)"";
    size_t idlen = 0;
    for (size_t i = body; i < body + blen;) {
        uint64_t tag;
        size_t b = 0, bl = 0;
        if (rd_varint(p, body + blen, &i, &tag) != 0 || skip_value(p, body + blen, &i, tag & 7, &b, &bl) != 0)
            return -1;
        if ((tag >> 3) == 1 && (tag & 7) == 2) {
            id = p + b;
            idlen = bl;
        }
    }
    if (grow((void **)&t->v, &t->cap, t->n + 1, sizeof(row_t)) != 0 ||
        grow((void **)&r->ids, &r->ids_cap, r->ids_len + idlen + 1, 1) != 0)
        return -1;
    memcpy(r->ids + r->ids_len, id, idlen);
    t->v[t->n++] = (row_t){.id_off = (uint32_t)r->ids_len,
                           .id_len = (uint32_t)idlen,
                           .off = (uint32_t)field_off,
                           .len = (uint32_t)(end - field_off),
                           .hash = digest(p + field_off, end - field_off)};
    r->ids_len += idlen;
    return 0;
}

static void sort_rows(cp_rows_t *r, rows_t *t)
{
    for (size_t i = 1; i < t->n; i++)
        if (cmp_id(r, &t->v[i - 1], r, &t->v[i]) >= 0) {
            g_sort_rows = r;
            qsort(t->v, t->n, sizeof(row_t), cmp_row);
            return;
        }
}

cp_rows_t *cp_rows_index(const uint8_t *p, size_t len)
{
    if (len >= UINT32_MAX)
        return NULL;
    cp_rows_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    for (size_t i = 0; i < len;) {
        size_t start = i, b = 0, bl = 0;
        uint64_t tag, v = 0;
        if (rd_varint(p, len, &i, &tag) != 0)
            goto fail;
        unsigned no = (unsigned)(tag >> 3), wt = (unsigned)(tag & 7);
        if ((no == F_VERSION || no == F_CREATED) && wt == 0) {
            if (rd_varint(p, len, &i, &v) != 0)
                goto fail;
            if (no == F_VERSION)
                r->version = v;
            else
                r->created_at_ms = (int64_t)v;
            continue;
        }
        if (skip_value(p, len, &i, wt, &b, &bl) != 0)
            goto fail;
        if ((no == F_WORKSPACES || no == F_KEYS) && wt == 2) {
            if (add_row(r, no == F_KEYS ? &r->keys : &r->ws, p, start, b, bl, i) != 0)
                goto fail;
            continue;
        }
        if (grow((void **)&r->rest, &r->rest_cap, r->rest_len + (i - start), 1) != 0)
            goto fail;
        memcpy(r->rest + r->rest_len, p + start, i - start);
        r->rest_len += i - start;
    }
    sort_rows(r, &r->keys);
    sort_rows(r, &r->ws);
    return r;
fail:
    cp_rows_free(r);
    return NULL;
}

void cp_rows_free(cp_rows_t *r)
{
    if (r == NULL)
        return;
    free(r->rest);
    free(r->ids);
    free(r->keys.v);
    free(r->ws.v);
    free(r);
}

uint64_t cp_rows_version(const cp_rows_t *r)
{
    return r->version;
}

int64_t cp_rows_created(const cp_rows_t *r)
{
    return r->created_at_ms;
}

size_t cp_rows_count(const cp_rows_t *r)
{
    return r->keys.n + r->ws.n;
}

typedef struct {
    uint8_t *b;
    size_t len, cap, limit;
    int over, oom;
} out_t;

static void put(out_t *o, const void *p, size_t n)
{
    if (o->over || o->oom)
        return;
    if (o->len + n > o->limit) {
        o->over = 1;
        return;
    }
    if (grow((void **)&o->b, &o->cap, o->len + n, 1) != 0) {
        o->oom = 1;
        return;
    }
    memcpy(o->b + o->len, p, n);
    o->len += n;
}

static void put_varint(out_t *o, uint64_t v)
{
    uint8_t b[10];
    size_t n = 0;
    do {
        b[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    put(o, b, n);
}

/* The changed and new rows of `to` (copied), then the removed ids of `from` as field `rm_no`. */
static void diff(out_t *o, const cp_rows_t *from, const rows_t *ft, const cp_rows_t *to, const rows_t *tt,
                 const uint8_t *to_packed, unsigned rm_no)
{
    size_t i = 0, j = 0;
    while (j < tt->n && !o->over && !o->oom) {
        int c = i < ft->n ? cmp_id(from, &ft->v[i], to, &tt->v[j]) : 1;
        if (c < 0) {
            i++; /* removed: listed below */
            continue;
        }
        if (c > 0 || ft->v[i].hash != tt->v[j].hash || ft->v[i].len != tt->v[j].len)
            put(o, to_packed + tt->v[j].off, tt->v[j].len);
        if (c == 0)
            i++;
        j++;
    }
    for (i = 0, j = 0; i < ft->n && !o->over && !o->oom;) {
        int c = j < tt->n ? cmp_id(from, &ft->v[i], to, &tt->v[j]) : -1;
        if (c < 0) {
            put_varint(o, (uint64_t)rm_no << 3 | 2);
            put_varint(o, ft->v[i].id_len);
            put(o, from->ids + ft->v[i].id_off, ft->v[i].id_len);
            i++;
        } else {
            if (c == 0)
                i++;
            j++;
        }
    }
}

/* The delta's magic and its four version fields (to, to's creation, from, from's creation). */
static void put_header(out_t *o, const cp_rows_t *to, uint64_t from_version, int64_t from_created)
{
    put(o, CP_DELTA_MAGIC, CP_DELTA_MAGIC_LEN);
    put_varint(o, F_VERSION << 3 | 0);
    put_varint(o, to->version);
    put_varint(o, F_CREATED << 3 | 0);
    put_varint(o, (uint64_t)to->created_at_ms);
    put_varint(o, F_FROM << 3 | 0);
    put_varint(o, from_version);
    put_varint(o, F_FROM_CREATED << 3 | 0);
    put_varint(o, (uint64_t)from_created);
}

/* Hands the built delta to the caller: 0 done (*out is theirs), 1 over the cap, -1 no memory. */
static int finish(out_t *o, uint8_t **out, size_t *out_len)
{
    if (o->oom || o->over) {
        free(o->b);
        return o->oom ? -1 : 1;
    }
    *out = o->b;
    *out_len = o->len;
    return 0;
}

int cp_delta_build(const cp_rows_t *from, const cp_rows_t *to, const uint8_t *to_packed, size_t to_len,
                   size_t cap, uint8_t **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (from == NULL || to == NULL || from->version == 0 || from->version >= to->version ||
        from->rest_len != to->rest_len || memcmp(from->rest, to->rest, from->rest_len) != 0)
        return 1;
    (void)to_len;
    out_t o = {.limit = cap};
    put_header(&o, to, from->version, from->created_at_ms);
    diff(&o, from, &from->ws, to, &to->ws, to_packed, F_REMOVED_WS);
    diff(&o, from, &from->keys, to, &to->keys, to_packed, F_REMOVED_KEYS);
    return finish(&o, out, out_len);
}

/* ------------------------------------------------------------------ change tracking */

#include <pthread.h>
#include <sqlite3.h>

#include <cjson/cJSON.h>

enum { TRACK_SLOTS = 2 * CP_DELTA_TRACK_MAX };

static struct {
    pthread_mutex_t lock;
    char *set[2][TRACK_SLOTS]; /* 0 keys, 1 workspaces: open addressing, strdup'd */
    size_t n[2];
    int overflow;
} g_track = {.lock = PTHREAD_MUTEX_INITIALIZER};

static uint64_t str_hash(const char *s, size_t n)
{
    return digest((const uint8_t *)s, n);
}

/* sy_snapshot_row_changed(kind, id): kind 0 key, 1 workspace. */
static void row_changed(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    int kind = sqlite3_value_int(argv[0]) ? 1 : 0;
    const char *id = (const char *)sqlite3_value_text(argv[1]);
    size_t n = (size_t)sqlite3_value_bytes(argv[1]);
    sqlite3_result_null(ctx);
    if (id == NULL)
        return;
    pthread_mutex_lock(&g_track.lock);
    if (!g_track.overflow) {
        char **set = g_track.set[kind];
        for (size_t i = str_hash(id, n) & (TRACK_SLOTS - 1);; i = (i + 1) & (TRACK_SLOTS - 1)) {
            if (set[i] == NULL) {
                if (g_track.n[kind] >= CP_DELTA_TRACK_MAX || (set[i] = strndup(id, n)) == NULL)
                    g_track.overflow = 1;
                else
                    g_track.n[kind]++;
                break;
            }
            if (strlen(set[i]) == n && memcmp(set[i], id, n) == 0)
                break;
        }
    }
    pthread_mutex_unlock(&g_track.lock);
}

int cp_delta_watch(sqlite3 *db, char *err, size_t errlen)
{
    static const struct {
        const char *table, *col;
        int kind;
    } t[] = {{"api_keys", "id", 0},
             {"key_spend", "key_id", 0},
             {"api_key_prev", "key_id", 0},
             {"workspaces", "id", 1},
             {"balances", "workspace_id", 1}};
    if (sqlite3_create_function(db, "sy_snapshot_row_changed", 2, SQLITE_UTF8, NULL, row_changed, NULL,
                                NULL) != SQLITE_OK) {
        snprintf(err, errlen, "delta watch: %s", sqlite3_errmsg(db));
        return -1;
    }
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        char sql[1024];
        snprintf(sql, sizeof(sql),
                 "CREATE TEMP TRIGGER IF NOT EXISTS sy_delta_%s_i AFTER INSERT ON main.%s BEGIN "
                 "SELECT sy_snapshot_row_changed(%d, NEW.%s); END;"
                 "CREATE TEMP TRIGGER IF NOT EXISTS sy_delta_%s_u AFTER UPDATE ON main.%s BEGIN "
                 "SELECT sy_snapshot_row_changed(%d, OLD.%s), sy_snapshot_row_changed(%d, NEW.%s); END;"
                 "CREATE TEMP TRIGGER IF NOT EXISTS sy_delta_%s_d AFTER DELETE ON main.%s BEGIN "
                 "SELECT sy_snapshot_row_changed(%d, OLD.%s); END;",
                 t[i].table, t[i].table, t[i].kind, t[i].col, t[i].table, t[i].table, t[i].kind, t[i].col,
                 t[i].kind, t[i].col, t[i].table, t[i].table, t[i].kind, t[i].col);
        char *msg = NULL;
        if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
            snprintf(err, errlen, "delta watch on %s: %s", t[i].table, msg ? msg : "?");
            sqlite3_free(msg);
            return -1;
        }
    }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void cp_idlist_free(cp_idlist_t *l)
{
    for (size_t i = 0; l->ids && i < l->n; i++)
        free(l->ids[i]);
    free(l->ids);
    l->ids = NULL;
    l->n = 0;
}

int cp_delta_take(cp_idlist_t *keys, cp_idlist_t *ws)
{
    cp_idlist_t *out[2] = {keys, ws};
    int overflow;
    pthread_mutex_lock(&g_track.lock);
    overflow = g_track.overflow;
    for (int k = 0; k < 2; k++) {
        out[k]->ids = overflow ? NULL : malloc((g_track.n[k] ? g_track.n[k] : 1) * sizeof(char *));
        out[k]->n = 0;
        if (out[k]->ids == NULL && !overflow)
            overflow = 1;
        for (size_t i = 0; i < TRACK_SLOTS; i++)
            if (g_track.set[k][i] != NULL) {
                if (overflow)
                    free(g_track.set[k][i]);
                else
                    out[k]->ids[out[k]->n++] = g_track.set[k][i];
                g_track.set[k][i] = NULL;
            }
        g_track.n[k] = 0;
    }
    g_track.overflow = 0;
    pthread_mutex_unlock(&g_track.lock);
    if (overflow) {
        cp_idlist_free(keys);
        cp_idlist_free(ws);
        return 1;
    }
    for (int k = 0; k < 2; k++)
        qsort(out[k]->ids, out[k]->n, sizeof(char *), cmp_str);
    return 0;
}

int cp_idlist_union(cp_idlist_t *dst, const cp_idlist_t *src)
{
    char **m = malloc((dst->n + src->n + 1) * sizeof(char *));
    if (m == NULL)
        return -1;
    size_t i = 0, j = 0, n = 0;
    while (i < dst->n || j < src->n) {
        int c = i >= dst->n ? 1 : j >= src->n ? -1 : strcmp(dst->ids[i], src->ids[j]);
        if (c <= 0) {
            m[n++] = dst->ids[i++];
            if (c == 0)
                j++;
        } else {
            char *d = strdup(src->ids[j++]);
            if (d == NULL) { /* undo: free the copies (an entry not taken from dst) */
                for (size_t x = 0; x < n; x++) {
                    int own = 0;
                    for (size_t y = 0; y < dst->n && !own; y++)
                        own = dst->ids[y] == m[x];
                    if (!own)
                        free(m[x]);
                }
                free(m);
                return -1;
            }
            m[n++] = d;
        }
    }
    free(dst->ids);
    dst->ids = m;
    dst->n = n;
    return 0;
}

char *cp_idlist_json(const cp_idlist_t *l)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < l->n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(l->ids[i]));
    char *s = a ? cJSON_PrintUnformatted(a) : NULL;
    cJSON_Delete(a);
    return s;
}

/* ------------------------------------------------------------------ patching */

static int in_list(const cp_idlist_t *l, const char *id, size_t n)
{
    size_t lo = 0, hi = l->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const char *s = l->ids[mid];
        size_t sn = strlen(s), m = sn < n ? sn : n;
        int c = memcmp(s, id, m);
        if (c == 0)
            c = sn < n ? -1 : sn > n;
        if (c == 0)
            return 1;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* Appends one row to the output and to its index (id and digest known: not hashed again). */
static int emit_row(out_t *o, cp_rows_t *nr, rows_t *nt, const uint8_t *bytes, const row_t *r,
                    const char *ids)
{
    size_t off = o->len;
    put(o, bytes + r->off, r->len);
    if (o->oom || grow((void **)&nt->v, &nt->cap, nt->n + 1, sizeof(row_t)) != 0 ||
        grow((void **)&nr->ids, &nr->ids_cap, nr->ids_len + r->id_len + 1, 1) != 0)
        return o->oom = 1, -1;
    memcpy(nr->ids + nr->ids_len, ids + r->id_off, r->id_len);
    nt->v[nt->n++] = (row_t){.id_off = (uint32_t)nr->ids_len,
                             .id_len = r->id_len,
                             .off = (uint32_t)off,
                             .len = r->len,
                             .hash = r->hash};
    nr->ids_len += r->id_len;
    return 0;
}

/* prev's rows not named in `l`, and partial's rows, in id order, indexed into nr/nt. */
static void merge_rows(out_t *o, cp_rows_t *nr, rows_t *nt, const cp_rows_t *prev, const rows_t *pt,
                       const uint8_t *prev_packed, const cp_rows_t *part, const rows_t *qt,
                       const uint8_t *partial, const cp_idlist_t *l)
{
    size_t i = 0, j = 0;
    while ((i < pt->n || j < qt->n) && !o->oom) {
        int c = i >= pt->n ? 1 : j >= qt->n ? -1 : cmp_id(prev, &pt->v[i], part, &qt->v[j]);
        if (c < 0) {
            const row_t *r = &pt->v[i++];
            if (!in_list(l, prev->ids + r->id_off, r->id_len))
                emit_row(o, nr, nt, prev_packed, r, prev->ids);
        } else {
            emit_row(o, nr, nt, partial, &qt->v[j], part->ids);
            j++;
            if (c == 0)
                i++;
        }
    }
}

int cp_delta_patch(const cp_rows_t *prev, const uint8_t *prev_packed, const uint8_t *partial,
                   size_t partial_len, const cp_idlist_t *keys, const cp_idlist_t *ws, uint8_t **out,
                   size_t *out_len, cp_rows_t **out_rows)
{
    *out = NULL;
    *out_len = 0;
    *out_rows = NULL;
    cp_rows_t *part = cp_rows_index(partial, partial_len);
    if (part == NULL)
        return -1;
    if (!cp_rows_rest_equal(prev, part)) {
        cp_rows_free(part);
        return 1;
    }
    out_t o = {.limit = SIZE_MAX};
    cp_rows_t *nr = calloc(1, sizeof(*nr));
    if (nr == NULL) {
        cp_rows_free(part);
        return -1;
    }
    nr->version = part->version;
    nr->created_at_ms = part->created_at_ms;
    put_varint(&o, F_VERSION << 3 | 0);
    put_varint(&o, part->version);
    put_varint(&o, F_CREATED << 3 | 0);
    put_varint(&o, (uint64_t)part->created_at_ms);
    put(&o, part->rest, part->rest_len);
    if (!o.oom && (nr->rest = malloc(part->rest_len ? part->rest_len : 1)) != NULL) {
        memcpy(nr->rest, part->rest, part->rest_len);
        nr->rest_len = nr->rest_cap = part->rest_len;
    } else {
        o.oom = 1;
    }
    merge_rows(&o, nr, &nr->ws, prev, &prev->ws, prev_packed, part, &part->ws, partial, ws);
    merge_rows(&o, nr, &nr->keys, prev, &prev->keys, prev_packed, part, &part->keys, partial, keys);
    cp_rows_free(part);
    if (o.oom || o.len >= UINT32_MAX) {
        free(o.b);
        cp_rows_free(nr);
        return -1;
    }
    *out = o.b;
    *out_len = o.len;
    *out_rows = nr;
    return 0;
}

int cp_rows_rest_equal(const cp_rows_t *a, const cp_rows_t *b)
{
    return a->rest_len == b->rest_len && memcmp(a->rest, b->rest, a->rest_len) == 0;
}

/* The row of `id` in t (sorted), or NULL. */
static const row_t *find_row(const cp_rows_t *r, const rows_t *t, const char *id)
{
    size_t n = strlen(id), lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const row_t *x = &t->v[mid];
        size_t m = x->id_len < n ? x->id_len : n;
        int c = memcmp(r->ids + x->id_off, id, m);
        if (c == 0)
            c = x->id_len < n ? -1 : x->id_len > n;
        if (c == 0)
            return x;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static void ids_part(out_t *o, const cp_rows_t *to, const rows_t *t, const uint8_t *to_packed,
                     const cp_idlist_t *l, unsigned rm_no)
{
    for (size_t i = 0; i < l->n && !o->over && !o->oom; i++) {
        const row_t *r = find_row(to, t, l->ids[i]);
        if (r != NULL) {
            put(o, to_packed + r->off, r->len);
        } else {
            size_t n = strlen(l->ids[i]);
            put_varint(o, (uint64_t)rm_no << 3 | 2);
            put_varint(o, n);
            put(o, l->ids[i], n);
        }
    }
}

int cp_delta_build_ids(const cp_rows_t *to, const uint8_t *to_packed, uint64_t from_version,
                       int64_t from_created, const cp_idlist_t *keys, const cp_idlist_t *ws, size_t cap,
                       uint8_t **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (from_version == 0 || from_version >= to->version)
        return 1;
    out_t o = {.limit = cap};
    put_header(&o, to, from_version, from_created);
    ids_part(&o, to, &to->ws, to_packed, ws, F_REMOVED_WS);
    ids_part(&o, to, &to->keys, to_packed, keys, F_REMOVED_KEYS);
    return finish(&o, out, out_len);
}

static int add_id(cp_idlist_t *l, size_t *cap_left, const cp_rows_t *r, const row_t *x)
{
    if (*cap_left == 0)
        return 1;
    char **n = realloc(l->ids, (l->n + 1) * sizeof(char *));
    if (n == NULL)
        return -1;
    l->ids = n;
    if ((l->ids[l->n] = strndup(r->ids + x->id_off, x->id_len)) == NULL)
        return -1;
    l->n++;
    (*cap_left)--;
    return 0;
}

static int diff_ids(const cp_rows_t *from, const rows_t *ft, const cp_rows_t *to, const rows_t *tt,
                    size_t *left, cp_idlist_t *out)
{
    size_t i = 0, j = 0;
    int rc = 0;
    while ((i < ft->n || j < tt->n) && rc == 0) {
        int c = i >= ft->n ? 1 : j >= tt->n ? -1 : cmp_id(from, &ft->v[i], to, &tt->v[j]);
        if (c < 0)
            rc = add_id(out, left, from, &ft->v[i++]);
        else if (c > 0)
            rc = add_id(out, left, to, &tt->v[j++]);
        else {
            if (ft->v[i].hash != tt->v[j].hash || ft->v[i].len != tt->v[j].len)
                rc = add_id(out, left, to, &tt->v[j]);
            i++;
            j++;
        }
    }
    return rc;
}

int cp_rows_diff_ids(const cp_rows_t *from, const cp_rows_t *to, size_t cap, cp_idlist_t *keys,
                     cp_idlist_t *ws)
{
    size_t left = cap;
    *keys = (cp_idlist_t){0};
    *ws = (cp_idlist_t){0};
    int rc = diff_ids(from, &from->keys, to, &to->keys, &left, keys);
    if (rc == 0)
        rc = diff_ids(from, &from->ws, to, &to->ws, &left, ws);
    if (rc != 0) {
        cp_idlist_free(keys);
        cp_idlist_free(ws);
    }
    return rc;
}
