// What exactly goes upstream: an upstream written in node records the raw bytes and headers
// the gateway sends (the C mock parses with cJSON and so cannot show them exactly).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDp, startCaptureUpstream, makeTempDir, makeKey, TIMEOUTS, postRaw } from './lib/harness.mjs';

let tmp, cap, dp, key, upstreamKey;
before(async () => {
  tmp = makeTempDir();
  cap = await startCaptureUpstream();
  key = makeKey();
  upstreamKey = 'sk-capture-upstream-secret';
  dp = await startDp({
    dir: tmp.dir,
    upstreamKey,
    config: {
      timeouts_ms: { ...TIMEOUTS },
      providers: [{ id: 'cap', kind: 'openai', base_url: `http://127.0.0.1:${cap.port}/v1`, api_key_env: 'MOCK_KEY' }],
      models: [{ id: 'c-model', provider: 'cap', upstream: 'upstream-name-1', input_per_m: '1', output_per_m: '1' }],
      workspaces: [{ id: 'ws', active: true }],
      keys: [{ id: 'k', sha256: key.sha256, workspace: 'ws' }],
    },
  });
});
after(async () => {
  await cap?.close();
  await dp?.stop();
  tmp?.cleanup();
});

async function send(body, headers = {}) {
  const n = cap.requests.length;
  const r = await postRaw(dp, '/v1/chat/completions', body, { key: key.key, headers });
  assert.equal(r.status, 200, r.text);
  assert.equal(cap.requests.length, n + 1, 'exactly one upstream request');
  return { res: r, up: cap.requests[n] };
}

test('upstream headers are an allow-list: provider credential, request id, no client headers', async () => {
  const { res, up } = await send(JSON.stringify({ model: 'c-model', messages: [{ role: 'user', content: 'hi' }] }), {
    cookie: 'session=secret',
    'x-stainless-os': 'Linux',
    'openai-organization': 'org-client',
    'x-forwarded-for': '10.0.0.1',
    'x-custom': 'client',
  });
  assert.equal(up.method, 'POST');
  assert.equal(up.path, '/v1/chat/completions');
  assert.equal(up.headers.authorization, `Bearer ${upstreamKey}`);
  assert.match(up.headers['content-type'], /^application\/json/);
  assert.equal(up.headers['x-request-id'], res.headers['x-request-id']);
  for (const h of ['cookie', 'x-stainless-os', 'openai-organization', 'x-forwarded-for', 'x-custom', 'x-api-key']) {
    assert.ok(!(h in up.headers), `client header ${h} must not be forwarded`);
  }
  assert.ok(!JSON.stringify(up.headers).includes(key.key), "the client's key is not forwarded");
  assert.ok(!('expect' in up.headers), 'no Expect: 100-continue');
});

test('the body is forwarded with only model rewritten and gateway fields removed', async () => {
  const body = {
    model: 'c-model',
    models: ['c-model'],
    route: { objective: 'cost' },
    messages: [{ role: 'user', content: 'héllo "quoted" \\ back\nslash 😀 \u2028 日本' }],
    temperature: 0.7,
    tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: {} } } }],
    metadata: { a: 'b' },
  };
  const { up } = await send(JSON.stringify(body));
  const got = JSON.parse(up.raw.toString('utf8'));
  const want = { ...body, model: 'upstream-name-1' };
  delete want.models;
  delete want.route;
  assert.deepEqual(got, want);
  assert.equal(up.headers['content-length'], String(up.raw.length));
});

// cJSON holds strings NUL-terminated: a message "before\u0000after" must not be forwarded as
// "before" (the rest of the user's text silently dropped). Forwarded intact, or refused.
test('a string containing \\u0000 is forwarded intact, not silently truncated', async () => {
  const content = 'before\u0000after';
  const n = cap.requests.length;
  const r = await postRaw(dp, '/v1/chat/completions', JSON.stringify({ model: 'c-model', messages: [{ role: 'user', content }] }), { key: key.key });
  if (r.status === 400) {
    assert.equal(cap.requests.length, n, 'refused requests do not go upstream');
    return; // refusing the request is acceptable too
  }
  assert.equal(r.status, 200, r.text);
  const got = JSON.parse(cap.requests[n].raw.toString('utf8'));
  assert.equal(got.messages[0].content, content, 'message content forwarded intact');
});

test('without a limits section the body cap is the documented 4 MiB default', async () => {
  const under = JSON.stringify({ model: 'c-model', messages: [{ role: 'user', content: 'x'.repeat(4 * 1024 * 1024 - 200) }] });
  assert.ok(Buffer.byteLength(under) <= 4 * 1024 * 1024);
  const n = cap.requests.length;
  const ok = await postRaw(dp, '/v1/chat/completions', under, { key: key.key });
  assert.equal(ok.status, 200, ok.text.slice(0, 200));
  assert.equal(cap.requests[n].raw.length > 4 * 1024 * 1024 - 300, true, 'forwarded whole');

  const overBody = JSON.stringify({ model: 'c-model', messages: [{ role: 'user', content: 'x'.repeat(4 * 1024 * 1024) }] });
  const over = await postRaw(dp, '/v1/chat/completions', overBody, { key: key.key });
  assert.equal(cap.requests.length, n + 1, 'the oversized body did not go upstream');
  assert.equal(over.status, 413);
  assert.match(over.headers['content-type'], /^application\/json/);
  assert.equal(over.json.error.code, 'request_too_large');
});
