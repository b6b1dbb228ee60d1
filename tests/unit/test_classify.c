/*
 * Unit tests of dataplane/dp_classify: the model loader refuses every truncated or corrupted
 * file, classification is deterministic, reads only the capped head and tail, survives any
 * bytes, allocates nothing per call; the segmenter marks code fences, logs, tables, quotes and
 * pasted paragraphs as material and finds the instruction's first and last sentences; and the
 * shipped model follows each labelling rule of docs/routing.md (one test per rule, prompts
 * written for this file, in no training or evaluation file).
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

/* Every allocation of this program goes through these (linked with -Wl,--wrap=…), so a test
 * can check that classifying allocates nothing. */
static volatile size_t n_allocs;
void *__real_malloc(size_t n);
void *__real_calloc(size_t a, size_t b);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t a, size_t n);
void *__wrap_malloc(size_t n)
{
    n_allocs++;
    return __real_malloc(n);
}
void *__wrap_calloc(size_t a, size_t b)
{
    n_allocs++;
    return __real_calloc(a, b);
}
void *__wrap_realloc(void *p, size_t n)
{
    n_allocs++;
    return __real_realloc(p, n);
}
void *__wrap_aligned_alloc(size_t a, size_t n)
{
    n_allocs++;
    return __real_aligned_alloc(a, n);
}

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

    /* full-width digits and punctuation (Japanese/Chinese input) are decoded like ASCII ones:
     * this prompt hung the classifier once (the digit scan only advanced over ASCII digits) */
    const char *fw = "価格は１２３円です。合計を計算して？ Ｑ１：２＋３";
    dp_classify(m, fw, strlen(fw), &r);
    CHECK((unsigned)r.task < DP_TASK_COUNT);
    static char fmask[DP_CLASSIFY_HEAD_BYTES];
    dp_classify_explain(fw, strlen(fw), fmask);

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

/* ---- the segmenter: instruction vs material (dp_classify_explain) */

/* The mask letter at the first occurrence of `needle` in text. */
static char mask_at(const char *text, const char *mask, const char *needle)
{
    const char *p = strstr(text, needle);
    return p ? mask[p - text] : '?';
}

static int is_instr(char c)
{
    return c == 'f' || c == 'l' || c == 'b' || c == 'i';
}

