/*
 * sy_train_classifier — trains the "auto" router's prompt classifier (dataplane/dp_classify)
 * from labelled JSONL prompts, measures it honestly, and writes the model file.
 *
 *   sy_train_classifier [options] DATA...      DATA = a directory of *.jsonl, or a .jsonl file
 *     --out FILE        write the trained model here
 *     --eval FILE       do not train: score the model FILE on --eval-set (DATA not needed)
 *     --eval-set FILE   the realistic evaluation set (data/prompts/eval/eval.jsonl): never
 *                       trained on, never used to tune or calibrate; scored at the end
 *     --loso            leave-one-source-out: for every source, train without it and test on
 *                       it; prints the table
 *     --calibrate       5-fold cross-validation (folds by id hash); the held-out predictions
 *                       fit a temperature per head, folded into the shipped weights (without
 *                       it the model is uncalibrated, temperature 1)
 *     --bits N          hash bits (buckets = 2^N), default 17
 *     --epochs N        passes over the training data, default 8
 *     --min-task X      exit 1 if eval-set task accuracy < X (e.g. 0.85)
 *     --min-diff X      exit 1 if eval-set difficulty accuracy < X (e.g. 0.70)
 *     --expect FILE     after training, say whether the model is byte-identical to FILE
 *     --dump FILE       write every eval-set prediction (id, label, predicted, confidences)
 *     --loso-dump FILE  write every leave-one-source-out prediction (source, id, label, predicted)
 *     --quiet           only the summary lines
 *
 * Data lines: {"id", "prompt", "source", "task", "difficulty"} and optionally "messages" (the
 * whole conversation, OpenAI-shaped) and "lang". With "messages", the classifier sees the last
 * user message and, as context, the first system message and up to three messages before the
 * last user message — the rule the router applies (dataplane/dp_route.c). Lines with
 * task null (unsafe requests) are skipped.
 *
 * The model is trained on every example of DATA (no split: the leave-one-source-out table and
 * the evaluation set are the honest measures). Evaluation always goes through the runtime path
 * (serialise → parse → dp_classify_conv), so the figures are those of the int16 model that
 * ships. Single-threaded, fixed seed, fixed file order: the same data gives the same bytes.
 *
 * Exit codes: 0 ok, 1 below a --min threshold, 2 usage or I/O error, 77 no data found.
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "dp_classify.h"

#define NOUT DP_CLASSIFY_OUTPUTS
#define NT DP_TASK_COUNT
#define ND DP_DIFFICULTY_COUNT
#define NR DP_CLASSIFY_REGIONS
#define MAX_SOURCES 64

typedef struct {
    char *id, *source, *lang, *label;
    char *text;
    size_t len;
    dp_classify_span_t ctx[DP_CLASSIFY_CTX_MAX];
    size_t nctx;
    int task, diff;
    int src;        /* index into sources */
    int fold;       /* cross-validation fold, from the id */
    uint32_t *feat; /* bucket | region << 24 */
    uint32_t nfeat;
    float xr[NR]; /* 1/sqrt(features in region) */
    int has_sys, turns, material;
} example_t;

typedef struct {
    example_t *v;
    size_t n, cap;
} exset_t;

static exset_t train_set, eval_set;

#define FOLDS 5

static uint64_t fnv1a64(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}
static const char *sources[MAX_SOURCES];
static size_t nsources;
static int quiet;

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (d == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return d;
}

static int source_index(const char *s)
{
    for (size_t i = 0; i < nsources; i++)
        if (strcmp(sources[i], s) == 0)
            return (int)i;
    if (nsources == MAX_SOURCES) {
        fprintf(stderr, "too many sources\n");
        exit(2);
    }
    sources[nsources] = xstrdup(s);
    return (int)nsources++;
}

/* The text of a message's content: a string, or the text parts of an array joined by '\n'
 * (first_only: the first text part, as the router does for context). */
static char *content_text(const cJSON *content, int first_only)
{
    if (cJSON_IsString(content))
        return xstrdup(content->valuestring);
    if (!cJSON_IsArray(content))
        return xstrdup("");
    size_t cap = 256, n = 0;
    char *b = xmalloc(cap);
    b[0] = 0;
    const cJSON *part;
    cJSON_ArrayForEach(part, content)
    {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (!cJSON_IsString(t))
            continue;
        size_t l = strlen(t->valuestring);
        while (n + l + 2 > cap) {
            cap *= 2;
            b = realloc(b, cap);
            if (b == NULL)
                exit(2);
        }
        memcpy(b + n, t->valuestring, l);
        n += l;
        if (first_only)
            break;
        b[n++] = '\n';
    }
    b[n] = 0;
    return b;
}

