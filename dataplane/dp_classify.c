/*
 * dp_classify — see dp_classify.h. File format (all integers little-endian):
 *
 *   0  8  magic "SYCLSF\r\n" (the CR LF catches text-mode transfers that mangle line ends)
 *   8  4  format version (1)
 *  12  4  feature-extractor version (DP_CLASSIFY_FEATURE_VERSION)
 *  16  4  hash bits (buckets = 1 << bits), 10..22
 *  20  4  task classes (9)
 *  24  4  difficulty classes (3)
 *  28  4  total file size in bytes
 *  32  4  float32 dequantisation scale of the task head
 *  36  4  float32 dequantisation scale of the difficulty head
 *  40 48  float32 bias[12]
 *  88  .  int16 weights[buckets][12], row-major
 * end-4 4 CRC-32 (IEEE) of every byte before it
 *
 * Everything is validated before anything is used: the declared size must equal the real
 * size, so a truncated file is refused before the checksum is even computed.
 */
#include "dp_classify.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLF_MAGIC "SYCLSF\r\n"
#define CLF_FORMAT_VERSION 1u
#define CLF_HEADER_BYTES 88u
#define CLF_MIN_BITS 10u
#define CLF_MAX_BITS 22u
/* A model file larger than this is not one of ours (2^22 rows of 12 int16 is 96 MiB). */
#define CLF_MAX_FILE_BYTES ((size_t)CLF_HEADER_BYTES + ((size_t)1 << CLF_MAX_BITS) * DP_CLASSIFY_OUTPUTS * 2 + 4)

struct dp_classify_model {
    uint32_t bits;
    uint32_t mask;
    float scale_task;
    float scale_diff;
    float bias[DP_CLASSIFY_OUTPUTS];
    int16_t *w; /* buckets x DP_CLASSIFY_OUTPUTS */
};

static const char *const task_names[DP_TASK_COUNT] = {"code",          "math",        "reasoning", "writing", "extraction",
                                                      "summarization", "translation", "research",  "chat"};
static const char *const diff_names[DP_DIFFICULTY_COUNT] = {"easy", "medium", "hard"};

const char *dp_task_name(dp_task_t t)
{
    return (unsigned)t < DP_TASK_COUNT ? task_names[t] : "unknown";
}

const char *dp_difficulty_name(dp_difficulty_t d)
{
    return (unsigned)d < DP_DIFFICULTY_COUNT ? diff_names[d] : "unknown";
}

int dp_task_from_name(const char *name)
{
    for (int i = 0; name != NULL && i < DP_TASK_COUNT; i++)
        if (strcmp(name, task_names[i]) == 0)
            return i;
    return -1;
}

int dp_difficulty_from_name(const char *name)
{
    for (int i = 0; name != NULL && i < DP_DIFFICULTY_COUNT; i++)
        if (strcmp(name, diff_names[i]) == 0)
            return i;
    return -1;
}

/* ------------------------------------------------------------------ CRC-32 (IEEE 802.3) */

static uint32_t crc_table[256];
static int crc_ready;

static void crc_init(void)
{
    /* Idempotent and data-race-free in effect: every thread writes the same values. Done at
     * load time only, never on the classify path. */
    if (__atomic_load_n(&crc_ready, __ATOMIC_ACQUIRE))
        return;
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        __atomic_store_n(&crc_table[i], c, __ATOMIC_RELAXED);
    }
    __atomic_store_n(&crc_ready, 1, __ATOMIC_RELEASE);
}

uint32_t dp_classify_crc32(const void *buf, size_t len)
{
    crc_init();
    const uint8_t *p = buf;
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < len; i++)
        c = crc_table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

/* ------------------------------------------------------------------ features */

/* Seeds keep the token kinds apart: the word "nl" and the newline token never collide by
 * construction, only by (rare) hash accident. */
enum { K_WORD = 1, K_NUM, K_PUNCT, K_NL, K_INDENT, K_SCRIPT, K_FIRST, K_DENSE, K_BIGRAM };

