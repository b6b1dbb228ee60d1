// The official OpenAI SDK against the data plane behaves exactly as against the mock provider
// directly: chat (plain and streamed), stream usage, embeddings, models, tools, response_format.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack, OpenAI, requestId } from './lib/harness.mjs';

const s = useStack();
const MESSAGES = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'hello there gateway' },
];

/** The same SDK, pointed at the mock itself (the reference behaviour). */
const direct = () => new OpenAI({ apiKey: 'sk-direct-to-mock', baseURL: s.mock.baseURL, maxRetries: 0 });

async function collect(stream) {
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  return chunks;
}
/** Usage without the gateway's own `cost` extension (checked separately). */
const providerUsage = (u) => {
  if (u == null) return null;
  const { cost, ...rest } = u;
  void cost;
  return rest;
};
/** What a client consumes from a stream: per chunk, the choice deltas and finish reasons. */
const shape = (chunks) =>
  chunks.map((c) => ({
    object: c.object,
    choices: c.choices.map((ch) => ({ index: ch.index, delta: ch.delta, finish_reason: ch.finish_reason })),
    usage: providerUsage(c.usage),
  }));

test('non-streamed chat: content, usage and id as from the provider', async () => {
  const rid = requestId('chat');
  const { data, response } = await s
    .client()
    .chat.completions.create({ model: 'm-ok', messages: MESSAGES }, { headers: { 'x-request-id': rid } })
    .withResponse();
  const ref = await direct().chat.completions.create({ model: 'mock', messages: MESSAGES });

  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type'), /^application\/json/);
  assert.equal(data.object, 'chat.completion');
  assert.match(data.id, /^chatcmpl-/);
  assert.equal(data.choices.length, 1);
  assert.equal(data.choices[0].message.role, 'assistant');
  assert.ok(data.choices[0].message.content.length > 0, 'non-empty content');
  assert.equal(data.choices[0].message.content, ref.choices[0].message.content);
  assert.equal(data.choices[0].finish_reason, 'stop');
  assert.deepEqual(data.usage, ref.usage);
  assert.ok(data.usage.prompt_tokens > 0 && data.usage.completion_tokens > 0);
  assert.equal(data.usage.total_tokens, data.usage.prompt_tokens + data.usage.completion_tokens);

  // the upstream saw the gateway's credential and the catalog's upstream name
  const up = await s.mock.waitForRequest(rid);
  assert.equal(up.path, '/v1/chat/completions');
  assert.equal(up.headers.authorization, `Bearer ${s.upstreamKey}`, 'provider credential from MOCK_KEY');
  assert.ok(!JSON.stringify(up.headers).includes(s.keys.main.key), "the client's key never reaches the upstream");
  assert.equal(up.body.model, 'mock');
  assert.deepEqual(up.body.messages, MESSAGES);
  // the answer's id is the upstream's (the mock names it after its own request sequence)
  assert.equal(data.id, `chatcmpl-mock${up.id.replace('mock-', '')}`);
});

test('streamed chat: the SDK iterator sees every chunk the provider sent, in order', async () => {
  const params = { messages: MESSAGES, stream: true };
  const viaGw = await collect(await s.client().chat.completions.create({ model: 'm-ok', ...params }));
  const ref = await collect(await direct().chat.completions.create({ model: 'mock', ...params }));

  assert.ok(ref.length >= 3, `reference stream has chunks (${ref.length})`);
  assert.deepEqual(shape(viaGw), shape(ref));
  const text = viaGw.map((c) => c.choices[0]?.delta?.content ?? '').join('');
  const refText = ref.map((c) => c.choices[0]?.delta?.content ?? '').join('');
  assert.equal(text, refText);
  assert.ok(text.length > 0);
  assert.equal(viaGw.at(-1).choices[0].finish_reason, 'stop');
  assert.ok(viaGw.every((c) => c.object === 'chat.completion.chunk'));
  assert.equal(new Set(viaGw.map((c) => c.id)).size, 1, 'one id across the stream');
  assert.ok(viaGw.every((c) => c.usage == null), 'no usage chunk unless the client asked for it');
});

