/* Google Gemini (Generative Language API v1beta) wire format:
 *   POST /v1beta/models/{model}:generateContent
 *   POST /v1beta/models/{model}:streamGenerateContent[?alt=sse]   (SSE, or a streamed JSON array)
 *   POST /v1beta/models/{model}:countTokens
 *   POST /v1beta/models/{model}:embedContent | :batchEmbedContents
 *   GET  /v1beta/models, /v1beta/models/{model}
 * (/v1/models/{model}:method is accepted too). The model id comes from the URL path, raw or
 * percent-encoded, so scenario pairs ("gemini-mock+status=500") apply as for the other dialects. */
#include <string.h>

#include "mockllm.h"

#define GET(o, k) cJSON_GetObjectItemCaseSensitive((o), (k))

/* ------------------------------------------------------------- errors */

void gem_error_body(sbuf_t *sb, int status, const char *message, long retry_after)
{
    const char *st, *dflt;
    switch (status) {
    case 400:
        st = "INVALID_ARGUMENT", dflt = "Request contains an invalid argument. (mock)";
        break;
    case 401:
        st = "UNAUTHENTICATED", dflt = "Request had invalid authentication credentials. (mock)";
        break;
    case 403:
        st = "PERMISSION_DENIED", dflt = "The caller does not have permission. (mock)";
        break;
    case 404:
        st = "NOT_FOUND", dflt = "Requested entity was not found. (mock)";
        break;
    case 409:
        st = "ABORTED", dflt = "The operation was aborted. (mock)";
        break;
    case 429:
        st = "RESOURCE_EXHAUSTED", dflt = "Resource has been exhausted (e.g. check quota). (mock)";
        break;
    case 499:
        st = "CANCELLED", dflt = "The operation was cancelled. (mock)";
        break;
    case 501:
        st = "UNIMPLEMENTED", dflt = "Method not implemented. (mock)";
        break;
    case 503:
        st = "UNAVAILABLE", dflt = "The model is overloaded. Please try again later. (mock)";
        break;
    case 504:
        st = "DEADLINE_EXCEEDED", dflt = "Deadline expired before operation could complete. (mock)";
        break;
    default:
        if (status >= 500)
            st = "INTERNAL", dflt = "An internal error has occurred. Please retry or report. (mock)";
        else
            st = "FAILED_PRECONDITION", dflt = "Precondition check failed. (mock)";
        break;
    }
    if (message == NULL)
        message = dflt;
    sb_lit(sb, "{\"error\":{\"code\":");
    sb_i64(sb, status);
    sb_lit(sb, ",\"message\":");
    sb_json_str(sb, message, strlen(message));
    sb_lit(sb, ",\"status\":\"");
    sb_add(sb, st, strlen(st));
    sb_addc(sb, '"');
    if (status == 429 && retry_after >= 0)
        sb_printf(
            sb,
            ",\"details\":[{\"@type\":\"type.googleapis.com/google.rpc.RetryInfo\",\"retryDelay\":\"%lds\"}]",
            retry_after);
    sb_lit(sb, "}}");
}

/* ------------------------------------------------------------ helpers */

/* The text of a functionResponse: response.output / .content / .result / .text when it is a
 * string, else the whole response object as JSON. */
static void function_response_text(const cJSON *fr, sbuf_t *out, size_t max)
{
    const cJSON *resp = GET(fr, "response");
    if (cJSON_IsString(resp)) {
        text_of_content(resp, out, max);
        return;
    }
    static const char *const keys[] = {"output", "content", "result", "text"};
    for (size_t i = 0; i != sizeof(keys) / sizeof(keys[0]); ++i) {
        const cJSON *v = GET(resp, keys[i]);
        if (cJSON_IsString(v) || cJSON_IsArray(v)) {
            text_of_content(v, out, max);
            return;
        }
    }
    if (resp == NULL)
        return;
    char *s = cJSON_PrintUnformatted(resp);
    if (s != NULL) {
        size_t n = strlen(s), room = out->len < max ? max - out->len : 0;
        sb_add(out, s, n < room ? n : room);
        cJSON_free(s);
    }
}

