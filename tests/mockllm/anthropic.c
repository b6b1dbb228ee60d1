/* Anthropic Messages wire format: POST /v1/messages, plain and streamed (named SSE events),
 * tool use, errors. */
#include <string.h>

#include "mockllm.h"

#define GET(o, k) cJSON_GetObjectItemCaseSensitive((o), (k))

void ant_error_body(sbuf_t *sb, int status, const char *message)
{
    const char *type, *dflt;
    switch (status) {
    case 400:
        type = "invalid_request_error", dflt = "Invalid request (mock).";
        break;
    case 401:
        type = "authentication_error", dflt = "invalid x-api-key (mock)";
        break;
    case 402:
        type = "billing_error", dflt = "Your credit balance is too low (mock).";
        break;
    case 403:
        type = "permission_error",
        dflt = "Your API key does not have permission to use the specified resource (mock).";
        break;
    case 404:
        type = "not_found_error", dflt = "The requested resource could not be found (mock).";
        break;
    case 413:
        type = "request_too_large", dflt = "Request exceeds the maximum allowed number of bytes (mock).";
        break;
    case 429:
        type = "rate_limit_error", dflt = "Number of requests has exceeded your rate limit (mock).";
        break;
    case 503:
    case 529:
        type = "overloaded_error", dflt = "Overloaded (mock)";
        break;
    case 504:
        type = "timeout_error", dflt = "Request timed out (mock).";
        break;
    default:
        if (status >= 500)
            type = "api_error", dflt = "Internal server error (mock).";
        else
            type = "invalid_request_error", dflt = "Invalid request (mock).";
        break;
    }
    if (message == NULL)
        message = dflt;
    sb_lit(sb, "{\"type\":\"error\",\"error\":{\"type\":\"");
    sb_add(sb, type, strlen(type));
    sb_lit(sb, "\",\"message\":");
    sb_json_str(sb, message, strlen(message));
    sb_lit(sb, "}}");
}

static const char *stop_reason(mock_req_t *mr)
{
    return mr->safety          ? "refusal"
           : mr->ck == CK_TOOL ? "tool_use"
           : mr->finish_length ? "max_tokens"
                               : "end_turn";
}

/* thinking=1: a thinking block (two thinking deltas and a signature) before the answer */
#define THINK1 "Let me think about this. "
#define THINK2 "The mock knows the answer."
#define THINK_SIG "EqMBCkgIARABGAIiQG1vY2stc2lnbmF0dXJlLW1vY2stc2lnbmF0dXJlLW1vY2s="
#define THINK_TOKENS 10 /* words of THINK1 THINK2 */

/* "input_tokens":N,"cache_creation_input_tokens":N,"cache_read_input_tokens":N */
static void usage_input(mock_req_t *mr, sbuf_t *b)
{
    sb_lit(b, "\"input_tokens\":");
    sb_u64(b, mr->prompt_tokens);
    sb_printf(b, ",\"cache_creation_input_tokens\":%ld,\"cache_read_input_tokens\":%ld", mr->cache_create,
              mr->cache_read);
}

