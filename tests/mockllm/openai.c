/* OpenAI wire format: chat completions (plain, stream, tools, JSON mode), embeddings
 * (float and base64), models, errors. */
#include <math.h>
#include <string.h>
#include <openssl/evp.h>

#include "mockllm.h"

#define GET(o, k) cJSON_GetObjectItemCaseSensitive((o), (k))

/* ------------------------------------------------------------- errors */

void oai_error_body(sbuf_t *sb, int status, const char *message, const char *code_override)
{
    const char *type = status >= 500 ? "server_error" : "invalid_request_error", *code = NULL, *dflt;
    switch (status) {
    case 400:
        dflt = "Invalid request (mock).";
        break;
    case 401:
        code = "invalid_api_key";
        dflt = "Incorrect API key provided (mock).";
        break;
    case 402:
        type = "insufficient_quota";
        code = "insufficient_quota";
        dflt = "You exceeded your current quota (mock).";
        break;
    case 403:
        code = "permission_denied";
        dflt = "You are not allowed to sample from this model (mock).";
        break;
    case 404:
        code = "model_not_found";
        dflt = "The model does not exist or you do not have access to it (mock).";
        break;
    case 405:
        dflt = "Method not allowed (mock).";
        break;
    case 408:
        code = "timeout";
        dflt = "Request timed out (mock).";
        break;
    case 409:
        code = "conflict";
        dflt = "Conflict (mock).";
        break;
    case 413:
        code = "request_too_large";
        dflt = "Request too large (mock).";
        break;
    case 422:
        dflt = "Unprocessable request (mock).";
        break;
    case 429:
        type = "requests";
        code = "rate_limit_exceeded";
        dflt = "Rate limit reached for requests (mock).";
        break;
    case 500:
        code = "server_error";
        dflt = "The server had an error while processing your request. Sorry about that! (mock)";
        break;
    case 502:
        code = "bad_gateway";
        dflt = "Bad gateway (mock).";
        break;
    case 503:
    case 529:
        code = "overloaded";
        dflt = "The engine is currently overloaded, please try again later (mock).";
        break;
    case 504:
        code = "timeout";
        dflt = "Gateway timeout (mock).";
        break;
    default:
        dflt = status >= 500 ? "Server error (mock)." : "Request error (mock).";
        break;
    }
    if (message == NULL)
        message = dflt;
    if (code_override != NULL)
        code = *code_override != '\0' ? code_override : NULL;
    sb_lit(sb, "{\"error\":{\"message\":");
    sb_json_str(sb, message, strlen(message));
    sb_lit(sb, ",\"type\":\"");
    sb_add(sb, type, strlen(type));
    sb_lit(sb, "\",\"param\":null,\"code\":");
    if (code != NULL) {
        sb_addc(sb, '"');
        sb_add(sb, code, strlen(code));
        sb_addc(sb, '"');
    } else {
        sb_lit(sb, "null");
    }
    sb_lit(sb, "}}");
}

/* --------------------------------------------------------------- chat */

static const char *finish_reason(mock_req_t *mr)
{
    return mr->safety          ? "content_filter"
           : mr->ck == CK_TOOL ? "tool_calls"
           : mr->finish_length ? "length"
                               : "stop";
}

static void chat_head(mock_req_t *mr, sbuf_t *sb, int chunk)
{
    sb_lit(sb, "{\"id\":\"chatcmpl-mock");
    sb_u64(sb, mr->seq);
    if (chunk)
        sb_lit(sb, "\",\"object\":\"chat.completion.chunk\",\"created\":");
    else
        sb_lit(sb, "\",\"object\":\"chat.completion\",\"created\":");
    sb_u64(sb, (uint64_t)mr->created);
    sb_lit(sb, ",\"model\":");
    sb_json_str(sb, mr->model.base, mr->model.len);
    sb_lit(sb, ",\"system_fingerprint\":\"fp_mock\",\"choices\":[");
}

static void usage_obj(mock_req_t *mr, sbuf_t *sb)
{
    sb_lit(sb, "\"usage\":{\"prompt_tokens\":");
    sb_u64(sb, mr->prompt_tokens);
    sb_lit(sb, ",\"completion_tokens\":");
    sb_u64(sb, mr->n_tokens);
    sb_lit(sb, ",\"total_tokens\":");
    sb_u64(sb, (uint64_t)mr->prompt_tokens + mr->n_tokens);
    sb_addc(sb, '}');
}

