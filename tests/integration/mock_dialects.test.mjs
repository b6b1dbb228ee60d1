// The mock provider itself, directly (no gateway): the Gemini dialect, the Anthropic details
// (max_tokens, overload, cache usage, thinking blocks) checked with the official SDK, and the
// tool-use conversation that ends (a tool result is answered with text) in all three dialects.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { startMock, makeTempDir, stopAll, sseEvents, slack } from './lib/harness.mjs';

let tmp, mock, claude;
before(async () => {
  tmp = makeTempDir('sy-mockdialects-');
  mock = await startMock({ dir: tmp.dir });
  claude = new Anthropic({ apiKey: 'sk-ant-test', baseURL: mock.url, maxRetries: 0, timeout: slack(10000) });
});
after(() => stopAll([mock], tmp));

const TEXT8 = 'mock reply alpha bravo charlie delta echo foxtrot ';
const USER = [{ role: 'user', parts: [{ text: 'hi there' }] }];

const gem = (model, method, body, { query = '', headers = {} } = {}) =>
  fetch(`${mock.url}/v1beta/models/${model}:${method}${query}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-goog-api-key': 'goog-key-1', ...headers },
    body: JSON.stringify(body),
  });

async function gemStream(model, body, query = '?alt=sse') {
  const res = await gem(model, 'streamGenerateContent', body, { query });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /text\/event-stream/);
  const events = [];
  for await (const ev of sseEvents(res.body)) {
    assert.ok(!ev.incomplete, 'no partial event');
    assert.ok(ev.raw.startsWith('data: '), 'every event is data:');
    events.push(JSON.parse(ev.data));
  }
  return events;
}

const textOf = (resp) => (resp.candidates?.[0]?.content?.parts ?? []).map((p) => p.text ?? '').join('');

// ------------------------------------------------------------------------------ Gemini

test('gemini: generateContent answers the deterministic text, usage, model and id; the request is logged', async () => {
  const res = await gem('gemini-mock', 'generateContent', { contents: USER, systemInstruction: { parts: [{ text: 'be brief' }] } });
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.candidates.length, 1);
  const c = body.candidates[0];
  assert.equal(c.content.role, 'model');
  assert.deepEqual(c.content.parts, [{ text: TEXT8 }]);
  assert.equal(c.finishReason, 'STOP');
  assert.equal(c.index, 0);
  // contents: 3 + 2 words; systemInstruction 3 + 2 words
  assert.deepEqual(body.usageMetadata, { promptTokenCount: 10, candidatesTokenCount: 8, totalTokenCount: 18 });
  assert.equal(body.modelVersion, 'gemini-mock');
  assert.match(body.responseId, /^mockresp\d+$/);

  const ev = mock.requests().find((e) => e.path === '/v1beta/models/gemini-mock:generateContent');
  assert.ok(ev, 'request logged');
  assert.equal(ev.dialect, 'gemini');
  assert.equal(ev.model, 'gemini-mock');
  assert.equal(ev.headers['x-goog-api-key'], 'goog-key-1');
  assert.deepEqual(ev.body.contents, USER);
});

test('gemini: streamGenerateContent?alt=sse: one event per unit, cumulative usage, a final finishReason, no [DONE]', async () => {
  const res = await gem('gemini-mock+chunks=3', 'streamGenerateContent', { contents: USER }, { query: '?alt=sse' });
  const raw = await res.text();
  assert.ok(raw.endsWith('}\r\n\r\n'), 'events end with CRLF CRLF like Google');
  assert.ok(!raw.includes('[DONE]'));

  const events = await gemStream('gemini-mock', { contents: USER });
  assert.equal(events.length, 9);
  assert.equal(events.map(textOf).join(''), TEXT8);
  events.slice(0, 8).forEach((e, i) => {
    assert.equal(e.candidates[0].finishReason, undefined);
    assert.equal(e.usageMetadata.candidatesTokenCount, i + 1);
  });
  const last = events[8];
  assert.equal(last.candidates[0].finishReason, 'STOP');
  assert.deepEqual(last.usageMetadata, { promptTokenCount: 5, candidatesTokenCount: 8, totalTokenCount: 13 });

  const capped = await gemStream('gemini-mock', { contents: USER, generationConfig: { maxOutputTokens: 2 } });
  assert.equal(capped.at(-1).candidates[0].finishReason, 'MAX_TOKENS');
  assert.equal(capped.map(textOf).join(''), 'mock reply ');
});

test('gemini: streamGenerateContent without alt=sse is a streamed JSON array', async () => {
  const res = await gem('gemini-mock+chunks=2', 'streamGenerateContent', { contents: USER });
  assert.equal(res.status, 200);
  const arr = JSON.parse(await res.text());
  assert.equal(arr.length, 3);
  assert.equal(arr.map(textOf).join(''), 'mock reply ');
  assert.equal(arr[2].candidates[0].finishReason, 'STOP');
});

test('gemini: JSON mode, scenario faults and no_usage apply as in the other dialects', async () => {
  const json = await (await gem('gemini-mock+chunks=3', 'generateContent', { contents: USER, generationConfig: { responseMimeType: 'application/json' } })).json();
  assert.deepEqual(JSON.parse(textOf(json)), { mock: true, words: ['mock', 'reply', 'alpha'] });

  const trunc = await gemStream('gemini-mock+truncate_after=2', { contents: USER });
  assert.equal(trunc.length, 2);
  assert.ok(trunc.every((e) => e.candidates[0].finishReason === undefined), 'no finish after a truncation');

  const nu = await (await gem('gemini-mock+no_usage=1', 'generateContent', { contents: USER })).json();
  assert.equal(nu.usageMetadata, undefined);

  const t0 = Date.now();
  const slow = await gem('gemini-mock+ttft_ms=150', 'generateContent', { contents: USER });
  assert.equal(slow.status, 200);
  assert.ok(Date.now() - t0 >= 140, 'ttft_ms delays the answer');

  const cached = await (await gem('gemini-mock+cache=40', 'generateContent', { contents: USER })).json();
  assert.deepEqual(cached.usageMetadata, { promptTokenCount: 45, candidatesTokenCount: 8, totalTokenCount: 53, cachedContentTokenCount: 40 });
});

test('gemini: errors in Google shape; scenario pairs raw or percent-encoded in the path', async () => {
  const cases = [
    ['gemini-mock+status=429+retry_after=2', 429, 'RESOURCE_EXHAUSTED'],
    ['gemini-mock%2Bstatus%3D500', 500, 'INTERNAL'],
    ['gemini-mock+status=400', 400, 'INVALID_ARGUMENT'],
    ['gemini-mock+status=401', 401, 'UNAUTHENTICATED'],
    ['gemini-mock+status=403', 403, 'PERMISSION_DENIED'],
    ['gemini-mock+status=404', 404, 'NOT_FOUND'],
    ['gemini-mock+overloaded=1', 503, 'UNAVAILABLE'],
  ];
  for (const [model, code, status] of cases) {
    const res = await gem(model, 'generateContent', { contents: USER });
    assert.equal(res.status, code, model);
    const body = await res.json();
    assert.equal(body.error.code, code, model);
    assert.equal(body.error.status, status, model);
    assert.equal(typeof body.error.message, 'string');
    if (code === 429) {
      assert.equal(res.headers.get('retry-after'), '2');
      assert.equal(body.error.details[0].retryDelay, '2s');
    }
  }
  // a streamed request that fails is a plain JSON error
  const sres = await gem('gemini-mock+status=503', 'streamGenerateContent', { contents: USER }, { query: '?alt=sse' });
  assert.equal(sres.status, 503);
  assert.equal((await sres.json()).error.status, 'UNAVAILABLE');

  const missing = await gem('gemini-mock', 'generateContent', {});
  assert.equal(missing.status, 400);
  assert.equal((await missing.json()).error.status, 'INVALID_ARGUMENT');
  const bad = await gem('gemini-mock', 'noSuchMethod', { contents: USER });
  assert.equal(bad.status, 404);
  assert.equal((await bad.json()).error.status, 'NOT_FOUND');
});

test('gemini: safety=1 ends with finishReason SAFETY', async () => {
  const body = await (await gem('gemini-mock+safety=1', 'generateContent', { contents: USER })).json();
  assert.equal(body.candidates[0].finishReason, 'SAFETY');
  assert.equal(body.candidates[0].content, undefined);
  assert.ok(body.candidates[0].safetyRatings[0].blocked);

  const events = await gemStream('gemini-mock+safety=1+chunks=2', { contents: USER });
  assert.equal(events.length, 3);
  assert.equal(events.at(-1).candidates[0].finishReason, 'SAFETY');
});

test('gemini: a tool call arrives whole, in one event; the scripted Read call', async () => {
  const tools = [{ functionDeclarations: [{ name: 'get_weather', parameters: { type: 'object' } }] }];
  const body = await (await gem('gemini-mock', 'generateContent', { contents: USER, tools })).json();
  assert.deepEqual(body.candidates[0].content.parts, [{ functionCall: { name: 'get_weather', args: { arg: 'mock' } } }]);
  assert.equal(body.usageMetadata.candidatesTokenCount, 3);

  const events = await gemStream('gemini-mock', { contents: USER, tools });
  assert.equal(events.length, 2);
  assert.deepEqual(events[0].candidates[0].content.parts[0].functionCall, { name: 'get_weather', args: { arg: 'mock' } });
  assert.equal(events[1].candidates[0].finishReason, 'STOP');

  const none = await (await gem('gemini-mock', 'generateContent', { contents: USER, tools, toolConfig: { functionCallingConfig: { mode: 'NONE' } } })).json();
  assert.equal(textOf(none), TEXT8);

  const read = await (
    await gem('gemini-mock', 'generateContent', {
      contents: [{ role: 'user', parts: [{ text: 'What does /srv/data/notes.txt say?' }] }],
      tools: [{ functionDeclarations: [{ name: 'Glob' }, { name: 'Read' }] }],
    })
  ).json();
  assert.deepEqual(read.candidates[0].content.parts[0].functionCall, { name: 'Read', args: { file_path: '/srv/data/notes.txt' } });
});

test('gemini: a functionResponse as the last turn is answered with text that carries it', async () => {
  const tools = [{ functionDeclarations: [{ name: 'get_weather' }] }];
  const contents = [
    ...USER,
    { role: 'model', parts: [{ functionCall: { name: 'get_weather', args: { arg: 'mock' } } }] },
    { role: 'user', parts: [{ functionResponse: { name: 'get_weather', response: { output: 'sunny, 22 "degrees"' } } }] },
  ];
  const body = await (await gem('gemini-mock', 'generateContent', { contents, tools })).json();
  assert.equal(textOf(body), 'mock answer: sunny, 22 "degrees"');
  assert.equal(body.candidates[0].finishReason, 'STOP');
  const events = await gemStream('gemini-mock', { contents, tools });
  assert.equal(events.map(textOf).join(''), 'mock answer: sunny, 22 "degrees"');
});

test('gemini: embedContent, batchEmbedContents, models', async () => {
  const one = await (await gem('gemini-embed-mock', 'embedContent', { content: { parts: [{ text: 'hello world' }] }, outputDimensionality: 4 })).json();
  assert.equal(one.embedding.values.length, 4);
  const norm = Math.hypot(...one.embedding.values);
  assert.ok(Math.abs(norm - 1) < 1e-5);
  const batch = await (
    await gem('gemini-embed-mock', 'batchEmbedContents', {
      requests: [
        { model: 'models/gemini-embed-mock', content: { parts: [{ text: 'hello world' }] }, outputDimensionality: 4 },
        { model: 'models/gemini-embed-mock', content: { parts: [{ text: 'other' }] } },
      ],
    })
  ).json();
  assert.equal(batch.embeddings.length, 2);
  assert.deepEqual(batch.embeddings[0].values, one.embedding.values, 'deterministic');
  assert.equal(batch.embeddings[1].values.length, 8);
  const err = await gem('gemini-embed-mock+status=429', 'embedContent', { content: { parts: [{ text: 'x' }] } });
  assert.equal(err.status, 429);

  const list = await (await fetch(`${mock.url}/v1beta/models?key=goog-key-2`)).json();
  assert.ok(list.models.some((m) => m.name === 'models/gemini-mock' && m.supportedGenerationMethods.includes('generateContent')));
  const m = await (await fetch(`${mock.url}/v1beta/models/gemini-mock`)).json();
  assert.equal(m.name, 'models/gemini-mock');
  const ev = mock.requests().find((e) => e.path === '/v1beta/models?key=goog-key-2');
  assert.equal(ev?.dialect, 'gemini');
});

// --------------------------------------------------------------------------- Anthropic

const ANT_MSG = [{ role: 'user', content: 'hi there' }];

test('anthropic: max_tokens is required; overloaded=1 is a 529; a 429 says when to retry', async () => {
  const res = await fetch(`${mock.url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ model: 'claude-mock', messages: ANT_MSG }),
  });
  assert.equal(res.status, 400);
  assert.deepEqual(await res.json(), { type: 'error', error: { type: 'invalid_request_error', message: 'max_tokens: Field required' } });

  await assert.rejects(claude.messages.create({ model: 'claude-mock+overloaded=1', max_tokens: 50, messages: ANT_MSG }), (e) => {
    assert.equal(e.status, 529);
    assert.equal(e.error?.error?.type, 'overloaded_error');
    return true;
  });
  await assert.rejects(claude.messages.create({ model: 'claude-mock+status=429', max_tokens: 50, messages: ANT_MSG }), (e) => {
    assert.equal(e.status, 429);
    assert.ok(e instanceof Anthropic.RateLimitError);
    assert.equal(e.error?.error?.type, 'rate_limit_error');
    assert.equal(e.headers.get('retry-after'), '1');
    return true;
  });
});

