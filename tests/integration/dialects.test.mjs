// The provider seam (issue 12, first part): an OpenAI client routed to a provider of kind
// "anthropic" (the Messages API, spoken by the mock) gets the same answers, tool calls, finish
// reasons and usage as from an OpenAI-dialect provider; errors arrive in the client's shape;
// failover crosses dialects both ways; the upstream gets Anthropic's request shape and headers.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { useStack, requestId, OpenAI } from './lib/harness.mjs';

const TEXT = 'mock reply alpha bravo charlie delta echo foxtrot ';
const s = useStack({
  mutateConfig: (c) => {
    c.providers.push({ id: 'anth', kind: 'anthropic', base_url: `http://127.0.0.1:${s.mock.port}/v1`, api_key_env: 'MOCK_KEY' });
    const claude = (id, upstream) => ({ id, provider: 'anth', upstream, input_per_m: '3.00', output_per_m: '15.00', context_window: 200000, capabilities: ['chat', 'tools', 'vision'] });
    c.models.push(claude('c-ok', 'claude-mock'), claude('c-529', 'claude-mock+overloaded=1'), claude('c-400', 'claude-mock+status=400'), claude('c-cache', 'claude-mock+cache=100'));
  },
});

const MESSAGES = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Say hello.' },
];
const TOOLS = [{ type: 'function', function: { name: 'lookup', description: 'find a thing', parameters: { type: 'object', properties: { q: { type: 'string' } } } } }];

async function upstreamOf(rid) {
  return s.mock.waitForRequest(rid);
}

for (const model of ['m-ok', 'c-ok']) {
  test(`${model}: a plain answer — content, finish, usage and the exact cost`, async () => {
    const rid = requestId('plain');
    const { data, response } = await s.client().chat.completions.create({ model, messages: MESSAGES }, { headers: { 'x-request-id': rid } }).withResponse();
    assert.equal(data.object, 'chat.completion');
    assert.equal(data.choices[0].message.role, 'assistant');
    assert.equal(data.choices[0].message.content, TEXT);
    assert.equal(data.choices[0].finish_reason, 'stop');
    assert.equal(data.usage.completion_tokens, 8);
    assert.ok(data.usage.prompt_tokens > 0);
    assert.equal(data.routing.selected, model);
    const [inP, outP] = model === 'c-ok' ? [3, 15] : [1.5, 6];
    const cost = Number(response.headers.get('x-switchyard-cost'));
    assert.ok(Math.abs(cost - (data.usage.prompt_tokens * inP + data.usage.completion_tokens * outP) / 1e6) < 1e-9, `cost ${cost}`);
    const up = await upstreamOf(rid);
    if (model === 'c-ok') {
      // Anthropic's shape: system lifted, max_tokens present, x-api-key and anthropic-version
      assert.equal(up.dialect ?? 'anthropic', 'anthropic');
      assert.equal(up.body.system, 'You are terse.');
      assert.deepEqual(up.body.messages, [{ role: 'user', content: [{ type: 'text', text: 'Say hello.' }] }]);
      assert.equal(typeof up.body.max_tokens, 'number');
      assert.equal(up.headers['x-api-key'], s.upstreamKey);
      assert.equal(up.headers['anthropic-version'], '2023-06-01');
      assert.equal(up.headers.authorization, undefined, 'no OpenAI-style credential to an Anthropic provider');
    }
  });

  test(`${model}: a stream — every word in order, the finish, and usage when asked`, async () => {
    const stream = await s.client().chat.completions.create({ model, messages: MESSAGES, stream: true, stream_options: { include_usage: true } });
    let text = '';
    let finish = null;
    let usage = null;
    for await (const chunk of stream) {
      const c = chunk.choices[0];
      if (c?.delta?.content) text += c.delta.content;
      if (c?.finish_reason) finish = c.finish_reason;
      if (chunk.usage) usage = chunk.usage;
    }
    assert.equal(text, TEXT);
    assert.equal(finish, 'stop');
    assert.ok(usage && usage.completion_tokens === 8 && usage.prompt_tokens > 0, JSON.stringify(usage));
    assert.equal(typeof usage.cost, 'number');
  });

  test(`${model}: tool calls, plain and streamed, and the tool result ends the conversation`, async () => {
    const plain = await s.client().chat.completions.create({ model, messages: MESSAGES, tools: TOOLS });
    const call = plain.choices[0].message.tool_calls?.[0];
    assert.equal(plain.choices[0].finish_reason, 'tool_calls');
    assert.equal(call.type, 'function');
    assert.equal(call.function.name, 'lookup');
    assert.deepEqual(JSON.parse(call.function.arguments), { arg: 'mock' });

    const stream = await s.client().chat.completions.create({ model, messages: MESSAGES, tools: TOOLS, stream: true });
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
    const rid = requestId('toolres');
    const answer = await s.client().chat.completions.create(
      {
        model,
        tools: TOOLS,
        messages: [...MESSAGES, { role: 'assistant', content: null, tool_calls: [{ id: calls[0].id, type: 'function', function: { name: 'lookup', arguments: calls[0].args } }] }, { role: 'tool', tool_call_id: calls[0].id, content: 'the thing is blue' }],
      },
      { headers: { 'x-request-id': rid } },
    );
    assert.equal(answer.choices[0].finish_reason, 'stop');
    assert.match(answer.choices[0].message.content, /mock answer: the thing is blue/);
    if (model === 'c-ok') {
      const up = await upstreamOf(rid);
      const [u, a, t] = up.body.messages;
      assert.equal(u.role, 'user');
      assert.equal(a.role, 'assistant');
      assert.deepEqual(a.content.find((b) => b.type === 'tool_use'), { type: 'tool_use', id: calls[0].id, name: 'lookup', input: { arg: 'mock' } });
      assert.equal(t.role, 'user');
      assert.deepEqual(t.content, [{ type: 'tool_result', tool_use_id: calls[0].id, content: 'the thing is blue' }]);
      assert.deepEqual(up.body.tools, [{ name: 'lookup', description: 'find a thing', input_schema: TOOLS[0].function.parameters }]);
    }
  });
}

