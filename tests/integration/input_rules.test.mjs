// Bad input and billing rules from the adversarial run (issue 13, points 2, 3 and 5):
// one value per field (a duplicated key is a 400 in every JSON the gateway reads — the chat
// body, the Messages body, the admin API), a message needs content, a stream that failed
// before its first event is billed 0, absurd provider usage is not billed as it is (estimated
// and logged), and a NUL inside a JSON string is a 400 on the control plane.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';

import { useStack, startCp, makeTempDir, stopAll, closedPort, requestId, waitFor, httpRequest } from './lib/harness.mjs';

// an OpenAI-compatible upstream that reports absurd usage
const absurd = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    const body = JSON.stringify({
      id: 'chatcmpl-absurd',
      object: 'chat.completion',
      created: 1700000000,
      model: 'absurd',
      choices: [{ index: 0, message: { role: 'assistant', content: 'twelve bytes' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: -5, completion_tokens: 1e20, total_tokens: 3 },
    });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
});
await new Promise((resolve) => absurd.listen(0, '127.0.0.1', resolve));
after(() => new Promise((resolve) => absurd.close(resolve)));

const s = useStack({
  mutateConfig: (c) => {
    c.providers.push({ id: 'absurd', kind: 'openai', base_url: `http://127.0.0.1:${absurd.address().port}/v1`, api_key_env: 'MOCK_KEY' });
    c.models.push({ id: 'm-absurd', provider: 'absurd', upstream: 'absurd', input_per_m: '1.00', output_per_m: '2.00', context_window: 128000, capabilities: ['chat'] });
  },
});

const raw = (path, body, headers = {}) =>
  httpRequest(`${s.dp.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${s.keys.main.key}`, 'content-type': 'application/json', ...headers }, body });

async function accessLine(rid) {
  return waitFor(() => s.dp.proc.stderr.split('\n').find((l) => l.includes('msg=access') && l.includes(`id=${rid} `)), { what: `the access line of ${rid}` });
}

test('a duplicated key is a 400 wherever the gateway reads JSON; nothing goes upstream', async () => {
  const seen = s.mock.requests().length;
  const cases = [
    ['top level (the reservation would check the first max_tokens)', '{"model":"m-ok","max_tokens":1,"max_tokens":100000,"messages":[{"role":"user","content":"hi"}]}', 'max_tokens'],
    ['two models', '{"model":"m-ok","model":"m-secret","messages":[{"role":"user","content":"hi"}]}', 'model'],
    ['an escaped spelling of the same key', '{"model":"m-ok","stream":false,"str\\u0065am":true,"messages":[{"role":"user","content":"hi"}]}', 'stream'],
    ['nested (stream_options)', '{"model":"m-ok","stream":true,"stream_options":{"include_usage":false,"include_usage":true},"messages":[{"role":"user","content":"hi"}]}', 'include_usage'],
    ['inside a message', '{"model":"m-ok","messages":[{"role":"user","content":"hi","content":"other"}]}', 'content'],
  ];
  for (const [what, body, key] of cases) {
    const r = await raw('/v1/chat/completions', body);
    assert.equal(r.status, 400, `${what}: ${r.text}`);
    assert.equal(r.json.error.type, 'invalid_request_error', what);
    assert.match(r.json.error.message, new RegExp(`duplicate field '${key}'`), what);
  }
  // a large object is checked too (sorted, not pairwise)
  const props = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`p${i}`, { type: 'string' }]));
  const big = JSON.stringify({ model: 'm-ok', messages: [{ role: 'user', content: 'hi' }], tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: props } } }] });
  const dupBig = big.replace('"p7":{"type":"string"}', '"p7":{"type":"string"},"p31":{"type":"number"}');
  assert.equal((await raw('/v1/chat/completions', big)).status, 200);
  const rb = await raw('/v1/chat/completions', dupBig);
  assert.equal(rb.status, 400, rb.text);
  assert.match(rb.json.error.message, /duplicate field 'p31'/);
  // the Messages API answers in Anthropic's shape
  const m = await raw('/v1/messages', '{"model":"m-ok","max_tokens":1,"max_tokens":50000,"messages":[{"role":"user","content":"hi"}]}', { 'x-api-key': s.keys.main.key });
  assert.equal(m.status, 400, m.text);
  assert.equal(m.json.type, 'error');
  assert.equal(m.json.error.type, 'invalid_request_error');
  assert.match(m.json.error.message, /duplicate field 'max_tokens'/);
  assert.equal(s.mock.requests().length, seen + 1, 'only the valid large request went upstream');
});

