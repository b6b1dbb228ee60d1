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
#define ROW_WIDTH 16
#define CLF_FORMAT_VERSION 1u
#define CLF_HEADER_BYTES 88u
#define CLF_MIN_BITS 10u
#define CLF_MAX_BITS 22u
/* A model file larger than this is not one of ours (2^22 rows of 12 int16 is 96 MiB). */
#define CLF_MAX_FILE_BYTES                                                                                   \
    ((size_t)CLF_HEADER_BYTES + ((size_t)1 << CLF_MAX_BITS) * DP_CLASSIFY_OUTPUTS * 2 + 4)

struct dp_classify_model {
    uint32_t bits;
    uint32_t mask;
    float scale_task;
    float scale_diff;
    float bias[DP_CLASSIFY_OUTPUTS];
    int16_t *w; /* buckets x ROW_WIDTH: the file's 12 weights per row, padded with zeros to 16 so
                 * a row is 32 bytes, 32-aligned (never straddles a cache line) and is added to
                 * the accumulators as one vector */
};

static const char *const task_names[DP_TASK_COUNT] = {
    "code", "math", "reasoning", "writing", "extraction", "summarization", "translation", "research", "chat"};
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

/* ------------------------------------------------------------------ characters */

/* Feature kinds: seeds that keep token kinds apart (the word "nl" and the newline token never
 * collide by construction, only by rare hash accident). */
enum {
    K_WORD = 1,
    K_NUM,
    K_PUNCT,
    K_NL,
    K_INDENT,
    K_CJK,
    K_FIRST,
    K_DENSE,
    K_BIGRAM,
    K_CONCEPT,
    K_CSTART,
    K_CBIGRAM,
    K_CONJ,
    K_MAT,
    K_CTX,
    K_REGION_FIRST,
    K_REGION_LAST,
};

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

/* Character classes after decoding and folding. */
enum { CH_SEP = 0, CH_LETTER, CH_DIGIT, CH_CJK, CH_PUNCT, CH_SPACE, CH_NL, CH_SYMBOL };

/* Punctuation units beyond ASCII: quotation marks that open, close, or either. */
#define U_QOPEN 0x81u
#define U_QCLOSE 0x82u
#define U_GENPUNCT 0x83u
#define U_MATHSYM 0x84u
#define U_SYMBOL 0x85u
#define U_EMOJI 0x86u

typedef struct {
    uint8_t cls, nb; /* class, bytes consumed (>= 1) */
    uint32_t unit;   /* letters: folded unit; punctuation: ASCII equivalent or U_*; CJK: code point */
} ch_t;

/* U+00C0..U+00FF and U+0100..U+017F folded to ASCII letters; 0 = not a letter (× ÷). */
static const char fold_latin1[64] = "aaaaaaaceeeeiiiidnooooo\0ouuuuyts"
                                    "aaaaaaaceeeeiiiidnooooo\0ouuuuyty";
static const char fold_latin_a[128] = "aaaaaaccccccccdd"
                                      "ddeeeeeeeeeegggg"
                                      "gggghhhhiiiiiiii"
                                      "iiiijjkkklllllll"
                                      "lllnnnnnnnnnoooo"
                                      "oooorrrrrrssssss"
                                      "sstttttttuuuuuuu"
                                      "uuuuwwyyyzzzzzzs";

static inline int is_cont(uint8_t b)
{
    return (b & 0xC0) == 0x80;
}

static inline ch_t ch_ascii(uint8_t c)
{
    ch_t r = {CH_SEP, 1, c};
    if ((uint8_t)((c | 0x20) - 'a') < 26) {
        r.cls = CH_LETTER;
        r.unit = c | 0x20;
    } else if ((uint8_t)(c - '0') < 10) {
        r.cls = CH_DIGIT;
    } else if (c == '\n') {
        r.cls = CH_NL;
    } else if (c == ' ' || c == '\t' || c == '\r') {
        r.cls = CH_SPACE;
    } else if (c >= 0x21 && c <= 0x7e) {
        r.cls = CH_PUNCT;
    }
    return r;
}

static ch_t ch_multi(const uint8_t *p, size_t i, size_t n);

/* ASCII classes, precomputed (the common case stays inline and branch-light). */
static ch_t ascii_ch[128];

/* Decodes one character at p[i] (i < n), folding case and Latin accents. Invalid UTF-8 is a
 * one-byte separator. */
static inline __attribute__((always_inline)) ch_t ch_next(const uint8_t *p, size_t i, size_t n)
{
    uint8_t c = p[i];
    if (c < 0x80)
        return ascii_ch[c];
    return ch_multi(p, i, n);
}