static inline uint32_t fmix32(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

static inline uint32_t tok_hash(uint32_t kind, uint32_t v)
{
    return fmix32(kind * 0x9E3779B1u ^ fmix32(v + 0x7f4a7c15u));
}

static inline int is_alpha(uint8_t c)
{
    return (uint8_t)((c | 0x20) - 'a') < 26;
}

static inline int is_digit(uint8_t c)
{
    return (uint8_t)(c - '0') < 10;
}

static inline int is_punct(uint8_t c)
{
    return (c >= 0x21 && c <= 0x2f) || (c >= 0x3a && c <= 0x40) || (c >= 0x5b && c <= 0x60) || (c >= 0x7b && c <= 0x7e);
}

/* Symbols far more frequent in code and math than in prose. */
static inline int is_code_sym(uint8_t c)
{
    switch (c) {
    case '{': case '}': case '[': case ']': case ';': case '=': case '<': case '>': case '_':
    case '|': case '\\': case '`': case '#': case '$': case '^': case '*': case '/': case '&':
        return 1;
    default:
        return 0;
    }
}

typedef struct {
    dp_classify_emit_fn emit;
    void *ctx;
    size_t n;
    uint32_t prev; /* previous token hash in this region, 0 = none */
    int have_first;
    /* counts for the shape features */
    size_t bytes, lines, digits, codesym, qmarks, high, words;
} fx_t;

#define FX_INLINE static inline __attribute__((always_inline))

FX_INLINE void fx_out(fx_t *f, uint32_t h)
{
    f->emit(f->ctx, h);
    f->n++;
}

FX_INLINE void fx_tok(fx_t *f, uint32_t h)
{
    fx_out(f, h);
    if (f->prev)
        fx_out(f, fmix32(f->prev * 0x2545F491u + h + K_BIGRAM));
    f->prev = h;
}

FX_INLINE void fx_region(fx_t *f, const uint8_t *p, size_t n)
{
    size_t i = 0;
    int line_start = 1;
    f->prev = 0;
    while (i < n) {
        uint8_t c = p[i];
        if (is_alpha(c) || c >= 0x80) {
            uint32_t h = 2166136261u;
            uint32_t script = 0;
            size_t st = i;
            while (i < n && (is_alpha(p[i]) || p[i] >= 0x80)) {
                uint8_t b = p[i];
                if (b >= 0x80) {
                    f->high++;
                    /* The lead byte (plus the top of the next for 3-byte sequences) roughly
                     * names the script: Latin accents, Cyrillic, Arabic, CJK, kana, Hangul… */
                    if (!script && b >= 0xC0)
                        script = b >= 0xE0 && i + 1 < n ? ((uint32_t)b << 8) | (p[i + 1] & 0xF0u) : b;
                } else {
                    b |= 0x20;
                }
                h = (h ^ b) * 16777619u;
                i++;
            }
            f->words++;
            uint32_t t = tok_hash(K_WORD, h);
            if (!f->have_first && i - st >= 1) {
                f->have_first = 1;
                fx_out(f, tok_hash(K_FIRST, h));
            }
            fx_tok(f, t);
            if (script)
                fx_out(f, tok_hash(K_SCRIPT, script));
            line_start = 0;
        } else if (is_digit(c)) {
            size_t st = i;
            while (i < n && is_digit(p[i]))
                i++;
            f->digits += i - st;
            size_t len = i - st;
            fx_tok(f, tok_hash(K_NUM, len > 4 ? 4 : (uint32_t)len));
            line_start = 0;
        } else if (c == '\n') {
            f->lines++;
            fx_tok(f, tok_hash(K_NL, 0));
            i++;
            line_start = 1;
        } else if (c == ' ' || c == '\t') {
            if (line_start) {
                size_t st = i;
                while (i < n && (p[i] == ' ' || p[i] == '\t'))
                    i++;
                /* Indented lines: code, lists, quoted data. */
                if (i - st >= 2 || p[st] == '\t')
                    fx_tok(f, tok_hash(K_INDENT, 0));
                line_start = 0;
            } else {
                i++;
            }
        } else if (is_punct(c)) {
            if (c == '?')
                f->qmarks++;
            if (is_code_sym(c))
                f->codesym++;
            fx_tok(f, tok_hash(K_PUNCT, c));
            i++;
            line_start = 0;
        } else {
            i++; /* controls, NUL, CR, DEL: separators */
        }
    }
}

static inline uint32_t bucket_of(size_t v, const size_t *edges, uint32_t nedges)
{
    uint32_t b = 0;
    while (b < nedges && v >= edges[b])
        b++;
    return b;
}

FX_INLINE void fx_dense(fx_t *f)
{
    static const size_t len_e[] = {16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192};
    static const size_t line_e[] = {1, 2, 4, 8, 16, 32, 64};
    static const size_t cnt_e[] = {1, 2, 3, 5, 10};
    static const size_t pm_e[] = {1, 10, 30, 60, 120, 250}; /* per-mille of bytes */
    size_t b = f->bytes ? f->bytes : 1;
    fx_out(f, tok_hash(K_DENSE, 0x100 | bucket_of(f->bytes, len_e, 10)));
    fx_out(f, tok_hash(K_DENSE, 0x200 | bucket_of(f->lines, line_e, 7)));
    fx_out(f, tok_hash(K_DENSE, 0x300 | bucket_of(f->digits * 1000 / b, pm_e, 6)));
    fx_out(f, tok_hash(K_DENSE, 0x400 | bucket_of(f->codesym * 1000 / b, pm_e, 6)));
    fx_out(f, tok_hash(K_DENSE, 0x500 | bucket_of(f->qmarks, cnt_e, 5)));
    fx_out(f, tok_hash(K_DENSE, 0x600 | bucket_of(f->high * 1000 / b, pm_e, 6)));
    fx_out(f, tok_hash(K_DENSE, 0x700 | bucket_of(f->words, len_e, 10)));
}

/* Inlined into both callers so that, in dp_classify, the scoring callback is a known
 * function and is inlined too instead of an indirect call per feature (~1,000 features for a
 * 2 KB prompt; measured 5-10 % of the call). */
FX_INLINE size_t fx_run(const char *text, size_t len, dp_classify_emit_fn emit, void *ctx)
{
    fx_t f = {.emit = emit, .ctx = ctx};
    if (text == NULL)
        len = 0;
    const uint8_t *p = (const uint8_t *)text;
    size_t head = len < DP_CLASSIFY_HEAD_BYTES ? len : DP_CLASSIFY_HEAD_BYTES;
    fx_region(&f, p, head);
    if (len > head) {
        size_t tail_from = len - DP_CLASSIFY_TAIL_BYTES > head ? len - DP_CLASSIFY_TAIL_BYTES : head;
        fx_region(&f, p + tail_from, len - tail_from);
    }
    /* The real length is a signal even when most of it was not read. */
    f.bytes = len;
    fx_dense(&f);
    return f.n;
}

size_t dp_classify_features(const char *text, size_t len, dp_classify_emit_fn emit, void *ctx)
{
    return fx_run(text, len, emit, ctx);
}

/* ------------------------------------------------------------------ scoring */

typedef struct {
    const int16_t *w;
    uint32_t mask;
    int32_t acc[DP_CLASSIFY_OUTPUTS];
} acc_t;

FX_INLINE void acc_emit(void *ctx, uint32_t h)
{
    acc_t *a = ctx;
    const int16_t *row = a->w + (size_t)(h & a->mask) * DP_CLASSIFY_OUTPUTS;
    for (int k = 0; k < DP_CLASSIFY_OUTPUTS; k++)
        a->acc[k] += row[k];
}

static void softmax(const float *z, float *p, int n)
{
    float mx = z[0];
    for (int i = 1; i < n; i++)
        if (z[i] > mx)
            mx = z[i];
    float s = 0;
    for (int i = 0; i < n; i++) {
        p[i] = expf(z[i] - mx);
        s += p[i];
    }
    for (int i = 0; i < n; i++)
        p[i] /= s;
}

void dp_classify(const dp_classify_model_t *m, const char *text, size_t len, dp_classify_result_t *out)
{
    acc_t a = {.w = m->w, .mask = m->mask};
    size_t n = fx_run(text, len, acc_emit, &a);
    /* Features are counted, then the vector is scaled to unit-ish length (1/sqrt(n)) so a
     * long prompt does not saturate the scores; the trainer uses the same scaling. */
    float inv = n ? 1.0f / sqrtf((float)n) : 0.0f;
    float z[DP_CLASSIFY_OUTPUTS];
    for (int k = 0; k < DP_TASK_COUNT; k++)
        z[k] = m->bias[k] + (float)a.acc[k] * m->scale_task * inv;
    for (int k = DP_TASK_COUNT; k < DP_CLASSIFY_OUTPUTS; k++)
        z[k] = m->bias[k] + (float)a.acc[k] * m->scale_diff * inv;
    softmax(z, out->task_prob, DP_TASK_COUNT);
    softmax(z + DP_TASK_COUNT, out->difficulty_prob, DP_DIFFICULTY_COUNT);
    int bt = 0, bd = 0;
    for (int k = 1; k < DP_TASK_COUNT; k++)
        if (out->task_prob[k] > out->task_prob[bt])
            bt = k;
    for (int k = 1; k < DP_DIFFICULTY_COUNT; k++)
        if (out->difficulty_prob[k] > out->difficulty_prob[bd])
            bd = k;
    out->task = (dp_task_t)bt;
    out->difficulty = (dp_difficulty_t)bd;
    out->task_confidence = out->task_prob[bt];
    out->difficulty_confidence = out->difficulty_prob[bd];
}

uint32_t dp_classify_model_buckets(const dp_classify_model_t *m)
{
    return m ? m->mask + 1 : 0;
}

/* ------------------------------------------------------------------ file format */

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static float rdf(const uint8_t *p)
{
    uint32_t u = rd32(p);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static void wrf(uint8_t *p, float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    wr32(p, u);
}

static size_t file_size_for(uint32_t bits)
{
    return (size_t)CLF_HEADER_BYTES + ((size_t)1 << bits) * DP_CLASSIFY_OUTPUTS * 2 + 4;
}

int dp_classify_model_parse(const void *buf, size_t len, dp_classify_model_t **out, char *err, size_t errlen)
{
    if (out == NULL) {
        seterr(err, errlen, "no output pointer");
        return -1;
    }
    *out = NULL;
    const uint8_t *p = buf;
    if (p == NULL || len < CLF_HEADER_BYTES + 4) {
        seterr(err, errlen, "model too short (%zu bytes)", len);
        return -1;
    }
    if (memcmp(p, CLF_MAGIC, 8) != 0) {
        seterr(err, errlen, "not a classifier model (bad magic)");
        return -1;
    }
    uint32_t ver = rd32(p + 8), fver = rd32(p + 12), bits = rd32(p + 16);
    uint32_t nt = rd32(p + 20), nd = rd32(p + 24), declared = rd32(p + 28);
    if (ver != CLF_FORMAT_VERSION) {
        seterr(err, errlen, "unsupported model format version %u", ver);
        return -1;
    }
    if (fver != DP_CLASSIFY_FEATURE_VERSION) {
        seterr(err, errlen, "model trained with feature version %u, runtime has %u", fver, DP_CLASSIFY_FEATURE_VERSION);
        return -1;
    }
    if (bits < CLF_MIN_BITS || bits > CLF_MAX_BITS) {
        seterr(err, errlen, "hash bits %u out of range", bits);
        return -1;
    }
    if (nt != DP_TASK_COUNT || nd != DP_DIFFICULTY_COUNT) {
        seterr(err, errlen, "model has %u tasks/%u difficulties, runtime %d/%d", nt, nd, DP_TASK_COUNT,
               DP_DIFFICULTY_COUNT);
        return -1;
    }
    size_t want = file_size_for(bits);
    if (declared != want || len != want) {
        seterr(err, errlen, "model size %zu, header says %u, expected %zu (truncated or corrupt)", len, declared, want);
        return -1;
    }
    uint32_t crc = rd32(p + len - 4);
    if (dp_classify_crc32(p, len - 4) != crc) {
        seterr(err, errlen, "model checksum mismatch (corrupt)");
        return -1;
    }
    float st = rdf(p + 32), sd = rdf(p + 36);
    /* A real scale is max|w|/32767, far below 16; the bound keeps every score finite. */
    if (!(st >= 0 && st <= 16.0f) || !(sd >= 0 && sd <= 16.0f)) {
        seterr(err, errlen, "bad weight scale");
        return -1;
    }
    dp_classify_model_t *m = calloc(1, sizeof *m);
    size_t nw = ((size_t)1 << bits) * DP_CLASSIFY_OUTPUTS;
    int16_t *w = m ? malloc(nw * sizeof *w) : NULL;
    if (w == NULL) {
        free(m);
        seterr(err, errlen, "out of memory");
        return -1;
    }
    for (int k = 0; k < DP_CLASSIFY_OUTPUTS; k++) {
        m->bias[k] = rdf(p + 40 + 4 * k);
        if (!isfinite(m->bias[k]) || fabsf(m->bias[k]) > 1e6f) {
            free(w);
            free(m);
            seterr(err, errlen, "bad bias value");
            return -1;
        }
    }
    const uint8_t *q = p + CLF_HEADER_BYTES;
    for (size_t i = 0; i < nw; i++)
        w[i] = (int16_t)(uint16_t)(q[2 * i] | (uint16_t)q[2 * i + 1] << 8);
    m->bits = bits;
    m->mask = ((uint32_t)1 << bits) - 1;
    m->scale_task = st;
    m->scale_diff = sd;
    m->w = w;
    *out = m;
    return 0;
}

int dp_classify_model_load(const char *path, dp_classify_model_t **out, char *err, size_t errlen)
{
    if (out)
        *out = NULL;
    FILE *fp = path ? fopen(path, "rb") : NULL;
    if (fp == NULL) {
        seterr(err, errlen, "%s: %s", path ? path : "(null)", strerror(path ? errno : EINVAL));
        return -1;
    }
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            if (cap >= CLF_MAX_FILE_BYTES) {
                fclose(fp);
                free(buf);
                seterr(err, errlen, "%s: larger than any valid model", path);
                return -1;
            }
            size_t ncap = cap ? cap * 2 : 1 << 20;
            if (ncap > CLF_MAX_FILE_BYTES)
                ncap = CLF_MAX_FILE_BYTES;
            uint8_t *nb = realloc(buf, ncap);
            if (nb == NULL) {
                fclose(fp);
                free(buf);
                seterr(err, errlen, "out of memory");
                return -1;
            }
            buf = nb;
            cap = ncap;
        }
        size_t r = fread(buf + len, 1, cap - len, fp);
        len += r;
        if (r == 0)
            break;
    }
    int rerr = ferror(fp);
    fclose(fp);
    if (rerr) {
        free(buf);
        seterr(err, errlen, "%s: read error", path);
        return -1;
    }
    int rc = dp_classify_model_parse(buf, len, out, err, errlen);
    free(buf);
    return rc;
}

