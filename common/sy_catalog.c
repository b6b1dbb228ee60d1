#include "sy_catalog.h"

#include <string.h>

#include "sy_util.h"

static int get_ms(const cJSON *o, const char *name, const char *where, uint32_t lo, uint32_t hi, int zero_ok,
                  uint32_t *out, char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (v == NULL)
        return 0;
    double d = cJSON_IsNumber(v) ? v->valuedouble : -1;
    int whole = d >= 0 && d <= (double)hi && d == (double)(uint32_t)d;
    if (!whole || ((uint32_t)d < lo && !(zero_ok && d == 0)))
        return sy_errf(err, errlen, "%s: probe \"%s\" must be a whole number %s%u..%u", where, name,
                       zero_ok ? "0 (off) or " : "", lo, hi);
    *out = (uint32_t)d;
    return 0;
}

int sy_catalog_probe(const cJSON *probe, const char *where, sy_probe_conf_t *out, char *err, size_t errlen)
{
    out->path = SY_PROBE_DEFAULT_PATH;
    out->interval_ms = SY_PROBE_DEFAULT_INTERVAL_MS;
    out->timeout_ms = SY_PROBE_DEFAULT_TIMEOUT_MS;
    if (probe == NULL || cJSON_IsNull(probe))
        return 0;
    if (!cJSON_IsObject(probe))
        return sy_errf(err, errlen, "%s: \"probe\" must be an object", where);
    const cJSON *e;
    cJSON_ArrayForEach(e, probe)
    {
        if (strcmp(e->string, "path") != 0 && strcmp(e->string, "interval_ms") != 0 &&
            strcmp(e->string, "timeout_ms") != 0)
            return sy_errf(err, errlen, "%s: unknown probe field \"%s\"", where, e->string);
    }
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(probe, "path");
    if (p != NULL) {
        /* the path goes into a URL: no spaces, controls or anything that could start a new
         * authority or header */
        size_t n = cJSON_IsString(p) ? strlen(p->valuestring) : 0;
        int ok = n >= 1 && n <= SY_PROBE_MAX_PATH && p->valuestring[0] == '/';
        for (size_t i = 0; ok && i < n; i++) {
            unsigned char c = (unsigned char)p->valuestring[i];
            ok = c > 0x20 && c < 0x7f && c != '\\' && c != '"' && c != '#';
        }
        if (!ok)
            return sy_errf(err, errlen,
                           "%s: probe \"path\" must start with '/' and be at most %u printable bytes", where,
                           SY_PROBE_MAX_PATH);
        out->path = p->valuestring;
    }
    if (get_ms(probe, "interval_ms", where, SY_PROBE_MIN_INTERVAL_MS, SY_PROBE_MAX_INTERVAL_MS, 1,
               &out->interval_ms, err, errlen) != 0 ||
        get_ms(probe, "timeout_ms", where, SY_PROBE_MIN_TIMEOUT_MS, SY_PROBE_MAX_TIMEOUT_MS, 0,
               &out->timeout_ms, err, errlen) != 0)
        return -1;
    return 0;
}

int sy_catalog_quality(const cJSON *quality, const char *where, char *err, size_t errlen)
{
#define SY_TASK_NAME(sym, name) name,
    static const char *const tasks[] = {SY_TASK_CLASSES(SY_TASK_NAME) NULL};
#undef SY_TASK_NAME
    if (quality == NULL || cJSON_IsNull(quality))
        return 0;
    if (!cJSON_IsObject(quality))
        return sy_errf(err, errlen, "%s: \"quality\" must be an object of task class -> score 0..1", where);
    const cJSON *e;
    cJSON_ArrayForEach(e, quality)
    {
        const char *const *t = tasks;
        while (*t && strcmp(*t, e->string) != 0)
            t++;
        if (*t == NULL)
            return sy_errf(err, errlen, "%s: quality: unknown task class \"%.64s\"", where, e->string);
        if (!cJSON_IsNumber(e) || !(e->valuedouble >= 0 && e->valuedouble <= 1))
            return sy_errf(err, errlen, "%s: quality \"%s\" must be a number 0..1", where, e->string);
    }
    return 0;
}

