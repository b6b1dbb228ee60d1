/*
 * Unit tests of dataplane/dp_classify: the model loader refuses every truncated or corrupted
 * file, classification is deterministic, reads only the capped head and tail, survives any
 * bytes, and the shipped model gets obvious prompts right.
 *
 *   test_classify [path/to/classifier.bin]     (default: the path compiled in by CMake)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dp_classify.h"
#include "sy_test.h"

#ifndef SY_CLASSIFIER_MODEL
#define SY_CLASSIFIER_MODEL "deploy/router/classifier.bin"
#endif

/* A tiny model (2^10 buckets) whose weights are a known function of the bucket, so a test
 * can check that what was written is what is read back. */
static void make_small(void **buf, size_t *len)
{
    size_t rows = 1u << 10;
    float *w = malloc(rows * DP_CLASSIFY_OUTPUTS * sizeof *w);
    float b[DP_CLASSIFY_OUTPUTS];
    for (size_t i = 0; i < rows * DP_CLASSIFY_OUTPUTS; i++)
        w[i] = (float)((int)(i * 2654435761u % 2001) - 1000) / 1000.0f;
    for (int k = 0; k < DP_CLASSIFY_OUTPUTS; k++)
        b[k] = (float)k / 10.0f;
    int rc = dp_classify_model_serialize(10, w, b, buf, len);
    CHECK(rc == 0);
    free(w);
}

static void test_names(void)
{
    CHECK_STR(dp_task_name(DP_TASK_CODE), "code");
    CHECK_STR(dp_task_name(DP_TASK_CHAT), "chat");
    CHECK_STR(dp_task_name((dp_task_t)99), "unknown");
    CHECK_STR(dp_difficulty_name(DP_DIFFICULTY_HARD), "hard");
    CHECK(dp_task_from_name("summarization") == DP_TASK_SUMMARIZATION);
    CHECK(dp_task_from_name("Code") == -1);
    CHECK(dp_difficulty_from_name("medium") == DP_DIFFICULTY_MEDIUM);
    CHECK(dp_difficulty_from_name(NULL) == -1);
    for (int i = 0; i < DP_TASK_COUNT; i++)
        CHECK(dp_task_from_name(dp_task_name((dp_task_t)i)) == i);
}

static void test_crc(void)
{
    /* the standard check value of CRC-32/IEEE */
    CHECK(dp_classify_crc32("123456789", 9) == 0xCBF43926u);
}