static dp_classify_role_t role_of(const char *r)
{
    if (strcmp(r, "system") == 0 || strcmp(r, "developer") == 0)
        return DP_CLASSIFY_ROLE_SYSTEM;
    if (strcmp(r, "assistant") == 0)
        return DP_CLASSIFY_ROLE_ASSISTANT;
    return DP_CLASSIFY_ROLE_USER;
}

/* From "messages": the last user message, the first system message and up to three messages
 * before the last user message (the router's rule). */
static int from_messages(const cJSON *msgs, example_t *e)
{
    int n = cJSON_GetArraySize(msgs), last = -1, sys = -1;
    for (int i = 0; i < n; i++) {
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(msgs, i), "role");
        if (!cJSON_IsString(r))
            continue;
        if (strcmp(r->valuestring, "user") == 0) {
            last = i;
            e->turns++;
        }
        if (sys < 0 && role_of(r->valuestring) == DP_CLASSIFY_ROLE_SYSTEM)
            sys = i;
    }
    if (last < 0)
        return -1;
    e->text = content_text(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(msgs, last), "content"), 0);
    e->len = strlen(e->text);
    if (sys >= 0 && sys < last) {
        e->ctx[e->nctx].text =
            content_text(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(msgs, sys), "content"), 1);
        e->ctx[e->nctx].len = strlen(e->ctx[e->nctx].text);
        e->ctx[e->nctx++].role = DP_CLASSIFY_ROLE_SYSTEM;
        e->has_sys = 1;
    }
    int from = last - 3;
    for (int i = from < 0 ? 0 : from; i < last; i++) {
        const cJSON *m = cJSON_GetArrayItem(msgs, i);
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(m, "role");
        if (!cJSON_IsString(r) || role_of(r->valuestring) == DP_CLASSIFY_ROLE_SYSTEM)
            continue;
        e->ctx[e->nctx].text = content_text(cJSON_GetObjectItemCaseSensitive(m, "content"), 1);
        e->ctx[e->nctx].len = strlen(e->ctx[e->nctx].text);
        e->ctx[e->nctx++].role = role_of(r->valuestring);
    }
    return 0;
}

static int load_file(const char *path, exset_t *set)
{
    FILE *fp = fopen(path, "r");
    if (fp == NULL) {
        fprintf(stderr, "%s: cannot open\n", path);
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    size_t lineno = 0, kept = 0;
    while ((n = getline(&line, &cap, fp)) > 0) {
        lineno++;
        cJSON *j = cJSON_ParseWithLength(line, (size_t)n);
        if (j == NULL) {
            if (strspn(line, " \t\r\n") != (size_t)n)
                fprintf(stderr, "%s:%zu: bad JSON, skipped\n", path, lineno);
            continue;
        }
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
        const cJSON *pr = cJSON_GetObjectItemCaseSensitive(j, "prompt");
        const cJSON *src = cJSON_GetObjectItemCaseSensitive(j, "source");
        const cJSON *tk = cJSON_GetObjectItemCaseSensitive(j, "task");
        const cJSON *df = cJSON_GetObjectItemCaseSensitive(j, "difficulty");
        const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(j, "messages");
        const cJSON *lang = cJSON_GetObjectItemCaseSensitive(j, "lang");
        const cJSON *lab = cJSON_GetObjectItemCaseSensitive(j, "source_label");
        int t = cJSON_IsString(tk) ? dp_task_from_name(tk->valuestring) : -1;
        int d = cJSON_IsString(df) ? dp_difficulty_from_name(df->valuestring) : -1;
        if (cJSON_IsString(id) && (cJSON_IsString(pr) || cJSON_IsArray(msgs)) && t >= 0 && d >= 0) {
            if (set->n == set->cap) {
                set->cap = set->cap ? set->cap * 2 : 4096;
                set->v = realloc(set->v, set->cap * sizeof *set->v);
                if (set->v == NULL)
                    exit(2);
            }
            example_t *e = &set->v[set->n];
            memset(e, 0, sizeof *e);
            if (cJSON_IsArray(msgs) && cJSON_GetArraySize(msgs) > 0) {
                if (from_messages(msgs, e) != 0) {
                    fprintf(stderr, "%s:%zu: messages without a user turn, skipped\n", path, lineno);
                    cJSON_Delete(j);
                    continue;
                }
            } else {
                e->text = xstrdup(pr->valuestring);
                e->len = strlen(e->text);
                e->turns = 1;
            }
            set->n++;
            e->id = xstrdup(id->valuestring);
            e->source = xstrdup(cJSON_IsString(src) ? src->valuestring : "?");
            e->lang = xstrdup(cJSON_IsString(lang) ? lang->valuestring : "");
            e->label = xstrdup(cJSON_IsString(lab) ? lab->valuestring : "");
            e->material = strstr(e->label, "material=") != NULL;
            e->task = t;
            e->diff = d;
            e->src = set == &train_set ? source_index(e->source) : -1;
            e->fold = (int)(fnv1a64(e->id) % FOLDS);
            kept++;
        }
        cJSON_Delete(j);
    }
    free(line);
    fclose(fp);
    if (!quiet)
        fprintf(stderr, "%s: %zu examples\n", path, kept);
    return 0;
}

static int cmpstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int load_path(const char *path, exset_t *set)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "%s: not found\n", path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return load_file(path, set);
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    char **names = NULL;
    size_t nn = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l > 6 && strcmp(de->d_name + l - 6, ".jsonl") == 0) {
            names = realloc(names, (nn + 1) * sizeof *names);
            names[nn++] = xstrdup(de->d_name);
        }
    }
    closedir(d);
    qsort(names, nn, sizeof *names, cmpstr); /* file order fixes the training order */
    int rc = 0;
    for (size_t i = 0; i < nn; i++) {
        char full[4096];
        snprintf(full, sizeof full, "%s/%s", path, names[i]);
        if (load_file(full, set) != 0)
            rc = -1;
        free(names[i]);
    }
    free(names);
    return rc;
}

