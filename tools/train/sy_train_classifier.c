/*
 * sy_train_classifier — trains the "auto" router's prompt classifier (dataplane/dp_classify)
 * from labelled JSONL prompts, reports held-out accuracy, writes the model file; or, with
 * --eval, scores an existing model file on the same held-out split.
 *
 *   sy_train_classifier [options] DATA...      DATA = a directory of *.jsonl, or a .jsonl file
 *     --out FILE        write the trained model here
 *     --eval FILE       do not train: evaluate FILE on the held-out split
 *     --bits N          hash bits (buckets = 2^N), default 16
 *     --epochs N        passes over the training split, default 10
 *     --min-task X      exit 1 if held-out task accuracy < X (e.g. 0.85)
 *     --min-diff X      exit 1 if held-out difficulty accuracy < X (e.g. 0.70)
 *     --quiet           only the summary lines
 *
 * Split: an example is held out when FNV-1a-64(id) % 100 < 20 — fixed, whatever the order or
 * the other files, so every run and every machine tests on the same ~20 %.
 * Evaluation always goes through the runtime path (serialise → parse → dp_classify), so the
 * figures are those of the int16 model that ships, not of the float weights in memory.
 *
 * Exit codes: 0 ok, 1 below a --min threshold, 2 usage or I/O error, 77 no data found (ctest
 * reports the test as skipped rather than passed).
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

typedef struct {
    char *id;
    char *source;
    char *text;
    size_t len;
    int task, diff;
    int test;
    uint32_t *feat; /* bucket indices */
    uint32_t nfeat;
} example_t;

static example_t *ex;
static size_t nex, capex;
static int quiet;

static uint64_t fnv1a64(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static int load_file(const char *path)
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
        int t = cJSON_IsString(tk) ? dp_task_from_name(tk->valuestring) : -1;
        int d = cJSON_IsString(df) ? dp_difficulty_from_name(df->valuestring) : -1;
        /* task null = unsafe request, not a class to learn */
        if (cJSON_IsString(id) && cJSON_IsString(pr) && t >= 0 && d >= 0) {
            if (nex == capex) {
                capex = capex ? capex * 2 : 4096;
                ex = realloc(ex, capex * sizeof *ex);
                if (ex == NULL) {
                    fprintf(stderr, "out of memory\n");
                    exit(2);
                }
            }
            example_t *e = &ex[nex++];
            memset(e, 0, sizeof *e);
            e->id = strdup(id->valuestring);
            e->source = strdup(cJSON_IsString(src) ? src->valuestring : "?");
            e->text = strdup(pr->valuestring);
            e->len = strlen(e->text);
            e->task = t;
            e->diff = d;
            e->test = fnv1a64(e->id) % 100 < 20;
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

static int load_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "%s: not found\n", path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return load_file(path);
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
            names[nn++] = strdup(de->d_name);
        }
    }
    closedir(d);
    qsort(names, nn, sizeof *names, cmpstr); /* file order fixes the training order */
    int rc = 0;
    for (size_t i = 0; i < nn; i++) {
        char full[4096];
        snprintf(full, sizeof full, "%s/%s", path, names[i]);
        if (load_file(full) != 0)
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
} fbuf_t;

static void fb_emit(void *ctx, uint32_t h)
{
    fbuf_t *b = ctx;
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 256;
        b->v = realloc(b->v, b->cap * sizeof *b->v);
        if (b->v == NULL) {
            fprintf(stderr, "out of memory\n");
            exit(2);
        }
    }
    b->v[b->n++] = h & b->mask;
}

/* ------------------------------------------------------------------ evaluation */

typedef struct {
    size_t tconf[DP_TASK_COUNT][DP_TASK_COUNT];
    size_t dconf[DP_DIFFICULTY_COUNT][DP_DIFFICULTY_COUNT];
    size_t n, tok, dok;
} eval_t;

static void eval_model(const dp_classify_model_t *m, eval_t *ev, int want_test)
{
    memset(ev, 0, sizeof *ev);
    for (size_t i = 0; i < nex; i++) {
        if (ex[i].test != want_test)
            continue;
        dp_classify_result_t r;
        dp_classify(m, ex[i].text, ex[i].len, &r);
        ev->tconf[ex[i].task][r.task]++;
        ev->dconf[ex[i].diff][r.difficulty]++;
        ev->tok += (int)r.task == ex[i].task;
        ev->dok += (int)r.difficulty == ex[i].diff;
        ev->n++;
    }
}

static void print_conf(const char *title, size_t *c, int k, const char *(*name)(int))
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

static const char *tname(int i)
{
    return dp_task_name((dp_task_t)i);
}

static const char *dname(int i)
{
    return dp_difficulty_name((dp_difficulty_t)i);
}