void dp_classify_model_free(dp_classify_model_t *m)
{
    if (m == NULL)
        return;
    free(m->w);
    free(m);
}

static float head_scale(const float *w, size_t rows, int from, int to)
{
    float mx = 0;
    for (size_t r = 0; r < rows; r++)
        for (int k = from; k < to; k++) {
            float a = fabsf(w[r * DP_CLASSIFY_OUTPUTS + k]);
            if (a > mx)
                mx = a;
        }
    return mx > 0 ? mx / 32767.0f : 1.0f;
}

int dp_classify_model_serialize(unsigned hash_bits, const float *weights, const float *bias, void **out,
                                size_t *outlen)
{
    if (hash_bits < CLF_MIN_BITS || hash_bits > CLF_MAX_BITS || weights == NULL || bias == NULL || out == NULL ||
        outlen == NULL)
        return -1;
    size_t rows = (size_t)1 << hash_bits;
    size_t len = file_size_for(hash_bits);
    uint8_t *p = calloc(1, len);
    if (p == NULL)
        return -1;
    float st = head_scale(weights, rows, 0, DP_TASK_COUNT);
    float sd = head_scale(weights, rows, DP_TASK_COUNT, DP_CLASSIFY_OUTPUTS);
    memcpy(p, CLF_MAGIC, 8);
    wr32(p + 8, CLF_FORMAT_VERSION);
    wr32(p + 12, DP_CLASSIFY_FEATURE_VERSION);
    wr32(p + 16, hash_bits);
    wr32(p + 20, DP_TASK_COUNT);
    wr32(p + 24, DP_DIFFICULTY_COUNT);
    wr32(p + 28, (uint32_t)len);
    wrf(p + 32, st);
    wrf(p + 36, sd);
    for (int k = 0; k < DP_CLASSIFY_OUTPUTS; k++)
        wrf(p + 40 + 4 * k, bias[k]);
    uint8_t *q = p + CLF_HEADER_BYTES;
    for (size_t r = 0; r < rows; r++)
        for (int k = 0; k < DP_CLASSIFY_OUTPUTS; k++) {
            float s = k < DP_TASK_COUNT ? st : sd;
            float v = weights[r * DP_CLASSIFY_OUTPUTS + k] / s;
            long iv = lrintf(v);
            if (iv > 32767)
                iv = 32767;
            if (iv < -32767)
                iv = -32767;
            uint16_t u = (uint16_t)(int16_t)iv;
            size_t i = r * DP_CLASSIFY_OUTPUTS + k;
            q[2 * i] = (uint8_t)u;
            q[2 * i + 1] = (uint8_t)(u >> 8);
        }
    wr32(p + len - 4, dp_classify_crc32(p, len - 4));
    *out = p;
    *outlen = len;
    return 0;
}