/* words of a Content's text parts (functionResponse parts count their text too) */
static unsigned content_words(const cJSON *content)
{
    unsigned n = 0;
    const cJSON *part;
    cJSON_ArrayForEach(part, GET(content, "parts"))
    {
        const cJSON *t = GET(part, "text");
        if (cJSON_IsString(t)) {
            n += (unsigned)count_words(t->valuestring, strlen(t->valuestring));
        } else if (GET(part, "functionResponse") != NULL) {
            sbuf_t tmp;
            sb_init(&tmp, NULL, 0);
            function_response_text(GET(part, "functionResponse"), &tmp, 1 << 20);
            n += (unsigned)count_words(tmp.buf, tmp.len);
            sb_free(&tmp);
        }
    }
    return n;
}

static void usage_meta(mock_req_t *mr, sbuf_t *b, unsigned completion)
{
    uint64_t prompt = (uint64_t)mr->prompt_tokens + (uint64_t)mr->cache_read;
    sb_lit(b, "\"usageMetadata\":{\"promptTokenCount\":");
    sb_u64(b, prompt);
    if (completion != 0) {
        sb_lit(b, ",\"candidatesTokenCount\":");
        sb_u64(b, completion);
    }
    sb_lit(b, ",\"totalTokenCount\":");
    sb_u64(b, prompt + completion);
    if (mr->cache_read != 0) {
        sb_lit(b, ",\"cachedContentTokenCount\":");
        sb_u64(b, (uint64_t)mr->cache_read);
    }
    sb_addc(b, '}');
}

static void tail(mock_req_t *mr, sbuf_t *b, unsigned completion)
{
    if (!mr->no_usage) {
        sb_addc(b, ',');
        usage_meta(mr, b, completion);
    }
    sb_lit(b, ",\"modelVersion\":");
    sb_json_str(b, mr->model.base, mr->model.len);
    sb_lit(b, ",\"responseId\":\"mockresp");
    sb_u64(b, mr->seq);
    sb_lit(b, "\"}");
}

static const char *finish_reason(mock_req_t *mr)
{
    return mr->safety ? "SAFETY" : mr->finish_length ? "MAX_TOKENS" : "STOP";
}

static void safety_ratings(sbuf_t *b)
{
    sb_lit(b,
           ",\"safetyRatings\":[{\"category\":\"HARM_CATEGORY_DANGEROUS_CONTENT\",\"probability\":\"HIGH\","
           "\"blocked\":true}]");
}

static void open_part(mock_req_t *mr, sbuf_t *b)
{
    if (mr->ck == CK_TOOL) {
        sb_lit(b, "{\"functionCall\":{\"name\":");
        sb_json_str(b, mr->tool_name.base, mr->tool_name.len);
        sb_lit(b, ",\"args\":");
    } else {
        sb_lit(b, "{\"text\":\"");
    }
}

static void close_part(mock_req_t *mr, sbuf_t *b)
{
    if (mr->ck == CK_TOOL)
        sb_lit(b, "}}");
    else
        sb_lit(b, "\"}");
}

/* ------------------------------------------------------ generateContent */

static void generate_body(mock_req_t *mr)
{
    sbuf_t *b = &mr->body;
    sb_reserve(b, 512 + 2 * mr->model.len + 2 * mr->tool_name.len + 2 * mr->answer.len +
                      (size_t)mr->n_units * (16 + mr->pad_per_unit) + mr->pad_last);
    sb_lit(b, "{\"candidates\":[{");
    if (mr->safety) { /* blocked: no content */
        mr->cut = b->len;
        sb_lit(b, "\"finishReason\":\"SAFETY\",\"index\":0");
        safety_ratings(b);
    } else {
        sb_lit(b, "\"content\":{\"parts\":[");
        open_part(mr, b);
        content_all(mr, b, mr->ck == CK_TOOL ? 0 : 1);
        close_part(mr, b);
        sb_lit(b, "],\"role\":\"model\"},\"finishReason\":\"");
        const char *fr = finish_reason(mr);
        sb_add(b, fr, strlen(fr));
        sb_lit(b, "\",\"index\":0");
    }
    sb_lit(b, "}]");
    tail(mr, b, mr->n_tokens);
}

