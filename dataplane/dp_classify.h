/*
 * dp_classify — the local prompt classifier of the "auto" router: from a prompt text, a task
 * class and a difficulty, in microseconds, with no network and no allocation per call.
 *
 * Model: hashed word unigrams + bigrams and a few coarse shape features (length, lines,
 * digits, code symbols, scripts) feeding two linear heads (9 task classes, 3 difficulties),
 * trained offline by tools/train/sy_train_classifier from labelled prompts. The feature code
 * below is the one the trainer links, so training and serving can never disagree.
 *
 * Ownership and lifetime: dp_classify_model_load/parse allocate one model; the caller owns it
 * and releases it with dp_classify_model_free once no thread uses it any more (e.g. when the
 * snapshot that references it is retired).
 *
 * Threading: a model is immutable after load. dp_classify() only reads it, keeps its state on
 * the stack and writes nothing but *out, so any number of threads may classify with the same
 * model concurrently without locks.
 *
 * Input: any bytes (invalid UTF-8, NULs, any length). Only the first DP_CLASSIFY_HEAD_BYTES
 * and the last DP_CLASSIFY_TAIL_BYTES are read, so the cost of a call is bounded whatever the
 * prompt size.
 *
 * No h2o or other project includes here: the trainer and the fuzzer build this file alone.
 */
#ifndef DP_CLASSIFY_H
#define DP_CLASSIFY_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    DP_TASK_CODE = 0,
    DP_TASK_MATH,
    DP_TASK_REASONING,
    DP_TASK_WRITING,
    DP_TASK_EXTRACTION,
    DP_TASK_SUMMARIZATION,
    DP_TASK_TRANSLATION,
    DP_TASK_RESEARCH,
    DP_TASK_CHAT,
    DP_TASK_COUNT
} dp_task_t;

typedef enum { DP_DIFFICULTY_EASY = 0, DP_DIFFICULTY_MEDIUM, DP_DIFFICULTY_HARD, DP_DIFFICULTY_COUNT } dp_difficulty_t;

/* Lower-case names as used in the labelled data and the catalog ("code", "hard"); a static
 * string, "unknown" for an out-of-range value. */
const char *dp_task_name(dp_task_t t);
const char *dp_difficulty_name(dp_difficulty_t d);
/* Inverse of the above; -1 when the name is not one of them. */
int dp_task_from_name(const char *name);
int dp_difficulty_from_name(const char *name);

/* Bytes of the prompt that are read: the head, and the tail when the prompt is longer. */
#define DP_CLASSIFY_HEAD_BYTES 6144
#define DP_CLASSIFY_TAIL_BYTES 2048

typedef struct {
    dp_task_t task;             /* argmax of task_prob */
    dp_difficulty_t difficulty; /* argmax of difficulty_prob */
    float task_prob[DP_TASK_COUNT];             /* softmax of the task head, sums to 1 */
    float difficulty_prob[DP_DIFFICULTY_COUNT]; /* softmax of the difficulty head */
    float task_confidence;       /* task_prob[task] */
    float difficulty_confidence; /* difficulty_prob[difficulty] */
} dp_classify_result_t;

typedef struct dp_classify_model dp_classify_model_t;

/* Reads and validates a model file (magic, version, dimensions, exact size, CRC-32). On
 * failure returns -1, sets *out to NULL and writes a reason into err (if errlen > 0). */
int dp_classify_model_load(const char *path, dp_classify_model_t **out, char *err, size_t errlen);
/* The same from a buffer the caller keeps owning (it is copied; it may be freed afterwards). */
int dp_classify_model_parse(const void *buf, size_t len, dp_classify_model_t **out, char *err, size_t errlen);
void dp_classify_model_free(dp_classify_model_t *m);

/* Classifies text[0..len) (text may be NULL when len is 0). Never fails for a loaded model. */
void dp_classify(const dp_classify_model_t *m, const char *text, size_t len, dp_classify_result_t *out);

/* Number of hash buckets (1 << bits) of a loaded model, for tools. */
uint32_t dp_classify_model_buckets(const dp_classify_model_t *m);

/* ---- for the trainer (and tests): the shared feature extractor and the file writer ---- */

/* Feature-extractor version stored in model files; a model trained with another extractor is
 * refused at load rather than silently mis-scored. */
#define DP_CLASSIFY_FEATURE_VERSION 1

/* Calls emit(ctx, h) once per feature occurrence with a 32-bit feature hash (the bucket is
 * h & (buckets-1)). Returns the number of features emitted. Reads only the capped head/tail. */
typedef void (*dp_classify_emit_fn)(void *ctx, uint32_t h);
size_t dp_classify_features(const char *text, size_t len, dp_classify_emit_fn emit, void *ctx);

/* Serialises a model into a malloc'd buffer (*out, *outlen) in the file format that
 * dp_classify_model_parse reads. weights is buckets x (DP_TASK_COUNT + DP_DIFFICULTY_COUNT)
 * row-major floats, bias has DP_TASK_COUNT + DP_DIFFICULTY_COUNT entries. Weights are stored
 * quantised to int16 with one scale per head. Returns 0, or -1 on bad arguments/OOM. */
#define DP_CLASSIFY_OUTPUTS (DP_TASK_COUNT + DP_DIFFICULTY_COUNT)
int dp_classify_model_serialize(unsigned hash_bits, const float *weights, const float *bias, void **out,
                                size_t *outlen);

uint32_t dp_classify_crc32(const void *buf, size_t len);

#endif