test('streamed chat with stream_options.include_usage ends with a usage chunk', async () => {
  const params = { messages: MESSAGES, stream: true, stream_options: { include_usage: true } };
  const viaGw = await collect(await s.client().chat.completions.create({ model: 'm-ok', ...params }));
  const ref = await collect(await direct().chat.completions.create({ model: 'mock', ...params }));

  assert.deepEqual(shape(viaGw), shape(ref));
  const last = viaGw.at(-1);
  assert.deepEqual(last.choices, [], 'the usage chunk has no choices');
  assert.ok(last.usage, 'usage present on the last chunk');
  assert.deepEqual(providerUsage(last.usage), ref.at(-1).usage);
  if ('cost' in last.usage) {
    // the gateway's extension: the request's cost in USD (m-ok: $1.50 / $6.00 per million)
    const expected = (last.usage.prompt_tokens * 1.5 + last.usage.completion_tokens * 6) / 1e6;
    assert.ok(Math.abs(Number(last.usage.cost) - expected) < 1e-9, `usage.cost ${last.usage.cost} = ${expected}`);
  }
  const n = viaGw.filter((c) => c.choices[0]?.delta?.content).length;
  assert.equal(last.usage.completion_tokens, n, 'one completion token per content chunk (mock)');
  assert.equal(viaGw.filter((c) => c.usage).length, 1, 'exactly one chunk carries usage');
});

// DESIGN.md stage 6: the adapter injects what metering needs (stream_options.include_usage);
// the usage chunk the client did not ask for is not relayed.
test('streamed chat: the gateway asks the upstream for usage (metering) even when the client does not', async () => {
  const rid = requestId('meter');
  const chunks = await collect(await s.client().chat.completions.create({ model: 'm-ok', messages: MESSAGES, stream: true }, { headers: { 'x-request-id': rid } }));
  assert.ok(chunks.every((c) => c.usage == null), 'the client still gets no usage chunk');
  assert.ok(chunks.every((c) => c.choices.length > 0), 'no choice-less usage chunk relayed');
  const up = await s.mock.waitForRequest(rid);
  assert.equal(up.body.stream_options?.include_usage, true, `upstream body: ${JSON.stringify(up.body)}`);
});

test('embeddings with the SDK default (base64) decode to the same vectors as from the provider', async () => {
  const rid = requestId('emb');
  const { data, response } = await s
    .client()
    .embeddings.create({ model: 'm-embed', input: ['first text', 'second text here'] }, { headers: { 'x-request-id': rid } })
    .withResponse();
  const ref = await direct().embeddings.create({ model: 'mock-embed-1', input: ['first text', 'second text here'] });

  assert.equal(response.status, 200);
  assert.equal(data.object, 'list');
  assert.equal(data.data.length, 2);
  for (const [i, d] of data.data.entries()) {
    assert.equal(d.object, 'embedding');
    assert.equal(d.index, i);
    assert.ok(Array.isArray(d.embedding) && d.embedding.length > 0, 'decoded to a number array');
    assert.ok(d.embedding.every((x) => typeof x === 'number' && Number.isFinite(x)));
    assert.deepEqual(d.embedding, ref.data[i].embedding);
  }
  assert.notDeepEqual(data.data[0].embedding, data.data[1].embedding);
  assert.deepEqual(data.usage, ref.usage);

  const up = await s.mock.waitForRequest(rid);
  assert.equal(up.path, '/v1/embeddings');
  assert.equal(up.body.encoding_format, 'base64', 'the SDK asks for base64 and the gateway forwards it');
  assert.equal(up.body.model, 'mock-embed-1');
  assert.equal(up.headers.authorization, `Bearer ${s.upstreamKey}`);

  const floats = await s.client().embeddings.create({ model: 'm-embed', input: 'first text', encoding_format: 'float' });
  assert.deepEqual(floats.data[0].embedding.length, ref.data[0].embedding.length);
  for (const [j, x] of floats.data[0].embedding.entries()) assert.ok(Math.abs(x - ref.data[0].embedding[j]) < 1e-6);
});

