#include "sy_error.h"

#include <cjson/cJSON.h>

static const struct {
    int status;
    const char *type, *code, *reason, *anthropic;
} table[SY_E__COUNT] = {
#define SY_X(name, status, type, code, reason, anthropic) [SY_E_##name] = {status, type, code, reason, anthropic},
    SY_ERROR_TABLE(SY_X)
#undef SY_X
};

static sy_err_t clamp(sy_err_t e)
{
    return (unsigned)e < SY_E__COUNT ? e : SY_E_INTERNAL;
}

int sy_err_status(sy_err_t e)
{
    return table[clamp(e)].status;
}

const char *sy_err_type(sy_err_t e)
{
    return table[clamp(e)].type;
}

const char *sy_err_anthropic_type(sy_err_t e)
{
    return table[clamp(e)].anthropic;
}

const char *sy_err_code(sy_err_t e)
{
    return table[clamp(e)].code;
}

const char *sy_strerror(sy_err_t e)
{
    return table[clamp(e)].reason;
}

char *sy_err_json(sy_err_t e, const char *msg, const char *param)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *err = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(err, "message", msg ? msg : sy_strerror(e));
    cJSON_AddStringToObject(err, "type", sy_err_type(e));
    if (param)
        cJSON_AddStringToObject(err, "param", param);
    else
        cJSON_AddNullToObject(err, "param");
    cJSON_AddStringToObject(err, "code", sy_err_code(e));
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}
