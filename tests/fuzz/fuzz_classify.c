/*
 * libFuzzer: the classifier model parser and dp_classify on outside bytes.
 *
 * Input byte 0 picks the mode:
 *   even — the rest is a model file as is (exercises size/magic/version/CRC refusal);
 *   odd  — the rest is a model file whose size field and CRC this harness fixes up first, so
 *          the fuzzer gets past the checksum and reaches the field checks and the weights;
 * whatever parses is then used to classify the input itself and a few fixed prompts, and
 * the result must be in range. A small valid model is also used to classify the raw input,
 * so dp_classify sees every byte sequence the fuzzer invents — alone, and cut at 0x1E bytes
 * into a last message plus context spans (dp_classify_conv), and through the segmenter
 * (dp_classify_explain), whose mask may only hold its five letters.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dp_classify.h"

static dp_classify_model_t *base;

static void check(const dp_classify_model_t *m, const uint8_t *d, size_t n)
{
    dp_classify_result_t r;
    dp_classify(m, (const char *)d, n, &r);
    if ((unsigned)r.task >= DP_TASK_COUNT || (unsigned)r.difficulty >= DP_DIFFICULTY_COUNT)
        abort();
    if (!(r.task_confidence >= 0.0f && r.task_confidence <= 1.0f) || isnan(r.difficulty_confidence))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (base == NULL) {
        size_t rows = 1u << 10;
        float *w = malloc(rows * DP_CLASSIFY_OUTPUTS * sizeof *w);
        float b[DP_CLASSIFY_OUTPUTS] = {0};
        for (size_t i = 0; i < rows * DP_CLASSIFY_OUTPUTS; i++)
            w[i] = (float)((int)(i * 2654435761u % 201) - 100);
        void *buf;
        size_t len;
        if (dp_classify_model_serialize(10, w, b, &buf, &len) != 0 ||
            dp_classify_model_parse(buf, len, &base, NULL, 0) != 0)
            abort();
        free(buf);
        free(w);
    }
    check(base, data, size);
    /* the input cut at 0x1E (record separator) bytes: context spans, then the last message */
    dp_classify_span_t ctx[DP_CLASSIFY_CTX_MAX + 2];
    size_t nctx = 0, from = 0;
    for (size_t i = 0; i < size && nctx < DP_CLASSIFY_CTX_MAX + 2; i++)
        if (data[i] == 0x1E) {
            ctx[nctx] =
                (dp_classify_span_t){(const char *)data + from, i - from, (dp_classify_role_t)(nctx % 3)};
            nctx++;
            from = i + 1;
        }
    dp_classify_result_t r;
    dp_classify_conv(base, (const char *)data + from, size - from, ctx, nctx, &r);
    if ((unsigned)r.task >= DP_TASK_COUNT || (unsigned)r.difficulty >= DP_DIFFICULTY_COUNT ||
        isnan(r.task_confidence))
        abort();
    static char mask[DP_CLASSIFY_HEAD_BYTES];
    size_t mn = size < DP_CLASSIFY_HEAD_BYTES ? size : DP_CLASSIFY_HEAD_BYTES;
    dp_classify_explain((const char *)data, size, mask);
    for (size_t i = 0; i < mn; i++)
        if (mask[i] != 'f' && mask[i] != 'l' && mask[i] != 'b' && mask[i] != 'i' && mask[i] != 'm')
            abort();
    if (size == 0)
        return 0;

    size_t n = size - 1;
    uint8_t *copy = malloc(n ? n : 1);
    memcpy(copy, data + 1, n);
    if ((data[0] & 1) && n >= 92) {
        copy[28] = (uint8_t)n;
        copy[29] = (uint8_t)(n >> 8);
        copy[30] = (uint8_t)(n >> 16);
        copy[31] = (uint8_t)(n >> 24);
        uint32_t c = dp_classify_crc32(copy, n - 4);
        copy[n - 4] = (uint8_t)c;
        copy[n - 3] = (uint8_t)(c >> 8);
        copy[n - 2] = (uint8_t)(c >> 16);
        copy[n - 1] = (uint8_t)(c >> 24);
    }
    char err[128];
    dp_classify_model_t *m = NULL;
    if (dp_classify_model_parse(copy, n, &m, err, sizeof err) == 0) {
        static const char *const probes[] = {"", "hello", "Write a function in C.", "Translate: bonjour"};
        for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++)
            check(m, (const uint8_t *)probes[i], strlen(probes[i]));
        check(m, data, size);
        dp_classify_model_free(m);
    } else if (m != NULL) {
        abort(); /* a refused model must not be handed out */
    }
    free(copy);
    return 0;
}