static void test_segmenter(void)
{
    static char mask[DP_CLASSIFY_HEAD_BYTES];
    /* a code fence is material; the request before it is the first sentence */
    const char *t1 = "Summarise this function for the changelog.\n\n```python\ndef total(xs):\n    return "
                     "sum(x.price for x in "
                     "xs)\n```";
    dp_classify_explain(t1, strlen(t1), mask);
    CHECK(mask_at(t1, mask, "Summarise") == 'b');
    CHECK(mask_at(t1, mask, "def total") == 'm');
    CHECK(mask_at(t1, mask, "return sum") == 'm');

    /* log lines, a stack trace and a CSV are material even without a fence; a closing
     * question after them is the last sentence */
    const char *t2 =
        "Here's the log:\n2025-01-02T03:04:05Z ERROR db: connection refused\n2025-01-02T03:04:06Z ERROR db: "
        "connection refused\n  at "
        "com.acme.Db.open(Db.java:42)\nregion,units,revenue\nnorth,12,340.5\nsouth,9,"
        "120.0\n\nCan you translate the error messages into Spanish?";
    dp_classify_explain(t2, strlen(t2), mask);
    CHECK(is_instr(mask_at(t2, mask, "Here's")));
    CHECK(mask_at(t2, mask, "ERROR db") == 'm');
    CHECK(mask_at(t2, mask, "at com.acme") == 'm');
    CHECK(mask_at(t2, mask, "north,12") == 'm');
    CHECK(mask_at(t2, mask, "translate the error") == 'l');

    /* quoted text inside the instruction is material */
    const char *t3 = "Fix the grammar: \"me and him was going to the shop\"";
    dp_classify_explain(t3, strlen(t3), mask);
    CHECK(mask_at(t3, mask, "Fix") == 'f');
    CHECK(mask_at(t3, mask, "him was") == 'm');

    /* "> " quotes, tables with bars and indented blocks are material */
    const char *t4 = "What does this mean?\n\n> The party of the first part shall indemnify the party of the "
                     "second part.\n\n| a "
                     "| b |\n|---|---|\n| 1 | 2 |\n\n    x = compute(y)\n";
    dp_classify_explain(t4, strlen(t4), mask);
    CHECK(mask_at(t4, mask, "What does") == 'b');
    CHECK(mask_at(t4, mask, "indemnify") == 'm');
    CHECK(mask_at(t4, mask, "| 1 |") == 'm');
    CHECK(mask_at(t4, mask, "compute") == 'm');

    /* a long pasted paragraph first (over 600 bytes), a short instruction last: the paragraphs
     * are material */
    char t5[1400];
    snprintf(t5, sizeof t5, "%s\n\n%s\n\nGive me three bullet points.",
             "The council met on Tuesday to discuss the new cycling lanes. Residents of the northern "
             "district asked for more "
             "crossings near the schools, while shop owners worried about deliveries. The transport office "
             "presented counts "
             "showing that cycling trips doubled since the first lane opened, and that car traffic on the "
             "main road fell by "
             "a tenth. A decision on the second phase was postponed to the next meeting, pending a study of "
             "delivery bays "
             "and a survey of parents. Several councillors asked for the survey to include teenagers who "
             "cycle to school, "
             "and one proposed a trial of school streets closed to cars at drop-off time.",
             "The meeting closed with a presentation on winter maintenance, including how the lanes will be "
             "cleared of snow "
             "and who is responsible for gritting them. The office expects the cost to be covered by the "
             "existing road "
             "maintenance budget, although two councillors asked for a separate line so that the spending "
             "can be tracked.");
    dp_classify_explain(t5, strlen(t5), mask);
    CHECK(mask_at(t5, mask, "council met") == 'm');
    CHECK(mask_at(t5, mask, "winter maintenance") == 'm');
    CHECK(mask_at(t5, mask, "three bullet") == 'b'); /* the only instruction: first and last sentence */

    /* a greeting alone is too short to be the first sentence: the request after it joins */
    const char *t6 = "Hi! Could you translate this into German for me? \"See you on Monday.\"";
    dp_classify_explain(t6, strlen(t6), mask);
    CHECK(mask_at(t6, mask, "Hi!") == 'f' || mask_at(t6, mask, "Hi!") == 'b');
    CHECK(mask_at(t6, mask, "translate") == 'f' || mask_at(t6, mask, "translate") == 'b');
    CHECK(mask_at(t6, mask, "See you") == 'm');

    /* CJK sentence ends (。？) split sentences: first and last differ */
    const char *t7 = "以下のログを確認しました。原因は何ですか？それとも設定の問題でしょうか？";
    dp_classify_explain(t7, strlen(t7), mask);
    CHECK(mask_at(t7, mask, "以下") == 'f');
    CHECK(mask_at(t7, mask, "それとも") == 'l');

    /* nothing is read past the head: explain never writes past it, and any bytes are safe */
    uint8_t junk[300];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (uint8_t)(i * 37 + 11);
    dp_classify_explain((const char *)junk, sizeof junk, mask);
    int all_letters = 1;
    for (size_t i = 0; i < sizeof junk; i++)
        if (!strchr("flbim", mask[i]))
            all_letters = 0;
    CHECK(all_letters);
}

/* No allocation per call, with or without context; the model file fits the size budget. */
static void test_no_alloc(const dp_classify_model_t *m, const char *path)
{
    const char *t =
        "Please summarise the following log for the on-call channel:\n2025-01-01T00:00:00Z WARN disk 91%\n";
    const char *sys = "You are an SRE assistant.";
    dp_classify_span_t ctx[2] = {{sys, strlen(sys), DP_CLASSIFY_ROLE_SYSTEM},
                                 {"earlier", 7, DP_CLASSIFY_ROLE_USER}};
    dp_classify_result_t r;
    dp_classify_conv(m, t, strlen(t), ctx, 2, &r);
    size_t before = n_allocs;
    for (int i = 0; i < 200; i++) {
        dp_classify_conv(m, t, strlen(t), ctx, 2, &r);
        dp_classify(m, t, strlen(t), &r);
    }
    CHECK(n_allocs == before);
    FILE *fp = fopen(path, "rb");
    CHECK(fp != NULL);
    if (fp) {
        fseek(fp, 0, SEEK_END);
        long sz = ftell(fp);
        fclose(fp);
        CHECK(sz > 0 && sz <= 16L * 1024 * 1024);
    }
}