/* the text of the last "user" content, text parts from the last one back */
static void last_user_text(const cJSON *contents, sbuf_t *out)
{
    const cJSON *c, *user = NULL;
    cJSON_ArrayForEach(c, contents)
    {
        const cJSON *role = GET(c, "role");
        if (!cJSON_IsString(role) || strcmp(role->valuestring, "user") == 0)
            user = c;
    }
    const cJSON *parts = GET(user, "parts");
    for (int i = cJSON_GetArraySize(parts) - 1; i >= 0; --i) {
        const cJSON *t = GET(cJSON_GetArrayItem(parts, i), "text");
        if (cJSON_IsString(t)) {
            text_of_content(t, out, 8192);
            sb_addc(out, '\n');
        }
    }
}

static void gem_generate(mock_req_t *mr, cJSON *body)
{
    const cJSON *contents = GET(body, "contents");
    if (!cJSON_IsArray(contents) || cJSON_GetArraySize(contents) == 0) {
        mr_fail(mr, 400, "* GenerateContentRequest.contents: contents is not specified\n");
        return;
    }
    if (mr_scenario_error(mr))
        return;
    mr->no_usage = sc_get(&mr->sc, SC_NO_USAGE, 0) != 0;
    mr->malformed = sc_get(&mr->sc, SC_MALFORMED, 0) != 0;
    mr->safety = sc_get(&mr->sc, SC_SAFETY, 0) != 0;
    mr->cache_read = sc_get(&mr->sc, SC_CACHE, 0);
    const cJSON *gc = GET(body, "generationConfig");

    mr->ck = CK_TEXT;
    const cJSON *last = cJSON_GetArrayItem(contents, cJSON_GetArraySize(contents) - 1);
    const cJSON *fr = NULL, *part;
    cJSON_ArrayForEach(part, GET(last, "parts"))
    {
        if ((fr = GET(part, "functionResponse")) != NULL)
            break;
    }
    if (fr != NULL) {
        /* the conversation's last turn is a tool result: answer it with text */
        sbuf_t t;
        sb_init(&t, &mr->req->pool, 256);
        function_response_text(fr, &t, 256);
        content_answer(mr, t.buf, t.len);
    } else {
        const cJSON *fcc = GET(GET(body, "toolConfig"), "functionCallingConfig");
        const cJSON *mode = GET(fcc, "mode");
        int none = cJSON_IsString(mode) && strcmp(mode->valuestring, "NONE") == 0;
        const char *first = NULL, *chosen = NULL;
        int has_read = 0;
        const cJSON *tool, *decl;
        cJSON_ArrayForEach(tool, GET(body, "tools"))
        {
            cJSON_ArrayForEach(decl, GET(tool, "functionDeclarations"))
            {
                const cJSON *name = GET(decl, "name");
                if (!cJSON_IsString(name))
                    continue;
                if (first == NULL)
                    first = name->valuestring;
                if (strcmp(name->valuestring, "Read") == 0)
                    has_read = 1;
            }
        }
        if (cJSON_IsString(mode) && strcmp(mode->valuestring, "ANY") == 0) {
            const cJSON *allowed = cJSON_GetArrayItem(GET(fcc, "allowedFunctionNames"), 0);
            if (cJSON_IsString(allowed))
                chosen = allowed->valuestring;
        }
        if (first != NULL && !none) {
            sbuf_t ut;
            sb_init(&ut, &mr->req->pool, 256);
            last_user_text(contents, &ut);
            content_plan_tool(mr, chosen, first, has_read, ut.buf, ut.len);
        } else {
            const cJSON *mime = GET(gc, "responseMimeType");
            if (cJSON_IsString(mime) && strcmp(mime->valuestring, "application/json") == 0)
                mr->ck = CK_JSON;
        }
    }

    long max_tokens = -1;
    const cJSON *mt = GET(gc, "maxOutputTokens");
    if (cJSON_IsNumber(mt))
        max_tokens = mt->valuedouble < 0 ? 0 : mt->valuedouble > 1e9 ? 1000000000 : (long)mt->valuedouble;

    unsigned prompt = 0;
    const cJSON *sys = GET(body, "systemInstruction");
    if (cJSON_IsObject(sys))
        prompt += 3 + content_words(sys);
    else if (cJSON_IsString(sys))
        prompt += 3 + (unsigned)count_words(sys->valuestring, strlen(sys->valuestring));
    const cJSON *c;
    cJSON_ArrayForEach(c, contents)
    {
        prompt += 3 + content_words(c);
    }
    mr->prompt_tokens = prompt;

    content_setup(mr, sc_get(&mr->sc, SC_CHUNKS, 8), max_tokens);
    if (mr->safety && !mr->stream) { /* a blocked non-stream answer has no content */
        mr->n_units = mr->n_tokens = 0;
        if (mr->fault != FAULT_NONE)
            mr->fault_at = 0;
    }
    mr->billed = 1;
    mr->usage_sent = !mr->no_usage;

    if (mr->stream) {
        if (mr->malformed)
            mr->post[mr->n_post++] = EV_GEM_MALFORMED;
        mr->post[mr->n_post++] = EV_GEM_FINISH;
    } else {
        generate_body(mr);
    }
}