static void test_loader_rejects(void)
{
    void *buf;
    size_t len;
    make_small(&buf, &len);
    uint8_t *p = buf;
    char err[256];
    dp_classify_model_t *m = (dp_classify_model_t *)1;

    CHECK(dp_classify_model_parse(p, len, &m, err, sizeof err) == 0);
    CHECK(m != NULL && dp_classify_model_buckets(m) == 1024);
    dp_classify_model_free(m);

    /* every truncation, including the empty buffer */
    int all_refused = 1;
    for (size_t l = 0; l < len; l += (l < 200 ? 1 : 97)) {
        m = (dp_classify_model_t *)1;
        if (dp_classify_model_parse(p, l, &m, err, sizeof err) == 0 || m != NULL) {
            all_refused = 0;
            dp_classify_model_free(m);
        }
    }
    CHECK(all_refused);
    CHECK(dp_classify_model_parse(p, len - 1, &m, err, sizeof err) == -1);
    CHECK(strstr(err, "truncated") != NULL);

    /* one flipped bit anywhere: header, bias, weights, checksum */
    int flips_refused = 1;
    for (size_t off = 0; off < len; off += (off < 100 ? 1 : 331)) {
        p[off] ^= 0x10;
        m = NULL;
        if (dp_classify_model_parse(p, len, &m, err, sizeof err) == 0) {
            flips_refused = 0;
            fprintf(stderr, "flip at %zu accepted\n", off);
            dp_classify_model_free(m);
        }
        p[off] ^= 0x10;
    }
    CHECK(flips_refused);
    p[len - 1] ^= 1;
    CHECK(dp_classify_model_parse(p, len, &m, err, sizeof err) == -1);
    CHECK(strstr(err, "checksum") != NULL);
    p[len - 1] ^= 1;

    /* trailing garbage */
    uint8_t *big = malloc(len + 1);
    memcpy(big, p, len);
    big[len] = 0;
    CHECK(dp_classify_model_parse(big, len + 1, &m, err, sizeof err) == -1);
    free(big);

    /* bad magic reported as such */
    p[0] = 'X';
    CHECK(dp_classify_model_parse(p, len, &m, err, sizeof err) == -1);
    CHECK(strstr(err, "magic") != NULL);
    p[0] = 'S';
    CHECK(dp_classify_model_parse(p, len, &m, err, sizeof err) == 0);
    dp_classify_model_free(m);

    CHECK(dp_classify_model_parse(NULL, 0, &m, err, sizeof err) == -1);
    CHECK(dp_classify_model_parse(p, len, &m, NULL, 0) == 0); /* no err buffer is fine */
    dp_classify_model_free(m);

    /* the file loader: missing file, truncated file, then the good one */
    char path[] = "/tmp/test_classify_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd >= 0) {
        CHECK(write(fd, p, len / 2) == (ssize_t)(len / 2));
        close(fd);
        CHECK(dp_classify_model_load(path, &m, err, sizeof err) == -1 && m == NULL);
        FILE *fp = fopen(path, "wb");
        CHECK(fp != NULL && fwrite(p, 1, len, fp) == len);
        if (fp)
            fclose(fp);
        CHECK(dp_classify_model_load(path, &m, err, sizeof err) == 0);
        dp_classify_model_free(m);
        unlink(path);
    }
    CHECK(dp_classify_model_load("/nonexistent/classifier.bin", &m, err, sizeof err) == -1);
    CHECK(strstr(err, "No such file") != NULL);
    dp_classify_model_free(NULL);
    free(buf);
}

static int same_result(const dp_classify_result_t *a, const dp_classify_result_t *b)
{
    return memcmp(a, b, sizeof *a) == 0;
}

static void test_robust(const dp_classify_model_t *m)
{
    dp_classify_result_t r, r2;
    dp_classify(m, NULL, 0, &r);
    CHECK((unsigned)r.task < DP_TASK_COUNT && (unsigned)r.difficulty < DP_DIFFICULTY_COUNT);
    dp_classify(m, "", 0, &r);
    float s = 0;
    for (int k = 0; k < DP_TASK_COUNT; k++)
        s += r.task_prob[k];
    CHECK(s > 0.999f && s < 1.001f);

    /* garbage: NULs, invalid UTF-8, every byte value, long runs of one character */
    size_t n = 1 << 20;
    uint8_t *g = malloc(n);
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        g[i] = (uint8_t)x;
    }
    for (size_t l = 1; l < 5000; l = l * 3 + 1) {
        dp_classify(m, (const char *)g, l, &r);
        CHECK((unsigned)r.task < DP_TASK_COUNT && r.task_confidence > 0 && r.task_confidence <= 1.0f);
    }
    dp_classify(m, (const char *)g, n, &r);
    CHECK((unsigned)r.task < DP_TASK_COUNT && r.task_confidence == r.task_prob[r.task]);
    memset(g, 'a', n); /* one 1 MB "word" */
    dp_classify(m, (const char *)g, n, &r);
    CHECK((unsigned)r.difficulty < DP_DIFFICULTY_COUNT);
    memset(g, 0xE4, n); /* endless lead bytes with no continuation */
    dp_classify(m, (const char *)g, n, &r);
    CHECK((unsigned)r.task < DP_TASK_COUNT);
    memset(g, 0, n);
    dp_classify(m, (const char *)g, n, &r);
    CHECK((unsigned)r.task < DP_TASK_COUNT);

    /* only the head and the tail are read: changing the middle of a long prompt changes
     * nothing, changing the head does */
    for (size_t i = 0; i < n; i++)
        g[i] = "please write a python function that sums numbers\n"[i % 50];
    dp_classify(m, (const char *)g, n, &r);
    memset(g + DP_CLASSIFY_HEAD_BYTES + 10, '!', n - DP_CLASSIFY_HEAD_BYTES - DP_CLASSIFY_TAIL_BYTES - 20);
    dp_classify(m, (const char *)g, n, &r2);
    CHECK(same_result(&r, &r2));
    memset(g, '!', DP_CLASSIFY_HEAD_BYTES);
    dp_classify(m, (const char *)g, n, &r2);
    CHECK(!same_result(&r, &r2));
    free(g);
}