/* Calibrated probabilities: two distributions that sum to one; the confidences are the
 * probabilities of the argmax; an ambiguous prompt is less confident than a clear one. */
static void test_probabilities(const dp_classify_model_t *m)
{
    const char *clear = "Translate into Italian: the library opens at nine on Saturdays.";
    const char *vague = "ok";
    dp_classify_result_t a, b;
    dp_classify(m, clear, strlen(clear), &a);
    dp_classify(m, vague, strlen(vague), &b);
    float st = 0, sd = 0;
    for (int k = 0; k < DP_TASK_COUNT; k++)
        st += a.task_prob[k];
    for (int k = 0; k < DP_DIFFICULTY_COUNT; k++)
        sd += a.difficulty_prob[k];
    CHECK(st > 0.999f && st < 1.001f && sd > 0.999f && sd < 1.001f);
    CHECK(a.task_confidence == a.task_prob[a.task] &&
          a.difficulty_confidence == a.difficulty_prob[a.difficulty]);
    CHECK(a.task == DP_TASK_TRANSLATION && a.task_confidence > 0.8f);
    CHECK(b.task_confidence < a.task_confidence);
}

/* Context: a system prompt's persona and earlier turns do not decide the class of a clear last
 * message, and a follow-up whose deliverable is in the last message is classified by it. */
static void test_context(const dp_classify_model_t *m)
{
    const char *sys = "You are CodeBuddy, a senior Go engineer who reviews pull requests and writes tests.";
    const char *u1 = "Write me a birthday poem for my grandmother, she loves gardening and crosswords.";
    dp_classify_span_t ctx[3] = {
        {sys, strlen(sys), DP_CLASSIFY_ROLE_SYSTEM},
        {"Can you review my goroutine pool?", 33, DP_CLASSIFY_ROLE_USER},
        {"Sure: the pool leaks a goroutine when the context is cancelled; use select on ctx.Done().", 86,
         DP_CLASSIFY_ROLE_ASSISTANT}};
    dp_classify_result_t r;
    dp_classify_conv(m, u1, strlen(u1), ctx, 3, &r);
    CHECK(r.task == DP_TASK_WRITING);
    const char *u2 = "Great, now translate your explanation into Portuguese.";
    dp_classify_conv(m, u2, strlen(u2), ctx, 3, &r);
    CHECK(r.task == DP_TASK_TRANSLATION);
    /* spans past DP_CLASSIFY_CTX_MAX and empty/NULL spans are ignored, not read */
    dp_classify_span_t many[DP_CLASSIFY_CTX_MAX + 3];
    for (size_t i = 0; i < DP_CLASSIFY_CTX_MAX + 3; i++)
        many[i] = (dp_classify_span_t){i == 1 ? NULL : "hello", i == 1 ? 0 : 5, DP_CLASSIFY_ROLE_USER};
    dp_classify_result_t x, y;
    dp_classify_conv(m, u1, strlen(u1), many, DP_CLASSIFY_CTX_MAX, &x);
    dp_classify_conv(m, u1, strlen(u1), many, DP_CLASSIFY_CTX_MAX + 3, &y);
    CHECK(memcmp(&x, &y, sizeof x) == 0);
    dp_classify_conv(m, u1, strlen(u1), NULL, 3, &y); /* NULL context with a count: none */
    dp_classify(m, u1, strlen(u1), &x);
    CHECK(memcmp(&x, &y, sizeof x) == 0);
}

typedef struct {
    const char *rule; /* the documented rule (docs/routing.md, "How a prompt is labelled") */
    const char *text;
    dp_task_t task;
    int diff; /* -1 = not checked */
} rule_case_t;

