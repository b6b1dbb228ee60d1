/*
 * sy_catalog — catalog-file rules that both loaders share (the data plane's dp_config and the
 * control plane's cp_catalog read the same file; a field both accept must mean the same and be
 * checked the same way).
 *
 * Pure functions over a parsed cJSON tree; no allocation, thread-safe.
 */
#ifndef SY_CATALOG_H
#define SY_CATALOG_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/* A provider's active health probe (docs/config.md, `providers[].probe`). */
typedef struct {
    const char *path;     /* appended to base_url; points into the cJSON tree or a literal */
    uint32_t interval_ms; /* 0 = never probed */
    uint32_t timeout_ms;
} sy_probe_conf_t;

#define SY_PROBE_DEFAULT_PATH "/models"
#define SY_PROBE_DEFAULT_INTERVAL_MS 10000u
#define SY_PROBE_DEFAULT_TIMEOUT_MS 3000u
#define SY_PROBE_MIN_INTERVAL_MS 100u
#define SY_PROBE_MAX_INTERVAL_MS 3600000u
#define SY_PROBE_MIN_TIMEOUT_MS 50u
#define SY_PROBE_MAX_TIMEOUT_MS 60000u
#define SY_PROBE_MAX_PATH 256u

/* Reads `probe` (may be NULL: the defaults) into *out. 0, or -1 with a message that starts
 * with `where` in err. */
int sy_catalog_probe(const cJSON *probe, const char *where, sy_probe_conf_t *out, char *err, size_t errlen);

/* The task classes of the router, in the order the quality scores and the classifier use. */
#define SY_TASK_CLASSES(X)                                                                                             \
    X(CODE, "code")                                                                                                    \
    X(MATH, "math")                                                                                                    \
    X(REASONING, "reasoning")                                                                                          \
    X(WRITING, "writing")                                                                                              \
    X(EXTRACTION, "extraction")                                                                                        \
    X(SUMMARIZATION, "summarization")                                                                                  \
    X(TRANSLATION, "translation")                                                                                      \
    X(RESEARCH, "research")                                                                                            \
    X(CHAT, "chat")

#define SY_TASK_ENUM(sym, name) SY_TASK_##sym,
typedef enum { SY_TASK_CLASSES(SY_TASK_ENUM) SY_TASK__COUNT } sy_task_t;
#undef SY_TASK_ENUM
typedef enum { SY_DIFF_EASY, SY_DIFF_MEDIUM, SY_DIFF_HARD, SY_DIFF__COUNT } sy_difficulty_t;
const char *sy_task_name(sy_task_t t);
const char *sy_difficulty_name(sy_difficulty_t d);
/* -1 when `s` (length n) names no task class / difficulty. */
int sy_task_parse(const char *s, size_t n);

/* Checks a model's `quality` member (may be NULL): an object mapping task class names to
 * numbers in 0..1. 0, or -1 with a message that starts with `where`. */
int sy_catalog_quality(const cJSON *quality, const char *where, char *err, size_t errlen);
/* The scores of a checked `quality` member in thousandths, by sy_task_t; 0 where absent. */
void sy_catalog_quality_milli(const cJSON *quality, uint32_t out[SY_TASK__COUNT]);

/* The catalog's top-level `routing` section (docs/config.md):
 *   {"tags": {"@think": "think", …}, "quality_bar": {"easy": 0.6, "medium": 0.75, "hard": 0.85},
 *    "breaker": {"failures": 3, "cooldown_ms": 5000}}
 * Every member is optional; absent ones take the defaults below (the default tags are
 * SY_ROUTING_DEFAULT_TAGS). Tag and tier strings point into the cJSON tree or are literals. */
#define SY_ROUTING_MAX_TAGS 64
/* Rate limits in a catalog entry (keys[] and workspaces[]: `rpm`, `tpm`), the same in both
 * modes: whole numbers, 0 = no limit; omitted = no limit in a data-plane file, unchanged on a
 * control-plane reload. The admin API (cp_api.c) accepts the same ranges (1.., null clears). */
#define SY_LIMIT_RPM_MAX 1000000000u
#define SY_LIMIT_TPM_MAX 4294967295u
typedef struct {
    struct {
        const char *tag, *tier;
    } tags[SY_ROUTING_MAX_TAGS];
    size_t ntags;
    uint32_t bar_milli[SY_DIFF__COUNT];
    uint32_t breaker_failures, breaker_cooldown_ms;
    /* `"classify": "routed"` (default): the prompt classifier runs only when routing reads its
     * answer (auto, strategy:, industry:, an override tag); `"all"`: also for a named model, so
     * every chat answer and request-log row carries task and difficulty (~15 % more CPU per
     * request, docs/routing.md "When the classifier runs"). */
    int classify_all;
} sy_routing_conf_t;
int sy_catalog_routing(const cJSON *routing, sy_routing_conf_t *out, char *err, size_t errlen);

/* Model aliases (docs/config.md, top-level `"aliases": {"alias": "model-id"}`): another name
 * for a catalog model, accepted wherever a model id is. An alias is an identifier like a model
 * id (printable ASCII without space, quote, backslash or '/', 1..128 bytes) and must not look
 * like a routing form the router reads first: not "auto", not "strategy:…" nor "industry:…".
 * Whether it collides with a model id or another alias, and whether its target exists, is the
 * loader's check (it knows the catalog). 1 when `alias` is a valid alias name. */
#define SY_ALIASES_MAX 4096
int sy_catalog_alias_name_ok(const char *alias);
/* Checks the `aliases` member's shape (may be NULL): an object of at most SY_ALIASES_MAX
 * "alias": "model id" pairs, every alias valid per sy_catalog_alias_name_ok and every target
 * a string. 0, or -1 with a message naming the alias in err. */
int sy_catalog_aliases(const cJSON *aliases, char *err, size_t errlen);

#endif