/* ------------------------------------------------------------------ features */

typedef struct {
    uint32_t *v;
    uint32_t n, cap, mask;
    uint32_t cnt[NR];
} fbuf_t;

static void fb_emit(void *arg, uint32_t h, unsigned region)
{
    fbuf_t *b = arg;
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 1024;
        b->v = realloc(b->v, b->cap * sizeof *b->v);
        if (b->v == NULL)
            exit(2);
    }
    b->v[b->n++] = (h & b->mask) | region << 24;
    b->cnt[region]++;
}

static void featurize(exset_t *set, unsigned bits)
{
    fbuf_t fb = {.mask = ((uint32_t)1 << bits) - 1};
    for (size_t i = 0; i < set->n; i++) {
        example_t *e = &set->v[i];
        fb.n = 0;
        memset(fb.cnt, 0, sizeof fb.cnt);
        dp_classify_features(e->text, e->len, e->ctx, e->nctx, fb_emit, &fb);
        e->nfeat = fb.n;
        e->feat = xmalloc(fb.n * sizeof(uint32_t));
        memcpy(e->feat, fb.v, fb.n * sizeof(uint32_t));
        for (int r = 0; r < NR; r++)
            e->xr[r] = fb.cnt[r] ? 1.0f / sqrtf((float)fb.cnt[r]) : 0.0f;
    }
    free(fb.v);
}

/* ------------------------------------------------------------------ training */

/* xorshift64*: the shuffle must be the same on every machine, so no rand(). */
static uint64_t rng;
static uint64_t rnd(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 2685821657736338717ull;
}

static void softmax_grad(const float *z, int n, int label, float *g)
{
    float mx = z[0], s = 0;
    for (int i = 1; i < n; i++)
        if (z[i] > mx)
            mx = z[i];
    for (int i = 0; i < n; i++) {
        g[i] = expf(z[i] - mx);
        s += g[i];
    }
    for (int i = 0; i < n; i++)
        g[i] = g[i] / s - (i == label ? 1.0f : 0.0f);
}

static void scores(const example_t *e, const float *W, const float *B, float *z)
{
    memcpy(z, B, NOUT * sizeof *z);
    for (uint32_t f = 0; f < e->nfeat; f++) {
        uint32_t v = e->feat[f];
        float x = e->xr[v >> 24];
        const float *row = W + (size_t)(v & 0xFFFFFF) * NOUT;
        for (int k = 0; k < NOUT; k++)
            z[k] += row[k] * x;
    }
}

/* Per-source cap: a source contributes at most CELL_CAP examples' weight to each task class,
 * so the 3,000-line benchmark files (GSM8K, MATH, BBH, MMLU, Topical-Chat) do not teach "math
 * looks like GSM8K" at the expense of everything else, while sources spread over all classes
 * keep their weight. */
#define CELL_CAP 1000.0f

static int epochs = 8;

/* Sources whose difficulty label is a coarse source- or category-level prior, not a per-item
 * judgement (data/prompts/public/README.md: Arena-Hard is "hard" for every prompt, BBH, MMLU,
 * MT-Bench and Vicuna-Bench by category): their difficulty loss counts this much. Their task
 * labels count fully. */
#define PRIOR_DIFF_WEIGHT 0.3f
static const char *const prior_diff_sources[] = {"arena_hard_v0.1", "bbh", "mmlu_stem", "mt_bench",
                                                 "vicuna_bench"};
static float src_diff_w[MAX_SOURCES];