/* One case per documented rule. */
static const rule_case_t rules[] = {
    {"the deliverable decides, not what the material looks like: summarising a stack trace is summarization",
     "Summarise this stack trace in two lines for the bug tracker:\n\nTraceback (most recent call last):\n  "
     "File "
     "\"/opt/svc/worker.py\", line 88, in run\n    job = queue.pop()\nIndexError: pop from empty list",
     DP_TASK_SUMMARIZATION, -1},
    {"translating code comments is translation",
     "Translate these code comments into German, leave the code alone:\n\n```c\n/* allocate the buffer once "
     "and reuse it "
     "*/\nstatic char buf[4096];\n// returns the number of bytes written\nint render(void);\n```",
     DP_TASK_TRANSLATION, -1},
    {"a puzzle inside small talk is reasoning",
     "hiii good morning!! hope you slept well 😊 oh btw my colleague gave me this and I can't crack it: two "
     "doors, one guard "
     "always lies, one always tells the truth, one question to find the exit — what do I ask?",
     DP_TASK_REASONING, -1},
    {"the language of the instruction does not matter: a Spanish request to fix a SQL query is code",
     "Oye, esta consulta me devuelve filas duplicadas cuando un cliente tiene varias direcciones, ¿me la "
     "arreglas?\n\nSELECT "
     "c.id, c.nombre, d.ciudad FROM clientes c JOIN direcciones d ON d.cliente_id = c.id WHERE c.activo = 1;",
     DP_TASK_CODE, -1},
    {"explaining software in prose is code", "Explain quicksort.", DP_TASK_CODE, -1},
    {"diagnosing a log is code",
     "Why is this crashing?\n\n2025-03-01T10:00:01Z ERROR worker: connection refused to "
     "db:5432\n2025-03-01T10:00:02Z ERROR "
     "worker: connection refused to db:5432\n2025-03-01T10:00:03Z FATAL worker: giving up after 3 retries",
     DP_TASK_CODE, -1},
    {"a proof is math, and hard", "Prove that the square root of 2 is irrational.", DP_TASK_MATH,
     DP_DIFFICULTY_HARD},
    {"a poem about programming is writing", "Write a short poem about Python programmers at 3 a.m.",
     DP_TASK_WRITING, -1},
    {"pulling fields out of provided text into a structure is extraction",
     "From the clause below, list every deadline with its trigger as JSON.\n\n\"The Supplier shall deliver "
     "within 10 days "
     "of the order. Defects must be reported within 5 days of delivery. Invoices are payable 30 days after "
     "acceptance.\"",
     DP_TASK_EXTRACTION, -1},
    {"numbers in a knowledge question do not make it math",
     "How many people lived in Rome at the height of the empire, roughly?", DP_TASK_RESEARCH, -1},
    {"an interactive role-play rehearsal is chat",
     "Let's rehearse: you are my landlord refusing to return my deposit, and I'm trying to get it back. Be "
     "stubborn. I'll "
     "start.",
     DP_TASK_CHAT, -1},
    {"small talk is chat, easy", "hey! how was your weekend?", DP_TASK_CHAT, DP_DIFFICULTY_EASY},
};

static void test_rules(const dp_classify_model_t *m)
{
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
        dp_classify_result_t r;
        dp_classify(m, rules[i].text, strlen(rules[i].text), &r);
        int good = r.task == rules[i].task && (rules[i].diff < 0 || (int)r.difficulty == rules[i].diff);
        if (good) {
            sy_test_pass++;
        } else {
            sy_test_fail++;
            fprintf(stderr, "rule \"%s\": got %s/%s (%.2f), want %s/%s\n", rules[i].rule,
                    dp_task_name(r.task), dp_difficulty_name(r.difficulty), r.task_confidence,
                    dp_task_name(rules[i].task),
                    rules[i].diff < 0 ? "*" : dp_difficulty_name((dp_difficulty_t)rules[i].diff));
        }
    }
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
    {"Translate into Spanish: I will be late for dinner tonight because of the traffic.", DP_TASK_TRANSLATION,
     -1},
    {"Summarize the following article in three bullet points:\n\nThe central bank raised interest rates by a "
     "quarter "
     "point on Wednesday, citing persistent inflation in services. Officials signalled that further "
     "increases were "
     "possible but said they would depend on data. Markets fell slightly after the announcement.",
     DP_TASK_SUMMARIZATION, -1},
    {"Write a heartfelt retirement card message for my colleague who has been our office manager for 25 "
     "years.",
     DP_TASK_WRITING, -1},
    {"hey! how's your day going?", DP_TASK_CHAT, DP_DIFFICULTY_EASY},
    {"Extract all the dates and amounts from this text as JSON: \"Paid 45.00 EUR on 2024-02-01 and 12.50 EUR "
     "on "
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
    test_segmenter();
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
        test_rules(m);
        test_context(m);
        test_probabilities(m);
        test_no_alloc(m, path);
        dp_classify_model_free(m);
    }
    SY_TEST_MAIN_END();
}
