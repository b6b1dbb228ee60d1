// Response headers: request ids, routing transparency headers, the `routing` object, CORS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack, httpRequest, postRaw, requestId, sseEvents } from './lib/harness.mjs';

const s = useStack();
const MESSAGES = [{ role: 'user', content: 'hi' }];
const RID_RE = /^[A-Za-z0-9._:-]{1,64}$/;

test('every response carries an x-request-id, unique per request', async () => {
  const k = s.keys.main.key;
  const auth = { authorization: `Bearer ${k}` };
  const cases = [
    ['chat 200', () => postRaw(s.dp, '/v1/chat/completions', { model: 'm-ok', messages: MESSAGES }, { key: k }), 200],
    ['chat stream 200', () => postRaw(s.dp, '/v1/chat/completions', { model: 'm-ok', messages: MESSAGES, stream: true }, { key: k }), 200],
    ['embeddings 200', () => postRaw(s.dp, '/v1/embeddings', { model: 'm-embed', input: 'x' }, { key: k }), 200],
    ['no key 401', () => postRaw(s.dp, '/v1/chat/completions', { model: 'm-ok', messages: MESSAGES }), 401],
    ['unknown model 404', () => postRaw(s.dp, '/v1/chat/completions', { model: 'nope', messages: MESSAGES }, { key: k }), 404],
    ['bad json 400', () => postRaw(s.dp, '/v1/chat/completions', '{', { key: k }), 400],
    ['upstream 500 -> 502', () => postRaw(s.dp, '/v1/chat/completions', { model: 'm-500', messages: MESSAGES }, { key: k }), 502],
    ['models 200', () => httpRequest(`${s.dp.url}/v1/models`, { headers: auth }), 200],
    ['model 200', () => httpRequest(`${s.dp.url}/v1/models/m-ok`, { headers: auth }), 200],
    ['unknown path 404', () => httpRequest(`${s.dp.url}/v2/nothing`, { headers: auth }), 404],
    ['wrong method 405', () => httpRequest(`${s.dp.url}/v1/chat/completions`, { headers: auth }), 405],
    ['healthz', () => httpRequest(`${s.dp.url}/healthz`), 200],
    ['readyz', () => httpRequest(`${s.dp.url}/readyz`), 200],
    ['metrics', () => httpRequest(`${s.dp.url}/metrics`), 200],
    ['preflight', () => httpRequest(`${s.dp.url}/v1/chat/completions`, { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' } }), 204],
  ];
  const ids = new Set();
  for (const [name, fn, status] of cases) {
    const r = await fn();
    assert.equal(r.status, status, `${name}: status (body ${r.text.slice(0, 200)})`);
    const id = r.headers['x-request-id'];
    assert.ok(id, `${name}: x-request-id present`);
    assert.match(id, RID_RE, `${name}: x-request-id format`);
    assert.ok(!ids.has(id), `${name}: x-request-id unique (${id})`);
    ids.add(id);
  }
});

test('a valid incoming x-request-id is echoed and forwarded upstream; an invalid one is replaced', async () => {
  const rid = requestId('echo');
  const r = await s.client().chat.completions.create({ model: 'm-ok', messages: MESSAGES }, { headers: { 'x-request-id': rid } }).withResponse();
  assert.equal(r.response.headers.get('x-request-id'), rid);
  const up = await s.mock.waitForRequest(rid);
  assert.equal(up.headers['x-request-id'], rid, 'the upstream got the same id');

  // streamed too
  const st = await postRaw(s.dp, '/v1/chat/completions', { model: 'm-ok', messages: MESSAGES, stream: true }, { key: s.keys.main.key, headers: { 'x-request-id': `${rid}-s` } });
  assert.equal(st.status, 200);
  assert.equal(st.headers['x-request-id'], `${rid}-s`);

  // and on errors
  const e = await postRaw(s.dp, '/v1/chat/completions', { model: 'nope', messages: MESSAGES }, { key: s.keys.main.key, headers: { 'x-request-id': `${rid}-e` } });
  assert.equal(e.status, 404);
  assert.equal(e.headers['x-request-id'], `${rid}-e`);

  for (const bad of ['has space', 'x'.repeat(65), 'semi;colon', 'quote"d']) {
    const b = await postRaw(s.dp, '/v1/chat/completions', { model: 'm-ok', messages: MESSAGES }, { key: s.keys.main.key, headers: { 'x-request-id': bad } });
    assert.equal(b.status, 200);
    const got = b.headers['x-request-id'];
    assert.ok(got && got !== bad, `invalid id "${bad}" is not echoed (got ${got})`);
    assert.match(got, RID_RE);
    const upb = await s.mock.waitForRequest(got);
    assert.equal(upb.headers['x-request-id'], got, 'the upstream gets the replacement id');
  }
});

test('streamed chat: no x-switchyard-cost; x-switchyard-cost-estimate is the pre-flight estimate; the exact cost is usage.cost', async () => {
  const { data: stream, response } = await s
    .client()
    .chat.completions.create({ model: 'm-ok', messages: MESSAGES, stream: true, max_tokens: 1000, stream_options: { include_usage: true } })
    .withResponse();
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('x-switchyard-cost'), null, 'a header called cost never carries an estimate');
  const est = response.headers.get('x-switchyard-cost-estimate');
  assert.match(est ?? '', /^\d+\.\d{9}$/, `x-switchyard-cost-estimate on a stream (got ${est})`);
  // m-ok: $6.00 per million output tokens; the estimate prices max_tokens (1000) as output,
  // plus the prompt's bytes / 4 at $1.50 per million — a few hundred bytes here
  assert.ok(Number(est) >= 0.006 && Number(est) < 0.0061, `estimate ${est}`);
  let usage = null;
  for await (const chunk of stream) if (chunk.usage) usage = chunk.usage;
  assert.ok(usage && typeof usage.cost === 'number', 'the final usage chunk carries the exact cost');
  const exact = (usage.prompt_tokens * 1.5 + usage.completion_tokens * 6) / 1e6;
  assert.ok(Math.abs(usage.cost - exact) < 1e-9, `usage.cost ${usage.cost} = ${exact}`);
});

test('non-streamed chat: x-switchyard-model/provider/cost headers and the routing object', async () => {
  const { data, response } = await s.client().chat.completions.create({ model: 'm-ok', messages: MESSAGES }).withResponse();
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('x-switchyard-model'), 'm-ok');
  assert.equal(response.headers.get('x-switchyard-provider'), 'mock');
  assert.equal(response.headers.get('x-switchyard-attempts'), '1');
  const cost = response.headers.get('x-switchyard-cost');
  assert.match(cost ?? '', /^\d+(\.\d+)?$/, `x-switchyard-cost is a decimal USD amount (got ${cost})`);
  // m-ok costs $1.50 / $6.00 per million input / output tokens
  const expected = (data.usage.prompt_tokens * 1.5 + data.usage.completion_tokens * 6) / 1e6;
  assert.ok(Math.abs(Number(cost) - expected) < 1e-9, `cost ${cost} = ${expected}`);

  assert.ok(data.routing && typeof data.routing === 'object', 'routing object present');
  assert.equal(data.routing.selected, 'm-ok');
  assert.equal(typeof data.routing.objective, 'string');
  assert.equal(typeof data.routing.reason, 'string');
  assert.equal(typeof data.routing.candidates_considered, 'number');

  // a provider-qualified id selects the same catalog entry
  const q = await s.client().chat.completions.create({ model: 'backup/m-fallback', messages: MESSAGES }).withResponse();
  assert.equal(q.response.headers.get('x-switchyard-model'), 'm-fallback');
  assert.equal(q.response.headers.get('x-switchyard-provider'), 'backup');
  assert.equal(q.data.routing.selected, 'm-fallback');
});

test('streamed chat: routing headers on the event stream; no routing field inside chunks', async () => {
  const r = await fetch(`${s.dp.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${s.keys.main.key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'm-ok', messages: MESSAGES, stream: true }),
  });
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/event-stream/);
  assert.equal(r.headers.get('x-switchyard-model'), 'm-ok');
  assert.equal(r.headers.get('x-switchyard-provider'), 'mock');
  assert.ok(r.headers.get('x-request-id'));
  const events = [];
  for await (const ev of sseEvents(r.body)) events.push(ev);
  assert.equal(events.at(-1).data, '[DONE]');
  for (const ev of events.slice(0, -1)) {
    const o = JSON.parse(ev.data);
    assert.equal(o.object, 'chat.completion.chunk');
    assert.ok(!('routing' in o), 'chunks are relayed as the provider sent them');
  }
});

test('CORS: OPTIONS preflight is 204 with allow-* headers; responses expose the routing headers', async () => {
  const r = await httpRequest(`${s.dp.url}/v1/chat/completions`, {
    method: 'OPTIONS',
    headers: {
      origin: 'https://app.example',
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization, content-type, x-stainless-os',
    },
  });
  assert.equal(r.status, 204);
  assert.equal(r.body.length, 0, 'no body on 204');
  assert.ok(['*', 'https://app.example'].includes(r.headers['access-control-allow-origin']), `allow-origin: ${r.headers['access-control-allow-origin']}`);
  const methods = (r.headers['access-control-allow-methods'] ?? '').toUpperCase();
  assert.match(methods, /\bPOST\b/);
  assert.match(methods, /\bGET\b/);
  const allowHeaders = (r.headers['access-control-allow-headers'] ?? '').toLowerCase();
  for (const h of ['authorization', 'content-type', 'x-api-key', 'x-stainless-os']) assert.ok(allowHeaders.includes(h), `allow-headers has ${h}: ${allowHeaders}`);
  assert.ok(Number(r.headers['access-control-max-age']) > 0, 'max-age');

  // preflight needs no key and works on any API path
  const r2 = await httpRequest(`${s.dp.url}/v1/embeddings`, { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' } });
  assert.equal(r2.status, 204);

  const c = await postRaw(s.dp, '/v1/chat/completions', { model: 'm-ok', messages: MESSAGES }, { key: s.keys.main.key, headers: { origin: 'https://app.example' } });
  assert.equal(c.status, 200);
  assert.ok(c.headers['access-control-allow-origin'], 'allow-origin on the actual response');
  const expose = (c.headers['access-control-expose-headers'] ?? '').toLowerCase();
  for (const h of ['x-request-id', 'x-switchyard-model', 'x-switchyard-provider', 'x-switchyard-cost', 'x-switchyard-cost-estimate']) assert.ok(expose.includes(h), `expose-headers has ${h}: ${expose}`);

  // not a browser (no Origin: an SDK, curl): no CORS headers on the answer, the rest unchanged
  const n = await postRaw(s.dp, '/v1/chat/completions', { model: 'm-ok', messages: MESSAGES }, { key: s.keys.main.key });
  assert.equal(n.status, 200);
  assert.equal(n.headers['access-control-allow-origin'], undefined);
  assert.equal(n.headers['access-control-expose-headers'], undefined);
  assert.ok(n.headers['x-request-id'] && n.headers['x-switchyard-model'], 'the gateway headers stay');
});

test('the X-API-Key header authenticates like Authorization: Bearer', async () => {
  const r = await httpRequest(`${s.dp.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'x-api-key': s.keys.main.key, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'm-ok', messages: MESSAGES }),
  });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.object, 'chat.completion');
});