static void per_source(const dp_classify_model_t *m)
{
    /* sources in first-seen order; few enough for a linear scan */
    const char *names[64];
    size_t n[64] = {0}, tok[64] = {0}, dok[64] = {0};
    int ns = 0;
    for (size_t i = 0; i < nex; i++) {
        if (!ex[i].test)
            continue;
        int s = 0;
        while (s < ns && strcmp(names[s], ex[i].source) != 0)
            s++;
        if (s == ns) {
            if (ns == 64)
                continue;
            names[ns++] = ex[i].source;
        }
        dp_classify_result_t r;
        dp_classify(m, ex[i].text, ex[i].len, &r);
        n[s]++;
        tok[s] += (int)r.task == ex[i].task;
        dok[s] += (int)r.difficulty == ex[i].diff;
    }
    printf("held-out accuracy per source:\n");
    for (int s = 0; s < ns; s++)
        printf("  %-24s n=%5zu  task %5.1f%%  difficulty %5.1f%%\n", names[s], n[s], 100.0 * (double)tok[s] / (double)n[s],
               100.0 * (double)dok[s] / (double)n[s]);
}

static int report(const dp_classify_model_t *m, double min_task, double min_diff)
{
    eval_t ev;
    eval_model(m, &ev, 1);
    if (ev.n == 0) {
        fprintf(stderr, "no held-out examples\n");
        return 77;
    }
    if (!quiet) {
        print_conf("task confusion, held out", &ev.tconf[0][0], DP_TASK_COUNT, tname);
        print_conf("difficulty confusion, held out", &ev.dconf[0][0], DP_DIFFICULTY_COUNT, dname);
        per_source(m);
    }
    double ta = (double)ev.tok / (double)ev.n, da = (double)ev.dok / (double)ev.n;
    printf("held-out examples: %zu\nheld-out task accuracy: %.2f%%\nheld-out difficulty accuracy: %.2f%%\n", ev.n,
           100 * ta, 100 * da);
    int rc = 0;
    if (ta < min_task) {
        printf("FAIL: task accuracy %.2f%% below target %.2f%%\n", 100 * ta, 100 * min_task);
        rc = 1;
    }
    if (da < min_diff) {
        printf("FAIL: difficulty accuracy %.2f%% below target %.2f%%\n", 100 * da, 100 * min_diff);
        rc = 1;
    }
    return rc;
}

/* ------------------------------------------------------------------ training */

/* xorshift64*: the shuffle must be the same on every machine, so no rand(). */
static uint64_t rng = 0x5eed5eed12345678ull;
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

/* Multinomial logistic regression, two heads sharing the features, AdaGrad. Examples are
 * weighted so that the big classes (math, Topical-Chat chat) do not drown the small ones:
 * weight = (mean class size / class size)^0.5 for the task, the same for difficulty. */