test('embeddings on a chat-only model, and chat on an embeddings model, are refused', async () => {
  await assert.rejects(s.client().embeddings.create({ model: 'm-ok', input: 'x' }), (e) => {
    assert.ok(e instanceof OpenAI.BadRequestError, `BadRequestError, got ${e.constructor.name} ${e.status}`);
    assert.equal(e.status, 400);
    return true;
  });
  await assert.rejects(s.client().chat.completions.create({ model: 'm-embed', messages: MESSAGES }), (e) => {
    assert.ok(e instanceof OpenAI.BadRequestError, `BadRequestError, got ${e.constructor.name} ${e.status}`);
    return true;
  });
});

test("models.list() is the gateway's catalog with provider, context_window and prices", async () => {
  const page = await s.client().models.list();
  // catalog models, then the routing forms (owned_by "switchyard"; first_user.test.mjs)
  const catalogEntries = page.data.filter((m) => m.owned_by !== 'switchyard');
  const ids = catalogEntries.map((m) => m.id).sort();
  assert.deepEqual(ids, s.config.models.map((m) => m.id).sort());
  for (const m of catalogEntries) {
    const cfg = s.config.models.find((x) => x.id === m.id);
    assert.equal(m.object, 'model');
    assert.equal(m.provider, cfg.provider, `provider of ${m.id}`);
    assert.equal(m.context_window, cfg.context_window, `context_window of ${m.id}`);
    assert.equal(typeof m.input_per_m, 'string', 'prices are decimal strings');
    assert.equal(Number(m.input_per_m), Number(cfg.input_per_m), `input_per_m of ${m.id}`);
    assert.equal(Number(m.output_per_m), Number(cfg.output_per_m), `output_per_m of ${m.id}`);
    assert.equal(typeof m.owned_by, 'string');
  }
  // auto-pagination iterates the same list
  const seen = [];
  for await (const m of s.client().models.list()) seen.push(m.id);
  assert.deepEqual(seen.sort(), page.data.map((m) => m.id).sort());

  // a scoped key sees only its models (and the routing forms, which route within its scope)
  const scoped = await s.client(s.keys.scoped.key).models.list();
  assert.deepEqual(
    scoped.data.filter((m) => m.owned_by !== 'switchyard').map((m) => m.id),
    ['m-ok'],
  );
});

test('models.retrieve(id) returns one catalog entry; unknown or out-of-scope ids are 404', async () => {
  const m = await s.client().models.retrieve('m-ok');
  assert.equal(m.id, 'm-ok');
  assert.equal(m.object, 'model');
  assert.equal(m.provider, 'mock');
  assert.equal(m.context_window, 128000);
  assert.equal(Number(m.input_per_m), 1.5);
  assert.equal(Number(m.output_per_m), 6);

  const q = await s.client().models.retrieve('backup/m-fallback');
  assert.equal(q.id, 'm-fallback', 'provider-qualified id resolves to the catalog entry');
  assert.equal(q.provider, 'backup');

  for (const [key, id] of [
    [s.keys.main.key, 'no-such-model'],
    [s.keys.scoped.key, 'm-secret'],
  ]) {
    await assert.rejects(s.client(key).models.retrieve(id), (e) => {
      assert.ok(e instanceof OpenAI.NotFoundError, `NotFoundError for ${id}, got ${e.constructor.name}`);
      assert.equal(e.status, 404);
      assert.equal(e.code, 'model_not_found');
      return true;
    });
  }
});