/* Hand-written, unique realistic prompts (data/prompts/train/sw-realistic.jsonl) count this much
 * per example: they are few next to the templated sets. */
#define REALISTIC_WEIGHT 3.0f
static float src_w[MAX_SOURCES];

static void set_source_weights(void)
{
    const char *rw = getenv("SY_REALISTIC_W");
    for (size_t s = 0; s < nsources; s++) {
        src_w[s] = strcmp(sources[s], "sw-realistic") == 0 ? (rw ? (float)atof(rw) : REALISTIC_WEIGHT) : 1.0f;
        src_diff_w[s] = 1.0f;
        for (size_t k = 0; k < sizeof prior_diff_sources / sizeof prior_diff_sources[0]; k++)
            if (strcmp(sources[s], prior_diff_sources[k]) == 0)
                src_diff_w[s] = PRIOR_DIFF_WEIGHT;
    }
}

/* Multinomial logistic regression, two heads sharing the features, AdaGrad, on the examples
 * whose source is not `skip` (-1: all). Examples are weighted by source (cap above) and by
 * class, (mean class weight / class weight)^0.5 per head, computed on what is trained. */
static void train(unsigned bits, int skip, int fold, float *W, float *B)
{
    size_t rows = (size_t)1 << bits;
    float *G = calloc(rows * NOUT, sizeof *G);
    float GB[NOUT] = {0};
    size_t *order = xmalloc(train_set.n * sizeof *order);
    size_t ntrain = 0;
    static size_t scnt[MAX_SOURCES][NT];
    double tcnt[NT] = {0}, dcnt[ND] = {0}, total = 0, dtotal = 0;
    if (G == NULL)
        exit(2);
    memset(W, 0, rows * NOUT * sizeof *W);
    memset(B, 0, NOUT * sizeof *B);
    memset(scnt, 0, sizeof scnt);
    for (size_t i = 0; i < train_set.n; i++)
        if (train_set.v[i].src != skip && !(fold >= 0 && train_set.v[i].fold == fold)) {
            order[ntrain++] = i;
            scnt[train_set.v[i].src][train_set.v[i].task]++;
        }
    static float sw[MAX_SOURCES][NT];
    for (size_t s = 0; s < nsources; s++)
        for (int k = 0; k < NT; k++)
            sw[s][k] = (scnt[s][k] > CELL_CAP ? CELL_CAP / (float)scnt[s][k] : 1.0f) * src_w[s];
    for (size_t oi = 0; oi < ntrain; oi++) {
        const example_t *e = &train_set.v[order[oi]];
        float w = sw[e->src][e->task];
        tcnt[e->task] += w;
        dcnt[e->diff] += w * src_diff_w[e->src];
        total += w;
        dtotal += w * src_diff_w[e->src];
    }
    float tw[NT], dw[ND];
    for (int k = 0; k < NT; k++)
        tw[k] = tcnt[k] > 0 ? (float)sqrt(total / NT / tcnt[k]) : 0;
    for (int k = 0; k < ND; k++)
        dw[k] = dcnt[k] > 0 ? (float)sqrt(dtotal / ND / dcnt[k]) : 0;
    const float lr = 0.4f, eps = 1e-6f;
    rng = 0x5eed5eed12345678ull;
    for (int ep = 0; ep < epochs; ep++) {
        for (size_t i = ntrain; i > 1; i--) {
            size_t j = rnd() % i;
            size_t t = order[i - 1];
            order[i - 1] = order[j];
            order[j] = t;
        }
        double loss = 0;
        for (size_t oi = 0; oi < ntrain; oi++) {
            const example_t *e = &train_set.v[order[oi]];
            float z[NOUT], g[NOUT];
            scores(e, W, B, z);
            softmax_grad(z, NT, e->task, g);
            softmax_grad(z + NT, ND, e->diff, g + NT);
            loss -= log((double)g[e->task] + 1.0 + 1e-9);
            float a = tw[e->task] * sw[e->src][e->task],
                  b = dw[e->diff] * sw[e->src][e->task] * src_diff_w[e->src];
            for (int k = 0; k < NT; k++)
                g[k] *= a;
            for (int k = NT; k < NOUT; k++)
                g[k] *= b;
            for (int k = 0; k < NOUT; k++) {
                GB[k] += g[k] * g[k];
                B[k] -= lr * g[k] / sqrtf(GB[k] + eps);
            }
            /* a feature occurring twice gets the gradient twice: same as the count vector */
            for (uint32_t f = 0; f < e->nfeat; f++) {
                uint32_t v = e->feat[f];
                float x = e->xr[v >> 24];
                float *row = W + (size_t)(v & 0xFFFFFF) * NOUT;
                float *grow = G + (size_t)(v & 0xFFFFFF) * NOUT;
                for (int k = 0; k < NOUT; k++) {
                    float gk = g[k] * x;
                    grow[k] += gk * gk;
                    row[k] -= lr * gk / sqrtf(grow[k] + eps);
                }
            }
        }
        if (!quiet && skip < 0 && fold < 0)
            fprintf(stderr, "epoch %d: task log-loss %.4f\n", ep + 1, loss / (double)ntrain);
    }
    free(G);
    free(order);
}