static ch_t ch_multi(const uint8_t *p, size_t i, size_t n)
{
    uint8_t c = p[i];
    ch_t r = {CH_SEP, 1, 0};
    if (c >= 0xC2 && c <= 0xDF && i + 1 < n && is_cont(p[i + 1])) {
        uint32_t cp = ((uint32_t)(c & 0x1F) << 6) | (p[i + 1] & 0x3F);
        r.nb = 2;
        if (cp < 0xC0) {
            r.cls = CH_PUNCT;
            if (cp == 0xA0) {
                r.cls = CH_SPACE;
            } else if (cp == 0xAB) {
                r.unit = U_QOPEN;
            } else if (cp == 0xBB) {
                r.unit = U_QCLOSE;
            } else if (cp == 0xBF) {
                r.unit = '?';
            } else if (cp == 0xA1) {
                r.unit = '!';
            } else {
                r.cls = CH_SYMBOL;
                r.unit = U_SYMBOL;
            }
        } else if (cp < 0x100) {
            char f = fold_latin1[cp - 0xC0];
            r.cls = f ? CH_LETTER : CH_PUNCT;
            r.unit = f ? (uint32_t)f : U_MATHSYM;
        } else if (cp < 0x180) {
            r.cls = CH_LETTER;
            r.unit = (uint32_t)fold_latin_a[cp - 0x100];
        } else {
            if (cp >= 0x391 && cp <= 0x3A9)
                cp += 0x20; /* Greek capitals */
            else if (cp >= 0x410 && cp <= 0x42F)
                cp += 0x20; /* Cyrillic capitals */
            else if (cp >= 0x400 && cp <= 0x40F)
                cp += 0x50;
            r.cls = CH_LETTER;
            r.unit = cp;
        }
        return r;
    }
    if (c >= 0xE0 && c <= 0xEF && i + 2 < n && is_cont(p[i + 1]) && is_cont(p[i + 2])) {
        uint32_t cp = ((uint32_t)(c & 0x0F) << 12) | ((uint32_t)(p[i + 1] & 0x3F) << 6) | (p[i + 2] & 0x3F);
        r.nb = 3;
        if (cp < 0x800) /* overlong */
            return r;
        if ((cp >= 0x3040 && cp <= 0x30FF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
            (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0xAC00 && cp <= 0xD7AF) ||
            (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x3130 && cp <= 0x318F)) {
            r.cls = CH_CJK;
            r.unit = cp;
        } else if (cp >= 0x2000 && cp <= 0x206F) {
            r.cls = CH_PUNCT;
            if (cp <= 0x200B || cp == 0x202F || cp == 0x205F)
                r.cls = CH_SPACE;
            else if (cp >= 0x2010 && cp <= 0x2015)
                r.unit = '-';
            else if (cp == 0x2018 || cp == 0x2019)
                r.unit = '\'';
            else if (cp == 0x201C)
                r.unit = '"';
            else if (cp == 0x201D)
                r.unit = U_QCLOSE;
            else if (cp == 0x201E)
                r.unit = U_QOPEN;
            else if (cp == 0x2026)
                r.unit = '.';
            else if (cp == 0x2022)
                r.unit = '*';
            else
                r.unit = U_GENPUNCT;
        } else if (cp >= 0x3000 && cp <= 0x303F) {
            r.cls = CH_PUNCT;
            if (cp == 0x3000)
                r.cls = CH_SPACE;
            else if (cp == 0x3001)
                r.unit = ',';
            else if (cp == 0x3002)
                r.unit = '.';
            else if (cp == 0x300C || cp == 0x300E)
                r.unit = U_QOPEN;
            else if (cp == 0x300D || cp == 0x300F)
                r.unit = U_QCLOSE;
            else
                r.unit = U_GENPUNCT;
        } else if (cp >= 0xFF01 && cp <= 0xFF5E) {
            /* full-width ASCII */
            r = ch_ascii((uint8_t)(cp - 0xFEE0));
            r.nb = 3;
        } else if (cp >= 0x2190 && cp <= 0x22FF) {
            r.cls = CH_PUNCT;
            r.unit = U_MATHSYM;
        } else if (cp >= 0x2100 && cp <= 0x2BFF) {
            r.cls = CH_SYMBOL;
            r.unit = U_SYMBOL;
        } else {
            r.cls = CH_LETTER; /* Devanagari, Thai, … */
            r.unit = cp;
        }
        return r;
    }
    if (c >= 0xF0 && c <= 0xF4 && i + 3 < n && is_cont(p[i + 1]) && is_cont(p[i + 2]) && is_cont(p[i + 3])) {
        r.cls = CH_SYMBOL;
        r.nb = 4;
        r.unit = U_EMOJI;
    }
    return r;
}

/* Scripts, for the shape features. */
enum {
    SC_LATIN = 0,
    SC_LATIN_EXT,
    SC_GREEK,
    SC_CYRILLIC,
    SC_RTL,
    SC_KANA,
    SC_HAN,
    SC_HANGUL,
    SC_OTHER,
    SC_COUNT
};

static inline int script_of(const ch_t *c)
{
    if (c->cls == CH_CJK) {
        uint32_t u = c->unit;
        if (u >= 0x3040 && u <= 0x30FF)
            return SC_KANA;
        if (u >= 0xAC00 || (u >= 0x3130 && u <= 0x318F))
            return u >= 0xF900 && u <= 0xFAFF ? SC_HAN : SC_HANGUL;
        return SC_HAN;
    }
    if (c->nb == 1)
        return SC_LATIN;
    if (c->unit < 0x180)
        return SC_LATIN_EXT;
    if (c->unit >= 0x370 && c->unit < 0x400)
        return SC_GREEK;
    if (c->unit >= 0x400 && c->unit < 0x530)
        return SC_CYRILLIC;
    if (c->unit >= 0x590 && c->unit < 0x800)
        return SC_RTL;
    return SC_OTHER;
}

/* ------------------------------------------------------------------ lexicon */

#include "dp_classify_lex.h"

#define LEX_SLOTS 16384u
#define LEX_MIN_PREFIX 3
#define LEX_MAX_PREFIX 14
#define LEX_MAX_CJK 4

typedef struct {
    uint32_t key;  /* 0 = empty */
    uint32_t mask; /* concepts */
} lex_slot_t;

static lex_slot_t lex_tab[LEX_SLOTS];
static uint8_t lex_cjk_first[32]; /* bit per hashed first character of a CJK entry */
static int lex_ready;

static inline uint32_t unit_hash(uint32_t h, uint32_t u)
{
    /* FNV-1a over the unit's bytes (one byte for ASCII letters) */
    h = (h ^ (u & 0xFF)) * 16777619u;
    if (u > 0xFF)
        h = (h ^ (u >> 8)) * 16777619u;
    return h;
}

#define FNV_INIT 2166136261u

/* kind: 0 exact word, 1 prefix, 2 CJK run */
static inline uint32_t lex_key(uint32_t h, uint32_t units, uint32_t kind)
{
    uint32_t k = fmix32(h ^ (units << 24) ^ (kind << 30) ^ 0x5bd1e995u);
    return k ? k : 1;
}

static inline uint32_t lex_get(uint32_t key)
{
    uint32_t i = key & (LEX_SLOTS - 1);
    for (;;) {
        const lex_slot_t *s = &lex_tab[i];
        if (s->key == key)
            return s->mask;
        if (s->key == 0)
            return 0;
        i = (i + 1) & (LEX_SLOTS - 1);
    }
}

static inline uint32_t cjk_first_bit(uint32_t cp)
{
    return (cp * 2654435761u) >> 24;
}

static void byte_class_init(void);

/* Bit 31 of a prefix slot: some longer prefix entry starts with these units. */
#define LEX_CONT 0x80000000u

static uint32_t lex_used;

static void lex_insert(lex_slot_t *tab, uint32_t key, uint32_t mask)
{
    uint32_t i = key & (LEX_SLOTS - 1);
    /* the table stays at most half full (probes stay short, lookups always end); the lexicon
     * has about 5,000 keys */
    if (lex_used >= LEX_SLOTS / 2)
        return;
    while (tab[i].key != 0 && tab[i].key != key)
        i = (i + 1) & (LEX_SLOTS - 1);
    if (tab[i].key == 0)
        lex_used++;
    tab[i].key = key;
    tab[i].mask |= mask;
}

static void lex_init(void)
{
    if (__atomic_load_n(&lex_ready, __ATOMIC_ACQUIRE))
        return;
    byte_class_init();
    /* Built under no lock: racing threads compute the same table; the flag publishes it. The
     * data plane loads its model once at start, before the event loops run. */
    static lex_slot_t tab[LEX_SLOTS];
    uint8_t first[32] = {0};
    memset(tab, 0, sizeof tab);
    lex_used = 0;
    for (size_t e = 0; e < sizeof dp_lex / sizeof dp_lex[0]; e++) {
        const uint8_t *w = (const uint8_t *)dp_lex[e].w;
        size_t n = strlen(dp_lex[e].w);
        int prefix = n > 0 && w[n - 1] == '*';
        if (prefix)
            n--;
        uint32_t h = FNV_INIT, units = 0, cjk = 0, other = 0, fcp = 0;
        for (size_t i = 0; i < n;) {
            ch_t c = ch_next(w, i, n);
            if (c.cls == CH_CJK) {
                if (!cjk)
                    fcp = c.unit;
                cjk++;
            } else if (c.cls == CH_LETTER) {
                other++;
            }
            if (c.cls == CH_LETTER || c.cls == CH_CJK) {
                h = unit_hash(h, c.unit);
                units++;
            }
            i += c.nb;
        }
        uint32_t key, kind;
        if (cjk && !other) {
            if (cjk > LEX_MAX_CJK)
                continue;
            kind = 2;
            first[cjk_first_bit(fcp) >> 3] |= (uint8_t)(1u << (cjk_first_bit(fcp) & 7));
        } else if (prefix) {
            if (units < LEX_MIN_PREFIX || units > LEX_MAX_PREFIX)
                continue;
            kind = 1;
        } else {
            kind = 0;
        }
        key = lex_key(h, units, kind);
        lex_insert(tab, key, 1u << dp_lex[e].c);
        if (kind == 1) {
            /* every shorter prefix (from LEX_MIN_PREFIX units) says "an entry may continue
             * here", so the scan of a word stops at the first prefix that leads nowhere */
            uint32_t hk = FNV_INIT, k = 0;
            for (size_t i = 0; i < n && k + 1 < units;) {
                ch_t c = ch_next(w, i, n);
                if (c.cls == CH_LETTER || c.cls == CH_CJK) {
                    hk = unit_hash(hk, c.unit);
                    k++;
                    if (k >= LEX_MIN_PREFIX)
                        lex_insert(tab, lex_key(hk, k, 1), LEX_CONT);
                }
                i += c.nb;
            }
        }
    }
    memcpy(lex_tab, tab, sizeof tab);
    memcpy(lex_cjk_first, first, sizeof first);
    __atomic_store_n(&lex_ready, 1, __ATOMIC_RELEASE);
}

/* ------------------------------------------------------------------ layout */

/* The last user message is cut into lines; each line is instruction or material. */
#define LX_MAX_LINES 384
#define LX_MAX_PARAS 64
#define LX_LONG_PARA 600  /* a prose paragraph longer than this, with an instruction after it, is material */
#define LX_SHORT_LAST 160 /* a closing prose paragraph up to this long, after material, is instruction */
#define LX_SHORT_MID 300  /* a middle prose paragraph is instruction when no material was announced */
#define LX_SENT_CAP 320   /* bytes of a first/last sentence */
#define LX_LINE_SCAN 256  /* bytes of a line read to classify it */

enum { LN_BLANK = 0, LN_PROSE, LN_DATA };

typedef struct {
    uint32_t s, e;      /* [s, e) without the newline */
    uint8_t kind;       /* LN_* */
    uint8_t instr;      /* 1: instruction */
    uint8_t para_start; /* first line of a paragraph (quote state resets) */
    uint8_t nl;         /* followed by a newline */
} line_t;

typedef struct {
    line_t ln[LX_MAX_LINES];
    uint32_t nln;
    uint32_t fs, fe, ls, le; /* first/last instruction sentence, [s, e); empty when s == e */
    uint32_t mat_bytes, instr_bytes;
    uint8_t has_fence, has_quote_line, has_data, has_long_prose;
} layout_t;

static inline int is_code_sym(uint8_t c)
{
    switch (c) {
    case '{':
    case '}':
    case '[':
    case ']':
    case ';':
    case '=':
    case '<':
    case '>':
    case '_':
    case '|':
    case '\\':
    case '`':
    case '#':
    case '$':
    case '^':
    case '*':
    case '/':
    case '&':
    case '(':
    case ')':
    case '+':
        return 1;
    default:
        return 0;
    }
}

static inline int is_alnum_b(uint8_t c)
{
    return (uint8_t)((c | 0x20) - 'a') < 26 || (uint8_t)(c - '0') < 10;
}

static int starts_with(const uint8_t *p, uint32_t i, uint32_t e, const char *s)
{
    size_t n = strlen(s);
    return e - i >= n && memcmp(p + i, s, n) == 0;
}

/* Byte classes for the line classifier (one table read per byte instead of a chain of tests). */
enum {
    BC_LOWER = 1,
    BC_UPPER = 2,
    BC_ALPHA = BC_LOWER | BC_UPPER,
    BC_DIGIT = 4,
    BC_ALNUM = BC_ALPHA | BC_DIGIT,
    BC_HIGH = 8,   /* UTF-8 lead byte: a letter of another script */
    BC_SYM = 16,   /* code symbols */
    BC_OTHER = 32, /* space, tab, comma, bar, semicolon, dot: counted one by one */
    BC_OTHER_SPACE = 64,
};
static uint8_t byte_class[256];

static void byte_class_init(void)
{
    for (int c = 0; c < 256; c++) {
        uint8_t k = 0;
        if (c >= 'a' && c <= 'z')
            k = BC_LOWER;
        else if (c >= 'A' && c <= 'Z')
            k = BC_UPPER;
        else if (c >= '0' && c <= '9')
            k = BC_DIGIT;
        else if (c >= 0xC0)
            k = BC_HIGH;
        else if (c == ' ' || c == '\t' || c == ',' || c == '.' || c == '|' || c == ';')
            k = BC_OTHER;
        else if (c < 0x80 && is_code_sym((uint8_t)c))
            k = BC_SYM;
        byte_class[c] = k;
        if (c < 128)
            ascii_ch[c] = ch_ascii((uint8_t)c);
    }
}

static int ends_with_word(const uint8_t *p, uint32_t s, uint32_t e, const char *w)
{
    size_t n = strlen(w);
    return e - s >= n && memcmp(p + e - n, w, n) == 0;
}

/* What a line looks like: prose or data (code, log, trace, table, CSV, quote). */
static uint8_t line_kind(const uint8_t *p, uint32_t s, uint32_t e, int *in_fence, uint8_t *fence_seen,
                         uint8_t *quote_seen)
{
    uint32_t i = s, ind = 0;
    while (i < e && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r')) {
        ind += p[i] == '\t' ? 4 : 1;
        i++;
    }
    if (i == e)
        return *in_fence ? LN_DATA : LN_BLANK;
    if (e - i >= 3 && ((p[i] == '`' && p[i + 1] == '`' && p[i + 2] == '`') ||
                       (p[i] == '~' && p[i + 1] == '~' && p[i + 2] == '~'))) {
        *in_fence = !*in_fence;
        *fence_seen = 1;
        return LN_DATA;
    }
    if (*in_fence)
        return LN_DATA;
    if (p[i] == '>') {
        *quote_seen = 1;
        return LN_DATA;
    }
    if (ind >= 4)
        return LN_DATA;
    if (starts_with(p, i, e, "at ") || starts_with(p, i, e, "File \"") || starts_with(p, i, e, "Traceback") ||
        starts_with(p, i, e, "Caused by:") || starts_with(p, i, e, "goroutine ") ||
        starts_with(p, i, e, "#0 "))
        return LN_DATA;
    if (p[i] == '[' && i + 1 < e && (is_alnum_b(p[i + 1])))
        return LN_DATA;
    int letters = 0, digits = 0, sym = 0, pipes = 0, commas = 0, semis = 0, spaces = 0, tabs = 0, dots = 0;
    int call = 0, snake = 0, camel = 0, eqsp = 0;
    uint8_t prev = 0; /* class of the previous byte */
    /* the first LX_LINE_SCAN bytes tell what a line is; a long prose line is not read twice */
    uint32_t scan_end = e - i > LX_LINE_SCAN ? i + LX_LINE_SCAN : e;
    for (uint32_t j = i; j < scan_end; j++) {
        uint8_t c = p[j], k = byte_class[c];
        if (k & BC_ALPHA) {
            letters++;
            if ((k & BC_UPPER) && (prev & BC_LOWER))
                camel = 1;
        } else if (k & BC_HIGH) {
            letters++;
        } else if (k & BC_DIGIT) {
            digits++;
        } else if (k & BC_OTHER) {
            switch (c) {
            case ' ':
                spaces++;
                break;
            case '\t':
                tabs++;
                break;
            case ',':
                commas++;
                break;
            case '|':
                pipes++;
                sym++;
                break;
            case ';':
                semis++;
                sym++;
                break;
            case '.':
                if ((prev & BC_ALNUM) && j + 1 < e && (byte_class[p[j + 1]] & BC_ALNUM) &&
                    !((prev & BC_DIGIT) && (byte_class[p[j + 1]] & BC_DIGIT)))
                    dots++;
                break;
            default:
                break;
            }
        } else if (k & BC_SYM) {
            sym++;
            if (c == '(' && (prev & BC_ALNUM))
                call = 1;
            else if (c == '_' && (prev & BC_ALNUM) && j + 1 < e && (byte_class[p[j + 1]] & BC_ALNUM))
                snake = 1;
            else if (c == '=' &&
                     (prev == BC_OTHER_SPACE || (j > i && p[j - 1] == '=') || (j + 1 < e && p[j + 1] == '=')))
                eqsp = 1;
        }
        prev = c == ' ' ? BC_OTHER_SPACE : k;
    }
    if (pipes >= 2)
        return LN_DATA;
    if (letters == 0)
        return LN_DATA;
    if (tabs >= 2)
        return LN_DATA;
    /* CSV: three or more separators with few spaces, or two with none ("north,12,340.5") */
    if ((commas >= 3 && spaces <= commas) || (commas >= 2 && spaces == 0))
        return LN_DATA;
    if ((semis >= 3 && spaces <= semis) || (semis >= 2 && spaces == 0))
        return LN_DATA;
    /* timestamps, dates, IP addresses at the start of a line: logs */
    if ((uint8_t)(p[i] - '0') < 10 && digits >= 4) {
        for (uint32_t j = i; j < e && j < i + 12; j++)
            if (p[j] == ':' || p[j] == '-' || p[j] == '/' || p[j] == '.')
                return LN_DATA;
    }
    /* "KeyError: …", "java.lang.NullPointerException: …" */
    {
        uint32_t j = i;
        while (j < e && (is_alnum_b(p[j]) || p[j] == '.' || p[j] == '_' || p[j] == '$'))
            j++;
        if (j < e && p[j] == ':' && j - i >= 5 &&
            (ends_with_word(p, i, j, "Error") || ends_with_word(p, i, j, "Exception")))
            return LN_DATA;
    }
    int last = e - 1;
    while (last > (int)i && (p[last] == ' ' || p[last] == '\r'))
        last--;
    int score = (sym + dots) * 4 - letters;
    uint8_t lc = p[last];
    if (lc == ';' || lc == '{' || lc == '}' || lc == ')')
        score += 12;
    if (call)
        score += 12;
    if (snake || camel)
        score += 8;
    if (dots >= 2)
        score += 8;
    if (eqsp)
        score += 6;
    if (lc == ':' && call)
        score += 6;
    return score >= 0 ? LN_DATA : LN_PROSE;
}

static inline int line_ends_with(const uint8_t *p, const line_t *l, int ch)
{
    uint32_t e = l->e;
    while (e > l->s && (p[e - 1] == ' ' || p[e - 1] == '\r' || p[e - 1] == '\t'))
        e--;
    if (e == l->s)
        return 0;
    if (p[e - 1] == ch)
        return 1;
    /* full-width ： ？ (EF BC 9A / 9F) */
    if (e - l->s >= 3 && p[e - 3] == 0xEF && p[e - 2] == 0xBC)
        return (ch == ':' && p[e - 1] == 0x9A) || (ch == '?' && p[e - 1] == 0x9F);
    return 0;
}

/* A sentence ends at . ! ? : followed by space or the end, at 。！？：, or at the line's end. */
static uint32_t sentence_end(const uint8_t *p, uint32_t i, uint32_t e)
{
    while (i < e) {
        uint8_t c = p[i];
        if ((c == '.' || c == '!' || c == '?' || c == ':') &&
            (i + 1 == e || p[i + 1] == ' ' || p[i + 1] == '\t'))
            return i + 1;
        if (c == 0xE3 && i + 2 < e && p[i + 1] == 0x80 && p[i + 2] == 0x82)
            return i + 3;
        if (c == 0xEF && i + 2 < e && p[i + 1] == 0xBC &&
            (p[i + 2] == 0x81 || p[i + 2] == 0x9F || p[i + 2] == 0x9A))
            return i + 3;
        i++;
    }
    return e;
}

/* Approximate words in [s, e): runs of ASCII letters, and two CJK characters per word. */
static uint32_t count_words(const uint8_t *p, uint32_t s, uint32_t e)
{
    uint32_t w = 0, cjk = 0;
    int in = 0;
    for (uint32_t i = s; i < e; i++) {
        uint8_t c = p[i];
        int letter =
            (uint8_t)((c | 0x20) - 'a') < 26 || (c >= 0xC2 && c <= 0xDF) || (c >= 0x80 && c < 0xC0 && in);
        if (c >= 0xE3 && c <= 0xED) {
            cjk++;
            in = 0;
            continue;
        }
        if (letter && !in)
            w++;
        in = letter;
    }
    return w + cjk / 2;
}

static uint32_t skip_lead(const uint8_t *p, uint32_t s, uint32_t e)
{
    /* spaces and list markers ("- ", "* ", "1. ", "2) ") */
    while (s < e && (p[s] == ' ' || p[s] == '\t'))
        s++;
    if (s + 1 < e && (p[s] == '-' || p[s] == '*') && p[s + 1] == ' ')
        s += 2;
    else {
        uint32_t j = s;
        while (j < e && j < s + 3 && (uint8_t)(p[j] - '0') < 10)
            j++;
        if (j > s && j + 1 < e && (p[j] == '.' || p[j] == ')') && p[j + 1] == ' ')
            s = j + 2;
    }
    return s;
}

static inline int is_term_at(const uint8_t *p, uint32_t i, uint32_t e, uint32_t *after)
{
    uint8_t c = p[i];
    if ((c == '.' || c == '!' || c == '?' || c == ':') &&
        (i + 1 == e || p[i + 1] == ' ' || p[i + 1] == '\t')) {
        *after = i + 1;
        return 1;
    }
    if (i + 2 < e &&
        ((c == 0xE3 && p[i + 1] == 0x80 && p[i + 2] == 0x82) ||
         (c == 0xEF && p[i + 1] == 0xBC && (p[i + 2] == 0x81 || p[i + 2] == 0x9F || p[i + 2] == 0x9A)))) {
        *after = i + 3;
        return 1;
    }
    return 0;
}

/* Start of the last sentence in [s, e): after the last terminator that has text after it,
 * found scanning backwards. */
static uint32_t last_sentence_start(const uint8_t *p, uint32_t s, uint32_t e)
{
    /* skip what closes the last sentence: spaces, terminators, closing quotes */
    uint32_t j = e, after;
    for (;;) {
        if (j > s && (p[j - 1] == ' ' || p[j - 1] == '\t' || p[j - 1] == '.' || p[j - 1] == '!' ||
                      p[j - 1] == '?' || p[j - 1] == ':' || p[j - 1] == '"' || p[j - 1] == ')')) {
            j--;
            continue;
        }
        if (j >= s + 3 && (is_term_at(p, j - 3, e, &after) ||
                           (p[j - 3] == 0xE3 && p[j - 2] == 0x80 && (p[j - 1] == 0x8D || p[j - 1] == 0x8F)) ||
                           (p[j - 3] == 0xE2 && p[j - 2] == 0x80 && p[j - 1] == 0x9D))) {
            j -= 3;
            continue;
        }
        break;
    }
    for (uint32_t i = j; i-- > s;) {
        if (is_term_at(p, i, e, &after) && after <= j) {
            while (after < e && (p[after] == ' ' || p[after] == '\t'))
                after++;
            return after < e ? after : s;
        }
    }
    return s;
}

static void layout_window(const uint8_t *p, uint32_t from, uint32_t to, layout_t *L, int *in_fence)
{
    uint32_t s = from;
    while (s < to && L->nln < LX_MAX_LINES) {
        const uint8_t *nlp = memchr(p + s, '\n', to - s);
        uint32_t e = nlp ? (uint32_t)(nlp - p) : to;
        line_t *l = &L->ln[L->nln++];
        l->s = s;
        l->e = e;
        l->instr = 0;
        l->para_start = 0;
        l->nl = e < to;
        l->kind = line_kind(p, s, e, in_fence, &L->has_fence, &L->has_quote_line);
        s = e + 1;
    }
    if (s < to && L->nln == LX_MAX_LINES) {
        /* past the cap: one material line to the end of the window */
        L->ln[LX_MAX_LINES - 1].e = to;
        L->ln[LX_MAX_LINES - 1].kind = LN_DATA;
        L->ln[LX_MAX_LINES - 1].nl = 0;
    }
}

typedef struct {
    uint32_t first, last; /* line indices */
    uint32_t bytes, nlines, ndata;
    uint8_t data, instr;
} para_t;

static void layout(const uint8_t *p, size_t len, layout_t *L)
{
    L->nln = 0;
    L->fs = L->fe = L->ls = L->le = 0;
    L->mat_bytes = L->instr_bytes = 0;
    L->has_fence = L->has_quote_line = L->has_data = L->has_long_prose = 0;
    size_t head = len < DP_CLASSIFY_HEAD_BYTES ? len : DP_CLASSIFY_HEAD_BYTES;
    int in_fence = 0;
    layout_window(p, 0, (uint32_t)head, L, &in_fence);
    if (len > head) {
        size_t tail_from = len - DP_CLASSIFY_TAIL_BYTES > head ? len - DP_CLASSIFY_TAIL_BYTES : head;
        /* the tail starts mid-line: that partial line is material */
        uint32_t t = (uint32_t)tail_from;
        uint32_t nl = t;
        while (nl < len && p[nl] != '\n')
            nl++;
        if (L->nln < LX_MAX_LINES && nl > t) {
            line_t *l = &L->ln[L->nln++];
            *l = (line_t){t, nl, LN_DATA, 0, 0, nl < len};
        }
        if (nl < len)
            layout_window(p, nl + 1, (uint32_t)len, L, &in_fence);
    }

    /* paragraphs */
    para_t P[LX_MAX_PARAS];
    uint32_t np = 0;
    for (uint32_t i = 0; i < L->nln;) {
        if (L->ln[i].kind == LN_BLANK) {
            i++;
            continue;
        }
        para_t *q;
        if (np < LX_MAX_PARAS) {
            q = &P[np++];
            *q = (para_t){.first = i};
        } else {
            q = &P[np - 1]; /* past the cap: merged into the last, as material */
            q->data = 1;
        }
        L->ln[i].para_start = 1;
        while (i < L->nln && L->ln[i].kind != LN_BLANK) {
            q->last = i;
            q->nlines++;
            q->bytes += L->ln[i].e - L->ln[i].s;
            q->ndata += L->ln[i].kind == LN_DATA;
            i++;
        }
        if (q->ndata * 2 > q->nlines)
            q->data = 1;
    }
    /* prose paragraphs: which are instruction */
    uint32_t prose[LX_MAX_PARAS], npr = 0;
    int has_data = 0;
    for (uint32_t k = 0; k < np; k++) {
        if (P[k].data)
            has_data = 1;
        else
            prose[npr++] = k;
    }
    L->has_data = (uint8_t)has_data;
    if (npr > 0) {
        para_t *f = &P[prose[0]], *l = &P[prose[npr - 1]];
        int leadin = line_ends_with(p, &L->ln[f->last], ':');
        if (npr == 1) {
            f->instr = 1;
        } else {
            f->instr = f->bytes <= LX_LONG_PARA || l->bytes > LX_LONG_PARA;
            l->instr = l->bytes <= LX_SHORT_LAST || !f->instr;
            for (uint32_t k = 1; k + 1 < npr; k++) {
                para_t *m = &P[prose[k]];
                m->instr = !has_data && !leadin && f->instr && m->bytes <= LX_SHORT_MID;
            }
        }
        for (uint32_t k = 0; k < npr; k++)
            if (!P[prose[k]].instr)
                L->has_long_prose = 1;
    }
    /* lines */
    for (uint32_t k = 0; k < np; k++) {
        para_t *q = &P[k];
        if (!q->data) {
            for (uint32_t i = q->first; i <= q->last; i++)
                L->ln[i].instr = q->instr && L->ln[i].kind == LN_PROSE;
            continue;
        }
        /* a material paragraph: prose lines before its first data line are instruction when
         * the paragraph opens the message or they end with ':' or '?'; prose lines after its
         * last data line are instruction when short */
        uint32_t i = q->first;
        int opens = k == 0;
        while (i <= q->last && L->ln[i].kind == LN_PROSE) {
            const line_t *ln = &L->ln[i];
            if (opens || line_ends_with(p, ln, ':') || line_ends_with(p, ln, '?'))
                L->ln[i].instr = 1;
            i++;
        }
        uint32_t j = q->last;
        while (j > i && L->ln[j].kind == LN_PROSE && L->ln[j].e - L->ln[j].s <= LX_SHORT_LAST) {
            L->ln[j].instr = 1;
            j--;
        }
    }
    for (uint32_t i = 0; i < L->nln; i++) {
        uint32_t b = L->ln[i].e - L->ln[i].s;
        if (L->ln[i].instr)
            L->instr_bytes += b;
        else if (L->ln[i].kind != LN_BLANK)
            L->mat_bytes += b;
    }
    /* first sentence: of the first instruction line; extended by one sentence (or into the
     * next instruction line) while it has fewer than 4 words ("Hi!", "Quick question:") */
    uint32_t a = 0;
    while (a < L->nln && !L->ln[a].instr)
        a++;
    if (a == L->nln)
        return;
    const line_t *fl = &L->ln[a];
    uint32_t fs = skip_lead(p, fl->s, fl->e), fe = sentence_end(p, fs, fl->e);
    for (int ext = 0; ext < 2 && count_words(p, fs, fe) < 4; ext++) {
        if (fe < fl->e) {
            fe = sentence_end(p, fe, fl->e);
        } else if (a + 1 < L->nln && L->ln[a + 1].instr) {
            a++;
            fl = &L->ln[a];
            fe = sentence_end(p, fl->s, fl->e);
        } else {
            break;
        }
    }
    if (fe - fs > LX_SENT_CAP)
        fe = fs + LX_SENT_CAP;
    L->fs = fs;
    L->fe = fe;
    /* last sentence: of the last instruction line; extended back while short */
    uint32_t z = L->nln - 1;
    while (!L->ln[z].instr)
        z--;
    const line_t *ll = &L->ln[z];
    uint32_t le = ll->e, ls = last_sentence_start(p, skip_lead(p, ll->s, ll->e), ll->e);
    for (int ext = 0; ext < 2 && count_words(p, ls, le) < 4; ext++) {
        uint32_t ls0 = skip_lead(p, ll->s, ll->e);
        if (ls > ls0) {
            ls = last_sentence_start(p, ls0, ls > 0 ? ls - 1 : ls);
        } else if (z > 0 && L->ln[z - 1].instr && !L->ln[z].para_start) {
            z--;
            ll = &L->ln[z];
            ls = last_sentence_start(p, skip_lead(p, ll->s, ll->e), ll->e);
        } else {
            break;
        }
    }
    if (le - ls > LX_SENT_CAP)
        ls = le - LX_SENT_CAP;
    L->ls = ls;
    L->le = le;
}

/* ------------------------------------------------------------------ features */

typedef struct {
    dp_classify_emit_fn emit;
    void *arg;
    size_t n;
    /* bigram chains: body, first, last; concept chains likewise */
    uint32_t prev[3], cprev[3];
    int cprev_is_concept[3];
    uint32_t wi; /* words since the last sentence boundary (instruction) */
    int have_first_word;
    /* counts */
    uint32_t lines, digits, codesym, qmarks, high, iwords, isent, items, nconcept_hard, nconcept_easy,
        nconstr, script[SC_COUNT];
    uint32_t task_concepts[2], ntask_concepts; /* first two task concepts of the first/last sentences */
    uint32_t seen_mask;
} fx_t;

#define FX_INLINE static inline __attribute__((always_inline))

FX_INLINE void fx_out(fx_t *f, uint32_t h, unsigned region)
{
    f->emit(f->arg, h, region);
    f->n++;
}

static const uint32_t region_seed[3] = {0, 0x6a09e667u, 0xbb67ae85u};
static const unsigned region_id[3] = {DP_CLASSIFY_R_BODY, DP_CLASSIFY_R_FIRST, DP_CLASSIFY_R_LAST};

/* An instruction token: unigram and bigram in the body, and in the first/last sentence
 * regions when it lies there (sel bit 1, bit 2). */
FX_INLINE void fx_itok(fx_t *f, uint32_t h, unsigned sel)
{
    for (int r = 0; r < 3; r++) {
        if (!(sel & (1u << r)))
            continue;
        uint32_t hr = r ? fmix32(h ^ region_seed[r]) : h;
        fx_out(f, hr, region_id[r]);
        if (f->prev[r])
            fx_out(f, fmix32(f->prev[r] * 0x2545F491u + hr + K_BIGRAM), region_id[r]);
        f->prev[r] = hr;
    }
}

/* The concepts of an instruction word. */
FX_INLINE void fx_concepts(fx_t *f, uint32_t word, uint32_t mask, unsigned sel, int initial)
{
    uint32_t first_c = 0;
    int has = mask != 0;
    if (has)
        first_c = (uint32_t)__builtin_ctz(mask);
    for (int r = 0; r < 3; r++) {
        if (!(sel & (1u << r)))
            continue;
        uint32_t m = mask;
        while (m) {
            uint32_t c = (uint32_t)__builtin_ctz(m);
            m &= m - 1;
            fx_out(f, tok_hash(K_CONCEPT, c * 8 + (uint32_t)r), region_id[r]);
            if (initial)
                fx_out(f, tok_hash(K_CSTART, c * 8 + (uint32_t)r), region_id[r]);
        }
        uint32_t cur = has ? tok_hash(K_CONCEPT, first_c) : word;
        if (f->cprev[r] && (has || f->cprev_is_concept[r]))
            fx_out(f, fmix32(f->cprev[r] * 0x27d4eb2fu + cur + K_CBIGRAM + (uint32_t)r), region_id[r]);
        f->cprev[r] = cur;
        f->cprev_is_concept[r] = has;
    }
    if (mask && (sel & 6u)) {
        uint32_t t = mask & ((1u << C_TASK_CONCEPTS) - 1);
        while (t && f->ntask_concepts < 2) {
            uint32_t c = (uint32_t)__builtin_ctz(t);
            t &= t - 1;
            if (!(f->seen_mask & (1u << c)))
                f->task_concepts[f->ntask_concepts++] = c;
            f->seen_mask |= 1u << c;
        }
    }
    if (mask & (1u << C_HARD))
        f->nconcept_hard++;
    if (mask & (1u << C_EASY))
        f->nconcept_easy++;
    if (mask & (1u << C_CONSTR))
        f->nconstr++;
}

/* Lexicon lookup of a word: exact entries on the whole word, prefix entries on its first k
 * units (done while hashing, see fx_text). */
FX_INLINE uint32_t lex_exact(uint32_t h, uint32_t units)
{
    return lex_get(lex_key(h, units, 0));
}

/* Tokenises p[s, e) into region `mode`: 0 instruction (with sentence ranges), 1 material, 2
 * context (role r). Quotation marks inside instruction text make material of what they
 * enclose. */
typedef struct {
    int mode;
    uint32_t role;
    uint32_t fs, fe, ls, le;
    int *inq; /* quote state (instruction only) */
} span_ctx_t;

FX_INLINE void fx_mat(fx_t *f, uint32_t h)
{
    fx_out(f, fmix32(h ^ 0x3c6ef372u), DP_CLASSIFY_R_MAT);
}

FX_INLINE void fx_ctx(fx_t *f, uint32_t h, uint32_t role)
{
    fx_out(f, fmix32(h ^ (0xa54ff53au + role * 0x9E3779B1u)), DP_CLASSIFY_R_CTX);
}

FX_INLINE unsigned sel_of(const span_ctx_t *sc, uint32_t off)
{
    unsigned sel = 1;
    if (off >= sc->fs && off < sc->fe)
        sel |= 2;
    if (off >= sc->ls && off < sc->le)
        sel |= 4;
    return sel;
}

FX_INLINE void fx_text(fx_t *f, const uint8_t *p, uint32_t s, uint32_t e, const span_ctx_t *sc)
{
    uint32_t i = s;
    int line_start = 1;
    /* CJK run: the last LEX_MAX_CJK code points, for lexicon matches of 1..4 characters */
    uint32_t cjk[LEX_MAX_CJK];
    uint32_t ncjk = 0;
    while (i < e) {
        ch_t c = ch_next(p, i, e);
        int quoted = sc->mode == 0 && *sc->inq;
        int mode = quoted ? 1 : sc->mode;
        if (c.cls == CH_LETTER) {
            uint32_t st = i, h = FNV_INIT, units = 0, pmask = 0;
            int probe = mode != 1;
            int sc0 = script_of(&c);
            while (i < e) {
                ch_t d = ch_next(p, i, e);
                if (d.cls != CH_LETTER)
                    break;
                if (units < 32) {
                    h = unit_hash(h, d.unit);
                    units++;
                    if (probe && units >= LEX_MIN_PREFIX) {
                        uint32_t v = lex_get(lex_key(h, units, 1));
                        pmask |= v & ~LEX_CONT;
                        probe = (v & LEX_CONT) != 0 && units < LEX_MAX_PREFIX;
                    }
                }
                if (d.nb > 1)
                    f->high++;
                i += d.nb;
            }
            ncjk = 0;
            uint32_t t = tok_hash(K_WORD, h);
            if (mode == 0) {
                f->script[sc0]++;
                unsigned sel = sel_of(sc, st);
                uint32_t mask = pmask | lex_exact(h, units);
                if (!f->have_first_word) {
                    f->have_first_word = 1;
                    fx_out(f, tok_hash(K_FIRST, h), DP_CLASSIFY_R_FIRST);
                }
                fx_itok(f, t, sel);
                fx_concepts(f, t, mask, sel, f->wi < 3);
                f->wi++;
                f->iwords++;
            } else if (mode == 1) {
                fx_mat(f, t);
            } else {
                uint32_t mask = pmask | lex_exact(h, units);
                fx_ctx(f, t, sc->role);
                while (mask) {
                    uint32_t k = (uint32_t)__builtin_ctz(mask);
                    mask &= mask - 1;
                    fx_ctx(f, tok_hash(K_CONCEPT, k), sc->role);
                }
            }
            line_start = 0;
            continue;
        }
        if (c.cls == CH_CJK) {
            f->high++;
            uint32_t t = tok_hash(K_CJK, c.unit);
            if (ncjk == LEX_MAX_CJK) {
                memmove(cjk, cjk + 1, sizeof(cjk[0]) * (LEX_MAX_CJK - 1));
                ncjk--;
            }
            cjk[ncjk++] = c.unit;
            uint32_t mask = 0;
            if (mode != 1) {
                /* runs ending here, 1..ncjk characters, whose first character starts an entry */
                for (uint32_t k = 1; k <= ncjk; k++) {
                    uint32_t fcp = cjk[ncjk - k], b = cjk_first_bit(fcp);
                    if (!(lex_cjk_first[b >> 3] & (1u << (b & 7))))
                        continue;
                    uint32_t h = FNV_INIT;
                    for (uint32_t q = ncjk - k; q < ncjk; q++)
                        h = unit_hash(h, cjk[q]);
                    mask |= lex_get(lex_key(h, k, 2));
                }
            }
            if (mode == 0) {
                f->script[script_of(&c)]++;
                unsigned sel = sel_of(sc, i);
                if (!f->have_first_word) {
                    f->have_first_word = 1;
                    fx_out(f, tok_hash(K_FIRST, c.unit), DP_CLASSIFY_R_FIRST);
                }
                fx_itok(f, t, sel);
                fx_concepts(f, t, mask, sel, f->wi < 6);
                f->wi++;
                if (f->wi & 1)
                    f->iwords++;
            } else if (mode == 1) {
                fx_mat(f, t);
            } else {
                fx_ctx(f, t, sc->role);
                while (mask) {
                    uint32_t k = (uint32_t)__builtin_ctz(mask);
                    mask &= mask - 1;
                    fx_ctx(f, tok_hash(K_CONCEPT, k), sc->role);
                }
            }
            i += c.nb;
            line_start = 0;
            continue;
        }
        ncjk = 0;
        if (c.cls == CH_DIGIT) {
            /* ASCII or full-width digits ("１２３"): advance by what was decoded */
            uint32_t st = i, n = 0;
            while (i < e) {
                ch_t d = ch_next(p, i, e);
                if (d.cls != CH_DIGIT)
                    break;
                i += d.nb;
                n++;
            }
            f->digits += n;
            uint32_t t = tok_hash(K_NUM, n > 4 ? 4 : n);
            if (mode == 0)
                fx_itok(f, t, sel_of(sc, st));
            else if (mode == 1)
                fx_mat(f, t);
            line_start = 0;
            continue;
        }
        if (c.cls == CH_SPACE) {
            if (line_start && sc->mode == 1) {
                uint32_t st = i;
                while (i < e && (p[i] == ' ' || p[i] == '\t'))
                    i++;
                if (i - st >= 2 || p[st] == '\t')
                    fx_mat(f, tok_hash(K_INDENT, 0));
                if (i == st)
                    i += c.nb;
            } else {
                i += c.nb;
            }
            continue;
        }
        if (c.cls == CH_PUNCT || c.cls == CH_SYMBOL) {
            uint32_t u = c.unit;
            if (c.nb == 1 && is_code_sym((uint8_t)u))
                f->codesym++;
            if (sc->mode == 0) {
                /* quotation marks switch the instruction to material and back */
                if (u == '"')
                    *sc->inq = !*sc->inq;
                else if (u == U_QOPEN)
                    *sc->inq = 1;
                else if (u == U_QCLOSE)
                    *sc->inq = 0;
            }
            uint32_t t = tok_hash(K_PUNCT, u);
            if (mode == 0) {
                if (u == '?')
                    f->qmarks++;
                if (u == '.' || u == '!' || u == '?' || u == ':')
                    f->wi = 0, f->isent++;
                if (line_start && (u == '-' || u == '*'))
                    f->items++;
                fx_itok(f, t, sel_of(sc, i));
            } else if (mode == 1) {
                fx_mat(f, t);
            } else if (u == '?' || c.cls == CH_SYMBOL) {
                fx_ctx(f, t, sc->role);
            }
            i += c.nb;
            line_start = 0;
            continue;
        }
        i += c.nb; /* separators, stray newlines */
    }
}

static inline uint32_t bucket_of(size_t v, const size_t *edges, uint32_t nedges)
{
    uint32_t b = 0;
    while (b < nedges && v >= edges[b])
        b++;
    return b;
}

FX_INLINE void fx_shape(fx_t *f, size_t len, const layout_t *L, uint32_t nctx, uint32_t ctx_roles)
{
    static const size_t len_e[] = {16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192};
    static const size_t line_e[] = {1, 2, 4, 8, 16, 32, 64};
    static const size_t cnt_e[] = {1, 2, 3, 5, 10};
    static const size_t pm_e[] = {1, 10, 30, 60, 120, 250}; /* per-mille of bytes */
    static const size_t w_e[] = {4, 8, 16, 32, 64, 128, 256};
    static const size_t mat_e[] = {1, 100, 400, 1500, 4000};
    size_t b = len ? len : 1;
    const unsigned R = DP_CLASSIFY_R_SHAPE;
    uint32_t wb = bucket_of(f->iwords, w_e, 7), mb = bucket_of(L->mat_bytes, mat_e, 5);
    uint32_t ib = bucket_of(f->items, cnt_e, 5), cb = bucket_of(f->nconstr, cnt_e, 5);
    uint32_t hb = bucket_of(f->nconcept_hard, cnt_e, 5), eb = bucket_of(f->nconcept_easy, cnt_e, 5);
    uint32_t lb = bucket_of(len, len_e, 10);
    fx_out(f, tok_hash(K_DENSE, 0x100 | lb), R);
    fx_out(f, tok_hash(K_DENSE, 0x200 | bucket_of(f->lines, line_e, 7)), R);
    fx_out(f, tok_hash(K_DENSE, 0x300 | bucket_of(f->digits * 1000 / b, pm_e, 6)), R);
    fx_out(f, tok_hash(K_DENSE, 0x400 | bucket_of(f->codesym * 1000 / b, pm_e, 6)), R);
    fx_out(f, tok_hash(K_DENSE, 0x500 | bucket_of(f->qmarks, cnt_e, 5)), R);
    fx_out(f, tok_hash(K_DENSE, 0x600 | bucket_of(f->high * 1000 / b, pm_e, 6)), R);
    fx_out(f, tok_hash(K_DENSE, 0x700 | wb), R);
    fx_out(f, tok_hash(K_DENSE, 0x800 | mb), R);
    fx_out(f, tok_hash(K_DENSE, 0x900 | bucket_of(L->instr_bytes, len_e, 10)), R);
    fx_out(f, tok_hash(K_DENSE, 0xA00 | ib), R);
    fx_out(f, tok_hash(K_DENSE, 0xB00 | bucket_of(f->isent, cnt_e, 5)), R);
    fx_out(f, tok_hash(K_DENSE, 0xC00 | (nctx > 3 ? 3 : nctx) | ctx_roles << 2), R);
    fx_out(f,
           tok_hash(K_DENSE, 0xD00 | (uint32_t)(L->has_fence | L->has_quote_line << 1 | L->has_data << 2 |
                                                L->has_long_prose << 3)),
           R);
    uint32_t dom = 0;
    for (uint32_t k = 1; k < SC_COUNT; k++)
        if (f->script[k] > f->script[dom])
            dom = k;
    fx_out(f, tok_hash(K_DENSE, 0xE00 | (f->iwords ? dom : 15)), R);
    fx_out(f, tok_hash(K_DENSE, 0x1000 | hb), R);
    fx_out(f, tok_hash(K_DENSE, 0x1100 | eb), R);
    fx_out(f, tok_hash(K_DENSE, 0x1200 | cb), R);
    fx_out(f, tok_hash(K_DENSE, 0x1300 | wb << 4 | mb), R);
    /* what the instruction asks for, crossed with how much it asks and how much it is given */
    for (uint32_t k = 0; k < f->ntask_concepts; k++) {
        uint32_t c = f->task_concepts[k] << 16;
        fx_out(f, tok_hash(K_CONJ, c | 0x100 | wb), R);
        fx_out(f, tok_hash(K_CONJ, c | 0x200 | mb), R);
        fx_out(f, tok_hash(K_CONJ, c | 0x300 | ib), R);
        fx_out(f, tok_hash(K_CONJ, c | 0x400 | cb), R);
        fx_out(f, tok_hash(K_CONJ, c | 0x500 | hb << 4 | eb), R);
        fx_out(f, tok_hash(K_CONJ, c | 0x600 | lb), R);
    }
    if (f->ntask_concepts == 2)
        fx_out(f, tok_hash(K_CONJ, 0x1000000u | f->task_concepts[0] << 8 | f->task_concepts[1]), R);
    if (f->ntask_concepts == 0)
        fx_out(f, tok_hash(K_CONJ, 0x2000000u | wb << 4 | mb), R);
}

/* Inlined into both callers so that, in dp_classify, the scoring callback is a known
 * function and is inlined too instead of an indirect call per feature. */
FX_INLINE size_t fx_run(const char *text, size_t len, const dp_classify_span_t *ctx, size_t nctx,
                        dp_classify_emit_fn emit, void *arg, layout_t *L)
{
    fx_t f;
    memset(&f, 0, sizeof f);
    f.emit = emit;
    f.arg = arg;
    if (text == NULL)
        len = 0;
    if (ctx == NULL)
        nctx = 0;
    if (len > UINT32_MAX - 16)
        len = UINT32_MAX - 16;
    const uint8_t *p = (const uint8_t *)text;
    layout(p, len, L);
    int inq = 0;
    span_ctx_t sc = {.mode = 0, .fs = L->fs, .fe = L->fe, .ls = L->ls, .le = L->le, .inq = &inq};
    int prev_instr = -1;
    for (uint32_t i = 0; i < L->nln; i++) {
        const line_t *l = &L->ln[i];
        if (l->para_start)
            inq = 0;
        if (l->kind == LN_BLANK)
            continue;
        sc.mode = l->instr ? 0 : 1;
        if (sc.mode == 0 && prev_instr == 0) {
            /* material in between: the instruction's bigram chains start over */
            f.prev[0] = f.prev[1] = f.prev[2] = 0;
            f.cprev[0] = f.cprev[1] = f.cprev[2] = 0;
        }
        prev_instr = sc.mode == 0;
        f.lines++;
        fx_text(&f, p, l->s, l->e, &sc);
        if (l->nl) {
            uint32_t t = tok_hash(K_NL, 0);
            if (sc.mode == 0) {
                f.wi = 0;
                fx_itok(&f, t, sel_of(&sc, l->e));
            } else {
                fx_mat(&f, t);
            }
        }
    }
    uint32_t roles = 0, n = 0;
    for (size_t k = 0; k < nctx && k < DP_CLASSIFY_CTX_MAX; k++) {
        if (ctx[k].text == NULL || ctx[k].len == 0)
            continue;
        size_t cl = ctx[k].len < DP_CLASSIFY_CTX_BYTES ? ctx[k].len : DP_CLASSIFY_CTX_BYTES;
        span_ctx_t cs = {.mode = 2, .role = (uint32_t)ctx[k].role};
        roles |= 1u << ((unsigned)ctx[k].role & 3);
        n++;
        fx_text(&f, (const uint8_t *)ctx[k].text, 0, (uint32_t)cl, &cs);
    }
    fx_shape(&f, len, L, n, roles & 7);
    return f.n;
}

size_t dp_classify_features(const char *text, size_t len, const dp_classify_span_t *ctx, size_t nctx,
                            dp_classify_emit_fn emit, void *arg)
{
    lex_init();
    layout_t L;
    return fx_run(text, len, ctx, nctx, emit, arg, &L);
}

void dp_classify_explain(const char *text, size_t len, char *mask)
{
    if (text == NULL || mask == NULL)
        return;
    lex_init();
    size_t n = len < DP_CLASSIFY_HEAD_BYTES ? len : DP_CLASSIFY_HEAD_BYTES;
    memset(mask, 'm', n);
    layout_t L;
    layout((const uint8_t *)text, len, &L);
    const uint8_t *p = (const uint8_t *)text;
    int inq = 0;
    for (uint32_t i = 0; i < L.nln; i++) {
        const line_t *l = &L.ln[i];
        if (l->para_start)
            inq = 0;
        if (!l->instr)
            continue;
        for (uint32_t j = l->s; j < l->e && j < n;) {
            ch_t c = ch_next(p, j, l->e);
            int was = inq;
            if (c.cls == CH_PUNCT) {
                if (c.unit == '"')
                    inq = !inq;
                else if (c.unit == U_QOPEN)
                    inq = 1;
                else if (c.unit == U_QCLOSE)
                    inq = 0;
            }
            char k = 'i';
            if (was && inq)
                k = 'm';
            else if (j >= L.fs && j < L.fe)
                k = j >= L.ls && j < L.le ? 'b' : 'f';
            else if (j >= L.ls && j < L.le)
                k = 'l';
            for (uint32_t q = 0; q < c.nb && j + q < n; q++)
                mask[j + q] = k;
            j += c.nb;
        }
    }
}

/* ------------------------------------------------------------------ scoring */

typedef int16_t v16hi __attribute__((vector_size(32)));
typedef int32_t v16si __attribute__((vector_size(64)));

typedef struct {
    v16si acc[DP_CLASSIFY_REGIONS];
    const int16_t *w;
    uint32_t mask;
    uint32_t n[DP_CLASSIFY_REGIONS];
} acc_t;

FX_INLINE void acc_emit(void *arg, uint32_t h, unsigned region)
{
    acc_t *a = arg;
    const v16hi *row = (const v16hi *)(a->w + (size_t)(h & a->mask) * ROW_WIDTH);
    a->n[region]++;
    a->acc[region] += __builtin_convertvector(*row, v16si);
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

void dp_classify_conv(const dp_classify_model_t *m, const char *text, size_t len,
                      const dp_classify_span_t *ctx, size_t nctx, dp_classify_result_t *out)
{
    acc_t a;
    memset(&a, 0, sizeof a);
    a.w = m->w;
    a.mask = m->mask;
    layout_t L;
    fx_run(text, len, ctx, nctx, acc_emit, &a, &L);
    /* Each region's count vector is scaled to unit-ish length (1/sqrt(its features)) so a long
     * pasted document does not drown a one-line instruction; the trainer uses the same. */
    float z[DP_CLASSIFY_OUTPUTS];
    memcpy(z, m->bias, sizeof z);
    for (int r = 0; r < DP_CLASSIFY_REGIONS; r++) {
        if (a.n[r] == 0)
            continue;
        float inv = 1.0f / sqrtf((float)a.n[r]);
        float st = m->scale_task * inv, sd = m->scale_diff * inv;
        for (int k = 0; k < DP_TASK_COUNT; k++)
            z[k] += (float)a.acc[r][k] * st;
        for (int k = DP_TASK_COUNT; k < DP_CLASSIFY_OUTPUTS; k++)
            z[k] += (float)a.acc[r][k] * sd;
    }
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

void dp_classify(const dp_classify_model_t *m, const char *text, size_t len, dp_classify_result_t *out)
{
    dp_classify_conv(m, text, len, NULL, 0, out);
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
        seterr(err, errlen, "model trained with feature version %u, runtime has %u", fver,
               DP_CLASSIFY_FEATURE_VERSION);
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
        seterr(err, errlen, "model size %zu, header says %u, expected %zu (truncated or corrupt)", len,
               declared, want);
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
    lex_init();
    dp_classify_model_t *m = calloc(1, sizeof *m);
    size_t rows = (size_t)1 << bits, nw = rows * DP_CLASSIFY_OUTPUTS;
    int16_t *w = m ? aligned_alloc(32, rows * ROW_WIDTH * sizeof *w) : NULL;
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
    memset(w, 0, rows * ROW_WIDTH * sizeof *w);
    for (size_t i = 0; i < nw; i++)
        w[i / DP_CLASSIFY_OUTPUTS * ROW_WIDTH + i % DP_CLASSIFY_OUTPUTS] =
            (int16_t)(uint16_t)(q[2 * i] | (uint16_t)q[2 * i + 1] << 8);
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
    if (hash_bits < CLF_MIN_BITS || hash_bits > CLF_MAX_BITS || weights == NULL || bias == NULL ||
        out == NULL || outlen == NULL)
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
