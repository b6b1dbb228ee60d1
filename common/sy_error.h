/*
 * sy_error — the one error table.
 *
 * Every way a request can end badly is one row here: HTTP status, OpenAI error `type`,
 * OpenAI error `code`, and the reason word that the access log prints. Nothing else in the
 * project picks a status or an error code; `dp_respond_error` (data plane) is the only
 * function that turns a row into a response.
 *
 * Thread-safety: the table is constant; every function here is pure.
 */
#ifndef SY_ERROR_H
#define SY_ERROR_H

/*  name                 status type (OpenAI)             code                      log reason          Anthropic error.type */
#define SY_ERROR_TABLE(X)                                                                                                        \
    X(OK,                  200, "",                      "",                       "ok",               "")                       \
    X(BAD_JSON,            400, "invalid_request_error", "invalid_request_error",  "bad_json",         "invalid_request_error")  \
    X(BAD_REQUEST,         400, "invalid_request_error", "invalid_request_error",  "bad_request",      "invalid_request_error")  \
    X(BAD_PARAM,           400, "invalid_request_error", "invalid_request_error",  "bad_param",        "invalid_request_error")  \
    X(INVALID_API_KEY,     401, "invalid_request_error", "invalid_api_key",        "auth_failed",      "authentication_error")   \
    X(INSUFFICIENT_QUOTA,  402, "insufficient_quota",    "insufficient_quota",     "quota",            "billing_error")          \
    X(MODEL_NOT_ALLOWED,   403, "permission_error",      "model_not_allowed",      "model_not_allowed", "permission_error")      \
    X(ACCOUNT_DISABLED,    403, "permission_error",      "account_disabled",       "account_disabled", "permission_error")       \
    X(FORBIDDEN,           403, "permission_error",      "forbidden",              "forbidden",        "permission_error")       \
    X(MODEL_NOT_FOUND,     404, "invalid_request_error", "model_not_found",        "model_not_found",  "not_found_error")        \
    X(NOT_FOUND,           404, "invalid_request_error", "not_found",              "no_route",         "not_found_error")        \
    X(METHOD_NOT_ALLOWED,  405, "invalid_request_error", "method_not_allowed",     "bad_method",       "invalid_request_error")  \
    X(CONFLICT,            409, "invalid_request_error", "conflict",               "conflict",         "invalid_request_error")  \
    X(REQUEST_TOO_LARGE,   413, "invalid_request_error", "request_too_large",      "too_large",        "request_too_large")      \
    X(RATE_LIMITED,        429, "rate_limit_error",      "rate_limited",           "rate_limited",     "rate_limit_error")       \
    X(AUTH_THROTTLED,      429, "rate_limit_error",      "rate_limited",           "auth_throttled",   "rate_limit_error")       \
    X(INTERNAL,            500, "server_error",          "internal_error",         "internal",         "api_error")              \
    X(UPSTREAM_ERROR,      502, "upstream_error",        "upstream_error",         "upstream_error",   "api_error")              \
    X(NO_PROVIDER,         503, "server_error",          "no_provider_available",  "no_provider",      "overloaded_error")       \
    X(NOT_READY,           503, "server_error",          "not_ready",              "not_ready",        "overloaded_error")       \
    X(SHUTTING_DOWN,       503, "server_error",          "shutting_down",          "shutdown",         "overloaded_error")       \
    X(OVERLOADED,          503, "server_error",          "overloaded",             "overloaded",       "overloaded_error")       \
    X(UPSTREAM_TIMEOUT,    504, "upstream_error",        "upstream_timeout",       "upstream_timeout", "timeout_error")          \
    X(CLIENT_CLOSED,       499, "",                      "",                       "client_gone",      "")

typedef enum {
#define SY_X(name, status, type, code, reason, anthropic) SY_E_##name,
    SY_ERROR_TABLE(SY_X)
#undef SY_X
        SY_E__COUNT
} sy_err_t;

/* HTTP status of an error (200 for SY_E_OK). */
int sy_err_status(sy_err_t e);
/* OpenAI `error.type`. */
const char *sy_err_type(sy_err_t e);
/* Anthropic `error.type` (the Messages API's error shape, providers/dp_anthropic_in.c). */
const char *sy_err_anthropic_type(sy_err_t e);
/* OpenAI `error.code`. */
const char *sy_err_code(sy_err_t e);
/* Short word for logs and metrics ("bad_json", "upstream_timeout", ...). */
const char *sy_strerror(sy_err_t e);
/* The OpenAI error body {"error":{"message","type","param","code"}}, built with cJSON; msg NULL
 * uses the reason word, param NULL gives null. The caller frees the string; NULL on OOM. */
char *sy_err_json(sy_err_t e, const char *msg, const char *param);

#endif