test('anthropic: cache=N reports cache read/creation tokens, plain and streamed', async () => {
  const msg = await claude.messages.create({ model: 'claude-mock+cache=100', max_tokens: 50, messages: ANT_MSG });
  assert.equal(msg.usage.input_tokens, 5);
  assert.equal(msg.usage.cache_read_input_tokens, 100);
  assert.equal(msg.usage.cache_creation_input_tokens, 50);
  assert.equal(msg.usage.output_tokens, 8);

  const stream = claude.messages.stream({ model: 'claude-mock+cache=100', max_tokens: 50, messages: ANT_MSG });
  const fin = await stream.finalMessage();
  assert.equal(fin.usage.cache_read_input_tokens, 100);
  assert.equal(fin.usage.cache_creation_input_tokens, 50);
  assert.equal(fin.usage.output_tokens, 8);
  assert.equal(fin.content[0].text, TEXT8);

  // the raw event sequence (the SDK does not surface ping)
  const res = await fetch(`${mock.url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'claude-mock+cache=100+chunks=1', max_tokens: 50, stream: true, messages: ANT_MSG }),
  });
  const names = [];
  for await (const ev of sseEvents(res.body)) names.push(/^event: (\S+)/.exec(ev.raw)[1]);
  assert.deepEqual(names, ['message_start', 'content_block_start', 'ping', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop']);

  const plain = await claude.messages.create({ model: 'claude-mock', max_tokens: 50, messages: ANT_MSG });
  assert.equal(plain.usage.cache_read_input_tokens, 0);
});

test('anthropic: thinking=1 puts a thinking block (thinking + signature deltas) before the text', async () => {
  const msg = await claude.messages.create({ model: 'claude-mock+thinking=1', max_tokens: 50, messages: ANT_MSG });
  assert.equal(msg.content.length, 2);
  assert.equal(msg.content[0].type, 'thinking');
  assert.ok(msg.content[0].thinking.length > 0);
  assert.ok(msg.content[0].signature.length > 0);
  assert.deepEqual(msg.content[1], { type: 'text', text: TEXT8 });

  const stream = claude.messages.stream({ model: 'claude-mock+thinking=1', max_tokens: 50, messages: ANT_MSG });
  const deltas = [];
  stream.on('streamEvent', (e) => {
    if (e.type === 'content_block_delta') deltas.push(`${e.index}:${e.delta.type}`);
    if (e.type === 'content_block_start') deltas.push(`${e.index}:start:${e.content_block.type}`);
  });
  const fin = await stream.finalMessage();
  assert.deepEqual(deltas.slice(0, 5), ['0:start:thinking', '0:thinking_delta', '0:thinking_delta', '0:signature_delta', '1:start:text']);
  assert.equal(fin.content[0].type, 'thinking');
  assert.equal(fin.content[0].thinking, msg.content[0].thinking);
  assert.equal(fin.content[0].signature, msg.content[0].signature);
  assert.equal(fin.content[1].text, TEXT8);
  assert.equal(fin.usage.output_tokens, msg.usage.output_tokens);
});

test('anthropic: the tool loop ends: a tool_result is answered with text; the scripted Read call', async () => {
  const tools = [
    { name: 'Bash', description: 'run', input_schema: { type: 'object', properties: {} } },
    { name: 'Read', description: 'read a file', input_schema: { type: 'object', properties: { file_path: { type: 'string' } } } },
  ];
  const prompt = [
    { type: 'text', text: '<system-reminder>context</system-reminder>' },
    { type: 'text', text: 'Summarise notes.txt for me.' },
  ];
  const first = await claude.messages.create({ model: 'claude-mock', max_tokens: 200, tools, messages: [{ role: 'user', content: prompt }] });
  assert.equal(first.stop_reason, 'tool_use');
  const call = first.content.find((b) => b.type === 'tool_use');
  assert.equal(call.name, 'Read');
  assert.deepEqual(call.input, { file_path: 'notes.txt' });

  const abs = await claude.messages
    .stream({ model: 'claude-mock', max_tokens: 200, tools, messages: [{ role: 'user', content: 'open /home/u/proj/notes.txt' }] })
    .finalMessage();
  assert.deepEqual(abs.content[0].input, { file_path: '/home/u/proj/notes.txt' });

  const other = await claude.messages.create({ model: 'claude-mock', max_tokens: 200, tools, messages: [{ role: 'user', content: 'no file here' }] });
  assert.equal(other.content[0].name, 'Bash');
  assert.deepEqual(other.content[0].input, { arg: 'mock' });

  const messages = [
    { role: 'user', content: prompt },
    { role: 'assistant', content: first.content },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: call.id, content: 'the notes say: buy milk' }] },
  ];
  const second = await claude.messages.create({ model: 'claude-mock', max_tokens: 200, tools, messages });
  assert.equal(second.stop_reason, 'end_turn');
  assert.equal(second.content[0].type, 'text');
  assert.equal(second.content[0].text, 'mock answer: the notes say: buy milk');
  const streamed = await claude.messages.stream({ model: 'claude-mock', max_tokens: 200, tools, messages }).finalMessage();
  assert.equal(streamed.content[0].text, second.content[0].text);
});

// ------------------------------------------------------------------------------ OpenAI

test('openai: a role tool message as the last turn is answered with text that carries the result', async () => {
  const tools = [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object' } } }];
  const messages = [
    { role: 'user', content: 'look it up' },
    { role: 'assistant', content: null, tool_calls: [{ id: 'call_mock1', type: 'function', function: { name: 'lookup', arguments: '{"arg":"mock"}' } }] },
    { role: 'tool', tool_call_id: 'call_mock1', content: 'result: ' + 'x'.repeat(300) },
  ];
  const post = (body) =>
    fetch(`${mock.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const res = await (await post({ model: 'gpt-mock', messages, tools })).json();
  const choice = res.choices[0];
  assert.equal(choice.finish_reason, 'stop');
  assert.equal(choice.message.tool_calls, undefined);
  assert.equal(choice.message.content, 'mock answer: result: ' + 'x'.repeat(192), 'the first 200 bytes of the result');

  // before the tool result, the same request is still a tool call
  const call = await (await post({ model: 'gpt-mock', messages: messages.slice(0, 1), tools })).json();
  assert.equal(call.choices[0].finish_reason, 'tool_calls');

  const sres = await post({ model: 'gpt-mock', messages, tools, stream: true });
  let text = '';
  for await (const ev of sseEvents(sres.body)) {
    if (ev.data === '[DONE]') break;
    text += JSON.parse(ev.data).choices[0]?.delta?.content ?? '';
  }
  assert.equal(text, choice.message.content);

  const safety = await (await post({ model: 'gpt-mock+safety=1', messages: messages.slice(0, 1) })).json();
  assert.equal(safety.choices[0].finish_reason, 'content_filter');
});
