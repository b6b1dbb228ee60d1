// The Gemini upstream dialect: an OpenAI client (the official SDK) routed to a provider of kind
// "gemini" (generateContent / streamGenerateContent / embedContent / batchEmbedContents, spoken
// by the mock) gets the same answers, tool calls, finish reasons and usage as from an
// OpenAI-dialect provider; errors arrive in the client's shape; failover crosses dialects; the
// upstream gets Gemini's URL, credential header and request shape.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { useStack, requestId, OpenAI } from './lib/harness.mjs';

const TEXT = 'mock reply alpha bravo charlie delta echo foxtrot ';
const s = useStack({
  mutateConfig: (c) => {
    c.providers.push({ id: 'gem', kind: 'gemini', base_url: `http://127.0.0.1:${s.mock.port}/v1beta`, api_key_env: 'MOCK_KEY' });
    c.providers.push({ id: 'anth', kind: 'anthropic', base_url: `http://127.0.0.1:${s.mock.port}/v1`, api_key_env: 'MOCK_KEY' });
    const gem = (id, upstream, extra = {}) => ({ id, provider: 'gem', upstream, input_per_m: '1.25', output_per_m: '10.00', context_window: 1000000, capabilities: ['chat', 'tools', 'json', 'vision'], ...extra });
    c.models.push(
      gem('g-ok', 'gemini-mock'),
      gem('g-500', 'gemini-mock+status=500'),
      gem('g-429', 'gemini-mock+status=429'),
      gem('g-400', 'gemini-mock+status=400'),
      gem('g-safety', 'gemini-mock+safety=1'),
      gem('g-cache', 'gemini-mock+cache=100'),
      gem('g-len', 'gemini-mock+chunks=20'),
      gem('g-embed', 'gemini-embed-mock', { capabilities: ['embeddings'], input_per_m: '0.15', output_per_m: '0' }),
      { id: 'c-ok', provider: 'anth', upstream: 'claude-mock', input_per_m: '3.00', output_per_m: '15.00', context_window: 200000, capabilities: ['chat', 'tools'] },
      { id: 'c-529', provider: 'anth', upstream: 'claude-mock+overloaded=1', input_per_m: '3.00', output_per_m: '15.00', context_window: 200000, capabilities: ['chat', 'tools'] },
    );
  },
});

const MESSAGES = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Say hello.' },
];
// the mock's prompt formula: every content 3 + its words, systemInstruction one more content
const PROMPT_TOKENS = 3 + 3 + (3 + 2);
const TOOLS = [{ type: 'function', function: { name: 'lookup', description: 'find a thing', parameters: { type: 'object', properties: { q: { type: 'string' } } } } }];

function costOf(usage) {
  return (usage.prompt_tokens * 1.25 + usage.completion_tokens * 10) / 1e6;
}

async function billedOf(up) {
  return s.mock.waitForEvent((e) => e.event === 'billed' && e.id === up.id, { what: `billed ${up.id}` });
}

test('a plain answer: content, finish, usage equal to the mock\'s counts, the exact cost, and Gemini\'s request shape', async () => {
  const rid = requestId('gplain');
  const { data, response } = await s
    .client()
    .chat.completions.create({ model: 'g-ok', messages: MESSAGES, max_tokens: 50, temperature: 0.5, top_p: 0.9, stop: ['END'] }, { headers: { 'x-request-id': rid } })
    .withResponse();
  assert.equal(data.object, 'chat.completion');
  assert.equal(data.choices[0].message.role, 'assistant');
  assert.equal(data.choices[0].message.content, TEXT);
  assert.equal(data.choices[0].finish_reason, 'stop');
  assert.equal(data.routing.selected, 'g-ok');
  const up = await s.mock.waitForRequest(rid);
  const billed = await billedOf(up);
  assert.equal(data.usage.prompt_tokens, PROMPT_TOKENS);
  assert.equal(data.usage.prompt_tokens, billed.prompt_tokens);
  assert.equal(data.usage.completion_tokens, billed.completion_tokens);
  assert.equal(data.usage.completion_tokens, 8);
  assert.equal(data.usage.total_tokens, PROMPT_TOKENS + 8);
  assert.equal(response.headers.get('x-switchyard-cost'), '0.000093750'); // 11 × 1.25 + 8 × 10 µ$, in nano-dollar decimals
  assert.ok(Math.abs(Number(response.headers.get('x-switchyard-cost')) - costOf(data.usage)) < 1e-12);
  // what the mock received
  assert.equal(up.dialect, 'gemini');
  assert.equal(up.method, 'POST');
  assert.equal(up.path, '/v1beta/models/gemini-mock:generateContent');
  assert.equal(up.headers['x-goog-api-key'], s.upstreamKey);
  assert.equal(up.headers.authorization, undefined, 'no OpenAI-style credential to a Gemini provider');
  assert.deepEqual(up.body.systemInstruction, { parts: [{ text: 'You are terse.' }] });
  assert.deepEqual(up.body.contents, [{ role: 'user', parts: [{ text: 'Say hello.' }] }]);
  assert.deepEqual(up.body.generationConfig, { maxOutputTokens: 50, temperature: 0.5, topP: 0.9, stopSequences: ['END'] });
  assert.equal(up.body.model, undefined);
  assert.equal(up.body.messages, undefined);
});