static void test_deterministic(const dp_classify_model_t *m)
{
    const char *t = "Translate into German: the train to Munich leaves at nine.";
    dp_classify_result_t a, b;
    dp_classify(m, t, strlen(t), &a);
    for (int i = 0; i < 100; i++) {
        dp_classify(m, t, strlen(t), &b);
        if (!same_result(&a, &b))
            break;
    }
    CHECK(same_result(&a, &b));
}

typedef struct {
    const char *text;
    dp_task_t task;
    int diff; /* -1 = not checked */
} case_t;

/* Written for this test (not in any training file), one or more per class. */
static const case_t cases[] = {
    {"Write a Python function that checks whether a string is a palindrome.", DP_TASK_CODE, -1},
    {"Why does my C program segfault here?\n\nint main(void) {\n    char *p = NULL;\n    strcpy(p, \"hi\");\n"
     "    return 0;\n}",
     DP_TASK_CODE, -1},
    {"Solve for x: 3x + 7 = 22.", DP_TASK_MATH, -1},
    {"What is the integral of x^2 * sin(x) dx? Show the steps.", DP_TASK_MATH, -1},
    {"Translate into Spanish: I will be late for dinner tonight because of the traffic.", DP_TASK_TRANSLATION, -1},
    {"Summarize the following article in three bullet points:\n\nThe central bank raised interest rates by a quarter "
     "point on Wednesday, citing persistent inflation in services. Officials signalled that further increases were "
     "possible but said they would depend on data. Markets fell slightly after the announcement.",
     DP_TASK_SUMMARIZATION, -1},
    {"Write a heartfelt retirement card message for my colleague who has been our office manager for 25 years.",
     DP_TASK_WRITING, -1},
    {"hey! how's your day going?", DP_TASK_CHAT, DP_DIFFICULTY_EASY},
    {"Extract all the dates and amounts from this text as JSON: \"Paid 45.00 EUR on 2024-02-01 and 12.50 EUR on "
     "2024-02-15.\"",
     DP_TASK_EXTRACTION, -1},
    {"What were the main causes of the First World War?", DP_TASK_RESEARCH, -1},
};

static void test_obvious(const dp_classify_model_t *m)
{
    size_t ok = 0, n = sizeof cases / sizeof cases[0];
    for (size_t i = 0; i < n; i++) {
        dp_classify_result_t r;
        dp_classify(m, cases[i].text, strlen(cases[i].text), &r);
        int good = r.task == cases[i].task && (cases[i].diff < 0 || (int)r.difficulty == cases[i].diff);
        if (!good)
            fprintf(stderr, "case %zu: got %s/%s (%.2f), want %s/%s\n", i, dp_task_name(r.task),
                    dp_difficulty_name(r.difficulty), r.task_confidence, dp_task_name(cases[i].task),
                    cases[i].diff < 0 ? "*" : dp_difficulty_name((dp_difficulty_t)cases[i].diff));
        ok += good;
    }
    /* every class represented here must come out right */
    CHECK(ok == n);
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : SY_CLASSIFIER_MODEL;
    test_names();
    test_crc();
    test_loader_rejects();
    char err[256];
    dp_classify_model_t *m = NULL;
    int rc = dp_classify_model_load(path, &m, err, sizeof err);
    CHECK(rc == 0);
    if (rc != 0) {
        fprintf(stderr, "%s\n", err);
    } else {
        test_robust(m);
        test_deterministic(m);
        test_obvious(m);
        dp_classify_model_free(m);
    }
    SY_TEST_MAIN_END();
}
