// Anthropic clients on /v1/messages (issue 12, point 3): the official @anthropic-ai/sdk against
// the gateway, routed to an OpenAI-dialect provider and to an Anthropic-dialect one, plain and
// streamed, text and tool use; errors in Anthropic's shape with the table's statuses; failover
// across dialects; count_tokens; an Anthropic provider gets the client's own bytes (thinking,
// betas) with only the model replaced; usage records carry the upstream's counts.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import Anthropic from '@anthropic-ai/sdk';
import { useStack, requestId, slack } from './lib/harness.mjs';

const TEXT = 'mock reply alpha bravo charlie delta echo foxtrot ';
const s = useStack({
  mutateConfig: (c) => {
    c.providers.push({ id: 'anth', kind: 'anthropic', base_url: `http://127.0.0.1:${s.mock.port}/v1`, api_key_env: 'MOCK_KEY' });
    const claude = (id, upstream) => ({ id, provider: 'anth', upstream, input_per_m: '3.00', output_per_m: '15.00', context_window: 200000, capabilities: ['chat', 'tools', 'vision'] });
    c.models.push(claude('c-ok', 'claude-mock'), claude('c-529', 'claude-mock+overloaded=1'), claude('c-think', 'claude-mock+thinking=1'));
    c.providers.push({ id: 'gem', kind: 'gemini', base_url: `http://127.0.0.1:${s.mock.port}/v1beta`, api_key_env: 'MOCK_KEY' });
    c.models.push({ id: 'g-ok', provider: 'gem', upstream: 'gemini-mock', input_per_m: '0.30', output_per_m: '2.50', context_window: 1000000, capabilities: ['chat', 'tools', 'vision'] });
    c.models.push({ id: 'g-500', provider: 'gem', upstream: 'gemini-mock+status=500', input_per_m: '0.30', output_per_m: '2.50', context_window: 1000000, capabilities: ['chat', 'tools'] });
  },
});

const client = (key = s.keys.main.key) => new Anthropic({ apiKey: key, baseURL: s.dp.url, maxRetries: 0, timeout: slack(20000) });
const TOOLS = [{ name: 'lookup', description: 'find a thing', input_schema: { type: 'object', properties: { q: { type: 'string' } } } }];
const ASK = [{ role: 'user', content: 'Say hello.' }];

for (const model of ['m-ok', 'c-ok', 'g-ok']) {
  test(`Anthropic SDK -> ${model}: a plain message`, async () => {
    const rid = requestId('msg');
    const m = await client().messages.create({ model, max_tokens: 200, system: 'You are terse.', messages: ASK }, { headers: { 'x-request-id': rid } });
    assert.equal(m.type, 'message');
    assert.equal(m.role, 'assistant');
    assert.equal(m.content.length, 1);
    assert.equal(m.content[0].type, 'text');
    assert.equal(m.content[0].text, TEXT);
    assert.equal(m.stop_reason, 'end_turn');
    assert.equal(m.usage.output_tokens, 8);
    assert.ok(m.usage.input_tokens > 0);
    const up = await s.mock.waitForRequest(rid);
    if (model === 'm-ok') {
      // translated for an OpenAI provider: system message first, max_tokens kept
      assert.deepEqual(up.body.messages[0], { role: 'system', content: 'You are terse.' });
      assert.equal(up.body.max_tokens, 200);
    } else if (model === 'g-ok') {
      // translated for Gemini: systemInstruction, contents, generationConfig
      assert.deepEqual(up.body.systemInstruction, { parts: [{ text: 'You are terse.' }] });
      assert.equal(up.body.contents[0].role, 'user');
      assert.equal(up.body.generationConfig.maxOutputTokens, 200);
    } else {
      // an Anthropic provider gets the client's own request, the model replaced
      assert.equal(up.body.system, 'You are terse.');
      assert.equal(up.body.model, 'claude-mock');
      assert.deepEqual(up.body.messages, ASK);
    }
  });

  test(`Anthropic SDK -> ${model}: a stream of Anthropic events`, async () => {
    const stream = client().messages.stream({ model, max_tokens: 200, messages: ASK });
    const types = [];
    stream.on('streamEvent', (e) => types.push(e.type));
    let text = '';
    stream.on('text', (t) => (text += t));
    const final = await stream.finalMessage();
    assert.equal(text, TEXT);
    assert.equal(final.content[0].text, TEXT);
    assert.equal(final.stop_reason, 'end_turn');
    assert.equal(final.usage.output_tokens, 8);
    assert.equal(types[0], 'message_start');
    assert.equal(types.at(-1), 'message_stop');
    assert.ok(types.includes('content_block_start') && types.includes('content_block_delta') && types.includes('content_block_stop') && types.includes('message_delta'), types.join(' '));
  });

  test(`Anthropic SDK -> ${model}: tool use, then the tool result ends the turn`, async () => {
    const m = await client().messages.create({ model, max_tokens: 200, tools: TOOLS, messages: ASK });
    assert.equal(m.stop_reason, 'tool_use');
    const use = m.content.find((b) => b.type === 'tool_use');
    assert.ok(use, JSON.stringify(m.content));
    assert.equal(use.name, 'lookup');
    assert.deepEqual(use.input, { arg: 'mock' });
    assert.ok(use.id.length > 0);

    const stream = client().messages.stream({ model, max_tokens: 200, tools: TOOLS, messages: ASK });
    const final = await stream.finalMessage();
    assert.equal(final.stop_reason, 'tool_use');
    const su = final.content.find((b) => b.type === 'tool_use');
    assert.deepEqual(su.input, { arg: 'mock' });

    const answer = await client().messages.create({
      model,
      max_tokens: 200,
      tools: TOOLS,
      messages: [...ASK, { role: 'assistant', content: [use] }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: 'the thing is blue' }] }],
    });
    assert.equal(answer.stop_reason, 'end_turn');
    assert.match(answer.content[0].text, /mock answer: the thing is blue/);
  });
}