test('a message without content is a 400 (an assistant turn with tool_calls may omit it)', async () => {
  const r = await raw('/v1/chat/completions', JSON.stringify({ model: 'm-ok', messages: [{ role: 'user' }] }));
  assert.equal(r.status, 400, r.text);
  assert.equal(r.json.error.param, 'messages.content');
  const n = await raw('/v1/chat/completions', JSON.stringify({ model: 'm-ok', messages: [{ role: 'system', content: null }, { role: 'user', content: 'hi' }] }));
  assert.equal(n.status, 400, n.text);
  const ok = await raw(
    '/v1/chat/completions',
    JSON.stringify({
      model: 'm-ok',
      messages: [
        { role: 'user', content: 'hi' },
        { role: 'assistant', tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }] },
        { role: 'tool', tool_call_id: 'c1', content: 'done' },
      ],
    }),
  );
  assert.equal(ok.status, 200, ok.text);
});

test('a stream that failed before its first event is billed 0', async () => {
  const rid = requestId('failstream');
  const r = await raw('/v1/chat/completions', JSON.stringify({ model: 'm-500', stream: true, messages: [{ role: 'user', content: 'hi' }] }), { 'x-request-id': rid });
  assert.equal(r.status, 502, r.text);
  const line = await accessLine(rid);
  assert.match(line, / tokens_in=0 tokens_out=0 usage=none cost_usd=0\.000000000 /, line);
});

test('absurd provider usage (negative, 1e20) is not billed as sent: estimated, and logged', async () => {
  const rid = requestId('absurd');
  const r = await raw('/v1/chat/completions', JSON.stringify({ model: 'm-absurd', messages: [{ role: 'user', content: 'hi' }] }), { 'x-request-id': rid });
  assert.equal(r.status, 200, r.text);
  const line = await accessLine(rid);
  const m = line.match(/ tokens_in=(\d+) tokens_out=(\d+) usage=(\w+) /);
  assert.ok(m, line);
  assert.equal(m[3], 'estimated');
  assert.equal(Number(m[2]), 3, 'the answer\'s 12 content bytes at ~4 per token');
  assert.ok(Number(m[1]) > 0 && Number(m[1]) < 100, line);
  assert.match(s.dp.proc.stderr, new RegExp(`provider usage out of range; the request is billed an estimate" id=${rid} model=m-absurd`));
});

// ----------------------------------------------------------------- the control plane

const cpTmp = makeTempDir('sy-input-cp-');
let cp;
after(() => stopAll([cp?.proc], cpTmp));

test('the admin API refuses duplicated keys and NUL inside strings, and writes nothing', async () => {
  const dead = await closedPort();
  cp = await startCp({
    dir: cpTmp.dir,
    catalog: { providers: [{ id: 'p', kind: 'openai', base_url: `http://127.0.0.1:${dead}/v1`, probe: { interval_ms: 0 } }], models: [{ id: 'm', provider: 'p', upstream: 'm' }], workspaces: [], keys: [] },
    bus: false,
  });
  const post = (body) => httpRequest(`${cp.base}/api/workspaces`, { method: 'POST', headers: { authorization: `Bearer ${cp.token}`, 'content-type': 'application/json' }, body });
  let r = await post('{"id":"ws_nul\\u0000x","name":"n"}');
  assert.equal(r.status, 400, r.text);
  assert.match(r.json.error.message, /NUL/);
  r = await post('{"id":"ws_dup","id":"ws_other","name":"n"}');
  assert.equal(r.status, 400, r.text);
  assert.match(r.json.error.message, /duplicate field 'id'/);
  // an escaped backslash followed by "u0000" is text, not a NUL
  r = await post(JSON.stringify({ id: 'ws_ok', name: 'back\\u0000slash' }));
  assert.equal(r.status, 201, r.text);
  const list = await cp.api('/api/workspaces');
  assert.deepEqual(list.json.data.map((w) => w.id), ['ws_ok']);
});