static void event_open(mock_req_t *mr, sbuf_t *e)
{
    if (mr->gem_sse)
        sb_lit(e, "data: ");
    else if (!mr->gem_first)
        sb_addc(e, '[');
    else
        sb_lit(e, ",\r\n");
    mr->gem_first = 1;
}

static void event_close(mock_req_t *mr, sbuf_t *e)
{
    if (mr->gem_sse)
        sb_lit(e, "\r\n\r\n");
}

void gem_render_event(mock_req_t *mr, int code)
{
    sbuf_t *e = &mr->ev;
    event_open(mr, e);
    switch (code) {
    case EV_GEM_CONTENT: {
        sb_lit(e, "{\"candidates\":[{\"content\":{\"parts\":[");
        open_part(mr, e);
        content_piece(mr, mr->units_sent, e, mr->ck == CK_TOOL ? 0 : 1);
        close_part(mr, e);
        sb_lit(e, "],\"role\":\"model\"},\"index\":0}]");
        /* like Google: every chunk carries the usage so far */
        unsigned done = mr->ck == CK_TOOL ? mr->n_tokens : mr->units_sent + 1;
        tail(mr, e, done);
        break;
    }
    case EV_GEM_MALFORMED:
        sb_lit(e, "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"malformed");
        break;
    case EV_GEM_FINISH:
    default: {
        const char *fr = finish_reason(mr);
        sb_lit(e, "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"\"}],\"role\":\"model\"},"
                  "\"finishReason\":\"");
        sb_add(e, fr, strlen(fr));
        sb_lit(e, "\",\"index\":0");
        if (mr->safety)
            safety_ratings(e);
        sb_lit(e, "}]");
        tail(mr, e, mr->n_tokens);
        if (!mr->gem_sse)
            sb_addc(e, ']');
        break;
    }
    }
    event_close(mr, e);
}

/* --------------------------------------------------------- countTokens */

static void gem_count_tokens(mock_req_t *mr, cJSON *body)
{
    if (mr_scenario_error(mr))
        return;
    const cJSON *contents = GET(body, "contents");
    if (contents == NULL)
        contents = GET(GET(body, "generateContentRequest"), "contents");
    unsigned prompt = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, contents)
    {
        prompt += 3 + content_words(c);
    }
    content_setup(mr, 0, -1);
    mr->malformed = sc_get(&mr->sc, SC_MALFORMED, 0) != 0;
    sb_printf(&mr->body, "{\"totalTokens\":%u}", prompt);
    mr->cut = mr->body.len / 2;
}

/* ---------------------------------------------------------- embeddings */

static int embed_one(mock_req_t *mr, sbuf_t *b, const cJSON *req, long dims_dflt, unsigned *tokens)
{
    const cJSON *content = GET(req, "content");
    if (!cJSON_IsObject(content))
        return -1;
    long dims = dims_dflt;
    const cJSON *d = GET(req, "outputDimensionality");
    if (d != NULL) {
        if (!cJSON_IsNumber(d) || d->valuedouble < 1 || d->valuedouble > 8192)
            return -2;
        dims = (long)d->valuedouble;
    }
    sbuf_t t;
    sb_init(&t, NULL, 0);
    const cJSON *part;
    cJSON_ArrayForEach(part, GET(content, "parts"))
    {
        const cJSON *s = GET(part, "text");
        if (cJSON_IsString(s)) {
            if (t.len != 0)
                sb_addc(&t, '\n');
            sb_add(&t, s->valuestring, strlen(s->valuestring));
        }
    }
    *tokens += (unsigned)count_words(t.buf, t.len);
    float *vec = h2o_mem_alloc_pool(&mr->req->pool, sizeof(float) * (size_t)dims);
    embed_vector(fnv1a(t.buf, t.len, FNV_OFFSET), (unsigned)dims, vec);
    sb_free(&t);
    sb_lit(b, "{\"values\":[");
    for (long j = 0; j != dims; ++j) {
        if (j != 0)
            sb_addc(b, ',');
        sb_printf(b, "%.9g", (double)vec[j]);
    }
    sb_lit(b, "]}");
    return 0;
}