test('errors in Anthropic\'s shape: 400 without max_tokens, 401, 404, 502 when every provider fails', async () => {
  const noMax = await client().messages.create({ model: 'm-ok', messages: ASK }).catch((e) => e);
  assert.ok(noMax instanceof Anthropic.BadRequestError, String(noMax));
  assert.equal(noMax.error.type, 'error');
  assert.equal(noMax.error.error.type, 'invalid_request_error');
  assert.match(noMax.error.error.message, /max_tokens/);

  const badKey = await client('sk-sy-wrong-key-000000000000').messages.create({ model: 'm-ok', max_tokens: 10, messages: ASK }).catch((e) => e);
  assert.ok(badKey instanceof Anthropic.AuthenticationError, String(badKey));
  assert.equal(badKey.error.error.type, 'authentication_error');

  const noModel = await client().messages.create({ model: 'no-such-model', max_tokens: 10, messages: ASK }).catch((e) => e);
  assert.ok(noModel instanceof Anthropic.NotFoundError, String(noModel));
  assert.equal(noModel.error.error.type, 'not_found_error');

  const down = await client().messages.create({ model: 'c-529', max_tokens: 10, messages: ASK }).catch((e) => e);
  assert.equal(down.status, 502);
  assert.equal(down.error.error.type, 'api_error');
});

test('failover across dialects for an Anthropic client, and auto routing', async () => {
  const a = await client().messages.create({ model: 'c-529', models: ['m-ok'], max_tokens: 50, messages: ASK });
  assert.equal(a.content[0].text, TEXT);
  const g = await client().messages.create({ model: 'g-500', models: ['c-ok'], max_tokens: 50, messages: ASK });
  assert.equal(g.content[0].text, TEXT);
  const stream = client().messages.stream({ model: 'c-529', models: ['g-ok'], max_tokens: 50, messages: ASK });
  assert.equal((await stream.finalMessage()).content[0].text, TEXT);
  const b = await client().messages.create({ model: 'auto', max_tokens: 50, messages: ASK });
  assert.equal(b.content[0].type, 'text');
});

test('an Anthropic provider gets thinking and anthropic-beta as the client sent them; thinking comes back', async () => {
  const rid = requestId('think');
  const m = await client().messages.create(
    { model: 'c-think', max_tokens: 2000, thinking: { type: 'enabled', budget_tokens: 1024 }, messages: ASK },
    { headers: { 'x-request-id': rid, 'anthropic-beta': 'interleaved-thinking-2025-05-14' } },
  );
  assert.equal(m.content[0].type, 'thinking');
  assert.ok(m.content[0].signature, 'the provider\'s signature is relayed');
  const up = await s.mock.waitForRequest(rid);
  assert.deepEqual(up.body.thinking, { type: 'enabled', budget_tokens: 1024 });
  assert.equal(up.headers['anthropic-beta'], 'interleaved-thinking-2025-05-14');
  assert.equal(up.body.models, undefined);
});

test('count_tokens answers an estimate without calling a provider', async () => {
  const before = s.mock.requests().length;
  const r = await client().messages.countTokens({ model: 'c-ok', messages: ASK });
  assert.ok(r.input_tokens > 0 && r.input_tokens < 100, JSON.stringify(r));
  assert.equal(s.mock.requests().length, before);
});