static void train(unsigned bits, int epochs, float *W, float *B)
{
    size_t rows = (size_t)1 << bits;
    float *G = calloc(rows * NOUT, sizeof *G);
    float GB[NOUT] = {0};
    size_t *order = malloc(nex * sizeof *order);
    size_t ntrain = 0, tcnt[DP_TASK_COUNT] = {0}, dcnt[DP_DIFFICULTY_COUNT] = {0};
    if (G == NULL || order == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    for (size_t i = 0; i < nex; i++)
        if (!ex[i].test) {
            order[ntrain++] = i;
            tcnt[ex[i].task]++;
            dcnt[ex[i].diff]++;
        }
    float tw[DP_TASK_COUNT], dw[DP_DIFFICULTY_COUNT];
    for (int k = 0; k < DP_TASK_COUNT; k++)
        tw[k] = tcnt[k] ? sqrtf((float)ntrain / DP_TASK_COUNT / (float)tcnt[k]) : 0;
    for (int k = 0; k < DP_DIFFICULTY_COUNT; k++)
        dw[k] = dcnt[k] ? sqrtf((float)ntrain / DP_DIFFICULTY_COUNT / (float)dcnt[k]) : 0;
    const float lr = 0.5f, eps = 1e-6f;
    for (int ep = 0; ep < epochs; ep++) {
        for (size_t i = ntrain; i > 1; i--) {
            size_t j = rnd() % i;
            size_t t = order[i - 1];
            order[i - 1] = order[j];
            order[j] = t;
        }
        double loss = 0;
        for (size_t oi = 0; oi < ntrain; oi++) {
            const example_t *e = &ex[order[oi]];
            float x = e->nfeat ? 1.0f / sqrtf((float)e->nfeat) : 0;
            float z[NOUT];
            memcpy(z, B, sizeof z);
            for (uint32_t f = 0; f < e->nfeat; f++) {
                const float *row = W + (size_t)e->feat[f] * NOUT;
                for (int k = 0; k < NOUT; k++)
                    z[k] += row[k] * x;
            }
            float g[NOUT];
            softmax_grad(z, DP_TASK_COUNT, e->task, g);
            softmax_grad(z + DP_TASK_COUNT, DP_DIFFICULTY_COUNT, e->diff, g + DP_TASK_COUNT);
            loss -= log((double)g[e->task] + 1.0 + 1e-9);
            for (int k = 0; k < DP_TASK_COUNT; k++)
                g[k] *= tw[e->task];
            for (int k = DP_TASK_COUNT; k < NOUT; k++)
                g[k] *= dw[e->diff];
            for (int k = 0; k < NOUT; k++) {
                GB[k] += g[k] * g[k];
                B[k] -= lr * g[k] / sqrtf(GB[k] + eps);
            }
            /* a feature occurring twice gets the gradient twice: same as the count vector */
            for (uint32_t f = 0; f < e->nfeat; f++) {
                float *row = W + (size_t)e->feat[f] * NOUT;
                float *grow = G + (size_t)e->feat[f] * NOUT;
                for (int k = 0; k < NOUT; k++) {
                    float gk = g[k] * x;
                    grow[k] += gk * gk;
                    row[k] -= lr * gk / sqrtf(grow[k] + eps);
                }
            }
        }
        if (!quiet)
            fprintf(stderr, "epoch %d: task log-loss %.4f\n", ep + 1, loss / (double)ntrain);
    }
    free(G);
    free(order);
}

static void usage(void)
{
    fprintf(stderr, "usage: sy_train_classifier [--out FILE | --eval FILE] [--bits N] [--epochs N] [--min-task X] "
                    "[--min-diff X] [--quiet] DATA...\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *out = NULL, *evalf = NULL;
    unsigned bits = 16;
    int epochs = 10;
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
        else if (strcmp(a, "--bits") == 0 && has)
            bits = (unsigned)atoi(argv[++i]);
        else if (strcmp(a, "--epochs") == 0 && has)
            epochs = atoi(argv[++i]);
        else if (strcmp(a, "--min-task") == 0 && has)
            min_task = atof(argv[++i]);
        else if (strcmp(a, "--min-diff") == 0 && has)
            min_diff = atof(argv[++i]);
        else if (strcmp(a, "--quiet") == 0)
            quiet = 1;
        else if (a[0] == '-')
            usage();
        else if (ndata < 64)
            data[ndata++] = a;
    }
    if (ndata == 0 || bits < 10 || bits > 22 || epochs < 1)
        usage();
    int missing = 0;
    for (int i = 0; i < ndata; i++)
        if (load_path(data[i]) != 0)
            missing = 1;
    if (nex == 0) {
        fprintf(stderr, "no labelled examples found\n");
        return 77;
    }
    if (missing)
        return 2;
    size_t ntest = 0;
    for (size_t i = 0; i < nex; i++)
        ntest += ex[i].test;
    printf("examples: %zu (train %zu, held out %zu)\n", nex, nex - ntest, ntest);

    if (evalf != NULL) {
        char err[256];
        dp_classify_model_t *m;
        if (dp_classify_model_load(evalf, &m, err, sizeof err) != 0) {
            fprintf(stderr, "%s\n", err);
            return 2;
        }
        printf("model: %s (%u buckets)\n", evalf, dp_classify_model_buckets(m));
        int rc = report(m, min_task, min_diff);
        dp_classify_model_free(m);
        return rc;
    }

    clock_t t0 = clock();
    fbuf_t fb = {.mask = ((uint32_t)1 << bits) - 1};
    for (size_t i = 0; i < nex; i++) {
        fb.n = 0;
        dp_classify_features(ex[i].text, ex[i].len, fb_emit, &fb);
        ex[i].nfeat = fb.n;
        ex[i].feat = malloc((fb.n ? fb.n : 1) * sizeof(uint32_t));
        memcpy(ex[i].feat, fb.v, fb.n * sizeof(uint32_t));
    }
    free(fb.v);
    size_t rows = (size_t)1 << bits;
    float *W = calloc(rows * NOUT, sizeof *W);
    float B[NOUT] = {0};
    if (W == NULL) {
        fprintf(stderr, "out of memory\n");
        return 2;
    }
    train(bits, epochs, W, B);
    void *buf;
    size_t len;
    if (dp_classify_model_serialize(bits, W, B, &buf, &len) != 0) {
        fprintf(stderr, "serialise failed\n");
        return 2;
    }
    free(W);
    printf("trained in %.2f s (bits %u, epochs %d), model %zu bytes\n", (double)(clock() - t0) / CLOCKS_PER_SEC, bits,
           epochs, len);
    char err[256];
    dp_classify_model_t *m;
    if (dp_classify_model_parse(buf, len, &m, err, sizeof err) != 0) {
        fprintf(stderr, "own model does not parse: %s\n", err);
        return 2;
    }
    if (!quiet) {
        eval_t tr;
        eval_model(m, &tr, 0);
        printf("training-split accuracy: task %.2f%%, difficulty %.2f%%\n", 100.0 * (double)tr.tok / (double)tr.n,
               100.0 * (double)tr.dok / (double)tr.n);
    }
    int rc = report(m, min_task, min_diff);
    dp_classify_model_free(m);
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
    for (size_t i = 0; i < nex; i++) {
        free(ex[i].id);
        free(ex[i].source);
        free(ex[i].text);
        free(ex[i].feat);
    }
    free(ex);
    return rc;
}