test('a stream: every word in order, the finish, usage and its cost; the URL asks for SSE', async () => {
  const rid = requestId('gstream');
  const stream = await s
    .client()
    .chat.completions.create({ model: 'g-ok', messages: MESSAGES, stream: true, stream_options: { include_usage: true } }, { headers: { 'x-request-id': rid } });
  let text = '';
  let finish = null;
  let usage = null;
  let chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    const c = chunk.choices[0];
    if (c?.delta?.content) text += c.delta.content;
    if (c?.finish_reason) finish = c.finish_reason;
    if (chunk.usage) usage = chunk.usage;
  }
  assert.equal(text, TEXT);
  assert.equal(finish, 'stop');
  assert.ok(chunks >= 8, `${chunks} chunks`);
  assert.equal(usage.prompt_tokens, PROMPT_TOKENS);
  assert.equal(usage.completion_tokens, 8);
  assert.ok(Math.abs(usage.cost - costOf(usage)) < 1e-12, `cost ${usage.cost}`);
  const up = await s.mock.waitForRequest(rid);
  assert.equal(up.path, '/v1beta/models/gemini-mock:streamGenerateContent?alt=sse');
  assert.equal(up.headers['x-goog-api-key'], s.upstreamKey);
  assert.equal(up.headers.authorization, undefined);
  const billed = await billedOf(up);
  assert.equal(usage.prompt_tokens, billed.prompt_tokens);
  assert.equal(usage.completion_tokens, billed.completion_tokens);
});