static const char *const task_names[] = {
#define SY_TASK_NAME2(sym, name) name,
    SY_TASK_CLASSES(SY_TASK_NAME2)
#undef SY_TASK_NAME2
};
static const char *const diff_names[] = {"easy", "medium", "hard"};

const char *sy_task_name(sy_task_t t)
{
    return (unsigned)t < SY_TASK__COUNT ? task_names[t] : "unknown";
}

const char *sy_difficulty_name(sy_difficulty_t d)
{
    return (unsigned)d < SY_DIFF__COUNT ? diff_names[d] : "unknown";
}

int sy_task_parse(const char *s, size_t n)
{
    for (int i = 0; i < SY_TASK__COUNT; i++)
        if (strlen(task_names[i]) == n && memcmp(task_names[i], s, n) == 0)
            return i;
    return -1;
}

void sy_catalog_quality_milli(const cJSON *quality, uint32_t out[SY_TASK__COUNT])
{
    memset(out, 0, SY_TASK__COUNT * sizeof(out[0]));
    const cJSON *e;
    if (!cJSON_IsObject(quality))
        return;
    cJSON_ArrayForEach(e, quality)
    {
        int t = sy_task_parse(e->string, strlen(e->string));
        if (t >= 0 && cJSON_IsNumber(e) && e->valuedouble >= 0 && e->valuedouble <= 1)
            out[t] = (uint32_t)(e->valuedouble * 1000.0 + 0.5);
    }
}

/* Tags a user may write in the last message, and the tier each picks (DESIGN: @think,
 * @research, @terminal, @cheap, @fast, …). */
static const char *const default_tags[][2] = {
    {"@think", "think"},       {"@opus", "opus"},   {"@research", "research"}, {"@gemini", "gemini"},
    {"@terminal", "terminal"}, {"@codex", "codex"}, {"@cheap", "cheap"},       {"@fast", "fast"},
};

static int valid_word(const char *s, size_t max, int tag)
{
    size_t n = strlen(s);
    if (n < (tag ? 2u : 1u) || n > max || (tag && s[0] != '@'))
        return 0;
    for (size_t i = tag ? 1 : 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '_' || c == '.' || c == ':'))
            return 0;
    }
    return 1;
}

