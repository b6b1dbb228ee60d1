/*
 * sy_test — the smallest test harness that reports like a real one: each CHECK that fails
 * prints file:line and the expression; main returns non-zero if any failed and prints
 * "N passed, N failed".
 */
#ifndef SY_TEST_H
#define SY_TEST_H

#include <stdio.h>
#include <string.h>

static int sy_test_pass, sy_test_fail;

#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (cond) {                                                                                                    \
            sy_test_pass++;                                                                                            \
        } else {                                                                                                       \
            sy_test_fail++;                                                                                            \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);                                   \
        }                                                                                                              \
    } while (0)

#define CHECK_STR(a, b)                                                                                                \
    do {                                                                                                               \
        const char *sa_ = (a), *sb_ = (b);                                                                             \
        if (sa_ && sb_ && strcmp(sa_, sb_) == 0) {                                                                     \
            sy_test_pass++;                                                                                            \
        } else {                                                                                                       \
            sy_test_fail++;                                                                                            \
            fprintf(stderr, "%s:%d: CHECK_STR failed: \"%s\" != \"%s\"\n", __FILE__, __LINE__, sa_ ? sa_ : "(null)",  \
                    sb_ ? sb_ : "(null)");                                                                             \
        }                                                                                                              \
    } while (0)

#define SY_TEST_MAIN_END()                                                                                             \
    do {                                                                                                               \
        printf("%d passed, %d failed\n", sy_test_pass, sy_test_fail);                                                  \
        return sy_test_fail ? 1 : 0;                                                                                   \
    } while (0)

#endif