static void msg_body(mock_req_t *mr)
{
    sbuf_t *b = &mr->body;
    sb_reserve(b, 600 + 2 * mr->model.len + 2 * mr->tool_name.len + 2 * mr->tool_arg_value.len +
                      2 * mr->answer.len);
    sb_lit(b, "{\"id\":\"msg_mock");
    sb_u64(b, mr->seq);
    sb_lit(b, "\",\"type\":\"message\",\"role\":\"assistant\",\"model\":");
    sb_json_str(b, mr->model.base, mr->model.len);
    sb_reserve(b, (size_t)mr->n_units * (16 + mr->pad_per_unit) + mr->pad_last + 256);
    sb_lit(b, ",\"content\":[");
    if (mr->thinking)
        sb_lit(b,
               "{\"type\":\"thinking\",\"thinking\":\"" THINK1 THINK2 "\",\"signature\":\"" THINK_SIG "\"},");
    if (mr->ck == CK_TOOL) {
        sb_lit(b, "{\"type\":\"tool_use\",\"id\":\"toolu_mock1\",\"name\":");
        sb_json_str(b, mr->tool_name.base, mr->tool_name.len);
        sb_lit(b, ",\"input\":");
        content_all(mr, b, 0); /* raw JSON object */
        sb_lit(b, "}]");
    } else {
        sb_lit(b, "{\"type\":\"text\",\"text\":\"");
        content_all(mr, b, 1);
        sb_lit(b, "\"}]");
    }
    sb_lit(b, ",\"stop_reason\":\"");
    const char *sr = stop_reason(mr);
    sb_add(b, sr, strlen(sr));
    sb_lit(b, "\",\"stop_sequence\":null");
    if (!mr->no_usage) {
        sb_lit(b, ",\"usage\":{");
        usage_input(mr, b);
        sb_lit(b, ",\"output_tokens\":");
        sb_u64(b, mr->n_tokens);
        sb_addc(b, '}');
    }
    sb_addc(b, '}');
}

/* the text of the last user message, text blocks from the last one back (Claude Code puts its
 * <system-reminder> blocks before the prompt) */
static void last_user_text(const cJSON *messages, sbuf_t *out)
{
    const cJSON *m, *user = NULL;
    cJSON_ArrayForEach(m, messages)
    {
        const cJSON *r = GET(m, "role");
        if (cJSON_IsString(r) && strcmp(r->valuestring, "user") == 0)
            user = m;
    }
    const cJSON *content = GET(user, "content");
    if (cJSON_IsString(content)) {
        text_of_content(content, out, 8192);
        return;
    }
    for (int i = cJSON_GetArraySize(content) - 1; i >= 0; --i) {
        const cJSON *blk = cJSON_GetArrayItem(content, i);
        const cJSON *type = GET(blk, "type");
        if (cJSON_IsString(type) && strcmp(type->valuestring, "text") == 0) {
            text_of_content(GET(blk, "text"), out, 8192);
            sb_addc(out, '\n');
        }
    }
}

/* the first tool_result block of a message, or NULL */
static const cJSON *tool_result_of(const cJSON *msg)
{
    const cJSON *blk;
    cJSON_ArrayForEach(blk, GET(msg, "content"))
    {
        const cJSON *type = GET(blk, "type");
        if (cJSON_IsString(type) && strcmp(type->valuestring, "tool_result") == 0)
            return blk;
    }
    return NULL;
}