static void embed_common(mock_req_t *mr, cJSON *body, int batch)
{
    if (mr_scenario_error(mr))
        return;
    sbuf_t *b = &mr->body;
    unsigned tokens = 0;
    int rc = 0;
    if (batch) {
        const cJSON *reqs = GET(body, "requests");
        if (!cJSON_IsArray(reqs) || cJSON_GetArraySize(reqs) == 0) {
            mr_fail(mr, 400, "* BatchEmbedContentsRequest.requests: requests is not specified\n");
            return;
        }
        sb_lit(b, "{\"embeddings\":[");
        const cJSON *r;
        int i = 0;
        cJSON_ArrayForEach(r, reqs)
        {
            if (i++ != 0)
                sb_addc(b, ',');
            if ((rc = embed_one(mr, b, r, 8, &tokens)) != 0)
                break;
        }
        sb_lit(b, "]}");
    } else {
        sb_lit(b, "{\"embedding\":");
        rc = embed_one(mr, b, body, 8, &tokens);
        sb_addc(b, '}');
    }
    if (rc == -1) {
        mr_fail(mr, 400, "* EmbedContentRequest.content: content is not specified\n");
        return;
    }
    if (rc == -2) {
        mr_fail(mr, 400, "outputDimensionality must be between 1 and 8192 (mock)");
        return;
    }
    mr->malformed = sc_get(&mr->sc, SC_MALFORMED, 0) != 0;
    mr->billed = 1;
    mr->usage_sent = 0; /* Gemini embeddings report no usage */
    mr->prompt_tokens = tokens;
    content_setup(mr, 0, -1);
    mr->cut = b->len / 2;
}

static void gem_embed(mock_req_t *mr, cJSON *body)
{
    embed_common(mr, body, 0);
}

static void gem_batch_embed(mock_req_t *mr, cJSON *body)
{
    embed_common(mr, body, 1);
}

/* -------------------------------------------------------------- models */

static const char *const gem_models[] = {"gemini-mock", "gemini-mock-pro", "gemini-embed-mock"};

static void model_obj(sbuf_t *b, const char *id, size_t len)
{
    int embed = strstr(id, "embed") != NULL; /* id is NUL-terminated */
    sb_lit(b, "{\"name\":\"models/");
    sb_json_esc(b, id, len);
    sb_lit(b, "\",\"version\":\"001\",\"displayName\":");
    sb_json_str(b, id, len);
    sb_lit(b, ",\"description\":\"switchyard-mockllm\",\"inputTokenLimit\":1048576,\"outputTokenLimit\":");
    if (embed)
        sb_lit(b, "1,\"supportedGenerationMethods\":[\"embedContent\",\"batchEmbedContents\"]}");
    else
        sb_lit(b, "65536,\"supportedGenerationMethods\":[\"generateContent\",\"countTokens\","
                  "\"streamGenerateContent\"],\"temperature\":1,\"topP\":0.95,\"topK\":64}");
}

static void gem_models_answer(mock_req_t *mr, int one)
{
    if (mr_scenario_error(mr))
        return;
    content_setup(mr, 0, -1);
    mr->malformed = sc_get(&mr->sc, SC_MALFORMED, 0) != 0;
    sbuf_t *b = &mr->body;
    if (one) {
        model_obj(b, mr->model.base, mr->model.len);
    } else {
        sb_lit(b, "{\"models\":[");
        for (size_t i = 0; i != sizeof(gem_models) / sizeof(gem_models[0]); ++i) {
            if (i != 0)
                sb_addc(b, ',');
            model_obj(b, gem_models[i], strlen(gem_models[i]));
        }
        sb_lit(b, "]}");
    }
    mr->cut = b->len / 2;
}