/* ------------------------------------------------------------------ calibration */

/* Out-of-source logits (float model), for the temperature fit. */
typedef struct {
    float z[NOUT];
    int task, diff;
} oos_t;

static double nll_at(const oos_t *o, size_t n, int from, int k, int label_is_task, double T)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        const float *z = o[i].z + from;
        double mx = z[0];
        for (int j = 1; j < k; j++)
            if (z[j] > mx)
                mx = z[j];
        double sum = 0;
        for (int j = 0; j < k; j++)
            sum += exp((z[j] - mx) / T);
        int y = label_is_task ? o[i].task : o[i].diff;
        s -= (z[y] - mx) / T - log(sum);
    }
    return s / (double)n;
}

/* Temperature minimising the negative log-likelihood, by golden-section search on [0.2, 8]. */
static double fit_temperature(const oos_t *o, size_t n, int from, int k, int is_task)
{
    double a = 0.2, b = 8.0, gr = (sqrt(5.0) - 1) / 2;
    double c = b - gr * (b - a), d = a + gr * (b - a);
    for (int it = 0; it < 60; it++) {
        if (nll_at(o, n, from, k, is_task, c) < nll_at(o, n, from, k, is_task, d))
            b = d;
        else
            a = c;
        c = b - gr * (b - a);
        d = a + gr * (b - a);
    }
    return (a + b) / 2;
}

/* ------------------------------------------------------------------ evaluation */

static const char *tname(int i)
{
    return dp_task_name((dp_task_t)i);
}

static const char *dname(int i)
{
    return dp_difficulty_name((dp_difficulty_t)i);
}

static void print_conf(const char *title, const size_t *c, int k, const char *(*name)(int))
{
    printf("%s (rows = label, columns = predicted)\n%14s", title, "");
    for (int j = 0; j < k; j++)
        printf(" %6.6s", name(j));
    printf(" %7s\n", "recall");
    for (int i = 0; i < k; i++) {
        size_t row = 0;
        printf("%14s", name(i));
        for (int j = 0; j < k; j++) {
            printf(" %6zu", c[i * k + j]);
            row += c[i * k + j];
        }
        printf(" %6.1f%%\n", row ? 100.0 * (double)c[i * k + i] / (double)row : 0.0);
    }
}

typedef struct {
    const char *name;
    size_t n, tok, dok;
} bucket_t;

static void bucket_add(bucket_t *b, size_t *nb, size_t max, const char *name, int tok, int dok)
{
    size_t i = 0;
    while (i < *nb && strcmp(b[i].name, name) != 0)
        i++;
    if (i == *nb) {
        if (*nb == max)
            return;
        b[(*nb)++] = (bucket_t){.name = name};
    }
    b[i].n++;
    b[i].tok += tok;
    b[i].dok += dok;
}

static void bucket_print(const char *title, const bucket_t *b, size_t nb)
{
    printf("%s\n", title);
    for (size_t i = 0; i < nb; i++)
        printf("  %-22s n=%4zu  task %5.1f%%  difficulty %5.1f%%\n", b[i].name, b[i].n,
               100.0 * (double)b[i].tok / (double)b[i].n, 100.0 * (double)b[i].dok / (double)b[i].n);
}

/* Expected calibration error over 10 equal-width confidence bins. */
static double ece(const float *conf, const int *ok, size_t n)
{
    double bins_c[10] = {0}, bins_a[10] = {0};
    size_t bins_n[10] = {0};
    for (size_t i = 0; i < n; i++) {
        int b = (int)(conf[i] * 10);
        if (b > 9)
            b = 9;
        if (b < 0)
            b = 0;
        bins_c[b] += conf[i];
        bins_a[b] += ok[i];
        bins_n[b]++;
    }
    double e = 0;
    for (int b = 0; b < 10; b++)
        if (bins_n[b])
            e += fabs(bins_c[b] / (double)bins_n[b] - bins_a[b] / (double)bins_n[b]) * (double)bins_n[b];
    return n ? e / (double)n : 0;
}