void ant_messages(mock_req_t *mr, cJSON *body)
{
    const cJSON *model = GET(body, "model");
    if (!cJSON_IsString(model)) {
        mr_fail(mr, 400, "model: Field required");
        return;
    }
    mr_set_model(mr, model->valuestring, strlen(model->valuestring));
    const cJSON *messages = GET(body, "messages");
    if (!cJSON_IsArray(messages)) {
        mr_fail(mr, 400, "messages: Field required");
        return;
    }
    const cJSON *mt = GET(body, "max_tokens");
    if (!cJSON_IsNumber(mt)) {
        mr_fail(mr, 400, "max_tokens: Field required");
        return;
    }
    if (mr_scenario_error(mr))
        return;

    mr->stream = cJSON_IsTrue(GET(body, "stream"));
    mr->no_usage = sc_get(&mr->sc, SC_NO_USAGE, 0) != 0;
    mr->malformed = sc_get(&mr->sc, SC_MALFORMED, 0) != 0;

    mr->safety = sc_get(&mr->sc, SC_SAFETY, 0) != 0;
    const cJSON *th = GET(GET(body, "thinking"), "type");
    mr->thinking = sc_get(&mr->sc, SC_THINKING, 0) != 0 ||
                   (cJSON_IsString(th) && strcmp(th->valuestring, "enabled") == 0);
    mr->cache_read = sc_get(&mr->sc, SC_CACHE, 0);
    mr->cache_create = mr->cache_read / 2;

    mr->ck = CK_TEXT;
    const cJSON *tools = GET(body, "tools"), *tool_choice = GET(body, "tool_choice");
    const cJSON *choice_type = GET(tool_choice, "type");
    int choice_none = cJSON_IsString(choice_type) && strcmp(choice_type->valuestring, "none") == 0;
    const cJSON *last = cJSON_GetArrayItem(messages, cJSON_GetArraySize(messages) - 1);
    const cJSON *last_role = GET(last, "role"), *result = NULL;
    if (cJSON_IsString(last_role) && strcmp(last_role->valuestring, "user") == 0)
        result = tool_result_of(last);
    if (result != NULL) {
        /* the conversation's last turn is a tool result: answer it with text */
        sbuf_t t;
        sb_init(&t, &mr->req->pool, 256);
        text_of_content(GET(result, "content"), &t, 256);
        content_answer(mr, t.buf, t.len);
    } else if (cJSON_IsArray(tools) && cJSON_GetArraySize(tools) > 0 && !choice_none) {
        const cJSON *name = NULL;
        if (cJSON_IsString(choice_type) && strcmp(choice_type->valuestring, "tool") == 0)
            name = GET(tool_choice, "name");
        const char *chosen = cJSON_IsString(name) ? name->valuestring : NULL;
        const char *first = NULL;
        int has_read = 0;
        const cJSON *t;
        cJSON_ArrayForEach(t, tools)
        {
            const cJSON *n = GET(t, "name");
            if (!cJSON_IsString(n))
                continue;
            if (first == NULL)
                first = n->valuestring;
            if (strcmp(n->valuestring, "Read") == 0)
                has_read = 1;
        }
        sbuf_t ut;
        sb_init(&ut, &mr->req->pool, 0);
        if (has_read)
            last_user_text(messages, &ut);
        content_plan_tool(mr, chosen, first, has_read, ut.buf, ut.len);
    }

    long max_tokens = mt->valuedouble < 0 ? 0 : mt->valuedouble > 1e9 ? 1000000000 : (long)mt->valuedouble;

    unsigned prompt = 0;
    const cJSON *system = GET(body, "system");
    if (system != NULL)
        prompt += 3 + prompt_words_of_content(system);
    const cJSON *msg;
    cJSON_ArrayForEach(msg, messages)
    {
        prompt += 3 + prompt_words_of_content(GET(msg, "content"));
    }
    mr->prompt_tokens = prompt;

    content_setup(mr, sc_get(&mr->sc, SC_CHUNKS, 8), max_tokens);
    if (mr->thinking) {
        mr->n_tokens += THINK_TOKENS;
        mr->block = 1;
    }
    mr->billed = 1;
    mr->usage_sent = !mr->no_usage;

    if (mr->stream) {
        mr->pre[mr->n_pre++] = EV_ANT_MSG_START;
        if (mr->thinking) {
            mr->pre[mr->n_pre++] = EV_ANT_THINK_START;
            mr->pre[mr->n_pre++] = EV_ANT_PING;
            mr->pre[mr->n_pre++] = EV_ANT_THINK_DELTA1;
            mr->pre[mr->n_pre++] = EV_ANT_THINK_DELTA2;
            mr->pre[mr->n_pre++] = EV_ANT_SIG_DELTA;
            mr->pre[mr->n_pre++] = EV_ANT_THINK_STOP;
            mr->pre[mr->n_pre++] = EV_ANT_BLOCK_START;
        } else {
            mr->pre[mr->n_pre++] = EV_ANT_BLOCK_START;
            mr->pre[mr->n_pre++] = EV_ANT_PING;
        }
        if (mr->malformed)
            mr->post[mr->n_post++] = EV_ANT_MALFORMED;
        mr->post[mr->n_post++] = EV_ANT_BLOCK_STOP;
        mr->post[mr->n_post++] = EV_ANT_MSG_DELTA;
        mr->post[mr->n_post++] = EV_ANT_MSG_STOP;
    } else {
        msg_body(mr);
    }
}