static void chat_body(mock_req_t *mr)
{
    sbuf_t *b = &mr->body;
    sb_reserve(b, 512 + 2 * mr->model.len + 2 * mr->tool_name.len + 4 * mr->tool_arg_value.len +
                      2 * mr->answer.len);
    chat_head(mr, b, 0);
    sb_reserve(b, (size_t)mr->n_units * (16 + mr->pad_per_unit) + mr->pad_last + 256);
    sb_lit(b, "{\"index\":0,\"message\":{\"role\":\"assistant\",");
    if (mr->ck == CK_TOOL) {
        sb_lit(b, "\"content\":null,\"tool_calls\":[{\"id\":\"call_mock1\",\"type\":\"function\","
                  "\"function\":{\"name\":");
        sb_json_str(b, mr->tool_name.base, mr->tool_name.len);
        sb_lit(b, ",\"arguments\":\"");
        content_all(mr, b, 1);
        sb_lit(b, "\"}}],\"refusal\":null},");
    } else {
        sb_lit(b, "\"content\":\"");
        content_all(mr, b, 1);
        sb_lit(b, "\",\"refusal\":null},");
    }
    sb_lit(b, "\"logprobs\":null,\"finish_reason\":\"");
    const char *fr = finish_reason(mr);
    sb_add(b, fr, strlen(fr));
    sb_lit(b, "\"}]");
    if (!mr->no_usage) {
        sb_addc(b, ',');
        usage_obj(mr, b);
    }
    sb_addc(b, '}');
}

void oai_chat(mock_req_t *mr, cJSON *body)
{
    const cJSON *model = GET(body, "model");
    if (!cJSON_IsString(model)) {
        mr_fail(mr, 400, "you must provide a model parameter");
        return;
    }
    mr_set_model(mr, model->valuestring, strlen(model->valuestring));
    const cJSON *messages = GET(body, "messages");
    if (!cJSON_IsArray(messages)) {
        mr_fail(mr, 400, "Missing required parameter: 'messages'.");
        return;
    }
    if (mr_scenario_error(mr))
        return;

    mr->stream = cJSON_IsTrue(GET(body, "stream"));
    mr->include_usage = mr->stream && cJSON_IsTrue(GET(GET(body, "stream_options"), "include_usage"));
    mr->no_usage = sc_get(&mr->sc, SC_NO_USAGE, 0) != 0;
    mr->malformed = sc_get(&mr->sc, SC_MALFORMED, 0) != 0;

    mr->safety = sc_get(&mr->sc, SC_SAFETY, 0) != 0;

    mr->ck = CK_TEXT;
    const cJSON *tools = GET(body, "tools"), *tool_choice = GET(body, "tool_choice");
    int choice_none = cJSON_IsString(tool_choice) && strcmp(tool_choice->valuestring, "none") == 0;
    const cJSON *last = cJSON_GetArrayItem(messages, cJSON_GetArraySize(messages) - 1);
    const cJSON *last_role = GET(last, "role");
    if (cJSON_IsString(last_role) && strcmp(last_role->valuestring, "tool") == 0) {
        /* the conversation's last turn is a tool result: answer it with text */
        sbuf_t t;
        sb_init(&t, &mr->req->pool, 256);
        text_of_content(GET(last, "content"), &t, 256);
        content_answer(mr, t.buf, t.len);
    } else if (cJSON_IsArray(tools) && cJSON_GetArraySize(tools) > 0 && !choice_none) {
        const cJSON *name = GET(GET(tool_choice, "function"), "name");
        const char *chosen = cJSON_IsString(name) ? name->valuestring : NULL;
        const char *first = NULL;
        int has_read = 0;
        const cJSON *t;
        cJSON_ArrayForEach(t, tools)
        {
            const cJSON *n = GET(GET(t, "function"), "name");
            if (!cJSON_IsString(n))
                continue;
            if (first == NULL)
                first = n->valuestring;
            if (strcmp(n->valuestring, "Read") == 0)
                has_read = 1;
        }
        sbuf_t ut;
        sb_init(&ut, &mr->req->pool, 0);
        if (has_read) { /* the last user message's text, for the scripted Read call */
            const cJSON *m, *user = NULL;
            cJSON_ArrayForEach(m, messages)
            {
                const cJSON *r = GET(m, "role");
                if (cJSON_IsString(r) && strcmp(r->valuestring, "user") == 0)
                    user = m;
            }
            text_of_content(GET(user, "content"), &ut, 8192);
        }
        content_plan_tool(mr, chosen, first, has_read, ut.buf, ut.len);
    } else {
        const cJSON *type = GET(GET(body, "response_format"), "type");
        if (cJSON_IsString(type) &&
            (strcmp(type->valuestring, "json_object") == 0 || strcmp(type->valuestring, "json_schema") == 0))
            mr->ck = CK_JSON;
    }

    long max_tokens = -1;
    const cJSON *mt = GET(body, "max_completion_tokens");
    if (!cJSON_IsNumber(mt))
        mt = GET(body, "max_tokens");
    if (cJSON_IsNumber(mt))
        max_tokens = mt->valuedouble < 0 ? 0 : mt->valuedouble > 1e9 ? 1000000000 : (long)mt->valuedouble;

    unsigned prompt = 0;
    const cJSON *msg;
    cJSON_ArrayForEach(msg, messages)
    {
        prompt += 3 + prompt_words_of_content(GET(msg, "content"));
    }
    mr->prompt_tokens = prompt;

    content_setup(mr, sc_get(&mr->sc, SC_CHUNKS, 8), max_tokens);
    mr->billed = 1;
    mr->usage_sent = mr->stream ? (mr->include_usage && !mr->no_usage) : !mr->no_usage;

    if (mr->stream) {
        sbuf_t p;
        sb_init(&p, &mr->req->pool, 256 + 2 * mr->model.len);
        sb_lit(&p, "data: ");
        chat_head(mr, &p, 1);
        mr->chunk_prefix = h2o_iovec_init(p.buf, p.len);
        mr->pre[mr->n_pre++] = EV_OAI_ROLE;
        if (mr->malformed)
            mr->post[mr->n_post++] = EV_OAI_MALFORMED;
        mr->post[mr->n_post++] = EV_OAI_FINISH;
        if (mr->include_usage && !mr->no_usage)
            mr->post[mr->n_post++] = EV_OAI_USAGE;
        mr->post[mr->n_post++] = EV_OAI_DONE;
    } else {
        chat_body(mr);
    }
}