test('a stream without include_usage has no usage chunk, and ends with [DONE] though Gemini sends none', async () => {
  const res = await fetch(`${s.dp.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${s.keys.main.key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'g-ok', messages: MESSAGES, stream: true }),
  });
  assert.equal(res.status, 200);
  const body = await res.text();
  assert.ok(body.trimEnd().endsWith('data: [DONE]'), body.slice(-200));
  assert.ok(!body.includes('"usage"'), 'no usage the client did not ask for');
  assert.ok(!body.includes('"error"'), body.slice(-300));
});

test('max_tokens cuts the answer: finish length', async () => {
  const r = await s.client().chat.completions.create({ model: 'g-len', messages: MESSAGES, max_tokens: 3 });
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.equal(r.usage.completion_tokens, 3);
  assert.equal(r.choices[0].message.content, 'mock reply alpha ');
});

test('JSON mode asks Gemini for application/json', async () => {
  const rid = requestId('gjson');
  const r = await s.client().chat.completions.create({ model: 'g-ok', messages: MESSAGES, response_format: { type: 'json_object' } }, { headers: { 'x-request-id': rid } });
  assert.equal(JSON.parse(r.choices[0].message.content).mock, true);
  const up = await s.mock.waitForRequest(rid);
  assert.equal(up.body.generationConfig.responseMimeType, 'application/json');
});

test('tool calls, plain and streamed, and the tool result ends the conversation', async () => {
  const rid1 = requestId('gtool');
  const plain = await s.client().chat.completions.create({ model: 'g-ok', messages: MESSAGES, tools: TOOLS, tool_choice: 'auto' }, { headers: { 'x-request-id': rid1 } });
  const call = plain.choices[0].message.tool_calls?.[0];
  assert.equal(plain.choices[0].finish_reason, 'tool_calls');
  assert.equal(plain.choices[0].message.tool_calls.length, 1);
  assert.equal(call.type, 'function');
  assert.equal(call.function.name, 'lookup');
  assert.ok(call.id.length > 0);
  assert.deepEqual(JSON.parse(call.function.arguments), { arg: 'mock' });
  assert.equal(plain.usage.completion_tokens, 3);
  const up1 = await s.mock.waitForRequest(rid1);
  assert.deepEqual(up1.body.tools, [{ functionDeclarations: [{ name: 'lookup', description: 'find a thing', parameters: TOOLS[0].function.parameters }] }]);
  assert.deepEqual(up1.body.toolConfig, { functionCallingConfig: { mode: 'AUTO' } });

  const stream = await s.client().chat.completions.create({ model: 'g-ok', messages: MESSAGES, tools: TOOLS, stream: true, tool_choice: { type: 'function', function: { name: 'lookup' } } });
  const calls = [];
  let finish = null;
  for await (const chunk of stream) {
    const c = chunk.choices[0];
    for (const tc of c?.delta?.tool_calls ?? []) {
      calls[tc.index] ??= { id: '', name: '', args: '' };
      if (tc.id) calls[tc.index].id = tc.id;
      if (tc.function?.name) calls[tc.index].name = tc.function.name;
      if (tc.function?.arguments) calls[tc.index].args += tc.function.arguments;
    }
    if (c?.finish_reason) finish = c.finish_reason;
  }
  assert.equal(finish, 'tool_calls');
  assert.equal(calls.length, 1);
  assert.equal(calls[0].name, 'lookup');
  assert.ok(calls[0].id.length > 0);
  assert.deepEqual(JSON.parse(calls[0].args), { arg: 'mock' });

  // the second turn: assistant tool call + tool result → the model answers in text
  const rid = requestId('gtoolres');
  const answer = await s.client().chat.completions.create(
    {
      model: 'g-ok',
      tools: TOOLS,
      tool_choice: { type: 'function', function: { name: 'lookup' } },
      messages: [...MESSAGES, { role: 'assistant', content: null, tool_calls: [{ id: calls[0].id, type: 'function', function: { name: 'lookup', arguments: calls[0].args } }] }, { role: 'tool', tool_call_id: calls[0].id, content: 'the thing is blue' }],
    },
    { headers: { 'x-request-id': rid } },
  );
  assert.equal(answer.choices[0].finish_reason, 'stop');
  assert.equal(answer.choices[0].message.content, 'mock answer: the thing is blue');
  const up = await s.mock.waitForRequest(rid);
  assert.deepEqual(up.body.contents, [
    { role: 'user', parts: [{ text: 'Say hello.' }] },
    { role: 'model', parts: [{ functionCall: { name: 'lookup', args: { arg: 'mock' } } }] },
    { role: 'user', parts: [{ functionResponse: { name: 'lookup', response: { content: 'the thing is blue' } } }] },
  ]);
  assert.deepEqual(up.body.toolConfig, { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['lookup'] } });
});

test('safety: a blocked answer is finish content_filter, plain (no content) and streamed', async () => {
  const plain = await s.client().chat.completions.create({ model: 'g-safety', messages: MESSAGES });
  assert.equal(plain.choices[0].finish_reason, 'content_filter');
  assert.equal(plain.choices[0].message.content, null);
  assert.equal(plain.usage.completion_tokens, 0);
  const stream = await s.client().chat.completions.create({ model: 'g-safety', messages: MESSAGES, stream: true });
  let finish = null;
  for await (const chunk of stream) if (chunk.choices[0]?.finish_reason) finish = chunk.choices[0].finish_reason;
  assert.equal(finish, 'content_filter');
});

test('cache tokens from Gemini show as cached_tokens, inside the prompt count', async () => {
  const r = await s.client().chat.completions.create({ model: 'g-cache', messages: MESSAGES });
  assert.equal(r.usage.prompt_tokens_details?.cached_tokens, 100);
  assert.ok(r.usage.prompt_tokens >= 100, `prompt ${r.usage.prompt_tokens} includes the 100 cached`);
});

test('errors from a Gemini provider arrive in the OpenAI shape: 500 and 429 end in an error, 400 passes through', async () => {
  const e = await s.client(undefined, { maxRetries: 0 }).chat.completions.create({ model: 'g-500', messages: MESSAGES }).catch((x) => x);
  assert.ok(e instanceof OpenAI.APIError, String(e));
  assert.equal(e.status, 502);
  assert.equal(e.code, 'upstream_error');
  const rl = await s.client(undefined, { maxRetries: 0 }).chat.completions.create({ model: 'g-429', messages: MESSAGES }).catch((x) => x);
  assert.equal(rl.status, 429);
  const bad = await s.client().chat.completions.create({ model: 'g-400', messages: MESSAGES }).catch((x) => x);
  assert.equal(bad.status, 400);
  assert.match(bad.message, /upstream rejected the request: .*INVALID_ARGUMENT/);
});

test('failover crosses dialects: Gemini 500/429 → OpenAI and Anthropic; OpenAI and Anthropic failures → Gemini', async () => {
  const a = await s.client().chat.completions.create({ model: 'g-500', models: ['m-ok'], messages: MESSAGES });
  assert.equal(a.routing.selected, 'm-ok');
  assert.equal(a.choices[0].message.content, TEXT);
  const b = await s.client().chat.completions.create({ model: 'g-429', models: ['c-ok'], messages: MESSAGES });
  assert.equal(b.routing.selected, 'c-ok');
  assert.equal(b.choices[0].message.content, TEXT);
  const c = await s.client().chat.completions.create({ model: 'm-500', models: ['g-ok'], messages: MESSAGES, stream: true });
  let text = '';
  for await (const chunk of c) text += chunk.choices[0]?.delta?.content ?? '';
  assert.equal(text, TEXT);
  const d = await s.client().chat.completions.create({ model: 'c-529', models: ['g-ok'], messages: MESSAGES });
  assert.equal(d.routing.selected, 'g-ok');
  assert.equal(d.choices[0].message.content, TEXT);
  const e = await s.client().chat.completions.create({ model: 'g-500', models: ['c-ok'], messages: MESSAGES, stream: true });
  text = '';
  for await (const chunk of e) text += chunk.choices[0]?.delta?.content ?? '';
  assert.equal(text, TEXT);
});

async function mockEmbed(method, body) {
  const r = await fetch(`${s.mock.url}/v1beta/models/gemini-embed-mock:${method}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  assert.equal(r.status, 200);
  return r.json();
}

test('embeddings: one input (embedContent) as floats, equal to what the mock returns', async () => {
  const rid = requestId('gemb');
  const r = await s.client().embeddings.create({ model: 'g-embed', input: 'hello embedding world', encoding_format: 'float' }, { headers: { 'x-request-id': rid } });
  const want = await mockEmbed('embedContent', { content: { parts: [{ text: 'hello embedding world' }] } });
  assert.equal(r.object, 'list');
  assert.equal(r.data.length, 1);
  assert.equal(r.data[0].object, 'embedding');
  assert.equal(r.data[0].index, 0);
  assert.deepEqual(r.data[0].embedding, want.embedding.values);
  const up = await s.mock.waitForRequest(rid);
  assert.equal(up.path, '/v1beta/models/gemini-embed-mock:embedContent');
  assert.equal(up.headers['x-goog-api-key'], s.upstreamKey);
  assert.deepEqual(up.body, { content: { parts: [{ text: 'hello embedding world' }] } });
});

test('embeddings: an array (batchEmbedContents), the SDK default base64 and dimensions', async () => {
  const rid = requestId('gembb');
  const inputs = ['first text', 'second text here'];
  const r = await s.client().embeddings.create({ model: 'g-embed', input: inputs, dimensions: 16 }, { headers: { 'x-request-id': rid } });
  const want = await mockEmbed('batchEmbedContents', { requests: inputs.map((t) => ({ model: 'models/gemini-embed-mock', content: { parts: [{ text: t }] }, outputDimensionality: 16 })) });
  assert.equal(r.data.length, 2);
  for (let i = 0; i < 2; i++) {
    assert.equal(r.data[i].index, i);
    assert.equal(r.data[i].embedding.length, 16);
    assert.deepEqual(r.data[i].embedding, want.embeddings[i].values.map(Math.fround), `vector ${i}: float32 of the mock's values`);
  }
  const up = await s.mock.waitForRequest(rid);
  assert.equal(up.path, '/v1beta/models/gemini-embed-mock:batchEmbedContents');
  assert.deepEqual(up.body.requests[1], { model: 'models/gemini-embed-mock', content: { parts: [{ text: 'second text here' }] }, outputDimensionality: 16 });
  // the raw wire: base64 little-endian float32
  const raw = await fetch(`${s.dp.url}/v1/embeddings`, {
    method: 'POST',
    headers: { authorization: `Bearer ${s.keys.main.key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'g-embed', input: inputs, dimensions: 16, encoding_format: 'base64' }),
  }).then((x) => x.json());
  const buf = Buffer.from(raw.data[1].embedding, 'base64');
  assert.equal(buf.length, 64);
  assert.equal(buf.readFloatLE(4), Math.fround(want.embeddings[1].values[1]));
});