void ant_render_event(mock_req_t *mr, int code)
{
    sbuf_t *e = &mr->ev;
    switch (code) {
    case EV_ANT_MSG_START:
        sb_lit(e, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_mock");
        sb_u64(e, mr->seq);
        sb_lit(e, "\",\"type\":\"message\",\"role\":\"assistant\",\"model\":");
        sb_json_str(e, mr->model.base, mr->model.len);
        sb_lit(e, ",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null");
        if (!mr->no_usage) {
            sb_lit(e, ",\"usage\":{");
            usage_input(mr, e);
            sb_lit(e, ",\"output_tokens\":1}");
        }
        sb_lit(e, "}}\n\n");
        break;
    case EV_ANT_BLOCK_START:
        sb_lit(e, "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":");
        sb_u64(e, mr->block);
        sb_lit(e, ",\"content_block\":");
        if (mr->ck == CK_TOOL) {
            sb_lit(e, "{\"type\":\"tool_use\",\"id\":\"toolu_mock1\",\"name\":");
            sb_json_str(e, mr->tool_name.base, mr->tool_name.len);
            sb_lit(e, ",\"input\":{}}}\n\n");
        } else {
            sb_lit(e, "{\"type\":\"text\",\"text\":\"\"}}\n\n");
        }
        break;
    case EV_ANT_PING:
        sb_lit(e, "event: ping\ndata: {\"type\": \"ping\"}\n\n");
        break;
    case EV_ANT_CONTENT:
        sb_lit(e, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":");
        sb_u64(e, mr->block);
        sb_lit(e, ",\"delta\":");
        if (mr->ck == CK_TOOL)
            sb_lit(e, "{\"type\":\"input_json_delta\",\"partial_json\":\"");
        else
            sb_lit(e, "{\"type\":\"text_delta\",\"text\":\"");
        content_piece(mr, mr->units_sent, e, 1);
        sb_lit(e, "\"}}\n\n");
        break;
    case EV_ANT_MALFORMED:
        sb_lit(e,
               "event: content_block_delta\ndata: "
               "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_del\n\n"); /* invalid
                                                                                                       JSON */
        break;
    case EV_ANT_BLOCK_STOP:
        sb_lit(e, "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":");
        sb_u64(e, mr->block);
        sb_lit(e, "}\n\n");
        break;
    case EV_ANT_THINK_START:
        sb_lit(e, "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
                  "\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}\n\n");
        break;
    case EV_ANT_THINK_DELTA1:
    case EV_ANT_THINK_DELTA2:
        sb_lit(e, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
                  "\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"");
        if (code == EV_ANT_THINK_DELTA1)
            sb_lit(e, THINK1);
        else
            sb_lit(e, THINK2);
        sb_lit(e, "\"}}\n\n");
        break;
    case EV_ANT_SIG_DELTA:
        sb_lit(e, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
                  "\"delta\":{\"type\":\"signature_delta\",\"signature\":\"" THINK_SIG "\"}}\n\n");
        break;
    case EV_ANT_THINK_STOP:
        sb_lit(e, "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n");
        break;
    case EV_ANT_MSG_DELTA: {
        const char *sr = stop_reason(mr);
        sb_lit(e, "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"");
        sb_add(e, sr, strlen(sr));
        sb_lit(e, "\",\"stop_sequence\":null}");
        if (!mr->no_usage) { /* cumulative, like the API's */
            sb_lit(e, ",\"usage\":{");
            usage_input(mr, e);
            sb_lit(e, ",\"output_tokens\":");
            sb_u64(e, mr->n_tokens);
            sb_addc(e, '}');
        }
        sb_lit(e, "}\n\n");
        break;
    }
    case EV_ANT_MSG_STOP:
    default:
        sb_lit(e, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
        break;
    }
}
