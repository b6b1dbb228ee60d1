/*
 * dp_classify — the local prompt classifier of the "auto" router: from a conversation, a task
 * class and a difficulty, in microseconds, with no network and no allocation per call.
 *
 * What is labelled (data/prompts/public/LABELS.md, docs/routing.md): the deliverable the LAST
 * user message asks for — not its topic, not what pasted material looks like, not the system
 * prompt's persona. The features follow that rule:
 *   - the last user message is split into instruction and material. Code fences, quoted lines
 *     ("> …"), indented blocks, log/trace/CSV/table lines, text inside quotation marks, and
 *     long pasted paragraphs between a lead-in and a closing instruction are material; the
 *     rest is instruction;
 *   - the instruction's first and last sentences get their own feature spaces (where "summarise
 *     this", "translate into German" or a closing question sit), and words of a built-in
 *     multilingual lexicon (imperative verbs, question words, deliverable nouns, language names,
 *     difficulty cues; ~12 languages, accents folded, CJK matched by character n-grams) add
 *     language-independent concept features;
 *   - material contributes its own, separately normalised word features (what kind of material
 *     it is), so a long log cannot drown a one-line instruction;
 *   - the system prompt and up to three earlier turns are context: a few hundred bytes each, in
 *     their own feature space;
 *   - shape features (sizes of instruction and material, list items, questions, scripts) and
 *     concept × shape conjunctions for difficulty.
 * Every region is normalised on its own (1/sqrt of its feature count) and feeds two linear
 * softmax heads (9 task classes, 3 difficulties) trained offline by tools/train/
 * sy_train_classifier, with temperature calibration folded into the weights. The feature code
 * below is the one the trainer links, so training and serving can never disagree.
 *
 * Ownership and lifetime: dp_classify_model_load/parse allocate one model; the caller owns it
 * and releases it with dp_classify_model_free once no thread uses it any more (e.g. when the
 * snapshot that references it is retired).
 *
 * Threading: a model is immutable after load. dp_classify() only reads it, keeps its state on
 * the stack and writes nothing but *out, so any number of threads may classify with the same
 * model concurrently without locks. The lexicon table is built once, on first load (idempotent,
 * atomic flag), never on the classify path.
 *
 * Input: any bytes (invalid UTF-8, NULs, any length). Only the first DP_CLASSIFY_HEAD_BYTES
 * and the last DP_CLASSIFY_TAIL_BYTES of the message, and the first DP_CLASSIFY_CTX_BYTES of
 * each context span, are read, so the cost of a call is bounded whatever the prompt size.
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

typedef enum {
    DP_DIFFICULTY_EASY = 0,
    DP_DIFFICULTY_MEDIUM,
    DP_DIFFICULTY_HARD,
    DP_DIFFICULTY_COUNT
} dp_difficulty_t;

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
    dp_task_t task;                             /* argmax of task_prob */
    dp_difficulty_t difficulty;                 /* argmax of difficulty_prob */
    float task_prob[DP_TASK_COUNT];             /* softmax of the task head, sums to 1 */
    float difficulty_prob[DP_DIFFICULTY_COUNT]; /* softmax of the difficulty head */
    float task_confidence;                      /* task_prob[task] */
    float difficulty_confidence;                /* difficulty_prob[difficulty] */
} dp_classify_result_t;

typedef struct dp_classify_model dp_classify_model_t;

/* Reads and validates a model file (magic, version, dimensions, exact size, CRC-32). On
 * failure returns -1, sets *out to NULL and writes a reason into err (if errlen > 0). */
int dp_classify_model_load(const char *path, dp_classify_model_t **out, char *err, size_t errlen);
/* The same from a buffer the caller keeps owning (it is copied; it may be freed afterwards). */
int dp_classify_model_parse(const void *buf, size_t len, dp_classify_model_t **out, char *err, size_t errlen);
void dp_classify_model_free(dp_classify_model_t *m);