void oai_render_event(mock_req_t *mr, int code)
{
    sbuf_t *e = &mr->ev;
    switch (code) {
    case EV_OAI_DONE:
        sb_lit(e, "data: [DONE]\n\n");
        return;
    case EV_OAI_MALFORMED:
        sb_lit(e, "data: {\"id\":\"chatcmpl-mock");
        sb_u64(e, mr->seq);
        sb_lit(e, "\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":"
                  "\"malformed\n\n");
        return;
    case EV_OAI_USAGE:
        sb_add(e, mr->chunk_prefix.base, mr->chunk_prefix.len);
        sb_lit(e, "],");
        usage_obj(mr, e);
        sb_lit(e, "}\n\n");
        return;
    default:
        break;
    }
    sb_add(e, mr->chunk_prefix.base, mr->chunk_prefix.len);
    switch (code) {
    case EV_OAI_ROLE:
        if (mr->ck == CK_TOOL) {
            sb_lit(e, "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{"
                      "\"index\":0,\"id\":"
                      "\"call_mock1\",\"type\":\"function\",\"function\":{\"name\":");
            sb_json_str(e, mr->tool_name.base, mr->tool_name.len);
            sb_lit(e, ",\"arguments\":\"\"}}],\"refusal\":null},\"logprobs\":null,\"finish_reason\":null}]");
        } else {
            sb_lit(e, "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null},"
                      "\"logprobs\":null,"
                      "\"finish_reason\":null}]");
        }
        break;
    case EV_OAI_CONTENT:
        if (mr->ck == CK_TOOL) {
            sb_lit(e, "{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"");
            content_piece(mr, mr->units_sent, e, 1);
            sb_lit(e, "\"}}]},\"logprobs\":null,\"finish_reason\":null}]");
        } else {
            sb_lit(e, "{\"index\":0,\"delta\":{\"content\":\"");
            content_piece(mr, mr->units_sent, e, 1);
            sb_lit(e, "\"},\"logprobs\":null,\"finish_reason\":null}]");
        }
        break;
    case EV_OAI_FINISH: {
        const char *fr = finish_reason(mr);
        sb_lit(e, "{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"");
        sb_add(e, fr, strlen(fr));
        sb_lit(e, "\"}]");
        break;
    }
    }
    if (mr->include_usage)
        sb_lit(e, ",\"usage\":null");
    sb_lit(e, "}\n\n");
}

/* --------------------------------------------------------- embeddings */

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* A deterministic unit vector derived from the input's bytes. */
void embed_vector(uint64_t seed, unsigned dims, float *out)
{
    double sum = 0;
    for (unsigned j = 0; j != dims; ++j) {
        double v = (double)(splitmix64(seed + j) >> 11) * (1.0 / 9007199254740992.0) * 2.0 - 1.0;
        out[j] = (float)v;
        sum += v * v;
    }
    double norm = sqrt(sum);
    if (norm > 0)
        for (unsigned j = 0; j != dims; ++j)
            out[j] = (float)(out[j] / norm);
}

static void embed_item(mock_req_t *mr, sbuf_t *b, unsigned index, uint64_t seed, unsigned dims, int b64,
                       float *vec, unsigned char *scratch)
{
    if (index != 0)
        sb_addc(b, ',');
    sb_lit(b, "{\"object\":\"embedding\",\"index\":");
    sb_u64(b, index);
    sb_lit(b, ",\"embedding\":");
    embed_vector(seed, dims, vec);
    if (b64) {
        for (unsigned j = 0; j != dims; ++j) {
            uint32_t u;
            memcpy(&u, &vec[j], 4);
            scratch[4 * j] = (unsigned char)u;
            scratch[4 * j + 1] = (unsigned char)(u >> 8);
            scratch[4 * j + 2] = (unsigned char)(u >> 16);
            scratch[4 * j + 3] = (unsigned char)(u >> 24);
        }
        size_t need = 4 * ((4 * (size_t)dims + 2) / 3) + 1;
        sb_addc(b, '"');
        sb_reserve(b, need);
        int n = EVP_EncodeBlock((unsigned char *)b->buf + b->len, scratch, (int)(4 * dims));
        b->len += (size_t)n;
        sb_addc(b, '"');
    } else {
        sb_addc(b, '[');
        for (unsigned j = 0; j != dims; ++j) {
            if (j != 0)
                sb_addc(b, ',');
            sb_printf(b, "%.9g", (double)vec[j]);
        }
        sb_addc(b, ']');
    }
    sb_addc(b, '}');
}

static int is_token_array(const cJSON *a)
{
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) == 0)
        return 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, a)
    {
        if (!cJSON_IsNumber(x))
            return 0;
    }
    return 1;
}