static int eval_report(const dp_classify_model_t *m, double min_task, double min_diff, const char *dump)
{
    if (eval_set.n == 0) {
        fprintf(stderr, "no evaluation set (--eval-set)\n");
        return 77;
    }
    size_t tconf[NT][NT] = {{0}}, dconf[ND][ND] = {{0}}, tok = 0, dok = 0;
    bucket_t by_lang[32], by_shape[16], by_task[NT];
    size_t nl = 0, ns = 0, nt = 0;
    float *tc = xmalloc(eval_set.n * sizeof(float)), *dc = xmalloc(eval_set.n * sizeof(float));
    int *tk = xmalloc(eval_set.n * sizeof(int)), *dk = xmalloc(eval_set.n * sizeof(int));
    FILE *df = dump ? fopen(dump, "w") : NULL;
    for (size_t i = 0; i < eval_set.n; i++) {
        const example_t *e = &eval_set.v[i];
        dp_classify_result_t r;
        dp_classify_conv(m, e->text, e->len, e->ctx, e->nctx, &r);
        int t = (int)r.task == e->task, d = (int)r.difficulty == e->diff;
        tconf[e->task][r.task]++;
        dconf[e->diff][r.difficulty]++;
        tok += t;
        dok += d;
        tc[i] = r.task_confidence;
        dc[i] = r.difficulty_confidence;
        tk[i] = t;
        dk[i] = d;
        bucket_add(by_lang, &nl, 32, e->lang[0] ? e->lang : "?", t, d);
        bucket_add(by_shape, &ns, 16, e->has_sys ? "with system prompt" : "no system prompt", t, d);
        bucket_add(by_shape, &ns, 16, e->turns > 1 ? "multi-turn" : "single turn", t, d);
        bucket_add(by_shape, &ns, 16, e->material ? "pasted material" : "no pasted material", t, d);
        bucket_add(by_task, &nt, NT, tname(e->task), t, d);
        if (df)
            fprintf(df, "%s\t%s/%s\t%s/%s\t%.3f\t%.3f\n", e->id, tname(e->task), dname(e->diff),
                    tname((int)r.task), dname((int)r.difficulty), r.task_confidence, r.difficulty_confidence);
    }
    if (df)
        fclose(df);
    double ta = (double)tok / (double)eval_set.n, da = (double)dok / (double)eval_set.n;
    if (!quiet) {
        printf("\n== evaluation set (%zu prompts, never trained on) ==\n", eval_set.n);
        print_conf("task", &tconf[0][0], NT, tname);
        print_conf("difficulty", &dconf[0][0], ND, dname);
        bucket_print("by task class (difficulty accuracy within the class):", by_task, nt);
        bucket_print("by language of the instruction:", by_lang, nl);
        bucket_print("by shape:", by_shape, ns);
        printf("calibration (expected calibration error, 10 bins): task %.3f, difficulty %.3f\n",
               ece(tc, tk, eval_set.n), ece(dc, dk, eval_set.n));
    }
    printf("eval-set prompts: %zu\neval-set task accuracy: %.2f%%\neval-set difficulty accuracy: %.2f%%\n",
           eval_set.n, 100 * ta, 100 * da);
    free(tc);
    free(dc);
    free(tk);
    free(dk);
    int rc = 0;
    if (ta < min_task) {
        printf("FAIL: eval-set task accuracy %.2f%% below target %.2f%%\n", 100 * ta, 100 * min_task);
        rc = 1;
    }
    if (da < min_diff) {
        printf("FAIL: eval-set difficulty accuracy %.2f%% below target %.2f%%\n", 100 * da, 100 * min_diff);
        rc = 1;
    }
    return rc;
}

/* Leave-one-source-out: train without each source, test on it (float model). Fills oos. */
static const char *loso_dump;

static void loso(unsigned bits, float *W, float *B, oos_t *oos)
{
    FILE *df = loso_dump ? fopen(loso_dump, "w") : NULL;
    printf("\n== leave-one-source-out (train without the source, test on it) ==\n");
    printf("  %-26s %6s %8s %11s\n", "source", "n", "task", "difficulty");
    size_t all = 0, atok = 0, adok = 0;
    for (size_t s = 0; s < nsources; s++) {
        clock_t t0 = clock();
        train(bits, (int)s, -1, W, B);
        size_t n = 0, tok = 0, dok = 0;
        for (size_t i = 0; i < train_set.n; i++) {
            const example_t *e = &train_set.v[i];
            if (e->src != (int)s)
                continue;
            float z[NOUT];
            scores(e, W, B, z);
            int bt = 0, bd = 0;
            for (int k = 1; k < NT; k++)
                if (z[k] > z[bt])
                    bt = k;
            for (int k = 1; k < ND; k++)
                if (z[NT + k] > z[NT + bd])
                    bd = k;
            tok += bt == e->task;
            dok += bd == e->diff;
            n++;
            if (df)
                fprintf(df, "%s\t%s\t%s/%s\t%s/%s\n", sources[s], e->id, tname(e->task), dname(e->diff),
                        tname(bt), dname(bd));
            memcpy(oos[i].z, z, sizeof z);
            oos[i].task = e->task;
            oos[i].diff = e->diff;
        }
        all += n;
        atok += tok;
        adok += dok;
        printf("  %-26s %6zu %7.1f%% %10.1f%%   (%.1f s)\n", sources[s], n, 100.0 * (double)tok / (double)n,
               100.0 * (double)dok / (double)n, (double)(clock() - t0) / CLOCKS_PER_SEC);
        fflush(stdout);
    }
    printf("  %-26s %6zu %7.1f%% %10.1f%%   (pooled)\n", "all sources", all,
           100.0 * (double)atok / (double)all, 100.0 * (double)adok / (double)all);
    if (df)
        fclose(df);
}