/* Context: the system prompt and earlier turns of the conversation. The caller passes the
 * first system (or developer) message, then at most the three messages before the last user
 * message, oldest first (the router, the trainer and the tests all use that rule). Only the
 * first DP_CLASSIFY_CTX_BYTES of each span are read; spans past DP_CLASSIFY_CTX_MAX are ignored. */
typedef enum {
    DP_CLASSIFY_ROLE_SYSTEM = 0,
    DP_CLASSIFY_ROLE_USER,
    DP_CLASSIFY_ROLE_ASSISTANT
} dp_classify_role_t;
typedef struct {
    const char *text; /* may be NULL when len is 0 */
    size_t len;
    dp_classify_role_t role;
} dp_classify_span_t;
#define DP_CLASSIFY_CTX_MAX 4
#define DP_CLASSIFY_CTX_BYTES 512

/* Classifies the last user message text[0..len) (text may be NULL when len is 0) with its
 * context ctx[0..nctx) (ctx may be NULL when nctx is 0). Never fails for a loaded model. */
void dp_classify_conv(const dp_classify_model_t *m, const char *text, size_t len,
                      const dp_classify_span_t *ctx, size_t nctx, dp_classify_result_t *out);
/* The same without context. */
void dp_classify(const dp_classify_model_t *m, const char *text, size_t len, dp_classify_result_t *out);

/* For tests and debugging: what the segmenter made of text (its first
 * min(len, DP_CLASSIFY_HEAD_BYTES) bytes): mask[i] is 'f' (first instruction sentence), 'l'
 * (last instruction sentence), 'b' (both first and last), 'i' (other instruction text), 'm'
 * (material). mask must hold that many bytes; it is not NUL-terminated. */
void dp_classify_explain(const char *text, size_t len, char *mask);

/* Number of hash buckets (1 << bits) of a loaded model, for tools. */
uint32_t dp_classify_model_buckets(const dp_classify_model_t *m);

/* ---- for the trainer (and tests): the shared feature extractor and the file writer ---- */

/* Feature-extractor version stored in model files; a model trained with another extractor is
 * refused at load rather than silently mis-scored. */
#define DP_CLASSIFY_FEATURE_VERSION 2

/* Feature regions: each is normalised on its own (scores add w * count / sqrt(features in the
 * region)). */
enum {
    DP_CLASSIFY_R_BODY = 0, /* instruction text: words, bigrams, concepts */
    DP_CLASSIFY_R_FIRST,    /* the instruction's first sentence */
    DP_CLASSIFY_R_LAST,     /* the instruction's last sentence */
    DP_CLASSIFY_R_MAT,      /* material: word unigrams, symbols */
    DP_CLASSIFY_R_CTX,      /* system prompt and earlier turns */
    DP_CLASSIFY_R_SHAPE,    /* sizes, counts, conjunctions */
    DP_CLASSIFY_REGIONS
};

/* Calls emit(arg, h, region) once per feature occurrence with a 32-bit feature hash (the
 * bucket is h & (buckets-1)). Returns the number of features emitted. Reads only the capped
 * head/tail of text and the capped head of each context span. */
typedef void (*dp_classify_emit_fn)(void *arg, uint32_t h, unsigned region);
size_t dp_classify_features(const char *text, size_t len, const dp_classify_span_t *ctx, size_t nctx,
                            dp_classify_emit_fn emit, void *arg);

/* Serialises a model into a malloc'd buffer (*out, *outlen) in the file format that
 * dp_classify_model_parse reads. weights is buckets x (DP_TASK_COUNT + DP_DIFFICULTY_COUNT)
 * row-major floats, bias has DP_TASK_COUNT + DP_DIFFICULTY_COUNT entries. Weights are stored
 * quantised to int16 with one scale per head. Returns 0, or -1 on bad arguments/OOM. */
#define DP_CLASSIFY_OUTPUTS (DP_TASK_COUNT + DP_DIFFICULTY_COUNT)
int dp_classify_model_serialize(unsigned hash_bits, const float *weights, const float *bias, void **out,
                                size_t *outlen);

uint32_t dp_classify_crc32(const void *buf, size_t len);

#endif