static uint64_t token_array_seed(const cJSON *a, unsigned *count)
{
    uint64_t h = FNV_OFFSET;
    unsigned n = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, a)
    {
        int64_t v = (int64_t)x->valuedouble;
        h = fnv1a(&v, sizeof(v), h);
        ++n;
    }
    *count = n;
    return h;
}

void oai_embeddings(mock_req_t *mr, cJSON *body)
{
    const cJSON *model = GET(body, "model");
    if (!cJSON_IsString(model)) {
        mr_fail(mr, 400, "you must provide a model parameter");
        return;
    }
    mr_set_model(mr, model->valuestring, strlen(model->valuestring));
    const cJSON *input = GET(body, "input");
    if (input == NULL) {
        mr_fail(mr, 400, "Missing required parameter: 'input'.");
        return;
    }
    if (mr_scenario_error(mr))
        return;

    unsigned dims = 8;
    const cJSON *d = GET(body, "dimensions");
    if (d != NULL) {
        if (!cJSON_IsNumber(d) || d->valuedouble < 1 || d->valuedouble > 8192) {
            mr_fail(mr, 400, "Invalid 'dimensions': must be an integer between 1 and 8192 (mock).");
            return;
        }
        dims = (unsigned)d->valuedouble;
    }
    int b64 = 0;
    const cJSON *ef = GET(body, "encoding_format");
    if (ef != NULL) {
        if (cJSON_IsString(ef) && strcmp(ef->valuestring, "base64") == 0)
            b64 = 1;
        else if (!(cJSON_IsString(ef) && strcmp(ef->valuestring, "float") == 0)) {
            mr_fail(mr, 400, "Invalid 'encoding_format': expected 'float' or 'base64'.");
            return;
        }
    }

    /* validate the input shape: string | [string...] | [int...] | [[int...]...] */
    int single = cJSON_IsString(input) || is_token_array(input);
    if (!single) {
        int ok = cJSON_IsArray(input) && cJSON_GetArraySize(input) > 0;
        const cJSON *x;
        if (ok) {
            cJSON_ArrayForEach(x, input)
            {
                if (!cJSON_IsString(x) && !is_token_array(x))
                    ok = 0;
            }
        }
        if (!ok) {
            mr_fail(mr, 400, "'input' must be a string, an array of strings, or an array of token arrays.");
            return;
        }
    }

    mr->no_usage = sc_get(&mr->sc, SC_NO_USAGE, 0) != 0;
    mr->malformed = sc_get(&mr->sc, SC_MALFORMED, 0) != 0;
    mr->billed = 1;
    mr->usage_sent = !mr->no_usage;
    content_setup(mr, 0, -1); /* no content units; only the fault plan */

    float *vec = h2o_mem_alloc_pool(&mr->req->pool, sizeof(float) * dims);
    unsigned char *scratch = b64 ? h2o_mem_alloc_pool(&mr->req->pool, 4 * (size_t)dims) : NULL;
    sbuf_t *b = &mr->body;
    sb_reserve(b, 256 + (size_t)dims * (b64 ? 6 : 16));
    sb_lit(b, "{\"object\":\"list\",\"data\":[");
    unsigned tokens = 0, index = 0;
    const cJSON *items[1] = {input};
    const cJSON *x = single ? items[0] : input->child;
    for (; x != NULL; x = single ? NULL : x->next) {
        uint64_t seed;
        unsigned n;
        if (cJSON_IsString(x)) {
            size_t len = strlen(x->valuestring);
            seed = fnv1a(x->valuestring, len, FNV_OFFSET);
            n = (unsigned)count_words(x->valuestring, len);
        } else {
            seed = token_array_seed(x, &n);
        }
        tokens += n;
        embed_item(mr, b, index++, seed, dims, b64, vec, scratch);
    }
    sb_lit(b, "],\"model\":");
    sb_json_str(b, mr->model.base, mr->model.len);
    if (!mr->no_usage) {
        sb_lit(b, ",\"usage\":{\"prompt_tokens\":");
        sb_u64(b, tokens);
        sb_lit(b, ",\"total_tokens\":");
        sb_u64(b, tokens);
        sb_addc(b, '}');
    }
    sb_addc(b, '}');
    mr->prompt_tokens = tokens;
    mr->cut = b->len / 2;
}

