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
            return sy_errf(err, errlen, "%s: probe \"path\" must start with '/' and be at most %u printable bytes",
                           where, SY_PROBE_MAX_PATH);
        out->path = p->valuestring;
    }
    if (get_ms(probe, "interval_ms", where, SY_PROBE_MIN_INTERVAL_MS, SY_PROBE_MAX_INTERVAL_MS, 1, &out->interval_ms,
               err, errlen) != 0 ||
        get_ms(probe, "timeout_ms", where, SY_PROBE_MIN_TIMEOUT_MS, SY_PROBE_MAX_TIMEOUT_MS, 0, &out->timeout_ms, err,
               errlen) != 0)
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