static uint64_t norm_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 'A' && c <= 'Z')
            c |= 0x20;
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c >= 0x80)
            h = (h ^ c) * 1099511628211ull;
    }
    return h;
}

static int cmpu64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: sy_train_classifier [--out FILE | --eval FILE] [--eval-set FILE] [--loso] [--bits N] "
            "[--calibrate] [--epochs N] [--min-task X] [--min-diff X] [--expect FILE] [--dump FILE] "
            "[--quiet] DATA...\n");
    exit(2);
}

static int same_file(const void *buf, size_t len, const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL)
        return 0;
    uint8_t *b = xmalloc(len + 1);
    size_t r = fread(b, 1, len + 1, fp);
    fclose(fp);
    int same = r == len && memcmp(b, buf, len) == 0;
    free(b);
    return same;
}

int main(int argc, char **argv)
{
    const char *out = NULL, *evalf = NULL, *evalset = NULL, *expect = NULL, *dump = NULL;
    unsigned bits = 17;
    int do_loso = 0, do_calibrate = 0;
    double min_task = 0, min_diff = 0;
    int ndata = 0;
    const char *data[64];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (strcmp(a, "--out") == 0 && has)
            out = argv[++i];
        else if (strcmp(a, "--eval") == 0 && has)
            evalf = argv[++i];
        else if (strcmp(a, "--eval-set") == 0 && has)
            evalset = argv[++i];
        else if (strcmp(a, "--expect") == 0 && has)
            expect = argv[++i];
        else if (strcmp(a, "--dump") == 0 && has)
            dump = argv[++i];
        else if (strcmp(a, "--loso-dump") == 0 && has)
            loso_dump = argv[++i];
        else if (strcmp(a, "--bits") == 0 && has)
            bits = (unsigned)atoi(argv[++i]);
        else if (strcmp(a, "--epochs") == 0 && has)
            epochs = atoi(argv[++i]);
        else if (strcmp(a, "--min-task") == 0 && has)
            min_task = atof(argv[++i]);
        else if (strcmp(a, "--min-diff") == 0 && has)
            min_diff = atof(argv[++i]);
        else if (strcmp(a, "--loso") == 0)
            do_loso = 1;
        else if (strcmp(a, "--calibrate") == 0)
            do_calibrate = 1;
        else if (strcmp(a, "--quiet") == 0)
            quiet = 1;
        else if (a[0] == '-')
            usage();
        else if (ndata < 64)
            data[ndata++] = a;
    }
    if ((ndata == 0 && evalf == NULL) || bits < 10 || bits > 22 || epochs < 1)
        usage();
    if (evalset != NULL && load_path(evalset, &eval_set) != 0)
        return 2;

    if (evalf != NULL) {
        char err[256];
        dp_classify_model_t *m;
        if (dp_classify_model_load(evalf, &m, err, sizeof err) != 0) {
            fprintf(stderr, "%s\n", err);
            return 2;
        }
        printf("model: %s (%u buckets)\n", evalf, dp_classify_model_buckets(m));
        int rc = eval_report(m, min_task, min_diff, dump);
        dp_classify_model_free(m);
        return rc;
    }

    int missing = 0;
    for (int i = 0; i < ndata; i++)
        if (load_path(data[i], &train_set) != 0)
            missing = 1;
    if (train_set.n == 0) {
        fprintf(stderr, "no labelled examples found\n");
        return 77;
    }
    if (missing)
        return 2;
    /* the evaluation set must not leak into training: no id and no prompt in common (compared
     * lower-cased, letters and digits only) */
    {
        uint64_t *h = xmalloc(train_set.n * sizeof *h);
        for (size_t j = 0; j < train_set.n; j++)
            h[j] = norm_hash(train_set.v[j].text);
        qsort(h, train_set.n, sizeof *h, cmpu64);
        for (size_t i = 0; i < eval_set.n; i++) {
            uint64_t k = norm_hash(eval_set.v[i].text);
            if (bsearch(&k, h, train_set.n, sizeof *h, cmpu64) != NULL) {
                fprintf(stderr, "evaluation prompt %s is also in the training data\n", eval_set.v[i].id);
                return 2;
            }
        }
        free(h);
    }
    printf("training examples: %zu from %zu sources; evaluation set: %zu\n", train_set.n, nsources,
           eval_set.n);
    set_source_weights();

    clock_t t0 = clock();
    featurize(&train_set, bits);
    featurize(&eval_set, bits);
    size_t rows = (size_t)1 << bits;
    float *W = xmalloc(rows * NOUT * sizeof *W);
    float B[NOUT];
    double Tt = 1.0, Td = 1.0;
    oos_t *oos = calloc(train_set.n, sizeof *oos);
    if (oos == NULL)
        return 2;
    if (do_loso)
        loso(bits, W, B, oos);
    if (do_calibrate) {
        /* 5-fold cross-validation (folds from the id hash): every example is predicted by a
         * model that did not see it; the temperature of each head minimises the negative
         * log-likelihood of those predictions. */
        size_t ok_t = 0, ok_d = 0;
        for (int f = 0; f < FOLDS; f++) {
            train(bits, -1, f, W, B);
            for (size_t i = 0; i < train_set.n; i++) {
                const example_t *e = &train_set.v[i];
                if (e->fold != f)
                    continue;
                scores(e, W, B, oos[i].z);
                oos[i].task = e->task;
                oos[i].diff = e->diff;
                int bt = 0, bd = 0;
                for (int k = 1; k < NT; k++)
                    if (oos[i].z[k] > oos[i].z[bt])
                        bt = k;
                for (int k = 1; k < ND; k++)
                    if (oos[i].z[NT + k] > oos[i].z[NT + bd])
                        bd = k;
                ok_t += bt == e->task;
                ok_d += bd == e->diff;
            }
        }
        Tt = fit_temperature(oos, train_set.n, 0, NT, 1);
        Td = fit_temperature(oos, train_set.n, NT, ND, 0);
        printf("\n%d-fold cross-validation: task %.2f%%, difficulty %.2f%%; temperature fitted on it: task "
               "%.3f, "
               "difficulty %.3f\n",
               FOLDS, 100.0 * (double)ok_t / (double)train_set.n, 100.0 * (double)ok_d / (double)train_set.n,
               Tt, Td);
    } else {
        printf("not calibrated (temperature 1; --calibrate fits it)\n");
    }
    free(oos);
    train(bits, -1, -1, W, B);
    /* calibration folded into the weights: softmax(z / T) */
    for (size_t r = 0; r < rows; r++)
        for (int k = 0; k < NOUT; k++)
            W[r * NOUT + k] /= (float)(k < NT ? Tt : Td);
    for (int k = 0; k < NOUT; k++)
        B[k] /= (float)(k < NT ? Tt : Td);
    void *buf;
    size_t len;
    if (dp_classify_model_serialize(bits, W, B, &buf, &len) != 0) {
        fprintf(stderr, "serialise failed\n");
        return 2;
    }
    free(W);
    printf("trained in %.1f s (bits %u, epochs %d), model %zu bytes\n",
           (double)(clock() - t0) / CLOCKS_PER_SEC, bits, epochs, len);
    char err[256];
    dp_classify_model_t *m;
    if (dp_classify_model_parse(buf, len, &m, err, sizeof err) != 0) {
        fprintf(stderr, "own model does not parse: %s\n", err);
        return 2;
    }
    if (!quiet) {
        size_t tok = 0, dok = 0;
        for (size_t i = 0; i < train_set.n; i++) {
            dp_classify_result_t r;
            const example_t *e = &train_set.v[i];
            dp_classify_conv(m, e->text, e->len, e->ctx, e->nctx, &r);
            tok += (int)r.task == e->task;
            dok += (int)r.difficulty == e->diff;
        }
        printf("training-data fit: task %.2f%%, difficulty %.2f%%\n",
               100.0 * (double)tok / (double)train_set.n, 100.0 * (double)dok / (double)train_set.n);
    }
    int rc = eval_set.n ? eval_report(m, min_task, min_diff, dump) : 0;
    dp_classify_model_free(m);
    if (expect != NULL)
        printf("model %s %s\n", same_file(buf, len, expect) ? "is byte-identical to" : "DIFFERS from",
               expect);
    if (out != NULL) {
        FILE *fp = fopen(out, "wb");
        if (fp == NULL || fwrite(buf, 1, len, fp) != len || fclose(fp) != 0) {
            fprintf(stderr, "%s: cannot write\n", out);
            free(buf);
            return 2;
        }
        printf("wrote %s\n", out);
    }
    free(buf);
    return rc;
}