/* ------------------------------------------------------------- models */

static const char *const model_ids[] = {"mock-1", "mock-2", "gpt-mock", "mock-embed-1", "claude-mock"};

static void model_obj(sbuf_t *b, const char *id, size_t len)
{
    sb_lit(b, "{\"id\":");
    sb_json_str(b, id, len);
    sb_lit(b, ",\"object\":\"model\",\"created\":1700000000,\"owned_by\":\"mock\"}");
}

void oai_models(mock_req_t *mr, const char *id, size_t id_len)
{
    if (id != NULL)
        mr_set_model(mr, id, id_len);
    if (mr_scenario_error(mr))
        return;
    content_setup(mr, 0, -1);
    mr->malformed = sc_get(&mr->sc, SC_MALFORMED, 0) != 0;
    sbuf_t *b = &mr->body;
    if (id != NULL) {
        model_obj(b, id, id_len);
    } else {
        sb_lit(b, "{\"object\":\"list\",\"data\":[");
        for (size_t i = 0; i != sizeof(model_ids) / sizeof(model_ids[0]); ++i) {
            if (i != 0)
                sb_addc(b, ',');
            model_obj(b, model_ids[i], strlen(model_ids[i]));
        }
        sb_lit(b, "]}");
    }
    mr->cut = b->len / 2;
}