test('errors from an Anthropic provider arrive in the OpenAI shape: 529 overloaded fails over or ends in 502, 400 passes through', async () => {
  const e = await s.client().chat.completions.create({ model: 'c-529', messages: MESSAGES }).catch((x) => x);
  assert.ok(e instanceof OpenAI.APIError, String(e));
  assert.equal(e.status, 502);
  assert.equal(e.code, 'upstream_error');
  const bad = await s.client().chat.completions.create({ model: 'c-400', messages: MESSAGES }).catch((x) => x);
  assert.equal(bad.status, 400);
  assert.match(bad.message, /upstream rejected the request/);
});

test('failover crosses dialects both ways, before the first byte', async () => {
  const a = await s.client().chat.completions.create({ model: 'c-529', models: ['m-ok'], messages: MESSAGES });
  assert.equal(a.routing.selected, 'm-ok');
  assert.equal(a.choices[0].message.content, TEXT);
  const b = await s.client().chat.completions.create({ model: 'm-500', models: ['c-ok'], messages: MESSAGES, stream: true });
  let text = '';
  for await (const chunk of b) text += chunk.choices[0]?.delta?.content ?? '';
  assert.equal(text, TEXT);
});

test('cache tokens from Anthropic count in the prompt and show as cached_tokens', async () => {
  const r = await s.client().chat.completions.create({ model: 'c-cache', messages: MESSAGES });
  assert.equal(r.usage.prompt_tokens_details?.cached_tokens, 100);
  assert.ok(r.usage.prompt_tokens >= 150, `prompt ${r.usage.prompt_tokens} includes 100 read + 50 written`);
});