int sy_catalog_routing(const cJSON *routing, sy_routing_conf_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < sizeof(default_tags) / sizeof(default_tags[0]); i++) {
        out->tags[i].tag = default_tags[i][0];
        out->tags[i].tier = default_tags[i][1];
    }
    out->ntags = sizeof(default_tags) / sizeof(default_tags[0]);
    out->bar_milli[SY_DIFF_EASY] = 600;
    out->bar_milli[SY_DIFF_MEDIUM] = 750;
    out->bar_milli[SY_DIFF_HARD] = 850;
    out->breaker_failures = 3;
    out->breaker_cooldown_ms = 5000;
    if (routing == NULL || cJSON_IsNull(routing))
        return 0;
    if (!cJSON_IsObject(routing))
        return sy_errf(err, errlen, "\"routing\" must be an object");
    const cJSON *e;
    cJSON_ArrayForEach(e, routing)
    {
        if (strcmp(e->string, "tags") != 0 && strcmp(e->string, "quality_bar") != 0 &&
            strcmp(e->string, "breaker") != 0 && strcmp(e->string, "classify") != 0)
            return sy_errf(err, errlen, "routing: unknown field \"%.64s\"", e->string);
    }
    const cJSON *tags = cJSON_GetObjectItemCaseSensitive(routing, "tags");
    if (tags != NULL) {
        /* the operator's map replaces the defaults whole: what is not listed is not a tag */
        if (!cJSON_IsObject(tags) || cJSON_GetArraySize(tags) > SY_ROUTING_MAX_TAGS)
            return sy_errf(err, errlen,
                           "routing: \"tags\" must be an object of at most %d \"@tag\": \"tier\"",
                           SY_ROUTING_MAX_TAGS);
        out->ntags = 0;
        cJSON_ArrayForEach(e, tags)
        {
            if (!valid_word(e->string, 64, 1) || !cJSON_IsString(e) || !valid_word(e->valuestring, 64, 0))
                return sy_errf(err, errlen, "routing: tag \"%.64s\" must be \"@word\" mapped to a tier name",
                               e->string);
            out->tags[out->ntags].tag = e->string;
            out->tags[out->ntags].tier = e->valuestring;
            out->ntags++;
        }
    }
    const cJSON *bar = cJSON_GetObjectItemCaseSensitive(routing, "quality_bar");
    if (bar != NULL) {
        if (!cJSON_IsObject(bar))
            return sy_errf(err, errlen, "routing: \"quality_bar\" must be an object");
        cJSON_ArrayForEach(e, bar)
        {
            int d = -1;
            for (int i = 0; i < SY_DIFF__COUNT; i++)
                if (strcmp(e->string, diff_names[i]) == 0)
                    d = i;
            if (d < 0 || !cJSON_IsNumber(e) || !(e->valuedouble >= 0 && e->valuedouble <= 1))
                return sy_errf(err, errlen,
                               "routing: quality_bar \"%.32s\" must be easy|medium|hard with a number 0..1",
                               e->string);
            out->bar_milli[d] = (uint32_t)(e->valuedouble * 1000.0 + 0.5);
        }
    }
    const cJSON *cl = cJSON_GetObjectItemCaseSensitive(routing, "classify");
    if (cl != NULL) {
        if (!cJSON_IsString(cl) ||
            (strcmp(cl->valuestring, "routed") != 0 && strcmp(cl->valuestring, "all") != 0))
            return sy_errf(err, errlen, "routing: \"classify\" must be \"routed\" or \"all\"");
        out->classify_all = strcmp(cl->valuestring, "all") == 0;
    }
    const cJSON *br = cJSON_GetObjectItemCaseSensitive(routing, "breaker");
    if (br != NULL) {
        if (!cJSON_IsObject(br))
            return sy_errf(err, errlen, "routing: \"breaker\" must be an object");
        cJSON_ArrayForEach(e, br)
        {
            int f = strcmp(e->string, "failures") == 0, c = strcmp(e->string, "cooldown_ms") == 0;
            double d = cJSON_IsNumber(e) ? e->valuedouble : -1;
            if ((!f && !c) || d != (double)(uint32_t)d || (f && (d < 1 || d > 100)) ||
                (c && (d < 100 || d > 600000)))
                return sy_errf(err, errlen,
                               "routing: breaker \"%.32s\": failures 1..100, cooldown_ms 100..600000",
                               e->string);
            if (f)
                out->breaker_failures = (uint32_t)d;
            else
                out->breaker_cooldown_ms = (uint32_t)d;
        }
    }
    return 0;
}

int sy_catalog_alias_name_ok(const char *alias)
{
    size_t n = strlen(alias);
    if (n == 0 || n > 128 || strcmp(alias, "auto") == 0 || strncmp(alias, "strategy:", 9) == 0 ||
        strncmp(alias, "industry:", 9) == 0)
        return 0;
    for (const unsigned char *p = (const unsigned char *)alias; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f || *p == '"' || *p == '\\' || *p == '/')
            return 0;
    return 1;
}

int sy_catalog_aliases(const cJSON *aliases, char *err, size_t errlen)
{
    if (aliases == NULL || cJSON_IsNull(aliases))
        return 0;
    if (!cJSON_IsObject(aliases) || cJSON_GetArraySize(aliases) > SY_ALIASES_MAX)
        return sy_errf(err, errlen, "\"aliases\" must be an object of at most %d \"alias\": \"model id\"",
                       SY_ALIASES_MAX);
    const cJSON *e;
    cJSON_ArrayForEach(e, aliases)
    {
        if (!sy_catalog_alias_name_ok(e->string))
            return sy_errf(err, errlen,
                           "alias \"%.64s\": invalid name (1..128 printable characters, no space, quote, "
                           "backslash or '/', not auto, strategy:* or industry:*)",
                           e->string);
        if (!cJSON_IsString(e) || e->valuestring[0] == '\0')
            return sy_errf(err, errlen, "alias \"%.64s\": must name a catalog model id", e->string);
    }
    return 0;
}
