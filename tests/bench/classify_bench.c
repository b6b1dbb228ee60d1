/*
 * classify_bench — median time of one classifier call on a 2 KB prompt.
 *
 *   classify_bench [model.bin] [--iters N] [--max-median-us X]
 *
 * Each call is timed on its own with CLOCK_MONOTONIC (the clock read costs ~20 ns, noise
 * next to the figure measured), after a warm-up, over several prompt shapes (prose, code, a
 * mix with non-ASCII text, an instruction with a pasted log, and the same as the last message
 * of a conversation with a system prompt and two earlier turns, through dp_classify_conv) so
 * the figure is not that of one lucky input. Prints the median, p90 and p99 per shape; exits 1
 * if --max-median-us is given and any median exceeds it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dp_classify.h"

#ifndef SY_CLASSIFIER_MODEL
#define SY_CLASSIFIER_MODEL "deploy/router/classifier.bin"
#endif

#define PROMPT_BYTES 2048

/* parenthesised: each element is several literals joined on purpose */
#define SHAPES 5
static const char *const pieces[SHAPES] = {
    ("I am preparing a quarterly report for our board and need help with the section on customer retention. "
     "Our churn went from 4.1% to 3.2% after we introduced annual plans, but support tickets rose by a "
     "fifth. "
     "Please explain the likely causes, suggest three charts, and write two paragraphs in a neutral tone. "),
    ("Here is my function; it is slow on large inputs, can you make it faster and explain why?\n\n"
     "def dedupe(items):\n    out = []\n    for x in items:\n        if x not in out:\n            "
     "out.append(x)\n"
     "    return out\n\nfor i in range(10000): print(dedupe(list(range(i))))\n"),
    ("Bitte übersetze den folgenden Absatz ins Englische und behalte die Formatierung bei: "
     "Die Lieferung verzögert sich um zwei Wochen. 納期は二週間遅れます。 Спасибо за терпение! "),
    ("Summarise this log for the incident channel, three bullets, no diagnosis:\n"
     "2025-03-04T02:14:09Z ERROR payments request_id=81aa webhook delivery failed status=503 attempt=3\n"
     "2025-03-04T02:14:11Z ERROR payments request_id=9c01 db pool exhausted (max=20, waiting=57)\n"),
    ("Summarise this log for the incident channel, three bullets, no diagnosis:\n"
     "2025-03-04T02:14:09Z ERROR payments request_id=81aa webhook delivery failed status=503 attempt=3\n"
     "2025-03-04T02:14:11Z ERROR payments request_id=9c01 db pool exhausted (max=20, waiting=57)\n"),
};
static const char *const shape_names[SHAPES] = {"prose", "code", "multilingual", "pasted log",
                                                "conversation"};
/* the conversation shape's context: a system prompt and two earlier turns */
static const char *const ctx_text[3] = {
    "You are the on-call assistant of the payments team. Be concise and precise.",
    "Can you check why checkout was slow last night?",
    "Sure. Please paste the relevant logs and I will take a look.",
};

/* results land here so the calls cannot be optimised away */
volatile unsigned bench_sink;

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    const char *path = SY_CLASSIFIER_MODEL;
    int iters = 20000;
    double max_median_us = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--iters") == 0 && i + 1 < argc)
            iters = atoi(argv[++i]);
        else if (strcmp(argv[i], "--max-median-us") == 0 && i + 1 < argc)
            max_median_us = atof(argv[++i]);
        else
            path = argv[i];
    }
    if (iters < 100)
        iters = 100;
    char err[256];
    dp_classify_model_t *m;
    double t0 = now_ns();
    if (dp_classify_model_load(path, &m, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    printf("model %s: %u buckets, loaded in %.1f ms\n", path, dp_classify_model_buckets(m),
           (now_ns() - t0) / 1e6);
    double *t = malloc((size_t)iters * sizeof *t);
    int rc = 0;
    dp_classify_span_t ctx[3] = {{ctx_text[0], strlen(ctx_text[0]), DP_CLASSIFY_ROLE_SYSTEM},
                                 {ctx_text[1], strlen(ctx_text[1]), DP_CLASSIFY_ROLE_USER},
                                 {ctx_text[2], strlen(ctx_text[2]), DP_CLASSIFY_ROLE_ASSISTANT}};
    for (int s = 0; s < SHAPES; s++) {
        size_t nctx = s == 4 ? 3 : 0;
        char prompt[PROMPT_BYTES];
        size_t pl = strlen(pieces[s]);
        for (size_t i = 0; i < PROMPT_BYTES; i++)
            prompt[i] = pieces[s][i % pl];
        dp_classify_result_t r;
        for (int i = 0; i < 1000; i++) {
            dp_classify_conv(m, prompt, sizeof prompt, ctx, nctx, &r);
            bench_sink += r.task;
        }
        for (int i = 0; i < iters; i++) {
            /* vary one byte so the compiler cannot hoist the call out of the loop */
            prompt[0] = (char)('A' + (i & 15));
            double a = now_ns();
            dp_classify_conv(m, prompt, sizeof prompt, ctx, nctx, &r);
            t[i] = now_ns() - a;
            bench_sink += r.task;
        }
        qsort(t, (size_t)iters, sizeof *t, cmpd);
        double med = t[iters / 2] / 1e3;
        printf("%-12s %d B: median %.2f us, p90 %.2f us, p99 %.2f us (%d calls) -> %s/%s\n", shape_names[s],
               PROMPT_BYTES, med, t[iters * 9 / 10] / 1e3, t[iters * 99 / 100] / 1e3, iters,
               dp_task_name(r.task), dp_difficulty_name(r.difficulty));
        if (max_median_us > 0 && med > max_median_us) {
            printf("FAIL: median %.2f us above %.2f us\n", med, max_median_us);
            rc = 1;
        }
    }
    free(t);
    dp_classify_model_free(m);
    return rc;
}