test('tools: the tool call comes back parsed; tools/tool_choice reach the upstream, model rewritten, models removed', async () => {
  const rid = requestId('tools');
  const tools = [
    {
      type: 'function',
      function: {
        name: 'get_weather',
        description: 'Weather for a city',
        strict: true,
        parameters: { type: 'object', properties: { arg: { type: 'string' } }, required: ['arg'], additionalProperties: false },
      },
    },
  ];
  const toolChoice = { type: 'function', function: { name: 'get_weather' } };
  const c = await s.client().chat.completions.parse(
    { model: 'm-ok', models: ['m-ok2'], messages: MESSAGES, tools, tool_choice: toolChoice, parallel_tool_calls: false },
    { headers: { 'x-request-id': rid } },
  );
  const msg = c.choices[0].message;
  assert.equal(c.choices[0].finish_reason, 'tool_calls');
  assert.equal(msg.tool_calls.length, 1);
  const call = msg.tool_calls[0];
  assert.equal(call.type, 'function');
  assert.equal(call.function.name, 'get_weather');
  assert.deepEqual(JSON.parse(call.function.arguments), { arg: 'mock' });
  assert.deepEqual(call.function.parsed_arguments, { arg: 'mock' }, 'the SDK parsed the arguments');

  const up = await s.mock.waitForRequest(rid);
  assert.equal(up.body.model, 'mock', 'model rewritten to the upstream name');
  assert.ok(!('models' in up.body), 'the gateway-only "models" field is removed');
  assert.ok(!('route' in up.body));
  assert.deepEqual(up.body.tools, tools);
  assert.deepEqual(up.body.tool_choice, toolChoice);
  assert.equal(up.body.parallel_tool_calls, false);
});

test('streamed tool call: the SDK assembles the arguments from the deltas', async () => {
  const tools = [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: { arg: { type: 'string' } } } } }];
  const chunks = await collect(await s.client().chat.completions.create({ model: 'm-ok', messages: MESSAGES, tools, stream: true }));
  const ref = await collect(await direct().chat.completions.create({ model: 'mock', messages: MESSAGES, tools, stream: true }));
  assert.deepEqual(shape(chunks), shape(ref));
  const args = chunks.flatMap((c) => c.choices[0]?.delta?.tool_calls ?? []).map((t) => t.function?.arguments ?? '').join('');
  assert.deepEqual(JSON.parse(args), { arg: 'mock' });
  assert.equal(chunks.at(-1).choices[0].finish_reason, 'tool_calls');
});

test('response_format json_schema: passed through, and the SDK parses the JSON answer', async () => {
  const rid = requestId('rf');
  const response_format = {
    type: 'json_schema',
    json_schema: {
      name: 'words',
      strict: true,
      schema: {
        type: 'object',
        properties: { mock: { type: 'boolean' }, words: { type: 'array', items: { type: 'string' } } },
        required: ['mock', 'words'],
        additionalProperties: false,
      },
    },
  };
  const c = await s.client().chat.completions.parse({ model: 'm-ok', messages: MESSAGES, response_format }, { headers: { 'x-request-id': rid } });
  const parsed = c.choices[0].message.parsed;
  assert.ok(parsed, 'message.parsed is set');
  assert.equal(parsed.mock, true);
  assert.ok(Array.isArray(parsed.words) && parsed.words.length > 0);
  const up = await s.mock.waitForRequest(rid);
  assert.deepEqual(up.body.response_format, response_format);
  assert.equal(up.body.model, 'mock');

  const j = await s.client().chat.completions.create({ model: 'm-ok', messages: MESSAGES, response_format: { type: 'json_object' } });
  assert.equal(JSON.parse(j.choices[0].message.content).mock, true);
});

test('other OpenAI parameters are forwarded untouched', async () => {
  const rid = requestId('params');
  const body = {
    model: 'm-ok',
    messages: MESSAGES,
    temperature: 0.3,
    top_p: 0.9,
    max_tokens: 5,
    presence_penalty: 0.5,
    frequency_penalty: -0.5,
    seed: 42,
    stop: ['\n\n'],
    user: 'user-123',
    logit_bias: { 50256: -100 },
    metadata: { team: 'it' },
  };
  const c = await s.client().chat.completions.create(body, { headers: { 'x-request-id': rid } });
  assert.equal(c.choices[0].finish_reason, 'length', 'max_tokens reached the mock');
  assert.equal(c.usage.completion_tokens, 5);
  const up = await s.mock.waitForRequest(rid);
  for (const k of Object.keys(body)) if (k !== 'model') assert.deepEqual(up.body[k], body[k], `field ${k}`);
});