/* ------------------------------------------------------------- routing */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int query_has(h2o_req_t *req, const char *kv)
{
    if (req->query_at == SIZE_MAX)
        return 0;
    const char *q = req->path.base + req->query_at + 1, *end = req->path.base + req->path.len;
    size_t n = strlen(kv);
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *e = amp != NULL ? amp : end;
        if ((size_t)(e - q) == n && memcmp(q, kv, n) == 0)
            return 1;
        q = e + 1;
    }
    return 0;
}

static int seg_is(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

int gem_route(mock_req_t *mr, h2o_iovec_t path, void (**json)(mock_req_t *, cJSON *))
{
    h2o_req_t *req = mr->req;
    const char *rest;
    size_t rlen;
    int v1beta;
    if (path.len >= 14 && memcmp(path.base, "/v1beta/models", 14) == 0 &&
        (path.len == 14 || path.base[14] == '/')) {
        v1beta = 1;
        rest = path.base + 14;
        rlen = path.len - 14;
    } else if (path.len > 11 && memcmp(path.base, "/v1/models/", 11) == 0 &&
               memchr(path.base + 11, ':', path.len - 11) != NULL) {
        v1beta = 0;
        rest = path.base + 10;
        rlen = path.len - 10;
    } else {
        return 0;
    }
    mr->dialect = DIALECT_GEMINI;
    *json = NULL;
    int is_post = req->method.len == 4 && memcmp(req->method.base, "POST", 4) == 0;
    int is_get = req->method.len == 3 && memcmp(req->method.base, "GET", 3) == 0;

    if (rlen <= 1) { /* /v1beta/models */
        mr->api = API_MODELS;
        if (!is_get || !v1beta)
            mr_fail(mr, is_get ? 404 : 405, is_get ? NULL : "Method not allowed; use GET (mock)");
        else
            gem_models_answer(mr, 0);
        return 1;
    }
    /* "/{model}[:{method}]", percent-decoded (h2o decodes most of it already) */
    char *dec = h2o_mem_alloc_pool(&req->pool, rlen);
    size_t n = 0;
    for (size_t i = 1; i < rlen; ++i) {
        int hi, lo;
        if (rest[i] == '%' && i + 2 < rlen && (hi = hexval(rest[i + 1])) >= 0 &&
            (lo = hexval(rest[i + 2])) >= 0) {
            dec[n++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            dec[n++] = rest[i];
        }
    }
    const char *colon = NULL;
    for (size_t i = n; i-- > 0;)
        if (dec[i] == ':') {
            colon = dec + i;
            break;
        }
    size_t mlen = colon != NULL ? (size_t)(colon - dec) : n;
    mr_set_model(mr, dec, mlen);
    if (colon == NULL) {
        mr->api = API_MODELS;
        if (!is_get)
            mr_fail(mr, 405, "Method not allowed; use GET (mock)");
        else
            gem_models_answer(mr, 1);
        return 1;
    }
    const char *meth = colon + 1;
    size_t meth_len = n - mlen - 1;
    if (seg_is(meth, meth_len, "generateContent")) {
        mr->api = API_GENERATE;
        *json = gem_generate;
    } else if (seg_is(meth, meth_len, "streamGenerateContent")) {
        mr->api = API_GENERATE;
        mr->stream = 1;
        mr->gem_sse = query_has(req, "alt=sse");
        *json = gem_generate;
    } else if (seg_is(meth, meth_len, "countTokens")) {
        mr->api = API_OTHER;
        *json = gem_count_tokens;
    } else if (seg_is(meth, meth_len, "embedContent")) {
        mr->api = API_EMBEDDINGS;
        *json = gem_embed;
    } else if (seg_is(meth, meth_len, "batchEmbedContents")) {
        mr->api = API_EMBEDDINGS;
        *json = gem_batch_embed;
    } else {
        mr->api = API_OTHER;
        mr_fail(mr, 404, "Method not found. (mock)");
        return 1;
    }
    if (!is_post) {
        *json = NULL;
        mr_fail(mr, 405, "Method not allowed; use POST (mock)");
    }
    return 1;
}
